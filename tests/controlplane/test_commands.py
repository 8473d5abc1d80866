"""SendCommandRequest -> body: every oneof member converts, encodes in each revision and decodes
back to the body built; requests a body cannot represent are refused with the field's path."""

from __future__ import annotations

import dataclasses
from collections.abc import Iterator
from datetime import UTC, datetime, time
from typing import Any

import pytest
from google.protobuf import timestamp_pb2
from google.protobuf.descriptor import FieldDescriptor
from google.protobuf.message import Message as ProtoMessage
from hypothesis import given, settings
from hypothesis import strategies as st

from controlplane.commands import COMMAND_IDS, InvalidCommandError, command_body
from gateway.protocol.bodies import areas, messaging, multimedia, tachograph, terminal, vehicle
from gateway.protocol.bodies.location import (
    AlarmFlag,
    ConfirmAlarm,
    LinkCheck,
    QueryLocation,
    TemporaryTracking,
)
from gateway.protocol.bodies.parameters import (
    Parameter,
    QueryAllParameters,
    QueryParameters,
    SetParameters,
)
from gateway.protocol.bodies.passthrough import DownlinkPassthrough
from gateway.protocol.body import Body, RawBody, decode_body
from gateway.protocol.errors import EncodeError
from gateway.protocol.ids import MessageId
from gateway.protocol.message import encode_body
from gateway.protocol.versions import ALL_VERSIONS, V2013, V2019, ProtocolVersion
from gateway.protocol.wire import CHINA_TZ, Layout, wire_fields
from jt808.gateway.v1 import commands_pb2 as pb
from jt808.gateway.v1 import gateway_service_pb2 as api

COMMAND_MEMBERS = [
    f.name for f in api.SendCommandRequest.DESCRIPTOR.oneofs_by_name["command"].fields
]

START = datetime(2024, 5, 1, 8, 0, tzinfo=UTC)
END = datetime(2024, 5, 31, 20, 30, 15, tzinfo=UTC)
A = areas.AreaAttribute
S = areas.SectionAttribute


def timestamp(moment: datetime) -> timestamp_pb2.Timestamp:
    value = timestamp_pb2.Timestamp()
    value.FromDatetime(moment)
    return value


def at(moment: datetime) -> pb.AreaTime:
    return pb.AreaTime(at=timestamp(moment))


def daily(hours: int, minutes: int, seconds: int = 0) -> pb.AreaTime:
    return pb.AreaTime(daily=pb.TimeOfDay(hours=hours, minutes=minutes, seconds=seconds))


def request(**command: Any) -> api.SendCommandRequest:
    return api.SendCommandRequest(phone="013912345678", **command)


# --------------------------------------------------------------------------------------------
# One realistic request per oneof member, with the body it must become.

