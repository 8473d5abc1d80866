"""The API's messages as JSON for scripts and as short text for people.

``message_json`` is the proto3 JSON mapping with the proto's field names, every field present
(defaults included, so ``jq .phone`` never meets a missing key), on one line. The text views
are what ``jt808 stream`` and ``jt808 send`` print for a person.
"""

from __future__ import annotations

import json
from datetime import UTC
from typing import Any

from google.protobuf import json_format
from google.protobuf.message import Message
from google.protobuf.timestamp_pb2 import Timestamp

from gateway.protocol.bodies.location import alarm_names, status_names
from jt808.gateway.v1 import gateway_service_pb2 as api
from jt808.gateway.v1 import location_pb2


def message_dict(message: Message) -> dict[str, Any]:
    """The proto3 JSON mapping of ``message`` as a dict (proto field names, defaults shown)."""
    return json_format.MessageToDict(
        message, preserving_proto_field_name=True, always_print_fields_with_no_presence=True
    )


def message_json(message: Message) -> str:
    """``message_dict`` as one line of JSON (non-ASCII text kept as is)."""
    return json.dumps(message_dict(message), ensure_ascii=False, separators=(",", ":"))


def timestamp_text(stamp: Timestamp, *, present: bool = True) -> str:
    """An instant as local-free ISO 8601 UTC (``2026-01-02T03:04:05Z``), or ``-`` when unset."""
    if not present:
        return "-"
    moment = stamp.ToDatetime(tzinfo=UTC)
    return moment.strftime("%Y-%m-%dT%H:%M:%SZ")


def location_text(location: location_pb2.Location) -> str:
    """One line for a person: who, when, where, how fast, which alarms."""
    when = timestamp_text(location.time, present=location.HasField("time"))
    alarms = ",".join(alarm_names(location.alarm_flags)) or "-"
    name = f" {location.device_name}" if location.device_name else ""
    return (
        f"{when}  {location.phone}{name}  {location.latitude:.6f},{location.longitude:.6f}  "
        f"{location.speed_kmh:.1f} km/h  {location.direction}°  alarms {alarms}"
    )


def location_lines(location: location_pb2.Location) -> list[str]:
    """A position in a few labelled lines (a command's reply)."""
    lines = [
        f"position   {location.latitude:.6f}, {location.longitude:.6f}  "
        f"altitude {location.altitude_m} m",
        f"time       {timestamp_text(location.time, present=location.HasField('time'))}",
        f"speed      {location.speed_kmh:.1f} km/h  heading {location.direction}°",
        f"alarms     {', '.join(alarm_names(location.alarm_flags)) or 'none'}",
        f"status     {', '.join(status_names(location.status_flags)) or 'none'}",
    ]
    for item in location.items:
        value = json_format.MessageToJson(item.value, indent=None) if item.HasField("value") else ""
        lines.append(f"item       0x{item.id:02X} {item.name or '(vendor)'} {value}".rstrip())
    return lines


def event_text(event: api.Event) -> str:
    """One line for a person: when, which kind, which terminal, and what it carried."""
    when = timestamp_text(event.time, present=event.HasField("time"))
    kind = api.EventKind.Name(event.kind).removeprefix("EVENT_KIND_").lower()
    parts = [when, kind, event.phone]
    if event.device_name:
        parts.append(event.device_name)
    if event.remote_address:
        parts.append(f"from {event.remote_address}")
    if event.reason:
        parts.append(f"reason {event.reason}")
    if event.msg_id:
        parts.append(f"0x{event.msg_id:04X} serial {event.serial}")
    if event.body_json:
        body = event.body_json if len(event.body_json) <= 200 else event.body_json[:199] + "…"
        parts.append(body)
    return "  ".join(parts)


def session_text(session: api.Session) -> str:
    """One line of ``jt808 sessions list``."""
    since = timestamp_text(
        session.authenticated_time, present=session.HasField("authenticated_time")
    )
    last = timestamp_text(
        session.last_activity_time, present=session.HasField("last_activity_time")
    )
    return (
        f"{session.phone:<20} {session.device_name or '-':<32} "
        f"{session.protocol_version or '-':<5} {session.remote_address:<22} "
        f"{since:<21} {last:<21} {session.pending_commands}"
    )


SESSION_HEADER = (
    f"{'PHONE':<20} {'DEVICE':<32} {'REV':<5} {'REMOTE':<22} {'AUTHENTICATED':<21} "
    f"{'LAST ACTIVITY':<21} PENDING"
)
