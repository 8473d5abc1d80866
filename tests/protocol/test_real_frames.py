"""Every entry of the real-frame vectors, checked against the values their authors assert.

The vectors (``vectors/real-frames.json``, a copy of ``/work/shared/vectors/real-frames.json``)
come from the test suites of SmallChi/JT808, cuteLittleDevil/go-jt808 and yezhihao/jt808-server.
Their ``expect`` keys use the source project's names and units; the key tables below map each
one to our attribute and unit:

* header ``phone`` is asserted with leading zeros stripped; ours keeps every BCD digit
  (``phone_bcd`` is compared whole);
* ``lat_raw``/``lng_raw`` are integers of 1e-6 degree; ours are degrees, negative for south/west;
* ``speed_raw`` is 0.1 km/h, ours km/h; ``altitude_m`` is the WORD read unsigned, ours signed;
* ``time`` "YYYY-MM-DD hh:mm:ss" is the wall clock of the BCD digits: GMT+8 for us (UTC in 0x8004);
* additional items ``0xNN_<what>_raw`` are the raw WORD/DWORD; our ``value`` is in km, L, km/h.

Every ``expect`` key is either checked through the tables or listed, with the reason, in
``DIFFERS`` (our decoder intentionally does something else, and ``OUR_BEHAVIOUR`` or
``REJECTED`` asserts what) or in ``NOT_CHECKED`` (a key no attribute of ours corresponds to). A
key in neither fails the test, so the tables stay complete as vectors or bodies are added.

Bodies written by other modules are checked where their module is registered; a vector whose
body has no registered layout has its body test skipped (with the message id in the reason).
"""

from __future__ import annotations

import importlib
import pkgutil
import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime, timezone
from typing import Any, Final, Protocol

import pytest

import gateway.protocol.bodies
from gateway.protocol.bodies.location import (
    BASIC_LOCATION_SIZE,
    AdditionalInfo,
    LocationReport,
    StatusFlag,
)
from gateway.protocol.body import Fragment, RawBody, body_class, decode_body
from gateway.protocol.errors import (
    ChecksumError,
    FramingError,
    HeaderError,
    ProtocolError,
    TruncatedBodyError,
)
from gateway.protocol.framing import FrameDecoder, NeedData, escape, split_frame, unescape
from gateway.protocol.header import LENGTH_MASK, PacketInfo
from gateway.protocol.message import Message, decode_frame, decode_packet
from gateway.protocol.versions import V2013, V2019, ProtocolVersion
from gateway.protocol.wire import CHINA_TZ

from .real_frames import SHARED_VECTORS_PATH, VECTORS_PATH, real_frames

# Register every body module present (the package __init__ may not import them all yet).
for _module in pkgutil.iter_modules(gateway.protocol.bodies.__path__):
    importlib.import_module(f"gateway.protocol.bodies.{_module.name}")

VECTORS: Final[list[dict[str, Any]]] = real_frames()
BY_ID: Final = {vector["id"]: vector for vector in VECTORS}


def of_kind(*kinds: str) -> list[dict[str, Any]]:
    return [vector for vector in VECTORS if vector["kind"] in kinds]


def vector_ids(vectors: list[dict[str, Any]]) -> list[str]:
    return [vector["id"] for vector in vectors]


# =============================================================================================
# Skips, rejections and intentional differences (each with its reason).

#: Vectors not run at all. None is needed: every vendor-specific or broken frame has its
#: outcome asserted below (REJECTED, CHECKSUM_MISMATCH, DIFFERS + OUR_BEHAVIOUR).
SKIPPED: Final[dict[str, str]] = {}

#: Frames our decoder rejects on purpose: the error type, and why.
REJECTED: Final[dict[str, tuple[type[ProtocolError], str]]] = {
    "v151": (
        HeaderError,
        "body length field 69 but 70 body bytes: a length that fits neither header form is a "
        "HeaderError (decode_header); the source ignored the field",
    ),
    "v154": (
        HeaderError,
        "body length field 473 but 469 body bytes (and a wrong check code); the source parsed "
        "it with SkipCRCCode and without the length check",
    ),
    "v228": (
        FramingError,
        "the check code 0x7D is sent unescaped: a 0x7D not followed by 01/02 is a framing error "
        "(framing.unescape); go-jt808 tolerates it, the notes allow a strict decoder to reject",
    ),
    "v232": (
        HeaderError,
        "body one byte shorter than its length field (ErrBodyLengthInconsistency)",
    ),
    "v242": (HeaderError, "the check code is missing: 12 bytes cannot hold a header and a check"),
}

#: Frames whose check code does not match (the notes' HELPER-CHECK, or ErrCheckCode): decoding
#: raises ChecksumError carrying the header; their fields are checked on a decode without the
#: check, as the source did (SkipCRCCode).
CHECKSUM_MISMATCH: Final = frozenset(
    {"v142", "v143", "v144", "v145", "v146", "v147", "v231"} | {f"v{n}" for n in range(179, 190)}
)

