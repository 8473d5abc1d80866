"""One gateway process as a node of the cluster: its NATS link, its entry among the nodes,
the session directory, and the calls other nodes route to it.

``ClusterNode.serve`` connects before the gateway listens (a NATS that cannot be reached stops
``jt808 serve`` with one sentence), claims the node id (two live nodes with one id would
answer each other's calls), and on the way out removes this node's entries so that the
directory does not wait for their TTL.
"""

from __future__ import annotations

import contextlib
from typing import TYPE_CHECKING, Final

import anyio
import anyio.abc

from gateway.server.logs import get_logger

from .connection import ClusterStartError, NatsLink
from .directory import NODES_BUCKET, SESSIONS_BUCKET, SessionDirectory
from .rpc import Handler, RpcReply, RpcServer

if TYPE_CHECKING:
    from nats.js.kv import KeyValue

    from gateway.server.gateway import Gateway

log = get_logger()
#: Seconds the node may take to leave the cluster when it stops.
SHUTDOWN_GRACE: Final = 5.0


class NodeIdInUseError(ClusterStartError):
    """Another live node already uses this node id."""


async def _no_handler(method: str, payload: bytes) -> RpcReply:
    return RpcReply(12, f"{method} is not served by this node")


async def open_bucket(link: NatsLink, bucket: str, ttl: float | None) -> KeyValue:
    """The KV bucket, created on first use (every node asks; the first one creates it)."""
    import nats.js.errors  # noqa: PLC0415  (cluster mode only)

    js = link.jetstream
    try:
        return await js.key_value(bucket)
    except nats.js.errors.BucketNotFoundError:
        pass
    with contextlib.suppress(nats.js.errors.BadRequestError):  # created meanwhile by another
        return await js.create_key_value(bucket=bucket, ttl=ttl, history=1)
    return await js.key_value(bucket)


class ClusterNode:
    def __init__(self, gateway: Gateway, link: NatsLink) -> None:
        config = gateway.config
        self.gateway = gateway
        self.link = link
        self.node_id = self.link.node_id
        gateway.sessions.node_id = self.node_id
        self.directory = SessionDirectory(gateway, self.link, ttl=config.cluster_ttl)
        #: Serves the calls other nodes route here (set by the control plane).
        self.handler: Handler = _no_handler
        self._nodes: KeyValue | None = None

    async def serve(
        self, *, task_status: anyio.abc.TaskStatus[None] = anyio.TASK_STATUS_IGNORED
    ) -> None:
        ttl = self.gateway.config.cluster_ttl
        await self.link.connect()
        rpc = RpcServer(self.link, self.handler)
        try:
            self._nodes = await open_bucket(self.link, NODES_BUCKET, ttl)
            await self._claim_node_id(self._nodes)
            await self.directory.open(await open_bucket(self.link, SESSIONS_BUCKET, ttl))
            await rpc.start()
            self.gateway.sessions.observer = self.directory
            log.info(
                "cluster node ready",
                extra={"node": self.node_id, "nats": self.gateway.config.nats_url},
            )
            task_status.started()
            await self.directory.serve()
        finally:
            self.gateway.sessions.observer = None
            # Bounded: a NATS that went away must not hold the process up.
            with anyio.move_on_after(SHUTDOWN_GRACE, shield=True):
                await rpc.stop()
                await self._leave()
                await self.link.close()

    async def _claim_node_id(self, nodes: KeyValue) -> None:
        import nats.js.errors  # noqa: PLC0415

        try:
            await nodes.create(self.node_id, self.directory.node_value())
        except nats.js.errors.KeyWrongLastSequenceError:
            raise NodeIdInUseError(
                f"node id {self.node_id} (--node-id) is in use by a live node, or by one that "
                f"stopped less than --cluster-ttl ({self.gateway.config.cluster_ttl:g} s) ago; "
                "give each node its own id"
            ) from None

    async def _leave(self) -> None:
        """Remove this node's sessions and its own entry (a clean stop does not wait for the
        TTL); best effort: NATS may be the reason we stop."""
        if not self.link.up:
            return
        with anyio.move_on_after(2):
            try:
                await self.directory.forget_own()
                if self._nodes is not None:
                    await self._nodes.delete(self.node_id)
            except Exception as error:
                log.warning("cluster leave incomplete", extra={"error": str(error)})
