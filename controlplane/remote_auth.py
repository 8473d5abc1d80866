"""``--auth remote``: third-party verification by the user's DeviceAuthService.

The contract (deadlines, retries, what a failure means) is the header comment of
``proto/jt808/auth/v1/auth.proto``. In short: every call has an overall deadline and each attempt
its own; only UNAVAILABLE, DEADLINE_EXCEEDED and RESOURCE_EXHAUSTED are retried, with jittered
exponential backoff that never runs past the deadline; anything else, or an answer the gateway
cannot use, raises ``AuthBackendUnavailableError`` so that the server refuses the terminal.
Auth codes and the bearer token are secrets: they reach no log line, message or repr.
"""

from __future__ import annotations

import logging
import random
from collections import OrderedDict
from pathlib import Path
from typing import Final, TypeVar

import anyio
import grpc
import grpc.aio
from google.protobuf.message import Message

from gateway.auth.base import (
    AuthBackendUnavailableError,
    AuthenticationDecision,
    AuthenticationRequest,
    RegistrationDecision,
    RegistrationRequest,
)
from gateway.protocol.bodies.registration import RegisterResult
from gateway.protocol.wire import TEXT_ENCODING
from gateway.server.config import ConfigError, GatewayConfig, remote_auth_endpoint
from gateway.server.logs import LOGGER_NAME
from jt808.auth.v1 import auth_pb2, auth_pb2_grpc

from .certificates import fill_certificate
from .locations import proto_text

log = logging.getLogger(f"{LOGGER_NAME}.remote_auth")

RequestT = TypeVar("RequestT", bound=Message)
ResponseT = TypeVar("ResponseT", bound=Message)

#: The only statuses worth another attempt: the service may answer next time.
RETRYABLE_CODES: Final = frozenset(
    {
        grpc.StatusCode.UNAVAILABLE,
        grpc.StatusCode.DEADLINE_EXCEEDED,
        grpc.StatusCode.RESOURCE_EXHAUSTED,
    }
)

#: The service's registration results the core can send in 0x8100 (UNSPECIFIED is not one).
CORE_REGISTER_RESULTS: Final[dict[int, RegisterResult]] = {
    auth_pb2.REGISTER_RESULT_SUCCESS: RegisterResult.SUCCESS,
    auth_pb2.REGISTER_RESULT_VEHICLE_ALREADY_REGISTERED: RegisterResult.VEHICLE_ALREADY_REGISTERED,
    auth_pb2.REGISTER_RESULT_VEHICLE_NOT_FOUND: RegisterResult.VEHICLE_NOT_FOUND,
    auth_pb2.REGISTER_RESULT_TERMINAL_ALREADY_REGISTERED: (
        RegisterResult.TERMINAL_ALREADY_REGISTERED
    ),
    auth_pb2.REGISTER_RESULT_TERMINAL_NOT_FOUND: RegisterResult.TERMINAL_NOT_FOUND,
}

#: 0x0102 of 2019 carries the auth code behind a one-byte length.
MAX_AUTH_CODE_BYTES: Final = 255
#: Phones whose device name is remembered from their registration; the oldest go first.
MAX_REMEMBERED_NAMES: Final = 100_000
#: Error details from the service are cut to this many characters (they end up in logs).
MAX_DETAILS_CHARS: Final = 300

#: gRPC's default reconnect backoff grows to 120 s; a service back from an outage should be
#: used again within seconds.
CHANNEL_OPTIONS: Final = (
    ("grpc.initial_reconnect_backoff_ms", 100),
    ("grpc.max_reconnect_backoff_ms", 2_000),
)


def backoff_delay(retry: int, base: float, cap: float) -> float:
    """The wait before retry number ``retry`` (1, 2, ...): ``base * 2**(retry-1)`` capped at
    ``cap``, jittered down to half of that so that terminals refused together do not come back
    together (and never with no wait at all)."""
    ceiling = min(cap, base * 2 ** (retry - 1))
    return random.uniform(ceiling / 2, ceiling)


def _without(secret: str, text: str) -> str:
    """``text`` with ``secret`` blanked out (a service may echo what it was sent)."""
    return text.replace(secret, "<redacted>") if secret else text


