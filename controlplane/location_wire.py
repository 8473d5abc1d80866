"""A hub location as the wire bytes of ``jt808.gateway.v1.Location``, without building a message.

Streams send every report the terminals send, to every subscriber: at tens of thousands of
reports a second, building a protobuf object per report (``locations.location_message``) costs
more than everything else the gateway does with the report. This module writes the same
message straight to bytes, once per report, in field-number order as protobuf does; the stream
reuses the bytes for every subscriber. ``tests/controlplane/test_location_wire.py`` checks that
the protobuf library parses them to exactly what ``location_message`` builds.

Encoding (proto3): a field at its default value is left out, except the ``optional`` ones and
oneof members, which are written whenever set.
"""

from __future__ import annotations

import math
import struct
from datetime import UTC, datetime
from typing import Any, Final

from gateway.events import Gap, HubEvent, LocationReported
from gateway.protocol.bodies.location import (
    BASIC_LOCATION_SIZE,
    AdditionalInfo,
    LazyLocationReport,
    LocationBatchType,
    LocationReport,
    StatusFlag,
)
from gateway.protocol.wire import CHINA_TZ, JSON, decode_bcd_time, to_json

from .locations import TYPED_ITEMS, proto_text

_DOUBLE: Final = struct.Struct("<d")
#: Fields 4 and 5 (latitude, longitude) with their keys.
_COORDINATES: Final = struct.Struct("<BdBd")
#: One double field with its key (one byte; two bytes as a little-endian int).
_KEYED_DOUBLE: Final = struct.Struct("<Bd")
_TWO_BYTE_KEYED_DOUBLE: Final = struct.Struct("<Hd")
_EPOCH: Final = datetime(1970, 1, 1, tzinfo=UTC)
_BLIND_AREA: Final = int(LocationBatchType.BLIND_AREA)
#: Typed fields of Location for standard items: item id -> (field number, is a double).
_TYPED_FIELDS: Final = {0x01: (17, True), 0x02: (18, True), 0x03: (19, True), 0x30: (20, False)}
_TYPED_FIELDS[0x31] = (21, False)
assert {k for k in TYPED_ITEMS} == set(_TYPED_FIELDS)  # the two tables name the same items
#: Encoded timestamps of report times (decoded times are shared objects: few distinct ones).
_TIME_MEMO: Final[dict[datetime, bytes]] = {}
#: The whole time field (key, length, Timestamp) by the six BCD bytes of the wire, b"" for none.
_WIRE_TIME_MEMO: Final[dict[bytes, bytes]] = {}
_SOUTH: Final = int(StatusFlag.SOUTH_LATITUDE)
#: Module constants (compiled: one static each) instead of a global looked up per report.
_LAZY: Final = LazyLocationReport
_BASIC_SIZE: Final = 28
assert _BASIC_SIZE == BASIC_LOCATION_SIZE
_PACK_COORDINATES: Final = _COORDINATES.pack
_WEST: Final = int(StatusFlag.WEST_LONGITUDE)
_TIME_MEMO_LIMIT: Final = 4096
#: What each terminal's reports repeat, by phone (``_Terminal``; bounded).
_TERMINALS: Final[dict[str, _Terminal]] = {}
_TERMINALS_LIMIT: Final = 65536
_SMALL_VARINTS: Final = tuple(bytes((value,)) for value in range(0x80))
#: Field 15 of a 0x0200 report.
_REPORT_MSG_ID: Final = b"\x78\x80\x04"
#: Encoded additional items (and their values) by (item id, raw bytes).
_ITEM_MEMO: Final[dict[tuple[int, bytes], tuple[bytes, Any]]] = {}
#: What a report without items has (shared: never written).
_NO_TYPED: Final[dict[int, Any]] = {}
_ITEM_MEMO_LIMIT: Final = 4096


def _varint(out: bytearray, value: int) -> None:
    """Append ``value`` (>= 0, below 2**64) as a base-128 varint."""
    while value > 0x7F:
        out.append((value & 0x7F) | 0x80)
        value >>= 7
    out.append(value)


def _signed(value: int) -> int:
    """int32/int64 on the wire: negative values as 64-bit two's complement."""
    return value if value >= 0 else value + (1 << 64)


def _bytes_field(out: bytearray, key: int, data: bytes) -> None:
    out.append(key)  # every key used here fits one byte (field < 16) or is given as two
    _varint(out, len(data))
    out += data


