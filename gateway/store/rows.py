"""The event log writer's inner loop: number a commit's events and lay its locations out as
the flat parameters of the log's INSERT (``sqlite_log``), without a tuple a row.

Compiled with mypyc with the protocol core (``gateway.native``): this runs once per report on
the writer thread, holding the GIL the event loop needs, so every microsecond here is one the
loop waits. Compiled, reading a ``LocationReported``'s fields is a C struct access and the
list grows in C; as Python the same loop costs several times more.
"""

from __future__ import annotations

from datetime import datetime
from typing import Final

from gateway.events import HubEvent, LocationReported, TerminalEvent
from gateway.protocol.bodies.location import LazyLocationReport

from .records import NO_BATCH, microseconds, report_bytes

_LOCATION_KIND: Final = 0  # ``records.LOCATION_KIND`` (a literal: mypyc folds it)


def number_events(
    batches: list[list[HubEvent]],
    last: int,
    locations: list[object],
    others: list[TerminalEvent],
) -> int:
    """Give every event of ``batches`` the next sequence after ``last``, in order. Each
    location's parameters go to ``locations`` (``schema.LOCATION_WIDTH`` of them, in the order of
    ``records.LOCATION_COLUMNS``, ``NO_BATCH`` for a NULL batch), each terminal event to
    ``others``. Returns the last sequence given."""
    sequence = last
    received: datetime | None = None
    at = 0
    add = locations.append
    for events in batches:
        for event in events:
            sequence += 1
            event.sequence = sequence
            if isinstance(event, LocationReported):
                moment = event.received_at
                if moment is not received:  # one time per chunk, mostly
                    received = moment
                    at = microseconds(moment)
                batch = event.batch_type
                report = event.location
                # A report never decoded (the usual case) keeps its body: no call to look it up.
                body = (
                    report.body_bytes()
                    if type(report) is LazyLocationReport
                    else report_bytes(report)
                )
                add(sequence)
                add(at)
                add(_LOCATION_KIND)
                add(event.phone)
                add(event.device_name)
                add(event.msg_id)
                add(event.serial)
                add(NO_BATCH if batch is None else batch)
                # A bytearray, not bytes: sqlite3 binds it without looking an adapter up.
                add(bytearray(body))
            else:
                others.append(event)
    return sequence


def renumber(events: list[HubEvent], last: int) -> int:
    """Give ``events`` the sequences after ``last``, in order (the writer process numbered
    them so when it committed them); returns the last one given."""
    for event in events:
        last += 1
        event.sequence = last
    return last
