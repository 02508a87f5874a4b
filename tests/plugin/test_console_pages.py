"""The console's pure parts: its pages rendered from objects (escaped, semantic tables, the same rows as the CLI's
table and tree) and who it answers. No server (tests/plugin/test_console.py drives it in a browser)."""

from __future__ import annotations

import html.parser
from typing import Any, cast

import pytest

from kubectl_kubeception import clusters, console, pages, tree
from tests.plugin.test_rendering import NOW, READY_KVM, ago, aws, cond, kvm

HOSTILE = "<script>alert('owned')</script><img src=x onerror=alert(1)>"


class Elements(html.parser.HTMLParser):
    """The start tags of a page, with their attributes, and its text."""

    def __init__(self, page: str) -> None:
        super().__init__()
        self.tags: list[tuple[str, dict[str, str | None]]] = []
        self.text: list[str] = []
        self.feed(page)

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        self.tags.append((tag, dict(attrs)))

    def handle_data(self, data: str) -> None:
        self.text.append(data)

    def named(self, tag: str) -> list[dict[str, str | None]]:
        return [attrs for t, attrs in self.tags if t == tag]


def hostile_cluster() -> dict[str, Any]:
    obj = kvm(
        "demo",
        conditions=[
            cond("Ready", "False", "WorkersNotReady", HOSTILE),
            cond("WorkersReady", "False", f"Joining{HOSTILE}", HOSTILE),
        ],
        workerPools=[{"name": "default", "desired": 2, "ready": 1, "nodes": [{"name": HOSTILE, "ready": False}]}],
    )
    obj["metadata"]["uid"] = "u-1"
    return obj


def test_tenant_text_is_escaped_everywhere_it_is_shown() -> None:
    obj = hostile_cluster()
    event = {"type": "Warning", "reason": HOSTILE, "message": HOSTILE, "lastTimestamp": ago(minutes=1), "count": 3}
    rendered = [
        pages.cluster_page(clusters.summarize(obj), HOSTILE, tree.build(obj, ca=None, certificates=None,
                           network=False, ingress=False), [event], NOW),
        pages.clusters_page([clusters.summarize(obj)], {"org-blue": HOSTILE}, NOW, title=HOSTILE, cli=HOSTILE),
        pages.organizations_page([pages.Organization(HOSTILE, "org-blue", [clusters.summarize(obj)],)], [], NOW,
                                 note=HOSTILE),
        pages.organizations_page([pages.Organization("blue", "org-blue", [], refused=HOSTILE)], [], NOW),
        pages.error_page(403, "Forbidden", HOSTILE),
    ]  # fmt: skip
    for page in rendered:
        parsed = Elements(page)
        assert not parsed.named("script"), page
        assert not [a for a in parsed.named("img")], page
        assert "<script>" not in page
        assert "&lt;script&gt;alert(&#39;owned&#39;)&lt;/script&gt;" in page
        assert HOSTILE in "".join(parsed.text)  # shown as text, whole


def test_the_cluster_list_is_the_get_clusters_table_with_headers_and_links() -> None:
    page = pages.clusters_page(
        [clusters.summarize(aws()), clusters.summarize(READY_KVM)],
        {"org-blue": "blue"},
        NOW,
        title="Clusters",
        cli="kubectl kubeception get clusters -A",
    )
    parsed = Elements(page)
    headers = [attrs for attrs in parsed.named("th")]
    assert all(h.get("scope") in ("col", "row") for h in headers)
    assert "".join(parsed.text).count("Namespace") == 1
    links = [a["href"] for a in parsed.named("a")]
    assert links.index("/clusters/org-blue/demo") < links.index("/clusters/org-red/web")  # sorted as the CLI does
    text = " ".join("".join(parsed.text).split())
    for expected in (
        "org-blue blue demo KVMConfig 1.36.1→1.36.3 2/2 True https://api.demo:443 5h",
        "org-red <none> web AWSConfig 1.36.1 -/3 Unknown <none> 40s",
        "kubectl kubeception get clusters -A",
    ):
        assert expected in text
    assert parsed.named("html") == [{"lang": "en"}]
    assert {"rel": "stylesheet", "href": "/console.css"} in parsed.named("link")


