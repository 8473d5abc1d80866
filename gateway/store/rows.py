"""Hub events packed into a segment of the event log's blob format (``blob``), and their
sequences given once the commit is stored.

Compiled with mypyc with the protocol core (``gateway.native``): this runs once per report on
the event loop, so every microsecond here is one the loop and the writer both wait for. The
columns are lists of objects the events already hold (a location's ``at`` is one int a chunk,
its body the bytes received, a phone the same str each report), so packing allocates little
more than the lists and the segment's bytes.
"""

from __future__ import annotations

from datetime import datetime

from gateway.events import HubEvent, LocationReported
from gateway.protocol.bodies.location import LazyLocationReport

from .blob import (
    NULL_BATCH,
    NULL_BODY,
    NULL_MSG_ID,
    NULL_SERIAL,
    NULL_VERSION,
    Segment,
    pack_segment,
)
from .records import event_row, microseconds, report_bytes


def pack(events: list[HubEvent]) -> Segment | None:
    """``events`` as one segment (None when there are none), in order."""
    if not events:
        return None
    ats: list[int] = []
    kinds: list[int] = []
    nulls: list[int] = []
    phones: list[int] = []
    devices: list[int] = []
    msg_ids: list[int] = []
    serials: list[int] = []
    batches: list[int] = []
    bodies: list[bytes] = []
    remotes: list[int] = []
    reasons: list[int] = []
    versions: list[int] = []
    protocol_versions: list[int] = []
    encryptions: list[int] = []
    #: Every string once (phones, devices, remote addresses, reasons): its index.
    texts: dict[str, int] = {}
    received: datetime | None = None
    at = 0
    earliest = latest = -1
    for event in events:
        if isinstance(event, LocationReported):
            moment = event.received_at
            if moment is not received:  # one time per chunk, mostly
                received = moment
                at = microseconds(moment)
            ats.append(at)
            kinds.append(0)
            phones.append(_index(texts, event.phone))
            devices.append(_index(texts, event.device_name))
            msg_ids.append(event.msg_id)
            serials.append(event.serial)
            batch = event.batch_type
            nulls.append(NULL_BATCH if batch is None else 0)
            batches.append(0 if batch is None else batch)
            report = event.location
            # A report never decoded (the usual case) keeps the bytes received: no copy.
            bodies.append(
                report.body_bytes() if type(report) is LazyLocationReport else report_bytes(report)
            )
        else:
            (_, at, kind, phone, device, msg_id, serial, body, remote, reason, version,
             protocol_version, encryption) = event_row(event)  # fmt: skip
            received = None
            ats.append(at)
            kinds.append(kind)
            phones.append(_index(texts, phone))
            devices.append(_index(texts, device))
            null = 0
            if msg_id is None:
                null |= NULL_MSG_ID
            if serial is None:
                null |= NULL_SERIAL
            if body is None:
                null |= NULL_BODY
            if version is None:
                null |= NULL_VERSION
            nulls.append(null | NULL_BATCH)
            msg_ids.append(msg_id or 0)
            serials.append(serial or 0)
            batches.append(0)
            bodies.append(body or b"")
            remotes.append(_index(texts, remote))
            reasons.append(_index(texts, reason))
            versions.append(version or 0)
            protocol_versions.append(protocol_version)
            encryptions.append(encryption)
        if at < earliest or earliest < 0:
            earliest = at
        latest = max(at, latest)
    data = pack_segment(ats, kinds, nulls, phones, devices, msg_ids, serials, batches, bodies,
                        remotes, reasons, versions, protocol_versions, encryptions,
                        list(texts))  # fmt: skip
    return data, len(events), earliest, latest


def _index(texts: dict[str, int], text: str) -> int:
    index = texts.get(text)
    if index is None:
        index = texts[text] = len(texts)
    return index


def renumber(events: list[HubEvent], last: int) -> int:
    """Give ``events`` the sequences after ``last``, in order (the writer numbered them so
    when it committed them); returns the last one given."""
    for event in events:
        last += 1
        event.sequence = last
    return last
