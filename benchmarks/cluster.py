"""Cluster-mode figures on this machine: acknowledged reports per second of ``jt808 serve
--workers N`` (N = 1, 2, 4 node processes sharing the terminal port), and SendCommand latency
through the node that holds the terminal and through another node (routed over NATS).

Run with ``python -m benchmarks.cluster [--workers 1 2 4] [--terminals N] [--seconds S]
[--commands N] [--json]``. It starts its own ``nats-server -js`` (the dev extra's binary) on a
free loopback port, each gateway as a real ``jt808 serve`` process, and ``jt808 simulate --rate 0``
(as fast as acknowledgements allow) as the load, also a process of its own; every run is bounded
by ``--seconds``. Nothing here asserts a speed; figures go to docs/benchmarks.md.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import grpc

from jt808.gateway.v1 import commands_pb2, gateway_service_pb2, gateway_service_pb2_grpc

PYTHON = sys.executable
START_TIMEOUT = 120.0


def free_port(count: int = 1) -> int:
    """A port with ``count`` free consecutive ports from it (the workers' gRPC ports)."""
    while True:
        with socket.socket() as probe:
            probe.bind(("127.0.0.1", 0))
            first: int = probe.getsockname()[1]
        if first + count > 65535:
            continue
        try:
            for port in range(first, first + count):
                with socket.socket() as other:
                    other.bind(("127.0.0.1", port))
            return first
        except OSError:
            continue


@contextmanager
def process(command: list[str], **kwargs: Any) -> Iterator[subprocess.Popen[bytes]]:
    child = subprocess.Popen(command, **kwargs)
    try:
        yield child
    finally:
        if child.poll() is None:
            child.terminate()
            try:
                child.wait(30)
            except subprocess.TimeoutExpired:
                child.kill()
                child.wait()


@contextmanager
def nats_server(store: Path) -> Iterator[str]:
    binary = shutil.which("nats-server", path=str(Path(PYTHON).parent)) or "nats-server"
    port = free_port()
    command = [binary, "-js", "-a", "127.0.0.1", "-p", str(port), "-sd", str(store)]
    with process(command, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL):
        deadline = time.monotonic() + START_TIMEOUT
        while True:
            try:
                socket.create_connection(("127.0.0.1", port), timeout=1).close()
                break
            except OSError:
                if time.monotonic() > deadline:
                    raise
                time.sleep(0.05)
        yield f"nats://127.0.0.1:{port}"


def sessions(target: str) -> list[gateway_service_pb2.Session]:
    with grpc.insecure_channel(target) as channel:
        stub = gateway_service_pb2_grpc.GatewayServiceStub(channel)
        return list(stub.ListSessions(gateway_service_pb2.ListSessionsRequest()).sessions)


def wait_until(ready: Any, what: str) -> None:
    deadline = time.monotonic() + START_TIMEOUT
    while True:
        try:
            if ready():
                return
        except grpc.RpcError:
            pass
        if time.monotonic() > deadline:
            raise TimeoutError(f"{what} not ready within {START_TIMEOUT:g} s")
        time.sleep(0.2)


@contextmanager
def gateway(nats: str, workers: int, data: Path) -> Iterator[tuple[int, list[str]]]:
    """``jt808 serve --workers N``; yields the terminal port and the gRPC targets."""
    listen, grpc_port = free_port(), free_port(workers)
    command = [PYTHON, "-m", "clients.cli", "serve", "--nats-url", nats, "--node-id", "bench",
               "--workers", str(workers), "--auth", "insecure-accept-all",
               "--listen", f"127.0.0.1:{listen}", "--grpc-listen", f"127.0.0.1:{grpc_port}",
               "--data-dir", str(data), "--log-level", "warning"]  # fmt: skip
    if workers == 1:  # a single node is a plain serve (no supervisor)
        command.remove("--workers")
        command.remove("1")
    targets = [f"127.0.0.1:{grpc_port + i}" for i in range(workers)]
    with process(command):
        for target in targets:
            wait_until(lambda t=target: sessions(t) is not None, f"node at {target}")
        yield listen, targets


def simulate(port: int, *extra: str) -> list[str]:
    return [PYTHON, "-m", "clients.cli", "simulate", "--server", f"127.0.0.1:{port}",
            "--heartbeat", "0", *extra]  # fmt: skip


def acked_rate(
    nats: str, workers: int, terminals: int, seconds: float, data: Path
) -> dict[str, Any]:
    with gateway(nats, workers, data / f"w{workers}") as (port, _):
        command = simulate(port, "--terminals", str(terminals), "--rate", "0",
                           "--duration", str(seconds), "--json")  # fmt: skip
        done = subprocess.run(command, capture_output=True, text=True, timeout=seconds + 120,
                              check=False)  # fmt: skip
        summary = json.loads(done.stdout.strip().splitlines()[-1])
    return {"workers": workers, "terminals": terminals, "seconds": seconds,
            "reports_acked": summary["reports_acked"],
            "acked_per_s": round(summary["reports_acked"] / seconds)}  # fmt: skip


def command_latency(nats: str, commands: int, data: Path) -> dict[str, Any]:
    """SendCommand query_location to one terminal, through its own node and through the other."""
    with gateway(nats, 2, data / "latency") as (port, targets):
        load = simulate(port, "--terminals", "8", "--rate", "1", "--duration", "600")
        with process(load, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL):
            wait_until(lambda: len(sessions(targets[0])) == 8, "8 terminals in the directory")
            listed = sessions(targets[0])
            holder = {s.node: s.phone for s in listed}
            node, phone = next(iter(holder.items()))
            own = targets[int(node.rsplit("-", 1)[1]) - 1]
            other = next(t for t in targets if t != own)
            figures: dict[str, Any] = {"commands": commands}
            for name, target in (("same_node", own), ("other_node", other)):
                with grpc.insecure_channel(target) as channel:
                    stub = gateway_service_pb2_grpc.GatewayServiceStub(channel)
                    request = gateway_service_pb2.SendCommandRequest(
                        phone=phone, query_location=commands_pb2.QueryLocation()
                    )
                    stub.SendCommand(request)  # warm the channel and the route
                    samples = []
                    for _ in range(commands):
                        started = time.perf_counter()
                        stub.SendCommand(request)
                        samples.append((time.perf_counter() - started) * 1000)
                samples.sort()
                figures[name] = {
                    "p50_ms": round(statistics.median(samples), 2),
                    "p99_ms": round(samples[min(len(samples) - 1, int(0.99 * len(samples)))], 2),
                }
    return figures


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--workers", type=int, nargs="+", default=[1, 2, 4])
    parser.add_argument("--terminals", type=int, default=64)
    parser.add_argument("--seconds", type=float, default=15.0)
    parser.add_argument("--commands", type=int, default=300)
    parser.add_argument("--json", action="store_true", help="one JSON document, no table")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="jt808-bench-") as scratch:
        root = Path(scratch)
        (root / "nats").mkdir()
        with nats_server(root / "nats") as nats:
            rates = [acked_rate(nats, w, args.terminals, args.seconds, root) for w in args.workers]
            latency = command_latency(nats, args.commands, root)
    result = {"cpus": os.cpu_count(), "load_average_1m": os.getloadavg()[0],
              "acked_reports": rates, "send_command_latency": latency}  # fmt: skip
    if args.json:
        print(json.dumps(result))
        return
    print(f"machine: {result['cpus']} cpus, load average {result['load_average_1m']:.1f}")
    print("workers  terminals  acked reports/s")
    for rate in rates:
        print(f"{rate['workers']:>7}  {rate['terminals']:>9}  {rate['acked_per_s']:>15}")
    print(f"SendCommand query_location x{args.commands} (ms):   p50     p99")
    for name in ("same_node", "other_node"):
        print(f"  through {name.replace('_', ' '):<10} {latency[name]['p50_ms']:>20} "
              f"{latency[name]['p99_ms']:>7}")  # fmt: skip
    print(json.dumps(result))


if __name__ == "__main__":
    main()