def test_the_cluster_page_has_the_describe_tree_events_and_the_command() -> None:
    obj = kvm(
        "demo",
        kubernetesVersion="1.36.3",
        workers="1/2",
        conditions=[cond("Ready", "False", "WorkersNotReady", "1/2 workers"), cond("WorkersReady", "False", "Joining",
                    "worker-default-1 not Ready " + "x" * 150)],
        workerPools=[{"name": "default", "desired": 2, "ready": 1, "upToDate": 2, "nodes": [
            {"name": "worker-default-0", "ready": True}, {"name": "worker-default-1", "ready": False}]}],
    )  # fmt: skip
    root = tree.build(obj, ca=None, certificates=None, network=False, ingress=False)
    events = [
        {"type": "Normal", "reason": "Scaled", "message": "pool default 1→2", "lastTimestamp": ago(minutes=2),
         "source": {"component": "kvm-operator"}, "count": 2},
    ]  # fmt: skip
    page = pages.cluster_page(clusters.summarize(obj), "blue", root, events, NOW)
    text = " ".join("".join(Elements(page).text).split())
    names = [row.name for _, row in tree.flatten(root)]
    assert names[0] == "KVMConfig/org-blue/demo"
    for name in names:
        assert name in text
    assert "└─Node/worker-default-1 False" in text  # the tree drawn as the CLI draws it
    assert "x" * 150 in text  # the whole message: a page wraps, the terminal cuts
    assert "Normal Scaled 2m 2 kvm-operator pool default 1→2" in text
    assert "kubectl kubeception describe cluster demo -n org-blue" in text
    assert "/orgs/blue/clusters" in [a["href"] for a in Elements(page).named("a")]

    hidden = pages.cluster_page(clusters.summarize(obj), "", root, None, NOW)
    assert "Not readable with your permissions: events in namespace org-blue." in hidden


def test_the_organizations_page_lists_each_with_its_clusters_and_says_how_they_were_found() -> None:
    page = pages.organizations_page(
        [
            pages.Organization("blue", "org-blue", [clusters.summarize(READY_KVM)]),
            pages.Organization("red", "org-red", [], refused="forbidden: you may not list kvmconfigs"),
        ],
        [clusters.summarize(aws(namespace="default"))],
        NOW,
        note="You may not list namespaces",
    )
    parsed = Elements(page)
    links = [a["href"] for a in parsed.named("a")]
    assert [link for link in links if link.startswith(("/orgs/", "/clusters/"))] == [
        "/orgs/blue/clusters",
        "/clusters/org-blue/demo",
        "/orgs/red/clusters",
        "/clusters/default/web",
    ]
    text = " ".join("".join(parsed.text).split())
    assert "forbidden: you may not list kvmconfigs" in text
    assert "You may not list namespaces" in text
    # the form to open an organization by name is labelled
    assert parsed.named("label") == [{"for": "org-name"}]
    assert any(i.get("id") == "org-name" for i in parsed.named("input"))


def test_urls_quote_what_they_carry() -> None:
    assert pages.organization_url("a/b?c") == "/orgs/a%2Fb%3Fc/clusters"
    assert pages.command("kubectl", "describe", "x; rm -rf /") == "kubectl describe 'x; rm -rf /'"


@pytest.mark.parametrize(
    ("host", "cookie", "token", "verdict"),
    [
        ("127.0.0.1:8000", None, "secret", "exchange"),
        ("localhost:8000", "kubeception-console=secret", None, "ok"),
        ("127.0.0.1:8000", "other=1; kubeception-console=secret", None, "ok"),
        ("127.0.0.1:8000", "kubeception-console=guess", None, "no-token"),
        ("127.0.0.1:8000", None, "guess", "no-token"),
        ("127.0.0.1:8000", "bad cookie ;;; =", None, "no-token"),
        ("evil.example:8000", "kubeception-console=secret", None, "wrong-host"),  # DNS rebinding
        ("127.0.0.1:9999", "kubeception-console=secret", None, "wrong-host"),
        (None, "kubeception-console=secret", None, "wrong-host"),
    ],
)
def test_the_console_answers_only_its_own_address_and_token(
    host: str | None, cookie: str | None, token: str | None, verdict: str
) -> None:
    assert console.admitted(host, 8000, cookie, token, "secret") == verdict


@pytest.mark.parametrize("path", ["/nope", "/clusters/Bad_Name/x", "/clusters/a/b/c", "/orgs/a%2Fb/clusters"])
def test_paths_that_are_no_page_are_refused_before_asking_the_mother(path: str) -> None:
    reader = console.Reader(cast("Any", None), [])  # no mother: none is asked
    response = reader.route(path, {})
    assert response.status == 404
    assert b"Not found" in response.body
