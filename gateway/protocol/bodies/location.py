"""Location: 0x0200 report, 0x8201/0x0201 query, 0x8202 tracking, 0x8203 alarm confirmation,
0x8204 link check and 0x0704 batch upload (JT/T 808-2019 §8.18-§8.26, §8.47).

The location body is irregular (a fixed 28-byte block, then id/length/value items up to the end
of the body) and it is the hottest message of a gateway, so it has a hand-written pull/push pair
instead of a generated plan. The additional items are a table: id -> (name, value codec).
"""

from __future__ import annotations

import dataclasses
import math
import struct
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime
from enum import IntEnum, IntFlag
from typing import Annotated, Any, ClassVar, Final, NamedTuple

from ..body import Body, register, set_decoder
from ..errors import EncodeError, TruncatedBodyError, shown
from ..ids import MessageId
from ..versions import V2013, V2019, ProtocolVersion
from ..wire import (
    BCD_TIME_MEMO,
    JSON,
    U32,
    Byte,
    Codec,
    DWord,
    Reader,
    Wire,
    Word,
    Writer,
    decode_bcd_time,
    encode_bcd_time,
)


class AlarmFlag(IntFlag):
    """Alarm bits of 0x0200 (2019 table 24; where 2013 differs, the 2013 meaning is noted).

    "Cleared on ack" alarms are cleared by the terminal once the platform confirms them.
    """

    EMERGENCY = 1 << 0  # cleared on ack
    OVERSPEED = 1 << 1
    FATIGUE_DRIVING = 1 << 2
    DANGEROUS_DRIVING = 1 << 3  # 2013: danger pre-warning, cleared on ack
    GNSS_MODULE_FAULT = 1 << 4
    GNSS_ANTENNA_CUT = 1 << 5
    GNSS_ANTENNA_SHORT = 1 << 6
    MAIN_POWER_UNDERVOLTAGE = 1 << 7
    MAIN_POWER_LOST = 1 << 8
    DISPLAY_FAULT = 1 << 9
    TTS_FAULT = 1 << 10
    CAMERA_FAULT = 1 << 11
    IC_CARD_MODULE_FAULT = 1 << 12  # 2013+
    OVERSPEED_WARNING = 1 << 13  # 2013+
    FATIGUE_WARNING = 1 << 14  # 2013+
    ILLEGAL_DRIVING_TIME = 1 << 15  # 2019
    TYRE_PRESSURE_WARNING = 1 << 16  # 2019
    RIGHT_TURN_BLIND_ZONE = 1 << 17  # 2019
    DAILY_DRIVING_EXCEEDED = 1 << 18
    OVERTIME_PARKING = 1 << 19
    AREA_IN_OUT = 1 << 20  # cleared on ack
    ROUTE_IN_OUT = 1 << 21  # cleared on ack
    ROUTE_TIME_ABNORMAL = 1 << 22  # cleared on ack
    ROUTE_DEVIATION = 1 << 23
    VSS_FAULT = 1 << 24
    FUEL_ABNORMAL = 1 << 25
    STOLEN = 1 << 26
    ILLEGAL_IGNITION = 1 << 27  # cleared on ack
    ILLEGAL_DISPLACEMENT = 1 << 28  # cleared on ack
    COLLISION = 1 << 29  # 2013: collision pre-warning; 2019: collision/roll-over alarm
    ROLLOVER_WARNING = 1 << 30  # 2013+
    ILLEGAL_DOOR_OPEN = 1 << 31  # 2013 only, cleared on ack; reserved in 2019


