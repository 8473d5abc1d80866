"""Building ``SendCommandRequest`` commands from what a person or a program has at hand.

Every command message of ``jt808.gateway.v1`` (``TextMessage``, ``TakePhoto``, ``RawCommand``
...) fills the request's ``command`` oneof; ``COMMAND_FIELDS`` maps each message type to its
oneof field, read from the proto descriptor so a command added to the proto is known at once.
Parameters (0x8103/0x8106) are named as in the standard's table (``heartbeat_interval``) or by
id, and their values are typed from that table.
"""

from __future__ import annotations

import datetime
from collections.abc import Iterable, Mapping
from typing import Final, TypeAlias

from google.protobuf.duration_pb2 import Duration
from google.protobuf.message import Message

from gateway.protocol.bodies.parameters import PARAMETERS, ParameterSpec
from gateway.protocol.bodies.terminal import TerminalCommand
from jt808.gateway.v1 import commands_pb2
from jt808.gateway.v1 import gateway_service_pb2 as api

from .errors import InvalidRequestError

#: Any command message of the ``command`` oneof.
Command: TypeAlias = (
    commands_pb2.TextMessage
    | commands_pb2.SetParameters
    | commands_pb2.QueryAllParameters
    | commands_pb2.QueryParameters
    | commands_pb2.TerminalControl
    | commands_pb2.QueryAttributes
    | commands_pb2.UpgradePackage
    | commands_pb2.QueryLocation
    | commands_pb2.TemporaryTracking
    | commands_pb2.ConfirmAlarm
    | commands_pb2.LinkCheck
    | commands_pb2.EventSetting
    | commands_pb2.Question
    | commands_pb2.InfoMenuSetting
    | commands_pb2.InfoService
    | commands_pb2.CallBack
    | commands_pb2.SetPhoneBook
    | commands_pb2.VehicleControl
    | commands_pb2.SetCircleAreas
    | commands_pb2.DeleteCircleAreas
    | commands_pb2.SetRectangleAreas
    | commands_pb2.DeleteRectangleAreas
    | commands_pb2.SetPolygonArea
    | commands_pb2.DeletePolygonAreas
    | commands_pb2.SetRoute
    | commands_pb2.DeleteRoutes
    | commands_pb2.QueryAreas
    | commands_pb2.TachographCollect
    | commands_pb2.TachographParameters
    | commands_pb2.RequestDriverIdentity
    | commands_pb2.TakePhoto
    | commands_pb2.SearchMedia
    | commands_pb2.UploadStoredMedia
    | commands_pb2.StartRecording
    | commands_pb2.UploadOneMedia
    | commands_pb2.DownlinkPassthrough
    | commands_pb2.RawCommand
)

_ONEOF: Final = api.SendCommandRequest.DESCRIPTOR.oneofs_by_name["command"]
#: Command message full name -> its field in ``SendCommandRequest.command``.
COMMAND_FIELDS: Final[dict[str, str]] = {
    field.message_type.full_name: field.name
    for field in _ONEOF.fields
    if field.message_type is not None
}
#: The gateway refuses longer waits.
MAX_TIMEOUT_S: Final = 600.0

#: A parameter value in its natural type: a number, text, or bytes (byte arrays, vendor ids).
ParameterValue: TypeAlias = int | str | bytes
_PARAMETER_IDS: Final[dict[str, int]] = {}
for _id, _spec in sorted(PARAMETERS.items()):
    _PARAMETER_IDS.setdefault(_spec.name, _id)  # can_id_collection: its first id, 0x0110

#: ``terminal_control`` commands by name (0x8105, 2019 table 21).
CONTROL_COMMANDS: Final[dict[str, int]] = {
    command.name.lower().replace("_", "-"): int(command) for command in TerminalCommand
}


def command_request(
    phone: str, command: Command, *, timeout: float | None = None
) -> api.SendCommandRequest:
    """The ``SendCommandRequest`` carrying ``command`` for ``phone``."""
    field = COMMAND_FIELDS.get(command.DESCRIPTOR.full_name)
    if field is None:
        raise InvalidRequestError(f"{type(command).__name__} is not a command of the gateway")
    request = api.SendCommandRequest(phone=phone)
    getattr(request, field).CopyFrom(command)
    if timeout is not None:
        if not 0 < timeout <= MAX_TIMEOUT_S:
            raise InvalidRequestError(f"timeout {timeout:g} s is outside (0, 600] seconds")
        request.timeout.CopyFrom(_duration(timeout))
    return request


def _duration(seconds: float) -> Duration:
    duration = Duration()
    duration.FromTimedelta(datetime.timedelta(seconds=seconds))
    return duration


def command_of(request: api.SendCommandRequest) -> Message | None:
    """The command message a request carries (``None`` when it carries none)."""
    field = request.WhichOneof("command")
    return None if field is None else getattr(request, field)


# --------------------------------------------------------------------------------------------
# Parameters


def parameter_id(key: int | str) -> int:
    """The id of a parameter given by id (``1``, ``"0x0001"``) or name
    (``"heartbeat_interval"``, as in the standard's table)."""
    if isinstance(key, int):
        if not 0 <= key <= 0xFFFFFFFF:
            raise InvalidRequestError(f"parameter id {key} is outside 0..0xFFFFFFFF")
        return key
    text = key.strip()
    known = _PARAMETER_IDS.get(text.lower().replace("-", "_"))
    if known is not None:
        return known
    try:
        return parameter_id(_integer_text(text))
    except ValueError:
        raise InvalidRequestError(
            f"unknown parameter {_shown(text)}: give a name of the standard's table "
            "(e.g. heartbeat_interval) or an id (e.g. 0x0001)"
        ) from None