CASES: dict[str, tuple[api.SendCommandRequest, Body]] = {
    "text_message": (
        request(text_message=pb.TextMessage(flags=0b1101, text_type=2, text="前方施工，请减速")),
        messaging.TextMessage(flag=0b1101, text_type=2, text="前方施工，请减速"),
    ),
    "set_parameters": (
        request(
            set_parameters=pb.SetParameters(
                parameters=[
                    pb.Parameter(id=0x0001, uint_value=30),  # DWORD
                    pb.Parameter(id=0x0013, string_value="gw.example.cn:7611"),
                    pb.Parameter(id=0x0031, uint_value=500),  # WORD
                    pb.Parameter(id=0x0084, uint_value=2),  # BYTE
                    pb.Parameter(id=0x0032, bytes_value=bytes([22, 0, 6, 0])),  # BYTE[4]
                    pb.Parameter(id=0x0001, bytes_value=b"\x00\x00\x00\x3c"),  # raw, standard id
                    pb.Parameter(id=0xF001, bytes_value=b"\x01\x02\x03"),  # vendor id
                ]
            )
        ),
        SetParameters(
            parameters=[
                Parameter(id=0x0001, raw=b"\x00\x00\x00\x1e"),
                Parameter(id=0x0013, raw=b"gw.example.cn:7611"),
                Parameter(id=0x0031, raw=b"\x01\xf4"),
                Parameter(id=0x0084, raw=b"\x02"),
                Parameter(id=0x0032, raw=bytes([22, 0, 6, 0])),
                Parameter(id=0x0001, raw=b"\x00\x00\x00\x3c"),
                Parameter(id=0xF001, raw=b"\x01\x02\x03"),
            ]
        ),
    ),
    "query_all_parameters": (
        request(query_all_parameters=pb.QueryAllParameters()),
        QueryAllParameters(),
    ),
    "query_parameters": (
        request(query_parameters=pb.QueryParameters(ids=[0x0001, 0x0013, 0x0055])),
        QueryParameters(ids=[0x0001, 0x0013, 0x0055]),
    ),
    "terminal_control": (
        request(
            terminal_control=pb.TerminalControl(
                command=2,
                parameters=["0", "auth-1", "cmnet", "", "", "gw.example.cn", "7611", "", "10"],
            )
        ),
        terminal.TerminalControl(
            command=2, fields=["0", "auth-1", "cmnet", "", "", "gw.example.cn", "7611", "", "10"]
        ),
    ),
    "query_attributes": (
        request(query_attributes=pb.QueryAttributes()),
        terminal.QueryAttributes(),
    ),
    "upgrade_package": (
        request(
            upgrade_package=pb.UpgradePackage(
                upgrade_type=0x34,
                manufacturer_id="70111",
                version="V2.1.7",
                package=bytes(range(256)) * 3,
            )
        ),
        terminal.UpgradePackage(
            upgrade_type=0x34,
            manufacturer_id="70111",
            version="V2.1.7",
            package=bytes(range(256)) * 3,
        ),
    ),
    "query_location": (request(query_location=pb.QueryLocation()), QueryLocation()),
    "temporary_tracking": (
        request(temporary_tracking=pb.TemporaryTracking(interval_s=10, validity_s=3600)),
        TemporaryTracking(interval_s=10, validity_s=3600),
    ),
    "confirm_alarm": (
        request(
            confirm_alarm=pb.ConfirmAlarm(
                alarm_serial=1234, alarm_types=AlarmFlag.EMERGENCY | AlarmFlag.AREA_IN_OUT
            )
        ),
        ConfirmAlarm(alarm_serial=1234, alarm_types=AlarmFlag.EMERGENCY | AlarmFlag.AREA_IN_OUT),
    ),
    "link_check": (request(link_check=pb.LinkCheck()), LinkCheck()),
    "event_setting": (
        request(
            event_setting=pb.EventSetting(
                set_type=1,
                events=[
                    pb.EventItem(event_id=1, content="道路拥堵"),
                    pb.EventItem(event_id=2, content="车辆故障"),
                ],
            )
        ),
        messaging.EventSetting(
            set_type=1,
            events=[
                messaging.Event(event_id=1, content="道路拥堵"),
                messaging.Event(event_id=2, content="车辆故障"),
            ],
        ),
    ),
    "question": (
        request(
            question=pb.Question(
                flags=0b1001,
                question="是否已到达装货点？",
                answers=[
                    pb.Answer(answer_id=1, content="是"),
                    pb.Answer(answer_id=2, content="否"),
                ],
            )
        ),
        messaging.Question(
            flag=0b1001,
            question="是否已到达装货点？",
            answers=[
                messaging.Answer(answer_id=1, content="是"),
                messaging.Answer(answer_id=2, content="否"),
            ],
        ),
    ),
    "info_menu_setting": (
        request(
            info_menu_setting=pb.InfoMenuSetting(
                set_type=2,
                items=[
                    pb.InfoMenuItem(info_type=1, name="天气"),
                    pb.InfoMenuItem(info_type=2, name="路况"),
                ],
            )
        ),
        messaging.InfoMenuSetting(
            set_type=2,
            items=[
                messaging.InfoMenuItem(info_type=1, name="天气"),
                messaging.InfoMenuItem(info_type=2, name="路况"),
            ],
        ),
    ),
    "info_service": (
        request(info_service=pb.InfoService(info_type=1, content="明日有中雨")),
        messaging.InfoService(info_type=1, content="明日有中雨"),
    ),
    "call_back": (
        request(call_back=pb.CallBack(flag=1, phone_number="13800138000")),
        messaging.CallBack(flag=1, phone="13800138000"),
    ),
    "set_phone_book": (
        request(
            set_phone_book=pb.SetPhoneBook(
                set_type=1,
                contacts=[
                    pb.Contact(flag=3, phone_number="13800138000", name="调度中心"),
                    pb.Contact(flag=1, phone_number="95555", name="客服"),
                ],
            )
        ),
        messaging.SetPhoneBook(
            set_type=1,
            contacts=[
                messaging.Contact(flag=3, phone="13800138000", name="调度中心"),
                messaging.Contact(flag=1, phone="95555", name="客服"),
            ],
        ),
    ),
    "vehicle_control": (
        request(
            vehicle_control=pb.VehicleControl(
                control_flags=1, items=[pb.VehicleControlItem(control_type=1, parameter=0)]
            )
        ),
        vehicle.VehicleControl(
            control_flags=1, items=[vehicle.ControlItem(control_type=1, parameter=0)]
        ),
    ),
    "set_circle_areas": (
        request(
            set_circle_areas=pb.SetCircleAreas(
                set_type=1,
                areas=[
                    pb.CircleArea(
                        area_id=7,
                        attribute=A.TIME_WINDOW | A.SPEED_LIMIT | A.ALARM_PLATFORM_ON_ENTRY,
                        latitude_e6=22_543_096,
                        longitude_e6=114_057_865,
                        radius_m=500,
                        start_time=at(START),
                        end_time=at(END),
                        max_speed_kmh=60,
                        overspeed_duration_s=10,
                        night_max_speed_kmh=40,
                        name="深圳湾",
                    ),
                    pb.CircleArea(
                        area_id=8,
                        attribute=A.TIME_WINDOW | A.SOUTH_LATITUDE | A.WEST_LONGITUDE,
                        latitude_e6=33_448_890,
                        longitude_e6=70_669_265,
                        radius_m=1200,
                        start_time=daily(8, 0),
                        end_time=daily(18, 30, 59),
                        name="Santiago",
                    ),
                ],
            )
        ),
        areas.SetCircleAreas(
            set_type=1,
            areas=[
                areas.CircleArea(
                    area_id=7,
                    attribute=A.TIME_WINDOW | A.SPEED_LIMIT | A.ALARM_PLATFORM_ON_ENTRY,
                    latitude_e6=22_543_096,
                    longitude_e6=114_057_865,
                    radius_m=500,
                    start_time=START,
                    end_time=END,
                    max_speed_kmh=60,
                    overspeed_duration_s=10,
                    night_max_speed_kmh=40,
                    name="深圳湾",
                ),
                areas.CircleArea(
                    area_id=8,
                    attribute=A.TIME_WINDOW | A.SOUTH_LATITUDE | A.WEST_LONGITUDE,
                    latitude_e6=33_448_890,
                    longitude_e6=70_669_265,
                    radius_m=1200,
                    start_time=time(8, 0),
                    end_time=time(18, 30, 59),
                    name="Santiago",
                ),
            ],
        ),
    ),
    "delete_circle_areas": (
        request(delete_circle_areas=pb.DeleteCircleAreas(area_ids=[7, 8])),
        areas.DeleteCircleAreas(area_ids=[7, 8]),
    ),
    "set_rectangle_areas": (
        request(
            set_rectangle_areas=pb.SetRectangleAreas(
                set_type=0,
                areas=[
                    pb.RectangleArea(
                        area_id=0x0100_0001,
                        attribute=A.TIME_WINDOW | A.SPEED_LIMIT | A.ALARM_DRIVER_ON_EXIT,
                        top_left_latitude_e6=39_990_000,
                        top_left_longitude_e6=116_300_000,
                        bottom_right_latitude_e6=39_900_000,
                        bottom_right_longitude_e6=116_450_000,
                        start_time=daily(7, 0),
                        end_time=daily(9, 30),
                        max_speed_kmh=40,
                        overspeed_duration_s=5,
                        night_max_speed_kmh=30,
                        name="三环内",
                    )
                ],
            )
        ),
        areas.SetRectangleAreas(
            set_type=0,
            areas=[
                areas.RectangleArea(
                    area_id=0x0100_0001,
                    attribute=A.TIME_WINDOW | A.SPEED_LIMIT | A.ALARM_DRIVER_ON_EXIT,
                    top_left_latitude_e6=39_990_000,
                    top_left_longitude_e6=116_300_000,
                    bottom_right_latitude_e6=39_900_000,
                    bottom_right_longitude_e6=116_450_000,
                    start_time=time(7, 0),
                    end_time=time(9, 30),
                    max_speed_kmh=40,
                    overspeed_duration_s=5,
                    night_max_speed_kmh=30,
                    name="三环内",
                )
            ],
        ),
    ),
    "delete_rectangle_areas": (
        request(delete_rectangle_areas=pb.DeleteRectangleAreas()),
        areas.DeleteRectangleAreas(area_ids=[]),
    ),
    "set_polygon_area": (
        request(
            set_polygon_area=pb.SetPolygonArea(
                area_id=3,
                attribute=A.TIME_WINDOW | A.SPEED_LIMIT | A.ALARM_PLATFORM_ON_EXIT,
                start_time=at(START),
                end_time=at(END),
                max_speed_kmh=80,
                overspeed_duration_s=15,
                vertices=[
                    pb.Vertex(latitude_e6=31_230_000, longitude_e6=121_470_000),
                    pb.Vertex(latitude_e6=31_240_000, longitude_e6=121_480_000),
                    pb.Vertex(latitude_e6=31_220_000, longitude_e6=121_490_000),
                ],
                night_max_speed_kmh=60,
                name="外滩",
            )
        ),
        areas.SetPolygonArea(
            area_id=3,
            attribute=A.TIME_WINDOW | A.SPEED_LIMIT | A.ALARM_PLATFORM_ON_EXIT,
            start_time=START,
            end_time=END,
            max_speed_kmh=80,
            overspeed_duration_s=15,
            vertices=[
                areas.Vertex(latitude_e6=31_230_000, longitude_e6=121_470_000),
                areas.Vertex(latitude_e6=31_240_000, longitude_e6=121_480_000),
                areas.Vertex(latitude_e6=31_220_000, longitude_e6=121_490_000),
            ],
            night_max_speed_kmh=60,
            name="外滩",
        ),
    ),
    "delete_polygon_areas": (
        request(delete_polygon_areas=pb.DeletePolygonAreas(area_ids=[3])),
        areas.DeletePolygonAreas(area_ids=[3]),
    ),
    "set_route": (
        request(
            set_route=pb.SetRoute(
                route_id=9,
                attribute=areas.RouteAttribute.TIME_WINDOW
                | areas.RouteAttribute.ALARM_PLATFORM_ON_EXIT,
                start_time=daily(6, 0),
                end_time=daily(22, 0),
                turn_points=[
                    pb.TurnPoint(
                        turn_point_id=1,
                        section_id=101,
                        latitude_e6=23_130_000,
                        longitude_e6=113_260_000,
                        section_width_m=50,
                        section_attribute=S.DRIVE_TIME_CHECK | S.SPEED_LIMIT,
                        too_long_threshold_s=7200,
                        too_short_threshold_s=600,
                        max_speed_kmh=100,
                        overspeed_duration_s=20,
                        night_max_speed_kmh=80,
                    ),
                    pb.TurnPoint(
                        turn_point_id=2,
                        section_id=102,
                        latitude_e6=22_540_000,
                        longitude_e6=114_050_000,
                        section_width_m=30,
                    ),
                ],
                name="G4 京港澳",
            )
        ),
        areas.SetRoute(
            route_id=9,
            attribute=areas.RouteAttribute.TIME_WINDOW
            | areas.RouteAttribute.ALARM_PLATFORM_ON_EXIT,
            start_time=time(6, 0),
            end_time=time(22, 0),
            turn_points=[
                areas.TurnPoint(
                    turn_point_id=1,
                    section_id=101,
                    latitude_e6=23_130_000,
                    longitude_e6=113_260_000,
                    section_width_m=50,
                    section_attribute=S.DRIVE_TIME_CHECK | S.SPEED_LIMIT,
                    too_long_threshold_s=7200,
                    too_short_threshold_s=600,
                    max_speed_kmh=100,
                    overspeed_duration_s=20,
                    night_max_speed_kmh=80,
                ),
                areas.TurnPoint(
                    turn_point_id=2,
                    section_id=102,
                    latitude_e6=22_540_000,
                    longitude_e6=114_050_000,
                    section_width_m=30,
                    section_attribute=0,
                ),
            ],
            name="G4 京港澳",
        ),
    ),
    "delete_routes": (
        request(delete_routes=pb.DeleteRoutes(route_ids=[9, 10])),
        areas.DeleteRoutes(route_ids=[9, 10]),
    ),
    "query_areas": (
        request(query_areas=pb.QueryAreas(query_type=1, ids=[7, 8])),
        areas.QueryAreas(query_type=1, ids=[7, 8]),
    ),
    "tachograph_collect": (
        request(tachograph_collect=pb.TachographCollect(command=0x08, data=b"\x24\x05\x01")),
        tachograph.TachographCollect(command=0x08, data=b"\x24\x05\x01"),
    ),
    "tachograph_parameters": (
        request(tachograph_parameters=pb.TachographParameters(command=0x82, data=b"\xaa\x75\x82")),
        tachograph.TachographParameterDownload(command=0x82, data=b"\xaa\x75\x82"),
    ),
    "request_driver_identity": (
        request(request_driver_identity=pb.RequestDriverIdentity()),
        tachograph.RequestDriverIdentity(),
    ),
    "take_photo": (
        request(
            take_photo=pb.TakePhoto(
                channel_id=1,
                command=3,
                interval_s=5,
                save=0,
                resolution=2,
                quality=5,
                brightness=128,
                contrast=64,
                saturation=64,
                chroma=128,
            )
        ),
        multimedia.TakePhoto(
            channel_id=1,
            command=3,
            interval_s=5,
            save=0,
            resolution=2,
            quality=5,
            brightness=128,
            contrast=64,
            saturation=64,
            chroma=128,
        ),
    ),
    "search_media": (
        request(
            search_media=pb.SearchMedia(
                media_type=0,
                channel_id=0,
                event=2,
                start_time=timestamp(START),
                end_time=timestamp(END),
            )
        ),
        multimedia.SearchMedia(media_type=0, channel_id=0, event=2, start_time=START, end_time=END),
    ),
    "upload_stored_media": (
        request(
            upload_stored_media=pb.UploadStoredMedia(
                media_type=2, channel_id=1, event=1, start_time=timestamp(START), delete=1
            )
        ),
        multimedia.UploadStoredMedia(
            media_type=2, channel_id=1, event=1, start_time=START, end_time=None, delete=1
        ),
    ),
    "start_recording": (
        request(start_recording=pb.StartRecording(command=1, duration_s=60, save=1, sample_rate=3)),
        multimedia.StartRecording(command=1, duration_s=60, save=1, sample_rate=3),
    ),
    "upload_one_media": (
        request(upload_one_media=pb.UploadOneMedia(media_id=1001, delete=1)),
        multimedia.UploadOneMedia(media_id=1001, delete=1),
    ),
    "downlink_passthrough": (
        request(
            downlink_passthrough=pb.DownlinkPassthrough(type=0x41, data=b"\x01\x03\x00\x00\x00\x0a")
        ),
        DownlinkPassthrough(type=0x41, data=b"\x01\x03\x00\x00\x00\x0a"),
    ),
    "raw": (
        request(raw=pb.RawCommand(msg_id=0x8F01, body=b"\x01\x02\x03")),
        RawBody(raw=b"\x01\x02\x03"),
    ),
}


