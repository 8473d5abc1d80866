"""Message header of all three revisions (JT/T 808-2019 §4.4.3, 2013 §4.4.3).

Layouts (offsets in the unescaped packet):

* 2011/2013: id WORD | properties WORD | phone BCD[6] | serial WORD | [total WORD | index WORD]
* 2019: id WORD | properties WORD | version BYTE | phone BCD[10] | serial WORD | [total | index]

Version detection lives here and nowhere else (see ``decode_header``).
"""

from __future__ import annotations

import struct
from dataclasses import dataclass
from typing import Final

from .errors import EncodeError, HeaderError, shown
from .versions import V2011, V2013, V2019, ProtocolVersion

LENGTH_MASK: Final = 0x03FF
ENCRYPTION_MASK: Final = 0x1C00
SUBPACKAGE_BIT: Final = 0x2000
VERSION_BIT: Final = 0x4000
RSA_ENCRYPTION: Final = 0b001  # the encryption field (bits 10-12) value for RSA

#: Header lengths: (2019 layout?, sub-packaged?) -> bytes before the body.
HEADER_LENGTH: Final = {(False, False): 12, (False, True): 16, (True, False): 17, (True, True): 21}

_HEADER_2013 = struct.Struct(">HH6sH")
_HEADER_2019 = struct.Struct(">HHB10sH")
_PACKET = struct.Struct(">HH")
_PHONE_DIGITS = {False: 12, True: 20}


@dataclass(frozen=True, slots=True)
class PacketInfo:
    """Sub-package item: this packet is number ``index`` (from 1) of ``total``."""

    total: int
    index: int


@dataclass(slots=True, init=False)
class Header:
    """A decoded message header.

    ``phone`` is every BCD digit as it is on the wire (12 digits, or 20 in 2019), leading zeros
    kept; a terminal that puts non-decimal nibbles there keeps them as hex letters.
    ``protocol_version`` is the 2019 version byte (1 for JT/T 808-2019), 0 for older revisions.
    """

    msg_id: int
    phone: str
    serial: int
    version: ProtocolVersion = V2013
    protocol_version: int = 0
    encryption: int = 0
    packet: PacketInfo | None = None

    # Written out (the dataclass keeps eq and repr): compiled, a dataclass-generated __init__
    # would run interpreted, and a header is made for every frame.
    def __init__(  # noqa: PLR0917 - the dataclass's own positional order
        self,
        msg_id: int,
        phone: str,
        serial: int,
        version: ProtocolVersion = V2013,
        protocol_version: int = 0,
        encryption: int = 0,
        packet: PacketInfo | None = None,
    ) -> None:
        self.msg_id = msg_id
        self.phone = phone
        self.serial = serial
        self.version = version
        self.protocol_version = protocol_version
        self.encryption = encryption
        self.packet = packet

    @property
    def length(self) -> int:
        """Bytes this header takes on the wire."""
        return HEADER_LENGTH[(self.version is V2019, self.packet is not None)]


#: A 2013 registration body is at least 37 bytes (empty plate); 2011 is 25 + plate. At exactly
#: 37 bytes both readings fit; we read 2013 there (see docs/decisions.md, "0x0100 length rule").
REGISTER_2013_MIN_BODY: Final = 37
_REGISTER = 0x0100


