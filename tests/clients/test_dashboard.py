"""The dashboard's server: the fleet state it batches, and its HTTP/WebSocket API in front of a
real gateway with simulated terminals (the page itself is tested in a real browser in
test_dashboard_browser.py)."""

from __future__ import annotations

import base64
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

import aiohttp
import anyio
import pytest
from aiohttp import web

from clients.dashboard.fleet import TRACK_POINTS, Fleet
from clients.dashboard.server import Dashboard
from clients.sdk import GatewayClient
from jt808.gateway.v1 import gateway_service_pb2 as api
from jt808.gateway.v1 import location_pb2

# One event loop per module, as for the control-plane tests (grpc.aio completions).
from tests.controlplane.conftest import anyio_backend, one_event_loop  # noqa: F401
from tests.controlplane.harness import fleet, running_app

from .cli_process import run_cli

PHONE = "013800000000"


# --------------------------------------------------------------------------------------------
# Fleet: what changed, in batches


def location(phone: str, latitude: float, alarm: int = 0) -> location_pb2.Location:
    message = location_pb2.Location(
        phone=phone, device_name=f"D{phone}", latitude=latitude, longitude=114.0, speed_kmh=50,
        alarm_flags=alarm,
    )  # fmt: skip
    message.time.FromSeconds(1_700_000_000)
    return message


def test_many_positions_become_one_batch_with_the_latest_of_each_terminal() -> None:
    state = Fleet()
    for second in range(3):
        for index in range(2000):
            state.add_location(location(f"0138{index:08d}", 22.0 + second / 100))

    batch = state.take_changes()

    assert batch is not None and batch["type"] == "update"
    assert len(batch["terminals"]) == 2000
    first = next(t for t in batch["terminals"] if t["phone"] == "013800000000")
    assert first["lat"] == 22.02
    assert first["points"] == [[22.0, 114.0], [22.01, 114.0], [22.02, 114.0]]
    assert state.take_changes() is None  # nothing new since


def test_alarm_flags_are_words_and_tracks_are_bounded() -> None:
    state = Fleet()
    for step in range(TRACK_POINTS + 20):
        state.add_location(location(PHONE, 22.0 + step / 1000, alarm=0b11))

    [view] = state.snapshot()["terminals"]

    assert view["alarms"] == ["EMERGENCY", "OVERSPEED"]
    assert len(view["points"]) == TRACK_POINTS
    assert view["points"][-1] == [round(22.0 + (TRACK_POINTS + 19) / 1000, 6), 114.0]


def test_events_and_session_lists_say_who_is_online() -> None:
    state = Fleet()
    state.add_location(location(PHONE, 22.0))
    state.add_event(api.Event(kind=api.EVENT_KIND_DISCONNECTED, phone=PHONE))
    offline = state.terminals[PHONE].online
    state.sync_sessions([api.Session(phone="013800000001", device_name="SIM_X_1")])

    assert offline is False
    assert state.terminals["013800000001"].online is True
    assert state.terminals["013800000001"].device_name == "SIM_X_1"


def test_the_fleet_forgets_the_oldest_offline_terminal_when_full() -> None:
    state = Fleet(max_terminals=2)
    state.add_location(location("1", 1.0))
    state.add_event(api.Event(kind=api.EVENT_KIND_DISCONNECTED, phone="1"))
    state.add_location(location("2", 2.0))
    state.add_location(location("3", 3.0))

    assert sorted(state.terminals) == ["2", "3"]


# --------------------------------------------------------------------------------------------
# The server in front of a gateway


@asynccontextmanager
async def dashboard_for(target: str, **options: Any) -> AsyncIterator[str]:
    """A dashboard on 127.0.0.1 (port chosen by the OS) following ``target``; yields its URL."""
    async with GatewayClient(target) as client:
        dashboard = Dashboard(client, flush_interval=0.1, sessions_interval=1.0, **options)
        runner = web.AppRunner(dashboard.application(), handle_signals=False)
        await runner.setup()
        site = web.TCPSite(runner, "127.0.0.1", 0)
        await site.start()
        port = runner.addresses[0][1]
        try:
            yield f"http://127.0.0.1:{port}"
        finally:
            await runner.cleanup()


