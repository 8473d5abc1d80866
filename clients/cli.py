"""The ``jt808`` command line: one subcommand per module, registered in ``COMMANDS``."""

from __future__ import annotations

import argparse
import sys
from collections.abc import Callable, Sequence

from . import decode_command, devices_command, pki_command, serve_command, simulate_command

#: name -> (help, add arguments, run). Each subcommand lives in its own module.
Command = tuple[str, Callable[[argparse.ArgumentParser], None], Callable[[argparse.Namespace], int]]

COMMANDS: dict[str, Command] = {
    "serve": (serve_command.HELP, serve_command.add_arguments, serve_command.run),
    "devices": (devices_command.HELP, devices_command.add_arguments, devices_command.run),
    "decode": (decode_command.HELP, decode_command.add_arguments, decode_command.run),
    "simulate": (simulate_command.HELP, simulate_command.add_arguments, simulate_command.run),
    "pki": (pki_command.HELP, pki_command.add_arguments, pki_command.run),
}


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="jt808", description="JT/T 808 gateway, terminal simulator and protocol tools."
    )
    commands = parser.add_subparsers(dest="command", metavar="COMMAND")
    for name, (help_text, add_arguments, run) in COMMANDS.items():
        sub = commands.add_parser(name, help=help_text, description=help_text)
        add_arguments(sub)
        sub.set_defaults(run=run)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    run: Callable[[argparse.Namespace], int] | None = getattr(args, "run", None)
    if run is None:
        parser.print_help()
        return 0
    return run(args)


if __name__ == "__main__":
    sys.exit(main())
