"""One simulation run split over worker processes, so the simulator can offer more load than a
gateway takes (one Python process drives about one core).

Each worker runs a ``Simulation`` of its share of the fleet (``SimulationConfig.first_index``:
the same phones, identities and tracks as a single process would use), with the connection rate
and concurrency divided among the workers. Once a second each sends its counts for the progress
line; at the end, its summary. The parent merges the summaries: counts and latency histograms
added, the reporting time from the first report of any worker to the last acknowledgement of
any. SIGINT/SIGTERM to the parent reach the workers as SIGTERM: the first stops sending, the
second stops at once (as with one process).
"""

from __future__ import annotations

import dataclasses
import multiprocessing
import os
import queue
import signal
import time
from collections.abc import Callable, Sequence
from multiprocessing.process import BaseProcess
from types import FrameType
from typing import Any, Final

from .runner import Simulation, SimulationConfig, SimulationSummary
from .stats import RunStats
from .tls import TlsClientSettings

#: Seconds between two progress messages of a worker.
PROGRESS_INTERVAL_S: Final = 1.0
#: What a worker's progress message counts: online, reports sent, reports acked, errors.
Counts = tuple[int, int, int, int]


def available_cpus() -> int:
    """The CPUs this process may run on (``--processes auto``)."""
    try:
        return len(os.sched_getaffinity(0))
    except AttributeError:  # pragma: no cover - not Linux
        return os.cpu_count() or 1


def split_config(config: SimulationConfig, processes: int) -> list[SimulationConfig]:
    """``processes`` configurations (fewer when there are fewer terminals) that together
    simulate the fleet of ``config``."""
    count = max(1, min(processes, config.terminals))
    shares = [config.terminals // count + (1 if i < config.terminals % count else 0)
              for i in range(count)]  # fmt: skip
    parts: list[SimulationConfig] = []
    first = config.first_index
    for share in shares:
        parts.append(
            dataclasses.replace(
                config,
                terminals=share,
                first_index=first,
                connect_rate=config.connect_rate * share / config.terminals,
                connect_concurrency=max(1, config.connect_concurrency * share // config.terminals),
                # A fresh copy: the SSL contexts it caches are not for another process.
                tls=None if config.tls is None else _fresh(config.tls),
            )
        )
        first += share
    return parts


def _fresh(tls: TlsClientSettings) -> TlsClientSettings:
    return TlsClientSettings(ca=tls.ca, cert=tls.cert, key=tls.key, server_name=tls.server_name)


def merge(config: SimulationConfig, parts: list[SimulationSummary]) -> SimulationSummary:
    """One summary of a run whose terminals were split over processes."""
    stats = RunStats()
    for part in parts:
        stats.merge(part.stats)
    firsts = [p.first_report_at for p in parts if p.first_report_at is not None]
    lasts = [p.last_ack_at for p in parts if p.last_ack_at is not None]
    first, last = (min(firsts), max(lasts)) if firsts and lasts else (None, None)
    return SimulationSummary(
        config,
        stats,
        max(p.elapsed_s for p in parts),
        0.0 if first is None or last is None else max(0.0, last - first),
        interrupted=any(p.interrupted for p in parts),
        first_report_at=first,
        last_ack_at=last,
    )


def run_in_processes(
    config: SimulationConfig,
    processes: int,
    run_one: Callable[[Simulation, tuple[signal.Signals, ...]], SimulationSummary],
    progress: Callable[[str], None] | None = None,
) -> SimulationSummary:
    """Run ``config`` in worker processes; ``run_one`` runs one worker's simulation (watching
    the signals given) and returns its summary."""
    context = multiprocessing.get_context("spawn")
    messages: Any = context.Queue()
    parts = split_config(config, processes)
    workers = [
        context.Process(
            target=_worker, args=(index, part, run_one, messages), name=f"simulate-{index}"
        )
        for index, part in enumerate(parts)
    ]
    counts: dict[int, Counts] = {}
    summaries: dict[int, SimulationSummary] = {}
    started = time.monotonic()
    with _forwarding_signals(workers):
        for worker in workers:
            worker.start()
        last_progress = started
        while len(summaries) < len(workers):
            try:
                index, kind, payload = messages.get(timeout=0.2)
            except queue.Empty:
                if _lost(workers, summaries):
                    break
            else:
                if kind == "summary":
                    summaries[index] = payload
                else:
                    counts[index] = payload
            now = time.monotonic()
            if progress is not None and now - last_progress >= PROGRESS_INTERVAL_S:
                last_progress = now
                progress(_progress_line(now - started, config, counts, len(workers)))
        for worker in workers:
            worker.join()
    if len(summaries) < len(workers):
        lost = len(workers) - len(summaries)
        raise RuntimeError(f"{lost} simulator process(es) ended without a summary")
    return merge(config, [summaries[i] for i in range(len(workers))])


def _lost(workers: Sequence[BaseProcess], summaries: dict[int, SimulationSummary]) -> bool:
    """Whether a worker ended without sending its summary."""
    return any(w.exitcode is not None and i not in summaries for i, w in enumerate(workers))


def _progress_line(
    elapsed: float, config: SimulationConfig, counts: dict[int, Counts], processes: int
) -> str:
    online, sent, acked, errors = (sum(c[i] for c in counts.values()) for i in range(4))
    rate = acked / elapsed if elapsed > 0 else 0.0
    return (
        f"{elapsed:6.1f}s  online {online}/{config.terminals}  reports {sent} sent {acked} "
        f"acked ({rate:.0f}/s)  errors {errors}  ({processes} processes)"
    )


class _forwarding_signals:  # noqa: N801 - used as a context manager, like contextlib's
    """While active, SIGINT and SIGTERM to this process are sent to the workers as SIGTERM."""

    def __init__(self, workers: Sequence[BaseProcess]) -> None:
        self.workers = workers
        self._previous: dict[int, Any] = {}

    def __enter__(self) -> None:
        for signum in (signal.SIGINT, signal.SIGTERM):
            self._previous[signum] = signal.signal(signum, self._forward)

    def __exit__(self, *exc: object) -> None:
        for signum, handler in self._previous.items():
            signal.signal(signum, handler)

    def _forward(self, signum: int, frame: FrameType | None) -> None:
        for worker in self.workers:
            if worker.pid is not None and worker.exitcode is None:
                os.kill(worker.pid, signal.SIGTERM)


def _worker(
    index: int,
    config: SimulationConfig,
    run_one: Callable[[Simulation, tuple[signal.Signals, ...]], SimulationSummary],
    messages: Any,
) -> None:
    # Ctrl-C reaches the whole process group: the parent forwards it once, as SIGTERM.
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    last = 0.0
    simulation: Simulation

    def report(_line: str) -> None:
        nonlocal last
        now = time.monotonic()
        if now - last >= PROGRESS_INTERVAL_S:
            last = now
            stats = simulation.stats
            messages.put(
                (index, "counts",
                 (stats.online, stats.reports_sent, stats.reports_acked, stats.error_count))
            )  # fmt: skip

    simulation = Simulation(config, progress=report)
    summary = run_one(simulation, (signal.SIGTERM,))
    messages.put((index, "summary", summary))


__all__ = ["available_cpus", "merge", "run_in_processes", "split_config"]
