"""Declarative wire layouts: each body is declared once and decode, encode and JSON follow.

A layout is a slotted, keyword-only dataclass whose fields carry their wire codec in
``typing.Annotated`` metadata::

    @dataclass(slots=True, kw_only=True)
    class TemporaryTracking(Body):
        interval_s: Word
        validity_s: Annotated[int, Wire(U32, when=lambda f: f["interval_s"] != 0)] = 0

``Wire`` also carries per-revision differences (``v2011=``/``v2013=``/``v2019=`` give another codec,
or ``None`` when the field does not exist in that revision), so revision differences live in the
declaration instead of branches. For each (layout, revision) pair the field list is compiled once
into a plan; runs of fixed-width integers become a single ``struct`` call.

Irregular bodies (0x0200 additional items, 0x8103 parameters, ...) plug in their own ``Codec``.
"""

from __future__ import annotations

import dataclasses
import struct
from collections.abc import Callable, Iterable, Mapping
from datetime import UTC, date, datetime, time, timedelta, timezone
from enum import Enum
from typing import (
    Annotated,
    Any,
    ClassVar,
    Final,
    Generic,
    Self,
    TypeVar,
    get_args,
    get_origin,
    get_type_hints,
)

from .errors import BodyError, EncodeError, TruncatedBodyError, shown
from .versions import V2011, V2013, V2019, ProtocolVersion

T = TypeVar("T")

#: Text encoding of STRING fields. GB 18030 is a superset of GBK: it decodes everything a GBK
#: device sends and encodes any character a user passes in.
TEXT_ENCODING: Final = "gb18030"
#: Every time in JT/T 808 is GMT+8 except the 2019 server time reply (0x8004), which is UTC.
CHINA_TZ: Final = timezone(timedelta(hours=8), "GMT+8")

JSON = None | bool | int | float | str | list["JSON"] | dict[str, "JSON"]


class Reader:
    """A cursor over one message body. Running past the end is a ``TruncatedBodyError``."""

    __slots__ = ("data", "end", "pos", "version")

    def __init__(self, data: bytes, version: ProtocolVersion, pos: int = 0) -> None:
        self.data = data
        self.pos = pos
        self.end = len(data)
        self.version = version

    @property
    def remaining(self) -> int:
        return self.end - self.pos

    def take(self, count: int) -> bytes:
        start = self.pos
        stop = start + count
        if stop > self.end or count < 0:
            raise TruncatedBodyError(
                f"needs {count} more bytes but only {self.end - start} remain", offset=start
            )
        self.pos = stop
        return self.data[start:stop]

    def rest(self) -> bytes:
        start = self.pos
        self.pos = self.end
        return self.data[start : self.end]

    def unpack(self, layout: struct.Struct) -> tuple[Any, ...]:
        start = self.pos
        if start + layout.size > self.end:
            raise TruncatedBodyError(
                f"needs {layout.size} more bytes but only {self.end - start} remain",
                offset=start,
            )
        self.pos = start + layout.size
        return layout.unpack_from(self.data, start)

    def u8(self) -> int:
        start = self.pos
        if start >= self.end:
            raise TruncatedBodyError("needs 1 more byte but none remain", offset=start)
        self.pos = start + 1
        return self.data[start]

    def u16(self) -> int:
        return int(self.unpack(_U16)[0])

    def u32(self) -> int:
        return int(self.unpack(_U32)[0])


class Writer:
    """Output buffer of one body, with the revision being written."""

    __slots__ = ("out", "version")

    def __init__(self, version: ProtocolVersion) -> None:
        self.out = bytearray()
        self.version = version


class Codec(Generic[T]):
    """How one field is read and written. ``fmt`` is set by fixed-width integers (fusable)."""

    fmt: str | None = None

    def read(self, r: Reader) -> T:
        raise NotImplementedError

    def write(self, w: Writer, value: T) -> None:
        raise NotImplementedError

    def describe(self) -> str:
        return type(self).__name__


_U16 = struct.Struct(">H")
_U32 = struct.Struct(">I")