def test_every_command_member_has_a_case() -> None:
    assert sorted(CASES) == sorted(COMMAND_MEMBERS)


def test_command_ids_cover_every_member_but_raw() -> None:
    assert sorted(COMMAND_IDS) == sorted(set(COMMAND_MEMBERS) - {"raw"})
    for name, msg_id in COMMAND_IDS.items():
        assert msg_id == type(CASES[name][1]).MSG_ID, name
        assert MessageId(msg_id).is_downlink


@pytest.mark.parametrize("name", sorted(CASES))
def test_command_becomes_its_body(name: str) -> None:
    command, expected = CASES[name]
    body, msg_id = command_body(command)
    assert body == expected
    assert msg_id == (0x8F01 if name == "raw" else COMMAND_IDS[name])


# --------------------------------------------------------------------------------------------
# Encode in each revision, decode back.


def on_the_wire(value: Any, version: ProtocolVersion) -> Any:
    """``value`` as decoding its bytes in ``version`` gives it back: fields the revision lacks,
    or whose presence condition is false, take their defaults; an absent area time that is on
    the wire reads back as midnight (a daily window)."""
    if isinstance(value, list):
        return [on_the_wire(item, version) for item in value]
    if isinstance(value, vehicle.VehicleControl):  # hand-written codec: flags or items
        if version < V2019:
            return vehicle.VehicleControl(control_flags=value.control_flags)
        return dataclasses.replace(value, control_flags=0)
    if not isinstance(value, Layout) or isinstance(value, RawBody):
        return value
    layout: Any = value  # a dataclass
    fields = {f.name: getattr(layout, f.name) for f in dataclasses.fields(layout)}
    present = {name: (codec, meta) for name, codec, meta in wire_fields(type(layout), version)}
    changes: dict[str, Any] = {}
    for f in dataclasses.fields(layout):
        codec, meta = present.get(f.name, (None, None))
        if codec is None or (meta is not None and meta.when is not None and not meta.when(fields)):
            changes[f.name] = default_of(f)
        elif codec is areas.AREA_TIME and fields[f.name] is None:
            changes[f.name] = time(0, 0)
        else:
            changes[f.name] = on_the_wire(fields[f.name], version)
    return dataclasses.replace(layout, **changes)


