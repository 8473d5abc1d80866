"""LocationReport -> jt808.gateway.v1.Location."""

from __future__ import annotations

import struct
from datetime import UTC, datetime

import pytest
from google.protobuf import struct_pb2
from hypothesis import given
from hypothesis import strategies as st

from controlplane.locations import (
    TYPED_ITEMS,
    json_value,
    location_from_event,
    location_message,
    proto_text,
)
from gateway.hub import LocationReported
from gateway.protocol.bodies.location import (
    AdditionalInfo,
    LocationReport,
    StatusFlag,
)
from gateway.protocol.versions import V2019
from gateway.protocol.wire import CHINA_TZ
from jt808.gateway.v1 import location_pb2
from tests.protocol.strategies import locations

FIX_TIME = datetime(2024, 5, 1, 16, 30, 5, tzinfo=CHINA_TZ)
RECEIVED = datetime(2024, 5, 1, 8, 30, 7, 250000, tzinfo=UTC)
TYPED_FIELDS = ("mileage_km", "fuel_l", "tachograph_speed_kmh", "signal_strength", "satellites")


def item(item_id: int, raw: bytes) -> AdditionalInfo:
    return AdditionalInfo(item_id, raw)


FULL_ITEMS = [
    item(0x01, (123456).to_bytes(4, "big")),  # 12345.6 km
    item(0x02, (805).to_bytes(2, "big")),  # 80.5 L
    item(0x03, (652).to_bytes(2, "big")),  # 65.2 km/h
    item(0x04, (17).to_bytes(2, "big")),
    item(0x05, bytes([220, 230]) + b"\xff" * 28),
    item(0x06, (0x8000 | 15).to_bytes(2, "big")),  # -15 °C
    item(0x11, bytes([1]) + (42).to_bytes(4, "big")),
    item(0x12, bytes([2]) + (7).to_bytes(4, "big") + bytes([1])),
    item(0x13, struct.pack(">IHB", 9, 3600, 1)),
    item(0x25, (0b101).to_bytes(4, "big")),
    item(0x2A, (3).to_bytes(2, "big")),
    item(0x2B, ((200 << 16) | 100).to_bytes(4, "big")),
    item(0x30, bytes([27])),
    item(0x31, bytes([11])),
    item(0xE1, b"\xde\xad"),  # vendor item
]


def report(**changes: object) -> LocationReport:
    fields: dict[str, object] = {
        "alarm": 0x0000_0003,
        "status": int(StatusFlag.ACC_ON | StatusFlag.POSITIONED),
        "latitude": 22.543096,
        "longitude": 114.057865,
        "altitude": 38,
        "speed": 65.3,
        "direction": 271,
        "time": FIX_TIME,
        "extras": list(FULL_ITEMS),
        "malformed_extras": b"",
    }
    fields.update(changes)
    return LocationReport(**fields)  # type: ignore[arg-type]


def message(body: LocationReport, **overrides: object) -> location_pb2.Location:
    arguments: dict[str, object] = {
        "phone": "013912345678",
        "device_name": "70111_JT-X9_T0001",
        "msg_id": 0x0200,
        "serial": 77,
    }
    arguments.update(overrides)
    return location_message(body, **arguments)  # type: ignore[arg-type]


def test_every_basic_field() -> None:
    location = message(report(), received_at=RECEIVED, sequence=991)
    assert location.phone == "013912345678"
    assert location.device_name == "70111_JT-X9_T0001"
    assert location.time.ToDatetime(tzinfo=UTC) == FIX_TIME
    assert location.time.seconds == int(FIX_TIME.timestamp())
    assert location.latitude == 22.543096
    assert location.longitude == 114.057865
    assert location.altitude_m == 38
    assert location.speed_kmh == 65.3
    assert location.direction == 271
    assert location.alarm_flags == 3
    assert location.status_flags == int(StatusFlag.ACC_ON | StatusFlag.POSITIONED)
    assert location.received_time.ToDatetime(tzinfo=UTC) == RECEIVED
    assert location.received_time.nanos == 250_000_000
    assert location.msg_id == 0x0200
    assert location.serial == 77
    assert location.sequence == 991
    assert not location.batch
    assert not location.blind_area
    assert location.malformed_items == b""


