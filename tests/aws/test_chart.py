"""charts/aws-operator: lints, rejects bad values, the API server accepts it, and its flags are the operator's.
(Its RBAC and admission policy are proven against an audited lifecycle in tests/security.)"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

import pytest

from aws_operator.settings import AWSSettings
from operatorkit import load_settings
from tests.charts import helm, operator_args, render_chart

pytestmark = pytest.mark.servers

if TYPE_CHECKING:
    from kubeception_testenv import ControlPlane

CHART = Path(__file__).parents[2] / "charts" / "aws-operator"


def test_chart_lints_and_rejects_bad_values() -> None:
    assert helm("lint", str(CHART)).returncode == 0
    bad = helm(
        "lint",
        str(CHART),
        "--set=workers=0",
        "--set=aws.endpointURL=ftp://x",
        "--set=amis.1\\.36\\.3.eu-west-1=not-an-ami",
        "--set=platform.pools.vpc=everywhere",
    )
    assert bad.returncode != 0
    for field in ("/workers", "/aws/endpointURL", "/amis/1.36.3/eu-west-1", "/platform/pools/vpc"):
        assert field in bad.stdout + bad.stderr


def test_chart_passes_flags_the_operator_understands() -> None:
    manifest = render_chart(
        CHART,
        "ops",
        "aws.endpointURL=http://moto.local:5000",
        "dns.baseDomain=clusters.example.com",
        "amis.1\\.36\\.3.eu-west-1=ami-0123456789abcdef0",
        "stacks.driftCheckSeconds=120",
        "platform.pools.vpc=10.200.0.0/16",
        "platform.mother.pods={10.244.0.0/16}",
    )
    settings = load_settings(AWSSettings, operator_args(manifest))
    assert str(settings.platform.pools.vpc) == "10.200.0.0/16"
    assert [str(n) for n in settings.platform.mother.pods] == ["10.244.0.0/16"]
    assert settings.platform.domains == ["kubeception.test", "aws.kubeception.test"]
    assert settings.aws.endpoint_url == "http://moto.local:5000"
    assert settings.dns.base_domain == "clusters.example.com"
    assert settings.images.amis == {"1.36.3": {"eu-west-1": "ami-0123456789abcdef0"}}
    assert settings.stacks.drift_check_seconds == 120
    assert settings.leader_election.id == "aws-operator"


def test_rendered_chart_is_accepted_by_the_server(control_plane: ControlPlane, namespace: str) -> None:
    result = control_plane.kubectl(
        "apply", "--dry-run=server", "-f", "-", input=render_chart(CHART, namespace), check=False
    )
    assert result.returncode == 0, result.stderr
