"""A terminal's reply to a command, as the ``SendCommandResponse`` fields it decides.

``fill_reply`` sets ``reply_msg_id``, ``result`` and the typed ``reply`` oneof. Replies are
told apart by their decoded body (not only their id), so a body the core could not decode
(an encrypted one arrives as ``RawBody``) falls back to ``raw_body`` like any reply without a
typed form.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime, time
from typing import Any, Final

from gateway.protocol.bodies import areas, multimedia, parameters, tachograph, terminal
from gateway.protocol.bodies.general import TerminalGeneralResponse
from gateway.protocol.bodies.location import LocationReport, QueryLocationResponse
from gateway.protocol.bodies.vehicle import VehicleControlResponse
from gateway.protocol.body import Body
from gateway.protocol.message import Message, encode_message_body
from jt808.gateway.v1 import commands_pb2, gateway_service_pb2, location_pb2

from .locations import aware, location_message, proto_text

Response = gateway_service_pb2.SendCommandResponse


def fill_reply(
    response: gateway_service_pb2.SendCommandResponse,
    reply: Message,
    *,
    phone: str,
    device_name: str,
    received_at: datetime,
) -> None:
    """Set ``reply_msg_id``, ``result`` and the typed reply of ``response`` from ``reply``."""
    body = reply.body
    response.reply_msg_id = reply.msg_id
    response.result = _result(body)
    if isinstance(body, TerminalGeneralResponse):
        return  # the result is the whole answer
    fill = _TYPED_REPLIES.get(type(body))
    if fill is not None:
        fill(response, body, _Context(reply, phone, device_name, received_at))
        return
    response.raw_body = encode_message_body(reply)


def _result(body: Body) -> int:
    """The terminal's result: 0x0001's and 0x0805's; replies that are data succeeded (0)."""
    if isinstance(body, TerminalGeneralResponse | multimedia.TakePhotoResponse):
        return int(body.result)
    return 0


class _Context:
    """What a reply's positions need besides the body: who sent it, in which message, when."""

    __slots__ = ("device_name", "phone", "received_at", "reply")

    def __init__(self, reply: Message, phone: str, device_name: str, received_at: datetime) -> None:
        self.reply = reply
        self.phone = phone
        self.device_name = device_name
        self.received_at = received_at

    def location(self, report: LocationReport) -> location_pb2.Location:
        header = self.reply.header
        return location_message(
            report,
            phone=self.phone,
            device_name=self.device_name,
            msg_id=header.msg_id,
            serial=header.serial,
            received_at=self.received_at,
        )


# --------------------------------------------------------------------------------------------
# One filler per typed reply.


def _fill_location(
    response: Response, body: QueryLocationResponse | VehicleControlResponse, context: _Context
) -> None:
    response.location.CopyFrom(context.location(body.location))


def parameter_message(item: parameters.Parameter) -> commands_pb2.Parameter:
    """A reported parameter: id, name, raw bytes and the value in its natural type."""
    message = commands_pb2.Parameter(id=item.id, name=item.name or "", raw=item.raw)
    value = item.value
    if isinstance(value, int):
        message.uint_value = value
    elif isinstance(value, str):
        message.string_value = proto_text(value)
    else:  # BYTE[n] values, ids outside the standard, values of the wrong length
        message.bytes_value = item.raw
    return message


def _fill_parameters(
    response: Response, body: parameters.QueryParametersResponse, context: _Context
) -> None:
    response.parameters.SetInParent()  # an empty answer is still a parameters reply
    response.parameters.parameters.extend(parameter_message(item) for item in body.parameters)


def _fill_attributes(
    response: Response, body: terminal.QueryAttributesResponse, context: _Context
) -> None:
    response.attributes.CopyFrom(
        commands_pb2.TerminalAttributes(
            terminal_type=body.terminal_type,
            manufacturer_id=proto_text(body.manufacturer_id),
            terminal_model=proto_text(body.terminal_model),
            terminal_id=proto_text(body.terminal_id),
            iccid=proto_text(body.iccid),
            hardware_version=proto_text(body.hardware_version),
            firmware_version=proto_text(body.firmware_version),
            gnss_attributes=body.gnss_attributes,
            communication_attributes=body.communication_attributes,
        )
    )


def area_time_message(value: datetime | time | None) -> commands_pb2.AreaTime | None:
    """An area or route time: an instant as ``at``, a daily time as ``daily``, else unset."""
    if isinstance(value, datetime):
        message = commands_pb2.AreaTime()
        message.at.FromDatetime(aware(value))
        return message
    if isinstance(value, time):
        return commands_pb2.AreaTime(
            daily=commands_pb2.TimeOfDay(
                hours=value.hour, minutes=value.minute, seconds=value.second
            )
        )
    return None


def circle_message(area: areas.CircleArea) -> commands_pb2.CircleArea:
    return commands_pb2.CircleArea(
        area_id=area.area_id,
        attribute=area.attribute,
        latitude_e6=area.latitude_e6,
        longitude_e6=area.longitude_e6,
        radius_m=area.radius_m,
        start_time=area_time_message(area.start_time),
        end_time=area_time_message(area.end_time),
        max_speed_kmh=area.max_speed_kmh,
        overspeed_duration_s=area.overspeed_duration_s,
        night_max_speed_kmh=area.night_max_speed_kmh,
        name=proto_text(area.name),
    )


