"""Multimedia bodies: 0x0800, 0x0801, 0x8800, 0x8801, 0x0805, 0x8802, 0x0802, 0x8803, 0x8804,
0x8805 (reference §3.35)."""

from __future__ import annotations

from datetime import datetime
from typing import Any

import pytest
from hypothesis import strategies as st

from gateway.protocol import (
    V2011,
    V2013,
    V2019,
    EncodeError,
    Fragment,
    ProtocolVersion,
    RawBody,
    decode_body,
    decode_frame,
    encode_message,
)
from gateway.protocol.bodies.location import LocationReport
from gateway.protocol.bodies.multimedia import (
    MAX_RETRANSMIT_IDS,
    RECORD_VIDEO,
    AudioSampleRate,
    MediaEvent,
    MediaFormat,
    MediaSearchItem,
    MediaType,
    MultimediaData,
    MultimediaDataResponse,
    MultimediaEvent,
    Resolution,
    SearchMedia,
    SearchMediaResponse,
    StartRecording,
    TakePhoto,
    TakePhotoResponse,
    TakePhotoResult,
    UploadOneMedia,
    UploadStoredMedia,
)
from gateway.protocol.body import Body
from gateway.protocol.wire import CHINA_TZ

from .body_properties import body_property_tests, golden_bytes_test, truncation_test
from .real_frames import real_frame_bytes
from .strategies import (
    CUSTOM,
    decode_layout,
    encode_layout,
)

CUSTOM[MultimediaDataResponse] = lambda version: st.builds(
    MultimediaDataResponse,
    media_id=st.integers(0, 0xFFFFFFFF),
    retransmit_ids=st.none() | st.lists(st.integers(0, 0xFFFF), max_size=4),
)

ALL = (V2011, V2013, V2019)
SINCE_2013 = (V2013, V2019)
BODIES: list[tuple[type[Body], tuple[ProtocolVersion, ...]]] = [
    (MultimediaEvent, ALL),
    (MultimediaData, ALL),
    (MultimediaDataResponse, ALL),
    (TakePhoto, ALL),
    (TakePhotoResponse, SINCE_2013),
    (SearchMedia, ALL),
    (SearchMediaResponse, ALL),
    (UploadStoredMedia, ALL),
    (StartRecording, ALL),
    (UploadOneMedia, SINCE_2013),
]

test_body_properties = body_property_tests(BODIES)


# --------------------------------------------------------------------------------------------
# Golden bytes, built by hand from the tables of reference §3.35.

# 0x0200 basic block: alarm 1 (emergency), status 2 (positioned), latitude 30000000 = 0x01C9C380,
# longitude 112500000 = 0x06B49D20, altitude 100 m, speed 600 (60.0 km/h), direction 90,
# time 2021-06-15 08:30:00.
LOCATION_HEX = "00000001 00000002 01c9c380 06b49d20 0064 0258 005a 210615083000"
LOCATION = LocationReport(
    alarm=1,
    status=2,
    latitude=30.0,
    longitude=112.5,
    altitude=100,
    speed=60.0,
    direction=90,
    time=datetime(2021, 6, 15, 8, 30, tzinfo=CHINA_TZ),
)
START = datetime(2019, 1, 4, 9, 0, tzinfo=CHINA_TZ)
END = datetime(2019, 1, 4, 18, 30, tzinfo=CHINA_TZ)

