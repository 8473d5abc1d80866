"""What every client command of ``jt808`` shares: the gateway options, output, errors.

Client commands (``send``, ``stream``, ``events``, ``sessions``, ``devices --gateway``,
``dashboard``) take ``--gateway HOST:PORT`` (env ``JT808_GATEWAY``, default 127.0.0.1:50051),
``--token`` (env ``JT808_GRPC_TOKEN``) or ``--token-file``, the TLS options and ``--json``,
all on the last subcommand word's parser, so they work after it (``jt808 sessions list
--gateway G --json``).

Output contract: with ``--json`` stdout carries only JSON objects, one per line, flushed line by
line; everything for people goes to stderr. A failure is one line on stderr,
``jt808 COMMAND: what went wrong``, and an exit status from ``ExitCode``.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import signal
import sys
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any, NamedTuple, TextIO, TypeVar

from google.protobuf.message import Message

from gateway.server.config import ConfigError, read_token_file

from .exit_status import ExitCode, one_line_errors
from .sdk import (
    DEFAULT_GATEWAY,
    GATEWAY_ENV,
    TOKEN_ENV,
    AccessDeniedError,
    GatewayClient,
    GatewayError,
    GatewayUnavailableError,
    InvalidRequestError,
    LiveStream,
    NoReplyError,
    TerminalDisconnectedError,
    TerminalNotConnectedError,
    TlsOptions,
    TooManyCommandsError,
    message_json,
)

M = TypeVar("M", bound=Message)

_EXIT_OF_ERROR: dict[type[GatewayError], ExitCode] = {
    InvalidRequestError: ExitCode.USAGE,
    TerminalNotConnectedError: ExitCode.NOT_FOUND,
    NoReplyError: ExitCode.NO_REPLY,
    TerminalDisconnectedError: ExitCode.NO_REPLY,
    GatewayUnavailableError: ExitCode.UNAVAILABLE,
    AccessDeniedError: ExitCode.ACCESS_DENIED,
    TooManyCommandsError: ExitCode.BUSY,
}


def exit_code_of(error: GatewayError) -> ExitCode:
    return _EXIT_OF_ERROR.get(type(error), ExitCode.FAILED)


def add_client_options(
    parser: argparse.ArgumentParser, *, json_help: str | None = None, json_flag: bool = True
) -> None:
    """``--gateway``, ``--token``, TLS and (unless ``json_flag`` is false) ``--json`` on
    ``parser`` (a leaf parser), with one-line usage errors."""
    one_line_errors(parser)
    group = parser.add_argument_group("gateway connection")
    group.add_argument(
        "--gateway",
        metavar="HOST:PORT",
        default=None,
        help=f"the gateway's gRPC address (env {GATEWAY_ENV}; default {DEFAULT_GATEWAY})",
    )
    token = group.add_mutually_exclusive_group()
    token.add_argument(
        "--token",
        default=None,
        help=f"bearer token of the gateway's control plane (env {TOKEN_ENV}; visible in the "
        "process list: prefer the environment or --token-file)",
    )
    token.add_argument(
        "--token-file",
        type=Path,
        metavar="FILE",
        default=None,
        help="file holding the bearer token (one line)",
    )
    group.add_argument(
        "--tls-ca",
        type=Path,
        metavar="FILE",
        default=None,
        help="use TLS, trusting this CA bundle (PEM)",
    )
    group.add_argument(
        "--tls-cert", type=Path, metavar="FILE", default=None, help="TLS client certificate (PEM)"
    )
    group.add_argument(
        "--tls-key", type=Path, metavar="FILE", default=None, help="TLS client key (PEM)"
    )
    group.add_argument(
        "--tls-server-name",
        metavar="NAME",
        default=None,
        help="the name the gateway's certificate must carry, when not the host of --gateway",
    )
    if not json_flag:
        return
    parser.add_argument(
        "--json",
        action="store_true",
        help=json_help
        or "print JSON (proto3 mapping, proto field names), one object per line, nothing else",
    )


def add_phone_filter(parser: argparse.ArgumentParser) -> None:
    """``--phone P`` (repeatable) of the stream commands."""
    parser.add_argument(
        "--phone",
        action="append",
        default=[],
        metavar="PHONE",
        help="only this terminal (repeat for more); default: every terminal",
    )


def client_from(args: argparse.Namespace) -> GatewayClient:
    """The client the options describe (flags over environment over defaults)."""
    target = args.gateway or os.environ.get(GATEWAY_ENV) or DEFAULT_GATEWAY
    token = token_from(args)
    tls = None
    if args.tls_ca or args.tls_cert or args.tls_key or args.tls_server_name:
        tls = TlsOptions(
            ca_file=args.tls_ca,
            cert_file=args.tls_cert,
            key_file=args.tls_key,
            server_name=args.tls_server_name,
        )
    return GatewayClient(target, token=token, tls=tls)


def token_from(args: argparse.Namespace) -> str | None:
    """``--token``, else what ``--token-file`` holds (one line, surrounding whitespace
    ignored), else the environment's."""
    if args.token is not None:
        return str(args.token)
    path: Path | None = getattr(args, "token_file", None)
    if path is None:
        return os.environ.get(TOKEN_ENV) or None
    try:
        return read_token_file(path, "--token-file")
    except ConfigError as error:
        raise InvalidRequestError(str(error)) from None


