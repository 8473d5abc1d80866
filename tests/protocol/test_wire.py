"""The declarative layout framework: codecs, plans, revisions, conditions and the JSON view.

Layouts here are declared for the tests only (they are not registered bodies). Every codec is
tested through ``Reader``/``Writer``, including truncated input, which must be a
``TruncatedBodyError`` naming the offset and leaving the cursor where it was.
"""

from __future__ import annotations

import contextlib
import struct
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta, timezone
from enum import IntEnum, IntFlag
from typing import Annotated, Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from gateway.protocol.errors import BodyError, EncodeError, TruncatedBodyError
from gateway.protocol.versions import V2011, V2013, V2019, ProtocolVersion
from gateway.protocol.wire import (
    BCD_TIME,
    BCD_TIME_UTC,
    CHINA_TZ,
    U8,
    U16,
    U32,
    Bcd,
    BcdDate,
    BcdTime,
    Byte,
    Bytes,
    Codec,
    DWord,
    FixedBytes,
    FixedText,
    Int,
    Layout,
    ListOf,
    Nested,
    Reader,
    Text,
    Wire,
    Word,
    Writer,
    decode_bcd_time,
    encode_bcd_time,
    to_json,
    wire_fields,
)

from .strategies import bcd_times


def write(codec: Codec[Any], value: Any, version: ProtocolVersion = V2013) -> bytes:
    w = Writer(version)
    codec.write(w, value)
    return bytes(w.out)


def read(codec: Codec[Any], data: bytes, version: ProtocolVersion = V2013) -> Any:
    """Read one value; the codec must use every byte."""
    r = Reader(data, version)
    value = codec.read(r)
    assert r.remaining == 0, f"{r.remaining} bytes left"
    return value


def truncation_offset(codec: Codec[Any], data: bytes) -> int | None:
    """Read ``data``, which must be a ``TruncatedBodyError``; its offset."""
    r = Reader(data, V2013)
    with pytest.raises(TruncatedBodyError) as caught:
        codec.read(r)
    return caught.value.offset


# --------------------------------------------------------------------------------------------
# Reader


def test_reader_take_past_the_end_is_truncation_and_the_cursor_stays() -> None:
    r = Reader(b"\x01\x02\x03", V2013)
    assert r.take(2) == b"\x01\x02"
    with pytest.raises(TruncatedBodyError) as caught:
        r.take(2)
    assert caught.value.offset == 2
    assert r.pos == 2
    assert r.remaining == 1


def test_reader_negative_take_is_truncation() -> None:
    r = Reader(b"\x01\x02", V2013)
    with pytest.raises(TruncatedBodyError):
        r.take(-1)
    assert r.pos == 0


@pytest.mark.parametrize(
    ("method", "size"), [("u8", 1), ("u16", 2), ("u32", 4)], ids=["u8", "u16", "u32"]
)
def test_reader_integers_past_the_end_are_truncation_at_the_integer(method: str, size: int) -> None:
    for available in range(size):
        r = Reader(b"\xaa" + bytes(available), V2013, pos=1)
        with pytest.raises(TruncatedBodyError) as caught:
            getattr(r, method)()
        assert caught.value.offset == 1
        assert r.pos == 1


def test_reader_integers_are_big_endian() -> None:
    r = Reader(bytes.fromhex("01 0203 04050607"), V2013)
    assert (r.u8(), r.u16(), r.u32()) == (0x01, 0x0203, 0x04050607)
    assert r.remaining == 0


def test_reader_unpack_past_the_end_is_truncation() -> None:
    r = Reader(b"\x00\x01\x02", V2013)
    with pytest.raises(TruncatedBodyError) as caught:
        r.unpack(struct.Struct(">HH"))
    assert caught.value.offset == 0
    assert r.pos == 0


def test_reader_rest_takes_everything_left() -> None:
    r = Reader(b"\x00\x01\x02", V2013, pos=1)
    assert r.rest() == b"\x01\x02"
    assert r.rest() == b""
    assert r.remaining == 0


def test_truncation_is_a_body_error() -> None:
    assert issubclass(TruncatedBodyError, BodyError)


# --------------------------------------------------------------------------------------------
# Integers


