"""The event log's columns, as both sides of the writer's channel need them.

Imports nothing of the gateway: the writer process (``gateway.store.writer``) loads this and
``sqlite_log`` only, not the protocol core, to stay small.
"""

from __future__ import annotations

from typing import Final

#: ``kind`` column: 0 for a location, else the terminal event's kind.
LOCATION_KIND: Final = 0
LOCATION_COLUMNS: Final = "seq, at, kind, phone, device, msg_id, serial, batch, body"
EVENT_COLUMNS: Final = (
    "seq, at, kind, phone, device, msg_id, serial, body, remote, reason, version, "
    "protocol_version, encryption"
)
SELECT_COLUMNS: Final = (
    "seq, at, kind, phone, device, msg_id, serial, batch, body, remote, reason, version, "
    "protocol_version, encryption"
)
#: Parameters one location binds (``LOCATION_COLUMNS``) and one terminal event
#: (``EVENT_COLUMNS``).
LOCATION_WIDTH: Final = 9
EVENT_WIDTH: Final = 13
#: Bound in place of a location's NULL ``batch`` (the INSERT turns it back into NULL): Python's
#: sqlite3 looks an adapter up for every None or bytes value it binds, under the GIL (≈ 0.4 µs
#: each, against 0.03 for an int and 0.1 for a bytearray). The writer lays a location's values
#: out in ``rows.number_events``.
NO_BATCH: Final = -1

LocationRow = tuple[int, int, int, str, str, int, int, int | None, bytes]
EventRow = tuple[
    int, int, int, str, str, int | None, int | None, bytes | None, str, str, int | None, int, int
]
Row = tuple[
    int, int, int, str, str, int | None, int | None, int | None, bytes | None, str | None,
    str | None, int | None, int | None, int | None,
]  # fmt: skip
