"""Calls routed to the node that holds a terminal: NATS request/reply between nodes.

A node serves ``jt808.v1.rpc.<node>.<Method>``: the payload is the serialized gRPC request, the
reply carries the serialized response, or the status the call ended with in headers
(``Jt808-Status``: the gRPC status code number, ``Jt808-Details``, and each trailing metadata
pair as ``Jt808-Meta-<key>``). So a call answered through another node ends exactly as it
would have on the owner. This module knows no gRPC: the control plane maps its methods onto it.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Final

from gateway.server.logs import get_logger

if TYPE_CHECKING:
    from nats.aio.msg import Msg
    from nats.aio.subscription import Subscription

    from .connection import NatsLink

log = get_logger()
SUBJECT_PREFIX: Final = "jt808.v1.rpc"
STATUS_HEADER: Final = "Jt808-Status"
DETAILS_HEADER: Final = "Jt808-Details"
META_PREFIX: Final = "Jt808-Meta-"
#: Calls one node serves for others at once; past it they are refused (RESOURCE_EXHAUSTED).
MAX_CALLS: Final = 4096
#: gRPC status numbers used here (grpc.StatusCode values; this module imports no gRPC).
OK: Final = 0
UNAVAILABLE: Final = 14
RESOURCE_EXHAUSTED: Final = 8
UNIMPLEMENTED: Final = 12
INTERNAL: Final = 13


@dataclass(frozen=True, slots=True)
class RpcReply:
    """How a routed call ended: ``status`` 0 and ``payload`` the response, or a status."""

    status: int = OK
    details: str = ""
    metadata: tuple[tuple[str, str], ...] = ()
    payload: bytes = b""


class NodeGoneError(Exception):
    """No node answers on that node's subject: it stopped (its sessions are gone with it)."""


class NodeTimeoutError(Exception):
    """The node did not answer in time (or NATS is unreachable)."""


Handler = Callable[[str, bytes], Awaitable[RpcReply]]


def subject(node: str, method: str) -> str:
    return f"{SUBJECT_PREFIX}.{node}.{method}"


class RpcServer:
    """Serves this node's subject: each call runs as a task, its reply is published."""

    def __init__(self, link: NatsLink, handler: Handler) -> None:
        self.link = link
        self.handler = handler
        self._tasks: set[asyncio.Task[None]] = set()
        self._subscription: Subscription | None = None

    async def start(self) -> None:
        self._subscription = await self.link.client.subscribe(
            subject(self.link.node_id, "*"), cb=self._received
        )

    async def stop(self) -> None:
        if self._subscription is not None:
            subscription, self._subscription = self._subscription, None
            try:
                await subscription.unsubscribe()
            except Exception as error:  # a closed connection: nothing left to unsubscribe
                log.debug("rpc unsubscribe failed", extra={"error": str(error)})
        for task in list(self._tasks):
            task.cancel()

    async def _received(self, msg: Msg) -> None:
        if not msg.reply:
            return
        if len(self._tasks) >= MAX_CALLS:
            await self._reply(msg, RpcReply(RESOURCE_EXHAUSTED, "the node is busy; retry"))
            return
        task = asyncio.get_running_loop().create_task(self._serve(msg))
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    async def _serve(self, msg: Msg) -> None:
        method = msg.subject.rsplit(".", 1)[-1]
        try:
            reply = await self.handler(method, msg.data)
        except Exception:
            log.exception("routed call failed", extra={"method": method})
            reply = RpcReply(INTERNAL, f"{method} failed on node {self.link.node_id}")
        await self._reply(msg, reply)

    async def _reply(self, msg: Msg, reply: RpcReply) -> None:
        headers = {STATUS_HEADER: str(reply.status)}
        if reply.details:
            headers[DETAILS_HEADER] = " ".join(reply.details.splitlines())
        for key, value in reply.metadata:
            headers[META_PREFIX + key] = value
        try:
            await self.link.client.publish(msg.reply, reply.payload, headers=headers)
        except Exception as error:  # NATS went away: the caller times out and says so
            log.warning("routed call reply lost", extra={"error": str(error)})


async def call(link: NatsLink, node: str, method: str, payload: bytes, timeout: float) -> RpcReply:
    """Call ``method`` on ``node``; ``NodeGoneError`` or ``NodeTimeoutError`` when it cannot."""
    import nats.errors  # noqa: PLC0415  (cluster mode only)

    if not link.up:
        # Not queued for later: a call the caller gave up on must not run when NATS returns.
        raise NodeTimeoutError(node)
    try:
        msg = await link.client.request(subject(node, method), payload, timeout=timeout)
    except nats.errors.NoRespondersError:
        raise NodeGoneError(node) from None
    except (nats.errors.TimeoutError, TimeoutError, nats.errors.ConnectionClosedError):
        raise NodeTimeoutError(node) from None
    headers = msg.headers or {}
    try:
        status = int(headers.get(STATUS_HEADER, str(OK)))
    except ValueError:
        status = INTERNAL
    metadata = tuple(
        (key[len(META_PREFIX) :].lower(), value)
        for key, value in headers.items()
        if key.startswith(META_PREFIX)
    )
    return RpcReply(status, headers.get(DETAILS_HEADER, ""), metadata, msg.data)
