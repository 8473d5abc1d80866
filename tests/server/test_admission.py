"""Connection floods cannot lock terminals out: unauthenticated connections have their own
budget and a per-address cap, and the oldest idle ones are shed for newcomers; authenticated
terminals are never shed. The bookkeeping alone, then on a real gateway."""

from __future__ import annotations

import logging

import anyio
import anyio.abc
import pytest

from gateway.protocol import V2013, ResultCode
from gateway.protocol.ids import MessageId
from gateway.server.admission import Admission
from gateway.server.gateway import Gateway
from gateway.server.limitlog import LimitLog
from gateway.server.logs import LOGGER_NAME
from tests.timeouts import HANG_GUARD

from .harness import address_of, metric
from .terminal_client import TerminalClient

pytestmark = pytest.mark.anyio


class Counter:
    def __init__(self) -> None:
        self.hits: dict[str, int] = {}

    def labels(self, limit: str) -> Counter:
        self._limit = limit
        return self

    def inc(self) -> None:
        self.hits[self._limit] = self.hits.get(self._limit, 0) + 1


def admission(busy: set[str] | None = None, **bounds: int) -> tuple[Admission[str], Counter]:
    counter = Counter()
    settings = {"max_connections": 4, "max_unauthenticated": 3, "max_per_address": 2} | bounds
    return Admission(
        **settings,
        limits=LimitLog(counter, lambda: 0.0),
        busy=lambda c: c in (busy or set()),
        shed_after=5.0,
    ), counter  # fmt: skip


def test_the_oldest_idle_unauthenticated_connection_is_shed_for_a_newcomer() -> None:
    gate, counter = admission(busy={"b"})
    assert gate.admit("a", "10.0.0.1", 0.0) == (True, [])
    assert gate.admit("b", "10.0.0.2", 1.0) == (True, [])
    assert gate.admit("c", "10.0.0.3", 2.0) == (True, [])
    # Full (3 unauthenticated); too young to shed yet: refused.
    assert gate.admit("d", "10.0.0.4", 4.0) == (False, [])
    # Old enough: "a" goes ("b" is waiting for the auth backend, and would be next).
    assert gate.admit("d", "10.0.0.4", 6.0) == (True, ["a"])
    assert gate.admit("e", "10.0.0.5", 7.5) == (True, ["c"])  # "b" is busy, "c" idle and old
    assert counter.hits == {"max_unauthenticated": 1, "shed_unauthenticated": 2}


def test_authenticated_connections_are_never_shed_and_free_their_unauthenticated_slot() -> None:
    gate, counter = admission()
    for name in ("a", "b", "c"):
        assert gate.admit(name, name, 0.0) == (True, [])
        gate.authenticated(name)
    assert gate.admit("d", "d", 10.0) == (True, [])
    assert gate.admit("e", "e", 20.0) == (True, ["d"])  # max_connections: only "d" can go
    gate.authenticated("e")
    assert gate.admit("f", "f", 30.0) == (False, [])  # all four authenticated: refused
    assert counter.hits["max_connections"] == 1
    gate.release("a")
    assert gate.admit("f", "f", 30.0) == (True, [])


def test_one_address_holds_at_most_its_share_of_unauthenticated_connections() -> None:
    gate, counter = admission(max_unauthenticated=10, max_connections=10)
    assert gate.admit("a", "10.0.0.1", 0.0)[0] and gate.admit("b", "10.0.0.1", 0.0)[0]
    assert gate.admit("c", "10.0.0.1", 0.0) == (False, [])
    assert gate.admit("d", "10.0.0.2", 0.0) == (True, [])
    gate.authenticated("a")  # proved itself: no longer counted against its address
    assert gate.admit("c", "10.0.0.1", 0.0) == (True, [])
    assert counter.hits == {"max_unauthenticated_per_address": 1}


