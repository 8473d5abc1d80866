"""The hostile-terminal limits on the TLS listener: admission is asked before the handshake (no
TLS work for a connection it would refuse, and no lockout when it would shed an idle
unauthenticated connection for it), and limit hits are logged once per burst like the TCP
edge's."""

from __future__ import annotations

import asyncio
import logging
from pathlib import Path

import anyio
import anyio.abc
import pytest

from gateway.server.config import HostPort
from gateway.server.logs import LOGGER_NAME
from tests.server.harness import metric
from tests.timeouts import HANG_GUARD

from .gateway_harness import (
    answers_before_close,
    device,
    running_tls_app,
    tls_address,
    tls_terminal,
)
from .harness import GUARD, running_listener, settings_for
from .pki import TestPki

pytestmark = pytest.mark.anyio

PHONE = "013700000009"


async def idle_connections(address: HostPort, count: int) -> list[anyio.abc.SocketStream]:
    """``count`` plain TCP connections that never say anything."""
    return [await anyio.connect_tcp(address.host, address.port) for _ in range(count)]


def warnings_of(caplog: pytest.LogCaptureFixture, text: str) -> list[logging.LogRecord]:
    return [r for r in caplog.records if r.levelno == logging.WARNING and text in r.getMessage()]


async def test_a_tls_terminal_gets_in_when_idle_unauthenticated_connections_fill_the_gateway(
    pki: TestPki, tmp_path: Path
) -> None:
    async with running_tls_app(tmp_path, pki, max_connections=2, max_unauthenticated=2) as app:
        gateway = app.gateway
        gateway.admission.shed_after = 0.2
        with anyio.fail_after(HANG_GUARD):
            idle = await idle_connections(app.addresses.terminals, 2)
            while len(gateway.admission) < 2:
                await anyio.sleep(0.01)
            await anyio.sleep(0.3)  # both had their time to authenticate
            async with tls_terminal(tls_address(app), device(pki, None), phone=PHONE) as late:
                await late.log_in()
            for stream in idle:
                await stream.aclose()
    assert metric(gateway, "jt808_limit_hits_total", limit="shed_unauthenticated") == 1


async def test_a_connection_admission_would_refuse_gets_no_handshake_and_one_line(
    pki: TestPki, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.INFO, logger=LOGGER_NAME)
    async with running_tls_app(tmp_path, pki, max_unauthenticated_per_address=1) as app:
        gateway = app.gateway
        with anyio.fail_after(HANG_GUARD):
            idle = await idle_connections(app.addresses.terminals, 1)
            while len(gateway.admission) < 1:
                await anyio.sleep(0.01)
            for _ in range(3):
                assert await answers_before_close(tls_address(app), device(pki, None), PHONE) == []
            for stream in idle:
                await stream.aclose()
    limit = "max_unauthenticated_per_address"
    assert metric(gateway, "jt808_limit_hits_total", limit=limit) == 3
    assert metric(gateway, "jt808_tls_handshakes_total", outcome="ok") in (None, 0)
    assert len(warnings_of(caplog, "TLS connection refused before its handshake")) == 1


async def test_handshakes_past_the_bound_are_logged_once_per_burst(
    pki: TestPki, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.INFO, logger=LOGGER_NAME)
    async with running_listener(settings_for(pki), max_handshakes=1) as running:
        with anyio.fail_after(GUARD):
            _, silent = await asyncio.open_connection("127.0.0.1", running.address.port)
            while running.listener._in_progress < 1:
                await anyio.sleep(0.01)
            for _ in range(4):
                reader, writer = await asyncio.open_connection("127.0.0.1", running.address.port)
                assert await reader.read() == b""  # closed at once
                writer.close()
            silent.close()
        assert running.count("jt808_tls_limit_hits", limit="max_handshakes") == 4
    assert len(warnings_of(caplog, "too many handshakes in progress")) == 1
