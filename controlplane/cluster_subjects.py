"""The JetStream subjects and payloads of locations and session events (the documented contract
for the platform's consumers, docs/cluster.md), and the stream that holds them.

Every node of a cluster stores what its terminals report in the stream ``JT808``
(``controlplane.cluster_store``):

- ``jt808.loc.<phone>``: a ``jt808.gateway.v1.Location`` (the gRPC API's own message);
- ``jt808.evt.<kind>.<phone>``: a ``jt808.gateway.v1.Event``, ``kind`` one of ``connected``,
  ``registered``, ``authenticated``, ``logged_out``, ``disconnected``, ``transparent_data``,
  ``message``.

Payloads are protobuf, or JSON (the proto3 JSON mapping) with ``--nats-format json``; the header
``Jt808-Schema`` names
the message (``jt808.gateway.v1.Location``), ``Content-Type`` the encoding, and ``Jt808-Node``
the node that stored it.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Final

from google.protobuf import json_format

from gateway.events import HubEvent, LocationReported
from jt808.gateway.v1 import location_pb2

from .location_wire import encoded_location
from .views import event_message

if TYPE_CHECKING:
    from gateway.cluster.connection import NatsLink

STREAM: Final = "JT808"
LOCATION_SCHEMA: Final = "jt808.gateway.v1.Location"
EVENT_SCHEMA: Final = "jt808.gateway.v1.Event"
CONTENT_TYPES: Final = {"protobuf": "application/protobuf", "json": "application/json"}
LOCATION_SUBJECTS: Final = ("jt808.loc.>",)
EVENT_SUBJECTS: Final = ("jt808.evt.>",)
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
            subjects=[*LOCATION_SUBJECTS, *EVENT_SUBJECTS],
            storage=nats.js.api.StorageType.FILE,
            max_age=MAX_AGE,
            duplicate_window=120.0,
        )
        try:
            await js.add_stream(config)
        except nats.js.errors.BadRequestError:  # created meanwhile by another node
            await js.stream_info(STREAM)
