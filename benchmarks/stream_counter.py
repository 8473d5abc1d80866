"""A StreamLocations subscriber that counts what it is given: ``benchmarks.peer`` attaches it to
the gateway during a load to check that every acknowledged report is delivered.

    python -m benchmarks.stream_counter --gateway 127.0.0.1:50051 --ready FILE

It subscribes to every terminal with a large ``max_batch`` (the way a consumer of a busy fleet
reads), touches ``--ready`` once subscribed, and stops when no location came for ``--quiet``
seconds after the first one (or after ``--limit`` seconds in all, or on SIGTERM/SIGINT). Then it
prints one JSON object: locations received, responses, locations the gateway said were dropped
(gaps), and the distinct terminals seen.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import signal
import sys
import time
from pathlib import Path

from clients.sdk import GatewayClient
from jt808.gateway.v1 import gateway_service_pb2 as api

#: Responses carry up to this many locations when the stream has several waiting.
DEFAULT_MAX_BATCH = 4096


class Tally:
    def __init__(self) -> None:
        self.locations = 0
        self.responses = 0
        self.dropped = 0
        self.phones: set[str] = set()
        self.last_item = 0.0

    def count(self, response: api.StreamLocationsResponse) -> None:
        self.responses += 1
        kind = response.WhichOneof("item")
        if kind == "gap":
            self.dropped += response.gap.dropped
            return
        items = response.locations.items if kind == "locations" else [response.location]
        self.locations += len(items)
        self.phones.update(item.phone for item in items)
        self.last_item = time.monotonic()

    def summary(self) -> dict[str, int]:
        return {
            "locations": self.locations,
            "responses": self.responses,
            "dropped": self.dropped,
            "terminals": len(self.phones),
        }


async def count(gateway: str, ready: Path | None, max_batch: int, quiet: float,
                limit: float) -> Tally:  # fmt: skip
    tally = Tally()
    async with GatewayClient(gateway) as client:
        await client.wait_until_ready()
        call = client.gateway.StreamLocations(api.StreamLocationsRequest(max_batch=max_batch))
        reader = asyncio.ensure_future(_read(call, tally))
        # The server stream sends nothing until a location comes: give the subscription a
        # moment to reach the gateway before saying it is ready.
        await asyncio.sleep(0.5)
        if ready is not None:
            ready.touch()
        stop = asyncio.Event()
        loop = asyncio.get_running_loop()
        for signum in (signal.SIGTERM, signal.SIGINT):
            loop.add_signal_handler(signum, stop.set)
        started = time.monotonic()
        while not stop.is_set() and not reader.done():
            now = time.monotonic()
            if now - started > limit or (tally.last_item and now - tally.last_item > quiet):
                break
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(stop.wait(), 0.1)
        call.cancel()
        reader.cancel()
        await asyncio.gather(reader, return_exceptions=True)
    return tally


async def _read(call: object, tally: Tally) -> None:
    async for response in call:  # type: ignore[attr-defined]
        tally.count(response)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0] if __doc__ else None)
    parser.add_argument("--gateway", default="127.0.0.1:50051", metavar="HOST:PORT")
    parser.add_argument("--ready", type=Path, help="touch this file once subscribed")
    parser.add_argument("--max-batch", type=int, default=DEFAULT_MAX_BATCH)
    parser.add_argument("--quiet", type=float, default=3.0, help="stop after this long idle")
    parser.add_argument("--limit", type=float, default=120.0, help="stop after this long")
    args = parser.parse_args(argv)
    tally = asyncio.run(count(args.gateway, args.ready, args.max_batch, args.quiet, args.limit))
    print(json.dumps(tally.summary()), flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
