"""Location bodies: 0x0200 report and its additional items, 0x8201/0x0201 query, 0x8202 tracking,
0x8203 alarm confirmation, 0x8204 link check, 0x0704 batch (reference §3.20-§3.24, §3.33)."""

from __future__ import annotations

import math
from dataclasses import replace
from datetime import datetime
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from gateway.protocol import (
    V2011,
    V2013,
    V2019,
    EncodeError,
    MessageId,
    ProtocolVersion,
    TruncatedBodyError,
    decode_body,
    decode_frame,
)
from gateway.protocol.bodies.location import (
    ADDITIONAL_ITEMS,
    BASIC_LOCATION,
    BASIC_LOCATION_SIZE,
    LOCATION,
    AdditionalInfo,
    AlarmFlag,
    ConfirmAlarm,
    LinkCheck,
    LocationBatch,
    LocationBatchType,
    LocationReport,
    QueryLocation,
    QueryLocationResponse,
    StatusFlag,
    TemporaryTracking,
    location_reports,
)
from gateway.protocol.bodies.multimedia import (
    MediaSearchItem,
    MultimediaData,
    SearchMediaResponse,
)
from gateway.protocol.bodies.vehicle import VehicleControlResponse
from gateway.protocol.body import Body
from gateway.protocol.wire import CHINA_TZ, Reader, Writer

from .body_properties import body_property_tests, golden_bytes_test, truncation_test
from .strategies import decode_layout, encode_layout, locations

ALL = (V2011, V2013, V2019)
SINCE_2013 = (V2013, V2019)
U16 = st.integers(0, 0xFFFF)
U32 = st.integers(0, 0xFFFFFFFF)
SOUTH = int(StatusFlag.SOUTH_LATITUDE)
WEST = int(StatusFlag.WEST_LONGITUDE)


BODIES: list[tuple[type[Body], tuple[ProtocolVersion, ...]]] = [
    (LocationReport, ALL),
    (QueryLocation, ALL),
    (QueryLocationResponse, ALL),
    (TemporaryTracking, ALL),
    (ConfirmAlarm, SINCE_2013),
    (LinkCheck, (V2019,)),
    (LocationBatch, SINCE_2013),
]


def _hemispheres(body: Body) -> list[tuple[float, float]]:
    return [
        (math.copysign(1.0, report.latitude), math.copysign(1.0, report.longitude))
        for report in location_reports(body)
    ]


def _decoded_equals_drawn(drawn: Body, decoded: Body) -> None:
    """Values come back equal (validity is not sent when tracking stops), signs of zero too."""
    if isinstance(drawn, TemporaryTracking) and drawn.interval_s == 0:
        drawn = replace(drawn, validity_s=0)
    assert decoded == drawn
    assert _hemispheres(decoded) == _hemispheres(drawn)


test_body_properties = body_property_tests(BODIES, check_decoded=_decoded_equals_drawn)


def test_each_body_is_bound_to_its_id_from_its_first_revision() -> None:
    assert [(cls.MSG_ID, cls.SINCE) for cls, _ in BODIES] == [
        (MessageId.LOCATION_REPORT, V2011),
        (MessageId.QUERY_LOCATION, V2011),
        (MessageId.QUERY_LOCATION_RESPONSE, V2011),
        (MessageId.TEMPORARY_TRACKING, V2011),
        (MessageId.CONFIRM_ALARM, V2013),
        (MessageId.LINK_CHECK, V2019),
        (MessageId.LOCATION_BATCH, V2013),
    ]


# --------------------------------------------------------------------------------------------
# Golden bodies, written from the reference tables.

# Reference §3.20, the verified 2019 item: ACC on, fixed, south; 27.263378°S 153.037383°E, 22 m,
# 0 km/h, heading 2°, 2026-05-09 16:42:27; mileage 0x2582, signal 0, 14 satellites.
REFERENCE_ITEM = (
    "00000000 00000007 01a00192 091f2a47 0016 0000 0002 260509164227"
    " 01 04 00002582"
    " 30 01 00"
    " 31 01 0e"
)
REFERENCE_REPORT = LocationReport(
    alarm=0,
    status=StatusFlag.ACC_ON | StatusFlag.POSITIONED | StatusFlag.SOUTH_LATITUDE,
    latitude=-27.263378,
    longitude=153.037383,
    altitude=22,
    speed=0.0,
    direction=2,
    time=datetime(2026, 5, 9, 16, 42, 27, tzinfo=CHINA_TZ),
    extras=[
        AdditionalInfo(0x01, bytes.fromhex("00002582")),
        AdditionalInfo(0x30, b"\x00"),
        AdditionalInfo(0x31, b"\x0e"),
    ],
)

