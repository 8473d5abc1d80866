"""Areas and routes: 0x8600-0x8607 set/delete, 0x8608 query and its 0x0608 answer.

JT/T 808-2013 tables 56-70, JT/T 808-2019 §8.35-§8.44 (tables 45-61).

Coordinates stay on the wire's scale: ``*_e6`` fields are unsigned millionths of a degree and
the hemisphere is given by the attribute bits (areas: ``AreaAttribute`` bits 6/7; route
sections: ``SectionAttribute`` bits 2/3), exactly as the standard carries them. The attribute
bits also decide which optional fields are on the wire: a value in a field whose bit is clear
is neither written nor read back.

The 2011 approval draft adds "items in this packet" counters and a shorter turn point; no
later text or implementation has them, so 2011 uses the 2013 layouts.
"""

from __future__ import annotations

import struct
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from datetime import datetime, time
from enum import IntEnum, IntFlag
from typing import Annotated, Any, ClassVar, Final

from ..body import Body, register
from ..errors import BodyError, EncodeError
from ..ids import MessageId
from ..versions import V2019
from ..wire import (
    U8,
    U16,
    U32,
    Byte,
    Codec,
    DWord,
    Layout,
    ListOf,
    Reader,
    Text,
    Wire,
    Word,
    Writer,
    decode_bcd_time,
    encode_bcd_time,
)


class AreaAttribute(IntFlag):
    """Attribute WORD of circle, rectangle and polygon areas (2019 table 47).

    Bits 8, 14 and 15 are 2013+; in 2011 bits 8-15 are reserved.
    """

    TIME_WINDOW = 1 << 0  # start/end time fields present
    SPEED_LIMIT = 1 << 1  # max speed and overspeed duration (2019: and night max speed) present
    ALARM_DRIVER_ON_ENTRY = 1 << 2
    ALARM_PLATFORM_ON_ENTRY = 1 << 3
    ALARM_DRIVER_ON_EXIT = 1 << 4
    ALARM_PLATFORM_ON_EXIT = 1 << 5
    SOUTH_LATITUDE = 1 << 6
    WEST_LONGITUDE = 1 << 7
    DOORS_FORBIDDEN = 1 << 8  # 0 doors may open inside the area, 1 they may not
    COMMS_OFF = 1 << 14  # 1: communication module off inside the area
    COLLECT_GNSS_DETAIL = 1 << 15


class RouteAttribute(IntFlag):
    """Route attribute WORD of 0x8606 (2019 table 57). Bit 1 is reserved."""

    TIME_WINDOW = 1 << 0
    ALARM_DRIVER_ON_ENTRY = 1 << 2
    ALARM_PLATFORM_ON_ENTRY = 1 << 3
    ALARM_DRIVER_ON_EXIT = 1 << 4
    ALARM_PLATFORM_ON_EXIT = 1 << 5


class SectionAttribute(IntFlag):
    """Section attribute BYTE of a route turn point (2019 table 59)."""

    DRIVE_TIME_CHECK = 1 << 0  # too-long / too-short thresholds present
    SPEED_LIMIT = 1 << 1  # max speed and overspeed duration (2019: and night max speed) present
    SOUTH_LATITUDE = 1 << 2
    WEST_LONGITUDE = 1 << 3


class AreaSetType(IntEnum):
    """Set type of 0x8600 and 0x8602."""

    UPDATE = 0  # replace every area of that kind
    APPEND = 1
    MODIFY = 2


class AreaQueryType(IntEnum):
    """Query type of 0x8608 and 0x0608 (2019)."""

    CIRCLE = 1
    RECTANGLE = 2
    POLYGON = 3
    ROUTE = 4


# --------------------------------------------------------------------------------------------
# Time windows.


