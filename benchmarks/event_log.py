"""The event log alone, without sockets: how many events a second it stores and how long a
batch waits for its commit, by ``--durability``, next to the floor any log pays (the same bytes
appended to a plain file, one write and, for fsync, one fsync per batch).

    .venv/bin/python -m benchmarks.event_log                 # 20,000 events per case
    .venv/bin/python -m benchmarks.event_log --events 50000 --json

A producer on the event loop appends ``--per-tick`` events per loop iteration (what many
terminals' reports in one iteration look like) as long as fewer than ``--in-flight`` wait, so
the writer thread's group commit decides the batch sizes, as in the gateway.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import statistics
import tempfile
import time
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from gateway.events import LocationReported
from gateway.hub import EventHub
from gateway.protocol.bodies.location import AdditionalInfo, LocationReport
from gateway.protocol.body import decode_body
from gateway.protocol.message import encode_body
from gateway.protocol.versions import V2013
from gateway.store.base import Durability
from gateway.store.log import LogStore
from gateway.store.records import location_row

REPORT = LocationReport(
    alarm=0, status=2, latitude=22.543096, longitude=114.057865, altitude=12, speed=60.0,
    direction=90, time=datetime(2026, 12, 5, 8, 0, tzinfo=UTC),
    extras=[AdditionalInfo(0x01, b"\x00\x00\x01\x00"), AdditionalInfo(0x30, b"\x1f"),
            AdditionalInfo(0x31, b"\x0c")],
)  # fmt: skip
BODY = encode_body(REPORT, V2013)


def event(index: int) -> LocationReported:
    report, _ = decode_body(0x0200, BODY, V2013)
    assert isinstance(report, LocationReport)
    phone = f"0138{index % 1000:08d}"
    return LocationReported(phone, f"SIM_{index % 1000}", report, 0x0200, index & 0xFFFF,
                            None, datetime.now(UTC))  # fmt: skip


class Latency:
    def __init__(self) -> None:
        self.started: dict[int, float] = {}
        self.waits: list[float] = []
        self.settled = 0

    def batch_done(self, batch: int, stored: bool) -> None:
        self.waits.append(time.perf_counter() - self.started.pop(batch))


async def log_case(
    durability: Durability, events: int, per_tick: int, in_flight: int
) -> dict[str, Any]:
    with tempfile.TemporaryDirectory(prefix="jt808-log-bench-", dir=".") as work:
        store = LogStore(Path(work), EventHub(), durability=durability)
        await store.start()
        latency = Latency()
        made = [event(i) for i in range(events)]
        began = time.perf_counter()
        sent = 0
        while sent < events:
            if store.status().pending >= in_flight:
                await asyncio.sleep(0)
                continue
            batch = 0
            for item in made[sent : sent + per_tick]:
                batch = store.append(item)
            sent += per_tick
            if batch not in latency.started:
                latency.started[batch] = time.perf_counter()
                store.notify(latency, batch)
            await asyncio.sleep(0)
        while latency.started:
            await asyncio.sleep(0.001)
        elapsed = time.perf_counter() - began
        size = store.status().size_bytes
        await store.aclose()
    return summary(f"sqlite-wal {durability.value}", events, elapsed, latency.waits, size)


def file_case(fsync: bool, events: int, batch: int) -> dict[str, Any]:
    """The floor: rows as bytes appended to one file, one write (+ fsync) per batch."""
    rows = [repr(location_row(event(i), 0)).encode() for i in range(events)]
    waits: list[float] = []
    with (
        tempfile.TemporaryDirectory(prefix="jt808-log-bench-", dir=".") as work,
        open(Path(work) / "plain.log", "ab") as file,
    ):
        began = time.perf_counter()
        for start in range(0, events, batch):
            at = time.perf_counter()
            file.write(b"\n".join(rows[start : start + batch]))
            file.flush()
            if fsync:
                os.fsync(file.fileno())
            waits.append(time.perf_counter() - at)
        elapsed = time.perf_counter() - began
        size = file.tell()
    return summary(f"plain file {'fsync' if fsync else 'os'}", events, elapsed, waits, size)


def summary(
    case: str, events: int, elapsed: float, waits: list[float], size: int
) -> dict[str, Any]:
    ordered = sorted(waits)
    return {
        "case": case,
        "events_per_s": round(events / elapsed),
        "commits": len(waits),
        "commit_wait_p50_ms": round(statistics.median(ordered) * 1000, 2),
        "commit_wait_p99_ms": round(ordered[int(len(ordered) * 0.99)] * 1000, 2),
        "bytes_per_event": round(size / events),
    }


async def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--events", type=int, default=20_000)
    parser.add_argument("--per-tick", type=int, default=50)
    parser.add_argument("--in-flight", type=int, default=4096)
    parser.add_argument("--json", action="store_true")
    args = parser.parse_args()
    results = [await log_case(d, args.events, args.per_tick, args.in_flight)
               for d in (Durability.OS, Durability.FSYNC)]  # fmt: skip
    mean_batch = max(1, args.events // max(1, results[-1]["commits"]))
    results += [file_case(False, args.events, mean_batch), file_case(True, args.events, mean_batch)]
    if args.json:
        print(
            json.dumps(
                {
                    "events": args.events,
                    "per_tick": args.per_tick,
                    "plain_file_batch": mean_batch,
                    "results": results,
                },
                indent=2,
            )
        )
    columns = (
        "case",
        "events_per_s",
        "commits",
        "commit_wait_p50_ms",
        "commit_wait_p99_ms",
        "bytes_per_event",
    )
    print("  ".join(f"{name:>18}" for name in columns))
    for result in results:
        print("  ".join(f"{result[name]!s:>18}" for name in columns))


if __name__ == "__main__":
    asyncio.run(main())