GOLDEN: list[tuple[Body, tuple[ProtocolVersion, ...], str]] = [
    (
        MultimediaEvent(
            media_id=0x01020304,
            media_type=MediaType.VIDEO,
            media_format=MediaFormat.WMV,
            event=MediaEvent.DOOR_CLOSED,
            channel_id=3,
        ),
        ALL,
        "01020304 02 04 05 03",
    ),
    (
        MultimediaData(
            media_id=0x1234,
            media_type=MediaType.IMAGE,
            media_format=MediaFormat.JPEG,
            event=MediaEvent.ROBBERY_ALARM,
            channel_id=1,
            location=LOCATION,
            data=bytes.fromhex("ffd8ffd9"),
        ),
        ALL,
        "00001234 00 00 02 01 " + LOCATION_HEX + " ffd8ffd9",
    ),
    (MultimediaDataResponse(media_id=0x81), ALL, "00000081"),
    (MultimediaDataResponse(media_id=0x81, retransmit_ids=[]), ALL, "00000081 00"),
    (
        MultimediaDataResponse(media_id=0x81, retransmit_ids=[1, 0x0203]),
        ALL,
        "00000081 02 0001 0203",
    ),
    (
        TakePhoto(
            channel_id=1,
            command=3,
            interval_s=10,
            save=0,
            resolution=Resolution.R640X480,
            quality=1,
            brightness=128,
            contrast=64,
            saturation=64,
            chroma=128,
        ),
        ALL,
        "01 0003 000a 00 02 01 80 40 40 80",
    ),
    (
        TakePhoto(
            channel_id=2,
            command=RECORD_VIDEO,
            interval_s=0,
            save=1,
            resolution=Resolution.HIGHEST,
            quality=10,
            brightness=255,
            contrast=127,
            saturation=127,
            chroma=255,
        ),
        (V2019,),
        "02 ffff 0000 01 ff 0a ff 7f 7f ff",
    ),
    (
        TakePhotoResponse(reply_serial=0x1234, result=0, media_ids=[0x10, 0x0A0B0C0D]),
        SINCE_2013,
        "1234 00 0002 00000010 0a0b0c0d",
    ),
    (
        TakePhotoResponse(reply_serial=0x1234, result=TakePhotoResult.CHANNEL_NOT_SUPPORTED),
        SINCE_2013,
        "1234 02",
    ),
    (
        SearchMedia(
            media_type=MediaType.IMAGE,
            channel_id=0,
            event=MediaEvent.PLATFORM_COMMAND,
            start_time=None,
            end_time=None,
        ),
        ALL,
        "00 00 00 000000000000 000000000000",
    ),
    (
        SearchMedia(
            media_type=MediaType.AUDIO,
            channel_id=2,
            event=MediaEvent.TIMED,
            start_time=START,
            end_time=END,
        ),
        ALL,
        "01 02 01 190104090000 190104183000",
    ),
    (
        SearchMediaResponse(
            reply_serial=7,
            items=[
                MediaSearchItem(
                    media_id=0x271D,
                    media_type=MediaType.IMAGE,
                    channel_id=1,
                    event=MediaEvent.TIMED,
                    location=LOCATION,
                )
            ],
        ),
        ALL,
        "0007 0001 0000271d 00 01 01 " + LOCATION_HEX,
    ),
    (SearchMediaResponse(reply_serial=7, items=[]), ALL, "0007 0000"),
    (
        UploadStoredMedia(
            media_type=MediaType.AUDIO,
            channel_id=2,
            event=MediaEvent.TIMED,
            start_time=START,
            end_time=END,
            delete=1,
        ),
        ALL,
        "01 02 01 190104090000 190104183000 01",
    ),
    (
        StartRecording(command=1, duration_s=30, save=0, sample_rate=AudioSampleRate.HZ_11000),
        ALL,
        "01 001e 00 01",
    ),
    (UploadOneMedia(media_id=0x271D, delete=0), SINCE_2013, "0000271d 00"),
]

test_golden_bytes = golden_bytes_test(GOLDEN)

#: (layout, revision, a complete body, every prefix length that must be a
#: ``TruncatedBodyError``; None: every one shorter than the body)
TRUNCATED: list[tuple[type[Body], ProtocolVersion, str, list[int] | None]] = [
    (MultimediaEvent, V2013, "01020304 02 04 05 03", None),
    # The media data may be empty: 36 bytes and more decode.
    (MultimediaData, V2013, "00001234 00 00 02 01 " + LOCATION_HEX + " ffd8ffd9", list(range(36))),
    # 4 bytes is the "all received" form.
    (MultimediaDataResponse, V2013, "00000081 02 0001 0203", [0, 1, 2, 3, 5, 6, 7, 8]),
    (TakePhoto, V2013, "01 0003 000a 00 02 01 80 40 40 80", None),
    (TakePhotoResponse, V2013, "1234 00 0002 00000010 0a0b0c0d", None),
    (SearchMedia, V2013, "01 02 01 190104090000 190104183000", None),
    (SearchMediaResponse, V2013, "0007 0001 0000271d 00 01 01 " + LOCATION_HEX, None),
    (UploadStoredMedia, V2013, "01 02 01 190104090000 190104183000 01", None),
    (StartRecording, V2013, "01 001e 00 01", None),
    (UploadOneMedia, V2013, "0000271d 00", None),
]

test_truncated_bodies_raise_truncated_body_error = truncation_test(TRUNCATED)


# --------------------------------------------------------------------------------------------
# Decisions and irregular fields.


def test_8800_nothing_after_media_id_means_all_received() -> None:
    body = decode_layout(MultimediaDataResponse, bytes.fromhex("00000081"), V2013)
    assert body.retransmit_ids is None
    assert body.complete


def test_8800_count_zero_is_also_complete_and_kept_for_a_byte_exact_round_trip() -> None:
    body = decode_layout(MultimediaDataResponse, bytes.fromhex("0000008100"), V2013)
    assert body.retransmit_ids == []
    assert body.complete
    assert encode_layout(body, V2013).hex() == "0000008100"


