"""``RemoteAuthBackend`` against a real DeviceAuthService on 127.0.0.1: decisions, the retry and
deadline rules of auth.proto, secrets, configuration, and terminals going through a gateway."""

from __future__ import annotations

import asyncio
import dataclasses
import logging
import shutil
import subprocess
from collections.abc import AsyncIterator, Iterator
from contextlib import asynccontextmanager, contextmanager
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any, Final

import anyio
import grpc
import grpc.aio
import pytest
from google.protobuf.message import Message

from controlplane import remote_auth
from controlplane.remote_auth import RemoteAuthBackend, backoff_delay
from gateway.auth.base import (
    AuthBackendUnavailableError,
    AuthenticationRequest,
    RegistrationRequest,
)
from gateway.protocol import V2013, V2019, ResultCode
from gateway.protocol.bodies.general import TerminalLogout
from gateway.protocol.bodies.registration import RegisterResult
from gateway.protocol.ids import MessageId
from gateway.server.config import ConfigError, GatewayConfig, HostPort
from gateway.server.gateway import Gateway
from gateway.server.logs import LOGGER_NAME
from jt808.auth.v1 import auth_pb2, auth_pb2_grpc
from jt808.gateway.v1.gateway_service_pb2 import GetSessionRequest
from jt808.gateway.v1.gateway_service_pb2_grpc import GatewayServiceStub
from tests.controlplane.harness import api_channel, running_app
from tests.server.harness import address_of, connection_of, free_port, metric, running
from tests.server.terminal_client import DEVICE_NAME, TerminalClient
from tests.timeouts import HANG_GUARD

if TYPE_CHECKING:
    from jt808.gateway.v1.gateway_service_pb2_grpc import GatewayServiceAsyncStub

pytestmark = pytest.mark.anyio

AUTH_CODE: Final = "s3cret-auth-code"
TOKEN: Final = "t0ken-for-the-service"
PHONE: Final = "013800138000"
SUCCESS: Final = auth_pb2.REGISTER_RESULT_SUCCESS
#: A result a newer service might send that this gateway does not know.
UNKNOWN_RESULT: Final = auth_pb2.RegisterResult.ValueType(42)

REGISTRATION: Final = RegistrationRequest(
    phone=PHONE,
    province_id=44,
    city_id=300,
    manufacturer_id="ACME1",
    terminal_model="TK-1",
    terminal_id="T000001",
    plate_color=1,
    plate="粤A12345",
    protocol_version=2019,
    remote_address="127.0.0.1:40000",
)
AUTHENTICATION: Final = AuthenticationRequest(
    phone=PHONE,
    auth_code=AUTH_CODE,
    imei="861234567890123",
    software_version="2.1.0",
    remote_address="127.0.0.1:40000",
)

#: Fast retries (short backoff), with deadlines that a busy machine's answers still meet.
FAST: Final[dict[str, Any]] = {
    "attempt_timeout": 5.0,
    "total_timeout": 10.0,
    "backoff_base": 0.01,
    "backoff_cap": 0.05,
}


Context = grpc.aio.ServicerContext[Any, Any]


# ---- the test service ------------------------------------------------------------------------


@dataclasses.dataclass(frozen=True, slots=True)
class Call:
    rpc: str
    request: Message
    metadata: dict[str, str | bytes]


