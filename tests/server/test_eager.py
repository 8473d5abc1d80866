"""Decisions without a task when the backend answers at once (gateway.server.eager): the
stepping itself, and the gateway with a backend that answers at once, one that suspends, and
one that never answers (the auth deadline still holds)."""

from __future__ import annotations

import asyncio
from collections.abc import Coroutine
from typing import Any

import anyio
import pytest

from gateway.auth.base import (
    AuthenticationDecision,
    AuthenticationRequest,
    RegistrationDecision,
    RegistrationRequest,
)
from gateway.protocol import V2013, ResultCode
from gateway.protocol.bodies.registration import RegisterResult, TerminalRegisterResponse
from gateway.protocol.ids import MessageId
from gateway.server import eager
from gateway.server.gateway import Gateway
from tests.timeouts import HANG_GUARD

from .harness import address_of
from .terminal_client import TerminalClient
from .test_auth_backends import auth_calls

pytestmark = pytest.mark.anyio


# ---- the stepping --------------------------------------------------------------------------


async def test_an_awaitable_that_does_not_suspend_is_finished_by_its_first_step() -> None:
    async def at_once() -> int:
        return 7

    assert eager.start(at_once()) == (7, None)


async def test_an_exception_of_the_first_step_propagates_as_it_is() -> None:
    async def broken() -> int:
        raise LookupError("no such device")

    with pytest.raises(LookupError, match="no such device"):
        eager.start(broken())


async def test_a_suspended_awaitable_is_finished_by_the_task_that_resumes_it() -> None:
    answer: asyncio.Future[int] = asyncio.get_running_loop().create_future()

    async def later() -> int:
        return await answer + 1

    result, suspended = eager.start(later())
    assert result is None and suspended is not None
    answer.set_result(41)
    assert await eager.resume(suspended) == 42


async def test_a_cancellation_reaches_the_resumed_awaitable() -> None:
    seen: list[str] = []
    never: asyncio.Future[int] = asyncio.get_running_loop().create_future()

    async def stalled() -> int:
        try:
            return await never
        except asyncio.CancelledError:
            seen.append("cancelled")
            raise

    _, suspended = eager.start(stalled())
    assert suspended is not None

    async def waiter() -> int:
        assert suspended is not None
        return await eager.resume(suspended)

    task = asyncio.get_running_loop().create_task(waiter())
    await asyncio.sleep(0)
    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await task
    assert seen == ["cancelled"]


async def test_hand_over_is_a_plain_reschedule_inside_a_task() -> None:
    async def chain() -> str:
        await eager.hand_over()
        return "went on"

    assert await chain() == "went on"
    work: Coroutine[Any, Any, str] = chain()
    _, suspended = eager.start(work)  # driven by hand: it stops at the hand-over
    assert suspended is not None and suspended.yielded is None
    assert await eager.resume(suspended) == "went on"


# ---- the gateway ---------------------------------------------------------------------------


class _Backend:
    name = "test"

    async def logout(self, phone: str) -> None:
        pass

    async def aclose(self) -> None:
        pass


class AtOnceBackend(_Backend):
    """Answers without ever suspending (as insecure-accept-all does)."""

    async def register(self, request: RegistrationRequest) -> RegistrationDecision:
        return RegistrationDecision(RegisterResult.SUCCESS, "code", request.device_name)

    async def authenticate(self, request: AuthenticationRequest) -> AuthenticationDecision:
        return AuthenticationDecision(request.auth_code == "code")


class SuspendingBackend(AtOnceBackend):
    """Answers the same after suspending a few times (as a backend in a thread or over gRPC)."""

    async def register(self, request: RegistrationRequest) -> RegistrationDecision:
        for _ in range(3):
            await asyncio.sleep(0)
        return await super().register(request)

    async def authenticate(self, request: AuthenticationRequest) -> AuthenticationDecision:
        await asyncio.sleep(0)
        return await super().authenticate(request)


class NeverBackend(AtOnceBackend):
    """Registers at once, never answers an authentication."""

    async def authenticate(self, request: AuthenticationRequest) -> AuthenticationDecision:
        await asyncio.Event().wait()
        raise AssertionError("unreachable")


