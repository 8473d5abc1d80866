"""The simulator against a real gateway on loopback: every report acknowledged and published.

Each test starts a ``Gateway`` on 127.0.0.1, port 0, with the accept-all backend and a temporary
data directory, subscribes to its hub, runs a ``Simulation`` against it, and checks both sides:
the simulator's summary (every report acknowledged) and the hub (every report seen, per phone).
One test runs ``jt808 simulate`` as a subprocess and reads its ``--json`` summary.
"""

from __future__ import annotations

import dataclasses
import json
import socket
import sys
from collections import Counter
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from pathlib import Path

import anyio
import pytest

from clients.cli import build_parser, main
from clients.simulate_command import DEFAULT_COUNT, config_from
from clients.simulator.runner import Simulation, SimulationConfig, SimulationSummary
from clients.simulator.stats import LatencyHistogram
from clients.simulator.terminal import fleet_profile
from gateway.auth.insecure import AcceptAllAuthBackend
from gateway.hub import EventKind, Gap, HubEvent, LocationReported, Subscription, TerminalEvent
from gateway.protocol.bodies.location import QueryLocation, QueryLocationResponse
from gateway.protocol.bodies.multimedia import MultimediaData
from gateway.protocol.commands import CommandAnswered
from gateway.protocol.session import CloseReason
from gateway.protocol.versions import V2011, V2013, V2019, ProtocolVersion
from gateway.server.config import GatewayConfig, HostPort
from gateway.server.gateway import Gateway
from tests.timeouts import HANG_GUARD

pytestmark = pytest.mark.anyio

LOOPBACK = "127.0.0.1"
PHONE_START = 13_800_000_000


@pytest.fixture
def anyio_backend() -> str:
    return "asyncio"


@asynccontextmanager
async def running_gateway(
    data_dir: Path, *, local_auth: bool = False
) -> AsyncIterator[tuple[Gateway, HostPort]]:
    """A gateway that lets every terminal in, or (``local_auth``) only the devices of its
    registry, as with its defaults."""
    config = GatewayConfig(listen=HostPort(LOOPBACK, 0), data_dir=data_dir, log_level="warning")
    gateway = Gateway(config, auth=None if local_auth else AcceptAllAuthBackend())
    async with anyio.create_task_group() as tasks:
        address: HostPort = await tasks.start(gateway.serve)
        try:
            yield gateway, address
        finally:
            tasks.cancel_scope.cancel()


def simulation_config(address: HostPort, **settings: object) -> SimulationConfig:
    defaults: dict[str, object] = {
        "host": address.host,
        "port": address.port,
        "rate": 0.0,
        "window": 8,
        "heartbeat": 0.0,
        "ack_timeout": HANG_GUARD,
        "connect_timeout": HANG_GUARD,
        "connect_rate": 1000.0,
    }
    return SimulationConfig(**{**defaults, **settings})  # type: ignore[arg-type]


def drain(subscription: Subscription) -> list[HubEvent | Gap]:
    return subscription.take(subscription.pending + 1)


def phones(config: SimulationConfig) -> list[str]:
    return [
        fleet_profile(i, version=config.version, phone_start=config.phone_start).phone
        for i in range(config.terminals)
    ]


def locations_by_phone(events: list[HubEvent | Gap]) -> Counter[str]:
    assert not any(isinstance(event, Gap) for event in events), "the hub dropped events"
    return Counter(event.phone for event in events if isinstance(event, LocationReported))


# --------------------------------------------------------------------------------------------
# Reports


