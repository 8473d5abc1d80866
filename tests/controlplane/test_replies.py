"""Terminal replies -> SendCommandResponse (reply_msg_id, result and the typed reply)."""

from __future__ import annotations

from datetime import UTC, date, datetime

import pytest

from controlplane.commands import command_body
from controlplane.locations import location_message
from controlplane.replies import fill_reply
from gateway.protocol.bodies import areas, multimedia, tachograph, terminal
from gateway.protocol.bodies.general import TerminalGeneralResponse
from gateway.protocol.bodies.location import (
    AdditionalInfo,
    LocationReport,
    QueryLocationResponse,
    StatusFlag,
)
from gateway.protocol.bodies.messaging import QuestionAnswer
from gateway.protocol.bodies.parameters import Parameter, QueryParametersResponse
from gateway.protocol.bodies.vehicle import VehicleControlResponse
from gateway.protocol.body import Body, RawBody
from gateway.protocol.header import RSA_ENCRYPTION, Header
from gateway.protocol.message import Message, decode_frame, encode
from gateway.protocol.versions import V2011, V2013, V2019, ProtocolVersion
from gateway.protocol.wire import CHINA_TZ
from jt808.gateway.v1 import commands_pb2 as pb
from jt808.gateway.v1 import gateway_service_pb2 as api

from .test_commands import CASES

PHONE = "013912345678"
DEVICE = "70111_JT-X9_T0001"
RECEIVED = datetime(2024, 5, 1, 8, 30, 7, tzinfo=UTC)
FIX_TIME = datetime(2024, 5, 1, 16, 30, 5, tzinfo=CHINA_TZ)


def received(body: Body, version: ProtocolVersion = V2019, serial: int = 300) -> Message:
    """``body`` as the gateway gets it: encoded in a frame by the terminal, then decoded."""
    header = Header(msg_id=body.MSG_ID, phone=PHONE, serial=serial, version=version)
    return decode_frame(encode(header, body), version_hint=version)


def fill(reply: Message) -> api.SendCommandResponse:
    response = api.SendCommandResponse()
    fill_reply(response, reply, phone=PHONE, device_name=DEVICE, received_at=RECEIVED)
    return response


def position(**changes: object) -> LocationReport:
    fields: dict[str, object] = {
        "alarm": 1,
        "status": int(StatusFlag.POSITIONED | StatusFlag.DOOR_LOCKED | StatusFlag.WEST_LONGITUDE),
        "latitude": 40.7128,
        "longitude": -74.006,
        "altitude": 12,
        "speed": 0.0,
        "direction": 90,
        "time": FIX_TIME,
        "extras": [AdditionalInfo(0x01, (1000).to_bytes(4, "big"))],
    }
    fields.update(changes)
    return LocationReport(**fields)  # type: ignore[arg-type]


# --------------------------------------------------------------------------------------------
# Results


@pytest.mark.parametrize("result", [0, 1, 2, 3])
def test_general_reply_gives_its_result_and_no_typed_reply(result: int) -> None:
    reply = received(TerminalGeneralResponse(reply_serial=7, reply_id=0x8103, result=result))
    response = fill(reply)
    assert response.reply_msg_id == 0x0001
    assert response.result == result
    assert response.WhichOneof("reply") is None


def test_lead_fields_are_left_alone() -> None:
    response = api.SendCommandResponse(command_serial=7, retransmissions=2)
    fill_reply(
        response,
        received(TerminalGeneralResponse(reply_serial=7, reply_id=0x8103, result=0)),
        phone=PHONE,
        device_name=DEVICE,
        received_at=RECEIVED,
    )
    assert (response.command_serial, response.retransmissions) == (7, 2)


# --------------------------------------------------------------------------------------------
# Locations: 0x0201, 0x0500


