"""Real disk faults for the tests: a data dir on a small tmpfs that a test fills, frees or
remounts read-only (mounting needs root, as CI has; without it the test is skipped)."""

from __future__ import annotations

import errno
import os
import subprocess
from collections.abc import AsyncIterator, Iterator
from contextlib import asynccontextmanager, contextmanager
from pathlib import Path

import pytest

from tests.timeouts import HANG_GUARD

#: For ``pytest.mark.skipif``: mounting needs root.
NOT_ROOT = os.geteuid() != 0
_FILLER = "filler"


@contextmanager
def tmpfs(path: Path, size: str) -> Iterator[Path]:
    """``path`` (created) as the mount point of a tmpfs of ``size``, unmounted afterwards."""
    path.mkdir(parents=True)
    mounted = subprocess.run(
        ["mount", "-t", "tmpfs", "-o", f"size={size}", "tmpfs", str(path)],
        capture_output=True, text=True, check=False, timeout=HANG_GUARD,
    )  # fmt: skip
    if mounted.returncode != 0:
        pytest.skip(f"cannot mount a tmpfs here: {mounted.stderr.strip()}")
    try:
        yield path
    finally:
        subprocess.run(["umount", "-l", str(path)], check=False, timeout=HANG_GUARD)


@asynccontextmanager
async def small_tmpfs(path: Path, size: str) -> AsyncIterator[Path]:
    with tmpfs(path, size) as mounted:
        yield mounted


def remount(path: Path, options: str) -> None:
    subprocess.run(["mount", "-o", f"remount,{options}", str(path)], check=True, timeout=HANG_GUARD)


def fill(mount: Path) -> None:
    """Take every free byte of the tmpfs at ``mount`` (``free`` gives them back)."""
    with (mount / _FILLER).open("ab", buffering=0) as filler:
        for size in (1 << 16, 4096, 1):  # big blocks, then the rest of the last page
            block = bytes(size)
            try:
                while True:
                    filler.write(block)
            except OSError as error:
                if error.errno != errno.ENOSPC:
                    raise


def free(mount: Path) -> None:
    (mount / _FILLER).unlink()