#: Expect keys where our decoder intentionally differs: vector id -> key path -> what we do
#: instead (asserted in OUR_BEHAVIOUR, REJECTED or the stream tests).
DIFFERS: Final[dict[str, dict[str, str]]] = {
    "v142": {
        "body.exception_attach_count": "no item runs past the end, so nothing is malformed: the "
        "device's 2-byte-id blocks are kept as items 0x00 with their raw bytes",
    },
    "v143": {
        "body.basic_attach_count": "our table also names 0x05/0x06 (2019 items) in any "
        "revision, so the standard/unknown split differs; the total (18) is asserted",
        "body.unknown_attach_count": "see basic_attach_count",
    },
    "v154": {
        "body.count": "frame rejected (length field), see REJECTED",
        "body.type": "frame rejected (length field), see REJECTED",
        "body.parsed_positions": "frame rejected (length field), see REJECTED",
        "body.error_remain_position_index": "frame rejected (length field), see REJECTED",
    },
    "v174": {
        "body.exception_items": "a repeated item id is kept as an ordinary item, in wire order",
    },
    "v221": {
        "error": "0x11 with length 0 is a well-formed item whose length the standard does not "
        "allow: kept with no value; the location is delivered",
    },
    "v222": {"error": "the item running past the end is kept in malformed_extras (LocationReport)"},
    "v223": {"error": "the bare item id at the end is kept in malformed_extras (LocationReport)"},
    "v228": {"decode_ok": "rejected, see REJECTED"},
    "v232": {"error": "HeaderError, see REJECTED"},
    "v242": {"error": "HeaderError, see REJECTED"},
    "v241": {
        "pending_bytes": "go-jt808 counts the third frame's 0x7E as pending; every 0x7E is a "
        "delimiter to us, so the 16 bytes after it are pending",
    },
    "v243": {
        "frames_before_error": "the bad middle frame costs only itself: all three frames come "
        "out, the middle one fails to decode (HeaderError)",
        "error": "see frames_before_error",
        "pending_bytes": "nothing is pending: the frame after the bad one was decoded",
    },
}

#: Expect keys no attribute of ours corresponds to: vector id -> key path -> why.
NOT_CHECKED: Final[dict[str, dict[str, str]]] = {
    "v166": {
        "body.params": "SmallChi's own parameter names and field order (connection control "
        "first, URL last, ports as binary WORDs); see reference §9 item 12",
    },
    "v203": {"body": "JT/T 1078 0x1003, not a JT/T 808 message: kept as RawBody"},
    "v204": {"body": "JT/T 1078 0x9101, not a JT/T 808 message: kept as RawBody"},
    "v205": {"body": "JT/T 1078 0x9102, not a JT/T 808 message: kept as RawBody"},
    "v218": {"body": "JSATL12 0x1211, not a JT/T 808 message: kept as RawBody"},
    "v219": {
        "body.extras.0x11_overspeed.go_jt808_String_shows_area_id": "a go-jt808 display bug "
        "per the notes (the bytes say area 66, which is asserted)",
    },
}


# =============================================================================================
# The key tables: source-project expect keys -> our attributes and units.


@dataclass(slots=True)
class Frame:
    """A decoded frame: the unescaped packet and the message."""

    packet: bytes
    message: Message


class Check(Protocol):
    def __call__(self, walker: Walker, ours: Any, expected: Any, /) -> None: ...


class Keys(Protocol):
    def get(self, key: str, /) -> Check | None: ...


@dataclass(slots=True)
class Walker:
    """Walks an expect mapping, checking each key or finding it listed as not checked."""

    vector_id: str
    frame: Frame | None = None
    path: str = ""

    def at(self, key: str) -> Walker:
        return Walker(self.vector_id, self.frame, f"{self.path}.{key}" if self.path else key)

    def listed(self) -> bool:
        return self.path in DIFFERS.get(self.vector_id, {}) or self.path in NOT_CHECKED.get(
            self.vector_id, {}
        )

    def walk(self, ours: Any, expected: Mapping[str, Any], keys: Keys) -> None:
        for key, value in expected.items():
            child = self.at(key)
            if child.listed():
                continue
            check = keys.get(key)
            assert check is not None, (
                f"{self.vector_id}: no mapping for expect key {child.path!r}; map it in the key "
                "tables or list it in DIFFERS / NOT_CHECKED with a reason"
            )
            check(child, ours, value)


def attribute(value: Any, path: str) -> Any:
    for name in path.split("."):
        value = getattr(value, name)
    return value


def same(path: str, expected: Callable[[Any], Any] = lambda v: v) -> Check:
    """Our attribute ``path`` equals the vector's value after ``expected`` converts it."""

    def check(walker: Walker, ours: Any, value: Any) -> None:
        actual = attribute(ours, path)
        assert actual == expected(value), (
            f"{walker.vector_id} {walker.path}: ours {path} = {actual!r}, vector says {value!r}"
        )

    return check


def derived(compute: Callable[[Any], Any], expected: Callable[[Any], Any] = lambda v: v) -> Check:
    """A value computed from our object equals the (converted) vector value."""

    def check(walker: Walker, ours: Any, value: Any) -> None:
        actual = compute(ours)
        assert actual == expected(value), f"{walker.vector_id} {walker.path}: {actual!r}"

    return check


def nested(path: str, keys: Keys) -> Check:
    def check(walker: Walker, ours: Any, value: Any) -> None:
        walker.walk(attribute(ours, path), value, keys)

    return check


def each(path: str, keys: Keys) -> Check:
    def check(walker: Walker, ours: Any, value: Any) -> None:
        items = attribute(ours, path)
        assert len(items) == len(value), f"{walker.vector_id} {walker.path}: {len(items)} items"
        for index, (item, expected) in enumerate(zip(items, value, strict=True)):
            walker.at(f"[{index}]").walk(item, expected, keys)

    return check


def hex_id(text: str) -> int:
    return int(text, 16)


def tenths(raw: int) -> float:
    return raw / 10


def signed_word(raw: int) -> int:
    """Our altitude reads the WORD as two's complement (LocationReport docstring)."""
    return raw - 0x10000 if raw >= 0x8000 else raw


