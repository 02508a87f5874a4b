"""charts/flannel-operator: lints, the API server accepts it, and its RBAC is enough — and only what is used:
the operator runs a cluster network's whole lifecycle under the chart's ServiceAccount token."""

from __future__ import annotations

import ipaddress
from pathlib import Path

import pytest

from flannel_operator.controller import flannel_controller, shared_parts
from flannel_operator.settings import FlannelSettings
from flannel_operator.spec import FLANNEL_CONFIG
from kubeception_testenv import ControlPlane, EtcdServer, wait_for
from operatorkit import KubeClient, Operator, is_true, load_settings
from tests.charts import helm, operator_args, render_chart, service_account_kubeconfig, without_address_plan
from tests.flannel.conftest import flannel_config, settings_for, status, unique

pytestmark = pytest.mark.servers

CHART = Path(__file__).parents[2] / "charts" / "flannel-operator"


def render(namespace: str, *values: str) -> str:
    return render_chart(CHART, namespace, *values)


def test_chart_lints_and_rejects_bad_values():
    assert helm("lint", str(CHART)).returncode == 0
    bad = helm("lint", str(CHART), "--set=workers=0", "--set=etcd.endpoint=not-a-url")
    assert bad.returncode != 0
    assert "/workers" in bad.stdout + bad.stderr
    assert "/etcd/endpoint" in bad.stdout + bad.stderr
    # The network etcd holds every cluster's network: https with a client certificate, or no install at all.
    plain = helm("lint", str(CHART), "--set=etcd.endpoint=http://etcd:2379", "--set=etcd.tlsSecret=")
    assert plain.returncode != 0
    assert "/etcd/endpoint" in plain.stdout + plain.stderr
    assert "/etcd/tlsSecret" in plain.stdout + plain.stderr


def test_chart_passes_flags_the_operator_understands():
    defaults = load_settings(FlannelSettings, operator_args(render("ops")))
    assert defaults.allocation.vni_max == 9999
    assert defaults.platform.mother.services == [ipaddress.IPv4Network("10.96.0.0/12")]
    assert defaults.platform.pools.flannel == ipaddress.IPv4Network("10.64.0.0/10")
    assert (defaults.etcd.ca_file, defaults.etcd.cert_file, defaults.etcd.key_file) == (
        "/etc/etcd-client/ca.crt",
        "/etc/etcd-client/tls.crt",
        "/etc/etcd-client/tls.key",
    )
    values = ["etcd.tlsSecret=etcd-certs", "hosts.nodeSelector=type=kvm", "allocation.vniMin=5"]
    plan = [
        "platform.mother.pods={10.244.0.0/16,10.245.0.0/16}",
        "platform.guestEndpoints={10.213.7.1:443/tcp,10.213.7.1:30000-30999/tcp}",
    ]
    custom = load_settings(FlannelSettings, operator_args(render("ops", *values, *plan)))
    assert custom.etcd.cert_file == "/etc/etcd-client/tls.crt"
    assert custom.hosts.node_selector == {"type": "kvm"}
    assert custom.allocation.vni_min == 5
    assert [str(n) for n in custom.platform.mother.pods] == ["10.244.0.0/16", "10.245.0.0/16"]
    # what the VMs' confinement opens: the ingress's TLS port and its pool of per-route ports
    assert custom.platform.guest_endpoints == ["10.213.7.1:443/tcp", "10.213.7.1:30000-30999/tcp"]
    assert defaults.platform.guest_endpoints == []


def test_rendered_chart_is_accepted_by_the_server(control_plane: ControlPlane, namespace: str):
    manifest = render(namespace, "etcd.tlsSecret=etcd-certs")
    result = control_plane.kubectl("apply", "--dry-run=server", "-f", "-", input=manifest, check=False)
    assert result.returncode == 0, result.stderr


def test_operator_runs_with_exactly_the_charts_rbac(
    control_plane: ControlPlane,
    kube: KubeClient,
    namespace: str,
    etcd_server: EtcdServer,
    flannel_crd: None,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
):
    control_plane.kubectl("apply", "-f", "-", input=without_address_plan(render(namespace)))
    kubeconfig = service_account_kubeconfig(control_plane, kube, namespace, "flannel-operator", tmp_path / "kubeconfig")
    as_operator = KubeClient.load(str(kubeconfig))
    denied = control_plane.kubectl(f"--kubeconfig={kubeconfig}", "get", "secrets", "-A", check=False)
    assert denied.returncode != 0, "the operator may not list Secrets"
    assert "forbidden" in denied.stderr

    settings = settings_for(
        etcd_server, workers=2, leader_election={"enabled": True, "namespace": namespace, "id": "flannel"}
    )
    operator = Operator([flannel_controller(shared_parts(settings))], settings, client=as_operator)
    operator.start()
    try:
        cluster = unique("rbac")
        kube.create(FLANNEL_CONFIG, flannel_config(cluster))
        wait_for(
            lambda: is_true(status(kube, cluster), "Ready") and is_true(status(kube, cluster), "HostsReady"),
            timeout=60,
            message="the network under the chart's RBAC",
        )
        kube.delete(FLANNEL_CONFIG, cluster)
        wait_for(
            lambda: kube.get_or_none(FLANNEL_CONFIG, cluster) is None,
            timeout=120,
            message="deletion under the chart's RBAC",
        )
    finally:
        operator.stop()