# Alarm bits 0, 1, 20 = 0x00100003; status ACC, fixed, west, door locked, GPS, BeiDou = 0x000C100B;
# 51.477928°N = 0x03117DA8, 0.001545°W = 0x00000609; -5 m = 0xFFFB; 72.5 km/h = 725 = 0x02D5;
# heading 359 = 0x0167; 2019-12-31 23:59:59; items 0x06 -12 °C (sign-magnitude 0x800C), vendor
# 0xE1 "abc".
WEST_ITEM = (
    "00100003 000c100b 03117da8 00000609 fffb 02d5 0167 191231235959"
    " 06 02 800c"
    " e1 03 616263"
)  # fmt: skip
WEST_REPORT = LocationReport(
    alarm=AlarmFlag.EMERGENCY | AlarmFlag.OVERSPEED | AlarmFlag.AREA_IN_OUT,
    status=StatusFlag.ACC_ON
    | StatusFlag.POSITIONED
    | StatusFlag.WEST_LONGITUDE
    | StatusFlag.DOOR_LOCKED
    | StatusFlag.GPS_USED
    | StatusFlag.BEIDOU_USED,
    latitude=51.477928,
    longitude=-0.001545,
    altitude=-5,
    speed=72.5,
    direction=359,
    time=datetime(2019, 12, 31, 23, 59, 59, tzinfo=CHINA_TZ),
    extras=[AdditionalInfo(0x06, b"\x80\x0c"), AdditionalInfo(0xE1, b"abc")],
)

# Positioned, 22.543096°N = 0x0157FAF8, 114.057868°E = 0x06CC628C, no valid time (zeros).
SHENZHEN_BLOCK = "00000000 00000002 0157faf8 06cc628c 0000 0000 0000 000000000000"
SHENZHEN_REPORT = LocationReport(
    alarm=0,
    status=StatusFlag.POSITIONED,
    latitude=22.543096,
    longitude=114.057868,
    altitude=0,
    speed=0.0,
    direction=0,
    time=None,
)

GOLDEN: list[tuple[Body, tuple[ProtocolVersion, ...], str]] = [
    (REFERENCE_REPORT, ALL, REFERENCE_ITEM),
    (WEST_REPORT, ALL, WEST_ITEM),
    (SHENZHEN_REPORT, ALL, SHENZHEN_BLOCK),
    # Mileage declares 4 bytes, 2 follow: kept and written back byte for byte.
    (
        replace(SHENZHEN_REPORT, malformed_extras=bytes.fromhex("01040000")),
        ALL,
        SHENZHEN_BLOCK + " 01 04 0000",
    ),
    (QueryLocation(), ALL, ""),
    (
        QueryLocationResponse(reply_serial=0x1AA9, location=REFERENCE_REPORT),
        ALL,
        "1aa9" + REFERENCE_ITEM,
    ),
    (QueryLocationResponse(reply_serial=1, location=SHENZHEN_REPORT), ALL, "0001" + SHENZHEN_BLOCK),
    (TemporaryTracking(interval_s=5, validity_s=600), ALL, "0005 00000258"),
    (TemporaryTracking(interval_s=0), ALL, "0000"),
    (
        ConfirmAlarm(alarm_serial=0x0102, alarm_types=AlarmFlag.EMERGENCY | AlarmFlag.AREA_IN_OUT),
        SINCE_2013,
        "0102 00100001",
    ),
    (
        ConfirmAlarm(
            alarm_serial=0,
            alarm_types=AlarmFlag.ILLEGAL_IGNITION | AlarmFlag.ILLEGAL_DISPLACEMENT,
        ),
        SINCE_2013,
        "0000 18000000",
    ),
    (LinkCheck(), (V2019,), ""),
    (
        LocationBatch(
            type=LocationBatchType.BLIND_AREA, items=[REFERENCE_REPORT, SHENZHEN_REPORT]
        ),
        SINCE_2013,
        "0002 01" " 0028" + REFERENCE_ITEM + " 001c" + SHENZHEN_BLOCK,
    ),
    (
        LocationBatch(
            type=LocationBatchType.NORMAL,
            items=[SHENZHEN_REPORT],
            malformed_items=bytes.fromhex("0005 0102030405"),
        ),
        SINCE_2013,
        "0001 00" " 001c" + SHENZHEN_BLOCK + " 0005 0102030405",
    ),
]  # fmt: skip

test_golden_bytes = golden_bytes_test(GOLDEN)


def test_reference_2019_item_reads_as_the_reference_says() -> None:
    report = decode_layout(LocationReport, bytes.fromhex(REFERENCE_ITEM), V2019)
    assert report.status_flags == (
        StatusFlag.ACC_ON | StatusFlag.POSITIONED | StatusFlag.SOUTH_LATITUDE
    )
    assert (report.latitude, report.longitude) == (-27.263378, 153.037383)
    assert (report.altitude, report.speed, report.direction) == (22, 0.0, 2)
    assert report.time == datetime(2026, 5, 9, 16, 42, 27, tzinfo=CHINA_TZ)
    # 0x00002582 = 9602: 960.2 km (the reference's "961.8 km" is an arithmetic slip).
    assert [(item.name, item.value) for item in report.extras] == [
        ("mileage_km", 960.2),
        ("signal_strength", 0),
        ("satellites", 14),
    ]
    assert report.malformed_extras == b""


