"""0x8500 vehicle control and its 0x0500 reply (reference §3.28)."""

from __future__ import annotations

from dataclasses import replace
from datetime import datetime
from typing import Any

import pytest
from hypothesis import strategies as st

from gateway.protocol import (
    V2011,
    V2013,
    V2019,
    EncodeError,
    ProtocolVersion,
    TruncatedBodyError,
    decode_frame,
)
from gateway.protocol.bodies.location import (
    AdditionalInfo,
    LocationReport,
    StatusFlag,
    location_reports,
)
from gateway.protocol.bodies.vehicle import (
    CONTROL_PARAMETERS,
    ControlItem,
    ControlType,
    DoorCommand,
    VehicleControl,
    VehicleControlFlag,
    VehicleControlResponse,
)
from gateway.protocol.body import Body
from gateway.protocol.wire import CHINA_TZ

from .body_properties import body_property_tests, golden_bytes_test, truncation_test
from .real_frames import real_frames_by_id
from .strategies import CUSTOM, decode_layout, encode_layout

ALL = (V2011, V2013, V2019)
U16 = st.integers(0, 0xFFFF)
U32 = st.integers(0, 0xFFFFFFFF)


@st.composite
def _vehicle_controls(draw: st.DrawFn, version: ProtocolVersion) -> VehicleControl:
    if version < V2019:
        return VehicleControl(control_flags=draw(st.integers(0, 0xFF)))
    items = draw(
        st.lists(
            st.builds(
                ControlItem,
                control_type=st.sampled_from(sorted(CONTROL_PARAMETERS)),
                parameter=st.integers(0, 0xFF),
            ),
            max_size=4,
        )
    )
    if not draw(st.booleans()):
        return VehicleControl(items=items)
    # A vendor item stops decoding: it and whatever follows stay raw.
    vendor = draw(U16.filter(lambda control_type: control_type not in CONTROL_PARAMETERS))
    return VehicleControl(
        items=items,
        undecoded=vendor.to_bytes(2, "big") + draw(st.binary(max_size=8)),
        undecoded_count=draw(st.integers(1, 0xFFFF - len(items))),
    )


CUSTOM[VehicleControl] = _vehicle_controls

BODIES: list[tuple[type[Body], tuple[ProtocolVersion, ...]]] = [
    (VehicleControl, ALL),
    (VehicleControlResponse, ALL),
]


def _decoded_equals_drawn(drawn: Body, decoded: Body) -> None:
    assert decoded == drawn


test_body_properties = body_property_tests(BODIES, check_decoded=_decoded_equals_drawn)


# --------------------------------------------------------------------------------------------
# Golden bodies, written from the reference tables.

# Door locked (status bit 12) and positioned, 30°N 120°E, 16 m, 0 km/h, heading 90°.
LOCATION_BLOCK = (
    "00000000" "00001002" "01c9c380" "07270e00" "0010" "0000" "005a" "240101080000"
)  # fmt: skip
LOCATION_VALUE = LocationReport(
    alarm=0,
    status=StatusFlag.DOOR_LOCKED | StatusFlag.POSITIONED,
    latitude=30.0,
    longitude=120.0,
    altitude=16,
    speed=0.0,
    direction=90,
    time=datetime(2024, 1, 1, 8, 0, 0, tzinfo=CHINA_TZ),
)

GOLDEN: list[tuple[Body, ProtocolVersion, str]] = [
    (VehicleControl(control_flags=VehicleControlFlag.LOCK_DOORS), V2011, "01"),
    (VehicleControl(control_flags=0), V2013, "00"),
    (
        VehicleControl(items=[ControlItem(control_type=ControlType.DOOR, parameter=1)]),
        V2019,
        "0001" "0001" "01",
    ),
    (
        VehicleControl(
            items=[
                ControlItem(control_type=ControlType.DOOR, parameter=DoorCommand.CLOSE_AND_LOCK),
                ControlItem(control_type=ControlType.DOOR, parameter=DoorCommand.OPEN),
            ]
        ),
        V2019,
        "0002" "0001" "00" "0001" "01",
    ),
    (VehicleControl(), V2019, "0000"),
    (
        VehicleControl(
            items=[ControlItem(control_type=ControlType.DOOR, parameter=DoorCommand.OPEN)],
            undecoded=bytes.fromhex("f00102030001"),
            undecoded_count=2,
        ),
        V2019,
        "0003" "0001" "01" "f0010203" "0001",
    ),
    (
        VehicleControlResponse(reply_serial=0x1234, location=LOCATION_VALUE),
        V2013,
        "1234" + LOCATION_BLOCK,
    ),
    (
        VehicleControlResponse(
            reply_serial=7,
            location=replace(
                LOCATION_VALUE,
                status=StatusFlag.POSITIONED,
                extras=[AdditionalInfo(0x30, b"\x1f")],
            ),
        ),
        V2019,
        "0007" + LOCATION_BLOCK.replace("00001002", "00000002") + "30011f",
    ),
]  # fmt: skip

