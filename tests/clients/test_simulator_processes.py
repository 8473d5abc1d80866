"""``jt808 simulate --processes N``: the fleet split over worker processes, each terminal the
one a single process would simulate, and one summary of the whole run."""

from __future__ import annotations

import json
import sys
from collections import Counter
from pathlib import Path

import anyio
import pytest

from clients.cli import build_parser
from clients.simulate_command import config_from
from clients.simulator.processes import merge, split_config
from clients.simulator.runner import SimulationConfig, SimulationSummary
from clients.simulator.stats import RunStats
from gateway.hub import LocationReported
from tests.timeouts import HANG_GUARD

from .test_simulator import drain, phones, running_gateway

pytestmark = pytest.mark.anyio


@pytest.fixture
def anyio_backend() -> str:
    return "asyncio"


def test_the_shares_cover_the_fleet_once_with_the_same_identities() -> None:
    config = SimulationConfig(terminals=10, connect_rate=100.0, connect_concurrency=8)
    parts = split_config(config, 3)
    assert [p.terminals for p in parts] == [4, 3, 3]
    assert [i for p in parts for i in p.indices] == list(range(10))
    assert [p.profile(i) for p in parts for i in p.indices] == [
        config.profile(i) for i in range(10)
    ]
    assert sum(p.connect_rate for p in parts) == pytest.approx(100.0)
    assert all(p.connect_concurrency >= 1 for p in parts)
    assert len(split_config(SimulationConfig(terminals=2), 8)) == 2


def test_summaries_merge_by_adding_counts_and_spanning_the_reporting_time() -> None:
    config = SimulationConfig(terminals=4)
    parts = []
    for first, last, latency in ((10.0, 12.0, 0.001), (11.0, 15.0, 0.003)):
        stats = RunStats(terminals=2, authenticated=2, reports_sent=5, reports_acked=5)
        stats.latency.add(latency)
        stats.error("ack_timeout")
        parts.append(SimulationSummary(config, stats, 6.0, last - first, first_report_at=first,
                                       last_ack_at=last))  # fmt: skip
    merged = merge(config, parts)
    assert (merged.stats.terminals, merged.stats.authenticated) == (4, 4)
    assert (merged.stats.reports_sent, merged.stats.reports_acked) == (10, 10)
    assert merged.stats.latency.count == 2 and merged.stats.errors == {"ack_timeout": 2}
    assert merged.reporting_s == pytest.approx(5.0) and merged.throughput == pytest.approx(2.0)


def test_processes_takes_a_count_or_auto() -> None:
    parse = build_parser().parse_args
    assert parse(["simulate", "--processes", "auto"]).processes == "auto"
    assert parse(["simulate", "--processes", "3"]).processes == 3
    assert parse(["simulate"]).processes == 1
    config = config_from(parse(["simulate", "--processes", "2"]))
    assert config.first_index == 0


def test_processes_must_be_a_positive_count(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as stopped:
        build_parser().parse_args(["simulate", "--processes", "0"])
    assert stopped.value.code == 2
    assert "--processes" in capsys.readouterr().err


async def test_two_processes_simulate_the_fleet_of_one(tmp_path: Path) -> None:
    async with running_gateway(tmp_path) as (gateway, address):
        with gateway.hub.subscribe(max_queue=100_000) as subscription:
            command = [
                sys.executable, "-m", "clients.cli", "simulate",
                "--server", f"{address.host}:{address.port}", "--processes", "2",
                "--terminals", "6", "--count", "15", "--rate", "0", "--window", "4",
                "--json", "--quiet",
            ]  # fmt: skip
            with anyio.fail_after(HANG_GUARD):
                process = await anyio.run_process(command, check=False)
            await anyio.sleep(0.05)
            events = drain(subscription)
    assert process.returncode == 0, process.stderr.decode()
    summary = json.loads(process.stdout)
    assert summary["ok"] is True and summary["errors"] == {}
    assert (summary["terminals"], summary["authenticated"]) == (6, 6)
    assert summary["reports_sent"] == summary["reports_acked"] == 90
    assert summary["ack_latency_ms"]["count"] == 90
    reported = Counter(e.phone for e in events if isinstance(e, LocationReported))
    assert reported == dict.fromkeys(phones(SimulationConfig(terminals=6)), 15)
