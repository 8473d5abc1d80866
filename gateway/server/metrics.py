"""Prometheus metrics of one gateway (its own registry, so several gateways can share a process
in tests). Served on ``--metrics-listen`` when given."""

from __future__ import annotations

from wsgiref.simple_server import WSGIServer

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram, start_http_server

from .config import HostPort


class GatewayMetrics:
    def __init__(self) -> None:
        self.registry = registry = CollectorRegistry()
        self.connections = Gauge(
            "jt808_connections", "Terminal connections open now", registry=registry
        )
        self.connections_total = Counter(
            "jt808_connections_accepted", "Terminal connections accepted", registry=registry
        )
        self.sessions = Gauge(
            "jt808_sessions",
            "Terminal sessions by state and protocol revision",
            ["state", "version"],
            registry=registry,
        )
        self.messages_in = Counter(
            "jt808_messages_in", "Messages received from terminals", ["msg_id"], registry=registry
        )
        self.messages_out = Counter(
            "jt808_messages_out", "Messages sent to terminals", ["msg_id"], registry=registry
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
