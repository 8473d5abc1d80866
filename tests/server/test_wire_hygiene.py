"""Bytes from the wire never reach an ``assert``, an unhandled exception or a traceback, and
never reach a log line raw: encrypted registrations, text that is not text, control characters
and long values, each on a real gateway."""

from __future__ import annotations

import json
import logging
from pathlib import Path

import pytest

from gateway.protocol import V2013, V2019, ResultCode
from gateway.protocol.bodies.registration import (
    RegisterResult,
    TerminalRegister,
    TerminalRegisterResponse,
)
from gateway.protocol.framing import encode_frame
from gateway.protocol.header import encode_header
from gateway.protocol.ids import MessageId
from gateway.protocol.message import encode_body
from gateway.protocol.versions import ProtocolVersion
from gateway.registry import Device, DeviceRegistry
from gateway.server.config import ConfigError, GatewayConfig, HostPort, grpc_token_of
from gateway.server.gateway import Gateway
from gateway.server.logs import LOGGER_NAME, MAX_VALUE_CHARS, JsonFormatter, LogfmtFormatter

from .harness import address_of
from .terminal_client import TerminalClient

pytestmark = pytest.mark.anyio


@pytest.fixture
def records(caplog: pytest.LogCaptureFixture) -> pytest.LogCaptureFixture:
    """The gateway's log records from debug up (``records.records`` in the test's own phase)."""
    caplog.set_level(logging.DEBUG, logger=LOGGER_NAME)
    return caplog


def errors_in(records: list[logging.LogRecord]) -> list[str]:
    return [r.getMessage() for r in records if r.levelno >= logging.ERROR]


def registration_with_encryption(client: TerminalClient, bits: int) -> bytes:
    terminal = client.terminal
    body = TerminalRegister(
        province_id=44, city_id=300, manufacturer_id="ACME1", terminal_model="TK-1",
        terminal_id="T000001", plate_color=1, plate="A12345",
    )  # fmt: skip
    data = encode_body(body, terminal.version)
    header = terminal.header(MessageId.TERMINAL_REGISTER)
    header.encryption = bits
    return encode_frame(encode_header(header, len(data)) + data)


@pytest.mark.parametrize("bits", [0b001, 0b011, 0b101, 0b111])  # header bits 10-12, RSA set
@pytest.mark.parametrize("version", [V2013, V2019])
async def test_an_encrypted_registration_is_answered_unsupported_without_a_traceback(
    gateway: Gateway, records: pytest.LogCaptureFixture, bits: int, version: ProtocolVersion
) -> None:
    async with TerminalClient.connect(address_of(gateway), version) as client:
        await client.send(registration_with_encryption(client, bits))
        serial = client.terminal.last_serial
        await client.expect_general_response(
            MessageId.TERMINAL_REGISTER, ResultCode.UNSUPPORTED, reply_serial=serial
        )
        await client.log_in()  # the connection goes on: a plain registration is served
        # Once authenticated, with no platform key to open it: refused the same way.
        await client.send(registration_with_encryption(client, bits))
        serial = client.terminal.last_serial
        await client.expect_general_response(
            MessageId.TERMINAL_REGISTER, ResultCode.UNSUPPORTED, reply_serial=serial
        )
    assert errors_in(records.records) == []


async def test_reserved_encryption_bits_alone_leave_a_registration_plain(
    gateway: Gateway, records: pytest.LogCaptureFixture
) -> None:
    async with TerminalClient.connect(address_of(gateway), V2013) as client:
        await client.send(registration_with_encryption(client, 0b110))
        _, registered = await client.expect(TerminalRegisterResponse)
        assert registered.result == RegisterResult.SUCCESS
    assert errors_in(records.records) == []


async def test_registration_fields_that_are_not_text_get_result_4_not_a_traceback(
    gateway: Gateway, records: pytest.LogCaptureFixture
) -> None:
    async with TerminalClient.connect(address_of(gateway), V2013) as client:
        # \udcff is how the core keeps the byte 0xFF, which no GB 18030 text has there.
        refused = await client.register(terminal_id="T\udcff0001", plate="A\udcfe123")
        assert refused.result == RegisterResult.TERMINAL_NOT_FOUND
        await client.log_in()
    assert errors_in(records.records) == []


async def test_an_auth_code_that_is_not_text_is_refused_without_a_traceback(
    gateway: Gateway, records: pytest.LogCaptureFixture
) -> None:
    async with TerminalClient.connect(address_of(gateway), V2013) as client:
        registered = await client.register()
        assert registered.result == RegisterResult.SUCCESS
        assert await client.authenticate("\udcff\udcfe") is ResultCode.FAILURE
        assert await client.authenticate(registered.auth_code) is ResultCode.SUCCESS
    assert errors_in(records.records) == []


async def test_control_characters_of_a_terminal_never_reach_the_log_raw(
    gateway: Gateway, records: pytest.LogCaptureFixture, data_dir: Path
) -> None:
    hostile = "T\r\x1b[31m\x00X"
    with DeviceRegistry(data_dir) as registry:
        registry.upsert([Device("ACME1", "TK-1", hostile)])
    async with TerminalClient.connect(address_of(gateway), V2019) as client:
        await client.log_in(terminal_id=hostile)
    lines = [LogfmtFormatter().format(r) for r in records.records]
    lines += [JsonFormatter().format(r) for r in records.records]
    assert any("T\\r\\x1b[31m\\x00X" in line for line in lines)  # logfmt, escaped
    assert any("T\\r\\u001b[31m\\u0000X" in line for line in lines)  # JSON, escaped
    for line in lines:
        assert not any(ord(c) < 0x20 or 0x7F <= ord(c) < 0xA0 for c in line), line


def test_a_long_value_is_cut_and_says_by_how_much() -> None:
    record = logging.LogRecord(LOGGER_NAME, logging.INFO, "", 0, "frame rejected", None, None)
    record.error = "x" * 10_000
    record.c1 = "\x9b2J"  # CSI: a terminal would clear the screen
    for formatter in (LogfmtFormatter(), JsonFormatter()):
        line = formatter.format(record)
        assert f"...(+{10_000 - MAX_VALUE_CHARS} chars)" in line
        assert len(line) < MAX_VALUE_CHARS + 300
        assert "\x9b" not in line
    assert json.loads(JsonFormatter().format(record))["c1"] == "\x9b2J"


def test_the_grpc_token_can_come_from_a_file(tmp_path: Path) -> None:
    token_file = tmp_path / "token"
    token_file.write_text("s3cret-token\n", encoding="utf-8")
    config = GatewayConfig(grpc_listen=HostPort("0.0.0.0", 50051), grpc_token_file=token_file)
    assert grpc_token_of(config) == "s3cret-token"
    token_file.write_text("two words\n", encoding="utf-8")
    with pytest.raises(ConfigError, match=r"--grpc-token-file: .*no spaces"):
        grpc_token_of(config)
    with pytest.raises(ConfigError, match="does not exist"):
        grpc_token_of(GatewayConfig(grpc_token_file=tmp_path / "missing"))
    with pytest.raises(ConfigError, match="give one"):
        grpc_token_of(GatewayConfig(grpc_token="t", grpc_token_file=token_file))
