"""Auth backends as the gateway uses them: the local registry across a restart, and backends
that are down, stalled or broken (nobody is let in, the gateway keeps serving)."""

from __future__ import annotations

import logging
from typing import Final

import anyio
import pytest

from gateway.auth.base import (
    AuthBackendUnavailableError,
    AuthenticationDecision,
    AuthenticationRequest,
    RegistrationDecision,
    RegistrationRequest,
)
from gateway.hub import EventKind, TerminalEvent
from gateway.protocol import V2013, V2019, ResultCode
from gateway.protocol.bodies.registration import RegisterResult
from gateway.protocol.ids import MessageId
from gateway.registry import Device
from gateway.server.gateway import Gateway
from gateway.server.logs import LOGGER_NAME
from tests.timeouts import HANG_GUARD

from .harness import StartGateway, address_of, wait_for_event
from .terminal_client import DEVICE_NAME, TerminalClient

pytestmark = pytest.mark.anyio


class UnavailableBackend:
    """Every call fails the way a remote backend that cannot be reached does."""

    name = "unavailable"

    async def register(self, request: RegistrationRequest) -> RegistrationDecision:
        raise AuthBackendUnavailableError("device auth service unreachable")

    async def authenticate(self, request: AuthenticationRequest) -> AuthenticationDecision:
        raise AuthBackendUnavailableError("device auth service unreachable")

    async def logout(self, phone: str) -> None:
        raise AuthBackendUnavailableError("device auth service unreachable")

    async def aclose(self) -> None:
        pass


class StalledBackend:
    """Every call hangs far past any auth timeout (a backend that accepts and never answers)."""

    name = "stalled"

    def __init__(self) -> None:
        self.registrations = 0  # calls of register so far (each still hanging or timed out)

    async def register(self, request: RegistrationRequest) -> RegistrationDecision:
        self.registrations += 1
        await anyio.sleep(3600)
        return RegistrationDecision(RegisterResult.SUCCESS, "too-late")

    async def authenticate(self, request: AuthenticationRequest) -> AuthenticationDecision:
        await anyio.sleep(3600)
        return AuthenticationDecision(True)

    async def logout(self, phone: str) -> None:
        await anyio.sleep(3600)

    async def aclose(self) -> None:
        pass


class BrokenBackend:
    """Every call raises an unexpected exception (a bug in a backend)."""

    name = "broken"

    async def register(self, request: RegistrationRequest) -> RegistrationDecision:
        raise RuntimeError("backend bug")

    async def authenticate(self, request: AuthenticationRequest) -> AuthenticationDecision:
        raise RuntimeError("backend bug")

    async def logout(self, phone: str) -> None:
        raise RuntimeError("backend bug")

    async def aclose(self) -> None:
        pass


AUTH_TIMEOUT: Final = 0.2


def auth_calls(gateway: Gateway, operation: str, outcome: str) -> float | None:
    """How many ``operation`` calls ended with ``outcome`` (jt808_auth_seconds_count)."""
    return gateway.metrics.registry.get_sample_value(
        "jt808_auth_seconds_count", {"operation": operation, "outcome": outcome}
    )


async def nobody_gets_in(gateway: Gateway, terminal: TerminalClient) -> None:
    """Registration answered 4, authentication 1, data refused, no session."""
    registered = await terminal.register()
    assert (registered.result, registered.auth_code) == (RegisterResult.TERMINAL_NOT_FOUND, "")
    assert await terminal.authenticate("any-code") is ResultCode.FAILURE
    await terminal.send(terminal.terminal.location())
    await terminal.expect_general_response(MessageId.LOCATION_REPORT, ResultCode.FAILURE)
    assert len(gateway.sessions) == 0


async def test_registry_survives_a_restart_and_the_issued_code_still_authenticates(
    start_gateway: StartGateway, devices: tuple[Device, ...]
) -> None:
    with anyio.fail_after(HANG_GUARD):
        async with (
            start_gateway() as first,
            TerminalClient.connect(address_of(first), V2013) as terminal,
        ):
            code = (await terminal.register()).auth_code
        async with start_gateway() as second:
            with second.hub.subscribe() as events:
                async with TerminalClient.connect(address_of(second), V2013) as terminal:
                    assert await terminal.authenticate(code) is ResultCode.SUCCESS
                authenticated = await wait_for_event(
                    events, lambda e: getattr(e, "kind", None) is EventKind.AUTHENTICATED
                )
                assert isinstance(authenticated, TerminalEvent)
                assert authenticated.device_name == DEVICE_NAME


