"""A TLS listener on loopback with an echo protocol behind it, and a client to try it with."""

from __future__ import annotations

import asyncio
import ssl
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager, suppress
from dataclasses import dataclass, field
from pathlib import Path
from typing import cast

import anyio
from prometheus_client import CollectorRegistry

from gateway.server.config import HostPort
from gateway.tls.context import ServerTlsFiles, client_context
from gateway.tls.listener import TlsListener
from gateway.tls.server import TlsPeer, TlsServer, TlsSettings

from .pki import TestPki

#: Hang guard of every wait in these tests (never a timing assertion).
GUARD = 20.0


class Echo(asyncio.Protocol):
    """The edge's stand-in: echoes what it receives, remembers its peer."""

    def __init__(self, peer: TlsPeer) -> None:
        self.peer = peer
        self.received = bytearray()
        self.transport: asyncio.Transport | None = None

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = cast(asyncio.Transport, transport)  # uvloop's is not a subclass

    def data_received(self, data: bytes) -> None:
        self.received += data
        assert self.transport is not None
        self.transport.write(data)


@dataclass
class Running:
    tls: TlsServer
    listener: TlsListener
    address: HostPort
    protocols: list[Echo] = field(default_factory=list)

    @property
    def registry(self) -> CollectorRegistry:
        return self.tls.metrics.registry

    def count(self, metric: str, **labels: str) -> float:
        return self.registry.get_sample_value(f"{metric}_total", labels) or 0.0

    async def counted(self, metric: str, **labels: str) -> None:
        """Wait until ``metric{labels}`` is counted (the server side may lag the client)."""
        with anyio.fail_after(GUARD):
            while not self.count(metric, **labels):
                await anyio.sleep(0.01)


def settings_for(
    pki: TestPki,
    *,
    server: str = "server",
    client_ca: Path | None = None,
    **changes: object,
) -> TlsSettings:
    files = ServerTlsFiles(pki.files[server].cert, pki.files[server].key, client_ca)
    return TlsSettings(files, **changes)  # type: ignore[arg-type]


@asynccontextmanager
async def running_listener(
    settings: TlsSettings,
    *,
    admit: Callable[[str], bool] | None = None,
    max_handshakes: int = 64,
    tls: TlsServer | None = None,
) -> AsyncIterator[Running]:
    tls = tls or TlsServer(settings)
    protocols: list[Echo] = []

    def factory(peer: TlsPeer) -> Echo:
        protocol = Echo(peer)
        protocols.append(protocol)
        return protocol

    listener = TlsListener(
        tls, HostPort("127.0.0.1", 0), factory, admit=admit, max_handshakes=max_handshakes
    )
    async with anyio.create_task_group() as tasks:
        address = await tasks.start(listener.serve)
        try:
            yield Running(tls, listener, address, protocols)
        finally:
            tasks.cancel_scope.cancel()
    await tls.aclose()


def device_context(pki: TestPki, device: str | None, **options: object) -> ssl.SSLContext:
    """A client trusting the test root, presenting ``device``'s certificate when given."""
    files = pki.files[device] if device is not None else None
    context = client_context(
        ca=pki.root_pem,
        cert=None if files is None else files.cert,
        key=None if files is None else files.key,
    )
    if "maximum_version" in options:
        context.maximum_version = options["maximum_version"]  # type: ignore[assignment]
    return context


async def echo(address: HostPort, context: ssl.SSLContext, payload: bytes = b"ping") -> bytes:
    """Connect, send ``payload``, return what comes back (b"" when the server hung up; a TLS
    alert raised while reading counts as a hang-up)."""
    with anyio.fail_after(GUARD):
        try:
            reader, writer = await asyncio.open_connection(
                address.host, address.port, ssl=context, server_hostname="localhost"
            )
        except (ConnectionError, ssl.SSLError):
            return b""  # TLS 1.2: a refused client certificate fails the client's handshake
        try:
            writer.write(payload)
            await writer.drain()
            return await reader.readexactly(len(payload))
        except (asyncio.IncompleteReadError, ConnectionError, ssl.SSLError):
            return b""
        finally:
            writer.close()
            with suppress(ConnectionError, ssl.SSLError):
                await writer.wait_closed()


@asynccontextmanager
async def open_echo(
    address: HostPort, context: ssl.SSLContext
) -> AsyncIterator[tuple[asyncio.StreamReader, asyncio.StreamWriter]]:
    with anyio.fail_after(GUARD):
        reader, writer = await asyncio.open_connection(
            address.host, address.port, ssl=context, server_hostname="localhost"
        )
    try:
        yield reader, writer
    finally:
        writer.close()
        with suppress(ConnectionError, ssl.SSLError):
            await writer.wait_closed()
