"""``jt808 stream [--phone P ...]``: live positions, one line each, until interrupted."""

from __future__ import annotations

import argparse

from .client_options import add_client_options, add_phone_filter, follow
from .exit_status import EXIT_STATUS_HELP
from .sdk.views import location_text

EPILOG = f"""\
Runs until interrupted (Ctrl-C or SIGTERM end it with exit status 0). When the connection to the
gateway drops, it reconnects and says so on stderr; positions the gateway could not deliver
because this reader fell behind are reported on stderr too.

examples:
  jt808 stream
  jt808 stream --phone 013912345678 --phone 013912345679
  jt808 stream --json | jq -c '{{phone, latitude, longitude, speed_kmh}}'

{EXIT_STATUS_HELP}
"""


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.epilog = EPILOG
    parser.formatter_class = argparse.RawDescriptionHelpFormatter
    add_phone_filter(parser)
    add_client_options(parser, json_help="one Location per line (proto3 JSON, proto field names)")


def run(args: argparse.Namespace) -> int:
    return follow(
        "stream",
        args,
        lambda client, notes: client.locations(args.phone, **notes._asdict()),
        location_text,
    )
