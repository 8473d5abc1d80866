"""What the gateway tells the auth backend about live sessions, so that a registration never
silently takes one over (a registration needs no secret; only a connection that presents the
credential may replace a live session)."""

from __future__ import annotations

from datetime import datetime
from typing import NamedTuple, Protocol


class Online(NamedTuple):
    phone_online_since: datetime | None
    device_online_since: datetime | None
    device_online_phone: str


class LiveSessions(Protocol):
    def online_since(self, phone: str) -> datetime | None: ...

    def device_online(self, device_name: str) -> tuple[datetime | None, str]: ...


def online(sessions: LiveSessions, phone: str, device_name: str) -> Online:
    """Since when ``phone``, and the device named ``device_name``, are online (the fields of a
    ``RegistrationRequest`` that say so; made before the request, which is frozen)."""
    device_since, device_phone = sessions.device_online(device_name)
    return Online(sessions.online_since(phone), device_since, device_phone)
