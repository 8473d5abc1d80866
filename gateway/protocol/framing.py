"""Framing: 0x7E delimiters, 0x7D escaping and the XOR check code (JT/T 808-2019 §4.4).

``FrameDecoder`` turns a byte stream, chunked any way, into unescaped packets
(header + body + check code) or typed framing errors. It never raises on bad input: a damaged
frame becomes an error event and decoding goes on with the next frame.

The stream is split on every 0x7E: each non-empty run of bytes between two delimiters is a frame
candidate. Treating every 0x7E alike (rather than pairing "start" and "end" delimiters) means a
truncated frame costs exactly that frame: the next delimiter resynchronises the stream.
"""

from __future__ import annotations

from typing import ClassVar, Final

from .errors import FrameTooLargeError, FramingError, GarbageError

DELIMITER: Final = 0x7E
ESCAPE: Final = 0x7D

MAX_BODY_LENGTH: Final = 1023
MAX_HEADER_LENGTH: Final = 21
#: Largest unescaped packet: 2019 header with sub-package fields, full body, check code.
MAX_PACKET_LENGTH: Final = MAX_HEADER_LENGTH + MAX_BODY_LENGTH + 1
#: Largest frame on the wire: every packet byte escaped to two bytes, plus both delimiters.
MAX_FRAME_LENGTH: Final = 2 * MAX_PACKET_LENGTH + 2


class NeedData:
    """Sentinel type: the decoder has no complete frame and wants more bytes."""

    _instance: ClassVar[NeedData | None] = None

    def __new__(cls) -> NeedData:
        if cls._instance is None:
            cls._instance = super().__new__(cls)
        return cls._instance

    def __repr__(self) -> str:
        return "NEED_DATA"


NEED_DATA: Final = NeedData()

_from_bytes = int.from_bytes
#: Up to this length ``checksum`` loops over the bytes (compiled, that beats the big-int fold).
_LOOP_LIMIT: Final = 96


def checksum(data: bytes | bytearray | memoryview) -> int:
    """XOR of every byte of ``data``.

    Short packets (most reports) take a plain loop, which mypyc compiles to a C loop. Longer
    ones fold one big integer: a handful of C-level operations instead of one per byte (about
    3x faster interpreted on full-size frames). After the fold by ``s`` bits, the low byte
    holds the XOR of the low ``s / 4`` bytes.
    """
    if len(data) <= _LOOP_LIMIT:
        x = 0
        for byte in data:
            x ^= byte
        return x
    y = _from_bytes(data, "big")
    y ^= y >> 8
    y ^= y >> 16
    y ^= y >> 32
    y ^= y >> 64
    y ^= y >> 128
    y ^= y >> 256
    if y >> 512:  # longer than 64 bytes: keep doubling the fold until it spans the input
        shift = 512
        bits = 8 * len(data)
        while shift < bits:
            y ^= y >> shift
            shift <<= 1
    return y & 0xFF


def escape(data: bytes) -> bytes:
    """Escape 0x7D as 7D 01 and 0x7E as 7D 02 (0x7D first, so new 7Ds are not escaped twice)."""
    if ESCAPE in data or DELIMITER in data:
        return data.replace(b"\x7d", b"\x7d\x01").replace(b"\x7e", b"\x7d\x02")
    return data


def unescape(data: bytes | bytearray, *, offset: int = 0) -> bytes:
    """Undo escaping; a 0x7D not followed by 01 or 02 is a ``FramingError``.

    ``offset`` is where ``data`` starts in the stream, so that the error names the stream byte.
    """
    if ESCAPE not in data:
        return bytes(data)
    escapes = data.count(b"\x7d")
    if escapes != data.count(b"\x7d\x01") + data.count(b"\x7d\x02"):
        position = _first_bad_escape(data)
        raise FramingError(
            "0x7D must be followed by 0x01 or 0x02 (escaped 0x7D or 0x7E)",
            offset=offset + position,
        )
    # 7D 02 cannot arise from an escaped 0x7D (that is 7D 01), so this order is exact.
    return bytes(data.replace(b"\x7d\x02", b"\x7e").replace(b"\x7d\x01", b"\x7d"))


def _first_bad_escape(data: bytes | bytearray) -> int:
    position = data.find(ESCAPE)
    while position >= 0:
        if position + 1 >= len(data) or data[position + 1] not in (0x01, 0x02):
            return position
        position = data.find(ESCAPE, position + 2)
    return len(data)


def encode_frame(packet: bytes) -> bytes:
    """Wire bytes for header + body: append the check code, escape, add both delimiters."""
    raw = packet + bytes((checksum(packet),))
    if ESCAPE in raw or DELIMITER in raw:
        raw = raw.replace(b"\x7d", b"\x7d\x01").replace(b"\x7e", b"\x7d\x02")
    return b"\x7e" + raw + b"\x7e"


