"""The console's changes, pure: a form's fields to the patch the plugin's commands send (checked for type, size and
format before anything reaches the mother), the pages that preview and confirm them, and the form token a post
must carry. No server (tests/plugin/test_console.py previews, applies and forges posts in a browser)."""

from __future__ import annotations

from pathlib import Path
from typing import Any, cast

import pytest
import yaml

from kubectl_kubeception import changes, clusters, console, manifests, pages, tree
from kubectl_kubeception.mother import Invalid
from tests.plugin.test_console_pages import HOSTILE, Elements
from tests.plugin.test_rendering import NOW, READY_KVM, aws, kvm

KVM_OBJ = kvm()
AWS_OBJ = aws()
ROOT = tree.build(READY_KVM, ca=None, certificates=None, network=False, ingress=False)


@pytest.mark.parametrize(
    ("obj", "action", "fields", "said", "spec", "cli"),
    [
        (KVM_OBJ, "scale", {"pool": "default", "workers": "3"}, "pool default: 2 → 3 workers",
         {"workerPools": [{"name": "default", "replicas": 3}]},
         "kubectl kubeception scale cluster demo -n org-blue --pool default --workers 3"),
        (KVM_OBJ, "scale", {"pool": "default", "workers": " 0 "}, "pool default: 2 → 0 workers",
         {"workerPools": [{"name": "default", "replicas": 0}]},
         "kubectl kubeception scale cluster demo -n org-blue --pool default --workers 0"),
        (AWS_OBJ, "scale", {"pool": "a", "workers": "5"}, "pool a: desired 2 → 5 (maxSize raised to 5)",
         {"workerPools": [{"name": "a", "desired": 5, "maxSize": 5}, {"name": "b"}]},
         "kubectl kubeception scale cluster web -n org-red --pool a --workers 5"),
        (KVM_OBJ, "upgrade", {"version": "1.37.0"}, "1.36.3 → 1.37.0", {"kubernetesVersion": "1.37.0"},
         "kubectl kubeception upgrade cluster demo -n org-blue --to 1.37.0"),
    ],
)  # fmt: skip
def test_a_change_is_the_plugins_patch_with_its_command_and_the_version_previewed(
    obj: dict[str, Any], action: str, fields: dict[str, str], said: str, spec: dict[str, Any], cli: str
) -> None:
    change = changes.planned(obj, action, fields)
    assert change.action == action
    assert change.said == said
    assert change.patch == {"metadata": {"resourceVersion": obj["metadata"]["resourceVersion"]}, "spec": spec}
    assert change.cli == cli
    assert change.fields["resourceVersion"] == obj["metadata"]["resourceVersion"]
    assert changes.planned(obj, action, dict(change.fields)) == change, "the confirmation form plans the same"


@pytest.mark.parametrize(
    ("action", "fields", "refusal"),
    [
        ("scale", {"pool": "default", "workers": "101"}, "at most 100"),
        ("scale", {"pool": "default", "workers": "-1"}, "a number of workers"),
        ("scale", {"pool": "default", "workers": "1e3"}, "a number of workers"),
        ("scale", {"pool": "default", "workers": "9" * 5000}, "a number of workers"),
        ("scale", {"pool": "default"}, "a number of workers"),
        ("scale", {"pool": "../default", "workers": "1"}, "a pool's name"),
        ("scale", {"pool": "x" * 64, "workers": "1"}, "a pool's name"),
        ("scale", {"pool": "other", "workers": "1"}, "no pool 'other'"),
        ("upgrade", {"version": HOSTILE}, "a Kubernetes version"),
        ("upgrade", {"version": "2.0.0"}, "a Kubernetes version"),
        ("upgrade", {"version": "1.38.0"}, "skips a minor version"),
        ("upgrade", {"version": "1.35.9"}, "minor downgrade"),
        ("delete", {}, "the console scales and upgrades"),
    ],
)
def test_a_field_that_is_not_one_or_a_change_the_plugin_refuses_never_reaches_the_mother(
    action: str, fields: dict[str, str], refusal: str
) -> None:
    with pytest.raises(Invalid, match=refusal):
        changes.planned(KVM_OBJ, action, fields)


