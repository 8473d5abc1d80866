"""GatewayService in cluster mode: any node answers for every terminal.

SendCommand, GetSession and DisconnectSession for a terminal held by another node are sent to
that node over NATS (``gateway.cluster.rpc``), which runs them on its own ``GatewayServicer`` and
returns the response or the status it ended with; ListSessions lists the cluster's sessions
from the session directory. ``RelayHandler`` is the serving side.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import TYPE_CHECKING, Any, Final, NoReturn, TypeVar

import anyio
import anyio.abc
import grpc
from google.protobuf.message import DecodeError, Message

from gateway.auth.base import AuthBackend
from gateway.auth.local import LocalAuthBackend
from gateway.cluster.connection import NatsLink
from gateway.cluster.directory import DirectoryEntry
from gateway.cluster.node import ClusterNode
from gateway.cluster.registry import ClusterDeviceRegistry
from gateway.cluster.rpc import INTERNAL, UNIMPLEMENTED, NodeGoneError, NodeTimeoutError, RpcReply
from gateway.cluster.rpc import call as rpc_call
from gateway.hub import EventHub
from gateway.server.config import GatewayConfig
from gateway.server.gateway import Gateway
from gateway.store.base import EventStore
from jt808.gateway.v1 import gateway_service_pb2 as api

from .cluster_store import JetStreamStore
from .gateway_service import GatewayServicer
from .status import ApiError, checked_phone, terminal_not_found, unary_errors
from .views import session_message, timestamp

if TYPE_CHECKING:
    Context = grpc.aio.ServicerContext[Any, Any]

R = TypeVar("R", bound=Message)
_CODES: Final = {code.value[0]: code for code in grpc.StatusCode}
#: Seconds a routed call may take beyond the command's own timeout (the hop and the reply).
ROUTING_MARGIN: Final = 5.0
#: Deadline of a routed GetSession or DisconnectSession.
ROUTED_CALL_TIMEOUT: Final = 10.0


class Cluster:
    """Cluster mode's pieces of one ``GatewayApp``: the NATS link, the cluster's device
    registry (``--auth local``), the node, and the servicer that routes calls."""

    def __init__(self, config: GatewayConfig, auth: AuthBackend | None) -> None:
        self.link = NatsLink(config)
        if auth is None and config.auth == "local":
            auth = LocalAuthBackend(ClusterDeviceRegistry(self.link))
        #: The auth backend for the gateway (None: the gateway's own default).
        self.auth = auth
        self._node: ClusterNode | None = None

    @property
    def node(self) -> ClusterNode:
        if self._node is None:
            raise RuntimeError("the cluster is not attached to a gateway")
        return self._node

    def attach(self, gateway: Gateway) -> ClusterGatewayServicer:
        """The node of ``gateway``; returns the GatewayService servicer to serve."""
        stream_queue = gateway.config.stream_queue
        self._node = node = ClusterNode(gateway, self.link)
        node.handler = RelayHandler(GatewayServicer(gateway, stream_queue=stream_queue))
        gateway.store_factory = self._store
        return ClusterGatewayServicer(gateway, node, stream_queue=stream_queue)

    def _store(
        self,
        config: GatewayConfig,
        hub: EventHub,
        *,
        on_health: Callable[[bool, str], None] | None = None,
    ) -> EventStore:
        """The gateway's event store in cluster mode: the stream, not the local log."""
        return JetStreamStore(
            self.link, hub, content=config.nats_format or "protobuf", on_health=on_health
        )

    async def serve(
        self, *, task_status: anyio.abc.TaskStatus[None] = anyio.TASK_STATUS_IGNORED
    ) -> None:
        """The node joins the cluster (before the gateway opens its store on the link and
        listens), until cancelled."""
        await self.node.serve(task_status=task_status)


