"""Bounded statistics for the simulator: a latency histogram and the run's counters.

A load run can see millions of acknowledgements; keeping every latency would grow without
limit. ``LatencyHistogram`` keeps counts in logarithmic buckets instead (about 1 050 of them,
each 2 % wider than the last, from 1 µs to 1 000 s), so a percentile is exact to within 2 %
whatever the number of samples, and histograms of many terminals merge by adding counts.
"""

from __future__ import annotations

import dataclasses
import math
from dataclasses import dataclass, field
from typing import Final

#: Smallest and largest latency the buckets resolve (seconds); outside, the edge buckets.
MIN_LATENCY_S: Final = 1e-6
MAX_LATENCY_S: Final = 1e3
GROWTH: Final = 1.02
_LOG_GROWTH: Final = math.log(GROWTH)
BUCKETS: Final = math.ceil(math.log(MAX_LATENCY_S / MIN_LATENCY_S) / _LOG_GROWTH) + 1


class LatencyHistogram:
    """Counts of latencies in logarithmic buckets; exact count, sum, minimum and maximum."""

    __slots__ = ("_counts", "count", "maximum", "minimum", "total")

    def __init__(self) -> None:
        self._counts = [0] * BUCKETS
        self.count = 0
        self.total = 0.0
        self.minimum = math.inf
        self.maximum = 0.0

    def add(self, seconds: float) -> None:
        seconds = max(0.0, seconds)
        self._counts[_bucket(seconds)] += 1
        self.count += 1
        self.total += seconds
        self.minimum = min(self.minimum, seconds)
        self.maximum = max(self.maximum, seconds)

    def merge(self, other: LatencyHistogram) -> None:
        for index, count in enumerate(other._counts):
            if count:
                self._counts[index] += count
        self.count += other.count
        self.total += other.total
        self.minimum = min(self.minimum, other.minimum)
        self.maximum = max(self.maximum, other.maximum)

    @property
    def mean(self) -> float:
        return self.total / self.count if self.count else 0.0

    def percentile(self, q: float) -> float:
        """The latency at or under which ``q`` percent of the samples fall (0 with no samples).

        The answer is the upper edge of the bucket holding that sample, clamped to the observed
        minimum and maximum, so it is never more than 2 % above the true value; 0 and 100 give
        the exact minimum and maximum.
        """
        if not 0.0 <= q <= 100.0:
            raise ValueError("q is a percentage, 0..100")
        if not self.count:
            return 0.0
        if q == 0.0:
            return self.minimum
        rank = max(1, math.ceil(q / 100.0 * self.count))
        if rank >= self.count:
            return self.maximum
        seen = 0
        for index, count in enumerate(self._counts):
            seen += count
            if seen >= rank:
                return min(self.maximum, max(self.minimum, _upper_edge(index)))
        return self.maximum  # pragma: no cover - the counts add up to ``count``

    def summary_ms(self) -> dict[str, float]:
        """p50/p90/p99/max/mean in milliseconds (rounded to µs), for reports."""
        return {
            "p50": _ms(self.percentile(50)),
            "p90": _ms(self.percentile(90)),
            "p99": _ms(self.percentile(99)),
            "max": _ms(self.maximum),
            "mean": _ms(self.mean),
        }


def _bucket(seconds: float) -> int:
    if seconds <= MIN_LATENCY_S:
        return 0
    index = math.ceil(math.log(seconds / MIN_LATENCY_S) / _LOG_GROWTH)
    return min(BUCKETS - 1, index)


def _upper_edge(index: int) -> float:
    return float(MIN_LATENCY_S * GROWTH**index)


def _ms(seconds: float) -> float:
    return round(seconds * 1000.0, 3)


@dataclass(slots=True)
class RunStats:
    """What a simulation run did, summed over its terminals (the runner's single writer)."""

    terminals: int = 0
    connect_attempts: int = 0
    connected: int = 0  # terminals that connected at least once
    registered: int = 0
    authenticated: int = 0  # terminals that authenticated at least once
    online: int = 0  # authenticated right now
    finished: int = 0
    reconnects: int = 0
    messages_sent: int = 0
    frames_sent: int = 0
    bytes_sent: int = 0
    bytes_received: int = 0
    reports_sent: int = 0
    reports_acked: int = 0
    report_messages_sent: int = 0
    report_messages_acked: int = 0
    heartbeats_sent: int = 0
    heartbeats_acked: int = 0
    uploads_started: int = 0
    uploads_completed: int = 0
    commands_answered: int = 0
    latency: LatencyHistogram = field(default_factory=LatencyHistogram)
    errors: dict[str, int] = field(default_factory=dict)

    def merge(self, other: RunStats) -> None:
        """Add ``other``'s counts (a run split over processes is summed this way)."""
        for name in _COUNTERS:
            setattr(self, name, getattr(self, name) + getattr(other, name))
        self.latency.merge(other.latency)
        for kind, count in other.errors.items():
            self.error(kind, count)

    def error(self, kind: str, count: int = 1) -> None:
        self.errors[kind] = self.errors.get(kind, 0) + count

    @property
    def error_count(self) -> int:
        return sum(self.errors.values())


#: The integer counters of ``RunStats`` (all its fields but the histogram and the errors).
_COUNTERS: Final = tuple(
    f.name for f in dataclasses.fields(RunStats) if f.name not in {"latency", "errors"}
)

__all__ = ["BUCKETS", "GROWTH", "LatencyHistogram", "RunStats"]
