"""The ``jt808`` client commands as separate processes against a real gateway on loopback.

Each test starts a whole gateway (data plane + control plane, ports chosen by the OS), drives
terminals with the simulator or a scripted terminal, runs ``jt808 send|stream|events|sessions|
devices --gateway`` and checks what a person or a script sees: stdout (JSON lines with
``--json``), one line on stderr for an error, and the exit status.
"""

from __future__ import annotations

import json
import shutil
import signal
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

import anyio
import grpc
import pytest

from clients.exit_status import ExitCode
from controlplane.gateway_service import GatewayServicer
from gateway.protocol.bodies.messaging import TextMessage
from gateway.protocol.bodies.parameters import ParameterId
from gateway.protocol.bodies.registration import RegisterResult
from gateway.protocol.ids import MessageId
from gateway.protocol.versions import V2013, V2019
from jt808.gateway.v1 import gateway_service_pb2_grpc as api_grpc

# One event loop per module, as for the control-plane tests (grpc.aio completions).
from tests.controlplane.conftest import anyio_backend, one_event_loop  # noqa: F401
from tests.controlplane.harness import RunningApp, fleet, running_app
from tests.controlplane.test_remote_auth import make_certificate
from tests.server.terminal_client import TerminalClient

from .cli_process import Finished, cli_process, run_cli

pytestmark = pytest.mark.anyio
PHONE = "013800000000"


def gateway_args(app: RunningApp) -> list[str]:
    return ["--gateway", app.grpc_target]


def assert_one_line_error(result: Finished, code: int, *words: str) -> None:
    assert result.returncode == code, result
    assert result.stdout == "", result
    lines = result.stderr.splitlines()
    assert len(lines) == 1, result.stderr
    assert "Traceback" not in result.stderr
    for word in words:
        assert word in lines[0], lines[0]


# --------------------------------------------------------------------------------------------
# send


async def test_send_text_exits_0_when_the_terminal_answered(tmp_path: Path) -> None:
    async with running_app(tmp_path) as app, fleet(app, terminals=1) as simulation:
        result = await run_cli("send", PHONE, "text", "hello", "there", *gateway_args(app))
        answered = simulation.stats.commands_answered

    assert result.returncode == 0, result
    assert f"terminal {PHONE} answered text-message with 0x0001: success" in result.stdout
    assert result.stderr == ""
    assert answered == 1


async def test_send_json_prints_the_send_command_response(tmp_path: Path) -> None:
    async with running_app(tmp_path) as app, fleet(app, terminals=1):
        result = await run_cli("send", PHONE, "query-location", *gateway_args(app), "--json")

    assert result.returncode == 0, result
    [line] = result.stdout_lines
    reply = json.loads(line)
    assert reply["reply_msg_id"] == MessageId.QUERY_LOCATION_RESPONSE
    assert reply["location"]["phone"] == PHONE
    assert -90 <= reply["location"]["latitude"] <= 90


async def test_set_params_by_name_then_query_params_reads_them_back(tmp_path: Path) -> None:
    async with running_app(tmp_path) as app, fleet(app, terminals=1):
        target = gateway_args(app)
        set_result = await run_cli(
            "send", PHONE, "set-params", "heartbeat_interval=45", "0x0055=120", *target
        )
        query = await run_cli(
            "send", PHONE, "query-params", "heartbeat_interval", "max_speed", *target, "--json"
        )

    assert set_result.returncode == 0, set_result
    assert query.returncode == 0, query
    items = json.loads(query.stdout)["parameters"]["parameters"]
    values = {item["id"]: item["raw"] for item in items}
    assert values[ParameterId.HEARTBEAT_INTERVAL] == "AAAALQ=="  # 45 as a DWORD, base64
    assert values[ParameterId.MAX_SPEED] == "AAAAeA=="  # 120


async def test_any_command_by_field_name_with_key_value_arguments(tmp_path: Path) -> None:
    async with running_app(tmp_path) as app, fleet(app, terminals=1):
        result = await run_cli(
            "send", PHONE, "temporary-tracking", "interval_s=10", "validity_s=0x3c",
            *gateway_args(app), "--json",
        )  # fmt: skip

    assert result.returncode == 0, result
    assert json.loads(result.stdout)["result"] == 0