class StatusFlag(IntFlag):
    """Status bits of 0x0200 (2019 table 25). Bits 8-9 together are the load state."""

    ACC_ON = 1 << 0
    POSITIONED = 1 << 1
    SOUTH_LATITUDE = 1 << 2
    WEST_LONGITUDE = 1 << 3
    OUT_OF_SERVICE = 1 << 4
    COORDINATES_ENCRYPTED = 1 << 5
    FORWARD_COLLISION_WARNING = 1 << 6  # 2019
    LANE_DEPARTURE_WARNING = 1 << 7  # 2019
    LOAD_BIT_0 = 1 << 8  # load: 00 empty, 01 half, 11 full (2013+)
    LOAD_BIT_1 = 1 << 9
    OIL_CIRCUIT_CUT = 1 << 10
    ELECTRIC_CIRCUIT_CUT = 1 << 11
    DOOR_LOCKED = 1 << 12
    DOOR_1_OPEN = 1 << 13  # front door, 2013+
    DOOR_2_OPEN = 1 << 14  # middle door
    DOOR_3_OPEN = 1 << 15  # rear door
    DOOR_4_OPEN = 1 << 16  # driver's door
    DOOR_5_OPEN = 1 << 17  # custom door
    GPS_USED = 1 << 18
    BEIDOU_USED = 1 << 19
    GLONASS_USED = 1 << 20
    GALILEO_USED = 1 << 21
    MOVING = 1 << 22  # 2019: 0 stopped, 1 moving


#: Status bits 8-9 taken together: the load state.
LOAD_STATES: Final = {0: "empty", 1: "half", 2: "reserved", 3: "full"}


def flag_names(value: int, flags: type[AlarmFlag] | type[StatusFlag]) -> list[str]:
    """Names of the bits set in ``value``; bits the enum does not name read ``bit N``."""
    names = []
    for bit in range(32):
        mask = 1 << bit
        if value & mask:
            member = flags._value2member_map_.get(mask)
            names.append(member.name if member is not None and member.name else f"bit {bit}")
    return names


def alarm_names(alarm: int) -> list[str]:
    """The alarms of an alarm DWORD in words (``OVERSPEED``, ``EMERGENCY`` ...)."""
    return flag_names(alarm, AlarmFlag)


def status_names(status: int) -> list[str]:
    """Status flags with the two load bits shown as the load state they encode."""
    load = (status >> 8) & 0b11
    names = [n for n in flag_names(status, StatusFlag) if not n.startswith("LOAD_BIT")]
    if load:
        names.append(f"LOAD_{LOAD_STATES[load].upper()}")
    return names


# --------------------------------------------------------------------------------------------
# Additional-information items (2019 tables 27-32): id -> (name, decode value, encode value).


class ItemCodec(NamedTuple):
    """Name and value conversion of one additional-item id (the value is in natural units)."""

    name: str
    decode: Callable[[bytes], Any]
    encode: Callable[[Any], bytes]


def _uint(size: int, scale: int = 1) -> tuple[Callable[[bytes], Any], Callable[[Any], bytes]]:
    def decode(raw: bytes) -> Any:
        if len(raw) != size:
            return None
        value = int.from_bytes(raw, "big")
        return value / scale if scale != 1 else value

    def encode(value: float) -> bytes:
        try:
            return round(value * scale).to_bytes(size, "big")
        except OverflowError:
            raise EncodeError(f"{value} does not fit {size} bytes") from None

    return decode, encode


def _decode_temperature(raw: bytes) -> int | None:
    # The standard's text: "top bit 1 = negative", i.e. sign and magnitude (YZH reads two's
    # complement; the two agree for every positive value). See docs/decisions.md.
    if len(raw) != 2:
        return None
    value = int.from_bytes(raw, "big")
    return -(value & 0x7FFF) if value & 0x8000 else value


def _encode_temperature(value: int) -> bytes:
    if not -0x7FFF <= value <= 0x7FFF:
        raise EncodeError(f"temperature {value} outside -32767..32767")
    return ((0x8000 | -value) if value < 0 else value).to_bytes(2, "big")


TYRE_PRESSURE_SIZE: Final = 30


def _decode_tyres(raw: bytes) -> list[int] | None:
    # One byte per wheel from the front left; 0xFF = no sensor. The standard fixes 30 bytes.
    return list(raw) if len(raw) == TYRE_PRESSURE_SIZE else None