@pytest.mark.parametrize("version", [V2011, V2013, V2019])
async def test_every_report_of_20_terminals_x_50_is_acknowledged_and_published(
    tmp_path: Path, version: ProtocolVersion
) -> None:
    async with running_gateway(tmp_path) as (gateway, address):
        with gateway.hub.subscribe(max_queue=100_000) as subscription:
            config = simulation_config(address, terminals=20, count=50, version=version)
            summary = await Simulation(config).run()
            await anyio.sleep(0.05)
            events = drain(subscription)
    stats = summary.stats
    assert summary.ok, summary.text()
    assert (stats.connected, stats.registered, stats.authenticated) == (20, 20, 20)
    assert stats.reports_sent == stats.reports_acked == 1000
    assert stats.latency.count == 1000 and summary.throughput > 0
    assert locations_by_phone(events) == dict.fromkeys(phones(config), 50)
    authenticated = [
        e for e in events if isinstance(e, TerminalEvent) and e.kind is EventKind.AUTHENTICATED
    ]
    assert len(authenticated) == 20
    reports = [e for e in events if isinstance(e, LocationReported)]
    assert {e.msg_id for e in reports} == {0x0200}
    assert all(e.device_name.startswith("SIM_SIM-TK") for e in reports)


@pytest.mark.parametrize("blind_area", [False, True])
async def test_0x0704_batches_are_acknowledged_and_each_item_published(
    tmp_path: Path, blind_area: bool
) -> None:
    async with running_gateway(tmp_path) as (gateway, address):
        with gateway.hub.subscribe(max_queue=100_000) as subscription:
            config = simulation_config(
                address, terminals=5, count=48, batch=10, blind_area=blind_area, version=V2019
            )
            summary = await Simulation(config).run()
            await anyio.sleep(0.05)
            events = drain(subscription)
    assert summary.ok, summary.text()
    assert summary.stats.reports_acked == 240
    assert summary.stats.report_messages_acked == 25  # 4 batches of 10 and one of 8 each
    assert locations_by_phone(events) == dict.fromkeys(phones(config), 48)
    batch_types = {e.batch_type for e in events if isinstance(e, LocationReported)}
    assert batch_types == {int(blind_area)}


async def test_a_subpackaged_upload_is_reassembled_and_confirmed_by_the_gateway(
    tmp_path: Path,
) -> None:
    async with running_gateway(tmp_path) as (_, address):
        config = simulation_config(address, terminals=3, count=5, upload_size=6000)
        summary = await Simulation(config).run()
    assert summary.ok, summary.text()
    # 0x8800 without packet ids comes only once the gateway holds every packet of the upload
    assert (summary.stats.uploads_started, summary.stats.uploads_completed) == (3, 3)


async def test_a_subpackaged_upload_reaches_the_hub_as_a_message_with_the_whole_body(
    tmp_path: Path,
) -> None:
    async with running_gateway(tmp_path) as (gateway, address):
        with gateway.hub.subscribe(max_queue=10_000) as subscription:
            config = simulation_config(address, terminals=3, count=0, upload_size=6000)
            summary = await Simulation(config).run()
            await anyio.sleep(0.05)
            events = drain(subscription)
    assert summary.stats.uploads_completed == 3
    uploads = [
        e.message.body
        for e in events
        if isinstance(e, TerminalEvent) and e.kind is EventKind.MESSAGE and e.message is not None
    ]
    assert len(uploads) == 3
    for body in uploads:
        assert isinstance(body, MultimediaData)
        assert len(body.data) == 6000 and body.data[:2] == b"\xff\xd8"


async def test_a_fixed_rate_paces_the_reports(tmp_path: Path) -> None:
    async with running_gateway(tmp_path) as (_, address):
        config = simulation_config(address, terminals=2, count=6, rate=20.0)
        summary = await Simulation(config).run()
    assert summary.ok, summary.text()
    assert summary.reporting_s >= 5 / 20 * 0.9  # six reports 50 ms apart


async def test_a_duration_bounds_a_run_without_a_count(tmp_path: Path) -> None:
    async with running_gateway(tmp_path) as (_, address):
        config = simulation_config(address, terminals=3, count=None, duration=0.4, rate=25.0)
        summary = await Simulation(config).run()
    assert summary.ok, summary.text()
    assert summary.elapsed_s >= 0.4
    assert summary.stats.reports_sent <= 3 * (0.4 * 25 + 1)  # none after the duration


async def stop_when(simulation: Simulation, condition: Callable[[], bool]) -> None:
    """Stop ``simulation`` (a run bounded by HANG_GUARD only) once ``condition`` holds."""
    while not condition():
        await anyio.sleep(0.02)
    simulation.stop()


