"""The packed records of one commit: a row of the log's ``commits`` table (format version 1).

The log outlives interpreter upgrades, so the layout is written out here, byte by byte, and
read back by these rules only (no ``marshal``, no ``pickle``). Little-endian; integers are
unsigned unless said::

    blob     = "J8" version:u8 (=1) reserved:u8 (=0) segment+
    segment  = count:u32 events:u32 times:u32 strings:u32 text_bytes:u32 body_bytes:u32
               time:i64[times]      receive times, µs since the Unix epoch (UTC), each once
               at:u32[count]        the record's receive time: index into ``time``
               kind:u8[count]       0 a location, else the terminal event's kind code
               nulls:u8[count]      the NULL columns of the record (``NULL_*`` bits)
               phone:u32[count]     index into the segment's strings
               device:u32[count]    index into the segment's strings
               msg_id:u16[count]    serial:u16[count]    batch:u8[count]
               body_len:u32[count]
               remote:u32[events]   reason:u32[events]   (indices into the strings)
               version:u16[events]  protocol_version:u8[events]   encryption:u16[events]
               text_len:u32[strings]   text (UTF-8, surrogates passed through)
               body (the bodies, one after the other)

The ``events`` columns hold one entry per terminal event (kind ≠ 0), in record order. The
records of a blob are numbered from the row's first sequence, one by one, across its segments.
A segment is self-contained: the writer process's loop packs one per sealed batch and the
writer joins them behind one header without unpacking them. The reader checks every length
before it slices, so a damaged blob is a ``DamagedBlobError`` naming what is wrong, never an
exception from deep inside.

Compiled with the protocol core (so loading it loads the core): the writer process needs only
``segments``, the header and the joining of segments.
"""

from __future__ import annotations

import struct
from typing import Final

from .segments import HEADER, MAGIC, VERSION, Record

_SEGMENT: Final = struct.Struct("<6I")
#: Bits of ``nulls``: which of the record's columns are NULL.
NULL_MSG_ID: Final = 1
NULL_SERIAL: Final = 2
NULL_BATCH: Final = 4
NULL_BODY: Final = 8
NULL_VERSION: Final = 16
_TEXT: Final = "utf-8"
_TEXT_ERRORS: Final = "surrogatepass"


class DamagedBlobError(ValueError):
    """A stored blob does not follow the layout (a damaged file): what is wrong, and where."""


def pack_segment(
    times: list[int],
    columns: list[list[int]],
    event_columns: list[list[int]],
    texts: list[str],
    bodies: list[bytes],
) -> bytes:
    """One segment: ``columns`` are the records' fixed columns in the layout's order (at,
    kind, nulls, phone, device, msg_id, serial, batch, body_len), ``event_columns`` the terminal
    events' (remote, reason, version, protocol_version, encryption), ``times`` the receive
    times ``at`` points into, ``texts`` the strings the indices point into. One ``struct``
    call for every number: its cost is per segment, not per column."""
    n = len(bodies)
    e = len(event_columns[0])
    joined = "".join(texts)
    if joined.isascii():  # phones and devices, mostly: one encode, lengths as they are
        text = joined.encode("ascii")
        text_lengths = [len(t) for t in texts]
    else:
        encoded = [t.encode(_TEXT, _TEXT_ERRORS) for t in texts]
        text = b"".join(encoded)
        text_lengths = [len(t) for t in encoded]
    body = b"".join(bodies)
    numbers = [n, e, len(times), len(texts), len(text), len(body)]
    numbers += times
    for column in columns:
        numbers += column
    for column in event_columns:
        numbers += column
    numbers += text_lengths
    return b"".join((struct.pack(_layout(n, e, len(times), len(texts)), *numbers), text, body))


def _layout(n: int, e: int, times: int, strings: int) -> str:
    """The ``struct`` format of a segment's header and columns."""
    return f"<6I{times}q{n}I{n}B{n}B{n}I{n}I{n}H{n}H{n}B{n}I{e}I{e}I{e}H{e}B{e}H{strings}I"


def records(
    data: bytes, first: int, after: int, *, locations: bool = True, events: bool = True
) -> list[Record]:
    """The records of the blob numbered from ``first``, those with a sequence above ``after``
    and of the kinds asked for, in order."""
    out: list[Record] = []
    sequence = first
    for segment in _segments(data):
        count = segment.count
        if (
            sequence + count <= after
            or (not events and segment.events == count)
            or (not locations and not segment.events)
        ):
            sequence += count
            continue  # nothing wanted in it: not unpacked
        out += segment.records(sequence, after, locations=locations, events=events)
        sequence += count
    return out


def times(data: bytes) -> list[int]:
    """The receive time of every record of the blob, in order."""
    out: list[int] = []
    for segment in _segments(data):
        out += segment.ats()
    return out


def count(data: bytes) -> int:
    """How many records the blob holds."""
    return sum(segment.count for segment in _segments(data))