def _encode_tyres(value: list[int]) -> bytes:
    if len(value) > TYRE_PRESSURE_SIZE:
        raise EncodeError(f"at most {TYRE_PRESSURE_SIZE} tyres, got {len(value)}")
    return bytes(value).ljust(TYRE_PRESSURE_SIZE, b"\xff")  # unused wheels: 0xFF


def _decode_overspeed(raw: bytes) -> dict[str, int] | None:
    if len(raw) == 1:
        return {"location_type": raw[0]}
    if len(raw) == 5:
        return {"location_type": raw[0], "area_id": int.from_bytes(raw[1:5], "big")}
    return None


def _encode_overspeed(value: dict[str, int]) -> bytes:
    if value["location_type"] == 0:
        return bytes((0,))
    return bytes((value["location_type"],)) + value["area_id"].to_bytes(4, "big")


def _decode_area_alarm(raw: bytes) -> dict[str, int] | None:
    if len(raw) != 6:
        return None
    return {
        "location_type": raw[0],
        "area_id": int.from_bytes(raw[1:5], "big"),
        "direction": raw[5],
    }


def _encode_area_alarm(value: dict[str, int]) -> bytes:
    return (
        bytes((value["location_type"],))
        + value["area_id"].to_bytes(4, "big")
        + bytes((value["direction"],))
    )


_ROUTE_TIME = struct.Struct(">IHB")


def _decode_route_time(raw: bytes) -> dict[str, int] | None:
    if len(raw) != 7:
        return None
    route_id, drive_time_s, result = _ROUTE_TIME.unpack(raw)
    return {"route_id": route_id, "drive_time_s": drive_time_s, "result": result}


def _encode_route_time(value: dict[str, int]) -> bytes:
    return _ROUTE_TIME.pack(value["route_id"], value["drive_time_s"], value["result"])


def _decode_analog(raw: bytes) -> dict[str, int] | None:
    if len(raw) != 4:
        return None
    value = int.from_bytes(raw, "big")
    return {"ad0": value & 0xFFFF, "ad1": value >> 16}  # bits 0-15 AD0, bits 16-31 AD1


def _encode_analog(value: dict[str, int]) -> bytes:
    ad0, ad1 = value["ad0"], value["ad1"]
    if not (0 <= ad0 <= 0xFFFF and 0 <= ad1 <= 0xFFFF):
        raise EncodeError(f"analog inputs are WORDs (0..65535), got ad0={ad0}, ad1={ad1}")
    return ((ad1 << 16) | ad0).to_bytes(4, "big")


ADDITIONAL_ITEMS: Final[dict[int, ItemCodec]] = {
    0x01: ItemCodec("mileage_km", *_uint(4, 10)),
    0x02: ItemCodec("fuel_l", *_uint(2, 10)),
    0x03: ItemCodec("tachograph_speed_kmh", *_uint(2, 10)),
    0x04: ItemCodec("alarm_event_id", *_uint(2)),
    0x05: ItemCodec("tyre_pressure_pa", _decode_tyres, _encode_tyres),
    0x06: ItemCodec("compartment_temperature_c", _decode_temperature, _encode_temperature),
    0x11: ItemCodec("overspeed", _decode_overspeed, _encode_overspeed),
    0x12: ItemCodec("area_route_alarm", _decode_area_alarm, _encode_area_alarm),
    0x13: ItemCodec("route_drive_time", _decode_route_time, _encode_route_time),
    0x25: ItemCodec("vehicle_signals", *_uint(4)),
    0x2A: ItemCodec("io_status", *_uint(2)),
    0x2B: ItemCodec("analog", _decode_analog, _encode_analog),
    0x30: ItemCodec("signal_strength", *_uint(1)),
    0x31: ItemCodec("satellites", *_uint(1)),
}