@pytest.mark.gateway(auth=UnavailableBackend())
async def test_unavailable_backend_lets_nobody_in(gateway: Gateway) -> None:
    with anyio.fail_after(HANG_GUARD):
        async with TerminalClient.connect(address_of(gateway), V2019) as terminal:
            await nobody_gets_in(gateway, terminal)
        assert auth_calls(gateway, "register", "unavailable") == 1
        assert auth_calls(gateway, "authenticate", "unavailable") == 1


@pytest.mark.gateway(auth=StalledBackend(), auth_timeout=AUTH_TIMEOUT)
async def test_backend_slower_than_auth_timeout_lets_nobody_in(gateway: Gateway) -> None:
    with anyio.fail_after(HANG_GUARD):
        async with TerminalClient.connect(address_of(gateway), V2013) as terminal:
            started = anyio.current_time()
            await nobody_gets_in(gateway, terminal)
            assert anyio.current_time() - started >= 2 * AUTH_TIMEOUT - 0.05
        assert auth_calls(gateway, "register", "timeout") == 1
        assert auth_calls(gateway, "authenticate", "timeout") == 1


@pytest.mark.gateway(auth=StalledBackend(), auth_timeout=10 * HANG_GUARD)
async def test_stalled_backend_does_not_hold_up_other_terminals(gateway: Gateway) -> None:
    address = address_of(gateway)
    with anyio.fail_after(HANG_GUARD):
        async with (
            TerminalClient.connect(address, V2013) as waiting,
            TerminalClient.connect(address, V2013, phone="013900000002") as other,
        ):
            backend = gateway.auth
            assert isinstance(backend, StalledBackend)
            await waiting.send(waiting.terminal.registration())
            while not backend.registrations:
                await anyio.sleep(0.01)
            await other.send(other.terminal.heartbeat())
            await other.expect_general_response(MessageId.HEARTBEAT, ResultCode.SUCCESS)
            await waiting.quiet(0.1)  # no answer: its registration still waits for the backend


@pytest.mark.gateway(auth=BrokenBackend())
async def test_backend_that_raises_lets_nobody_in_and_the_gateway_carries_on(
    gateway: Gateway,
) -> None:
    with anyio.fail_after(HANG_GUARD):
        async with TerminalClient.connect(address_of(gateway), V2013) as terminal:
            await nobody_gets_in(gateway, terminal)
            await terminal.send(terminal.terminal.heartbeat())
            await terminal.expect_general_response(MessageId.HEARTBEAT, ResultCode.SUCCESS)
        assert auth_calls(gateway, "register", "error") == 1
        assert auth_calls(gateway, "authenticate", "error") == 1


def logged_results(caplog: pytest.LogCaptureFixture) -> dict[str, object]:
    """The ``result`` of the registration and authentication-refused log lines."""
    return {
        record.getMessage(): getattr(record, "result", None)
        for record in caplog.records
        if record.getMessage() in ("registration", "authentication refused")
    }


@pytest.mark.gateway(auth=UnavailableBackend())
async def test_a_backend_without_a_decision_is_logged_as_no_decision_not_as_unknown(
    gateway: Gateway, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.INFO, logger=LOGGER_NAME)
    with anyio.fail_after(HANG_GUARD):
        async with TerminalClient.connect(address_of(gateway), V2019) as terminal:
            await nobody_gets_in(gateway, terminal)
    assert logged_results(caplog) == {
        "registration": "NO_DECISION",
        "authentication refused": "NO_DECISION",
    }
    assert "TERMINAL_NOT_FOUND" not in caplog.text


@pytest.mark.gateway(auth=StalledBackend(), auth_timeout=AUTH_TIMEOUT)
async def test_a_backend_too_slow_to_decide_is_logged_as_no_decision(
    gateway: Gateway, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.INFO, logger=LOGGER_NAME)
    with anyio.fail_after(HANG_GUARD):
        async with TerminalClient.connect(address_of(gateway), V2013) as terminal:
            await terminal.register()
            assert await terminal.authenticate("any-code") is ResultCode.FAILURE
    assert logged_results(caplog) == {
        "registration": "NO_DECISION",
        "authentication refused": "NO_DECISION",
    }


async def test_an_unknown_device_and_a_wrong_code_are_logged_as_such(
    gateway: Gateway, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.INFO, logger=LOGGER_NAME)
    with anyio.fail_after(HANG_GUARD):
        async with TerminalClient.connect(address_of(gateway), V2013) as terminal:
            await terminal.register(terminal_id="UNKNOWN")
            assert await terminal.authenticate("wrong-code") is ResultCode.FAILURE
    assert logged_results(caplog) == {
        "registration": "TERMINAL_NOT_FOUND",
        "authentication refused": "REFUSED",
    }
