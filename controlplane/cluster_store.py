"""The event store of a cluster node: locations and session events stored in JetStream.

In cluster mode this ``EventStore`` (``gateway.store.base``) takes the place of the embedded log:

- ``append`` gathers the events of one loop iteration into a batch (``gateway.store.batching``,
  as the embedded log); the writer publishes every message of the waiting batches at once, all
  naming one reply subject, and settles the batches, in order, once JetStream acknowledged
  storing each message of them (``cluster_acks`` counts the PubAcks). Only then are the terminals
  acknowledged (``batch_done(batch, True)``). No acknowledgement from JetStream within
  ``ACK_TIMEOUT`` (NATS unreachable, the stream full) settles the batch as not stored: the
  terminals are not acknowledged and send their data again; the change is logged once each way.
- every node reads the whole stream from its newest message (an ordered consumer) into its own
  hub, numbered with the stream's sequence, so StreamLocations and StreamEvents on any node
  carry the whole cluster's traffic, each event once, and ``after_sequence`` is a stream
  sequence; ``read`` replays from one (an ephemeral consumer).

Subjects and payloads are the documented contract for the platform's consumers
(``cluster_subjects``); what a node needs to rebuild the exact hub event travels next to the
payload in the ``Jt808-Record`` header (the event log's row, as JSON).
"""

from __future__ import annotations

import asyncio
import contextlib
from collections import deque
from collections.abc import Callable
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Final

from gateway.events import HubEvent, LocationReported
from gateway.hub import EventHub
from gateway.protocol.header import phone_key
from gateway.server.logs import get_logger
from gateway.store.base import ReadFilter, ReadResult, StoreStatus
from gateway.store.batching import Batch, BatchingStore

from .cluster_acks import PubAckCounter
from .cluster_records import ReceiveTimes, event_of_record, record_of
from .cluster_subjects import (
    CONTENT_TYPES,
    EVENT_SUBJECTS,
    LOCATION_SUBJECTS,
    STREAM,
    open_stream,
    payload_of,
    subject_of,
)

if TYPE_CHECKING:
    from nats.aio.msg import Msg
    from nats.js.client import JetStreamContext

    from gateway.cluster.connection import NatsLink

log = get_logger()
RECORD_HEADER: Final = "Jt808-Record"
#: Events appended but not yet stored, at most (their terminals wait for acknowledgements).
MAX_PENDING: Final = 65_536
#: Seconds a batch may wait for JetStream's acknowledgements before it counts as not stored.
ACK_TIMEOUT: Final = 5.0
#: Seconds a replay waits for its page.
READ_TIMEOUT: Final = 2.0