class AreaTime(Codec["datetime | time | None"]):
    """BCD[6] YYMMDDhhmmss of an area or route time window (GMT+8).

    A date of 00-00-00 makes the window daily: that is decoded as a ``datetime.time`` (all
    zeros is a daily window from midnight). A full date gives an aware ``datetime``; digits
    that are neither give ``None``, which is written back as zeros.
    """

    def read(self, r: Reader) -> datetime | time | None:
        raw = r.take(6)
        if raw[:3] != b"\x00\x00\x00":
            return decode_bcd_time(raw)
        digits = raw[3:].hex()
        try:
            return time(int(digits[0:2]), int(digits[2:4]), int(digits[4:6]))
        except ValueError:
            return None

    def write(self, w: Writer, value: datetime | time | None) -> None:
        if isinstance(value, time):
            w.out += bytes(3) + bytes.fromhex(
                f"{value.hour:02d}{value.minute:02d}{value.second:02d}"
            )
        else:
            w.out += encode_bcd_time(value)

    def describe(self) -> str:
        return "BCD[6] time (date 000000 = daily)"


AREA_TIME: Final = AreaTime()


def _bit(name: str, flag: int) -> Callable[[Mapping[str, Any]], bool]:
    """A presence condition: bit ``flag`` of the field ``name`` is set."""
    mask = int(flag)

    def present(fields: Mapping[str, Any]) -> bool:
        return bool(fields[name] & mask)

    return present


_area_time_window = _bit("attribute", AreaAttribute.TIME_WINDOW)
_area_speed_limit = _bit("attribute", AreaAttribute.SPEED_LIMIT)

# The optional tail shared by circle, rectangle and polygon areas.
_WindowTime = Annotated[datetime | time | None, Wire(AREA_TIME, when=_area_time_window)]
_MaxSpeed = Annotated[int, Wire(U16, when=_area_speed_limit)]
_OverspeedDuration = Annotated[int, Wire(U8, when=_area_speed_limit)]
_NightMaxSpeed = Annotated[int, Wire(U16, since=V2019, when=_area_speed_limit)]
_Name = Annotated[str, Wire(Text(prefix=U16), since=V2019)]


# --------------------------------------------------------------------------------------------
# Circles and rectangles: 0x8600-0x8603.


@dataclass(slots=True, kw_only=True)
class CircleArea(Layout):
    """One circle of 0x8600 (2019 table 46): centre and radius in metres."""

    area_id: DWord
    attribute: Word
    latitude_e6: DWord
    longitude_e6: DWord
    radius_m: DWord
    start_time: _WindowTime = None
    end_time: _WindowTime = None
    max_speed_kmh: _MaxSpeed = 0
    overspeed_duration_s: _OverspeedDuration = 0
    night_max_speed_kmh: _NightMaxSpeed = 0
    name: _Name = ""


@dataclass(slots=True, kw_only=True)
class RectangleArea(Layout):
    """One rectangle of 0x8602 (2019 table 50): its top-left and bottom-right corners."""

    area_id: DWord
    attribute: Word
    top_left_latitude_e6: DWord
    top_left_longitude_e6: DWord
    bottom_right_latitude_e6: DWord
    bottom_right_longitude_e6: DWord
    start_time: _WindowTime = None
    end_time: _WindowTime = None
    max_speed_kmh: _MaxSpeed = 0
    overspeed_duration_s: _OverspeedDuration = 0
    night_max_speed_kmh: _NightMaxSpeed = 0
    name: _Name = ""


@register(MessageId.SET_CIRCLE_AREAS)
@dataclass(slots=True, kw_only=True)
class SetCircleAreas(Body):
    """0x8600: add, replace or modify circle areas (``set_type``: ``AreaSetType``)."""

    set_type: Byte
    areas: Annotated[list[CircleArea], ListOf(CircleArea, count=U8)]


@register(MessageId.SET_RECTANGLE_AREAS)
@dataclass(slots=True, kw_only=True)
class SetRectangleAreas(Body):
    """0x8602: add, replace or modify rectangle areas (``set_type``: ``AreaSetType``)."""

    set_type: Byte
    areas: Annotated[list[RectangleArea], ListOf(RectangleArea, count=U8)]


class AreaIds(ListOf[int]):
    """The BYTE count and DWORD ids of a delete message; at most 125 ids may be sent."""

    MAX_IDS: ClassVar[int] = 125

    def __init__(self) -> None:
        super().__init__(U32, count=U8)

    def write(self, w: Writer, value: list[int]) -> None:
        if len(value) > self.MAX_IDS:
            raise EncodeError(f"{len(value)} ids, but one message deletes at most {self.MAX_IDS}")
        super().write(w, value)


