"""Counters, gauges and histograms kept as plain numbers, exported only when scraped.

prometheus_client, with the HTTP server, email and urllib modules it imports, costs a gateway
about 4 MiB of resident memory, and most gateways are never scraped (``--metrics-listen`` is
off by default). These classes count what the gateway's ``prometheus_client`` metrics counted,
with the same ``labels(...).inc()`` / ``observe()`` calls; ``gateway.server.exposition`` turns
them into Prometheus families when a registry is first asked for (a scrape, a test).
"""

from __future__ import annotations

import math
from bisect import bisect_left
from typing import Final, Generic, TypeVar

#: prometheus_client's default histogram buckets (upper bounds, +Inf last).
DEFAULT_BUCKETS: Final = (
    0.005, 0.01, 0.025, 0.05, 0.075, 0.1, 0.25, 0.5, 0.75, 1.0, 2.5, 5.0, 7.5, 10.0, math.inf,
)  # fmt: skip


class Value:
    """One counter or gauge (one set of label values)."""

    __slots__ = ("value",)

    def __init__(self) -> None:
        self.value = 0.0

    def inc(self, amount: float = 1.0) -> None:
        self.value += amount

    def dec(self, amount: float = 1.0) -> None:
        self.value -= amount


class Distribution:
    """One histogram (one set of label values): a count per bucket, and the sum."""

    __slots__ = ("bounds", "counts", "sum")

    def __init__(self, bounds: tuple[float, ...]) -> None:
        self.bounds = bounds
        self.counts = [0] * len(bounds)  # not cumulative: the exposition adds them up
        self.sum = 0.0

    def observe(self, amount: float) -> None:
        self.sum += amount
        self.counts[bisect_left(self.bounds, amount)] += 1  # the first bound >= amount


Child = TypeVar("Child", Value, Distribution)


class _Family(Generic[Child]):
    """A metric with its children by label values (an unlabelled one has one child, ``()``)."""

    def __init__(self, name: str, documentation: str, labelnames: tuple[str, ...]) -> None:
        self.name = name
        self.documentation = documentation
        self.labelnames = labelnames
        self.children: dict[tuple[str, ...], Child] = {}
        if not labelnames:
            self.children[()] = self._child()

    def _child(self) -> Child:
        raise NotImplementedError

    def labels(self, *values: str) -> Child:
        if len(values) != len(self.labelnames):
            raise ValueError(f"{self.name} takes labels {self.labelnames}, not {values}")
        child = self.children.get(values)
        if child is None:
            child = self.children[values] = self._child()
        return child

    def _only(self) -> Child:
        if self.labelnames:
            raise ValueError(f"{self.name} has labels {self.labelnames}: use labels()")
        return self.children[()]


class PlainCounter(_Family[Value]):
    def __init__(self, name: str, documentation: str, labelnames: tuple[str, ...] = ()) -> None:
        super().__init__(name, documentation, labelnames)

    def _child(self) -> Value:
        return Value()

    def inc(self, amount: float = 1.0) -> None:
        if amount < 0:
            raise ValueError("a counter only goes up")
        self._only().value += amount  # not Value.inc: one call fewer (one per connection)


class PlainGauge(_Family[Value]):
    def __init__(self, name: str, documentation: str, labelnames: tuple[str, ...] = ()) -> None:
        super().__init__(name, documentation, labelnames)

    def _child(self) -> Value:
        return Value()

    def inc(self, amount: float = 1.0) -> None:
        self._only().inc(amount)

    def dec(self, amount: float = 1.0) -> None:
        self._only().dec(amount)


class PlainHistogram(_Family[Distribution]):
    def __init__(
        self,
        name: str,
        documentation: str,
        labelnames: tuple[str, ...] = (),
        buckets: tuple[float, ...] = DEFAULT_BUCKETS,
    ) -> None:
        if list(buckets) != sorted(buckets) or buckets[-1] != math.inf:
            raise ValueError("buckets must be sorted and end with +Inf")
        self.buckets = buckets
        super().__init__(name, documentation, labelnames)

    def _child(self) -> Distribution:
        return Distribution(self.buckets)

    def observe(self, amount: float) -> None:
        self._only().observe(amount)


PlainMetric = PlainCounter | PlainGauge | PlainHistogram
