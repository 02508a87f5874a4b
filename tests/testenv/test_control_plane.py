"""The local control plane is the real thing: version, CRDs, controllers, scheduler and kwok all work."""

from __future__ import annotations

import json
import re
import subprocess

import yaml
from kubernetes import client

from kubeception_testenv import ControlPlane, find_binary, wait_for

WIDGET_CRD = {
    "apiVersion": "apiextensions.k8s.io/v1",
    "kind": "CustomResourceDefinition",
    "metadata": {"name": "widgets.testenv.kubeception.io"},
    "spec": {
        "group": "testenv.kubeception.io",
        "scope": "Namespaced",
        "names": {"plural": "widgets", "singular": "widget", "kind": "Widget"},
        "versions": [
            {
                "name": "v1alpha1",
                "served": True,
                "storage": True,
                "subresources": {"status": {}},
                "additionalPrinterColumns": [
                    {"name": "Size", "type": "integer", "jsonPath": ".spec.size"},
                    {"name": "Phase", "type": "string", "jsonPath": ".status.phase"},
                ],
                "schema": {
                    "openAPIV3Schema": {
                        "type": "object",
                        "properties": {
                            "spec": {
                                "type": "object",
                                "properties": {"size": {"type": "integer", "minimum": 1}},
                            },
                            "status": {"type": "object", "properties": {"phase": {"type": "string"}}},
                        },
                    }
                },
            }
        ],
    },
}


def test_kubectl_reports_server_v1_36(control_plane: ControlPlane):
    out = json.loads(control_plane.kubectl("version", "-o", "json").stdout)
    assert re.fullmatch(r"v1\.36\.\d+", out["serverVersion"]["gitVersion"])
    assert out["serverVersion"]["minor"] == "36"
    assert out["clientVersion"]["minor"] == "36"


def test_crd_with_status_subresource_and_printer_columns(control_plane: ControlPlane):
    control_plane.kubectl("create", "namespace", "crd-test")
    control_plane.kubectl("apply", "-f", "-", input=yaml.safe_dump(WIDGET_CRD))
    control_plane.kubectl("wait", "--for=condition=Established", "crd/widgets.testenv.kubeception.io", "--timeout=30s")
    widget = {
        "apiVersion": "testenv.kubeception.io/v1alpha1",
        "kind": "Widget",
        "metadata": {"name": "w1", "namespace": "crd-test"},
        "spec": {"size": 3},
    }
    control_plane.kubectl("apply", "-f", "-", input=yaml.safe_dump(widget))

    # Status goes only through the subresource: a main-resource patch of status is ignored.
    control_plane.kubectl(
        "patch", "widget", "w1", "-n", "crd-test", "--type=merge", "-p", '{"status": {"phase": "Ignored"}}'
    )
    control_plane.kubectl(
        "patch",
        "widget",
        "w1",
        "-n",
        "crd-test",
        "--subresource=status",
        "--type=merge",
        "-p",
        '{"status": {"phase": "Ready"}}',
    )
    table = control_plane.kubectl("get", "widget", "w1", "-n", "crd-test").stdout.split("\n")
    assert table[0].split() == ["NAME", "SIZE", "PHASE"]
    assert table[1].split() == ["w1", "3", "Ready"]

    # The structural schema is enforced by the server.
    bad = control_plane.kubectl("apply", "-f", "-", check=False, input=yaml.safe_dump({**widget, "spec": {"size": 0}}))
    assert bad.returncode != 0
    assert "spec.size" in bad.stderr


def test_deployment_becomes_available_on_kwok_nodes(control_plane: ControlPlane):
    with control_plane.api_client() as api:
        apps = client.AppsV1Api(api)
        apps.create_namespaced_deployment(
            "default",
            {
                "apiVersion": "apps/v1",
                "kind": "Deployment",
                "metadata": {"name": "web"},
                "spec": {
                    "replicas": 2,
                    "selector": {"matchLabels": {"app": "web"}},
                    "template": {
                        "metadata": {"labels": {"app": "web"}},
                        "spec": {"containers": [{"name": "web", "image": "nginx"}]},
                    },
                },
            },
        )

        def available() -> bool:
            status = apps.read_namespaced_deployment("web", "default").status
            return status.available_replicas == 2

        wait_for(available, timeout=60, message="deployment web to have 2 available replicas")
        pods = client.CoreV1Api(api).list_namespaced_pod("default", label_selector="app=web").items
        assert {pod.status.phase for pod in pods} == {"Running"}
        assert all(pod.spec.node_name.startswith("kwok-node-") for pod in pods)


def test_daemonset_runs_one_pod_per_node(control_plane: ControlPlane):
    with control_plane.api_client() as api:
        apps = client.AppsV1Api(api)
        apps.create_namespaced_daemon_set(
            "default",
            {
                "apiVersion": "apps/v1",
                "kind": "DaemonSet",
                "metadata": {"name": "agent"},
                "spec": {
                    "selector": {"matchLabels": {"app": "agent"}},
                    "template": {
                        "metadata": {"labels": {"app": "agent"}},
                        "spec": {"containers": [{"name": "agent", "image": "busybox"}]},
                    },
                },
            },
        )

        def all_ready() -> bool:
            status = apps.read_namespaced_daemon_set("agent", "default").status
            return status.desired_number_scheduled == control_plane.node_count == status.number_ready

        wait_for(all_ready, timeout=60, message="daemonset agent ready on every node")
        pods = client.CoreV1Api(api).list_namespaced_pod("default", label_selector="app=agent").items
        assert sorted(pod.spec.node_name for pod in pods) == sorted(control_plane.ready_nodes())


def test_garbage_collector_removes_dependents(control_plane: ControlPlane):
    with control_plane.api_client() as api:
        core = client.CoreV1Api(api)
        owner = core.create_namespaced_config_map("default", {"metadata": {"name": "owner"}})
        core.create_namespaced_config_map(
            "default",
            {
                "metadata": {
                    "name": "dependent",
                    "ownerReferences": [
                        {"apiVersion": "v1", "kind": "ConfigMap", "name": "owner", "uid": owner.metadata.uid}
                    ],
                }
            },
        )
        core.delete_namespaced_config_map("owner", "default")

        def dependent_gone() -> bool:
            names = {cm.metadata.name for cm in core.list_namespaced_config_map("default").items}
            return "dependent" not in names

        wait_for(dependent_gone, timeout=60, message="the garbage collector to delete the dependent")


def test_nodes_are_ready_kwok_nodes(control_plane: ControlPlane):
    out = control_plane.kubectl("get", "nodes", "-l", "type=kwok", "--no-headers").stdout.splitlines()
    assert len(out) == control_plane.node_count
    assert all(line.split()[1] == "Ready" for line in out)


def test_helm_talks_to_the_server(control_plane: ControlPlane):
    helm = subprocess.run([str(find_binary("helm")), "version", "--short"], capture_output=True, text=True, check=True)
    assert helm.stdout.startswith("v3.")
    listing = subprocess.run(
        [str(find_binary("helm")), f"--kubeconfig={control_plane.kubeconfig}", "list", "-A", "-o", "json"],
        capture_output=True,
        text=True,
        check=True,
    )
    assert json.loads(listing.stdout) == []