class Int(Codec[int]):
    """Unsigned big-endian integer of 1, 2 or 4 bytes (BYTE, WORD, DWORD)."""

    _FORMATS: ClassVar[dict[int, str]] = {1: "B", 2: "H", 4: "I"}

    def __init__(self, size: int) -> None:
        self.size = size
        self.fmt = self._FORMATS[size]
        self._struct = struct.Struct(">" + self.fmt)

    def read(self, r: Reader) -> int:
        return int(r.unpack(self._struct)[0])

    def write(self, w: Writer, value: int) -> None:
        try:
            w.out += self._struct.pack(value)
        except struct.error:
            raise EncodeError(
                f"{shown(value)} does not fit an unsigned {8 * self.size}-bit field"
            ) from None

    def describe(self) -> str:
        return {1: "BYTE", 2: "WORD", 4: "DWORD"}[self.size]


U8: Final = Int(1)
U16: Final = Int(2)
U32: Final = Int(4)

Byte = Annotated[int, U8]
Word = Annotated[int, U16]
DWord = Annotated[int, U32]

#: Value of each BCD byte; ``None`` where a nibble is not a decimal digit (so a time made of such
#: bytes fails to build and decodes as ``None``).
_BCD_VALUE: Final = tuple(
    (b >> 4) * 10 + (b & 0x0F) if (b >> 4) < 10 and (b & 0x0F) < 10 else None for b in range(256)
)
_HEX_DIGITS: Final = frozenset("0123456789abcdefABCDEF")


def bcd_digits(raw: bytes) -> str:
    """BCD bytes as their digit string (non-decimal nibbles kept as hex letters)."""
    return raw.hex()


class Bcd(Codec[str]):
    """BCD[n] read as its digit string; written left-padded with 0 (phone numbers, ICCID)."""

    def __init__(self, size: int) -> None:
        self.size = size

    def read(self, r: Reader) -> str:
        return r.take(self.size).hex()

    def write(self, w: Writer, value: str) -> None:
        digits = value.rjust(2 * self.size, "0")
        if len(digits) != 2 * self.size:
            raise EncodeError(f"{shown(value)} has more than {2 * self.size} BCD digits")
        if not _HEX_DIGITS.issuperset(digits):  # hex letters: nibbles a device sent, kept as is
            raise EncodeError(f"{shown(value)} is not BCD digits")
        w.out += bytes.fromhex(digits)

    def describe(self) -> str:
        return f"BCD[{self.size}]"


BCD_TIME_MEMO: dict[bytes, datetime | None] = {}
BCD_TIME_MEMO_LIMIT: Final = 4096


def decode_bcd_time(raw: bytes, tz: timezone = CHINA_TZ) -> datetime | None:
    """YYMMDDhhmmss (20YY) as an aware datetime; ``None`` when the digits are not a real time.

    Devices without a fix commonly send all zeros; that is reported as ``None``, never an error.
    GMT+8 results are memoised (bounded): a fleet's reports arriving in the same second share
    their six time bytes, and building a datetime costs more than the rest of the basic block.
    """
    if tz is CHINA_TZ:
        memo = BCD_TIME_MEMO.get(raw, _MISSING_TIME)
        if memo is not _MISSING_TIME:
            return memo  # type: ignore[return-value]
    v = _BCD_VALUE
    try:
        value: datetime | None = datetime(
            2000 + v[raw[0]],  # type: ignore[operator]
            v[raw[1]],  # type: ignore[arg-type]
            v[raw[2]],  # type: ignore[arg-type]
            v[raw[3]],  # type: ignore[arg-type]
            v[raw[4]],  # type: ignore[arg-type]
            v[raw[5]],  # type: ignore[arg-type]
            tzinfo=tz,
        )
    except (ValueError, TypeError):  # not a calendar time, or a non-decimal nibble (None)
        value = None
    if tz is CHINA_TZ:
        if len(BCD_TIME_MEMO) >= BCD_TIME_MEMO_LIMIT:
            BCD_TIME_MEMO.clear()
        BCD_TIME_MEMO[bytes(raw)] = value
    return value


_MISSING_TIME: Final = object()


def encode_bcd_time(value: datetime | None, tz: timezone = CHINA_TZ) -> bytes:
    """The six BCD bytes of ``value`` in ``tz`` (naive datetimes are taken as already in ``tz``)."""
    if value is None:
        return bytes(6)
    if value.tzinfo is not None:
        value = value.astimezone(tz)
    if not 2000 <= value.year <= 2099:
        raise EncodeError(f"{value.isoformat()} is outside the BCD years 2000-2099")
    return bytes.fromhex(value.strftime("%y%m%d%H%M%S"))


