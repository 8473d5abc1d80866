"""Our gateway side by side with go-jt808, both driven by the peer's Go load generator.

    python -m benchmarks.peer --rounds 3 --json peer.json        (make bench-peer)

The loads of issue 9, each bounded in terminals and seconds, on loopback only:

- ``throughput``: 100 terminals, 4 reports in flight each, 10 s: acked reports/s, server CPU
  µs per acked report, ack latency;
- ``deep``: the same 100 terminals with 8 reports in flight each, ours only: how the event
  log's cost depends on the reports a load keeps in flight (with few, each acknowledgement's
  wait for its commit limits the rate; a fleet of thousands keeps many more in flight);
- ``stream``: the same load on our gateway with a StreamLocations subscriber attached
  (``benchmarks.stream_counter``, large ``max_batch``): every acked report must be delivered,
  and what the stream adds to the CPU per report;
- ``fleet``: 2,000 terminals × 1 report/s for 20 s: ack latency and server CPU;
- ``paced``: 1,000 terminals × 10 reports/s (10,000 reports/s offered) for 10 s, ours only:
  what the event log (``ours``) costs beside ``ours-memory`` at the load issue 10's target
  names (throughput, ack p99, CPU);
- ``idle``: 5,000 terminals sending heartbeats every 30 s for 20 s: connect + authenticate
  rate, RSS per connection and before any connection, heartbeat ack p99, idle CPU;
- ``crowd``: the same with 19,000 terminals, what one process must hold under a descriptor
  limit of 20,000 (with its defaults, our gateway takes up to 19,744 there).

Our side is ``jt808 serve`` as users run it (the installed entry point, the compiled core: the
run stops if the gateway says it runs pure Python), ``--auth insecure-accept-all``: ``ours``
with its default event log (every report on disk before its acknowledgement, ``--durability
fsync``, its writer a process of its own), ``ours-thread`` on request (``--servers``: the same
with ``--log-writer thread``), and ``ours-memory`` with ``--durability memory`` (the data plane
without the disk, as go-jt808, which stores nothing). The server's CPU includes its children
(the writer process), unlike ``compare.sh``'s. The peer is ``peer-bench/bin/gosrv``. The load
generator is ``peer-bench/bin/loadgen`` (its README and ``compare.sh`` describe it; this harness
calls the same binaries and measures the same way: the server's utime+stime from /proc over the
generator's measurement window, which starts when every terminal is authenticated). Every
server is fresh for each load. Rounds alternate the order of the servers; the figures are
medians over rounds, and ratios are of medians from the same run.
The machine's load average is recorded beside every load: it is shared, and its speed varies.
"""

from __future__ import annotations

import argparse
import json
import os
import re
import resource
import shutil
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Final

REPO: Final = Path(__file__).resolve().parent.parent
SERVERS: Final = ("ours", "ours-thread", "ours-memory", "peer")
#: Run unless ``--servers`` says otherwise (``ours-thread``: ``--log-writer thread``, opt-in).
DEFAULT_SERVERS: Final = ("ours", "ours-memory", "peer")
#: Our gateway's variants, in the table's order.
OURS: Final = ("ours", "ours-thread", "ours-memory")
PEER_BENCH: Final = REPO.parent / "shared" / "peer-bench"
CLOCK_TICKS: Final = os.sysconf("SC_CLK_TCK")
#: Longest a server may take to listen, and a load generator to authenticate its terminals.
START_TIMEOUT_S: Final = 30.0
HANDSHAKE_TIMEOUT_S: Final = 120.0


@dataclass(frozen=True, slots=True)
class Load:
    name: str
    what: str
    flags: tuple[str, ...]
    seconds: float
    with_stream: bool = False
    servers: tuple[str, ...] = ("ours", "ours-thread", "ours-memory", "peer")


