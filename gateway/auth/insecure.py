"""``--auth insecure-accept-all``: every terminal is registered and authenticated.

For labs and demos only; the server logs a loud warning when it starts with this backend.
Registration hands out a random code, and any code authenticates.
"""

from __future__ import annotations

import secrets
from collections import OrderedDict
from typing import Final

from gateway.protocol.bodies.registration import RegisterResult

from .base import (
    AuthenticationDecision,
    AuthenticationRequest,
    RegistrationDecision,
    RegistrationRequest,
)

#: Phones remembered (with their device names); the oldest are forgotten past this.
MAX_REMEMBERED: Final = 100_000


class AcceptAllAuthBackend:
    name = "insecure-accept-all"

    def __init__(self) -> None:
        self._names: OrderedDict[str, str] = OrderedDict()

    async def register(self, request: RegistrationRequest) -> RegistrationDecision:
        self._remember(request.phone, request.device_name)
        return RegistrationDecision(
            RegisterResult.SUCCESS, secrets.token_hex(16), request.device_name
        )

    async def authenticate(self, request: AuthenticationRequest) -> AuthenticationDecision:
        # Any code is accepted: this backend exists to let unknown devices in.
        return AuthenticationDecision(True, self._names.get(request.phone, ""))

    async def logout(self, phone: str) -> None:
        self._names.pop(phone, None)

    async def aclose(self) -> None:
        self._names.clear()

    def _remember(self, phone: str, name: str) -> None:
        self._names[phone] = name
        self._names.move_to_end(phone)
        while len(self._names) > MAX_REMEMBERED:
            self._names.popitem(last=False)
