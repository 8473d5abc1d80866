"""Limit hits: every one counted (``jt808_limit_hits_total{limit}``), logged once per burst.

Under a flood a limit trips thousands of times a second; a line for each would turn the log
into the attacker's amplifier. A burst starts with the first hit after ``quiet`` seconds
without one and is logged then (with how many hits the previous burst had); while it lasts, a
reminder line every ``remind`` seconds says how many hits it has had so far.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Final, Protocol

from .logs import get_logger

#: Seconds without a hit that end a burst; seconds between the lines of one long burst.
QUIET: Final = 10.0
REMIND: Final = 60.0
log = get_logger()


class _Counter(Protocol):
    def labels(self, limit: str) -> _Child: ...


class _Child(Protocol):
    def inc(self) -> None: ...


@dataclass(slots=True)
class _Burst:
    started: float
    last: float
    logged: float
    hits: int


class LimitLog:
    def __init__(
        self,
        counter: _Counter,
        clock: Callable[[], float],
        *,
        quiet: float = QUIET,
        remind: float = REMIND,
    ) -> None:
        self._counter = counter
        self._clock = clock
        self._quiet = quiet
        self._remind = remind
        self._bursts: dict[str, _Burst] = {}

    def hit(self, limit: str, message: str, **fields: object) -> None:
        """Count a hit of ``limit``; log ``message`` with ``fields`` if it starts a burst."""
        self._counter.labels(limit).inc()
        now = self._clock()
        burst = self._bursts.get(limit)
        if burst is None or now - burst.last > self._quiet:
            previous = 0 if burst is None else burst.hits
            self._bursts[limit] = _Burst(now, now, now, 1)
            extra = {"limit": limit, **fields}
            if previous:
                extra["previous_burst_hits"] = previous
            log.warning(message, extra=extra)
            return
        burst.hits += 1
        burst.last = now
        if now - burst.logged >= self._remind:
            burst.logged = now
            log.warning(
                "limit still being hit",
                extra={"limit": limit, "hits": burst.hits, "seconds": round(now - burst.started)},
            )

    def hits(self, limit: str) -> int:
        """Hits of the current (or last) burst of ``limit``."""
        burst = self._bursts.get(limit)
        return 0 if burst is None else burst.hits
