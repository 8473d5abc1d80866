"""The grpc_testing harness and ``sync_adapter``: async servicers driven through grpc_testing."""

from __future__ import annotations

import asyncio
import threading
from collections.abc import AsyncIterator
from typing import Any

import anyio
import grpc
import grpc.aio
import pytest

from jt808.gateway.v1 import device_registry_service_pb2 as pb
from jt808.gateway.v1 import device_registry_service_pb2_grpc, gateway_service_pb2
from tests.timeouts import HANG_GUARD

from .grpc_testing_support import TEST_PEER, ServicerHarness, sync_adapter

REGISTRY_SERVICE = pb.DESCRIPTOR.services_by_name["DeviceRegistryService"]
GATEWAY_SERVICE = gateway_service_pb2.DESCRIPTOR.services_by_name["GatewayService"]
AioContext = grpc.aio.ServicerContext[Any, Any]


class ToyRegistry(device_registry_service_pb2_grpc.DeviceRegistryServiceServicer):
    """Echoes what the adapter must carry: status, details, trailing metadata, metadata."""

    async def ImportDevices(
        self, request: pb.ImportDevicesRequest, context: AioContext
    ) -> pb.ImportDevicesResponse:
        if not request.devices:
            await context.abort(
                grpc.StatusCode.INVALID_ARGUMENT, "no devices", trailing_metadata=(("why", "0"),)
            )
        await asyncio.sleep(0)  # a real event loop runs the coroutine
        return pb.ImportDevicesResponse(imported=len(request.devices))

    async def ListDevices(
        self, request: pb.ListDevicesRequest, context: AioContext
    ) -> pb.ListDevicesResponse:
        metadata = dict(context.invocation_metadata() or ())
        caller = str(metadata.get("x-caller", ""))
        return pb.ListDevicesResponse(devices=[pb.Device(name=caller, plate=context.peer())])

    async def DeleteDevice(
        self, request: pb.DeleteDeviceRequest, context: AioContext
    ) -> pb.DeleteDeviceResponse:
        if request.name == "boom":
            raise RuntimeError("servicer bug")
        context.set_code(grpc.StatusCode.NOT_FOUND)
        context.set_details(f"no device named {request.name}")
        return pb.DeleteDeviceResponse()

    async def ResetDevice(
        self, request: pb.ResetDeviceRequest, context: AioContext
    ) -> pb.ResetDeviceResponse:
        raise NotImplementedError


def gap(dropped: int) -> gateway_service_pb2.StreamLocationsResponse:
    return gateway_service_pb2.StreamLocationsResponse(gap=gateway_service_pb2.Gap(dropped=dropped))


class ToyStreams:
    """Server streams only (sync_adapter takes any object; missing methods are UNKNOWN)."""

    def __init__(self) -> None:
        self.cleaned_up = threading.Event()

    async def StreamLocations(
        self, request: gateway_service_pb2.StreamLocationsRequest, context: AioContext
    ) -> AsyncIterator[gateway_service_pb2.StreamLocationsResponse]:
        count = len(request.phones)
        for dropped in range(count):
            yield gap(dropped)
        if count == 1:
            await context.abort(grpc.StatusCode.RESOURCE_EXHAUSTED, "fell behind")

    async def StreamEvents(
        self, request: gateway_service_pb2.StreamEventsRequest, context: AioContext
    ) -> AsyncIterator[gateway_service_pb2.StreamEventsResponse]:
        try:
            yield gateway_service_pb2.StreamEventsResponse()
            await asyncio.Event().wait()  # never ends on its own, like a live stream
        finally:
            self.cleaned_up.set()


@pytest.fixture
def toy_registry() -> ServicerHarness:
    return ServicerHarness(REGISTRY_SERVICE, sync_adapter(ToyRegistry(), REGISTRY_SERVICE))


def test_unary_ok(toy_registry: ServicerHarness) -> None:
    outcome = toy_registry.unary("ImportDevices", pb.ImportDevicesRequest(devices=[pb.Device()]))

    assert (outcome.code, outcome.details) == (grpc.StatusCode.OK, "")
    assert outcome.response == pb.ImportDevicesResponse(imported=1)


def test_awaited_abort_gives_code_details_and_trailing_metadata(
    toy_registry: ServicerHarness,
) -> None:
    outcome = toy_registry.unary("ImportDevices", pb.ImportDevicesRequest())

    assert outcome.response is None
    assert (outcome.code, outcome.details) == (grpc.StatusCode.INVALID_ARGUMENT, "no devices")
    assert tuple(outcome.trailing_metadata) == (("why", "0"),)


def test_metadata_and_peer_are_visible(toy_registry: ServicerHarness) -> None:
    outcome = toy_registry.unary(
        "ListDevices", pb.ListDevicesRequest(), metadata=[("x-caller", "ops")]
    )

    assert outcome.code is grpc.StatusCode.OK
    assert [(d.name, d.plate) for d in outcome.response.devices] == [("ops", TEST_PEER)]


