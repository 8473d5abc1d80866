"""0x8600-0x8608 and 0x0608: areas and routes (reference §3.29)."""

from __future__ import annotations

from dataclasses import replace
from datetime import datetime, time
from typing import Any

import pytest
from hypothesis import strategies as st

from gateway.protocol import V2011, V2013, V2019, ProtocolVersion, TruncatedBodyError
from gateway.protocol.bodies.areas import (
    AREA_TIME,
    QUERY_ITEM_LAYOUTS,
    AreaAttribute,
    CircleArea,
    DeleteCircleAreas,
    DeletePolygonAreas,
    DeleteRectangleAreas,
    DeleteRoutes,
    QueryAreas,
    QueryAreasResponse,
    RectangleArea,
    RouteAttribute,
    SectionAttribute,
    SetCircleAreas,
    SetPolygonArea,
    SetRectangleAreas,
    SetRoute,
    TurnPoint,
    Vertex,
)
from gateway.protocol.body import Body
from gateway.protocol.errors import EncodeError
from gateway.protocol.wire import CHINA_TZ, wire_fields

from .body_properties import body_property_tests, golden_bytes_test, truncation_test
from .strategies import (
    CUSTOM,
    bcd_times,
    codec_strategy,
    decode_layout,
    encode_layout,
    layout_strategy,
)

ALL = (V2011, V2013, V2019)


def _area_times(version: ProtocolVersion) -> st.SearchStrategy[Any]:
    daily = st.times().map(lambda moment: moment.replace(microsecond=0))
    return st.one_of(bcd_times(), daily)


CUSTOM[AREA_TIME] = _area_times


def _canonical(layout: type[Any]) -> Any:
    """Items whose fields switched off by their attribute bits hold the decoded defaults.

    ``assert_round_trip`` compares unconditional fields with ``==``; a list of items is one
    such field, so its items must already be in the form decoding gives back.
    """

    def strategy(version: ProtocolVersion) -> st.SearchStrategy[Any]:
        drawn = {
            name: codec_strategy(codec, version) for name, codec, _ in wire_fields(layout, version)
        }
        return st.builds(layout, **drawn).map(
            lambda value: decode_layout(layout, encode_layout(value, version), version)
        )

    return strategy


for _item in (CircleArea, RectangleArea, TurnPoint):
    CUSTOM[_item] = _canonical(_item)


@st.composite
def _query_responses(draw: st.DrawFn, version: ProtocolVersion) -> QueryAreasResponse:
    query_type = draw(st.integers(0, 255))
    layout = QUERY_ITEM_LAYOUTS.get(query_type)
    if layout is None:
        # Unknown kind: everything after the count stays raw.
        return QueryAreasResponse(
            query_type=query_type,
            undecoded=draw(st.binary(max_size=16)),
            undecoded_count=draw(st.integers(0, 0xFFFFFFFF)),
        )
    items = draw(st.lists(layout_strategy(layout, version), max_size=3))
    undecoded = b""
    missing = draw(st.integers(0, 3))
    if draw(st.booleans()):
        # A damaged last item: a proper prefix of a real one.
        whole = encode_layout(draw(layout_strategy(layout, version)), version)
        undecoded = whole[: draw(st.integers(1, len(whole) - 1))]
        missing += 1
    return QueryAreasResponse(
        query_type=query_type, items=items, undecoded=undecoded, undecoded_count=missing
    )


CUSTOM[QueryAreasResponse] = _query_responses


BODIES: list[tuple[type[Body], tuple[ProtocolVersion, ...]]] = [
    (SetCircleAreas, ALL),
    (DeleteCircleAreas, ALL),
    (SetRectangleAreas, ALL),
    (DeleteRectangleAreas, ALL),
    (SetPolygonArea, ALL),
    (DeletePolygonAreas, ALL),
    (SetRoute, ALL),
    (DeleteRoutes, ALL),
    (QueryAreas, (V2019,)),
    (QueryAreasResponse, (V2019,)),
]

test_body_properties = body_property_tests(BODIES)


# --------------------------------------------------------------------------------------------
# Golden bodies, written from the reference tables.

WINDOW_START = datetime(2024, 1, 1, 8, 0, 0, tzinfo=CHINA_TZ)
WINDOW_END = datetime(2024, 12, 31, 23, 59, 59, tzinfo=CHINA_TZ)
# Time window + speed limit + both entry alarms + south latitude.
CIRCLE_ATTRIBUTE = 0x004F