def ok_but_stopped(summary: SimulationSummary) -> bool:
    """``summary.ok`` of a run the test stopped on purpose."""
    return summary.interrupted and dataclasses.replace(summary, interrupted=False).ok


async def test_heartbeats_go_out_when_the_link_is_quiet(tmp_path: Path) -> None:
    async with running_gateway(tmp_path) as (_, address):
        config = simulation_config(
            address, terminals=2, count=None, duration=HANG_GUARD, rate=0.5, heartbeat=0.2
        )
        simulation = Simulation(config)
        async with anyio.create_task_group() as tasks:
            tasks.start_soon(stop_when, simulation, lambda: simulation.stats.heartbeats_acked >= 2)
            summary = await simulation.run()
    assert ok_but_stopped(summary), summary.text()
    assert summary.stats.heartbeats_sent >= 2
    assert summary.stats.heartbeats_acked == summary.stats.heartbeats_sent


async def test_a_known_auth_code_skips_registration(tmp_path: Path) -> None:
    async with running_gateway(tmp_path) as (_, address):
        config = simulation_config(address, terminals=4, count=3, auth_code="LAB-CODE")
        summary = await Simulation(config).run()
    assert summary.ok, summary.text()
    assert (summary.stats.registered, summary.stats.authenticated) == (0, 4)


async def test_the_terminals_answer_commands_sent_through_the_gateway(tmp_path: Path) -> None:
    async with running_gateway(tmp_path) as (gateway, address):
        config = simulation_config(address, terminals=2, count=None, duration=HANG_GUARD, rate=10.0)
        simulation = Simulation(config)
        replies: list[CommandAnswered] = []

        async def ask_every_terminal() -> None:
            while len(gateway.sessions) < config.terminals:
                await anyio.sleep(0.02)
            for connection in gateway.sessions.all():
                outcome = await connection.send_command(QueryLocation(), timeout=HANG_GUARD)
                assert isinstance(outcome, CommandAnswered), outcome
                replies.append(outcome)
            simulation.stop()

        async with anyio.create_task_group() as tasks:
            tasks.start_soon(ask_every_terminal)
            summary = await simulation.run()
    assert ok_but_stopped(summary), summary.text()
    assert len(replies) == 2
    assert all(isinstance(reply.reply.body, QueryLocationResponse) for reply in replies)
    assert summary.stats.commands_answered == 2


async def test_dropped_terminals_reconnect_and_finish(tmp_path: Path) -> None:
    async with running_gateway(tmp_path) as (gateway, address):
        config = simulation_config(
            address, terminals=3, count=None, duration=HANG_GUARD, rate=20.0, reconnect=True
        )
        simulation = Simulation(config)
        stats = simulation.stats

        async def drop_everyone_then_stop() -> None:
            while stats.reports_acked < config.terminals:
                await anyio.sleep(0.02)
            dropped = gateway.sessions.all()
            for connection in dropped:
                await connection.close(CloseReason.DISCONNECT_REQUESTED)
            acked = stats.reports_acked
            # Back online (new sessions) and reporting again: the run may end.
            while (
                len([c for c in gateway.sessions.all() if c not in dropped]) < config.terminals
                or stats.reports_acked <= acked
            ):
                await anyio.sleep(0.02)
            simulation.stop()

        async with anyio.create_task_group() as tasks:
            tasks.start_soon(drop_everyone_then_stop)
            summary = await simulation.run()
    stats = summary.stats
    assert stats.reconnects == 3, summary.text()
    assert stats.authenticated == 3 and stats.registered == 3  # reconnected with their codes
    assert stats.errors.get("disconnected") == 3
    assert stats.reports_acked > 0
    assert set(stats.errors) <= {"disconnected", "unacked_at_disconnect"}, stats.errors


async def test_an_unreachable_server_ends_the_run_with_connect_errors() -> None:
    with socket.socket() as probe:  # a port nobody listens on
        probe.bind((LOOPBACK, 0))
        port = probe.getsockname()[1]
    config = SimulationConfig(host=LOOPBACK, port=port, terminals=3, count=5, connect_timeout=2)
    summary = await Simulation(config).run()
    assert not summary.ok
    assert summary.stats.errors == {"connect_failed": 3}
    assert summary.stats.connected == 0