class BcdTime(Codec["datetime | None"]):
    """BCD[6] YYMMDDhhmmss: GMT+8 everywhere, UTC only where the standard says (0x8004)."""

    def __init__(self, tz: timezone = CHINA_TZ) -> None:
        self.tz = tz

    def read(self, r: Reader) -> datetime | None:
        return decode_bcd_time(r.take(6), self.tz)

    def write(self, w: Writer, value: datetime | None) -> None:
        w.out += encode_bcd_time(value, self.tz)

    def describe(self) -> str:
        return "BCD[6] time"


BCD_TIME: Final = BcdTime()
BCD_TIME_UTC: Final = BcdTime(UTC)


class BcdDate(Codec["date | None"]):
    """BCD[4] YYYYMMDD (driver licence expiry); ``None`` when not a real date."""

    def read(self, r: Reader) -> date | None:
        digits = r.take(4).hex()
        if not digits.isdecimal():
            return None
        try:
            return date(int(digits[0:4]), int(digits[4:6]), int(digits[6:8]))
        except ValueError:
            return None

    def write(self, w: Writer, value: date | None) -> None:
        if value is None:
            w.out += bytes(4)
            return
        w.out += bytes.fromhex(f"{value.year:04d}{value.month:02d}{value.day:02d}")


def decode_text(raw: bytes) -> str:
    """GBK/GB 18030 text; undecodable bytes are kept (surrogate-escaped) so nothing is lost."""
    if raw.isascii():  # GB 18030 is ASCII below 0x80, and ASCII's codec is the faster
        return raw.decode("ascii")
    return raw.decode(TEXT_ENCODING, "surrogateescape")


def encode_text(value: str) -> bytes:
    if value.isascii():
        return value.encode("ascii")
    try:
        return value.encode(TEXT_ENCODING, "surrogateescape")
    except UnicodeEncodeError as error:
        raise EncodeError(
            f"{shown(value)} cannot be written as GB 18030 text: {error.reason}"
        ) from None


class FixedText(Codec[str]):
    """BYTE[n] text padded to n bytes.

    Decoding strips 0x00 padding on both sides (2019 text says left-pad, devices right-pad) and,
    where ``strip_spaces``, space padding (2011 terminal model); anything else, ASCII '0' padding
    included, is kept. Encoding right-pads with ``pad``.
    """

    def __init__(self, size: int, *, pad: bytes = b"\x00", strip_spaces: bool = False) -> None:
        self.size = size
        self.pad = pad
        self.strip = b"\x00 " if strip_spaces else b"\x00"

    def read(self, r: Reader) -> str:
        return decode_text(r.take(self.size).strip(self.strip))

    def write(self, w: Writer, value: str) -> None:
        raw = encode_text(value)
        if len(raw) > self.size:
            raise EncodeError(
                f"{shown(value)} is {len(raw)} bytes, longer than the {self.size}-byte field"
            )
        w.out += raw.ljust(self.size, self.pad)

    def describe(self) -> str:
        return f"BYTE[{self.size}] text"


class FixedBytes(Codec[bytes]):
    """BYTE[n] raw bytes."""

    def __init__(self, size: int) -> None:
        self.size = size

    def read(self, r: Reader) -> bytes:
        return r.take(self.size)

    def write(self, w: Writer, value: bytes) -> None:
        if len(value) != self.size:
            raise EncodeError(f"needs exactly {self.size} bytes, got {len(value)}")
        w.out += value


class Bytes(Codec[bytes]):
    """Raw bytes: length-prefixed by ``prefix`` (an ``Int`` codec), or running to the body end."""

    def __init__(self, prefix: Int | None = None) -> None:
        self.prefix = prefix

    def read(self, r: Reader) -> bytes:
        if self.prefix is None:
            return r.rest()
        return r.take(self.prefix.read(r))

    def write(self, w: Writer, value: bytes) -> None:
        if self.prefix is not None:
            self.prefix.write(w, len(value))
        w.out += value


class Text(Codec[str]):
    """STRING: length-prefixed by ``prefix``, or running to the body end.

    Text to the end of the body drops trailing 0x00: 2011 strings are zero-terminated and some
    devices keep doing it. Nothing is appended when writing (no implementation expects it).
    """

    def __init__(self, prefix: Int | None = None) -> None:
        self.prefix = prefix

    def read(self, r: Reader) -> str:
        if self.prefix is None:
            return decode_text(r.rest().rstrip(b"\x00"))
        return decode_text(r.take(self.prefix.read(r)))

    def write(self, w: Writer, value: str) -> None:
        raw = encode_text(value)
        if self.prefix is not None:
            self.prefix.write(w, len(raw))
        w.out += raw


