"""``jt808 send PHONE COMMAND [ARGS]``: one command to a terminal, its reply printed.

The common commands have short forms (``text``, ``query-location``, ``query-params``,
``set-params``, ``control``, ``attributes``, ``raw``); every other command of the API is
named by its field in ``SendCommandRequest`` (``take-photo``, ``temporary-tracking`` ...) and
takes ``field=value`` pairs or one JSON object (the proto3 JSON of the command message).
"""

from __future__ import annotations

import argparse
import base64
import json
import sys
import textwrap
from collections.abc import Callable, Sequence
from typing import Any, Final

from google.protobuf import json_format
from google.protobuf.descriptor import FieldDescriptor
from google.protobuf.message import Message

from jt808.gateway.v1 import commands_pb2
from jt808.gateway.v1 import gateway_service_pb2 as api

from .client_options import Output, add_client_options, client_from, run_client
from .exit_status import EXIT_STATUS_HELP, ExitCode
from .sdk import (
    COMMAND_FIELDS,
    CONTROL_COMMANDS,
    Command,
    InvalidRequestError,
    parameter_value,
    query_parameters,
    raw_command,
    result_text,
    set_parameters,
    terminal_control,
)
from .sdk.commands import hex_bytes, parameter_spec
from .sdk.views import location_lines


def _column(text: str) -> str:
    """``text`` wrapped into the help's second column."""
    return textwrap.fill(
        text, width=96, initial_indent=" " * 32, subsequent_indent=" " * 32,
        break_on_hyphens=False,
    ).lstrip()  # fmt: skip


_OTHER_COMMANDS: Final = _column(
    ", ".join(sorted(name.replace("_", "-") for name in COMMAND_FIELDS.values()))
)
_CONTROLS: Final = _column(f"0x8105: {', '.join(CONTROL_COMMANDS)} or a number")

EPILOG = f"""\
commands:
  text TEXT...                  0x8300 text message, shown on the terminal's display
  query-location                0x8201, the terminal's current position
  query-params [NAME|ID ...]    0x8106 for the given parameters, 0x8104 (all) without
  set-params NAME=VALUE ...     0x8103; names from the standard's table (heartbeat_interval,
                                main_server_address, max_speed ...) or ids (0x0001=30)
  control COMMAND [PARAM ...]   {_CONTROLS}
  attributes                    0x8107, model, ids, firmware, radio
  raw MSG_ID [HEX]              any platform message id with the body given as hex
  FIELD [KEY=VALUE ... | JSON]  any other command by its SendCommandRequest field:
                                {_OTHER_COMMANDS}

examples:
  jt808 send 013912345678 text "hello"
  jt808 send 013912345678 query-location --json
  jt808 send 013912345678 query-params heartbeat_interval 0x0013
  jt808 send 013912345678 set-params heartbeat_interval=30 max_speed=100
  jt808 send 013912345678 control reset
  jt808 send 013912345678 raw 0x8300 0c68656c6c6f
  jt808 send 013912345678 temporary-tracking interval_s=10 validity_s=600
  jt808 send 013912345678 take-photo '{{"channel_id": 1, "command": 1, "resolution": 2}}'

The terminal's result (success, failure, unsupported ...) is printed; the exit status tells
whether it answered at all.
{EXIT_STATUS_HELP}
"""

#: The short forms: name -> builder of the command from its arguments.
Builder = Callable[[list[str]], Command]


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.epilog = EPILOG
    parser.formatter_class = argparse.RawDescriptionHelpFormatter
    parser.add_argument("phone", metavar="PHONE", help="the terminal's phone digits")
    parser.add_argument("command", metavar="COMMAND", help="what to send (see below)")
    parser.add_argument("arguments", nargs="*", metavar="ARG", help="the command's arguments")
    parser.add_argument(
        "--timeout",
        type=float,
        default=None,
        metavar="S",
        help="wait at most S seconds for the reply, retransmissions included "
        "(default: the gateway's --command-timeout, 30 s)",
    )
    add_client_options(parser, json_help="print the reply as one JSON object")