@pytest.mark.parametrize("version", [V2013, V2019], ids=str)
@pytest.mark.parametrize(
    "body",
    [
        QueryLocationResponse(reply_serial=7, location=position()),
        VehicleControlResponse(reply_serial=8, location=position()),
    ],
    ids=["0x0201", "0x0500"],
)
def test_location_replies(body: QueryLocationResponse, version: ProtocolVersion) -> None:
    reply = received(body, version, serial=301)
    response = fill(reply)
    assert response.reply_msg_id == body.MSG_ID
    assert response.result == 0
    assert response.WhichOneof("reply") == "location"
    location = response.location
    assert location == location_message(
        position(),
        phone=PHONE,
        device_name=DEVICE,
        msg_id=body.MSG_ID,
        serial=301,
        received_at=RECEIVED,
    )
    assert (location.msg_id, location.serial, location.sequence) == (body.MSG_ID, 301, 0)
    assert (location.phone, location.device_name) == (PHONE, DEVICE)
    assert location.longitude == -74.006
    assert location.mileage_km == 100.0
    assert location.time.ToDatetime(tzinfo=UTC) == FIX_TIME
    assert location.received_time.ToDatetime(tzinfo=UTC) == RECEIVED
    assert not location.batch


# --------------------------------------------------------------------------------------------
# Parameters: 0x0104


def test_parameters_reply() -> None:
    undecodable = b"host\xff"
    body = QueryParametersResponse(
        reply_serial=7,
        parameters=[
            Parameter.of(0x0001, 30),  # DWORD
            Parameter.of(0x0031, 500),  # WORD
            Parameter.of(0x0084, 2),  # BYTE
            Parameter.of(0x0013, "gw.example.cn:7611"),  # STRING
            Parameter.of(0x0083, "粤B12345"),  # STRING, GBK
            Parameter(id=0x0013, raw=undecodable),  # STRING with bytes that are not text
            Parameter.of(0x0032, bytes([22, 0, 6, 0])),  # BYTE[4]
            Parameter(id=0x0001, raw=b"\x01"),  # DWORD of the wrong length
            Parameter(id=0xF001, raw=b"\x01\x02"),  # vendor id
        ],
    )
    response = fill(received(body))
    assert response.reply_msg_id == 0x0104
    assert response.result == 0
    assert response.WhichOneof("reply") == "parameters"
    assert list(response.parameters.parameters) == [
        pb.Parameter(id=0x0001, name="heartbeat_interval", raw=b"\x00\x00\x00\x1e", uint_value=30),
        pb.Parameter(id=0x0031, name="geofence_radius", raw=b"\x01\xf4", uint_value=500),
        pb.Parameter(id=0x0084, name="plate_color", raw=b"\x02", uint_value=2),
        pb.Parameter(
            id=0x0013,
            name="main_server_address",
            raw=b"gw.example.cn:7611",
            string_value="gw.example.cn:7611",
        ),
        pb.Parameter(
            id=0x0083, name="plate", raw="粤B12345".encode("gb18030"), string_value="粤B12345"
        ),
        pb.Parameter(
            id=0x0013,
            name="main_server_address",
            raw=undecodable,
            string_value="host\ufffd",
        ),
        pb.Parameter(
            id=0x0032,
            name="illegal_driving_period",
            raw=bytes([22, 0, 6, 0]),
            bytes_value=bytes([22, 0, 6, 0]),
        ),
        pb.Parameter(id=0x0001, name="heartbeat_interval", raw=b"\x01", bytes_value=b"\x01"),
        pb.Parameter(id=0xF001, name="", raw=b"\x01\x02", bytes_value=b"\x01\x02"),
    ]
    response.SerializeToString()


def test_zero_uint_value_is_set() -> None:
    response = fill(
        received(QueryParametersResponse(reply_serial=1, parameters=[Parameter.of(1, 0)]))
    )
    assert response.parameters.parameters[0].WhichOneof("value") == "uint_value"


def test_empty_parameters_reply_is_still_typed() -> None:
    response = fill(received(QueryParametersResponse(reply_serial=7, parameters=[])))
    assert response.WhichOneof("reply") == "parameters"
    assert len(response.parameters.parameters) == 0


