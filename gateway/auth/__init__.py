"""Terminal registration and authentication: the pluggable backend interface and its providers.

* ``local`` — one-party verification against the embedded device registry (the default);
* ``insecure`` — accept every terminal (labs and demos only);
* ``remote`` — the user's DeviceAuthService over gRPC (the control-plane issue).
"""

from __future__ import annotations

from .base import (
    AuthBackend,
    AuthBackendUnavailableError,
    AuthenticationDecision,
    AuthenticationRequest,
    RegistrationDecision,
    RegistrationRequest,
    device_name_of,
)

__all__ = [
    "AuthBackend",
    "AuthBackendUnavailableError",
    "AuthenticationDecision",
    "AuthenticationRequest",
    "RegistrationDecision",
    "RegistrationRequest",
    "device_name_of",
]
