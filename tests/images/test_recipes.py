"""The images the charts and operators name by default are exactly the ones built here, tagged with the chart's
appVersion (the project's version)."""

from __future__ import annotations

import dataclasses
import subprocess
from pathlib import Path

import pytest
import yaml

from flannel_operator.settings import ImageSettings
from kubeception_testenv._binaries import find_binary
from kubeception_testenv.images import RECIPES, Recipe, recipes, version
from kubeception_testenv.platform import REGISTRY_IMAGES
from kvm_operator.settings import KVMSettings
from tests.charts import render_chart

pytestmark = pytest.mark.servers

CHARTS = Path(__file__).parents[2] / "charts"
TESTENV = Path(__file__).parents[2] / "tools" / "testenv"


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
    # The platform registry's chart runs the registry image, both its servers, and what it fills it with is built.
    registry = [d for d in yaml.safe_load_all(render_chart(CHARTS / "kubeception-registry", "ops")) if d]
    pod = next(d for d in registry if d["kind"] == "Deployment")["spec"]["template"]["spec"]
    assert [c["image"] for c in pod["containers"]] == [f"ghcr.io/kubeception/registry:{version()}"] * 2
    assert set(REGISTRY_IMAGES) <= {recipe.short for recipe in recipes()}


def test_every_recipe_is_small_and_unprivileged_where_it_can_be():
    by_name = {recipe.short: recipe for recipe in recipes()}
    images = {"operators", "pause", "flannel", "tools", "coredns", "etcd-v3.6.16"}
    images |= {"kubernetes-v1.36.3", "kubernetes-v1.36.1", "node-v1.36.3", "node-v1.36.1", "busybox", "vm"}
    images |= {"kube-network-policies", "flannel-guest"}
    images |= {"kube-proxy-v1.36.3", "kube-proxy-v1.36.1", "konnectivity", "metrics-server", "registry", "nginx"}
    assert set(by_name) == images
    assert by_name["kube-network-policies"].debian == [], "kube-network-policies is a static binary and nothing else"
    for static in ("coredns", "konnectivity", "metrics-server"):
        assert by_name[static].debian == [], f"{static} is static binaries and nothing else"
        assert by_name[static].user == 65532
    # Unpacked, never installed (its maintainer scripts would start a registry), and only the program kept.
    assert (by_name["registry"].variant, by_name["registry"].debian) == ("extract", ["docker-registry"])
    assert "usr/bin/docker-registry" in by_name["registry"].keep
    assert by_name["registry"].user == 65532
    assert by_name["operators"].user == 65532, "operators run as a non-root user"
    assert "gcc" not in " ".join(by_name["operators"].debian), "no compilers"
    # The guests' flanneld: unpacked (no perl, no shell), nft for its rules, iptables only for its start.
    assert (by_name["flannel-guest"].variant, by_name["flannel-guest"].debian) == ("extract", ["nftables", "iptables"])
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
    assert None not in boots.values()
    others = {repr(dataclasses.replace(b, preload=[p for p in b.preload if not p.startswith("kube-proxy")]))
              for b in boots.values() if b is not None}  # fmt: skip
    assert len(others) == 1, "one boot recipe for every version, but for the kube-proxy it preloads"
    for tag, recipe in nodes.items():
        assert recipe.binaries["nodeinit"] == "/init"
        assert recipe.boot is not None
        preloaded = {Recipe.load(RECIPES / name).ref for name in recipe.boot.preload}
        add_ons = {f"{settings.images.kube_proxy}:{tag}", settings.images.coredns, settings.images.pause}
        assert add_ons <= preloaded, "the sandbox and the add-ons kvm-operator runs on a node of that version"
        (kubelet,) = (binary for binary, path in recipe.binaries.items() if path == "/usr/local/bin/kubelet")
        reported = subprocess.run([find_binary(kubelet), "--version"], capture_output=True, text=True, check=True)
        assert reported.stdout.split()[-1] == tag, (kubelet, reported.stdout)