def _long_key(out: bytearray, field: int, wire_type: int) -> None:
    _varint(out, (field << 3) | wire_type)


def timestamp_bytes(moment: datetime) -> bytes:
    """A ``google.protobuf.Timestamp`` body (seconds floored, nanos >= 0, as FromDatetime)."""
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=CHINA_TZ)  # core times are GMT+8 (locations.aware)
    delta = moment - _EPOCH
    seconds = delta.days * 86400 + delta.seconds
    nanos = delta.microseconds * 1000
    if not nanos:
        return varint_field(0x08, _signed(seconds)) if seconds else b""
    stamp = varint_field(0x10, nanos)
    return varint_field(0x08, _signed(seconds)) + stamp if seconds else stamp


def _timestamp_field(key: int, moment: datetime) -> bytes:
    """Field ``key`` (one byte) holding the Timestamp of ``moment``."""
    stamp = timestamp_bytes(moment)
    return (key | len(stamp) << 8).to_bytes(2, "little") + stamp  # a stamp is < 128 bytes


def value_bytes(value: JSON) -> bytes:
    """A ``google.protobuf.Value`` body for a JSON-shaped value (as ``locations.json_value``)."""
    out = bytearray()
    if value is None:
        out += b"\x08\x00"  # null_value: a oneof member is written even at its default
    elif isinstance(value, bool):
        out += b"\x20\x01" if value else b"\x20\x00"
    elif isinstance(value, int | float):
        out.append(0x11)
        out += _DOUBLE.pack(float(value))
    elif isinstance(value, str):
        _bytes_field(out, 0x1A, proto_text(value).encode())
    elif isinstance(value, list):
        items = bytearray()
        for item in value:
            _bytes_field(items, 0x0A, value_bytes(item))
        _bytes_field(out, 0x32, bytes(items))
    else:
        fields = bytearray()
        for key, item in value.items():
            entry = bytearray()
            _bytes_field(entry, 0x0A, proto_text(key).encode())
            _bytes_field(entry, 0x12, value_bytes(item))
            _bytes_field(fields, 0x0A, bytes(entry))
        _bytes_field(out, 0x2A, bytes(fields))
    return bytes(out)