CIRCLE = CircleArea(
    area_id=100,
    attribute=CIRCLE_ATTRIBUTE,
    latitude_e6=22_543_096,
    longitude_e6=113_952_000,
    radius_m=500,
    start_time=WINDOW_START,
    end_time=WINDOW_END,
    max_speed_kmh=80,
    overspeed_duration_s=10,
    night_max_speed_kmh=60,
    name="depot",
)
CIRCLE_2013 = (
    "00000064" "004f" "0157faf8" "06cac500" "000001f4"
    "240101080000" "241231235959" "0050" "0a"
)  # fmt: skip
CIRCLE_2019 = CIRCLE_2013 + "003c" + "0005" + "6465706f74"

RECTANGLE = RectangleArea(
    area_id=7,
    attribute=AreaAttribute.SPEED_LIMIT,
    top_left_latitude_e6=31_000_000,
    top_left_longitude_e6=121_000_000,
    bottom_right_latitude_e6=30_000_000,
    bottom_right_longitude_e6=122_000_000,
    max_speed_kmh=40,
    overspeed_duration_s=5,
    night_max_speed_kmh=30,
    name="东门",
)
RECTANGLE_2013 = "00000007000201d905c00736504001c9c38007459280002805"
RECTANGLE_2019 = RECTANGLE_2013 + "001e" + "0004" + "b6abc3c5"

POLYGON = SetPolygonArea(
    area_id=9,
    attribute=AreaAttribute.SPEED_LIMIT,
    max_speed_kmh=100,
    overspeed_duration_s=20,
    vertices=[
        Vertex(latitude_e6=30_000_000, longitude_e6=120_000_000),
        Vertex(latitude_e6=29_000_000, longitude_e6=121_000_000),
        Vertex(latitude_e6=31_000_000, longitude_e6=122_000_000),
    ],
    night_max_speed_kmh=70,
    name="园区",
)
POLYGON_2013 = (
    "00000009" "0002" "0064" "14" "0003"
    "01c9c380" "07270e00" "01ba8140" "07365040" "01d905c0" "07459280"
)  # fmt: skip
POLYGON_2019 = POLYGON_2013 + "0046" + "0004" + "d4b0c7f8"

TURN_POINT = TurnPoint(
    turn_point_id=1,
    section_id=11,
    latitude_e6=30_000_000,
    longitude_e6=120_000_000,
    section_width_m=50,
    section_attribute=SectionAttribute.DRIVE_TIME_CHECK | SectionAttribute.SPEED_LIMIT,
    too_long_threshold_s=600,
    too_short_threshold_s=60,
    max_speed_kmh=90,
    overspeed_duration_s=15,
    night_max_speed_kmh=50,
)
TURN_POINT_2013 = (
    "00000001" "0000000b" "01c9c380" "07270e00" "32" "03" "0258" "003c" "005a" "0f"
)  # fmt: skip
TURN_POINT_2019 = TURN_POINT_2013 + "0032"
# A section with neither check: only the fixed 18 bytes.
PLAIN_TURN_POINT = TurnPoint(
    turn_point_id=2,
    section_id=12,
    latitude_e6=29_000_000,
    longitude_e6=121_000_000,
    section_width_m=20,
    section_attribute=SectionAttribute.SOUTH_LATITUDE,
)
PLAIN_TURN_POINT_HEX = "000000020000000c01ba8140073650401404"

ROUTE = SetRoute(
    route_id=0x01020304,
    attribute=RouteAttribute.TIME_WINDOW | RouteAttribute.ALARM_PLATFORM_ON_EXIT,
    start_time=time(6, 0, 0),
    end_time=time(22, 30, 0),
    turn_points=[TURN_POINT, PLAIN_TURN_POINT],
    name="depot",
)
ROUTE_2013 = "0102030400210000000600000000002230000002" + TURN_POINT_2013 + PLAIN_TURN_POINT_HEX
ROUTE_2019 = (
    "01020304" "0021" "000000060000" "000000223000" "0002"
    + TURN_POINT_2019 + PLAIN_TURN_POINT_HEX + "0005" + "6465706f74"
)  # fmt: skip

# Before 2019 there is no night max speed and no name.
CIRCLE_PRE_2019 = replace(CIRCLE, night_max_speed_kmh=0, name="")
RECTANGLE_PRE_2019 = replace(RECTANGLE, night_max_speed_kmh=0, name="")
POLYGON_PRE_2019 = replace(POLYGON, night_max_speed_kmh=0, name="")
ROUTE_PRE_2019 = replace(
    ROUTE,
    turn_points=[replace(TURN_POINT, night_max_speed_kmh=0), PLAIN_TURN_POINT],
    name="",
)