def test_reference_2019_batch_frame_carries_the_reference_item() -> None:
    # Reference §8 example 2: 2019 header, count 1, type 0, one 40-byte item.
    message = decode_frame(
        bytes.fromhex(
            "7e0704402d0100000866496077582164881d0001000028"
            "000000000000000701a00192091f2a4700160000000226050916422701040000258230010031010e"
            "507e"
        )
    )
    assert (message.header.version, message.header.serial) == (V2019, 0x881D)
    assert message.body == LocationBatch(type=LocationBatchType.NORMAL, items=[REFERENCE_REPORT])
    assert message.trailing == b""


def test_reference_2013_location_frame_reads_its_items() -> None:
    # Reference §8 example 3: zero coordinates, 113 m, heading 326, items 0x01, 0x30, 0x31, a
    # vendor 0xE1 and analog 0x2B = AB56 0000 (AD1 in the high WORD).
    message = decode_frame(
        bytes.fromhex(
            "7e02000032000000000000022500000000000c0002000000000000000000710000014626061510572501"
            "040000006430011f31010ce10200722b04ab560000487e"
        )
    )
    report = message.body
    assert isinstance(report, LocationReport)
    assert message.header.version is V2013
    assert report.status_flags == (
        StatusFlag.POSITIONED | StatusFlag.GPS_USED | StatusFlag.BEIDOU_USED
    )
    assert (report.altitude, report.direction) == (113, 326)
    assert report.time == datetime(2026, 6, 15, 10, 57, 25, tzinfo=CHINA_TZ)
    assert [(item.id, item.value) for item in report.extras] == [
        (0x01, 10.0),
        (0x30, 31),
        (0x31, 12),
        (0xE1, None),
        (0x2B, {"ad0": 0, "ad1": 0xAB56}),
    ]


# --------------------------------------------------------------------------------------------
# The basic block: hemispheres, altitude, speed, time.


def test_a_zero_coordinate_with_its_hemisphere_bit_is_negative_zero_and_round_trips() -> None:
    wire = bytes.fromhex("00000000 0000000c 00000000 00000000 0000 0000 0000 000000000000")
    report = decode_layout(LocationReport, wire, V2019)
    assert report.status == SOUTH | WEST
    assert math.copysign(1.0, report.latitude) == math.copysign(1.0, report.longitude) == -1.0
    assert encode_layout(report, V2019) == wire


def test_the_sign_of_a_coordinate_sets_its_hemisphere_bit_when_encoding() -> None:
    claims_south_west = replace(SHENZHEN_REPORT, status=StatusFlag.POSITIONED | SOUTH | WEST)
    assert encode_layout(claims_south_west, V2013)[4:8].hex() == "00000002"
    south_west = replace(SHENZHEN_REPORT, latitude=-22.543096, longitude=-114.057868)
    assert encode_layout(south_west, V2013)[4:8].hex() == "0000000e"
    assert encode_layout(south_west, V2013)[8:16].hex() == "0157faf806cc628c"


@pytest.mark.parametrize(
    ("word", "altitude"), [("0000", 0), ("7fff", 32767), ("8000", -32768), ("ffff", -1)]
)
def test_altitude_is_a_signed_word(word: str, altitude: int) -> None:
    wire = bytes.fromhex(SHENZHEN_BLOCK.replace(" 0000 0000 0000 ", f" {word} 0000 0000 ", 1))
    report = decode_layout(LocationReport, wire, V2013)
    assert report.altitude == altitude
    assert encode_layout(report, V2013) == wire


def test_speed_is_in_tenths_of_km_per_hour() -> None:
    wire = bytes.fromhex(SHENZHEN_BLOCK.replace(" 0000 0000 0000 ", " 0000 ffff 0000 ", 1))
    assert decode_layout(LocationReport, wire, V2013).speed == 6553.5


@pytest.mark.parametrize("digits", ["000000000000", "260231120000", "2605091642ff"])
def test_a_time_that_is_not_a_calendar_time_reads_as_none(digits: str) -> None:
    wire = bytes.fromhex(SHENZHEN_BLOCK.replace("000000000000", digits))
    assert decode_layout(LocationReport, wire, V2013).time is None


@pytest.mark.parametrize(
    ("field", "value"),
    [
        ("alarm", 1 << 32),
        ("status", -1),
        ("latitude", 4294.967296),
        ("longitude", -4294.967296),
        ("altitude", 0x8000),
        ("altitude", -0x8001),
        ("speed", 6553.6),
        ("speed", -0.1),
        ("direction", 0x10000),
        ("time", datetime(2100, 1, 1, tzinfo=CHINA_TZ)),
        ("latitude", math.nan),
        ("longitude", math.inf),
        ("speed", math.nan),
    ],
)
def test_a_basic_field_out_of_its_wire_range_is_an_encode_error(field: str, value: Any) -> None:
    with pytest.raises(EncodeError):
        encode_layout(replace(SHENZHEN_REPORT, **{field: value}), V2013)


# --------------------------------------------------------------------------------------------
# Flags.