def default_of(field: dataclasses.Field[Any]) -> Any:
    if field.default_factory is not dataclasses.MISSING:
        return field.default_factory()
    return field.default


def assert_round_trip(body: Body, msg_id: int, version: ProtocolVersion) -> None:
    try:
        data = encode_body(body, version)
    except EncodeError:
        # Only a revision before the message existed may refuse it, and only with EncodeError.
        assert version < type(body).SINCE
        return
    if isinstance(body, RawBody):
        assert data == body.raw
        return
    decoded, rest = decode_body(msg_id, data, version)
    assert rest == b""
    assert decoded == on_the_wire(body, version)


@pytest.mark.parametrize("version", ALL_VERSIONS, ids=str)
@pytest.mark.parametrize("name", sorted(CASES))
def test_command_round_trips(name: str, version: ProtocolVersion) -> None:
    body, msg_id = command_body(CASES[name][0])
    assert_round_trip(body, msg_id, version)


def test_area_times_are_written_in_the_terminals_clock() -> None:
    body, _ = command_body(CASES["set_polygon_area"][0])
    data = encode_body(body, V2019)
    # area id, attribute, then the start time: 2024-05-01 08:00 UTC is 16:00 in GMT+8
    assert data[6:12] == bytes.fromhex("240501160000")
    decoded, _ = decode_body(MessageId.SET_POLYGON_AREA, data, V2019)
    assert isinstance(decoded, areas.SetPolygonArea)
    assert decoded.start_time == START
    assert isinstance(decoded.start_time, datetime)
    assert decoded.start_time.tzinfo == CHINA_TZ


