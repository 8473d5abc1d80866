"""What the cluster tests share: gateway nodes on a real nats-server, terminals logged in on
them, and the waits and calls the tests make of them."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any, Final

import anyio
import grpc
import pytest

from gateway.protocol.errors import ResultCode
from gateway.protocol.ids import MessageId
from gateway.protocol.versions import V2013
from jt808.gateway.v1 import device_registry_service_pb2 as registry_api
from jt808.gateway.v1 import device_registry_service_pb2_grpc as registry_grpc
from jt808.gateway.v1 import gateway_service_pb2 as api
from jt808.gateway.v1 import gateway_service_pb2_grpc as api_grpc
from tests.controlplane.harness import RunningApp, api_channel, running_app
from tests.server.terminal_client import TerminalClient

from .nats_server import NatsServer

if TYPE_CHECKING:
    from jt808.gateway.v1.device_registry_service_pb2_grpc import DeviceRegistryServiceAsyncStub
    from jt808.gateway.v1.gateway_service_pb2_grpc import GatewayServiceAsyncStub

PHONE: Final = "013900000001"


@asynccontextmanager
async def node(
    server: NatsServer, tmp_path: Path, name: str, **changes: Any
) -> AsyncIterator[tuple[RunningApp, GatewayServiceAsyncStub]]:
    """A gateway node ``name`` of the cluster on ``server``, and a GatewayService stub to it."""
    settings: dict[str, Any] = {"nats_url": server.url, "node_id": name, "cluster_ttl": 6.0}
    async with (
        running_app(tmp_path / name, **{**settings, **changes}) as app,
        api_channel(app) as channel,
    ):
        yield app, api_grpc.GatewayServiceStub(channel)


@asynccontextmanager
async def local_auth_nodes(
    server: NatsServer, tmp_path: Path, devices: list[registry_api.Device]
) -> AsyncIterator[tuple[RunningApp, RunningApp, DeviceRegistryServiceAsyncStub]]:
    """Nodes ``a`` and ``b`` with ``--auth local``, ``devices`` imported through b's
    DeviceRegistryService (the cluster's registry), and a stub to that service."""
    async with (
        node(server, tmp_path, "a", auth="local") as (a, _),
        node(server, tmp_path, "b", auth="local") as (b, _),
        api_channel(b) as channel_b,
    ):
        devices_b = registry_grpc.DeviceRegistryServiceStub(channel_b)
        await devices_b.ImportDevices(registry_api.ImportDevicesRequest(devices=devices))
        yield a, b, devices_b


async def listed_on(stub: GatewayServiceAsyncStub, phone: str, node_id: str) -> api.Session:
    """Polls ListSessions until ``phone`` is listed on ``node_id`` (the directory is watched)."""
    while True:
        sessions = (await stub.ListSessions(api.ListSessionsRequest())).sessions
        found = [s for s in sessions if s.phone == phone and s.node == node_id]
        if found:
            return found[0]
        await anyio.sleep(0.02)


async def status_of(call: Any) -> grpc.aio.AioRpcError:
    with pytest.raises(grpc.aio.AioRpcError) as error:
        await call
    return error.value


async def report(terminal: TerminalClient) -> None:
    """One location, acknowledged (so: stored)."""
    await terminal.send(terminal.terminal.location())
    await terminal.expect_general_response(MessageId.LOCATION_REPORT, ResultCode.SUCCESS)


@asynccontextmanager
async def terminal_on_a(
    server: NatsServer, tmp_path: Path, *, reported: bool = False, **changes: Any
) -> AsyncIterator[tuple[RunningApp, TerminalClient]]:
    """Node ``a`` (``changes`` to its settings) and a terminal logged in on it (its first
    report acknowledged when ``reported``)."""
    async with (
        node(server, tmp_path, "a", **changes) as (a, _),
        TerminalClient.connect(a.addresses.terminals, V2013, phone=PHONE) as terminal,
    ):
        await terminal.log_in()
        if reported:
            await report(terminal)
        yield a, terminal


@dataclass(frozen=True)
class TwoNodes:
    a: RunningApp
    via_a: GatewayServiceAsyncStub
    b: RunningApp
    via_b: GatewayServiceAsyncStub
    terminal: TerminalClient


@asynccontextmanager
async def terminal_on_a_of_two(server: NatsServer, tmp_path: Path) -> AsyncIterator[TwoNodes]:
    """Nodes ``a`` and ``b``, and a terminal logged in on ``a``."""
    async with (
        node(server, tmp_path, "a") as (a, via_a),
        node(server, tmp_path, "b") as (b, via_b),
        TerminalClient.connect(a.addresses.terminals, V2013, phone=PHONE) as terminal,
    ):
        await terminal.log_in()
        yield TwoNodes(a, via_a, b, via_b, terminal)
