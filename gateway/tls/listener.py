"""``TlsListener``: accept terminals over TLS and hand each verified connection to a protocol.

Per connection: accept the socket, run the TLS handshake with the *current* context and the
handshake deadline (``loop.connect_accepted_socket(..., ssl=..., ssl_handshake_timeout=...)``),
verify the peer (``TlsServer.verify_peer``: certificate identity, OCSP), and only then create
the edge's protocol with the ``TlsPeer`` and give it the transport. Until then a small gate
protocol holds the transport with reading paused, so no terminal byte reaches the edge before
the certificate checks are done.

Why not ``loop.create_server(ssl=context)``: it binds one context for the life of the server,
and it swallows failed handshakes (asyncio and uvloop only debug-log them), while each must be
logged and counted with its reason. ``loop.start_tls`` from an accepted plain connection does
not work under uvloop, which starts reading right after ``connection_made`` and so loses the
ClientHello. See docs/decisions.md, "TLS listener".

Bounded: at most ``max_handshakes`` connections are in their handshake or certificate checks
at once; past that, new connections are closed at once (and counted).
"""

from __future__ import annotations

import asyncio
import contextlib
import socket
import time
from collections.abc import Callable
from typing import Final, cast

import anyio
import anyio.abc

from gateway.server.config import HostPort
from gateway.server.limitlog import LimitLog
from gateway.server.logs import get_logger

from .server import TlsPeer, TlsRefusedError, TlsServer

log = get_logger()

#: The edge's protocols are stream ones. The compiled ``TerminalConnection`` has the methods of
#: ``asyncio.Protocol`` without subclassing it, so anything not buffered is taken as that.
ProtocolFactory = Callable[[TlsPeer], asyncio.Protocol | asyncio.BufferedProtocol]
#: Bytes the gate keeps if the peer's data arrives before the hand-over (it should not).
MAX_GATE_BUFFER: Final = 64 * 1024
DEFAULT_BACKLOG: Final = 4096


class TlsListener:
    """Listen on ``address`` and serve terminals over TLS until cancelled."""

    def __init__(
        self,
        tls: TlsServer,
        address: HostPort,
        protocol_factory: ProtocolFactory,
        *,
        admit: Callable[[str], bool] | None = None,
        max_handshakes: int = 1024,
        backlog: int = DEFAULT_BACKLOG,
        reuse_port: bool = False,
    ) -> None:
        """``protocol_factory(peer)`` makes the edge's protocol for a verified connection;
        ``admit(remote)`` may refuse a connection before its handshake (the edge's
        ``max_connections``); ``reuse_port``: see ``bind``."""
        self.tls = tls
        self.requested = address
        self.protocol_factory = protocol_factory
        self.admit = admit
        self.max_handshakes = max_handshakes
        self.backlog = backlog
        self.reuse_port = reuse_port
        self.address: HostPort | None = None
        self._in_progress = 0
        #: Counted in jt808_tls_limit_hits, logged once per burst.
        self._limit_log = LimitLog(tls.metrics.limits, time.monotonic)

    async def serve(
        self, *, task_status: anyio.abc.TaskStatus[HostPort] = anyio.TASK_STATUS_IGNORED
    ) -> None:
        """Bind, report the bound address, accept until cancelled; handshakes in progress are
        cancelled with it (established connections belong to their protocols)."""
        sock = bind(self.requested, self.backlog, reuse_port=self.reuse_port)
        loop = asyncio.get_running_loop()
        try:
            port = sock.getsockname()[1]
            self.address = HostPort(self.requested.host, port)
            log.info(
                "TLS listening",
                extra={"address": str(self.address), "mutual": self.tls.mutual,
                       "ocsp": self.tls.settings.ocsp_policy.value if self.tls.mutual else "off"},
            )  # fmt: skip
            async with anyio.create_task_group() as tasks:
                task_status.started(self.address)
                while True:
                    conn, peer_address = await loop.sock_accept(sock)
                    remote = format_address(peer_address)
                    if not self._may_start(remote):
                        _close(conn)
                        continue
                    self._in_progress += 1
                    self.tls.metrics.handshakes_in_progress.inc()
                    tasks.start_soon(self._handle_connection, conn, remote)
        finally:
            sock.close()

    def _may_start(self, remote: str) -> bool:
        if self._in_progress >= self.max_handshakes:
            self._limit_log.hit(
                "max_handshakes",
                "TLS connection closed: too many handshakes in progress",
                remote=remote,
                max=self.max_handshakes,
            )
            return False
        return self.admit is None or self.admit(remote)

    async def _handle_connection(self, conn: socket.socket, remote: str) -> None:
        try:
            await self.accept(conn, remote)
        finally:
            self._in_progress -= 1
            self.tls.metrics.handshakes_in_progress.dec()

    async def accept(self, conn: socket.socket, remote: str) -> asyncio.BaseProtocol | None:
        """Handshake, verify, hand over one accepted socket; returns the edge's protocol, or
        None when the connection was refused or lost. Never raises but for cancellation."""
        loop = asyncio.get_running_loop()
        tls = self.tls
        generation = tls.generation
        gate = _Gate()
        started = loop.time()
        try:
            transport, _ = await loop.connect_accepted_socket(
                lambda: gate, conn, ssl=generation.context,
                ssl_handshake_timeout=tls.settings.handshake_timeout,
            )  # fmt: skip
        except Exception as error:  # ssl.SSLError, timeouts, resets: all the peer's doing
            tls.handshake_failed(error, remote)
            _close(conn)
            return None
        handed_over = False
        try:
            ssl_object = transport.get_extra_info("ssl_object")
            try:
                peer = await tls.verify_peer(
                    ssl_object, remote_address=remote, generation=generation
                )
            except TlsRefusedError:
                return None
            tls.metrics.handshake_seconds.observe(loop.time() - started)
            if gate.lost:
                return None
            protocol = self.protocol_factory(peer)
            gate.hand_over(protocol)
            handed_over = True
            return protocol
        except Exception:  # one connection must never take the listener down
            log.exception("TLS connection failed", extra={"remote": remote})
            return None
        finally:
            if not handed_over:
                transport.abort()


