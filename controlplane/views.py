"""Sessions and terminal events as API messages."""

from __future__ import annotations

import json
from datetime import datetime, timedelta
from typing import TYPE_CHECKING, Final

from google.protobuf.timestamp_pb2 import Timestamp

from gateway.hub import EventKind, TerminalEvent
from gateway.protocol.errors import EncodeError
from gateway.protocol.message import encode_message_body
from gateway.server.connection import TerminalConnection
from gateway.server.gateway import Gateway
from jt808.gateway.v1 import gateway_service_pb2 as api

from .certificates import fill_certificate
from .locations import proto_text

if TYPE_CHECKING:  # the TLS modules are imported only by a gateway that serves TLS
    from gateway.tls.server import TlsPeer

EVENT_KINDS: Final[dict[EventKind, api.EventKind.ValueType]] = {
    EventKind.CONNECTED: api.EVENT_KIND_CONNECTED,
    EventKind.REGISTERED: api.EVENT_KIND_REGISTERED,
    EventKind.AUTHENTICATED: api.EVENT_KIND_AUTHENTICATED,
    EventKind.LOGGED_OUT: api.EVENT_KIND_LOGGED_OUT,
    EventKind.DISCONNECTED: api.EVENT_KIND_DISCONNECTED,
    EventKind.TRANSPARENT_DATA: api.EVENT_KIND_TRANSPARENT_DATA,
    EventKind.MESSAGE: api.EVENT_KIND_MESSAGE,
}
KIND_OF_API: Final = {value: kind for kind, value in EVENT_KINDS.items()}


def timestamp(at: datetime) -> Timestamp:
    stamp = Timestamp()
    stamp.FromDatetime(at)
    return stamp


def session_message(gateway: Gateway, connection: TerminalConnection) -> api.Session:
    session = connection.session
    stats = session.stats
    now_wall, now = gateway.wall_clock(), gateway.clock()

    def wall(monotonic: float) -> Timestamp:
        return timestamp(now_wall - timedelta(seconds=max(0.0, now - monotonic)))

    message = api.Session(
        phone=connection.phone,
        device_name=proto_text(connection.device_name),
        protocol_version=int(session.version) if session.version is not None else 0,
        remote_address=connection.remote_address,
        connected_time=timestamp(connection.connected_wall),
        last_activity_time=wall(session.last_activity),
        bytes_received=stats.bytes_in,
        bytes_sent=stats.bytes_out,
        frames_received=stats.frames_in,
        frames_sent=stats.frames_out,
        frames_rejected=stats.rejected,
        messages_refused=stats.refused,
        pending_commands=len(session.pending_commands),
        node=gateway.sessions.node_id,
    )
    if connection.authenticated_wall is not None:
        message.authenticated_time.CopyFrom(timestamp(connection.authenticated_wall))
    return add_tls_fields(message, connection.tls_peer)


def add_tls_fields(message: api.Session, peer: TlsPeer | None) -> api.Session:
    """A TLS terminal's protocol version and (mutual TLS) certificate identity in its Session."""
    if peer is None:
        return message
    message.tls_version = peer.tls_version
    if peer.certificate is not None:
        fill_certificate(message.certificate, peer.certificate)
    return message


def event_message(event: TerminalEvent) -> api.Event:
    message = api.Event(
        kind=EVENT_KINDS[event.kind],
        phone=event.phone,
        device_name=proto_text(event.device_name),
        time=timestamp(event.at),
        remote_address=event.remote_address,
        reason=event.reason,
        sequence=event.sequence,
    )
    carried = event.message
    if carried is not None:
        message.msg_id = carried.header.msg_id
        message.serial = carried.header.serial
        try:
            message.body = encode_message_body(carried)
        except EncodeError:
            message.body = b""
        # ensure_ascii: lone surrogates (undecodable text bytes) become escapes, valid UTF-8.
        message.body_json = json.dumps(carried.body.to_json())
    return message
