"""A registration whose event the log cannot take: the 0x8100 is withheld, and the auth code it
carried is revoked, so the terminal's next 0x0100 gets a new code instead of "already
registered" (which would lock it out until an operator resets the device)."""

from __future__ import annotations

import anyio
import pytest

from gateway.protocol import V2013, ResultCode
from gateway.protocol.bodies.registration import RegisterResult
from gateway.server.gateway import Gateway
from gateway.store.log import LogStore
from tests.timeouts import HANG_GUARD

from .harness import address_of
from .terminal_client import TerminalClient

pytestmark = pytest.mark.anyio

#: How long a withheld reply is waited for (it must not come).
SILENCE_S = 0.5


async def test_a_registration_refused_by_a_full_backlog_revokes_its_code(
    gateway: Gateway,
) -> None:
    store = gateway.store
    assert isinstance(store, LogStore)
    with anyio.fail_after(HANG_GUARD):
        async with TerminalClient.connect(address_of(gateway), V2013) as terminal:
            limit, store.max_pending = store.max_pending, 0  # every append is refused
            await terminal.send(terminal.terminal.registration())
            await terminal.quiet(SILENCE_S)  # no 0x8100: its event was not stored
            store.max_pending = limit
            registered = await terminal.register()  # the terminal tries again
            assert registered.result == RegisterResult.SUCCESS, registered
            assert await terminal.authenticate(registered.auth_code) is ResultCode.SUCCESS


async def test_a_stored_registration_keeps_its_code(gateway: Gateway) -> None:
    with anyio.fail_after(HANG_GUARD):
        async with TerminalClient.connect(address_of(gateway), V2013) as terminal:
            code = await terminal.log_in()
        await anyio.sleep(SILENCE_S)  # a revocation, were one wrongly made, has run by now
        async with TerminalClient.connect(address_of(gateway), V2013) as terminal:
            assert await terminal.authenticate(code) is ResultCode.SUCCESS