#: Bit of each flag, from reference tables 3.20a and 3.20b.
ALARM_BITS = {
    AlarmFlag.EMERGENCY: 0,
    AlarmFlag.OVERSPEED: 1,
    AlarmFlag.FATIGUE_DRIVING: 2,
    AlarmFlag.DANGEROUS_DRIVING: 3,
    AlarmFlag.GNSS_MODULE_FAULT: 4,
    AlarmFlag.GNSS_ANTENNA_CUT: 5,
    AlarmFlag.GNSS_ANTENNA_SHORT: 6,
    AlarmFlag.MAIN_POWER_UNDERVOLTAGE: 7,
    AlarmFlag.MAIN_POWER_LOST: 8,
    AlarmFlag.DISPLAY_FAULT: 9,
    AlarmFlag.TTS_FAULT: 10,
    AlarmFlag.CAMERA_FAULT: 11,
    AlarmFlag.IC_CARD_MODULE_FAULT: 12,
    AlarmFlag.OVERSPEED_WARNING: 13,
    AlarmFlag.FATIGUE_WARNING: 14,
    AlarmFlag.ILLEGAL_DRIVING_TIME: 15,
    AlarmFlag.TYRE_PRESSURE_WARNING: 16,
    AlarmFlag.RIGHT_TURN_BLIND_ZONE: 17,
    AlarmFlag.DAILY_DRIVING_EXCEEDED: 18,
    AlarmFlag.OVERTIME_PARKING: 19,
    AlarmFlag.AREA_IN_OUT: 20,
    AlarmFlag.ROUTE_IN_OUT: 21,
    AlarmFlag.ROUTE_TIME_ABNORMAL: 22,
    AlarmFlag.ROUTE_DEVIATION: 23,
    AlarmFlag.VSS_FAULT: 24,
    AlarmFlag.FUEL_ABNORMAL: 25,
    AlarmFlag.STOLEN: 26,
    AlarmFlag.ILLEGAL_IGNITION: 27,
    AlarmFlag.ILLEGAL_DISPLACEMENT: 28,
    AlarmFlag.COLLISION: 29,
    AlarmFlag.ROLLOVER_WARNING: 30,
    AlarmFlag.ILLEGAL_DOOR_OPEN: 31,
}
STATUS_BITS = {
    StatusFlag.ACC_ON: 0,
    StatusFlag.POSITIONED: 1,
    StatusFlag.SOUTH_LATITUDE: 2,
    StatusFlag.WEST_LONGITUDE: 3,
    StatusFlag.OUT_OF_SERVICE: 4,
    StatusFlag.COORDINATES_ENCRYPTED: 5,
    StatusFlag.FORWARD_COLLISION_WARNING: 6,
    StatusFlag.LANE_DEPARTURE_WARNING: 7,
    StatusFlag.LOAD_BIT_0: 8,
    StatusFlag.LOAD_BIT_1: 9,
    StatusFlag.OIL_CIRCUIT_CUT: 10,
    StatusFlag.ELECTRIC_CIRCUIT_CUT: 11,
    StatusFlag.DOOR_LOCKED: 12,
    StatusFlag.DOOR_1_OPEN: 13,
    StatusFlag.DOOR_2_OPEN: 14,
    StatusFlag.DOOR_3_OPEN: 15,
    StatusFlag.DOOR_4_OPEN: 16,
    StatusFlag.DOOR_5_OPEN: 17,
    StatusFlag.GPS_USED: 18,
    StatusFlag.BEIDOU_USED: 19,
    StatusFlag.GLONASS_USED: 20,
    StatusFlag.GALILEO_USED: 21,
    StatusFlag.MOVING: 22,
}


def test_every_alarm_and_status_flag_sits_on_its_bit_of_the_reference_tables() -> None:
    assert {flag: flag.bit_length() - 1 for flag in AlarmFlag} == ALARM_BITS
    assert {flag: flag.bit_length() - 1 for flag in StatusFlag} == STATUS_BITS


def test_alarms_and_status_flags_view_the_raw_dwords_as_flags() -> None:
    report = decode_layout(LocationReport, bytes.fromhex(WEST_ITEM), V2013)
    assert report.alarms == AlarmFlag.EMERGENCY | AlarmFlag.OVERSPEED | AlarmFlag.AREA_IN_OUT
    assert AlarmFlag.AREA_IN_OUT in report.alarms
    assert AlarmFlag.STOLEN not in report.alarms
    assert StatusFlag.DOOR_LOCKED in report.status_flags
    assert StatusFlag.SOUTH_LATITUDE not in report.status_flags


def test_status_bits_the_standard_reserves_are_kept() -> None:
    report = replace(SHENZHEN_REPORT, status=0xFF800002)
    assert int(report.status_flags) == 0xFF800002
    assert decode_layout(LocationReport, encode_layout(report, V2019), V2019).status == 0xFF800002


# --------------------------------------------------------------------------------------------
# Additional items.


def test_the_item_table_names_exactly_the_standards_items() -> None:
    assert {item_id: codec.name for item_id, codec in ADDITIONAL_ITEMS.items()} == {
        0x01: "mileage_km",
        0x02: "fuel_l",
        0x03: "tachograph_speed_kmh",
        0x04: "alarm_event_id",
        0x05: "tyre_pressure_pa",
        0x06: "compartment_temperature_c",
        0x11: "overspeed",
        0x12: "area_route_alarm",
        0x13: "route_drive_time",
        0x25: "vehicle_signals",
        0x2A: "io_status",
        0x2B: "analog",
        0x30: "signal_strength",
        0x31: "satellites",
    }


