"""The hostile-input suite: a bounded attack over real connections (random and mutated frames,
every message id in every revision with random encryption bits and packet items, before and
after authentication; sub-package floods; slow-loris; bad-auth storms) while three
well-behaved terminals report throughout.

Invariants, not timings: no error-level log line, every report of the good terminals
acknowledged, the gateway still serving a newcomer, the reassembly budget within its bound and
memory growth within the stated bound. Figures are printed (``pytest -s`` shows them).
"""

from __future__ import annotations

import contextlib
import json
import logging
import random
import resource
import time
from pathlib import Path

import anyio
import pytest

from benchmarks import hostile
from gateway.protocol import V2013, V2019, ResultCode
from gateway.protocol.bodies.passthrough import UplinkPassthrough
from gateway.protocol.ids import MessageId
from gateway.registry import Device, DeviceRegistry
from gateway.server.gateway import Gateway
from gateway.server.logs import LOGGER_NAME

from .harness import OTHER_IDENTITY, StartGateway, address_of
from .terminal_client import TerminalClient

pytestmark = pytest.mark.anyio

SEED = 808
#: How long the attack runs; every attacker is bounded in count too.
ATTACK_SECONDS = 6.0
#: Memory the attack may add to the process: the unauthenticated budget (64 connections here)
#: at the stated 10 KiB each, the reassembly budget (1 MiB here), and room for the allocator.
MEMORY_BOUND_KIB = 64 * 10 + 1024 + 32 * 1024
#: Lines an attacker could otherwise cause once per frame: shown (info or above) only for the
#: first of each kind on a connection.
PER_FRAME_EVENTS = ("frame rejected", "message refused", "sub-packaged message dropped")
FUZZ_DEVICE = Device("FUZZ1", "FZ-1", "F000001")
THIRD_DEVICE = Device("ACME1", "TK-1", "T000003")


def rss_kib() -> int:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss


async def good_terminal(client: TerminalClient, stop: anyio.Event, latencies: list[float]) -> int:
    """Report a location every 20 ms until ``stop``; returns reports acked."""
    acked = 0
    while not stop.is_set():
        started = time.perf_counter()
        await client.send(client.terminal.location())
        await client.expect_general_response(MessageId.LOCATION_REPORT, ResultCode.SUCCESS)
        latencies.append(time.perf_counter() - started)
        acked += 1
        await anyio.sleep(0.02)
    return acked


async def fuzz_after_authentication(
    gateway: Gateway, rng: random.Random, stats: hostile.AttackStats, rounds: int
) -> None:
    """A registered device that sends garbage once authenticated, reconnecting when closed."""
    address = address_of(gateway)
    code = ""
    for _ in range(rounds):
        async with TerminalClient.connect(address, V2019, phone="19900000000000000001") as client:
            if not code:
                code = await client.log_in(
                    manufacturer_id=FUZZ_DEVICE.manufacturer_id,
                    terminal_model=FUZZ_DEVICE.terminal_model,
                    terminal_id=FUZZ_DEVICE.terminal_id,
                    plate="F11",
                )
            elif await client.authenticate(code) is not ResultCode.SUCCESS:
                return
            phones = {v: client.phone for v in hostile.VERSIONS}
            frames = list(hostile.every_message_frames(rng, phones))
            frames += [hostile.mutated(rng, client.terminal.location()) for _ in range(100)]
            big = UplinkPassthrough(type=0x41, data=rng.randbytes(6000))
            split = client.terminal.split(big, max_size=500)
            frames += split.frames[:-1]  # a sub-package flood: never completed
            rng.shuffle(frames)
            with contextlib.suppress(anyio.BrokenResourceError, OSError):
                await client.send(*frames)
            stats.count("after-auth", len(frames), sum(map(len, frames)))
            with anyio.move_on_after(0.5):  # what it is answered; closed or not
                await client.closed()


