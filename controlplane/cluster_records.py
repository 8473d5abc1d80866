"""The ``Jt808-Record`` header of the cluster's stream messages: the event log's row of a hub
event (``gateway.store.records``) without its sequence, as JSON with bytes as ``{"b": base64}``,
so that every node rebuilds the exact event (the payload is the API's message, which does not
keep the terminal's bytes).

A location, one per report, is written by hand: ``json.dumps`` of the generic row cost more
than all the rest of a report's encoding. Both give the same text (tests/cluster/
test_records.py).
"""

from __future__ import annotations

import base64
import json
from datetime import datetime
from json.encoder import encode_basestring_ascii as _quoted  # json.dumps' own string encoder
from typing import Final

from gateway.events import HubEvent, LocationReported
from gateway.store.records import (
    LOCATION_KIND,
    event_of,
    event_row,
    location_row,
    microseconds,
    report_bytes,
)

_ENCODER: Final = json.JSONEncoder(separators=(",", ":"))


def record_of(event: HubEvent, at: int | None = None) -> str:
    """The record of ``event``; ``at``: its receive time in microseconds, when known (the
    reports of one chunk share it)."""
    if type(event) is LocationReported:
        at = microseconds(event.received_at) if at is None else at
        batch = "null" if event.batch_type is None else int(event.batch_type)
        body = base64.b64encode(report_bytes(event.location)).decode()
        return (
            f"[{at},{LOCATION_KIND},{_quoted(event.phone)},{_quoted(event.device_name)},"
            f'{int(event.msg_id)},{int(event.serial)},{batch},{{"b":"{body}"}}]'
        )
    return generic_record_of(event)


def generic_record_of(event: HubEvent) -> str:
    """The record of any event, through the row and ``json``."""
    row = (
        location_row(event, microseconds(event.received_at))
        if isinstance(event, LocationReported)
        else event_row(event)
    )
    fields = [
        {"b": base64.b64encode(value).decode()} if isinstance(value, bytes) else value
        for value in row[1:]
    ]
    return _ENCODER.encode(fields)


def event_of_record(record: str, sequence: int) -> HubEvent:
    fields = [
        base64.b64decode(value["b"]) if isinstance(value, dict) else value
        for value in json.loads(record)
    ]
    # As the log's SELECT_COLUMNS: a location row lacks the event columns at its end, an
    # event row the batch column after the serial.
    if fields[1] == LOCATION_KIND:
        fields += [None] * 5
    else:
        fields.insert(6, None)
    return event_of((sequence, *fields))  # type: ignore[arg-type]


class ReceiveTimes:
    """``microseconds(received_at)`` once per chunk: the reports of one chunk share their
    receive time (the same object)."""

    __slots__ = ("_at", "_moment")

    def __init__(self) -> None:
        self._moment: datetime | None = None
        self._at = 0

    def of(self, event: LocationReported) -> int:
        moment = event.received_at
        if moment is not self._moment:
            self._moment, self._at = moment, microseconds(moment)
        return self._at