_AREA_IDS: Final = AreaIds()


@register(MessageId.DELETE_CIRCLE_AREAS)
@dataclass(slots=True, kw_only=True)
class DeleteCircleAreas(Body):
    """0x8601: delete the circle areas listed; an empty list deletes every circle area."""

    area_ids: Annotated[list[int], _AREA_IDS]


@register(MessageId.DELETE_RECTANGLE_AREAS)
@dataclass(slots=True, kw_only=True)
class DeleteRectangleAreas(Body):
    """0x8603: delete the rectangle areas listed; an empty list deletes every rectangle area."""

    area_ids: Annotated[list[int], _AREA_IDS]


# --------------------------------------------------------------------------------------------
# Polygons: 0x8604, 0x8605.


@dataclass(slots=True, kw_only=True)
class Vertex(Layout):
    """One polygon vertex (hemisphere from the area's attribute bits 6/7)."""

    latitude_e6: DWord
    longitude_e6: DWord


@register(MessageId.SET_POLYGON_AREA)
@dataclass(slots=True, kw_only=True)
class SetPolygonArea(Body):
    """0x8604: one polygon area per message (2019 table 52).

    The 2019 night max speed comes after the vertices. It is read only when attribute bit 1 is
    set, as the standard and SmallChi do (yezhihao writes it always): its siblings are
    conditional on the same bit, and a device that follows the text sends it that way.
    """

    area_id: DWord
    attribute: Word
    start_time: _WindowTime = None
    end_time: _WindowTime = None
    max_speed_kmh: _MaxSpeed = 0
    overspeed_duration_s: _OverspeedDuration = 0
    vertices: Annotated[list[Vertex], ListOf(Vertex, count=U16)]
    night_max_speed_kmh: _NightMaxSpeed = 0
    name: _Name = ""


@register(MessageId.DELETE_POLYGON_AREAS)
@dataclass(slots=True, kw_only=True)
class DeletePolygonAreas(Body):
    """0x8605: delete the polygon areas listed; an empty list deletes every polygon area."""

    area_ids: Annotated[list[int], _AREA_IDS]


# --------------------------------------------------------------------------------------------
# Routes: 0x8606, 0x8607.

_drive_time_check = _bit("section_attribute", SectionAttribute.DRIVE_TIME_CHECK)
_section_speed_limit = _bit("section_attribute", SectionAttribute.SPEED_LIMIT)


@dataclass(slots=True, kw_only=True)
class TurnPoint(Layout):
    """One turn point of a route (2019 table 58); its section runs to the next turn point."""

    turn_point_id: DWord
    section_id: DWord
    latitude_e6: DWord
    longitude_e6: DWord
    section_width_m: Byte
    section_attribute: Byte
    too_long_threshold_s: Annotated[int, Wire(U16, when=_drive_time_check)] = 0
    too_short_threshold_s: Annotated[int, Wire(U16, when=_drive_time_check)] = 0
    max_speed_kmh: Annotated[int, Wire(U16, when=_section_speed_limit)] = 0
    overspeed_duration_s: Annotated[int, Wire(U8, when=_section_speed_limit)] = 0
    night_max_speed_kmh: Annotated[int, Wire(U16, since=V2019, when=_section_speed_limit)] = 0


_route_time_window = _bit("attribute", RouteAttribute.TIME_WINDOW)
_RouteTime = Annotated[datetime | time | None, Wire(AREA_TIME, when=_route_time_window)]


@register(MessageId.SET_ROUTE)
@dataclass(slots=True, kw_only=True)
class SetRoute(Body):
    """0x8606: one route per message (2019 table 55).

    The start/end times are read only when route attribute bit 0 is set. The table lists them
    without a condition but says "as the circle's time window", which is conditional; SmallChi
    and toggery read them that way, yezhihao always (its own field notes say conditional).
    """

    route_id: DWord
    attribute: Word
    start_time: _RouteTime = None
    end_time: _RouteTime = None
    turn_points: Annotated[list[TurnPoint], ListOf(TurnPoint, count=U16)]
    name: _Name = ""