# --------------------------------------------------------------------------------------------
# Attributes: 0x0107


@pytest.mark.parametrize("version", [V2013, V2019], ids=str)
def test_attributes_reply(version: ProtocolVersion) -> None:
    body = terminal.QueryAttributesResponse(
        terminal_type=0b1_0100_0101,
        manufacturer_id="70111",
        terminal_model="JT-X9",
        terminal_id="T0001",
        iccid="89860412345678901234",
        hardware_version="HW1.2",
        firmware_version="FW3.4.5",
        gnss_attributes=0b0011,
        communication_attributes=0b10_0001,
    )
    response = fill(received(body, version))
    assert response.reply_msg_id == 0x0107
    assert response.WhichOneof("reply") == "attributes"
    assert response.attributes == pb.TerminalAttributes(
        terminal_type=0b1_0100_0101,
        manufacturer_id="70111",
        terminal_model="JT-X9",
        terminal_id="T0001",
        iccid="89860412345678901234",
        hardware_version="HW1.2",
        firmware_version="FW3.4.5",
        gnss_attributes=0b0011,
        communication_attributes=0b10_0001,
    )


def test_attribute_text_that_is_not_gbk() -> None:
    body = terminal.QueryAttributesResponse(
        terminal_type=0,
        manufacturer_id="70111",
        terminal_model=b"X\xff".decode("gb18030", "surrogateescape"),
        terminal_id="T1",
        iccid="0" * 20,
        hardware_version="",
        firmware_version="",
        gnss_attributes=0,
        communication_attributes=0,
    )
    response = fill(received(body))
    assert response.attributes.terminal_model == "X\ufffd"
    response.SerializeToString()


# --------------------------------------------------------------------------------------------
# Areas: 0x0608 (2019)


def _request_of(name: str) -> pb.SetCircleAreas | pb.SetRectangleAreas:
    command = CASES[name][0]
    message = getattr(command, name)
    assert isinstance(message, pb.SetCircleAreas | pb.SetRectangleAreas)
    return message


def _body_of(name: str) -> areas.AreaDefinition:
    body = command_body(CASES[name][0])[0]
    assert isinstance(
        body, areas.SetCircleAreas | areas.SetRectangleAreas | areas.SetPolygonArea | areas.SetRoute
    )
    return body


def test_circle_areas_reply_flattens_the_items() -> None:
    circles = _body_of("set_circle_areas")
    assert isinstance(circles, areas.SetCircleAreas)
    body = areas.QueryAreasResponse(
        query_type=areas.AreaQueryType.CIRCLE,
        items=[circles, areas.SetCircleAreas(set_type=0, areas=circles.areas[:1])],
    )
    response = fill(received(body))
    assert response.reply_msg_id == 0x0608
    assert response.result == 0
    assert response.WhichOneof("reply") == "areas"
    sent = list(_request_of("set_circle_areas").areas)
    assert response.areas.query_type == 1
    # what set_circle_areas sent (2019 keeps every field) comes back
    assert list(response.areas.circle_areas) == [*sent, sent[0]]
    assert response.areas.circle_areas[1].start_time.daily == pb.TimeOfDay(hours=8)
    assert len(response.areas.rectangle_areas) == 0


def test_rectangle_areas_reply() -> None:
    body = areas.QueryAreasResponse(
        query_type=areas.AreaQueryType.RECTANGLE, items=[_body_of("set_rectangle_areas")]
    )
    response = fill(received(body))
    assert response.areas.query_type == 2
    assert list(response.areas.rectangle_areas) == list(_request_of("set_rectangle_areas").areas)


def test_polygon_areas_reply() -> None:
    polygon = _body_of("set_polygon_area")
    body = areas.QueryAreasResponse(query_type=areas.AreaQueryType.POLYGON, items=[polygon])
    response = fill(received(body))
    assert response.areas.query_type == 3
    assert list(response.areas.polygon_areas) == [CASES["set_polygon_area"][0].set_polygon_area]
    assert response.areas.polygon_areas[0].start_time.at.ToDatetime(tzinfo=UTC) == datetime(
        2024, 5, 1, 8, 0, tzinfo=UTC
    )


