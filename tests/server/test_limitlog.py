"""Limit hits are counted every time and logged once per burst (a reminder while it lasts)."""

from __future__ import annotations

import logging

import pytest
from prometheus_client import CollectorRegistry, Counter

from gateway.server.limitlog import LimitLog
from gateway.server.logs import LOGGER_NAME


def test_a_burst_is_one_line_with_reminders_and_the_next_burst_says_how_big_the_last_was(
    caplog: pytest.LogCaptureFixture,
) -> None:
    caplog.set_level(logging.INFO, logger=LOGGER_NAME)
    registry = CollectorRegistry()
    counter = Counter("hits", "", ["limit"], registry=registry)
    now = [0.0]
    limits = LimitLog(counter, lambda: now[0], quiet=10.0, remind=60.0)
    for second in range(100):  # a hit every second for 100 s: one burst
        now[0] = float(second)
        limits.hit("max_connections", "connection refused", address="10.0.0.1")
    now[0] = 200.0  # quiet for 100 s: a new burst
    limits.hit("max_connections", "connection refused", address="10.0.0.2")
    limits.hit("idle_timeout", "closed")  # each limit has bursts of its own

    lines = [(r.getMessage(), getattr(r, "limit", ""), getattr(r, "hits", None),
              getattr(r, "previous_burst_hits", None)) for r in caplog.records]  # fmt: skip
    assert lines == [
        ("connection refused", "max_connections", None, None),
        ("limit still being hit", "max_connections", 61, None),
        ("connection refused", "max_connections", None, 100),
        ("closed", "idle_timeout", None, None),
    ]
    assert registry.get_sample_value("hits_total", {"limit": "max_connections"}) == 101
    assert limits.hits("max_connections") == 1
