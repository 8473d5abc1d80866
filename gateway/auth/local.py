"""``--auth local``: one-party verification against the embedded device registry."""

from __future__ import annotations

import functools
from collections.abc import Callable
from typing import TypeVar

import anyio
import anyio.to_thread

from ..registry import DeviceRegistry, RegistryUnavailableError
from .base import (
    AuthBackendUnavailableError,
    AuthenticationDecision,
    AuthenticationRequest,
    RegistrationDecision,
    RegistrationRequest,
)

T = TypeVar("T")


def _decided(call: Callable[[], T]) -> T:
    try:
        return call()
    except RegistryUnavailableError as error:
        raise AuthBackendUnavailableError(f"the device registry: {error}") from None


class LocalAuthBackend:
    """Runs the synchronous registry in a worker thread, one call at a time, so that disk
    writes (fsync of an issued code) never stall the event loop. A registry that cannot serve
    a call (a full or read-only data dir) gives no decision (``AuthBackendUnavailableError``),
    as any backend that cannot decide: the terminal is refused and tries again."""

    name = "local"

    def __init__(self, registry: DeviceRegistry, *, reregistration: str = "explicit") -> None:
        self.registry = registry
        self.reregistration = reregistration  # see registry.REREGISTRATION_MODES
        self._limiter = anyio.CapacityLimiter(1)

    async def register(self, request: RegistrationRequest) -> RegistrationDecision:
        return await self._run(
            functools.partial(self.registry.register, request, reregistration=self.reregistration)
        )

    async def authenticate(self, request: AuthenticationRequest) -> AuthenticationDecision:
        return await self._run(functools.partial(self.registry.authenticate, request))

    async def logout(self, phone: str) -> None:
        await self._run(functools.partial(self.registry.logout, phone))

    async def _run(self, call: Callable[[], T]) -> T:
        return await anyio.to_thread.run_sync(_decided, call, limiter=self._limiter)

    async def aclose(self) -> None:
        await anyio.to_thread.run_sync(self.registry.close, limiter=self._limiter)
