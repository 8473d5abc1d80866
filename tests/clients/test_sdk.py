"""The Python SDK: command building, typed helpers, errors and live streams against a real
gateway on loopback (a stream that survives a gateway restart included)."""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Any

import anyio
import pytest
from google.protobuf import descriptor_pb2, descriptor_pool, message_factory

from clients.sdk import (
    Device,
    GatewayClient,
    GatewayUnavailableError,
    InvalidRequestError,
    LiveStream,
    TerminalNotConnectedError,
    parameter,
    parameter_id,
    query_parameters,
    raw_command,
    set_parameters,
    terminal_control,
)
from clients.sdk.commands import command_request, parameter_value
from gateway.protocol import V2013, ResultCode
from gateway.protocol.bodies.parameters import ParameterId
from gateway.protocol.bodies.registration import RegisterResult
from gateway.server.config import HostPort
from jt808.gateway.v1 import commands_pb2
from jt808.gateway.v1 import gateway_service_pb2 as api

# One event loop per module, as for the control-plane tests (grpc.aio completions).
from tests.controlplane.conftest import anyio_backend, one_event_loop  # noqa: F401
from tests.controlplane.harness import LOOPBACK, fleet, running_app
from tests.server.terminal_client import (
    MANUFACTURER_ID,
    TERMINAL_ID,
    TERMINAL_MODEL,
    TerminalClient,
)

from .cli_process import RUN_TIMEOUT

PHONE = "013800000000"


# --------------------------------------------------------------------------------------------
# Building commands


def test_parameters_by_name_or_id_take_the_type_of_the_standard() -> None:
    assert parameter_id("heartbeat_interval") == ParameterId.HEARTBEAT_INTERVAL
    assert parameter_id("0x0013") == parameter_id(19) == ParameterId.MAIN_SERVER_ADDRESS
    assert parameter("heartbeat_interval", "30") == commands_pb2.Parameter(id=1, uint_value=30)
    assert parameter("main_server_address", "gw.example:7999").string_value == "gw.example:7999"
    assert parameter(0xF001, "01ff").bytes_value == b"\x01\xff"  # a vendor id: bytes
    assert parameter("geofence_radius", 0xFFFF).uint_value == 0xFFFF  # a WORD


@pytest.mark.parametrize(
    ("key", "value", "words"),
    [
        ("no_such_parameter", "1", "unknown parameter"),
        ("heartbeat_interval", "soon", "not a number"),
        ("geofence_radius", 0x10000, "does not fit"),
        ("illegal_driving_period", 5, "takes bytes"),
        (0xF001, "zz", "not hex"),
    ],
)
def test_parameter_refusals_name_the_problem(key: Any, value: Any, words: str) -> None:
    with pytest.raises(InvalidRequestError, match=words):
        parameter(key, value)


def test_command_helpers_build_the_request_oneof() -> None:
    assert isinstance(query_parameters(), commands_pb2.QueryAllParameters)
    assert list(query_parameters(["heartbeat_interval", 0x55]).ids) == [1, 0x55]  # type: ignore[union-attr]
    assert terminal_control("factory-reset").command == 5
    assert raw_command("0x8300", "0c 68 69").body == b"\x0chi"
    request = command_request(PHONE, set_parameters({"max_speed": 90}), timeout=2.5)
    assert request.WhichOneof("command") == "set_parameters"
    assert request.timeout.ToTimedelta().total_seconds() == 2.5
    with pytest.raises(InvalidRequestError, match="outside"):
        command_request(PHONE, commands_pb2.LinkCheck(), timeout=601)
    with pytest.raises(InvalidRequestError, match="not a command"):
        command_request(PHONE, commands_pb2.Parameter())  # type: ignore[arg-type]


def _resumable_request_type() -> Any:
    """A stream request with ``after_sequence``, as streams that can resume will have."""
    file = descriptor_pb2.FileDescriptorProto(name="resumable_test.proto", package="resume.test")
    message = file.message_type.add(name="Request")
    message.field.add(
        name="phones", number=1, type=descriptor_pb2.FieldDescriptorProto.TYPE_STRING,
        label=descriptor_pb2.FieldDescriptorProto.LABEL_REPEATED,
    )  # fmt: skip
    message.field.add(
        name="after_sequence", number=2, type=descriptor_pb2.FieldDescriptorProto.TYPE_UINT64,
        label=descriptor_pb2.FieldDescriptorProto.LABEL_OPTIONAL,
    )  # fmt: skip
    pool = descriptor_pool.DescriptorPool()
    pool.Add(file)
    return message_factory.GetMessageClass(pool.FindMessageTypeByName("resume.test.Request"))


def test_a_stream_resumes_after_the_last_sequence_when_the_request_can_say_so() -> None:
    resumable = _resumable_request_type()
    stream: LiveStream[Any, Any] = LiveStream(
        lambda request, wait: None,  # type: ignore[arg-type,return-value]
        resumable(phones=["1"]),
        target="t",
        connected=None,
    )
    assert stream.request().after_sequence == 0  # nothing seen yet: live
    stream.last_sequence = 41
    assert stream.request().after_sequence == 41
    assert list(stream.request().phones) == ["1"]
    today: LiveStream[Any, Any] = LiveStream(
        lambda request, wait: None,  # type: ignore[arg-type,return-value]
        api.StreamLocationsRequest(phones=["1"]),
        target="t",
        connected=None,
    )
    assert today.request() == api.StreamLocationsRequest(phones=["1"])  # live until an item
    today.last_sequence = 41
    assert today.request() == api.StreamLocationsRequest(phones=["1"], after_sequence=41)


