"""``SendCommandRequest`` commands as body dataclasses of the protocol core.

One converter per member of the ``command`` oneof, in a table with the message id it sends.
Converters refuse what a body cannot represent at all (no value, a negative coordinate, a time
of day past 23:59:59, a parameter value of the wrong kind or width) with
``InvalidCommandError``, whose message names the request field. Integers too wide for their wire
field are left to the encoder, which raises ``EncodeError`` naming the body field when the
command is written in the terminal's revision.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime, time
from typing import Any, Final

from google.protobuf import timestamp_pb2

from gateway.protocol.bodies import areas, messaging, multimedia, tachograph, terminal, vehicle
from gateway.protocol.bodies.location import (
    ConfirmAlarm,
    LinkCheck,
    QueryLocation,
    TemporaryTracking,
)
from gateway.protocol.bodies.parameters import (
    PARAMETERS,
    Parameter,
    QueryAllParameters,
    QueryParameters,
    SetParameters,
)
from gateway.protocol.bodies.passthrough import DownlinkPassthrough
from gateway.protocol.body import Body, RawBody
from gateway.protocol.errors import EncodeError
from gateway.protocol.ids import MessageId
from jt808.gateway.v1 import commands_pb2, gateway_service_pb2

from .status import InvalidCommandError

#: Converts one oneof member (``path`` is its field path, for error messages) to its body.
Converter = Callable[[Any, str], Body]


@dataclass(frozen=True, slots=True)
class _Command:
    msg_id: int
    convert: Converter


# --------------------------------------------------------------------------------------------
# Shared pieces.


def _timestamp(value: timestamp_pb2.Timestamp, path: str) -> datetime:
    """An aware UTC datetime; the encoder writes it in the terminal's GMT+8 clock."""
    try:
        return value.ToDatetime(tzinfo=UTC)
    except (ValueError, OverflowError) as error:
        raise InvalidCommandError(path, f"not a valid time ({error})") from None


def _optional_timestamp(message: Any, name: str, path: str) -> datetime | None:
    """The Timestamp field ``name`` of ``message``, ``None`` when unset (no time filter)."""
    if not message.HasField(name):
        return None
    return _timestamp(getattr(message, name), f"{path}.{name}")


_TIME_OF_DAY_LIMITS: Final = (
    ("hours", "hour", 23),
    ("minutes", "minute", 59),
    ("seconds", "second", 59),
)


def _area_time(value: commands_pb2.AreaTime, path: str) -> datetime | time | None:
    """``at`` as an instant, ``daily`` as a time of day, unset as ``None`` (written as zeros)."""
    kind = value.WhichOneof("time")
    if kind == "at":
        return _timestamp(value.at, f"{path}.at")
    if kind == "daily":
        daily = value.daily
        for name, unit, limit in _TIME_OF_DAY_LIMITS:
            amount = getattr(daily, name)
            if amount > limit:
                raise InvalidCommandError(
                    f"{path}.daily.{name}", f"{amount} is not a valid {unit} (0-{limit})"
                )
        return time(daily.hours, daily.minutes, daily.seconds)
    return None


def _magnitude(value: int, path: str, hemisphere_bit: str) -> int:
    """A coordinate in millionths of a degree: the wire carries its size, the sign is a bit."""
    if value < 0:
        raise InvalidCommandError(
            path,
            f"{value} is negative; give the distance from the equator or meridian and set "
            f"{hemisphere_bit} for the southern or western hemisphere",
        )
    return value


_AREA_SOUTH: Final = "attribute bit 6 (south) or 7 (west)"
_SECTION_SOUTH: Final = "section_attribute bit 2 (south) or 3 (west)"


# --------------------------------------------------------------------------------------------
# Parameters (0x8103).

_UNSIGNED_KINDS: Final = frozenset({"BYTE", "WORD", "DWORD"})
_UNSIGNED_LIMITS: Final = {"BYTE": 0xFF, "WORD": 0xFFFF, "DWORD": 0xFFFFFFFF}
_MAX_PARAMETER_BYTES: Final = 0xFF