def test_routes_reply() -> None:
    route = _body_of("set_route")
    body = areas.QueryAreasResponse(query_type=areas.AreaQueryType.ROUTE, items=[route, route])
    response = fill(received(body))
    assert response.areas.query_type == 4
    assert list(response.areas.routes) == [CASES["set_route"][0].set_route] * 2


def test_area_without_time_window_has_no_times() -> None:
    circle = areas.CircleArea(
        area_id=1, attribute=0, latitude_e6=1, longitude_e6=2, radius_m=3, name="x"
    )
    body = areas.QueryAreasResponse(
        query_type=1, items=[areas.SetCircleAreas(set_type=0, areas=[circle])]
    )
    reply = fill(received(body)).areas.circle_areas[0]
    assert not reply.HasField("start_time")
    assert not reply.HasField("end_time")


def test_empty_areas_reply_is_still_typed() -> None:
    response = fill(received(areas.QueryAreasResponse(query_type=4)))
    assert response.WhichOneof("reply") == "areas"
    assert response.areas.query_type == 4


# --------------------------------------------------------------------------------------------
# Tachograph 0x0700, driver identity 0x0702


def test_tachograph_reply() -> None:
    body = tachograph.TachographUpload(reply_serial=5, command=0x08, data=b"\x55\x7a\x08")
    response = fill(received(body))
    assert response.reply_msg_id == 0x0700
    assert response.WhichOneof("reply") == "tachograph"
    assert response.tachograph == pb.TachographData(command=0x08, data=b"\x55\x7a\x08")


def test_driver_identity_2019() -> None:
    body = tachograph.DriverIdentityReport(
        status=1,
        time=FIX_TIME,
        read_result=0,
        driver_name="张三",
        qualification_number="440300199001011234",
        issuing_authority="深圳市交通运输局",
        licence_expiry=date(2028, 6, 30),
        id_card_number="440300199001011234",
    )
    response = fill(received(body))
    assert response.reply_msg_id == 0x0702
    assert response.result == 0
    assert response.WhichOneof("reply") == "driver_identity"
    identity = response.driver_identity
    assert identity.time.ToDatetime(tzinfo=UTC) == FIX_TIME
    identity.ClearField("time")
    assert identity == pb.DriverIdentity(
        status=1,
        read_result=0,
        driver_name="张三",
        qualification_number="440300199001011234",
        issuing_authority="深圳市交通运输局",
        licence_expiry="2028-06-30",
        id_card_number="440300199001011234",
    )


def test_driver_identity_card_removed_2013() -> None:
    body = tachograph.DriverIdentityReport(status=2, time=FIX_TIME)
    identity = fill(received(body, V2013)).driver_identity
    assert (identity.status, identity.read_result, identity.licence_expiry) == (2, 0, "")
    assert identity.driver_name == ""
    assert identity.time.ToDatetime(tzinfo=UTC) == FIX_TIME


def test_driver_identity_read_failure_without_time() -> None:
    body = tachograph.DriverIdentityReport(status=1, time=None, read_result=3)
    identity = fill(received(body, V2019)).driver_identity
    assert (identity.status, identity.read_result) == (1, 3)
    assert not identity.HasField("time")


def test_driver_identity_2011_layout() -> None:
    body = tachograph.DriverIdentityReport(
        status=None,
        driver_name="李四五",
        id_card_number="110101198001010011",
        qualification_number="Q-0001",
        issuing_authority="北京",
    )
    identity = fill(received(body, V2011)).driver_identity
    assert identity == pb.DriverIdentity(
        status=0,
        driver_name="李四五",
        id_card_number="110101198001010011",
        qualification_number="Q-0001",
        issuing_authority="北京",
    )


