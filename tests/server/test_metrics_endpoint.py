"""The Prometheus endpoint (``metrics_listen``) of a running gateway, fetched over HTTP."""

from __future__ import annotations

import urllib.error
import urllib.request

import anyio
import anyio.to_thread
import pytest

from gateway.protocol import V2013, ResultCode
from gateway.protocol.ids import MessageId
from gateway.registry import Device
from gateway.server.config import HostPort
from tests.timeouts import HANG_GUARD

from .harness import StartGateway, address_of, free_port
from .terminal_client import TerminalClient

pytestmark = pytest.mark.anyio


async def fetch_metrics(address: HostPort) -> str:
    def get() -> str:
        url = f"http://127.0.0.1:{address.port}/metrics"
        with urllib.request.urlopen(url, timeout=HANG_GUARD) as response:
            assert response.status == 200
            text: str = response.read().decode()
            return text

    return await anyio.to_thread.run_sync(get)


def sample(text: str, name: str) -> float:
    """The value of the sample line ``name`` (with its labels) in the exposition ``text``."""
    for line in text.splitlines():
        if line.startswith(name + " "):
            return float(line.rsplit(" ", 1)[1])
    raise AssertionError(f"{name} not in the metrics")


async def test_metrics_endpoint_counts_messages_sessions_and_auth_calls(
    start_gateway: StartGateway, devices: tuple[Device, ...]
) -> None:
    metrics_address = HostPort("127.0.0.1", free_port())
    with anyio.fail_after(HANG_GUARD):
        async with (
            start_gateway(metrics_listen=metrics_address) as gateway,
            TerminalClient.connect(address_of(gateway), V2013) as terminal,
        ):
            await terminal.log_in()
            for _ in range(2):
                await terminal.send(terminal.terminal.location())
                await terminal.expect_general_response(
                    MessageId.LOCATION_REPORT, ResultCode.SUCCESS
                )
            await terminal.send(b"\x7e\x01\x02\x7e")  # too short for a header
            await terminal.send(terminal.terminal.heartbeat())
            await terminal.expect_general_response(MessageId.HEARTBEAT, ResultCode.SUCCESS)

            text = await fetch_metrics(metrics_address)

    assert sample(text, 'jt808_messages_in_total{msg_id="0x0200"}') == 2
    assert sample(text, 'jt808_messages_in_total{msg_id="0x0100"}') == 1
    assert sample(text, 'jt808_messages_in_total{msg_id="0x0002"}') == 1
    # 0x8001 answered 0x0102, 0x0200 twice and 0x0002
    assert sample(text, 'jt808_messages_out_total{msg_id="0x8001"}') == 4
    assert sample(text, 'jt808_messages_out_total{msg_id="0x8100"}') == 1
    assert sample(text, "jt808_connections") == 1
    assert sample(text, "jt808_connections_accepted_total") == 1
    assert sample(text, 'jt808_sessions{state="authenticated",version="2013"}') == 1
    assert sample(text, 'jt808_errors_total{kind="HeaderError"}') == 1
    assert sample(text, 'jt808_auth_seconds_count{operation="register",outcome="ok"}') == 1
    assert sample(text, 'jt808_auth_seconds_count{operation="authenticate",outcome="ok"}') == 1


async def test_metrics_endpoint_stops_with_the_gateway(
    start_gateway: StartGateway, devices: tuple[Device, ...]
) -> None:
    metrics_address = HostPort("127.0.0.1", free_port())
    with anyio.fail_after(HANG_GUARD):
        async with start_gateway(metrics_listen=metrics_address):
            await fetch_metrics(metrics_address)
        with pytest.raises(urllib.error.URLError):
            await fetch_metrics(metrics_address)
