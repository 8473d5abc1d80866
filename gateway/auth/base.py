"""The authentication backend interface the data plane calls for 0x0100, 0x0102 and 0x0003.

The server never lets a terminal in when a backend cannot decide: a backend that is down or too
slow raises ``AuthBackendUnavailableError`` (or runs past the server's deadline), and the terminal
gets a failure result. Backends are async so that a remote one never blocks the event loop.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import TYPE_CHECKING, Protocol

from gateway.protocol.bodies.registration import RegisterResult

if TYPE_CHECKING:  # gateway.tls.identity imports this module
    from gateway.tls.identity import CertificateIdentity


def device_name_of(manufacturer_id: str, terminal_model: str, terminal_id: str) -> str:
    """The device name used everywhere: ``${manufacturerId}_${terminalModel}_${terminalId}``."""
    return f"{manufacturer_id}_{terminal_model}_{terminal_id}"


# Compiled with the protocol core (``gateway.native``): one request and one decision per
# handshake. The ``__init__``s are written out (``init=False``) because, compiled, a
# dataclass-generated one runs interpreted; each field is set once, as the dataclass would.


@dataclass(frozen=True, slots=True, init=False)
class RegistrationRequest:
    """What a terminal's 0x0100 says about itself, plus where it connected from."""

    phone: str
    province_id: int
    city_id: int
    manufacturer_id: str
    terminal_model: str
    terminal_id: str
    plate_color: int
    plate: str
    protocol_version: int  # 2011, 2013 or 2019
    remote_address: str
    #: Over mutual TLS: the verified client certificate (already matched to this message).
    certificate: CertificateIdentity | None = None
    #: What the gateway knows of live sessions, so that a registration never silently takes
    #: over one: since when this phone has an authenticated session (``None``: it has none),
    #: and since when (and under which phone) the device this message names has one.
    phone_online_since: datetime | None = None
    device_online_since: datetime | None = None
    device_online_phone: str = ""

    def __init__(  # noqa: PLR0917 - the dataclass's fields, in its order
        self,
        phone: str,
        province_id: int,
        city_id: int,
        manufacturer_id: str,
        terminal_model: str,
        terminal_id: str,
        plate_color: int,
        plate: str,
        protocol_version: int,
        remote_address: str,
        certificate: CertificateIdentity | None = None,
        phone_online_since: datetime | None = None,
        device_online_since: datetime | None = None,
        device_online_phone: str = "",
    ) -> None:
        set_ = object.__setattr__
        set_(self, "phone", phone)
        set_(self, "province_id", province_id)
        set_(self, "city_id", city_id)
        set_(self, "manufacturer_id", manufacturer_id)
        set_(self, "terminal_model", terminal_model)
        set_(self, "terminal_id", terminal_id)
        set_(self, "plate_color", plate_color)
        set_(self, "plate", plate)
        set_(self, "protocol_version", protocol_version)
        set_(self, "remote_address", remote_address)
        set_(self, "certificate", certificate)
        set_(self, "phone_online_since", phone_online_since)
        set_(self, "device_online_since", device_online_since)
        set_(self, "device_online_phone", device_online_phone)

    @property
    def device_name(self) -> str:
        return device_name_of(self.manufacturer_id, self.terminal_model, self.terminal_id)


@dataclass(frozen=True, slots=True, init=False)
class RegistrationDecision:
    """The 0x8100 to send: ``auth_code`` only with ``SUCCESS``."""

    result: RegisterResult
    auth_code: str = ""
    device_name: str = ""

    def __init__(self, result: RegisterResult, auth_code: str = "", device_name: str = "") -> None:
        object.__setattr__(self, "result", result)
        object.__setattr__(self, "auth_code", auth_code)
        object.__setattr__(self, "device_name", device_name)

    def __repr__(self) -> str:  # the auth code is a secret: never in logs or tracebacks
        return f"RegistrationDecision(result={self.result.name}, device_name={self.device_name!r})"


@dataclass(frozen=True, slots=True, init=False)
class AuthenticationRequest:
    """A terminal's 0x0102 (IMEI and software version are empty before 2019)."""

    phone: str
    auth_code: str
    imei: str
    software_version: str
    remote_address: str
    #: Over mutual TLS: the verified client certificate (already matched to this message).
    certificate: CertificateIdentity | None = None
    #: Since when this phone has a live authenticated session, which an accepted code replaces.
    phone_online_since: datetime | None = None

    def __init__(  # noqa: PLR0917 - the dataclass's fields, in its order
        self,
        phone: str,
        auth_code: str,
        imei: str,
        software_version: str,
        remote_address: str,
        certificate: CertificateIdentity | None = None,
        phone_online_since: datetime | None = None,
    ) -> None:
        set_ = object.__setattr__
        set_(self, "phone", phone)
        set_(self, "auth_code", auth_code)
        set_(self, "imei", imei)
        set_(self, "software_version", software_version)
        set_(self, "remote_address", remote_address)
        set_(self, "certificate", certificate)
        set_(self, "phone_online_since", phone_online_since)

    def __repr__(self) -> str:
        return f"AuthenticationRequest(phone={self.phone!r}, imei={self.imei!r})"


@dataclass(frozen=True, slots=True, init=False)
class AuthenticationDecision:
    accepted: bool
    device_name: str = ""

    def __init__(self, accepted: bool, device_name: str = "") -> None:
        object.__setattr__(self, "accepted", accepted)
        object.__setattr__(self, "device_name", device_name)


class AuthBackendUnavailableError(Exception):
    """The backend could not decide (unreachable, timed out, failed): nobody is let in."""


class AuthBackend(Protocol):
    """Registration and authentication of terminals, whatever decides them."""

    name: str

    async def register(self, request: RegistrationRequest) -> RegistrationDecision: ...

    async def authenticate(self, request: AuthenticationRequest) -> AuthenticationDecision: ...

    async def logout(self, phone: str) -> None: ...

    async def aclose(self) -> None: ...