def decode_header(packet: bytes, version_hint: ProtocolVersion | None = None) -> tuple[Header, int]:
    """Parse the header of an unescaped packet (header + body + check code).

    Returns the header and the offset where the body starts. This is the one place that decides
    the revision:

    * Bit 14 of the properties selects the 2019 header. The frame must then satisfy
      ``header + body length + 1 == packet length``; when the flagged form fails that check and
      the other form passes, the other form is used (some devices set bit 14 and send a 2013
      header, reference §2.3). When neither passes it is a ``HeaderError``.
    * Unflagged headers are the same in 2011 and 2013. A 0x0100 registration tells them apart by
      body length; any other message takes ``version_hint`` (what the session learnt at
      registration) when that is 2011, else 2013.
    """
    size = len(packet)
    if size < 13:
        raise HeaderError(f"packet of {size} bytes is shorter than the smallest header (12 + 1)")
    fields = _HEADER_2013.unpack_from(packet)
    # Typed locals: compiled, the arithmetic below then runs on machine integers.
    msg_id: int = fields[0]
    properties: int = fields[1]
    phone: bytes = fields[2]
    serial: int = fields[3]
    body_length = properties & LENGTH_MASK
    has_packet = properties & SUBPACKAGE_BIT
    is_2019 = properties & VERSION_BIT
    header_length = (17 if is_2019 else 12) + (4 if has_packet else 0)
    if header_length + body_length + 1 != size:
        other_length = (12 if is_2019 else 17) + (4 if has_packet else 0)
        if other_length + body_length + 1 != size:
            raise HeaderError(
                f"body length field says {body_length} bytes, so the packet should be "
                f"{header_length + body_length + 1} bytes, but it is {size} bytes",
                offset=2,
            )
        is_2019 = not is_2019
        header_length = other_length
    protocol_version: int
    if is_2019:
        _, _, protocol_version, phone, serial = _HEADER_2019.unpack_from(packet)
        version = V2019
        after = 17
    else:
        protocol_version = 0
        if msg_id == _REGISTER:
            version = V2011 if body_length < REGISTER_2013_MIN_BODY else V2013
        else:
            version = V2011 if version_hint is V2011 else V2013
        after = 12
    packet_info = PacketInfo(*_PACKET.unpack_from(packet, after)) if has_packet else None
    encryption = (properties & ENCRYPTION_MASK) >> 10
    digits = _PHONE_DIGITS_MEMO.get(phone)
    if digits is None:
        if len(_PHONE_DIGITS_MEMO) >= _PHONE_MEMO_LIMIT:
            _PHONE_DIGITS_MEMO.clear()
        digits = _PHONE_DIGITS_MEMO[phone] = phone.hex()
    header = Header(msg_id, digits, serial, version, protocol_version, encryption, packet_info)
    return header, header_length


_HEX_DIGITS: Final = frozenset("0123456789abcdefABCDEF")
#: BCD bytes -> digits, for decoding (bounded like the encoding memo below).
_PHONE_DIGITS_MEMO: dict[bytes, str] = {}
_PHONE_MEMO: dict[tuple[str, bool], bytes] = {}
_PHONE_MEMO_LIMIT: Final = 65536


def phone_bcd(phone: str, version: ProtocolVersion) -> bytes:
    """The BCD bytes of a phone for a header of ``version`` (12 or 20 digits, left-padded 0).

    Memoised (bounded): a gateway writes to the same terminals over and over.
    """
    key = (phone, version is V2019)
    cached = _PHONE_MEMO.get(key)
    if cached is not None:
        return cached
    if len(_PHONE_MEMO) >= _PHONE_MEMO_LIMIT:
        _PHONE_MEMO.clear()
    cached = _PHONE_MEMO[key] = _phone_bcd(phone, version)
    return cached


def _phone_bcd(phone: str, version: ProtocolVersion) -> bytes:
    width = 20 if version is V2019 else 12
    digits = phone
    if len(digits) > width:
        extra = digits[: len(digits) - width]
        if extra.strip("0"):
            raise EncodeError(f"phone {shown(phone)} has more than {width} digits")
        digits = digits[len(digits) - width :]
    # bytes.fromhex skips spaces, so check the characters first: every nibble is kept as given
    # (real phones may hold non-decimal nibbles, which decoding keeps as hex letters).
    if not _HEX_DIGITS.issuperset(digits):
        raise EncodeError(f"phone {shown(phone)} is not BCD digits")
    return bytes.fromhex(digits.rjust(width, "0"))


def encode_header(header: Header, body_length: int) -> bytes:
    """Header bytes for a body of ``body_length`` bytes, in the form ``header.version`` expects."""
    if not 0 <= body_length <= LENGTH_MASK:
        raise EncodeError(f"body of {body_length} bytes needs sub-packaging (limit 1023)")
    if not 0 <= header.encryption <= 0b111:
        raise EncodeError(f"encryption {header.encryption} does not fit bits 10-12")
    is_2019 = header.version is V2019
    properties = body_length | (header.encryption << 10)
    if header.packet is not None:
        properties |= SUBPACKAGE_BIT
    if is_2019:
        properties |= VERSION_BIT
    phone = phone_bcd(header.phone, header.version)
    try:
        if is_2019:
            head = _HEADER_2019.pack(
                header.msg_id, properties, header.protocol_version or 1, phone, header.serial
            )
        else:
            head = _HEADER_2013.pack(header.msg_id, properties, phone, header.serial)
        if header.packet is not None:
            head += _PACKET.pack(header.packet.total, header.packet.index)
    except struct.error as error:
        raise EncodeError(f"header field out of range: {error}") from None
    return head


def phone_key(phone: str) -> str:
    """A phone compared without its leading zeros: 2019 pads to 20 BCD digits what 2013 sends
    as 12, and both are the same terminal."""
    return phone.lstrip("0") or "0"