def wall_clock(path: str, tz: timezone) -> Check:
    """The vector's "YYYY-MM-DD hh:mm:ss" is the wall clock of our time, in ``tz``."""

    def check(walker: Walker, ours: Any, value: str) -> None:
        actual = attribute(ours, path)
        assert actual == datetime.strptime(value, "%Y-%m-%d %H:%M:%S").replace(tzinfo=tz)
        assert actual.utcoffset() == tz.utcoffset(None), walker.path

    return check


def degrees(path: str, negative_bit: StatusFlag) -> Check:
    """Raw 1e-6 degrees, negative when the status bit says south/west."""

    def check(walker: Walker, ours: Any, raw: int) -> None:
        sign = -1 if ours.status & negative_bit else 1
        assert attribute(ours, path) == sign * raw / 1e6, f"{walker.vector_id} {walker.path}"

    return check


# --- additional items: keys "0xNN" or "0xNN_<what>" --------------------------------------------


def item_value(walker: Walker, item: AdditionalInfo, expected: Any) -> None:
    assert item.value == expected, f"{walker.vector_id} {walker.path}: {item.value!r}"


def item_tenths(walker: Walker, item: AdditionalInfo, raw: int) -> None:
    assert item.value == raw / 10, f"{walker.vector_id} {walker.path}: {item.value!r}"


def item_raw(walker: Walker, item: AdditionalInfo, expected: str | int) -> None:
    if isinstance(expected, str):  # hex text
        assert item.raw.hex() == expected.lower(), walker.path
    else:  # the bytes as one big-endian integer
        assert int.from_bytes(item.raw, "big") == expected, walker.path


def item_length(walker: Walker, item: AdditionalInfo, length: int) -> None:
    assert len(item.raw) == length, walker.path


def item_zero_bytes(walker: Walker, item: AdditionalInfo, text: str) -> None:
    match = re.fullmatch(r"(\d+) zero bytes", text)
    assert match is not None, f"{walker.vector_id}: cannot read {text!r}"
    assert item.raw == bytes(int(match.group(1))), walker.path


def item_first_three(walker: Walker, item: AdditionalInfo, values: list[int]) -> None:
    assert item.value[:3] == values, walker.path


def item_two_words_wire_order(walker: Walker, item: AdditionalInfo, words: list[int]) -> None:
    """SmallChi lists 0x2B as two WORDs in wire order: [AD1, AD0] (bits 16-31, bits 0-15)."""
    assert [item.value["ad1"], item.value["ad0"]] == words, walker.path


def value_key(name: str) -> Check:
    return derived(lambda item: item.value[name])


def item_fields(renames: dict[str, str]) -> Check:
    """A structured item (0x11, 0x12, 0x13): each vector field against our value's key."""

    def check(walker: Walker, item: AdditionalInfo, expected: dict[str, Any]) -> None:
        keys: dict[str, Check] = {key: value_key(name) for key, name in renames.items()}
        walker.walk(item, expected, keys)

    return check


ITEM_CHECKS: Final[dict[str, Check]] = {
    "": item_value,
    "mileage_raw": item_tenths,
    "fuel_raw": item_tenths,
    "speed_raw": item_tenths,
    "event_id": item_value,
    "carriage_temp": item_value,
    "ext_signal": item_value,
    "io_status": item_value,
    "rssi": item_value,
    "gnss_sats": item_value,
    "raw": item_raw,
    "custom_raw": item_raw,
    "analog": item_raw,
    "analog_raw_u32": item_raw,
    "analog_as_two_u16": item_two_words_wire_order,
    "len": item_length,
    "tire_pressure_len": item_length,
    "tire_pressure_first3": item_first_three,
    "value": item_zero_bytes,
    "overspeed": item_fields({"position_type": "location_type", "area_id": "area_id"}),
    "in_out_area": item_fields(
        {"position_type": "location_type", "area_id": "area_id", "direction": "direction"}
    ),
    "route_time": item_fields(
        {"route_id": "route_id", "time_s": "drive_time_s", "result": "result"}
    ),
}


class ExtrasKeys:
    """Keys of an extras mapping: "0x01_mileage_raw" -> item 0x01, checked by its suffix."""

    def get(self, key: str, /) -> Check | None:
        match = re.fullmatch(r"0x([0-9A-Fa-f]{2})(?:_(.+))?", key)
        if match is None:
            return None
        item_check = ITEM_CHECKS.get(match.group(2) or "")
        if item_check is None:
            return None
        item_id = int(match.group(1), 16)

        def check(walker: Walker, report: LocationReport, value: Any) -> None:
            item = report.extra(item_id)
            assert item is not None, f"{walker.vector_id}: no item 0x{item_id:02X}"
            item_check(walker, item, value)

        return check


def extras(walker: Walker, report: LocationReport, expected: dict[str, Any]) -> None:
    walker.walk(report, expected, ExtrasKeys())


def location_length(report: LocationReport) -> int:
    return (
        BASIC_LOCATION_SIZE
        + sum(2 + len(i.raw) for i in report.extras)
        + len(report.malformed_extras)
    )


LOCATION_KEYS: Final[dict[str, Check]] = {
    "alarm": same("alarm"),
    "status": same("status"),
    "lat_raw": degrees("latitude", StatusFlag.SOUTH_LATITUDE),
    "lng_raw": degrees("longitude", StatusFlag.WEST_LONGITUDE),
    "altitude_m": same("altitude", signed_word),
    "speed_raw": same("speed", tenths),
    "direction": same("direction"),
    "time": wall_clock("time", CHINA_TZ),
    "extras": extras,
    "extras_from_source_comment": extras,
    "exception_attach_count": derived(lambda r: 1 if r.malformed_extras else 0),
    "item_len": derived(location_length),
}

