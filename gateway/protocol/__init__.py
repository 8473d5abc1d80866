"""The sans-I/O JT/T 808 protocol core.

Nothing in this package performs I/O or reads a clock: bytes and times come in as arguments,
bytes and events go out as return values. The server, the simulator and ``jt808 decode`` all sit
on top of it.
"""

from __future__ import annotations

from . import bodies as bodies
from .body import Body, Fragment, RawBody, body_class, decode_body, known_ids
from .errors import (
    BodyError,
    ChecksumError,
    EncodeError,
    FrameTooLargeError,
    FramingError,
    GarbageError,
    HeaderError,
    ProtocolError,
    ResultCode,
    TruncatedBodyError,
    UnsupportedMessageError,
)
from .framing import NEED_DATA, FrameDecoder, checksum, encode_frame, escape, unescape
from .header import Header, PacketInfo, decode_header, encode_header
from .ids import MessageId, message_name
from .message import Message, decode_frame, decode_packet, encode, encode_body, encode_message
from .versions import V2011, V2013, V2019, ProtocolVersion

__all__ = [
    "NEED_DATA",
    "V2011",
    "V2013",
    "V2019",
    "Body",
    "BodyError",
    "ChecksumError",
    "EncodeError",
    "Fragment",
    "FrameDecoder",
    "FrameTooLargeError",
    "FramingError",
    "GarbageError",
    "Header",
    "HeaderError",
    "Message",
    "MessageId",
    "PacketInfo",
    "ProtocolError",
    "ProtocolVersion",
    "RawBody",
    "ResultCode",
    "TruncatedBodyError",
    "UnsupportedMessageError",
    "bodies",
    "body_class",
    "checksum",
    "decode_body",
    "decode_frame",
    "decode_header",
    "decode_packet",
    "encode",
    "encode_body",
    "encode_frame",
    "encode_header",
    "encode_message",
    "escape",
    "known_ids",
    "message_name",
    "unescape",
]