class JetStreamStore(BatchingStore):
    """``EventStore`` on the stream ``JT808``."""

    replays = True
    defers_acks = True

    def __init__(
        self, link: NatsLink, hub: EventHub, *, content: str = "protobuf",
        max_pending: int = MAX_PENDING, on_health: Callable[[bool, str], None] | None = None,
    ) -> None:  # fmt: skip
        super().__init__(max_pending)  # stored events reach the hub through the stream
        self.on_health = on_health
        self.link = link
        self.hub = hub
        self.content = content
        self._sealed: deque[Batch] = deque()
        self._wake = asyncio.Event()
        self._acks = PubAckCounter()
        self._times = ReceiveTimes()
        #: The newest stream message no subscriber needed (its sequence not read yet).
        self._newest: Msg | None = None
        self._healthy = True
        self._last = 0
        self._tasks: list[asyncio.Task[None]] = []

    # ----------------------------------------------------------------------------------------
    # Life cycle

    async def start(self) -> None:
        self._loop = asyncio.get_running_loop()
        await open_stream(self.link)
        info = await self.link.jetstream.stream_info(STREAM)
        self._last = info.state.last_seq
        await self._acks.start(self.link.client)
        self._tasks = [
            self._loop.create_task(self._write()),
            self._loop.create_task(self._follow()),
        ]

    async def aclose(self) -> None:
        """Store what was appended (within ``ACK_TIMEOUT``), then stop."""
        self._seal()
        with contextlib.suppress(TimeoutError):
            async with asyncio.timeout(ACK_TIMEOUT + 1):
                while self._sealed or self._pending:
                    await asyncio.sleep(0.01)
        for task in self._tasks:
            task.cancel()
        for task in self._tasks:
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await task
        with contextlib.suppress(Exception):  # NATS may be why we stop
            await self._acks.stop()

    # ----------------------------------------------------------------------------------------
    # The loop side (gateway.store.batching, as the embedded log)

    def _hand_over(self, batch: Batch) -> None:
        self._sealed.append(batch)
        self._wake.set()

    # ----------------------------------------------------------------------------------------
    # Writing

    async def _write(self) -> None:
        while True:
            await self._wake.wait()
            self._wake.clear()
            while self._sealed:
                batches = list(self._sealed)
                self._sealed.clear()
                stored = await self._publish([e for b in batches for e in b.events])
                self._settled(batches, stored)

    async def _publish(self, events: list[HubEvent]) -> bool:
        """Publish every event with one reply subject, then wait for all PubAcks
        (``cluster_acks``): True once JetStream stored them all."""
        if not events:
            return True
        client = self.link.client
        reply, stored = self._acks.open(len(events))
        try:
            async with asyncio.timeout(ACK_TIMEOUT):
                if not self.link.up:
                    raise ConnectionError("NATS is unreachable")
                message = self._message
                for event in events:
                    subject, data, headers = message(event)
                    await client.publish(subject, data, reply=reply, headers=headers)
                if not await stored:
                    raise ConnectionError("JetStream refused to store a message")
        except Exception as error:  # the batch is not stored: its terminals are not acked
            self._health(False, str(error) or type(error).__name__)
            return False
        finally:
            self._acks.close(reply)
        self._health(True, "")
        return True

    def _message(self, event: HubEvent) -> tuple[str, bytes, dict[str, str]]:
        data, schema = payload_of(event, self.content)
        at = self._times.of(event) if type(event) is LocationReported else None
        # No Nats-Expected-Stream (a header less per report, to write and to parse): only
        # JT808 may hold these subjects, and without it NATS answers "no responders".
        headers = {
            "Jt808-Schema": schema,
            "Content-Type": CONTENT_TYPES[self.content],
            "Jt808-Node": self.link.node_id,
            RECORD_HEADER: record_of(event, at),
        }
        return subject_of(event), data, headers

    def _health(self, healthy: bool, reason: str) -> None:
        if healthy == self._healthy:
            return
        self._healthy = healthy
        if healthy:
            log.warning("JetStream stores again; terminals are acknowledged again",
                        extra={"node": self.link.node_id})  # fmt: skip
        else:
            log.error(
                "JetStream does not store; terminals are not acknowledged until it does",
                extra={"node": self.link.node_id, "error": reason},
            )
        if self.on_health is not None:
            self.on_health(healthy, reason)

    # ----------------------------------------------------------------------------------------
    # The cluster's traffic into this node's hub

    async def _follow(self) -> None:
        """Every message stored from now on, by any node, into the hub (in stream order)."""
        import nats.js.api  # noqa: PLC0415  (cluster mode only)

        subscription = await self.link.jetstream.subscribe(
            ">", stream=STREAM, ordered_consumer=True, cb=self._followed,
            deliver_policy=nats.js.api.DeliverPolicy.NEW,
        )  # fmt: skip
        try:
            await asyncio.Event().wait()  # the client calls _followed, in stream order
        finally:
            with contextlib.suppress(Exception):
                await subscription.unsubscribe()

    async def _followed(self, message: Msg) -> None:
        if not self.hub.stats.subscribers:  # nobody streams: nothing to rebuild
            self._newest = message  # its sequence is read when asked (status)
            return
        event = self._event_of(message)
        if event is not None:
            self._last = max(self._last, event.sequence)
            self.hub.deliver(event)

    def _event_of(self, message: Msg) -> HubEvent | None:
        record = (message.headers or {}).get(RECORD_HEADER)
        if record is None:
            return None  # published by someone else on our subjects: not ours to deliver
        try:
            return event_of_record(record, message.metadata.sequence.stream)
        except Exception as error:
            log.warning("a stream message does not decode; skipped",
                        extra={"subject": message.subject, "error": repr(error)})  # fmt: skip
            return None

    # ----------------------------------------------------------------------------------------
    # Replays

    async def read(self, after: int, limit: int, only: ReadFilter) -> ReadResult:
        import nats.errors  # noqa: PLC0415
        import nats.js.api  # noqa: PLC0415

        js: JetStreamContext = self.link.jetstream
        info = await js.stream_info(STREAM)
        first, last_stored = info.state.first_seq, info.state.last_seq
        gone = max(0, first - (after + 1)) if last_stored else 0
        if after >= last_stored:
            return ReadResult([], after, 0, more=False)
        subjects = [*(LOCATION_SUBJECTS if only.locations else ()),
                    *(EVENT_SUBJECTS if only.terminal_events else ())]  # fmt: skip
        config = nats.js.api.ConsumerConfig(
            deliver_policy=nats.js.api.DeliverPolicy.BY_START_SEQUENCE,
            opt_start_seq=max(after + 1, first),
            ack_policy=nats.js.api.AckPolicy.NONE,
            filter_subjects=subjects,
            inactive_threshold=30.0,
            mem_storage=True,
        )
        subscription = await js.pull_subscribe("", stream=STREAM, config=config)
        try:
            try:
                messages = await subscription.fetch(limit, timeout=READ_TIMEOUT)
            except nats.errors.TimeoutError:
                messages = []
        finally:
            with contextlib.suppress(Exception):
                await subscription.unsubscribe()
        events: list[HubEvent] = []
        seen = after
        pending = 0
        for message in messages:
            meta = message.metadata
            seen, pending = meta.sequence.stream, meta.num_pending
            event = self._event_of(message)
            if event is not None and _matches(event, only):
                events.append(event)
        if not messages:
            seen = last_stored
        return ReadResult(events, seen, gone, more=pending > 0)

    async def sequence_at(self, moment: datetime) -> int:
        """The stream sequence just before the first message stored from ``moment`` on."""
        import nats.errors  # noqa: PLC0415
        import nats.js.api  # noqa: PLC0415

        js = self.link.jetstream
        config = nats.js.api.ConsumerConfig(
            deliver_policy=nats.js.api.DeliverPolicy.BY_START_TIME,
            opt_start_time=moment.astimezone(UTC),
            ack_policy=nats.js.api.AckPolicy.NONE,
            inactive_threshold=30.0,
            mem_storage=True,
        )
        subscription = await js.pull_subscribe("", stream=STREAM, config=config)
        try:
            messages = await subscription.fetch(1, timeout=READ_TIMEOUT)
        except nats.errors.TimeoutError:
            return (await js.stream_info(STREAM)).state.last_seq
        finally:
            with contextlib.suppress(Exception):
                await subscription.unsubscribe()
        return messages[0].metadata.sequence.stream - 1 if messages else 0

    def status(self) -> StoreStatus:
        newest, self._newest = self._newest, None
        if newest is not None:
            self._last = max(self._last, newest.metadata.sequence.stream)
        return StoreStatus(
            healthy=self._healthy, last_sequence=self._last, pending=self._pending,
            unstored=self.unstored + self.refused,
        )  # fmt: skip


def _matches(event: HubEvent, only: ReadFilter) -> bool:
    return not only.phone_keys or phone_key(event.phone) in only.phone_keys
