"""General responses, heartbeat, logout, server time and retransmission requests.

JT/T 808-2019 §8.1-§8.7 (tables 4-7).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Annotated

from ..body import Body, register
from ..ids import MessageId
from ..versions import V2013, V2019
from ..wire import BCD_TIME_UTC, U8, U16, Byte, ListOf, Wire, Word


@register(MessageId.TERMINAL_GENERAL_RESPONSE)
@dataclass(slots=True, kw_only=True)
class TerminalGeneralResponse(Body):
    """0x0001: the terminal acknowledges a platform message (result 0 ok, 1 failure, 2 message
    error, 3 unsupported)."""

    reply_serial: Word
    reply_id: Word
    result: Byte


@register(MessageId.PLATFORM_GENERAL_RESPONSE)
@dataclass(slots=True, kw_only=True)
class PlatformGeneralResponse(Body):
    """0x8001: the platform acknowledges a terminal message (adds 4, alarm confirmed, in 2013)."""

    reply_serial: Word
    reply_id: Word
    result: Byte


@register(MessageId.HEARTBEAT)
@dataclass(slots=True, kw_only=True)
class Heartbeat(Body):
    """0x0002: keep-alive, empty body. Answered with 0x8001."""


@register(MessageId.TERMINAL_LOGOUT)
@dataclass(slots=True, kw_only=True)
class TerminalLogout(Body):
    """0x0003: the terminal unregisters (its auth code is revoked). Answered with 0x8001."""


@register(MessageId.QUERY_SERVER_TIME, since=V2019)
@dataclass(slots=True, kw_only=True)
class QueryServerTime(Body):
    """0x0004 (2019): the terminal asks for the platform's time. Answered with 0x8004."""


@register(MessageId.SERVER_TIME_RESPONSE, since=V2019)
@dataclass(slots=True, kw_only=True)
class ServerTimeResponse(Body):
    """0x8004 (2019): the platform's time, BCD YYMMDDhhmmss in UTC (the one UTC time in 808)."""

    time: Annotated[datetime | None, BCD_TIME_UTC]


# The retransmission count is a BYTE in 2013 and a WORD in 2019 (standard tables 6 and 7; YZH
# and SC agree). 2011 does not define 0x8003; its 2013 form is used.
_PACKET_IDS = Wire(ListOf(U16, count=U8), v2019=ListOf(U16, count=U16))


@register(MessageId.PLATFORM_RETRANSMIT_REQUEST, since=V2013)
@dataclass(slots=True, kw_only=True)
class PlatformRetransmitRequest(Body):
    """0x8003: the platform asks the terminal to resend packets of a sub-packaged message.

    ``original_serial`` is the serial of the first packet; ``packet_ids`` the missing indexes.
    """

    original_serial: Word
    packet_ids: Annotated[list[int], _PACKET_IDS]


@register(MessageId.TERMINAL_RETRANSMIT_REQUEST, since=V2019)
@dataclass(slots=True, kw_only=True)
class TerminalRetransmitRequest(Body):
    """0x0005 (2019): the terminal asks the platform to resend packets (layout of 2019 0x8003)."""

    original_serial: Word
    packet_ids: Annotated[list[int], _PACKET_IDS]
