"""Issue 10's acceptance audit: ``--durability os`` promises what ``fsync`` does for a crash of
the process (README, Guarantees). A ``jt808 serve`` killed with SIGKILL under load and
started again gives back every report a terminal saw acknowledged, exactly once, with the
values sent; the restarted log numbers on above anything handed out before (2^24 higher: the
jump after an unclean stop without fsync)."""

from __future__ import annotations

from pathlib import Path

import anyio
import pytest

from gateway.server.config import HostPort
from gateway.store.sqlite_log import FLOOR_MARGIN
from tests.server.harness import free_port
from tests.server.test_serve_command import clean_environment, serving
from tests.store.test_crash_recovery import (
    TERMINALS,
    Acked,
    assert_each_acked_report_once,
    kill_under_load,
    report_until_killed,
    resumed_locations,
    serve_args,
    stored_locations_up_to,
)
from tests.timeouts import HANG_GUARD

pytestmark = pytest.mark.anyio


async def test_with_durability_os_every_acknowledged_report_survives_sigkill_exactly_once(
    tmp_path: Path,
) -> None:
    data_dir = tmp_path / "data"
    address = HostPort("127.0.0.1", free_port())
    grpc_address = f"127.0.0.1:{free_port()}"
    args = serve_args(address, grpc_address, data_dir, "os")
    environment = clean_environment()
    acked: Acked = {}
    with anyio.fail_after(HANG_GUARD * 2):
        await kill_under_load(address, args, environment, acked)
        before = stored_locations_up_to(data_dir)
        async with serving(*args, environment=environment):
            seen = await resumed_locations(grpc_address, before)
            # A report now is numbered above anything the killed gateway may have handed out.
            fresh: Acked = {}
            async with anyio.create_task_group() as terminals:
                terminals.start_soon(report_until_killed, address, TERMINALS, fresh)
                while not fresh:
                    await anyio.sleep(0.01)
                terminals.cancel_scope.cancel()
            fresh_phone = next(iter(fresh))[0]
            newer = await resumed_locations(grpc_address, after=before, phone=fresh_phone)

    assert_each_acked_report_once(acked, seen)
    first_new = next(entry for entry in newer if entry[1] == fresh_phone)
    assert first_new[0] > before + FLOOR_MARGIN
