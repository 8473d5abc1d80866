"""A runnable tour of the SDK: sessions, a command, a query, live positions.

    python -m clients.sdk.example --gateway 127.0.0.1:50051 [--token TOKEN] [--positions 5]

With the lab setup of the README (``jt808 serve --auth insecure-accept-all`` and
``jt808 simulate``), it lists the connected terminals, sends the first one a text message,
asks for its position, then prints a few live positions and stops.
"""

from __future__ import annotations

import argparse
import asyncio
import sys

from clients.sdk import GatewayClient, GatewayError, result_text


async def tour(gateway: GatewayClient, positions: int) -> None:
    sessions = await gateway.list_sessions()
    print(f"{len(sessions)} terminal(s) connected")
    if not sessions:
        return
    phone = sessions[0].phone
    reply = await gateway.send_text(phone, "hello from the SDK", timeout=10)
    print(f"text message to {phone}: {result_text(reply.result)}")
    here = await gateway.query_location(phone, timeout=10)
    print(f"{phone} is at {here.latitude:.5f}, {here.longitude:.5f} ({here.speed_kmh} km/h)")
    stream = gateway.locations(on_gap=lambda dropped: print(f"({dropped} positions lost)"))
    seen = 0
    async for location in stream:
        print(f"{location.phone}  {location.latitude:.5f}, {location.longitude:.5f}")
        seen += 1
        if seen >= positions:
            break


async def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--gateway", default=None, help="HOST:PORT (env JT808_GATEWAY)")
    parser.add_argument("--token", default=None, help="bearer token (env JT808_GRPC_TOKEN)")
    parser.add_argument("--positions", type=int, default=5, help="live positions to print")
    args = parser.parse_args(argv)
    async with GatewayClient.from_env(args.gateway, token=args.token) as gateway:
        try:
            await tour(gateway, args.positions)
        except GatewayError as error:
            print(f"example: {error}", file=sys.stderr)
            return 1
    return 0


if __name__ == "__main__":
    sys.exit(asyncio.run(main()))