def _parameter(value: commands_pb2.Parameter, path: str) -> Parameter:
    kind = value.WhichOneof("value")
    if kind is None:
        raise InvalidCommandError(
            path, "no value given; set uint_value, string_value or bytes_value"
        )
    if kind == "bytes_value":
        if len(value.bytes_value) > _MAX_PARAMETER_BYTES:
            raise InvalidCommandError(
                f"{path}.bytes_value",
                f"{len(value.bytes_value)} bytes; a parameter value holds at most 255",
            )
        return Parameter(id=value.id, raw=value.bytes_value)
    spec = PARAMETERS.get(value.id)
    if spec is None:
        raise InvalidCommandError(
            f"{path}.id",
            f"0x{value.id:04X} is not a parameter of the standard, so its wire type is unknown; "
            "give its value as bytes_value",
        )
    wire_type = spec.type.describe()
    about = f"parameter 0x{value.id:04X} ({spec.name}) is a {wire_type}"
    if kind == "uint_value":
        if wire_type not in _UNSIGNED_KINDS:
            raise InvalidCommandError(f"{path}.uint_value", f"{about}; {_right_field(wire_type)}")
        limit = _UNSIGNED_LIMITS[wire_type]
        if value.uint_value > limit:
            raise InvalidCommandError(
                f"{path}.uint_value", f"{value.uint_value} does not fit: {about} (0-{limit})"
            )
        return Parameter.of(value.id, value.uint_value)
    if wire_type != "STRING":
        raise InvalidCommandError(f"{path}.string_value", f"{about}; {_right_field(wire_type)}")
    try:
        return Parameter.of(value.id, value.string_value)
    except EncodeError as error:  # longer than 255 bytes
        raise InvalidCommandError(f"{path}.string_value", f"{about}: {error}") from None


def _right_field(wire_type: str) -> str:
    if wire_type in _UNSIGNED_KINDS:
        return "give uint_value"
    if wire_type == "STRING":
        return "give string_value"
    return "give bytes_value"


def _set_parameters(value: commands_pb2.SetParameters, path: str) -> SetParameters:
    return SetParameters(
        parameters=[
            _parameter(item, f"{path}.parameters[{index}]")
            for index, item in enumerate(value.parameters)
        ]
    )


# --------------------------------------------------------------------------------------------
# Terminal, location, messaging.


def _terminal_control(value: commands_pb2.TerminalControl, path: str) -> terminal.TerminalControl:
    return terminal.TerminalControl(command=value.command, fields=list(value.parameters))


def _upgrade_package(value: commands_pb2.UpgradePackage, path: str) -> terminal.UpgradePackage:
    return terminal.UpgradePackage(
        upgrade_type=value.upgrade_type,
        manufacturer_id=value.manufacturer_id,
        version=value.version,
        package=value.package,
    )


def _temporary_tracking(value: commands_pb2.TemporaryTracking, path: str) -> TemporaryTracking:
    return TemporaryTracking(interval_s=value.interval_s, validity_s=value.validity_s)


def _confirm_alarm(value: commands_pb2.ConfirmAlarm, path: str) -> ConfirmAlarm:
    return ConfirmAlarm(alarm_serial=value.alarm_serial, alarm_types=value.alarm_types)


def _text_message(value: commands_pb2.TextMessage, path: str) -> messaging.TextMessage:
    # text_type 0 means "not given" (proto3 cannot tell): 2019 terminals get a notice.
    text_type = value.text_type or messaging.TextType.NOTIFICATION
    return messaging.TextMessage(flag=value.flags, text_type=text_type, text=value.text)


def _event_setting(value: commands_pb2.EventSetting, path: str) -> messaging.EventSetting:
    return messaging.EventSetting(
        set_type=value.set_type,
        events=[
            messaging.Event(event_id=event.event_id, content=event.content)
            for event in value.events
        ],
    )


def _question(value: commands_pb2.Question, path: str) -> messaging.Question:
    return messaging.Question(
        flag=value.flags,
        question=value.question,
        answers=[
            messaging.Answer(answer_id=answer.answer_id, content=answer.content)
            for answer in value.answers
        ],
    )


def _info_menu_setting(value: commands_pb2.InfoMenuSetting, path: str) -> messaging.InfoMenuSetting:
    return messaging.InfoMenuSetting(
        set_type=value.set_type,
        items=[
            messaging.InfoMenuItem(info_type=item.info_type, name=item.name) for item in value.items
        ],
    )


def _info_service(value: commands_pb2.InfoService, path: str) -> messaging.InfoService:
    return messaging.InfoService(info_type=value.info_type, content=value.content)


def _call_back(value: commands_pb2.CallBack, path: str) -> messaging.CallBack:
    return messaging.CallBack(flag=value.flag, phone=value.phone_number)


def _set_phone_book(value: commands_pb2.SetPhoneBook, path: str) -> messaging.SetPhoneBook:
    return messaging.SetPhoneBook(
        set_type=value.set_type,
        contacts=[
            messaging.Contact(flag=contact.flag, phone=contact.phone_number, name=contact.name)
            for contact in value.contacts
        ],
    )


