"""The console's reconcile-health page: the panels of ``monitoring/dashboard.json`` (one source: the queries a Grafana
user imports are the ones drawn here), each asked of Prometheus over the last hour and drawn as inline SVG on the
server — no script, so the console's Content-Security-Policy still allows none — with each series' latest value as
text beside it (what a screen reader reads, what a test checks).

Prometheus is the platform's (``--prometheus``, or ``$KUBECEPTION_PROMETHEUS_URL`` as ``make up`` exports it); the
console asks only its query API, with no credentials of the person's.
"""

from __future__ import annotations

import json
import math
import urllib.error
import urllib.parse
import urllib.request
from dataclasses import dataclass
from importlib import resources
from pathlib import Path
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    import datetime
    from collections.abc import Sequence

WINDOW = 3600.0  # seconds drawn
STEP = 30.0  # seconds between points: 120 points a series
MAX_SERIES = 8  # drawn per panel (a legend a person can read); the rest are counted
# Colours a person can tell apart, each at least 4.5:1 on white (the lines' legend is text in the same colour).
PALETTE = ("#0b4fa8", "#9b000e", "#0a5c26", "#6b3fa0", "#8a4b00", "#00606b", "#5a4600", "#4a4a4a")
WIDTH, HEIGHT = 560, 160


@dataclass(frozen=True)
class Panel:
    title: str
    queries: tuple[str, ...]


@dataclass(frozen=True)
class Series:
    name: str  # the labels, as Prometheus writes them
    points: tuple[tuple[float, float], ...]  # (unix time, value), NaN and ±Inf left out


@dataclass(frozen=True)
class Chart:
    panel: Panel
    series: tuple[Series, ...]
    hidden: int = 0  # series beyond MAX_SERIES
    error: str = ""  # why Prometheus gave nothing


def dashboard_file() -> Path:
    """``monitoring/dashboard.json``: packaged beside this module in a wheel, else the source tree's."""
    packaged = resources.files("kubectl_kubeception").joinpath("dashboard.json")
    if packaged.is_file():
        return Path(str(packaged))
    return Path(__file__).resolve().parents[4] / "monitoring" / "dashboard.json"


def panels(dashboard: dict[str, Any]) -> list[Panel]:
    """The dashboard's graph panels, in its order, with their queries."""
    return [
        Panel(str(p.get("title", "")), tuple(str(t["expr"]) for t in p.get("targets") or [] if t.get("expr")))
        for p in dashboard.get("panels") or []
        if p.get("type") == "timeseries" and p.get("targets")
    ]


def series_name(metric: dict[str, str]) -> str:
    return "{" + ", ".join(f'{k}="{v}"' for k, v in sorted(metric.items())) + "}" if metric else "{}"


def query_range(prometheus: str, query: str, end: float, timeout: float = 10) -> list[Series]:
    """``query`` over the WINDOW before ``end``; raises OSError or ValueError with Prometheus' own words."""
    params = {"query": query, "start": f"{end - WINDOW:.0f}", "end": f"{end:.0f}", "step": f"{STEP:.0f}"}
    url = f"{prometheus.rstrip('/')}/api/v1/query_range?{urllib.parse.urlencode(params)}"
    try:
        with urllib.request.urlopen(url, timeout=timeout) as answer:
            body = json.loads(answer.read())
    except urllib.error.HTTPError as error:  # a bad query: Prometheus says why in its JSON
        body = json.loads(error.read() or b"{}")
        raise ValueError(body.get("error") or str(error)) from error
    if body.get("status") != "success":
        raise ValueError(body.get("error") or "Prometheus did not answer success")
    found = []
    for result in body["data"]["result"]:
        points = tuple((float(t), float(v)) for t, v in result["values"] if math.isfinite(float(v)))
        found.append(Series(series_name(result["metric"]), points))
    return found


def charts(prometheus: str, dashboard: Path, now: datetime.datetime) -> list[Chart]:
    """Each panel's series from Prometheus (its queries' series together), or why there are none. A query Prometheus
    refuses fails its panel only; a Prometheus that cannot be reached is not asked again for the page's other
    panels (one timeout a page, not one a panel)."""
    end, drawn = now.timestamp(), []
    unreachable = ""
    for panel in panels(json.loads(dashboard.read_text())):
        if unreachable:
            drawn.append(Chart(panel, (), error=unreachable))
            continue
        try:
            found = [s for q in panel.queries for s in query_range(prometheus, q, end)]
        except OSError as error:
            unreachable = f"Prometheus at {prometheus}: {error}"
            drawn.append(Chart(panel, (), error=unreachable))
            continue
        except ValueError as error:
            drawn.append(Chart(panel, (), error=f"Prometheus at {prometheus}: {error}"))
            continue
        drawn.append(Chart(panel, tuple(found[:MAX_SERIES]), hidden=max(0, len(found) - MAX_SERIES)))
    return drawn


def number(value: float) -> str:
    """A value as a person reads it: 3 significant digits."""
    return f"{value:.3g}"


def polylines(series: Sequence[Series], end: float) -> tuple[list[tuple[str, str]], float, float]:
    """Each series' SVG points (x: the window's time, y: scaled between the panels' lowest and highest value, 0
    always in range), with its colour; and that range."""
    values = [v for s in series for _, v in s.points]
    low, high = min([0.0, *values]), max([0.0, *values])
    span = (high - low) or 1.0
    drawn = []
    for index, s in enumerate(series):
        points = " ".join(
            f"{(t - (end - WINDOW)) / WINDOW * WIDTH:.1f},{HEIGHT - (v - low) / span * HEIGHT:.1f}" for t, v in s.points
        )
        drawn.append((points, PALETTE[index % len(PALETTE)]))
    return drawn, low, high