LOADS: Final = {
    load.name: load
    for load in (
        Load("throughput", "100 terminals × window 4, 10 s", ("-n", "100", "-w", "4"), 10),
        Load(
            "deep",
            "100 terminals × window 8, 10 s",
            ("-n", "100", "-w", "8"),
            10,
            servers=("ours", "ours-thread", "ours-memory"),
        ),
        Load(
            "stream",
            "same, with a StreamLocations subscriber",
            ("-n", "100", "-w", "4"),
            10,
            with_stream=True,
            servers=("ours", "ours-memory"),
        ),
        # Fleets dial from many addresses: from one, the generator's 200 concurrent handshakes
        # pass --max-unauthenticated-per-address (128) whenever the server lags, and the
        # refused terminals show up as "handshake: 0x8100 timeout" instead of figures.
        Load(
            "fleet",
            "2,000 terminals × 1 report/s, 20 s",
            ("-n", "2000", "-rate", "1", "-src", "8"),
            20,
        ),
        Load(
            "paced",
            "1,000 terminals × 10 reports/s (10,000/s offered), 10 s",
            ("-n", "1000", "-rate", "10", "-src", "8"),
            10,
            servers=("ours", "ours-thread", "ours-memory"),
        ),
        Load(
            "idle",
            "5,000 idle terminals, heartbeat 30 s, 20 s",
            ("-n", "5000", "-hb", "30s", "-src", "8"),
            20,
        ),
        Load(
            "crowd",
            "19,000 idle terminals, heartbeat 30 s, 20 s",
            ("-n", "19000", "-hb", "30s", "-src", "8"),
            20,
        ),
    )
}


def free_address() -> str:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return f"127.0.0.1:{probe.getsockname()[1]}"


def cpu_seconds(pid: int) -> float:
    """CPU of the server and of its child processes (the event log's writer): the work is
    the server's wherever it runs."""
    total = 0
    for process in (pid, *children(pid)):
        try:
            fields = Path(f"/proc/{process}/stat").read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue  # gone meanwhile
        total += int(fields[11]) + int(fields[12])  # utime + stime
    return total / CLOCK_TICKS


def children(pid: int) -> list[int]:
    found: list[int] = []
    for task in Path(f"/proc/{pid}/task").glob("*"):
        try:
            found += [int(child) for child in (task / "children").read_text().split()]
        except OSError:
            continue
    return found


def rss_kib(pid: int) -> int:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1])
    return 0


def wait_until(condition: Callable[[], bool], timeout: float, what: str) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        if time.monotonic() > deadline:
            raise RuntimeError(f"timed out waiting for {what}")
        time.sleep(0.02)


def stop(process: subprocess.Popen[Any], grace: float = 10.0) -> None:
    if process.poll() is None:
        process.send_signal(signal.SIGTERM)
        try:
            process.wait(grace)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()


@dataclass(slots=True)
class Tools:
    loadgen: Path
    gosrv: Path
    jt808: Path


@contextmanager
def server(which: str, tools: Tools, workdir: Path) -> Iterator[tuple[int, str]]:
    """A fresh server listening on a free loopback port: (pid, address)."""
    address = free_address()
    log = (workdir / f"{which}-server.log").open("w")
    if which == "peer":
        command = [str(tools.gosrv), "-listen", address]
    else:
        command = [
            str(tools.jt808), "serve", "--listen", address, "--auth", "insecure-accept-all",
            "--grpc-listen", free_address(), "--data-dir", str(workdir / "data"),
        ]  # fmt: skip
        if which == "ours-memory":
            command += ["--durability", "memory"]
        elif which == "ours-thread":
            command += ["--log-writer", "thread"]
    process = subprocess.Popen(command, stdout=log, stderr=log, stdin=subprocess.DEVNULL)
    try:
        wait_until(lambda: _accepts(address) or process.poll() is not None, START_TIMEOUT_S,
                   f"{which} to listen on {address}")  # fmt: skip
        if process.poll() is not None:
            raise RuntimeError(f"{which} exited: {(workdir / f'{which}-server.log').read_text()}")
        if which != "peer":
            text = (workdir / f"{which}-server.log").read_text()
            if "core=compiled" not in text:
                raise RuntimeError("jt808 serve runs the pure-Python core: run `make native`")
        yield process.pid, address
    finally:
        stop(process)
        log.close()
        shutil.rmtree(workdir / "data", ignore_errors=True)