def test_a_change_applies_only_to_the_version_previewed() -> None:
    assert changes.unchanged_since_preview(KVM_OBJ, {"resourceVersion": "7"})
    assert not changes.unchanged_since_preview(KVM_OBJ, {"resourceVersion": "8"})
    with pytest.raises(Invalid):
        changes.unchanged_since_preview(KVM_OBJ, {"resourceVersion": "7 OR 1=1"})


def test_the_cluster_page_offers_a_labelled_form_per_pool_and_an_upgrade_each_with_the_form_token() -> None:
    page = pages.cluster_page(
        clusters.summarize(READY_KVM), "blue", ROOT, [], NOW,
        pools=changes.pools(READY_KVM), csrf="t0ken",
    )  # fmt: skip
    found = Elements(page)
    forms = found.named("form")
    assert [f["action"] for f in forms] == [
        "/clusters/org-blue/demo/scale", "/clusters/org-blue/demo/upgrade", "/clusters/org-blue/demo/login"
    ]  # fmt: skip
    assert all(f["method"] == "post" for f in forms)
    hidden = {(i["name"], i["value"]) for i in found.named("input") if i.get("type") == "hidden"}
    assert ("csrf", "t0ken") in hidden
    assert ("pool", "default") in hidden
    labelled = {label["for"] for label in found.named("label")}
    fields = {i["id"] for i in found.named("input") if i.get("type") != "hidden"} | {
        i["id"] for i in found.named("select")
    }
    assert fields == labelled  # every field labelled
    read_only = pages.cluster_page(clusters.summarize(READY_KVM), "blue", ROOT, [], NOW)
    assert "<form" not in read_only, "no form token, no form"


def test_the_preview_shows_the_patch_and_a_confirmation_the_refusal_shows_why_escaped() -> None:
    summary = clusters.summarize(KVM_OBJ)
    change = changes.planned(KVM_OBJ, "scale", {"pool": "default", "workers": "3"})
    preview = Elements(pages.change_page(summary, change, csrf="t0ken"))
    hidden = {i["name"]: i["value"] for i in preview.named("input") if i.get("type") == "hidden"}
    assert hidden == {"csrf": "t0ken", "step": "apply", "pool": "default", "workers": "3", "resourceVersion": "7"}
    text = "".join(preview.text)
    assert '"replicas": 3' in text
    assert "accepted this change in a dry run" in text
    assert "kubectl kubeception scale cluster demo -n org-blue --pool default --workers 3" in text

    refused = pages.change_page(summary, change, csrf="t0ken", refused=f"refused at admission: {HOSTILE}")
    assert HOSTILE not in refused
    assert "<form" not in refused, "nothing to confirm"
    assert "refused at admission: <script>" in "".join(Elements(refused).text)
    applied = "".join(Elements(pages.change_page(summary, change, csrf="t0ken", applied=True)).text)
    assert "Applied" in applied


def test_a_form_token_is_the_sessions_own_and_a_post_comes_from_this_console() -> None:
    assert console.form_token("a") == console.form_token("a")
    assert console.form_token("a") != console.form_token("b")
    assert console.form_token("a") != "a", "the token shown in a page is not the cookie's secret"
    assert console.same_origin(None, 8000)  # a browser that names no Origin: the cookie and the token decide
    assert console.same_origin("http://127.0.0.1:8000", 8000)
    assert console.same_origin("http://localhost:8000", 8000)
    assert not console.same_origin("http://evil.example", 8000)
    assert not console.same_origin("null", 8000)
    assert not console.same_origin("http://127.0.0.1:9999", 8000)


@pytest.mark.parametrize("path", ["/clusters", "/clusters/a/b", "/clusters/Bad_Name/b/scale", "/"])
def test_a_form_posted_anywhere_but_a_clusters_change_is_refused_before_asking_the_mother(path: str) -> None:
    reader = console.Reader(cast("Any", None), [])  # no mother: none is asked
    response = reader.route(path, {}, form={"workers": "1"})
    assert response.status == 404