async def test_send_to_a_terminal_that_is_not_connected_exits_3(tmp_path: Path) -> None:
    async with running_app(tmp_path) as app:
        result = await run_cli("send", "013999999999", "text", "hi", *gateway_args(app))

    assert_one_line_error(result, ExitCode.NOT_FOUND, "013999999999", "not connected")


async def test_send_without_reply_exits_4_with_one_sentence(tmp_path: Path) -> None:
    settings: dict[str, Any] = {"command_retry_timeout": 0.2, "command_max_retries": 1}
    async with (
        running_app(tmp_path, **settings) as app,
        TerminalClient.connect(app.addresses.terminals, V2019) as terminal,
    ):
        await terminal.log_in()
        with anyio.fail_after(10):
            while app.gateway.sessions.get(terminal.phone) is None:
                await anyio.sleep(0.01)
        result = await run_cli(
            "send", terminal.phone, "text", "hi", "--timeout", "1", *gateway_args(app)
        )
        _, text = await terminal.expect(TextMessage)

    assert text.text == "hi"  # it reached the terminal, which never answered
    assert_one_line_error(result, ExitCode.NO_REPLY, "sent, no reply")


@pytest.mark.parametrize(
    ("arguments", "words"),
    [
        (["set-params", "no_such_parameter=1"], ["unknown parameter", "no_such_parameter"]),
        (["set-params", "heartbeat_interval=fast"], ["heartbeat_interval", "not a number"]),
        (["control", "explode"], ["unknown control command", "reset"]),
        (["raw", "0x0200", "00"], ["not a platform message"]),
        (["take-photo", "colour=1"], ["no field 'colour'"]),
        (["launch-rocket"], ["unknown command"]),
    ],
)
async def test_a_bad_argument_exits_2_before_anything_is_sent(
    arguments: list[str], words: list[str]
) -> None:
    result = await run_cli("send", PHONE, *arguments, "--gateway", "127.0.0.1:9")

    assert_one_line_error(result, ExitCode.USAGE, *words)


async def test_an_invalid_phone_is_the_gateways_invalid_argument(tmp_path: Path) -> None:
    async with running_app(tmp_path) as app:
        result = await run_cli("send", "12ab", "query-location", *gateway_args(app))

    assert_one_line_error(result, ExitCode.USAGE, "phone", "not a terminal phone number")


async def test_an_unreachable_gateway_exits_5() -> None:
    result = await run_cli("sessions", "list", "--gateway", "127.0.0.1:9")

    assert_one_line_error(result, ExitCode.UNAVAILABLE, "cannot reach the gateway at 127.0.0.1:9")


async def test_a_missing_or_wrong_token_exits_6_and_the_env_token_works(tmp_path: Path) -> None:
    async with running_app(tmp_path, grpc_token="s3cret") as app:
        without = await run_cli("sessions", "list", *gateway_args(app))
        wrong = await run_cli("sessions", "list", *gateway_args(app), "--token", "guess")
        from_env = await run_cli(
            "sessions", "list", "--json", env={"JT808_GATEWAY": app.grpc_target,
                                               "JT808_GRPC_TOKEN": "s3cret"}
        )  # fmt: skip

    assert_one_line_error(without, ExitCode.ACCESS_DENIED, "Bearer")
    assert_one_line_error(wrong, ExitCode.ACCESS_DENIED)
    assert "guess" not in wrong.stderr
    assert (from_env.returncode, from_env.stdout, from_env.stderr) == (0, "", "")


async def test_the_token_can_come_from_a_file_kept_out_of_the_process_list(
    tmp_path: Path,
) -> None:
    token_file = tmp_path / "token"
    token_file.write_text("  s3cret\n")
    empty = tmp_path / "empty"
    empty.write_text("\n")
    async with running_app(tmp_path, grpc_token="s3cret") as app:
        listed = await run_cli(
            "sessions", "list", "--json", *gateway_args(app), "--token-file", str(token_file)
        )
        missing = await run_cli(
            "sessions", "list", *gateway_args(app), "--token-file", str(tmp_path / "nope")
        )
        blank = await run_cli("sessions", "list", *gateway_args(app), "--token-file", str(empty))
        both = await run_cli(
            "sessions", "list", *gateway_args(app), "--token", "s3cret",
            "--token-file", str(token_file),
        )  # fmt: skip

    assert (listed.returncode, listed.stdout, listed.stderr) == (0, "", ""), listed
    assert_one_line_error(missing, ExitCode.USAGE, "--token-file", "does not exist")
    assert_one_line_error(blank, ExitCode.USAGE, "--token-file", str(empty))
    assert_one_line_error(both, ExitCode.USAGE, "not allowed with argument")


