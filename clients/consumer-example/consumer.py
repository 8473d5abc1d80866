"""A platform service reading the cluster's locations from JetStream (the README's example).

    python clients/consumer-example/consumer.py --nats-url nats://127.0.0.1:4222 [--count N]

A durable consumer ("platform"): stopped and started again, it goes on where it stopped.
Each message is a jt808.gateway.v1.Location in protobuf (see docs/cluster.md for the subjects).
"""

import argparse
import asyncio

import nats

from jt808.gateway.v1 import location_pb2


async def main(url: str, count: int) -> None:
    client = await nats.connect(url)
    js = client.jetstream()
    subscription = await js.subscribe("jt808.loc.>", durable="platform")
    seen = 0
    async for message in subscription.messages:
        location = location_pb2.Location.FromString(message.data)
        print(location.phone, location.latitude, location.longitude, location.time.ToJsonString())
        await message.ack()  # JetStream keeps it until acknowledged
        seen += 1
        if seen == count:
            break
    await client.close()


if __name__ == "__main__":
    parser = argparse.ArgumentParser()
    parser.add_argument("--nats-url", default="nats://127.0.0.1:4222")
    parser.add_argument("--count", type=int, default=0, help="stop after N locations (0: never)")
    arguments = parser.parse_args()
    asyncio.run(main(arguments.nats_url, arguments.count))
