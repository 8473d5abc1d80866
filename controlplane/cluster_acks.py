"""JetStream's acknowledgements (PubAcks) of a publishing round, counted instead of awaited one
by one.

``JetStreamContext.publish_async`` gives each message its own reply inbox, future, done
callback and a slot of a semaphore, and parses each PubAck into an object: per report, that was
a good part of a cluster node's CPU (docs/benchmarks.md). The store only needs to know whether
*every* message of a round was stored, so all messages of one round name the same reply subject
``<inbox>.<round>``, and one subscription counts the PubAcks that come back: the round is
stored when as many successes arrived as messages were published, and not stored at the first
error (an error PubAck, or a status reply such as 503 "no responders" when the stream is
missing).
"""

from __future__ import annotations

import asyncio
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from nats.aio.client import Client
    from nats.aio.msg import Msg
    from nats.aio.subscription import Subscription


class _Round:
    __slots__ = ("future", "missing")

    def __init__(self, future: asyncio.Future[bool], missing: int) -> None:
        self.future = future
        self.missing = missing


class PubAckCounter:
    """Reply subjects for publishing rounds, and a future per round that tells whether JetStream
    stored all of it."""

    def __init__(self) -> None:
        self._inbox = ""
        self._rounds: dict[int, _Round] = {}
        self._next = 0
        self._subscription: Subscription | None = None

    async def start(self, client: Client) -> None:
        """Subscribe to this node's PubAck inbox (the client restores it after a reconnect)."""
        self._inbox = client.new_inbox()
        self._subscription = await client.subscribe(self._inbox + ".*", cb=self._received)

    async def stop(self) -> None:
        subscription, self._subscription = self._subscription, None
        if subscription is not None:
            await subscription.unsubscribe()

    def open(self, messages: int) -> tuple[str, asyncio.Future[bool]]:
        """A new round of ``messages``: the reply subject each of them names, and the future
        that becomes True once all are stored, False at the first refusal."""
        self._next += 1
        future: asyncio.Future[bool] = asyncio.get_running_loop().create_future()
        self._rounds[self._next] = _Round(future, messages)
        return f"{self._inbox}.{self._next}", future

    def close(self, reply: str) -> None:
        """Forget a round (settled, or given up: its late PubAcks are ignored)."""
        self._rounds.pop(int(reply.rpartition(".")[2]), None)

    async def _received(self, message: Msg) -> None:
        found = self._rounds.get(int(message.subject.rpartition(".")[2]))
        if found is None or found.future.done():
            return
        data = message.data
        # A PubAck is {"stream":..,"seq":..}; a refusal carries "error", a status reply
        # (no responders, ...) has no body.
        if not data or b'"error"' in data:
            found.future.set_result(False)
            return
        found.missing -= 1
        if found.missing == 0:
            found.future.set_result(True)