def tasks_spawned(gateway: Gateway, monkeypatch: pytest.MonkeyPatch) -> list[object]:
    spawned: list[object] = []
    spawn = gateway.spawn

    def counting(work: Coroutine[Any, Any, None]) -> None:
        spawned.append(work)
        spawn(work)

    monkeypatch.setattr(gateway, "spawn", counting)
    return spawned


@pytest.mark.gateway(auth=AtOnceBackend())
async def test_a_backend_that_answers_at_once_costs_no_task(
    gateway: Gateway, monkeypatch: pytest.MonkeyPatch
) -> None:
    spawned = tasks_spawned(gateway, monkeypatch)
    with anyio.fail_after(HANG_GUARD):
        async with TerminalClient.connect(address_of(gateway), V2013) as terminal:
            assert await terminal.log_in() == "code"
            await terminal.send(terminal.terminal.heartbeat())
            await terminal.expect_general_response(MessageId.HEARTBEAT, ResultCode.SUCCESS)
    assert spawned == []
    assert auth_calls(gateway, "register", "ok") == 1
    assert auth_calls(gateway, "authenticate", "ok") == 1


@pytest.mark.gateway(auth=AtOnceBackend())
async def test_decisions_in_one_chunk_are_answered_in_order(gateway: Gateway) -> None:
    with anyio.fail_after(HANG_GUARD):
        async with TerminalClient.connect(address_of(gateway), V2013) as terminal:
            t = terminal.terminal
            # Register, authenticate and a heartbeat in one write.
            await terminal.send(t.registration(), t.authentication("code"), t.heartbeat())
            _, registered = await terminal.expect(TerminalRegisterResponse)
            assert registered.result == RegisterResult.SUCCESS
            await terminal.expect_general_response(
                MessageId.TERMINAL_AUTHENTICATE, ResultCode.SUCCESS
            )
            await terminal.expect_general_response(MessageId.HEARTBEAT, ResultCode.SUCCESS)


@pytest.mark.gateway(auth=AtOnceBackend())
async def test_many_decisions_in_one_chunk_do_not_recurse(gateway: Gateway) -> None:
    with anyio.fail_after(HANG_GUARD):
        async with TerminalClient.connect(address_of(gateway), V2013) as terminal:
            t = terminal.terminal
            frames = [t.registration() for _ in range(1500)]
            await terminal.send(*frames)
            for _ in frames:
                await terminal.receive()
            await terminal.send(t.authentication("code"))
            await terminal.expect_general_response(
                MessageId.TERMINAL_AUTHENTICATE, ResultCode.SUCCESS
            )


@pytest.mark.gateway(auth=SuspendingBackend())
async def test_a_backend_that_suspends_is_finished_in_a_task(
    gateway: Gateway, monkeypatch: pytest.MonkeyPatch
) -> None:
    spawned = tasks_spawned(gateway, monkeypatch)
    with anyio.fail_after(HANG_GUARD):
        async with TerminalClient.connect(address_of(gateway), V2013) as terminal:
            t = terminal.terminal
            # What follows a decision in the same write waits for its answer, then is read.
            await terminal.send(t.registration(), t.authentication("code"), t.heartbeat())
            await terminal.receive()  # 0x8100
            await terminal.expect_general_response(
                MessageId.TERMINAL_AUTHENTICATE, ResultCode.SUCCESS
            )
            await terminal.expect_general_response(MessageId.HEARTBEAT, ResultCode.SUCCESS)
    assert len(spawned) == 2
    assert auth_calls(gateway, "register", "ok") == 1
    assert auth_calls(gateway, "authenticate", "ok") == 1


@pytest.mark.gateway(auth=NeverBackend(), auth_timeout=0.05)
async def test_a_backend_that_never_answers_still_meets_the_auth_deadline(
    gateway: Gateway,
) -> None:
    with anyio.fail_after(HANG_GUARD):
        async with TerminalClient.connect(address_of(gateway), V2013) as terminal:
            registered = await terminal.register()
            assert registered.result == RegisterResult.SUCCESS
            assert await terminal.authenticate("code") is ResultCode.FAILURE
    assert auth_calls(gateway, "authenticate", "timeout") == 1
