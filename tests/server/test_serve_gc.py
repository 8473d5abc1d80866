"""A serving ``jt808 serve`` has frozen its start-up objects out of the cyclic collector's
sight and collects its youngest generation less often (``serve_command._settle_gc``)."""

from __future__ import annotations

import gc
import json
import signal
import subprocess
import sys
from pathlib import Path
from typing import Final

import anyio
import pytest

from clients.serve_command import YOUNG_GC_THRESHOLD, _settle_gc
from gateway.server.config import HostPort
from tests.timeouts import HANG_GUARD

from .harness import free_port
from .test_serve_command import serving

#: ``jt808 serve`` through the real entry point; at exit it prints the collector's settings.
SERVE_AND_SHOW_GC: Final = (
    sys.executable,
    "-c",
    "import atexit, gc, json, sys\n"
    "atexit.register(lambda: print(json.dumps([gc.get_threshold(), gc.get_freeze_count()]),"
    " flush=True))\n"
    "from clients.cli import main\n"
    "sys.exit(main(sys.argv[1:]))\n",
    "serve",
)


@pytest.mark.anyio
async def test_a_serving_gateway_has_frozen_its_start_up_and_collects_less_often(
    tmp_path: Path,
) -> None:
    address = HostPort("127.0.0.1", free_port())
    with anyio.fail_after(HANG_GUARD):
        async with serving(
            "--listen", str(address), "--auth", "insecure-accept-all", "--durability", "memory",
            "--data-dir", str(tmp_path / "data"),
            command=SERVE_AND_SHOW_GC, stdout=subprocess.PIPE,
        ) as server:  # fmt: skip
            server.process.send_signal(signal.SIGTERM)
            assert await server.process.wait() == 0
            assert server.process.stdout is not None
            output = b"".join([chunk async for chunk in server.process.stdout])
    threshold, frozen = json.loads(output)
    assert threshold[0] == YOUNG_GC_THRESHOLD
    assert threshold[1:] == list(gc.get_threshold()[1:])  # older generations as they were
    assert frozen > 10_000  # modules, functions, descriptors: everything start-up made


def test_settling_keeps_the_older_generations_thresholds() -> None:
    before = gc.get_threshold()
    try:
        _settle_gc()
        assert gc.get_threshold() == (YOUNG_GC_THRESHOLD, *before[1:])
        assert gc.get_freeze_count() > 0
    finally:
        gc.unfreeze()
        gc.set_threshold(*before)