def varint_bytes(value: int) -> bytes:
    """``value`` (>= 0, below 2**64) as a base-128 varint, built as one integer."""
    if value < 0x80:
        return _SMALL_VARINTS[value]
    packed = 0
    shift = 0
    while value > 0x7F:
        packed |= ((value & 0x7F) | 0x80) << shift
        value >>= 7
        shift += 8
    packed |= value << shift
    return packed.to_bytes(shift // 8 + 1, "little")


def varint_field(key: int, value: int) -> bytes:
    """A varint field: its key (one byte, or two given as a little-endian int: field 16 and
    up) and ``value`` (>= 0, below 2**64), built as one integer: one bytes object per field."""
    shift = 8 if key < 0x100 else 16
    packed = key
    while value > 0x7F:
        packed |= ((value & 0x7F) | 0x80) << shift
        value >>= 7
        shift += 8
    packed |= value << shift
    return packed.to_bytes(shift // 8 + 1, "little")


#: Field 8 for each direction of the standard (0-359 degrees; 0 is left out), made once.
_DIRECTION_FIELDS: Final = (b"", *(varint_field(0x40, value) for value in range(1, 360)))
#: Fields 7 and 6 by the wire's speed (1/10 km/h) and altitude (m), made on first use, for the
#: values of a road fleet (below 204.8 km/h and 4,096 m): b"" until then.
_SPEED_FIELDS: Final = [b""] * 2048
_ALTITUDE_FIELDS: Final = [b""] * 4096


def _speed_field(speed: int) -> bytes:
    """Field 7 from the wire's speed (a WORD in 1/10 km/h); b"" for 0 (not written)."""
    if not speed:
        return b""
    if speed < 2048:
        field = _SPEED_FIELDS[speed]
        if not field:
            field = _SPEED_FIELDS[speed] = _KEYED_DOUBLE.pack(0x39, speed / 10)
        return field
    return _KEYED_DOUBLE.pack(0x39, speed / 10)


def _altitude_field(altitude: int) -> bytes:
    """Field 6 (int32); b"" for 0 (not written)."""
    if 0 < altitude < 4096:
        field = _ALTITUDE_FIELDS[altitude]
        if not field:
            field = _ALTITUDE_FIELDS[altitude] = varint_field(0x30, altitude)
        return field
    return varint_field(0x30, _signed(altitude)) if altitude else b""


def _direction_field(direction: int) -> bytes:
    """Field 8 (uint32); b"" for 0 (not written)."""
    if 0 <= direction < 360:
        return _DIRECTION_FIELDS[direction]
    return varint_field(0x40, direction)


def _double_written(value: float) -> bool:
    """proto3 leaves a double out only when its bits are all zero (so -0.0 is written)."""
    return value != 0.0 or math.copysign(1.0, value) < 0


def location_bytes(event: LocationReported) -> bytes:
    """``locations.location_from_event(event)``, serialized.

    Hot path (every report, once): each field is one bytes object (b"" when left out), all
    joined once from a list built whole, and a report nobody has read is encoded straight from
    its 28-byte block. Fields are written in number order, as protobuf writes them.
    """
    report: LocationReport = event.location
    # The body while unread (b"" once read), from its slot: undecoded() is a Python call.
    raw = report._undecoded if isinstance(report, _LAZY) else b""
    malformed = b""
    typed = _NO_TYPED  # made only for a report with items (never written while shared)
    items = b""
    if raw:
        # The 28-byte block read byte by byte: native integer arithmetic once compiled, where
        # struct's unpack made a tuple of eight boxed fields (a third of this function's time).
        alarm = raw[0] << 24 | raw[1] << 16 | raw[2] << 8 | raw[3]
        status = raw[4] << 24 | raw[5] << 16 | raw[6] << 8 | raw[7]
        lat = raw[8] << 24 | raw[9] << 16 | raw[10] << 8 | raw[11]
        lon = raw[12] << 24 | raw[13] << 16 | raw[14] << 8 | raw[15]
        altitude = raw[16] << 8 | raw[17]
        if altitude & 0x8000:
            altitude -= 0x10000  # a signed WORD
        time = _block_time(raw)
        latitude = -(lat / 1e6) if status & _SOUTH else lat / 1e6
        longitude = -(lon / 1e6) if status & _WEST else lon / 1e6
        speed = _speed_field(raw[18] << 8 | raw[19])
        direction = _direction_field(raw[20] << 8 | raw[21])
        if len(raw) > _BASIC_SIZE:  # items: straight from the wire, the report unread
            typed, pieces = {}, list[bytes]()
            malformed = _raw_items(raw, pieces, typed)
            items = b"".join(pieces)
    else:
        alarm, status, altitude = report.alarm, report.status, report.altitude
        latitude, longitude, speed_kmh = report.latitude, report.longitude, report.speed
        speed = _KEYED_DOUBLE.pack(0x39, speed_kmh) if _double_written(speed_kmh) else b""
        direction = _direction_field(report.direction)
        time = b"" if report.time is None else _report_time(report.time)
        if report.extras:
            typed = {}
            items = b"".join([_item_bytes(extra, typed) for extra in report.extras])
        malformed = report.malformed_extras
    # A double is left out only when its bits are all zero (-0.0 is written, as protobuf does).
    if _double_written(latitude):
        if _double_written(longitude):
            coordinates = _PACK_COORDINATES(0x21, latitude, 0x29, longitude)  # the usual case
        else:
            coordinates = _KEYED_DOUBLE.pack(0x21, latitude)
    elif _double_written(longitude):
        coordinates = _KEYED_DOUBLE.pack(0x29, longitude)
    else:
        coordinates = b""
    terminal = _terminal(event.phone, event.device_name)
    sequence = varint_field(0x01B8, event.sequence) if event.sequence else b""  # 23
    if not items and not malformed and event.batch_type is None and event.msg_id == 0x0200:
        # A plain 0x0200 report, the bulk of all traffic: fields 11-13 and 17-22 are empty and
        # 14-15 one remembered piece.
        middle = _received_report_fields(event.received_at)
    else:
        middle = b"".join(
            [
                items,  # field 11, repeated
                b"" if event.batch_type is None else _batch_fields(event.batch_type),
                _received_time(event.received_at),
                _msg_id_field(event.msg_id),
            ]
        )
        sequence = b"".join(
            [
                _typed_fields(typed) if typed else b"",  # fields 17-21
                b"\xb2\x01" + varint_bytes(len(malformed)) + malformed if malformed else b"",
                sequence,
            ]
        )
    # Ten pieces at most: join copies more than ten through a buffer list it allocates.
    return b"".join(
        [
            terminal.prefix,  # fields 1-2
            time,
            coordinates,
            _altitude_field(altitude),
            speed,
            direction,
            terminal.flag_fields(alarm, status),  # fields 9-10
            middle,  # fields 11-15
            varint_field(0x0180, event.serial) if event.serial else b"",  # 16: key 0x80 0x01
            sequence,  # fields 17-23
        ]
    )


def _batch_fields(batch_type: int) -> bytes:
    """Fields 12-13: ``batch_type`` set, and ``blind_area`` when it is a blind-area re-send."""
    return b"\x60\x01\x68\x01" if batch_type == _BLIND_AREA else b"\x60\x01"


def _msg_id_field(msg_id: int) -> bytes:
    """Field 15; 0x0200, the bulk of all traffic, without boxing an integer or making bytes."""
    if msg_id == 0x0200:
        return _REPORT_MSG_ID
    return varint_field(0x78, msg_id) if msg_id else b""


def _typed_fields(typed: dict[int, Any]) -> bytes:
    """Fields 17-21: the standard items' typed values, by item id (ids and field numbers sort
    alike)."""
    parts: list[bytes] = []
    for item_id in sorted(typed):
        field, is_double = _TYPED_FIELDS[item_id]
        value = typed[item_id]
        key = (field << 3) | 1 if is_double else field << 3  # fields 17-21: two-byte keys
        key = (key & 0x7F | 0x80) | (key >> 7) << 8
        if is_double:
            parts.append(_TWO_BYTE_KEYED_DOUBLE.pack(key, float(value)))
        else:
            parts.append(varint_field(key, int(value)))
    return b"".join(parts)


def _raw_items(raw: bytes, items: list[bytes], typed: dict[int, Any]) -> bytes:
    """The items of a 0x0200 body's tail, as ``_fill_location`` splits them (id BYTE, length
    BYTE, value), each appended to ``items`` as field 11; returns the malformed rest."""
    end = len(raw)
    i = BASIC_LOCATION_SIZE
    while i < end:
        stop = i + 2
        if stop > end or (stop := stop + raw[i + 1]) > end:
            return raw[i:end]
        item_id = raw[i]
        value = raw[i + 2 : stop]
        cached = _ITEM_MEMO.get((item_id, value))
        if cached is None:
            cached = _remember_item(AdditionalInfo(item_id, value))
        encoded, decoded = cached
        if decoded is not None and item_id in _TYPED_FIELDS and item_id not in typed:
            typed[item_id] = decoded  # the first item of an id counts
        items.append(encoded)
        i = stop
    return b""


def _remember_item(extra: AdditionalInfo) -> tuple[bytes, Any]:
    if len(_ITEM_MEMO) >= _ITEM_MEMO_LIMIT:
        _ITEM_MEMO.clear()
    cached = _ITEM_MEMO[(extra.id, extra.raw)] = _encode_item(extra)
    return cached


def _item_bytes(extra: AdditionalInfo, typed: dict[int, Any]) -> bytes:
    """One ``AdditionalItem`` (field 11); notes the first value of a typed item in ``typed``.

    Memoised by (id, raw bytes), bounded: an item's name and value follow from those two, and
    most items repeat from one report to the next (fuel, signal, satellites, status words), so
    the value is decoded and written as a ``google.protobuf.Value`` once, not per report.
    """
    cached = _ITEM_MEMO.get((extra.id, extra.raw))
    if cached is None:
        cached = _remember_item(extra)
    encoded, value = cached
    if value is not None and extra.id in _TYPED_FIELDS and extra.id not in typed:
        typed[extra.id] = value  # the first item of an id counts
    return encoded


def _encode_item(extra: AdditionalInfo) -> tuple[bytes, Any]:
    """Field 11 of one item, and its decoded value (None when it has none)."""
    item = bytearray()
    if extra.id:
        item.append(0x08)
        _varint(item, extra.id)
    name = extra.name
    if name:
        _bytes_field(item, 0x12, name.encode())
    if extra.raw:
        _bytes_field(item, 0x1A, extra.raw)
    value = extra.value
    if value is not None:
        _bytes_field(item, 0x22, value_bytes(to_json(value)))
    out = bytearray()
    _bytes_field(out, 0x5A, bytes(item))
    return bytes(out), value


class _Terminal:
    """What a terminal's reports repeat, encoded: fields 1-2 (its phone and name), and fields
    9-10 for its last alarm and status words (a vehicle's flags change far less often than it
    reports: the two varints are made again only when one of them changed)."""

    def __init__(self, device_name: str, prefix: bytes) -> None:
        self.device_name = device_name
        self.prefix = prefix
        self.alarm = 0
        self.status = 0
        self.flags = b""  # fields 9-10 of ``alarm`` and ``status``: none while both are 0

    def flag_fields(self, alarm: int, status: int) -> bytes:
        if alarm != self.alarm or status != self.status:
            self.flags = (varint_field(0x48, alarm) if alarm else b"") + (
                varint_field(0x50, status) if status else b""
            )
            self.alarm = alarm
            self.status = status
        return self.flags


def _terminal(phone: str, device_name: str) -> _Terminal:
    """The record of ``phone`` (made again when its name changed)."""
    terminal = _TERMINALS.get(phone)
    if terminal is not None and terminal.device_name == device_name:
        return terminal
    out = bytearray()
    if phone:
        _bytes_field(out, 0x0A, phone.encode())
    if device_name:
        _bytes_field(out, 0x12, proto_text(device_name).encode())
    if len(_TERMINALS) >= _TERMINALS_LIMIT:
        _TERMINALS.clear()
    terminal = _TERMINALS[phone] = _Terminal(device_name, bytes(out))
    return terminal


def _report_time(moment: datetime) -> bytes:
    """Field 3 for a decoded report time (decoded times are shared objects: few distinct)."""
    cached = _TIME_MEMO.get(moment)
    if cached is None:
        if len(_TIME_MEMO) >= _TIME_MEMO_LIMIT:
            _TIME_MEMO.clear()
        cached = _TIME_MEMO[moment] = _timestamp_field(0x1A, moment)
    return cached


def _wire_time(bcd_time: bytes) -> bytes:
    """Field 3 from the six BCD bytes of the wire; b"" for a time that is not one."""
    cached = _WIRE_TIME_MEMO.get(bcd_time)
    if cached is None:
        moment = decode_bcd_time(bcd_time)
        cached = b"" if moment is None else _report_time(moment)
        if len(_WIRE_TIME_MEMO) >= _TIME_MEMO_LIMIT:
            _WIRE_TIME_MEMO.clear()
        _WIRE_TIME_MEMO[bcd_time] = cached
    return cached


class _LastBlockTime:
    """The six BCD time bytes of the last block encoded (as one integer) and their field: a
    fleet's reports of one second share them, so most reports skip the slice and the memo."""

    def __init__(self) -> None:
        self.bcd = -1
        self.field = b""


_LAST_BLOCK_TIME: Final = _LastBlockTime()


def _block_time(raw: bytes) -> bytes:
    """Field 3 from bytes 22-27 of a location's basic block (a one-entry cache)."""
    bcd = raw[22] << 40 | raw[23] << 32 | raw[24] << 24 | raw[25] << 16 | raw[26] << 8 | raw[27]
    last = _LAST_BLOCK_TIME
    if bcd != last.bcd:
        last.field = _wire_time(raw[22:28])
        last.bcd = bcd
    return last.field


class _LastReceived:
    """The receive time of the last event encoded, and its field (with and without field 15 of
    a 0x0200 after it): the reports of one chunk share it (a native object: attribute reads,
    not module-dictionary lookups). A new time of the same second costs one subtraction and
    the nanos: the rest of the field is made once a second (``anchor``)."""

    def __init__(self) -> None:
        self.moment: datetime | None = None
        self.field = b""
        self.report_fields = b""
        #: The whole second of the last UTC time; by the length of the nanos field (0: none),
        #: field 14's key, length and seconds field for that second.
        self.anchor = _EPOCH
        self.heads = _heads(b"")

    def update(self, moment: datetime) -> None:
        if moment.tzinfo is not UTC:  # a time made by hand: the general way
            # A receive time is the gateway's clock: naive means UTC, as the library reads it
            # (``locations.location_message``), not GMT+8 as for a terminal's report time.
            aware = moment if moment.tzinfo is not None else moment.replace(tzinfo=UTC)
            field = _timestamp_field(0x72, aware)
        else:
            delta = moment - self.anchor
            if delta.days or delta.seconds:  # another second
                self.anchor = anchor = moment.replace(microsecond=0)
                since = anchor - _EPOCH
                seconds = since.days * 86400 + since.seconds
                self.heads = _heads(varint_field(0x08, _signed(seconds)) if seconds else b"")
                delta = moment - anchor
            micros = delta.microseconds
            if micros:
                nanos = varint_field(0x10, micros * 1000)
                field = self.heads[len(nanos)] + nanos
            else:
                field = self.heads[0]
        self.moment = moment
        self.field = field
        self.report_fields = field + _REPORT_MSG_ID


def _heads(seconds: bytes) -> list[bytes]:
    """Field 14's key and length, and ``seconds``, for a nanos field of 0-6 bytes."""
    return [
        (0x72 | (len(seconds) + size) << 8).to_bytes(2, "little") + seconds for size in range(7)
    ]


_LAST_RECEIVED: Final = _LastReceived()


def _received_time(moment: datetime) -> bytes:
    """Field 14 (a one-entry cache)."""
    last = _LAST_RECEIVED
    if moment is not last.moment:
        last.update(moment)
    return last.field


def _received_report_fields(moment: datetime) -> bytes:
    """Fields 14 and 15 of a 0x0200 report (the same cache)."""
    last = _LAST_RECEIVED
    if moment is not last.moment:
        last.update(moment)
    return last.report_fields


def encoded_location(event: LocationReported) -> bytes:
    """``location_bytes(event)``, made once per event and kept on it for other subscribers."""
    encoded = event.encoded
    if encoded is None:
        encoded = event.encoded = location_bytes(event)
    return encoded


def stream_response(locations: list[bytes]) -> bytes:
    """A ``StreamLocationsResponse``: one location in ``location`` (field 1), several in
    ``locations`` (field 3, a ``Locations`` whose ``items`` is field 1).

    Made by one join of the locations and their keys: the bytes of a batch are copied once
    (a growing bytearray copied each location again as it grew, then the batch twice more)."""
    if len(locations) == 1:
        location = locations[0]
        return _item_key(len(location)) + location
    pieces = [b""]  # the key of field 3, once its length is known
    size = 0
    for location in locations:
        key = _item_key(len(location))
        pieces.append(key)
        pieces.append(location)
        size += len(key) + len(location)
    pieces[0] = b"\x1a" + varint_bytes(size)
    return b"".join(pieces)


#: The key and length of a location of up to 511 bytes (field 1 of ``Locations`` and of the
#: response: both 0x0A), made once: a location of the usual report is 100-200 bytes.
_ITEM_KEYS: Final = tuple(b"\x0a" + varint_bytes(size) for size in range(512))


def _item_key(size: int) -> bytes:
    if size < 512:
        return _ITEM_KEYS[size]
    return b"\x0a" + varint_bytes(size)


def gap_response(dropped: int) -> bytes:
    """A ``StreamLocationsResponse`` whose ``gap`` (field 2) says ``dropped`` were lost."""
    gap = b"\x08" + varint_bytes(dropped) if dropped else b""
    return b"\x12" + varint_bytes(len(gap)) + gap


def location_responses(items: list[HubEvent | Gap], max_batch: int) -> list[bytes]:
    """What a StreamLocations subscriber is sent for ``items``, in their order: locations
    (each encoded once, for every subscriber) up to ``max_batch`` a response, each gap a
    response of its own; anything else (a terminal event) is skipped.

    The stream's loop over every item, here so that it runs compiled."""
    responses: list[bytes] = []
    batch: list[bytes] = []
    limit = max(1, max_batch)
    for item in items:
        if isinstance(item, LocationReported):
            encoded = item.encoded
            if encoded is None:
                encoded = item.encoded = location_bytes(item)
            batch.append(encoded)
            if len(batch) == limit:  # a replay page holds more than that
                responses.append(stream_response(batch))
                batch = []
        elif isinstance(item, Gap):
            if batch:
                responses.append(stream_response(batch))
                batch = []
            responses.append(gap_response(item.dropped))
    if batch:
        responses.append(stream_response(batch))
    return responses
