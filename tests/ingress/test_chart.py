"""charts/ingress-operator: lints, the API server accepts it, its flags are the operator's, and its RBAC is enough
— the operator and an HAProxy agent run a route's whole lifecycle under the chart's two ServiceAccounts."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

import pytest
import yaml

from ingress_operator.controller import ingress_controller, shared_parts
from ingress_operator.settings import IngressSettings
from ingress_operator.spec import INGRESS_CONFIG
from kubeception_testenv import ControlPlane, wait_for
from operatorkit import KubeClient, Operator, load_settings
from operatorkit.testing import in_process_settings
from tests.charts import helm, operator_args, render_chart, service_account_kubeconfig
from tests.ingress.conftest import DOMAIN, Agent, backend_service, cluster_namespace, condition, ingress_config

pytestmark = pytest.mark.servers

if TYPE_CHECKING:
    from tests.ingress.conftest import Guest

CHART = Path(__file__).parents[2] / "charts" / "ingress-operator"


def render(namespace: str, *values: str) -> str:
    return render_chart(CHART, namespace, *values)


def test_chart_lints_and_rejects_bad_values():
    assert helm("lint", str(CHART)).returncode == 0
    bad = helm("lint", str(CHART), "--set=workers=0", "--set=routing.baseDomain=Not_A_Domain", "--set=ports.min=80")
    assert bad.returncode != 0
    for field in ("/workers", "/routing/baseDomain", "/ports/min"):
        assert field in bad.stdout + bad.stderr


def test_chart_passes_flags_the_operator_and_the_agent_understand():
    from ingress_operator.agent.settings import AgentSettings

    manifest = render("ops", "routing.baseDomain=example.com", "ports.min=31000", "ports.max=31099")
    settings = load_settings(IngressSettings, operator_args(manifest))
    assert settings.routing.base_domain == "example.com"
    assert (settings.ports.min, settings.ports.max) == (31000, 31099)
    assert settings.table.name == "ingress-operator-routes"
    assert settings.agents.service == "ops/ingress-operator-haproxy"
    daemon_set = next(d for d in yaml.safe_load_all(manifest) if d and d["kind"] == "DaemonSet")
    containers = {c["name"]: c for c in daemon_set["spec"]["template"]["spec"]["containers"]}
    agent, haproxy = (
        AgentSettings.model_validate(
            {
                arg.removeprefix("--").split("=", 1)[0].replace("-", "_"): arg.split("=", 1)[1]
                for arg in containers[name]["args"]
            }
        )
        for name in ("agent", "haproxy")
    )
    assert containers["agent"]["command"][-1] == "ingress_operator.agent"
    assert containers["haproxy"]["command"][-1] == "ingress_operator.agent.haproxy"
    assert agent.table_name == settings.table.name
    assert agent.tls_port == settings.routing.tls_port
    # Two containers, one HAProxy: the same state directory (files and sockets) and listeners, in the same volume.
    for field in ("state_dir", "haproxy", "bind_address", "tls_port", "http_port"):
        assert getattr(haproxy, field) == getattr(agent, field), field
    mounts = {
        name: {m["mountPath"] for m in c["volumeMounts"] if m["name"] == "state"} for name, c in containers.items()
    }
    assert mounts == {"agent": {str(agent.state_dir)}, "haproxy": {str(agent.state_dir)}}
    assert containers["agent"]["securityContext"]["capabilities"] == {"drop": ["ALL"]}, "the agent binds nothing"


def test_rendered_chart_is_accepted_by_the_server(control_plane: ControlPlane, namespace: str):
    result = control_plane.kubectl("apply", "--dry-run=server", "-f", "-", input=render(namespace), check=False)
    assert result.returncode == 0, result.stderr


def test_operator_and_agent_run_with_exactly_the_charts_rbac(
    control_plane: ControlPlane,
    kube: KubeClient,
    namespace: str,
    ingress_crd: None,
    guests: dict[str, Guest],
    tmp_path: Path,
):
    control_plane.kubectl("apply", "-f", "-", input=render(namespace))
    operator_config = service_account_kubeconfig(
        control_plane, kube, namespace, "ingress-operator", tmp_path / "operator"
    )
    agent_config = service_account_kubeconfig(
        control_plane, kube, namespace, "ingress-operator-haproxy", tmp_path / "agent"
    )
    denied = control_plane.kubectl(f"--kubeconfig={agent_config}", "get", "configmaps", "-A", check=False)
    assert denied.returncode != 0, "an agent may read the routing table only"
    agent = Agent(agent_config, namespace, tmp_path / "agent-0", table="ingress-operator-routes")
    settings = in_process_settings(
        IngressSettings,
        routing={"base_domain": DOMAIN, "tls_port": agent.tls_port, "http_port": agent.http_port},
        table={"namespace": namespace, "name": "ingress-operator-routes"},
        agents={"urls": [agent.url]},
        leader_election={"enabled": True, "namespace": namespace, "id": "ingress-operator"},
    )
    assert isinstance(settings, IngressSettings)
    as_operator = KubeClient.load(str(operator_config))
    operator = Operator([ingress_controller(shared_parts(settings, as_operator))], settings, client=as_operator)
    operator.start()
    agent.start()
    try:
        guest = guests["g1"]
        backends = cluster_namespace(kube, guest.cluster)
        backend_service(kube, backends, "apiserver", [(guest.server.address, guest.server.port)])
        kube.create(INGRESS_CONFIG, ingress_config(guest.cluster, backends))
        wait_for(
            lambda: (c := condition(kube, guest.cluster)) is not None and c["status"] == "True",
            timeout=30,
            message="Ready under the chart's RBAC",
        )
        kube.delete(INGRESS_CONFIG, guest.cluster)
        wait_for(
            lambda: kube.get_or_none(INGRESS_CONFIG, guest.cluster) is None,
            timeout=30,
            message="deleted under the chart's RBAC",
        )
        assert (agent.status() or {}).get("failed") == {}
    finally:
        agent.stop()
        operator.stop()
