"""Positions of the protocol core (``LocationReport``) as ``jt808.gateway.v1.Location`` messages.

Used for the location stream (hub events) and for command replies that carry a position
(0x0201, 0x0500, the items of 0x0802).
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime
from typing import Any, Final

from google.protobuf import struct_pb2

from gateway.hub import LocationReported
from gateway.protocol.bodies.location import LocationBatchType, LocationReport
from gateway.protocol.wire import CHINA_TZ, JSON, to_json
from jt808.gateway.v1 import location_pb2

#: Additional items that also have a typed field of their own in ``Location``:
#: item id -> (field name, conversion of the decoded value).
TYPED_ITEMS: Final[dict[int, tuple[str, Callable[[Any], float | int]]]] = {
    0x01: ("mileage_km", float),
    0x02: ("fuel_l", float),
    0x03: ("tachograph_speed_kmh", float),
    0x30: ("signal_strength", int),
    0x31: ("satellites", int),
}

_SURROGATES: Final = range(0xD800, 0xE000)


def proto_text(text: str) -> str:
    """``text`` as a protobuf string field accepts it.

    The core keeps bytes that are not GB 18030 as lone surrogates (so they re-encode exactly);
    UTF-8 cannot carry those, so each becomes U+FFFD here.
    """
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:
        return "".join("\ufffd" if ord(char) in _SURROGATES else char for char in text)
    return text


def json_value(value: JSON) -> struct_pb2.Value:
    """A JSON-shaped Python value as a ``google.protobuf.Value``."""
    result = struct_pb2.Value()
    if value is None:
        result.null_value = struct_pb2.NULL_VALUE
    elif isinstance(value, bool):
        result.bool_value = value
    elif isinstance(value, int | float):
        result.number_value = float(value)
    elif isinstance(value, str):
        result.string_value = proto_text(value)
    elif isinstance(value, list):
        result.list_value.SetInParent()  # an empty list is still a list, not "no value"
        result.list_value.values.extend(json_value(item) for item in value)
    else:
        result.struct_value.SetInParent()
        for key, item in value.items():
            result.struct_value.fields[proto_text(key)].CopyFrom(json_value(item))
    return result


def aware(moment: datetime) -> datetime:
    """Core times are GMT+8; a naive one (built by hand, never decoded) is taken as such."""
    return moment if moment.tzinfo is not None else moment.replace(tzinfo=CHINA_TZ)


def location_message(
    report: LocationReport,
    *,
    phone: str,
    device_name: str,
    msg_id: int,
    serial: int,
    batch_type: int | None = None,
    received_at: datetime | None = None,
    sequence: int = 0,
) -> location_pb2.Location:
    """``report`` as a ``Location``; ``batch_type`` is the 0x0704 type when it came in a batch."""
    location = location_pb2.Location(
        phone=phone,
        device_name=proto_text(device_name),
        latitude=report.latitude,  # already negative south / west
        longitude=report.longitude,
        altitude_m=report.altitude,
        speed_kmh=report.speed,
        direction=report.direction,
        alarm_flags=report.alarm,
        status_flags=report.status,
        batch=batch_type is not None,
        blind_area=batch_type == LocationBatchType.BLIND_AREA,
        msg_id=msg_id,
        serial=serial,
        malformed_items=report.malformed_extras,
        sequence=sequence,
    )
    if report.time is not None:
        location.time.FromDatetime(aware(report.time))
    if received_at is not None:
        location.received_time.FromDatetime(received_at)
    _add_items(location, report)
    return location


def _add_items(location: location_pb2.Location, report: LocationReport) -> None:
    typed_done: set[int] = set()
    for extra in report.extras:
        item = location.items.add(id=extra.id, name=extra.name or "", raw=extra.raw)
        value = extra.value
        if value is None:
            continue
        item.value.CopyFrom(json_value(to_json(value)))
        typed = TYPED_ITEMS.get(extra.id)
        if typed is not None and extra.id not in typed_done:  # the first item of an id counts
            typed_done.add(extra.id)
            name, convert = typed
            setattr(location, name, convert(value))


def location_from_event(event: LocationReported) -> location_pb2.Location:
    """The ``Location`` of a hub event (a 0x0200, 0x0201, 0x0500 or 0x0704 item)."""
    return location_message(
        event.location,
        phone=event.phone,
        device_name=event.device_name,
        msg_id=event.msg_id,
        serial=event.serial,
        batch_type=event.batch_type,
        received_at=event.received_at,
        sequence=event.sequence,
    )


__all__ = [
    "TYPED_ITEMS",
    "aware",
    "json_value",
    "location_from_event",
    "location_message",
    "proto_text",
]
