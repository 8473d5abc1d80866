"""Codec throughput: frames per second for the protocol core's hot paths, on one core.

Run with ``make bench`` or ``python -m benchmarks.codec [--seconds S] [--rounds N]``.
Prints one line per case: the best and median rate over the rounds. Not a test: nothing here
asserts a speed; the figures go to docs/benchmarks.md.

Cases
- decode 0x0200 (2013, four additional items) from wire bytes to a typed ``Message``:
  * "fleet": frames of many terminals within the same few seconds (how a gateway sees traffic),
  * "new second every frame": every frame carries a time never seen before (worst case for the
    time memo),
  * "stream": the server's path, ``FrameDecoder`` over 64 KiB chunks then ``decode_packet``,
  * "+ item values": decode and then read every additional item's decoded value.
- encode 0x8001 (2013 platform general response) from a typed body to wire bytes.
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import time
from collections.abc import Callable
from datetime import datetime, timedelta

from gateway.protocol import (
    V2013,
    FrameDecoder,
    Header,
    Message,
    decode_frame,
    decode_packet,
    encode,
    encode_message,
)
from gateway.protocol.bodies.general import PlatformGeneralResponse
from gateway.protocol.bodies.location import AdditionalInfo, LocationReport
from gateway.protocol.wire import CHINA_TZ

DECODE_TARGET = 250_000
ENCODE_TARGET = 400_000


def location_frame(phone: str, serial: int, moment: datetime) -> bytes:
    """A 2013 0x0200 with four additional items: mileage, fuel, signal strength, satellites."""
    report = LocationReport(
        alarm=0x0000_0101,
        status=0x000C_0003,
        latitude=31.230416,
        longitude=121.473701,
        altitude=12,
        speed=63.5,
        direction=270,
        time=moment,
        extras=[
            AdditionalInfo.of(0x01, 12345.6),
            AdditionalInfo.of(0x02, 88.5),
            AdditionalInfo.of(0x30, 27),
            AdditionalInfo.of(0x31, 14),
        ],
    )
    return encode_message(Message(Header(0x0200, phone, serial, V2013), report))


def fleet_frames(count: int, distinct_seconds: int) -> list[bytes]:
    start = datetime(2026, 11, 21, 8, 0, 0, tzinfo=CHINA_TZ)
    return [
        location_frame(f"0139{i:08d}", i % 65536, start + timedelta(seconds=i % distinct_seconds))
        for i in range(count)
    ]


def rate(run: Callable[[], int], seconds: float) -> float:
    """Items per second of ``run`` (which returns how many items it processed) over ~seconds."""
    done = 0
    began = time.perf_counter()
    elapsed = 0.0
    while elapsed < seconds:
        done += run()
        elapsed = time.perf_counter() - began
    return done / elapsed


def measure(name: str, run: Callable[[], int], args: argparse.Namespace, target: int) -> None:
    run()  # warm caches, compile plans
    rates = [rate(run, args.seconds) for _ in range(args.rounds)]
    best, median = max(rates), statistics.median(rates)
    verdict = ""
    if target:
        verdict = f"  (target {target:,}: {'met' if best >= target else 'NOT met'})"
    print(f"{name:58s} best {best:>11,.0f}/s  median {median:>11,.0f}/s{verdict}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--seconds", type=float, default=1.0, help="length of one round")
    parser.add_argument("--rounds", type=int, default=5, help="rounds per case")
    args = parser.parse_args()
    if hasattr(os, "sched_setaffinity"):
        os.sched_setaffinity(0, {min(os.sched_getaffinity(0))})  # one core, as the target says

    fleet = fleet_frames(1000, distinct_seconds=4)
    fresh = fleet_frames(20_000, distinct_seconds=20_000)
    sample = decode_frame(fleet[0])
    assert isinstance(sample.body, LocationReport) and len(sample.body.extras) == 4

    def decode_fleet() -> int:
        for frame in fleet:
            decode_frame(frame)
        return len(fleet)

    def decode_fresh() -> int:
        for frame in fresh:
            decode_frame(frame)
        return len(fresh)

    chunk = b"".join(fleet)
    chunks = [chunk[i : i + 65536] for i in range(0, len(chunk), 65536)]

    def decode_stream() -> int:
        decoder = FrameDecoder()
        count = 0
        for piece in chunks:
            for event in decoder.feed(piece):
                if isinstance(event, bytes):
                    decode_packet(event)
                    count += 1
        return count

    def decode_with_values() -> int:
        for frame in fleet:
            body = decode_frame(frame).body
            assert isinstance(body, LocationReport)
            for item in body.extras:
                _ = item.value
        return len(fleet)

    header = Header(0x8001, "013912345678", 0, V2013)
    reply = PlatformGeneralResponse(reply_serial=0x1234, reply_id=0x0200, result=0)

    def encode_replies() -> int:
        for _ in range(1000):
            encode(header, reply)
        return 1000

    print(f"python {sys.version.split()[0]}, one core, {args.rounds} x {args.seconds:g} s rounds")
    measure("decode 0x0200 (2013, 4 items) fleet traffic", decode_fleet, args, DECODE_TARGET)
    measure("decode 0x0200 (2013, 4 items) new second every frame", decode_fresh, args, 0)
    measure("decode 0x0200 stream: FrameDecoder + decode_packet", decode_stream, args, 0)
    measure("decode 0x0200 + read every item value", decode_with_values, args, 0)
    measure("encode 0x8001 (2013)", encode_replies, args, ENCODE_TARGET)


if __name__ == "__main__":
    main()
