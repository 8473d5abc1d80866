"""Which message answers which (JT/T 808-2019 §6.1 and the message clauses; reference §6.3).

Data only: the session state machine and the command tracker read these tables, so the rules
live in one place.
"""

from __future__ import annotations

from collections.abc import Mapping
from enum import Enum
from typing import Final

from .ids import MessageId as M
from .versions import V2011, ProtocolVersion


class UplinkReply(Enum):
    """How the platform answers a terminal-originated message."""

    GENERAL = "general"  # 0x8001 with the message's serial and id
    REGISTRATION = "registration"  # 0x8100, after the auth backend decided
    AUTHENTICATION = "authentication"  # 0x8001, after the auth backend decided
    SERVER_TIME = "server_time"  # 0x8004
    RESEND = "resend"  # 0x0005: resend the named packets of our own split message
    MULTIMEDIA = "multimedia"  # 0x0801: 0x8800 once the whole upload is in
    NONE = "none"  # the message is itself a reply (0x0001, 0x0104, 0x0201, ...)


#: Terminal messages that are replies to platform commands: they are matched to the command
#: and not answered themselves.
REPLIES_TO_COMMANDS: Final = frozenset(
    {
        M.TERMINAL_GENERAL_RESPONSE,
        M.QUERY_PARAMETERS_RESPONSE,
        M.QUERY_ATTRIBUTES_RESPONSE,
        M.QUERY_LOCATION_RESPONSE,
        M.QUESTION_ANSWER,
        M.VEHICLE_CONTROL_RESPONSE,
        M.QUERY_AREAS_RESPONSE,
        M.TACHOGRAPH_UPLOAD,
        M.SEARCH_MEDIA_RESPONSE,
        M.TAKE_PHOTO_RESPONSE,
        M.TERMINAL_RSA_KEY,
    }
)

_SPECIAL_UPLINK: Final[Mapping[int, UplinkReply]] = {
    M.TERMINAL_REGISTER: UplinkReply.REGISTRATION,
    M.TERMINAL_AUTHENTICATE: UplinkReply.AUTHENTICATION,
    M.QUERY_SERVER_TIME: UplinkReply.SERVER_TIME,
    M.TERMINAL_RETRANSMIT_REQUEST: UplinkReply.RESEND,
    M.MULTIMEDIA_DATA: UplinkReply.MULTIMEDIA,
}


def uplink_reply(msg_id: int) -> UplinkReply:
    """How to answer terminal message ``msg_id``.

    Every terminal-originated message needs an answer (2019 §6.1.1); those without a dedicated
    one get 0x8001. 0x0702 is both a reply (to 0x8702) and spontaneous (card inserted); it is
    matched to a pending 0x8702 when there is one and acknowledged with 0x8001 otherwise.
    """
    special = _SPECIAL_UPLINK.get(msg_id)
    if special is not None:
        return special
    if msg_id in REPLIES_TO_COMMANDS:
        return UplinkReply.NONE
    return UplinkReply.GENERAL


#: Messages a terminal may send before it has authenticated (everything else is refused).
ALLOWED_BEFORE_AUTHENTICATION: Final = frozenset(
    {M.TERMINAL_REGISTER, M.TERMINAL_AUTHENTICATE, M.TERMINAL_LOGOUT, M.HEARTBEAT}
)


#: Dedicated reply of each platform command; a command not listed is answered with 0x0001.
_COMMAND_REPLY: Final[Mapping[int, int]] = {
    M.QUERY_ALL_PARAMETERS: M.QUERY_PARAMETERS_RESPONSE,
    M.QUERY_PARAMETERS: M.QUERY_PARAMETERS_RESPONSE,
    M.QUERY_ATTRIBUTES: M.QUERY_ATTRIBUTES_RESPONSE,
    M.QUERY_LOCATION: M.QUERY_LOCATION_RESPONSE,
    M.QUESTION: M.QUESTION_ANSWER,
    M.VEHICLE_CONTROL: M.VEHICLE_CONTROL_RESPONSE,
    M.QUERY_AREAS: M.QUERY_AREAS_RESPONSE,
    M.TACHOGRAPH_COLLECT: M.TACHOGRAPH_UPLOAD,
    M.REQUEST_DRIVER_IDENTITY: M.DRIVER_IDENTITY,
    M.TAKE_PHOTO: M.TAKE_PHOTO_RESPONSE,
    M.SEARCH_MEDIA: M.SEARCH_MEDIA_RESPONSE,
    M.PLATFORM_RSA_KEY: M.TERMINAL_RSA_KEY,
}

#: Commands the terminal first acknowledges with 0x0001 and later answers for real: 0x8500 gets
#: 0x0001 at once and 0x0500 after acting on the vehicle (2019 §7.6); 0x8801 may be acknowledged
#: before the photo result 0x0805 (reference §9 item 11). 0x8302 likewise before 0x0302.
ACKNOWLEDGED_FIRST: Final = frozenset({M.VEHICLE_CONTROL, M.TAKE_PHOTO, M.QUESTION})

#: Replies whose body carries no reply serial: they answer the oldest pending command they fit.
REPLIES_WITHOUT_SERIAL: Final = frozenset(
    {M.QUERY_ATTRIBUTES_RESPONSE, M.DRIVER_IDENTITY, M.QUERY_AREAS_RESPONSE, M.TERMINAL_RSA_KEY}
)


def command_reply(msg_id: int, version: ProtocolVersion) -> int:
    """The message id that finally answers platform command ``msg_id`` in ``version``.

    2011 has no 0x0805, so a 2011 terminal answers 0x8801 with 0x0001.
    """
    if msg_id == M.TAKE_PHOTO and version is V2011:
        return M.TERMINAL_GENERAL_RESPONSE
    return _COMMAND_REPLY.get(msg_id, M.TERMINAL_GENERAL_RESPONSE)