class FakeAuthService(auth_pb2_grpc.DeviceAuthServiceServicer):
    """A scriptable DeviceAuthService: records every call, fails the first calls with
    ``failures``, answers after ``delay`` seconds, accepts ``auth_code`` only."""

    def __init__(self) -> None:
        self.calls: list[Call] = []
        self.failures: list[tuple[grpc.StatusCode, str]] = []
        self.delay = 0.0
        self.register_response = auth_pb2.RegisterResponse(
            result=auth_pb2.REGISTER_RESULT_SUCCESS, auth_code=AUTH_CODE
        )
        self.device_name = ""

    def rpcs(self) -> list[str]:
        return [call.rpc for call in self.calls]

    async def _enter(self, rpc: str, request: Message, context: Context) -> None:
        self.calls.append(Call(rpc, request, dict(context.invocation_metadata() or ())))
        if self.failures:
            code, details = self.failures.pop(0)
            await context.abort(code, details)
        if self.delay:
            await asyncio.sleep(self.delay)

    async def Register(
        self,
        request: auth_pb2.RegisterRequest,
        context: Context,
    ) -> auth_pb2.RegisterResponse:
        await self._enter("Register", request, context)
        return self.register_response

    async def Authenticate(
        self,
        request: auth_pb2.AuthenticateRequest,
        context: Context,
    ) -> auth_pb2.AuthenticateResponse:
        await self._enter("Authenticate", request, context)
        return auth_pb2.AuthenticateResponse(
            accepted=request.auth_code == AUTH_CODE, device_name=self.device_name
        )

    async def Logout(
        self,
        request: auth_pb2.LogoutRequest,
        context: Context,
    ) -> auth_pb2.LogoutResponse:
        await self._enter("Logout", request, context)
        return auth_pb2.LogoutResponse()


class RunningService:
    """A grpc.aio server of ``service`` on a loopback port, until ``stop``."""

    def __init__(self, server: grpc.aio.Server, port: int) -> None:
        self.server = server
        self.endpoint = f"127.0.0.1:{port}"
        self.port = port

    async def stop(self) -> None:
        with anyio.CancelScope(shield=True):
            await self.server.stop(grace=None)


@asynccontextmanager
async def serving(
    service: FakeAuthService, *, tls: tuple[bytes, bytes] | None = None
) -> AsyncIterator[RunningService]:
    """Serve ``service`` (with ``tls``: a (key, certificate) pair) for the block."""
    server = grpc.aio.server()
    auth_pb2_grpc.add_DeviceAuthServiceServicer_to_server(service, server)
    if tls is None:
        port = server.add_insecure_port("127.0.0.1:0")
    else:
        port = server.add_secure_port("127.0.0.1:0", grpc.ssl_server_credentials([tls]))
    await server.start()
    running_service = RunningService(server, port)
    try:
        yield running_service
    finally:
        await running_service.stop()


@asynccontextmanager
async def remote(endpoint: str, **settings: Any) -> AsyncIterator[RemoteAuthBackend]:
    """A backend with ``FAST`` settings (``settings`` win), closed after the block."""
    backend = RemoteAuthBackend(endpoint, **{**FAST, **settings})
    try:
        yield backend
    finally:
        await backend.aclose()


@asynccontextmanager
async def service_and_backend(
    **settings: Any,
) -> AsyncIterator[tuple[FakeAuthService, RemoteAuthBackend]]:
    service = FakeAuthService()
    with anyio.fail_after(HANG_GUARD):
        async with (
            serving(service) as running_service,
            remote(running_service.endpoint, **settings) as backend,
        ):
            yield service, backend


@contextmanager
def captured_logs() -> Iterator[list[logging.LogRecord]]:
    """Records of the backend's logger at every level (whatever the root logger is set to)."""
    records: list[logging.LogRecord] = []

    class Keep(logging.Handler):
        def emit(self, record: logging.LogRecord) -> None:
            records.append(record)

    logger = logging.getLogger(remote_auth.log.name)
    handler, level = Keep(logging.DEBUG), logger.level
    logger.addHandler(handler)
    logger.setLevel(logging.DEBUG)
    try:
        yield records
    finally:
        logger.removeHandler(handler)
        logger.setLevel(level)


def logged_text(records: list[logging.LogRecord]) -> str:
    return "\n".join(f"{r.getMessage()} {vars(r)}" for r in records)


# ---- decisions -------------------------------------------------------------------------------


async def test_register_success_gives_the_services_auth_code_and_the_device_name() -> None:
    async with service_and_backend() as (service, backend):
        decision = await backend.register(REGISTRATION)
    assert decision.result is RegisterResult.SUCCESS
    assert decision.auth_code == AUTH_CODE
    assert decision.device_name == DEVICE_NAME
    assert service.calls[0].request == auth_pb2.RegisterRequest(
        phone=PHONE,
        province_id=44,
        city_id=300,
        manufacturer_id="ACME1",
        terminal_model="TK-1",
        terminal_id="T000001",
        plate_color=1,
        plate="粤A12345",
        protocol_version=2019,
        remote_address="127.0.0.1:40000",
    )