@pytest.mark.parametrize(
    ("fields", "expected"),
    [
        ({"access": "view", "ttl": "1h"}, changes.LoginForm("view", "1h", None)),
        ({"access": "masters", "ttl": "15m", "server": " https://10.0.0.1:443 "},
         changes.LoginForm("masters", "15m", "https://10.0.0.1:443")),
        ({"access": "admin", "ttl": "8h", "server": ""}, changes.LoginForm("admin", "8h", None)),
        ({"access": "root", "ttl": "1h"}, "access"),
        ({"access": "view", "ttl": "100h"}, "lifetime"),
        ({"access": "view"}, "lifetime"),
        ({"access": "view", "ttl": "1h", "server": "http://10.0.0.1"}, "not an https URL"),
        ({"access": "view", "ttl": "1h", "server": "https://a b"}, "not an https URL"),
        ({"access": "view", "ttl": "1h", "server": "https://x/?q=<script>"}, "not an https URL"),
        ({"access": "view", "ttl": "1h", "server": "https://" + "a" * 300}, "not an https URL"),
    ],
)  # fmt: skip
def test_the_login_form_takes_the_plugins_choices_only(
    fields: dict[str, str], expected: changes.LoginForm | str
) -> None:
    if isinstance(expected, str):
        with pytest.raises(Invalid, match=expected):
            changes.login_form(fields)
    else:
        assert changes.login_form(fields) == expected


def test_a_new_cluster_is_the_plugins_manifest_and_command() -> None:
    change = changes.new_cluster("org-blue", {"name": "web", "version": "1.36.3", "workers": "2", "replicas": "3"})
    assert change.action == "create"
    assert change.patch["metadata"] == {"name": "web", "namespace": "org-blue"}
    assert change.patch["spec"]["clusterID"] == "web"
    assert change.patch["spec"]["controlPlane"] == {"replicas": 3}
    assert change.patch["spec"]["workerPools"] == [{"name": "default", "replicas": 2}]
    assert change.cli == "kubectl kubeception create cluster web -n org-blue --version 1.36.3 --workers 2 --replicas 3"
    assert changes.new_cluster("org-blue", dict(change.fields)) == change
    assert change.fields["kind"] == "kvm"


AWS_FORM = {"kind": "aws", "name": "web", "version": "1.36.3", "workers": "2", "replicas": "3",
            "region": "eu-west-1", "credentials": "acme-account"}  # fmt: skip
AWS_CLI = "kubectl kubeception create cluster web -n org-blue --kind aws --version 1.36.3 --workers 2 --replicas 3"


@pytest.mark.parametrize(
    ("fields", "spec", "cli"),
    [
        ({**AWS_FORM, "zones": "", "instanceType": ""},
         {"region": "eu-west-1", "availabilityZones": ["eu-west-1a"], "credentials": {"secretName": "acme-account"},
          "workerPools": [{"name": "default", "desired": 2, "minSize": 1, "maxSize": 2}]},
         f"{AWS_CLI} --region eu-west-1 --credentials-secret acme-account"),
        ({**AWS_FORM, "zones": " eu-west-1a, eu-west-1b ", "instanceType": " t3.medium "},
         {"region": "eu-west-1", "availabilityZones": ["eu-west-1a", "eu-west-1b"],
          "credentials": {"secretName": "acme-account"},
          "workerPools": [{"name": "default", "desired": 2, "minSize": 1, "maxSize": 2, "instanceType": "t3.medium"}]},
         f"{AWS_CLI} --region eu-west-1 --zone eu-west-1a --zone eu-west-1b --credentials-secret acme-account "
         "--instance-type t3.medium"),
    ],
)  # fmt: skip
def test_a_new_aws_cluster_is_the_plugins_manifest_and_command(
    fields: dict[str, str], spec: dict[str, Any], cli: str
) -> None:
    change = changes.new_cluster("org-blue", fields)
    assert change.patch["kind"] == "AWSConfig"
    assert change.patch["metadata"] == {"name": "web", "namespace": "org-blue"}
    assert change.patch["spec"] == {"clusterID": "web", "kubernetesVersion": "1.36.3", "masters": {"replicas": 3},
                                    **spec}  # fmt: skip
    assert change.cli == cli
    assert "AWS guest cluster web" in change.said
    assert changes.new_cluster("org-blue", dict(change.fields)) == change, "the confirmation form plans the same"


