"""The promise of an acknowledgement, with real processes: a ``jt808 serve`` killed with
SIGKILL while terminals report, then started again on the same data dir, gives back every
report any terminal saw acknowledged, exactly once and with the values sent, through a stream
resumed with ``after_sequence``."""

from __future__ import annotations

from pathlib import Path
from typing import Final

import anyio
import grpc.aio
import pytest

from gateway.protocol.bodies.general import PlatformGeneralResponse
from gateway.protocol.ids import MessageId
from gateway.protocol.versions import V2013
from gateway.server.config import HostPort
from jt808.gateway.v1 import gateway_service_pb2 as api
from jt808.gateway.v1 import gateway_service_pb2_grpc as api_grpc
from tests.server.harness import free_port
from tests.server.terminal_client import TerminalClient
from tests.server.test_serve_command import clean_environment, serving
from tests.store.stored import stored_locations
from tests.timeouts import HANG_GUARD

pytestmark = pytest.mark.anyio

TERMINALS: Final = 8
#: How long the terminals report before the gateway is killed (seconds).
LOAD_S: Final = 1.5
#: (phone, serial) -> (latitude, longitude, speed) of every report the gateway acknowledged.
Acked = dict[tuple[str, int], tuple[float, float, float]]


async def report_until_killed(address: HostPort, index: int, acked: Acked) -> None:
    """Log in, then send reports one after another, noting each acknowledged one, until the
    gateway goes away."""
    phone = f"0139{index:08d}"
    try:
        async with TerminalClient.connect(address, V2013, phone=phone) as client:
            await client.log_in(terminal_id=f"T{index}")
            for count in range(1, 1_000_000):
                values = (22.5 + index / 100 + count / 1e6, 114.0 + count / 1e6, count % 200)
                await client.send(client.terminal.location(
                    latitude=values[0], longitude=values[1], speed=float(values[2])))  # fmt: skip
                serial = client.terminal.last_serial
                _, body = await client.expect(PlatformGeneralResponse)
                assert (body.reply_id, body.reply_serial) == (MessageId.LOCATION_REPORT, serial)
                acked[(phone, serial)] = values
    except (AssertionError, OSError, anyio.BrokenResourceError, anyio.EndOfStream):
        return  # the gateway was killed under this terminal


def stored_locations_up_to(data_dir: Path) -> int:
    rows = stored_locations(data_dir)
    return rows[-1][0] if rows else 0


Seen = list[tuple[int, str, int, float, float, float]]


def serve_args(
    address: HostPort, grpc_address: str, data_dir: Path, durability: str
) -> tuple[str, ...]:
    """``jt808 serve``'s arguments for a crash test: every terminal let in."""
    return ("--listen", str(address), "--grpc-listen", grpc_address,
            "--auth", "insecure-accept-all", "--data-dir", str(data_dir),
            "--durability", durability)  # fmt: skip


async def kill_under_load(
    address: HostPort, args: tuple[str, ...], environment: dict[str, str], acked: Acked
) -> None:
    """``jt808 serve args`` (its terminals at ``address``) with terminals reporting, killed
    with SIGKILL after ``LOAD_S``."""
    async with (
        serving(*args, environment=environment) as server,
        anyio.create_task_group() as terminals,
    ):
        for index in range(TERMINALS):
            terminals.start_soon(report_until_killed, address, index, acked)
        await anyio.sleep(LOAD_S)
        server.process.kill()  # SIGKILL: no shutdown, no flush
        await server.process.wait()
    assert len(acked) > TERMINALS  # the terminals were reporting when it died


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


def assert_each_acked_report_once(acked: Acked, seen: Seen) -> None:
    """Every acknowledged report is in ``seen`` once, with the values sent; in order."""
    sequences = [entry[0] for entry in seen]
    assert sequences == sorted(set(sequences))  # in order, none twice
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


@pytest.mark.parametrize("writer", ["thread", "process"])
async def test_every_acknowledged_report_survives_sigkill_exactly_once(
    tmp_path: Path, writer: str
) -> None:
    # Either writer (``JT808_LOG_WRITER``): a writer process outlives its gateway by at most
    # the commit it was in, and the restarted gateway's writer waits for the file's lock.
    environment = clean_environment(JT808_LOG_WRITER=writer)
    data_dir = tmp_path / "data"
    address = HostPort("127.0.0.1", free_port())
    grpc_address = f"127.0.0.1:{free_port()}"
    args = serve_args(address, grpc_address, data_dir, "fsync")
    acked: Acked = {}
    with anyio.fail_after(HANG_GUARD * 2):
        await kill_under_load(address, args, environment, acked)
        async with serving(*args, environment=environment):
            seen = await resumed_locations(grpc_address, stored_locations_up_to(data_dir))
    assert_each_acked_report_once(acked, seen)
