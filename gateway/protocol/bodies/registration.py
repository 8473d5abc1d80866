"""Registration and authentication: 0x0100, 0x8100, 0x0102 (JT/T 808-2019 §8.8-§8.10)."""

from __future__ import annotations

from dataclasses import dataclass
from enum import IntEnum
from typing import Annotated

from ..body import Body, register
from ..ids import MessageId
from ..wire import U8, Byte, FixedText, Text, Wire, Word


class RegisterResult(IntEnum):
    """Result of 0x8100 (2019 table 9)."""

    SUCCESS = 0
    VEHICLE_ALREADY_REGISTERED = 1
    VEHICLE_NOT_FOUND = 2
    TERMINAL_ALREADY_REGISTERED = 3
    TERMINAL_NOT_FOUND = 4


@register(MessageId.TERMINAL_REGISTER)
@dataclass(slots=True, kw_only=True)
class TerminalRegister(Body):
    """0x0100: a terminal registers its identity and vehicle. Answered with 0x8100.

    Field widths differ by revision: manufacturer 5/5/11 bytes, model 8/20/30 (2011 pads it
    with spaces), terminal id 7/7/30. ``plate`` is the plate number, or the VIN when
    ``plate_color`` is 0. The revision itself is told by the header (see ``decode_header``).
    """

    province_id: Word
    city_id: Word
    manufacturer_id: Annotated[str, Wire(FixedText(5), v2019=FixedText(11))]
    terminal_model: Annotated[
        str,
        Wire(
            FixedText(20),
            v2011=FixedText(8, pad=b" ", strip_spaces=True),
            v2019=FixedText(30),
        ),
    ]
    terminal_id: Annotated[str, Wire(FixedText(7), v2019=FixedText(30))]
    plate_color: Byte
    plate: Annotated[str, Text()]


@register(MessageId.TERMINAL_REGISTER_RESPONSE)
@dataclass(slots=True, kw_only=True)
class TerminalRegisterResponse(Body):
    """0x8100: the answer to 0x0100; the auth code follows only on success (result 0)."""

    reply_serial: Word
    result: Byte
    auth_code: Annotated[str, Wire(Text(), when=lambda f: f["result"] == 0)] = ""


@register(MessageId.TERMINAL_AUTHENTICATE)
@dataclass(slots=True, kw_only=True)
class TerminalAuthenticate(Body):
    """0x0102: the terminal authenticates with the code from 0x8100. Answered with 0x8001.

    2011/2013: the whole body is the code (a 2011 device may append 0x00, which is dropped).
    2019: length-prefixed code, then the IMEI (15 bytes) and software version (20 bytes).
    """

    auth_code: Annotated[str, Wire(Text(), v2019=Text(prefix=U8))]
    imei: Annotated[str, Wire(FixedText(15), v2011=None, v2013=None)] = ""
    software_version: Annotated[str, Wire(FixedText(20), v2011=None, v2013=None)] = ""
