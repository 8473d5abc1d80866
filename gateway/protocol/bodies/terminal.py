"""Terminal control and attributes: 0x8105 control, 0x8107/0x0107 attributes, 0x8108 upgrade
package and 0x0108 upgrade result (JT/T 808-2019 §8.15-§8.20, tables 18-22).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from enum import IntEnum, IntFlag
from typing import Annotated, Final

from ..body import Body, register
from ..errors import EncodeError, shown
from ..ids import MessageId
from ..versions import V2011, V2013
from ..wire import (
    JSON,
    U8,
    U32,
    Bcd,
    Byte,
    Bytes,
    Codec,
    FixedText,
    Reader,
    Text,
    Wire,
    Word,
    Writer,
    decode_text,
    encode_text,
)

# --------------------------------------------------------------------------------------------
# 0x8105 terminal control.


class TerminalCommand(IntEnum):
    """Command word of 0x8105 (2013 table 17, 2019 table 18)."""

    WIRELESS_UPGRADE = 1  # 2011/2013; removed in 2019 (0x8108 replaces it)
    CONNECT_SERVER = 2
    POWER_OFF = 3  # 2011/2013
    RESET = 4
    FACTORY_RESET = 5
    CLOSE_DATA_COMMUNICATION = 6  # 2011/2013
    CLOSE_ALL_WIRELESS = 7  # 2011/2013


#: The order of the ';'-separated fields of the commands that take any (2013 table 18).
COMMAND_FIELDS: Final[dict[TerminalCommand, tuple[str, ...]]] = {
    TerminalCommand.WIRELESS_UPGRADE: (
        "url",
        "apn",
        "dial_user",
        "dial_password",
        "address",
        "tcp_port",
        "udp_port",
        "manufacturer_id",
        "hardware_version",
        "firmware_version",
        "time_limit_min",
    ),
    TerminalCommand.CONNECT_SERVER: (
        "connection_control",
        "auth_code",
        "apn",
        "dial_user",
        "dial_password",
        "address",
        "tcp_port",
        "udp_port",
        "time_limit_min",
    ),
}

_SEPARATOR: Final = b";"


class _CommandFields(Codec[list[str]]):
    """The parameter STRING of 0x8105 as its ';'-separated fields, to the end of the body.

    Each field is GBK text on its own, so splitting the bytes on 0x3B is exact (no GBK trail
    byte is 0x3B). No parameter bytes is no fields; an empty field is an empty string. Bytes
    that are not text (binary ports from a peer that follows the 2013 type table) are kept
    surrogate-escaped, so they are written back unchanged. A 2011 string ends with 0x00: one
    terminator is dropped in 2011 only.
    """

    def read(self, r: Reader) -> list[str]:
        raw = r.rest()
        if r.version is V2011 and raw.endswith(b"\x00"):
            raw = raw[:-1]
        if not raw:
            return []
        return [decode_text(part) for part in raw.split(_SEPARATOR)]

    def write(self, w: Writer, value: list[str]) -> None:
        parts = [encode_text(part) for part in value]
        if any(_SEPARATOR in part for part in parts):
            raise EncodeError(f"a 0x8105 field cannot contain ';': {shown(';'.join(value))}")
        if parts == [b""]:
            raise EncodeError("a single empty field cannot be told from no fields; pass []")
        w.out += _SEPARATOR.join(parts)


COMMAND_FIELDS_CODEC: Final[Codec[list[str]]] = _CommandFields()


@register(MessageId.TERMINAL_CONTROL)
@dataclass(slots=True, kw_only=True)
class TerminalControl(Body):
    """0x8105: command the terminal (``command``, see ``TerminalCommand``) with ``fields``.

    The 2011/2013 type table gives some fields binary types (ports as WORD, control as BYTE)
    inside the ';'-separated STRING, while 2019 drops it and devices commonly send digits: every
    field is read and written as text in every revision (⚠ reference §3.15); a binary field
    from a peer still round-trips byte for byte. Answered with 0x0001.
    """

    command: Byte
    fields: Annotated[list[str], COMMAND_FIELDS_CODEC] = field(default_factory=list)

    @property
    def command_type(self) -> TerminalCommand | None:
        """The command as a ``TerminalCommand``, ``None`` for a value the standard lacks."""
        try:
            return TerminalCommand(self.command)
        except ValueError:
            return None

    @property
    def named_fields(self) -> dict[str, str]:
        """The fields by their standard name (commands 1 and 2); fields past the list are left
        out, fields the terminal did not send are absent."""
        command = self.command_type
        names = COMMAND_FIELDS.get(command) if command is not None else None
        if names is None:
            return {}
        return dict(zip(names, self.fields, strict=False))

    def to_json(self) -> dict[str, JSON]:
        view: dict[str, JSON] = {"command": self.command, "fields": list(self.fields)}
        named = self.named_fields
        if named:
            view["named_fields"] = dict(named)
        return view


@register(MessageId.QUERY_ATTRIBUTES, since=V2013)
@dataclass(slots=True, kw_only=True)
class QueryAttributes(Body):
    """0x8107 (2013+): ask for the terminal's attributes. Empty body; answered with 0x0107."""


