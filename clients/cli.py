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
import importlib
import sys
from collections.abc import Callable, Sequence
from typing import Any, NoReturn, Protocol, cast

from gateway import native

from .exit_status import one_line_errors

#: name -> (module, help). A command's module holds ``add_arguments(parser)`` and ``run(args)``;
#: only the module of the command that runs is imported (``jt808 serve`` stays free of the gRPC
#: clients, the dashboard and the simulator).
COMMANDS: dict[str, tuple[str, str]] = {
    "serve": (
        "clients.serve_command",
        "run the gateway: terminals on --listen, devices and state under --data-dir",
    ),
    "devices": (
        "clients.devices_command",
        "manage the device registry under --data-dir, or of a gateway with --gateway",
    ),
    "decode": (
        "clients.decode_command",
        "decode JT/T 808 frames given as hex (arguments, or one per line on stdin) to JSON",
    ),
    "simulate": (
        "clients.simulate_command",
        "simulate terminals reporting to a gateway (demo and load generator)",
    ),
    "send": (
        "clients.send_command",
        "send a command to a terminal and print its reply",
    ),
    "stream": (
        "clients.stream_command",
        "print live positions of the terminals until interrupted",
    ),
    "events": (
        "clients.events_command",
        "print session events and terminal messages until interrupted",
    ),
    "sessions": (
        "clients.sessions_command",
        "list, inspect and disconnect the terminal sessions of a gateway",
    ),
    "dashboard": (
        "clients.dashboard_command",
        "serve a live web dashboard of the gateway's terminals (map, list, commands)",
    ),
    "health": (
        "clients.health_command",
        "check that a gateway serves (gRPC health), for container health checks and scripts",
    ),
    "pki": (
        "clients.pki_command",
        "make a test PKI: CA, gateway certificate, device and client certificates",
    ),
}


class _CommandModule(Protocol):
    def add_arguments(self, parser: argparse.ArgumentParser) -> None: ...
    def run(self, args: argparse.Namespace) -> int: ...


def build_parser(only: str | None = None) -> argparse.ArgumentParser:
    """The ``jt808`` parser; with ``only``, the other commands are listed but not imported."""
    parser = argparse.ArgumentParser(
        prog="jt808", description="JT/T 808 gateway, terminal simulator and protocol tools."
    )
    parser.add_argument("--version", action=_VersionAction)
    one_line_errors(parser)
    commands = parser.add_subparsers(dest="command", metavar="COMMAND")
    for name, (module_name, help_text) in COMMANDS.items():
        sub = commands.add_parser(name, help=help_text, description=help_text)
        if only is None or name == only:
            module = cast(_CommandModule, importlib.import_module(module_name))
            module.add_arguments(sub)
            sub.set_defaults(run=module.run, command_parser=sub)
    return parser


def _command_word(argv: Sequence[str]) -> str | None:
    """The command ``argv`` names (jt808's own flags take no values), or None."""
    if "_ARGCOMPLETE" in os.environ:  # shell completion needs every command's flags
        return None
    word = next((arg for arg in argv if not arg.startswith("-")), None)
    return word if word in COMMANDS else None


class _VersionAction(argparse.Action):
    """``--version``, looked up only when asked (``importlib.metadata`` costs every command
    about 2 MiB of memory)."""

    def __init__(self, option_strings: Sequence[str], dest: str, **_: Any) -> None:
        super().__init__(
            option_strings, dest=argparse.SUPPRESS, default=argparse.SUPPRESS, nargs=0,
            help="show the version and which protocol core runs, and exit",
        )  # fmt: skip

    def __call__(self, parser: argparse.ArgumentParser, *_: object) -> NoReturn:
        print(f"jt808 {version()}")
        parser.exit()


def version() -> str:
    """The package version and which protocol core runs (``make native`` compiles it)."""
    import importlib.metadata  # noqa: PLC0415 (lazy: see _VersionAction)

    core = "compiled protocol core" if native.running_compiled() else "pure-Python protocol core"
    try:
        return f"{importlib.metadata.version('jt808-gateway')} ({core})"
    except importlib.metadata.PackageNotFoundError:  # run from a source tree not installed
        return f"unknown (not installed; {core})"


def main(argv: Sequence[str] | None = None) -> int:
    if argv is None:
        argv = sys.argv[1:]
    parser = build_parser(_command_word(argv))
    if "_ARGCOMPLETE" in os.environ:  # the shell asks for completions (else: not imported)
        import argcomplete  # noqa: PLC0415

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
    import difflib  # noqa: PLC0415 (lazy: only a mistyped flag needs it, not every command)

    flags = [flag for action in parser._actions for flag in action.option_strings]
    for word in unknown:
        close = word.startswith("--") and difflib.get_close_matches(word.split("=")[0], flags, 1)
        if close:
            return f" (did you mean {close[0]}?)"
    return ""


if __name__ == "__main__":
    sys.exit(main())
