"""Locations and session events into JetStream, for the platform's own consumers.

Every node of a cluster publishes what its terminals report to the stream ``JT808``:

- ``jt808.loc.<phone>``: a ``jt808.gateway.v1.Location`` (the gRPC API's own message);
- ``jt808.evt.<kind>.<phone>``: a ``jt808.gateway.v1.Event``, ``kind`` one of ``connected``,
  ``registered``, ``authenticated``, ``logged_out``, ``disconnected``, ``transparent_data``,
  ``message``.

Payloads are protobuf, or JSON (the proto3 JSON mapping) with ``--nats-format json``; the header
``Jt808-Schema`` names the message (``jt808.gateway.v1.Location``), ``Content-Type`` the
encoding, and ``Jt808-Node`` the node. The forwarder reads the node's event hub like any stream
subscriber and publishes in pipelined batches, each confirmed by JetStream's acknowledgements;
while NATS is unreachable it retries the batch it holds (logged once each way), and what the
hub's bounded queue dropped meanwhile is counted and logged. The promise "acknowledged to the
terminal only once JetStream stored it" comes with the durable log's store seam (docs/cluster.md).
"""

from __future__ import annotations

import asyncio
from typing import TYPE_CHECKING, Final

import anyio
from google.protobuf import json_format

from gateway.events import Gap, HubEvent, LocationReported
from gateway.server.logs import get_logger
from jt808.gateway.v1 import location_pb2

from .location_wire import encoded_location
from .views import event_message

if TYPE_CHECKING:
    from gateway.cluster.connection import NatsLink
    from gateway.hub import Subscription
    from gateway.server.gateway import Gateway

log = get_logger()
STREAM: Final = "JT808"
SUBJECTS: Final = ("jt808.loc.>", "jt808.evt.>")
LOCATION_SCHEMA: Final = "jt808.gateway.v1.Location"
EVENT_SCHEMA: Final = "jt808.gateway.v1.Event"
FORMATS: Final = {"protobuf": "application/protobuf", "json": "application/json"}
#: Events published at once before their acknowledgements are awaited.
MAX_BATCH: Final = 512
#: Seconds a batch may wait for JetStream's acknowledgements before it is sent again.
ACK_TIMEOUT: Final = 5.0
#: Seconds between two tries while NATS does not store.
RETRY_WAIT: Final = 1.0
#: How long the stream keeps what it stored (the platform's consumers read within this).
MAX_AGE: Final = 7 * 24 * 3600.0


def subject_of(event: HubEvent) -> str:
    if isinstance(event, LocationReported):
        return f"jt808.loc.{event.phone or '0'}"
    return f"jt808.evt.{event.kind.value}.{event.phone or '0'}"


def payload_of(event: HubEvent, content: str) -> tuple[bytes, str]:
    """The serialized message and its schema name, in ``content`` (protobuf or json)."""
    if isinstance(event, LocationReported):
        data, schema = encoded_location(event), LOCATION_SCHEMA
        if content == "json":
            data = json_format.MessageToJson(location_pb2.Location.FromString(data)).encode()
        return data, schema
    message = event_message(event)
    if content == "json":
        return json_format.MessageToJson(message).encode(), EVENT_SCHEMA
    return message.SerializeToString(), EVENT_SCHEMA


async def open_stream(link: NatsLink) -> None:
    """The stream ``JT808`` (created by the first node; later ones find it)."""
    import nats.js.api  # noqa: PLC0415  (cluster mode only)
    import nats.js.errors  # noqa: PLC0415

    js = link.jetstream
    try:
        await js.stream_info(STREAM)
    except nats.js.errors.NotFoundError:
        config = nats.js.api.StreamConfig(
            name=STREAM,
            subjects=list(SUBJECTS),
            storage=nats.js.api.StorageType.FILE,
            max_age=MAX_AGE,
            duplicate_window=120.0,
        )
        try:
            await js.add_stream(config)
        except nats.js.errors.BadRequestError:  # created meanwhile by another node
            await js.stream_info(STREAM)


class StreamForwarder:
    """Publishes the node's hub events to JetStream until cancelled."""

    def __init__(self, gateway: Gateway, link: NatsLink, *, content: str = "protobuf") -> None:
        self.gateway = gateway
        self.link = link
        self.content = content
        self.published = 0
        self.dropped = 0
        self._failing = False
        self._serial = 0
        self._subscription: Subscription | None = None

    def subscribe(self) -> None:
        """Start collecting hub events (before terminals connect: none is missed)."""
        self._subscription = self.gateway.hub.subscribe(max_queue=self.gateway.config.stream_queue)

    async def serve(self) -> None:
        if self._subscription is None:
            self.subscribe()
        subscription = self._subscription
        assert subscription is not None
        with subscription:
            async for first in subscription:
                items = [first, *subscription.take(MAX_BATCH - 1)]
                events: list[HubEvent] = []
                for item in items:
                    if isinstance(item, Gap):
                        self.dropped += item.dropped
                        log.warning(
                            "NATS forwarding fell behind; events dropped",
                            extra={"dropped": item.dropped, "node": self.link.node_id},
                        )
                    else:
                        events.append(item)
                if events:
                    await self._publish_until_stored(events)

    async def _publish_until_stored(self, events: list[HubEvent]) -> None:
        messages = [self._message(event) for event in events]
        while True:
            try:
                await self._publish(messages)
            except Exception as error:
                if not self._failing:
                    self._failing = True
                    log.warning(
                        "JetStream does not store: forwarding paused, retrying",
                        extra={"node": self.link.node_id,
                               "error": str(error) or type(error).__name__},
                    )  # fmt: skip
                await asyncio.sleep(RETRY_WAIT)
                continue
            if self._failing:
                self._failing = False
                log.info("JetStream stores again: forwarding resumed",
                         extra={"node": self.link.node_id})  # fmt: skip
            self.published += len(messages)
            return

    def _message(self, event: HubEvent) -> tuple[str, bytes, dict[str, str]]:
        data, schema = payload_of(event, self.content)
        self._serial += 1
        headers = {
            "Jt808-Schema": schema,
            "Content-Type": FORMATS[self.content],
            "Jt808-Node": self.link.node_id,
            # A batch sent again is stored once (JetStream's duplicate window).
            "Nats-Msg-Id": f"{self.link.node_id}-{self.link.boot}-{self._serial}",
        }
        return subject_of(event), data, headers

    async def _publish(self, messages: list[tuple[str, bytes, dict[str, str]]]) -> None:
        js = self.link.jetstream
        acks = [
            await js.publish_async(subject, data, headers=headers, stream=STREAM)
            for subject, data, headers in messages
        ]
        try:
            with anyio.fail_after(ACK_TIMEOUT):  # anyio's: it composes with the node's scopes
                await asyncio.gather(*acks)
        finally:
            for ack in acks:
                ack.cancel()
