"""``jt808 serve --workers N``: N node processes on one machine, one a core.

The supervisor (this process) runs ``jt808 serve`` N times with the same settings, each a node
of the cluster: node ids ``<node-id>-1`` … ``<node-id>-N``; the terminal listeners shared (in
cluster mode every node binds ``--listen`` and ``--tls-listen`` with SO_REUSEPORT, so the kernel
spreads new connections over the workers); the gRPC port strategy: worker *i* listens on
``--grpc-listen``'s port + *i* - 1 (and ``--metrics-listen`` likewise), since any node answers
for every terminal a client may use any of them. SIGINT/SIGTERM stop the workers, SIGHUP is
passed to them (TLS reload); a worker that dies is started again (after its node id is free: at
most ``--cluster-ttl`` after a crash), sooner or later: one that keeps dying at start-up waits
longer each time, up to ``MAX_RESTART_WAIT``.

Before any worker starts, the supervisor checks that every worker's addresses can be bound, so
a gRPC port + *i* that another program holds is one sentence at start, not a worker that dies
and is started again forever.
"""

from __future__ import annotations

import argparse
import signal
import subprocess
import sys
import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from types import FrameType
from typing import TYPE_CHECKING, Final

from gateway.server.logs import get_logger

from .settings import node_of

if TYPE_CHECKING:
    from gateway.server.config import GatewayConfig, HostPort

log = get_logger()
#: Seconds between a worker's death and its restart; doubled while it keeps dying young.
RESTART_WAIT: Final = 1.0
MAX_RESTART_WAIT: Final = 30.0
#: A worker that ran this long (seconds) before it died is restarted after ``RESTART_WAIT``.
YOUNG: Final = 10.0
#: Seconds the workers get to stop cleanly before they are killed.
STOP_GRACE: Final = 10.0
#: prctl(2) option: the signal a process gets when its parent dies.
PR_SET_PDEATHSIG: Final = 1


def _die_with_parent() -> None:
    """In the worker, before it runs: on Linux, SIGTERM when the supervisor dies (even by
    SIGKILL), so that no worker outlives it holding the port."""
    if sys.platform.startswith("linux"):
        import ctypes  # noqa: PLC0415 (only in a worker: a plain gateway need not load it)

        libc = ctypes.CDLL(None, use_errno=True)
        libc.prctl(PR_SET_PDEATHSIG, signal.SIGTERM)


def shifted(address: HostPort, by: int) -> HostPort:
    from gateway.server.config import HostPort  # noqa: PLC0415  (config imports this package)

    return HostPort(address.host, address.port + by if address.port else 0)


def worker_flags(args: argparse.Namespace, config: GatewayConfig, index: int) -> list[str]:
    """The flags of worker ``index`` (0-based): the supervisor's own flags as given, then the
    ones that make it a worker (flags given later win)."""
    from gateway.server.config import SETTINGS  # noqa: PLC0415

    flags: list[str] = []
    if getattr(args, "config", None) is not None:
        flags += ["--config", str(args.config)]
    for setting in SETTINGS:
        text = getattr(args, setting.name, None)
        if text is not None:
            flags += ["--" + setting.name.replace("_", "-"), str(text)]
    flags += ["--workers", "1", "--node-id", f"{node_of(config)}-{index + 1}"]
    flags += ["--grpc-listen", str(shifted(config.grpc_listen, index))]
    if config.metrics_listen is not None:
        flags += ["--metrics-listen", str(shifted(config.metrics_listen, index))]
    return flags


def check_worker_addresses(config: GatewayConfig) -> None:
    """Raise ``ListenError`` naming the first address some worker could not bind now."""
    from gateway.server.listen_check import check_listen  # noqa: PLC0415

    check_listen(config.listen, "terminals", "--listen", reuse_port=True)
    if config.tls_listen is not None:
        check_listen(config.tls_listen, "terminals over TLS", "--tls-listen", reuse_port=True)
    for index in range(config.workers):
        shift = f" + {index}" if index else ""
        what = f"gRPC of worker {index + 1}"
        check_listen(shifted(config.grpc_listen, index), what, f"--grpc-listen{shift}")
        if config.metrics_listen is not None:
            check_listen(shifted(config.metrics_listen, index),
                         f"metrics of worker {index + 1}", f"--metrics-listen{shift}")  # fmt: skip