@dataclass(slots=True)
class AdditionalInfo:
    """One additional-information item: its id and raw value bytes, kept exactly as sent.

    ``name`` and ``value`` come from ``ADDITIONAL_ITEMS`` for the items of the standard;
    any other id (vendor, JT/T 1078, ...) has neither, and ``value`` is also ``None`` when a
    standard item has a length the standard does not allow.
    """

    id: int
    raw: bytes

    @classmethod
    def of(cls, item_id: int, value: Any) -> AdditionalInfo:
        """Build a standard item from its value in natural units (km, L, km/h, ...)."""
        codec = ADDITIONAL_ITEMS.get(item_id)
        if codec is None:
            raise EncodeError(f"0x{item_id:02X} is not a standard additional item; pass raw bytes")
        try:
            raw = codec.encode(value)
        except EncodeError:
            raise
        except (ValueError, OverflowError, TypeError, KeyError, struct.error) as error:
            raise EncodeError(
                f"{codec.name} (0x{item_id:02X}): cannot encode {shown(value)}: {error}"
            ) from None
        if len(raw) > 0xFF:
            raise EncodeError(f"{codec.name} (0x{item_id:02X}) is longer than 255 bytes")
        return cls(item_id, raw)

    @property
    def name(self) -> str | None:
        codec = ADDITIONAL_ITEMS.get(self.id)
        return None if codec is None else codec.name

    @property
    def value(self) -> Any:
        codec = ADDITIONAL_ITEMS.get(self.id)
        return None if codec is None else codec.decode(self.raw)

    def to_json(self) -> dict[str, JSON]:
        view: dict[str, JSON] = {"id": self.id, "raw": self.raw.hex()}
        codec = ADDITIONAL_ITEMS.get(self.id)
        if codec is not None:
            view["name"] = codec.name
            value = codec.decode(self.raw)
            if value is not None:
                view["value"] = value
        return view


# --------------------------------------------------------------------------------------------
# The location body.

#: alarm, status, latitude, longitude (millionths of a degree), altitude, speed (0.1 km/h),
#: direction, BCD time: the 28 bytes every location starts with.
BASIC_BLOCK: Final = struct.Struct(">IIIIhHH6s")
_BASIC = BASIC_BLOCK
_unpack_basic = _BASIC.unpack_from
BASIC_LOCATION_SIZE: Final = _BASIC.size  # 28
_SOUTH = int(StatusFlag.SOUTH_LATITUDE)
_WEST = int(StatusFlag.WEST_LONGITUDE)


@dataclass(slots=True, kw_only=True)
class LocationReport(Body):
    """0x0200 location report; also the location inside 0x0201, 0x0500, 0x0704 and 0x0801.

    ``latitude``/``longitude`` are degrees, negative for south/west (the status bits decide
    the hemisphere; encoding sets them from the sign). ``altitude`` is metres (read as a
    signed WORD: below-sea-level roads exist and devices send them as two's complement),
    ``speed`` km/h, ``direction`` degrees from north, ``time`` GMT+8 or ``None`` when the device
    sent no valid time. ``malformed_extras`` keeps, byte for byte, the tail of the body from the
    first additional item whose length runs past the end: the location is still delivered.
    """

    alarm: int
    status: int
    latitude: float
    longitude: float
    altitude: int
    speed: float
    direction: int
    time: datetime | None
    extras: list[AdditionalInfo] = field(default_factory=list)
    malformed_extras: bytes = b""

    @property
    def alarms(self) -> AlarmFlag:
        return AlarmFlag(self.alarm)

    @property
    def status_flags(self) -> StatusFlag:
        return StatusFlag(self.status)

    def extra(self, item_id: int) -> AdditionalInfo | None:
        """The first additional item with ``item_id``, if the report carries one."""
        for item in self.extras:
            if item.id == item_id:
                return item
        return None

    @classmethod
    def read(cls, r: Reader) -> LocationReport:
        report = _read_location(r.data, r.pos, r.end)
        r.pos = r.end
        return report

    @classmethod
    def decode_prefix(cls, data: bytes, version: ProtocolVersion) -> tuple[Body, int]:
        return _decode_location(data, version)

    def write(self, w: Writer) -> None:
        w.out += _encode_basic(self)
        for item in self.extras:
            if len(item.raw) > 0xFF:
                raise EncodeError(f"additional item 0x{item.id:02X} is longer than 255 bytes")
            w.out += bytes((item.id, len(item.raw))) + item.raw
        w.out += self.malformed_extras

    def to_json(self) -> dict[str, JSON]:
        view: dict[str, JSON] = {
            "alarm": self.alarm,
            "status": self.status,
            "latitude": self.latitude,
            "longitude": self.longitude,
            "altitude": self.altitude,
            "speed": self.speed,
            "direction": self.direction,
            "time": None if self.time is None else self.time.isoformat(),
            "extras": [item.to_json() for item in self.extras],
        }
        if self.malformed_extras:
            view["malformed_extras"] = self.malformed_extras.hex()
        return view


