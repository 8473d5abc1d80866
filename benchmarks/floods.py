"""Floods: the ack latency of well-behaved terminals while attackers flood the gateway.

Run with ``python -m benchmarks.floods [--seconds S] [--terminals N]``. The gateway runs as
``jt808 serve`` in a process of its own (``--auth local``, ``--max-connections 500
--authentication-timeout 15``, the issue's setting); this process holds the good terminals,
which report every 20 ms and time each acknowledgement; each flood runs in a process of its
own. Phases of
``--seconds`` each: quiet (the baseline), connection flood, slow-loris, bad-auth storm,
garbage (random, mutated and every-id frames, sub-packaged registrations). Per phase: p50/p99
of the good terminals' acks against the quiet baseline, reports acked, the gateway's RSS and the
limit hits it counted. Three processes share the machine's cores, so the latencies are upper
bounds. Nothing asserts a speed; figures go to docs/benchmarks.md.
"""

from __future__ import annotations

import argparse
import json
import os
import random
import re
import socket
import subprocess
import sys
import tempfile
import time
import urllib.request
from collections.abc import Awaitable, Callable, Coroutine
from datetime import datetime
from pathlib import Path
from typing import Any

import anyio
import anyio.abc
import anyio.to_thread

from benchmarks import hostile
from gateway.protocol.bodies.general import Heartbeat
from gateway.protocol.bodies.location import LocationReport
from gateway.protocol.bodies.registration import TerminalAuthenticate, TerminalRegisterResponse
from gateway.protocol.body import Body
from gateway.protocol.framing import FrameDecoder
from gateway.protocol.message import Message, decode_packet
from gateway.protocol.versions import V2013
from gateway.protocol.wire import CHINA_TZ
from gateway.registry import Device, DeviceRegistry
from gateway.server.config import HostPort

ATTACKERS_AT_ONCE = 400


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port: int = probe.getsockname()[1]
        return port


class GoodTerminal:
    """A registered device reporting every 20 ms, timing each 0x8001."""

    def __init__(self, address: HostPort, index: int) -> None:
        self.address = address
        self.phone = f"0136{index:08d}"
        self.terminal_id = f"G{index:06d}"
        self.latencies: list[float] = []
        self._decoder = FrameDecoder()
        self._serial = 0
        self._stream: anyio.abc.SocketStream | None = None

    async def _send(self, body: Body) -> None:
        assert self._stream is not None
        self._serial += 1
        await self._stream.send(hostile.frame(body, V2013, self.phone, self._serial))

    async def _reply(self) -> Message:
        assert self._stream is not None
        while True:
            for event in self._decoder.feed(await self._stream.receive()):
                if isinstance(event, bytes):
                    return decode_packet(event, version_hint=V2013)

    async def log_in(self) -> None:
        self._stream = await anyio.connect_tcp(self.address.host, self.address.port)
        registration = hostile.registration(V2013, self.phone, self.terminal_id, self.terminal_id)
        await self._stream.send(registration)
        answer = (await self._reply()).body
        assert isinstance(answer, TerminalRegisterResponse) and answer.auth_code, answer
        await self._send(TerminalAuthenticate(auth_code=answer.auth_code))
        await self._reply()

    async def report(self, until: float) -> None:
        location = LocationReport(alarm=0, status=2, latitude=22.5, longitude=114.0,
                                  altitude=10, speed=36.0, direction=90,
                                  time=datetime(2026, 1, 1, tzinfo=CHINA_TZ))  # fmt: skip
        while time.monotonic() < until:
            started = time.perf_counter()
            await self._send(location)
            await self._reply()
            self.latencies.append(time.perf_counter() - started)
            await anyio.sleep(0.02)
        await self._send(Heartbeat())
        await self._reply()


def percentile(samples: list[float], share: float) -> float:
    ordered = sorted(samples)
    return ordered[min(len(ordered) - 1, int(share * len(ordered)))] if ordered else 0.0


def rss_kib(pid: int) -> int:
    text = Path(f"/proc/{pid}/status").read_text()
    match = re.search(r"VmRSS:\s+(\d+) kB", text)
    return int(match.group(1)) if match else 0


def limit_hits(metrics: HostPort) -> dict[str, int]:
    with urllib.request.urlopen(f"http://{metrics}/metrics", timeout=5) as answer:
        text = answer.read().decode()
    hits: dict[str, int] = {}
    for name, value in re.findall(r'jt808_limit_hits_total\{limit="([^"]+)"\} ([0-9.e+]+)', text):
        hits[name] = int(float(value))
    return hits


# ---- attacks (each runs until the phase ends) ----------------------------------------------


async def connection_flood(address: HostPort, until: float, rng: random.Random) -> None:
    stats = hostile.AttackStats()
    async with anyio.create_task_group() as tasks:
        for _ in range(2000):
            if time.monotonic() >= until:
                break
            tasks.start_soon(hostile.slow_loris, address, stats, until - time.monotonic(), b"")
            await anyio.sleep(0.002)


async def slow_loris(address: HostPort, until: float, rng: random.Random) -> None:
    stats = hostile.AttackStats()
    trickle = hostile.registration(V2013, "013000000000")
    async with anyio.create_task_group() as tasks:
        for index in range(1000):
            if time.monotonic() >= until:
                break
            data = trickle if index % 2 else b""
            tasks.start_soon(hostile.slow_loris, address, stats, until - time.monotonic(), data)
            await anyio.sleep(0.004)


