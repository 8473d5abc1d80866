"""Who may use the control plane: the bearer token on every service (over real channels), the
startup rule that keeps a tokenless control plane on loopback, the token kept out of logs and
reprs, a clear exit when the gRPC port is taken, health checking and reflection.
"""

from __future__ import annotations

import argparse
import dataclasses
import signal
import socket
from collections.abc import Awaitable, Callable, Sequence
from contextlib import AbstractAsyncContextManager
from pathlib import Path
from typing import TYPE_CHECKING, Any, Final

import anyio
import grpc
import grpc.aio
import pytest
from grpc_health.v1 import health_pb2
from grpc_reflection.v1alpha import reflection_pb2

from gateway.auth.local import LocalAuthBackend
from gateway.protocol.errors import ResultCode
from gateway.protocol.ids import MessageId
from gateway.protocol.versions import V2013
from gateway.registry import DeviceRegistry
from gateway.server.config import (
    ConfigError,
    GatewayConfig,
    HostPort,
    add_arguments,
    flags_of,
    load,
    validate,
)
from jt808.gateway.v1 import device_registry_service_pb2 as registry_api
from jt808.gateway.v1 import device_registry_service_pb2_grpc as registry_grpc
from jt808.gateway.v1 import gateway_service_pb2 as api
from jt808.gateway.v1 import gateway_service_pb2_grpc as api_grpc
from tests.server.harness import free_port
from tests.server.terminal_client import TerminalClient
from tests.server.test_serve_command import clean_environment, run_serve, serving
from tests.timeouts import HANG_GUARD

from .harness import RunningApp, api_channel, bearer, running_app

if TYPE_CHECKING:
    from jt808.gateway.v1.device_registry_service_pb2_grpc import DeviceRegistryServiceAsyncStub
    from jt808.gateway.v1.gateway_service_pb2_grpc import GatewayServiceAsyncStub

TOKEN: Final = "cp-token-6f1d2c9a"
WRONG_TOKEN: Final = "cp-token-00000000"
TEST_TIMEOUT: Final = HANG_GUARD
RPC_TIMEOUT: Final = HANG_GUARD
GATEWAY_SERVICE: Final = "jt808.gateway.v1.GatewayService"
REGISTRY_SERVICE: Final = "jt808.gateway.v1.DeviceRegistryService"
HEALTH_SERVICE: Final = "grpc.health.v1.Health"
REFLECTION_SERVICE: Final = "grpc.reflection.v1alpha.ServerReflection"

Metadata = tuple[tuple[str, str], ...]


def local_app(tmp_path: Path, **changes: Any) -> AbstractAsyncContextManager[RunningApp]:
    """A running gateway whose devices are in the local registry (DeviceRegistryService calls
    then succeed instead of failing with FAILED_PRECONDITION)."""
    return running_app(
        tmp_path, backend=LocalAuthBackend(DeviceRegistry(tmp_path / "data")), **changes
    )


def gateway_stub(channel: grpc.aio.Channel) -> GatewayServiceAsyncStub:
    return api_grpc.GatewayServiceStub(channel)


def registry_stub(channel: grpc.aio.Channel) -> DeviceRegistryServiceAsyncStub:
    return registry_grpc.DeviceRegistryServiceStub(channel)


async def health_check(channel: grpc.aio.Channel, service: str, metadata: Metadata = ()) -> int:
    """The status ``grpc.health.v1.Health/Check`` gives ``service``."""
    check = channel.unary_unary(
        f"/{HEALTH_SERVICE}/Check",
        request_serializer=health_pb2.HealthCheckRequest.SerializeToString,
        response_deserializer=health_pb2.HealthCheckResponse.FromString,
    )
    request = health_pb2.HealthCheckRequest(service=service)
    response = await check(request, metadata=metadata, timeout=RPC_TIMEOUT)
    return int(response.status)


async def reflect(
    channel: grpc.aio.Channel,
    requests: Sequence[reflection_pb2.ServerReflectionRequest],
    metadata: Metadata = (),
) -> list[reflection_pb2.ServerReflectionResponse]:
    """One ``ServerReflectionInfo`` stream: ``requests`` in, their answers out."""
    info = channel.stream_stream(
        f"/{REFLECTION_SERVICE}/ServerReflectionInfo",
        request_serializer=reflection_pb2.ServerReflectionRequest.SerializeToString,
        response_deserializer=reflection_pb2.ServerReflectionResponse.FromString,
    )
    call = info(iter(requests), metadata=metadata, timeout=RPC_TIMEOUT)
    return [response async for response in call]


