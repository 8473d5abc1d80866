"""Prometheus metrics of the TLS listener, registered in the gateway's own registry so that they
are served with the others on ``--metrics-listen``."""

from __future__ import annotations

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram


class TlsMetrics:
    def __init__(self, registry: CollectorRegistry | None = None) -> None:
        self.registry = registry = registry if registry is not None else CollectorRegistry()
        self.handshakes = Counter(
            "jt808_tls_handshakes",
            "TLS handshakes of terminal connections, by outcome (ok or why they failed)",
            ["outcome"],
            registry=registry,
        )
        self.handshake_seconds = Histogram(
            "jt808_tls_handshake_seconds",
            "Duration of completed TLS handshakes",
            buckets=(0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0),
            registry=registry,
        )
        self.handshakes_in_progress = Gauge(
            "jt808_tls_handshakes_in_progress",
            "TLS handshakes (and certificate checks) not finished yet",
            registry=registry,
        )
        self.refused = Counter(
            "jt808_tls_refused",
            "Terminal TLS connections refused after the handshake, by reason",
            ["reason"],
            registry=registry,
        )
        self.ocsp = Counter(
            "jt808_tls_ocsp_checks",
            "OCSP checks of device certificates, by outcome (good, revoked, unknown, cached, "
            "or why no answer was had)",
            ["outcome"],
            registry=registry,
        )
        self.identity_mismatches = Counter(
            "jt808_tls_identity_mismatches",
            "0x0100/0x0102 refused because they do not match the device certificate",
            ["msg_id"],
            registry=registry,
        )
        self.reloads = Counter(
            "jt808_tls_reloads",
            "Reloads of the TLS certificate, key and CA files, by outcome",
            ["outcome"],
            registry=registry,
        )
        self.limits = Counter(
            "jt808_tls_limit_hits",
            "TLS connections closed at once because a limit was reached",
            ["limit"],
            registry=registry,
        )