GENERAL_RESPONSE_KEYS: Final[dict[str, Check]] = {
    "reply_serial": same("reply_serial"),
    "reply_msg_id": same("reply_id", hex_id),
    "result": same("result"),
}


def trailing_word(walker: Walker, ours: Any, value: int) -> None:
    assert walker.frame is not None
    assert int.from_bytes(walker.frame.message.trailing, "big") == value, walker.path


def parameter_values(walker: Walker, ours: Any, expected: dict[str, Any]) -> None:
    """{"0x00000001": 10, "0x0110_bytes": [...]} -> each parameter's value (or raw bytes)."""
    for key, value in expected.items():
        parameter_id = int(key.removesuffix("_bytes"), 16)
        parameter = ours.parameter(parameter_id)
        assert parameter is not None, f"{walker.vector_id}: no parameter {key}"
        if key.endswith("_bytes"):
            assert list(parameter.raw) == value, f"{walker.vector_id} {key}"
        else:
            assert parameter.value == value, f"{walker.vector_id} {key}: {parameter.value!r}"


PARAMETER_KEYS: Final[dict[str, Check]] = {
    "reply_serial": same("reply_serial"),
    "param_count": derived(lambda body: len(body.parameters)),
    "params": parameter_values,
    "params_subset": parameter_values,
    "param_0x0110_len": derived(lambda body: len(body.parameter(0x0110).raw)),
}

MEDIA_KEYS: Final[dict[str, Check]] = {
    "media_id": same("media_id"),
    "media_type": same("media_type"),
    "format": same("media_format"),
    "event": same("event"),
    "channel": same("channel_id"),
    "position": nested("location", LOCATION_KEYS),
    "media_data": derived(lambda body: list(body.data)),
}

#: Message id -> body keys. Ids of location, general and registration are the core's; the
#: others follow the body modules as written at the time (extend here when names change).
BODY_KEYS: Final[dict[int, dict[str, Check]]] = {
    0x0001: {**GENERAL_RESPONSE_KEYS, "vendor_extra_u16_after_result": trailing_word},
    0x8001: GENERAL_RESPONSE_KEYS,
    0x8003: {
        "orig_serial": same("original_serial"),
        "count": derived(lambda body: len(body.packet_ids)),
        "ids": same("packet_ids"),
    },
    0x8004: {"time": wall_clock("time", UTC)},  # the one UTC time of the standard
    0x0100: {
        "province": same("province_id"),
        "city": same("city_id"),
        "maker_id": same("manufacturer_id"),
        "terminal_model": same("terminal_model"),
        "terminal_id": same("terminal_id"),
        "plate_color": same("plate_color"),
        "plate": same("plate"),
        # Left-padding with ASCII '0' is kept by us (only NUL padding is stripped).
        "maker_id_after_TrimStart0": derived(lambda body: body.manufacturer_id.lstrip("0")),
        "terminal_model_after_TrimStart0": derived(lambda body: body.terminal_model.lstrip("0")),
        "terminal_id_after_TrimStart0": derived(lambda body: body.terminal_id.lstrip("0")),
    },
    0x8100: {
        "reply_serial": same("reply_serial"),
        "result": same("result"),
        "auth_code": same("auth_code", lambda code: code or ""),  # absent code: ""
    },
    0x0102: {
        "auth_code": same("auth_code"),
        "auth_code_len": derived(lambda body: len(body.auth_code.encode("gb18030"))),
        "imei": same("imei"),
        "software_version": same("software_version"),
    },
    0x0200: LOCATION_KEYS,
    0x0201: {"reply_serial": same("reply_serial"), "position": nested("location", LOCATION_KEYS)},
    0x0704: {
        "count": derived(lambda body: len(body.items)),
        "type": same("type"),
        "positions": each("items", LOCATION_KEYS),
    },
    0x8202: {"interval_s": same("interval_s"), "validity_s": same("validity_s")},
    # --- bodies of the other modules --------------------------------------------------------
    0x0104: PARAMETER_KEYS,
    0x8103: PARAMETER_KEYS,
    0x0107: {
        "terminal_type": same("terminal_type"),
        "maker_id": same("manufacturer_id"),
        "terminal_model": same("terminal_model"),
        "terminal_id": same("terminal_id"),
        "iccid": same("iccid"),
        "hw_version": same("hardware_version"),
        "fw_version": same("firmware_version"),
        "gnss_props": same("gnss_attributes"),
        "comm_props": same("communication_attributes"),
    },
    0x8105: {"command_word": same("command")},
    0x8300: {
        "text_flag": same("flag"),
        "text_type": same("text_type"),
        "text": same("text"),
    },
    0x8302: {
        "flag": same("flag"),
        "question": same("question"),
        "answers": each("answers", {"id": same("answer_id"), "text": same("content")}),
    },
    0x0302: {"reply_serial": same("reply_serial"), "answer_id": same("answer_id")},
    0x0500: {"reply_serial": same("reply_serial"), "position": nested("location", LOCATION_KEYS)},
    0x0800: {key: MEDIA_KEYS[key] for key in ("media_id", "media_type", "format", "event")}
    | {"channel": MEDIA_KEYS["channel"]},
    0x0801: MEDIA_KEYS,
    0x8800: {
        "media_id": same("media_id"),
        "retransmit_count": derived(lambda body: len(body.retransmit_ids or [])),
        "retransmit_ids": same("retransmit_ids"),
        "retransmit_ids_as_bytes": derived(
            lambda body: list(b"".join(i.to_bytes(2, "big") for i in body.retransmit_ids))
        ),
    },
    0x8801: {
        "channel": same("channel_id"),
        "command": same("command"),
        "interval": same("interval_s"),
        "save": same("save"),
        "resolution": same("resolution"),
        "quality": same("quality"),
        "brightness": same("brightness"),
        "contrast": same("contrast"),
        "saturation": same("saturation"),
        "chroma": same("chroma"),
    },
    0x0805: {
        "reply_serial": same("reply_serial"),
        "result": same("result"),
        "count": derived(lambda body: len(body.media_ids)),
        "ids": same("media_ids"),
    },
    0x0900: {
        "passthrough_type": same("type", hex_id),
        "content_ascii": derived(lambda body: body.data.decode("ascii")),
    },
    0x8900: {
        "passthrough_type": same("type", hex_id),
        # A user-defined type 0x0B layout of SmallChi's test: DWORD id, BYTE sex, in our data.
        "custom_id_u32": derived(lambda body: int.from_bytes(body.data[0:4], "big")),
        "custom_sex_u8": derived(lambda body: body.data[4]),
    },
    # A vendor message id (no layout: RawBody) whose source test read BYTE + WORD.
    0x0091: {
        "custom_sex_u8": derived(lambda body: body.raw[0]),
        "custom_age_u16": derived(lambda body: int.from_bytes(body.raw[1:3], "big")),
    },
}