@pytest.mark.parametrize(
    ("codec", "value", "wire"),
    [(U8, 0xAB, "ab"), (U16, 0x1234, "1234"), (U32, 0x89ABCDEF, "89abcdef"), (U16, 0, "0000")],
)
def test_int_is_unsigned_big_endian(codec: Int, value: int, wire: str) -> None:
    assert write(codec, value) == bytes.fromhex(wire)
    assert read(codec, bytes.fromhex(wire)) == value


@pytest.mark.parametrize(
    ("codec", "value"),
    [(U8, 256), (U8, -1), (U16, 0x10000), (U16, -1), (U32, 1 << 32), (U32, -1), (U8, 1.5)],
)
def test_int_out_of_range_is_an_encode_error(codec: Int, value: Any) -> None:
    with pytest.raises(EncodeError):
        write(codec, value)


@pytest.mark.parametrize(("codec", "size"), [(U8, 1), (U16, 2), (U32, 4)])
def test_truncated_int_names_its_offset(codec: Int, size: int) -> None:
    assert truncation_offset(codec, bytes(size - 1)) == 0


# --------------------------------------------------------------------------------------------
# BCD


def test_bcd_reads_every_digit_with_leading_zeros() -> None:
    assert read(Bcd(6), bytes.fromhex("013912345678")) == "013912345678"
    assert read(Bcd(10), bytes.fromhex("89860418231870850620")) == "89860418231870850620"


def test_bcd_keeps_non_decimal_nibbles_as_hex_letters() -> None:
    assert read(Bcd(6), bytes.fromhex("4f07788ef676")) == "4f07788ef676"
    assert write(Bcd(6), "4f07788ef676") == bytes.fromhex("4f07788ef676")


def test_bcd_is_written_left_padded_with_zeros() -> None:
    assert write(Bcd(6), "13912345678") == bytes.fromhex("013912345678")
    assert write(Bcd(2), "") == b"\x00\x00"


def test_bcd_with_too_many_digits_is_an_encode_error() -> None:
    with pytest.raises(EncodeError, match="more than 12"):
        write(Bcd(6), "1013912345678")


@pytest.mark.parametrize("value", ["1391234567x", "+13912345678", "12-4"])
def test_bcd_with_non_digits_is_an_encode_error(value: str) -> None:
    with pytest.raises(EncodeError):
        write(Bcd(6), value)


def test_bcd_with_spaces_is_an_encode_error() -> None:
    with pytest.raises(EncodeError):
        write(Bcd(6), "  1234567890")


@given(st.text("0123456789", min_size=20, max_size=20))
def test_bcd_round_trips(digits: str) -> None:
    assert read(Bcd(10), write(Bcd(10), digits)) == digits


def test_truncated_bcd_names_its_offset() -> None:
    assert truncation_offset(Bcd(6), bytes(5)) == 0


# --------------------------------------------------------------------------------------------
# BCD times and dates


def test_bcd_time_is_gmt_plus_8() -> None:
    value = read(BCD_TIME, bytes.fromhex("240315170923"))
    assert value == datetime(2024, 3, 15, 17, 9, 23, tzinfo=CHINA_TZ)
    assert value.utcoffset() == timedelta(hours=8)


def test_bcd_time_of_all_zeros_is_none() -> None:
    # Devices without a fix send all zeros; that is "no time", not an error.
    assert read(BCD_TIME, bytes(6)) is None


@pytest.mark.parametrize(
    "digits",
    [
        "241315170923",  # month 13
        "240230120000",  # 30 February
        "240315250000",  # hour 25
        "240315176000",  # minute 60
        "240315170960",  # second 60
        "240015170923",  # month 0
        "240300170923",  # day 0
    ],
)
def test_bcd_time_that_is_not_a_real_time_is_none(digits: str) -> None:
    assert read(BCD_TIME, bytes.fromhex(digits)) is None


@pytest.mark.parametrize("digits", ["24031517090a", "a00101000000", "2403151a0000", "24031f000000"])
def test_bcd_time_with_non_decimal_digits_is_none(digits: str) -> None:
    assert decode_bcd_time(bytes.fromhex(digits)) is None


def test_bcd_time_writes_gmt_plus_8_digits() -> None:
    moment = datetime(2024, 3, 15, 17, 9, 23, tzinfo=CHINA_TZ)
    assert write(BCD_TIME, moment) == bytes.fromhex("240315170923")


