"""The event log's columns, as the reader, the records and the cluster's store need them.

Imports nothing of the gateway: the writer process (``gateway.store.writer``) loads this and
``sqlite_log`` only, not the protocol core, to stay small.
"""

from __future__ import annotations

from typing import Final

from .segments import Record

#: ``kind`` column: 0 for a location, else the terminal event's kind.
LOCATION_KIND: Final = 0
#: A record as read back, from ``events`` (the format before ``commits``) or from a blob.
SELECT_COLUMNS: Final = (
    "seq, at, kind, phone, device, msg_id, serial, batch, body, remote, reason, version, "
    "protocol_version, encryption"
)

LocationRow = tuple[int, int, int, str, str, int, int, int | None, bytes]
EventRow = tuple[
    int, int, int, str, str, int | None, int | None, bytes | None, str, str, int | None, int, int
]
Row = Record
