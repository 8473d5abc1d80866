"""A small JT/T 808 platform over TLS for tests: ``TlsListener`` in front, a ``TerminalSession``
per connection behind, decisions answered at once (every registration succeeds with one auth
code), certificate identity checked through ``TlsServer`` exactly where the I/O edge will.

It is a test stand-in for the gateway's edge (which comes with the asyncio rewrite) and shows
the seams in use: ``TlsListener(tls, address, protocol_factory)``, the ``TlsPeer`` handed to
the protocol, ``tls.check_registration`` before a 0x0100 is decided, ``tls.check_authentication``
before a 0x0102 is, and ``TerminalSession(..., rsa=platform_key)``.
"""

from __future__ import annotations

import asyncio
import time
from collections import deque
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import cast

import anyio

from gateway.protocol.bodies.registration import RegisterResult
from gateway.protocol.commands import CommandAnswered
from gateway.protocol.encryption import RsaKeyPair
from gateway.protocol.message import Message
from gateway.protocol.session import (
    AuthenticationReceived,
    LogoutReceived,
    MessageReceived,
    RegistrationReceived,
    SessionEvent,
    TerminalSession,
)
from gateway.server.config import HostPort
from gateway.tls.listener import TlsListener
from gateway.tls.server import TlsPeer, TlsServer

AUTH_CODE = "tls-test-code"


@dataclass
class Platform:
    tls: TlsServer
    address: HostPort
    connections: list[SessionProtocol] = field(default_factory=list)

    def delivered(self) -> list[Message]:
        return [m for c in self.connections for m in c.delivered]

    def refusals(self) -> list[str]:
        return [r for c in self.connections for r in c.refusals]


class SessionProtocol(asyncio.Protocol):
    def __init__(self, peer: TlsPeer, tls: TlsServer, rsa: RsaKeyPair | None) -> None:
        self.peer = peer
        self.tls = tls
        self.session = TerminalSession(
            now=time.monotonic(), utc_now=lambda: datetime.now(UTC), rsa=rsa,
            remote_address=peer.remote_address,
        )  # fmt: skip
        self.delivered: list[Message] = []
        self.refusals: list[str] = []
        self.answers: list[CommandAnswered] = []
        self.transport: asyncio.Transport | None = None

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = cast(asyncio.Transport, transport)

    def data_received(self, data: bytes) -> None:
        self._handle(self.session.receive_data(data, time.monotonic()))
        self.flush()

    def flush(self) -> None:
        out = self.session.data_to_send()
        if out and self.transport is not None:
            self.transport.write(out)

    def _handle(self, events: list[SessionEvent]) -> None:
        queue = deque(events)
        session = self.session
        while queue:
            event = queue.popleft()
            now = time.monotonic()
            if isinstance(event, RegistrationReceived):
                body = event.body
                mismatch = self.tls.check_registration(
                    self.peer, phone=event.header.phone, manufacturer_id=body.manufacturer_id,
                    terminal_model=body.terminal_model, terminal_id=body.terminal_id,
                )  # fmt: skip
                if mismatch is not None:
                    self.refusals.append(mismatch.reason)
                result = RegisterResult.SUCCESS if mismatch is None else (
                    RegisterResult.TERMINAL_NOT_FOUND
                )  # fmt: skip
                queue.extend(session.answer_registration(event, result, AUTH_CODE, now))
            elif isinstance(event, AuthenticationReceived):
                mismatch = self.tls.check_authentication(self.peer, phone=event.header.phone)
                if mismatch is not None:
                    self.refusals.append(mismatch.reason)
                accepted = mismatch is None and event.auth_code == AUTH_CODE
                queue.extend(session.answer_authentication(event, accepted, now))
            elif isinstance(event, LogoutReceived):
                queue.extend(session.answer_logout(event, now))
            elif isinstance(event, MessageReceived):
                self.delivered.append(event.message)
            elif isinstance(event, CommandAnswered):
                self.answers.append(event)


@asynccontextmanager
async def running_platform(
    tls: TlsServer, rsa: RsaKeyPair | None = None
) -> AsyncIterator[Platform]:
    connections: list[SessionProtocol] = []

    def factory(peer: TlsPeer) -> SessionProtocol:
        protocol = SessionProtocol(peer, tls, rsa)
        connections.append(protocol)
        return protocol

    listener = TlsListener(tls, HostPort("127.0.0.1", 0), factory)
    async with anyio.create_task_group() as tasks:
        address = await tasks.start(listener.serve)
        try:
            yield Platform(tls, address, connections)
        finally:
            tasks.cancel_scope.cancel()
    await tls.aclose()
