"""0x0705 CAN bus data (reference §3.34)."""

from __future__ import annotations

from datetime import time

import pytest
from hypothesis import given
from hypothesis import strategies as st

from gateway.protocol import (
    V2013,
    V2019,
    EncodeError,
    ProtocolVersion,
    TruncatedBodyError,
    decode_body,
)
from gateway.protocol.bodies.can import (
    CAN_RECEIVE_TIME,
    CanBusData,
    CanChannel,
    CanCollectionMethod,
    CanFrameType,
    CanItem,
)
from gateway.protocol.body import Body

from .body_properties import body_property_tests, golden_bytes_test, truncation_test
from .strategies import CUSTOM, decode_layout, encode_layout, layout_strategy

VERSIONS = (V2013, V2019)

#: Times of day with whole milliseconds (the wire resolution).
RECEIVE_TIMES = st.times().map(
    lambda moment: moment.replace(microsecond=moment.microsecond // 1000 * 1000)
)
CUSTOM[CAN_RECEIVE_TIME] = lambda version: st.none() | RECEIVE_TIMES
CUSTOM[CanBusData] = lambda version: st.builds(
    CanBusData,
    receive_time=CUSTOM[CAN_RECEIVE_TIME](version),
    items=st.lists(layout_strategy(CanItem, version), min_size=1, max_size=4),
)

BODIES: list[tuple[type[Body], tuple[ProtocolVersion, ...]]] = [(CanBusData, VERSIONS)]


def _values_survive(drawn: CanBusData, decoded: CanBusData) -> None:
    """Bytes round-trip for every body; values too, except ``None``, read back as midnight."""
    assert decoded.items == drawn.items
    if drawn.receive_time is not None:
        assert decoded.receive_time == drawn.receive_time


test_body_properties = body_property_tests(BODIES, check_decoded=_values_survive)


@pytest.mark.parametrize("version", VERSIONS)
@given(receive_time=RECEIVE_TIMES)
def test_every_valid_receive_time_round_trips(version: ProtocolVersion, receive_time: time) -> None:
    body = CanBusData(receive_time=receive_time, items=[CanItem(can_id=0xFFFFFFFF, data=bytes(8))])
    assert decode_layout(CanBusData, encode_layout(body, version), version) == body


@given(
    identifier=st.integers(0, (1 << 29) - 1),
    channel=st.sampled_from(CanChannel),
    frame_type=st.sampled_from(CanFrameType),
    method=st.sampled_from(CanCollectionMethod),
)
def test_can_id_parts_survive_packing_into_the_dword(
    identifier: int, channel: CanChannel, frame_type: CanFrameType, method: CanCollectionMethod
) -> None:
    item = CanItem.of(
        identifier, bytes(8), channel=channel, frame_type=frame_type, collection_method=method
    )
    assert (item.identifier, item.channel, item.frame_type, item.collection_method) == (
        identifier,
        channel,
        frame_type,
        method,
    )


# --------------------------------------------------------------------------------------------
# Golden bytes, built by hand from reference §3.34.

# CAN ID 0xE0000123: bit 31 CAN2, bit 30 extended frame, bit 29 averaged, identifier 0x123.
# CAN ID 0x000007DF: CAN1, standard frame, raw, identifier 0x7DF (OBD-II broadcast).
GOLDEN_BODY = CanBusData(
    receive_time=time(10, 20, 30, 123_000),
    items=[
        CanItem(can_id=0xE0000123, data=bytes.fromhex("0001020304050607")),
        CanItem(can_id=0x000007DF, data=bytes.fromhex("02010c0000000000")),
    ],
)
GOLDEN_HEX = "0002 102030 0123 e0000123 0001020304050607 000007df 02010c0000000000"

test_golden_bytes = golden_bytes_test([(GOLDEN_BODY, VERSIONS, GOLDEN_HEX)])


def test_can_id_bits_are_exposed_as_properties() -> None:
    first, second = GOLDEN_BODY.items
    assert first.channel is CanChannel.CAN2
    assert first.frame_type is CanFrameType.EXTENDED
    assert first.collection_method is CanCollectionMethod.AVERAGE
    assert first.identifier == 0x123
    assert second.channel is CanChannel.CAN1
    assert second.frame_type is CanFrameType.STANDARD
    assert second.collection_method is CanCollectionMethod.RAW
    assert second.identifier == 0x7DF
    assert (
        CanItem.of(
            0x123,
            first.data,
            channel=CanChannel.CAN2,
            frame_type=CanFrameType.EXTENDED,
            collection_method=CanCollectionMethod.AVERAGE,
        )
        == first
    )


def test_can_bus_json_view_names_the_id_parts() -> None:
    assert GOLDEN_BODY.to_json() == {
        "receive_time": "10:20:30.123000",
        "items": [
            {
                "can_id": 0xE0000123,
                "channel": 1,
                "frame_type": 1,
                "collection_method": 1,
                "identifier": 0x123,
                "data": "0001020304050607",
            },
            {
                "can_id": 0x7DF,
                "channel": 0,
                "frame_type": 0,
                "collection_method": 0,
                "identifier": 0x7DF,
                "data": "02010c0000000000",
            },
        ],
    }


# --------------------------------------------------------------------------------------------
# Receive time: hhmmss + milliseconds as four BCD digits.


@pytest.mark.parametrize(
    ("digits", "expected"),
    [
        ("000000 0000", time(0, 0, 0)),
        ("235959 0999", time(23, 59, 59, 999_000)),
        ("240000 0000", None),  # hour 24
        ("120000 1000", None),  # millisecond 1000
        ("12a000 0000", None),  # not BCD
    ],
)
def test_receive_time_digits(digits: str, expected: time | None) -> None:
    body = decode_layout(
        CanBusData, bytes.fromhex(f"0001 {digits} 00000001 0000000000000000"), V2013
    )
    assert body.receive_time == expected


def test_receive_time_is_written_to_the_millisecond() -> None:
    body = CanBusData(
        receive_time=time(8, 5, 1, 42_999),
        items=[CanItem(can_id=1, data=bytes(8))],
    )
    assert encode_layout(body, V2013)[2:7] == bytes.fromhex("080501 0042")


def test_no_receive_time_is_written_as_zeros_which_read_back_as_midnight() -> None:
    body = CanBusData(receive_time=None, items=[CanItem(can_id=1, data=bytes(8))])
    wire = encode_layout(body, V2013)
    assert wire[2:7] == bytes(5)
    assert decode_layout(CanBusData, wire, V2013).receive_time == time(0, 0)


# --------------------------------------------------------------------------------------------
# Count and truncation.

test_truncated_bodies_raise_truncated_body_error = truncation_test(
    [(CanBusData, V2013, GOLDEN_HEX, None)]
)


def test_a_count_larger_than_the_items_present_is_truncated() -> None:
    wire = bytes.fromhex("0003 102030 0123 e0000123 0001020304050607")
    with pytest.raises(TruncatedBodyError):
        CanBusData.decode(wire, V2013)


def test_bytes_after_the_counted_items_are_kept_as_trailing() -> None:
    wire = bytes.fromhex(GOLDEN_HEX + " abcd")
    body, trailing = decode_body(0x0705, wire, V2013)
    assert body == GOLDEN_BODY
    assert trailing == bytes.fromhex("abcd")


def test_a_received_count_of_zero_decodes_but_an_empty_body_is_not_encoded() -> None:
    body = decode_layout(CanBusData, bytes.fromhex("0000 102030 0123"), V2013)
    assert body.items == []
    with pytest.raises(EncodeError):
        encode_layout(body, V2013)


def test_an_identifier_over_29_bits_is_refused() -> None:
    with pytest.raises(EncodeError):
        CanItem.of(1 << 29, bytes(8))


def test_can_data_must_be_eight_bytes() -> None:
    with pytest.raises(EncodeError):
        encode_layout(CanBusData(receive_time=None, items=[CanItem(can_id=1, data=b"")]), V2013)
