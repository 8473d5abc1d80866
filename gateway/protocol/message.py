"""Whole messages: a header and a typed body, from and to wire bytes."""

from __future__ import annotations

from dataclasses import dataclass

from .body import _DECODERS, Body, Fragment, RawBody
from .errors import BodyError, ChecksumError, ProtocolError
from .framing import checksum, encode_frame, split_frame
from .header import RSA_ENCRYPTION, Header, decode_header, encode_header
from .ids import message_name
from .versions import ProtocolVersion
from .wire import JSON, Writer, to_json


@dataclass(slots=True, init=False)
class Message:
    """A decoded (or to-be-encoded) message.

    ``trailing`` holds bytes a terminal sent after the body's declared layout: they are kept so
    that nothing is lost, and written back when the message is encoded again.
    """

    header: Header
    body: Body
    trailing: bytes = b""

    # Written out, as Header's: one message is made per frame.
    def __init__(self, header: Header, body: Body, trailing: bytes = b"") -> None:
        self.header = header
        self.body = body
        self.trailing = trailing

    @property
    def msg_id(self) -> int:
        return self.header.msg_id

    def to_json(self) -> dict[str, JSON]:
        header = self.header
        view: dict[str, JSON] = {
            "header": {
                "msg_id": header.msg_id,
                "msg_name": message_name(header.msg_id),
                "version": int(header.version),
                "phone": header.phone,
                "serial": header.serial,
                "encryption": header.encryption,
                "packet": None
                if header.packet is None
                else {"total": header.packet.total, "index": header.packet.index},
            },
            "body": to_json(self.body),
        }
        if self.trailing:
            view["trailing"] = self.trailing.hex()
        return view


def decode_packet(
    packet: bytes,
    *,
    version_hint: ProtocolVersion | None = None,
    verify_checksum: bool = True,
) -> Message:
    """Decode an unescaped packet (header + body + check code) into a ``Message``.

    Raises ``ChecksumError``, ``HeaderError`` or ``BodyError``; body errors carry the header so
    a server can answer the right serial, and an offset into the packet. A packet of a
    sub-packaged message gets a ``Fragment`` body; an unknown id or an encrypted body a
    ``RawBody``.
    """
    header, start = decode_header(packet, version_hint)
    if verify_checksum and checksum(packet):
        raise ChecksumError(
            f"check code 0x{packet[-1]:02X} does not match 0x{checksum(packet[:-1]):02X}",
            offset=len(packet) - 1,
            header=header,
        )
    data = packet[start:-1]
    packet_info = header.packet
    if packet_info is not None and packet_info.total > 1:
        return Message(header, Fragment(data=data))
    if header.encryption & RSA_ENCRYPTION:
        return Message(header, RawBody(raw=data))
    decoder = _DECODERS.get(header.msg_id)
    if decoder is None:
        return Message(header, RawBody(raw=data))
    try:
        body, used = decoder(data, header.version)
    except ProtocolError as error:
        raise type(error)(
            f"0x{header.msg_id:04X} body: {error.message}",
            offset=None if error.offset is None else start + error.offset,
            header=header,
        ) from None
    return Message(header, body, data[used:] if used < len(data) else b"")


def decode_frame(
    wire: bytes,
    *,
    version_hint: ProtocolVersion | None = None,
    verify_checksum: bool = True,
) -> Message:
    """Decode one complete frame (escaped, with or without its 0x7E delimiters)."""
    if wire[:1] == b"\x7e" and wire[-1:] == b"\x7e" and len(wire) > 2:
        inner = wire[1:-1]
        if 0x7D not in inner and 0x7E not in inner:
            return decode_packet(inner, version_hint=version_hint, verify_checksum=verify_checksum)
    return decode_packet(
        split_frame(wire), version_hint=version_hint, verify_checksum=verify_checksum
    )


def encode_body(body: Body, version: ProtocolVersion) -> bytes:
    w = Writer(version)
    body.write(w)
    return bytes(w.out)


def encode_message_body(message: Message) -> bytes:
    """The body bytes of ``message`` in its revision, the trailing bytes it came with included
    (byte for byte what the terminal sent, for well-formed bodies and undecoded ids)."""
    return encode_body(message.body, message.header.version) + message.trailing


def encode_message(message: Message) -> bytes:
    """Wire bytes of one frame. Bodies over 1023 bytes need ``subpackage.encode_split``."""
    data = encode_message_body(message)
    return encode_frame(encode_header(message.header, len(data)) + data)


def encode(header: Header, body: Body) -> bytes:
    """Shorthand for ``encode_message(Message(header, body))``."""
    data = encode_body(body, header.version)
    return encode_frame(encode_header(header, len(data)) + data)


__all__ = [
    "BodyError",
    "Message",
    "decode_frame",
    "decode_packet",
    "encode",
    "encode_body",
    "encode_message",
    "encode_message_body",
]