async def test_progress_lines_come_every_second(tmp_path: Path) -> None:
    lines: list[str] = []
    async with running_gateway(tmp_path) as (_, address):
        config = simulation_config(address, terminals=1, count=None, duration=1.2, rate=5.0)
        summary = await Simulation(config, progress=lines.append).run()
    assert 1 <= len(lines) <= summary.elapsed_s  # one at the end of each whole second
    assert "online " in lines[0] and "acked" in lines[0]


# --------------------------------------------------------------------------------------------
# The command line


async def test_jt808_simulate_as_a_subprocess_prints_a_json_summary(tmp_path: Path) -> None:
    async with running_gateway(tmp_path) as (_, address):
        command = [
            sys.executable, "-m", "clients.cli", "simulate",
            "--server", f"{address.host}:{address.port}",
            "--terminals", "5", "--count", "20", "--rate", "0", "--window", "4",
            "--version", "2019", "--json", "--quiet",
        ]  # fmt: skip
        with anyio.fail_after(HANG_GUARD):
            process = await anyio.run_process(command, check=False)
    assert process.returncode == 0, process.stderr.decode()
    assert process.stderr == b""
    summary = json.loads(process.stdout)
    assert summary["ok"] is True
    assert (summary["terminals"], summary["authenticated"], summary["version"]) == (5, 5, 2019)
    assert summary["reports_sent"] == summary["reports_acked"] == 100
    assert summary["errors"] == {}
    latency = summary["ack_latency_ms"]
    assert set(latency) == {"p50", "p90", "p99", "max", "mean", "count"}
    assert 0 < latency["p50"] <= latency["p90"] <= latency["p99"] <= latency["max"]
    assert summary["throughput_reports_per_s"] > 0


def test_without_count_or_duration_a_run_sends_the_default_count() -> None:
    args = build_parser().parse_args(["simulate"])
    config = config_from(args)
    assert config.count == DEFAULT_COUNT and config.duration is None
    assert (config.host, config.port, config.terminals) == (LOOPBACK, 7999, 10)
    timed = config_from(build_parser().parse_args(["simulate", "--duration", "5"]))
    assert timed.count is None and timed.duration == 5


@pytest.mark.parametrize(
    ("flags", "message"),
    [
        (["--version", "2011", "--batch", "5"], "0x0704"),
        (["--blind-area"], "batch"),
        (["--server", "nohost"], "HOST:PORT"),
        (["--terminals", "0"], "terminals"),
        (["--manufacturer", "TOOLONG"], "does not fit"),
        (["--window", "0"], "window"),
    ],
)
def test_usage_errors_exit_2_with_a_message(
    flags: list[str], message: str, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["simulate", *flags]) == 2
    assert message in capsys.readouterr().err


def test_the_summary_text_names_the_figures() -> None:
    stats_config = SimulationConfig(terminals=2, count=1)
    summary = SimulationSummary(stats_config, Simulation(stats_config).stats, 1.0, 0.5)
    text = summary.text()
    for word in ("terminals", "reports", "ack latency", "throughput", "errors", "INCOMPLETE"):
        assert word in text


# --------------------------------------------------------------------------------------------
# Statistics


def test_latency_percentiles_are_within_two_percent() -> None:
    histogram = LatencyHistogram()
    samples = [n / 1000 for n in range(1, 1001)]  # 1 ms .. 1 s
    for sample in samples:
        histogram.add(sample)
    for q, exact in ((50, 0.5), (90, 0.9), (99, 0.99)):
        assert histogram.percentile(q) == pytest.approx(exact, rel=0.02)
    assert histogram.percentile(100) == histogram.maximum == 1.0
    assert histogram.percentile(0) == histogram.minimum == 0.001
    assert histogram.mean == pytest.approx(sum(samples) / len(samples))


def test_latency_histograms_merge_by_adding_counts() -> None:
    low, high = LatencyHistogram(), LatencyHistogram()
    for _ in range(90):
        low.add(0.001)
    for _ in range(10):
        high.add(0.1)
    low.merge(high)
    assert low.count == 100
    assert low.percentile(90) == pytest.approx(0.001, rel=0.02)
    assert low.percentile(91) == pytest.approx(0.1, rel=0.02)
    assert LatencyHistogram().percentile(50) == 0.0