test_golden_bytes = golden_bytes_test(GOLDEN)


def test_2019_vendor_control_keeps_the_rest_of_the_body_raw() -> None:
    body = decode_layout(VehicleControl, bytes.fromhex("0002f0010203000101"), V2019)
    assert body.items == []
    assert body.undecoded.hex() == "f0010203000101"
    assert body.undecoded_count == 2


def test_2019_door_parameter_1_opens_unlike_the_2013_lock_bit() -> None:
    body_2013 = decode_layout(VehicleControl, b"\x01", V2013)
    assert body_2013.control_flags & VehicleControlFlag.LOCK_DOORS
    body_2019 = decode_layout(VehicleControl, bytes.fromhex("0001000101"), V2019)
    assert DoorCommand(body_2019.items[0].parameter) is DoorCommand.OPEN


def test_vehicle_control_refuses_an_item_without_a_known_layout() -> None:
    body = VehicleControl(items=[ControlItem(control_type=0xF001, parameter=1)])
    with pytest.raises(EncodeError):
        encode_layout(body, V2019)


@pytest.mark.parametrize(
    ("undecoded", "undecoded_count"), [(b"\xf0\x01", 0), (b"", 1)], ids=["no-count", "no-bytes"]
)
def test_vehicle_control_refuses_raw_items_without_their_count(
    undecoded: bytes, undecoded_count: int
) -> None:
    body = VehicleControl(undecoded=undecoded, undecoded_count=undecoded_count)
    with pytest.raises(EncodeError):
        encode_layout(body, V2019)


def test_vehicle_control_response_location_is_found_by_location_reports() -> None:
    body = VehicleControlResponse(reply_serial=1, location=LOCATION_VALUE)
    assert location_reports(body) == [LOCATION_VALUE]


# --------------------------------------------------------------------------------------------
# Real frames of the shared vectors (the copy in the repository, else shared/ beside the clone).

VECTORS: dict[str, dict[str, Any]] = real_frames_by_id()


def test_real_2013_vehicle_control_response_smallchi() -> None:
    vector = VECTORS["v152"]  # SmallChi JT808_0x0500Test.cs
    message = decode_frame(bytes.fromhex(vector["hex"]))
    expect = vector["expect"]["body"]
    position = expect["position"]
    assert message.header.version is V2013
    assert message.header.serial == vector["expect"]["header"]["serial"] == 8888
    body = message.body
    assert isinstance(body, VehicleControlResponse)
    assert body.reply_serial == expect["reply_serial"] == 1000
    location = body.location
    assert (location.alarm, location.status) == (position["alarm"], position["status"])
    assert round(location.latitude * 1e6) == position["lat_raw"]
    assert round(location.longitude * 1e6) == position["lng_raw"]
    assert location.altitude == position["altitude_m"]
    assert round(location.speed * 10) == position["speed_raw"]
    assert location.direction == position["direction"]
    assert location.time == datetime(2018, 7, 15, 10, 10, 10, tzinfo=CHINA_TZ)
    assert [(item.id, int.from_bytes(item.raw, "big")) for item in location.extras] == [
        (0x01, position["extras"]["0x01_mileage_raw"]),
        (0x02, position["extras"]["0x02_fuel_raw"]),
    ]
    assert message.trailing == b""


# --------------------------------------------------------------------------------------------
# Truncation.


@pytest.mark.parametrize(
    ("version", "data"),
    [
        (V2011, ""),
        (V2013, ""),
        (V2019, ""),
        (V2019, "00"),
        (V2019, "0001"),
        (V2019, "000100"),
        (V2019, "00010001"),
        (V2019, "0002000101"),
        (V2019, "0001f0"),
    ],
)
def test_truncated_vehicle_control_is_a_truncated_body_error(
    version: ProtocolVersion, data: str
) -> None:
    with pytest.raises(TruncatedBodyError):
        VehicleControl.decode(bytes.fromhex(data), version)


#: Shorter than the reply serial and the basic location block.
test_vehicle_control_response_shorter_than_serial_and_basic_block_is_truncated = truncation_test(
    [(VehicleControlResponse, version, "1234" + LOCATION_BLOCK, None) for version in ALL]
)