def test_the_network_policy_image_is_upstreams_release_with_our_patch_and_nothing_else():
    """images/kube-network-policies builds the release its go.mod names, with our patch applied at build time: the
    binary the image packs has the patch's function, and no copy of upstream's source is kept here."""
    folder = RECIPES / "kube-network-policies"
    (recipe,) = (recipe for recipe in recipes() if recipe.short == "kube-network-policies")
    assert recipe.binaries == {"kube-network-policies": "/bin/kube-network-policies"}
    required = (folder / "go.mod").read_text()
    assert "\ntool sigs.k8s.io/kube-network-policies/cmd\n" in required
    assert "\tsigs.k8s.io/kube-network-policies v0.8.0 " in required
    patch = (folder / "nfqueue-xt-target.patch").read_text()
    assert patch.startswith("kubeception's patch to sigs.k8s.io/kube-network-policies v0.8.0"), "says what and why"
    assert sorted(path.name for path in folder.iterdir()) == ["go.mod", "go.sum", "nfqueue-xt-target.patch"]
    assert b"networkpolicy.xtQueue" in find_binary("kube-network-policies").read_bytes(), "built without the patch"


def test_a_kube_proxy_image_for_every_supported_version_with_its_kube_proxy_and_nft():
    """A guest's kube-proxy DaemonSet runs ``ghcr.io/kubeception/kube-proxy:v<its version>``: one per supported
    version (like the node images), the kube-proxy packed under a tag reports that version, nft beside it."""
    settings = KVMSettings()
    proxies = {recipe.tag: recipe for recipe in recipes() if recipe.name == "ghcr.io/kubeception/kube-proxy"}
    assert set(proxies) == {f"v{supported}" for supported in settings.versions.supported}
    for tag, recipe in proxies.items():
        assert (recipe.debian, recipe.variant) == (["nftables"], "extract"), "nft and its libraries, no shell"
        (binary,) = recipe.binaries
        assert recipe.binaries[binary] == "/usr/local/bin/kube-proxy"
        reported = subprocess.run([find_binary(binary), "--version"], capture_output=True, text=True, check=True)
        assert reported.stdout.split()[-1] == tag, (binary, reported.stdout)


def gomod_version(module_dir: str, module: str) -> str:
    (line,) = (
        line for line in (TESTENV / module_dir / "go.mod").read_text().splitlines() if line.split()[:1] == [module]
    )
    return line.split()[1]


def test_the_guest_add_ons_binaries_are_the_versions_their_modules_pin():
    """What the add-on images carry is what tools/testenv pins: metrics-server and the CNI plugins say their
    version, konnectivity's binaries (no --version flag) carry it in their Go build information; CoreDNS has the
    plugins kubeadm's Corefile uses."""
    metrics = subprocess.run([find_binary("metrics-server"), "--version"], capture_output=True, text=True, check=True)
    assert metrics.stdout.strip() == gomod_version("metrics-server", "sigs.k8s.io/metrics-server") == "v0.8.0"
    plugins = gomod_version("cni", "github.com/containernetworking/plugins")
    for plugin in ("bridge", "host-local", "loopback", "portmap"):
        about = subprocess.run([find_binary(f"cni/{plugin}")], capture_output=True, text=True, check=False)
        assert f"plugin {plugins}" in about.stderr + about.stdout, (plugin, about.stderr)
    konnectivity = gomod_version("konnectivity", "sigs.k8s.io/apiserver-network-proxy")
    assert konnectivity == "v0.36.0"
    for binary in ("konnectivity/server", "konnectivity/agent"):
        assert f"sigs.k8s.io/apiserver-network-proxy\t{konnectivity}\t".encode() in find_binary(binary).read_bytes()
    listed = subprocess.run([find_binary("coredns"), "-plugins"], capture_output=True, text=True, check=True).stdout
    kubeadm = {"errors", "health", "ready", "kubernetes", "prometheus", "forward", "cache", "loop", "reload"}
    assert kubeadm | {"loadbalance", "log"} <= set(listed.split())
