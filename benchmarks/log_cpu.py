"""CPU the event log costs per record, by thread: the event loop (appending, packing, settling)
and the writer thread (committing), with no sockets and no terminals.

    .venv/bin/python -m benchmarks.log_cpu                       # 200,000 records, /dev/shm
    .venv/bin/python -m benchmarks.log_cpu --durability fsync --dir /tmp

A producer on the loop appends ``--per-tick`` 0x0200 locations (of ``--phones`` terminals) per
loop iteration while fewer than ``--in-flight`` wait, as many terminals' chunks do at
saturation. Only the store's public API is used, so the same script measures any build of the
gateway (``PYTHONPATH=<checkout>``), for before/after figures.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import tempfile
import threading
import time
from datetime import UTC, datetime
from pathlib import Path

from benchmarks.event_log import BODY
from gateway.events import LocationReported
from gateway.hub import EventHub
from gateway.protocol.bodies.location import LocationReport
from gateway.protocol.body import decode_body
from gateway.protocol.versions import V2013
from gateway.store.base import Durability
from gateway.store.log import LogStore

_TICK = os.sysconf("SC_CLK_TCK")


class Settled:
    def __init__(self) -> None:
        self.waiting = 0
        self.stored = 0
        self.event = asyncio.Event()

    def batch_done(self, batch: int, stored: bool) -> None:
        self.waiting -= 1
        self.stored += stored
        self.event.set()


def thread_cpu(native_id: int) -> float:
    """CPU seconds of a thread of this process (Linux)."""
    fields = Path(f"/proc/self/task/{native_id}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / _TICK


async def run(args: argparse.Namespace, data_dir: Path) -> dict[str, float]:
    hub = EventHub()
    store = LogStore(data_dir, hub, durability=Durability(args.durability))
    await store.start()
    writer = next(t for t in threading.enumerate() if t.name == "jt808-event-log")
    assert writer.native_id is not None
    phones = [f"0138{i:08d}" for i in range(args.phones)]
    reports: list[LocationReport] = []
    for _ in range(args.per_tick):
        report, _ = decode_body(0x0200, BODY, V2013)
        assert isinstance(report, LocationReport)
        reports.append(report)
    settled = Settled()
    loop_cpu, writer_cpu, wall = time.thread_time(), thread_cpu(writer.native_id), time.time()
    sent = 0
    while sent < args.events:
        if settled.waiting * args.per_tick >= args.in_flight:
            settled.event.clear()
            await settled.event.wait()
            continue
        now = datetime.now(UTC)
        batch = 0
        for i in range(args.per_tick):
            phone = phones[(sent + i) % len(phones)]
            event = LocationReported(phone, phone, reports[i], 0x0200, (sent + i) & 0xFFFF, None,
                                     now)  # fmt: skip
            batch = store.append(event)
        store.notify(settled, batch)
        settled.waiting += 1
        sent += args.per_tick
        await asyncio.sleep(0)
    while settled.waiting:
        settled.event.clear()
        await settled.event.wait()
    loop_cpu = time.thread_time() - loop_cpu
    writer_cpu = thread_cpu(writer.native_id) - writer_cpu
    wall = time.time() - wall
    commits = store.commits
    await store.aclose()
    return {
        "records": sent, "stored_batches": settled.stored, "commits": commits,
        "records_per_s": sent / wall, "loop_us": loop_cpu / sent * 1e6,
        "writer_us": writer_cpu / sent * 1e6, "total_us": (loop_cpu + writer_cpu) / sent * 1e6,
    }  # fmt: skip


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--events", type=int, default=200_000)
    parser.add_argument("--per-tick", type=int, default=50)
    parser.add_argument("--in-flight", type=int, default=400)
    parser.add_argument("--phones", type=int, default=100)
    parser.add_argument("--durability", default="os", choices=["os", "fsync"])
    parser.add_argument("--dir", type=Path, default=Path("/dev/shm"))
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--json", action="store_true")
    args = parser.parse_args()
    results = []
    for _ in range(args.runs):
        with tempfile.TemporaryDirectory(dir=args.dir, prefix="jt808-log-cpu-") as tmp:
            results.append(asyncio.run(run(args, Path(tmp))))
    if args.json:
        print(json.dumps(results))
        return
    for r in results:
        print(f"{r['records_per_s']:>10,.0f} records/s  {r['commits']:>5} commits  "
              f"loop {r['loop_us']:.2f} µs  writer {r['writer_us']:.2f} µs  "
              f"total {r['total_us']:.2f} µs per record")  # fmt: skip


if __name__ == "__main__":
    main()
