"""The cluster's device registry (``--auth local`` with ``--nats-url``) on a real nats-server:
the vehicle rule of the embedded registry (a plate whose vehicle another device holds a code
for gets 0x8100 result 1), race-safe across nodes through create-only / compare-and-set keys."""

from __future__ import annotations

import json
from collections.abc import AsyncIterator, Callable
from pathlib import Path
from typing import Final, TypeVar

import anyio
import pytest

from gateway.auth.base import AuthenticationRequest, RegistrationRequest
from gateway.cluster.connection import NatsLink
from gateway.cluster.registry import (
    CREDENTIALS_BUCKET,
    VEHICLES_BUCKET,
    ClusterDeviceRegistry,
    vehicle_kv_key,
)
from gateway.protocol.bodies.registration import RegisterResult
from gateway.protocol.versions import V2013
from gateway.registry import Device
from gateway.server.config import GatewayConfig
from jt808.gateway.v1 import device_registry_service_pb2 as registry_api
from tests.server.terminal_client import TerminalClient
from tests.timeouts import HANG_GUARD

from .helpers import local_auth_nodes
from .nats_server import NatsServer

pytestmark = pytest.mark.anyio
T = TypeVar("T")

FIRST: Final = Device("ACME1", "TK-1", "T000001")
SECOND: Final = Device("ACME1", "TK-1", "T000002")
THIRD: Final = Device("ACME1", "TK-1", "T000003")
PHONE_A: Final = "013700000001"
PHONE_B: Final = "013700000002"
PHONE_C: Final = "013700000003"
PLATE: Final = "粤B12345"


class Node:
    """One node's registry on its own NATS connection (called from worker threads, as the auth
    backend does)."""

    def __init__(self, registry: ClusterDeviceRegistry) -> None:
        self.registry = registry

    async def call(self, method: Callable[..., T], *args: object, **kwargs: object) -> T:
        return await anyio.to_thread.run_sync(lambda: method(*args, **kwargs))

    async def register(
        self, device: Device, phone: str, plate: str = PLATE, reregistration: str = "explicit"
    ) -> RegisterResult:
        request = RegistrationRequest(
            phone=phone, province_id=44, city_id=300, manufacturer_id=device.manufacturer_id,
            terminal_model=device.terminal_model, terminal_id=device.terminal_id, plate_color=1,
            plate=plate, protocol_version=2013, remote_address="127.0.0.1:1",
        )  # fmt: skip
        decision = await self.call(self.registry.register, request, reregistration=reregistration)
        self.last_code = decision.auth_code
        return decision.result

    async def authenticates(self, phone: str, code: str) -> bool:
        request = AuthenticationRequest(
            phone=phone, auth_code=code, imei="", software_version="", remote_address="x"
        )
        return (await self.call(self.registry.authenticate, request)).accepted


async def _node(server: NatsServer, name: str) -> AsyncIterator[Node]:
    link = NatsLink(GatewayConfig(nats_url=server.url, node_id=name))
    await link.connect()
    try:
        yield Node(ClusterDeviceRegistry(link))
    finally:
        await link.close()


@pytest.fixture
async def node_a(nats_server: NatsServer) -> AsyncIterator[Node]:
    async for opened in _node(nats_server, "a"):
        await opened.call(opened.registry.upsert, [FIRST, SECOND, THIRD])
        yield opened


@pytest.fixture
async def node_b(nats_server: NatsServer) -> AsyncIterator[Node]:
    async for opened in _node(nats_server, "b"):
        yield opened


async def test_a_plate_held_by_another_device_gets_result_1_on_any_node(
    node_a: Node, node_b: Node
) -> None:
    with anyio.fail_after(HANG_GUARD):
        assert await node_a.register(FIRST, PHONE_A) is RegisterResult.SUCCESS
        code = node_a.last_code
        assert await node_b.register(SECOND, PHONE_B) is RegisterResult.VEHICLE_ALREADY_REGISTERED
        assert node_b.last_code == ""
        assert await node_a.register(SECOND, PHONE_B) is RegisterResult.VEHICLE_ALREADY_REGISTERED
        # Refused, and nothing revoked: the holder still authenticates; another plate is fine.
        assert await node_b.authenticates(PHONE_A, code)
        assert await node_b.register(SECOND, PHONE_B, "粤B00002") is RegisterResult.SUCCESS


async def test_the_holder_re_registering_with_its_plate_is_not_refused_for_the_vehicle(
    node_a: Node, node_b: Node
) -> None:
    with anyio.fail_after(HANG_GUARD):
        assert await node_a.register(FIRST, PHONE_A) is RegisterResult.SUCCESS
        # Explicit policy: the held code answers 3 (terminal), not 1 (vehicle).
        assert await node_b.register(FIRST, PHONE_A) is RegisterResult.TERMINAL_ALREADY_REGISTERED
        # Offline policy (nobody online): the same device and phone get a new code.
        assert await node_b.register(FIRST, PHONE_A, reregistration="offline") is (
            RegisterResult.SUCCESS
        )
        # ... and still hold the vehicle.
        assert await node_a.register(SECOND, PHONE_B) is RegisterResult.VEHICLE_ALREADY_REGISTERED
        # The same device moving to another phone (offline policy) keeps its vehicle too.
        assert await node_a.register(FIRST, PHONE_C, reregistration="offline") is (
            RegisterResult.SUCCESS
        )
        assert await node_b.register(SECOND, PHONE_B) is RegisterResult.VEHICLE_ALREADY_REGISTERED
        assert await node_b.authenticates(PHONE_C, node_a.last_code)