def test_a_kvm_form_ignores_the_aws_fields() -> None:
    kvm_form = {"name": "web", "version": "1.36.3", "workers": "2", "replicas": "3"}
    alike = changes.new_cluster("org-blue", {**kvm_form, "kind": "kvm", "region": HOSTILE, "credentials": HOSTILE})
    assert alike == changes.new_cluster("org-blue", kvm_form)
    assert alike.patch["kind"] == "KVMConfig"


def test_the_aws_patterns_are_the_crds() -> None:
    """The plugin imports no operator, so it holds copies of the AWSConfig CRD's patterns and bounds: checked here."""
    crd = yaml.safe_load((Path(__file__).parents[2] / "crds" / "awsconfigs.kubeception.io.yaml").read_text())
    spec = crd["spec"]["versions"][0]["schema"]["openAPIV3Schema"]["properties"]["spec"]["properties"]
    zones, pool = spec["availabilityZones"], spec["workerPools"]["items"]["properties"]
    secret = spec["credentials"]["properties"]["secretName"]
    assert (spec["region"]["pattern"], spec["region"]["maxLength"]) == (manifests.REGION.pattern, manifests.MAX_REGION)
    assert (zones["items"]["pattern"], zones["items"]["maxLength"], zones["maxItems"]) == (
        manifests.ZONE.pattern, manifests.MAX_ZONE, manifests.MAX_ZONES)  # fmt: skip
    assert (pool["instanceType"]["pattern"], pool["instanceType"]["maxLength"]) == (
        manifests.INSTANCE_TYPE.pattern, manifests.MAX_INSTANCE_TYPE)  # fmt: skip
    assert (secret["pattern"], secret["maxLength"]) == (manifests.NAME.pattern, manifests.MAX_SECRET_NAME)
    assert spec["clusterID"]["maxLength"] == manifests.MAX_CLUSTER_ID


@pytest.mark.parametrize(
    ("fields", "refusal"),
    [
        ({**AWS_FORM, "kind": "gcp"}, "a kind of cluster: 'gcp' is not one of kvm, aws"),
        ({**AWS_FORM, "kind": ""}, "a kind of cluster: '' is not one of"),
        ({**AWS_FORM, "kind": HOSTILE * 100}, "a kind of cluster"),
        ({**AWS_FORM, "region": "Europe"}, r"an AWS region \(like eu-central-1\): 'Europe' is not one"),
        ({**AWS_FORM, "region": "eu-west-1a"}, "an AWS region"),
        ({**AWS_FORM, "region": ""}, "an AWS region"),
        ({**AWS_FORM, "region": "eu" + "-west" * 5 + "-1"}, "an AWS region"),  # the pattern's, but over 25
        ({**AWS_FORM, "region": HOSTILE}, "an AWS region"),
        ({**AWS_FORM, "credentials": "Acme_Account"}, "the credentials Secret's name"),
        ({**AWS_FORM, "credentials": "a.b"}, "the credentials Secret's name"),
        ({**AWS_FORM, "credentials": "a" * 254}, "the credentials Secret's name"),
        ({**AWS_FORM, "credentials": ""}, "the credentials Secret's name"),
        ({**AWS_FORM, "instanceType": "large"}, r"an instance type \(like m5.large\): 'large' is not one"),
        ({**AWS_FORM, "instanceType": "m5." + "x" * 30}, "an instance type"),
        ({**AWS_FORM, "zones": "eu-west-1"}, "an availability zone"),
        ({**AWS_FORM, "zones": "eu-west-1a eu-west-1b eu-west-1c eu-west-1d"}, "at most 3, not 4"),
        ({**AWS_FORM, "zones": "eu-west-1a " * 2000}, "at most 3"),
        ({**AWS_FORM, "zones": HOSTILE}, "an availability zone"),
        ({**AWS_FORM, "zones": "eu-west-1a eu-central-1b"}, "eu-central-1b is not in region eu-west-1"),
        ({**AWS_FORM, "zones": "eu-west-1b eu-west-1b"}, "each once, not eu-west-1b eu-west-1b"),
        ({**AWS_FORM, "name": "w" * 31}, "at most 30"),
        ({"name": "Web", "version": "1.36.3", "workers": "1", "replicas": "1"}, "a cluster's name"),
        ({"name": "w" * 31, "version": "1.36.3", "workers": "1", "replicas": "1"}, "at most 30"),
        ({"name": HOSTILE, "version": "1.36.3", "workers": "1", "replicas": "1"}, "a cluster's name"),
        ({"name": "web", "version": "latest", "workers": "1", "replicas": "1"}, "a Kubernetes version"),
        ({"name": "web", "version": "1.36.3", "workers": "101", "replicas": "1"}, "at most 100"),
        ({"name": "web", "version": "1.36.3", "workers": "1", "replicas": "2"}, "not 1 or 3"),
    ],
)
def test_a_new_cluster_that_is_not_one_never_reaches_the_mother(fields: dict[str, str], refusal: str) -> None:
    with pytest.raises(Invalid, match=refusal):
        changes.new_cluster("org-blue", fields)