GOLDEN: list[tuple[Body, ProtocolVersion, str]] = [
    (SetCircleAreas(set_type=1, areas=[CIRCLE_PRE_2019]), V2011, "0101" + CIRCLE_2013),
    (SetCircleAreas(set_type=1, areas=[CIRCLE_PRE_2019]), V2013, "0101" + CIRCLE_2013),
    (SetCircleAreas(set_type=1, areas=[CIRCLE]), V2019, "0101" + CIRCLE_2019),
    (SetRectangleAreas(set_type=2, areas=[RECTANGLE_PRE_2019]), V2011, "0201" + RECTANGLE_2013),
    (SetRectangleAreas(set_type=2, areas=[RECTANGLE_PRE_2019]), V2013, "0201" + RECTANGLE_2013),
    (SetRectangleAreas(set_type=2, areas=[RECTANGLE]), V2019, "0201" + RECTANGLE_2019),
    (POLYGON_PRE_2019, V2011, POLYGON_2013),
    (POLYGON_PRE_2019, V2013, POLYGON_2013),
    (POLYGON, V2019, POLYGON_2019),
    (ROUTE_PRE_2019, V2011, ROUTE_2013),
    (ROUTE_PRE_2019, V2013, ROUTE_2013),
    (ROUTE, V2019, ROUTE_2019),
    (DeleteCircleAreas(area_ids=[1, 0x01020304]), V2013, "020000000101020304"),
    (DeleteRectangleAreas(area_ids=[7]), V2019, "0100000007"),
    (DeletePolygonAreas(area_ids=[]), V2011, "00"),
    (DeleteRoutes(route_ids=[5, 6]), V2019, "020000000500000006"),
    (QueryAreas(query_type=4, ids=[]), V2019, "0400000000"),
    (QueryAreas(query_type=1, ids=[100, 101]), V2019, "01000000020000006400000065"),
    (
        QueryAreasResponse(
            query_type=1,
            items=[
                SetCircleAreas(set_type=0, areas=[CIRCLE]),
                SetCircleAreas(set_type=1, areas=[]),
            ],
        ),
        V2019,
        "01000000020001" + CIRCLE_2019 + "0100",
    ),
    (QueryAreasResponse(query_type=3, items=[POLYGON]), V2019, "0300000001" + POLYGON_2019),
    (QueryAreasResponse(query_type=4, items=[ROUTE]), V2019, "0400000001" + ROUTE_2019),
]

test_golden_bytes = golden_bytes_test(GOLDEN)


# --------------------------------------------------------------------------------------------
# Optional fields and their attribute bits.


def test_area_without_time_or_speed_bits_has_only_its_fixed_fields() -> None:
    area = CircleArea(
        area_id=1, attribute=0, latitude_e6=1, longitude_e6=2, radius_m=3, max_speed_kmh=99
    )
    body = SetCircleAreas(set_type=0, areas=[area])
    fixed = "000000010000000000010000000200000003"
    assert encode_layout(body, V2013).hex() == "0001" + fixed
    # 2019 always has the name length, even for an empty name.
    assert encode_layout(body, V2019).hex() == "0001" + fixed + "0000"
    decoded = decode_layout(SetCircleAreas, bytes.fromhex("0001" + fixed), V2013)
    assert decoded.areas[0].max_speed_kmh == 0


def test_daily_window_has_a_zero_date_and_decodes_as_a_time_of_day() -> None:
    area = CircleArea(
        area_id=1,
        attribute=AreaAttribute.TIME_WINDOW,
        latitude_e6=0,
        longitude_e6=0,
        radius_m=0,
        start_time=time(8, 30),
        end_time=time(17, 45, 10),
    )
    wire = "000000010001000000000000000000000000000000083000000000174510"
    assert encode_layout(area, V2013).hex() == wire
    assert decode_layout(CircleArea, bytes.fromhex(wire), V2013) == area


def test_all_zero_window_time_is_midnight_and_bad_digits_are_none() -> None:
    zero = decode_layout(
        CircleArea,
        bytes.fromhex("000000010001" + "00" * 12 + "000000000000000000990000"),
        V2013,
    )
    assert zero.start_time == time(0, 0, 0)
    assert zero.end_time is None