#: Vendor message ids with no layout by design (RawBody), whose BODY_KEYS read the raw bytes.
RAW_BY_DESIGN: Final = frozenset({0x0091})


def body_length(frame: Frame) -> int:
    declared = int.from_bytes(frame.packet[2:4], "big") & LENGTH_MASK
    assert declared == len(frame.packet) - frame.message.header.length - 1
    return declared


def packet_info(expected: bool | dict[str, int]) -> PacketInfo | None:
    if expected is False:
        return None
    assert isinstance(expected, dict)
    return PacketInfo(expected["total"], expected["index"])


HEADER_KEYS: Final[dict[str, Check]] = {
    "msg_id": same("message.header.msg_id", hex_id),
    "serial": same("message.header.serial"),
    # The source asserts the phone with its leading zeros stripped; ours keeps every digit.
    "phone": derived(lambda f: f.message.header.phone.lstrip("0"), lambda v: v.lstrip("0")),
    "phone_bcd": same("message.header.phone"),
    "body_len": derived(body_length),
    "subpackage": same("message.header.packet", packet_info),
    "is_package": derived(lambda f: f.message.header.packet is not None),
    "encryption": same("message.header.encryption"),
    "protocol_version": same("message.header.protocol_version"),
    "version_flag": derived(lambda f: f.message.header.version is V2019),
}


def checksum_error(walker: Walker, frame: Frame, value: str) -> None:
    assert value == "ErrCheckCode" and walker.vector_id in CHECKSUM_MISMATCH, walker.path


#: Top-level expect keys other than header/body, on the decoded frame.
FRAME_KEYS: Final[dict[str, Check]] = {
    "checksum_byte_after_unescape": derived(lambda f: f.packet[-1], hex_id),
    "decode_ok": derived(lambda f: True),
    "error": checksum_error,
    "unescaped_inner": derived(lambda f: f.packet.hex()),
    # A packet of a sub-packaged message has no body of its own until reassembly
    # (test_sub_packaged_* below reassemble the sets the vectors hold).
    "merged_after_all_parts": derived(lambda f: isinstance(f.message.body, Fragment)),
    "body_of_this_part_alone": derived(
        lambda f: None if isinstance(f.message.body, Fragment) else f.message.body
    ),
}


# =============================================================================================
# Our documented behaviour on frames the source projects treat differently, and facts the
# notes state about a frame (phone, serial, items) that its expect block leaves out.


def _body(frame: Frame) -> Any:
    return frame.message.body


def _header(frame: Frame) -> Any:
    return frame.message.header


def _v124(frame: Frame) -> None:  # fields padded with ASCII '0' keep the padding
    body = _body(frame)
    assert body.manufacturer_id.lstrip("0") == "1234"
    assert body.terminal_model.lstrip("0") == "smallchi123"


def _v129(frame: Frame) -> None:  # bit 14 set on a 2013 header: read as 2013 (length check)
    header = _header(frame)
    assert (header.version, header.phone, header.serial) == (V2013, "010030000681", 0x0902)
    assert _body(frame).auth_code == "J10030000681"


def _v130(frame: Frame) -> None:  # same terminal; vendor items kept raw
    assert (_header(frame).version, _header(frame).phone) == (V2013, "010030000681")
    iccid = _body(frame).extra(0x5F)
    assert iccid is not None and iccid.raw.hex() == "89860418231870850620"


def _v133(frame: Frame) -> None:  # JT/T 1078 parameter 0x0077 kept as raw bytes
    parameter = _body(frame).parameter(0x0077)
    assert parameter is not None and len(parameter.raw) == 0xBE


def _v134(frame: Frame) -> None:
    body = _body(frame)
    assert (_header(frame).phone, _header(frame).serial) == ("018015505113", 0x13AE)
    assert body.parameter(0x0013).value == "223.108.133.163"
    assert len(body.parameter(0x0017).raw) == 1
    assert body.parameter(0x0018).value == 808