# --------------------------------------------------------------------------------------------
# Multimedia: 0x0805, 0x0802


def test_photo_reply_success() -> None:
    body = multimedia.TakePhotoResponse(reply_serial=9, result=0, media_ids=[1001, 1002])
    response = fill(received(body))
    assert response.reply_msg_id == 0x0805
    assert response.result == 0
    assert response.WhichOneof("reply") == "photo"
    assert response.photo == pb.PhotoReply(result=0, media_ids=[1001, 1002])


def test_photo_reply_failure_gives_its_result() -> None:
    body = multimedia.TakePhotoResponse(reply_serial=9, result=2)
    response = fill(received(body))
    assert response.result == 2
    assert response.photo.result == 2
    assert response.WhichOneof("reply") == "photo"
    assert list(response.photo.media_ids) == []


def test_media_search_reply() -> None:
    block = position(extras=[])  # the 28-byte block of 0x0802 carries no items
    body = multimedia.SearchMediaResponse(
        reply_serial=11,
        items=[
            multimedia.MediaSearchItem(
                media_id=1001, media_type=0, channel_id=1, event=2, location=block
            ),
            multimedia.MediaSearchItem(
                media_id=1002,
                media_type=2,
                channel_id=3,
                event=0,
                location=position(extras=[], time=None, latitude=-1.5),
            ),
        ],
    )
    reply = received(body, serial=302)
    response = fill(reply)
    assert response.reply_msg_id == 0x0802
    assert response.result == 0
    assert response.WhichOneof("reply") == "media_search"
    items = response.media_search.items
    assert [(i.media_id, i.media_type, i.channel_id, i.event) for i in items] == [
        (1001, 0, 1, 2),
        (1002, 2, 3, 0),
    ]
    decoded = reply.body
    assert isinstance(decoded, multimedia.SearchMediaResponse)
    for item, sent in zip(items, decoded.items, strict=True):
        assert item.location == location_message(
            sent.location,
            phone=PHONE,
            device_name=DEVICE,
            msg_id=0x0802,
            serial=302,
            received_at=RECEIVED,
        )
    assert items[1].location.latitude == -1.5
    assert not items[1].location.HasField("time")


def test_empty_media_search_is_still_typed() -> None:
    response = fill(received(multimedia.SearchMediaResponse(reply_serial=1)))
    assert response.WhichOneof("reply") == "media_search"


# --------------------------------------------------------------------------------------------
# Replies without a typed form: the body bytes


def test_reply_without_typed_form_gives_its_body() -> None:
    response = fill(received(QuestionAnswer(reply_serial=0x1234, answer_id=2)))
    assert response.reply_msg_id == 0x0302
    assert response.result == 0
    assert response.WhichOneof("reply") == "raw_body"
    assert response.raw_body == b"\x12\x34\x02"


def test_unknown_reply_id_gives_its_body() -> None:
    header = Header(msg_id=0x0F01, phone=PHONE, serial=1, version=V2019)
    reply = Message(header, RawBody(raw=b"\x00\x01\x02"))
    response = fill(reply)
    assert response.reply_msg_id == 0x0F01
    assert response.raw_body == b"\x00\x01\x02"


def test_trailing_bytes_are_part_of_the_raw_body() -> None:
    header = Header(msg_id=0x0302, phone=PHONE, serial=1, version=V2013)
    reply = Message(header, QuestionAnswer(reply_serial=1, answer_id=1), trailing=b"\xee")
    assert fill(reply).raw_body == b"\x00\x01\x01\xee"


def test_encrypted_general_reply_is_raw() -> None:
    header = Header(msg_id=0x0001, phone=PHONE, serial=1, version=V2013, encryption=RSA_ENCRYPTION)
    reply = Message(header, RawBody(raw=b"\x99" * 8))
    response = fill(reply)
    assert response.reply_msg_id == 0x0001
    assert response.result == 0
    assert response.raw_body == b"\x99" * 8
