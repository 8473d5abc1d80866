"""``jt808 simulate``: simulated terminals against a gateway, as a demo or as a load test.

Each terminal connects to ``--server``, registers (or authenticates at once with
``--auth-code``), sends heartbeats and location reports along its own track, and answers the
platform's commands like a real device. Try it against a lab gateway::

    jt808 serve --auth insecure-accept-all
    jt808 simulate --terminals 10 --count 100

or, against a gateway with its default registry, as the devices it knows::

    jt808 devices import devices.csv
    jt808 serve
    jt808 simulate --devices devices.csv

A progress line goes to stderr every second; the summary (terminals, reports sent and
acknowledged, ack latency percentiles, throughput, errors) to stdout when the run ends, as text
or, with ``--json``, as one JSON object. Exit status: 0 when every terminal authenticated and
every report was acknowledged without errors, 1 otherwise, 2 for usage errors.
"""

from __future__ import annotations

import argparse
import importlib.util
import json
import signal
import sys
from pathlib import Path
from typing import TextIO

import anyio

from clients.simulator.processes import available_cpus, run_in_processes
from clients.simulator.runner import (
    MAX_BATCH,
    MAX_TERMINALS,
    MAX_WINDOW,
    Simulation,
    SimulationConfig,
    SimulationSummary,
    raise_open_files_limit,
)
from clients.simulator.terminal import device_profile, format_phone
from clients.simulator.tls import TlsClientSettings
from gateway.protocol.versions import ProtocolVersion
from gateway.registry import CsvFileError, Device, DeviceImportError, read_csv_rows
from gateway.server.config import ConfigError, parse_host_port

EPILOG = """\
Every run is bounded: without --count and --duration each terminal sends 100 reports.
--rate 0 sends as fast as acknowledgements allow, keeping --window reports unacknowledged per
terminal. Exit status: 0 all terminals authenticated and all reports acknowledged, 1 otherwise,
2 usage error.
"""

DEFAULT_COUNT = 100
DEFAULT_TERMINALS = 10
EXIT_OK = 0
EXIT_INCOMPLETE = 1
EXIT_USAGE = 2
AUTO = "auto"
MAX_PROCESSES = 64


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.epilog = EPILOG
    parser.formatter_class = argparse.RawDescriptionHelpFormatter
    add = parser.add_argument
    add(
        "--server",
        default="127.0.0.1:7999",
        metavar="HOST:PORT",
        help="gateway terminal listener (default 127.0.0.1:7999)",
    )
    add(
        "--terminals",
        type=int,
        default=None,
        metavar="N",
        help=f"simulated terminals, 1..{MAX_TERMINALS} (default {DEFAULT_TERMINALS}, or one "
        "a device of --devices)",
    )
    add(
        "--devices",
        type=Path,
        default=None,
        metavar="FILE.csv",
        help="register as these devices (the CSV of jt808 devices import: identity, and phone "
        "and plate where given) instead of made-up ones",
    )
    add(
        "--version",
        type=int,
        choices=[int(v) for v in ProtocolVersion],
        default=2013,
        help="JT/T 808 revision the terminals speak (default 2013)",
    )
    add(
        "--rate",
        type=float,
        default=10.0,
        metavar="R",
        help="reports a second per terminal; 0 = as fast as acknowledgements allow (default 10)",
    )
    add(
        "--window",
        type=int,
        default=8,
        metavar="W",
        help=f"unacknowledged report messages per terminal with --rate 0, 1..{MAX_WINDOW} "
        "(default 8)",
    )
    add(
        "--count",
        type=int,
        default=None,
        metavar="M",
        help=f"reports per terminal (default {DEFAULT_COUNT} unless --duration is given)",
    )
    add(
        "--duration",
        type=float,
        default=None,
        metavar="S",
        help="stop sending after S seconds (with --count: whichever comes first)",
    )
    add(
        "--heartbeat",
        type=float,
        default=30.0,
        metavar="S",
        help="send 0x0002 after S quiet seconds; 0 = never (default 30)",
    )
    add(
        "--batch",
        type=int,
        default=0,
        metavar="K",
        help=f"send reports as 0x0704 batches of K (2013+), 1..{MAX_BATCH}; 0 = single 0x0200",
    )
    add(
        "--blind-area",
        action="store_true",
        help="mark batches as blind-area re-sends (0x0704 type 1); needs --batch",
    )
    add(
        "--upload-size",
        type=int,
        default=0,
        metavar="BYTES",
        help="each terminal uploads one 0x0801 photo of BYTES (sub-packaged) after logging in",
    )
    add(
        "--phone-start",
        type=int,
        default=13_800_000_000,
        metavar="NUMBER",
        help="phone number of the first terminal; the others count up (default 13800000000)",
    )
    add(
        "--manufacturer",
        default="SIM",
        metavar="ID",
        help="manufacturer id of every terminal (5 bytes, 11 in 2019; default SIM)",
    )
    add(
        "--model",
        default="SIM-TK",
        metavar="PREFIX",
        help="terminal model of every terminal (default SIM-TK)",
    )
    add(
        "--auth-code",
        default=None,
        metavar="CODE",
        help="authenticate with CODE without registering first",
    )
    add(
        "--connect-rate",
        type=float,
        default=200.0,
        metavar="PER_S",
        help="new connections a second (default 200)",
    )
    add(
        "--connect-concurrency",
        type=int,
        default=64,
        metavar="N",
        help="connections logging in at once at most (default 64)",
    )
    add(
        "--connect-timeout",
        type=float,
        default=10.0,
        metavar="S",
        help="seconds to connect, register and authenticate (default 10)",
    )
    add(
        "--ack-timeout",
        type=float,
        default=10.0,
        metavar="S",
        help="seconds to wait for an acknowledgement before counting it lost (default 10)",
    )
    add(
        "--reconnect",
        action="store_true",
        help="reconnect a terminal whose connection drops (up to --max-reconnects times)",
    )
    add(
        "--max-reconnects",
        type=int,
        default=3,
        metavar="N",
        help="reconnections per terminal with --reconnect (default 3)",
    )
    add(
        "--processes",
        type=_processes,
        default=1,
        metavar="N|auto",
        help="split the terminals over N processes (auto: one a CPU) to offer more load than "
        "one process can (default 1)",
    )
    add("--json", action="store_true", help="print the summary as one JSON object")
    add("--quiet", action="store_true", help="no progress line on stderr")
    _add_security_arguments(parser)


