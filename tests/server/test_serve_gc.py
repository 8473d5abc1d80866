"""A serving ``jt808 serve`` has frozen its start-up objects out of the cyclic collector's
sight and collects its youngest generation less often (``serve_command._settle_gc``)."""

from __future__ import annotations

import gc
import json
import sys
from pathlib import Path
from typing import Final

import pytest

from clients.serve_command import YOUNG_GC_THRESHOLD, _settle_gc

from .test_serve_footprint import output_at_exit

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
    output = await output_at_exit(SERVE_AND_SHOW_GC, tmp_path, "--durability", "memory")
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