def _v136(frame: Frame) -> None:
    body = _body(frame)
    assert _header(frame).phone == "00000868628074866293"
    assert body.iccid == "89860833192330760501"
    assert body.hardware_version.startswith("EC200AEUHAR01A26M16_6960992052110")


def _v137(frame: Frame) -> None:  # 2019 header, 5-byte manufacturer (issue #43)
    body = _body(frame)
    assert (body.manufacturer_id, body.terminal_model) == ("88888", "CK100C")


def _v142(frame: Frame) -> None:
    report = _body(frame)
    assert [item.id for item in report.extras] == [0x01, 0x2B, 0x30, 0x31, 0x00, 0x00, 0xEB]
    assert report.malformed_extras == b""


def _v143(frame: Frame) -> None:
    report = _body(frame)
    assert len(report.extras) == 6 + 12  # basic + unknown items of the source
    assert report.malformed_extras.hex() == "f6041450"  # F6 declares 4 bytes, 2 remain


def _v144(frame: Frame) -> None:  # serial 0x047D sent as 04 7D 01
    assert _header(frame).serial == 0x047D
    # The vendor item 0xFB declares 2 bytes but the body ends after 1: kept as malformed.
    assert _body(frame).malformed_extras.hex() == "fb0200"


def _v145(frame: Frame) -> None:  # longitude 0x067D54E0 sent as 06 7D 01 54 E0
    assert _body(frame).longitude == 0x067D54E0 / 1e6


def _v147(frame: Frame) -> None:  # latitude 0x027D1F0C sent as 02 7D 01 1F 0C
    assert _body(frame).latitude == 0x027D1F0C / 1e6
    assert {0x71, 0xEA, 0xEF} <= {item.id for item in _body(frame).extras}


def _v148(frame: Frame) -> None:  # GPS51 vendor items kept raw
    report = _body(frame)
    assert {0xEB, 0x51, 0x58, 0x55, 0x52} <= {item.id for item in report.extras}
    assert report.extra(0x51).raw == b"\xff" * 16


def _v149(frame: Frame) -> None:  # 0x2B with 8 bytes: kept, no value; 0x30 = 0x80
    report = _body(frame)
    assert len(report.extra(0x2B).raw) == 8 and report.extra(0x2B).value is None
    assert report.extra(0x30).value == 0x80


def _v163(frame: Frame) -> None:  # unflagged, but only the 2019 header fits the length
    header = _header(frame)
    assert (header.version, header.phone, header.serial) == (V2019, "00000000013419905507", 1)


def _v174(frame: Frame) -> None:
    report = _body(frame)
    assert [item.id for item in report.extras] == [0x01, 0x02, 0xDF, 0xDF, 0xCB]
    assert (report.extras[3].raw, report.extras[4].raw) == (b"\xff", b"\xff\xfe")


def _v221(frame: Frame) -> None:
    report = _body(frame)
    overspeed = report.extra(0x11)
    assert overspeed is not None and overspeed.raw == b"" and overspeed.value is None
    assert report.malformed_extras == b""


def _v222(frame: Frame) -> None:
    assert _body(frame).malformed_extras.hex() == "330301"  # 0x33 declares 3, 1 remains


def _v223(frame: Frame) -> None:
    assert _body(frame).malformed_extras.hex() == "33"  # a bare id, no length


def _v226(frame: Frame) -> None:
    assert (_header(frame).phone, _header(frame).serial) == ("001234567890", 0x02DE)


def _v227(frame: Frame) -> None:  # RSA flag: the body stays raw (decode_packet)
    assert _body(frame) == RawBody(raw=bytes.fromhex("001a000221"))


OUR_BEHAVIOUR: Final[dict[str, Callable[[Frame], None]]] = {
    "v124": _v124,
    "v129": _v129,
    "v130": _v130,
    "v133": _v133,
    "v134": _v134,
    "v136": _v136,
    "v137": _v137,
    "v142": _v142,
    "v143": _v143,
    "v144": _v144,
    "v145": _v145,
    "v147": _v147,
    "v148": _v148,
    "v149": _v149,
    "v163": _v163,
    "v174": _v174,
    "v221": _v221,
    "v222": _v222,
    "v223": _v223,
    "v226": _v226,
    "v227": _v227,
}

#: What other body modules these checks reach into (skipped while the module is missing).
_BODY_MODULE_CHECKS: Final = {"v133": 0x0104, "v134": 0x0104, "v136": 0x0107, "v137": 0x0107}


# =============================================================================================
# The tests.

FRAMES: Final = of_kind("frame")
FRAMES_WITH_BODY: Final = [vector for vector in FRAMES if "body" in vector["expect"]]


def skip_listed(vector: dict[str, Any]) -> None:
    reason = SKIPPED.get(vector["id"])
    if reason is not None:
        pytest.skip(f"{vector['id']}: {reason}")


def decoded(vector: dict[str, Any]) -> Frame:
    """The frame decoded the way our documentation says it decodes (check code included)."""
    packet = split_frame(bytes.fromhex(vector["hex"]))
    verify = vector["id"] not in CHECKSUM_MISMATCH
    return Frame(packet, decode_packet(packet, verify_checksum=verify))