class RemoteAuthBackend:
    """An ``AuthBackend`` that asks a DeviceAuthService over one long-lived gRPC channel.

    The channel is opened on first use, inside the running event loop (grpc.aio binds a channel
    to the loop that creates it), and closed by ``aclose``.
    """

    name = "remote"

    def __init__(
        self,
        endpoint: str,
        *,
        attempt_timeout: float = 2.0,
        retries: int = 2,
        total_timeout: float = 5.0,
        token: str | None = None,
        tls_ca: bytes | None = None,
        backoff_base: float = 0.1,
        backoff_cap: float = 1.0,
    ) -> None:
        if attempt_timeout <= 0 or total_timeout <= 0:
            raise ValueError("attempt_timeout and total_timeout must be positive")
        if retries < 0:
            raise ValueError("retries must not be negative")
        if backoff_base <= 0 or backoff_cap < backoff_base:
            raise ValueError("backoff_base must be positive and backoff_cap at least as large")
        self.endpoint = endpoint
        self.attempt_timeout = attempt_timeout
        self.retries = retries
        self.total_timeout = total_timeout
        self.backoff_base = backoff_base
        self.backoff_cap = backoff_cap
        self._tls_ca = tls_ca
        self._metadata: tuple[tuple[str, str], ...] = (
            (("authorization", f"Bearer {token}"),) if token else ()
        )
        self._channel: grpc.aio.Channel | None = None
        self._stub: auth_pb2_grpc.DeviceAuthServiceAsyncStub | None = None
        self._closed = False
        self._names: OrderedDict[str, str] = OrderedDict()

    @classmethod
    def from_config(cls, config: GatewayConfig) -> RemoteAuthBackend:
        endpoint = remote_auth_endpoint(config)
        tls_ca = _read_ca(config.auth_tls_ca) if config.auth_tls_ca is not None else None
        return cls(
            str(endpoint),
            attempt_timeout=config.auth_attempt_timeout,
            retries=config.auth_retries,
            total_timeout=config.auth_timeout,
            token=config.auth_token,
            tls_ca=tls_ca,
        )

    @property
    def tls(self) -> bool:
        return self._tls_ca is not None

    def __repr__(self) -> str:  # the token is a secret: only whether there is one
        token = "set" if self._metadata else "none"
        return (
            f"RemoteAuthBackend(endpoint={self.endpoint!r}, tls={self.tls}, token={token}, "
            f"attempt_timeout={self.attempt_timeout}, retries={self.retries}, "
            f"total_timeout={self.total_timeout})"
        )

    # ---- AuthBackend -----------------------------------------------------------------------

    async def register(self, request: RegistrationRequest) -> RegistrationDecision:
        response = await self._call(
            "Register", self._service().Register, _register_request(request)
        )
        result = CORE_REGISTER_RESULTS.get(response.result)
        if result is None:
            raise self._unusable("Register", f"result {response.result} is not a decision")
        if result is not RegisterResult.SUCCESS:
            return RegistrationDecision(result, device_name=request.device_name)
        self._check_auth_code(response.auth_code)
        self._remember(request.phone, request.device_name)
        return RegistrationDecision(result, response.auth_code, request.device_name)

    async def authenticate(self, request: AuthenticationRequest) -> AuthenticationDecision:
        message = auth_pb2.AuthenticateRequest(
            phone=request.phone,
            # Wire text that is not UTF-8 cannot go into a protobuf string: each such byte
            # becomes U+FFFD (a code changed so matches nothing, as it should not).
            auth_code=proto_text(request.auth_code),
            imei=proto_text(request.imei),
            software_version=proto_text(request.software_version),
            remote_address=request.remote_address,
        )
        if request.certificate is not None:
            fill_certificate(message.certificate, request.certificate)
        if request.phone_online_since is not None:
            message.phone_online_since_time.FromDatetime(request.phone_online_since)
        response = await self._call(
            "Authenticate", self._service().Authenticate, message, secret=request.auth_code
        )
        name = response.device_name or self._recall(request.phone)
        return AuthenticationDecision(response.accepted, name)

    async def logout(self, phone: str) -> None:
        await self._call("Logout", self._service().Logout, auth_pb2.LogoutRequest(phone=phone))

    async def aclose(self) -> None:
        self._closed = True
        channel, self._channel, self._stub = self._channel, None, None
        if channel is not None:
            await channel.close()

    # ---- calls -----------------------------------------------------------------------------

    def _service(self) -> auth_pb2_grpc.DeviceAuthServiceAsyncStub:
        if self._closed:
            raise AuthBackendUnavailableError(f"auth service client for {self.endpoint} is closed")
        if self._stub is None:
            self._channel = self._open_channel()
            self._stub = auth_pb2_grpc.DeviceAuthServiceStub(self._channel)
        return self._stub

    def _open_channel(self) -> grpc.aio.Channel:
        if self._tls_ca is None:
            return grpc.aio.insecure_channel(self.endpoint, options=CHANNEL_OPTIONS)
        credentials = grpc.ssl_channel_credentials(root_certificates=self._tls_ca)
        return grpc.aio.secure_channel(self.endpoint, credentials, options=CHANNEL_OPTIONS)

    async def _call(
        self,
        rpc: str,
        method: grpc.aio.UnaryUnaryMultiCallable[RequestT, ResponseT],
        request: RequestT,
        *,
        secret: str = "",
    ) -> ResponseT:
        """One decision: attempts until an answer, a final status, the retries or the deadline
        run out. ``secret`` (the auth code sent) is kept out of every message."""
        deadline = anyio.current_time() + self.total_timeout
        attempts = 0
        while True:
            attempts += 1
            timeout = min(self.attempt_timeout, deadline - anyio.current_time())
            try:
                return await method(request, timeout=timeout, metadata=self._metadata)
            except grpc.aio.AioRpcError as error:
                code = error.code()
                details = _without(secret, error.details() or "")[:MAX_DETAILS_CHARS]
            if code not in RETRYABLE_CODES:
                raise AuthBackendUnavailableError(
                    f"auth service at {self.endpoint} failed {rpc}: {code.name} {details}"
                )
            delay = backoff_delay(attempts, self.backoff_base, self.backoff_cap)
            # Giving up now beats sleeping into the deadline: no attempt would fit after it.
            if attempts > self.retries or anyio.current_time() + delay >= deadline:
                raise AuthBackendUnavailableError(
                    f"auth service at {self.endpoint} unavailable after {attempts} attempts: "
                    f"{code.name} {details}"
                )
            log.debug(
                "auth call retried",
                extra={"rpc": rpc, "attempt": attempts, "code": code.name, "delay": delay},
            )
            await anyio.sleep(delay)

    # ---- answers ---------------------------------------------------------------------------

    def _check_auth_code(self, auth_code: str) -> None:
        if not auth_code:
            raise self._unusable("Register", "REGISTER_RESULT_SUCCESS without an auth code")
        try:
            size = len(auth_code.encode(TEXT_ENCODING))
        except UnicodeEncodeError:
            raise self._unusable("Register", "the auth code is not GBK text") from None
        if size > MAX_AUTH_CODE_BYTES:
            raise self._unusable(
                "Register", f"the auth code is {size} bytes of GBK, over {MAX_AUTH_CODE_BYTES}"
            )

    def _unusable(self, rpc: str, why: str) -> AuthBackendUnavailableError:
        return AuthBackendUnavailableError(
            f"auth service at {self.endpoint} gave an unusable {rpc} answer: {why}"
        )

    def _remember(self, phone: str, device_name: str) -> None:
        self._names[phone] = device_name
        self._names.move_to_end(phone)
        while len(self._names) > MAX_REMEMBERED_NAMES:
            self._names.popitem(last=False)

    def _recall(self, phone: str) -> str:
        name = self._names.get(phone)
        if name is None:
            return ""
        self._names.move_to_end(phone)
        return name