def test_bcd_time_converts_other_zones_to_gmt_plus_8() -> None:
    moment = datetime(2024, 3, 15, 9, 9, 23, tzinfo=UTC)
    assert write(BCD_TIME, moment) == bytes.fromhex("240315170923")
    # Across midnight and the year end.
    new_year = datetime(2023, 12, 31, 20, 0, 0, tzinfo=UTC)
    assert write(BCD_TIME, new_year) == bytes.fromhex("240101040000")


def test_bcd_time_takes_a_naive_time_as_already_in_its_zone() -> None:
    assert write(BCD_TIME, datetime(2024, 3, 15, 17, 9, 23)) == bytes.fromhex("240315170923")
    assert write(BCD_TIME_UTC, datetime(2024, 3, 15, 17, 9, 23)) == bytes.fromhex("240315170923")


def test_bcd_time_none_is_written_as_zeros() -> None:
    assert write(BCD_TIME, None) == bytes(6)


@pytest.mark.parametrize(
    "moment",
    [
        datetime(1999, 12, 31, 23, 59, 59, tzinfo=CHINA_TZ),
        datetime(2100, 1, 1, tzinfo=CHINA_TZ),
        datetime(1999, 12, 31, 15, 59, 59, tzinfo=UTC),  # 1999-12-31 23:59:59 in GMT+8
    ],
)
def test_bcd_time_outside_2000_to_2099_is_an_encode_error(moment: datetime) -> None:
    with pytest.raises(EncodeError, match="2000-2099"):
        write(BCD_TIME, moment)


def test_bcd_time_at_the_edges_of_its_century() -> None:
    first = datetime(2000, 1, 1, tzinfo=CHINA_TZ)
    last = datetime(2099, 12, 31, 23, 59, 59, tzinfo=CHINA_TZ)
    assert write(BCD_TIME, first) == bytes.fromhex("000101000000")
    assert read(BCD_TIME, write(BCD_TIME, last)) == last


def test_utc_bcd_time_reads_utc() -> None:
    # 0x8004 (2019): the one UTC time of the standard.
    value = read(BCD_TIME_UTC, bytes.fromhex("170315170923"))
    assert value == datetime(2017, 3, 15, 17, 9, 23, tzinfo=UTC)
    assert value.utcoffset() == timedelta(0)


def test_utc_bcd_time_converts_gmt_plus_8_to_utc() -> None:
    moment = datetime(2017, 3, 16, 1, 9, 23, tzinfo=CHINA_TZ)
    assert write(BCD_TIME_UTC, moment) == bytes.fromhex("170315170923")


def test_bcd_time_in_any_zone_reads_back_in_that_zone() -> None:
    zone = timezone(timedelta(hours=-5))
    codec = BcdTime(zone)
    assert read(codec, bytes.fromhex("240315170923")) == datetime(
        2024, 3, 15, 17, 9, 23, tzinfo=zone
    )


@given(bcd_times())
def test_bcd_time_round_trips(moment: datetime | None) -> None:
    assert read(BCD_TIME, write(BCD_TIME, moment)) == moment


@given(bcd_times(UTC))
def test_utc_bcd_time_round_trips(moment: datetime | None) -> None:
    decoded = read(BCD_TIME_UTC, write(BCD_TIME_UTC, moment))
    assert decoded == moment
    assert decoded is None or decoded.utcoffset() == timedelta(0)


@given(st.binary(min_size=6, max_size=6))
def test_bcd_time_decoding_never_raises(raw: bytes) -> None:
    decode_bcd_time(raw)
    decode_bcd_time(raw, UTC)


def test_encode_bcd_time_function_matches_the_codec() -> None:
    moment = datetime(2024, 3, 15, 17, 9, 23, tzinfo=CHINA_TZ)
    assert encode_bcd_time(moment) == write(BCD_TIME, moment)
    assert encode_bcd_time(moment, UTC) == write(BCD_TIME_UTC, moment)


def test_truncated_bcd_time_names_its_offset() -> None:
    assert truncation_offset(BCD_TIME, bytes(5)) == 0