def test_the_organizations_page_offers_the_create_form_with_the_newest_version() -> None:
    listed = [clusters.summarize(kvm("a")), clusters.summarize(aws("b"))]
    page = pages.clusters_page(listed, {}, NOW, title="t", cli="c", new_cluster="blue", csrf="t0ken")
    found = Elements(page)
    (form,) = [f for f in found.named("form") if f["action"] == "/orgs/blue/clusters/new"]
    assert form["method"] == "post"
    version = next(i for i in found.named("input") if i.get("id") == "new-version")
    assert version["value"] == "1.36.3"
    assert [o["value"] for o in found.named("option")][:2] == ["kvm", "aws"], "KVM first: the plugin's default"
    named = {i.get("name"): i.get("value") for i in found.named("input")}
    assert {"region": "eu-central-1", "credentials": "aws-account"}.items() <= named.items()
    assert {"zones", "instanceType"} <= named.keys()
    assert "<form" not in pages.clusters_page(listed, {}, NOW, title="t", cli="c")


def test_a_followed_cluster_page_reloads_itself_without_script_and_says_so() -> None:
    follow = "/clusters/org-blue/demo?live=1&after=7"
    page = pages.cluster_page(clusters.summarize(READY_KVM), "blue", ROOT, [], NOW, follow=follow)
    found = Elements(page)
    (refresh,) = [m for m in found.named("meta") if m.get("http-equiv") == "refresh"]
    assert refresh["content"] == f"0; url={follow}"
    assert not found.named("script")
    assert "Stop following" in "".join(found.text)
    still = Elements(pages.cluster_page(clusters.summarize(READY_KVM), "blue", ROOT, [], NOW))
    assert not [m for m in still.named("meta") if m.get("http-equiv") == "refresh"], "followed only when asked"
    assert {a["href"] for a in still.named("a")} >= {"/clusters/org-blue/demo?live=1"}


class Unwatchable:
    """A mother whose watch of the cluster fails at once (the console's side of it, no server needed)."""

    def find_cluster(self, name: str, namespace: str) -> dict[str, Any]:
        return READY_KVM

    def changed_since(self, obj: dict[str, Any], resource_version: str, timeout: int) -> bool | None:
        return None

    def organizations(self, namespaces: set[str]) -> dict[str, str]:
        return {}

    def cluster_tree(self, obj: dict[str, Any]) -> tree.Row:
        return ROOT

    def events(self, obj: dict[str, Any]) -> list[dict[str, Any]]:
        return []


def test_a_followed_page_whose_watch_fails_stops_following_instead_of_reloading_at_once_again() -> None:
    reader = console.Reader(cast("Any", Unwatchable()), [])
    version = READY_KVM["metadata"]["resourceVersion"]
    page = reader.route("/clusters/org-blue/demo", {"live": ["1"], "after": [version]}).body.decode()
    assert 'http-equiv="refresh"' not in page, "a failed watch answered at once: following it would never rest"
    assert "Following stopped" in page