register(MessageId.LOCATION_REPORT)(LocationReport)


_new = object.__new__
_Info = AdditionalInfo


def _read_location(data: bytes, start: int, end: int) -> LocationReport:
    """Decode the location in ``data[start:end]``: the 28-byte block, then items to ``end``."""
    if end - start < BASIC_LOCATION_SIZE:
        raise TruncatedBodyError(
            f"a location needs {BASIC_LOCATION_SIZE} bytes but only {end - start} remain",
            offset=start,
        )
    report: LocationReport = _new(LocationReport)
    _fill_location(report, data, start, end)
    return report


def _fill_location(report: LocationReport, data: bytes, start: int, end: int) -> None:
    """Set every field of ``report`` from ``data[start:end]`` (at least the 28-byte block).

    Attributes are assigned straight to the slots (a keyword ``__init__`` costs twice as much)
    and the item loop touches each byte once.
    """
    alarm, status, lat, lon, altitude, speed, direction, time = _unpack_basic(data, start)
    report.alarm = alarm
    report.status = status
    report.latitude = -(lat / 1e6) if status & _SOUTH else lat / 1e6  # -0.0 keeps the bit
    report.longitude = -(lon / 1e6) if status & _WEST else lon / 1e6
    report.altitude = altitude
    report.speed = speed / 10
    report.direction = direction
    # decode_bcd_time's own memo, read inline (a miss, or a cached None, takes the call)
    moment = BCD_TIME_MEMO.get(time)
    report.time = moment if moment is not None else decode_bcd_time(time)
    extras: list[AdditionalInfo] = []
    report.extras = extras
    report.malformed_extras = b""
    append = extras.append
    i = start + BASIC_LOCATION_SIZE
    while i < end:
        stop = i + 2
        if stop > end or (stop := stop + data[i + 1]) > end:
            report.malformed_extras = data[i:end]
            break
        append(_Info(data[i], data[i + 2 : stop]))
        i = stop


_FIELD_NAMES: Final = frozenset(f.name for f in dataclasses.fields(LocationReport))


class LazyLocationReport(LocationReport):
    """A 0x0200 body that is decoded the first time one of its fields is read.

    Most reports are acknowledged, stored and forwarded without anyone looking inside them;
    the gateway decodes a report only when a consumer reads it. Decoding cannot fail once the
    28-byte block is there (damaged items go to ``malformed_extras``), so ``_decode_location``
    checks the length up front and the rest waits. It is a ``LocationReport`` in every other
    way: it compares equal to the eager one with the same fields.
    """

    __slots__ = ("_raw", "_undecoded")
    _raw: bytes
    _undecoded: bytes

    def __getattr__(self, name: str) -> Any:
        # Only called for a slot that is not set yet: decode everything once.
        if name not in _FIELD_NAMES:
            raise AttributeError(name)
        raw = self._raw
        _fill_location(self, raw, 0, len(raw))
        self._undecoded = b""
        return object.__getattribute__(self, name)

    def undecoded(self) -> bytes | None:
        """The body's bytes while no field has been read (a reader of the wire form can skip
        the decoding), else None."""
        return self._undecoded or None

    def body_bytes(self) -> bytes:
        """The body exactly as the terminal sent it (what the event log keeps)."""
        return self._raw

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, LocationReport):
            return NotImplemented
        return all(getattr(self, n) == getattr(other, n) for n in _FIELD_ORDER)

    __hash__ = None  # type: ignore[assignment]  # mutable, like the dataclass it extends

    def __repr__(self) -> str:
        fields = ", ".join(f"{n}={getattr(self, n)!r}" for n in _FIELD_ORDER)
        return f"LocationReport({fields})"