async def test_an_unknown_option_is_one_line_without_the_usage() -> None:
    result = await run_cli("sessions", "list", "--colour")

    assert_one_line_error(result, ExitCode.USAGE, "--colour")


# --------------------------------------------------------------------------------------------
# stream, events


async def test_stream_prints_json_locations_line_by_line_until_interrupted(
    tmp_path: Path,
) -> None:
    async with (
        running_app(tmp_path) as app,
        fleet(app, terminals=2, rate=5.0),
        cli_process("stream", *gateway_args(app), "--json") as stream,
    ):
        lines = [await stream.next_line() for _ in range(6)]
        status = await stream.interrupt(signal.SIGINT)
        stderr = await stream.stderr()

    locations = [json.loads(line) for line in lines]
    assert {location["phone"] for location in locations} == {PHONE, "013800000001"}
    assert all(location["sequence"] != "0" for location in locations)
    assert "latitude" in locations[0] and "speed_kmh" in locations[0]
    assert status == 0
    assert stderr == ""


async def test_stream_phone_filter_and_text_lines(tmp_path: Path) -> None:
    async with (
        running_app(tmp_path) as app,
        fleet(app, terminals=2, rate=5.0),
        cli_process("stream", "--phone", "013800000001", *gateway_args(app)) as stream,
    ):
        lines = [await stream.next_line() for _ in range(3)]
        status = await stream.interrupt(signal.SIGTERM)

    assert all(" 013800000001 " in line and "km/h" in line for line in lines), lines
    assert status == 0


async def test_events_filtered_by_kind_sees_a_disconnect(tmp_path: Path) -> None:
    async with running_app(tmp_path) as app, fleet(app, terminals=1):
        target = gateway_args(app)
        async with cli_process("events", "--kind", "disconnected", *target, "--json") as events:
            with anyio.fail_after(20):
                while app.gateway.hub.stats.subscribers < 1:
                    await anyio.sleep(0.01)
            disconnected = await run_cli("sessions", "disconnect", PHONE, *target)
            event = json.loads(await events.next_line())
            await events.interrupt()

    assert disconnected.returncode == 0, disconnected
    assert event["kind"] == "EVENT_KIND_DISCONNECTED"
    assert event["phone"] == PHONE
    assert event["reason"] == "disconnect_requested"


# --------------------------------------------------------------------------------------------
# sessions


async def test_sessions_list_and_get_as_json_options_after_the_last_word(tmp_path: Path) -> None:
    async with running_app(tmp_path) as app, fleet(app, terminals=2):
        listed = await run_cli("sessions", "list", *gateway_args(app), "--json")
        got = await run_cli("sessions", "get", "13800000001", *gateway_args(app), "--json")
        text = await run_cli("sessions", "list", *gateway_args(app))

    sessions = [json.loads(line) for line in listed.stdout_lines]
    assert [s["phone"] for s in sessions] == [PHONE, "013800000001"]
    assert sessions[0]["device_name"] == "SIM_SIM-TK_0000001"
    assert sessions[0]["protocol_version"] == 2013
    assert json.loads(got.stdout)["phone"] == "013800000001"
    assert text.stdout_lines[0].startswith("PHONE")
    assert len(text.stdout_lines) == 3


async def test_sessions_get_of_an_absent_terminal_exits_3(tmp_path: Path) -> None:
    async with running_app(tmp_path) as app:
        result = await run_cli("sessions", "get", PHONE, *gateway_args(app))

    assert_one_line_error(result, ExitCode.NOT_FOUND, PHONE)


# --------------------------------------------------------------------------------------------
# devices --gateway


