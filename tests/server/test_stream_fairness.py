"""Stalled stream subscribers cost only themselves: a fast subscriber beside ten stalled ones
gets every position, the terminal every ack, and the drops are counted and logged once per
burst, not once per item."""

from __future__ import annotations

import logging

import anyio
import pytest

from gateway.hub import Gap, LocationReported
from gateway.protocol import V2013, ResultCode
from gateway.protocol.ids import MessageId
from gateway.server.gateway import Gateway
from gateway.server.logs import LOGGER_NAME
from tests.timeouts import HANG_GUARD

from .harness import address_of, metric
from .terminal_client import TerminalClient

pytestmark = pytest.mark.anyio

REPORTS = 2000
STALLED = 10
STALLED_QUEUE = 16


async def test_stalled_subscribers_cost_a_fast_one_nothing_and_drops_are_logged_once(
    gateway: Gateway, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.INFO, logger=LOGGER_NAME)
    hub = gateway.hub
    stalled = [
        hub.subscribe(terminal_events=False, max_queue=STALLED_QUEUE) for _ in range(STALLED)
    ]
    received: list[LocationReported | Gap] = []
    with anyio.fail_after(HANG_GUARD), hub.subscribe(terminal_events=False) as fast:

        async def read_fast() -> None:
            async for item in fast:
                if isinstance(item, Gap | LocationReported):
                    received.append(item)
                if len(received) >= REPORTS:
                    return

        async with (
            anyio.create_task_group() as tasks,
            TerminalClient.connect(address_of(gateway), V2013) as terminal,
        ):
            tasks.start_soon(read_fast)
            await terminal.log_in()
            for _ in range(REPORTS // 100):  # writes of 100 reports, each acked
                await terminal.send(*(terminal.terminal.location() for _ in range(100)))
                for _ in range(100):
                    await terminal.expect_general_response(
                        MessageId.LOCATION_REPORT, ResultCode.SUCCESS
                    )
    for subscription in stalled:
        assert subscription.dropped == REPORTS - STALLED_QUEUE
        subscription.close()
    assert not any(isinstance(item, Gap) for item in received)
    assert len(received) == REPORTS
    assert metric(gateway, "jt808_hub_dropped_total") == STALLED * (REPORTS - STALLED_QUEUE)
    fell_behind = [r for r in caplog.records if "fell behind" in r.getMessage()]
    assert len(fell_behind) == 1
