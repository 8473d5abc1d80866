"""The example verification services (clients/auth-examples/python and node) behind a real
gateway running ``--auth remote``: each is started as its README says, with an allow-list CSV,
and terminals register and authenticate through the gateway over TCP.

The Node example needs its packages: ``make`` runs ``npm ci`` in its folder (``make test`` does
it first).
"""

from __future__ import annotations

import re
import shutil
import sys
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Final

import anyio
import anyio.abc
import pytest

from gateway.protocol.bodies.general import TerminalLogout
from gateway.protocol.bodies.registration import RegisterResult
from gateway.protocol.errors import ResultCode
from gateway.protocol.ids import MessageId
from gateway.protocol.versions import V2013, V2019
from gateway.server.config import HostPort

# One event loop per module, as for the control-plane tests (grpc.aio completions).
from tests.controlplane.conftest import anyio_backend, one_event_loop  # noqa: F401
from tests.controlplane.harness import RunningApp, running_app
from tests.server.terminal_client import DEVICE_NAME, TerminalClient

pytestmark = pytest.mark.anyio

ROOT: Final = Path(__file__).resolve().parents[2]
EXAMPLES: Final = ROOT / "clients" / "auth-examples"
START_TIMEOUT: Final = 60.0
#: The allow-list: the identity TerminalClient registers with, and a device pinned to a phone.
DEVICES_CSV: Final = (
    "manufacturer_id,terminal_model,terminal_id,phone,plate,plate_color\n"
    "ACME1,TK-1,T000001,,,\n"
    "ACME1,TK-1,T000002,013300000000,,\n"
)
_LISTENING: Final = re.compile(rb"listening on ([0-9.]+):([0-9]+)")


def example_command(language: str) -> list[str]:
    if language == "python":
        return [sys.executable, str(EXAMPLES / "python" / "server.py")]
    node = shutil.which("node")
    assert node is not None, "node is not installed"
    assert (EXAMPLES / "node" / "node_modules" / "@grpc" / "grpc-js").is_dir(), (
        "the Node example's packages are missing: run `make` (npm ci in clients/auth-examples/node)"
    )
    return [node, str(EXAMPLES / "node" / "server.js")]


@asynccontextmanager
async def example_service(language: str, tmp_path: Path) -> AsyncIterator[HostPort]:
    """The example started as its README says, on a port the OS picks; yields its address."""
    devices = tmp_path / "devices.csv"
    devices.write_text(DEVICES_CSV, encoding="utf-8")
    command = [*example_command(language), "--listen", "127.0.0.1:0", "--devices", str(devices)]
    async with await anyio.open_process(command) as process:
        try:
            yield await _listening_address(process)
        finally:
            process.terminate()
            with anyio.CancelScope(shield=True), anyio.move_on_after(10):
                await process.wait()
            if process.returncode is None:
                process.kill()


async def _listening_address(process: anyio.abc.Process) -> HostPort:
    assert process.stderr is not None
    seen = b""
    with anyio.fail_after(START_TIMEOUT):
        while (found := _LISTENING.search(seen)) is None:
            try:
                seen += await process.stderr.receive()
            except anyio.EndOfStream:
                raise AssertionError(f"the example exited: {seen.decode()}") from None
    return HostPort(found.group(1).decode(), int(found.group(2)))


@asynccontextmanager
async def gateway_with(language: str, tmp_path: Path) -> AsyncIterator[RunningApp]:
    async with (
        example_service(language, tmp_path) as endpoint,
        running_app(tmp_path / "data", auth="remote", auth_endpoint=endpoint) as app,
    ):
        yield app


LANGUAGES = pytest.mark.parametrize("language", ["python", "node"])


@LANGUAGES
async def test_an_allowed_device_registers_and_authenticates(language: str, tmp_path: Path) -> None:
    async with (
        gateway_with(language, tmp_path) as app,
        TerminalClient.connect(app.addresses.terminals, V2019) as terminal,
    ):
        registered = await terminal.register()
        again = await terminal.register()  # a repeated registration gets the same code
        result = await terminal.authenticate(registered.auth_code)
        session = app.gateway.sessions.get(terminal.phone)

    assert registered.result == RegisterResult.SUCCESS
    assert len(registered.auth_code) >= 16
    assert again.auth_code == registered.auth_code
    assert result is ResultCode.SUCCESS
    assert session is not None and session.device_name == DEVICE_NAME


@LANGUAGES
async def test_an_unknown_device_is_refused(language: str, tmp_path: Path) -> None:
    async with (
        gateway_with(language, tmp_path) as app,
        TerminalClient.connect(app.addresses.terminals, V2013) as terminal,
    ):
        unknown = await terminal.register(terminal_id="T999999")
        never_registered = await terminal.authenticate("0123456789abcdef")

    assert (unknown.result, unknown.auth_code) == (RegisterResult.TERMINAL_NOT_FOUND, "")
    assert never_registered is ResultCode.FAILURE
    assert len(app.gateway.sessions) == 0


@LANGUAGES
async def test_a_device_pinned_to_another_phone_is_refused(language: str, tmp_path: Path) -> None:
    async with (
        gateway_with(language, tmp_path) as app,
        TerminalClient.connect(app.addresses.terminals, V2013) as terminal,
    ):
        registered = await terminal.register(terminal_id="T000002")  # pinned to 013300000000

    assert registered.result == RegisterResult.TERMINAL_ALREADY_REGISTERED


@LANGUAGES
async def test_a_wrong_auth_code_is_refused(language: str, tmp_path: Path) -> None:
    async with (
        gateway_with(language, tmp_path) as app,
        TerminalClient.connect(app.addresses.terminals, V2019) as terminal,
    ):
        registered = await terminal.register()
        wrong = await terminal.authenticate(registered.auth_code[::-1])

    assert registered.result == RegisterResult.SUCCESS
    assert wrong is ResultCode.FAILURE
    assert len(app.gateway.sessions) == 0


@LANGUAGES
async def test_logout_revokes_the_auth_code(language: str, tmp_path: Path) -> None:
    async with gateway_with(language, tmp_path) as app:
        async with TerminalClient.connect(app.addresses.terminals, V2019) as terminal:
            code = await terminal.log_in()
            await terminal.send(terminal.terminal.frame(TerminalLogout()))
            await terminal.expect_general_response(MessageId.TERMINAL_LOGOUT, ResultCode.SUCCESS)
        async with TerminalClient.connect(app.addresses.terminals, V2019) as again:
            revoked = await again.authenticate(code)

    assert revoked is ResultCode.FAILURE
