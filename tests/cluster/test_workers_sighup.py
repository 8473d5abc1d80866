"""``jt808 serve --workers N`` and SIGHUP: the supervisor passes it to the workers (each reloads
its TLS files, or without a TLS listener logs that there is nothing to reload) and nothing
stops."""

from __future__ import annotations

import signal
from pathlib import Path

import anyio
import pytest

from gateway.server.config import HostPort
from tests.server.test_serve_command import serving
from tests.timeouts import HANG_GUARD

from .nats_server import NatsServer, free_port
from .test_faults import sessions_on, until_listening


@pytest.mark.anyio
async def test_sighup_reaches_every_worker_and_stops_nothing(
    nats_server: NatsServer, tmp_path: Path
) -> None:
    terminals, grpc_port = HostPort("127.0.0.1", free_port()), free_port()
    with anyio.fail_after(2 * HANG_GUARD):  # three processes start (slow on a busy machine)
        async with serving(
            "--workers", "2", "--nats-url", nats_server.url, "--node-id", "h",
            "--listen", str(terminals), "--grpc-listen", f"127.0.0.1:{grpc_port}",
            "--auth", "insecure-accept-all", "--data-dir", str(tmp_path),
            ready='event="starting workers"',
        ) as supervisor:  # fmt: skip
            targets = [f"127.0.0.1:{grpc_port}", f"127.0.0.1:{grpc_port + 1}"]
            for target in targets:
                await until_listening(target)
            supervisor.process.send_signal(signal.SIGHUP)
            while sum("SIGHUP" in line for line in supervisor.lines) < 2:
                await supervisor.wait_for_line("SIGHUP")
                await anyio.sleep(0.05)
            for target in targets:
                await sessions_on(target)  # both workers still answer
            assert supervisor.process.returncode is None
            assert not any("worker exited" in line for line in supervisor.lines)
            supervisor.process.send_signal(signal.SIGTERM)
            assert await supervisor.process.wait() == 0
    hups = [line for line in supervisor.lines if "SIGHUP" in line]
    assert len(hups) == 2 and all("nothing to reload" in line for line in hups)