def test_daily_times_are_written_with_a_zero_date() -> None:
    body, _ = command_body(CASES["set_route"][0])
    data = encode_body(body, V2019)
    assert data[6:18] == bytes.fromhex("000000060000000000220000")


def test_media_filter_times_are_written_in_the_terminals_clock() -> None:
    body, _ = command_body(CASES["search_media"][0])
    # type, channel, event, then start and end: 08:00:00 and 20:30:15 UTC are 16:00 and 04:30
    assert encode_body(body, V2013)[3:] == bytes.fromhex("240501160000240601043015")


def test_media_filter_without_times_has_no_time_filter() -> None:
    body, _ = command_body(request(search_media=pb.SearchMedia(media_type=1)))
    assert body == multimedia.SearchMedia(
        media_type=1, channel_id=0, event=0, start_time=None, end_time=None
    )
    assert encode_body(body, V2019)[3:] == bytes(12)


def test_unset_text_type_is_a_notice() -> None:
    body, _ = command_body(request(text_message=pb.TextMessage(flags=1, text="hello")))
    assert body == messaging.TextMessage(
        flag=1, text_type=messaging.TextType.NOTIFICATION, text="hello"
    )


def test_unset_area_time_is_none() -> None:
    circle = pb.CircleArea(area_id=1, attribute=0, radius_m=10)
    body, _ = command_body(request(set_circle_areas=pb.SetCircleAreas(areas=[circle])))
    assert isinstance(body, areas.SetCircleAreas)
    assert body.areas[0].start_time is None
    assert body.areas[0].end_time is None