def test_8800_refuses_more_packet_ids_than_the_standard_allows() -> None:
    body = MultimediaDataResponse(media_id=1, retransmit_ids=[1] * (MAX_RETRANSMIT_IDS + 1))
    with pytest.raises(EncodeError):
        encode_layout(body, V2013)
    body.retransmit_ids = [1] * MAX_RETRANSMIT_IDS
    assert len(encode_layout(body, V2013)) == 4 + 1 + 2 * MAX_RETRANSMIT_IDS


def test_0805_failure_has_no_id_list_and_extra_bytes_are_kept_as_trailing() -> None:
    # A YZH-style terminal writes count 0 even on failure: the two bytes are not lost.
    body, trailing = decode_body(0x0805, bytes.fromhex("1234 01 0000"), V2013)
    assert body == TakePhotoResponse(reply_serial=0x1234, result=TakePhotoResult.FAILURE)
    assert trailing == bytes(2)


def test_0805_ids_are_written_only_on_success() -> None:
    body = TakePhotoResponse(reply_serial=1, result=1, media_ids=[5])
    assert encode_layout(body, V2013) == bytes.fromhex("0001 01")


def test_codes_decode_to_enum_members_and_unknown_codes_stay_ints() -> None:
    wire = bytes.fromhex("00000001 02 09 fe 01")
    body = decode_layout(MultimediaEvent, wire, V2013)
    assert body.media_type is MediaType.VIDEO
    assert type(body.media_format) is int and body.media_format == 9
    assert type(body.event) is int and body.event == 0xFE
    assert encode_layout(body, V2013) == wire
    assert body.to_json() == {
        "media_id": 1,
        "media_type": 2,
        "media_format": 9,
        "event": 254,
        "channel_id": 1,
    }


def test_8801_2019_lowest_and_highest_resolutions_decode_as_members() -> None:
    low = decode_layout(TakePhoto, bytes.fromhex("01 0001 0000 00 00 01 00 00 00 00"), V2019)
    assert low.resolution is Resolution.LOWEST


def test_8802_all_zero_times_mean_no_time_filter() -> None:
    body = decode_layout(SearchMedia, bytes.fromhex("000000" + "00" * 12), V2013)
    assert body.start_time is None
    assert body.end_time is None


def test_0801_2011_uses_the_2013_layout_with_location() -> None:
    golden = GOLDEN[1]
    body = decode_layout(MultimediaData, bytes.fromhex(golden[2]), V2011)
    assert body == golden[0]
    assert body.location.latitude == 30.0


# --------------------------------------------------------------------------------------------
# Real frames (vectors/real-frames.json; id and source given with each).

REAL_FRAMES: list[tuple[str, str, dict[str, Any]]] = [
    (
        # v209 cuteLittleDevil/go-jt808:protocol/model/parse_test.go#L821
        "v209",
        "7e080000080123456789017fff0000007b00000701757e",
        {"media_id": 123, "media_type": 0, "media_format": 0, "event": 7, "channel_id": 1},
    ),
    (
        # v168 SmallChi/JT808:src/JT808.Protocol.Test/MessageBody/JT808_0x8800Test.cs#L35
        "v168",
        "7e8800000900012345678900010000008102010203048e7e",
        {"media_id": 129, "retransmit_ids": [0x0102, 0x0304]},
    ),
    (
        # v169 SmallChi/JT808:src/JT808.Protocol.Test/MessageBody/JT808_0x8800Test.cs#L73
        "v169",
        "7e88000004000123456789000100000081857e",
        {"media_id": 129, "retransmit_ids": None},
    ),
    (
        # v211 cuteLittleDevil/go-jt808:protocol/model/parse_test.go#L864
        "v211",
        "7e880000170123456789017fff0000c15f09000100020003000400050006000700080009017e",
        {"media_id": 49503, "retransmit_ids": [1, 2, 3, 4, 5, 6, 7, 8, 9]},
    ),
    (
        # v207 cuteLittleDevil/go-jt808:protocol/model/parse_test.go#L787 (2019 header)
        "v207",
        "7e8801400c0100000000017299841738ffff0100020003010405ff7f7fff857e",
        {
            "channel_id": 1,
            "command": 2,
            "interval_s": 3,
            "save": 1,
            "resolution": 4,
            "quality": 5,
            "brightness": 255,
            "contrast": 127,
            "saturation": 127,
            "chroma": 255,
        },
    ),
    (
        # v208 cuteLittleDevil/go-jt808:protocol/model/parse_test.go#L807
        "v208",
        "7e080500290123456789017ffff4c000000900000001000000020000000300000004000000050000000600"
        "0000070000000800000009107e",
        {"reply_serial": 62656, "result": 0, "media_ids": [1, 2, 3, 4, 5, 6, 7, 8, 9]},
    ),
    (
        # v210 cuteLittleDevil/go-jt808:protocol/model/parse_test.go#L836
        "v210",
        "7e080100290123456789017fff0000007b01020102000004000000080006eeb6ad02633df70138000300632007"
        "071923590d7b0d7b7b667e",
        {
            "media_id": 123,
            "media_type": 1,
            "media_format": 2,
            "event": 1,
            "channel_id": 2,
            "data": "0d7b0d7b7b",
        },
    ),
]