def _accepts(address: str) -> bool:
    host, port = address.rsplit(":", 1)
    try:
        with socket.create_connection((host, int(port)), timeout=0.2):
            return True
    except OSError:
        return False


def parse_loadgen(output: str) -> dict[str, Any]:
    figures: dict[str, Any] = {}
    handshake = re.search(
        r"handshake: (\d+)/(\d+) authenticated in ([\d.]+)s = (\d+) conn\+auth/s", output
    )
    if handshake:
        figures["authenticated"] = int(handshake[1])
        figures["terminals"] = int(handshake[2])
        figures["handshake_s"] = float(handshake[3])
        figures["connect_auth_per_s"] = int(handshake[4])
    result = re.search(r"^RESULT (.*)$", output, re.M)
    if result:
        for pair in result[1].split():
            key, value = pair.split("=", 1)
            figures[key.replace("/", "_per_")] = float(value) if "." in value else int(value)
    error = re.search(r"^first_error: (.*)$", output, re.M)
    if error:
        figures["first_error"] = error[1]
    return figures


def run_load(load: Load, which: str, tools: Tools, workdir: Path) -> dict[str, Any]:
    """One load against a fresh server: the generator's figures plus the server's CPU/RSS."""
    ready = workdir / "ready"
    ready.unlink(missing_ok=True)
    figures: dict[str, Any] = {"load": load.name, "server": which, "load_average": _loadavg()}
    with server(which, tools, workdir) as (pid, address):
        time.sleep(1.0)  # settled: what the server holds before any terminal
        figures["rss_base_kib"] = rss_kib(pid)
        # The event log's writer process, apart (much of it the interpreter's shared pages).
        figures["rss_children_kib"] = sum(rss_kib(child) for child in children(pid))
        counter = (
            _start_counter(workdir, address_of_grpc(workdir, which)) if load.with_stream else None
        )
        command = [str(tools.loadgen), "-addr", address, "-ready", str(ready),
                   "-d", f"{load.seconds:g}s", *load.flags]  # fmt: skip
        out = (workdir / "loadgen.log").open("w+")
        generator = subprocess.Popen(command, stdout=out, stderr=subprocess.STDOUT)
        try:
            wait_until(lambda: ready.exists() or generator.poll() is not None,
                       HANDSHAKE_TIMEOUT_S, "the terminals to authenticate")  # fmt: skip
            cpu0, started = cpu_seconds(pid), time.monotonic()
            figures["rss_ready_kib"] = peak = rss_kib(pid)
            while (elapsed := time.monotonic() - started) < load.seconds:
                peak = max(peak, rss_kib(pid))
                time.sleep(min(0.2, max(0.0, load.seconds - elapsed)))
            cpu = cpu_seconds(pid) - cpu0
            wall = time.monotonic() - started
            figures["rss_peak_kib"] = peak
            generator.wait(load.seconds + 30)
        finally:
            stop(generator, grace=5)
            out.seek(0)
            output = out.read()
            out.close()
        figures.update(parse_loadgen(output))
        figures["server_cpu_s"] = round(cpu, 3)
        figures["server_cpu_pct"] = round(100 * cpu / wall, 1)
        acked = figures.get("acked", 0)
        figures["cpu_us_per_report"] = round(1e6 * cpu / acked, 1) if acked else None
        live = figures.get("authenticated", 0)
        figures["rss_per_connection_kib"] = (
            round((figures["rss_ready_kib"] - figures["rss_base_kib"]) / live, 2) if live else None
        )
        if counter is not None:
            figures["stream"] = _finish_counter(counter)
            delivered = figures["stream"].get("locations", 0)
            # Every report the gateway acknowledged, inside the window or after it.
            figures["stream"]["acked_total"] = figures.get("sent", 0) - figures.get(
                "outstanding", 0
            )
            figures["stream"]["all_delivered"] = delivered == figures["stream"]["acked_total"]
    return figures