def run(args: argparse.Namespace) -> int:
    try:
        command = build_command(args.command, list(args.arguments))
    except InvalidRequestError as error:
        print(f"jt808 send: {error}", file=sys.stderr, flush=True)
        return ExitCode.USAGE

    async def main() -> int:
        async with client_from(args) as client:
            reply = await client.send(args.phone, command, timeout=args.timeout)
        print_reply(Output(args.json), args.phone, command, reply)
        return ExitCode.OK

    return run_client("send", main)


# --------------------------------------------------------------------------------------------
# Arguments -> command


def build_command(name: str, arguments: list[str]) -> Command:
    """The command ``name`` with its command-line ``arguments``."""
    key = name.strip().lower().replace("_", "-")
    short = _SHORT_FORMS.get(key)
    if short is not None:
        return short(arguments)
    field = key.replace("-", "_")
    if field not in _FIELD_TYPES:
        raise InvalidRequestError(
            f"unknown command {name!r}; see jt808 send --help for the commands"
        )
    message: Command = _FIELD_TYPES[field]()
    fill_message(message, arguments)
    return message


def _text(arguments: list[str]) -> Command:
    if not arguments:
        raise InvalidRequestError("text: give the text to send")
    return commands_pb2.TextMessage(flags=0b100, text=" ".join(arguments))


def _no_arguments(message: type[Command]) -> Builder:
    def build(arguments: list[str]) -> Command:
        if arguments:
            raise InvalidRequestError(f"this command takes no arguments, got {arguments[0]!r}")
        return message()

    return build


def _set_params(arguments: list[str]) -> Command:
    values: dict[int | str, int | str | bytes] = {}
    for argument in arguments:
        key, sep, value = argument.partition("=")
        if not sep or not key.strip():
            raise InvalidRequestError(
                f"set-params: {argument!r} is not NAME=VALUE (e.g. heartbeat_interval=30)"
            )
        values[key.strip()] = value
    return set_parameters(values)


def _control(arguments: list[str]) -> Command:
    if not arguments:
        raise InvalidRequestError(
            f"control: give a command ({', '.join(CONTROL_COMMANDS)}) or its number"
        )
    return terminal_control(arguments[0], arguments[1:])


def _raw(arguments: list[str]) -> Command:
    if not 1 <= len(arguments) <= 2:
        raise InvalidRequestError("raw: give MSG_ID and optionally the body as hex")
    return raw_command(arguments[0], arguments[1] if len(arguments) == 2 else "")


_SHORT_FORMS: Final[dict[str, Builder]] = {
    "text": _text,
    "query-location": _no_arguments(commands_pb2.QueryLocation),
    "query-params": query_parameters,
    "set-params": _set_params,
    "control": _control,
    "attributes": _no_arguments(commands_pb2.QueryAttributes),
    "raw": _raw,
}
_FIELD_TYPES: Final[dict[str, type[Any]]] = {
    field: type(getattr(api.SendCommandRequest(), field)) for field in COMMAND_FIELDS.values()
}


def fill_message(message: Message, arguments: Sequence[str]) -> None:
    """Set ``message`` from one JSON object or from ``field=value`` pairs (numbers in decimal
    or 0x-hex, bytes in hex, repeated values comma-separated, nested messages as JSON)."""
    name = type(message).__name__
    if len(arguments) == 1 and arguments[0].lstrip().startswith("{"):
        try:
            json_format.Parse(arguments[0], message)
        except json_format.ParseError as error:
            raise InvalidRequestError(f"{name}: {_first_line(error)}") from None
        return
    values: dict[str, Any] = {}
    fields = message.DESCRIPTOR.fields_by_name
    for argument in arguments:
        key, sep, text = argument.partition("=")
        key = key.strip()
        if not sep:
            raise InvalidRequestError(f"{name}: {argument!r} is not FIELD=VALUE or a JSON object")
        field = fields.get(key)
        if field is None:
            raise InvalidRequestError(
                f"{name} has no field {key!r}; its fields: {', '.join(fields)}"
            )
        values[key] = _json_value(field, text, f"{name}.{key}")
    try:
        json_format.ParseDict(values, message)
    except json_format.ParseError as error:
        raise InvalidRequestError(f"{name}: {_first_line(error)}") from None


