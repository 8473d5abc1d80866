"""``jt808 events [--phone P ...] [--kind K ...]``: session events and terminal messages."""

from __future__ import annotations

import argparse
from typing import Final

from jt808.gateway.v1 import gateway_service_pb2 as api

from .client_options import add_client_options, add_phone_filter, follow
from .exit_status import EXIT_STATUS_HELP
from .sdk.views import event_text

#: --kind names: the EventKind values without their prefix, lower case.
KINDS: Final[dict[str, api.EventKind.ValueType]] = {
    name.removeprefix("EVENT_KIND_").lower().replace("_", "-"): value
    for name, value in api.EventKind.items()
    if value != api.EVENT_KIND_UNSPECIFIED
}


def event_kind(text: str) -> api.EventKind.ValueType:
    """A --kind value: ``authenticated``, ``logged-out``, ``EVENT_KIND_LOGGED_OUT`` ..."""
    name = text.strip().lower().removeprefix("event_kind_").replace("_", "-")
    if name not in KINDS:
        raise argparse.ArgumentTypeError(f"{text!r} is not one of {', '.join(KINDS)}")
    return KINDS[name]


EPILOG = f"""\
kinds: {", ".join(KINDS)}

Runs until interrupted (Ctrl-C or SIGTERM end it with exit status 0), reconnecting when the
connection to the gateway drops (said on stderr).

examples:
  jt808 events
  jt808 events --kind authenticated --kind disconnected
  jt808 events --phone 013912345678 --kind message --json | jq -r .body_json

{EXIT_STATUS_HELP}
"""


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.epilog = EPILOG
    parser.formatter_class = argparse.RawDescriptionHelpFormatter
    add_phone_filter(parser)
    parser.add_argument(
        "--kind",
        action="append",
        default=[],
        type=event_kind,
        metavar="KIND",
        help="only this kind of event (repeat for more); default: every kind",
    )
    add_client_options(parser, json_help="one Event per line (proto3 JSON, proto field names)")


def run(args: argparse.Namespace) -> int:
    return follow(
        "events",
        args,
        lambda client, notes: client.events(args.phone, args.kind, **notes._asdict()),
        event_text,
    )