TYRES = [0x23, 0x23, 0x24, 0x24] + [0xFF] * 26

#: (id, raw value as hex, value in natural units), from reference table 3.20c.
ITEM_VALUES: list[tuple[int, str, Any]] = [
    (0x01, "00002582", 960.2),  # 0.1 km
    (0x01, "ffffffff", 429496729.5),
    (0x02, "007d", 12.5),  # 0.1 L
    (0x03, "0258", 60.0),  # 0.1 km/h
    (0x04, "0001", 1),
    (0x05, "23232424" + "ff" * 26, TYRES),
    (0x06, "0019", 25),
    (0x06, "800c", -12),  # sign and magnitude, not two's complement (which would be -32756)
    (0x06, "ffff", -32767),
    (0x06, "7fff", 32767),
    (0x11, "00", {"location_type": 0}),
    (0x11, "02 0000007b", {"location_type": 2, "area_id": 123}),
    (0x12, "01 000001c8 01", {"location_type": 1, "area_id": 456, "direction": 1}),
    (0x13, "00000315 012c 01", {"route_id": 789, "drive_time_s": 300, "result": 1}),
    (0x25, "00000011", 0x11),  # low beam, brake
    (0x2A, "0002", 2),  # sleep
    (0x2B, "0001 0002", {"ad0": 2, "ad1": 1}),  # bits 0-15 AD0, bits 16-31 AD1
    (0x30, "1f", 31),
    (0x31, "0c", 12),
]


def _item_id(case: tuple[int, str, Any]) -> str:
    return f"0x{case[0]:02X}-{case[1].replace(' ', '')[:12]}"


@pytest.mark.parametrize(("item_id", "raw", "value"), ITEM_VALUES, ids=map(_item_id, ITEM_VALUES))
def test_a_standard_item_reads_its_value_and_is_built_from_it(
    item_id: int, raw: str, value: Any
) -> None:
    item = AdditionalInfo(item_id, bytes.fromhex(raw))
    assert item.name == ADDITIONAL_ITEMS[item_id].name
    assert item.value == value
    assert type(item.value) is type(value)
    assert AdditionalInfo.of(item_id, value) == item


def test_negative_zero_temperature_reads_as_zero() -> None:
    assert AdditionalInfo(0x06, b"\x80\x00").value == 0


def test_overspeed_without_a_location_type_writes_no_area_id() -> None:
    assert AdditionalInfo.of(0x11, {"location_type": 0, "area_id": 7}).raw == b"\x00"


def _wrong_length(item_id: int, raw: str, *marks: pytest.MarkDecorator) -> Any:
    size = len(bytes.fromhex(raw))
    return pytest.param(item_id, raw, marks=marks, id=f"0x{item_id:02X}-{size}-bytes")


#: Items of lengths reference table 3.20c does not allow (id, raw value as hex).
WRONG_LENGTHS = [
    _wrong_length(0x01, "002582"),
    _wrong_length(0x02, "00007d"),
    _wrong_length(0x03, "02"),
    _wrong_length(0x04, "00000001"),
    _wrong_length(0x05, "2323"),
    _wrong_length(0x05, ""),
    _wrong_length(0x06, "000019"),
    _wrong_length(0x11, ""),
    _wrong_length(0x11, "020000"),
    _wrong_length(0x11, "02000000007b"),
    _wrong_length(0x12, "01000001c8"),
    _wrong_length(0x13, "00000315012c0001"),
    _wrong_length(0x25, "0011"),
    _wrong_length(0x2A, "02"),
    _wrong_length(0x2B, "0001000200030004"),
    _wrong_length(0x30, ""),
    _wrong_length(0x31, "0c0c"),
]


@pytest.mark.parametrize(("item_id", "raw"), WRONG_LENGTHS)
def test_a_standard_item_of_a_length_the_standard_does_not_allow_has_no_value(
    item_id: int, raw: str
) -> None:
    item = AdditionalInfo(item_id, bytes.fromhex(raw))
    assert item.name == ADDITIONAL_ITEMS[item_id].name
    assert item.value is None
    assert item.to_json() == {"id": item_id, "raw": item.raw.hex(), "name": item.name}


@pytest.mark.parametrize("item_id", [0x00, 0x07, 0x10, 0x14, 0x18, 0x24, 0x64, 0xE0, 0xEB, 0xFF])
def test_an_item_outside_the_standard_table_is_kept_raw_without_name_or_value(
    item_id: int,
) -> None:
    wire = bytes.fromhex(SHENZHEN_BLOCK) + bytes((item_id, 3)) + b"abc"
    report = decode_layout(LocationReport, wire, V2013)
    assert report.extras == [AdditionalInfo(item_id, b"abc")]
    item = report.extras[0]
    assert (item.name, item.value) == (None, None)
    assert item.to_json() == {"id": item_id, "raw": "616263"}
    with pytest.raises(EncodeError):
        AdditionalInfo.of(item_id, b"abc")