def _json_value(field: Any, text: str, label: str) -> Any:
    """A command-line value as the proto3 JSON value of ``field``."""
    if field.type == FieldDescriptor.TYPE_MESSAGE:
        if field.message_type is not None and field.message_type.full_name.startswith(
            "google.protobuf."
        ):
            return text  # Timestamp, Duration: their JSON form is a string
        try:
            return json.loads(text)
        except ValueError:
            raise InvalidRequestError(f"{label}: give a JSON value, got {text!r}") from None
    repeated = field.is_repeated
    parts = [part for part in text.split(",") if part.strip()] if repeated else [text]
    values = [_scalar(field, part, label) for part in parts]
    return values if repeated else values[0]


_INTEGER_TYPES: Final = frozenset(
    {
        FieldDescriptor.TYPE_INT32,
        FieldDescriptor.TYPE_INT64,
        FieldDescriptor.TYPE_UINT32,
        FieldDescriptor.TYPE_UINT64,
        FieldDescriptor.TYPE_SINT32,
        FieldDescriptor.TYPE_SINT64,
        FieldDescriptor.TYPE_FIXED32,
        FieldDescriptor.TYPE_FIXED64,
        FieldDescriptor.TYPE_SFIXED32,
        FieldDescriptor.TYPE_SFIXED64,
    }
)


def _scalar(field: Any, text: str, label: str) -> Any:
    text = text.strip()
    if field.type in _INTEGER_TYPES:
        negative = text.startswith("-")
        digits = text[1:] if negative else text
        try:
            number = int(digits[2:], 16) if digits[:2].lower() == "0x" else int(digits, 10)
        except ValueError:
            raise InvalidRequestError(f"{label}: {text!r} is not a whole number") from None
        return -number if negative else number
    if field.type == FieldDescriptor.TYPE_BYTES:
        return base64.b64encode(hex_bytes(text, label)).decode()
    if field.type == FieldDescriptor.TYPE_BOOL:
        return text.lower() in ("1", "true", "yes", "on")
    if field.type in (FieldDescriptor.TYPE_DOUBLE, FieldDescriptor.TYPE_FLOAT):
        try:
            return float(text)
        except ValueError:
            raise InvalidRequestError(f"{label}: {text!r} is not a number") from None
    return text


def _first_line(error: Exception) -> str:
    return str(error).splitlines()[0] if str(error) else type(error).__name__


# --------------------------------------------------------------------------------------------
# Reply -> output


def print_reply(out: Output, phone: str, command: Command, reply: api.SendCommandResponse) -> None:
    out.message(reply, lambda answered: "\n".join(reply_lines(phone, command, answered)))


def reply_lines(phone: str, command: Command, reply: api.SendCommandResponse) -> list[str]:
    """The reply for a person: who answered what with which result, then its content."""
    field = COMMAND_FIELDS[command.DESCRIPTOR.full_name]
    retries = f", after {reply.retransmissions} retransmission(s)" if reply.retransmissions else ""
    lines = [
        f"terminal {phone} answered {field.replace('_', '-')} with 0x{reply.reply_msg_id:04X}: "
        f"{result_text(reply.result)} (serial {reply.command_serial}{retries})"
    ]
    kind = reply.WhichOneof("reply")
    if kind == "location":
        lines += location_lines(reply.location)
    elif kind == "parameters":
        for item in reply.parameters.parameters:
            spec = parameter_spec(item.id)
            label = f"{spec.name} (0x{item.id:04X})" if spec else f"0x{item.id:04X}"
            value = parameter_value(item)
            shown = value.hex() if isinstance(value, bytes) else repr(value)
            lines.append(f"  {label} = {shown}")
    elif kind == "raw_body":
        lines.append(f"  body {reply.raw_body.hex() or '(empty)'}")
    elif kind is not None:
        detail = json_format.MessageToDict(getattr(reply, kind), preserving_proto_field_name=True)
        for key, value in detail.items():
            lines.append(f"  {key}: {json.dumps(value, ensure_ascii=False)}")
    return lines
