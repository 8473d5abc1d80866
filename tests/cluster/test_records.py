"""The ``Jt808-Record`` header: a location's hand-written record is the same text as the generic
one (the row through ``json``), and every record gives the exact event back."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from benchmarks.event_log import BODY
from controlplane.cluster_records import (
    ReceiveTimes,
    event_of_record,
    generic_record_of,
    record_of,
)
from gateway.events import EventKind, LocationReported, TerminalEvent
from gateway.protocol.bodies.location import LocationReport
from gateway.protocol.body import decode_body
from gateway.protocol.versions import V2013
from gateway.store.records import microseconds

RECEIVED = datetime(2026, 12, 5, 12, 0, 0, 123456, tzinfo=UTC)


def location(device: str, msg_id: int = 0x0200, batch: int | None = None) -> LocationReported:
    report, _ = decode_body(0x0200, BODY, V2013)
    assert isinstance(report, LocationReport)
    return LocationReported("013800000001", device, report, msg_id, 65535, batch, RECEIVED, 7)


@pytest.mark.parametrize(
    "event",
    [
        location("SIM_1"),
        location('quote " back \\ slash', 0x0704, 0),
        location("粤B12345 设备", 0x0704, 1),
        location("bytes \udcff kept as surrogates", 0x0201),
        location("", 0x0500),
    ],
)
def test_a_location_record_is_the_generic_record_and_gives_the_event_back(
    event: LocationReported,
) -> None:
    record = record_of(event)
    assert record == generic_record_of(event)
    assert record_of(event, microseconds(RECEIVED)) == record
    assert event_of_record(record, event.sequence) == event


def test_a_terminal_event_record_gives_the_event_back() -> None:
    event = TerminalEvent(
        EventKind.DISCONNECTED, "013800000001", "SIM_1", RECEIVED, "127.0.0.1:1", "idle", None, 9
    )
    assert event_of_record(record_of(event), 9) == event


def test_receive_times_are_computed_once_per_chunk() -> None:
    times = ReceiveTimes()
    first, same_chunk = location("a"), location("b")
    assert first.received_at is same_chunk.received_at
    assert times.of(first) == times.of(same_chunk) == microseconds(RECEIVED)
    later = LocationReported(
        "1", "c", first.location, 0x0200, 1, None, datetime(2027, 1, 1, tzinfo=UTC)
    )
    assert times.of(later) == microseconds(later.received_at)
