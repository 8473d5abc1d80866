"""The terminal connection at work, as lines, for comparing the compiled edge with pure Python.

``tests/native_transcript.py`` appends these lines to the core's transcript. They cover what the
compiled ``TerminalConnection`` does on its own: handshakes (a backend that answers at once and
one that suspends, with bytes held meanwhile), reports in odd chunks, replies held for the store
and released (stored, or withheld), a terminal that stops reading, a session replaced by a newer
one, a command and its answer, timers, and the ways a connection ends. Every transport call and
every stored event is a line.
"""

from __future__ import annotations

import asyncio
from collections.abc import Iterator
from datetime import UTC, datetime

from gateway.auth.base import (
    AuthenticationDecision,
    AuthenticationRequest,
    RegistrationDecision,
    RegistrationRequest,
)
from gateway.events import HubEvent
from gateway.protocol import V2013, V2019
from gateway.protocol.bodies.location import QueryLocation, QueryLocationResponse
from gateway.protocol.bodies.registration import RegisterResult
from gateway.protocol.session import CloseReason
from gateway.server.config import GatewayConfig
from gateway.server.connection import TerminalConnection
from gateway.server.gateway import Gateway
from gateway.store.base import BatchWaiter

from .protocol.null_modem import Terminal, location, with_bad_checksum

WALL = datetime(2026, 12, 6, 4, 30, tzinfo=UTC)


class _Backend:
    """Answers at once, except that the phones in ``slow`` are authenticated after a step."""

    name = "transcript"

    def __init__(self, slow: set[str]) -> None:
        self.slow = slow

    async def register(self, request: RegistrationRequest) -> RegistrationDecision:
        return RegistrationDecision(RegisterResult.SUCCESS, "code-" + request.phone)

    async def authenticate(self, request: AuthenticationRequest) -> AuthenticationDecision:
        if request.phone in self.slow:
            await asyncio.sleep(0)
        return AuthenticationDecision(request.auth_code.startswith("code-"))

    async def logout(self, phone: str) -> None:
        pass

    async def aclose(self) -> None:
        pass


class _Transport:
    """Records every call the connection makes."""

    def __init__(self, lines: list[str], name: str) -> None:
        self.lines = lines
        self.name = name
        self.closing = False

    def get_extra_info(self, key: str, default: object = None) -> object:
        return ("127.0.0.2", 808) if key == "peername" else default

    def write(self, data: bytes) -> None:
        self.lines.append(f"{self.name} write {data.hex()}")

    def is_closing(self) -> bool:
        return self.closing

    def close(self) -> None:
        self.lines.append(f"{self.name} close")
        self.closing = True

    def abort(self) -> None:
        self.lines.append(f"{self.name} abort")
        self.closing = True

    def pause_reading(self) -> None:
        self.lines.append(f"{self.name} pause_reading")

    def resume_reading(self) -> None:
        self.lines.append(f"{self.name} resume_reading")


class _Store:
    """A store that defers acknowledgements: batches are settled by the script."""

    replays = False
    defers_acks = True

    def __init__(self, lines: list[str]) -> None:
        self.lines = lines
        self.batch = 1
        self.waiters: list[tuple[BatchWaiter, int]] = []

    def append(self, event: HubEvent) -> int:
        self.lines.append(f"stored {event!r}")
        return self.batch

    def notify(self, waiter: BatchWaiter, batch: int) -> None:
        self.waiters.append((waiter, batch))

    def settle(self, stored: bool) -> None:
        waiters, self.waiters = self.waiters, []
        for waiter, batch in waiters:
            waiter.batch_done(batch, stored)
        self.batch += 1


async def _script(lines: list[str]) -> None:
    now = [100.0]
    gateway = Gateway(
        GatewayConfig(auth="insecure-accept-all"),
        auth=_Backend({"013800000002"}),
        clock=lambda: now[0],
        wall_clock=lambda: WALL,
    )
    store = _Store(lines)
    gateway.store = store  # type: ignore[assignment]  # what the connection uses of a store

    def connect(name: str) -> tuple[TerminalConnection, _Transport]:
        connection = TerminalConnection(gateway)
        transport = _Transport(lines, name)
        connection.connection_made(transport)  # type: ignore[arg-type]
        return connection, transport

    # A 2013 terminal: registration and authentication in one chunk, reports in odd chunks.
    first, _ = connect("a")
    a = Terminal(V2013, phone="013800000001")
    first.data_received(a.registration() + a.authentication("code-013800000001"))
    store.settle(True)
    reports = b"".join(a.location(speed=float(i)) for i in range(6))
    reports += with_bad_checksum(a.location()) + a.heartbeat()
    for cut in range(0, len(reports), 37):
        first.data_received(reports[cut : cut + 37])
    store.settle(False)  # not stored: the acknowledgements are withheld
    first.data_received(a.location(speed=7.0))
    first.pause_writing()  # the terminal stops reading
    first.data_received(a.heartbeat())
    first.resume_writing()
    store.settle(True)
    # A command and its answer.
    command = asyncio.ensure_future(first.run_command(QueryLocation(), timeout=10.0))
    await asyncio.sleep(0)
    query = a.receive(bytes.fromhex(lines[-1].split()[-1]))[0]
    lines.append(f"query {query.header.msg_id:04x} serial {query.header.serial}")
    now[0] += 1.0
    answer = QueryLocationResponse(reply_serial=query.header.serial, location=location())
    first.data_received(a.frame(answer))
    store.settle(True)
    result = await command
    lines.append(f"command {result.outcome!r} {result.serial} {result.retransmissions}")

    # A 2019 terminal whose backend suspends: bytes sent meanwhile are held, then replayed.
    second, _ = connect("b")
    b = Terminal(V2019, phone="013800000002")
    second.data_received(b.registration())
    store.settle(True)
    second.data_received(b.authentication("code-013800000002"))
    second.data_received(b.location(speed=1.0))
    for _ in range(3):
        await asyncio.sleep(0)
    store.settle(True)
    # A wrong code is refused; the same phone as the first connection replaces it.
    third, _ = connect("c")
    third.data_received(a.authentication("wrong"))
    third.data_received(a.authentication("code-013800000001"))
    store.settle(True)
    lines.append(f"first finished {first._finished}")

    # Timers: the idle deadline of the second, the authentication deadline of a silent one.
    silent, _ = connect("d")
    now[0] += 3600.0
    for connection in (second, silent, third):
        connection.on_timer(now[0])
    store.settle(True)
    for connection in (first, second, third, silent):
        connection.eof_received()
        connection.connection_lost(None)
    third.close_now(CloseReason.SERVER_SHUTDOWN)
    lines.append(f"open {gateway.open_connections()} sessions {len(gateway.sessions)}")


def connection_transcript() -> Iterator[str]:
    lines: list[str] = []
    asyncio.run(_script(lines))
    yield from lines