def test_polygon_2019_night_speed_is_absent_without_the_speed_bit() -> None:
    polygon = SetPolygonArea(
        area_id=9,
        attribute=AreaAttribute.TIME_WINDOW,
        start_time=WINDOW_START,
        end_time=WINDOW_END,
        vertices=[Vertex(latitude_e6=30_000_000, longitude_e6=120_000_000)],
        night_max_speed_kmh=70,
        name="",
    )
    wire = (
        "00000009" "0001" "240101080000" "241231235959" "0001" "01c9c380" "07270e00" "0000"
    )  # fmt: skip
    assert encode_layout(polygon, V2019).hex() == wire
    assert decode_layout(SetPolygonArea, bytes.fromhex(wire), V2019).night_max_speed_kmh == 0


def test_route_times_are_absent_without_the_time_window_bit() -> None:
    route = SetRoute(
        route_id=1,
        attribute=RouteAttribute.ALARM_DRIVER_ON_ENTRY,
        turn_points=[PLAIN_TURN_POINT],
    )
    wire = "0000000100040001" + PLAIN_TURN_POINT_HEX
    assert encode_layout(route, V2013).hex() == wire
    assert decode_layout(SetRoute, bytes.fromhex(wire), V2013) == route


def test_delete_message_refuses_more_than_125_ids() -> None:
    encode_layout(DeleteCircleAreas(area_ids=list(range(125))), V2013)
    with pytest.raises(EncodeError):
        encode_layout(DeleteCircleAreas(area_ids=list(range(126))), V2013)


# --------------------------------------------------------------------------------------------
# 0x0608: damaged and unknown items are kept raw.


def test_query_response_keeps_a_damaged_item_raw() -> None:
    damaged = "0101" + CIRCLE_2019[:20]
    wire = bytes.fromhex("01000000020001" + CIRCLE_2019 + damaged)
    body = decode_layout(QueryAreasResponse, wire, V2019)
    assert body.items == [SetCircleAreas(set_type=0, areas=[CIRCLE])]
    assert body.undecoded.hex() == damaged
    assert body.undecoded_count == 1
    assert encode_layout(body, V2019) == wire


def test_query_response_of_unknown_type_keeps_everything_after_the_count() -> None:
    wire = bytes.fromhex("0900000002deadbeef")
    body = decode_layout(QueryAreasResponse, wire, V2019)
    assert body == QueryAreasResponse(
        query_type=9, undecoded=b"\xde\xad\xbe\xef", undecoded_count=2
    )
    assert encode_layout(body, V2019) == wire


def test_query_response_with_a_count_larger_than_its_items_keeps_the_count() -> None:
    wire = bytes.fromhex("02000000030000")
    body = decode_layout(QueryAreasResponse, wire, V2019)
    assert body.items == [SetRectangleAreas(set_type=0, areas=[])]
    assert body.undecoded_count == 2
    assert encode_layout(body, V2019) == wire


def test_query_response_refuses_items_of_another_kind() -> None:
    body = QueryAreasResponse(query_type=1, items=[POLYGON])
    with pytest.raises(EncodeError):
        encode_layout(body, V2019)


def test_query_response_json_view_lists_the_items() -> None:
    view: Any = QueryAreasResponse(query_type=3, items=[POLYGON]).to_json()
    assert view["query_type"] == 3
    assert view["undecoded"] == ""
    assert view["items"][0]["vertices"][0] == {
        "latitude_e6": 30_000_000,
        "longitude_e6": 120_000_000,
    }


# --------------------------------------------------------------------------------------------
# Truncation.

test_every_truncation_is_a_truncated_body_error = truncation_test(
    [
        (type(body), version, golden, None)
        for body, version, golden in GOLDEN
        if not isinstance(body, QueryAreasResponse)
    ]
)


@pytest.mark.parametrize("cut", range(5))
def test_query_response_with_a_truncated_head_is_a_truncated_body_error(cut: int) -> None:
    with pytest.raises(TruncatedBodyError):
        QueryAreasResponse.decode(bytes.fromhex("0100000001")[:cut], V2019)


@pytest.mark.parametrize("version", [V2011, V2013])
def test_2019_fields_are_not_written_before_2019(version: ProtocolVersion) -> None:
    assert encode_layout(SetCircleAreas(set_type=1, areas=[CIRCLE]), version).hex() == (
        "0101" + CIRCLE_2013
    )
    assert encode_layout(POLYGON, version).hex() == POLYGON_2013
    assert encode_layout(ROUTE, version).hex() == ROUTE_2013