# --------------------------------------------------------------------------------------------
# Requests a body cannot represent.

INVALID: list[tuple[str, api.SendCommandRequest, str, str]] = [
    ("no command", api.SendCommandRequest(phone="1"), "command", "no command given"),
    (
        "raw id of an uplink message",
        request(raw=pb.RawCommand(msg_id=0x0200, body=b"")),
        "raw.msg_id",
        "0x0200 is not a platform-to-terminal message id",
    ),
    (
        "raw id past 16 bits",
        request(raw=pb.RawCommand(msg_id=0x1_8000)),
        "raw.msg_id",
        "0x18000 is not a platform-to-terminal message id",
    ),
    (
        "parameter without value",
        request(set_parameters=pb.SetParameters(parameters=[pb.Parameter(id=0x0001)])),
        "set_parameters.parameters[0]",
        "no value given",
    ),
    (
        "unknown parameter id without bytes",
        request(
            set_parameters=pb.SetParameters(
                parameters=[
                    pb.Parameter(id=0x0001, uint_value=30),
                    pb.Parameter(id=0xF001, uint_value=1),
                ]
            )
        ),
        "set_parameters.parameters[1].id",
        "0xF001 is not a parameter of the standard",
    ),
    (
        "WORD parameter too big",
        request(
            set_parameters=pb.SetParameters(parameters=[pb.Parameter(id=0x0031, uint_value=70000)])
        ),
        "set_parameters.parameters[0].uint_value",
        "70000 does not fit: parameter 0x0031 (geofence_radius) is a WORD (0-65535)",
    ),
    (
        "BYTE parameter too big",
        request(
            set_parameters=pb.SetParameters(parameters=[pb.Parameter(id=0x0084, uint_value=256)])
        ),
        "set_parameters.parameters[0].uint_value",
        "is a BYTE (0-255)",
    ),
    (
        "DWORD parameter too big",
        request(
            set_parameters=pb.SetParameters(
                parameters=[pb.Parameter(id=0x0001, uint_value=1 << 32)]
            )
        ),
        "set_parameters.parameters[0].uint_value",
        "is a DWORD (0-4294967295)",
    ),
    (
        "text for a number",
        request(
            set_parameters=pb.SetParameters(parameters=[pb.Parameter(id=0x0001, string_value="30")])
        ),
        "set_parameters.parameters[0].string_value",
        "(heartbeat_interval) is a DWORD; give uint_value",
    ),
    (
        "number for a text",
        request(
            set_parameters=pb.SetParameters(parameters=[pb.Parameter(id=0x0013, uint_value=1)])
        ),
        "set_parameters.parameters[0].uint_value",
        "(main_server_address) is a STRING; give string_value",
    ),
    (
        "number for a byte array",
        request(
            set_parameters=pb.SetParameters(parameters=[pb.Parameter(id=0x0032, uint_value=1)])
        ),
        "set_parameters.parameters[0].uint_value",
        "is a BYTE[4]; give bytes_value",
    ),
    (
        "text too long",
        request(
            set_parameters=pb.SetParameters(
                parameters=[pb.Parameter(id=0x0013, string_value="a" * 256)]
            )
        ),
        "set_parameters.parameters[0].string_value",
        "256 bytes, max 255",
    ),
    (
        "bytes too long",
        request(
            set_parameters=pb.SetParameters(
                parameters=[pb.Parameter(id=0xF001, bytes_value=bytes(256))]
            )
        ),
        "set_parameters.parameters[0].bytes_value",
        "256 bytes; a parameter value holds at most 255",
    ),
    (
        "hour 24",
        request(
            set_circle_areas=pb.SetCircleAreas(
                areas=[pb.CircleArea(area_id=1, start_time=daily(24, 0))]
            )
        ),
        "set_circle_areas.areas[0].start_time.daily.hours",
        "24 is not a valid hour (0-23)",
    ),
    (
        "minute 60",
        request(
            set_rectangle_areas=pb.SetRectangleAreas(
                areas=[pb.RectangleArea(), pb.RectangleArea(end_time=daily(23, 60))]
            )
        ),
        "set_rectangle_areas.areas[1].end_time.daily.minutes",
        "60 is not a valid minute (0-59)",
    ),
    (
        "second 60",
        request(set_route=pb.SetRoute(start_time=daily(12, 0, 60))),
        "set_route.start_time.daily.seconds",
        "60 is not a valid second (0-59)",
    ),
    (
        "impossible instant",
        request(
            set_polygon_area=pb.SetPolygonArea(
                end_time=pb.AreaTime(at=timestamp_pb2.Timestamp(seconds=1 << 40))
            )
        ),
        "set_polygon_area.end_time.at",
        "not a valid time",
    ),
    (
        "impossible media filter time",
        request(
            upload_stored_media=pb.UploadStoredMedia(
                start_time=timestamp_pb2.Timestamp(seconds=0, nanos=2_000_000_000)
            )
        ),
        "upload_stored_media.start_time",
        "not a valid time",
    ),
    (
        "southern circle given as a negative latitude",
        request(
            set_circle_areas=pb.SetCircleAreas(
                areas=[pb.CircleArea(latitude_e6=-33_448_890, longitude_e6=70_669_265)]
            )
        ),
        "set_circle_areas.areas[0].latitude_e6",
        "-33448890 is negative; give the distance from the equator or meridian and set "
        "attribute bit 6 (south) or 7 (west)",
    ),
    (
        "western rectangle corner",
        request(
            set_rectangle_areas=pb.SetRectangleAreas(
                areas=[pb.RectangleArea(bottom_right_longitude_e6=-1)]
            )
        ),
        "set_rectangle_areas.areas[0].bottom_right_longitude_e6",
        "is negative",
    ),
    (
        "negative polygon vertex",
        request(
            set_polygon_area=pb.SetPolygonArea(
                vertices=[pb.Vertex(), pb.Vertex(), pb.Vertex(latitude_e6=-1)]
            )
        ),
        "set_polygon_area.vertices[2].latitude_e6",
        "is negative",
    ),
    (
        "negative turn point",
        request(set_route=pb.SetRoute(turn_points=[pb.TurnPoint(longitude_e6=-5)])),
        "set_route.turn_points[0].longitude_e6",
        "section_attribute bit 2 (south) or 3 (west)",
    ),
    (
        "vehicle control of a type without layout",
        request(
            vehicle_control=pb.VehicleControl(
                items=[pb.VehicleControlItem(control_type=0xF001, parameter=1)]
            )
        ),
        "vehicle_control.items[0].control_type",
        "0xF001 has no parameter layout in the standard",
    ),
]


