"""0x8001 platform general responses from a per-terminal template (the hottest write path).

Every report a terminal sends is answered with a 0x8001, and for one terminal only four fields
change between two of them: the platform serial, the reply serial, the reply id and the result.
``GeneralResponseTemplate`` encodes the constant part once (header id, properties, 2019 version
byte, phone) together with its escaped form and its XOR; a response is then one ``struct.pack``,
a few integer XORs and one concatenation. The bytes are identical to
``encode(Header(0x8001, ...), PlatformGeneralResponse(...))`` (the tests compare them).
"""

from __future__ import annotations

import struct
from typing import Final

from .framing import checksum, escape
from .header import VERSION_BIT, phone_bcd
from .ids import MessageId
from .versions import V2019, ProtocolVersion

#: reply serial WORD | reply id WORD | result BYTE (JT/T 808-2019 §8.2).
BODY_LENGTH: Final = 5
#: platform serial | reply serial | reply id | result | check code.
_TAIL: Final = struct.Struct(">HHHBB")
_HEAD: Final = struct.Struct(">HH")


class GeneralResponseTemplate:
    """0x8001 frames addressed to ``phone`` in the header form of ``version``."""

    __slots__ = ("_head", "_head_xor", "phone", "protocol_version", "version")

    def __init__(self, phone: str, version: ProtocolVersion, protocol_version: int = 0) -> None:
        self.phone = phone
        self.version = version
        self.protocol_version = protocol_version
        properties = BODY_LENGTH
        head = b""
        if version is V2019:
            properties |= VERSION_BIT
            # As encode_header: the 2019 version byte is 1 when the terminal sent none.
            head = bytes((protocol_version or 1,))
        head = _HEAD.pack(MessageId.PLATFORM_GENERAL_RESPONSE, properties) + head
        head += phone_bcd(phone, version)
        self._head_xor = checksum(head)
        self._head = b"\x7e" + escape(head)

    def matches(self, phone: str, version: ProtocolVersion, protocol_version: int) -> bool:
        return (
            phone == self.phone
            and version is self.version
            and protocol_version == self.protocol_version
        )

    def frame(self, serial: int, reply_serial: int, reply_id: int, result: int) -> bytes:
        """The escaped, delimited 0x8001 frame."""
        words = serial ^ reply_serial ^ reply_id
        check = self._head_xor ^ (words >> 8) ^ (words & 0xFF) ^ result
        tail = _TAIL.pack(serial, reply_serial, reply_id, result, check)
        if 0x7D in tail or 0x7E in tail:  # int membership: a bytes needle is much slower
            tail = escape(tail)
        return self._head + tail + b"\x7e"