def address_of_grpc(workdir: Path, which: str) -> str:
    text = (workdir / f"{which}-server.log").read_text()
    found = re.search(r'event="control plane listening" address=(\S+)', text)
    if not found:
        raise RuntimeError("the gateway did not log its control-plane address")
    return found[1]


def _start_counter(workdir: Path, grpc_address: str) -> subprocess.Popen[str]:
    ready = workdir / "stream-ready"
    ready.unlink(missing_ok=True)
    counter = subprocess.Popen(
        [sys.executable, "-m", "benchmarks.stream_counter", "--gateway", grpc_address,
         "--ready", str(ready), "--quiet", "3", "--limit", "120"],
        cwd=REPO, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
    )  # fmt: skip
    wait_until(lambda: ready.exists() or counter.poll() is not None, START_TIMEOUT_S,
               "the stream subscriber")  # fmt: skip
    return counter


def _finish_counter(counter: subprocess.Popen[str]) -> dict[str, Any]:
    try:
        out, err = counter.communicate(timeout=150)
    except subprocess.TimeoutExpired:
        counter.kill()
        out, err = counter.communicate()
    try:
        summary: dict[str, Any] = json.loads(out.strip().splitlines()[-1])
    except (ValueError, IndexError):
        return {"error": (err or out).strip()[-500:]}
    return summary


def _loadavg() -> list[float]:
    return [round(x, 2) for x in os.getloadavg()]


# ---- summary ---------------------------------------------------------------------------------

#: (load, metric) pairs summarised as medians over rounds.
METRICS: Final = (
    ("throughput", "acked_per_s"),
    ("throughput", "cpu_us_per_report"),
    ("throughput", "p50_ms"),
    ("throughput", "p99_ms"),
    ("deep", "acked_per_s"),
    ("deep", "cpu_us_per_report"),
    ("deep", "p50_ms"),
    ("deep", "p99_ms"),
    ("stream", "acked_per_s"),
    ("stream", "cpu_us_per_report"),
    ("fleet", "p50_ms"),
    ("fleet", "p99_ms"),
    ("fleet", "server_cpu_pct"),
    ("fleet", "cpu_us_per_report"),
    ("paced", "acked_per_s"),
    ("paced", "p50_ms"),
    ("paced", "p99_ms"),
    ("paced", "server_cpu_pct"),
    ("paced", "cpu_us_per_report"),
    ("idle", "connect_auth_per_s"),
    ("idle", "rss_per_connection_kib"),
    ("idle", "rss_base_kib"),
    ("idle", "p99_ms"),
    ("idle", "server_cpu_pct"),
    ("crowd", "authenticated"),
    ("crowd", "connect_auth_per_s"),
    ("crowd", "rss_per_connection_kib"),
    ("crowd", "rss_ready_kib"),
    ("crowd", "p99_ms"),
    ("crowd", "server_cpu_pct"),
)


def medians(runs: list[dict[str, Any]]) -> dict[str, dict[str, dict[str, float]]]:
    out: dict[str, dict[str, dict[str, float]]] = {}
    for load, metric in METRICS:
        for which in SERVERS:
            values = [
                r[metric]
                for r in runs
                if r["load"] == load and r["server"] == which and r.get(metric) is not None
            ]
            if values:
                out.setdefault(load, {}).setdefault(which, {})[metric] = round(
                    statistics.median(values), 3
                )
    return out