def test_bcd_date_is_yyyymmdd() -> None:
    assert read(BcdDate(), bytes.fromhex("20240315")) == date(2024, 3, 15)
    assert write(BcdDate(), date(2024, 3, 15)) == bytes.fromhex("20240315")


@pytest.mark.parametrize("digits", ["00000000", "20241301", "20240230", "2024a301", "ffffffff"])
def test_bcd_date_that_is_not_a_real_date_is_none(digits: str) -> None:
    assert read(BcdDate(), bytes.fromhex(digits)) is None


def test_bcd_date_none_is_written_as_zeros() -> None:
    assert write(BcdDate(), None) == bytes(4)


def test_bcd_date_before_year_1000_is_written_with_four_digits() -> None:
    assert write(BcdDate(), date(999, 1, 1)) == bytes.fromhex("09990101")
    assert read(BcdDate(), bytes.fromhex("09990101")) == date(999, 1, 1)


@given(st.dates(min_value=date(1000, 1, 1)))
def test_bcd_date_round_trips(day: date) -> None:
    assert read(BcdDate(), write(BcdDate(), day)) == day


def test_truncated_bcd_date_names_its_offset() -> None:
    assert truncation_offset(BcdDate(), bytes(3)) == 0


# --------------------------------------------------------------------------------------------
# Fixed-width text and bytes


def test_fixed_text_is_right_padded_with_nul() -> None:
    assert write(FixedText(8), "ABC") == b"ABC\x00\x00\x00\x00\x00"


def test_fixed_text_strips_nul_on_both_sides() -> None:
    assert read(FixedText(8), b"ABC\x00\x00\x00\x00\x00") == "ABC"
    # 2019 0x0100 text says left-pad; devices right-pad. Both read the same.
    assert read(FixedText(8), b"\x00\x00\x00\x00\x00ABC") == "ABC"


def test_fixed_text_keeps_ascii_zero_padding() -> None:
    # SC Test2019_4_2: model "Koike002" padded with ASCII '0' to 30 bytes; '0' is data.
    raw = b"Koike002" + b"0" * 22
    assert read(FixedText(30), raw) == "Koike002" + "0" * 22


def test_fixed_text_keeps_spaces_unless_told_to_strip_them() -> None:
    assert read(FixedText(8), b" ABC  \x00\x00") == " ABC  "


def test_2011_fixed_text_is_space_padded_and_space_stripped() -> None:
    model = FixedText(8, pad=b" ", strip_spaces=True)
    assert write(model, "ABC") == b"ABC     "
    assert read(model, b"ABC     ") == "ABC"
    assert read(model, b"  ABC\x00\x00\x00") == "ABC"
    assert read(model, b"AB CD   ") == "AB CD"  # inner spaces are data


def test_fixed_text_is_gbk() -> None:
    # 粤A12345 (v122): D4C1 41 31 32 33 34 35, exactly 8 bytes.
    assert write(FixedText(8), "粤A12345") == bytes.fromhex("d4c1413132333435")
    assert read(FixedText(8), bytes.fromhex("d4c1413132333435")) == "粤A12345"
    assert write(FixedText(10), "粤A") == bytes.fromhex("d4c141") + bytes(7)


@pytest.mark.parametrize("value", ["ABCDEFGHI", "粤粤A12345"])
def test_fixed_text_longer_than_its_field_is_an_encode_error(value: str) -> None:
    # The limit is in bytes: 粤 is two bytes in GBK.
    with pytest.raises(EncodeError, match="longer than the 8-byte field"):
        write(FixedText(8), value)


def test_text_that_gb18030_cannot_hold_is_an_encode_error() -> None:
    with pytest.raises(EncodeError):
        write(FixedText(8), "\ud800")


def test_fixed_text_keeps_undecodable_bytes() -> None:
    raw = b"\x81\xff\x80AB\x00\x00\x00"
    value = read(FixedText(8), raw)
    assert write(FixedText(8), value) == raw


def test_truncated_fixed_text_names_its_offset() -> None:
    assert truncation_offset(FixedText(8), b"ABC") == 0