@pytest.mark.gateway(max_connections=12, max_unauthenticated=10, authentication_timeout=60)
async def test_a_terminal_gets_in_while_slow_loris_connections_fill_the_gateway(
    gateway: Gateway,
) -> None:
    """The issue's lockout, scaled down: connections that never authenticate (half trickle a
    0x0100 a byte at a time, half send nothing) fill every slot; a real terminal arriving
    later still gets in, and the terminal already in keeps being served."""
    gateway.admission.shed_after = 0.3
    address = address_of(gateway)
    with anyio.fail_after(HANG_GUARD):
        async with TerminalClient.connect(address, V2013, phone="013700000001") as resident:
            await resident.log_in()
            attackers: list[anyio.abc.SocketStream] = []
            try:
                for index in range(30):
                    stream = await anyio.connect_tcp(address.host, address.port)
                    attackers.append(stream)
                    if index % 2:
                        await stream.send(resident.terminal.registration()[:1])
                    await anyio.sleep(0.02)
                await anyio.sleep(0.4)  # every attacker has had its time to authenticate
                async with TerminalClient.connect(address, V2013, phone="013700000002") as late:
                    await late.send(late.terminal.heartbeat())
                    await late.expect_general_response(MessageId.HEARTBEAT, ResultCode.SUCCESS)
                await resident.send(resident.terminal.heartbeat())
                await resident.expect_general_response(MessageId.HEARTBEAT, ResultCode.SUCCESS)
            finally:
                for stream in attackers:
                    await stream.aclose()
    assert len(gateway.admission) <= 12
    assert metric(gateway, "jt808_limit_hits_total", limit="shed_unauthenticated") >= 1


@pytest.mark.gateway(max_unauthenticated_per_address=3)
async def test_connections_past_the_per_address_cap_are_closed_and_counted(
    gateway: Gateway,
) -> None:
    address = address_of(gateway)
    with anyio.fail_after(HANG_GUARD):
        async with (
            TerminalClient.connect(address, V2013, phone="013700000001") as first,
            TerminalClient.connect(address, V2013, phone="013700000002") as second,
            TerminalClient.connect(address, V2013, phone="013700000003") as third,
        ):
            for client in (first, second, third):  # all three are counted in
                await client.send(client.terminal.heartbeat())
                await client.expect_general_response(MessageId.HEARTBEAT, ResultCode.SUCCESS)
            async with TerminalClient.connect(address, V2013, phone="013700000004") as extra:
                assert await extra.closed() == []
            limit = "max_unauthenticated_per_address"
            assert metric(gateway, "jt808_limit_hits_total", limit=limit) == 1
            await first.log_in()  # authenticated: its address has room again
            async with TerminalClient.connect(address, V2013, phone="013700000004") as later:
                await later.send(later.terminal.heartbeat())
                await later.expect_general_response(MessageId.HEARTBEAT, ResultCode.SUCCESS)


@pytest.mark.gateway(max_unauthenticated_per_address=1)
async def test_a_refused_connection_is_a_limit_hit_not_a_session_the_peer_closed(
    gateway: Gateway, caplog: pytest.LogCaptureFixture
) -> None:
    """The gateway closes a connection it refuses at once: the limit says so (counted, logged
    once a burst); no ``disconnected`` line or ``peer_closed`` count pretends the terminal
    left (a load generator's unanswered 0x0100 looked like a lost registration)."""
    caplog.set_level(logging.DEBUG, logger=LOGGER_NAME)
    address = address_of(gateway)
    limit = "max_unauthenticated_per_address"
    with anyio.fail_after(HANG_GUARD):
        async with TerminalClient.connect(address, V2013, phone="013700000001") as first:
            await first.send(first.terminal.heartbeat())
            await first.expect_general_response(MessageId.HEARTBEAT, ResultCode.SUCCESS)
            async with TerminalClient.connect(address, V2013, phone="013700000002") as extra:
                await extra.send(extra.terminal.registration())
                assert await extra.closed() == []  # no 0x8100: refused before it was read
            while metric(gateway, "jt808_limit_hits_total", limit=limit) < 1:
                await anyio.sleep(0.01)
            while len(gateway.connections) != 1:
                await anyio.sleep(0.01)
            await first.send(first.terminal.heartbeat())  # one loop pass after the close
            await first.expect_general_response(MessageId.HEARTBEAT, ResultCode.SUCCESS)
            assert metric(gateway, "jt808_disconnects_total", reason="peer_closed") == 0
            assert [r for r in caplog.records if r.getMessage() == "disconnected"] == []
    assert [r.getMessage() for r in caplog.records if getattr(r, "limit", "") == limit] == [
        "connection refused: too many unauthenticated connections from its address"
    ]
