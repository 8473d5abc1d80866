"""The mypyc-compiled protocol core, and its pure-Python fallback.

The hot modules of the protocol core can be compiled with mypyc (``make native``, or
``JT808_NATIVE=1 pip install --no-build-isolation .``): the same source, typed for mypy
--strict, becomes C extension modules that sit next to the ``.py`` files and are imported
instead of them. Without a build, or with ``JT808_PURE_PYTHON=1``, the ``.py`` files run; both
pass the same tests (``tests/test_native.py`` compares their outputs).

A compiled module built from older source would silently run old code, so the build records a
digest of each source (``NATIVE_MANIFEST``) and ``install`` falls back to pure Python, with a
warning, when any source changed since. The compiled modules call each other directly, so they
are used all together or not at all.
"""

from __future__ import annotations

import hashlib
import importlib.machinery
import importlib.util
import json
import os
import sys
import warnings
from collections.abc import Sequence
from pathlib import Path
from types import ModuleType
from typing import Final

#: Compiled together, in this order of dependence (the shared library holds all of them).
NATIVE_MODULES: Final = (
    "gateway.protocol.framing",
    "gateway.protocol.header",
    "gateway.protocol.acks",
    "gateway.protocol.replies",
    "gateway.protocol.commands",
    "gateway.protocol.subpackage",
    "gateway.protocol.message",
    "gateway.protocol.session",
    # What a handshake asks the auth backend, and its answer (one each per handshake).
    "gateway.auth.base",
    # What the hub carries (one LocationReported per report).
    "gateway.events",
    "gateway.hub",
    # The event log's blob format and its packer (every report, once, on the loop).
    "gateway.store.blob",
    "gateway.store.rows",
    # The stream's encoder of locations (every report, once): the one module above the core.
    "controlplane.location_wire",
    # The text of the log lines a handshake writes (two per handshake, made once per loop
    # iteration by the batching handler).
    "gateway.server.logline",
    # The terminal edge's connection: every chunk read and every handshake runs through it.
    "gateway.server.connection",
)
#: The mypyc runtime shared by the compiled modules (a module of its own).
NATIVE_GROUP: Final = "gateway.protocol._native"
PURE_ENV: Final = "JT808_PURE_PYTHON"
ROOT: Final = Path(__file__).resolve().parent.parent
NATIVE_MANIFEST: Final = ROOT / "gateway" / "protocol" / "native-manifest.json"


def source_path(module: str) -> Path:
    return ROOT.joinpath(*module.split(".")).with_suffix(".py")


def source_digests(modules: Sequence[str] = NATIVE_MODULES) -> dict[str, str]:
    return {m: hashlib.sha256(source_path(m).read_bytes()).hexdigest() for m in modules}


def compiled_available() -> bool:
    """Extension modules of the core are present next to the sources."""
    suffixes = importlib.machinery.EXTENSION_SUFFIXES
    module = source_path(NATIVE_MODULES[0])
    return any(module.with_suffix(suffix).exists() for suffix in suffixes)


def stale_modules() -> list[str]:
    """Modules whose source changed since they were compiled ([] without a manifest)."""
    try:
        recorded = json.loads(NATIVE_MANIFEST.read_text())
    except (OSError, ValueError):
        return []
    current = source_digests()
    return [m for m in NATIVE_MODULES if recorded.get(m) != current[m]]


class _SourceFirst:
    """Imports the listed modules from their ``.py`` source even where an extension exists.

    A finder only needs ``find_spec``; not subclassing ``importlib.abc.MetaPathFinder`` keeps
    ``importlib.abc`` (and the importlib.resources, tempfile, shutil, bz2, lzma and random it
    pulls in, ~0.5 MiB resident) out of every process that imports ``gateway``."""

    def find_spec(
        self,
        fullname: str,
        path: Sequence[str] | None,
        target: ModuleType | None = None,
    ) -> importlib.machinery.ModuleSpec | None:
        if fullname not in NATIVE_MODULES:
            return None
        return importlib.util.spec_from_file_location(fullname, source_path(fullname))


_FINDER: Final = _SourceFirst()


def install() -> None:
    """Decide, before the protocol core is imported, whether it runs compiled."""
    if _FINDER in sys.meta_path or not compiled_available():
        return
    reason = ""
    if os.environ.get(PURE_ENV, "") not in ("", "0"):
        reason = PURE_ENV
    else:
        stale = stale_modules()
        if stale:
            reason = "stale"
            warnings.warn(
                f"the compiled protocol core is older than its source ({', '.join(stale)}); "
                "running pure Python. Rebuild it with `make native`.",
                RuntimeWarning,
                stacklevel=2,
            )
    if reason:
        sys.meta_path.insert(0, _FINDER)


def running_compiled() -> bool:
    """The protocol core in use is the compiled one."""
    module = sys.modules.get(NATIVE_MODULES[-1])
    if module is None:
        module = importlib.import_module(NATIVE_MODULES[-1])
    return not str(getattr(module, "__file__", "")).endswith(".py")