@pytest.mark.parametrize(
    ("command", "path", "problem"),
    [case[1:] for case in INVALID],
    ids=[case[0] for case in INVALID],
)
def test_invalid_command_names_the_field(
    command: api.SendCommandRequest, path: str, problem: str
) -> None:
    with pytest.raises(InvalidCommandError) as caught:
        command_body(command)
    assert caught.value.path == path
    assert str(caught.value).startswith(f"{path}: ")
    assert problem in str(caught.value)
    assert isinstance(caught.value, ValueError)


def test_raw_accepts_the_whole_downlink_range() -> None:
    for msg_id in (0x8000, 0xFFFF):
        assert command_body(request(raw=pb.RawCommand(msg_id=msg_id))) == (RawBody(), msg_id)


# --------------------------------------------------------------------------------------------
# Out-of-range integers: refused by the converter or by the encoder, always as a typed error.

_INTEGER_RANGES = {
    FieldDescriptor.CPPTYPE_UINT32: (0, (1 << 32) - 1),
    FieldDescriptor.CPPTYPE_UINT64: (0, (1 << 64) - 1),
    FieldDescriptor.CPPTYPE_INT32: (-(1 << 31), (1 << 31) - 1),
    FieldDescriptor.CPPTYPE_INT64: (-(1 << 63), (1 << 63) - 1),
}