# --------------------------------------------------------------------------------------------
# One call per service and per kind of method: it returns when the call was let through and
# raises its AioRpcError when it was refused.

Probe = Callable[[RunningApp, grpc.aio.Channel, Metadata], Awaitable[None]]


async def list_sessions(app: RunningApp, channel: grpc.aio.Channel, metadata: Metadata) -> None:
    request = api.ListSessionsRequest()
    await gateway_stub(channel).ListSessions(request, metadata=metadata, timeout=RPC_TIMEOUT)


async def get_session(app: RunningApp, channel: grpc.aio.Channel, metadata: Metadata) -> None:
    """Let through, the servicer answers NOT_FOUND (no terminal): anything but UNAUTHENTICATED
    shows the call reached it."""
    request = api.GetSessionRequest(phone="013900000404")
    try:
        await gateway_stub(channel).GetSession(request, metadata=metadata, timeout=RPC_TIMEOUT)
    except grpc.aio.AioRpcError as error:
        if error.code() is not grpc.StatusCode.NOT_FOUND:
            raise


async def stream_subscribed(app: RunningApp, call: grpc.aio.UnaryStreamCall[Any, Any]) -> None:
    """A live stream sends nothing until something happens: it was let through once its hub
    subscription exists, refused once it ends first."""
    hub = app.gateway.hub
    with anyio.fail_after(RPC_TIMEOUT):
        while not call.done() and hub.stats.subscribers == 0:
            await anyio.sleep(0.005)
    if call.done():
        async for _ in call:  # raises the status the call ended with
            raise AssertionError("a refused stream sent an item")
        raise AssertionError("the stream ended without a status")
    call.cancel()
    with anyio.fail_after(RPC_TIMEOUT):
        while hub.stats.subscribers:
            await anyio.sleep(0.005)


async def stream_locations(app: RunningApp, channel: grpc.aio.Channel, metadata: Metadata) -> None:
    request = api.StreamLocationsRequest()
    await stream_subscribed(app, gateway_stub(channel).StreamLocations(request, metadata=metadata))


async def stream_events(app: RunningApp, channel: grpc.aio.Channel, metadata: Metadata) -> None:
    request = api.StreamEventsRequest()
    await stream_subscribed(app, gateway_stub(channel).StreamEvents(request, metadata=metadata))


async def list_devices(app: RunningApp, channel: grpc.aio.Channel, metadata: Metadata) -> None:
    request = registry_api.ListDevicesRequest()
    await registry_stub(channel).ListDevices(request, metadata=metadata, timeout=RPC_TIMEOUT)


async def check_health(app: RunningApp, channel: grpc.aio.Channel, metadata: Metadata) -> None:
    assert await health_check(channel, "", metadata) == health_pb2.HealthCheckResponse.SERVING


async def list_services(app: RunningApp, channel: grpc.aio.Channel, metadata: Metadata) -> None:
    request = reflection_pb2.ServerReflectionRequest(list_services="")
    (response,) = await reflect(channel, [request], metadata)
    assert response.HasField("list_services_response")


PROBES: Final = [
    pytest.param(list_sessions, id="GatewayService.ListSessions"),
    pytest.param(get_session, id="GatewayService.GetSession"),
    pytest.param(stream_locations, id="GatewayService.StreamLocations"),
    pytest.param(stream_events, id="GatewayService.StreamEvents"),
    pytest.param(list_devices, id="DeviceRegistryService.ListDevices"),
    pytest.param(check_health, id="Health.Check"),
    pytest.param(list_services, id="ServerReflection.ServerReflectionInfo"),
]
REFUSED_METADATA: Final = [
    pytest.param((), id="none"),
    pytest.param(bearer(WRONG_TOKEN), id="wrong-token"),
    pytest.param((("authorization", TOKEN),), id="no-scheme"),
    pytest.param((("authorization", f"Basic {TOKEN}"),), id="basic-scheme"),
    pytest.param((("authorization", f"Bearer {TOKEN}x"),), id="token-prefix"),
    pytest.param((("authorization", f"Bearer {TOKEN[:-1]}"),), id="truncated"),
    pytest.param((*bearer(TOKEN), *bearer(WRONG_TOKEN)), id="right-and-wrong"),
    pytest.param((("x-api-key", TOKEN),), id="other-key"),
]