async def test_devices_import_list_delete_through_the_gateway(tmp_path: Path) -> None:
    csv = "manufacturer_id,terminal_model,terminal_id,phone\nM1,X100,T000001,013900000001\n"
    async with running_app(tmp_path, auth="local") as app:
        target = gateway_args(app)
        imported = await run_cli("devices", "import", "-", *target, stdin=csv.encode())
        as_json = await run_cli("devices", "import", "-", *target, "--json", stdin=csv.encode())
        listed = await run_cli("devices", "list", *target, "--json")
        deleted = await run_cli("devices", "delete", "M1_X100_T000001", *target)
        missing = await run_cli("devices", "delete", "M1_X100_T000001", *target)
        after = await run_cli("devices", "list", *target)

    assert imported.returncode == 0, imported
    assert "imported 1 device(s)" in imported.stdout
    assert json.loads(as_json.stdout) == {"imported": 1}
    [device] = [json.loads(line) for line in listed.stdout_lines]
    assert device["name"] == "M1_X100_T000001"
    assert device["phone"] == "013900000001"
    assert deleted.returncode == 0, deleted
    assert_one_line_error(missing, ExitCode.NOT_FOUND, "no device named M1_X100_T000001")
    assert after.stdout == ""


async def test_devices_reset_through_the_gateway_lets_the_device_register_again(
    tmp_path: Path,
) -> None:
    csv = "manufacturer_id,terminal_model,terminal_id,phone\nACME1,TK-1,T000001,\n"
    async with running_app(tmp_path, auth="local", grpc_token="s3cret") as app:
        target = [*gateway_args(app), "--token", "s3cret"]
        await run_cli("devices", "import", "-", *target, stdin=csv.encode())
        terminals = app.addresses.terminals
        async with TerminalClient.connect(terminals, V2013, phone=PHONE) as terminal:
            await terminal.log_in()
        async with TerminalClient.connect(terminals, V2013, phone=PHONE) as terminal:
            before = (await terminal.register()).result
            reset = await run_cli("devices", "reset", "ACME1_TK-1_T000001", *target)
            await terminal.log_in()  # registered again
        missing = await run_cli("devices", "reset", "ACME1_TK-1_T000001", "NOPE_X_1", *target)
        without_token = await run_cli("devices", "reset", "ACME1_TK-1_T000001", *gateway_args(app))
    unreachable = await run_cli(
        "devices", "reset", "ACME1_TK-1_T000001", "--gateway", "127.0.0.1:9"
    )

    assert before == RegisterResult.TERMINAL_ALREADY_REGISTERED
    assert (reset.returncode, reset.stdout, reset.stderr) == (ExitCode.OK, "", ""), reset
    assert_one_line_error(missing, ExitCode.NOT_FOUND, "devices reset", "no device named NOPE_X_1")
    assert_one_line_error(without_token, ExitCode.ACCESS_DENIED, "devices reset", "Bearer")
    assert_one_line_error(unreachable, ExitCode.UNAVAILABLE, "cannot reach the gateway")


async def test_devices_through_a_gateway_without_a_registry_is_one_line(tmp_path: Path) -> None:
    async with running_app(tmp_path) as app:  # insecure-accept-all: no registry
        result = await run_cli("devices", "list", *gateway_args(app))

    assert result.returncode == ExitCode.FAILED, result
    assert len(result.stderr.splitlines()) == 1


# --------------------------------------------------------------------------------------------
# TLS


@asynccontextmanager
async def tls_gateway_service(app: RunningApp, key: bytes, cert: bytes) -> AsyncIterator[str]:
    """The app's GatewayService on a second, TLS-only port (as a TLS control plane serves it)."""
    server = grpc.aio.server()
    api_grpc.add_GatewayServiceServicer_to_server(GatewayServicer(app.gateway), server)
    port = server.add_secure_port("127.0.0.1:0", grpc.ssl_server_credentials([(key, cert)]))
    await server.start()
    try:
        yield f"127.0.0.1:{port}"
    finally:
        await server.stop(None)


@pytest.mark.skipif(shutil.which("openssl") is None, reason="needs the openssl command")
async def test_tls_options_verify_the_gateway(tmp_path: Path) -> None:
    key, cert = make_certificate(tmp_path)
    ca = tmp_path / "cert.pem"
    async with (
        running_app(tmp_path / "data") as app,
        fleet(app, terminals=1),
        tls_gateway_service(app, key, cert) as target,
    ):
        verified = await run_cli(
            "sessions", "list", "--gateway", target, "--tls-ca", str(ca), "--json"
        )
        plaintext = await run_cli("sessions", "list", "--gateway", target)

    assert verified.returncode == 0, verified
    assert json.loads(verified.stdout)["phone"] == PHONE
    assert_one_line_error(plaintext, ExitCode.UNAVAILABLE, "cannot reach the gateway")
