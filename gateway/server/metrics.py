"""Prometheus metrics of one gateway (its own registry, so several gateways can share a process
in tests). Served on ``--metrics-listen`` when given.

What changes with every message (messages in and out by id, sessions by state, open
connections) is not counted on the hot path at all: the sessions already keep plain integer
counters, and ``LiveCollector`` reads them when Prometheus scrapes. Rare events (errors, limits,
disconnections, auth calls) are counted in the plain metrics of ``plain_metrics``.
prometheus_client itself is imported only when a registry is asked for (``exposition``).
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping
from typing import TYPE_CHECKING, Protocol

from gateway.store.base import StoreStatus

from .config import HostPort
from .plain_metrics import PlainCounter, PlainGauge, PlainHistogram, PlainMetric

if TYPE_CHECKING:
    from wsgiref.simple_server import WSGIServer

    from prometheus_client import CollectorRegistry


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


class GatewayMetrics:
    def __init__(self, source: LiveSource | None = None) -> None:
        self._source = source
        self._registry: CollectorRegistry | None = None
        self._server: WSGIServer | None = None
        self._auth_observers: dict[tuple[str, str], Callable[[float], None]] = {}
        self.connections_total = PlainCounter(
            "jt808_connections_accepted", "Terminal connections accepted"
        )
        self.errors = PlainCounter(
            "jt808_errors", "Frames and messages rejected, by kind", ("kind",)
        )
        self.disconnects = PlainCounter(
            "jt808_disconnects", "Sessions closed, by reason", ("reason",)
        )
        self.limits = PlainCounter(
            "jt808_limit_hits", "Times a configured limit was hit", ("limit",)
        )
        self.hub_dropped = PlainCounter("jt808_hub_dropped", "Events dropped for slow subscribers")
        self.acks_withheld = PlainCounter(
            "jt808_acks_withheld",
            "Writes of replies to terminals withheld because their data could not be stored",
        )
        self.store_failures = PlainCounter(
            "jt808_log_failures",
            "Times the event log went from working to failing (each is logged)",
        )
        self.reassembly_dropped = PlainCounter(
            "jt808_reassembly_dropped",
            "Partial sub-packaged messages given up",
            ("reason",),
        )
        self.auth_seconds = PlainHistogram(
            "jt808_auth_seconds",
            "Latency of auth backend calls",
            ("operation", "outcome"),
        )

        self.commands = PlainHistogram(
            "jt808_command_seconds",
            "Platform commands (SendCommand): time to the reply, by command id and outcome",
            ("msg_id", "outcome"),
        )
        self.stream_subscribers = PlainGauge(
            "jt808_stream_subscribers",
            "gRPC stream subscribers connected now, by stream",
            ("stream",),
        )

    def auth_observer(self, operation: str, outcome: str) -> Callable[[float], None]:
        """``observe`` of ``jt808_auth_seconds{operation,outcome}`` (children cached: two auth
        calls per connection would otherwise look the labels up each time)."""
        key = (operation, outcome)
        observe = self._auth_observers.get(key)
        if observe is None:
            observe = self._auth_observers[key] = self.auth_seconds.labels(*key).observe
        return observe

    def plain(self) -> tuple[PlainMetric, ...]:
        """The metrics counted here (those of ``LiveSource`` are read at scrape time)."""
        return tuple(m for m in vars(self).values() if isinstance(m, PlainMetric))

    @property
    def registry(self) -> CollectorRegistry:
        """A prometheus_client registry of these metrics, made (and prometheus_client imported)
        on first use."""
        if self._registry is None:
            from .exposition import build_registry  # noqa: PLC0415 (lazy: see the docstring)

            self._registry = build_registry(self._source, self.plain())
        return self._registry

    def serve(self, address: HostPort) -> HostPort:
        """Serve /metrics on ``address`` (a daemon thread of prometheus_client); the address
        bound (port 0 picks a free one)."""
        from prometheus_client import start_http_server  # noqa: PLC0415 (lazy: see the docstring)

        server, _thread = start_http_server(address.port, addr=address.host, registry=self.registry)
        self._server = server
        return HostPort(address.host, server.server_port)

    def stop(self) -> None:
        """Stop serving /metrics (the gateway stopped)."""
        server = self._server
        if server is not None:
            self._server = None
            server.shutdown()
            server.server_close()
