# PYTHON_ARGCOMPLETE_OK
"""The ``jt808`` command line: one subcommand per module, registered in ``COMMANDS``.

Shell completion (bash, zsh): ``eval "$(register-python-argcomplete jt808)"``.
"""

from __future__ import annotations

import os

# gRPC's C core logs to stderr on its own (failed binds, lost connections); the commands say
# what went wrong in one line of their own. GRPC_VERBOSITY=debug brings the core's logs back.
os.environ.setdefault("GRPC_VERBOSITY", "NONE")

import argparse
import difflib
import importlib.metadata
import sys
from collections.abc import Callable, Sequence

import argcomplete

from gateway import native

from . import (
    dashboard_command,
    decode_command,
    devices_command,
    events_command,
    health_command,
    pki_command,
    send_command,
    serve_command,
    sessions_command,
    simulate_command,
    stream_command,
)
from .client_options import one_line_errors

#: name -> (help, add arguments, run). Each subcommand lives in its own module.
Command = tuple[str, Callable[[argparse.ArgumentParser], None], Callable[[argparse.Namespace], int]]

COMMANDS: dict[str, Command] = {
    "serve": (serve_command.HELP, serve_command.add_arguments, serve_command.run),
    "devices": (devices_command.HELP, devices_command.add_arguments, devices_command.run),
    "decode": (decode_command.HELP, decode_command.add_arguments, decode_command.run),
    "simulate": (simulate_command.HELP, simulate_command.add_arguments, simulate_command.run),
    "send": (send_command.HELP, send_command.add_arguments, send_command.run),
    "stream": (stream_command.HELP, stream_command.add_arguments, stream_command.run),
    "events": (events_command.HELP, events_command.add_arguments, events_command.run),
    "sessions": (sessions_command.HELP, sessions_command.add_arguments, sessions_command.run),
    "dashboard": (dashboard_command.HELP, dashboard_command.add_arguments, dashboard_command.run),
    "health": (health_command.HELP, health_command.add_arguments, health_command.run),
    "pki": (pki_command.HELP, pki_command.add_arguments, pki_command.run),
}


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="jt808", description="JT/T 808 gateway, terminal simulator and protocol tools."
    )
    parser.add_argument("--version", action="version", version=f"jt808 {version()}")
    one_line_errors(parser)
    commands = parser.add_subparsers(dest="command", metavar="COMMAND")
    for name, (help_text, add_arguments, run) in COMMANDS.items():
        sub = commands.add_parser(name, help=help_text, description=help_text)
        add_arguments(sub)
        sub.set_defaults(run=run, command_parser=sub)
    return parser


def version() -> str:
    """The package version and which protocol core runs (``make native`` compiles it)."""
    core = "compiled protocol core" if native.running_compiled() else "pure-Python protocol core"
    try:
        return f"{importlib.metadata.version('jt808-gateway')} ({core})"
    except importlib.metadata.PackageNotFoundError:  # run from a source tree not installed
        return f"unknown (not installed; {core})"


def main(argv: Sequence[str] | None = None) -> int:
    parser = build_parser()
    argcomplete.autocomplete(parser)
    args, unknown = parser.parse_known_args(argv)
    if unknown:
        # A subcommand's mistyped flag is told with that subcommand's usage, not jt808's.
        culprit: argparse.ArgumentParser = getattr(args, "command_parser", parser)
        culprit.error(f"unrecognized arguments: {' '.join(unknown)}{_suggestion(culprit, unknown)}")
    run: Callable[[argparse.Namespace], int] | None = getattr(args, "run", None)
    if run is None:
        parser.print_help()
        return 0
    return run(args)


def _suggestion(parser: argparse.ArgumentParser, unknown: list[str]) -> str:
    """`` (did you mean --x?)`` for the first unknown flag close to one of ``parser``'s."""
    flags = [flag for action in parser._actions for flag in action.option_strings]
    for word in unknown:
        close = word.startswith("--") and difflib.get_close_matches(word.split("=")[0], flags, 1)
        if close:
            return f" (did you mean {close[0]}?)"
    return ""


if __name__ == "__main__":
    sys.exit(main())