_FIELD_ORDER: Final = tuple(f.name for f in dataclasses.fields(LocationReport))


def _decode_location(data: bytes, version: ProtocolVersion) -> tuple[Body, int]:
    size = len(data)
    if size < BASIC_LOCATION_SIZE:
        raise TruncatedBodyError(
            f"a location needs {BASIC_LOCATION_SIZE} bytes but only {size} remain", offset=0
        )
    report: LazyLocationReport = _new(LazyLocationReport)
    report._raw = report._undecoded = data
    return report, size


set_decoder(MessageId.LOCATION_REPORT, _decode_location)


def _encode_basic(report: LocationReport) -> bytes:
    for name in ("latitude", "longitude", "speed"):
        if not math.isfinite(getattr(report, name)):
            raise EncodeError(f"LocationReport.{name} is {getattr(report, name)}, not a number")
    status = report.status & ~(_SOUTH | _WEST)
    if math.copysign(1.0, report.latitude) < 0:
        status |= _SOUTH
    if math.copysign(1.0, report.longitude) < 0:
        status |= _WEST
    try:
        return _BASIC.pack(
            report.alarm,
            status,
            round(abs(report.latitude) * 1e6),
            round(abs(report.longitude) * 1e6),
            report.altitude,
            round(report.speed * 10),
            report.direction,
            encode_bcd_time(report.time),
        )
    except (struct.error, OverflowError) as error:
        raise EncodeError(f"LocationReport field out of range: {error}") from None


class _BasicLocation(Codec[LocationReport]):
    """Exactly the 28-byte block, no items (inside 0x0801 and 0x0802)."""

    def read(self, r: Reader) -> LocationReport:
        end = r.pos + BASIC_LOCATION_SIZE
        if end > r.end:
            raise TruncatedBodyError(
                f"a location block needs {BASIC_LOCATION_SIZE} bytes, {r.remaining} remain",
                offset=r.pos,
            )
        report = _read_location(r.data, r.pos, end)
        r.pos = end
        return report

    def write(self, w: Writer, value: LocationReport) -> None:
        w.out += _encode_basic(value)


class _LocationToEnd(Codec[LocationReport]):
    """A complete location body running to the end of the message (0x0201, 0x0500)."""

    def read(self, r: Reader) -> LocationReport:
        return LocationReport.read(r)

    def write(self, w: Writer, value: LocationReport) -> None:
        value.write(w)


BASIC_LOCATION: Final[Codec[LocationReport]] = _BasicLocation()
LOCATION: Final[Codec[LocationReport]] = _LocationToEnd()


@register(MessageId.QUERY_LOCATION)
@dataclass(slots=True, kw_only=True)
class QueryLocation(Body):
    """0x8201: ask for the current location. Empty body; answered with 0x0201."""


@register(MessageId.QUERY_LOCATION_RESPONSE)
@dataclass(slots=True, kw_only=True)
class QueryLocationResponse(Body):
    """0x0201: the location asked for by the 0x8201 with serial ``reply_serial``."""

    reply_serial: Word
    location: Annotated[LocationReport, LOCATION]


@register(MessageId.TEMPORARY_TRACKING)
@dataclass(slots=True, kw_only=True)
class TemporaryTracking(Body):
    """0x8202: report every ``interval_s`` seconds for ``validity_s`` seconds; interval 0 stops
    tracking and then the validity field is omitted."""

    interval_s: Word
    validity_s: Annotated[int, Wire(U32, when=lambda f: f["interval_s"] != 0)] = 0


@register(MessageId.CONFIRM_ALARM, since=V2013)
@dataclass(slots=True, kw_only=True)
class ConfirmAlarm(Body):
    """0x8203: the platform confirms alarms by hand. ``alarm_serial`` 0 confirms every alarm of
    the types in ``alarm_types`` (bits of ``AlarmFlag``)."""

    alarm_serial: Word
    alarm_types: DWord