@pytest.mark.parametrize(
    ("service_result", "core_result"),
    [
        (
            auth_pb2.REGISTER_RESULT_VEHICLE_ALREADY_REGISTERED,
            RegisterResult.VEHICLE_ALREADY_REGISTERED,
        ),
        (auth_pb2.REGISTER_RESULT_VEHICLE_NOT_FOUND, RegisterResult.VEHICLE_NOT_FOUND),
        (
            auth_pb2.REGISTER_RESULT_TERMINAL_ALREADY_REGISTERED,
            RegisterResult.TERMINAL_ALREADY_REGISTERED,
        ),
        (auth_pb2.REGISTER_RESULT_TERMINAL_NOT_FOUND, RegisterResult.TERMINAL_NOT_FOUND),
    ],
)
async def test_each_refusal_maps_to_the_0x8100_result_one_below_it(
    service_result: auth_pb2.RegisterResult.ValueType, core_result: RegisterResult
) -> None:
    async with service_and_backend() as (service, backend):
        service.register_response = auth_pb2.RegisterResponse(result=service_result)
        decision = await backend.register(REGISTRATION)
    assert decision.result is core_result
    assert int(decision.result) == service_result - 1
    assert decision.auth_code == ""


@pytest.mark.parametrize(
    ("response", "reason"),
    [
        (auth_pb2.RegisterResponse(), "result 0 is not a decision"),
        (auth_pb2.RegisterResponse(result=UNKNOWN_RESULT), "result 42 is not a decision"),
        (auth_pb2.RegisterResponse(result=SUCCESS), "without an auth code"),
        (auth_pb2.RegisterResponse(result=SUCCESS, auth_code="x" * 256), "256 bytes of GBK"),
        (auth_pb2.RegisterResponse(result=SUCCESS, auth_code="码" * 128), "256 bytes of GBK"),
    ],
    ids=["unspecified", "unknown", "success-without-code", "256-ascii", "256-gbk"],
)
async def test_an_unusable_register_answer_is_a_decision_failure(
    response: auth_pb2.RegisterResponse, reason: str
) -> None:
    async with service_and_backend() as (service, backend):
        service.register_response = response
        with pytest.raises(AuthBackendUnavailableError, match=reason) as failure:
            await backend.register(REGISTRATION)
    assert service.rpcs() == ["Register"]  # not retried
    assert "x" * 256 not in str(failure.value) and "码" not in str(failure.value)


async def test_an_auth_code_of_255_gbk_bytes_is_accepted() -> None:
    code = "码" * 127 + "x"
    async with service_and_backend() as (service, backend):
        service.register_response = auth_pb2.RegisterResponse(
            result=auth_pb2.REGISTER_RESULT_SUCCESS, auth_code=code
        )
        assert (await backend.register(REGISTRATION)).auth_code == code


async def test_authenticate_passes_the_terminals_0x0102_and_returns_the_verdict() -> None:
    async with service_and_backend() as (service, backend):
        accepted = await backend.authenticate(AUTHENTICATION)
        refused = await backend.authenticate(dataclasses.replace(AUTHENTICATION, auth_code="bad"))
    assert (accepted.accepted, refused.accepted) == (True, False)
    assert service.calls[0].request == auth_pb2.AuthenticateRequest(
        phone=PHONE,
        auth_code=AUTH_CODE,
        imei="861234567890123",
        software_version="2.1.0",
        remote_address="127.0.0.1:40000",
    )


