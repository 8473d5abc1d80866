"""What the gateway tells the auth backend about live sessions, so that a registration never
silently takes one over (a registration needs no secret; only a connection that presents the
credential may replace a live session)."""

from __future__ import annotations

import dataclasses
from datetime import datetime
from typing import Protocol

from gateway.auth.base import RegistrationRequest


class LiveSessions(Protocol):
    def online_since(self, phone: str) -> datetime | None: ...

    def device_online(self, device_name: str) -> tuple[datetime | None, str]: ...


def with_sessions(request: RegistrationRequest, sessions: LiveSessions) -> RegistrationRequest:
    """``request`` with since when its phone, and the device it names, are online."""
    device_since, device_phone = sessions.device_online(request.device_name)
    return dataclasses.replace(
        request,
        phone_online_since=sessions.online_since(request.phone),
        device_online_since=device_since,
        device_online_phone=device_phone,
    )