def gateway_given(args: argparse.Namespace) -> bool:
    return bool(getattr(args, "gateway", None))


def run_client(
    name: str, main: Callable[[], Awaitable[int]], *, stderr: TextIO | None = None
) -> int:
    """Run ``main`` on a new event loop: a ``GatewayError`` becomes one line on stderr and
    its exit status; SIGINT and SIGTERM end the run quietly with status 0 (streams run until
    interrupted, and stopping them is their normal end)."""
    err = stderr or sys.stderr
    try:
        return asyncio.run(_until_signalled(main))
    except GatewayError as error:
        print(f"jt808 {name}: {error}", file=err, flush=True)
        return exit_code_of(error)
    except KeyboardInterrupt:
        return ExitCode.OK
    except BrokenPipeError:
        _silence_stdout()
        return ExitCode.OK


async def _until_signalled(main: Callable[[], Awaitable[int]]) -> int:
    loop = asyncio.get_running_loop()
    task = asyncio.ensure_future(main())
    installed = []
    for signum in (signal.SIGINT, signal.SIGTERM):
        try:
            loop.add_signal_handler(signum, task.cancel)
            installed.append(signum)
        except (NotImplementedError, RuntimeError):  # not the main thread
            pass
    try:
        return await task
    except asyncio.CancelledError:
        if task.cancelled():
            return ExitCode.OK
        raise
    finally:
        for signum in installed:
            loop.remove_signal_handler(signum)


def _silence_stdout() -> None:
    """After the reader of stdout went away (``| head``): no error at interpreter exit."""
    try:
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, sys.stdout.fileno())
    except (OSError, ValueError):
        pass


class Output:
    """stdout of a client command: JSON lines with ``--json``, text for people otherwise;
    every line flushed at once (``jt808 stream | jq`` sees each item as it comes)."""

    def __init__(self, as_json: bool, stream: TextIO | None = None) -> None:
        self.as_json = as_json
        self.stream = stream or sys.stdout

    def message(self, message: M, text: str | Callable[[M], str]) -> None:
        """``message`` as JSON, or for people ``text`` (or ``text(message)``)."""
        if self.as_json:
            self.line(message_json(message))
        else:
            self.line(text if isinstance(text, str) else text(message))

    def text(self, line: str) -> None:
        """A line for people only (nothing with ``--json``)."""
        if not self.as_json:
            self.line(line)

    def line(self, line: str) -> None:
        self.stream.write(line + "\n")
        self.stream.flush()


def note(name: str, text: str) -> None:
    """A line for people on stderr (never stdout, which may be JSON)."""
    print(f"jt808 {name}: {text}", file=sys.stderr, flush=True)


def follow(
    name: str,
    args: argparse.Namespace,
    subscribe: Callable[[GatewayClient, StreamNotes], LiveStream[Any, M]],
    render: Callable[[M], str],
) -> int:
    """Run a stream command: print each item of ``subscribe(client, notes)`` until interrupted,
    with gaps and reconnections said on stderr."""

    async def main() -> int:
        out = Output(args.json)
        notes = StreamNotes(gap_note(name), reconnect_note(name))
        async with client_from(args) as client:
            async for item in subscribe(client, notes):
                out.message(item, render)
        return ExitCode.OK

    return run_client(name, main)


class StreamNotes(NamedTuple):
    """The ``on_gap`` and ``on_reconnect`` of a stream command."""

    on_gap: Callable[[int], None]
    on_reconnect: Callable[[GatewayError], None]


def gap_note(name: str) -> Callable[[int], None]:
    """A stream's ``on_gap``: items lost for this reader, said on stderr."""

    def on_gap(dropped: int) -> None:
        note(
            name,
            f"gap: {dropped} item(s) will not come to this reader (it fell behind, or "
            "the log no longer keeps them)",
        )

    return on_gap


def reconnect_note(name: str) -> Callable[[GatewayError], None]:
    """A stream's ``on_reconnect``, said on stderr."""

    def on_reconnect(error: GatewayError) -> None:
        note(name, f"{error}; reconnecting")

    return on_reconnect
