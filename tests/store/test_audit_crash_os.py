"""Issue 10's acceptance audit: ``--durability os`` promises what ``fsync`` does for a crash of
the process (README, Guarantees). A ``jt808 serve`` killed with SIGKILL under load and
started again gives back every report a terminal saw acknowledged, exactly once, with the
values sent; the restarted log numbers on above anything handed out before (2^24 higher: the
jump after an unclean stop without fsync)."""

from __future__ import annotations

from pathlib import Path

import anyio
import grpc.aio
import pytest

from gateway.server.config import HostPort
from gateway.store.sqlite_log import FLOOR_MARGIN
from jt808.gateway.v1 import gateway_service_pb2 as api
from jt808.gateway.v1 import gateway_service_pb2_grpc as api_grpc
from tests.server.harness import free_port
from tests.server.test_serve_command import clean_environment, serving
from tests.store.test_crash_recovery import (
    LOAD_S,
    TERMINALS,
    Acked,
    report_until_killed,
    stored_locations_up_to,
)
from tests.timeouts import HANG_GUARD

pytestmark = pytest.mark.anyio

Seen = list[tuple[int, str, int, float, float, float]]


async def resumed_locations(
    grpc_address: str, up_to: int = 0, *, after: int = 0, phone: str = ""
) -> Seen:
    """Locations of a stream resumed after ``after``, until one reaches sequence ``up_to`` or
    comes from ``phone``."""
    seen: Seen = []
    async with grpc.aio.insecure_channel(grpc_address) as channel:
        stub = api_grpc.GatewayServiceStub(channel)
        request = api.StreamLocationsRequest(after_sequence=after, max_batch=500)
        call = stub.StreamLocations(request)
        async for response in call:
            kind = response.WhichOneof("item")
            assert kind in ("locations", "location"), response  # never a gap
            items = response.locations.items if kind == "locations" else [response.location]
            seen += [(item.sequence, item.phone, item.serial, item.latitude, item.longitude,
                      item.speed_kmh) for item in items]  # fmt: skip
            if (up_to and seen[-1][0] >= up_to) or any(entry[1] == phone for entry in seen):
                break
        call.cancel()
    return seen


async def test_with_durability_os_every_acknowledged_report_survives_sigkill_exactly_once(
    tmp_path: Path,
) -> None:
    data_dir = tmp_path / "data"
    address = HostPort("127.0.0.1", free_port())
    grpc_address = f"127.0.0.1:{free_port()}"
    args = ("--listen", str(address), "--grpc-listen", grpc_address,
            "--auth", "insecure-accept-all", "--data-dir", str(data_dir),
            "--durability", "os")  # fmt: skip
    environment = clean_environment()
    acked: Acked = {}
    with anyio.fail_after(HANG_GUARD * 2):
        async with (
            serving(*args, environment=environment) as server,
            anyio.create_task_group() as terminals,
        ):
            for index in range(TERMINALS):
                terminals.start_soon(report_until_killed, address, index, acked)
            await anyio.sleep(LOAD_S)
            server.process.kill()  # SIGKILL: no shutdown, no flush
            await server.process.wait()
        assert len(acked) > TERMINALS
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

    sequences = [entry[0] for entry in seen]
    assert sequences == sorted(set(sequences))
    by_report: dict[tuple[str, int], list[tuple[float, float, float]]] = {}
    for _, phone, serial, latitude, longitude, speed in seen:
        by_report.setdefault((phone, serial), []).append((latitude, longitude, speed))
    for key, (latitude, longitude, speed) in acked.items():
        copies = by_report.get(key)
        assert copies is not None, f"acknowledged report {key} was lost"
        assert len(copies) == 1, f"acknowledged report {key} came back {len(copies)} times"
        got = copies[0]
        assert (round(got[0], 6), round(got[1], 6), got[2]) == (
            round(latitude, 6), round(longitude, 6), speed)  # fmt: skip
    first_new = next(entry for entry in newer if entry[1] == fresh_phone)
    assert first_new[0] > before + FLOOR_MARGIN
