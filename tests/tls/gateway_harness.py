"""The whole gateway (``GatewayApp``) with its TLS listener on loopback, and terminals that
speak TLS to it: scripted ones (``TerminalClient`` over an anyio TLS stream) and the simulator.
"""

from __future__ import annotations

import ssl
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any, cast

import anyio
import anyio.abc
from anyio.streams.tls import TLSStream

from gateway.auth.base import (
    AuthenticationDecision,
    AuthenticationRequest,
    RegistrationDecision,
    RegistrationRequest,
)
from gateway.auth.insecure import AcceptAllAuthBackend
from gateway.protocol.message import Message
from gateway.protocol.versions import ProtocolVersion
from gateway.server.config import HostPort
from tests.controlplane.harness import RunningApp, running_app
from tests.protocol.null_modem import Terminal
from tests.server.terminal_client import TerminalClient
from tests.timeouts import HANG_GUARD

from .harness import device_context
from .pki import TestPki


class RecordingBackend(AcceptAllAuthBackend):
    """Lets every terminal in, as the lab backend does, and keeps what it was asked: the
    certificate the gateway passes on is what a DeviceAuthService gets."""

    def __init__(self) -> None:
        super().__init__()
        self.registrations: list[RegistrationRequest] = []
        self.authentications: list[AuthenticationRequest] = []

    async def register(self, request: RegistrationRequest) -> RegistrationDecision:
        self.registrations.append(request)
        return await super().register(request)

    async def authenticate(self, request: AuthenticationRequest) -> AuthenticationDecision:
        self.authentications.append(request)
        return await super().authenticate(request)


def tls_address(app: RunningApp) -> HostPort:
    address = app.addresses.tls
    assert address is not None, "the app runs no TLS listener"
    return address


@asynccontextmanager
async def running_tls_app(
    data_dir: Path,
    pki: TestPki,
    *,
    mutual: bool = False,
    server: str = "server",
    backend: RecordingBackend | None = None,
    **changes: Any,
) -> AsyncIterator[RunningApp]:
    """A gateway with its TCP listener and a TLS one (``mutual``: devices need a certificate
    from the test root; OCSP hard-fail against the test responder unless ``tls_ocsp`` says)."""
    settings: dict[str, Any] = {
        "tls_listen": HostPort("127.0.0.1", 0),
        "tls_cert": pki.files[server].cert,
        "tls_key": pki.files[server].key,
        "tls_client_ca": pki.root_pem if mutual else None,
        "tls_reload_interval": 0.0,
        **changes,
    }
    if backend is None and changes.get("auth", "insecure-accept-all") == "insecure-accept-all":
        backend = RecordingBackend()
    async with running_app(data_dir, backend=backend, **settings) as app:
        yield app


@asynccontextmanager
async def tls_terminal(
    address: HostPort,
    context: ssl.SSLContext,
    *,
    phone: str,
    version: ProtocolVersion = ProtocolVersion.V2019,
) -> AsyncIterator[TerminalClient]:
    """A scripted terminal over TLS (JT/T 808 has its own framing: no close_notify needed)."""
    with anyio.fail_after(HANG_GUARD):
        tcp = await anyio.connect_tcp(address.host, address.port)
        stream = await TLSStream.wrap(
            tcp, ssl_context=context, hostname="localhost", standard_compatible=False
        )
    async with stream:
        # TerminalClient only reads and writes (and asks socket attributes it is not asked for
        # here): a TLS stream does both.
        yield TerminalClient(cast(anyio.abc.SocketStream, stream), Terminal(version, phone=phone))


def device(pki: TestPki, name: str | None) -> ssl.SSLContext:
    """A device's client context: trusts the test root, presents ``name``'s certificate."""
    return device_context(pki, name)


async def answers_before_close(
    address: HostPort, context: ssl.SSLContext, phone: str
) -> list[Message]:
    """A terminal that sends 0x0100 over TLS: what the gateway answers before it closes the
    connection. Empty when it is refused at the TLS layer: the handshake fails, or (TLS 1.3,
    where the client certificate is checked after the client finished its handshake) the
    connection closes unanswered. A connection that stays open fails at the hang guard."""
    try:
        async with tls_terminal(address, context, phone=phone) as terminal:
            await terminal.send(terminal.terminal.registration())
            return await terminal.closed()
    except (ssl.SSLError, anyio.BrokenResourceError, anyio.EndOfStream, ConnectionError):
        return []
