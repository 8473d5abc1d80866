"""Hub events packed into a segment of the event log's blob format (``blob``), and their
sequences given once the commit is stored.

Compiled with mypyc with the protocol core (``gateway.native``): this runs once per report on
the event loop, so every microsecond here is one the loop and the writer both wait for. The
columns are lists of objects the events already hold or small cached ints (a chunk's receive
time is one index, a body the bytes received, a phone the same str each report), so packing
allocates little more than the lists and the segment's bytes.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Final

from gateway.events import HubEvent, LocationReported
from gateway.protocol.bodies.location import LazyLocationReport

from .blob import (
    NULL_BATCH,
    NULL_BODY,
    NULL_MSG_ID,
    NULL_SERIAL,
    NULL_VERSION,
    pack_segment,
)
from .records import event_row, microseconds, report_bytes
from .segments import Segment

_EPOCH: Final = datetime(1970, 1, 1, tzinfo=UTC)


def pack(batches: list[list[HubEvent]]) -> Segment | None:
    """The events of ``batches`` as one segment (None when there are none), in order."""
    events = batches[0] if len(batches) == 1 else [e for batch in batches for e in batch]
    if not events:
        return None
    ats: list[int] = []
    kinds: list[int] = []
    nulls: list[int] = []
    phones: list[int] = []
    devices: list[int] = []
    msg_ids: list[int] = []
    serials: list[int] = []
    batch_types: list[int] = []
    lengths: list[int] = []
    bodies: list[bytes] = []
    remotes: list[int] = []
    reasons: list[int] = []
    versions: list[int] = []
    protocol_versions: list[int] = []
    encryptions: list[int] = []
    #: Every receive time once, and every string once (phones, devices, remote addresses,
    #: reasons): its index.
    times: dict[int, int] = {}
    texts: dict[str, int] = {}
    received: datetime | None = None
    at = 0
    for event in events:
        if isinstance(event, LocationReported):
            moment = event.received_at
            if moment is not received:  # one time per chunk, mostly
                received = moment
                at = _index(times, _microseconds(moment))
            ats.append(at)
            kinds.append(0)
            phones.append(_text(texts, event.phone))
            devices.append(_text(texts, event.device_name))
            msg_ids.append(event.msg_id)
            serials.append(event.serial)
            batch = event.batch_type
            nulls.append(NULL_BATCH if batch is None else 0)
            batch_types.append(0 if batch is None else batch)
            report = event.location
            # A report never decoded (the usual case) keeps the bytes received: no copy. Its
            # slot is read directly: ``body_bytes()`` is an interpreted call, ~16 % of packing.
            body = report._raw if type(report) is LazyLocationReport else report_bytes(report)
            bodies.append(body)
            lengths.append(len(body))
            continue
        (_, moment_at, kind, phone, device, msg_id, serial, event_body, remote, reason, version,
         protocol_version, encryption) = event_row(event)  # fmt: skip
        received = None
        ats.append(_index(times, moment_at))
        kinds.append(kind)
        phones.append(_text(texts, phone))
        devices.append(_text(texts, device))
        null = NULL_BATCH
        if msg_id is None:
            null |= NULL_MSG_ID
        if serial is None:
            null |= NULL_SERIAL
        if event_body is None:
            null |= NULL_BODY
        if version is None:
            null |= NULL_VERSION
        nulls.append(null)
        msg_ids.append(msg_id or 0)
        serials.append(serial or 0)
        batch_types.append(0)
        bodies.append(event_body or b"")
        lengths.append(len(event_body or b""))
        remotes.append(_text(texts, remote))
        reasons.append(_text(texts, reason))
        versions.append(version or 0)
        protocol_versions.append(protocol_version)
        encryptions.append(encryption)
    data = pack_segment(
        list(times),
        [ats, kinds, nulls, phones, devices, msg_ids, serials, batch_types, lengths],
        [remotes, reasons, versions, protocol_versions, encryptions],
        list(texts),
        bodies,
    )
    return data, len(events), min(times), max(times)


def _microseconds(moment: datetime) -> int:
    """``records.microseconds``, compiled: a chunk's receive time is converted once per chunk,
    which at saturation is once every report or two."""
    try:
        delta = moment - _EPOCH
    except TypeError:  # a naive time: taken as UTC, as records.microseconds does
        return microseconds(moment)
    return (delta.days * 86_400 + delta.seconds) * 1_000_000 + delta.microseconds


def _index(values: dict[int, int], value: int) -> int:
    index = values.get(value)
    if index is None:
        index = values[value] = len(values)
    return index


def _text(texts: dict[str, int], text: str) -> int:
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
