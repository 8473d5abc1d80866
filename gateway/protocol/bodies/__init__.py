"""Every message body of JT/T 808, grouped by what the messages are for.

Importing this package registers every body with its message id.
"""

from __future__ import annotations

from . import (
    areas,
    can,
    general,
    location,
    messaging,
    multimedia,
    parameters,
    passthrough,
    registration,
    tachograph,
    terminal,
    vehicle,
)

__all__ = [
    "areas",
    "can",
    "general",
    "location",
    "messaging",
    "multimedia",
    "parameters",
    "passthrough",
    "registration",
    "tachograph",
    "terminal",
    "vehicle",
]