@pytest.mark.parametrize(
    ("vector", "wire", "expected"), REAL_FRAMES, ids=[v[0] for v in REAL_FRAMES]
)
def test_real_frame_decodes_to_the_asserted_values_and_re_encodes_identically(
    vector: str, wire: str, expected: dict[str, Any]
) -> None:
    message = decode_frame(bytes.fromhex(wire))
    view = message.body.to_json()
    assert {name: view[name] for name in expected} == expected
    assert message.trailing == b""
    assert encode_message(message).hex() == wire


def test_real_0801_frame_carries_the_basic_location() -> None:
    message = decode_frame(bytes.fromhex(REAL_FRAMES[-1][1]))
    assert isinstance(message.body, MultimediaData)
    location = message.body.location
    assert (location.alarm, location.status) == (1024, 2048)
    assert (location.latitude, location.longitude) == (116.307629, 40.058359)
    assert (location.altitude, location.speed, location.direction) == (312, 0.3, 99)
    assert location.time == datetime(2020, 7, 7, 19, 23, 59, tzinfo=CHINA_TZ)
    assert location.extras == []


def test_smallchi_2011_8800_frame_has_the_2013_layout_with_count_zero() -> None:
    # From the notes of v169: SmallChi's 2011 test frame, media id then a count of 0.
    wire = "7e8800000500012345678900010000008100847e"
    message = decode_frame(bytes.fromhex(wire), version_hint=V2011)
    assert message.header.version is V2011
    assert message.body == MultimediaDataResponse(media_id=0x81, retransmit_ids=[])
    assert encode_message(message).hex() == wire


@pytest.mark.parametrize(
    ("vector", "wire", "expected"),
    [
        # v226 cuteLittleDevil/go-jt808:protocol/jt808/jt808_test.go#L31: packet 2 of 26.
        ("v226", "7e0801200500123456789002de001a00022808000102537e", Fragment),
        # v227 same file #L35: RSA flag set, no key: kept raw.
        ("v227", "7e0801040500123456789002de001a000221757e", RawBody),
    ],
)
def test_0801_packets_and_encrypted_bodies_are_not_decoded_as_multimedia_data(
    vector: str, wire: str, expected: type[Body]
) -> None:
    assert type(decode_frame(bytes.fromhex(wire)).body) is expected


#: The ten packets of one JPEG upload (SmallChi/JT808 src/JT808.Protocol.Test/Simples/Demo5.cs),
#: vectors v180-v189 of ``vectors/real-frames.json``: too long to repeat here.
DEMO5_PARTS = [real_frame_bytes(f"v{n}") for n in range(180, 190)]


def test_real_sub_packaged_0801_reassembles_into_a_jpeg_with_its_location() -> None:
    # SmallChi's Demo5 frames were built with SkipCRCCode: their check codes are not valid.
    assert len(DEMO5_PARTS) == 10
    messages = [decode_frame(part, verify_checksum=False) for part in DEMO5_PARTS]
    packets: dict[int, bytes] = {}
    for message in messages:
        assert isinstance(message.body, Fragment)
        assert message.header.packet is not None
        assert message.header.packet.total == 10
        packets[message.header.packet.index] = message.body.data
    assert sorted(packets) == list(range(1, 11))
    whole = b"".join(packets[index] for index in range(1, 11))
    body, trailing = decode_body(0x0801, whole, V2013)
    assert trailing == b""
    assert isinstance(body, MultimediaData)
    assert body.media_id == 0x271D
    assert (body.media_type, body.media_format) == (MediaType.IMAGE, MediaFormat.JPEG)
    assert (body.event, body.channel_id) == (MediaEvent.TIMED, 1)
    # 0x000C2003 = ACC on, positioned, door 1 open, GPS and BeiDou used.
    assert (body.location.alarm, body.location.status) == (0, 0x000C2003)
    assert (body.location.latitude, body.location.longitude) == (30.55617, 103.978661)
    assert (body.location.altitude, body.location.speed, body.location.direction) == (481, 0, 0)
    assert body.location.time == datetime(2019, 1, 4, 9, 29, 52, tzinfo=CHINA_TZ)
    assert body.data[:2] == b"\xff\xd8"  # JPEG start of image ...
    assert body.data[-2:] == b"\xff\xd9"  # ... and end of image
    assert len(body.data) == 6971 - 36