def _vehicle_control(value: commands_pb2.VehicleControl, path: str) -> vehicle.VehicleControl:
    items = []
    for index, item in enumerate(value.items):
        if item.control_type not in vehicle.CONTROL_PARAMETERS:
            raise InvalidCommandError(
                f"{path}.items[{index}].control_type",
                f"0x{item.control_type:04X} has no parameter layout in the standard (only "
                "0x0001, door); send a vendor control as a raw command",
            )
        items.append(vehicle.ControlItem(control_type=item.control_type, parameter=item.parameter))
    return vehicle.VehicleControl(control_flags=value.control_flags, items=items)


# --------------------------------------------------------------------------------------------
# Areas and routes.


def _circle(value: commands_pb2.CircleArea, path: str) -> areas.CircleArea:
    return areas.CircleArea(
        area_id=value.area_id,
        attribute=value.attribute,
        latitude_e6=_magnitude(value.latitude_e6, f"{path}.latitude_e6", _AREA_SOUTH),
        longitude_e6=_magnitude(value.longitude_e6, f"{path}.longitude_e6", _AREA_SOUTH),
        radius_m=value.radius_m,
        start_time=_area_time(value.start_time, f"{path}.start_time"),
        end_time=_area_time(value.end_time, f"{path}.end_time"),
        max_speed_kmh=value.max_speed_kmh,
        overspeed_duration_s=value.overspeed_duration_s,
        night_max_speed_kmh=value.night_max_speed_kmh,
        name=value.name,
    )


def _rectangle(value: commands_pb2.RectangleArea, path: str) -> areas.RectangleArea:
    corners = {
        name: _magnitude(getattr(value, name), f"{path}.{name}", _AREA_SOUTH)
        for name in (
            "top_left_latitude_e6",
            "top_left_longitude_e6",
            "bottom_right_latitude_e6",
            "bottom_right_longitude_e6",
        )
    }
    return areas.RectangleArea(
        area_id=value.area_id,
        attribute=value.attribute,
        **corners,
        start_time=_area_time(value.start_time, f"{path}.start_time"),
        end_time=_area_time(value.end_time, f"{path}.end_time"),
        max_speed_kmh=value.max_speed_kmh,
        overspeed_duration_s=value.overspeed_duration_s,
        night_max_speed_kmh=value.night_max_speed_kmh,
        name=value.name,
    )


def _set_circle_areas(value: commands_pb2.SetCircleAreas, path: str) -> areas.SetCircleAreas:
    return areas.SetCircleAreas(
        set_type=value.set_type,
        areas=[_circle(area, f"{path}.areas[{i}]") for i, area in enumerate(value.areas)],
    )


def _set_rectangle_areas(
    value: commands_pb2.SetRectangleAreas, path: str
) -> areas.SetRectangleAreas:
    return areas.SetRectangleAreas(
        set_type=value.set_type,
        areas=[_rectangle(area, f"{path}.areas[{i}]") for i, area in enumerate(value.areas)],
    )


def _vertex(value: commands_pb2.Vertex, path: str) -> areas.Vertex:
    return areas.Vertex(
        latitude_e6=_magnitude(value.latitude_e6, f"{path}.latitude_e6", _AREA_SOUTH),
        longitude_e6=_magnitude(value.longitude_e6, f"{path}.longitude_e6", _AREA_SOUTH),
    )


def _set_polygon_area(value: commands_pb2.SetPolygonArea, path: str) -> areas.SetPolygonArea:
    return areas.SetPolygonArea(
        area_id=value.area_id,
        attribute=value.attribute,
        start_time=_area_time(value.start_time, f"{path}.start_time"),
        end_time=_area_time(value.end_time, f"{path}.end_time"),
        max_speed_kmh=value.max_speed_kmh,
        overspeed_duration_s=value.overspeed_duration_s,
        vertices=[_vertex(v, f"{path}.vertices[{i}]") for i, v in enumerate(value.vertices)],
        night_max_speed_kmh=value.night_max_speed_kmh,
        name=value.name,
    )


def _turn_point(value: commands_pb2.TurnPoint, path: str) -> areas.TurnPoint:
    return areas.TurnPoint(
        turn_point_id=value.turn_point_id,
        section_id=value.section_id,
        latitude_e6=_magnitude(value.latitude_e6, f"{path}.latitude_e6", _SECTION_SOUTH),
        longitude_e6=_magnitude(value.longitude_e6, f"{path}.longitude_e6", _SECTION_SOUTH),
        section_width_m=value.section_width_m,
        section_attribute=value.section_attribute,
        too_long_threshold_s=value.too_long_threshold_s,
        too_short_threshold_s=value.too_short_threshold_s,
        max_speed_kmh=value.max_speed_kmh,
        overspeed_duration_s=value.overspeed_duration_s,
        night_max_speed_kmh=value.night_max_speed_kmh,
    )