def _add_security_arguments(parser: argparse.ArgumentParser) -> None:
    """TLS to the gateway's --tls-listen, and RSA body encryption."""
    group = parser.add_argument_group("TLS and encryption")
    add = group.add_argument
    add("--tls", action="store_true", help="connect with TLS (to the gateway's --tls-listen)")
    add(
        "--tls-ca",
        type=Path,
        metavar="FILE",
        help="--tls: CA bundle to verify the gateway with (default: the system's)",
    )
    add(
        "--tls-cert",
        metavar="FILE",
        help="--tls: client certificate chain (PEM) for mutual TLS; {phone} in the path is "
        "each terminal's phone, e.g. 'devices/{phone}.pem'",
    )
    add("--tls-key", metavar="FILE", help="--tls: the key of --tls-cert ({phone} likewise)")
    add(
        "--tls-server-name",
        metavar="NAME",
        help="--tls: name the gateway's certificate must carry (default: the --server host)",
    )
    add(
        "--rsa",
        action="store_true",
        help="terminals with RSA keys: 0x0A00 after logging in, then encrypted bodies",
    )


def _tls_settings(args: argparse.Namespace) -> TlsClientSettings | None:
    given = [flag for flag, value in (("--tls-ca", args.tls_ca), ("--tls-cert", args.tls_cert),
             ("--tls-key", args.tls_key), ("--tls-server-name", args.tls_server_name))
             if value is not None]  # fmt: skip
    if not args.tls:
        if given:
            raise ValueError(f"{given[0]} is only used with --tls")
        return None
    return TlsClientSettings(
        ca=args.tls_ca, cert=args.tls_cert, key=args.tls_key, server_name=args.tls_server_name
    )


def config_from(args: argparse.Namespace) -> SimulationConfig:
    """The run the flags describe; raises ``ValueError`` (or ``ConfigError``) naming the flag."""
    server = parse_host_port(args.server, allow_any_port=True)
    count = args.count
    if count is None and args.duration is None:
        count = DEFAULT_COUNT
    version = ProtocolVersion(args.version)
    devices = () if args.devices is None else read_devices(args.devices, version, args.phone_start)
    terminals = (len(devices) or DEFAULT_TERMINALS) if args.terminals is None else args.terminals
    if args.terminals is not None and devices and args.terminals > len(devices):
        raise ValueError(
            f"{args.devices} lists {len(devices)} device(s); --terminals {args.terminals} needs "
            "as many (leave --terminals out to simulate each device once)"
        )
    return SimulationConfig(
        host=server.host,
        port=server.port,
        terminals=terminals,
        devices=devices,
        version=version,
        rate=args.rate,
        window=args.window,
        count=count,
        duration=args.duration,
        heartbeat=args.heartbeat,
        batch=args.batch,
        blind_area=args.blind_area,
        upload_size=args.upload_size,
        phone_start=args.phone_start,
        manufacturer=args.manufacturer,
        model=args.model,
        auth_code=args.auth_code,
        connect_rate=args.connect_rate,
        connect_concurrency=args.connect_concurrency,
        connect_timeout=args.connect_timeout,
        ack_timeout=args.ack_timeout,
        reconnect=args.reconnect,
        max_reconnects=args.max_reconnects,
        tls=_tls_settings(args),
        rsa=args.rsa,
    )


