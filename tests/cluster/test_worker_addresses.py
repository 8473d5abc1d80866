"""``jt808 serve --workers N`` checks every worker's addresses before it starts any: a gRPC
port + i that another program holds is one sentence and exit 1, not a worker that dies and is
started again forever."""

from __future__ import annotations

import socket
import subprocess
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest

from gateway.cluster import workers
from tests.server.harness import free_port
from tests.server.test_serve_command import run_serve


@contextmanager
def held_pair_second() -> Iterator[int]:
    """A port P whose successor P + 1 is held by a listening socket until the block ends, and P
    itself free: where worker 1's gRPC may listen and worker 2's may not."""
    while True:
        held = socket.socket()
        held.bind(("127.0.0.1", 0))
        held.listen()
        first = held.getsockname()[1] - 1
        with socket.socket() as probe:
            try:
                probe.bind(("127.0.0.1", first))
            except OSError:
                held.close()
                continue
        with held:
            yield first
        return


def test_a_workers_grpc_port_in_use_is_one_sentence_before_any_worker_starts(
    tmp_path: Path,
) -> None:
    with held_pair_second() as grpc_port:
        result = run_serve(
            "--workers", "2", "--nats-url", "nats://127.0.0.1:1", "--auth", "insecure-accept-all",
            "--listen", f"127.0.0.1:{free_port()}", "--grpc-listen", f"127.0.0.1:{grpc_port}",
            "--data-dir", str(tmp_path),
        )  # fmt: skip

    assert result.returncode == 1, result
    assert result.stderr.splitlines() == [
        f"jt808 serve: cannot listen on 127.0.0.1:{grpc_port + 1} for gRPC of worker 2 "
        "(--grpc-listen + 1): address already in use"
    ]


def test_a_worker_that_keeps_dying_young_is_restarted_ever_later_up_to_a_cap(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setattr(workers, "RESTART_WAIT", 0.01)
    monkeypatch.setattr(workers, "MAX_RESTART_WAIT", 0.04)
    supervisor = workers.Supervisor([[sys.executable, "-c", "raise SystemExit(3)"]])
    waits: list[float] = []
    start = supervisor._start

    def counting_start(index: int) -> subprocess.Popen[bytes]:
        waits.append(supervisor.waits[index])
        if len(waits) == 6:
            supervisor.stopping = True
        return start(index)

    monkeypatch.setattr(supervisor, "_start", counting_start)
    assert supervisor.run() == 0
    # The wait before each next restart: doubled while the worker dies young, then capped.
    assert waits == [0.01, 0.02, 0.04, 0.04, 0.04, 0.04]
