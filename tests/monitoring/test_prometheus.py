"""The platform's Prometheus (``kubeception_testenv.prometheus``, what ``make up`` starts): the real Prometheus
scrapes a real operator, answers for its reconcile health, and raises an alert of ``monitoring/alerts.yaml``
(loaded unchanged) for a guest cluster that lost its CA; its pod discovery lists only what it may, as whom it may."""

from __future__ import annotations

import functools
import ipaddress
import uuid
from typing import TYPE_CHECKING, Any

import pytest

from guestkit import CA_CONFIG, CERT_CONFIG
from kubeception_testenv import wait_for
from kubeception_testenv.controlplane import KWOK_POD_CIDR
from kubeception_testenv.prometheus import (
    DISCOVERY_USER,
    PodTargets,
    PrometheusServer,
    grant_discovery,
    pod_targets,
)
from operatorkit import ApiError, KubeClient
from operatorkit.kinds import POD, SERVICE_ACCOUNT
from operatorkit.testing import reason_of, status_of
from tests.cert.conftest import bao, cert_crds, start_cert_operator
from tests.cert.helpers import ca_config, cert_config, ready

if TYPE_CHECKING:
    from pathlib import Path

    from kubeception_testenv import ControlPlane

__all__ = ["bao", "cert_crds", "start_cert_operator"]
POD_NAME = "cert-operator-0"  # the target's pod label, as discovery gives an operator's replica


def firing_or_pending(prometheus: PrometheusServer, alertname: str, **labels: str) -> list[dict[str, Any]]:
    return [
        alert
        for alert in prometheus.alerts()
        if alert["labels"].get("alertname") == alertname and all(alert["labels"].get(k) == v for k, v in labels.items())
    ]


@pytest.mark.servers
def test_prometheus_shows_reconcile_health_and_alerts_on_a_lost_ca(
    kube, namespace, bao, start_cert_operator, tmp_path: Path
):
    operator = start_cert_operator()
    # Scraped and evaluated every second (the rule file as shipped): the test waits seconds, not minutes.
    with PrometheusServer(tmp_path / "prometheus", interval="1s") as prometheus:
        target = f"127.0.0.1:{operator.http_ports[0]}"  # the metrics server (the probes are on the second port)
        labels = {"namespace": "kubeception-system", "pod": POD_NAME}  # the replica's, as discovery labels it
        prometheus.write_targets("operators", [{"targets": [target], "labels": labels}])
        cluster = f"m{uuid.uuid4().hex[:6]}"
        kube.create(CA_CONFIG, ca_config("ca", namespace, cluster))
        kube.create(CERT_CONFIG, cert_config("api", namespace, cluster))
        wait_for(functools.partial(ready, kube, CERT_CONFIG, "api", namespace), timeout=30, message="issued")

        wait_for(
            lambda: prometheus.query(f'up{{job="kubeception",pod="{POD_NAME}"}} == 1'),
            timeout=30,
            message="the operator scraped",
        )
        assert [t["health"] for t in prometheus.active_targets()] == ["up"], prometheus.active_targets()
        reconciles = f'sum by (controller) (controller_runtime_reconcile_total{{pod="{POD_NAME}"}}) > 0'
        wait_for(
            lambda: {r["metric"]["controller"] for r in prometheus.query(reconciles)} >= {"caconfig", "certconfig"},
            timeout=30,
            message="reconciles of both controllers counted",
        )
        assert not firing_or_pending(prometheus, "KubeceptionCALost", namespace=namespace), "a healthy CA"

        lost = status_of(kube, CA_CONFIG, "ca", namespace)["ca"]["serial"]
        bao.sys.disable_secrets_engine(f"pki-{cluster}")  # what a Vault without persistence does on restart
        kube.patch(CA_CONFIG, "ca", {"metadata": {"labels": {"nudge": "1"}}}, namespace)
        wait_for(lambda: reason_of(kube, CA_CONFIG, "ca", namespace) == "CALost", timeout=30, message="CA lost")
        # for: 1m — pending at the first evaluation that sees the gauge, firing a minute later (promtool's tests).
        alerts = wait_for(
            lambda: firing_or_pending(prometheus, "KubeceptionCALost", namespace=namespace),
            timeout=30,
            message="KubeceptionCALost pending",
        )
        assert len(alerts) == 1, alerts
        (alert,) = alerts
        assert alert["labels"] == {
            "alertname": "KubeceptionCALost",
            "severity": "critical",
            "namespace": namespace,  # the CAConfig's own namespace (honor_labels), not the scrape target's
            "name": "ca",
            "serial": lost,
        }
        assert alert["state"] in ("pending", "firing")
        assert alert["annotations"]["summary"] == f"CAConfig {namespace}/ca: CA {lost} is gone from Vault"