@pytest.mark.anyio
@pytest.mark.parametrize("metadata", REFUSED_METADATA)
@pytest.mark.parametrize("probe", PROBES)
async def test_with_a_token_every_service_refuses_a_call_without_it(
    tmp_path: Path, probe: Probe, metadata: Metadata
) -> None:
    with anyio.fail_after(TEST_TIMEOUT):
        async with local_app(tmp_path, grpc_token=TOKEN) as app:
            async with api_channel(app) as channel:
                with pytest.raises(grpc.aio.AioRpcError) as refused:
                    await probe(app, channel, metadata)
            assert app.gateway.hub.stats.subscribers == 0  # no servicer ran
    assert refused.value.code() is grpc.StatusCode.UNAUTHENTICATED
    details = refused.value.details() or ""
    assert "authorization" in details
    assert TOKEN not in details and WRONG_TOKEN not in details


@pytest.mark.anyio
@pytest.mark.parametrize(
    "method", ["/jt808.gateway.v1.GatewayService/NoSuchMethod", "/no.such.Service/Method"]
)
async def test_with_a_token_a_call_to_an_unknown_method_is_refused_too(
    tmp_path: Path, method: str
) -> None:
    with anyio.fail_after(TEST_TIMEOUT):
        async with local_app(tmp_path, grpc_token=TOKEN) as app, api_channel(app) as channel:
            unknown = channel.unary_unary(
                method, request_serializer=bytes, response_deserializer=bytes
            )
            with pytest.raises(grpc.aio.AioRpcError) as refused:
                await unknown(b"", timeout=RPC_TIMEOUT)
    assert refused.value.code() is grpc.StatusCode.UNAUTHENTICATED


REPEATED_REFUSALS: Final = 60


@pytest.mark.anyio
async def test_a_refused_client_stream_ends_unauthenticated_every_time(tmp_path: Path) -> None:
    """A refusal sent while the client is still writing used to reach it as INTERNAL
    ("Failed execute_batch", grpc/grpc#36066) now and then: the refusal waits (bounded) for
    the client's half-close, so every one of many calls gets its status."""
    requests = [reflection_pb2.ServerReflectionRequest(list_services="")] * 3
    codes: list[grpc.StatusCode] = []
    with anyio.fail_after(TEST_TIMEOUT * 2):
        async with local_app(tmp_path, grpc_token=TOKEN) as app, api_channel(app) as channel:
            for _ in range(REPEATED_REFUSALS):
                with pytest.raises(grpc.aio.AioRpcError) as refused:
                    await reflect(channel, requests, bearer(WRONG_TOKEN))
                codes.append(refused.value.code())
    assert codes == [grpc.StatusCode.UNAUTHENTICATED] * REPEATED_REFUSALS


@pytest.mark.anyio
async def test_a_refused_client_stream_that_never_half_closes_is_still_refused(
    tmp_path: Path,
) -> None:
    """The wait for the half-close is bounded: a client that writes and then neither writes
    nor half-closes still gets its refusal."""
    info = f"/{REFLECTION_SERVICE}/ServerReflectionInfo"
    with anyio.fail_after(TEST_TIMEOUT):
        async with local_app(tmp_path, grpc_token=TOKEN) as app, api_channel(app) as channel:
            call: grpc.aio.StreamStreamCall[bytes, bytes] = channel.stream_stream(info)(
                metadata=bearer(WRONG_TOKEN)
            )
            await call.write(b"")
            code = await call.code()
    assert code is grpc.StatusCode.UNAUTHENTICATED


@pytest.mark.anyio
@pytest.mark.parametrize("probe", PROBES)
async def test_with_a_token_every_service_accepts_the_right_one(
    tmp_path: Path, probe: Probe
) -> None:
    with anyio.fail_after(TEST_TIMEOUT):
        async with local_app(tmp_path, grpc_token=TOKEN) as app, api_channel(app) as channel:
            await probe(app, channel, bearer(TOKEN))


