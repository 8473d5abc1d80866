"""``--auth local``: one-party verification against the embedded device registry."""

from __future__ import annotations

import functools

import anyio
import anyio.to_thread

from ..registry import DeviceRegistry
from .base import (
    AuthenticationDecision,
    AuthenticationRequest,
    RegistrationDecision,
    RegistrationRequest,
)


class LocalAuthBackend:
    """Runs the synchronous registry in a worker thread, one call at a time, so that disk
    writes (fsync of an issued code) never stall the event loop."""

    name = "local"

    def __init__(self, registry: DeviceRegistry, *, reregistration: str = "explicit") -> None:
        self.registry = registry
        self.reregistration = reregistration  # see registry.REREGISTRATION_MODES
        self._limiter = anyio.CapacityLimiter(1)

    async def register(self, request: RegistrationRequest) -> RegistrationDecision:
        return await anyio.to_thread.run_sync(
            functools.partial(self.registry.register, reregistration=self.reregistration),
            request,
            limiter=self._limiter,
        )

    async def authenticate(self, request: AuthenticationRequest) -> AuthenticationDecision:
        return await anyio.to_thread.run_sync(
            self.registry.authenticate, request, limiter=self._limiter
        )

    async def logout(self, phone: str) -> None:
        await anyio.to_thread.run_sync(self.registry.logout, phone, limiter=self._limiter)

    async def aclose(self) -> None:
        await anyio.to_thread.run_sync(self.registry.close, limiter=self._limiter)
