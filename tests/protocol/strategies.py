"""Hypothesis strategies derived from the layout declarations.

``layout_strategy(cls, version)`` builds values of any declared layout: integers over their whole
range (so bit fields are non-zero), text that fits its field, times on whole seconds. Fields that
are absent in ``version`` keep their defaults. Conditional fields (``Wire(when=...)``) are drawn
too; since a condition can drop a field on the wire, the round-trip property to use is
``assert_round_trip`` (encode, decode, encode again: same bytes; decode again: same value).

Layouts with hand-written codecs register a strategy in ``CUSTOM``.
"""

from __future__ import annotations

import dataclasses
import functools
from collections.abc import Callable
from datetime import datetime
from typing import Any

from hypothesis import strategies as st

from gateway.protocol.bodies.location import (
    BASIC_LOCATION,
    LOCATION,
    AdditionalInfo,
    LocationBatch,
    LocationReport,
    StatusFlag,
)
from gateway.protocol.versions import ProtocolVersion
from gateway.protocol.wire import (
    CHINA_TZ,
    Bcd,
    BcdDate,
    BcdTime,
    Bytes,
    Codec,
    FixedBytes,
    FixedText,
    Int,
    Layout,
    ListOf,
    Nested,
    Reader,
    Text,
    Writer,
    encode_bcd_time,
    wire_fields,
)

#: Strategies for codecs or layouts that are not built from ``wire_fields``.
CUSTOM: dict[Any, Callable[[ProtocolVersion], st.SearchStrategy[Any]]] = {}

# Text that survives a GB 18030 round trip and padding removal: printable, no NUL, no edge spaces.
_TEXT_ALPHABET = st.characters(
    codec="gb18030", exclude_categories=("Cc", "Cs", "Zl", "Zp"), exclude_characters="\x00"
)


@functools.cache
def text_fitting(max_bytes: int, *, strip_spaces: bool = False) -> st.SearchStrategy[str]:
    """Text whose GB 18030 encoding fits ``max_bytes`` (and has no padding at either edge).

    Drawn text is cut to fit rather than filtered: a filter would throw most long draws away,
    and Hypothesis re-analyses a filter's predicate each time the strategy is validated.
    """

    def fit(value: str) -> str:
        size = 0
        for end, char in enumerate(value):
            size += len(char.encode("gb18030"))
            if size > max_bytes:
                value = value[:end]
                break
        return value.strip(" ") if strip_spaces else value

    return st.text(_TEXT_ALPHABET, max_size=max_bytes).map(fit)


def bcd_times(tz: Any = CHINA_TZ) -> st.SearchStrategy[datetime | None]:
    moments = st.datetimes(
        min_value=datetime(2000, 1, 1), max_value=datetime(2099, 12, 31, 23, 59, 59)
    ).map(lambda moment: moment.replace(microsecond=0, tzinfo=tz))
    return st.one_of(st.none(), moments)


@functools.cache
def codec_strategy(codec: Codec[Any], version: ProtocolVersion) -> st.SearchStrategy[Any]:
    """Values ``codec`` can write in ``version``."""
    custom = CUSTOM.get(codec)
    if custom is not None:
        return custom(version)
    if isinstance(codec, Int):
        return st.integers(0, (1 << (8 * codec.size)) - 1)
    if isinstance(codec, Bcd):
        return st.text("0123456789", min_size=2 * codec.size, max_size=2 * codec.size)
    if isinstance(codec, BcdTime):
        return bcd_times(codec.tz)
    if isinstance(codec, BcdDate):
        return st.one_of(st.none(), st.dates(min_value=datetime(1990, 1, 1).date()))
    if isinstance(codec, FixedText):
        return text_fitting(codec.size, strip_spaces=codec.strip != b"\x00")
    if isinstance(codec, FixedBytes):
        return st.binary(min_size=codec.size, max_size=codec.size)
    if isinstance(codec, Bytes):
        limit = 64 if codec.prefix is None else min(64, (1 << (8 * codec.prefix.size)) - 1)
        return st.binary(max_size=limit)
    if isinstance(codec, Text):
        limit = 32 if codec.prefix is None else min(32, (1 << (8 * codec.prefix.size)) - 1)
        # Text to the end of the body drops trailing NULs, so none are generated.
        return text_fitting(limit)
    if isinstance(codec, ListOf):
        limit = 4 if codec.count is None else min(4, (1 << (8 * codec.count.size)) - 1)
        return st.lists(codec_strategy(codec.item, version), max_size=limit)
    if isinstance(codec, Nested):
        return layout_strategy(codec.layout, version)
    raise NotImplementedError(f"no strategy for codec {codec!r}; add one to CUSTOM")