@dataclass
class Supervisor:
    commands: Sequence[Sequence[str]]
    processes: list[subprocess.Popen[bytes] | None] = field(default_factory=list)
    stopping: bool = False
    #: Per worker: when it was last started (monotonic) and the wait before its next restart.
    started: list[float] = field(default_factory=list)
    waits: list[float] = field(default_factory=list)

    def run(self) -> int:
        previous = {
            signum: signal.signal(signum, self._stop) for signum in (signal.SIGINT, signal.SIGTERM)
        }
        # SIGHUP reloads a worker's TLS files; by default it would end the supervisor (and so
        # every worker), so it is passed on instead.
        previous[signal.SIGHUP] = signal.signal(signal.SIGHUP, self._pass_on)
        try:
            count = len(self.commands)
            self.started = [0.0] * count
            self.waits = [RESTART_WAIT] * count
            self.processes = [self._start(i) for i in range(count)]
            while not self.stopping:
                for index, process in enumerate(self.processes):
                    if process is not None and process.poll() is not None and not self.stopping:
                        self._restart(index, process.returncode)
                time.sleep(0.2)
        finally:
            self._stop_all()
            for signum, handler in previous.items():
                signal.signal(signum, handler)
        return 0

    def _restart(self, index: int, code: int) -> None:
        """Start worker ``index`` again after a wait that grows while it keeps dying young
        (a port taken, NATS down): no busy loop of failing starts, but no giving up either."""
        young = time.monotonic() - self.started[index] < YOUNG
        wait = min(self.waits[index], MAX_RESTART_WAIT) if young else RESTART_WAIT
        self.waits[index] = min(wait * 2, MAX_RESTART_WAIT) if young else RESTART_WAIT * 2
        log.warning(
            "worker exited; starting it again",
            extra={"worker": index + 1, "code": code, "in_seconds": wait},
        )
        deadline = time.monotonic() + wait
        while not self.stopping and time.monotonic() < deadline:
            time.sleep(min(0.2, max(0.0, deadline - time.monotonic())))
        if not self.stopping:
            self.processes[index] = self._start(index)

    def _start(self, index: int) -> subprocess.Popen[bytes]:
        self.started[index] = time.monotonic()
        # The supervisor runs no threads, so preexec_fn is safe here.
        return subprocess.Popen(list(self.commands[index]), preexec_fn=_die_with_parent)  # noqa: PLW1509

    def _stop(self, signum: int, frame: FrameType | None) -> None:
        self.stopping = True

    def _pass_on(self, signum: int, frame: FrameType | None) -> None:
        for process in self.processes:
            if process is not None and process.poll() is None:
                process.send_signal(signum)

    def _stop_all(self) -> None:
        alive = [p for p in self.processes if p is not None and p.poll() is None]
        for process in alive:
            process.send_signal(signal.SIGTERM)
        deadline = time.monotonic() + STOP_GRACE
        for process in alive:
            try:
                process.wait(max(0.0, deadline - time.monotonic()))
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait()


def run_workers(args: argparse.Namespace, config: GatewayConfig) -> int:
    """Run ``config.workers`` nodes until SIGINT/SIGTERM; 0 when they stopped. Raises
    ``ListenError`` before starting any when an address of one could not be bound."""
    check_worker_addresses(config)
    command = [sys.executable, "-m", "clients.cli", "serve"]
    commands = [[*command, *worker_flags(args, config, i)] for i in range(config.workers)]
    log.info(
        "starting workers",
        extra={"workers": config.workers, "node": node_of(config),
               "grpc": f"{config.grpc_listen} + 0..{config.workers - 1}"},
    )  # fmt: skip
    return Supervisor(commands).run()