async def _repeat(until: float, work: Callable[[], Awaitable[None]], at_once: int) -> None:
    async def worker() -> None:
        while time.monotonic() < until:
            await work()

    async with anyio.create_task_group() as tasks:
        for _ in range(at_once):
            tasks.start_soon(worker)


async def bad_auth_storm(address: HostPort, until: float, rng: random.Random) -> None:
    stats = hostile.AttackStats()
    await _repeat(until, lambda: hostile.bad_auth(address, rng, stats), 50)


async def garbage(address: HostPort, until: float, rng: random.Random) -> None:
    stats = hostile.AttackStats()
    phones = {v: hostile.random_phone(rng, v) for v in hostile.VERSIONS}

    async def one() -> None:
        frames = list(hostile.every_message_frames(rng, phones))
        frames += [rng.randbytes(rng.randint(1, 600))]
        frames += [hostile.mutated(rng, hostile.registration(V2013, phones[V2013]))] * 20
        rng.shuffle(frames)
        await hostile.send_frames(address, frames, stats, "garbage")

    await _repeat(until, one, 20)


PHASES: dict[str, Callable[[HostPort, float, random.Random], Coroutine[Any, Any, None]] | None] = {
    "quiet": None,
    "connection flood (2000 idle)": connection_flood,
    "slow-loris (1000, half trickling 0x0100)": slow_loris,
    "bad-auth storm (50 at once)": bad_auth_storm,
    "garbage (every id, mutated, random)": garbage,
}


async def run(seconds: float, terminals: int) -> list[dict[str, object]]:
    port, metrics_port = free_port(), free_port()
    address = HostPort("127.0.0.1", port)
    metrics = HostPort("127.0.0.1", metrics_port)
    results: list[dict[str, object]] = []
    with tempfile.TemporaryDirectory() as data:
        with DeviceRegistry(data) as registry:
            registry.upsert(Device("ACME1", "TK-1", f"G{i:06d}") for i in range(terminals))
        command = [
            sys.executable, "-m", "clients.cli", "serve", "--listen", str(address),
            "--grpc-listen", f"127.0.0.1:{free_port()}", "--metrics-listen", str(metrics),
            "--data-dir", data, "--max-connections", "500", "--authentication-timeout", "15",
            "--log-level", "error",
        ]  # fmt: skip
        gateway = subprocess.Popen(command, env={**os.environ, "PYTHONWARNINGS": "ignore"})
        try:
            with anyio.fail_after(30):
                while True:
                    try:
                        await (await anyio.connect_tcp(address.host, address.port)).aclose()
                        break
                    except OSError:
                        await anyio.sleep(0.1)
            good = [GoodTerminal(address, index) for index in range(terminals)]
            for terminal in good:
                await terminal.log_in()
            baseline = 0.0
            for name, attack in PHASES.items():
                for terminal in good:
                    terminal.latencies.clear()
                before = limit_hits(metrics)
                attacker = None
                if attack is not None:  # in a process of its own: it must not slow the terminals
                    attacker = subprocess.Popen([
                        sys.executable, "-m", "benchmarks.floods", "--attack", name,
                        "--address", str(address), "--seconds", str(seconds),
                    ])  # fmt: skip
                    await anyio.sleep(0.5)  # the flood is under way
                until = time.monotonic() + seconds - (0.5 if attacker else 0)
                async with anyio.create_task_group() as tasks:
                    for terminal in good:
                        tasks.start_soon(terminal.report, until)
                if attacker is not None:
                    await anyio.to_thread.run_sync(attacker.wait)
                samples = [s for t in good for s in t.latencies]
                p99 = percentile(samples, 0.99) * 1000
                baseline = baseline or p99
                after = limit_hits(metrics)
                results.append({
                    "phase": name, "acked": len(samples),
                    "p50_ms": round(percentile(samples, 0.5) * 1000, 2),
                    "p99_ms": round(p99, 2), "p99_vs_quiet": round(p99 / baseline, 2),
                    "gateway_rss_mib": round(rss_kib(gateway.pid) / 1024, 1),
                    "limit_hits": {k: v - before.get(k, 0) for k, v in after.items()
                                   if v != before.get(k, 0)},
                })  # fmt: skip
                await anyio.sleep(2)  # the attackers' connections drain
        finally:
            gateway.terminate()
            gateway.wait(10)
    return results


async def attack_only(name: str, address: HostPort, seconds: float) -> None:
    attack = PHASES[name]
    if attack is not None:
        await attack(address, time.monotonic() + seconds, random.Random(808))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seconds", type=float, default=10.0, help="per phase")
    parser.add_argument("--terminals", type=int, default=5, help="well-behaved terminals")
    parser.add_argument("--attack", choices=list(PHASES), help=argparse.SUPPRESS)
    parser.add_argument("--address", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.attack:  # the attacker process of one phase
        host, _, port = args.address.rpartition(":")
        anyio.run(attack_only, args.attack, HostPort(host, int(port)), args.seconds)
        return
    results = anyio.run(run, args.seconds, args.terminals)
    print(json.dumps(results, indent=1))
    print(
        f"\n{'phase':44} {'acked':>6} {'p50 ms':>7} {'p99 ms':>7} {'p99/quiet':>9} {'RSS MiB':>8}"
    )
    for row in results:
        print(f"{row['phase']:44} {row['acked']:>6} {row['p50_ms']:>7} {row['p99_ms']:>7} "
              f"{row['p99_vs_quiet']:>9} {row['gateway_rss_mib']:>8}")  # fmt: skip


if __name__ == "__main__":
    main()
