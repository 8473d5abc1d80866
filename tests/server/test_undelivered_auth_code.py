"""A registration whose event the log cannot take: the 0x8100 is withheld, and the auth code it
carried is revoked, so the terminal's next 0x0100 gets a new code instead of "already
registered" (which would lock it out until an operator resets the device)."""

from __future__ import annotations

from collections.abc import Callable

import anyio
import pytest

from gateway.events import EventKind
from gateway.protocol import V2013, ResultCode
from gateway.protocol.bodies.registration import RegisterResult
from gateway.server.gateway import Gateway
from gateway.store.log import LogStore
from tests.timeouts import HANG_GUARD

from .harness import address_of
from .terminal_client import TerminalClient
from .test_audit_durable_log import kinds_stored

pytestmark = pytest.mark.anyio

#: How long a withheld reply is waited for (it must not come).
SILENCE_S = 0.5


def failing_writes(store: LogStore) -> Callable[[], None]:
    """The log refuses every write (as a read-only data dir does); returns the undoing."""
    store.fail_writes(True)
    return lambda: store.fail_writes(False)


def full_backlog(store: LogStore) -> Callable[[], None]:
    """The store refuses every append (too many wait to be written); returns the undoing."""
    limit, store.max_pending = store.max_pending, 0
    return lambda: setattr(store, "max_pending", limit)


@pytest.mark.parametrize("fault", [failing_writes, full_backlog])
async def test_a_registration_whose_event_is_not_stored_is_unanswered_and_gives_up_its_code(
    gateway: Gateway, fault: Callable[[LogStore], Callable[[], None]]
) -> None:
    store = gateway.store
    assert isinstance(store, LogStore)
    with anyio.fail_after(HANG_GUARD):
        async with TerminalClient.connect(address_of(gateway), V2013) as terminal:
            undo = fault(store)
            await terminal.send(terminal.terminal.registration())
            await terminal.quiet(SILENCE_S)  # no 0x8100: its event was not stored
            undo()
            registered = await terminal.register()  # the terminal tries again
            assert registered.result == RegisterResult.SUCCESS, registered
            assert await terminal.authenticate(registered.auth_code) is ResultCode.SUCCESS
    assert EventKind.REGISTERED in kinds_stored(gateway, terminal.phone)


async def test_a_stored_registration_keeps_its_code(gateway: Gateway) -> None:
    with anyio.fail_after(HANG_GUARD):
        async with TerminalClient.connect(address_of(gateway), V2013) as terminal:
            code = await terminal.log_in()
        await anyio.sleep(SILENCE_S)  # a revocation, were one wrongly made, has run by now
        async with TerminalClient.connect(address_of(gateway), V2013) as terminal:
            assert await terminal.authenticate(code) is ResultCode.SUCCESS
