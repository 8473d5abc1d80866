"""The plain metrics (``gateway.server.plain_metrics``) export what prometheus_client's own
metrics export for the same calls, and a gateway that is never scraped does not import it."""

from __future__ import annotations

import math
import subprocess
import sys

import pytest
from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram, generate_latest

from gateway.server.exposition import PlainCollector
from gateway.server.metrics import GatewayMetrics
from gateway.server.plain_metrics import PlainCounter, PlainGauge, PlainHistogram

OBSERVED = (0.0, 0.005, 0.0051, 0.3, 1.0, 9.99, 10.0, 11.0, 1e9)


def exposition(registry: CollectorRegistry) -> list[str]:
    """The text format without ``_created`` samples (only prometheus_client's metrics have
    them: the time each child was made)."""
    lines = generate_latest(registry).decode().splitlines()
    return [line for line in lines if "_created" not in line]


def test_plain_metrics_export_what_prometheus_client_metrics_export() -> None:
    theirs = CollectorRegistry()
    counter = Counter("t_hits", "Hits", registry=theirs)
    labelled = Counter("t_errors", "Errors by kind", ["kind"], registry=theirs)
    gauge = Gauge("t_subscribers", "Subscribers", ["stream"], registry=theirs)
    histogram = Histogram("t_seconds", "Latency", ["op", "outcome"], registry=theirs)
    plain_counter = PlainCounter("t_hits", "Hits")
    plain_labelled = PlainCounter("t_errors", "Errors by kind", ("kind",))
    plain_gauge = PlainGauge("t_subscribers", "Subscribers", ("stream",))
    plain_histogram = PlainHistogram("t_seconds", "Latency", ("op", "outcome"))
    ours = CollectorRegistry()
    ours.register(PlainCollector((plain_counter, plain_labelled, plain_gauge, plain_histogram)))

    assert exposition(ours) == exposition(theirs)  # nothing counted yet
    for metric in (counter, plain_counter):
        metric.inc()
        metric.inc(2.5)
    for kind in ("b", "a", "b"):
        labelled.labels(kind).inc()
        plain_labelled.labels(kind).inc()
    for both in (gauge, plain_gauge):
        both.labels("locations").inc()
        both.labels("locations").inc()
        both.labels("events").inc()
        both.labels("locations").dec()
    for value in OBSERVED:
        histogram.labels("register", "ok").observe(value)
        plain_histogram.labels("register", "ok").observe(value)
    histogram.labels("authenticate", "timeout").observe(2.0)
    plain_histogram.labels("authenticate", "timeout").observe(2.0)

    assert exposition(ours) == exposition(theirs)


def test_plain_metrics_refuse_what_prometheus_client_refuses() -> None:
    with pytest.raises(ValueError, match="labels"):
        PlainCounter("t", "", ("kind",)).inc()
    with pytest.raises(ValueError, match="labels"):
        PlainCounter("t", "", ("kind",)).labels("a", "b")
    with pytest.raises(ValueError, match="only goes up"):
        PlainCounter("t", "").inc(-1)
    with pytest.raises(ValueError, match="sorted"):
        PlainHistogram("t", "", buckets=(1.0, 0.5, math.inf))


def test_the_gateway_registry_reads_the_plain_metrics() -> None:
    metrics = GatewayMetrics()
    metrics.errors.labels("HeaderError").inc()
    metrics.auth_observer("register", "ok")(0.02)
    registry = metrics.registry
    metrics.errors.labels("HeaderError").inc()  # counted after the registry was made
    assert registry.get_sample_value("jt808_errors_total", {"kind": "HeaderError"}) == 2
    count = registry.get_sample_value(
        "jt808_auth_seconds_count", {"operation": "register", "outcome": "ok"}
    )
    assert count == 1
    assert metrics.registry is registry


def test_gateway_metrics_import_prometheus_client_only_for_a_registry() -> None:
    script = (
        "import sys\n"
        "from gateway.server.metrics import GatewayMetrics\n"
        "metrics = GatewayMetrics()\n"
        "metrics.errors.labels('x').inc()\n"
        "print('prometheus_client' in sys.modules, end=' ')\n"
        "metrics.registry\n"
        "print('prometheus_client' in sys.modules)\n"
    )
    result = subprocess.run(
        [sys.executable, "-c", script], capture_output=True, text=True, check=True, timeout=60
    )
    assert result.stdout.strip() == "False True"