class _Gate(asyncio.Protocol):
    """Holds a freshly handshaken transport, reading paused, until it is handed over."""

    def __init__(self) -> None:
        self.transport: asyncio.Transport | None = None
        self.buffer = bytearray()
        self.eof = False
        self.lost = False

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        # uvloop's SSL transport is not an asyncio.Transport subclass, but has its methods.
        self.transport = cast(asyncio.Transport, transport)
        self.transport.pause_reading()

    def data_received(self, data: bytes) -> None:
        self.buffer += data
        if len(self.buffer) > MAX_GATE_BUFFER and self.transport is not None:
            self.transport.abort()

    def eof_received(self) -> bool | None:
        self.eof = True
        return None

    def connection_lost(self, exc: Exception | None) -> None:
        self.lost = True

    def hand_over(self, protocol: asyncio.Protocol | asyncio.BufferedProtocol) -> None:
        """Give the transport to ``protocol``: resume reading first (delivery is scheduled, not
        immediate, so a protocol that pauses in ``connection_made`` stays paused), then tell it
        it is connected, then replay anything the gate was given meanwhile."""
        transport = self.transport
        assert transport is not None
        transport.set_protocol(protocol)
        transport.resume_reading()
        protocol.connection_made(transport)
        if self.buffer:
            _deliver(protocol, bytes(self.buffer))
            self.buffer.clear()
        if self.eof:
            protocol.eof_received()


def _deliver(protocol: asyncio.Protocol | asyncio.BufferedProtocol, data: bytes) -> None:
    if isinstance(protocol, asyncio.BufferedProtocol):
        view = memoryview(data)
        while view:
            buffer = memoryview(protocol.get_buffer(len(view))).cast("B")
            size = min(len(buffer), len(view))
            buffer[:size] = view[:size]
            protocol.buffer_updated(size)
            view = view[size:]
    else:
        protocol.data_received(data)


def bind(address: HostPort, backlog: int, *, reuse_port: bool = False) -> socket.socket:
    """A listening, non-blocking socket on the first address ``address.host`` resolves to;
    ``reuse_port``: shared with other processes that set SO_REUSEPORT (the workers of a cluster
    on one machine), the kernel spreading new connections over them."""
    infos = socket.getaddrinfo(
        address.host, address.port, type=socket.SOCK_STREAM, flags=socket.AI_PASSIVE
    )
    family, _, _, _, sockaddr = infos[0]
    sock = socket.create_server(sockaddr[:2], family=family, backlog=backlog, reuse_port=reuse_port)
    sock.setblocking(False)
    return sock


def format_address(address: object) -> str:
    if isinstance(address, tuple) and len(address) >= 2:
        host, port = address[0], address[1]
        return f"[{host}]:{port}" if ":" in str(host) else f"{host}:{port}"
    return str(address)


def _close(conn: socket.socket) -> None:
    with contextlib.suppress(OSError):
        conn.close()


__all__ = ["ProtocolFactory", "TlsListener", "bind", "format_address"]