def _set_route(value: commands_pb2.SetRoute, path: str) -> areas.SetRoute:
    return areas.SetRoute(
        route_id=value.route_id,
        attribute=value.attribute,
        start_time=_area_time(value.start_time, f"{path}.start_time"),
        end_time=_area_time(value.end_time, f"{path}.end_time"),
        turn_points=[
            _turn_point(point, f"{path}.turn_points[{i}]")
            for i, point in enumerate(value.turn_points)
        ],
        name=value.name,
    )


def _query_areas(value: commands_pb2.QueryAreas, path: str) -> areas.QueryAreas:
    return areas.QueryAreas(query_type=value.query_type, ids=list(value.ids))


# --------------------------------------------------------------------------------------------
# Tachograph, multimedia, pass-through, raw.


def _tachograph_collect(
    value: commands_pb2.TachographCollect, path: str
) -> tachograph.TachographCollect:
    return tachograph.TachographCollect(command=value.command, data=value.data)


def _tachograph_parameters(
    value: commands_pb2.TachographParameters, path: str
) -> tachograph.TachographParameterDownload:
    return tachograph.TachographParameterDownload(command=value.command, data=value.data)


def _take_photo(value: commands_pb2.TakePhoto, path: str) -> multimedia.TakePhoto:
    return multimedia.TakePhoto(
        channel_id=value.channel_id,
        command=value.command,
        interval_s=value.interval_s,
        save=value.save,
        resolution=value.resolution,
        quality=value.quality,
        brightness=value.brightness,
        contrast=value.contrast,
        saturation=value.saturation,
        chroma=value.chroma,
    )


def _search_media(value: commands_pb2.SearchMedia, path: str) -> multimedia.SearchMedia:
    return multimedia.SearchMedia(
        media_type=value.media_type,
        channel_id=value.channel_id,
        event=value.event,
        start_time=_optional_timestamp(value, "start_time", path),
        end_time=_optional_timestamp(value, "end_time", path),
    )


def _upload_stored_media(
    value: commands_pb2.UploadStoredMedia, path: str
) -> multimedia.UploadStoredMedia:
    return multimedia.UploadStoredMedia(
        media_type=value.media_type,
        channel_id=value.channel_id,
        event=value.event,
        start_time=_optional_timestamp(value, "start_time", path),
        end_time=_optional_timestamp(value, "end_time", path),
        delete=value.delete,
    )


def _start_recording(value: commands_pb2.StartRecording, path: str) -> multimedia.StartRecording:
    return multimedia.StartRecording(
        command=value.command,
        duration_s=value.duration_s,
        save=value.save,
        sample_rate=value.sample_rate,
    )


def _upload_one_media(value: commands_pb2.UploadOneMedia, path: str) -> multimedia.UploadOneMedia:
    return multimedia.UploadOneMedia(media_id=value.media_id, delete=value.delete)


def _downlink_passthrough(
    value: commands_pb2.DownlinkPassthrough, path: str
) -> DownlinkPassthrough:
    return DownlinkPassthrough(type=value.type, data=value.data)


RAW_IDS: Final = range(0x8000, 0x10000)


def _raw(value: commands_pb2.RawCommand, path: str) -> RawBody:
    if value.msg_id not in RAW_IDS:
        raise InvalidCommandError(
            f"{path}.msg_id",
            f"0x{value.msg_id:04X} is not a platform-to-terminal message id (0x8000-0xFFFF)",
        )
    return RawBody(raw=value.body)


def _empty(body: type[Body]) -> Converter:
    """The converter of a command without fields."""
    return lambda _value, _path: body()


_M = MessageId

