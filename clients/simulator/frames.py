"""Uplink frames of one terminal from precomputed heads (the simulator's hottest write path).

Between two 0x0200 reports of one terminal only the serial, the body and the check code change:
the message id, the body properties, the 2019 version byte and the phone are the same.
``UplinkFrames`` keeps, per message id and body length, that head escaped and its XOR; a frame
is then the serial's two bytes, a few integer XORs and one concatenation. The bytes are those of
``encode_split`` for an unsplit, unencrypted message (the tests compare them).
"""

from __future__ import annotations

import struct
from typing import Final

from gateway.protocol.framing import checksum, escape
from gateway.protocol.header import LENGTH_MASK, VERSION_BIT, phone_bcd
from gateway.protocol.ids import MessageId
from gateway.protocol.versions import V2019, ProtocolVersion

_HEAD: Final = struct.Struct(">HH")
_SERIAL: Final = struct.Struct(">H")


class UplinkFrames:
    """Unsplit, unencrypted frames from ``phone`` in the header form of ``version``."""

    __slots__ = ("_heads", "_phone", "_prefix")

    def __init__(self, phone: str, version: ProtocolVersion, protocol_version: int = 0) -> None:
        self._phone = phone
        # After id and properties: the 2019 version byte (1 when none was set, as
        # encode_header writes it) and the phone's BCD.
        version_byte = bytes((protocol_version or 1,)) if version is V2019 else b""
        self._prefix = (version is V2019, version_byte + phone_bcd(phone, version))
        self._heads: dict[int, tuple[bytes, int]] = {}

    def frame(self, msg_id: int, serial: int, body: bytes, body_xor: int | None = None) -> bytes:
        """The escaped, delimited frame; ``body_xor`` is ``checksum(body)`` when known."""
        key = (msg_id << 16) | len(body)
        head = self._heads.get(key)
        if head is None:
            head = self._heads[key] = self._head(msg_id, len(body))
        escaped_head, head_xor = head
        if body_xor is None:
            body_xor = checksum(body)
        check = head_xor ^ (serial >> 8) ^ (serial & 0xFF) ^ body_xor
        tail = _SERIAL.pack(serial) + body + bytes((check,))
        if 0x7D in tail or 0x7E in tail:  # int membership: a bytes needle is much slower
            tail = escape(tail)
        return b"\x7e" + escaped_head + tail + b"\x7e"

    def _head(self, msg_id: int, body_length: int) -> tuple[bytes, int]:
        if body_length > LENGTH_MASK:
            raise ValueError(f"a body of {body_length} bytes needs sub-packaging")
        is_2019, rest = self._prefix
        properties = body_length | (VERSION_BIT if is_2019 else 0)
        head = _HEAD.pack(msg_id, properties) + rest
        return escape(head), checksum(head)


def general_response_head(phone: str, version: ProtocolVersion) -> bytes:
    """The header of a 0x8001 to ``phone`` before its serial (unescaped), as the gateway
    writes it: 5 body bytes, the 2019 version byte 1, the phone's BCD."""
    if version is V2019:
        prefix = _HEAD.pack(MessageId.PLATFORM_GENERAL_RESPONSE, 5 | VERSION_BIT) + b"\x01"
    else:
        prefix = _HEAD.pack(MessageId.PLATFORM_GENERAL_RESPONSE, 5)
    return prefix + phone_bcd(phone, version)


__all__ = ["UplinkFrames", "general_response_head"]
