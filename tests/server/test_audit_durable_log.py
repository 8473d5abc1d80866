"""Issue 10's acceptance audit at the terminal edge: every kind of data an acknowledgement
covers is in the log when the reply reaches the terminal (each item of a 0x0704, the session
events behind the replies to registration, authentication and logout), and the log's size and
oldest sequence are metrics."""

from __future__ import annotations

import anyio
import pytest

from gateway.events import EventKind, LocationReported, TerminalEvent
from gateway.protocol import V2013, ResultCode
from gateway.protocol.bodies.general import TerminalLogout
from gateway.protocol.bodies.location import LocationBatch, LocationBatchType
from gateway.protocol.ids import MessageId
from gateway.server.gateway import Gateway
from gateway.store.base import ReadFilter
from gateway.store.log import LogStore
from gateway.store.log_reader import LogReader
from gateway.store.records import event_of
from gateway.store.sqlite_log import LOG_NAME
from tests.protocol.null_modem import location
from tests.timeouts import HANG_GUARD

from .harness import address_of, metric
from .terminal_client import TerminalClient

pytestmark = pytest.mark.anyio

#: How long a withheld reply is waited for (it must not come).
SILENCE_S = 0.5


def stored_now(gateway: Gateway, only: ReadFilter) -> list[LocationReported | TerminalEvent]:
    """What the log file holds at this moment, read as a replay reads it."""
    rows, _, _, _ = LogReader(gateway.config.data_dir / LOG_NAME).read(0, 1 << 40, only)
    return [event_of(row) for row in rows]


def kinds_stored(gateway: Gateway, phone: str) -> list[EventKind]:
    events = stored_now(gateway, ReadFilter(locations=False))
    return [e.kind for e in events if isinstance(e, TerminalEvent) and e.phone == phone]


async def test_each_item_of_a_batch_upload_is_stored_before_its_acknowledgement(
    gateway: Gateway,
) -> None:
    store = gateway.store
    assert isinstance(store, LogStore)
    items = [location(speed=float(speed)) for speed in (11, 22, 33)]
    upload = LocationBatch(type=LocationBatchType.BLIND_AREA, items=items)
    with anyio.fail_after(HANG_GUARD):
        async with TerminalClient.connect(address_of(gateway), V2013) as terminal:
            await terminal.log_in()
            store.fail_writes(True)
            await terminal.send(terminal.terminal.frame(upload))
            await terminal.quiet(SILENCE_S)  # not stored: not acknowledged
            store.fail_writes(False)
            await terminal.send(terminal.terminal.frame(upload))  # the device sends it again
            serial = terminal.terminal.last_serial
            await terminal.expect_general_response(
                MessageId.LOCATION_BATCH, ResultCode.SUCCESS, reply_serial=serial
            )
            stored = stored_now(gateway, ReadFilter(terminal_events=False))
    assert [(e.msg_id, e.serial, e.batch_type) for e in stored] == [  # type: ignore[union-attr]
        (MessageId.LOCATION_BATCH, serial, LocationBatchType.BLIND_AREA)
    ] * 3
    assert [e.location.speed for e in stored] == [11.0, 22.0, 33.0]  # type: ignore[union-attr]
    sequences = [e.sequence for e in stored]
    assert sequences == sorted(set(sequences))  # one sequence an item


async def test_the_replies_to_registration_authentication_and_logout_follow_their_events(
    gateway: Gateway,
) -> None:
    with anyio.fail_after(HANG_GUARD):
        async with TerminalClient.connect(address_of(gateway), V2013) as terminal:
            phone = terminal.phone
            registered = await terminal.register()  # the 0x8100 has arrived
            assert EventKind.REGISTERED in kinds_stored(gateway, phone)
            assert await terminal.authenticate(registered.auth_code) is ResultCode.SUCCESS
            assert EventKind.AUTHENTICATED in kinds_stored(gateway, phone)
            await terminal.send(terminal.terminal.frame(TerminalLogout()))
            await terminal.expect_general_response(MessageId.TERMINAL_LOGOUT, ResultCode.SUCCESS)
            assert EventKind.LOGGED_OUT in kinds_stored(gateway, phone)
    kinds = kinds_stored(gateway, phone)
    assert kinds[:3] == [EventKind.CONNECTED, EventKind.REGISTERED, EventKind.AUTHENTICATED]


async def test_the_logs_size_oldest_and_newest_sequence_are_metrics(gateway: Gateway) -> None:
    with anyio.fail_after(HANG_GUARD):
        async with TerminalClient.connect(address_of(gateway), V2013) as terminal:
            await terminal.log_in()
            await terminal.send(terminal.terminal.location())
            await terminal.expect_general_response(MessageId.LOCATION_REPORT, ResultCode.SUCCESS)
        last = max(e.sequence for e in stored_now(gateway, ReadFilter()))
        assert metric(gateway, "jt808_log_last_sequence") >= last  # known on every commit
        # The size and the oldest sequence are refreshed by the writer now and then (each
        # second), between commits.
        while not metric(gateway, "jt808_log_oldest_sequence"):
            await anyio.sleep(0.05)
    assert metric(gateway, "jt808_log_oldest_sequence") == 1
    assert metric(gateway, "jt808_log_bytes") == gateway.store.status().size_bytes
