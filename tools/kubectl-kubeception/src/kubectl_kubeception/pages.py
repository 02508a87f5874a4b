"""The console's pages: server-rendered HTML from what the plugin's commands print (the ``get clusters`` summaries, the
``describe cluster`` tree), through jinja2 templates with autoescaping on for every value — names, messages and
reasons are written by tenants and operators and are hostile text, never markup. Pure: objects in, HTML out; the
rendering tests need no server.

The pages work without JavaScript (there is none), and are served with a Content-Security-Policy that would refuse
one anyway.
"""

from __future__ import annotations

import json
import shlex
import urllib.parse
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import jinja2

from kubectl_kubeception import changes, health, manifests, tree
from kubectl_kubeception.clusters import age, parse_time

if TYPE_CHECKING:
    import datetime
    from collections.abc import Mapping, Sequence

    from kubectl_kubeception.clusters import Cluster
    from operatorkit import Object

EVENTS_SHOWN = 20


@dataclass(frozen=True)
class Organization:
    """An organization's namespace and the clusters the person may read there; ``refused`` says why none could be
    read."""

    name: str
    namespace: str
    clusters: Sequence[Cluster]
    refused: str = ""


def segment(value: str) -> str:
    """One path segment of a URL: a name never adds a ``/`` or a query."""
    return urllib.parse.quote(value, safe="")


def cluster_url(cluster: Cluster) -> str:
    return f"/clusters/{segment(cluster.namespace)}/{segment(cluster.name)}"


def organization_url(name: str) -> str:
    return f"/orgs/{segment(name)}/clusters"


def new_cluster_url(organization: str) -> str:
    return f"{organization_url(organization)}/new"


def command(*words: str) -> str:
    """A command line to copy: each word quoted for the shell if it needs it."""
    return " ".join(shlex.quote(w) for w in words)


def status_class(ready: str) -> str:
    return {"True": "ok", "False": "bad"}.get(ready, "unknown")


ENV = jinja2.Environment(
    loader=jinja2.PackageLoader("kubectl_kubeception", "templates"),
    autoescape=True,  # every template, whatever its name
    undefined=jinja2.StrictUndefined,
    trim_blocks=True,
    lstrip_blocks=True,
)
ENV.filters.update(
    cluster_url=cluster_url,
    organization_url=organization_url,
    new_cluster_url=new_cluster_url,
    status_class=status_class,
    segment=segment,
)


def _render(template: str, **values: Any) -> str:
    return ENV.get_template(template).render(**values)


def organizations_page(
    organizations: Sequence[Organization],
    others: Sequence[Cluster],
    now: datetime.datetime,
    *,
    note: str = "",
) -> str:
    """``/``: each organization with its clusters; ``others``: clusters outside any organization (platform admins
    see them); ``note``: how the organizations were found, when the person may not list them all."""
    return _render(
        "organizations.html",
        title="Organizations",
        organizations=organizations,
        others=others,
        note=note,
        now=now,
        age=age,
        command=command("kubectl", "get", "namespaces", "-l", "kubeception.io/role=organization",
                        "-L", "kubeception.io/organization"),
    )  # fmt: skip


def clusters_page(
    clusters: Sequence[Cluster],
    organizations: Mapping[str, str],
    now: datetime.datetime,
    *,
    title: str,
    cli: str,
    note: str = "",
    new_cluster: str = "",
    csrf: str = "",
) -> str:
    """The ``get clusters`` table as HTML: namespace, organization, name (a link to its page), kind, version,
    workers, Ready, endpoint, age; with ``new_cluster`` (an organization) and a ``csrf`` token, the form that
    creates a cluster there, its version the newest listed."""
    versions = [c.version for c in clusters if manifests.VERSION.match(c.version)]
    return _render(
        "clusters.html",
        new_cluster=new_cluster,
        csrf=csrf,
        default_version=max(versions, key=lambda v: tuple(map(int, v.split("."))), default=""),
        max_workers=manifests.MAX_WORKERS,
        replicas=manifests.CONTROL_PLANE_REPLICAS,
        aws_region=manifests.AWS_REGION,
        aws_credentials=manifests.AWS_CREDENTIALS,
        max_cluster_id=manifests.MAX_CLUSTER_ID,
        max_region=manifests.MAX_REGION,
        max_zone=manifests.MAX_ZONE,
        max_zones=manifests.MAX_ZONES,
        max_secret_name=manifests.MAX_SECRET_NAME,
        max_instance_type=manifests.MAX_INSTANCE_TYPE,
        title=title,
        clusters=sorted(clusters, key=lambda c: (c.namespace, c.name, c.kind)),
        organizations=organizations,
        now=now,
        age=age,
        note=note,
        command=cli,
    )