async def test_logout_reset_delete_and_a_replaced_code_free_the_vehicle(
    node_a: Node, node_b: Node
) -> None:
    registry_a, registry_b = node_a.registry, node_b.registry
    with anyio.fail_after(HANG_GUARD):
        assert await node_a.register(FIRST, PHONE_A) is RegisterResult.SUCCESS
        assert await node_b.call(registry_b.logout, PHONE_A)
        assert await node_b.register(SECOND, PHONE_B) is RegisterResult.SUCCESS
        assert await node_a.register(FIRST, PHONE_A) is RegisterResult.VEHICLE_ALREADY_REGISTERED
        assert await node_a.call(registry_a.reset, SECOND.name)
        assert await node_a.register(FIRST, PHONE_A) is RegisterResult.SUCCESS
        assert await node_b.call(registry_b.delete, FIRST.name)
        assert await node_b.register(SECOND, PHONE_B) is RegisterResult.SUCCESS
        # Another device takes the phone over (offline policy): the old holder's vehicle is
        # free again, the new code carries its own plate.
        assert await node_a.register(THIRD, PHONE_B, "粤B00003", "offline") is (
            RegisterResult.SUCCESS
        )
        await node_a.call(registry_a.upsert, [FIRST])
        assert await node_a.register(FIRST, PHONE_A) is RegisterResult.SUCCESS


async def test_a_stale_claim_of_a_code_that_no_longer_exists_does_not_hold_the_vehicle(
    node_a: Node, node_b: Node, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A node that died between writes leaves a claim whose code is gone: once older than the
    grace a registration in flight may take, it holds nothing."""
    import gateway.cluster.registry as module

    with anyio.fail_after(HANG_GUARD):
        assert await node_a.register(FIRST, PHONE_A) is RegisterResult.SUCCESS
        link = node_a.registry.link
        credentials = await link.jetstream.key_value(CREDENTIALS_BUCKET)
        await credentials.delete("13700000001")  # the code vanishes, its claim stays
        vehicles = await link.jetstream.key_value(VEHICLES_BUCKET)
        claim = json.loads((await vehicles.get(vehicle_kv_key(PLATE))).value or b"")
        assert claim["phone"] == "13700000001"
        # Within the grace the claim may belong to a registration still in flight.
        assert await node_b.register(SECOND, PHONE_B) is RegisterResult.VEHICLE_ALREADY_REGISTERED
        monkeypatch.setattr(module, "CLAIM_GRACE", 0.0)
        assert await node_b.register(SECOND, PHONE_B) is RegisterResult.SUCCESS


async def test_concurrent_registrations_of_one_plate_on_two_nodes_issue_one_code(
    node_a: Node, node_b: Node
) -> None:
    for round_ in range(5):
        plate = f"粤B9{round_:04d}"
        results: list[RegisterResult] = []

        async def register(
            on: Node, device: Device, phone: str, plate: str, results: list[RegisterResult]
        ) -> None:
            results.append(await on.register(device, phone, plate))

        with anyio.fail_after(HANG_GUARD):
            async with anyio.create_task_group() as group:
                group.start_soon(register, node_a, FIRST, PHONE_A, plate, results)
                group.start_soon(register, node_b, SECOND, PHONE_B, plate, results)
        assert sorted(results) == sorted(
            [RegisterResult.SUCCESS, RegisterResult.VEHICLE_ALREADY_REGISTERED]
        ), (round_, results)
        for phone in (PHONE_A, PHONE_B):  # free both for the next round
            await node_a.call(node_a.registry.logout, phone)


async def test_terminals_on_two_nodes_get_result_1_for_a_held_vehicle(
    nats_server: NatsServer, tmp_path: Path
) -> None:
    """End to end: 0x0100 on node B for the plate a terminal on node A registered."""
    fields = {"manufacturer_id": "ACME1", "terminal_model": "TK-1"}
    devices = [
        registry_api.Device(manufacturer_id=d.manufacturer_id, terminal_model=d.terminal_model,
                            terminal_id=d.terminal_id)
        for d in (FIRST, SECOND)
    ]  # fmt: skip
    with anyio.fail_after(HANG_GUARD):
        async with (
            local_auth_nodes(nats_server, tmp_path, devices) as (a, b, _),
            TerminalClient.connect(a.addresses.terminals, V2013, phone=PHONE_A) as one,
            TerminalClient.connect(b.addresses.terminals, V2013, phone=PHONE_B) as two,
        ):
            await one.log_in(terminal_id=FIRST.terminal_id, plate=PLATE, **fields)
            answer = await two.register(terminal_id=SECOND.terminal_id, plate=PLATE, **fields)
            assert (answer.result, answer.auth_code) == (
                RegisterResult.VEHICLE_ALREADY_REGISTERED, "",
            )  # fmt: skip
            await two.log_in(terminal_id=SECOND.terminal_id, plate="粤B00002", **fields)