def ratio(summary: dict[str, Any], load: str, metric: str, which: str = "ours",
          other: str = "peer") -> float | None:  # fmt: skip
    metric = metric.replace("_mib", "_kib")  # the table shows MiB of the KiB measured
    ours = summary.get(load, {}).get(which, {}).get(metric)
    base = summary.get(load, {}).get(other, {}).get(metric)
    return round(ours / base, 2) if ours is not None and base else None


#: The table's rows: (label, load, metric, second metric or None, digits, show ratios).
ROWS: Final = (
    ("100 × w4, 10 s: acked reports/s", "throughput", "acked_per_s", None, 0, True),
    ("same: server CPU µs per acked report", "throughput", "cpu_us_per_report", None, 1, True),
    ("same: ack p50 / p99 ms", "throughput", "p50_ms", "p99_ms", 1, False),
    ("100 × w8, 10 s: acked reports/s", "deep", "acked_per_s", None, 0, False),
    ("same: server CPU µs per acked report", "deep", "cpu_us_per_report", None, 1, False),
    ("same: ack p50 / p99 ms", "deep", "p50_ms", "p99_ms", 1, False),
    ("same + StreamLocations: CPU µs per report", "stream", "cpu_us_per_report", None, 1, False),
    ("2,000 × 1 Hz: ack p50 / p99 ms", "fleet", "p50_ms", "p99_ms", 2, False),
    ("2,000 × 1 Hz: server CPU % of a core", "fleet", "server_cpu_pct", None, 1, True),
    ("1,000 × 10 Hz: acked reports/s", "paced", "acked_per_s", None, 0, False),
    ("same: ack p50 / p99 ms", "paced", "p50_ms", "p99_ms", 2, False),
    (
        "same: server CPU % of a core / µs per report",
        "paced",
        "server_cpu_pct",
        "cpu_us_per_report",
        1,
        False,
    ),
    ("5,000 idle: connect + authenticate /s", "idle", "connect_auth_per_s", None, 0, True),
    ("5,000 idle: RSS per connection KiB", "idle", "rss_per_connection_kib", None, 1, True),
    ("5,000 idle: RSS before any terminal MiB", "idle", "rss_base_mib", None, 1, False),
    ("5,000 idle: heartbeat ack p99 ms / CPU %", "idle", "p99_ms", "server_cpu_pct", 1, False),
    ("19,000 idle: terminals authenticated", "crowd", "authenticated", None, 0, False),
    ("same: connect + authenticate /s", "crowd", "connect_auth_per_s", None, 0, True),
    ("same: RSS per connection KiB", "crowd", "rss_per_connection_kib", None, 1, True),
    ("same: RSS with every terminal MiB", "crowd", "rss_ready_mib", None, 1, True),
    ("same: heartbeat ack p99 ms / CPU %", "crowd", "p99_ms", "server_cpu_pct", 1, False),
)