@pytest.mark.anyio
async def test_with_a_token_a_stream_let_through_delivers(tmp_path: Path) -> None:
    with anyio.fail_after(TEST_TIMEOUT):
        async with (
            running_app(tmp_path, grpc_token=TOKEN) as app,
            api_channel(app) as channel,
        ):
            request = api.StreamEventsRequest()
            call = gateway_stub(channel).StreamEvents(request, metadata=bearer(TOKEN))
            while app.gateway.hub.stats.subscribers == 0:
                await anyio.sleep(0.005)
            async with TerminalClient.connect(app.addresses.terminals, V2013) as terminal:
                await terminal.send(terminal.terminal.heartbeat())
                await terminal.expect_general_response(MessageId.HEARTBEAT, ResultCode.SUCCESS)
                first = await anext(aiter(call))
            call.cancel()
    assert first.event.kind == api.EVENT_KIND_CONNECTED


@pytest.mark.anyio
@pytest.mark.parametrize("metadata", [pytest.param((), id="none"), pytest.param(bearer(TOKEN))])
@pytest.mark.parametrize("probe", PROBES)
async def test_without_a_token_calls_on_loopback_need_no_metadata(
    tmp_path: Path, probe: Probe, metadata: Metadata
) -> None:
    with anyio.fail_after(TEST_TIMEOUT):
        async with local_app(tmp_path) as app, api_channel(app) as channel:
            await probe(app, channel, metadata)


# --------------------------------------------------------------------------------------------
# Health and reflection


@pytest.mark.anyio
async def test_health_reports_the_server_and_each_service_serving(tmp_path: Path) -> None:
    with anyio.fail_after(TEST_TIMEOUT):
        async with running_app(tmp_path) as app, api_channel(app) as channel:
            statuses = [
                await health_check(channel, name)
                for name in ("", GATEWAY_SERVICE, REGISTRY_SERVICE)
            ]
            with pytest.raises(grpc.aio.AioRpcError) as unknown:
                await health_check(channel, "jt808.gateway.v1.NoSuchService")
    assert statuses == [health_pb2.HealthCheckResponse.SERVING] * 3
    assert unknown.value.code() is grpc.StatusCode.NOT_FOUND


@pytest.mark.anyio
async def test_reflection_lists_the_services_and_serves_their_descriptors(
    tmp_path: Path,
) -> None:
    requests = [
        reflection_pb2.ServerReflectionRequest(list_services=""),
        reflection_pb2.ServerReflectionRequest(file_containing_symbol=GATEWAY_SERVICE),
    ]
    with anyio.fail_after(TEST_TIMEOUT):
        async with running_app(tmp_path) as app, api_channel(app) as channel:
            listed, described = await reflect(channel, requests)
    names = {service.name for service in listed.list_services_response.service}
    assert {GATEWAY_SERVICE, REGISTRY_SERVICE, HEALTH_SERVICE} <= names
    assert described.HasField("file_descriptor_response")
    files = described.file_descriptor_response.file_descriptor_proto
    assert any(b"jt808/gateway/v1/gateway_service.proto" in file for file in files)


# --------------------------------------------------------------------------------------------
# Startup: no open control plane without a token


@pytest.mark.parametrize("host", ["0.0.0.0", "::", "192.0.2.10", "gateway.example"])
def test_validate_refuses_a_non_loopback_grpc_listen_without_a_token(host: str) -> None:
    config = GatewayConfig(grpc_listen=HostPort(host, 50051))
    with pytest.raises(ConfigError, match="--grpc-token") as refused:
        validate(config)
    assert str(HostPort(host, 50051)) in str(refused.value)
    validate(dataclasses.replace(config, grpc_token=TOKEN))  # with one: accepted


@pytest.mark.parametrize("host", ["127.0.0.1", "127.0.0.53", "::1", "localhost"])
def test_validate_accepts_loopback_without_a_token(host: str) -> None:
    validate(GatewayConfig(grpc_listen=HostPort(host, 50051)))


def parsed(*flags: str) -> argparse.Namespace:
    parser = argparse.ArgumentParser()
    add_arguments(parser)
    return parser.parse_args(flags)


