"""The images the charts and operators name by default are exactly the ones built here, tagged with the chart's
appVersion (the project's version)."""

from __future__ import annotations

import subprocess
from pathlib import Path

import pytest
import yaml

from flannel_operator.settings import ImageSettings
from kubeception_testenv._binaries import find_binary
from kubeception_testenv.images import recipes, version
from kvm_operator.settings import KVMSettings
from tests.charts import render_chart

pytestmark = pytest.mark.servers

CHARTS = Path(__file__).parents[2] / "charts"


def test_charts_and_operators_name_the_images_built_here():
    built = {recipe.ref for recipe in recipes()}
    for chart in ("flannel-operator", "cert-operator"):
        assert yaml.safe_load((CHARTS / chart / "Chart.yaml").read_text())["appVersion"] == version()
        manifest = render_chart(CHARTS / chart, "ops")
        images = {
            container["image"]
            for doc in yaml.safe_load_all(manifest)
            if doc and doc["kind"] == "Deployment"
            for container in doc["spec"]["template"]["spec"]["containers"]
        }
        assert images == {f"ghcr.io/kubeception/operators:{version()}"}
        assert images <= built
    defaults = ImageSettings()
    assert {defaults.flannel, defaults.tools} <= built
    values = yaml.safe_load((CHARTS / "flannel-operator" / "values.yaml").read_text())["images"]
    assert {values["flannel"], values["tools"]} == {defaults.flannel, defaults.tools}


def test_every_recipe_is_small_and_unprivileged_where_it_can_be():
    by_name = {recipe.short: recipe for recipe in recipes()}
    images = {"operators", "pause", "flannel", "tools", "coredns", "etcd-v3.6.16"}
    images |= {"kubernetes-v1.36.3", "kubernetes-v1.36.1", "node-v1.36.3", "node-v1.36.1", "busybox", "vm"}
    assert set(by_name) == images
    assert by_name["coredns"].debian == [], "CoreDNS is a static binary and nothing else"
    assert by_name["operators"].user == 65532, "operators run as a non-root user"
    assert "gcc" not in " ".join(by_name["operators"].debian), "no compilers"
    assert by_name["busybox"].debian == ["busybox-static"]
    assert by_name["busybox"].variant == "extract"
    assert by_name["pause"].debian == [], "pause is a static binary and nothing else"


def test_kvm_operator_supports_exactly_the_kubernetes_images_built_here_and_each_is_its_version():
    """A guest's control plane runs ``<images.kubernetes>:v<version>``: every supported version has an image, and
    the binaries packed under a tag report that version (no image relabels another version's binaries)."""
    settings = KVMSettings()
    kubernetes = {recipe.tag: recipe for recipe in recipes() if recipe.name == settings.images.kubernetes}
    assert set(kubernetes) == {f"v{supported}" for supported in settings.versions.supported}
    chart = yaml.safe_load((CHARTS / "kvm-operator" / "values.yaml").read_text())["controlPlane"]
    assert (chart["image"], chart["versions"]) == (settings.images.kubernetes, settings.versions.supported)
    assert chart["etcdImage"] == settings.images.etcd
    (etcd,) = (recipe for recipe in recipes() if recipe.ref == settings.images.etcd)
    for tag, recipe in [*kubernetes.items(), (etcd.tag, etcd)]:
        assert recipe.user == 65532
        for binary in recipe.binaries:
            reported = subprocess.run([find_binary(binary), "--version"], capture_output=True, text=True, check=True)
            first_line = reported.stdout.splitlines()[0]  # "Kubernetes v1.36.3", "etcd Version: 3.6.16"
            assert first_line.split()[-1].removeprefix("v") == tag.removeprefix("v"), (binary, first_line)


def test_a_worker_node_image_for_every_supported_version_with_its_kubelet():
    """Workers boot ``<images.node>:v<version>``: one per supported version, its kubelet that version, the same
    boot recipe otherwise (node-previous.yaml only replaces the tag and the kubelet)."""
    settings = KVMSettings()
    nodes = {recipe.tag: recipe for recipe in recipes() if recipe.name == settings.images.node}
    assert set(nodes) == {f"v{supported}" for supported in settings.versions.supported}
    assert settings.images.vm in {recipe.ref for recipe in recipes()}, "the launcher's image is built here"
    boots = {tag: recipe.boot for tag, recipe in nodes.items()}
    assert len({repr(boot) for boot in boots.values()}) == 1, "one boot recipe for every version"
    for tag, recipe in nodes.items():
        assert recipe.binaries["nodeinit"] == "/init"
        (kubelet,) = (binary for binary, path in recipe.binaries.items() if path == "/usr/local/bin/kubelet")
        reported = subprocess.run([find_binary(kubelet), "--version"], capture_output=True, text=True, check=True)
        assert reported.stdout.split()[-1] == tag, (kubelet, reported.stdout)