def event_rows(events: Sequence[Object], now: datetime.datetime) -> list[dict[str, str]]:
    """The newest Events: type, reason, when last seen, how often, from whom, the message."""
    rows = []
    for event in events[:EVENTS_SHOWN]:
        seen = event.get("lastTimestamp") or event.get("eventTime") or event.get("firstTimestamp")
        source = event.get("source") or {}
        rows.append(
            {
                "type": str(event.get("type", "")),
                "reason": str(event.get("reason", "")),
                "age": age(parse_time(seen), now) if seen else "",
                "count": str(event.get("count") or 1),
                "source": str(source.get("component") or event.get("reportingComponent") or ""),
                "message": str(event.get("message", "")),
            }
        )
    return rows


def cluster_page(
    cluster: Cluster,
    organization: str,
    root: tree.Row,
    events: Sequence[Object] | None,
    now: datetime.datetime,
    *,
    pools: Sequence[tuple[str, int]] = (),
    csrf: str = "",
    follow: str = "",
    note: str = "",
) -> str:
    """A cluster's page: its summary, the ``describe cluster`` tree as a table (each row's whole message), its recent
    Events (``None``: the person may not read Events), the forms that change it (scale each of ``pools``, upgrade;
    only with a ``csrf`` token to carry), and the command that shows the same. ``follow``: the address the page
    reloads itself from at once (no script: a refresh the console answers when the cluster changes)."""
    return _render(
        "cluster.html",
        title=f"{cluster.kind} {cluster.namespace}/{cluster.name}",
        cluster=cluster,
        organization=organization,
        lines=tree.flatten(root),
        events=None if events is None else event_rows(events, now),
        now=now,
        age=age,
        note=note,
        pools=pools,
        csrf=csrf,
        max_workers=manifests.MAX_WORKERS,
        access_levels=changes.ACCESS_LEVELS,
        ttls=changes.TTLS,
        max_url=changes.MAX_URL,
        follow=follow,
        command=command("kubectl", "kubeception", "describe", "cluster", cluster.name, "-n", cluster.namespace),
    )


def change_page(
    cluster: Cluster,
    change: changes.Change,
    *,
    csrf: str,
    refused: str = "",
    applied: bool = False,
    organization: str = "",
) -> str:
    """A change before it is made — what it does, the patch (or a new cluster's manifest), the API server's dry-run
    verdict (``refused``: why not), and the form that applies it — or, ``applied``, after. A new cluster's page
    leads back to its ``organization``'s clusters."""
    verb = {"scale": "Scale", "upgrade": "Upgrade", "create": "Create"}[change.action]
    if change.action == "create":
        back, back_words, post_to = (
            organization_url(organization),
            f"Organization {organization}",
            new_cluster_url(organization),
        )
    else:
        back, back_words = cluster_url(cluster), "Back to the cluster"
        post_to = f"{back}/{change.action}"
    return _render(
        "change.html",
        title=f"{verb} {cluster.kind} {cluster.namespace}/{cluster.name}" + (": applied" if applied else ""),
        cluster=cluster,
        change=change,
        patch=json.dumps(change.patch, indent=2, ensure_ascii=False),
        csrf=csrf,
        refused=refused,
        applied=applied,
        back=back,
        back_words=back_words,
        post_to=post_to,
        note="",
        command=change.cli,
    )


def health_page(prometheus: str, charts: Sequence[health.Chart], now: datetime.datetime) -> str:
    """``/health``: the dashboard's panels drawn from Prometheus (``prometheus``: its URL; empty, none to ask)."""
    return _render(
        "health.html",
        title="Reconcile health",
        prometheus=prometheus,
        charts=charts,
        end=now.timestamp(),
        lines=health.polylines,
        number=health.number,
        width=health.WIDTH,
        height=health.HEIGHT,
        note="",
        command="",
    )


def error_page(status: int, title: str, message: str, *, cli: str = "") -> str:
    """A refusal or failure as a page: what was refused and what the API server said, in its words."""
    return _render("error.html", title=title, status=status, message=message, command=cli, note="")