class Nested(Codec[T]):
    """A layout inside a layout (list items, a location block inside a reply)."""

    def __init__(self, layout: type[T]) -> None:
        self.layout = layout

    def read(self, r: Reader) -> T:
        return self.layout.read(r)  # type: ignore[attr-defined, no-any-return]

    def write(self, w: Writer, value: T) -> None:
        value.write(w)  # type: ignore[attr-defined]


class ListOf(Codec[list[T]]):
    """A list: ``count`` prefix (an ``Int`` codec) then items, or items up to the body end."""

    def __init__(self, item: Codec[T] | type[T], count: Int | None = U8) -> None:
        self.item: Codec[T] = item if isinstance(item, Codec) else Nested(item)
        self.count = count

    def read(self, r: Reader) -> list[T]:
        read_item = self.item.read
        if self.count is None:
            items = []
            while r.pos < r.end:
                items.append(read_item(r))
            return items
        return [read_item(r) for _ in range(self.count.read(r))]

    def write(self, w: Writer, value: list[T]) -> None:
        if self.count is not None:
            self.count.write(w, len(value))
        for item in value:
            self.item.write(w, item)


_KEEP: Final = object()
#: A presence condition: receives the fields read so far, says whether this one is on the wire.
Condition = Callable[[Mapping[str, Any]], bool]


class Wire:
    """Field metadata: the codec, per-revision overrides, and an optional presence condition.

    ``when`` receives the fields decoded so far (a mapping) and says whether this field is on the
    wire; when it is not, the dataclass default is used on decode and nothing is written.
    """

    __slots__ = ("by_version", "when")

    def __init__(
        self,
        codec: Codec[Any],
        *,
        v2011: Codec[Any] | object | None = _KEEP,
        v2013: Codec[Any] | object | None = _KEEP,
        v2019: Codec[Any] | object | None = _KEEP,
        since: ProtocolVersion | None = None,
        when: Callable[[Mapping[str, Any]], bool] | None = None,
    ) -> None:
        by_version: dict[ProtocolVersion, Codec[Any] | None] = {}
        for version, override in ((V2011, v2011), (V2013, v2013), (V2019, v2019)):
            if override is not _KEEP:
                by_version[version] = override  # type: ignore[assignment]
            elif since is not None and version < since:
                by_version[version] = None
            else:
                by_version[version] = codec
        self.by_version = by_version
        self.when = when


class Layout:
    """Base of declared layouts. Subclasses are ``@dataclass(slots=True, kw_only=True)``."""

    __slots__ = ()

    @classmethod
    def decode(cls, data: bytes, version: ProtocolVersion = V2013) -> Self:
        """Decode ``data`` completely; bytes left over after the layout are a ``BodyError``."""
        r = Reader(data, version)
        value = cls.read(r)
        if r.remaining:
            raise BodyError(
                f"{r.remaining} unexpected bytes after the {cls.__name__} layout", offset=r.pos
            )
        return value

    @classmethod
    def read(cls, r: Reader) -> Self:
        return plan_for(cls, r.version).read(r)  # type: ignore[no-any-return]

    def write(self, w: Writer) -> None:
        plan_for(type(self), w.version).write(w, self)

    def encode(self, version: ProtocolVersion = V2013) -> bytes:
        w = Writer(version)
        self.write(w)
        return bytes(w.out)

    def to_json(self) -> dict[str, JSON]:
        """The JSON view: declared fields by name, values as ``to_json`` converts them."""
        return {f.name: to_json(getattr(self, f.name)) for f in dataclasses.fields(self)}  # type: ignore[arg-type]


def to_json(value: Any) -> JSON:
    """JSON-ready form of a decoded value: bytes as hex, times as ISO 8601, enums as ints."""
    if isinstance(value, Layout):
        return value.to_json()
    if isinstance(value, bool | str | float | None):
        return value
    if isinstance(value, Enum):
        return value.value  # type: ignore[no-any-return]
    if isinstance(value, int):
        return int(value)
    if isinstance(value, bytes | bytearray):
        return value.hex()
    if isinstance(value, datetime | date | time):
        return value.isoformat()
    if isinstance(value, list | tuple):
        return [to_json(item) for item in value]
    if isinstance(value, dict):
        return {str(k): to_json(v) for k, v in value.items()}
    to_json_method = getattr(value, "to_json", None)
    if callable(to_json_method):
        return to_json_method()  # type: ignore[no-any-return]
    raise TypeError(f"no JSON view for {type(value).__name__}")


