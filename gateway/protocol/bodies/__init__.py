"""Every message body of JT/T 808, grouped by what the messages are for.

Importing this package registers every body with its message id: the bodies a session itself
exchanges at once, the others (``LAZY``) when a message of theirs is first decoded or looked up,
or when their module is imported (``from gateway.protocol.bodies import parameters``).
"""

from __future__ import annotations

import importlib
from types import ModuleType
from typing import Final

from ..body import register_lazy
from . import general, location, multimedia, passthrough, registration

#: Modules imported on first use, with the ids they register (tests/protocol/test_lazy_bodies.py
#: checks this table against the modules). An idle gateway needs none of them: importing them
#: at start-up cost about 1 MiB of resident memory.
LAZY: Final[dict[str, tuple[int, ...]]] = {
    "areas": (0x0608, *range(0x8600, 0x8609)),
    "can": (0x0705,),
    "messaging": (0x0301, 0x0302, 0x0303, *range(0x8300, 0x8305), 0x8400, 0x8401),
    "parameters": (0x0104, 0x8103, 0x8104, 0x8106),
    "tachograph": (0x0700, 0x0701, 0x0702, 0x8700, 0x8701, 0x8702),
    "terminal": (0x0107, 0x0108, 0x8105, 0x8107, 0x8108),
    "vehicle": (0x0500, 0x8500),
}
for _name, _ids in LAZY.items():
    register_lazy(f"{__name__}.{_name}", _ids)


def __getattr__(name: str) -> ModuleType:
    """``bodies.parameters`` and the like import their module on first access."""
    if name in LAZY:
        return importlib.import_module(f"{__name__}.{name}")
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


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
