"""Hub events as rows of the event log, and back.

A location keeps the report's body bytes exactly as the terminal sent them (a 0x0200 body is
not even decoded on the way in); a terminal event keeps its message's header fields and body.
Times are whole microseconds since the Unix epoch (UTC). Read back, an event compares equal to
the one appended (times come back as UTC datetimes).
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Final

from gateway.events import EventKind, HubEvent, LocationReported, TerminalEvent
from gateway.protocol.bodies.location import LazyLocationReport, LocationReport
from gateway.protocol.body import RawBody, decode_body
from gateway.protocol.errors import ProtocolError
from gateway.protocol.header import Header
from gateway.protocol.ids import MessageId
from gateway.protocol.message import Message, encode_body, encode_message_body
from gateway.protocol.versions import V2013, ProtocolVersion

from .schema import LOCATION_KIND, SELECT_COLUMNS, EventRow, LocationRow, Row

__all__ = ["LOCATION_KIND", "SELECT_COLUMNS", "EventRow", "LocationRow", "Row"]

KIND_CODES: Final = {kind: code for code, kind in enumerate(EventKind, start=1)}
KIND_OF_CODE: Final = {code: kind for kind, code in KIND_CODES.items()}


_EPOCH: Final = datetime(1970, 1, 1, tzinfo=UTC)
_MICROSECOND: Final = timedelta(microseconds=1)
_LOCATION_ID: Final = int(MessageId.LOCATION_REPORT)
#: Set in the ``encryption`` column when the body was kept undecoded (an unknown id, or an
#: encrypted body the gateway could not open): read back as such, never decoded.
RAW_BODY: Final = 0x100


def microseconds(moment: datetime) -> int:
    """``moment`` as whole microseconds since the epoch (a naive time is taken as UTC)."""
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=UTC)
    return (moment - _EPOCH) // _MICROSECOND


def moment_of(value: int) -> datetime:
    return _EPOCH + timedelta(microseconds=value)


def report_bytes(report: LocationReport) -> bytes:
    """A location's body bytes (as received when the report was never decoded)."""
    if type(report) is LazyLocationReport:
        return report.body_bytes()
    return encode_body(report, V2013)  # a location body is the same in every revision


def location_row(event: LocationReported, at: int) -> LocationRow:
    return (
        event.sequence,
        at,
        LOCATION_KIND,
        event.phone,
        event.device_name,
        event.msg_id,
        event.serial,
        event.batch_type,
        report_bytes(event.location),
    )


def event_row(event: TerminalEvent) -> EventRow:
    message = event.message
    if message is None:
        return (
            event.sequence, microseconds(event.at), KIND_CODES[event.kind], event.phone,
            event.device_name, None, None, None, event.remote_address, event.reason, None, 0, 0,
        )  # fmt: skip
    header = message.header
    try:
        body: bytes | None = encode_message_body(message)
    except ProtocolError:
        body = None  # a body the core cannot write back: kept as "did not decode"
    return (
        event.sequence, microseconds(event.at), KIND_CODES[event.kind], event.phone,
        event.device_name, header.msg_id, header.serial, body, event.remote_address,
        event.reason, int(header.version), header.protocol_version,
        header.encryption | (RAW_BODY if isinstance(message.body, RawBody) else 0),
    )  # fmt: skip


def event_of(row: Row) -> HubEvent:
    """The hub event a row (``SELECT_COLUMNS``) was made from."""
    seq, at, kind, phone, device, msg_id, serial, batch, body = row[:9]
    if kind == LOCATION_KIND:
        report, _ = decode_body(_LOCATION_ID, body or b"", V2013)
        assert isinstance(report, LocationReport)
        return LocationReported(
            phone, device, report, msg_id or 0, serial or 0, batch, moment_of(at), seq
        )
    remote, reason, version, protocol_version, encryption = row[9:]
    message = None
    if msg_id is not None and version is not None:
        revision = ProtocolVersion(version)
        flags = encryption or 0
        header = Header(msg_id, phone, serial or 0, revision, protocol_version or 0,
                        flags & ~RAW_BODY)  # fmt: skip
        message = _message(header, body, raw=bool(flags & RAW_BODY))
    return TerminalEvent(
        KIND_OF_CODE[kind], phone, device, moment_of(at), remote or "", reason or "", message, seq
    )


def _message(header: Header, body: bytes | None, *, raw: bool) -> Message:
    if body is None:
        return Message(header, RawBody(raw=b""))
    if raw:
        return Message(header, RawBody(raw=body))
    try:
        decoded, trailing = decode_body(header.msg_id, body, header.version)
    except ProtocolError:
        return Message(header, RawBody(raw=body))
    return Message(header, decoded, trailing)
