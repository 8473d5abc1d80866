"""The gateway process: terminal listener, session registry, event store and hub, auth backend,
metrics.

``Gateway.serve`` opens the event store (``--durability``: the log under ``--data-dir``, or
nothing kept), binds the listener, reports the bound address through ``task_status`` (tests
bind port 0 and read it back), serves until cancelled, and then shuts down cleanly: it stops
accepting, closes every session (their replies already flushed), stores what is appended, and
closes the backend. A gateway that is not served keeps nothing (``MemoryStore``).
"""

from __future__ import annotations

import asyncio
import functools
import logging
import socket
import time
from collections import Counter
from collections.abc import Callable, Coroutine, Iterator
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any, Final, Protocol, cast

import anyio
import anyio.abc

from gateway.auth.base import AuthBackend
from gateway.auth.insecure import AcceptAllAuthBackend
from gateway.auth.local import LocalAuthBackend
from gateway.hub import EventHub
from gateway.native import running_compiled
from gateway.protocol.header import phone_key
from gateway.protocol.session import CloseReason, SessionState
from gateway.protocol.subpackage import ReassemblyBudget
from gateway.registry import DeviceRegistry
from gateway.store.base import Durability, EventStore, StoreStatus
from gateway.store.log_process import log_store_type
from gateway.store.memory import MemoryStore

from . import descriptors
from .admission import Admission
from .config import DEFAULT_MAX_CONNECTIONS, GatewayConfig, HostPort
from .connection import TerminalConnection
from .limitlog import LimitLog
from .logs import get_logger
from .metrics import GatewayMetrics
from .timers import LoopTimer

if TYPE_CHECKING:
    from gateway.protocol.encryption import RsaKeyPair
    from gateway.tls.server import TlsServer

log = get_logger()
#: Pending connections the kernel may queue (it caps this at net.core.somaxconn): terminals of
#: a whole fleet reconnect at once after a restart.
LISTEN_BACKLOG: Final = 4096


def as_protocol(connection: TerminalConnection) -> asyncio.Protocol:
    """``connection`` as the event loop takes it. It has the methods of ``asyncio.Protocol``
    without subclassing it (the compiled class cannot, see ``gateway.native``); uvloop and
    asyncio only call them."""
    return cast(asyncio.Protocol, connection)


#: The wall clock connections read (three times a handshake): ``datetime.now(UTC)`` called
#: directly, without a Python function around it (half its cost when called from compiled code).
_utc_now: Final = functools.partial(datetime.now, UTC)


class SessionObserver(Protocol):
    """Told of every session this node gains or loses (the cluster's session directory)."""

    def bound(self, connection: TerminalConnection) -> None: ...

    def unbound(self, connection: TerminalConnection) -> None: ...


class SessionRegistry:
    """Live authenticated sessions by phone: one per terminal, the newest wins.

    ``node_of`` answers for this node; in cluster mode ``observer`` (gateway.cluster) publishes
    every change to the cluster's session directory.
    """

    def __init__(self, node_id: str = "local") -> None:
        self.node_id = node_id
        self.observer: SessionObserver | None = None
        # Keyed by the phone without leading zeros: the same terminal is one session whether
        # it (or an API caller) writes 12 or 20 digits.
        self._by_phone: dict[str, TerminalConnection] = {}
        #: The session of each device name (what a registration of that device would contest).
        self._by_device: dict[str, TerminalConnection] = {}

    def bind(self, connection: TerminalConnection) -> TerminalConnection | None:
        """Register an authenticated connection; returns the one it replaces, if any."""
        key = phone_key(connection.phone)
        previous = self._by_phone.get(key)
        self._by_phone[key] = connection
        if connection.device_name:
            self._by_device[connection.device_name] = connection
        if self.observer is not None and previous is not connection:
            self.observer.bound(connection)
        return previous if previous is not connection else None

    def unbind(self, connection: TerminalConnection) -> None:
        key = phone_key(connection.phone)
        if self._by_phone.get(key) is connection:
            del self._by_phone[key]
            if self.observer is not None:
                self.observer.unbound(connection)
        name = connection.device_name
        if name and self._by_device.get(name) is connection:
            del self._by_device[name]

    def get(self, phone: str) -> TerminalConnection | None:
        return self._by_phone.get(phone_key(phone))

    def online_since(self, phone: str) -> datetime | None:
        """Since when ``phone`` has a live authenticated session (None: it has none)."""
        connection = self._by_phone.get(phone_key(phone))
        return None if connection is None else connection.authenticated_wall

    def device_online(self, device_name: str) -> tuple[datetime | None, str]:
        """Since when, and under which phone, the device named so has a live session."""
        connection = self._by_device.get(device_name) if device_name else None
        if connection is None:
            return None, ""
        return connection.authenticated_wall, connection.phone

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
        # A full or read-only data dir is a fault it serves in, not a reason to stop.
        registry = DeviceRegistry(config.data_dir, tolerant=True)
        return LocalAuthBackend(registry, reregistration=config.reregistration)
    # "remote" is a gRPC client: the control plane builds it (controlplane.app) and passes it in.
    raise ValueError(f"auth mode {config.auth!r} needs its backend passed to Gateway(auth=...)")