# --------------------------------------------------------------------------------------------
# Plans: a layout compiled for one revision.


class _Fused:
    """Consecutive fixed-width integers read and written with one struct call."""

    __slots__ = ("names", "struct")

    def __init__(self, names: list[str], fmt: str) -> None:
        self.names = tuple(names)
        self.struct = struct.Struct(">" + fmt)


class _Field:
    __slots__ = ("codec", "name", "when")

    def __init__(
        self, name: str, codec: Codec[Any], when: Callable[[Mapping[str, Any]], bool] | None
    ) -> None:
        self.name = name
        self.codec = codec
        self.when = when


class Plan:
    """The read and write functions of one layout in one revision.

    Both are generated as straight-line Python (the way ``dataclasses`` generates ``__init__``):
    one ``struct`` call per run of integers, one codec call per other field, and the instance
    filled slot by slot. That makes a five-byte body about four times cheaper than a loop over
    step objects.
    """

    __slots__ = ("layout", "read", "steps", "write")

    def __init__(self, layout: type, steps: list[_Fused | _Field]) -> None:
        self.layout = layout
        self.steps = tuple(steps)
        self.read: Callable[[Reader], Any]
        self.write: Callable[[Writer, Any], None]
        self.read, self.write = _generate(layout, self.steps)


def _generate(
    layout: type, steps: tuple[_Fused | _Field, ...]
) -> tuple[Callable[[Reader], Any], Callable[[Writer, Any], None]]:
    env: dict[str, Any] = {
        "new": object.__new__,
        "Layout": layout,
        "EncodeError": EncodeError,
        "StructError": struct.error,
        "View": _AttributeView,
        "range_message": _range_message,
    }
    read = ["def read(r):"]
    write = ["def write(w, v):", "    out = w.out"]
    known: list[str] = []  # fields read so far, for conditions
    on_wire: set[str] = set()
    for number, step in enumerate(steps):
        if isinstance(step, _Fused):
            env[f"S{number}"] = step.struct
            env[f"F{number}"] = step
            targets = ", ".join(f"f_{name}" for name in step.names)
            read.append(f"    {targets}, = r.unpack(S{number})")
            values = ", ".join(f"v.{name}" for name in step.names)
            write += [
                "    try:",
                f"        out += S{number}.pack({values})",
                "    except (StructError, TypeError):",
                f"        raise EncodeError(range_message(Layout, F{number}, ({values},)))"
                " from None",
            ]
            known += step.names
            on_wire.update(step.names)
            continue
        name = step.name
        env[f"C{number}"] = step.codec
        read_line = f"f_{name} = C{number}.read(r)"
        write_line = f"C{number}.write(w, v.{name})"
        if step.when is None:
            read.append(f"    {read_line}")
            write_indent = "    "
        else:
            env[f"W{number}"] = step.when
            seen = ", ".join(f"{k!r}: f_{k}" for k in known)
            env[f"D{number}"] = _default_of(layout, name)
            read += [
                f"    if W{number}({{{seen}}}):",
                f"        {read_line}",
                "    else:",
                f"        f_{name} = D{number}()",
            ]
            write.append(f"    if W{number}(View(v)):")
            write_indent = "        "
        write += [
            f"{write_indent}try:",
            f"{write_indent}    {write_line}",
            f"{write_indent}except EncodeError as error:",
            f"{write_indent}    raise EncodeError(f'{layout.__name__}.{name}: {{error}}')"
            " from None",
        ]
        known.append(name)
        on_wire.add(name)
    read.append("    o = new(Layout)")
    for f in dataclasses.fields(layout):
        if f.name in on_wire:
            read.append(f"    o.{f.name} = f_{f.name}")
        else:
            env[f"A_{f.name}"] = _default_of(layout, f.name)
            read.append(f"    o.{f.name} = A_{f.name}()")
    read.append("    return o")
    source = "\n".join(read) + "\n\n" + "\n".join(write) + "\n"
    exec(compile(source, f"<plan {layout.__name__}>", "exec"), env)
    return env["read"], env["write"]