def integer_fields(message: ProtoMessage) -> Iterator[tuple[ProtoMessage, FieldDescriptor, int]]:
    """Every integer value set in ``message`` (recursively) as (holder, field, index or -1).

    Well-known types (Timestamps) are left out: their ranges are checked on their own.
    """
    for field, value in message.ListFields():
        if field.cpp_type in _INTEGER_RANGES:
            if field.is_repeated:
                for index in range(len(value)):
                    yield message, field, index
            else:
                yield message, field, -1
        elif field.cpp_type == FieldDescriptor.CPPTYPE_MESSAGE:
            if field.message_type is None or field.message_type.full_name.startswith(
                "google.protobuf."
            ):
                continue
            for item in value if field.is_repeated else [value]:
                yield from integer_fields(item)


def set_integer(holder: ProtoMessage, field: FieldDescriptor, index: int, value: int) -> None:
    if index < 0:
        setattr(holder, field.name, value)
    else:
        getattr(holder, field.name)[index] = value


def check_outcome(command: api.SendCommandRequest) -> None:
    """Convert and encode in every revision: success round-trips, failures are typed."""
    name = command.WhichOneof("command")
    try:
        body, msg_id = command_body(command)
    except InvalidCommandError as error:
        assert error.path.startswith(f"{name}."), error.path
        return
    for version in ALL_VERSIONS:
        try:
            data = encode_body(body, version)
        except EncodeError:
            continue
        if isinstance(body, RawBody):
            continue
        decoded, rest = decode_body(msg_id, data, version)
        assert rest == b""
        assert decoded == on_the_wire(body, version)


@pytest.mark.parametrize("name", sorted(CASES))
def test_integer_extremes_fail_only_with_typed_errors(name: str) -> None:
    template = CASES[name][0]
    count = sum(1 for _ in integer_fields(template))
    for number in range(count):
        for extreme in (0, 1):
            command = api.SendCommandRequest()
            command.CopyFrom(template)
            holder, field, index = list(integer_fields(command))[number]
            set_integer(holder, field, index, _INTEGER_RANGES[field.cpp_type][extreme])
            check_outcome(command)


_WIDTH_EDGES = (-1, 0, 1, 0xFF, 0x100, 0xFFFF, 0x10000, 0xFFFFFFFF, 1 << 32)


@pytest.mark.parametrize("name", sorted(CASES))
@settings(max_examples=20, deadline=None)
@given(data=st.data())
def test_any_integers_round_trip_or_fail_typed(name: str, data: st.DataObject) -> None:
    command = api.SendCommandRequest()
    command.CopyFrom(CASES[name][0])
    for holder, field, index in list(integer_fields(command)):
        low, high = _INTEGER_RANGES[field.cpp_type]
        # often the edges of the wire widths, where the interesting cases are
        edges = [edge for edge in _WIDTH_EDGES if low <= edge <= high]
        value = data.draw(st.one_of(st.sampled_from(edges), st.integers(low, high)))
        set_integer(holder, field, index, value)
    check_outcome(command)


def test_timestamps_outside_bcd_years_fail_in_the_encoder() -> None:
    late = datetime(2100, 1, 1, tzinfo=UTC)
    body, _ = command_body(request(search_media=pb.SearchMedia(start_time=timestamp(late))))
    with pytest.raises(EncodeError, match="outside the BCD years"):
        encode_body(body, V2019)


TOO_LONG: list[tuple[str, api.SendCommandRequest]] = [
    ("text over 1024 bytes", request(text_message=pb.TextMessage(text="字" * 513))),
    (
        "event content over a BYTE length",
        request(
            event_setting=pb.EventSetting(
                set_type=1, events=[pb.EventItem(event_id=1, content="a" * 256)]
            )
        ),
    ),
    (
        "256 events",
        request(event_setting=pb.EventSetting(set_type=1, events=[pb.EventItem(event_id=1)] * 256)),
    ),
    ("call-back number over 20 bytes", request(call_back=pb.CallBack(phone_number="1" * 21))),
    (
        "contact name over a BYTE length",
        request(set_phone_book=pb.SetPhoneBook(contacts=[pb.Contact(name="名" * 128)])),
    ),
    (
        "terminal control field with a separator",
        request(terminal_control=pb.TerminalControl(command=2, parameters=["a;b"])),
    ),
    (
        "terminal control with one empty field",
        request(terminal_control=pb.TerminalControl(command=2, parameters=[""])),
    ),
    (
        "manufacturer id over 11 bytes",
        request(upgrade_package=pb.UpgradePackage(manufacturer_id="M" * 12)),
    ),
    (
        "126 area ids",
        request(delete_circle_areas=pb.DeleteCircleAreas(area_ids=list(range(126)))),
    ),
    (
        "256 circles",
        request(set_circle_areas=pb.SetCircleAreas(areas=[pb.CircleArea()] * 256)),
    ),
]


@pytest.mark.parametrize(
    "command", [case[1] for case in TOO_LONG], ids=[case[0] for case in TOO_LONG]
)
def test_too_long_values_fail_in_the_encoder(command: api.SendCommandRequest) -> None:
    body, _ = command_body(command)
    with pytest.raises(EncodeError):
        encode_body(body, V2019)
