"""The control plane's container probes (pure logic): readiness asks "send me requests", startup and liveness ask
"do not restart me" — each its own check, as kubeadm's static pods have them."""

from __future__ import annotations

from types import SimpleNamespace
from typing import Any

import pytest

from kvm_operator.resources._pod import container, https_probe
from kvm_operator.spec import Resources

SHARED: Any = SimpleNamespace(settings=SimpleNamespace(images=SimpleNamespace(pull_policy="IfNotPresent")))


def rendered(probe: dict[str, Any], live_path: str | None) -> dict[str, Any]:
    return container(SHARED, "c", "image", ["c"], Resources(cpu="100m", memory="128Mi"), [], [], probe, live_path)


@pytest.mark.parametrize(
    ("probe", "live_path", "ready", "live"),
    [
        (https_probe("/readyz", 6443), "/livez", "/readyz", "/livez"),  # kube-apiserver
        ({"httpGet": {"path": "/readyz", "port": 2381}}, "/livez", "/readyz", "/livez"),  # etcd
        (https_probe("/healthz", 10257), None, "/healthz", "/healthz"),  # controller-manager, scheduler
    ],
)
def test_readiness_and_liveness_check_their_own_paths(
    probe: dict[str, Any], live_path: str | None, ready: str, live: str
) -> None:
    """The three probes once shared one ``httpGet`` dict: setting liveness to /livez made readiness /livez too, so an
    API server that could not serve yet (etcd out of reach, caches not synced) counted as Ready."""
    made = rendered(probe, live_path)
    paths = {name: made[name]["httpGet"]["path"] for name in ("readinessProbe", "startupProbe", "livenessProbe")}
    assert paths == {"readinessProbe": ready, "startupProbe": live, "livenessProbe": live}
    assert probe["httpGet"]["path"] == ready  # the caller's dict is left as given
    made["livenessProbe"]["httpGet"]["port"] = 1
    assert made["readinessProbe"]["httpGet"]["port"] != 1
