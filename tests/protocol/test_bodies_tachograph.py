"""Tachograph and driver bodies: 0x8700, 0x0700, 0x8701, 0x0701, 0x8702, 0x0702 (reference
§3.30-§3.32)."""

from __future__ import annotations

from dataclasses import replace
from datetime import date, datetime

import pytest
from hypothesis import given
from hypothesis import strategies as st

from gateway.protocol import (
    V2011,
    V2013,
    V2019,
    EncodeError,
    ProtocolVersion,
    decode_body,
)
from gateway.protocol.bodies.tachograph import (
    CardReadResult,
    CardStatus,
    DriverIdentityReport,
    ElectronicWaybill,
    RequestDriverIdentity,
    TachographCollect,
    TachographParameterDownload,
    TachographUpload,
)
from gateway.protocol.body import Body
from gateway.protocol.wire import CHINA_TZ

from .body_properties import body_property_tests, golden_bytes_test, truncation_test
from .strategies import (
    CUSTOM,
    assert_round_trip,
    bcd_times,
    decode_layout,
    encode_layout,
    text_fitting,
)


def _driver_reports(version: ProtocolVersion) -> st.SearchStrategy[DriverIdentityReport]:
    """2013/2019 reports (status 1/2 before 2019, any byte in 2019) and, before 2019, reports in
    the 2011 layout (whose name must not be 1 or 2 bytes, see ``DriverIdentityReport``)."""
    statuses = st.sampled_from(CardStatus)
    if version is V2019:
        statuses = statuses | st.integers(0, 0xFF)
    current = st.builds(
        DriverIdentityReport,
        status=statuses,
        time=bcd_times(),
        read_result=st.just(0) | st.integers(0, 0xFF),
        driver_name=text_fitting(32),
        qualification_number=text_fitting(20),
        issuing_authority=text_fitting(32),
        licence_expiry=st.none() | st.dates(min_value=date(1990, 1, 1)),
        id_card_number=text_fitting(20),
    )
    if version is V2019:
        return current
    legacy = st.builds(
        DriverIdentityReport,
        status=st.none(),
        driver_name=text_fitting(32).filter(lambda name: len(name.encode("gb18030")) not in (1, 2)),
        id_card_number=text_fitting(20),
        qualification_number=text_fitting(40),
        issuing_authority=text_fitting(32),
    )
    return current | legacy


CUSTOM[DriverIdentityReport] = _driver_reports

ALL = (V2011, V2013, V2019)
BODIES: list[tuple[type[Body], tuple[ProtocolVersion, ...]]] = [
    (TachographCollect, ALL),
    (TachographUpload, ALL),
    (TachographParameterDownload, ALL),
    (ElectronicWaybill, ALL),
    (RequestDriverIdentity, (V2013, V2019)),
    (DriverIdentityReport, ALL),
]

test_body_properties = body_property_tests(BODIES)


@pytest.mark.parametrize("version", ALL)
@given(data=st.data())
def test_driver_identity_keeps_the_fields_its_layout_carries(
    version: ProtocolVersion, data: st.DataObject
) -> None:
    report = data.draw(_driver_reports(version))
    decoded = assert_round_trip(report, version)
    assert decoded.status == report.status
    assert decoded.time == report.time
    card_read = report.status == CardStatus.INSERTED and report.read_result == 0
    if report.status is None or card_read:
        assert decoded.driver_name == report.driver_name
        assert decoded.qualification_number == report.qualification_number
        assert decoded.issuing_authority == report.issuing_authority
    if card_read:
        assert decoded.licence_expiry == report.licence_expiry
    if report.status is None or (card_read and version is V2019):
        assert decoded.id_card_number == report.id_card_number


# --------------------------------------------------------------------------------------------
# Golden bytes, built by hand from the tables of reference §3.30-§3.32.

CARD_TIME = datetime(2019, 1, 4, 9, 29, 52, tzinfo=CHINA_TZ)
NAME = "张三"  # GBK d5c5 c8fd
NAME_HEX = "04 d5c5c8fd"
QUALIFICATION = "123456789012"
QUALIFICATION_HEX_20 = "313233343536373839303132" + " 00" * 8
AUTHORITY_HEX = "03 4a5442"  # "JTB"
ID_CARD = "110101199003071234"
ID_CARD_HEX_20 = "313130313031313939303033303731323334 0000"

INSERTED = DriverIdentityReport(
    status=CardStatus.INSERTED,
    time=CARD_TIME,
    read_result=CardReadResult.SUCCESS,
    driver_name=NAME,
    qualification_number=QUALIFICATION,
    issuing_authority="JTB",
    licence_expiry=date(2025, 12, 31),
)
INSERTED_2013_HEX = f"01 190104092952 00 {NAME_HEX} {QUALIFICATION_HEX_20} {AUTHORITY_HEX} 20251231"
INSERTED_2019 = replace(INSERTED, id_card_number=ID_CARD)
LEGACY_2011 = DriverIdentityReport(
    status=None,
    driver_name=NAME,
    id_card_number=ID_CARD,
    qualification_number=QUALIFICATION,
    issuing_authority="JTB",
)
LEGACY_2011_HEX = (
    f"{NAME_HEX} {ID_CARD_HEX_20} 313233343536373839303132{' 00' * 28} {AUTHORITY_HEX}"
)

