"""The compiled protocol core and the pure-Python one behave the same.

``make test`` builds the compiled core first (``make native``), so in CI the first run below is
the compiled core; ``JT808_PURE_PYTHON=1`` forces the other. Both must write the same transcript
(``tests/native_transcript.py``): every event, every byte, every decoded real frame.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from gateway import native

from .timeouts import HANG_GUARD

ROOT = Path(__file__).resolve().parent.parent


def transcript(**env: str) -> dict[str, Any]:
    result = subprocess.run(
        [sys.executable, "-m", "tests.native_transcript"],
        cwd=ROOT,
        env={**os.environ, **env},
        capture_output=True,
        text=True,
        timeout=HANG_GUARD,
        check=True,
    )
    summary: dict[str, Any] = json.loads(result.stdout)
    return summary


@pytest.mark.skipif(
    not native.compiled_available(), reason="no compiled core here: run `make native`"
)
def test_compiled_and_pure_cores_write_the_same_transcript() -> None:
    compiled = transcript(JT808_PURE_PYTHON="0")
    pure = transcript(JT808_PURE_PYTHON="1")

    assert compiled["compiled"] is True, "the build is stale: run `make native`"
    assert pure["compiled"] is False
    assert compiled["lines"] > 300
    assert (compiled["sha256"], compiled["lines"]) == (pure["sha256"], pure["lines"])


def test_a_source_changed_since_the_build_is_reported_stale(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    manifest = tmp_path / "native-manifest.json"
    digests = native.source_digests()
    digests["gateway.protocol.session"] = "0" * 64
    manifest.write_text(json.dumps(digests))
    monkeypatch.setattr(native, "NATIVE_MANIFEST", manifest)

    assert native.stale_modules() == ["gateway.protocol.session"]


def test_without_a_manifest_nothing_is_stale(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(native, "NATIVE_MANIFEST", tmp_path / "absent.json")
    assert native.stale_modules() == []
