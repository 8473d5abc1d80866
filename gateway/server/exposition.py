"""The gateway's metrics as a prometheus_client registry: imported only when one is needed
(``--metrics-listen``, TLS metrics registered beside the gateway's, tests), since
prometheus_client costs resident memory a gateway that is never scraped need not pay.

Two collectors, both read at scrape time: ``LiveCollector`` asks the gateway for what changes
with every message (the sessions keep plain integer counters), ``PlainCollector`` reads the
plain counters and histograms of ``gateway.server.plain_metrics``.
"""

from __future__ import annotations

import math
from collections import Counter as Tally
from collections.abc import Iterable, Iterator
from itertools import accumulate
from typing import TYPE_CHECKING

from prometheus_client import CollectorRegistry
from prometheus_client.core import (
    CounterMetricFamily,
    GaugeMetricFamily,
    HistogramMetricFamily,
    Metric,
)
from prometheus_client.registry import Collector

from gateway.store.base import StoreStatus

from .plain_metrics import PlainCounter, PlainHistogram, PlainMetric

if TYPE_CHECKING:
    from .metrics import LiveSource


def build_registry(source: LiveSource | None, metrics: Iterable[PlainMetric]) -> CollectorRegistry:
    registry = CollectorRegistry()
    if source is not None:
        registry.register(LiveCollector(source))
    registry.register(PlainCollector(tuple(metrics)))
    return registry


class PlainCollector(Collector):
    def __init__(self, metrics: tuple[PlainMetric, ...]) -> None:
        self.metrics = metrics

    def collect(self) -> Iterator[Metric]:
        for metric in self.metrics:
            labels = list(metric.labelnames)
            if isinstance(metric, PlainHistogram):
                bounds = [_bound(b) for b in metric.buckets]
                histogram = HistogramMetricFamily(metric.name, metric.documentation, labels=labels)
                # A snapshot (the loop may add a child while the scrape thread reads), in the order
                # the children were made, as prometheus_client lists them.
                for values, child in list(metric.children.items()):
                    cumulative = list(zip(bounds, accumulate(child.counts), strict=True))
                    histogram.add_metric(list(values), cumulative, child.sum)
                yield histogram
                continue
            kind = CounterMetricFamily if isinstance(metric, PlainCounter) else GaugeMetricFamily
            family = kind(metric.name, metric.documentation, labels=labels)
            for values, value in list(metric.children.items()):
                family.add_metric(list(values), value.value)
            yield family


def _bound(bound: float) -> str:
    """A bucket's ``le`` as prometheus_client writes it (``0.005``, ``1.0``, ``+Inf``)."""
    return "+Inf" if bound == math.inf else repr(float(bound))


class LiveCollector(Collector):
    def __init__(self, source: LiveSource) -> None:
        self.source = source

    def collect(self) -> Iterator[Metric]:
        source = self.source
        yield GaugeMetricFamily(
            "jt808_connections", "Terminal connections open now", value=source.open_connections()
        )
        sessions = GaugeMetricFamily(
            "jt808_sessions",
            "Terminal sessions by state and protocol revision",
            labels=["state", "version"],
        )
        for (state, version), count in sorted(Tally(source.session_states()).items()):
            sessions.add_metric([state, version], count)
        yield sessions
        counts_in, counts_out = source.message_counts()
        for name, documentation, counts in (
            ("jt808_messages_in", "Messages received from terminals", counts_in),
            ("jt808_messages_out", "Messages sent to terminals", counts_out),
        ):
            family = CounterMetricFamily(name, documentation, labels=["msg_id"])
            for msg_id, count in sorted(counts.items()):
                family.add_metric([f"0x{msg_id:04X}"], count)
            yield family
        yield from _store_metrics(source.store_status())


def _store_metrics(status: StoreStatus) -> Iterator[Metric]:
    for name, documentation, value in (
        ("jt808_log_healthy", "1 while the event log takes writes (0: acks are withheld)",
         int(status.healthy)),
        ("jt808_log_bytes", "Bytes the event log holds", status.size_bytes),
        ("jt808_log_oldest_sequence", "Oldest sequence the event log still holds (0: empty)",
         status.oldest_sequence),
        ("jt808_log_last_sequence", "Newest sequence stored", status.last_sequence),
        ("jt808_log_pending", "Events appended, waiting to be stored", status.pending),
    ):  # fmt: skip
        yield GaugeMetricFamily(name, documentation, value=value)
    yield CounterMetricFamily(
        "jt808_log_unstored_events",
        "Events that could not be stored (their terminals were not acknowledged)",
        value=status.unstored,
    )


__all__ = ["LiveCollector", "PlainCollector", "build_registry"]