# --------------------------------------------------------------------------------------------
# Manufacturer id of 2019: 5 bytes by the standard, 11 in the field.

#: Says whether the rest of the body fits exactly when the manufacturer id starting at ``pos``
#: is ``width`` bytes long.
_Fits = Callable[[bytes, int, int, int], bool]


class _ManufacturerId(Codec[str]):
    """A 2019 manufacturer id: 5 bytes (the standard) or 11 (many devices and SmallChi/JT808).

    Read: the first width for which the rest of the body has exactly its declared length, else
    the standard's 5 (then the body is short or long like any other malformed body). Written:
    5 bytes when the text fits in 5, else 11.
    """

    def __init__(self, fits: _Fits, widths: tuple[int, ...] = (5, 11)) -> None:
        self.fits = fits
        self.widths = widths
        self._text = {width: FixedText(width) for width in widths}

    def width_at(self, r: Reader) -> int:
        for width in self.widths:
            if self.fits(r.data, r.pos, r.end, width):
                return width
        return self.widths[0]

    def read(self, r: Reader) -> str:
        return self._text[self.width_at(r)].read(r)

    def write(self, w: Writer, value: str) -> None:
        size = len(encode_text(value))
        for width in self.widths:
            if size <= width:
                self._text[width].write(w, value)
                return
        raise EncodeError(f"{shown(value)} is {size} bytes, longer than {self.widths[-1]}")

    def describe(self) -> str:
        return "BYTE[5] or BYTE[11] text"


_ATTRIBUTES_FIXED_2019: Final = 30 + 30 + 10  # model, terminal id, ICCID


def _attributes_fit(data: bytes, pos: int, end: int, width: int) -> bool:
    """0x0107 (2019): manufacturer, model 30, terminal id 30, ICCID 10, hw n+BYTE, fw m+BYTE,
    GNSS BYTE, comms BYTE end the body exactly."""
    at = pos + width + _ATTRIBUTES_FIXED_2019
    if at >= end:
        return False
    at += 1 + data[at]  # hardware version
    if at >= end:
        return False
    at += 1 + data[at]  # firmware version
    return at + 2 == end


def _upgrade_fits(data: bytes, pos: int, end: int, width: int) -> bool:
    """0x8108 (2019): manufacturer, version n+BYTE, package L+DWORD end the body exactly."""
    at = pos + width
    if at >= end:
        return False
    at += 1 + data[at]  # version
    if at + 4 > end:
        return False
    return at + 4 + int.from_bytes(data[at : at + 4], "big") == end


ATTRIBUTES_MANUFACTURER_2019: Final = _ManufacturerId(_attributes_fit)
UPGRADE_MANUFACTURER_2019: Final = _ManufacturerId(_upgrade_fits)


# --------------------------------------------------------------------------------------------
# 0x0107 terminal attributes.


class TerminalType(IntFlag):
    """Terminal type bits of 0x0107 (2019 table 20)."""

    PASSENGER = 1 << 0
    DANGEROUS_GOODS = 1 << 1
    GENERAL_FREIGHT = 1 << 2
    TAXI = 1 << 3
    HDD_VIDEO = 1 << 6  # 0 SD card video
    SPLIT_UNIT = 1 << 7  # 0 all-in-one
    TRAILER = 1 << 8  # 2019


