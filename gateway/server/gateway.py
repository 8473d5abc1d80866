"""The gateway process: terminal listener, session registry, event hub, auth backend, metrics.

``Gateway.serve`` binds the listener, reports the bound address through ``task_status`` (tests
bind port 0 and read it back), serves until cancelled, and then shuts down cleanly: it stops
accepting, closes every session (their replies already flushed), and closes the backend.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from contextlib import AsyncExitStack
from datetime import UTC, datetime

import anyio
import anyio.abc
from anyio.abc import SocketAttribute

from gateway.auth.base import AuthBackend
from gateway.auth.insecure import AcceptAllAuthBackend
from gateway.auth.local import LocalAuthBackend
from gateway.hub import EventHub
from gateway.protocol.header import phone_key
from gateway.protocol.session import CloseReason
from gateway.registry import DeviceRegistry

from .config import GatewayConfig, HostPort
from .connection import TerminalConnection
from .logs import get_logger
from .metrics import GatewayMetrics

log = get_logger()


class SessionRegistry:
    """Live authenticated sessions by phone: one per terminal, the newest wins.

    ``node_of`` is the seam for a cluster: today every session lives on this node.
    """

    def __init__(self, node_id: str = "local") -> None:
        self.node_id = node_id
        # Keyed by the phone without leading zeros: the same terminal is one session whether
        # it (or an API caller) writes 12 or 20 digits.
        self._by_phone: dict[str, TerminalConnection] = {}

    def bind(self, connection: TerminalConnection) -> TerminalConnection | None:
        """Register an authenticated connection; returns the one it replaces, if any."""
        key = phone_key(connection.phone)
        previous = self._by_phone.get(key)
        self._by_phone[key] = connection
        return previous if previous is not connection else None

    def unbind(self, connection: TerminalConnection) -> None:
        key = phone_key(connection.phone)
        if self._by_phone.get(key) is connection:
            del self._by_phone[key]

    def get(self, phone: str) -> TerminalConnection | None:
        return self._by_phone.get(phone_key(phone))

    def node_of(self, phone: str) -> str | None:
        return self.node_id if phone_key(phone) in self._by_phone else None

    def all(self) -> list[TerminalConnection]:
        return list(self._by_phone.values())

    def __len__(self) -> int:
        return len(self._by_phone)


def make_auth_backend(config: GatewayConfig) -> AuthBackend:
    if config.auth == "insecure-accept-all":
        return AcceptAllAuthBackend()
    if config.auth == "local":
        return LocalAuthBackend(DeviceRegistry(config.data_dir))
    # "remote" is a gRPC client: the control plane builds it (controlplane.app) and passes it in.
    raise ValueError(f"auth mode {config.auth!r} needs its backend passed to Gateway(auth=...)")


class Gateway:
    def __init__(
        self,
        config: GatewayConfig | None = None,
        *,
        auth: AuthBackend | None = None,
        clock: Callable[[], float] = time.monotonic,
        wall_clock: Callable[[], datetime] = lambda: datetime.now(UTC),
    ) -> None:
        self.config = config = config or GatewayConfig()
        self.clock = clock
        self.wall_clock = wall_clock
        self.auth = auth if auth is not None else make_auth_backend(config)
        self.metrics = GatewayMetrics()
        self.hub = EventHub(on_drop=self.metrics.hub_dropped.inc)
        self.sessions = SessionRegistry()
        self.connections: set[TerminalConnection] = set()
        self.address: HostPort | None = None

    async def serve(
        self, *, task_status: anyio.abc.TaskStatus[HostPort] = anyio.TASK_STATUS_IGNORED
    ) -> None:
        config = self.config
        if config.auth == "insecure-accept-all":
            log.warning(
                "INSECURE: --auth insecure-accept-all lets every terminal in; never use it in "
                "production",
                extra={"auth": config.auth},
            )
        listener = await anyio.create_tcp_listener(
            local_host=config.listen.host, local_port=config.listen.port
        )
        port = listener.extra(SocketAttribute.local_port)
        self.address = HostPort(config.listen.host, port)
        if config.metrics_listen is not None:
            self.metrics.serve(config.metrics_listen)
        log.info(
            "listening",
            extra={"address": str(self.address), "auth": self.auth.name,
                   "metrics": str(config.metrics_listen or "off")},
        )  # fmt: skip
        async with AsyncExitStack() as stack:
            stack.push_async_callback(self._shutdown)
            await stack.enter_async_context(listener)
            async with anyio.create_task_group() as tasks:
                task_status.started(self.address)
                await listener.serve(self._accept, task_group=tasks)

    async def _accept(self, stream: anyio.abc.SocketStream) -> None:
        remote = _remote_address(stream)
        if len(self.connections) >= self.config.max_connections:
            self.metrics.limits.labels("max_connections").inc()
            log.warning("connection refused: max_connections reached", extra={"remote": remote})
            with anyio.move_on_after(1.0):
                await stream.aclose()
            return
        connection = TerminalConnection(self, stream, remote)
        self.connections.add(connection)
        self.metrics.connections_total.inc()
        self.metrics.connections.inc()
        try:
            await connection.run()
        finally:
            self.connections.discard(connection)
            self.metrics.connections.dec()

    async def _shutdown(self) -> None:
        with anyio.CancelScope(shield=True):
            log.info("shutting down", extra={"connections": len(self.connections)})
            for connection in list(self.connections):
                await connection.close(CloseReason.SERVER_SHUTDOWN)
            self.hub.close()
            self.metrics.stop()
            await self.auth.aclose()


def _remote_address(stream: anyio.abc.SocketStream) -> str:
    try:
        address = stream.extra(SocketAttribute.remote_address)
    except Exception:
        return ""
    if isinstance(address, tuple):
        host, port = address[0], address[1]
        return f"[{host}]:{port}" if ":" in str(host) else f"{host}:{port}"
    return str(address)