class StoreFactory(Protocol):
    def __call__(
        self,
        config: GatewayConfig,
        hub: EventHub,
        *,
        on_health: Callable[[bool, str], None] | None = None,
    ) -> EventStore: ...


def make_store(
    config: GatewayConfig, hub: EventHub, *, on_health: Callable[[bool, str], None] | None = None
) -> EventStore:
    """The store ``--durability`` asks for (not yet started)."""
    durability = Durability(config.durability)
    if durability is Durability.MEMORY:
        return MemoryStore(hub)
    return log_store_type(config.log_writer)(
        config.data_dir,
        hub,
        durability=durability,
        retention_age=config.retention_age or None,
        retention_bytes=config.retention_bytes or None,
        on_health=on_health,
    )


class Gateway:
    def __init__(
        self,
        config: GatewayConfig | None = None,
        *,
        auth: AuthBackend | None = None,
        clock: Callable[[], float] = time.monotonic,
        wall_clock: Callable[[], datetime] = _utc_now,
    ) -> None:
        self.config = config = config or GatewayConfig()
        self.session_limits = config.session_limits()
        self.reassembly_budget = ReassemblyBudget(config.reassembly_total_bytes)
        self.clock = clock
        self.wall_clock = wall_clock
        self.auth = auth if auth is not None else make_auth_backend(config)
        self.metrics = GatewayMetrics(self)
        self.limit_log = LimitLog(self.metrics.limits, clock)
        self.admission: Admission[TerminalConnection] = Admission(
            max_connections=config.max_connections,
            max_unauthenticated=config.max_unauthenticated,
            max_per_address=config.max_unauthenticated_per_address,
            limits=self.limit_log,
            busy=lambda connection: connection.session.awaiting_decision is not None,
        )
        self.hub = EventHub(on_drop=self._stream_dropped)
        #: Where every event goes before its terminal is acknowledged (see ``serve``).
        self.store: EventStore = MemoryStore(self.hub)
        #: Makes the store ``serve`` opens (cluster mode replaces it: gateway.cluster).
        self.store_factory: StoreFactory = make_store
        self.sessions = SessionRegistry()
        self.connections: set[TerminalConnection] = set()
        self.address: HostPort | None = None
        #: Terminals over TLS (``--tls-listen``; served by gateway.server.tls_terminals) and
        #: the platform's key for RSA body encryption: set by whoever builds the gateway.
        self.tls: TlsServer | None = None
        self.platform_key: RsaKeyPair | None = None
        self._timers: LoopTimer[TerminalConnection] | None = None
        self._tasks: set[asyncio.Task[None]] = set()
        #: Message counts of connections that have closed (live ones are read at scrape time).
        self._retired_in: Counter[int] = Counter()
        self._retired_out: Counter[int] = Counter()

    def _stream_dropped(self, dropped: int) -> None:
        """A stream subscriber fell behind and lost its oldest items: counted, and logged once
        per burst (``stream_queue`` is the bound)."""
        self.metrics.hub_dropped.inc(dropped)
        self.limit_log.hit(
            "stream_queue",
            "a stream subscriber fell behind: its oldest items were dropped",
            dropped=dropped,
        )

    # ----------------------------------------------------------------------------------------
    # Serving

    def _bound_connections(self, open_files: descriptors.OpenFiles) -> None:
        """Hold no more connections than the open-file limit leaves room for."""
        if open_files.connections >= self.config.max_connections:
            return
        self.admission.bound(open_files.connections)
        # Expected with the default (a bound above most limits); a surprise when it was set.
        chosen = self.config.max_connections != DEFAULT_MAX_CONNECTIONS
        log.log(
            logging.WARNING if chosen else logging.INFO,
            "max_connections lowered to what the open-file limit allows (raise it with "
            "`ulimit -n` or LimitNOFILE=)",
            extra={
                "open_files": open_files.limit,
                "max_connections": self.config.max_connections,
                "connections": open_files.connections,
            },
        )

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
        self._bound_connections(descriptors.raise_for(config.max_connections))
        store = self.store_factory(config, self.hub, on_health=self._store_health)
        await store.start()
        self.store = store
        loop = asyncio.get_running_loop()
        server = await loop.create_server(
            # The connection's class called with the gateway: no Python function in between
            # (``as_protocol`` says why the cast; one call per accepted connection).
            cast(Callable[[], asyncio.Protocol], functools.partial(TerminalConnection, self)),
            config.listen.host,
            config.listen.port,
            backlog=LISTEN_BACKLOG,
            reuse_address=True,
            # Cluster mode: the nodes of one machine share the port (--workers).
            reuse_port=config.nats_url is not None,
        )
        try:
            port = server.sockets[0].getsockname()[1]
            self.address = HostPort(config.listen.host, port)
            metrics_address = None
            if config.metrics_listen is not None:
                metrics_address = self.metrics.serve(config.metrics_listen)
            log.info(
                "listening",
                extra={"address": str(self.address), "auth": self.auth.name,
                       "metrics": str(metrics_address or "off"),
                       "core": "compiled" if running_compiled() else "pure-python"},
            )  # fmt: skip
            task_status.started(self.address)
            await anyio.sleep_forever()
        finally:
            with anyio.CancelScope(shield=True):
                server.close()
                await self._shutdown()

    async def attach(self, sock: socket.socket) -> TerminalConnection:
        """Serve a terminal on an already connected socket (tests, socket activation)."""
        connection = TerminalConnection(self)
        await asyncio.get_running_loop().connect_accepted_socket(
            lambda: as_protocol(connection), sock
        )
        return connection

    async def _shutdown(self) -> None:
        log.info("shutting down", extra={"connections": len(self.connections)})
        closing = [c.close(CloseReason.SERVER_SHUTDOWN) for c in list(self.connections)]
        await asyncio.gather(*closing, return_exceptions=True)
        for task in list(self._tasks):
            task.cancel()
        if self._timers is not None:
            self._timers.close()
        await self.store.aclose()
        self.hub.close()
        self.metrics.stop()
        await self.auth.aclose()

    def _store_health(self, healthy: bool, reason: str) -> None:
        if not healthy:
            self.metrics.store_failures.inc()

    # ----------------------------------------------------------------------------------------
    # What connections ask of the gateway

    @property
    def timers(self) -> LoopTimer[TerminalConnection]:
        """The one deadline queue of every connection (made on the running loop on first use)."""
        timers = self._timers
        if timers is None:
            timers = self._timers = LoopTimer(
                asyncio.get_running_loop(), TerminalConnection.on_timer, self.clock
            )
        return timers

    def admit(self, connection: TerminalConnection, host: str) -> bool:
        """A new connection from ``host``: counted in (perhaps shedding idle unauthenticated
        ones to make room), or refused (``gateway.server.admission``)."""
        admitted, shed = self.admission.admit(connection, host, self.clock())
        for victim in shed:
            victim.close_now(CloseReason.SHED)
            if victim.transport is not None:
                victim.transport.abort()  # its slot is free now, not after a flush
        if not admitted:
            return False
        self.connections.add(connection)
        self.metrics.connections_total.inc()
        return True

    def release(self, connection: TerminalConnection) -> None:
        """A connection has closed: forget it everywhere, keep its message counts."""
        self.admission.release(connection)
        if connection not in self.connections:
            return
        self.connections.discard(connection)
        self.sessions.unbind(connection)
        if self._timers is not None:
            self._timers.cancel(connection)
        stats = connection.session.stats
        self._retired_in.update(stats.messages_in)
        self._retired_out.update(stats.messages_out)

    def spawn(self, work: Coroutine[Any, Any, None]) -> None:
        """Run ``work`` (a connection's decision) as a task the gateway tracks and cancels at
        shutdown; it handles its own errors."""
        task = asyncio.get_running_loop().create_task(work)
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    # ----------------------------------------------------------------------------------------
    # Scrape-time metrics (gateway.server.metrics.LiveSource)

    def open_connections(self) -> int:
        return len(self.connections)

    def session_states(self) -> Iterator[tuple[str, str]]:
        for connection in self.connections:
            session = connection.session
            if session.state is SessionState.CLOSED:
                continue
            version = str(int(session.version)) if session.version is not None else "unknown"
            yield session.state.value, version

    def store_status(self) -> StoreStatus:
        return self.store.status()

    def message_counts(self) -> tuple[Counter[int], Counter[int]]:
        counts_in = Counter(self._retired_in)
        counts_out = Counter(self._retired_out)
        for connection in self.connections:
            stats = connection.session.stats
            counts_in.update(stats.messages_in)
            counts_out.update(stats.messages_out)
        return counts_in, counts_out
