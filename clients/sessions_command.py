"""``jt808 sessions list | get PHONE | disconnect PHONE``: the terminals connected now."""

from __future__ import annotations

import argparse

from jt808.gateway.v1 import gateway_service_pb2 as api

from .client_options import Output, add_client_options, client_from, run_client
from .exit_status import EXIT_STATUS_HELP, ExitCode, one_line_errors
from .sdk.views import SESSION_HEADER, message_dict, session_text

EPILOG = f"""\
examples:
  jt808 sessions list
  jt808 sessions list --gateway 10.0.0.5:50051 --token "$TOKEN" --json | jq -r .phone
  jt808 sessions get 013912345678
  jt808 sessions disconnect 013912345678

{EXIT_STATUS_HELP}
"""


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.epilog = EPILOG
    parser.formatter_class = argparse.RawDescriptionHelpFormatter
    one_line_errors(parser)
    actions = parser.add_subparsers(dest="action", metavar="ACTION", required=True)
    listing = actions.add_parser("list", help="every authenticated session, one per line")
    add_client_options(listing, json_help="one Session per line (proto3 JSON)")
    get = actions.add_parser("get", help="one terminal's session in detail")
    get.add_argument("phone", metavar="PHONE")
    add_client_options(get, json_help="the Session as one JSON object")
    disconnect = actions.add_parser(
        "disconnect", help="close a terminal's connection (it may reconnect)"
    )
    disconnect.add_argument("phone", metavar="PHONE")
    add_client_options(disconnect, json_help="print {} once done")


def run(args: argparse.Namespace) -> int:
    async def main() -> int:
        out = Output(args.json)
        async with client_from(args) as client:
            if args.action == "list":
                sessions = await client.list_sessions()
                if sessions:
                    out.text(SESSION_HEADER)
                for session in sessions:
                    out.message(session, session_text)
            elif args.action == "get":
                session = await client.get_session(args.phone)
                out.message(session, _detail)
            else:
                await client.disconnect(args.phone)
                out.message(api.DisconnectSessionResponse(), f"disconnected {args.phone}")
        return ExitCode.OK

    return run_client("sessions", main)


def _detail(session: api.Session) -> str:
    view = message_dict(session)
    width = max(len(key) for key in view)
    return "\n".join(f"{key.ljust(width)}  {value}" for key, value in view.items())