def test_fixed_bytes_are_exactly_their_size() -> None:
    assert read(FixedBytes(3), b"\x00\x01\x02") == b"\x00\x01\x02"
    assert write(FixedBytes(3), b"\x00\x01\x02") == b"\x00\x01\x02"
    for wrong in (b"", b"\x00\x01", b"\x00\x01\x02\x03"):
        with pytest.raises(EncodeError, match="exactly 3"):
            write(FixedBytes(3), wrong)


# --------------------------------------------------------------------------------------------
# Variable text and bytes


def test_text_to_the_end_of_the_body_drops_trailing_nuls() -> None:
    # 2011 strings are 0-terminated; some devices keep doing it.
    assert read(Text(), b"abc\x00") == "abc"
    assert read(Text(), b"abc\x00\x00\x00") == "abc"
    assert read(Text(), b"a\x00bc") == "a\x00bc"  # only trailing ones
    assert read(Text(), b"") == ""


def test_text_to_the_end_is_written_without_a_terminator() -> None:
    assert write(Text(), "abc") == b"abc"
    assert write(Text(), "") == b""


@pytest.mark.parametrize(
    ("prefix", "length"), [(U8, "03"), (U16, "0003"), (U32, "00000003")], ids=["u8", "u16", "u32"]
)
def test_prefixed_text_and_bytes(prefix: Int, length: str) -> None:
    assert write(Text(prefix), "a\x00c") == bytes.fromhex(length) + b"a\x00c"
    assert read(Text(prefix), bytes.fromhex(length) + b"a\x00c") == "a\x00c"
    assert write(Bytes(prefix), b"\x7e\x7d\x00") == bytes.fromhex(length) + b"\x7e\x7d\x00"
    assert read(Bytes(prefix), bytes.fromhex(length) + b"\x7e\x7d\x00") == b"\x7e\x7d\x00"


def test_prefixed_text_counts_bytes_not_characters() -> None:
    assert write(Text(U8), "粤A") == b"\x03\xd4\xc1A"


def test_prefixed_text_too_long_for_its_prefix_is_an_encode_error() -> None:
    with pytest.raises(EncodeError):
        write(Text(U8), "x" * 256)
    with pytest.raises(EncodeError):
        write(Bytes(U8), bytes(256))
    assert len(write(Text(U8), "x" * 255)) == 256


def test_prefixed_text_shorter_than_its_prefix_says_is_truncation_after_the_prefix() -> None:
    assert truncation_offset(Text(U8), b"\x05abc") == 1
    assert truncation_offset(Bytes(U16), b"\x00\x05abc") == 2
    assert truncation_offset(Text(U16), b"\x00") == 0


def test_bytes_to_the_end_keep_everything() -> None:
    assert read(Bytes(), b"\x00\x01\x00") == b"\x00\x01\x00"
    assert write(Bytes(), b"\x00\x01\x00") == b"\x00\x01\x00"


@given(st.binary(max_size=300))
def test_prefixed_text_keeps_every_byte_even_undecodable_ones(raw: bytes) -> None:
    wire = write(Bytes(U16), raw)
    assert write(Text(U16), read(Text(U16), wire)) == wire


# --------------------------------------------------------------------------------------------
# Lists and nested layouts


@dataclass(slots=True, kw_only=True)
class Point(Layout):
    x: Word
    y: Word


@pytest.mark.parametrize(
    ("count", "prefix"),
    [(U8, "02"), (U16, "0002"), (U32, "00000002"), (None, "")],
    ids=["u8", "u16", "u32", "to-end"],
)
def test_list_count_widths(count: Int | None, prefix: str) -> None:
    codec = ListOf(U16, count=count)
    wire = bytes.fromhex(prefix + "0001 fffe")
    assert write(codec, [1, 0xFFFE]) == wire
    assert read(codec, wire) == [1, 0xFFFE]


def test_list_default_count_is_a_byte() -> None:
    assert write(ListOf(U8), [7]) == b"\x01\x07"


def test_empty_lists() -> None:
    assert write(ListOf(U16, count=U16), []) == b"\x00\x00"
    assert read(ListOf(U16, count=U16), b"\x00\x00") == []
    assert read(ListOf(U16, count=None), b"") == []