def read_devices(path: Path, version: ProtocolVersion, phone_start: int) -> tuple[Device, ...]:
    """The devices of a registry CSV, each checked to fit ``version``; a ``ValueError`` names
    the file and the line."""
    try:
        rows = read_csv_rows(path)
    except CsvFileError as error:
        raise ValueError(str(error)) from None
    except DeviceImportError as error:
        raise ValueError(f"{path}: {error}") from None
    if not rows:
        raise ValueError(f"{path} lists no device (a header row, then one row a device)")
    for index, (line, device) in enumerate(rows):
        try:
            device_profile(device, index, version=version, phone_start=phone_start)
        except ValueError as error:
            raise ValueError(f"{path}: line {line}: {error}") from None
    return tuple(device for _, device in rows)


def run(args: argparse.Namespace) -> int:
    try:
        config = config_from(args)
        if config.tls is not None:  # the first terminal's files, checked before any connects
            config.tls.context_for(_first_phone(config))
    except (ConfigError, ValueError) as error:
        print(f"jt808 simulate: {error}", file=sys.stderr)
        return EXIT_USAGE
    needed = config.terminals + 64
    if raise_open_files_limit(needed) < needed:
        print(
            f"jt808 simulate: warning: the open-files limit is below {needed}; "
            "some terminals may fail to connect (raise it with ulimit -n)",
            file=sys.stderr,
        )
    progress = None if args.quiet else _ProgressLine(sys.stderr)
    processes = available_cpus() if args.processes == AUTO else args.processes
    if processes > 1 and config.terminals > 1:
        try:
            summary = run_in_processes(config, processes, simulate, progress)
        except RuntimeError as error:
            print(f"jt808 simulate: {error}", file=sys.stderr)
            return EXIT_INCOMPLETE
    else:
        summary = simulate(Simulation(config, progress=progress))
    if progress is not None:
        progress.done()
    if args.json:
        print(json.dumps(summary.as_json(), ensure_ascii=False))
    else:
        sys.stdout.write(summary.text())
    _advise(summary, config)
    return EXIT_OK if summary.ok else EXIT_INCOMPLETE


def _advise(summary: SimulationSummary, config: SimulationConfig) -> None:
    """What to do about the failures a newcomer meets first, as one sentence on stderr."""
    stats = summary.stats
    if stats.connected == 0 and stats.errors.get("connect_failed"):
        print(
            f"jt808 simulate: nothing accepted a connection at {config.server}: is the gateway "
            "running (make serve), and is --server its --listen address?",
            file=sys.stderr,
        )
    refused = stats.errors.get("registration_refused", 0)
    if refused:
        print(
            f"jt808 simulate: the gateway refused to register {refused} terminal(s): with its "
            "default --auth local only devices in its registry may; import them (jt808 devices "
            "import devices.csv) and simulate them with --devices devices.csv, or run a lab "
            "gateway with --auth insecure-accept-all",
            file=sys.stderr,
        )


def _processes(text: str) -> int | str:
    """``--processes``: a count from 1, or ``auto``."""
    if text == AUTO:
        return AUTO
    try:
        count = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a number or auto, got {text!r}") from None
    if not 1 <= count <= MAX_PROCESSES:
        raise argparse.ArgumentTypeError(f"must be 1..{MAX_PROCESSES} or auto")
    return count


def _first_phone(config: SimulationConfig) -> str:
    return format_phone(config.phone_start, config.version)


def simulate(
    simulation: Simulation,
    signals: tuple[signal.Signals, ...] = (signal.SIGINT, signal.SIGTERM),
) -> SimulationSummary:
    """Run on an event loop of this process, stopping cleanly on the first of ``signals`` (the
    terminals settle what they sent) and at once on the second."""
    return anyio.run(
        _simulate, simulation, signals, backend="asyncio", backend_options=_loop_options()
    )


async def _simulate(
    simulation: Simulation, signals: tuple[signal.Signals, ...]
) -> SimulationSummary:
    summary: SimulationSummary | None = None
    async with anyio.create_task_group() as tasks:
        tasks.start_soon(_watch_signals, simulation, tasks.cancel_scope, signals)
        summary = await simulation.run()
        tasks.cancel_scope.cancel()
    return summary or simulation.summary()


async def _watch_signals(
    simulation: Simulation, scope: anyio.CancelScope, watched: tuple[signal.Signals, ...]
) -> None:
    with anyio.open_signal_receiver(*watched) as signals:
        async for _ in signals:
            if simulation.sending_over:
                scope.cancel()
                return
            simulation.stop()


class _ProgressLine:
    """One line a second: rewritten in place on a terminal, appended otherwise."""

    def __init__(self, stream: TextIO) -> None:
        self.stream = stream
        self.in_place = stream.isatty()
        self._written = False

    def __call__(self, line: str) -> None:
        if self.in_place:
            self.stream.write("\r\x1b[2K" + line)
        else:
            self.stream.write(line + "\n")
        self.stream.flush()
        self._written = True

    def done(self) -> None:
        if self.in_place and self._written:
            self.stream.write("\n")
            self.stream.flush()


def _loop_options() -> dict[str, object]:
    # uvloop is a dependency where it is built (Linux, macOS); elsewhere the asyncio loop.
    return {"use_uvloop": True} if importlib.util.find_spec("uvloop") is not None else {}


__all__ = ["DEFAULT_COUNT", "add_arguments", "config_from", "run", "simulate"]
