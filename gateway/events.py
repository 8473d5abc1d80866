"""What the event hub carries: positions and session events of terminals, and gap markers.

A module of its own so that it can be compiled with the protocol core (``gateway.native``):
one ``LocationReported`` is made for every report, read by every stream, so its construction
and its attributes should cost what a C struct costs. The ``__init__``s are written out for
that reason (a dataclass-generated one would run interpreted); the dataclass still gives
equality and repr.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from enum import StrEnum

from .protocol.bodies.location import LocationReport
from .protocol.message import Message


class EventKind(StrEnum):
    CONNECTED = "connected"
    REGISTERED = "registered"
    AUTHENTICATED = "authenticated"
    LOGGED_OUT = "logged_out"
    DISCONNECTED = "disconnected"
    TRANSPARENT_DATA = "transparent_data"  # 0x0900
    MESSAGE = "message"  # any other uplink message of an authenticated terminal


@dataclass(slots=True, init=False)
class LocationReported:
    """A position from 0x0200, 0x0201, 0x0500 or an item of 0x0704.

    ``batch_type`` is the 0x0704 type (0 normal batch, 1 blind-area re-send) or ``None``.
    ``received_at`` is when the gateway received the message (UTC). ``sequence`` is given once,
    by ``EventHub.publish``; treat the event as read-only after that (subscribers share it).
    """

    phone: str
    device_name: str
    location: LocationReport
    msg_id: int
    serial: int
    batch_type: int | None
    received_at: datetime
    sequence: int = 0
    #: The API's serialized form of this location, made by the first stream that sends it and
    #: reused by every other subscriber (opaque bytes to the data plane).
    encoded: bytes | None = None

    def __init__(  # noqa: PLR0917 - the dataclass's positional order
        self,
        phone: str,
        device_name: str,
        location: LocationReport,
        msg_id: int,
        serial: int,
        batch_type: int | None,
        received_at: datetime,
        sequence: int = 0,
        encoded: bytes | None = None,
    ) -> None:
        self.phone = phone
        self.device_name = device_name
        self.location = location
        self.msg_id = msg_id
        self.serial = serial
        self.batch_type = batch_type
        self.received_at = received_at
        self.sequence = sequence
        self.encoded = encoded


@dataclass(slots=True, init=False)
class TerminalEvent:
    """Something that happened to a terminal's session (``reason`` for disconnections).

    Read-only once published, like ``LocationReported``."""

    kind: EventKind
    phone: str
    device_name: str
    at: datetime
    remote_address: str = ""
    reason: str = ""
    message: Message | None = None
    sequence: int = 0

    def __init__(  # noqa: PLR0917 - the dataclass's positional order
        self,
        kind: EventKind,
        phone: str,
        device_name: str,
        at: datetime,
        remote_address: str = "",
        reason: str = "",
        message: Message | None = None,
        sequence: int = 0,
    ) -> None:
        self.kind = kind
        self.phone = phone
        self.device_name = device_name
        self.at = at
        self.remote_address = remote_address
        self.reason = reason
        self.message = message
        self.sequence = sequence


@dataclass(frozen=True, slots=True)
class Gap:
    """``dropped`` events were lost here because the subscriber did not keep up."""

    dropped: int


HubEvent = LocationReported | TerminalEvent
