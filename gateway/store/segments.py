"""What writing a commit needs of the log's blob format (``blob`` documents it and reads it):
its header, the segment a batch is packed in, and joining segments behind the header.

Pure Python and apart from ``blob``, which is compiled with the protocol core: the writer
process loads this, not the core (that would cost it ~40 ms at start and ~3 MiB).
"""

from __future__ import annotations

from typing import Final

MAGIC: Final = b"J8"
VERSION: Final = 1
HEADER: Final = MAGIC + bytes((VERSION, 0))

#: A packed segment with what the row needs without unpacking it: (bytes, records, the
#: earliest and the latest receive time).
Segment = tuple[bytes, int, int, int]
#: A record as read back: the columns of ``schema.SELECT_COLUMNS``.
Record = tuple[
    int, int, int, str, str, int | None, int | None, int | None, bytes | None, str | None,
    str | None, int | None, int | None, int | None,
]  # fmt: skip


def join(segments: list[bytes]) -> bytes:
    """A blob of ``segments`` (at least one), in order."""
    return b"".join([HEADER, *segments])
