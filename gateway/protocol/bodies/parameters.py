"""Terminal parameters: 0x8103 set, 0x8104 query all, 0x8106 query some, 0x0104 the answer.

JT/T 808-2019 §8.11-§8.14 (tables 11-16); 2013 tables 10-15. A parameter item is an id (DWORD),
a length (BYTE) and a value whose type the id decides. The ids of the standard are a table,
id -> (name, type); the item keeps its value bytes exactly as sent, and the typed value is a view
of them, so a vendor id, a JT/T 1078 id or a value of the wrong length never fails a message.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from enum import IntEnum
from typing import Annotated, Any, Final, NamedTuple

from ..body import Body, register
from ..errors import EncodeError
from ..ids import MessageId
from ..versions import V2013
from ..wire import (
    JSON,
    U8,
    U32,
    Bytes,
    DWord,
    Layout,
    ListOf,
    Reader,
    Word,
    decode_text,
    encode_text,
    to_json,
)


class ParameterId(IntEnum):
    """Parameter ids of the standard (2019 table 14, 2013 table 12).

    Units: intervals and timeouts in seconds, distances in metres unless noted.
    """

    HEARTBEAT_INTERVAL = 0x0001  # s
    TCP_REPLY_TIMEOUT = 0x0002  # s
    TCP_RETRANSMIT_COUNT = 0x0003
    UDP_REPLY_TIMEOUT = 0x0004  # s
    UDP_RETRANSMIT_COUNT = 0x0005
    SMS_REPLY_TIMEOUT = 0x0006  # s
    SMS_RETRANSMIT_COUNT = 0x0007
    MAIN_SERVER_APN = 0x0010  # CDMA: PPP dial number
    MAIN_SERVER_DIAL_USER = 0x0011
    MAIN_SERVER_DIAL_PASSWORD = 0x0012
    MAIN_SERVER_ADDRESS = 0x0013  # IP or domain; 2019: "host:port[;host:port...]"
    BACKUP_SERVER_APN = 0x0014
    BACKUP_SERVER_DIAL_USER = 0x0015
    BACKUP_SERVER_DIAL_PASSWORD = 0x0016
    BACKUP_SERVER_ADDRESS = 0x0017  # 2019: "host:port[;...]"
    SERVER_TCP_PORT = 0x0018  # reserved in 2019 (the port moved into 0x0013)
    SERVER_UDP_PORT = 0x0019  # reserved in 2019
    IC_CARD_AUTH_MAIN_SERVER_ADDRESS = 0x001A  # 2013+
    IC_CARD_AUTH_SERVER_TCP_PORT = 0x001B  # 2013+
    IC_CARD_AUTH_SERVER_UDP_PORT = 0x001C  # 2013+
    IC_CARD_AUTH_BACKUP_SERVER_ADDRESS = 0x001D  # 2013+, same ports as the main one
    REPORT_STRATEGY = 0x0020  # 0 by time, 1 by distance, 2 both
    REPORT_SCHEME = 0x0021  # 0 by ACC, 1 by login state then ACC
    DRIVER_LOGGED_OUT_REPORT_INTERVAL = 0x0022  # s
    SECONDARY_SERVER_APN = 0x0023  # 2019; empty: use the main server's settings
    SECONDARY_SERVER_DIAL_USER = 0x0024  # 2019
    SECONDARY_SERVER_DIAL_PASSWORD = 0x0025  # 2019
    SECONDARY_SERVER_ADDRESS = 0x0026  # 2019, "host:port[;...]"
    SLEEP_REPORT_INTERVAL = 0x0027  # s
    EMERGENCY_REPORT_INTERVAL = 0x0028  # s
    DEFAULT_REPORT_INTERVAL = 0x0029  # s
    DEFAULT_REPORT_DISTANCE = 0x002C  # m
    DRIVER_LOGGED_OUT_REPORT_DISTANCE = 0x002D  # m
    SLEEP_REPORT_DISTANCE = 0x002E  # m
    EMERGENCY_REPORT_DISTANCE = 0x002F  # m
    TURN_POINT_ANGLE = 0x0030  # degrees, < 180
    GEOFENCE_RADIUS = 0x0031  # m, illegal-displacement threshold (2013+)
    ILLEGAL_DRIVING_PERIOD = 0x0032  # 2019: start hour, start minute, end hour, end minute
    MONITORING_PLATFORM_PHONE = 0x0040
    RESET_PHONE = 0x0041
    FACTORY_RESET_PHONE = 0x0042
    PLATFORM_SMS_PHONE = 0x0043
    SMS_ALARM_PHONE = 0x0044
    ANSWER_STRATEGY = 0x0045  # 0 auto, 1 auto when ACC on
    MAX_CALL_DURATION = 0x0046  # s per call; 0 none, 0xFFFFFFFF unlimited
    MONTHLY_CALL_DURATION = 0x0047  # s per month
    LISTEN_PHONE = 0x0048
    PRIVILEGED_SMS_PHONE = 0x0049
    ALARM_MASK = 0x0050  # bits of AlarmFlag; 1 = masked
    ALARM_SMS_SWITCH = 0x0051  # bits of AlarmFlag
    ALARM_PHOTO_SWITCH = 0x0052  # bits of AlarmFlag
    ALARM_PHOTO_STORE = 0x0053  # bits of AlarmFlag; 1 store, 0 upload
    KEY_ALARM_FLAGS = 0x0054  # bits of AlarmFlag
    MAX_SPEED = 0x0055  # km/h
    OVERSPEED_DURATION = 0x0056  # s
    CONTINUOUS_DRIVING_LIMIT = 0x0057  # s
    DAILY_DRIVING_LIMIT = 0x0058  # s
    MIN_REST = 0x0059  # s
    MAX_PARKING = 0x005A  # s
    OVERSPEED_WARNING_DIFFERENCE = 0x005B  # 0.1 km/h (2013+)
    FATIGUE_WARNING_DIFFERENCE = 0x005C  # s (2013+)
    COLLISION_ALARM = 0x005D  # b0-7 time (2013: x4 ms, 2019: ms), b8-15 acceleration 0.1 g
    ROLLOVER_ANGLE = 0x005E  # degrees (2013+)
    TIMED_PHOTO = 0x0064  # control bits (2013+)
    DISTANCE_PHOTO = 0x0065  # control bits (2013+)
    IMAGE_QUALITY = 0x0070  # 1-10, 1 best
    BRIGHTNESS = 0x0071  # 0-255
    CONTRAST = 0x0072  # 0-127
    SATURATION = 0x0073  # 0-127
    CHROMA = 0x0074  # 0-255
    ODOMETER = 0x0080  # 0.1 km
    PROVINCE_ID = 0x0081  # 2013+
    CITY_ID = 0x0082  # 2013+
    PLATE = 0x0083  # 2013+
    PLATE_COLOR = 0x0084  # 2013+ (2019: JT/T 697.7-2014 codes)
    GNSS_MODE = 0x0090  # b0 GPS, b1 BeiDou, b2 GLONASS, b3 Galileo (2013+)
    GNSS_BAUD_RATE = 0x0091  # 0=4800 1=9600 2=19200 3=38400 4=57600 5=115200
    GNSS_OUTPUT_RATE = 0x0092  # 0=500 ms 1=1000 2=2000 3=3000 4=4000
    GNSS_COLLECT_INTERVAL = 0x0093  # s
    GNSS_UPLOAD_MODE = 0x0094  # 0 store, 1 time, 2 distance, 0x0B/0x0C/0x0D cumulative
    GNSS_UPLOAD_VALUE = 0x0095  # s, m or count, per GNSS_UPLOAD_MODE
    CAN1_COLLECT_INTERVAL = 0x0100  # ms, 0 = off
    CAN1_UPLOAD_INTERVAL = 0x0101  # s, 0 = off
    CAN2_COLLECT_INTERVAL = 0x0102  # ms
    CAN2_UPLOAD_INTERVAL = 0x0103  # s
    CAN_ID_COLLECTION = 0x0110  # 8 bytes; 0x0111-0x01FF are further CAN ids, same layout


# --------------------------------------------------------------------------------------------
# Value types: how the value bytes of one id read as a typed value and back.


class ParameterType:
    """The wire type of a parameter value; ``decode`` returns ``None`` for bytes that do not fit."""

    __slots__ = ()

    def decode(self, raw: bytes) -> Any:
        raise NotImplementedError

    def encode(self, value: Any) -> bytes:
        raise NotImplementedError

    def describe(self) -> str:
        raise NotImplementedError


class _Unsigned(ParameterType):
    __slots__ = ("size",)

    def __init__(self, size: int) -> None:
        self.size = size

    def decode(self, raw: bytes) -> int | None:
        return int.from_bytes(raw, "big") if len(raw) == self.size else None

    def encode(self, value: Any) -> bytes:
        if not isinstance(value, int) or isinstance(value, bool):
            raise EncodeError(
                f"{self.describe()} parameter needs an int, got {type(value).__name__}"
            )
        try:
            return value.to_bytes(self.size, "big")
        except OverflowError:
            raise EncodeError(f"{value} does not fit a {self.describe()}") from None

    def describe(self) -> str:
        return {1: "BYTE", 2: "WORD", 4: "DWORD"}[self.size]


class _String(ParameterType):
    """GBK text without terminator; trailing 0x00 (2011 devices terminate strings) is dropped."""

    __slots__ = ()

    def decode(self, raw: bytes) -> str:
        return decode_text(raw.rstrip(b"\x00"))

    def encode(self, value: Any) -> bytes:
        if not isinstance(value, str):
            raise EncodeError(f"STRING parameter needs a str, got {type(value).__name__}")
        return encode_text(value)

    def describe(self) -> str:
        return "STRING"


class _ByteArray(ParameterType):
    __slots__ = ("size",)

    def __init__(self, size: int) -> None:
        self.size = size

    def decode(self, raw: bytes) -> bytes | None:
        return raw if len(raw) == self.size else None

    def encode(self, value: Any) -> bytes:
        if not isinstance(value, bytes | bytearray) or len(value) != self.size:
            got = f"{len(value)}" if isinstance(value, bytes | bytearray) else type(value).__name__
            raise EncodeError(f"{self.describe()} parameter needs {self.size} bytes, got {got}")
        return bytes(value)

    def describe(self) -> str:
        return f"BYTE[{self.size}]"


BYTE: Final[ParameterType] = _Unsigned(1)
WORD: Final[ParameterType] = _Unsigned(2)
DWORD: Final[ParameterType] = _Unsigned(4)
STRING: Final[ParameterType] = _String()


def byte_array(size: int) -> ParameterType:
    """BYTE[size]: the value is the bytes themselves."""
    return _ByteArray(size)


class ParameterSpec(NamedTuple):
    name: str
    type: ParameterType


#: 0x0110-0x01FF: b63-32 collect interval (ms), b31 channel, b30 standard/extended frame,
#: b29 raw/computed, b28-0 the CAN id.
_CAN_ID_SETTING: Final = byte_array(8)
_P = ParameterId
_TYPES: Final[dict[ParameterId, ParameterType]] = {
    _P.HEARTBEAT_INTERVAL: DWORD,
    _P.TCP_REPLY_TIMEOUT: DWORD,
    _P.TCP_RETRANSMIT_COUNT: DWORD,
    _P.UDP_REPLY_TIMEOUT: DWORD,
    _P.UDP_RETRANSMIT_COUNT: DWORD,
    _P.SMS_REPLY_TIMEOUT: DWORD,
    _P.SMS_RETRANSMIT_COUNT: DWORD,
    _P.MAIN_SERVER_APN: STRING,
    _P.MAIN_SERVER_DIAL_USER: STRING,
    _P.MAIN_SERVER_DIAL_PASSWORD: STRING,
    _P.MAIN_SERVER_ADDRESS: STRING,
    _P.BACKUP_SERVER_APN: STRING,
    _P.BACKUP_SERVER_DIAL_USER: STRING,
    _P.BACKUP_SERVER_DIAL_PASSWORD: STRING,
    _P.BACKUP_SERVER_ADDRESS: STRING,
    _P.SERVER_TCP_PORT: DWORD,
    _P.SERVER_UDP_PORT: DWORD,
    _P.IC_CARD_AUTH_MAIN_SERVER_ADDRESS: STRING,
    _P.IC_CARD_AUTH_SERVER_TCP_PORT: DWORD,
    _P.IC_CARD_AUTH_SERVER_UDP_PORT: DWORD,
    _P.IC_CARD_AUTH_BACKUP_SERVER_ADDRESS: STRING,
    _P.REPORT_STRATEGY: DWORD,
    _P.REPORT_SCHEME: DWORD,
    _P.DRIVER_LOGGED_OUT_REPORT_INTERVAL: DWORD,
    _P.SECONDARY_SERVER_APN: STRING,
    _P.SECONDARY_SERVER_DIAL_USER: STRING,
    _P.SECONDARY_SERVER_DIAL_PASSWORD: STRING,
    _P.SECONDARY_SERVER_ADDRESS: STRING,
    _P.SLEEP_REPORT_INTERVAL: DWORD,
    _P.EMERGENCY_REPORT_INTERVAL: DWORD,
    _P.DEFAULT_REPORT_INTERVAL: DWORD,
    _P.DEFAULT_REPORT_DISTANCE: DWORD,
    _P.DRIVER_LOGGED_OUT_REPORT_DISTANCE: DWORD,
    _P.SLEEP_REPORT_DISTANCE: DWORD,
    _P.EMERGENCY_REPORT_DISTANCE: DWORD,
    _P.TURN_POINT_ANGLE: DWORD,
    _P.GEOFENCE_RADIUS: WORD,
    _P.ILLEGAL_DRIVING_PERIOD: byte_array(4),
    _P.MONITORING_PLATFORM_PHONE: STRING,
    _P.RESET_PHONE: STRING,
    _P.FACTORY_RESET_PHONE: STRING,
    _P.PLATFORM_SMS_PHONE: STRING,
    _P.SMS_ALARM_PHONE: STRING,
    _P.ANSWER_STRATEGY: DWORD,
    _P.MAX_CALL_DURATION: DWORD,
    _P.MONTHLY_CALL_DURATION: DWORD,
    _P.LISTEN_PHONE: STRING,
    _P.PRIVILEGED_SMS_PHONE: STRING,
    _P.ALARM_MASK: DWORD,
    _P.ALARM_SMS_SWITCH: DWORD,
    _P.ALARM_PHOTO_SWITCH: DWORD,
    _P.ALARM_PHOTO_STORE: DWORD,
    _P.KEY_ALARM_FLAGS: DWORD,
    _P.MAX_SPEED: DWORD,
    _P.OVERSPEED_DURATION: DWORD,
    _P.CONTINUOUS_DRIVING_LIMIT: DWORD,
    _P.DAILY_DRIVING_LIMIT: DWORD,
    _P.MIN_REST: DWORD,
    _P.MAX_PARKING: DWORD,
    _P.OVERSPEED_WARNING_DIFFERENCE: WORD,
    _P.FATIGUE_WARNING_DIFFERENCE: WORD,
    _P.COLLISION_ALARM: WORD,
    _P.ROLLOVER_ANGLE: WORD,
    _P.TIMED_PHOTO: DWORD,
    _P.DISTANCE_PHOTO: DWORD,
    _P.IMAGE_QUALITY: DWORD,
    _P.BRIGHTNESS: DWORD,
    _P.CONTRAST: DWORD,
    _P.SATURATION: DWORD,
    _P.CHROMA: DWORD,
    _P.ODOMETER: DWORD,
    _P.PROVINCE_ID: WORD,
    _P.CITY_ID: WORD,
    _P.PLATE: STRING,
    _P.PLATE_COLOR: BYTE,
    _P.GNSS_MODE: BYTE,
    _P.GNSS_BAUD_RATE: BYTE,
    _P.GNSS_OUTPUT_RATE: BYTE,
    _P.GNSS_COLLECT_INTERVAL: DWORD,
    _P.GNSS_UPLOAD_MODE: BYTE,
    _P.GNSS_UPLOAD_VALUE: DWORD,
    _P.CAN1_COLLECT_INTERVAL: DWORD,
    _P.CAN1_UPLOAD_INTERVAL: WORD,
    _P.CAN2_COLLECT_INTERVAL: DWORD,
    _P.CAN2_UPLOAD_INTERVAL: WORD,
    _P.CAN_ID_COLLECTION: _CAN_ID_SETTING,
}

#: Every parameter id of the standard -> (name, value type). One table for all revisions: ids
#: 2019 added (0x0023-0x0026, 0x0032) were reserved before, so reading them in an older
#: revision cannot clash, and 0x0018/0x0019, which 2019 only reserves, keep their DWORD port
#: meaning because 2019 gives them no other and devices still report them.
PARAMETERS: Final[dict[int, ParameterSpec]] = {
    **{int(pid): ParameterSpec(pid.name.lower(), kind) for pid, kind in _TYPES.items()},
    **{
        can_id: ParameterSpec("can_id_collection", _CAN_ID_SETTING)
        for can_id in range(0x0111, 0x0200)
    },
}

# --------------------------------------------------------------------------------------------
# The parameter item and the bodies.


@dataclass(slots=True, kw_only=True)
class Parameter(Layout):
    """One parameter item: id (DWORD), length (BYTE) and the value bytes, kept exactly as sent.

    ``name`` and ``value`` come from ``PARAMETERS`` for the ids of the standard. Any other id
    (vendor 0xF000+, JT/T 1078 0x0075-0x007C, reserved ids) has neither, and ``value`` is also
    ``None`` when a standard id's bytes do not fit its type (a DWORD that is not 4 bytes).
    """

    id: DWord
    raw: Annotated[bytes, Bytes(prefix=U8)]

    @classmethod
    def of(cls, parameter_id: int, value: Any) -> Parameter:
        """Build a standard parameter from its typed value (int, str, or bytes for BYTE[n])."""
        spec = PARAMETERS.get(parameter_id)
        if spec is None:
            raise EncodeError(
                f"0x{parameter_id:04X} is not a standard parameter; use Parameter(id=, raw=)"
            )
        raw = spec.type.encode(value)
        if len(raw) > 0xFF:
            raise EncodeError(f"parameter 0x{parameter_id:04X} value is {len(raw)} bytes, max 255")
        return cls(id=parameter_id, raw=raw)

    @property
    def name(self) -> str | None:
        spec = PARAMETERS.get(self.id)
        return None if spec is None else spec.name

    @property
    def value(self) -> Any:
        spec = PARAMETERS.get(self.id)
        return None if spec is None else spec.type.decode(self.raw)

    def to_json(self) -> dict[str, JSON]:
        view: dict[str, JSON] = {"id": self.id, "raw": self.raw.hex()}
        spec = PARAMETERS.get(self.id)
        if spec is not None:
            view["name"] = spec.name
            value = spec.type.decode(self.raw)
            if value is not None:
                view["value"] = to_json(value)
        return view


class _ParameterList(ListOf[Parameter]):
    """Count BYTE, then items.

    A count larger than the items the body holds is tolerated when the body ends between two
    items (a real device sends count 9 with 7 items): the items present are delivered, and the
    count is rebuilt from the list when encoding. A body that ends inside an item is truncated.
    The 2011 approval draft puts a second "items in this packet" BYTE after the count; no
    implementation or device does, so every revision reads one count.
    """

    def __init__(self) -> None:
        super().__init__(Parameter, count=U8)

    def read(self, r: Reader) -> list[Parameter]:
        count = r.u8()
        items: list[Parameter] = []
        while len(items) < count and r.remaining:
            items.append(Parameter.read(r))
        return items


_PARAMETER_LIST: Final = _ParameterList()


class _Parameters:
    """Look-ups shared by the bodies that carry a parameter list."""

    __slots__ = ()
    parameters: list[Parameter]

    def parameter(self, parameter_id: int) -> Parameter | None:
        """The first item with ``parameter_id`` (a multi-valued parameter repeats its id)."""
        for item in self.parameters:
            if item.id == parameter_id:
                return item
        return None

    def parameters_with(self, parameter_id: int) -> list[Parameter]:
        """Every item with ``parameter_id``, in body order."""
        return [item for item in self.parameters if item.id == parameter_id]


@register(MessageId.SET_PARAMETERS)
@dataclass(slots=True, kw_only=True)
class SetParameters(_Parameters, Body):
    """0x8103: set terminal parameters (count BYTE, then items). Answered with 0x0001."""

    parameters: Annotated[list[Parameter], _PARAMETER_LIST] = field(default_factory=list)


@register(MessageId.QUERY_ALL_PARAMETERS)
@dataclass(slots=True, kw_only=True)
class QueryAllParameters(Body):
    """0x8104: ask for every parameter. Empty body; answered with 0x0104."""


@register(MessageId.QUERY_PARAMETERS, since=V2013)
@dataclass(slots=True, kw_only=True)
class QueryParameters(Body):
    """0x8106 (2013+): ask for the parameters in ``ids`` (count BYTE, DWORD ids). Answered
    with 0x0104."""

    ids: Annotated[list[int], ListOf(U32, count=U8)] = field(default_factory=list)


@register(MessageId.QUERY_PARAMETERS_RESPONSE)
@dataclass(slots=True, kw_only=True)
class QueryParametersResponse(_Parameters, Body):
    """0x0104: the parameters asked for by the 0x8104/0x8106 with serial ``reply_serial``.

    A full answer is often longer than one packet; it is decoded from the reassembled body.
    """

    reply_serial: Word
    parameters: Annotated[list[Parameter], _PARAMETER_LIST] = field(default_factory=list)


__all__ = [
    "BYTE",
    "DWORD",
    "PARAMETERS",
    "STRING",
    "WORD",
    "Parameter",
    "ParameterId",
    "ParameterSpec",
    "ParameterType",
    "QueryAllParameters",
    "QueryParameters",
    "QueryParametersResponse",
    "SetParameters",
    "byte_array",
]