async def test_the_service_is_told_who_is_online_since_when_and_text_that_is_not_text() -> None:
    since = datetime(2026, 12, 5, 7, 0, tzinfo=UTC)
    online = dataclasses.replace(
        REGISTRATION, terminal_id="T\udcff01", phone_online_since=since,
        device_online_since=since, device_online_phone="013700000001",
    )  # fmt: skip
    async with service_and_backend() as (service, backend):
        await backend.register(online)
        await backend.authenticate(dataclasses.replace(AUTHENTICATION, phone_online_since=since))
    register, authenticate = (call.request for call in service.calls)
    assert isinstance(register, auth_pb2.RegisterRequest)
    assert isinstance(authenticate, auth_pb2.AuthenticateRequest)
    assert register.terminal_id == "T\ufffd01"  # the byte 0xFF is no UTF-8: U+FFFD
    assert register.phone_online_since_time.ToDatetime(UTC) == since
    assert register.device_online_since_time.ToDatetime(UTC) == since
    assert register.device_online_phone == "013700000001"
    assert authenticate.phone_online_since_time.ToDatetime(UTC) == since
    offline = remote_auth._register_request(REGISTRATION)
    assert not offline.HasField("phone_online_since_time")
    assert not offline.HasField("device_online_since_time")


async def test_device_name_comes_from_the_service_else_from_the_last_registration() -> None:
    async with service_and_backend() as (service, backend):
        assert (await backend.authenticate(AUTHENTICATION)).device_name == ""  # never registered
        await backend.register(REGISTRATION)
        assert (await backend.authenticate(AUTHENTICATION)).device_name == DEVICE_NAME
        other = dataclasses.replace(AUTHENTICATION, phone="013900000000")
        assert (await backend.authenticate(other)).device_name == ""
        service.device_name = "truck-42"
        assert (await backend.authenticate(AUTHENTICATION)).device_name == "truck-42"


async def test_a_refused_registration_is_not_remembered() -> None:
    async with service_and_backend() as (service, backend):
        service.register_response = auth_pb2.RegisterResponse(
            result=auth_pb2.REGISTER_RESULT_TERMINAL_NOT_FOUND
        )
        await backend.register(REGISTRATION)
        assert (await backend.authenticate(AUTHENTICATION)).device_name == ""