def table(summary: dict[str, Any], runs: list[dict[str, Any]]) -> str:
    """Medians side by side: go-jt808, ours, ours / go, ours-memory, ours-memory / go."""

    def num(value: Any, digits: int) -> str:
        return "-" if value is None else f"{value:,.{digits}f}"

    def cell(load: str, which: str, metric: str, second: str | None, digits: int) -> str:
        figures = summary.get(load, {}).get(which, {})
        if metric in ("rss_base_mib", "rss_ready_mib"):
            kib = figures.get(metric.replace("_mib", "_kib"))
            return num(None if kib is None else kib / 1024, digits)
        text = num(figures.get(metric), digits)
        return text if second is None else f"{text} / {num(figures.get(second), digits)}"

    ours = [which for which in OURS if any(r["server"] == which for r in runs)]
    header = ["load", "go-jt808"]
    for which in ours:
        header += [which, f"{which} / go"]
    rows: list[tuple[str, ...]] = [tuple(header)]
    for label, load, metric, second, digits, ratios in ROWS:
        if load not in summary:
            continue  # a load not run this time
        row = [label, cell(load, "peer", metric, second, digits)]
        for which in ours:
            row.append(cell(load, which, metric, second, digits))
            row.append(num(ratio(summary, load, metric, which), 2) if ratios else "")
        rows.append(tuple(row))
    widths = [max(len(row[i]) for row in rows) for i in range(len(rows[0]))]
    lines = [" | ".join(c.ljust(w) for c, w in zip(row, widths, strict=True)) for row in rows]
    lines.insert(1, "-+-".join("-" * w for w in widths))
    for which in ours:
        streams = [r for r in runs if r["load"] == "stream" and r["server"] == which]
        if streams:
            lines.append(
                f"StreamLocations subscriber on {which}: "
                + "; ".join(
                    f"delivered {r['stream'].get('locations', '?')} of "
                    f"{r['stream'].get('acked_total', '?')} acked, dropped "
                    f"{r['stream'].get('dropped', '?')}"
                    for r in streams
                )
                + f"; CPU per report +{num(stream_overhead(summary, which), 0)} % over no stream"
            )
    problems = [
        f"{r['load']}/{r['server']}: {r.get('first_error') or 'errors'}"
        for r in runs
        if r.get("proto_err") or r.get("conn_fail") or r.get("first_error")
    ]
    if problems:
        lines.append("protocol errors seen: " + "; ".join(problems))
    return "\n".join(lines)


def stream_overhead(summary: dict[str, Any], which: str) -> float | None:
    """What the subscriber adds to the gateway's CPU per report, in percent."""
    with_stream = summary.get("stream", {}).get(which, {}).get("cpu_us_per_report")
    without = summary.get("throughput", {}).get(which, {}).get("cpu_us_per_report")
    return round(100 * (with_stream / without - 1), 1) if with_stream and without else None


def log_cost(summary: dict[str, Any], which: str = "ours") -> dict[str, float]:
    """What the default event log (of ``which``) costs beside ``--durability memory`` (issue
    10's target: at most 25 % of throughput, at most 5 ms more ack p99 at 10,000 reports/s)."""
    cost: dict[str, float] = {}
    for load, metric, name in (("throughput", "acked_per_s", "throughput_loss_pct"),
                               ("deep", "acked_per_s", "deep_loss_pct"),
                               ("paced", "acked_per_s", "paced_loss_pct")):  # fmt: skip
        ours = summary.get(load, {}).get(which, {}).get(metric)
        memory = summary.get(load, {}).get("ours-memory", {}).get(metric)
        if ours is not None and memory:
            cost[name] = round(100 * (1 - ours / memory), 1)
    for load in ("throughput", "fleet", "paced"):
        ours = summary.get(load, {}).get(which, {})
        memory = summary.get(load, {}).get("ours-memory", {})
        if ours.get("p99_ms") is not None and memory.get("p99_ms") is not None:
            cost[f"{load}_p99_added_ms"] = round(ours["p99_ms"] - memory["p99_ms"], 2)
        if ours.get("cpu_us_per_report") and memory.get("cpu_us_per_report"):
            cost[f"{load}_cpu_ratio"] = round(
                ours["cpu_us_per_report"] / memory["cpu_us_per_report"], 2
            )
    return cost


# ---- main ------------------------------------------------------------------------------------


def raise_open_files_limit() -> None:
    """5,000 terminals need more descriptors than a shell's default (children inherit it)."""
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if soft < hard:
        resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))


def run(loads: Sequence[Load], rounds: int, tools: Tools, log: Callable[[str], None],
        only: Sequence[str] = SERVERS) -> list[dict[str, Any]]:  # fmt: skip
    runs: list[dict[str, Any]] = []
    with tempfile.TemporaryDirectory(prefix="jt808-peer-") as tmp:
        workdir = Path(tmp)
        for round_index in range(rounds):
            for load in loads:
                servers = tuple(which for which in load.servers if which in only)
                servers = servers if round_index % 2 == 0 else servers[::-1]
                for which in servers:
                    figures = run_load(load, which, tools, workdir)
                    figures["round"] = round_index + 1
                    runs.append(figures)
                    log(_one_line(figures))
    return runs