class GnssModule(IntFlag):
    GPS = 1 << 0
    BEIDOU = 1 << 1
    GLONASS = 1 << 2
    GALILEO = 1 << 3


class CommunicationModule(IntFlag):
    GPRS = 1 << 0
    CDMA = 1 << 1
    TD_SCDMA = 1 << 2
    WCDMA = 1 << 3
    CDMA2000 = 1 << 4
    TD_LTE = 1 << 5
    OTHER = 1 << 7


@register(MessageId.QUERY_ATTRIBUTES_RESPONSE, since=V2013)
@dataclass(slots=True, kw_only=True)
class QueryAttributesResponse(Body):
    """0x0107 (2013+): the terminal's type, identity, SIM and versions.

    Widths: manufacturer 5, model 20/30 (2013/2019), terminal id 7/30. 2019 says 5 bytes of
    manufacturer but devices send 5 or 11 (⚠ reference §3.17): the width that makes the body
    end exactly wins, 5 first; when neither does, the standard's 5 is read, so a long body keeps
    its extra bytes as the message's trailing bytes and a short one is truncated. Not in 2011
    (read there with the 2013 layout).
    """

    terminal_type: Word
    manufacturer_id: Annotated[str, Wire(FixedText(5), v2019=ATTRIBUTES_MANUFACTURER_2019)]
    terminal_model: Annotated[str, Wire(FixedText(20), v2019=FixedText(30))]
    terminal_id: Annotated[str, Wire(FixedText(7), v2019=FixedText(30))]
    iccid: Annotated[str, Bcd(10)]
    hardware_version: Annotated[str, Text(prefix=U8)]
    firmware_version: Annotated[str, Text(prefix=U8)]
    gnss_attributes: Byte
    communication_attributes: Byte

    @property
    def terminal_types(self) -> TerminalType:
        return TerminalType(self.terminal_type)

    @property
    def gnss_modules(self) -> GnssModule:
        return GnssModule(self.gnss_attributes)

    @property
    def communication_modules(self) -> CommunicationModule:
        return CommunicationModule(self.communication_attributes)


# --------------------------------------------------------------------------------------------
# 0x8108 / 0x0108 upgrade.


class UpgradeType(IntEnum):
    TERMINAL = 0
    IC_CARD_READER = 0x0C  # road-transport certificate IC-card reader
    GNSS_MODULE = 0x34  # BeiDou / GNSS positioning module


class UpgradeResultCode(IntEnum):
    SUCCESS = 0
    FAILURE = 1
    CANCELLED = 2


@register(MessageId.UPGRADE_PACKAGE, since=V2013)
@dataclass(slots=True, kw_only=True)
class UpgradePackage(Body):
    """0x8108 (2013+): deliver an upgrade package (usually sub-packaged). Answered with 0x0001,
    the outcome later with 0x0108.

    The manufacturer id is 5 bytes in every revision as the standard says (⚠ reference §3.18).
    In 2019 a body built with 11 (SmallChi/JT808 does) is also read, told apart by length like
    0x0107, and an id longer than 5 bytes is written as 11 rather than refused.
    """

    upgrade_type: Byte
    manufacturer_id: Annotated[str, Wire(FixedText(5), v2019=UPGRADE_MANUFACTURER_2019)]
    version: Annotated[str, Text(prefix=U8)]
    package: Annotated[bytes, Bytes(prefix=U32)]


@register(MessageId.UPGRADE_RESULT, since=V2013)
@dataclass(slots=True, kw_only=True)
class UpgradeResult(Body):
    """0x0108 (2013+): outcome of an upgrade (``UpgradeResultCode``: 0 success, 1 failure,
    2 cancelled). Answered with 0x8001."""

    upgrade_type: Byte
    result: Byte


__all__ = [
    "ATTRIBUTES_MANUFACTURER_2019",
    "COMMAND_FIELDS",
    "COMMAND_FIELDS_CODEC",
    "UPGRADE_MANUFACTURER_2019",
    "CommunicationModule",
    "GnssModule",
    "QueryAttributes",
    "QueryAttributesResponse",
    "TerminalCommand",
    "TerminalControl",
    "TerminalType",
    "UpgradePackage",
    "UpgradeResult",
    "UpgradeResultCode",
    "UpgradeType",
]
