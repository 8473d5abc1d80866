"""``jt808 dashboard --gateway HOST:PORT --listen 127.0.0.1:8080``: the live fleet page."""

from __future__ import annotations

import argparse
import asyncio
import logging
import os
import signal
import sys
from typing import Final

from aiohttp import web

from gateway.server.config import ConfigError, HostPort, is_loopback, parse_host_port

from .client_options import add_client_options, client_from
from .dashboard.server import STATIC_DIR, Dashboard
from .exit_status import EXIT_STATUS_HELP, ExitCode

PASSWORD_ENV: Final = "JT808_DASHBOARD_PASSWORD"
DEFAULT_LISTEN: Final = "127.0.0.1:8080"

EPILOG = f"""\
Open http://127.0.0.1:8080/ (the --listen address). The page shows every terminal moving on a
map with its recent track, a list (phone, device, last position and time, speed, alarms,
online/offline), a terminal's details on click, and buttons to send it a text message or query
its position. It needs no internet: the basemap (Natural Earth coastlines and borders) ships
with the page; --tiles adds a tile server's map under it for deployments that have one.

The dashboard follows the gateway like any client (StreamLocations, StreamEvents,
ListSessions) and keeps going when the gateway restarts; the page says when it is unreachable.
It binds to loopback unless a password is set: the page sends commands to vehicles.

examples:
  jt808 dashboard
  jt808 dashboard --gateway 10.0.0.5:50051 --token "$TOKEN" --listen 0.0.0.0:8080 --password "$PW"
  jt808 dashboard --tiles 'https://tiles.example.net/{{z}}/{{x}}/{{y}}.png'

{EXIT_STATUS_HELP}
"""


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.epilog = EPILOG
    parser.formatter_class = argparse.RawDescriptionHelpFormatter
    parser.add_argument(
        "--listen",
        default=DEFAULT_LISTEN,
        metavar="HOST:PORT",
        help=f"where to serve the page (default {DEFAULT_LISTEN}; port 0: any free port)",
    )
    parser.add_argument(
        "--tiles",
        default=None,
        metavar="URL",
        help="a raster tile server's URL template ({z}/{x}/{y}) drawn under the built-in map",
    )
    parser.add_argument(
        "--password",
        default=None,
        help=f"require HTTP basic auth with this password, any user name (env {PASSWORD_ENV}); "
        "needed to listen on a non-loopback address",
    )
    add_client_options(parser, json_flag=False)


def run(args: argparse.Namespace) -> int:
    try:
        listen = parse_host_port(args.listen, allow_any_port=True)
    except ConfigError as error:
        return _fail(f"--listen: {error}", ExitCode.USAGE)
    password = args.password or os.environ.get(PASSWORD_ENV) or None
    if not is_loopback(listen.host) and password is None:
        return _fail(
            f"--listen {listen} is not a loopback address and the page sends commands to "
            f"vehicles: set --password (or {PASSWORD_ENV}), or listen on 127.0.0.1",
            ExitCode.USAGE,
        )
    if not (STATIC_DIR / "app.js").is_file():
        return _fail(f"the page is not built ({STATIC_DIR}/app.js is missing): run make dashboard")
    logging.basicConfig(level=logging.INFO, format="jt808 dashboard: %(message)s")
    logging.getLogger("aiohttp.access").setLevel(logging.WARNING)
    try:
        return asyncio.run(_serve(args, listen, password))
    except KeyboardInterrupt:
        return ExitCode.OK


async def _serve(args: argparse.Namespace, listen: HostPort, password: str | None) -> int:
    async with client_from(args) as client:
        dashboard = Dashboard(client, tiles=args.tiles, password=password)
        runner = web.AppRunner(dashboard.application(), handle_signals=False)
        await runner.setup()
        try:
            site = web.TCPSite(runner, listen.host, listen.port)
            try:
                await site.start()
            except OSError as error:
                return _fail(f"cannot listen on {listen}: {error.strerror or error}")
            port = _bound_port(runner, listen.port)
            print(
                f"jt808 dashboard: serving http://{_url_host(listen.host)}:{port}/ "
                f"for the gateway at {client.target}",
                file=sys.stderr,
                flush=True,
            )
            await _until_signal()
        finally:
            await runner.cleanup()
    return ExitCode.OK


def _bound_port(runner: web.AppRunner, requested: int) -> int:
    for address in runner.addresses:
        if isinstance(address, tuple) and len(address) >= 2:
            return int(address[1])
    return requested


def _url_host(host: str) -> str:
    return f"[{host}]" if ":" in host else host


async def _until_signal() -> None:
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for signum in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(signum, stop.set)
    await stop.wait()


def _fail(message: str, code: ExitCode = ExitCode.FAILED) -> int:
    print(f"jt808 dashboard: {message}", file=sys.stderr, flush=True)
    return code