async def test_remembered_device_names_are_bounded_oldest_first(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setattr(remote_auth, "MAX_REMEMBERED_NAMES", 2)
    async with service_and_backend() as (_, backend):
        for phone in ("000000000001", "000000000002", "000000000003"):
            await backend.register(dataclasses.replace(REGISTRATION, phone=phone))
        names = [
            (await backend.authenticate(dataclasses.replace(AUTHENTICATION, phone=p))).device_name
            for p in ("000000000001", "000000000002", "000000000003")
        ]
    assert names == ["", DEVICE_NAME, DEVICE_NAME]


async def test_logout_reaches_the_service() -> None:
    async with service_and_backend() as (service, backend):
        await backend.logout(PHONE)
    assert service.rpcs() == ["Logout"]
    assert service.calls[0].request == auth_pb2.LogoutRequest(phone=PHONE)


async def test_a_failed_logout_raises_unavailable() -> None:
    async with service_and_backend() as (service, backend):
        service.failures = [(grpc.StatusCode.INTERNAL, "database down")]
        with pytest.raises(AuthBackendUnavailableError, match="INTERNAL database down"):
            await backend.logout(PHONE)


# ---- retries and deadlines -------------------------------------------------------------------


@pytest.mark.parametrize(
    "code",
    [
        grpc.StatusCode.UNAVAILABLE,
        grpc.StatusCode.DEADLINE_EXCEEDED,
        grpc.StatusCode.RESOURCE_EXHAUSTED,
    ],
)
async def test_a_transient_status_twice_then_an_answer_succeeds_on_the_third_attempt(
    code: grpc.StatusCode,
) -> None:
    async with service_and_backend(retries=2) as (service, backend):
        service.failures = [(code, "busy"), (code, "busy")]
        decision = await backend.register(REGISTRATION)
    assert (decision.result, decision.auth_code) == (RegisterResult.SUCCESS, AUTH_CODE)
    assert service.rpcs() == ["Register"] * 3


async def test_retries_are_bounded_by_the_setting() -> None:
    async with service_and_backend(retries=1) as (service, backend):
        service.failures = [(grpc.StatusCode.UNAVAILABLE, "busy")] * 3
        with pytest.raises(
            AuthBackendUnavailableError,
            match=r"unavailable after 2 attempts: UNAVAILABLE busy",
        ):
            await backend.authenticate(AUTHENTICATION)
    assert service.rpcs() == ["Authenticate"] * 2


async def test_no_retries_means_one_attempt() -> None:
    async with service_and_backend(retries=0) as (service, backend):
        service.failures = [(grpc.StatusCode.UNAVAILABLE, "busy")]
        with pytest.raises(AuthBackendUnavailableError, match="after 1 attempts"):
            await backend.register(REGISTRATION)
    assert service.rpcs() == ["Register"]


@pytest.mark.parametrize(
    "code",
    [
        grpc.StatusCode.INVALID_ARGUMENT,
        grpc.StatusCode.PERMISSION_DENIED,
        grpc.StatusCode.UNAUTHENTICATED,
        grpc.StatusCode.INTERNAL,
        grpc.StatusCode.UNIMPLEMENTED,
    ],
)
async def test_any_other_status_is_a_decision_failure_without_retry(
    code: grpc.StatusCode,
) -> None:
    async with service_and_backend(retries=5) as (service, backend):
        service.failures = [(code, "no such thing")] * 6
        with pytest.raises(AuthBackendUnavailableError) as failure:
            await backend.register(REGISTRATION)
    assert service.rpcs() == ["Register"]
    assert str(failure.value) == (
        f"auth service at {backend.endpoint} failed Register: {code.name} no such thing"
    )


async def test_an_unreachable_service_is_unavailable_after_the_retries() -> None:
    endpoint = f"127.0.0.1:{free_port()}"  # bound then released: nothing listens there
    with anyio.fail_after(HANG_GUARD):
        async with remote(endpoint, retries=2) as backend:
            with pytest.raises(AuthBackendUnavailableError) as failure:
                await backend.register(REGISTRATION)
    assert str(failure.value).startswith(
        f"auth service at {endpoint} unavailable after 3 attempts: UNAVAILABLE"
    )


async def test_a_slow_service_is_retried_then_unavailable() -> None:
    async with service_and_backend(attempt_timeout=0.2, retries=2) as (service, backend):
        service.delay = 1.0
        with pytest.raises(
            AuthBackendUnavailableError, match="unavailable after 3 attempts: DEADLINE_EXCEEDED"
        ):
            await backend.authenticate(AUTHENTICATION)
        assert service.rpcs() == ["Authenticate"] * 3


async def test_the_overall_deadline_bounds_the_retries() -> None:
    retries = 20
    settings = {"attempt_timeout": 0.2, "total_timeout": 0.5, "retries": retries}
    async with service_and_backend(**settings) as (service, backend):
        service.delay = 1.0
        with pytest.raises(AuthBackendUnavailableError, match="DEADLINE_EXCEEDED"):
            await backend.register(REGISTRATION)
        assert 1 <= len(service.calls) < retries + 1


async def test_a_backoff_that_would_end_past_the_deadline_is_not_slept(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    slept = record_sleeps(monkeypatch)
    settings = {"backoff_base": 30.0, "backoff_cap": 30.0, "total_timeout": 1.0}
    async with service_and_backend(**settings) as (service, backend):
        service.failures = [(grpc.StatusCode.UNAVAILABLE, "busy")]
        with pytest.raises(AuthBackendUnavailableError, match="unavailable after 1 attempts"):
            await backend.register(REGISTRATION)
    assert service.rpcs() == ["Register"]
    assert slept == []


def record_sleeps(monkeypatch: pytest.MonkeyPatch) -> list[float]:
    """Every ``anyio.sleep`` of the backend, recorded and cut to a yield."""
    slept: list[float] = []
    real_sleep = anyio.sleep

    async def recorded(delay: float) -> None:
        slept.append(delay)
        await real_sleep(0)

    monkeypatch.setattr("controlplane.remote_auth.anyio.sleep", recorded)
    return slept


def test_backoff_is_exponential_from_the_base_capped_and_jittered(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    bounds: list[tuple[float, float]] = []

    def highest(low: float, high: float) -> float:
        bounds.append((low, high))
        return high

    monkeypatch.setattr("controlplane.remote_auth.random.uniform", highest)
    delays = [backoff_delay(retry, 0.1, 1.0) for retry in range(1, 7)]
    assert delays == pytest.approx([0.1, 0.2, 0.4, 0.8, 1.0, 1.0])
    assert all(low == pytest.approx(high / 2) for low, high in bounds)


async def test_backoff_sleeps_go_through_anyio_sleep(monkeypatch: pytest.MonkeyPatch) -> None:
    slept = record_sleeps(monkeypatch)
    async with service_and_backend(retries=2, backoff_base=0.1, backoff_cap=1.0) as (
        service,
        backend,
    ):
        service.failures = [(grpc.StatusCode.UNAVAILABLE, "busy")] * 2
        await backend.register(REGISTRATION)
    assert len(slept) == 2
    assert 0.05 <= slept[0] <= 0.1 and 0.1 <= slept[1] <= 0.2


# ---- secrets, metadata, TLS ------------------------------------------------------------------


async def test_the_token_is_sent_as_bearer_metadata_when_configured() -> None:
    async with service_and_backend(token=TOKEN) as (service, backend):
        await backend.register(REGISTRATION)
        await backend.authenticate(AUTHENTICATION)
        await backend.logout(PHONE)
    assert [call.metadata.get("authorization") for call in service.calls] == [f"Bearer {TOKEN}"] * 3


async def test_no_authorization_metadata_without_a_token() -> None:
    async with service_and_backend() as (service, backend):
        await backend.register(REGISTRATION)
    assert "authorization" not in service.calls[0].metadata


async def test_secrets_reach_no_error_message_and_no_log_line() -> None:
    async with service_and_backend(token=TOKEN, retries=1) as (service, backend):
        echo = f"cannot check code {AUTH_CODE} with token {TOKEN}"
        service.failures = [(grpc.StatusCode.UNAVAILABLE, echo)] * 2
        with captured_logs() as records, pytest.raises(AuthBackendUnavailableError) as failure:
            await backend.authenticate(AUTHENTICATION)
    assert records, "a retry is logged"
    message = str(failure.value)
    assert "cannot check code <redacted>" in message
    for text in (message, logged_text(records), repr(failure.value)):
        assert AUTH_CODE not in text
    assert TOKEN not in logged_text(records)
    assert failure.value.__cause__ is None and failure.value.__context__ is None


def test_repr_hides_the_token() -> None:
    backend = RemoteAuthBackend("127.0.0.1:7000", token=TOKEN)
    assert TOKEN not in repr(backend)
    assert "token=set" in repr(backend) and "127.0.0.1:7000" in repr(backend)
    assert "token=none" in repr(RemoteAuthBackend("127.0.0.1:7000"))


def make_certificate(directory: Path) -> tuple[bytes, bytes]:
    """A self-signed (key, certificate) for 127.0.0.1, made by the openssl command."""
    key, cert = directory / "key.pem", directory / "cert.pem"
    subprocess.run(
        ["openssl", "req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1",
         "-nodes", "-days", "1", "-subj", "/CN=127.0.0.1", "-addext", "subjectAltName=IP:127.0.0.1",
         "-keyout", str(key), "-out", str(cert)],
        check=True, capture_output=True, timeout=10,
    )  # fmt: skip
    return key.read_bytes(), cert.read_bytes()


@pytest.mark.skipif(shutil.which("openssl") is None, reason="needs the openssl command")
async def test_tls_verifies_the_service_with_the_configured_ca(tmp_path: Path) -> None:
    key, cert = make_certificate(tmp_path)
    service = FakeAuthService()
    with anyio.fail_after(HANG_GUARD):
        async with serving(service, tls=(key, cert)) as running_service:
            async with remote(running_service.endpoint, tls_ca=cert, token=TOKEN) as backend:
                assert backend.tls
                assert (await backend.register(REGISTRATION)).auth_code == AUTH_CODE
            async with remote(running_service.endpoint, retries=0) as plaintext:
                with pytest.raises(AuthBackendUnavailableError):
                    await plaintext.register(REGISTRATION)
    assert service.calls[0].metadata.get("authorization") == f"Bearer {TOKEN}"
    assert len(service.calls) == 1  # the plaintext client never got through


# ---- configuration and lifecycle -------------------------------------------------------------


def remote_config(**changes: Any) -> GatewayConfig:
    return dataclasses.replace(
        GatewayConfig(auth="remote", auth_endpoint=HostPort("127.0.0.1", 7000)), **changes
    )


def test_from_config_takes_every_remote_setting(tmp_path: Path) -> None:
    ca = tmp_path / "ca.pem"
    ca.write_bytes(b"-----BEGIN CERTIFICATE-----\nMIIB\n-----END CERTIFICATE-----\n")
    backend = RemoteAuthBackend.from_config(
        remote_config(
            auth_attempt_timeout=0.5,
            auth_retries=4,
            auth_timeout=3.0,
            auth_token=TOKEN,
            auth_tls_ca=ca,
        )
    )
    assert backend.name == "remote"
    assert (backend.endpoint, backend.attempt_timeout, backend.retries, backend.total_timeout) == (
        "127.0.0.1:7000",
        0.5,
        4,
        3.0,
    )
    assert backend.tls and "token=set" in repr(backend)


def test_from_config_defaults_are_the_contracts() -> None:
    backend = RemoteAuthBackend.from_config(remote_config(auth_endpoint=HostPort("::1", 7000)))
    assert (backend.endpoint, backend.attempt_timeout, backend.retries, backend.total_timeout) == (
        "[::1]:7000",
        2.0,
        2,
        5.0,
    )
    assert (backend.backoff_base, backend.backoff_cap) == (0.1, 1.0)
    assert not backend.tls and "token=none" in repr(backend)


def test_a_missing_ca_file_is_a_config_error(tmp_path: Path) -> None:
    missing = tmp_path / "nowhere.pem"
    with pytest.raises(ConfigError, match=r"--auth-tls-ca: .*nowhere\.pem does not exist"):
        RemoteAuthBackend.from_config(remote_config(auth_tls_ca=missing))


def test_a_ca_file_without_a_certificate_is_a_config_error(tmp_path: Path) -> None:
    empty = tmp_path / "empty.pem"
    empty.write_bytes(b"")
    with pytest.raises(ConfigError, match="holds no PEM certificate"):
        RemoteAuthBackend.from_config(remote_config(auth_tls_ca=empty))


def test_from_config_needs_an_endpoint() -> None:
    with pytest.raises(ConfigError, match="--auth-endpoint"):
        RemoteAuthBackend.from_config(GatewayConfig(auth="remote"))


async def test_a_closed_backend_gives_no_decision() -> None:
    async with service_and_backend() as (service, backend):
        await backend.register(REGISTRATION)
        await backend.aclose()
        with pytest.raises(AuthBackendUnavailableError, match="closed"):
            await backend.authenticate(AUTHENTICATION)
        await backend.aclose()  # twice is fine
    assert service.rpcs() == ["Register"]


# ---- through the gateway ---------------------------------------------------------------------


async def test_terminals_are_let_in_by_the_service_and_refused_when_it_is_gone(
    tmp_path: Path,
) -> None:
    service = FakeAuthService()
    with anyio.fail_after(HANG_GUARD):
        async with serving(service) as running_service:
            backend = RemoteAuthBackend(running_service.endpoint, **FAST)
            config = GatewayConfig(
                listen=HostPort("127.0.0.1", 0),
                data_dir=tmp_path / "data",
                auth="remote",
                auth_endpoint=HostPort("127.0.0.1", running_service.port),
                auth_timeout=FAST["total_timeout"],
            )
            async with running(Gateway(config, auth=backend)) as gateway:
                address = address_of(gateway)
                async with TerminalClient.connect(address, V2019) as terminal:
                    local_port = terminal.local_port
                    registered = await terminal.register()
                    assert (registered.result, registered.auth_code) == (
                        RegisterResult.SUCCESS,
                        AUTH_CODE,
                    )
                    assert await terminal.authenticate("wrong") is ResultCode.FAILURE
                    assert await terminal.authenticate(AUTH_CODE) is ResultCode.SUCCESS
                    assert connection_of(gateway, terminal.phone).device_name == DEVICE_NAME
                    await terminal.send(terminal.terminal.frame(TerminalLogout()))
                    await terminal.expect_general_response(
                        MessageId.TERMINAL_LOGOUT, ResultCode.SUCCESS
                    )
                assert service.rpcs() == ["Register", "Authenticate", "Authenticate", "Logout"]
                assert service.calls[0].request == auth_pb2.RegisterRequest(
                    phone=terminal.phone,
                    province_id=44,
                    city_id=300,
                    manufacturer_id="ACME1",
                    terminal_model="TK-1",
                    terminal_id="T000001",
                    plate_color=1,
                    plate="A12345",
                    protocol_version=2019,
                    remote_address=f"127.0.0.1:{local_port}",
                )

                await running_service.stop()
                async with TerminalClient.connect(address, V2013) as refused:
                    registered = await refused.register()
                    assert (registered.result, registered.auth_code) == (
                        RegisterResult.TERMINAL_NOT_FOUND,
                        "",
                    )
                    assert await refused.authenticate(AUTH_CODE) is ResultCode.FAILURE
                    assert len(gateway.sessions) == 0
                for operation in ("register", "authenticate"):
                    samples = metric(
                        gateway,
                        "jt808_auth_seconds_count",
                        operation=operation,
                        outcome="unavailable",
                    )
                    assert samples == 1


@pytest.mark.anyio
async def test_a_service_that_is_down_is_logged_as_no_decision_not_as_an_unknown_device(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.INFO, logger=LOGGER_NAME)
    down = HostPort("127.0.0.1", free_port())  # bound then released: nothing listens there
    config = GatewayConfig(
        listen=HostPort("127.0.0.1", 0),
        data_dir=tmp_path / "data",
        auth="remote",
        auth_endpoint=down,
        auth_timeout=FAST["total_timeout"],
    )
    backend = RemoteAuthBackend(str(down), **FAST)
    with anyio.fail_after(HANG_GUARD):
        async with (
            running(Gateway(config, auth=backend)) as gateway,
            TerminalClient.connect(address_of(gateway), V2013) as terminal,
        ):
            registered = await terminal.register()
    assert registered.result == RegisterResult.TERMINAL_NOT_FOUND  # on the wire: refused
    (line,) = [r for r in caplog.records if r.getMessage() == "registration"]
    assert getattr(line, "result", None) == "NO_DECISION"
    assert any(r.getMessage() == "auth backend gave no decision; refusing" for r in caplog.records)


@pytest.mark.anyio
async def test_the_app_builds_the_remote_backend_from_its_settings(tmp_path: Path) -> None:
    """The path of `jt808 serve --auth remote --auth-endpoint ...`: GatewayApp builds the backend
    from the config, a terminal the service accepts is let in and reachable over the API."""
    service = FakeAuthService()
    with anyio.fail_after(HANG_GUARD):
        async with (
            serving(service) as running_service,
            running_app(
                tmp_path,
                auth="remote",
                auth_endpoint=HostPort("127.0.0.1", running_service.port),
                auth_token="service-token",
            ) as app,
        ):
            assert isinstance(app.gateway.auth, RemoteAuthBackend)
            async with TerminalClient.connect(app.addresses.terminals, V2013) as terminal:
                await terminal.register()
                assert await terminal.authenticate(AUTH_CODE) is ResultCode.SUCCESS
                async with api_channel(app) as channel:
                    stub: GatewayServiceAsyncStub = GatewayServiceStub(channel)
                    found = await stub.GetSession(GetSessionRequest(phone=terminal.phone))
                assert found.session.device_name == DEVICE_NAME
    assert [call.metadata.get("authorization") for call in service.calls] == [
        "Bearer service-token"
    ] * 2