def _default_of(layout: type, name: str) -> Callable[[], Any]:
    """A zero-argument function giving the declared default of a field absent from the wire."""
    for f in dataclasses.fields(layout):
        if f.name != name:
            continue
        if f.default is not dataclasses.MISSING:
            default = f.default
            return lambda: default
        if f.default_factory is not dataclasses.MISSING:
            return f.default_factory
        raise TypeError(
            f"{layout.__name__}.{name} can be absent from the wire, so it needs a default"
        )
    raise KeyError(name)


def _range_message(layout: type, step: _Fused, values: Iterable[Any]) -> str:
    limits = {"B": 0xFF, "H": 0xFFFF, "I": 0xFFFFFFFF}
    codes = step.struct.format.lstrip(">")
    for name, code, value in zip(step.names, codes, values, strict=True):
        if not isinstance(value, int) or not 0 <= value <= limits[code]:
            return f"{layout.__name__}.{name}: {shown(value)} does not fit 0..{limits[code]}"
    return f"{layout.__name__}: value out of range"


class _AttributeView(Mapping[str, Any]):
    __slots__ = ("_value",)

    def __init__(self, value: Any) -> None:
        self._value = value

    def __getitem__(self, key: str) -> Any:
        return getattr(self._value, key)

    def __iter__(self) -> Any:
        return iter(f.name for f in dataclasses.fields(self._value))

    def __len__(self) -> int:
        return len(dataclasses.fields(self._value))


_PLANS: dict[tuple[type, ProtocolVersion], Plan] = {}


def plan_for(layout: type, version: ProtocolVersion) -> Plan:
    """The compiled plan of ``layout`` for ``version`` (built once, then cached)."""
    key = (layout, version)
    plan = _PLANS.get(key)
    if plan is None:
        plan = _PLANS[key] = _compile(layout, version)
    return plan


def wire_fields(
    layout: type, version: ProtocolVersion
) -> list[tuple[str, Codec[Any], Wire | None]]:
    """The (name, codec, metadata) of every field on the wire in ``version``, in order."""
    hints = get_type_hints(layout, include_extras=True)
    result: list[tuple[str, Codec[Any], Wire | None]] = []
    for f in dataclasses.fields(layout):
        codec, meta = _codec_of(layout, f.name, hints[f.name], version)
        if codec is not None:
            result.append((f.name, codec, meta))
    return result


def _codec_of(
    layout: type, name: str, hint: Any, version: ProtocolVersion
) -> tuple[Codec[Any] | None, Wire | None]:
    if get_origin(hint) is not Annotated:
        raise TypeError(f"{layout.__name__}.{name} has no wire codec (use Annotated[..., codec])")
    for meta in get_args(hint)[1:]:
        if isinstance(meta, Wire):
            return meta.by_version[version], meta
        if isinstance(meta, Codec):
            return meta, None
    raise TypeError(f"{layout.__name__}.{name} has no wire codec in its Annotated metadata")


def _compile(layout: type, version: ProtocolVersion) -> Plan:
    steps: list[_Fused | _Field] = []
    names: list[str] = []
    fmt = ""
    for name, codec, meta in wire_fields(layout, version):
        when = meta.when if meta is not None else None
        if codec.fmt is not None and when is None:
            names.append(name)
            fmt += codec.fmt
            continue
        if names:
            steps.append(_Fused(names, fmt))
            names, fmt = [], ""
        steps.append(_Field(name, codec, when))
    if names:
        steps.append(_Fused(names, fmt))
    return Plan(layout, steps)


__all__ = [
    "BCD_TIME",
    "BCD_TIME_UTC",
    "CHINA_TZ",
    "JSON",
    "TEXT_ENCODING",
    "U8",
    "U16",
    "U32",
    "V2011",
    "V2013",
    "V2019",
    "Bcd",
    "BcdDate",
    "BcdTime",
    "Byte",
    "Bytes",
    "Codec",
    "DWord",
    "FixedBytes",
    "FixedText",
    "Int",
    "Layout",
    "ListOf",
    "Nested",
    "Plan",
    "Reader",
    "Text",
    "Wire",
    "Word",
    "Writer",
    "bcd_digits",
    "decode_bcd_time",
    "decode_text",
    "encode_bcd_time",
    "encode_text",
    "plan_for",
    "to_json",
    "wire_fields",
]
