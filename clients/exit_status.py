"""Exit statuses and one-line usage errors: what every ``jt808`` command shares.

A module of its own, importing nothing heavy, so the command line can use it before it knows
which command runs (``jt808 serve`` never imports the gRPC clients).
"""

from __future__ import annotations

import argparse
from enum import IntEnum
from typing import NoReturn


class ExitCode(IntEnum):
    """Exit statuses of the client commands (documented in their ``--help``)."""

    OK = 0
    FAILED = 1  # anything not below
    USAGE = 2  # a bad argument, found here or by the gateway (INVALID_ARGUMENT)
    NOT_FOUND = 3  # the terminal is not connected / no such device
    NO_REPLY = 4  # the terminal did not answer in time, or disconnected before answering
    UNAVAILABLE = 5  # the gateway cannot be reached or is shutting down
    ACCESS_DENIED = 6  # a token is missing or wrong
    BUSY = 7  # the terminal has too many commands in flight


EXIT_STATUS_HELP = """\
exit status: 0 ok; 1 failed; 2 bad argument; 3 terminal not connected (or no such device);
4 no reply from the terminal; 5 gateway unreachable; 6 token missing or refused; 7 too many
commands in flight for the terminal"""


def one_line_errors(parser: argparse.ArgumentParser) -> None:
    """Usage errors of ``parser`` as one line on stderr (exit 2), without the usage dump."""

    def error(message: str) -> NoReturn:
        parser.exit(ExitCode.USAGE, f"{parser.prog}: {message} (see {parser.prog} --help)\n")

    parser.error = error  # type: ignore[method-assign]
