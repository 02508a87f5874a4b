"""charts/kvm-operator: lints, rejects bad values, the API server accepts it, and its flags are the operator's.
(Its RBAC and admission policy are proven against an audited lifecycle in tests/security.)"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

import pytest

from kvm_operator.settings import KVMSettings
from operatorkit import load_settings
from tests.charts import helm, operator_args, render_chart

pytestmark = pytest.mark.servers

if TYPE_CHECKING:
    from kubeception_testenv import ControlPlane

CHART = Path(__file__).parents[2] / "charts" / "kvm-operator"


def test_chart_lints_and_rejects_bad_values():
    assert helm("lint", str(CHART)).returncode == 0
    bad = helm(
        "lint",
        str(CHART),
        "--set=workers=0",
        "--set=routing.baseDomain=Not_A_Domain",
        "--set=controlPlane.versions[0]=latest",
        "--set=registry.mirror=ftp://registry:5000",
    )
    assert bad.returncode != 0
    for field in ("/workers", "/routing/baseDomain", "/controlPlane/versions/0", "/registry/mirror"):
        assert field in bad.stdout + bad.stderr


def test_chart_passes_flags_the_operator_understands():
    manifest = render_chart(
        CHART, "ops", "routing.baseDomain=clusters.example.com", "controlPlane.versions={1.36.3,1.37.1}"
    )
    settings = load_settings(KVMSettings, operator_args(manifest))
    assert settings.routing.base_domain == "clusters.example.com"
    assert settings.versions.supported == ["1.36.3", "1.37.1"]
    assert settings.images.kubernetes == "ghcr.io/kubeception/kubernetes"
    assert settings.leader_election.id == "kvm-operator"
    assert settings.registry.mirror == ""
    mirrored = render_chart(
        CHART, "ops", "registry.mirror=http://registry.example.com:5000", "registry.mirrorOf={docker.io}",
        "registry.address=10.0.0.5",
    )  # fmt: skip
    registry = load_settings(KVMSettings, operator_args(mirrored)).registry
    assert registry.mirror == "http://registry.example.com:5000"
    assert (registry.mirror_of, str(registry.address)) == (["docker.io"], "10.0.0.5")


def test_rendered_chart_is_accepted_by_the_server(control_plane: ControlPlane, namespace: str):
    result = control_plane.kubectl(
        "apply", "--dry-run=server", "-f", "-", input=render_chart(CHART, namespace), check=False
    )
    assert result.returncode == 0, result.stderr