def value(item_message: location_pb2.AdditionalItem) -> object:
    """The Value as plain Python (numbers as floats), or None when unset."""
    if not item_message.HasField("value"):
        return None
    return _plain(item_message.value)


def _plain(v: struct_pb2.Value) -> object:
    kind = v.WhichOneof("kind")
    if kind == "list_value":
        return [_plain(x) for x in v.list_value.values]
    if kind == "struct_value":
        return {k: _plain(x) for k, x in v.struct_value.fields.items()}
    return getattr(v, kind) if kind is not None else None


def test_items_keep_id_name_raw_and_value() -> None:
    location = message(report())
    assert [i.id for i in location.items] == [extra.id for extra in FULL_ITEMS]
    assert [i.raw for i in location.items] == [extra.raw for extra in FULL_ITEMS]
    by_id = {i.id: i for i in location.items}
    expected: dict[int, tuple[str, object]] = {
        0x01: ("mileage_km", 12345.6),
        0x02: ("fuel_l", 80.5),
        0x03: ("tachograph_speed_kmh", 65.2),
        0x04: ("alarm_event_id", 17.0),
        0x05: ("tyre_pressure_pa", [220.0, 230.0] + [255.0] * 28),
        0x06: ("compartment_temperature_c", -15.0),
        0x11: ("overspeed", {"location_type": 1.0, "area_id": 42.0}),
        0x12: ("area_route_alarm", {"location_type": 2.0, "area_id": 7.0, "direction": 1.0}),
        0x13: ("route_drive_time", {"route_id": 9.0, "drive_time_s": 3600.0, "result": 1.0}),
        0x25: ("vehicle_signals", 5.0),
        0x2A: ("io_status", 3.0),
        0x2B: ("analog", {"ad0": 100.0, "ad1": 200.0}),
        0x30: ("signal_strength", 27.0),
        0x31: ("satellites", 11.0),
        0xE1: ("", None),
    }
    for item_id, (name, decoded) in expected.items():
        assert by_id[item_id].name == name, hex(item_id)
        assert value(by_id[item_id]) == decoded, hex(item_id)
    assert by_id[0x06].value.WhichOneof("kind") == "number_value"
    assert by_id[0x05].value.WhichOneof("kind") == "list_value"
    assert by_id[0x11].value.WhichOneof("kind") == "struct_value"


def test_typed_fields_from_items() -> None:
    location = message(report())
    assert location.mileage_km == pytest.approx(12345.6)
    assert location.fuel_l == pytest.approx(80.5)
    assert location.tachograph_speed_kmh == pytest.approx(65.2)
    assert location.signal_strength == 27
    assert location.satellites == 11
    assert set(TYPED_ITEMS) == {0x01, 0x02, 0x03, 0x30, 0x31}


def test_typed_fields_absent_without_items() -> None:
    location = message(report(extras=[]))
    for name in TYPED_FIELDS:
        assert not location.HasField(name), name  # type: ignore[arg-type]
    assert len(location.items) == 0


def test_typed_field_absent_when_its_item_has_a_wrong_length() -> None:
    location = message(report(extras=[item(0x01, b"\x00\x01\x02"), item(0x31, b"")]))
    assert not location.HasField("mileage_km")
    assert not location.HasField("satellites")
    assert [(i.id, i.name, i.raw, i.HasField("value")) for i in location.items] == [
        (0x01, "mileage_km", b"\x00\x01\x02", False),
        (0x31, "satellites", b"", False),
    ]


def test_first_item_of_an_id_gives_the_typed_field() -> None:
    location = message(report(extras=[item(0x30, b"\x05"), item(0x30, b"\x09")]))
    assert location.signal_strength == 5
    assert [value(i) for i in location.items] == [5.0, 9.0]


def test_zero_values_are_present() -> None:
    location = message(report(extras=[item(0x01, bytes(4)), item(0x31, b"\x00")]))
    assert location.HasField("mileage_km")
    assert location.mileage_km == 0.0
    assert location.HasField("satellites")
    assert location.satellites == 0