#: Each member of the ``command`` oneof: the id it is sent with and its converter. ``raw``
#: takes its id from the request.
_COMMANDS: Final[dict[str, _Command]] = {
    "text_message": _Command(_M.TEXT_MESSAGE, _text_message),
    "set_parameters": _Command(_M.SET_PARAMETERS, _set_parameters),
    "query_all_parameters": _Command(_M.QUERY_ALL_PARAMETERS, _empty(QueryAllParameters)),
    "query_parameters": _Command(
        _M.QUERY_PARAMETERS, lambda value, _path: QueryParameters(ids=list(value.ids))
    ),
    "terminal_control": _Command(_M.TERMINAL_CONTROL, _terminal_control),
    "query_attributes": _Command(_M.QUERY_ATTRIBUTES, _empty(terminal.QueryAttributes)),
    "upgrade_package": _Command(_M.UPGRADE_PACKAGE, _upgrade_package),
    "query_location": _Command(_M.QUERY_LOCATION, _empty(QueryLocation)),
    "temporary_tracking": _Command(_M.TEMPORARY_TRACKING, _temporary_tracking),
    "confirm_alarm": _Command(_M.CONFIRM_ALARM, _confirm_alarm),
    "link_check": _Command(_M.LINK_CHECK, _empty(LinkCheck)),
    "event_setting": _Command(_M.EVENT_SETTING, _event_setting),
    "question": _Command(_M.QUESTION, _question),
    "info_menu_setting": _Command(_M.INFO_MENU_SETTING, _info_menu_setting),
    "info_service": _Command(_M.INFO_SERVICE, _info_service),
    "call_back": _Command(_M.CALL_BACK, _call_back),
    "set_phone_book": _Command(_M.SET_PHONE_BOOK, _set_phone_book),
    "vehicle_control": _Command(_M.VEHICLE_CONTROL, _vehicle_control),
    "set_circle_areas": _Command(_M.SET_CIRCLE_AREAS, _set_circle_areas),
    "delete_circle_areas": _Command(
        _M.DELETE_CIRCLE_AREAS,
        lambda value, _path: areas.DeleteCircleAreas(area_ids=list(value.area_ids)),
    ),
    "set_rectangle_areas": _Command(_M.SET_RECTANGLE_AREAS, _set_rectangle_areas),
    "delete_rectangle_areas": _Command(
        _M.DELETE_RECTANGLE_AREAS,
        lambda value, _path: areas.DeleteRectangleAreas(area_ids=list(value.area_ids)),
    ),
    "set_polygon_area": _Command(_M.SET_POLYGON_AREA, _set_polygon_area),
    "delete_polygon_areas": _Command(
        _M.DELETE_POLYGON_AREAS,
        lambda value, _path: areas.DeletePolygonAreas(area_ids=list(value.area_ids)),
    ),
    "set_route": _Command(_M.SET_ROUTE, _set_route),
    "delete_routes": _Command(
        _M.DELETE_ROUTES, lambda value, _path: areas.DeleteRoutes(route_ids=list(value.route_ids))
    ),
    "query_areas": _Command(_M.QUERY_AREAS, _query_areas),
    "tachograph_collect": _Command(_M.TACHOGRAPH_COLLECT, _tachograph_collect),
    "tachograph_parameters": _Command(_M.TACHOGRAPH_SET, _tachograph_parameters),
    "request_driver_identity": _Command(
        _M.REQUEST_DRIVER_IDENTITY, _empty(tachograph.RequestDriverIdentity)
    ),
    "take_photo": _Command(_M.TAKE_PHOTO, _take_photo),
    "search_media": _Command(_M.SEARCH_MEDIA, _search_media),
    "upload_stored_media": _Command(_M.UPLOAD_STORED_MEDIA, _upload_stored_media),
    "start_recording": _Command(_M.START_RECORDING, _start_recording),
    "upload_one_media": _Command(_M.UPLOAD_ONE_MEDIA, _upload_one_media),
    "downlink_passthrough": _Command(_M.DOWNLINK_PASSTHROUGH, _downlink_passthrough),
}

#: Oneof member name -> the message id it is sent with (``raw`` is absent: its id is in the
#: request, see ``command_body``).
COMMAND_IDS: Final[dict[str, int]] = {name: int(c.msg_id) for name, c in _COMMANDS.items()}


def command_body(request: gateway_service_pb2.SendCommandRequest) -> tuple[Body, int]:
    """The body and message id of the request's command.

    Raises ``InvalidCommandError`` when no command is set or a field cannot be represented.
    """
    name = request.WhichOneof("command")
    if name is None:
        raise InvalidCommandError(
            "command",
            "no command given; set one member of the `command` oneof (text_message, "
            "set_parameters, query_location, ..., raw)",
        )
    if name == "raw":
        return _raw(request.raw, "raw"), request.raw.msg_id
    command = _COMMANDS[name]
    return command.convert(getattr(request, name), name), int(command.msg_id)


__all__ = ["COMMAND_IDS", "RAW_IDS", "InvalidCommandError", "command_body"]