def test_list_of_a_layout_class_nests_it() -> None:
    codec = ListOf(Point, count=U8)
    points = [Point(x=1, y=2), Point(x=0xFFFF, y=0)]
    wire = bytes.fromhex("02 0001 0002 ffff 0000")
    assert write(codec, points) == wire
    assert read(codec, wire) == points
    assert read(ListOf(Point, count=None), wire[1:]) == points


def test_list_longer_than_its_count_allows_is_an_encode_error() -> None:
    with pytest.raises(EncodeError):
        write(ListOf(U8, count=U8), [0] * 256)
    assert len(write(ListOf(U8, count=U8), [0] * 255)) == 256


def test_list_with_fewer_items_than_its_count_is_truncation_at_the_missing_item() -> None:
    # Count 3, two WORD items: the third would start at offset 5.
    assert truncation_offset(ListOf(U16, count=U8), bytes.fromhex("03 0001 0002")) == 5


def test_list_to_the_end_with_a_partial_item_is_truncation() -> None:
    assert truncation_offset(ListOf(U16, count=None), bytes.fromhex("0001 02")) == 2


def test_list_item_out_of_range_is_an_encode_error() -> None:
    with pytest.raises(EncodeError):
        write(ListOf(U8), [256])


def test_nested_layout() -> None:
    assert write(Nested(Point), Point(x=3, y=4)) == bytes.fromhex("0003 0004")
    assert read(Nested(Point), bytes.fromhex("0003 0004")) == Point(x=3, y=4)


# --------------------------------------------------------------------------------------------
# Layouts: plans, fused integers, conditions, revisions


@dataclass(slots=True, kw_only=True)
class Ints(Layout):
    byte: Byte
    word: Word
    dword: DWord
    last: Byte


@dataclass(slots=True, kw_only=True)
class Mixed(Layout):
    """Integer runs broken by other codecs and by a conditional integer."""

    a: Byte
    b: Word
    name: Annotated[str, Text(U8)]
    c: DWord
    d: Byte
    flagged: Annotated[int, Wire(U16, when=lambda f: bool(f["a"] & 1))] = 0
    e: Word
    points: Annotated[list[Point], ListOf(Point, count=U8)] = field(default_factory=list)
    f: Byte = 0


ints = st.integers(0, 0xFF), st.integers(0, 0xFFFF), st.integers(0, 0xFFFFFFFF)


@given(*ints, st.integers(0, 0xFF))
def test_fused_integers_give_the_same_bytes_as_field_by_field(
    byte: int, word: int, dword: int, last: int
) -> None:
    w = Writer(V2013)
    for codec, number in ((U8, byte), (U16, word), (U32, dword), (U8, last)):
        codec.write(w, number)
    value = Ints(byte=byte, word=word, dword=dword, last=last)
    assert value.encode() == bytes(w.out)
    assert Ints.decode(bytes(w.out)) == value


@given(
    st.builds(
        Mixed,
        a=ints[0],
        b=ints[1],
        name=st.text("abc粤", max_size=5),
        c=ints[2],
        d=ints[0],
        flagged=ints[1],
        e=ints[1],
        points=st.lists(st.builds(Point, x=ints[1], y=ints[1]), max_size=3),
        f=ints[0],
    )
)
def test_a_mixed_layout_gives_the_same_bytes_as_field_by_field(value: Mixed) -> None:
    w = Writer(V2013)
    U8.write(w, value.a)
    U16.write(w, value.b)
    Text(U8).write(w, value.name)
    U32.write(w, value.c)
    U8.write(w, value.d)
    if value.a & 1:
        U16.write(w, value.flagged)
    U16.write(w, value.e)
    ListOf(Point, count=U8).write(w, value.points)
    U8.write(w, value.f)
    assert value.encode() == bytes(w.out)
    decoded = Mixed.decode(bytes(w.out))
    assert decoded.flagged == (value.flagged if value.a & 1 else 0)
    assert decoded.encode() == bytes(w.out)


def test_layout_golden_bytes() -> None:
    value = Ints(byte=0x01, word=0x0203, dword=0x04050607, last=0x08)
    assert value.encode() == bytes.fromhex("01 0203 04050607 08")