# --------------------------------------------------------------------------------------------
# The newcomer's path: the default (local) registry and the README's devices


README_DEVICES = "manufacturer_id,terminal_model,terminal_id\nM1,X100,T000001\n"


def simulate_command(address: HostPort, *flags: str) -> list[str]:
    return [
        sys.executable, "-m", "clients.cli", "simulate", "--server",
        f"{address.host}:{address.port}", "--count", "3", "--rate", "0", "--quiet", *flags,
    ]  # fmt: skip


async def test_simulate_devices_csv_registers_the_readme_devices(tmp_path: Path) -> None:
    devices = tmp_path / "devices.csv"
    devices.write_text(README_DEVICES, encoding="utf-8")
    assert main(["devices", "--data-dir", str(tmp_path / "data"), "import", str(devices)]) == 0
    async with running_gateway(tmp_path / "data", local_auth=True) as (gateway, address):
        with gateway.hub.subscribe() as subscription:
            with anyio.fail_after(HANG_GUARD):
                process = await anyio.run_process(
                    simulate_command(address, "--devices", str(devices), "--json"), check=False
                )
            events = drain(subscription)
    assert process.returncode == 0, process.stderr.decode()
    summary = json.loads(process.stdout)
    assert (summary["terminals"], summary["registered"], summary["authenticated"]) == (1, 1, 1)
    registered = [
        e for e in events if isinstance(e, TerminalEvent) and e.kind is EventKind.REGISTERED
    ]
    assert [e.device_name for e in registered] == ["M1_X100_T000001"]


async def test_a_refused_registration_says_what_to_do(tmp_path: Path) -> None:
    async with running_gateway(tmp_path / "data", local_auth=True) as (_, address):
        with anyio.fail_after(HANG_GUARD):
            process = await anyio.run_process(
                simulate_command(address, "--terminals", "2"), check=False
            )
    assert process.returncode == 1
    advice = process.stderr.decode().splitlines()[-1]
    assert advice.startswith("jt808 simulate: the gateway refused to register 2 terminal(s)")
    assert "jt808 devices import" in advice and "--devices" in advice
    assert "--auth insecure-accept-all" in advice


@pytest.mark.parametrize(
    ("content", "flags", "message"),
    [
        (None, [], "does not exist"),
        (README_DEVICES, ["--terminals", "2"], "lists 1 device(s); --terminals 2 needs as many"),
        ("manufacturer_id,terminal_model\nM1,X100\n", [], "missing required column"),
        (
            README_DEVICES.replace("M1", "TOOLONGMAKER"),
            [],
            "line 2: terminal identity does not fit",
        ),
        ("manufacturer_id,terminal_model,terminal_id\n", [], "lists no device"),
    ],
)
def test_a_devices_file_that_cannot_be_simulated_is_a_usage_error(
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
    content: str | None,
    flags: list[str],
    message: str,
) -> None:
    devices = tmp_path / "devices.csv"
    if content is not None:
        devices.write_text(content, encoding="utf-8")
    assert main(["simulate", "--devices", str(devices), *flags]) == 2
    error = capsys.readouterr().err
    assert error.startswith(f"jt808 simulate: {devices}") and message in error, error
    assert error.count("\n") == 1


def test_no_gateway_listening_says_what_to_check(capsys: pytest.CaptureFixture[str]) -> None:
    with socket.socket() as probe:  # a port nobody listens on
        probe.bind((LOOPBACK, 0))
        port = probe.getsockname()[1]
    flags = ["--server", f"{LOOPBACK}:{port}", "--terminals", "1", "--count", "1", "--quiet"]
    assert main(["simulate", *flags]) == 1
    advice = capsys.readouterr().err.splitlines()[-1]
    assert advice == (
        f"jt808 simulate: nothing accepted a connection at {LOOPBACK}:{port}: is the gateway "
        "running (make serve), and is --server its --listen address?"
    )