def _register_request(request: RegistrationRequest) -> auth_pb2.RegisterRequest:
    message = auth_pb2.RegisterRequest(
        phone=request.phone,
        province_id=request.province_id,
        city_id=request.city_id,
        manufacturer_id=proto_text(request.manufacturer_id),
        terminal_model=proto_text(request.terminal_model),
        terminal_id=proto_text(request.terminal_id),
        plate_color=request.plate_color,
        plate=proto_text(request.plate),
        protocol_version=request.protocol_version,
        remote_address=request.remote_address,
    )
    if request.certificate is not None:
        fill_certificate(message.certificate, request.certificate)
    if request.phone_online_since is not None:
        message.phone_online_since_time.FromDatetime(request.phone_online_since)
    if request.device_online_since is not None:
        message.device_online_since_time.FromDatetime(request.device_online_since)
        message.device_online_phone = request.device_online_phone
    return message


def _read_ca(path: Path) -> bytes:
    """The CA bundle for ``--auth-tls-ca``: a readable, non-empty PEM file."""
    try:
        data = path.read_bytes()
    except FileNotFoundError:
        raise ConfigError(f"--auth-tls-ca: {path} does not exist") from None
    except OSError as error:
        raise ConfigError(f"--auth-tls-ca: {path} cannot be read: {error.strerror}") from None
    if b"-----BEGIN CERTIFICATE-----" not in data:
        raise ConfigError(f"--auth-tls-ca: {path} holds no PEM certificate")
    return data