class _Segment:
    """One segment of a blob, its lengths checked, unpacked on demand."""

    def __init__(self, data: bytes, start: int) -> None:
        if len(data) - start < _SEGMENT.size:
            raise DamagedBlobError(f"a segment header cut short at byte {start}")
        count, events, times, strings, text_bytes, body_bytes = _SEGMENT.unpack_from(data, start)
        if events > count:
            raise DamagedBlobError(f"{events} terminal events in a segment of {count} records")
        if times > count:
            raise DamagedBlobError(f"{times} receive times in a segment of {count} records")
        self.data = data
        self.start = start
        self.count = count
        self.events = events
        self.times = times
        self.strings = strings
        self.layout = _layout(count, events, times, strings)
        self.texts_at = start + struct.calcsize(self.layout)
        self.bodies_at = self.texts_at + text_bytes
        self.end = self.bodies_at + body_bytes
        if self.end > len(data):
            raise DamagedBlobError(
                f"a segment of {count} records needs {self.end - start} bytes, "
                f"{len(data) - start} are left"
            )

    def ats(self) -> list[int]:
        numbers = struct.unpack_from(self.layout, self.data, self.start)
        n, t = self.count, self.times
        times = numbers[6 : 6 + t]
        try:
            return [times[i] for i in numbers[6 + t : 6 + t + n]]
        except IndexError:
            raise DamagedBlobError("a receive time index past the segment's times") from None

    def records(self, first: int, after: int, *, locations: bool, events: bool) -> list[Record]:
        numbers = struct.unpack_from(self.layout, self.data, self.start)
        n, e, t = self.count, self.events, self.times
        times = numbers[6 : 6 + t]
        column = 6 + t
        ats = numbers[column : column + n]
        kinds = numbers[column + n : column + 2 * n]
        nulls = numbers[column + 2 * n : column + 3 * n]
        phones = numbers[column + 3 * n : column + 4 * n]
        devices = numbers[column + 4 * n : column + 5 * n]
        msg_ids = numbers[column + 5 * n : column + 6 * n]
        serials = numbers[column + 6 * n : column + 7 * n]
        batches = numbers[column + 7 * n : column + 8 * n]
        lengths = numbers[column + 8 * n : column + 9 * n]
        column += 9 * n
        remotes = numbers[column : column + e]
        reasons = numbers[column + e : column + 2 * e]
        versions = numbers[column + 2 * e : column + 3 * e]
        protocol_versions = numbers[column + 3 * e : column + 4 * e]
        encryptions = numbers[column + 4 * e : column + 5 * e]
        texts = self._texts(numbers[column + 5 * e :])
        bodies = self._bodies(lengths)
        out: list[Record] = []
        event = 0
        try:
            for i in range(n):
                kind = kinds[i]
                sequence = first + i
                if kind:
                    event += 1
                    if not events or sequence <= after:
                        continue
                    j = event - 1
                    null = nulls[i]
                    version = None if null & NULL_VERSION else versions[j]
                    out.append((
                        sequence, times[ats[i]], kind, texts[phones[i]], texts[devices[i]],
                        None if null & NULL_MSG_ID else msg_ids[i],
                        None if null & NULL_SERIAL else serials[i],
                        None, None if null & NULL_BODY else bodies[i],
                        texts[remotes[j]], texts[reasons[j]], version, protocol_versions[j],
                        encryptions[j],
                    ))  # fmt: skip
                elif locations and sequence > after:
                    out.append((
                        sequence, times[ats[i]], 0, texts[phones[i]], texts[devices[i]],
                        msg_ids[i], serials[i], None if nulls[i] & NULL_BATCH else batches[i],
                        bodies[i], None, None, None, None, None,
                    ))  # fmt: skip
        except IndexError:
            raise DamagedBlobError("an index past the segment's strings or times") from None
        if event != e:
            raise DamagedBlobError(f"{event} terminal events in a segment that says {e}")
        return out

    def _texts(self, lengths: tuple[int, ...]) -> list[str]:
        data, at = self.data, self.texts_at
        texts: list[str] = []
        try:
            for length in lengths:
                texts.append(data[at : at + length].decode(_TEXT, _TEXT_ERRORS))
                at += length
        except UnicodeDecodeError as error:
            raise DamagedBlobError(f"a string that is not UTF-8: {error.reason}") from None
        if at != self.bodies_at:
            raise DamagedBlobError("the strings' lengths do not add up to their bytes")
        return texts

    def _bodies(self, lengths: tuple[int, ...]) -> list[bytes]:
        data, at = self.data, self.bodies_at
        bodies: list[bytes] = []
        for length in lengths:
            bodies.append(data[at : at + length])
            at += length
        if at != self.end:
            raise DamagedBlobError("the bodies' lengths do not add up to their bytes")
        return bodies


def _segments(data: bytes) -> list[_Segment]:
    if data[:2] != MAGIC:
        raise DamagedBlobError("not a packed blob (no J8 header)")
    if len(data) < len(HEADER) or data[2] != VERSION:
        version = data[2] if len(data) > 2 else "none"
        raise DamagedBlobError(f"format version {version}: this gateway reads {VERSION}")
    segments: list[_Segment] = []
    start = len(HEADER)
    while start < len(data):
        segment = _Segment(data, start)
        segments.append(segment)
        start = segment.end
    if not segments:
        raise DamagedBlobError("a blob without records")
    return segments