@register(MessageId.LINK_CHECK, since=V2019)
@dataclass(slots=True, kw_only=True)
class LinkCheck(Body):
    """0x8204 (2019): link check, empty body; the terminal answers 0x0001."""


class LocationBatchType(IntEnum):
    NORMAL = 0
    BLIND_AREA = 1  # store-and-forward re-send of reports buffered while offline


@register(MessageId.LOCATION_BATCH, since=V2013)
@dataclass(slots=True, kw_only=True)
class LocationBatch(Body):
    """0x0704: several location reports at once; ``type`` 0 normal batch, 1 blind-area re-send.

    Each item is a WORD length and a complete 0x0200 body. An item that cannot be decoded stops
    the list: it and everything after it are kept in ``malformed_items`` byte for byte.
    """

    type: Byte
    items: list[LocationReport] = field(default_factory=list)
    malformed_items: bytes = b""

    _HEAD: ClassVar[struct.Struct] = struct.Struct(">HB")

    @classmethod
    def read(cls, r: Reader) -> LocationBatch:
        count, batch_type = r.unpack(cls._HEAD)
        data, end = r.data, r.end
        items: list[LocationReport] = []
        i = r.pos
        # A declared count larger than what the body holds is tolerated: the items present are
        # delivered (the count is rebuilt from the list when encoding).
        while len(items) < count and i + 2 <= end:
            stop = i + 2 + ((data[i] << 8) | data[i + 1])
            if stop > end or stop - i - 2 < BASIC_LOCATION_SIZE:
                break
            items.append(_read_location(data, i + 2, stop))
            i = stop
        r.pos = end
        return cls(type=batch_type, items=items, malformed_items=data[i:end])

    def write(self, w: Writer) -> None:
        if not self.items:
            raise EncodeError("a 0x0704 batch needs at least one item")
        w.out += self._HEAD.pack(len(self.items), self.type)
        for item in self.items:
            inner = Writer(w.version)
            item.write(inner)
            if len(inner.out) > 0xFFFF:
                raise EncodeError(
                    f"a 0x0704 item of {len(inner.out)} bytes exceeds its WORD length"
                )
            w.out += len(inner.out).to_bytes(2, "big") + inner.out
        w.out += self.malformed_items

    def to_json(self) -> dict[str, JSON]:
        view: dict[str, JSON] = {
            "type": self.type,
            "items": [item.to_json() for item in self.items],
        }
        if self.malformed_items:
            view["malformed_items"] = self.malformed_items.hex()
        return view


#: Messages whose body is (or carries, to its end) a full location report.
_LOCATION_REPLIES: Final = frozenset(
    {MessageId.QUERY_LOCATION_RESPONSE, MessageId.VEHICLE_CONTROL_RESPONSE}
)


def location_reports(body: Body) -> list[LocationReport]:
    """Every position a location message carries (0x0200, 0x0201, 0x0500, 0x0704), for
    consumers that want positions whatever message brought them. Other messages that embed a
    location block (0x0801 media, 0x0802 search results) are not location reports: [].
    """
    if isinstance(body, LocationReport):
        return [body]
    if isinstance(body, LocationBatch):
        return list(body.items)
    if body.MSG_ID in _LOCATION_REPLIES:
        location = getattr(body, "location", None)
        if isinstance(location, LocationReport):
            return [location]
    return []


__all__ = [
    "ADDITIONAL_ITEMS",
    "BASIC_BLOCK",
    "BASIC_LOCATION",
    "BASIC_LOCATION_SIZE",
    "LOCATION",
    "AdditionalInfo",
    "AlarmFlag",
    "ConfirmAlarm",
    "ItemCodec",
    "LazyLocationReport",
    "LinkCheck",
    "LocationBatch",
    "LocationBatchType",
    "LocationReport",
    "QueryLocation",
    "QueryLocationResponse",
    "StatusFlag",
    "TemporaryTracking",
    "location_reports",
]