@pytest.mark.parametrize(
    ("values", "field_name"),
    [
        ({"byte": 256}, "byte"),
        ({"word": 0x10000}, "word"),
        ({"dword": -1}, "dword"),
        ({"last": 300}, "last"),
        ({"word": None}, "word"),
        ({"byte": "1"}, "byte"),
    ],
)
def test_fused_integer_out_of_range_names_the_field(
    values: dict[str, Any], field_name: str
) -> None:
    fields: dict[str, Any] = {"byte": 1, "word": 2, "dword": 3, "last": 4, **values}
    with pytest.raises(EncodeError, match=rf"Ints\.{field_name}\b"):
        Ints(**fields).encode()


def test_conditional_integer_out_of_range_names_the_field() -> None:
    value = Mixed(a=1, b=0, name="", c=0, d=0, flagged=0x10000, e=0)
    with pytest.raises(EncodeError, match=r"Mixed\.flagged"):
        value.encode()


def test_other_codec_errors_name_the_field() -> None:
    with pytest.raises(EncodeError, match=r"Mixed\.name"):
        Mixed(a=0, b=0, name="x" * 256, c=0, d=0, e=0).encode()
    with pytest.raises(EncodeError, match=r"Mixed\.points"):
        Mixed(a=0, b=0, name="", c=0, d=0, e=0, points=[Point(x=-1, y=0)]).encode()


@dataclass(slots=True, kw_only=True)
class Conditional(Layout):
    kind: Byte
    extra: Annotated[int, Wire(U32, when=lambda f: f["kind"] == 1)] = 0
    label: Annotated[str, Wire(Text(U8), when=lambda f: f["kind"] == 2)] = "none"
    tail: Word


def test_conditional_field_present_when_its_condition_holds() -> None:
    value = Conditional(kind=1, extra=0xDEADBEEF, tail=0x0102)
    wire = bytes.fromhex("01 deadbeef 0102")
    assert value.encode() == wire
    assert Conditional.decode(wire) == value


def test_conditional_field_absent_takes_its_default_and_writes_nothing() -> None:
    wire = bytes.fromhex("00 0102")
    assert Conditional(kind=0, extra=99, label="ignored", tail=0x0102).encode() == wire
    assert Conditional.decode(wire) == Conditional(kind=0, extra=0, label="none", tail=0x0102)


def test_conditions_see_the_fields_read_before_them() -> None:
    wire = bytes.fromhex("02 03 616263 0102")
    assert Conditional.decode(wire) == Conditional(kind=2, label="abc", tail=0x0102)
    assert Conditional(kind=2, label="abc", tail=0x0102).encode() == wire


@dataclass(slots=True, kw_only=True)
class Versioned(Layout):
    code: Annotated[int, Wire(U8, v2019=U16)]
    legacy: Annotated[int, Wire(U8, v2019=None)] = 0
    only_2013: Annotated[int, Wire(U8, v2011=None, v2019=None)] = 0
    since_2013: Annotated[int, Wire(U16, since=V2013)] = 0
    modern: Annotated[str, Wire(FixedText(4), since=V2019)] = ""
    override: Annotated[int, Wire(U8, since=V2019, v2011=U16)] = 0


VERSIONED = Versioned(
    code=0x11, legacy=0x22, only_2013=0x33, since_2013=0x4444, modern="AB", override=0x55
)


@pytest.mark.parametrize(
    ("version", "wire", "present"),
    [
        (V2011, "11 22 0055", {"code", "legacy", "override"}),
        (V2013, "11 22 33 4444", {"code", "legacy", "only_2013", "since_2013"}),
        (V2019, "0011 4444 41420000 55", {"code", "since_2013", "modern", "override"}),
    ],
)
def test_revision_overrides_and_since(
    version: ProtocolVersion, wire: str, present: set[str]
) -> None:
    assert VERSIONED.encode(version) == bytes.fromhex(wire)
    decoded = Versioned.decode(bytes.fromhex(wire), version)
    defaults = Versioned(code=0)
    for name in ("code", "legacy", "only_2013", "since_2013", "modern", "override"):
        expected = getattr(VERSIONED if name in present else defaults, name)
        assert getattr(decoded, name) == expected, name
    assert {name for name, _, _ in wire_fields(Versioned, version)} == present


def test_layout_decode_rejects_trailing_bytes() -> None:
    with pytest.raises(BodyError) as caught:
        Point.decode(bytes.fromhex("0001 0002 ff"))
    assert not isinstance(caught.value, TruncatedBodyError)
    assert caught.value.offset == 4