def rectangle_message(area: areas.RectangleArea) -> commands_pb2.RectangleArea:
    return commands_pb2.RectangleArea(
        area_id=area.area_id,
        attribute=area.attribute,
        top_left_latitude_e6=area.top_left_latitude_e6,
        top_left_longitude_e6=area.top_left_longitude_e6,
        bottom_right_latitude_e6=area.bottom_right_latitude_e6,
        bottom_right_longitude_e6=area.bottom_right_longitude_e6,
        start_time=area_time_message(area.start_time),
        end_time=area_time_message(area.end_time),
        max_speed_kmh=area.max_speed_kmh,
        overspeed_duration_s=area.overspeed_duration_s,
        night_max_speed_kmh=area.night_max_speed_kmh,
        name=proto_text(area.name),
    )


def polygon_message(area: areas.SetPolygonArea) -> commands_pb2.SetPolygonArea:
    return commands_pb2.SetPolygonArea(
        area_id=area.area_id,
        attribute=area.attribute,
        start_time=area_time_message(area.start_time),
        end_time=area_time_message(area.end_time),
        max_speed_kmh=area.max_speed_kmh,
        overspeed_duration_s=area.overspeed_duration_s,
        vertices=[
            commands_pb2.Vertex(latitude_e6=v.latitude_e6, longitude_e6=v.longitude_e6)
            for v in area.vertices
        ],
        night_max_speed_kmh=area.night_max_speed_kmh,
        name=proto_text(area.name),
    )


def route_message(route: areas.SetRoute) -> commands_pb2.SetRoute:
    return commands_pb2.SetRoute(
        route_id=route.route_id,
        attribute=route.attribute,
        start_time=area_time_message(route.start_time),
        end_time=area_time_message(route.end_time),
        turn_points=[
            commands_pb2.TurnPoint(
                turn_point_id=point.turn_point_id,
                section_id=point.section_id,
                latitude_e6=point.latitude_e6,
                longitude_e6=point.longitude_e6,
                section_width_m=point.section_width_m,
                section_attribute=point.section_attribute,
                too_long_threshold_s=point.too_long_threshold_s,
                too_short_threshold_s=point.too_short_threshold_s,
                max_speed_kmh=point.max_speed_kmh,
                overspeed_duration_s=point.overspeed_duration_s,
                night_max_speed_kmh=point.night_max_speed_kmh,
            )
            for point in route.turn_points
        ],
        name=proto_text(route.name),
    )


def _fill_areas(response: Response, body: areas.QueryAreasResponse, context: _Context) -> None:
    reply = response.areas
    reply.SetInParent()
    reply.query_type = body.query_type
    for item in body.items:  # each item is a whole set-message body; circles come in groups
        if isinstance(item, areas.SetCircleAreas):
            reply.circle_areas.extend(circle_message(area) for area in item.areas)
        elif isinstance(item, areas.SetRectangleAreas):
            reply.rectangle_areas.extend(rectangle_message(area) for area in item.areas)
        elif isinstance(item, areas.SetPolygonArea):
            reply.polygon_areas.append(polygon_message(item))
        else:
            reply.routes.append(route_message(item))


def _fill_tachograph(
    response: Response, body: tachograph.TachographUpload, context: _Context
) -> None:
    response.tachograph.CopyFrom(commands_pb2.TachographData(command=body.command, data=body.data))


def _fill_driver_identity(
    response: Response, body: tachograph.DriverIdentityReport, context: _Context
) -> None:
    identity = commands_pb2.DriverIdentity(
        status=body.status or 0,
        read_result=body.read_result or 0,
        driver_name=proto_text(body.driver_name),
        qualification_number=proto_text(body.qualification_number),
        issuing_authority=proto_text(body.issuing_authority),
        licence_expiry="" if body.licence_expiry is None else body.licence_expiry.isoformat(),
        id_card_number=proto_text(body.id_card_number),
    )
    if body.time is not None:
        identity.time.FromDatetime(aware(body.time))
    response.driver_identity.CopyFrom(identity)


def _fill_photo(response: Response, body: multimedia.TakePhotoResponse, context: _Context) -> None:
    response.photo.CopyFrom(
        commands_pb2.PhotoReply(result=body.result, media_ids=list(body.media_ids))
    )


def _fill_media_search(
    response: Response, body: multimedia.SearchMediaResponse, context: _Context
) -> None:
    reply = response.media_search
    reply.SetInParent()
    for item in body.items:
        reply.items.append(
            commands_pb2.MediaItem(
                media_id=item.media_id,
                media_type=item.media_type,
                channel_id=item.channel_id,
                event=item.event,
                location=context.location(item.location),
            )
        )


#: Decoded reply body -> how it fills the typed ``reply`` oneof.
_TYPED_REPLIES: Final[dict[type[Body], Callable[[Response, Any, _Context], None]]] = {
    QueryLocationResponse: _fill_location,
    VehicleControlResponse: _fill_location,
    parameters.QueryParametersResponse: _fill_parameters,
    terminal.QueryAttributesResponse: _fill_attributes,
    areas.QueryAreasResponse: _fill_areas,
    tachograph.TachographUpload: _fill_tachograph,
    tachograph.DriverIdentityReport: _fill_driver_identity,
    multimedia.TakePhotoResponse: _fill_photo,
    multimedia.SearchMediaResponse: _fill_media_search,
}


__all__ = [
    "area_time_message",
    "circle_message",
    "fill_reply",
    "parameter_message",
    "polygon_message",
    "rectangle_message",
    "route_message",
]