GOLDEN: list[tuple[Body, tuple[ProtocolVersion, ...], str]] = [
    (TachographCollect(command=0x08), ALL, "08"),
    (
        TachographCollect(command=0x09, data=bytes.fromhex("aa75 09 0000 00 d8")),
        ALL,
        "09 aa75090000 00d8",
    ),
    (
        TachographUpload(reply_serial=0x0102, command=0x08, data=bytes.fromhex("557a0800")),
        ALL,
        "0102 08 557a0800",
    ),
    (
        TachographParameterDownload(command=0x82, data=bytes.fromhex("aa75 82")),
        ALL,
        "82 aa7582",
    ),
    (ElectronicWaybill(content=b"waybill"), ALL, "00000007 77617962696c6c"),
    (ElectronicWaybill(content=b""), ALL, "00000000"),
    (RequestDriverIdentity(), (V2013, V2019), ""),
    (INSERTED, (V2011, V2013), INSERTED_2013_HEX),
    (INSERTED_2019, (V2019,), f"{INSERTED_2013_HEX} {ID_CARD_HEX_20}"),
    (
        DriverIdentityReport(status=CardStatus.REMOVED, time=CARD_TIME),
        ALL,
        "02 190104092952",
    ),
    (
        DriverIdentityReport(
            status=CardStatus.INSERTED, time=CARD_TIME, read_result=CardReadResult.CARD_LOCKED
        ),
        ALL,
        "01 190104092952 02",
    ),
    (LEGACY_2011, (V2011, V2013), LEGACY_2011_HEX),
]

test_golden_bytes = golden_bytes_test(GOLDEN)

#: (layout, revision, a complete body, every prefix length that must be a
#: ``TruncatedBodyError``; None: every one shorter than the body)
TRUNCATED: list[tuple[type[Body], ProtocolVersion, str, list[int] | None]] = [
    (TachographCollect, V2013, "08", None),
    (TachographUpload, V2013, "0102 08 557a0800", [0, 1, 2]),
    (TachographParameterDownload, V2013, "82", None),
    (ElectronicWaybill, V2013, "00000007 77617962696c6c", None),
    (DriverIdentityReport, V2013, INSERTED_2013_HEX, None),
    (DriverIdentityReport, V2019, "02 190104092952", None),
    (DriverIdentityReport, V2011, LEGACY_2011_HEX, None),
]

test_truncated_bodies_raise_truncated_body_error = truncation_test(TRUNCATED)


# --------------------------------------------------------------------------------------------
# 0x0702 decisions.


def test_card_removed_is_a_seven_byte_body_and_more_bytes_are_kept_as_trailing() -> None:
    # YZH writes every field even on removal: those bytes are kept, not decoded, not lost.
    wire = bytes.fromhex(f"02 190104092952 00 {NAME_HEX}")
    body, trailing = decode_body(0x0702, wire, V2013)
    assert body == DriverIdentityReport(status=CardStatus.REMOVED, time=CARD_TIME)
    assert body.read_result is None
    assert trailing == wire[7:]


def test_card_read_failure_carries_no_card_fields() -> None:
    body = decode_layout(DriverIdentityReport, bytes.fromhex("01 190104092952 04"), V2019)
    assert body.read_result is CardReadResult.CHECKSUM_ERROR
    assert (body.driver_name, body.licence_expiry, body.id_card_number) == ("", None, "")


def test_card_fields_are_written_only_after_a_successful_read() -> None:
    body = DriverIdentityReport(status=CardStatus.REMOVED, time=None, driver_name="ignored")
    assert encode_layout(body, V2013) == bytes.fromhex("02 000000000000")


@pytest.mark.parametrize("version", [V2011, V2013])
def test_first_byte_other_than_1_or_2_is_a_2011_layout_name_length(
    version: ProtocolVersion,
) -> None:
    body = decode_layout(DriverIdentityReport, bytes.fromhex(LEGACY_2011_HEX), version)
    assert body.status is None
    assert (body.driver_name, body.id_card_number) == (NAME, ID_CARD)
    assert body.time is None


def test_2019_reports_are_never_read_as_the_2011_layout() -> None:
    body = decode_layout(DriverIdentityReport, bytes.fromhex("04 d5c5c8fd0000"), V2019)
    assert body.status == 4
    assert body.read_result is None


def test_2011_layout_does_not_exist_in_2019() -> None:
    with pytest.raises(EncodeError):
        encode_layout(LEGACY_2011, V2019)


@pytest.mark.parametrize("status", [0, 3, 0xFF])
def test_before_2019_a_status_other_than_1_or_2_cannot_be_encoded(status: int) -> None:
    body = DriverIdentityReport(status=status, time=CARD_TIME)
    with pytest.raises(EncodeError):
        encode_layout(body, V2013)
    assert encode_layout(body, V2019)[0] == status


@pytest.mark.parametrize("name", ["A", "张", "AB"])
def test_2011_layout_name_of_one_or_two_bytes_cannot_be_encoded(name: str) -> None:
    with pytest.raises(EncodeError):
        encode_layout(DriverIdentityReport(status=None, driver_name=name), V2011)


def test_driver_identity_json_view() -> None:
    assert INSERTED_2019.to_json() == {
        "status": 1,
        "time": "2019-01-04T09:29:52+08:00",
        "read_result": 0,
        "driver_name": NAME,
        "qualification_number": QUALIFICATION,
        "issuing_authority": "JTB",
        "licence_expiry": "2025-12-31",
        "id_card_number": ID_CARD,
    }