def test_layout_decode_of_a_short_body_is_truncation() -> None:
    with pytest.raises(TruncatedBodyError):
        Ints.decode(bytes.fromhex("01 0203 0405"))
    with pytest.raises(TruncatedBodyError) as caught:
        Mixed.decode(bytes.fromhex("00 0000 05 6162"))
    assert caught.value.offset == 4  # the text after its length prefix


@given(st.binary(max_size=40), st.sampled_from([V2011, V2013, V2019]))
def test_layout_decoding_raises_only_body_errors(data: bytes, version: ProtocolVersion) -> None:
    for layout in (Ints, Mixed, Conditional, Versioned):
        with contextlib.suppress(BodyError):
            layout.decode(data, version)


def test_read_leaves_bytes_after_the_layout_for_the_caller() -> None:
    r = Reader(bytes.fromhex("0001 0002 ff"), V2013)
    assert Point.read(r) == Point(x=1, y=2)
    assert r.pos == 4


# --------------------------------------------------------------------------------------------
# JSON view


class Color(IntEnum):
    BLUE = 1
    YELLOW = 2


class Flags(IntFlag):
    A = 1
    B = 4


@dataclass(slots=True, kw_only=True)
class Everything(Layout):
    color: Byte
    raw: Annotated[bytes, Bytes(U8)]
    time: Annotated[datetime | None, BCD_TIME]
    day: Annotated[date | None, BcdDate()]
    name: Annotated[str, Text(U8)]
    origin: Annotated[Point, Nested(Point)]
    points: Annotated[list[Point], ListOf(Point)]
    ids: Annotated[list[int], ListOf(U16)]


def test_to_json_of_a_layout() -> None:
    value = Everything(
        color=Color.YELLOW,
        raw=b"\x00\x7e\xff",
        time=datetime(2024, 3, 15, 17, 9, 23, tzinfo=CHINA_TZ),
        day=date(2024, 3, 15),
        name="粤A",
        origin=Point(x=1, y=2),
        points=[Point(x=3, y=4)],
        ids=[5, 6],
    )
    view = value.to_json()
    assert view == {
        "color": 2,
        "raw": "007eff",
        "time": "2024-03-15T17:09:23+08:00",
        "day": "2024-03-15",
        "name": "粤A",
        "origin": {"x": 1, "y": 2},
        "points": [{"x": 3, "y": 4}],
        "ids": [5, 6],
    }
    assert type(view["color"]) is int


def test_to_json_of_a_decoded_layout_with_missing_time() -> None:
    wire = bytes.fromhex("01 00 000000000000 00000000 00 0000 0000 00 00")
    view = Everything.decode(wire).to_json()
    assert view["time"] is None
    assert view["day"] is None
    assert view["raw"] == ""


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        (Color.BLUE, 1),
        (Flags.A | Flags.B, 5),
        (b"\x01\xab", "01ab"),
        (bytearray(b"\x01"), "01"),
        (datetime(2017, 3, 15, 17, 9, 23, tzinfo=UTC), "2017-03-15T17:09:23+00:00"),
        (date(2024, 1, 2), "2024-01-02"),
        ((1, b"\x02"), [1, "02"]),
        ({1: b"\x02", "k": [Color.BLUE]}, {"1": "02", "k": [1]}),
        (None, None),
        (True, True),
        (1.5, 1.5),
        ("text", "text"),
    ],
)
def test_to_json_conversions(value: Any, expected: Any) -> None:
    converted = to_json(value)
    assert converted == expected
    assert type(converted) is type(expected)


def test_to_json_uses_a_to_json_method() -> None:
    class Custom:
        def to_json(self) -> dict[str, Any]:
            return {"custom": True}

    assert to_json([Custom()]) == [{"custom": True}]


def test_to_json_of_an_unknown_type_is_a_type_error() -> None:
    with pytest.raises(TypeError):
        to_json(object())


def test_encode_uses_2013_by_default_and_every_revision_on_request() -> None:
    assert Versioned(code=1).encode() == Versioned(code=1).encode(V2013)
    assert Versioned.decode(Versioned(code=1).encode(V2011), V2011).code == 1
