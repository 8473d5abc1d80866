"""Terminals over TLS on the asyncio edge: ``TlsListener`` (gateway/tls/) in front of
``TerminalConnection``, and the certificate checks a connection makes before it asks the auth
backend.

The TLS stack (``ssl`` contexts, ``cryptography``, the OCSP client's ``httpx``) is imported
only by ``serve_tls_terminals``, that is only with ``--tls-listen``: a plain TCP gateway never
loads it. The checks below only call methods of objects that exist when TLS is on.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import anyio
import anyio.abc

from .config import HostPort
from .logs import get_logger

if TYPE_CHECKING:
    import asyncio

    from gateway.auth.base import AuthenticationDecision, RegistrationRequest
    from gateway.tls.identity import CertificateIdentity
    from gateway.tls.server import TlsPeer, TlsServer

    from .connection import TerminalConnection
    from .gateway import Gateway

log = get_logger()


async def serve_tls_terminals(
    gateway: Gateway,
    tls: TlsServer,
    address: HostPort,
    *,
    task_status: anyio.abc.TaskStatus[HostPort] = anyio.TASK_STATUS_IGNORED,
) -> None:
    """Accept terminals over TLS on ``address`` until cancelled; each verified connection is a
    ``TerminalConnection`` like a TCP one, with its ``TlsPeer``. Shutdown closes them with the
    others (they are the gateway's connections)."""
    # The TLS stack only with --tls-listen; the edge's modules import this one.
    from gateway.tls.listener import TlsListener  # noqa: PLC0415

    from .connection import TerminalConnection  # noqa: PLC0415
    from .gateway import LISTEN_BACKLOG, as_protocol  # noqa: PLC0415

    config = gateway.config

    def connection_for(peer: TlsPeer) -> asyncio.Protocol:
        connection = TerminalConnection(gateway)
        connection.tls_peer = peer
        return as_protocol(connection)

    def admit(remote: str) -> bool:
        # Before the handshake: no TLS work for a connection admission would refuse. One it
        # would take by shedding an idle unauthenticated connection goes on (no lockout).
        refused = gateway.admission.refusal(_host_of(remote), gateway.clock())
        if not refused:
            return True
        gateway.limit_log.hit(
            refused, f"TLS connection refused before its handshake: {refused}", remote=remote
        )
        return False

    listener = TlsListener(
        tls,
        address,
        connection_for,
        admit=admit,
        max_handshakes=config.tls_max_handshakes,
        backlog=LISTEN_BACKLOG,
        # Cluster mode: the nodes of one machine share the port (--workers), as the TCP one.
        reuse_port=config.nats_url is not None,
    )
    await listener.serve(task_status=task_status)


def certificate_of(connection: TerminalConnection) -> CertificateIdentity | None:
    """The verified client certificate of a mutual-TLS terminal (None over TCP or one-way TLS)."""
    peer = connection.tls_peer
    return None if peer is None else peer.certificate


def registration_refused(connection: TerminalConnection, request: RegistrationRequest) -> bool:
    """A 0x0100 that does not match the terminal's certificate (logged and counted by
    ``TlsServer``): it is answered 0x8100 result 4 without asking the auth backend."""
    peer, tls = connection.tls_peer, connection.gateway.tls
    if peer is None or peer.certificate is None or tls is None:
        return False
    mismatch = tls.check_registration(
        peer,
        phone=request.phone,
        manufacturer_id=request.manufacturer_id,
        terminal_model=request.terminal_model,
        terminal_id=request.terminal_id,
    )
    return mismatch is not None


def authentication_refused(
    connection: TerminalConnection, phone: str, decision: AuthenticationDecision | None
) -> bool:
    """A 0x0102 that does not match the terminal's certificate (logged and counted): answered
    0x8001 result 1. A phone rule is checked before the backend is asked (``decision`` None),
    a device-name rule once it accepted, with the device name it gave or the registration's:
    0x0102 carries none."""
    peer, tls = connection.tls_peer, connection.gateway.tls
    if peer is None or peer.certificate is None or tls is None:
        return False
    if tls.identity_needs_device_name != (decision is not None):
        return False
    device_name = None
    if decision is not None:
        if not decision.accepted:
            return False
        device_name = decision.device_name or connection.device_name
    return tls.check_authentication(peer, phone=phone, device_name=device_name) is not None


__all__ = [
    "authentication_refused",
    "certificate_of",
    "registration_refused",
    "serve_tls_terminals",
]


def _host_of(remote: str) -> str:
    """The host of a ``host:port`` / ``[v6]:port`` remote address (per-address limits)."""
    return remote.rpartition(":")[0].removeprefix("[").removesuffix("]")