@pytest.mark.servers
def test_a_guest_api_server_is_scraped_by_its_kubeconfig(control_plane: ControlPlane, tmp_path: Path):
    """A real kube-apiserver stands for the guest's (the demo's is behind HAProxy): reached at the kubeconfig's
    server, verified by its CA under the TLS server name the kubeconfig gives, scraped with its client pair."""
    kubeconfig = control_plane.kubeconfig_dict()
    kubeconfig["clusters"][0]["cluster"]["tls-server-name"] = "localhost"  # a name its certificate has, not the IP
    with PrometheusServer(tmp_path / "prometheus", interval="1s") as prometheus:
        prometheus.scrape_guest("org-t", "guest", kubeconfig, prometheus.pid)
        job = "guest-apiserver/org-t/guest"
        found = wait_for(
            lambda: prometheus.query(f'up{{job="{job}"}} == 1'), timeout=30, message="the API server scraped"
        )
        assert found[0]["metric"] | {"instance": ""} == {
            "__name__": "up",
            "job": job,
            "instance": "",
            "namespace": "org-t",
            "cluster": "guest",
            "component": "apiserver",
        }
        assert prometheus.query(f'sum(apiserver_request_total{{job="{job}"}}) > 0'), "its metrics, not just a 200"
        files = prometheus.guests_dir / "org-t.guest"
        assert files.stat().st_mode & 0o777 == 0o700
        assert [(files / name).stat().st_mode & 0o777 for name in ("ca.crt", "tls.crt", "tls.key")] == [0o600] * 3


@pytest.mark.servers
def test_pod_discovery_lists_the_annotated_pods_with_an_identity_that_may_do_only_that(
    control_plane: ControlPlane, kube: KubeClient, namespace: str, tmp_path: Path
):
    grant_discovery(kube, namespace)
    discovery_kube = KubeClient.load(str(control_plane.user_kubeconfig(DISCOVERY_USER)))
    with pytest.raises(ApiError) as refused:
        discovery_kube.list(POD, "default")
    assert refused.value.status == 403, "pods of another namespace are not its to list"

    annotations = {"prometheus.io/scrape": "true", "prometheus.io/port": "8080"}
    wait_for(lambda: kube.get_or_none(SERVICE_ACCOUNT, "default", namespace), timeout=30, message="a namespace ready")
    app = {"app.kubernetes.io/name": "demo"}
    for name, meta in (("scraped", {"annotations": annotations}), ("quiet", {})):
        kube.create(
            POD,
            {
                "metadata": {"name": name, "namespace": namespace, "labels": app, **meta},
                "spec": {"nodeSelector": {"type": "kwok"}, "containers": [{"name": "c", "image": "example/none"}]},
            },
        )
    # Nothing scrapes these targets (this Prometheus is never started): a kwok pod's address is nowhere on this
    # machine, and the test must not send traffic to it.
    unstarted = PrometheusServer(tmp_path / "prometheus")
    discovery = PodTargets(unstarted, discovery_kube, [namespace], [ipaddress.IPv4Network(KWOK_POD_CIDR)])
    groups = wait_for(discovery.sync, timeout=30, message="the annotated pod Running with an address")
    ip = kube.get(POD, "scraped", namespace)["status"]["podIP"]
    assert groups == [{"targets": [f"{ip}:8080"], "labels": {"namespace": namespace, "pod": "scraped", "app": "demo"}}]
    assert (unstarted.targets_dir / "pods.json").exists()


def pod(name: str, ip: str = "10.1.0.5", phase: str = "Running", **annotations: str) -> dict[str, Any]:
    return {
        "metadata": {"name": name, "namespace": "kubeception-system", "annotations": annotations},
        "status": {"phase": phase, "podIP": ip},
    }


SCRAPE = {"prometheus.io/scrape": "true", "prometheus.io/port": "8080"}
NETWORKS = [ipaddress.IPv4Network("10.1.0.0/24")]


@pytest.mark.parametrize(
    ("pod_", "targets"),
    [
        (pod("a", **SCRAPE), ["10.1.0.5:8080"]),
        (pod("no-annotation"), []),
        (pod("false", **{**SCRAPE, "prometheus.io/scrape": "false"}), []),
        (pod("pending", phase="Pending", **SCRAPE), []),
        (pod("no-ip", ip="", **SCRAPE), []),
        (pod("elsewhere", ip="10.244.0.7", **SCRAPE), []),  # a kwok pod's made-up address: never scraped
        (pod("bad-port", **{**SCRAPE, "prometheus.io/port": "http"}), []),
        (pod("huge-port", **{**SCRAPE, "prometheus.io/port": "70000"}), []),
    ],
)
def test_pod_targets(pod_: dict[str, Any], targets: list[str]):
    assert [t for group in pod_targets([pod_], NETWORKS) for t in group["targets"]] == targets


def test_pod_targets_carry_the_labels_the_alerts_group_by_and_a_metrics_path():
    (group,) = pod_targets([pod("kvm-operator-1", **SCRAPE, **{"prometheus.io/path": "/m"})], NETWORKS)
    assert group["labels"] == {"namespace": "kubeception-system", "pod": "kvm-operator-1", "__metrics_path__": "/m"}