async def wait_for_terminals(http: aiohttp.ClientSession, url: str, count: int) -> list[Any]:
    with anyio.fail_after(20):
        while True:
            async with http.get(f"{url}/api/terminals") as response:
                terminals: list[Any] = (await response.json())["terminals"]
            if len([t for t in terminals if t["lat"] is not None]) >= count:
                return terminals
            await anyio.sleep(0.05)


@pytest.mark.anyio
async def test_the_page_gets_a_snapshot_then_batched_updates(tmp_path: Path) -> None:
    async with (
        running_app(tmp_path) as app,
        fleet(app, terminals=2, rate=5.0),
        dashboard_for(app.grpc_target) as url,
        aiohttp.ClientSession() as http,
    ):
        await wait_for_terminals(http, url, 2)
        async with http.get(f"{url}/") as page:
            html = await page.text()
        async with http.ws_connect(f"{url}/api/live") as socket:
            with anyio.fail_after(20):
                snapshot = await socket.receive_json()
                update = await socket.receive_json()

    assert "<title>jt808 dashboard</title>" in html
    assert snapshot["type"] == "snapshot"
    assert {t["phone"] for t in snapshot["terminals"]} == {PHONE, "013800000001"}
    assert snapshot["gateway_problem"] == ""
    assert update["type"] == "update"
    assert update["terminals"] and all(t["online"] for t in update["terminals"])


@pytest.mark.anyio
async def test_commands_from_the_page_reach_the_terminal(tmp_path: Path) -> None:
    async with (
        running_app(tmp_path) as app,
        fleet(app, terminals=1) as simulation,
        dashboard_for(app.grpc_target) as url,
        aiohttp.ClientSession() as http,
    ):
        await wait_for_terminals(http, url, 1)
        async with http.post(f"{url}/api/terminals/{PHONE}/text", json={"text": "hi"}) as sent:
            text = (sent.status, await sent.json())
        async with http.post(f"{url}/api/terminals/{PHONE}/query-location", json={}) as asked:
            where = (asked.status, await asked.json())
        async with http.post(f"{url}/api/terminals/013999999999/text", json={"text": "x"}) as gone:
            absent = (gone.status, await gone.json())
        async with http.post(f"{url}/api/terminals/{PHONE}/text", data="text=hi") as form:
            not_json = form.status
        async with http.post(
            f"{url}/api/terminals/{PHONE}/text", json={"text": "x"},
            headers={"Origin": "http://evil.example"},
        ) as foreign:  # fmt: skip
            cross_origin = foreign.status
        answered = simulation.stats.commands_answered

    assert text == (200, {"result": "success", "reply": text[1]["reply"]})
    assert where[0] == 200 and where[1]["location"]["phone"] == PHONE
    assert absent[0] == 404 and "not connected" in absent[1]["error"]
    assert (not_json, cross_origin) == (415, 403)
    assert answered == 2  # the text and the location query, nothing else


@pytest.mark.anyio
async def test_an_unreachable_gateway_is_shown_not_fatal() -> None:
    async with dashboard_for("127.0.0.1:9") as url, aiohttp.ClientSession() as http:
        with anyio.fail_after(20):
            while True:
                async with http.get(f"{url}/api/terminals") as response:
                    problem = (await response.json())["gateway_problem"]
                if "cannot reach the gateway" in problem:
                    break
                await anyio.sleep(0.05)


@pytest.mark.anyio
async def test_a_password_protects_every_route() -> None:
    async with (
        dashboard_for("127.0.0.1:9", password="pw") as url,
        aiohttp.ClientSession() as http,
    ):
        async with http.get(f"{url}/") as without:
            refused = without.status
        good = "Basic " + base64.b64encode(b"anyone:pw").decode()
        async with http.get(f"{url}/api/config", headers={"Authorization": good}) as allowed:
            config = await allowed.json()

    assert refused == 401
    assert config == {"tiles": None, "gateway": "127.0.0.1:9"}


@pytest.mark.anyio
async def test_listening_beyond_loopback_needs_a_password() -> None:
    result = await run_cli("dashboard", "--listen", "0.0.0.0:18080")

    assert result.returncode == 2
    assert len(result.stderr.splitlines()) == 1
    assert "--password" in result.stderr