class ClusterGatewayServicer(GatewayServicer):
    """``GatewayServicer`` that routes calls for terminals held elsewhere."""

    def __init__(
        self, gateway: Gateway, node: ClusterNode, *, stream_queue: int | None = None
    ) -> None:
        super().__init__(gateway, stream_queue=stream_queue)
        self.node = node

    @unary_errors
    async def SendCommand(
        self, request: api.SendCommandRequest, context: Context
    ) -> api.SendCommandResponse:
        owner = self._owner(checked_phone(request.phone))
        if owner is None:
            return await super().SendCommand(request, context)
        timeout = self._command_timeout(request) + ROUTING_MARGIN
        return await self._routed(owner, "SendCommand", request, api.SendCommandResponse, timeout)

    @unary_errors
    async def GetSession(
        self, request: api.GetSessionRequest, context: Context
    ) -> api.GetSessionResponse:
        owner = self._owner(checked_phone(request.phone))
        if owner is None:
            return await super().GetSession(request, context)
        return await self._routed(
            owner, "GetSession", request, api.GetSessionResponse, ROUTED_CALL_TIMEOUT
        )

    @unary_errors
    async def DisconnectSession(
        self, request: api.DisconnectSessionRequest, context: Context
    ) -> api.DisconnectSessionResponse:
        owner = self._owner(checked_phone(request.phone))
        if owner is None:
            return await super().DisconnectSession(request, context)
        return await self._routed(
            owner, "DisconnectSession", request, api.DisconnectSessionResponse, ROUTED_CALL_TIMEOUT
        )

    @unary_errors
    async def ListSessions(
        self, request: api.ListSessionsRequest, context: Context
    ) -> api.ListSessionsResponse:
        """This node's sessions in full, the others' as the directory has them (GetSession,
        routed to their node, gives their counters)."""
        gateway = self.gateway
        sessions = {c.phone: session_message(gateway, c) for c in gateway.sessions.all()}
        node_id = self.node.node_id
        for entry in self.node.directory.entries():
            if entry.node != node_id and gateway.sessions.get(entry.phone) is None:
                sessions.setdefault(entry.phone, directory_session(entry))
        return api.ListSessionsResponse(sessions=[sessions[p] for p in sorted(sessions)])

    def _owner(self, phone: str) -> str | None:
        """The other node holding ``phone``; None when it is here (or nowhere: then the local
        path answers NOT_FOUND)."""
        if self.gateway.sessions.get(phone) is not None:
            return None
        entry = self.node.directory.lookup(phone)
        if entry is None or entry.node == self.node.node_id:
            return None
        return entry.node

    async def _routed(
        self, node: str, method: str, request: Message, response: type[R], timeout: float
    ) -> R:
        phone: str = getattr(request, "phone", "")
        try:
            reply = await rpc_call(
                self.node.link, node, method, request.SerializeToString(), timeout
            )
        except NodeGoneError:
            raise terminal_not_found(phone) from None
        except NodeTimeoutError:
            raise ApiError(
                grpc.StatusCode.UNAVAILABLE,
                f"terminal {phone} is on node {node}, which did not answer in time (or NATS "
                "is unreachable); retry",
            ) from None
        if reply.status != 0:
            raise ApiError(
                _CODES.get(reply.status, grpc.StatusCode.UNKNOWN),
                reply.details,
                metadata=reply.metadata,
            )
        return response.FromString(reply.payload)


def directory_session(entry: DirectoryEntry) -> api.Session:
    message = api.Session(
        phone=entry.phone,
        device_name=entry.device_name,
        protocol_version=entry.protocol_version,
        remote_address=entry.remote_address,
        node=entry.node,
    )
    connected, authenticated = entry.connected, entry.authenticated
    if connected is not None:
        message.connected_time.CopyFrom(timestamp(connected))
    if authenticated is not None:
        message.authenticated_time.CopyFrom(timestamp(authenticated))
    return message


class _AbortedError(Exception):
    def __init__(self, code: grpc.StatusCode, details: str) -> None:
        super().__init__(details)
        self.code = code
        self.details = details


class RelayContext:
    """What a servicer method asks of its context when it runs for a routed call: the status
    it aborts with and its trailing metadata are kept for the reply."""

    def __init__(self) -> None:
        self.metadata: tuple[tuple[str, str], ...] = ()

    def set_trailing_metadata(self, metadata: tuple[tuple[str, str], ...]) -> None:
        self.metadata = tuple((str(k), str(v)) for k, v in metadata)

    async def abort(self, code: grpc.StatusCode, details: str = "") -> NoReturn:
        raise _AbortedError(code, details)


Method = Callable[[Any, Any], Awaitable[Message]]


class RelayHandler:
    """Runs calls routed from other nodes on this node's own (local-only) servicer."""

    def __init__(self, local: GatewayServicer) -> None:
        self._methods: dict[str, tuple[type[Message], Method]] = {
            "SendCommand": (api.SendCommandRequest, local.SendCommand),
            "GetSession": (api.GetSessionRequest, local.GetSession),
            "DisconnectSession": (api.DisconnectSessionRequest, local.DisconnectSession),
        }

    async def __call__(self, method: str, payload: bytes) -> RpcReply:
        known = self._methods.get(method)
        if known is None:
            return RpcReply(UNIMPLEMENTED, f"{method} is not routed between nodes")
        request_type, run = known
        try:
            request = request_type.FromString(payload)
        except DecodeError:
            return RpcReply(INTERNAL, f"{method}: the routed request does not decode")
        context = RelayContext()
        try:
            response = await run(request, context)
        except _AbortedError as aborted:
            return RpcReply(aborted.code.value[0], aborted.details, context.metadata)
        return RpcReply(payload=response.SerializeToString())