@pytest.mark.parametrize("vector", FRAMES, ids=vector_ids(FRAMES))
def test_frame_header_and_outcome(vector: dict[str, Any]) -> None:
    skip_listed(vector)
    vector_id = vector["id"]
    expect = vector["expect"]
    walker = Walker(vector_id)
    if vector_id in REJECTED:
        error_type, _ = REJECTED[vector_id]
        wire = bytes.fromhex(vector["hex"])
        with pytest.raises(error_type):
            decode_frame(wire)
        if "header" in expect:  # the header does not parse: its id is still in the bytes
            raw_id = {"msg_id": derived(lambda w: int.from_bytes(w[1:3], "big"), hex_id)}
            walker.at("header").walk(wire, expect["header"], raw_id)
        walker.walk(None, {k: v for k, v in expect.items() if k not in ("header", "body")}, {})
        return
    if vector_id in CHECKSUM_MISMATCH:
        with pytest.raises(ChecksumError) as raised:
            decode_frame(bytes.fromhex(vector["hex"]))
        assert raised.value.header is not None  # a server can still answer the right serial
    frame = decoded(vector)
    if vector["version"] in ("2011", "2013", "2019"):
        assert frame.message.header.version == ProtocolVersion(int(vector["version"]))
    walker = Walker(vector_id, frame)
    walker.at("header").walk(frame, expect.get("header", {}), HEADER_KEYS)
    top_level = {key: value for key, value in expect.items() if key not in ("header", "body")}
    walker.walk(frame, top_level, FRAME_KEYS)
    module_id = _BODY_MODULE_CHECKS.get(vector_id)
    if module_id is not None and body_class(module_id) is None:
        pytest.skip(f"0x{module_id:04X} body module not registered")
    extra = OUR_BEHAVIOUR.get(vector_id)
    if extra is not None:
        extra(frame)


@pytest.mark.parametrize("vector", FRAMES_WITH_BODY, ids=vector_ids(FRAMES_WITH_BODY))
def test_frame_body(vector: dict[str, Any]) -> None:
    skip_listed(vector)
    vector_id = vector["id"]
    expected = vector["expect"]["body"]
    walker = Walker(vector_id).at("body")
    if walker.listed():  # a message outside JT/T 808: no layout, by design
        assert isinstance(decoded(vector).message.body, RawBody)
        return
    if vector_id in REJECTED:  # every body key of a rejected frame is listed as differing
        walker.walk(None, expected, {})
        return
    frame = decoded(vector)
    msg_id = frame.message.header.msg_id
    if body_class(msg_id) is None and msg_id not in RAW_BY_DESIGN:
        pytest.skip(f"no body layout registered for 0x{msg_id:04X} yet")
    keys = BODY_KEYS.get(msg_id)
    assert keys is not None, f"{vector_id}: add a BODY_KEYS entry for 0x{msg_id:04X}"
    Walker(vector_id, frame, "body").walk(frame.message.body, expected, keys)


BODIES: Final = of_kind("body")


@pytest.mark.parametrize("vector", BODIES, ids=vector_ids(BODIES))
def test_body_only_vector(vector: dict[str, Any]) -> None:
    skip_listed(vector)
    msg_id = hex_id(vector["msg_id"])
    if body_class(msg_id) is None:
        pytest.skip(f"no body layout registered for 0x{msg_id:04X} yet")
    version = V2013 if vector["version"] == "unknown" else ProtocolVersion(int(vector["version"]))
    body, trailing = decode_body(msg_id, bytes.fromhex(vector["hex"]), version)
    assert trailing == b""
    Walker(vector["id"], None, "body").walk(body, vector["expect"]["body"], BODY_KEYS[msg_id])


#: Invalid inputs: what the stream decoder and the whole-frame decoder do (source error name).
INVALID: Final[dict[str, tuple[type[ProtocolError] | None, str]]] = {
    "v229": (None, "ErrUnqualifiedData, no end flag: the stream decoder waits for more bytes"),
    "v230": (HeaderError, "ErrHeaderLength2Short"),
    "v233": (HeaderError, "ErrHeaderLength2Short"),
    "v234": (HeaderError, "ErrHeaderLength2Short: sub-package bit without its 4 bytes"),
    "v237": (FramingError, "ErrUnqualifiedData: escape 7D 03"),
}


def stream_events(data: bytes, *, chunk: int | None = None) -> tuple[list[Any], int]:
    """Every event of ``data`` fed whole or ``chunk`` bytes at a time, and the bytes left."""
    decoder = FrameDecoder()
    events: list[Any] = []
    pieces = [data] if chunk is None else [data[i : i + chunk] for i in range(0, len(data), chunk)]
    for piece in pieces:
        decoder.receive_data(piece)
        while not isinstance(event := decoder.next_event(), NeedData):
            events.append(event)
    return events, decoder.buffered


@pytest.mark.parametrize("vector", of_kind("invalid"), ids=vector_ids(of_kind("invalid")))
def test_invalid_vector(vector: dict[str, Any]) -> None:
    skip_listed(vector)
    data = bytes.fromhex(vector["hex"])
    error_type, _ = INVALID[vector["id"]]
    events, pending = stream_events(data)
    if error_type is None:
        assert (events, pending) == ([], len(data) - 1)  # all but the opening delimiter
        with pytest.raises(HeaderError):  # taken as a whole frame, it is too short
            decode_frame(data)
        return
    with pytest.raises(error_type):
        decode_frame(data)
    (event,) = events
    if isinstance(event, bytes):
        with pytest.raises(error_type):
            decode_packet(event)
    else:
        assert isinstance(event, error_type)


#: Frames of a stream that split fine but do not decode: (vector id, index) -> error.
STREAM_FRAME_ERRORS: Final[dict[tuple[str, int], type[ProtocolError]]] = {
    ("v241", 1): TruncatedBodyError,  # a 0x8001 with an empty body (notes: frame-level only)
}

#: Bytes our stream decoder holds at the end, where it differs from the source (DIFFERS).
OUR_PENDING: Final = {"v241": 16, "v243": 0}


