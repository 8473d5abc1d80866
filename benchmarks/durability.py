"""What an acknowledgement that means "stored" costs: acked reports/s and ack latency for each
``--durability``, the same load against the same gateway.

    .venv/bin/python -m benchmarks.durability                      # both loads, every mode
    .venv/bin/python -m benchmarks.durability --modes memory,fsync --duration 10

For each mode a fresh ``jt808 serve`` (its own empty data dir) is driven by ``jt808 simulate``
on loopback: ``max`` sends as fast as acknowledgements allow (``--rate 0 --window W``), ``paced``
offers a fixed load (``--terminals`` x ``--rate``, 10,000 reports/s by default). Both processes
share the machine's cores, so the figures are of the whole stack. Prints a table and, with
``--json``, one JSON object.
"""

from __future__ import annotations

import argparse
import json
import socket
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any, Final

MODES: Final = ("memory", "os", "fsync")
JT808: Final = (sys.executable, "-m", "clients.cli")
#: Hang guard for one run beyond its own duration (start-up, connect ramp, drain).
SLACK_S: Final = 60.0


def free_ports(count: int) -> list[int]:
    sockets = [socket.socket() for _ in range(count)]
    try:
        for probe in sockets:
            probe.bind(("127.0.0.1", 0))
        return [probe.getsockname()[1] for probe in sockets]
    finally:
        for probe in sockets:
            probe.close()


def wait_listening(port: int, deadline: float) -> None:
    while time.monotonic() < deadline:
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=0.2):
                return
        except OSError:
            time.sleep(0.05)
    raise SystemExit(f"the gateway did not listen on port {port} in time")


def run(mode: str, load: list[str], duration: float) -> dict[str, Any]:
    """One gateway in ``mode`` under ``load`` (simulate arguments); the simulator's summary."""
    terminal_port, grpc_port = free_ports(2)
    with tempfile.TemporaryDirectory(prefix="jt808-bench-", dir=".") as work:
        gateway = subprocess.Popen(
            [*JT808, "serve", "--listen", f"127.0.0.1:{terminal_port}",
             "--grpc-listen", f"127.0.0.1:{grpc_port}", "--auth", "insecure-accept-all",
             "--data-dir", str(Path(work) / "data"), "--durability", mode,
             "--log-level", "error"],
            stdin=subprocess.DEVNULL,
        )  # fmt: skip
        try:
            wait_listening(terminal_port, time.monotonic() + SLACK_S)
            simulated = subprocess.run(
                [*JT808, "simulate", "--server", f"127.0.0.1:{terminal_port}",
                 "--duration", str(duration), "--heartbeat", "0", "--json", "--quiet", *load],
                capture_output=True, text=True, check=False, timeout=duration + SLACK_S,
            )  # fmt: skip
        finally:
            gateway.terminate()
            gateway.wait(timeout=SLACK_S)
    summary: dict[str, Any] = json.loads(simulated.stdout)
    return summary


def row(mode: str, load_name: str, summary: dict[str, Any]) -> dict[str, Any]:
    latency = summary["ack_latency_ms"]
    return {
        "mode": mode,
        "load": load_name,
        "acked_per_s": summary["throughput_reports_per_s"],
        "acked": summary["reports_acked"],
        "unacked": summary["reports_unacked"],
        "p50_ms": latency.get("p50"),
        "p99_ms": latency.get("p99"),
        "max_ms": latency.get("max"),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--modes", default=",".join(MODES), help="comma-separated")
    parser.add_argument("--loads", default="max,paced", help="max and/or paced")
    parser.add_argument("--duration", type=float, default=10.0, help="seconds a run (<= 60)")
    parser.add_argument("--terminals", type=int, default=100)
    parser.add_argument("--rate", type=float, default=100.0, help="paced: reports/s a terminal")
    parser.add_argument("--window", type=int, default=8, help="max: unacked per terminal")
    parser.add_argument("--json", action="store_true")
    args = parser.parse_args()
    if not 0 < args.duration <= 60:
        parser.error("--duration must be in (0, 60]: load runs stay short on shared machines")
    loads = {
        "max": ["--terminals", str(args.terminals), "--rate", "0", "--window", str(args.window)],
        "paced": ["--terminals", str(args.terminals), "--rate", str(args.rate)],
    }
    results = []
    for load_name in args.loads.split(","):
        for mode in args.modes.split(","):
            results.append(row(mode, load_name, run(mode, loads[load_name], args.duration)))
    if args.json:
        print(json.dumps({"duration_s": args.duration, "terminals": args.terminals,
                          "paced_rate": args.rate, "window": args.window,
                          "results": results}, indent=2))  # fmt: skip
    print(f"{'load':6} {'mode':7} {'acked/s':>9} {'p50 ms':>7} {'p99 ms':>7} {'max ms':>7} unacked")
    for result in results:
        print(f"{result['load']:6} {result['mode']:7} {result['acked_per_s']:>9} "
              f"{result['p50_ms']:>7} {result['p99_ms']:>7} {result['max_ms']:>7} "
              f"{result['unacked']}")  # fmt: skip


if __name__ == "__main__":
    main()