def _unencodable(item_id: int, value: Any, name: str) -> Any:
    return pytest.param(item_id, value, id=f"0x{item_id:02X}-{name}")


@pytest.mark.parametrize(
    ("item_id", "value"),
    [
        _unencodable(0x01, -1, "negative"),
        _unencodable(0x01, 429496729.6, "over-dword"),
        _unencodable(0x02, 6553.6, "over-word"),
        _unencodable(0x04, 0x10000, "over-word"),
        _unencodable(0x06, 32768, "over-32767"),
        _unencodable(0x06, -32768, "under-minus-32767"),
        _unencodable(0x30, 256, "over-byte"),
        _unencodable(0x01, math.nan, "nan"),
        _unencodable(0x05, [256], "over-byte"),
        _unencodable(0x11, {"location_type": 1, "area_id": 1 << 32}, "area-over-dword"),
        _unencodable(0x11, {"location_type": 1}, "area-missing"),
        _unencodable(
            0x12, {"location_type": 1, "area_id": 1 << 32, "direction": 0}, "area-over-dword"
        ),
        _unencodable(0x13, {"route_id": -1, "drive_time_s": 0, "result": 0}, "negative-route"),
        _unencodable(0x2B, {"ad0": -1, "ad1": 0}, "negative-ad0"),
        _unencodable(0x2B, {"ad0": 0x10000, "ad1": 0}, "ad0-over-word"),
    ],
)
def test_a_value_its_item_cannot_hold_is_an_encode_error(item_id: int, value: Any) -> None:
    with pytest.raises(EncodeError):
        AdditionalInfo.of(item_id, value)


def test_items_are_kept_in_wire_order_with_repeats_and_empty_values() -> None:
    wire = bytes.fromhex(SHENZHEN_BLOCK + " 30 01 1f  e0 00  30 01 02  31 01 0c")
    report = decode_layout(LocationReport, wire, V2013)
    assert report.extras == [
        AdditionalInfo(0x30, b"\x1f"),
        AdditionalInfo(0xE0, b""),
        AdditionalInfo(0x30, b"\x02"),
        AdditionalInfo(0x31, b"\x0c"),
    ]
    first = report.extra(0x30)
    assert first is not None and first.value == 31
    assert report.extra(0x01) is None
    assert encode_layout(report, V2013) == wire


@pytest.mark.parametrize(
    ("cut", "extras", "malformed"),
    [
        (1, [0x01, 0x30], "3101"),  # satellites: id and length, no value
        (2, [0x01, 0x30], "31"),  # satellites: a bare id
        (8, [], "01040000"),  # mileage: 2 of its 4 bytes
    ],
)
def test_a_last_item_running_past_the_end_is_kept_malformed_and_the_location_delivered(
    cut: int, extras: list[int], malformed: str
) -> None:
    wire = bytes.fromhex(REFERENCE_ITEM)[:-cut]
    report = decode_layout(LocationReport, wire, V2019)
    assert (report.latitude, report.longitude) == (-27.263378, 153.037383)
    assert report.time == REFERENCE_REPORT.time
    assert [item.id for item in report.extras] == extras
    assert report.malformed_extras.hex() == malformed
    assert encode_layout(report, V2019) == wire


def test_an_item_value_longer_than_255_bytes_is_an_encode_error() -> None:
    report = replace(SHENZHEN_REPORT, extras=[AdditionalInfo(0xE1, bytes(256))])
    with pytest.raises(EncodeError):
        encode_layout(report, V2013)


# --------------------------------------------------------------------------------------------
# JSON views.


def test_location_json_view_has_the_pinned_keys() -> None:
    assert REFERENCE_REPORT.to_json() == {
        "alarm": 0,
        "status": 7,
        "latitude": -27.263378,
        "longitude": 153.037383,
        "altitude": 22,
        "speed": 0.0,
        "direction": 2,
        "time": "2026-05-09T16:42:27+08:00",
        "extras": [
            {"id": 0x01, "raw": "00002582", "name": "mileage_km", "value": 960.2},
            {"id": 0x30, "raw": "00", "name": "signal_strength", "value": 0},
            {"id": 0x31, "raw": "0e", "name": "satellites", "value": 14},
        ],
    }


def test_location_json_view_shows_no_time_and_the_malformed_tail() -> None:
    view = replace(SHENZHEN_REPORT, malformed_extras=b"\x31").to_json()
    assert (view["time"], view["extras"], view["malformed_extras"]) == (None, [], "31")


def test_query_response_and_batch_json_views_nest_the_location_view() -> None:
    response = QueryLocationResponse(reply_serial=0x1AA9, location=REFERENCE_REPORT)
    assert response.to_json() == {"reply_serial": 0x1AA9, "location": REFERENCE_REPORT.to_json()}
    batch = LocationBatch(type=1, items=[SHENZHEN_REPORT], malformed_items=b"\x00\x05")
    assert batch.to_json() == {
        "type": 1,
        "items": [SHENZHEN_REPORT.to_json()],
        "malformed_items": "0005",
    }
    assert "malformed_items" not in LocationBatch(type=0, items=[SHENZHEN_REPORT]).to_json()