def layout_strategy(layout: type[Any], version: ProtocolVersion) -> st.SearchStrategy[Any]:
    """Instances of a declared layout with every on-the-wire field drawn for ``version``."""
    key = (layout, version)
    strategy = _LAYOUT_STRATEGIES.get(key)
    if strategy is None:
        custom = CUSTOM.get(layout)
        if custom is not None:
            strategy = custom(version)
        else:
            drawn = {
                name: codec_strategy(codec, version)
                for name, codec, _ in wire_fields(layout, version)
            }
            strategy = st.builds(layout, **drawn)
        _LAYOUT_STRATEGIES[key] = strategy
    return strategy


#: Built once per (layout, revision): tests draw from them in every example, and Hypothesis
#: validates each new strategy object again.
_LAYOUT_STRATEGIES: dict[tuple[type[Any], ProtocolVersion], st.SearchStrategy[Any]] = {}


def encode_layout(value: Layout, version: ProtocolVersion) -> bytes:
    w = Writer(version)
    value.write(w)
    return bytes(w.out)


def decode_layout(layout: type[Any], data: bytes, version: ProtocolVersion) -> Any:
    r = Reader(data, version)
    value = layout.read(r)
    assert r.remaining == 0, f"{r.remaining} bytes left after decoding {layout.__name__}"
    return value


def assert_round_trip(value: Layout, version: ProtocolVersion) -> Any:
    """Encode, decode, re-encode: bytes must match; decoding again gives an equal value.

    Returns the decoded value so tests can compare the fields they care about.
    """
    wire = encode_layout(value, version)
    decoded = decode_layout(type(value), wire, version)
    assert encode_layout(decoded, version) == wire
    assert decode_layout(type(value), wire, version) == decoded
    unconditional = (
        {
            name
            for name, _, meta in wire_fields(type(value), version)
            if meta is None or meta.when is None
        }
        if type(value) not in CUSTOM
        else set()
    )
    for name in unconditional:
        assert getattr(decoded, name) == getattr(value, name), name
    return decoded


def all_fields_equal(left: Any, right: Any) -> bool:
    return all(getattr(left, f.name) == getattr(right, f.name) for f in dataclasses.fields(left))


# --------------------------------------------------------------------------------------------
# The location codecs are hand-written (reference §3.20, §3.33): their strategies live here so
# that every module embedding a location shares them.

_U16 = st.integers(0, 0xFFFF)
_U32 = st.integers(0, 0xFFFFFFFF)
_SOUTH = int(StatusFlag.SOUTH_LATITUDE)
_WEST = int(StatusFlag.WEST_LONGITUDE)


@st.composite
def _unreadable_items(draw: st.DrawFn) -> bytes:
    """An item id and a length that runs past the end: fewer value bytes than declared."""
    length = draw(st.integers(1, 0xFF))
    return bytes((draw(st.integers(0, 0xFF)), length)) + draw(st.binary(max_size=length - 1))


#: What ``malformed_extras`` can hold after decoding: nothing, a bare id, or a short last item.
MALFORMED_TAILS = st.just(b"") | st.binary(min_size=1, max_size=1) | _unreadable_items()
EXTRAS = st.lists(
    st.builds(AdditionalInfo, st.integers(0, 0xFF), st.binary(max_size=0xFF)), max_size=3
)


def _degrees(millionths: int, negative: int) -> float:
    """A coordinate as decoding gives it: negative when its hemisphere bit is set (-0.0 on 0)."""
    return -(millionths / 1e6) if negative else millionths / 1e6


@st.composite
def locations(draw: st.DrawFn, version: ProtocolVersion) -> LocationReport:
    """Reports as decoding gives them: coordinate signs agree with status bits 2/3."""
    status = draw(_U32)
    return LocationReport(
        alarm=draw(_U32),
        status=status,
        latitude=_degrees(draw(_U32), status & _SOUTH),
        longitude=_degrees(draw(_U32), status & _WEST),
        altitude=draw(st.integers(-0x8000, 0x7FFF)),
        speed=draw(_U16) / 10,
        direction=draw(_U16),
        time=draw(bcd_times()),
        extras=draw(EXTRAS),
        malformed_extras=draw(MALFORMED_TAILS),
    )


CUSTOM[LocationReport] = locations
CUSTOM[LOCATION] = locations
CUSTOM[LocationBatch] = lambda version: st.builds(
    LocationBatch,
    type=st.integers(0, 0xFF),
    items=st.lists(locations(version), min_size=1, max_size=3),
    # The count is written from ``items``, so anything after them is read back as malformed.
    malformed_items=st.binary(max_size=40),
)


def _basic_locations(version: ProtocolVersion) -> st.SearchStrategy[LocationReport]:
    """Locations as the 28-byte block carries them: no items, a valid or absent time."""
    return st.builds(
        lambda head, time: BASIC_LOCATION.read(Reader(head + encode_bcd_time(time), version)),
        st.binary(min_size=22, max_size=22),
        bcd_times(),
    )


CUSTOM[BASIC_LOCATION] = _basic_locations