@pytest.mark.parametrize("vector", of_kind("stream"), ids=vector_ids(of_kind("stream")))
@pytest.mark.parametrize("chunk", [None, 1, 7], ids=["whole", "byte-by-byte", "7-byte-chunks"])
def test_stream_vector(vector: dict[str, Any], chunk: int | None) -> None:
    skip_listed(vector)
    text = vector["hex"]
    data = bytes.fromhex(text[: len(text) // 2 * 2])  # an odd last nibble is dropped (notes)
    events, pending = stream_events(data, chunk=chunk)
    expect = vector["expect"]
    expected_frames = [split_frame(bytes.fromhex(f)) for f in expect.get("frames", [])]
    if vector["id"] == "v243":
        first, bad, last = events
        assert first == split_frame(bytes.fromhex(expect["frames_before_error"][0]))
        with pytest.raises(HeaderError):
            decode_packet(bad)
        assert decode_packet(last).header.serial == 0x7FFF
    else:
        assert events == expected_frames
        for index, packet in enumerate(events):
            error_type = STREAM_FRAME_ERRORS.get((vector["id"], index))
            if error_type is None:
                decode_packet(packet)
            else:
                with pytest.raises(error_type):
                    decode_packet(packet)
    assert pending == OUR_PENDING.get(vector["id"], expect.get("pending_bytes"))


def test_escape_only_vectors() -> None:
    both_escapes = BY_ID["v238"]
    inner = bytes.fromhex(both_escapes["hex"])[1:-1]
    assert unescape(inner) == bytes.fromhex(both_escapes["expect"]["unescaped_inner"])
    produced = BY_ID["v239"]
    content = bytes.fromhex(produced["expect"]["escaped_from_inner"])
    assert escape(content) == bytes.fromhex(produced["hex"])[1:-1]
    assert unescape(escape(content)) == content


def reassembled(*vector_ids_in_order: str) -> tuple[int, bytes]:
    """The message id and the whole body of a sub-packaged message from its packets."""
    packets = [decoded(BY_ID[vector_id]).message for vector_id in vector_ids_in_order]
    total = packets[0].header.packet
    assert total is not None and len(packets) == total.total
    assert [p.header.packet.index for p in packets if p.header.packet] == list(
        range(1, total.total + 1)
    )
    body = b""
    for packet in packets:
        assert isinstance(packet.body, Fragment)
        body += packet.body.data
    return packets[0].header.msg_id, body


def test_sub_packaged_parameter_response_reassembles() -> None:
    msg_id, data = reassembled("v175", "v176")
    if body_class(msg_id) is None:
        pytest.skip("0x0104 body module not registered")
    body, _ = decode_body(msg_id, data, V2013)
    assert body.reply_serial == 0  # type: ignore[attr-defined]
    assert body.parameter(0x0001).value == 600  # type: ignore[attr-defined]
    assert body.parameter(0xF364) is not None  # type: ignore[attr-defined]  # vendor, kept raw


def test_sub_packaged_jpeg_reassembles() -> None:
    msg_id, data = reassembled(*(f"v{n}" for n in range(180, 190)))
    if body_class(msg_id) is None:
        pytest.skip("0x0801 body module not registered")
    body, trailing = decode_body(msg_id, data, V2013)
    assert trailing == b""
    assert body.media_id == 0x271D  # type: ignore[attr-defined]
    assert body.data[:2] == b"\xff\xd8"  # type: ignore[attr-defined]  # JPEG start of image
    assert body.data[-2:] == b"\xff\xd9"  # type: ignore[attr-defined]  # JPEG end of image


def test_sub_packaged_video_resource_list_reassembles_raw() -> None:
    msg_id, data = reassembled("v177", "v178")
    body, _ = decode_body(msg_id, data, V2013)
    assert isinstance(body, RawBody)  # JT/T 1078 0x1205 is not a JT/T 808 message
    assert (int.from_bytes(data[:2], "big"), int.from_bytes(data[2:6], "big")) == (0x015A, 35)


def test_every_vector_is_run_and_every_listing_names_a_real_vector() -> None:
    kinds = {vector["kind"] for vector in VECTORS}
    assert kinds == {"frame", "invalid", "stream", "body", "escape-only"}
    assert len(VECTORS) == len(BY_ID) == 139
    listed = (
        set(SKIPPED)
        | set(REJECTED)
        | CHECKSUM_MISMATCH
        | set(DIFFERS)
        | set(NOT_CHECKED)
        | set(OUR_BEHAVIOUR)
        | set(INVALID)
        | set(OUR_PENDING)
    )
    assert listed <= set(BY_ID)
    assert set(INVALID) == set(vector_ids(of_kind("invalid")))


def test_listed_key_paths_exist_in_their_vectors() -> None:
    def paths(value: Any, prefix: str = "") -> set[str]:
        found = {prefix} if prefix else set()
        if isinstance(value, dict):
            for key, item in value.items():
                found |= paths(item, f"{prefix}.{key}" if prefix else key)
        return found

    for table in (DIFFERS, NOT_CHECKED):
        for vector_id, keys in table.items():
            assert set(keys) <= paths(BY_ID[vector_id]["expect"]), vector_id


def test_vector_copy_matches_shared_vectors_when_present() -> None:
    """The repository's copy must not drift from shared/ (CI clones with shared/ beside us)."""
    if not SHARED_VECTORS_PATH.exists():
        pytest.skip(f"{SHARED_VECTORS_PATH} not present beside this clone")
    assert VECTORS_PATH.read_bytes() == SHARED_VECTORS_PATH.read_bytes()