async def attack(gateway: Gateway, rng: random.Random, stats: hostile.AttackStats) -> None:
    address = address_of(gateway)
    phones = {v: hostile.random_phone(rng, v) for v in hostile.VERSIONS}
    async with anyio.create_task_group() as tasks:
        for _ in range(8):  # slow-loris: half trickle a registration, half send nothing
            trickle = hostile.registration(V2013, phones[V2013]) if rng.random() < 0.5 else b""
            tasks.start_soon(hostile.slow_loris, address, stats, ATTACK_SECONDS, trickle)
        tasks.start_soon(fuzz_after_authentication, gateway, random.Random(rng.random()), stats, 3)
        deadline = time.monotonic() + ATTACK_SECONDS
        while time.monotonic() < deadline:
            random_bytes = [rng.randbytes(rng.randint(1, 600))]
            every_id = list(hostile.every_message_frames(rng, phones))
            registration = hostile.registration(V2019, phones[V2019])
            registrations = [hostile.mutated(rng, registration) for _ in range(20)]
            async with anyio.create_task_group() as round_tasks:
                round_tasks.start_soon(hostile.send_frames, address, random_bytes, stats, "random")
                round_tasks.start_soon(hostile.send_frames, address, every_id, stats, "every-id")
                round_tasks.start_soon(
                    hostile.send_frames, address, registrations, stats, "mutated"
                )
                round_tasks.start_soon(hostile.bad_auth, address, rng, stats)
                round_tasks.start_soon(hostile.bad_auth, address, rng, stats)
            await anyio.sleep(0.05)


async def test_hostile_input_costs_the_attacker_only(
    start_gateway: StartGateway,
    devices: tuple[Device, ...],
    data_dir: Path,
    caplog: pytest.LogCaptureFixture,
    capsys: pytest.CaptureFixture[str],
) -> None:
    caplog.set_level(logging.DEBUG, logger=LOGGER_NAME)
    with DeviceRegistry(data_dir) as registry:
        registry.upsert([FUZZ_DEVICE, THIRD_DEVICE])
    rng = random.Random(SEED)
    stats = hostile.AttackStats()
    latencies: list[float] = []
    before = rss_kib()
    async with start_gateway(
        max_unauthenticated=64, reassembly_total_bytes=1024 * 1024, authentication_timeout=5
    ) as gateway:
        gateway.admission.shed_after = 1.0
        address = address_of(gateway)
        stop = anyio.Event()
        acked: list[int] = []
        sent_reports = 0
        with anyio.fail_after(90):
            async with (
                TerminalClient.connect(address, V2013, phone="013600000001") as one,
                TerminalClient.connect(address, V2013, phone="013600000002") as two,
                TerminalClient.connect(address, V2019, phone="13600000000000000003") as three,
                anyio.create_task_group() as tasks,
            ):
                # In before the attack: its registrations of their devices must then fail.
                await one.log_in()
                await two.log_in(**OTHER_IDENTITY)
                await three.log_in(terminal_id=THIRD_DEVICE.terminal_id, plate="C33")

                async def run(client: TerminalClient) -> None:
                    acked.append(await good_terminal(client, stop, latencies))

                for client in (one, two, three):
                    tasks.start_soon(run, client)
                await attack(gateway, rng, stats)
                held = gateway.reassembly_budget.held
                assert held <= gateway.reassembly_budget.limit
                stop.set()
            sent_reports = len(latencies)
            async with TerminalClient.connect(address, V2013, phone="013600000009") as late:
                await late.send(late.terminal.heartbeat())
                await late.expect_general_response(MessageId.HEARTBEAT, ResultCode.SUCCESS)
    grown = rss_kib() - before
    errors = [r for r in caplog.records if r.levelno >= logging.ERROR]
    shown = [r for r in caplog.records if r.levelno >= logging.INFO]
    latencies.sort()
    figures = {
        "attack_seconds": ATTACK_SECONDS,
        "attack_connections": stats.connections,
        "attack_frames": stats.frames,
        "attack_bytes": stats.bytes,
        "attack_frames_by_kind": stats.by_kind,
        "good_reports_acked": sum(acked),
        "good_p50_ms": round(latencies[len(latencies) // 2] * 1000, 2),
        "good_p99_ms": round(latencies[int(len(latencies) * 0.99)] * 1000, 2),
        "max_rss_growth_kib": grown,
        "error_lines": len(errors),
        "log_lines": len(caplog.records),
        "info_lines": len(shown),
    }
    with capsys.disabled():
        print("\nhostile-input suite:", json.dumps(figures))
    assert [r.getMessage() for r in errors] == []
    assert sum(acked) == sent_reports > 0
    assert stats.frames > 1000
    assert grown <= MEMORY_BOUND_KIB, figures
    # No log amplification: the per-frame lines are shown once per connection at most.
    for event in PER_FRAME_EVENTS:
        lines = sum(r.getMessage() == event for r in shown)
        assert lines <= stats.connections + 4, (event, lines, figures)
