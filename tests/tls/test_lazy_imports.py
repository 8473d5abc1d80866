"""A plain ``jt808 serve`` never loads the TLS stack: the process's own import log
(``PYTHONPROFILEIMPORTTIME``) while it serves a TCP terminal names neither ``cryptography`` nor
``httpx`` nor ``gateway.tls``; with ``--tls-listen`` it does."""

from __future__ import annotations

import re
from pathlib import Path

import anyio
import pytest

from gateway.protocol import V2019
from gateway.server.config import HostPort
from tests.server.harness import free_port
from tests.server.terminal_client import TerminalClient
from tests.server.test_serve_command import clean_environment, serving
from tests.timeouts import HANG_GUARD

from .gateway_harness import device, tls_terminal
from .pki import PHONE, TestPki

pytestmark = pytest.mark.anyio
#: The TLS stack: what only --tls-listen (or the control plane's TLS) may load.
TLS_STACK = re.compile(r"\|\s+(cryptography|httpx|gateway\.tls|controlplane\.credentials)\b")


def imported(log: str) -> set[str]:
    """Top-level names of the packages of the TLS stack in an ``-X importtime`` log."""
    return {match.group(1) for match in TLS_STACK.finditer(log)}


@pytest.fixture
def anyio_backend() -> str:
    return "asyncio"  # the gateway runs in its own process; the test's loop only waits


async def test_a_plain_gateway_loads_no_tls_stack(tmp_path: Path) -> None:
    address = HostPort("127.0.0.1", free_port())
    with anyio.fail_after(HANG_GUARD):
        async with serving(
            "--listen", str(address), "--auth", "insecure-accept-all",
            "--data-dir", str(tmp_path / "data"),
            environment=clean_environment(PYTHONPROFILEIMPORTTIME="1"),
        ) as server:  # fmt: skip
            async with TerminalClient.connect(address, V2019) as terminal:
                await terminal.log_in(terminal_id="ANY-DEVICE")
                await terminal.send(terminal.terminal.location())
                await terminal.receive()
            log = server.log
    assert "gateway.server.connection" in log  # the import log is there
    assert imported(log) == set()


async def test_a_gateway_with_tls_loads_it(tmp_path: Path, pki: TestPki) -> None:
    tls = HostPort("127.0.0.1", free_port())
    files = pki.files["server"]
    with anyio.fail_after(HANG_GUARD):
        async with serving(
            "--listen", f"127.0.0.1:{free_port()}", "--auth", "insecure-accept-all",
            "--data-dir", str(tmp_path / "data"), "--tls-listen", str(tls),
            "--tls-cert", str(files.cert), "--tls-key", str(files.key),
            environment=clean_environment(PYTHONPROFILEIMPORTTIME="1"),
        ) as server:  # fmt: skip
            await server.wait_for_line("TLS listening")
            async with tls_terminal(tls, device(pki, None), phone=PHONE) as terminal:
                await terminal.log_in()
            log = server.log
    assert {"cryptography", "gateway.tls"} <= imported(log)
