"""The packed records of one commit: a row of the log's ``commits`` table (format version 1).

The log outlives interpreter upgrades, so the layout is written out here, byte by byte, and
read back by these rules only (no ``marshal``, no ``pickle``). Little-endian; integers are
unsigned unless said::

    blob     = "J8" version:u8 (=1) reserved:u8 (=0) segment+
    segment  = count:u32 events:u32 strings:u32 text_bytes:u32 body_bytes:u32
               at:i64[count]        receive time, µs since the Unix epoch (UTC)
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

Loaded by the writer process too: imports nothing of the gateway.
"""

from __future__ import annotations

import struct
from typing import Final

MAGIC: Final = b"J8"
VERSION: Final = 1
HEADER: Final = MAGIC + bytes((VERSION, 0))
_SEGMENT: Final = struct.Struct("<5I")
#: Bits of ``nulls``: which of the record's columns are NULL.
NULL_MSG_ID: Final = 1
NULL_SERIAL: Final = 2
NULL_BATCH: Final = 4
NULL_BODY: Final = 8
NULL_VERSION: Final = 16
#: Bytes a record takes in the fixed columns, and a terminal event in its own.
RECORD_BYTES: Final = 8 + 1 + 1 + 4 + 4 + 2 + 2 + 1 + 4
EVENT_BYTES: Final = 4 + 4 + 2 + 1 + 2
_TEXT: Final = "utf-8"
_TEXT_ERRORS: Final = "surrogatepass"

#: A packed segment with what the row needs without unpacking it: (bytes, records, the
#: earliest and the latest receive time).
Segment = tuple[bytes, int, int, int]
#: A record as read back: the columns of ``schema.SELECT_COLUMNS``.
Record = tuple[
    int, int, int, str, str, int | None, int | None, int | None, bytes | None, str | None,
    str | None, int | None, int | None, int | None,
]  # fmt: skip


class DamagedBlobError(ValueError):
    """A stored blob does not follow the layout (a damaged file): what is wrong, and where."""


def pack_segment(  # noqa: PLR0917 - one argument a column
    ats: list[int],
    kinds: list[int],
    nulls: list[int],
    phones: list[int],
    devices: list[int],
    msg_ids: list[int],
    serials: list[int],
    batches: list[int],
    bodies: list[bytes],
    remotes: list[int],
    reasons: list[int],
    versions: list[int],
    protocol_versions: list[int],
    encryptions: list[int],
    texts: list[str],
) -> bytes:
    """One segment from its columns (each a list of the same length, ``bodies`` as bytes;
    the terminal events' columns one entry per event)."""
    count = len(ats)
    events = len(remotes)
    encoded = [text.encode(_TEXT, _TEXT_ERRORS) for text in texts]
    body = b"".join(bodies)
    text = b"".join(encoded)
    lengths = [len(b) for b in bodies]
    return b"".join((
        _SEGMENT.pack(count, events, len(texts), len(text), len(body)),
        struct.pack(f"<{count}q", *ats),
        bytes(kinds),
        bytes(nulls),
        struct.pack(f"<{count}I", *phones),
        struct.pack(f"<{count}I", *devices),
        struct.pack(f"<{count}H", *msg_ids),
        struct.pack(f"<{count}H", *serials),
        bytes(batches),
        struct.pack(f"<{count}I", *lengths),
        struct.pack(f"<{events}I", *remotes),
        struct.pack(f"<{events}I", *reasons),
        struct.pack(f"<{events}H", *versions),
        bytes(protocol_versions),
        struct.pack(f"<{events}H", *encryptions),
        struct.pack(f"<{len(texts)}I", *[len(e) for e in encoded]),
        text,
        body,
    ))  # fmt: skip


def join(segments: list[bytes]) -> bytes:
    """A blob of ``segments`` (at least one), in order."""
    return b"".join([HEADER, *segments])


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
        count, events, strings, text_bytes, body_bytes = _SEGMENT.unpack_from(data, start)
        if events > count:
            raise DamagedBlobError(f"{events} terminal events in a segment of {count} records")
        self.data = data
        self.count = count
        self.events = events
        self.strings = strings
        self.columns = start + _SEGMENT.size
        self.texts_at = self.columns + count * RECORD_BYTES + events * EVENT_BYTES
        self.bodies_at = self.texts_at + 4 * strings + text_bytes
        self.end = self.bodies_at + body_bytes
        if self.end > len(data):
            raise DamagedBlobError(
                f"a segment of {count} records needs {self.end - start} bytes, "
                f"{len(data) - start} are left"
            )

    def ats(self) -> tuple[int, ...]:
        return struct.unpack_from(f"<{self.count}q", self.data, self.columns)

    def records(self, first: int, after: int, *, locations: bool, events: bool) -> list[Record]:
        data, n = self.data, self.count
        at = self.columns
        ats = self.ats()
        kinds = data[at + 8 * n : at + 9 * n]
        nulls = data[at + 9 * n : at + 10 * n]
        phones = struct.unpack_from(f"<{n}I", data, at + 10 * n)
        devices = struct.unpack_from(f"<{n}I", data, at + 14 * n)
        msg_ids = struct.unpack_from(f"<{n}H", data, at + 18 * n)
        serials = struct.unpack_from(f"<{n}H", data, at + 20 * n)
        batches = data[at + 22 * n : at + 23 * n]
        lengths = struct.unpack_from(f"<{n}I", data, at + 23 * n)
        e = self.events
        at += RECORD_BYTES * n
        remotes = struct.unpack_from(f"<{e}I", data, at)
        reasons = struct.unpack_from(f"<{e}I", data, at + 4 * e)
        versions = struct.unpack_from(f"<{e}H", data, at + 8 * e)
        protocol_versions = data[at + 10 * e : at + 11 * e]
        encryptions = struct.unpack_from(f"<{e}H", data, at + 11 * e)
        texts = self._texts()
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
                        sequence, ats[i], kind, texts[phones[i]], texts[devices[i]],
                        None if null & NULL_MSG_ID else msg_ids[i],
                        None if null & NULL_SERIAL else serials[i],
                        None, None if null & NULL_BODY else bodies[i],
                        texts[remotes[j]], texts[reasons[j]], version, protocol_versions[j],
                        encryptions[j],
                    ))  # fmt: skip
                elif locations and sequence > after:
                    out.append((
                        sequence, ats[i], 0, texts[phones[i]], texts[devices[i]], msg_ids[i],
                        serials[i], None if nulls[i] & NULL_BATCH else batches[i], bodies[i],
                        None, None, None, None, None,
                    ))  # fmt: skip
        except IndexError:
            raise DamagedBlobError("a string index past the segment's strings") from None
        if event != e:
            raise DamagedBlobError(f"{event} terminal events in a segment that says {e}")
        return out

    def _texts(self) -> list[str]:
        data, at = self.data, self.texts_at
        lengths = struct.unpack_from(f"<{self.strings}I", data, at)
        at += 4 * self.strings
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