@pytest.mark.parametrize(
    ("status", "latitude", "longitude"),
    [
        (0, 22.5, 114.0),
        (StatusFlag.SOUTH_LATITUDE, -33.44889, 70.669265),
        (StatusFlag.WEST_LONGITUDE, 40.7128, -74.006),
        (StatusFlag.SOUTH_LATITUDE | StatusFlag.WEST_LONGITUDE, -33.44889, -70.669265),
    ],
)
def test_south_and_west_are_negative(status: int, latitude: float, longitude: float) -> None:
    # decode real bytes, so the sign comes from the status bits as on the wire
    wire = report(status=int(status), latitude=latitude, longitude=longitude).encode(V2019)
    decoded = LocationReport.decode(wire, V2019)
    location = message(decoded)
    assert location.latitude == latitude
    assert location.longitude == longitude
    assert location.status_flags == int(status)


def test_unset_times() -> None:
    location = message(report(time=None))
    assert not location.HasField("time")
    assert not location.HasField("received_time")


def test_naive_time_is_taken_as_gmt8() -> None:
    location = message(report(time=FIX_TIME.replace(tzinfo=None)))
    assert location.time.ToDatetime(tzinfo=UTC) == FIX_TIME


@pytest.mark.parametrize(
    ("batch_type", "batch", "blind_area"),
    [(None, False, False), (0, True, False), (1, True, True), (7, True, False)],
)
def test_batch_flags(batch_type: int | None, batch: bool, blind_area: bool) -> None:
    location = message(report(), msg_id=0x0704, batch_type=batch_type)
    assert (location.batch, location.blind_area) == (batch, blind_area)


def test_malformed_items_are_kept() -> None:
    location = message(report(extras=[], malformed_extras=b"\x01\x04\x00"))
    assert location.malformed_items == b"\x01\x04\x00"


def test_device_name_with_undecodable_bytes() -> None:
    name = b"70111_\xff\xfe".decode("gb18030", "surrogateescape")
    location = message(report(), device_name=name)
    assert location.device_name == "70111_\ufffd\ufffd"
    location.SerializeToString()


def test_proto_text_keeps_valid_text() -> None:
    assert proto_text("深圳湾 ok") == "深圳湾 ok"


def test_json_value_shapes() -> None:
    assert json_value(None).WhichOneof("kind") == "null_value"
    assert json_value(True).bool_value is True
    assert json_value("x").string_value == "x"
    assert _plain(json_value({"a": [1, {"b": 2.5}]})) == {"a": [1.0, {"b": 2.5}]}


def test_location_from_event() -> None:
    event = LocationReported(
        phone="013912345678",
        device_name="70111_JT-X9_T0001",
        location=report(),
        msg_id=0x0704,
        serial=12,
        batch_type=1,
        received_at=RECEIVED,
        sequence=4242,
    )
    assert location_from_event(event) == message(
        report(),
        msg_id=0x0704,
        serial=12,
        batch_type=1,
        received_at=RECEIVED,
        sequence=4242,
    )
    location = location_from_event(event)
    assert (location.batch, location.blind_area, location.sequence) == (True, True, 4242)


@given(body=locations(V2019), serial=st.integers(0, 0xFFFF))
def test_any_decoded_report(body: LocationReport, serial: int) -> None:
    location = message(body, serial=serial)
    assert location.latitude == body.latitude
    assert location.longitude == body.longitude
    assert location.altitude_m == body.altitude
    assert location.speed_kmh == body.speed
    assert location.direction == body.direction
    assert location.alarm_flags == body.alarm
    assert location.status_flags == body.status
    assert location.serial == serial
    assert location.HasField("time") == (body.time is not None)
    if body.time is not None:
        assert location.time.ToDatetime(tzinfo=UTC) == body.time
    assert [(i.id, i.raw) for i in location.items] == [(e.id, e.raw) for e in body.extras]
    for item_message, extra in zip(location.items, body.extras, strict=True):
        assert item_message.HasField("value") == (extra.value is not None)
        assert item_message.name == (extra.name or "")
    assert location.malformed_items == body.malformed_extras
    location.SerializeToString()
