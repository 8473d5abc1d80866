"""The real-frame vectors, loaded once for every test module that uses them.

``vectors/real-frames.json`` is our copy of ``shared/vectors/real-frames.json`` (frames captured
by other projects, with the values their authors assert), kept in the repository so the suite
runs anywhere; ``test_real_frames`` checks the copy against shared/ whenever shared/ is present.
"""

from __future__ import annotations

import json
from functools import cache
from pathlib import Path
from typing import Any, Final

VECTORS_PATH: Final = Path(__file__).parent / "vectors" / "real-frames.json"
#: Where the project's shared material sits beside a clone of this repository.
SHARED_VECTORS_PATH: Final = (
    Path(__file__).resolve().parents[3] / "shared" / "vectors" / "real-frames.json"
)


@cache
def _load() -> tuple[dict[str, Any], ...]:
    return tuple(json.loads(VECTORS_PATH.read_text(encoding="utf-8")))


def real_frames() -> list[dict[str, Any]]:
    """Every vector, in file order."""
    return list(_load())


def real_frames_by_id() -> dict[str, dict[str, Any]]:
    return {vector["id"]: vector for vector in _load()}


def real_frame_bytes(vector_id: str) -> bytes:
    """The bytes of one vector's hex (a whole frame, for the vectors of kind ``frame``)."""
    hex_text: str = real_frames_by_id()[vector_id]["hex"]
    return bytes.fromhex(hex_text)
