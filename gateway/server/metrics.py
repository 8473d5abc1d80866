"""Prometheus metrics of one gateway (its own registry, so several gateways can share a process
in tests). Served on ``--metrics-listen`` when given.

What changes with every message (messages in and out by id, sessions by state, open
connections) is not counted on the hot path at all: the sessions already keep plain integer
counters, and ``LiveCollector`` reads them when Prometheus scrapes. Rare events (errors, limits,
disconnections, auth calls) use ordinary prometheus_client metrics.
"""

from __future__ import annotations

from collections import Counter as Tally
from collections.abc import Callable, Iterable, Iterator, Mapping
from typing import Protocol
from wsgiref.simple_server import WSGIServer

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram, start_http_server
from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily, Metric
from prometheus_client.registry import Collector

from gateway.store.base import StoreStatus

from .config import HostPort


class LiveSource(Protocol):
    """What the gateway exposes for scrape-time metrics."""

    def open_connections(self) -> int: ...

    def session_states(self) -> Iterable[tuple[str, str]]:
        """(state, revision) of every open connection."""
        ...

    def message_counts(self) -> tuple[Mapping[int, int], Mapping[int, int]]:
        """Messages in and out by message id since start (closed sessions included)."""
        ...

    def store_status(self) -> StoreStatus:
        """The event store's health, size and sequences."""
        ...


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


class GatewayMetrics:
    def __init__(self, source: LiveSource | None = None) -> None:
        self.registry = registry = CollectorRegistry()
        self._auth_observers: dict[tuple[str, str], Callable[[float], None]] = {}
        if source is not None:
            registry.register(LiveCollector(source))
        self.connections_total = Counter(
            "jt808_connections_accepted", "Terminal connections accepted", registry=registry
        )
        self.errors = Counter(
            "jt808_errors", "Frames and messages rejected, by kind", ["kind"], registry=registry
        )
        self.disconnects = Counter(
            "jt808_disconnects", "Sessions closed, by reason", ["reason"], registry=registry
        )
        self.limits = Counter(
            "jt808_limit_hits", "Times a configured limit was hit", ["limit"], registry=registry
        )
        self.hub_dropped = Counter(
            "jt808_hub_dropped", "Events dropped for slow subscribers", registry=registry
        )
        self.acks_withheld = Counter(
            "jt808_acks_withheld",
            "Writes of replies to terminals withheld because their data could not be stored",
            registry=registry,
        )
        self.store_failures = Counter(
            "jt808_log_failures",
            "Times the event log went from working to failing (each is logged)",
            registry=registry,
        )
        self.reassembly_dropped = Counter(
            "jt808_reassembly_dropped",
            "Partial sub-packaged messages given up",
            ["reason"],
            registry=registry,
        )
        self.auth_seconds = Histogram(
            "jt808_auth_seconds",
            "Latency of auth backend calls",
            ["operation", "outcome"],
            registry=registry,
        )

        self.commands = Histogram(
            "jt808_command_seconds",
            "Platform commands (SendCommand): time to the reply, by command id and outcome",
            ["msg_id", "outcome"],
            registry=registry,
        )
        self.stream_subscribers = Gauge(
            "jt808_stream_subscribers",
            "gRPC stream subscribers connected now, by stream",
            ["stream"],
            registry=registry,
        )

    def auth_observer(self, operation: str, outcome: str) -> Callable[[float], None]:
        """``observe`` of ``jt808_auth_seconds{operation,outcome}`` (children cached: two auth
        calls per connection would otherwise look the labels up each time)."""
        key = (operation, outcome)
        observe = self._auth_observers.get(key)
        if observe is None:
            observe = self._auth_observers[key] = self.auth_seconds.labels(*key).observe
        return observe

    def serve(self, address: HostPort) -> None:
        """Serve /metrics on ``address`` (a daemon thread of prometheus_client)."""
        server, _thread = start_http_server(address.port, addr=address.host, registry=self.registry)
        self._server: WSGIServer | None = server

    def stop(self) -> None:
        """Stop serving /metrics (the gateway stopped)."""
        server = getattr(self, "_server", None)
        if server is not None:
            self._server = None
            server.shutdown()
            server.server_close()