def test_set_code_and_details_end_the_call_with_them(toy_registry: ServicerHarness) -> None:
    outcome = toy_registry.unary("DeleteDevice", pb.DeleteDeviceRequest(name="x"))

    assert (outcome.code, outcome.details) == (grpc.StatusCode.NOT_FOUND, "no device named x")


def test_servicer_exception_is_unknown(toy_registry: ServicerHarness) -> None:
    outcome = toy_registry.unary("DeleteDevice", pb.DeleteDeviceRequest(name="boom"))

    assert outcome.code is grpc.StatusCode.UNKNOWN
    assert "servicer bug" in outcome.details


def test_finite_stream_gives_every_item() -> None:
    harness = ServicerHarness(GATEWAY_SERVICE, sync_adapter(ToyStreams(), GATEWAY_SERVICE))

    outcome = harness.stream(
        "StreamLocations", gateway_service_pb2.StreamLocationsRequest(phones=["1", "2", "3"])
    )

    assert outcome.code is grpc.StatusCode.OK
    assert [r.gap.dropped for r in outcome.responses] == [0, 1, 2]


def test_abort_ends_a_stream_after_its_items() -> None:
    harness = ServicerHarness(GATEWAY_SERVICE, sync_adapter(ToyStreams(), GATEWAY_SERVICE))

    outcome = harness.stream(
        "StreamLocations", gateway_service_pb2.StreamLocationsRequest(phones=["1"])
    )

    assert (outcome.code, outcome.details) == (grpc.StatusCode.RESOURCE_EXHAUSTED, "fell behind")
    assert [r.gap.dropped for r in outcome.responses] == [0]


def test_cancelling_an_endless_stream_cancels_the_servicer() -> None:
    streams = ToyStreams()
    adapted = sync_adapter(streams, GATEWAY_SERVICE)
    harness = ServicerHarness(GATEWAY_SERVICE, adapted)

    with harness.open_stream("StreamEvents", gateway_service_pb2.StreamEventsRequest()) as call:
        assert call.take() == gateway_service_pb2.StreamEventsResponse()

    assert adapted.wait_idle()
    assert streams.cleaned_up.is_set()


def test_deadline_cancels_an_endless_stream() -> None:
    streams = ToyStreams()
    adapted = sync_adapter(streams, GATEWAY_SERVICE)
    harness = ServicerHarness(GATEWAY_SERVICE, adapted, timeout=0.2)

    outcome = harness.stream("StreamEvents", gateway_service_pb2.StreamEventsRequest())

    assert outcome.code is grpc.StatusCode.DEADLINE_EXCEEDED
    assert len(outcome.responses) <= 1  # the first item, unless a busy machine delayed it
    assert adapted.wait_idle()
    assert streams.cleaned_up.is_set()


def test_method_the_servicer_lacks_fails_the_call() -> None:
    harness = ServicerHarness(GATEWAY_SERVICE, sync_adapter(ToyStreams(), GATEWAY_SERVICE))

    outcome = harness.unary("ListSessions", gateway_service_pb2.ListSessionsRequest())

    assert outcome.code is grpc.StatusCode.UNKNOWN
    assert "ListSessions" in outcome.details


class WaitsForTheTest(device_registry_service_pb2_grpc.DeviceRegistryServiceServicer):
    """Awaits a queue that belongs to the test's loop."""

    def __init__(self) -> None:
        self.counts: asyncio.Queue[int] = asyncio.Queue()

    async def ImportDevices(
        self, request: pb.ImportDevicesRequest, context: AioContext
    ) -> pb.ImportDevicesResponse:
        return pb.ImportDevicesResponse(imported=await self.counts.get())

    async def ListDevices(
        self, request: pb.ListDevicesRequest, context: AioContext
    ) -> pb.ListDevicesResponse:
        raise NotImplementedError

    async def DeleteDevice(
        self, request: pb.DeleteDeviceRequest, context: AioContext
    ) -> pb.DeleteDeviceResponse:
        raise NotImplementedError

    async def ResetDevice(
        self, request: pb.ResetDeviceRequest, context: AioContext
    ) -> pb.ResetDeviceResponse:
        raise NotImplementedError


@pytest.mark.anyio
async def test_servicer_on_the_tests_own_loop() -> None:
    servicer = WaitsForTheTest()
    adapted = sync_adapter(servicer, REGISTRY_SERVICE, loop=asyncio.get_running_loop())
    harness = ServicerHarness(REGISTRY_SERVICE, adapted)

    with anyio.fail_after(HANG_GUARD):
        async with anyio.create_task_group() as group:
            results: list[Any] = []

            async def call() -> None:
                request = pb.ImportDevicesRequest()
                results.append(
                    await anyio.to_thread.run_sync(harness.unary, "ImportDevices", request)
                )

            group.start_soon(call)
            servicer.counts.put_nowait(7)

    assert results[0].response == pb.ImportDevicesResponse(imported=7)