# --------------------------------------------------------------------------------------------
# The BASIC_LOCATION and LOCATION codecs.


def test_basic_location_reads_exactly_28_bytes_and_leaves_the_rest() -> None:
    r = Reader(bytes.fromhex(REFERENCE_ITEM), V2013)
    report = BASIC_LOCATION.read(r)
    assert r.pos == BASIC_LOCATION_SIZE == 28
    assert report == replace(REFERENCE_REPORT, extras=[])


def test_basic_location_writes_only_the_block() -> None:
    w = Writer(V2013)
    BASIC_LOCATION.write(w, replace(REFERENCE_REPORT, malformed_extras=b"\x31"))
    assert bytes(w.out) == bytes.fromhex(REFERENCE_ITEM)[:28]


def test_a_short_basic_location_is_truncated_and_the_cursor_stays() -> None:
    r = Reader(bytes.fromhex("ffff" + SHENZHEN_BLOCK)[:29], V2013, pos=2)
    with pytest.raises(TruncatedBodyError):
        BASIC_LOCATION.read(r)
    assert r.pos == 2


@given(report=locations(V2013))
def test_basic_location_round_trips_the_block_of_any_report(report: LocationReport) -> None:
    w = Writer(V2013)
    BASIC_LOCATION.write(w, report)
    decoded = BASIC_LOCATION.read(Reader(bytes(w.out), V2013))
    assert decoded == replace(report, extras=[], malformed_extras=b"")
    assert _hemispheres(QueryLocationResponse(reply_serial=0, location=decoded)) == _hemispheres(
        QueryLocationResponse(reply_serial=0, location=report)
    )


def test_location_codec_reads_the_items_to_the_end_of_the_body() -> None:
    r = Reader(bytes.fromhex("1aa9" + REFERENCE_ITEM), V2013, pos=2)
    assert LOCATION.read(r) == REFERENCE_REPORT
    assert r.remaining == 0
    w = Writer(V2013)
    LOCATION.write(w, REFERENCE_REPORT)
    assert bytes(w.out) == bytes.fromhex(REFERENCE_ITEM)


# --------------------------------------------------------------------------------------------
# 0x0201, 0x8202.


def test_2011_query_location_response_also_starts_with_a_reply_serial() -> None:
    # Reference §3.21 ⚠: the 2011 draft has no reply serial; the module reads one in every
    # revision (no implementation follows the draft here).
    body = decode_layout(QueryLocationResponse, bytes.fromhex("0001" + SHENZHEN_BLOCK), V2011)
    assert (body.reply_serial, body.location) == (1, SHENZHEN_REPORT)


def test_stopping_tracking_sends_no_validity() -> None:
    assert encode_layout(TemporaryTracking(interval_s=0, validity_s=600), V2013).hex() == "0000"


# --------------------------------------------------------------------------------------------
# 0x0704 batches.


def _batch_item(block: str) -> str:
    return f"{len(bytes.fromhex(block)):04x}" + block


def test_a_malformed_second_batch_item_and_what_follows_are_kept_raw() -> None:
    # Second item: length 5, shorter than a location; a third, good one follows it.
    tail = "0005 0102030405" + _batch_item(SHENZHEN_BLOCK)
    wire = bytes.fromhex("0003 00" + _batch_item(REFERENCE_ITEM) + tail)
    batch = decode_layout(LocationBatch, wire, V2013)
    assert batch.items == [REFERENCE_REPORT]
    assert batch.malformed_items == bytes.fromhex(tail)
    # The count is rebuilt from the items decoded: 1, then the malformed bytes as they came.
    assert encode_layout(batch, V2013) == bytes.fromhex("0001") + wire[2:]


def test_a_batch_item_whose_length_runs_past_the_body_is_kept_raw() -> None:
    tail = "0040" + SHENZHEN_BLOCK
    wire = bytes.fromhex("0002 01" + _batch_item(SHENZHEN_BLOCK) + tail)
    batch = decode_layout(LocationBatch, wire, V2019)
    assert (batch.type, batch.items) == (LocationBatchType.BLIND_AREA, [SHENZHEN_REPORT])
    assert batch.malformed_items == bytes.fromhex(tail)


def test_a_declared_count_larger_than_the_items_present_delivers_the_items() -> None:
    wire = bytes.fromhex("0005 00" + _batch_item(REFERENCE_ITEM) + _batch_item(SHENZHEN_BLOCK))
    batch = decode_layout(LocationBatch, wire, V2013)
    assert batch.items == [REFERENCE_REPORT, SHENZHEN_REPORT]
    assert batch.malformed_items == b""
    assert encode_layout(batch, V2013)[:2].hex() == "0002"


def test_a_malformed_item_inside_one_batch_location_stays_inside_it() -> None:
    short = REFERENCE_ITEM.removesuffix("0e")  # satellites declares 1 byte, none follow
    wire = bytes.fromhex("0002 00" + _batch_item(short) + _batch_item(SHENZHEN_BLOCK))
    batch = decode_layout(LocationBatch, wire, V2013)
    assert [item.malformed_extras.hex() for item in batch.items] == ["3101", ""]
    assert batch.items[1] == SHENZHEN_REPORT
    assert encode_layout(batch, V2013) == wire