def parameter_spec(parameter: int) -> ParameterSpec | None:
    """Name and wire type of a parameter id of the standard (``None`` for vendor ids)."""
    return PARAMETERS.get(parameter)


def parameter(key: int | str, value: ParameterValue) -> commands_pb2.Parameter:
    """One 0x8103 item. Values of the standard's ids may be text as typed on a command line
    (``"30"`` for a DWORD, hex for a byte array); vendor ids take bytes (or hex text)."""
    pid = parameter_id(key)
    spec = PARAMETERS.get(pid)
    label = f"0x{pid:04X}" if spec is None else f"{spec.name} (0x{pid:04X})"
    if isinstance(value, bytes):
        return commands_pb2.Parameter(id=pid, bytes_value=value)
    wire_type = "BYTES" if spec is None else spec.type.describe()
    if wire_type in ("BYTE", "WORD", "DWORD"):
        number = value if isinstance(value, int) else _integer(value, label)
        if isinstance(number, bool) or not 0 <= number < 1 << (8 * _WIDTH[wire_type]):
            raise InvalidRequestError(f"{label} is a {wire_type}: {number!r} does not fit")
        return commands_pb2.Parameter(id=pid, uint_value=number)
    if wire_type == "STRING":
        return commands_pb2.Parameter(id=pid, string_value=str(value))
    if isinstance(value, int):
        raise InvalidRequestError(f"{label} takes bytes (hex), not a number")
    return commands_pb2.Parameter(id=pid, bytes_value=hex_bytes(value, label))


_WIDTH: Final = {"BYTE": 1, "WORD": 2, "DWORD": 4}


def set_parameters(values: Mapping[int | str, ParameterValue]) -> commands_pb2.SetParameters:
    """0x8103 from ``{name or id: value}``."""
    if not values:
        raise InvalidRequestError("set parameters: give at least one name=value")
    return commands_pb2.SetParameters(parameters=[parameter(k, v) for k, v in values.items()])


def query_parameters(
    keys: Iterable[int | str] = (),
) -> commands_pb2.QueryParameters | commands_pb2.QueryAllParameters:
    """0x8106 for the given parameters, 0x8104 (all of them) when none are given."""
    ids = [parameter_id(key) for key in keys]
    if not ids:
        return commands_pb2.QueryAllParameters()
    return commands_pb2.QueryParameters(ids=ids)


def parameter_value(item: commands_pb2.Parameter) -> ParameterValue:
    """A reply's parameter value in its natural type (raw bytes for unknown or odd values)."""
    spec = PARAMETERS.get(item.id)
    if spec is not None:
        decoded = spec.type.decode(item.raw)
        if isinstance(decoded, int | str | bytes):
            return decoded
    return bytes(item.raw)


# --------------------------------------------------------------------------------------------
# Terminal control, raw messages


def terminal_control(
    command: int | str, parameters: Iterable[str] = ()
) -> commands_pb2.TerminalControl:
    """0x8105 by number or name (``reset``, ``factory-reset``, ``connect-server`` ...)."""
    if isinstance(command, str):
        name = command.strip().lower().replace("_", "-")
        number = CONTROL_COMMANDS.get(name)
        if number is None:
            try:
                number = _integer_text(name)
            except ValueError:
                raise InvalidRequestError(
                    f"unknown control command {_shown(command)}; one of "
                    f"{', '.join(CONTROL_COMMANDS)} or a number"
                ) from None
        command = number
    if not 0 <= command <= 0xFF:
        raise InvalidRequestError(f"control command {command} is outside 0..255")
    return commands_pb2.TerminalControl(command=command, parameters=list(parameters))


def raw_command(msg_id: int | str, body: bytes | str = b"") -> commands_pb2.RawCommand:
    """Any platform message: ``msg_id`` (0x8000-0xFFFF) and its body (bytes or hex text)."""
    if isinstance(msg_id, str):
        msg_id = _integer(msg_id, "message id")
    if not 0x8000 <= msg_id <= 0xFFFF:
        raise InvalidRequestError(
            f"message id 0x{msg_id:X} is not a platform message (0x8000-0xFFFF)"
        )
    data = body if isinstance(body, bytes) else hex_bytes(body, "body")
    return commands_pb2.RawCommand(msg_id=msg_id, body=data)


def hex_bytes(text: str, label: str) -> bytes:
    """Bytes from hex text (spaces, colons and a leading ``0x`` allowed)."""
    cleaned = "".join(text.split()).replace(":", "")
    if cleaned[:2].lower() == "0x":
        cleaned = cleaned[2:]
    try:
        return bytes.fromhex(cleaned)
    except ValueError:
        raise InvalidRequestError(f"{label}: {_shown(text)} is not hex bytes") from None


def _integer_text(text: str) -> int:
    """Decimal, or hex with ``0x`` (leading zeros allowed in both, unlike ``int(text, 0)``)."""
    text = text.strip()
    return int(text[2:], 16) if text[:2].lower() == "0x" else int(text, 10)


def _integer(text: str, label: str) -> int:
    try:
        return _integer_text(text)
    except ValueError:
        raise InvalidRequestError(f"{label}: {_shown(text)} is not a number") from None


def _shown(text: str) -> str:
    """User text quoted for a message, cut short (it may be anything)."""
    return repr(text if len(text) <= 40 else text[:39] + "…")
