"""The console's reconcile-health page: the panels of monitoring/dashboard.json (the one source of its queries), asked
of a real Prometheus scraping real metrics (operatorkit's names, a hostile label value among them) and drawn as inline
SVG with no script; a panel without data, or a Prometheus that does not answer, says so. The drawing itself is pure
and tested without a server."""

from __future__ import annotations

import datetime
import json
import re
from pathlib import Path
from typing import TYPE_CHECKING, Any, cast

import pytest
from prometheus_client import CollectorRegistry, Counter, Gauge, start_http_server

from kubeception_testenv import wait_for
from kubeception_testenv.prometheus import PrometheusServer
from kubectl_kubeception import console, health, pages
from tests.browser import free_port
from tests.plugin.test_console_pages import HOSTILE, Elements

if TYPE_CHECKING:
    from collections.abc import Iterator

DASHBOARD = Path(__file__).resolve().parents[2] / "monitoring" / "dashboard.json"
NOW = datetime.datetime(2026, 12, 7, 12, 0, tzinfo=datetime.UTC)


def test_the_page_draws_the_dashboards_own_panels_and_queries() -> None:
    assert health.dashboard_file().resolve() == DASHBOARD.resolve()
    dashboard = json.loads(DASHBOARD.read_text())
    found = health.panels(dashboard)
    assert len(found) == len([p for p in dashboard["panels"] if p["type"] == "timeseries"])
    first = found[0]
    assert first.title == "Reconciles per second"
    assert first.queries == ("sum by (controller, result) (rate(controller_runtime_reconcile_total[5m]))",)


def test_lines_span_the_window_and_the_values_with_zero_in_range() -> None:
    end = NOW.timestamp()
    series = [health.Series("{a}", ((end - health.WINDOW, 2.0), (end, 4.0))), health.Series("{b}", ((end, 1.0),))]
    drawn, low, high = health.polylines(series, end)
    assert (low, high) == (0.0, 4.0)
    assert drawn[0] == (f"0.0,{health.HEIGHT / 2:.1f} {health.WIDTH:.1f},0.0", health.PALETTE[0])
    assert drawn[1][1] == health.PALETTE[1]


def test_hostile_label_values_are_text_and_errors_and_gaps_are_said() -> None:
    panel = health.Panel("Work queue depth", ("sum by (name) (workqueue_depth)",))
    end = NOW.timestamp()
    charts = [
        health.Chart(panel, (health.Series(f'{{name="{HOSTILE}"}}', ((end, 7.0),)),)),
        health.Chart(health.Panel("Leader", ("x",)), ()),
        health.Chart(health.Panel("Broken", ("y",)), (), error=f"Prometheus at http://p: {HOSTILE}"),
    ]
    page = pages.health_page("http://127.0.0.1:9090", charts, NOW)
    assert HOSTILE not in page
    found = Elements(page)
    assert not found.named("script")
    text = "".join(found.text)
    assert f'{{name="{HOSTILE}"}}' in text
    assert "No series in the last hour." in text
    assert f"Prometheus at http://p: {HOSTILE}" in text
    assert [s["aria-label"] for s in found.named("svg") if s.get("role") == "img"] == [
        "Work queue depth: 1 series over the last hour, between 0 and 7"
    ]
    unset = pages.health_page("", [], NOW)
    assert "--prometheus URL" in unset


@pytest.fixture
def metrics() -> Iterator[tuple[str, CollectorRegistry]]:
    """operatorkit's metric names, served on loopback from a registry of the test's own."""
    registry = CollectorRegistry()
    port = free_port()
    server, thread = start_http_server(port, addr="127.0.0.1", registry=registry)
    try:
        yield f"127.0.0.1:{port}", registry
    finally:
        server.shutdown()
        thread.join(timeout=10)


@pytest.mark.servers
def test_the_console_draws_reconcile_health_from_a_real_prometheus(
    metrics: tuple[str, CollectorRegistry], tmp_path: Path
) -> None:
    target, registry = metrics
    reconciles = Counter(
        "controller_runtime_reconcile", "reconciles", ["controller", "result"], registry=registry
    )  # exposed as controller_runtime_reconcile_total
    depth = Gauge("workqueue_depth", "depth", ["name"], registry=registry)
    reconciles.labels("kvmconfig", "success").inc(5)
    depth.labels(HOSTILE).set(7)
    with PrometheusServer(tmp_path / "prometheus", interval="1s") as prometheus:
        prometheus.write_targets("operators", [{"targets": [target], "labels": {"pod": "kvm-operator-0"}}])

        reader = console.Reader(cast("Any", None), [], prometheus=prometheus.url)  # no mother: none is asked

        def figures() -> dict[str, str]:
            """Each panel's figure on the page, by its title, once the reconciles' rate is drawn (two scrapes)."""
            reconciles.labels("kvmconfig", "success").inc(3)
            response = reader.route("/health", {})
            assert response.status == 200
            page = response.body.decode()
            found = {
                title.group(1): figure
                for figure in re.split(r"(?=<figure)", page)[1:]
                if (title := re.search(r"<h2>(.*?)</h2>", figure))
            }
            assert "<polyline" in found["Reconciles per second"], "not drawn yet"
            assert HOSTILE not in page
            assert not Elements(page).named("script")
            return found

        drawn = wait_for(figures, timeout=60, message="the reconciles' rate drawn (two scrapes)")
    assert len(drawn) == len(health.panels(json.loads(DASHBOARD.read_text())))
    assert '{controller="kvmconfig", result="success"}' in "".join(Elements(drawn["Reconciles per second"]).text)
    queued = drawn["Work queue depth"]
    assert "<polyline" in queued
    assert f'{{name="{HOSTILE}"}}' in "".join(Elements(queued).text)
    assert re.search(r"<td>7</td>", queued), "the latest value, as text"
    assert "No series in the last hour." in drawn["Leader"]

    # a Prometheus that does not answer: each panel says so, the page still renders
    gone = console.Reader(cast("Any", None), [], prometheus=prometheus.url).route("/health", {})
    assert gone.status == 200
    assert f"Prometheus at {prometheus.url}" in gone.body.decode()