def test_a_batch_of_zero_items_decodes_but_is_not_encoded() -> None:
    batch = decode_layout(LocationBatch, bytes.fromhex("0000 00"), V2013)
    assert (batch.items, batch.malformed_items) == ([], b"")
    with pytest.raises(EncodeError):
        encode_layout(batch, V2013)


def test_a_batch_item_too_long_for_its_word_length_is_an_encode_error() -> None:
    huge = replace(SHENZHEN_REPORT, extras=[AdditionalInfo(0xE1, bytes(255))] * 257)
    with pytest.raises(EncodeError):
        encode_layout(LocationBatch(type=0, items=[huge]), V2013)


def test_bytes_after_a_location_report_body_are_part_of_it() -> None:
    # A location runs to the end of the body: decode_body never leaves trailing bytes.
    body, trailing = decode_body(MessageId.LOCATION_REPORT, bytes.fromhex(WEST_ITEM), V2013)
    assert (body, trailing) == (WEST_REPORT, b"")


# --------------------------------------------------------------------------------------------
# Truncation.

TRUNCATED: list[tuple[type[Body], ProtocolVersion, str, list[int] | None]] = [
    *[(LocationReport, version, SHENZHEN_BLOCK, None) for version in ALL],
    *[(QueryLocationResponse, version, "1aa9" + SHENZHEN_BLOCK, None) for version in ALL],
    *[(TemporaryTracking, version, "0005 00000258", None) for version in ALL],
    *[(ConfirmAlarm, version, "0102 00100001", None) for version in SINCE_2013],
    # Past the head, a missing or short item is malformed, not truncated.
    *[
        (LocationBatch, version, "0001 00" + _batch_item(SHENZHEN_BLOCK), [0, 1, 2])
        for version in SINCE_2013
    ],
]

test_truncated_bodies_raise_truncated_body_error = truncation_test(TRUNCATED)


# --------------------------------------------------------------------------------------------
# location_reports().


def test_location_reports_finds_the_positions_of_every_location_message() -> None:
    batch = LocationBatch(type=0, items=[REFERENCE_REPORT, SHENZHEN_REPORT])
    assert location_reports(WEST_REPORT) == [WEST_REPORT]
    assert location_reports(QueryLocationResponse(reply_serial=1, location=WEST_REPORT)) == [
        WEST_REPORT
    ]
    assert location_reports(VehicleControlResponse(reply_serial=1, location=WEST_REPORT)) == [
        WEST_REPORT
    ]
    assert location_reports(batch) == [REFERENCE_REPORT, SHENZHEN_REPORT]
    assert location_reports(batch) is not batch.items


def test_location_reports_ignores_media_that_carry_a_location_block() -> None:
    media = MultimediaData(
        media_id=1, media_type=0, media_format=0, event=0, channel_id=1, location=SHENZHEN_REPORT
    )
    search = SearchMediaResponse(
        reply_serial=1,
        items=[
            MediaSearchItem(
                media_id=1, media_type=0, channel_id=1, event=0, location=SHENZHEN_REPORT
            )
        ],
    )
    assert location_reports(media) == location_reports(search) == []
    assert location_reports(TemporaryTracking(interval_s=5, validity_s=60)) == []


# --------------------------------------------------------------------------------------------
# 0x0200 decoded on first read (LazyLocationReport)


@given(st.data())
def test_a_decoded_report_reads_and_compares_as_the_report_that_was_encoded(
    data: st.DataObject,
) -> None:
    from gateway.protocol.bodies.location import LazyLocationReport, _read_location
    from gateway.protocol.message import encode_body

    report = data.draw(locations(V2013))
    raw = encode_body(report, V2013)
    body, trailing = decode_body(MessageId.LOCATION_REPORT, raw, V2013)
    assert isinstance(body, LazyLocationReport) and isinstance(body, LocationReport)
    assert trailing == b""
    assert body == report and report == body  # both directions, before and after reading
    assert replace(body, speed=1.5) == replace(report, speed=1.5)
    assert repr(body) == repr(_read_location(raw, 0, len(raw)))  # shown as a LocationReport


def test_a_lazy_report_decodes_only_when_a_field_is_read() -> None:
    from gateway.protocol.bodies.location import LazyLocationReport

    raw = bytes.fromhex("000004000000080006eeb6ad02633df701380003006324100123595901040000007b")
    body, _ = decode_body(MessageId.LOCATION_REPORT, raw, V2013)
    assert isinstance(body, LazyLocationReport)
    assert body._raw == raw
    assert getattr(body, "reply_serial", None) is None  # probing other names decodes nothing
    assert body.altitude == 0x0138 and body.speed == 0.3
    assert [(item.id, item.value) for item in body.extras] == [(0x01, 12.3)]


def test_a_report_shorter_than_its_fixed_block_is_refused_at_decode_time() -> None:
    with pytest.raises(TruncatedBodyError, match="28 bytes"):
        decode_body(MessageId.LOCATION_REPORT, bytes(27), V2013)
