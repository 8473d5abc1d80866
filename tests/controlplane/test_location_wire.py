"""Locations written straight to wire bytes (``controlplane.location_wire``) are what the
protobuf library builds from the same event (``locations.location_from_event``)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta, timezone

from google.protobuf import struct_pb2, timestamp_pb2
from hypothesis import given
from hypothesis import strategies as st

from controlplane.location_wire import (
    encoded_location,
    gap_response,
    location_bytes,
    location_responses,
    stream_response,
    timestamp_bytes,
    value_bytes,
)
from controlplane.locations import json_value, location_from_event
from gateway.events import EventKind, Gap, HubEvent, TerminalEvent
from gateway.hub import LocationReported
from gateway.protocol import V2013, MessageId, decode_body
from gateway.protocol.bodies.location import (
    ADDITIONAL_ITEMS,
    AdditionalInfo,
    LazyLocationReport,
    LocationReport,
)
from gateway.protocol.message import encode_body
from jt808.gateway.v1 import gateway_service_pb2 as api
from jt808.gateway.v1 import location_pb2
from tests.protocol.strategies import locations

#: Items of the standard with lengths their codecs read, and anything else.
ITEMS = st.builds(
    AdditionalInfo,
    st.sampled_from(sorted(ADDITIONAL_ITEMS)) | st.integers(0, 0xFF),
    st.sampled_from([1, 2, 3, 4, 5, 6, 7, 8, 30]).flatmap(
        lambda n: st.binary(min_size=n, max_size=n)
    ),
)
TEXT = st.text(max_size=12) | st.sampled_from(["", "HB808_X1_T01", "\udc81bad", "粤B12345"])
RECEIVED = st.datetimes(
    min_value=datetime(1960, 1, 1), max_value=datetime(2100, 1, 1), timezones=st.just(UTC)
)
#: Receive times as the gateway makes them (UTC) and as a caller might: naive (read as UTC by
#: the library) or in another zone.
ANY_RECEIVED = RECEIVED | st.datetimes(
    min_value=datetime(1960, 1, 2),
    max_value=datetime(2099, 12, 31),
    timezones=st.sampled_from([None, timezone(timedelta(hours=8))]),
)


@st.composite
def events(draw: st.DrawFn) -> LocationReported:
    report: LocationReport = draw(locations(V2013))
    report.extras = report.extras + draw(st.lists(ITEMS, max_size=4))
    return LocationReported(
        phone=draw(st.sampled_from(["", "013800000000", "00000000013912345678"])),
        device_name=draw(TEXT),
        location=report,
        msg_id=draw(st.sampled_from([0, 0x0200, 0x0201, 0x0704])),
        serial=draw(st.integers(0, 0xFFFF)),
        batch_type=draw(st.none() | st.integers(0, 2)),
        received_at=draw(ANY_RECEIVED),
        sequence=draw(st.integers(0, 2**64 - 1)),
    )


@given(events())
def test_location_bytes_parse_to_the_message_the_library_builds(event: LocationReported) -> None:
    parsed = location_pb2.Location.FromString(location_bytes(event))
    assert parsed == location_from_event(event)


@given(events(), st.booleans())
def test_a_report_nobody_read_is_encoded_from_its_wire_bytes(
    event: LocationReported, with_items: bool
) -> None:
    if not with_items:
        event.location.extras, event.location.malformed_extras = [], b""
    body, _ = decode_body(MessageId.LOCATION_REPORT, encode_body(event.location, V2013), V2013)
    assert isinstance(body, LazyLocationReport)
    event.location = body
    encoded = location_bytes(event)  # before anything reads the lazy report
    assert location_pb2.Location.FromString(encoded) == location_from_event(event)


@given(events())
def test_scalar_fields_are_byte_for_byte_the_librarys_encoding(event: LocationReported) -> None:
    event.location.extras = []  # items carry maps, whose order protobuf leaves open
    expected = location_from_event(event).SerializeToString(deterministic=True)
    assert location_bytes(event) == expected


@given(RECEIVED | st.datetimes(min_value=datetime(2000, 1, 1), max_value=datetime(2099, 1, 1)))
def test_timestamps_are_what_from_datetime_gives(moment: datetime) -> None:
    expected = timestamp_pb2.Timestamp()
    expected.FromDatetime(
        moment if moment.tzinfo else moment.replace(tzinfo=UTC) - timedelta(hours=8)
    )
    assert timestamp_pb2.Timestamp.FromString(timestamp_bytes(moment)) == expected


JSON = st.recursive(
    st.none() | st.booleans() | st.integers(-(2**40), 2**40) | st.floats(allow_nan=False) | TEXT,
    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(TEXT, inner, max_size=3),
    max_leaves=8,
)


@given(JSON)
def test_json_values_are_what_json_value_builds(value: object) -> None:
    assert struct_pb2.Value.FromString(value_bytes(value)) == json_value(value)  # type: ignore[arg-type]


@given(st.lists(events(), min_size=1, max_size=5))
def test_stream_responses_carry_one_location_or_a_batch(batch: list[LocationReported]) -> None:
    response = api.StreamLocationsResponse.FromString(
        stream_response([encoded_location(event) for event in batch])
    )
    expected = [location_from_event(event) for event in batch]
    if len(batch) == 1:
        assert response.WhichOneof("item") == "location"
        assert [response.location] == expected
    else:
        assert response.WhichOneof("item") == "locations"
        assert list(response.locations.items) == expected


def test_an_event_is_encoded_once_for_every_subscriber() -> None:
    report = LocationReport(
        alarm=1, status=2, latitude=22.5, longitude=114.0, altitude=9, speed=3.5,
        direction=90, time=None,
    )  # fmt: skip
    event = LocationReported("013800000000", "d", report, 0x0200, 1, None, datetime.now(UTC))
    first = encoded_location(event)
    assert encoded_location(event) is first
    assert event.encoded is first


@given(events())
def test_items_seen_before_are_encoded_as_the_first_time(event: LocationReported) -> None:
    first = location_bytes(event)  # the items are memoised now
    event.location.extras = list(event.location.extras) * 2  # each id twice: the first counts
    again = location_pb2.Location.FromString(location_bytes(event))
    assert again == location_from_event(event)
    event.location.extras = event.location.extras[: len(event.location.extras) // 2]
    assert location_bytes(event) == first


@given(events(), st.binary(max_size=3))
def test_items_are_read_from_the_wire_and_the_report_stays_unread(
    event: LocationReported, damaged_tail: bytes
) -> None:
    event.location.malformed_extras = b""
    body = encode_body(event.location, V2013) + damaged_tail[:1] + b"\xff"[: len(damaged_tail)]
    report, _ = decode_body(MessageId.LOCATION_REPORT, body, V2013)
    assert isinstance(report, LazyLocationReport)
    event.location = report
    encoded = location_bytes(event)
    assert report.undecoded() is not None  # encoding read nothing of the report
    assert location_pb2.Location.FromString(encoded) == location_from_event(event)


def responses_one_by_one(items: list[HubEvent | Gap], max_batch: int) -> list[bytes]:
    """What StreamLocations sent before ``location_responses``: the same loop, item by item,
    with gaps serialized by the protobuf library."""
    out: list[bytes] = []
    batch: list[bytes] = []
    for item in items:
        if isinstance(item, Gap):
            if batch:
                out.append(stream_response(batch))
                batch = []
            gap = api.StreamLocationsResponse(gap=api.Gap(dropped=item.dropped))
            out.append(gap.SerializeToString())
        elif isinstance(item, LocationReported):
            batch.append(encoded_location(item))
        if len(batch) == max(1, max_batch):
            out.append(stream_response(batch))
            batch = []
    if batch:
        out.append(stream_response(batch))
    return out


AT = datetime(2026, 12, 5, tzinfo=UTC)
STREAM_ITEMS = st.lists(
    events()
    | st.builds(Gap, st.integers(0, 2**64 - 1))
    | st.just(TerminalEvent(EventKind.CONNECTED, "013800000000", "", AT)),
    max_size=12,
)


@given(STREAM_ITEMS, st.integers(0, 5))
def test_location_responses_are_byte_for_byte_what_the_stream_sent_item_by_item(
    items: list[HubEvent | Gap], max_batch: int
) -> None:
    assert location_responses(items, max_batch) == responses_one_by_one(items, max_batch)


@given(st.integers(0, 2**64 - 1))
def test_gap_responses_are_the_librarys_encoding(dropped: int) -> None:
    expected = api.StreamLocationsResponse(gap=api.Gap(dropped=dropped)).SerializeToString()
    assert gap_response(dropped) == expected


def assert_encoded_from_the_wire(report: LocationReport, phone: str, device_name: str) -> None:
    """``report`` sent on the wire and encoded unread is byte for byte what the library writes."""
    body, _ = decode_body(MessageId.LOCATION_REPORT, encode_body(report, V2013), V2013)
    assert isinstance(body, LazyLocationReport)
    event = LocationReported(phone, device_name, body, 0x0200, 7, None, AT, 9)
    encoded = location_bytes(event)  # before anything reads the lazy report
    assert body.undecoded() is not None
    assert encoded == location_from_event(event).SerializeToString(deterministic=True)


def test_consecutive_wire_reports_each_get_their_own_time() -> None:
    """The last block's time is remembered (one entry): a change of time, a time that is not
    one (all zeros) and a return to an earlier time are each encoded as themselves."""
    times = [
        datetime(2026, 12, 5, 17, 0, 0),
        datetime(2026, 12, 5, 17, 0, 1),
        None,
        datetime(2026, 12, 5, 17, 0, 0),
        datetime(2026, 12, 5, 17, 0, 0),
    ]
    for moment in times:
        report = LocationReport(
            alarm=0, status=0, latitude=22.5, longitude=114.0, altitude=-12, speed=0.0,
            direction=0, time=moment,
        )  # fmt: skip
        assert_encoded_from_the_wire(report, "013800000000", "")


@given(
    st.lists(
        st.tuples(
            st.sampled_from([0, 1, 0xFFFFFFFF]),  # alarm
            st.sampled_from([0, 3, 0x000C0003]),  # status
            st.sampled_from([-0x8000, -1, 0, 1, 4095, 4096, 0x7FFF]),  # altitude
            st.sampled_from([0, 1, 2047, 2048, 0xFFFF]),  # speed, 1/10 km/h
            st.sampled_from([0, 1, 359, 360, 0xFFFF]),  # direction
        ),
        min_size=1,
        max_size=6,
    )
)
def test_fields_made_once_and_remembered_are_what_the_library_writes(
    reports: list[tuple[int, int, int, int, int]],
) -> None:
    """One terminal's reports in a row, read from the wire: its alarm and status words are
    remembered per terminal, speeds, altitudes and directions of a road fleet from tables."""
    for alarm, status, altitude, speed, direction in reports:
        report = LocationReport(
            alarm=alarm, status=status, latitude=0.0, longitude=1.5, altitude=altitude,
            speed=speed / 10, direction=direction, time=None,
        )  # fmt: skip
        assert_encoded_from_the_wire(report, "013800000001", "x")


@given(st.lists(events(), min_size=1, max_size=5))
def test_stream_responses_are_byte_for_byte_the_librarys_encoding(
    batch: list[LocationReported],
) -> None:
    """A response joined from pre-encoded locations is what the generated classes serialize:
    a repeated field is the concatenation of its length-delimited records."""
    for event in batch:
        event.location.extras = []  # items carry maps, whose order protobuf leaves open
    locations = [location_from_event(event) for event in batch]
    if len(batch) == 1:
        expected = api.StreamLocationsResponse(location=locations[0])
    else:
        expected = api.StreamLocationsResponse(locations=api.Locations(items=locations))
    encoded = stream_response([location_bytes(event) for event in batch])
    assert encoded == expected.SerializeToString(deterministic=True)


def test_locations_of_any_size_are_framed_as_the_library_frames_them() -> None:
    """The keys of locations up to 511 bytes come from a table, longer ones are made."""
    report = LocationReport(
        alarm=0, status=0, latitude=22.5, longitude=114.0, altitude=0, speed=0.0,
        direction=0, time=None,
    )  # fmt: skip
    for name in ("", "n" * 100, "n" * 400, "n" * 600):
        event = LocationReported("013800000000", name, report, 0x0200, 1, None, AT, 2)
        message = location_from_event(event)
        for batch in ([message], [message, message]):
            response = stream_response([location_bytes(event)] * len(batch))
            parsed = api.StreamLocationsResponse.FromString(response)
            if len(batch) == 1:
                assert parsed.location == message
            else:
                assert list(parsed.locations.items) == batch


#: Receive times as a stream meets them: several in one second, the next second, the clock
#: set back, times before 1970, on whole seconds, in another zone than UTC.
RECEIVE_TIMES = st.lists(
    st.sampled_from(
        [
            AT,
            AT + timedelta(microseconds=1),
            AT + timedelta(microseconds=999_999),
            AT + timedelta(seconds=1, microseconds=250_000),
            AT - timedelta(microseconds=1),
            datetime(1969, 12, 31, 23, 59, 59, 500_000, tzinfo=UTC),
            datetime(1970, 1, 1, tzinfo=UTC),
            datetime(1970, 1, 1, 0, 0, 0, 7, tzinfo=UTC),
            datetime(2026, 12, 5, 16, 0, 0, 5, tzinfo=timezone(timedelta(hours=8))),
        ]
    )
    | RECEIVED,
    min_size=1,
    max_size=8,
)


@given(RECEIVE_TIMES)
def test_receive_times_in_a_row_are_each_encoded_as_the_library_does(
    times: list[datetime],
) -> None:
    """The receive-time field is remembered for the last time and made from the last whole
    second for the next time in that second: each report still gets its own time."""
    report = LocationReport(
        alarm=0, status=0, latitude=22.5, longitude=114.0, altitude=0, speed=0.0,
        direction=0, time=None,
    )  # fmt: skip
    for moment in times:
        for msg_id in (0x0200, 0x0201):
            event = LocationReported("013800000000", "", report, msg_id, 1, None, moment, 2)
            expected = location_from_event(event).SerializeToString(deterministic=True)
            assert location_bytes(event) == expected