@register(MessageId.DELETE_ROUTES)
@dataclass(slots=True, kw_only=True)
class DeleteRoutes(Body):
    """0x8607: delete the routes listed; an empty list deletes every route."""

    route_ids: Annotated[list[int], _AREA_IDS]


# --------------------------------------------------------------------------------------------
# Query: 0x8608, 0x0608 (2019).


@register(MessageId.QUERY_AREAS, since=V2019)
@dataclass(slots=True, kw_only=True)
class QueryAreas(Body):
    """0x8608 (2019): ask for the areas or routes of one kind (``AreaQueryType``); an empty
    ``ids`` list asks for all of them. Answered with 0x0608."""

    query_type: Byte
    ids: Annotated[list[int], ListOf(U32, count=U32)]


AreaDefinition = SetCircleAreas | SetRectangleAreas | SetPolygonArea | SetRoute

#: The set-message body each 0x0608 item is, by query type.
QUERY_ITEM_LAYOUTS: Final[dict[int, type[AreaDefinition]]] = {
    AreaQueryType.CIRCLE: SetCircleAreas,
    AreaQueryType.RECTANGLE: SetRectangleAreas,
    AreaQueryType.POLYGON: SetPolygonArea,
    AreaQueryType.ROUTE: SetRoute,
}


@register(MessageId.QUERY_AREAS_RESPONSE, since=V2019)
@dataclass(slots=True, kw_only=True)
class QueryAreasResponse(Body):
    """0x0608 (2019): the areas or routes asked for by 0x8608.

    Each item is a complete body of the matching set message (0x8600, 0x8602, 0x8604 or
    0x8606, chosen by ``query_type``), as the standard's table references say and SmallChi
    reads it; those bodies delimit themselves. An item that cannot be decoded, or any item of
    an unknown query type, stops the list: it and everything after it are kept byte for byte in
    ``undecoded``, and ``undecoded_count`` is how many of the items the count announced are not
    in ``items`` (the count written is ``len(items) + undecoded_count``).
    """

    query_type: int
    items: list[AreaDefinition] = field(default_factory=list)
    undecoded: bytes = b""
    undecoded_count: int = 0

    _HEAD: ClassVar[struct.Struct] = struct.Struct(">BI")

    @classmethod
    def read(cls, r: Reader) -> QueryAreasResponse:
        query_type, count = r.unpack(cls._HEAD)
        layout = QUERY_ITEM_LAYOUTS.get(query_type)
        items: list[AreaDefinition] = []
        undecoded = b""
        if layout is None:
            undecoded = r.rest()
        else:
            while len(items) < count and r.remaining:
                start = r.pos
                try:
                    items.append(layout.read(r))
                except BodyError:
                    r.pos = start
                    undecoded = r.rest()
        return cls(
            query_type=query_type,
            items=items,
            undecoded=undecoded,
            undecoded_count=count - len(items),
        )

    def write(self, w: Writer) -> None:
        layout = QUERY_ITEM_LAYOUTS.get(self.query_type)
        for item in self.items:
            if type(item) is not layout:
                raise EncodeError(
                    f"a 0x0608 answer of query type {self.query_type} cannot carry a "
                    f"{type(item).__name__}"
                )
        try:
            w.out += self._HEAD.pack(self.query_type, len(self.items) + self.undecoded_count)
        except struct.error:
            raise EncodeError("QueryAreasResponse: query type or count out of range") from None
        for item in self.items:
            item.write(w)
        w.out += self.undecoded


__all__ = [
    "AREA_TIME",
    "QUERY_ITEM_LAYOUTS",
    "AreaAttribute",
    "AreaDefinition",
    "AreaIds",
    "AreaQueryType",
    "AreaSetType",
    "AreaTime",
    "CircleArea",
    "DeleteCircleAreas",
    "DeletePolygonAreas",
    "DeleteRectangleAreas",
    "DeleteRoutes",
    "QueryAreas",
    "QueryAreasResponse",
    "RectangleArea",
    "RouteAttribute",
    "SectionAttribute",
    "SetCircleAreas",
    "SetPolygonArea",
    "SetRectangleAreas",
    "SetRoute",
    "TurnPoint",
    "Vertex",
]