def _one_line(r: dict[str, Any]) -> str:
    keys = ("acked_per_s", "cpu_us_per_report", "p50_ms", "p99_ms", "server_cpu_pct",
            "connect_auth_per_s", "rss_base_kib", "rss_per_connection_kib")  # fmt: skip
    shown = " ".join(f"{k}={r[k]}" for k in keys if r.get(k) is not None)
    extra = f" stream={json.dumps(r['stream'])}" if "stream" in r else ""
    err = f" first_error={r['first_error']!r}" if r.get("first_error") else ""
    return (f"round {r['round']} {r['load']:<10} {r['server']:<4} {shown}{extra}{err} "
            f"loadavg={r['load_average']}")  # fmt: skip


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m benchmarks.peer", description=__doc__.split("\n\n")[0] if __doc__ else None
    )
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--loads", default=",".join(LOADS), help="comma-separated, of: "
                        + ", ".join(LOADS))  # fmt: skip
    parser.add_argument("--servers", default=",".join(DEFAULT_SERVERS), help="comma-separated, of: "
                        + ", ".join(SERVERS))  # fmt: skip
    parser.add_argument("--json", type=Path, metavar="FILE", help="write every figure here")
    parser.add_argument("--peer-bench", type=Path, default=PEER_BENCH, metavar="DIR")
    parser.add_argument("--jt808", type=Path, default=REPO / ".venv" / "bin" / "jt808",
                        help="our gateway's entry point")  # fmt: skip
    args = parser.parse_args(argv)
    try:
        loads = [LOADS[name.strip()] for name in args.loads.split(",") if name.strip()]
    except KeyError as error:
        parser.error(f"unknown load {error}")
    only = [name.strip() for name in args.servers.split(",") if name.strip()]
    if not set(only) <= set(SERVERS):
        parser.error(f"--servers: of {', '.join(SERVERS)}")
    tools = Tools(args.peer_bench / "bin" / "loadgen", args.peer_bench / "bin" / "gosrv",
                  args.jt808)  # fmt: skip
    for tool in (tools.loadgen, tools.gosrv, tools.jt808):
        if not os.access(tool, os.X_OK):
            parser.error(f"{tool} is not an executable (see --peer-bench, --jt808)")
    raise_open_files_limit()
    started = time.time()
    load_before = _loadavg()

    def log(line: str) -> None:
        print(line, file=sys.stderr, flush=True)

    runs = run(loads, args.rounds, tools, log, only)
    summary = medians(runs)
    report = {
        "started": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(started)),
        "seconds": round(time.time() - started),
        "cpus": os.cpu_count(),
        "load_average_before": load_before,
        "load_average_after": _loadavg(),
        "rounds": args.rounds,
        "median": summary,
        "ratios": {
            f"{which}/peer {load}.{metric}": ratio(summary, load, metric, which)
            for which in OURS
            for load, metric in METRICS
            if ratio(summary, load, metric, which) is not None
        },
        "stream_overhead_pct": {w: stream_overhead(summary, w) for w in ("ours", "ours-memory")},
        "log_cost": log_cost(summary),
        "log_cost_thread": log_cost(summary, "ours-thread"),
        "runs": runs,
    }
    if args.json is not None:
        args.json.write_text(json.dumps(report, indent=2) + "\n", encoding="utf-8")
    print(table(summary, runs))
    for which in ("ours", "ours-thread"):
        for name, figure in log_cost(summary, which).items():
            print(f"event log ({which}) beside ours-memory: {name} = {figure}")
    print(f"\n{args.rounds} round(s), medians; load average before {load_before}, "
          f"after {report['load_average_after']} on {os.cpu_count()} CPUs")  # fmt: skip
    return 0


if __name__ == "__main__":
    sys.exit(main())