def split_frame(wire: bytes) -> bytes:
    """Unescaped packet of one complete frame given with or without its delimiters."""
    start = 1 if wire[:1] == b"\x7e" else 0
    end = len(wire) - 1 if len(wire) > start and wire[-1] == DELIMITER else len(wire)
    inner = wire[start:end]
    if DELIMITER in inner:
        raise FramingError("a single frame must not contain 0x7E", offset=start + inner.find(0x7E))
    return unescape(inner, offset=start)


FrameEvent = bytes | FramingError | NeedData


class FrameDecoder:
    """Incremental frame splitter (sans-I/O): ``receive_data`` then ``next_event`` until NEED_DATA.

    Events are unescaped packets (``bytes``: header, body and check code, checksum not yet
    verified) or ``FramingError`` values. Memory is bounded by one maximum-size frame plus the
    bytes of the last chunk: a run longer than ``max_frame_length`` is reported once with
    ``FrameTooLargeError`` and discarded up to the next delimiter without being buffered.
    Drain events after each ``receive_data`` (``feed`` does both).
    """

    __slots__ = (
        "_buffer",
        "_discarding",
        "_garbage_reported",
        "_max_run",
        "_position",
        "_stream_offset",
        "_synced",
    )

    def __init__(self, max_frame_length: int = MAX_FRAME_LENGTH) -> None:
        if max_frame_length < 3:
            raise ValueError("max_frame_length must allow at least one byte between delimiters")
        # The unread stream is _buffer[_position:]. Keeping immutable bytes means a chunk that
        # arrives when nothing is pending is used as it is, and each frame is copied once.
        self._buffer = b""
        self._position = 0
        self._stream_offset = 0  # stream offset of _buffer[0]
        self._synced = False  # a delimiter has been seen: bytes now belong to frames
        self._discarding = False  # inside an oversized run, dropping bytes until a delimiter
        self._garbage_reported = False  # one GarbageError per resynchronisation, not per chunk
        self._max_run = max_frame_length - 2

    @property
    def max_frame_length(self) -> int:
        return self._max_run + 2

    @max_frame_length.setter
    def max_frame_length(self, value: int) -> None:
        """Change the bound for frames from now on (a session raises it once the terminal
        has authenticated: before that it only needs room for a registration)."""
        if value < 3:
            raise ValueError("max_frame_length must allow at least one byte between delimiters")
        self._max_run = value - 2

    @property
    def buffered(self) -> int:
        """Bytes held waiting for the end of a frame (never more than one maximum frame)."""
        return len(self._buffer) - self._position

    def receive_data(self, data: bytes) -> None:
        """Buffer more bytes of the stream (any chunking)."""
        position = self._position
        if position >= len(self._buffer):
            self._stream_offset += len(self._buffer)
            self._buffer = bytes(data)
        else:
            self._stream_offset += position
            self._buffer = self._buffer[position:] + data
        self._position = 0

    def next_event(self) -> FrameEvent:
        """The next packet or framing error; ``NEED_DATA`` once the buffered bytes are used up."""
        buffer = self._buffer
        while True:
            start = self._position
            end = buffer.find(0x7E, start)
            if end < 0:
                return self._no_delimiter(start)
            self._position = end + 1
            if not self._synced:
                self._synced = True
                if end > start and not self._garbage_reported:
                    return GarbageError(
                        f"skipped {end - start} bytes before the first 0x7E delimiter",
                        offset=self._stream_offset + start,
                    )
                continue
            if self._discarding:
                self._discarding = False
                continue
            if end == start:
                continue  # back-to-back delimiters: an empty frame is ignored
            if end - start > self._max_run:
                return FrameTooLargeError(
                    f"frame longer than {self._max_run + 2} bytes",
                    offset=self._stream_offset + start,
                )
            run = buffer[start:end]
            if 0x7D not in run:
                return run
            try:
                return unescape(run, offset=self._stream_offset + start)
            except FramingError as error:
                return error

    def _no_delimiter(self, start: int) -> FrameEvent:
        """No 0x7E in the unread bytes: keep them (a frame in progress) or drop them."""
        pending = len(self._buffer) - start
        offset = self._stream_offset + start
        if not self._synced:
            self._skip_all()
            if pending and not self._garbage_reported:
                self._garbage_reported = True
                return GarbageError(
                    f"skipping bytes before the first 0x7E delimiter ({pending} so far)",
                    offset=offset,
                )
            return NEED_DATA
        if self._discarding:
            self._skip_all()
        elif pending > self._max_run:
            self._discarding = True
            self._skip_all()
            return FrameTooLargeError(
                f"frame longer than {self._max_run + 2} bytes; discarded up to the next 0x7E",
                offset=offset,
            )
        return NEED_DATA

    def _skip_all(self) -> None:
        self._stream_offset += len(self._buffer)
        self._buffer = b""
        self._position = 0

    def feed(self, data: bytes) -> list[bytes | FramingError]:
        """Convenience: ``receive_data`` and collect every event up to NEED_DATA."""
        self.receive_data(data)
        events: list[bytes | FramingError] = []
        while True:
            event = self.next_event()
            if isinstance(event, NeedData):
                return events
            events.append(event)
