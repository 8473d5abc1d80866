"""A whole gateway (data plane + control plane) on loopback, simulated terminals, gRPC stubs.

async with running_app(tmp_path) as app:          # GatewayApp, ports chosen by the OS
    async with fleet(app, terminals=2) as sim:    # simulated terminals, logged in
        async with api_channel(app) as channel:   # grpc.aio channel to the control plane
            stub = gateway_service_pb2_grpc.GatewayServiceStub(channel)
"""

from __future__ import annotations

import dataclasses
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

import anyio
import grpc

from clients.simulator.runner import Simulation, SimulationConfig
from controlplane.app import Addresses, GatewayApp
from gateway.auth.base import AuthBackend
from gateway.auth.insecure import AcceptAllAuthBackend
from gateway.server.config import GatewayConfig, HostPort
from gateway.server.connection import TerminalConnection
from gateway.server.gateway import Gateway
from tests.timeouts import HANG_GUARD

LOOPBACK = "127.0.0.1"


@dataclasses.dataclass
class RunningApp:
    app: GatewayApp
    addresses: Addresses

    @property
    def gateway(self) -> Gateway:
        return self.app.gateway

    @property
    def grpc_target(self) -> str:
        return str(self.addresses.grpc)


def app_config(data_dir: Path, **changes: Any) -> GatewayConfig:
    base = GatewayConfig(
        listen=HostPort(LOOPBACK, 0),
        grpc_listen=HostPort(LOOPBACK, 0),
        data_dir=data_dir,
        auth="insecure-accept-all",
        log_level="warning",
        # Long enough that a slow machine sees no retransmission the test did not ask for.
        command_retry_timeout=10.0,
        # A busy machine may take seconds for an auth decision; tests of the timeout set theirs.
        auth_timeout=HANG_GUARD,
    )
    return dataclasses.replace(base, **changes)


@asynccontextmanager
async def running_app(
    data_dir: Path, *, backend: AuthBackend | None = None, **changes: Any
) -> AsyncIterator[RunningApp]:
    """``changes`` are GatewayConfig fields (``auth="remote"`` etc.); ``backend`` replaces the
    auth backend the app would build from them."""
    config = app_config(data_dir, **changes)
    if backend is None and config.auth == "insecure-accept-all":
        backend = AcceptAllAuthBackend()
    app = GatewayApp(config, auth=backend)
    async with anyio.create_task_group() as tasks:
        addresses: Addresses = await tasks.start(app.serve)
        try:
            yield RunningApp(app, addresses)
        finally:
            tasks.cancel_scope.cancel()


def simulation_config(app: RunningApp, **settings: Any) -> SimulationConfig:
    address = app.addresses.terminals
    defaults: dict[str, Any] = {
        "host": address.host,
        "port": address.port,
        "terminals": 1,
        "rate": 1.0,
        "count": None,
        "duration": HANG_GUARD,
        "heartbeat": 0.0,
        "ack_timeout": HANG_GUARD,
        "connect_timeout": HANG_GUARD,
        "connect_rate": 1000.0,
    }
    return SimulationConfig(**{**defaults, **settings})


@asynccontextmanager
async def fleet(app: RunningApp, **settings: Any) -> AsyncIterator[Simulation]:
    """Simulated terminals, all authenticated when the block starts; stopped when it ends."""
    config = simulation_config(app, **settings)
    simulation = Simulation(config)
    async with anyio.create_task_group() as tasks:
        tasks.start_soon(simulation.run)
        with anyio.fail_after(HANG_GUARD):
            while len(app.gateway.sessions) < config.terminals:
                await anyio.sleep(0.01)
        try:
            yield simulation
        finally:
            simulation.stop()
            tasks.cancel_scope.cancel()


def phones(app: RunningApp) -> list[str]:
    return sorted(c.phone for c in app.gateway.sessions.all())


def connection(app: RunningApp, phone: str) -> TerminalConnection:
    found = app.gateway.sessions.get(phone)
    assert found is not None, f"no session for {phone}"
    return found


@asynccontextmanager
async def api_channel(app: RunningApp) -> AsyncIterator[grpc.aio.Channel]:
    """A channel to the control plane (pass ``metadata=bearer(token)`` to calls that need it)."""
    channel = grpc.aio.insecure_channel(app.grpc_target)
    try:
        yield channel
    finally:
        await channel.close()


def bearer(token: str) -> tuple[tuple[str, str]]:
    return (("authorization", f"Bearer {token}"),)


# --------------------------------------------------------------------------------------------
# Server streams over a real channel (test_streams, test_sessions_api)


async def wait_for_subscribers(app: RunningApp, count: int, timeout: float = HANG_GUARD) -> None:
    """Until the event hub has ``count`` subscribers. A stream call is live once its
    subscription exists; the server sends nothing before the first item, so the client alone
    cannot tell when events start to reach it."""
    with anyio.fail_after(timeout):
        while app.gateway.hub.stats.subscribers < count:
            await anyio.sleep(0.005)


async def read_items(
    call: grpc.aio.UnaryStreamCall[Any, Any], count: int, timeout: float = HANG_GUARD
) -> list[Any]:
    """The next ``count`` items of a server stream (annotate the result with the response
    type); fails when the stream ends or stalls first."""
    iterator = aiter(call)
    items: list[Any] = []
    with anyio.fail_after(timeout):
        while len(items) < count:
            try:
                items.append(await anext(iterator))
            except StopAsyncIteration:
                raise AssertionError(f"the stream ended after {len(items)} items") from None
    return items