# --------------------------------------------------------------------------------------------
# Against a gateway


async def test_typed_helpers_against_simulated_terminals(tmp_path: Path) -> None:
    async with (
        running_app(tmp_path) as app,
        fleet(app, terminals=1),
        GatewayClient(app.grpc_target) as gateway,
    ):
        [session] = await gateway.list_sessions()
        text = await gateway.send_text(PHONE, "hi", timeout=10)
        here = await gateway.query_location(PHONE, timeout=10)
        await gateway.set_parameters(PHONE, {"heartbeat_interval": 77}, timeout=10)
        [heartbeat] = await gateway.query_parameters(PHONE, ["heartbeat_interval"], timeout=10)
        attributes = await gateway.query_attributes(PHONE, timeout=10)
        with pytest.raises(TerminalNotConnectedError, match="013999999999"):
            await gateway.send_text("013999999999", "hi")

    assert session.phone == PHONE
    assert (text.reply_msg_id, text.result) == (0x0001, 0)
    assert here.phone == PHONE and here.HasField("time")
    assert parameter_value(heartbeat) == 77
    assert attributes.manufacturer_id == "SIM"


async def test_reset_device_revokes_the_codes_so_that_the_device_registers_again(
    tmp_path: Path,
) -> None:
    device = Device(manufacturer_id=MANUFACTURER_ID, terminal_model=TERMINAL_MODEL,
                    terminal_id=TERMINAL_ID)  # fmt: skip
    name = f"{MANUFACTURER_ID}_{TERMINAL_MODEL}_{TERMINAL_ID}"
    async with (
        running_app(tmp_path, auth="local") as app,
        GatewayClient(app.grpc_target) as gateway,
    ):
        assert await gateway.import_devices([device]) == 1
        terminals = app.addresses.terminals
        async with TerminalClient.connect(terminals, V2013, phone=PHONE) as terminal:
            old_code = await terminal.log_in()
        async with TerminalClient.connect(terminals, V2013, phone=PHONE) as terminal:
            refused = (await terminal.register()).result
            await gateway.reset_device(name)
            await terminal.log_in()
        async with TerminalClient.connect(terminals, V2013, phone=PHONE) as stale:
            old_code_result = await stale.authenticate(old_code)
        with pytest.raises(TerminalNotConnectedError, match="no device named NOPE_X_1"):
            await gateway.reset_device("NOPE_X_1")
        with pytest.raises(InvalidRequestError, match="name is empty"):
            await gateway.reset_device(" ")
        [listed] = await gateway.list_devices()

    assert refused == RegisterResult.TERMINAL_ALREADY_REGISTERED
    assert old_code_result is ResultCode.FAILURE
    assert listed.name == name  # reset keeps the device


async def test_a_stream_reconnects_when_the_gateway_restarts(tmp_path: Path) -> None:
    reconnects: list[str] = []
    async with running_app(tmp_path / "a") as first:
        port = first.addresses.grpc.port
        gateway = GatewayClient(first.grpc_target)
        stream = gateway.locations(on_reconnect=lambda error: reconnects.append(str(error)))
        items = aiter(stream)
        async with fleet(first, terminals=1, rate=5.0):
            before = await anext(items)
    # The first gateway is gone; the second listens on the same port with another terminal.
    async with (
        running_app(tmp_path / "b", grpc_listen=HostPort(LOOPBACK, port)) as second,
        fleet(second, terminals=1, rate=5.0, phone_start=13_900_000_000),
    ):
        with anyio.fail_after(RUN_TIMEOUT):
            after = await anext(items)
            while after.phone != "013900000000":
                after = await anext(items)
        await items.aclose()  # type: ignore[attr-defined]
        await gateway.close()

    assert before.phone == PHONE
    assert stream.reconnects >= 1 and reconnects
    assert stream.last_sequence == after.sequence


async def test_a_stream_reports_an_unreachable_gateway_at_once() -> None:
    async with GatewayClient("127.0.0.1:9") as gateway:
        with pytest.raises(GatewayUnavailableError, match="cannot reach the gateway"):
            async for _ in gateway.locations():
                pass


async def test_the_runnable_example(tmp_path: Path) -> None:
    async with running_app(tmp_path) as app, fleet(app, terminals=2, rate=5.0):
        with anyio.fail_after(RUN_TIMEOUT):
            result = await anyio.run_process(
                [sys.executable, "-m", "clients.sdk.example", "--gateway", app.grpc_target,
                 "--positions", "3"],
                check=False,
            )  # fmt: skip

    output = result.stdout.decode()
    assert result.returncode == 0, result.stderr
    assert "2 terminal(s) connected" in output
    assert f"text message to {PHONE}: success" in output
    assert len(output.splitlines()) == 3 + 3
