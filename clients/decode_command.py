"""``jt808 decode``: hex frames in, one JSON object (or a readable block) per frame out.

Input: frames as arguments, or one per line on stdin when there are none. A line may hold spaces,
commas or colons between bytes, ``0x`` prefixes, either case, and the 0x7E delimiters or not; a
line that holds several delimited frames back to back (a stream capture) gives one output per
frame. ``--unescaped`` takes packets whose 0x7D escaping was already removed (then a line is one
packet; a leading 0x7E and, with it, a trailing one are taken as delimiters).

Output: one JSON object per frame and line::

    {"header": {"msg_id", "msg_name", "version", "phone", "serial", "encryption", "packet"},
     "body": {...}, "checksum_ok": true}

A wrong check code does not stop decoding: the frame is decoded and ``checksum_ok`` is false. A
frame that cannot be decoded gives ``{"header": ..., "checksum_ok": ..., "error": {"code",
"type", "message", "offset"}}`` where ``code`` is the JT/T 808 result a server would answer
(``ProtocolError.result_code``), ``header`` what could be read (the full header, the fields the
bytes hold, or null) and ``offset`` the byte position of the problem: in the input bytes for
framing errors (bad escape, oversized frame), in the unescaped packet otherwise. Errors go to
stdout with the frames; stderr is only for usage errors.

Exit status: 0 when every frame decoded with a matching check code, 1 when any frame could not be
decoded or had a wrong check code (all frames are still decoded and printed), 2 for usage errors.

Revision: a 2019 header says so itself (bit 14, checked against the frame length), and an
unflagged 0x0100 is told 2011/2013 by its body length. For other unflagged frames ``--version``
is the hint; without it, the revision a 0x0100 of the same phone showed earlier in the input is
used (as a gateway session would), else 2013.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
from collections import OrderedDict
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from typing import Final, TextIO

from gateway.protocol.bodies.location import AlarmFlag, flag_names, status_names
from gateway.protocol.bodies.registration import RegisterResult
from gateway.protocol.body import RawBody
from gateway.protocol.errors import FramingError, ProtocolError, ResultCode
from gateway.protocol.framing import FrameDecoder, checksum
from gateway.protocol.header import (
    ENCRYPTION_MASK,
    HEADER_LENGTH,
    LENGTH_MASK,
    SUBPACKAGE_BIT,
    VERSION_BIT,
    Header,
)
from gateway.protocol.ids import MessageId, message_name
from gateway.protocol.message import Message, decode_packet
from gateway.protocol.versions import V2019, ProtocolVersion
from gateway.protocol.wire import JSON

EPILOG = """\
Each frame prints one JSON object on its own line: {"header", "body", "checksum_ok"}, or
{"header", "checksum_ok", "error": {"code", "type", "message", "offset"}} when it cannot be
decoded (code = the JT/T 808 result a server would answer). Exit status: 0 all frames decoded
with good check codes, 1 some frame failed or had a wrong check code, 2 usage error.
"""

EXIT_OK: Final = 0
EXIT_FRAME_FAILED: Final = 1

#: Longest input line read (characters). A full-size escaped frame is 2092 bytes, about 10 k
#: characters even as "0x7e, " tokens; this leaves room for many frames of a stream capture.
MAX_LINE_CHARS: Final = 1 << 20
#: How many phones' registration revisions are remembered (oldest forgotten first).
MAX_REMEMBERED_PHONES: Final = 4096

_SEPARATORS: Final = str.maketrans({",": " ", ":": " ", ";": " "})


class HexInputError(ProtocolError):
    """An input line is not hex (or has an odd number of digits)."""


class InternalDecoderError(ProtocolError):
    """A body decoder raised something other than a ``ProtocolError`` (a bug, reported as data)."""


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.epilog = EPILOG
    parser.formatter_class = argparse.RawDescriptionHelpFormatter
    parser.add_argument(
        "frames",
        nargs="*",
        metavar="HEX",
        help="frames as hex; without any, frames are read from stdin, one per line",
    )
    parser.add_argument(
        "--unescaped",
        action="store_true",
        help="the input is already unescaped (header + body + check code, 0x7D 01/02 undone)",
    )
    parser.add_argument(
        "--pretty",
        action="store_true",
        help="print a readable, indented view instead of JSON lines",
    )
    parser.add_argument(
        "--version",
        type=int,
        choices=[int(v) for v in ProtocolVersion],
        default=None,
        help="revision hint for frames whose header does not say (unflagged, other than 0x0100)",
    )


def run(args: argparse.Namespace) -> int:
    decoder = CaptureDecoder(
        unescaped=args.unescaped,
        version=None if args.version is None else ProtocolVersion(args.version),
    )
    lines: Iterable[str | None] = args.frames if args.frames else _stdin_lines(sys.stdin)
    out = sys.stdout
    status = EXIT_OK
    number = 0
    try:
        for line in lines:
            for report in decoder.decode_line(line):
                number += 1
                if report.failed:
                    status = EXIT_FRAME_FAILED
                text = render_pretty(report, number) if args.pretty else render_json(report, out)
                _write(out, text)
    except BrokenPipeError:
        # The reader went away (``| head``): stop quietly, without a traceback at exit.
        _silence_stdout()
        return EXIT_FRAME_FAILED
    return status


# --------------------------------------------------------------------------------------------
# Decoding


@dataclass(slots=True)
class FrameReport:
    """What one input frame gave: the JSON view, plus the bytes for the readable view."""

    view: dict[str, JSON]
    packet: bytes | None = None
    header: Header | None = None
    body_start: int | None = None

    @property
    def failed(self) -> bool:
        return "error" in self.view or self.view.get("checksum_ok") is False


class CaptureDecoder:
    """Turns input lines into ``FrameReport`` values; never raises on bad input."""

    def __init__(self, *, unescaped: bool = False, version: ProtocolVersion | None = None) -> None:
        self.unescaped = unescaped
        self.version = version
        self._registered: OrderedDict[str, ProtocolVersion] = OrderedDict()

    def decode_line(self, line: str | None) -> list[FrameReport]:
        """Every frame of one input line; an empty line gives none, ``None`` (a line too long to
        read) an error."""
        if line is None:
            error = HexInputError(f"line longer than {MAX_LINE_CHARS} characters; skipped")
            return [FrameReport(_error_view(None, None, error))]
        if not line.strip():
            return []
        try:
            data = parse_hex(line)
        except HexInputError as error:
            return [FrameReport(_error_view(None, None, error))]
        if self.unescaped:
            return [self.decode_packet(strip_delimiters(data))]
        return self._decode_escaped(data)

    def _decode_escaped(self, data: bytes) -> list[FrameReport]:
        if not data.strip(b"\x7e"):
            error = FramingError("no frame: only 0x7E delimiters", offset=0)
            return [FrameReport(_error_view(None, None, error))]
        frames = FrameDecoder()
        # One delimiter on each side: a line with or without its own delimiters reads the same
        # (back-to-back delimiters are empty frames, which the splitter ignores).
        frames.receive_data(b"\x7e" + data + b"\x7e")
        reports: list[FrameReport] = []
        while True:
            event = frames.next_event()
            if isinstance(event, bytes):
                reports.append(self.decode_packet(event))
            elif isinstance(event, FramingError):
                if event.offset is not None:
                    event.offset -= 1  # the delimiter added in front is not in the input
                reports.append(FrameReport(_error_view(None, None, event)))
            else:
                return reports

    def decode_packet(self, packet: bytes) -> FrameReport:
        """Decode one unescaped packet (header + body + check code)."""
        checksum_ok = checksum(packet) == 0
        try:
            message = decode_packet(packet, version_hint=self._hint(packet), verify_checksum=False)
            view = message.to_json()
        except ProtocolError as error:
            return FrameReport(
                _error_view(packet, error.header, error, checksum_ok),
                packet,
                error.header,
                None if error.header is None else error.header.length,
            )
        except Exception as error:  # a decoder bug must not stop the capture
            bug = InternalDecoderError(f"decoder failed: {type(error).__name__}: {error}")
            return FrameReport(_error_view(packet, None, bug, checksum_ok), packet)
        view["checksum_ok"] = checksum_ok
        self._learn(message)
        return FrameReport(view, packet, message.header, message.header.length)

    def _hint(self, packet: bytes) -> ProtocolVersion | None:
        if self.version is not None:
            return self.version
        return self._registered.get(packet[4:10].hex()) if len(packet) >= 10 else None

    def _learn(self, message: Message) -> None:
        header = message.header
        if self.version is None and header.msg_id == MessageId.TERMINAL_REGISTER:
            if header.version is V2019:
                return
            self._registered[header.phone] = header.version
            self._registered.move_to_end(header.phone)
            while len(self._registered) > MAX_REMEMBERED_PHONES:
                self._registered.popitem(last=False)


def parse_hex(text: str) -> bytes:
    """Bytes of a hex line: whitespace, commas, colons and ``0x`` prefixes are allowed."""
    digits = "".join(
        token[2:] if token[:2] in ("0x", "0X") else token
        for token in text.translate(_SEPARATORS).split()
    )
    for column, char in enumerate(digits):
        if char not in "0123456789abcdefABCDEF":
            raise HexInputError(f"{char!r} is not a hex digit (digit {column + 1} of the line)")
    if len(digits) % 2:
        raise HexInputError(f"odd number of hex digits ({len(digits)}): a byte is incomplete")
    return bytes.fromhex(digits)


def strip_delimiters(data: bytes) -> bytes:
    """An unescaped packet without its delimiters.

    No message id starts with 0x7E, so a leading 0x7E is a delimiter; a trailing 0x7E is one
    only when a leading one was there (otherwise it may be the check code itself).
    """
    if data[:1] == b"\x7e":
        data = data[1:]
        if data[-1:] == b"\x7e":
            data = data[:-1]
    return data


def _header_view(header: Header) -> JSON:
    return Message(header, RawBody()).to_json()["header"]


def _partial_header(packet: bytes) -> dict[str, JSON] | None:
    """The header fields the bytes hold when the header as a whole does not parse."""
    if len(packet) < 2:
        return None
    msg_id = int.from_bytes(packet[:2], "big")
    view: dict[str, JSON] = {"msg_id": msg_id, "msg_name": message_name(msg_id)}
    if len(packet) < 4:
        return view
    properties = int.from_bytes(packet[2:4], "big")
    flagged = bool(properties & VERSION_BIT)
    has_packet = bool(properties & SUBPACKAGE_BIT)
    phone_at, serial_at = (5, 15) if flagged else (4, 10)
    if flagged:
        view["version"] = int(V2019)
    if len(packet) >= serial_at + 2:
        view["phone"] = packet[phone_at:serial_at].hex()
        view["serial"] = int.from_bytes(packet[serial_at : serial_at + 2], "big")
    view["encryption"] = (properties & ENCRYPTION_MASK) >> 10
    end = HEADER_LENGTH[(flagged, has_packet)]
    if has_packet and len(packet) >= end:
        view["packet"] = {
            "total": int.from_bytes(packet[end - 4 : end - 2], "big"),
            "index": int.from_bytes(packet[end - 2 : end], "big"),
        }
    return view


def _error_view(
    packet: bytes | None,
    header: Header | None,
    error: ProtocolError,
    checksum_ok: bool | None = None,
) -> dict[str, JSON]:
    if header is not None:
        header_view: JSON = _header_view(header)
    else:
        header_view = None if packet is None else _partial_header(packet)
    return {
        "header": header_view,
        "checksum_ok": checksum_ok,
        "error": {
            "code": int(error.result_code),
            "type": type(error).__name__,
            "message": error.message,
            "offset": error.offset,
        },
    }


# --------------------------------------------------------------------------------------------
# Input and output


def _stdin_lines(stdin: TextIO) -> Iterator[str | None]:
    """Lines of stdin, each at most ``MAX_LINE_CHARS``; ``None`` stands for a longer line
    (skipped up to its newline). Bytes are read when the stream has them, so input that is not
    UTF-8 becomes a hex error, not a crash."""
    binary = getattr(stdin, "buffer", None)

    def readline(limit: int) -> str:
        if binary is None:
            return stdin.readline(limit)
        return bytes(binary.readline(limit)).decode("utf-8", "replace")

    while True:
        line = readline(MAX_LINE_CHARS + 1)
        if not line:
            return
        if len(line) > MAX_LINE_CHARS and not line.endswith("\n"):
            while (rest := readline(MAX_LINE_CHARS)) and not rest.endswith("\n"):
                pass
            yield None
            continue
        yield line


def render_json(report: FrameReport, out: TextIO) -> str:
    """One JSON line; non-ASCII text stays readable when ``out`` can encode it."""
    text = json.dumps(report.view, ensure_ascii=False)
    try:
        text.encode(out.encoding or "utf-8")
    except (UnicodeEncodeError, LookupError):
        # Undecodable text bytes are kept as lone surrogates; escape them (valid JSON).
        text = json.dumps(report.view)
    return text


def _write(out: TextIO, text: str) -> None:
    encoding = out.encoding or "utf-8"
    try:
        text.encode(encoding)
    except (UnicodeEncodeError, LookupError):
        text = text.encode(encoding, "backslashreplace").decode(encoding, "replace")
    out.write(text + "\n")
    out.flush()


def _silence_stdout() -> None:
    try:
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, sys.stdout.fileno())
    except (OSError, ValueError, AttributeError):
        pass


# --------------------------------------------------------------------------------------------
# The readable view (--pretty)

_INDENT: Final = "  "
_HEX_PER_LINE: Final = 64  # 32 bytes
_ENCRYPTION: Final = {0: "none", 1: "RSA"}
#: Fields whose integer value names a message id.
_ID_FIELDS: Final = frozenset({"reply_id"})
#: (message id, field) -> the enum naming the field's values.
_NAMED_RESULTS: Final[dict[tuple[int, str], type[ResultCode] | type[RegisterResult]]] = {
    (MessageId.TERMINAL_GENERAL_RESPONSE, "result"): ResultCode,
    (MessageId.PLATFORM_GENERAL_RESPONSE, "result"): ResultCode,
    (MessageId.TERMINAL_REGISTER_RESPONSE, "result"): RegisterResult,
}
_LOCATION_KEYS: Final = frozenset({"alarm", "status", "latitude", "longitude"})


def render_pretty(report: FrameReport, number: int) -> str:
    """A block of text for people: header line, header fields, bytes, then the body tree."""
    view = report.view
    lines: list[str] = []
    header = view.get("header")
    title = f"#{number}"
    if isinstance(header, dict):
        title += f"  {_id_text(header.get('msg_id'))}"
        if "version" in header:
            title += f"  JT/T 808-{header['version']}"
    checksum_ok = view.get("checksum_ok")
    if checksum_ok is True:
        title += "  checksum ok"
    elif checksum_ok is False and report.packet:
        packet = report.packet
        title += (
            f"  CHECKSUM WRONG (frame carries 0x{packet[-1]:02x}, "
            f"header + body give 0x{checksum(packet[:-1]):02x})"
        )
    lines.append(title)
    error = view.get("error")
    if isinstance(error, dict):
        code = error.get("code")
        code_name = ""
        if isinstance(code, int) and code in ResultCode._value2member_map_:
            code_name = f" ({ResultCode(code).name.lower()})"
        lines.append(f"{_INDENT}ERROR {error.get('type')}: {error.get('message')}")
        where = error.get("offset")
        lines.append(
            f"{_INDENT}      a server answers result {code}{code_name}"
            + ("" if where is None else f"; problem at byte {where}")
        )
    if isinstance(header, dict):
        lines.extend(_header_lines(header, report))
    if report.packet is not None:
        lines.extend(_bytes_lines(report))
    body = view.get("body")
    msg_id = header.get("msg_id") if isinstance(header, dict) else None
    if isinstance(body, dict):
        lines.append(f"{_INDENT}body:{_body_note(body, header)}")
        if not body:
            lines.append(f"{_INDENT * 2}(empty)")
        _render_mapping(body, 2, lines, msg_id if isinstance(msg_id, int) else -1)
    trailing = view.get("trailing")
    if isinstance(trailing, str):
        lines.append(
            f"{_INDENT}trailing: {len(trailing) // 2} bytes after the body layout (kept): "
            f"{trailing}"
        )
    return "\n".join(lines) + "\n"


def _body_note(body: dict[str, JSON], header: JSON) -> str:
    if not isinstance(header, dict) or len(body) != 1:
        return ""
    if "data" in body and isinstance(header.get("packet"), dict):
        return "  (one packet of a sub-packaged message: decoded once all are reassembled)"
    if "raw" in body:
        if header.get("encryption"):
            return "  (encrypted: kept as raw bytes)"
        return "  (no body layout for this message id: kept as raw bytes)"
    return ""


def _id_text(msg_id: JSON) -> str:
    if not isinstance(msg_id, int):
        return str(msg_id)
    return f"0x{msg_id:04X} {message_name(msg_id)}"


def _header_lines(header: dict[str, JSON], report: FrameReport) -> list[str]:
    parts = []
    if "phone" in header:
        parts.append(f"phone {header['phone']}")
    if "serial" in header:
        parts.append(f"serial {header['serial']}")
    if report.header is not None and report.header.version is V2019:
        parts.append(f"protocol version {report.header.protocol_version}")
    encryption = header.get("encryption")
    if isinstance(encryption, int) and encryption:
        parts.append(f"encryption {_ENCRYPTION.get(encryption, f'0b{encryption:03b}')}")
    packet = header.get("packet")
    if isinstance(packet, dict):
        parts.append(f"packet {packet.get('index')} of {packet.get('total')}")
    return [_INDENT + "   ".join(parts)] if parts else []


def _bytes_lines(report: FrameReport) -> list[str]:
    packet = report.packet or b""
    start = report.body_start
    lines: list[str] = []
    if len(packet) >= 4:
        properties = int.from_bytes(packet[2:4], "big")
        flags = []
        if properties & VERSION_BIT:
            flags.append("2019 flag")
        if properties & SUBPACKAGE_BIT:
            flags.append("sub-packaged")
        if properties & ENCRYPTION_MASK:
            flags.append(f"encryption {(properties & ENCRYPTION_MASK) >> 10:03b}")
        if properties & 0x8000:
            flags.append("reserved bit 15 set")
        lines.append(
            f"{_INDENT}properties 0x{properties:04x}: body {properties & LENGTH_MASK} bytes"
            + (f", {', '.join(flags)}" if flags else "")
            + f"; packet is {len(packet)} bytes unescaped"
        )
    if start is None or start > len(packet) - 1:
        lines.extend(_hex_block("packet", packet, 1))
        return lines
    lines.append(f"{_INDENT}header  {_header_fields_hex(packet[:start])}")
    lines.extend(_hex_block("body", packet[start:-1], 1))
    lines.append(f"{_INDENT}check   {packet[-1:].hex()}")
    return lines


def _header_fields_hex(head: bytes) -> str:
    """Header bytes split into their fields: id, properties, [version], phone, serial, [packet]."""
    flagged = len(head) >= 4 and bool(head[2] << 8 & VERSION_BIT)
    sizes = (2, 2, 1, 10, 2, 2, 2) if flagged else (2, 2, 6, 2, 2, 2)
    fields, at = [], 0
    for size in sizes:
        if at >= len(head):
            break
        fields.append(head[at : at + size].hex())
        at += size
    return " ".join(fields)


def _hex_block(label: str, data: bytes, depth: int) -> list[str]:
    pad = _INDENT * depth
    text = data.hex()
    if not text:
        return [f"{pad}{label}    (0 bytes)"]
    if len(text) <= _HEX_PER_LINE:
        return [f"{pad}{label}    {text}  ({len(data)} bytes)"]
    lines = [f"{pad}{label}    ({len(data)} bytes)"]
    for at in range(0, len(text), _HEX_PER_LINE):
        lines.append(f"{pad}{_INDENT}{at // 2:04x}  {text[at : at + _HEX_PER_LINE]}")
    return lines


def _render_mapping(view: dict[str, JSON], depth: int, lines: list[str], msg_id: int) -> None:
    if view.keys() >= _LOCATION_KEYS:
        _render_location(view, depth, lines)
        return
    width = max((len(key) for key in view), default=0)
    pad = _INDENT * depth
    for key, value in view.items():
        if isinstance(value, dict):
            lines.append(f"{pad}{key}:")
            _render_mapping(value, depth + 1, lines, msg_id)
        elif isinstance(value, list):
            _render_list(key, value, depth, lines, msg_id)
        else:
            lines.append(f"{pad}{key.ljust(width)}  {_scalar_text(key, value, msg_id)}")


def _render_list(key: str, items: list[JSON], depth: int, lines: list[str], msg_id: int) -> None:
    pad = _INDENT * depth
    if all(not isinstance(item, dict | list) for item in items):
        lines.append(f"{pad}{key}  [{', '.join(json.dumps(i, ensure_ascii=False) for i in items)}]")
        return
    lines.append(f"{pad}{key}: {len(items)} item{'s' if len(items) != 1 else ''}")
    for index, item in enumerate(items, 1):
        lines.append(f"{pad}{_INDENT}[{index}]")
        if isinstance(item, dict):
            _render_mapping(item, depth + 2, lines, msg_id)
        else:
            lines.append(f"{pad}{_INDENT * 2}{json.dumps(item, ensure_ascii=False)}")


def _scalar_text(key: str, value: JSON, msg_id: int) -> str:
    if key in _ID_FIELDS and isinstance(value, int):
        return _id_text(value)
    named = _NAMED_RESULTS.get((msg_id, key))
    if named is not None and isinstance(value, int):
        try:
            return f"{value} ({named(value).name.lower()})"
        except ValueError:
            return f"{value} (not a defined result)"
    if isinstance(value, str) and key in ("raw", "data") and value:
        return f"{value}  ({len(value) // 2} bytes)"
    return json.dumps(value, ensure_ascii=False)


def _render_location(view: dict[str, JSON], depth: int, lines: list[str]) -> None:
    pad = _INDENT * depth
    alarm, status = view.get("alarm"), view.get("status")
    if isinstance(alarm, int):
        names = ", ".join(flag_names(alarm, AlarmFlag)) or "none"
        lines.append(f"{pad}alarm      0x{alarm:08x}  {names}")
    if isinstance(status, int):
        names = ", ".join(status_names(status)) or "none"
        lines.append(f"{pad}status     0x{status:08x}  {names}")
    latitude, longitude = view.get("latitude"), view.get("longitude")
    if isinstance(latitude, int | float) and isinstance(longitude, int | float):
        lat = f"{abs(latitude):.6f} {'S' if latitude < 0 else 'N'}"
        lon = f"{abs(longitude):.6f} {'W' if longitude < 0 else 'E'}"
        lines.append(f"{pad}position   {lat}, {lon}   ({latitude}, {longitude})")
    lines.append(f"{pad}altitude   {view.get('altitude')} m")
    lines.append(f"{pad}speed      {view.get('speed')} km/h")
    lines.append(f"{pad}direction  {view.get('direction')} deg")
    time = view.get("time")
    lines.append(f"{pad}time       {'(no valid time)' if time is None else time}")
    extras = view.get("extras")
    if isinstance(extras, list) and extras:
        lines.append(f"{pad}extras: {len(extras)} item{'s' if len(extras) != 1 else ''}")
        for item in extras:
            if isinstance(item, dict):
                lines.append(pad + _INDENT + _extra_text(item))
    malformed = view.get("malformed_extras")
    if isinstance(malformed, str) and malformed:
        lines.append(
            f"{pad}malformed extras: {len(malformed) // 2} bytes kept as sent "
            f"(an item runs past the end): {malformed}"
        )
    known = _LOCATION_KEYS | {
        "altitude",
        "speed",
        "direction",
        "time",
        "extras",
        "malformed_extras",
    }
    rest = {key: value for key, value in view.items() if key not in known}
    if rest:
        _render_mapping(rest, depth, lines, -1)


def _extra_text(item: dict[str, JSON]) -> str:
    item_id = item.get("id")
    head = f"0x{item_id:02x}" if isinstance(item_id, int) else str(item_id)
    name = item.get("name")
    raw = item.get("raw")
    raw_text = raw if isinstance(raw, str) else ""
    label = name if isinstance(name, str) else "(unknown id)"
    if "value" in item:
        value = json.dumps(item["value"], ensure_ascii=False)
        return f"{head} {label.ljust(26)} {value.ljust(12)} [{raw_text}]"
    if isinstance(name, str):
        return f"{head} {label.ljust(26)} (length not allowed) [{raw_text}]"
    return f"{head} {label.ljust(26)} {len(raw_text) // 2} bytes [{raw_text}]"


__all__ = [
    "EXIT_FRAME_FAILED",
    "EXIT_OK",
    "CaptureDecoder",
    "FrameReport",
    "HexInputError",
    "add_arguments",
    "flag_names",
    "parse_hex",
    "render_json",
    "render_pretty",
    "run",
    "status_names",
    "strip_delimiters",
]