def test_load_refuses_0_0_0_0_without_a_token_from_any_layer(tmp_path: Path) -> None:
    config_file = tmp_path / "gateway.toml"
    config_file.write_text('grpc_listen = "0.0.0.0:50051"\n', encoding="utf-8")
    for args, environ in (
        (parsed("--grpc-listen", "0.0.0.0:50051"), {}),
        (None, {"JT808_GRPC_LISTEN": "0.0.0.0:50051"}),
        (parsed("--config", str(config_file)), {}),
    ):
        with pytest.raises(ConfigError, match="--grpc-token"):
            load(args, environ)


def test_load_accepts_0_0_0_0_with_a_token_and_keeps_it_out_of_repr(tmp_path: Path) -> None:
    config_file = tmp_path / "gateway.toml"
    config_file.write_text(f'grpc_token = "{TOKEN}"\n', encoding="utf-8")
    loaded = [
        load(parsed("--grpc-listen", "0.0.0.0:50051", "--grpc-token", TOKEN), {}),
        load(None, {"JT808_GRPC_LISTEN": "0.0.0.0:50051", "JT808_GRPC_TOKEN": TOKEN}),
        load(parsed("--config", str(config_file), "--grpc-listen", "0.0.0.0:50051"), {}),
    ]
    for config in loaded:
        assert config.grpc_token == TOKEN
        assert config.grpc_listen == HostPort("0.0.0.0", 50051)
        assert TOKEN not in repr(config) and TOKEN not in str(config)
        assert TOKEN not in " ".join(flags_of(config))  # never on a spawned command line


def test_an_unusable_token_is_refused_without_echoing_it() -> None:
    with pytest.raises(ConfigError, match="--grpc-token") as refused:
        load(parsed("--grpc-token", "secret with spaces"), {})
    assert "secret" not in str(refused.value)


def test_serve_refuses_0_0_0_0_without_a_token_with_exit_code_2(tmp_path: Path) -> None:
    result = run_serve(
        "--grpc-listen", f"0.0.0.0:{free_port()}", "--data-dir", str(tmp_path),
        "--listen", f"127.0.0.1:{free_port()}",
    )  # fmt: skip
    assert result.returncode == 2
    assert "--grpc-token" in result.stderr
    assert "not a loopback address" in result.stderr
    assert "Traceback" not in result.stderr


def test_serve_on_a_grpc_port_in_use_exits_1_with_a_clear_message(tmp_path: Path) -> None:
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        result = run_serve(
            "--grpc-listen", f"127.0.0.1:{port}", "--listen", f"127.0.0.1:{free_port()}",
            "--auth", "insecure-accept-all", "--data-dir", str(tmp_path),
        )  # fmt: skip
    assert result.returncode == 1
    assert f"cannot listen on 127.0.0.1:{port} for gRPC" in result.stderr
    assert "Traceback" not in result.stderr


@pytest.mark.anyio
async def test_serve_never_logs_the_token(tmp_path: Path) -> None:
    grpc_address = HostPort("127.0.0.1", free_port())
    with anyio.fail_after(HANG_GUARD):
        async with serving(
            "--listen", f"127.0.0.1:{free_port()}", "--grpc-listen", str(grpc_address),
            "--grpc-token", TOKEN, "--auth", "insecure-accept-all", "--log-level", "debug",
            "--data-dir", str(tmp_path / "data"),
            environment=clean_environment(),
        ) as server:  # fmt: skip
            listening = await server.wait_for_line("control plane listening")
            assert 'access="bearer token"' in listening
            channel = grpc.aio.insecure_channel(str(grpc_address))
            try:
                stub = gateway_stub(channel)
                await stub.ListSessions(
                    api.ListSessionsRequest(), metadata=bearer(TOKEN), timeout=RPC_TIMEOUT
                )
                with pytest.raises(grpc.aio.AioRpcError) as refused:
                    await stub.ListSessions(
                        api.ListSessionsRequest(), metadata=bearer(WRONG_TOKEN), timeout=RPC_TIMEOUT
                    )
            finally:
                await channel.close()
            server.process.send_signal(signal.SIGTERM)
            with anyio.fail_after(HANG_GUARD):
                assert await server.process.wait() == 0
    assert refused.value.code() is grpc.StatusCode.UNAUTHENTICATED
    assert TOKEN not in server.log
    assert "shutting down" in server.log  # the whole run was logged
