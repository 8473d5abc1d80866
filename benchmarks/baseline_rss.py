"""Where an idle gateway's resident memory goes: ``jt808 serve``'s imports one by one, then the
real ``serve``.

    python -m benchmarks.baseline_rss [--runs 3]

Each run imports, in a fresh interpreter, what ``serve`` imports in the order it does (each
step also counts what the step's module imports first) and reads VmRSS, RssAnon and RssFile
from /proc after each step; then it starts ``jt808 serve`` as ``benchmarks.peer`` does and reads
them 1 s after the gateway accepts. The table has the medians over runs. RSS only (never PSS):
shared libraries' code counts in full, as it does in ``benchmarks.peer``'s ``rss_base_kib``.
"""

from __future__ import annotations

import argparse
import json
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Final

from .peer import free_address, wait_until

#: What ``jt808 serve`` imports, grouped, in its order (a step includes what it imports first).
STEPS: Final = (
    "asyncio",  # it imports ssl, and with it OpenSSL
    "uvloop",
    "sqlite3",
    "grpc.aio",
    "anyio",
    "anyio._backends._asyncio",  # imported by anyio.run
    "clients.cli",
    "gateway.protocol",
    "gateway.server.config",
    "gateway.server.gateway",
    "google.protobuf.descriptor_pool",
    "grpc_health.v1.health_pb2",
    "grpc_reflection.v1alpha.reflection",
    "controlplane.server",
    "controlplane.app",
    "clients.serve_command",
)
FIELDS: Final = ("VmRSS", "RssAnon", "RssFile")
#: Run in the fresh interpreter: one JSON line of the three figures after each step.
IMPORTER: Final = """
import importlib, json, sys
def figures():
    found = {}
    for line in open("/proc/self/status"):
        key, _, value = line.partition(":")
        if key in ("VmRSS", "RssAnon", "RssFile"):
            found[key] = int(value.split()[0])
    return [found["VmRSS"], found["RssAnon"], found["RssFile"]]
rows = [figures()]
for name in sys.argv[1:]:
    importlib.import_module(name)
    rows.append(figures())
print(json.dumps(rows))
"""


def status_kib(pid: int) -> list[int]:
    found: dict[str, int] = {}
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        key, _, value = line.partition(":")
        if key in FIELDS:
            found[key] = int(value.split()[0])
    return [found[key] for key in FIELDS]


def imports_kib() -> list[list[int]]:
    out = subprocess.run(
        [sys.executable, "-c", IMPORTER, *STEPS], capture_output=True, text=True, check=True
    ).stdout
    rows: list[list[int]] = json.loads(out)
    return rows


def serving_kib() -> list[int]:
    jt808 = Path(sys.executable).with_name("jt808")
    address = free_address()
    host, port = address.rsplit(":", 1)
    with tempfile.TemporaryDirectory() as workdir:
        command = [str(jt808), "serve", "--listen", address, "--auth", "insecure-accept-all",
                   "--grpc-listen", free_address(), "--data-dir", f"{workdir}/data"]  # fmt: skip
        process = subprocess.Popen(
            command, stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL
        )
        try:

            def accepts() -> bool:
                try:
                    with socket.create_connection((host, int(port)), timeout=0.2):
                        return True
                except OSError:
                    return process.poll() is not None

            wait_until(accepts, 30, "jt808 serve to listen")
            if process.poll() is not None:
                raise RuntimeError(f"jt808 serve exited with {process.returncode}")
            time.sleep(1.0)  # settled, as benchmarks.peer measures rss_base_kib
            return status_kib(process.pid)
        finally:
            process.terminate()
            process.wait(10)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--runs", type=int, default=3)
    args = parser.parse_args(argv)
    runs = [[*imports_kib(), serving_kib()] for _ in range(args.runs)]
    names = ["interpreter (python -c pass)", *STEPS, "serving (1 s after it accepts)"]
    print("| step | + MiB | anon | file | total MiB |\n|---|---|---|---|---|")
    previous = [0, 0, 0]
    for index, name in enumerate(names):
        row = [statistics.median(run[index][k] for run in runs) for k in range(3)]
        deltas = " | ".join(f"{(row[k] - previous[k]) / 1024:+.1f}" for k in range(3))
        print(f"| {name} | {deltas} | {row[0] / 1024:.1f} |")
        previous = [int(value) for value in row]
    return 0


if __name__ == "__main__":
    sys.exit(main())
