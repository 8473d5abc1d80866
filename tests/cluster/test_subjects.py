"""Locations and events on JetStream subjects, read the way a platform service reads them (the
README's consumer): protobuf by default, JSON on request."""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Any

import anyio
import nats
import pytest
from nats.aio.msg import Msg

from gateway.protocol.ids import MessageId
from jt808.gateway.v1 import gateway_service_pb2 as api
from jt808.gateway.v1 import location_pb2
from tests.timeouts import HANG_GUARD

from .helpers import PHONE, terminal_on_a
from .nats_server import NatsServer


async def next_message(url: str, subject: str, **consumer: Any) -> Msg:
    """The next message on ``subject`` from a durable JetStream consumer (acknowledged)."""
    client = await nats.connect(url)
    try:
        js = client.jetstream()
        subscription = await js.subscribe(subject, **consumer)
        message = await subscription.next_msg(timeout=HANG_GUARD)
        await message.ack()
        return message
    finally:
        await client.close()


@pytest.mark.anyio
async def test_a_platform_consumer_reads_locations_and_events_as_protobuf(
    nats_server: NatsServer, tmp_path: Path
) -> None:
    with anyio.fail_after(HANG_GUARD):
        async with terminal_on_a(nats_server, tmp_path, reported=True):
            located = await next_message(nats_server.url, "jt808.loc.>", durable="platform")
            authenticated = await next_message(nats_server.url, "jt808.evt.authenticated.>")
    assert located.subject == f"jt808.loc.{PHONE}"
    assert located.headers is not None
    assert located.headers["Jt808-Schema"] == "jt808.gateway.v1.Location"
    assert located.headers["Jt808-Node"] == "a"
    location = location_pb2.Location.FromString(located.data)
    assert (location.phone, location.msg_id) == (PHONE, MessageId.LOCATION_REPORT)
    assert location.latitude != 0
    event = api.Event.FromString(authenticated.data)
    assert (event.kind, event.phone) == (api.EVENT_KIND_AUTHENTICATED, PHONE)


@pytest.mark.anyio
async def test_nats_format_json_publishes_the_proto3_json_mapping(
    nats_server: NatsServer, tmp_path: Path
) -> None:
    with anyio.fail_after(HANG_GUARD):
        async with terminal_on_a(nats_server, tmp_path, reported=True, nats_format="json"):
            located = await next_message(nats_server.url, f"jt808.loc.{PHONE}")
    assert located.headers is not None
    assert located.headers["Content-Type"] == "application/json"
    document = json.loads(located.data)
    assert document["phone"] == PHONE and "latitude" in document


@pytest.mark.anyio
async def test_the_readme_consumer_example_prints_a_location(
    nats_server: NatsServer, tmp_path: Path
) -> None:
    script = Path(__file__).resolve().parents[2] / "clients" / "consumer-example" / "consumer.py"
    with anyio.fail_after(HANG_GUARD):
        async with terminal_on_a(nats_server, tmp_path, reported=True):
            done = await anyio.run_process(
                [sys.executable, str(script), "--nats-url", nats_server.url, "--count", "1"]
            )
    assert done.stdout.decode().startswith(f"{PHONE} ")
