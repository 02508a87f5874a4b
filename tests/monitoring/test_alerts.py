"""The alert rules are valid for the real Prometheus and fire when (and only when) they should; the dashboard's
queries are valid PromQL over metrics the operators really export."""

from __future__ import annotations

import json
import re
import subprocess
from pathlib import Path

import yaml
from prometheus_client import REGISTRY

from kubeception_testenv import find_binary

MONITORING = Path(__file__).parents[2] / "monitoring"


def promtool(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [str(find_binary("promtool")), *args], capture_output=True, text=True, check=False, cwd=MONITORING
    )


def test_rules_are_valid():
    result = promtool("check", "rules", "alerts.yaml")
    assert result.returncode == 0, result.stdout + result.stderr


def test_rules_fire_as_specified():
    result = promtool("test", "rules", "alerts_test.yaml")
    assert result.returncode == 0, result.stdout + result.stderr


def dashboard_expressions() -> list[str]:
    dashboard = json.loads((MONITORING / "dashboard.json").read_text())
    return [target["expr"] for panel in dashboard["panels"] for target in panel["targets"]]


def test_dashboard_queries_are_valid_promql(tmp_path: Path):
    rules = {
        "groups": [
            {
                "name": "dashboard",
                "rules": [{"record": f"panel:{i}", "expr": e} for i, e in enumerate(dashboard_expressions())],
            }
        ]
    }
    path = tmp_path / "dashboard-rules.yaml"
    path.write_text(yaml.safe_dump(rules))
    result = promtool("check", "rules", str(path))
    assert result.returncode == 0, result.stdout + result.stderr


SUFFIXES = {"counter": ("_total",), "histogram": ("_bucket", "_sum", "_count"), "gauge": ("",)}


def test_dashboard_and_alerts_use_only_metrics_the_operators_export():
    import aws_operator.metrics
    import cert_operator.metrics
    import flannel_operator.metrics
    import ingress_operator.metrics
    import kvm_operator.metrics
    import operatorkit._base.metrics
    from ingress_operator.agent.agent import REGISTRY as AGENT_REGISTRY

    modules = (
        aws_operator.metrics,
        cert_operator.metrics,
        flannel_operator.metrics,
        ingress_operator.metrics,
        kvm_operator.metrics,
        operatorkit._base.metrics,
    )
    assert all(modules)  # imported for their registrations
    exported = {
        metric.name + suffix
        for registry in (REGISTRY, AGENT_REGISTRY)
        for metric in registry.collect()
        for suffix in SUFFIXES.get(metric.type, ("",))
    }
    alerts = yaml.safe_load((MONITORING / "alerts.yaml").read_text())["groups"]
    queries = [*dashboard_expressions(), *(rule["expr"] for group in alerts for rule in group["rules"])]
    pattern = r"\b((?:controller_runtime|workqueue|leader_election|rest_client|kubeception|operatorkit)_[a-z_]+)"
    used = {name for query in queries for name in re.findall(pattern, query)}
    assert len(used) > 15
    assert used <= exported, sorted(used - exported)
