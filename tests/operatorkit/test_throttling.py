"""429 from the real API server: API Priority and Fairness rejects a client's excess requests, the client waits
as Retry-After says (with jitter, so the rejected do not all come back at once) and every call succeeds."""

from __future__ import annotations

import concurrent.futures
import uuid
from typing import TYPE_CHECKING, Any

import pytest

from operatorkit import KubeClient
from operatorkit.kinds import CONFIG_MAP
from operatorkit.testing import metric_sum

if TYPE_CHECKING:
    from collections.abc import Iterator

    from kubeception_testenv import ControlPlane

FLOW_CONTROL = "flowcontrol.apiserver.k8s.io/v1"


def rejected_429() -> float:
    return metric_sum("rest_client_requests_total", code="429")


@pytest.fixture
def throttled_client(control_plane: ControlPlane, kube: KubeClient) -> Iterator[KubeClient]:
    """A user (not in system:masters, which APF exempts) whose requests go to a priority level of 3 seats that
    rejects instead of queueing."""
    name = f"kubeception-trickle-{uuid.uuid4().hex[:6]}"
    user = f"{name}-user"
    manifests: list[dict[str, Any]] = [
        {
            "apiVersion": FLOW_CONTROL,
            "kind": "PriorityLevelConfiguration",
            "metadata": {"name": name},
            "spec": {
                "type": "Limited",
                "limited": {
                    "nominalConcurrencyShares": 1,
                    "lendablePercent": 0,
                    "borrowingLimitPercent": 0,
                    "limitResponse": {"type": "Reject"},
                },
            },
        },
        {
            "apiVersion": FLOW_CONTROL,
            "kind": "FlowSchema",
            "metadata": {"name": name},
            "spec": {
                "priorityLevelConfiguration": {"name": name},
                "matchingPrecedence": 100,
                "distinguisherMethod": {"type": "ByUser"},
                "rules": [
                    {
                        "subjects": [{"kind": "User", "user": {"name": user}}],
                        "resourceRules": [
                            {
                                "verbs": ["*"],
                                "apiGroups": ["*"],
                                "resources": ["*"],
                                "namespaces": ["*"],
                                "clusterScope": True,
                            }
                        ],
                    }
                ],
            },
        },
    ]
    binding = f"{name}-view"
    for manifest in manifests:
        kube.request("POST", f"/apis/{FLOW_CONTROL}/{manifest['kind'].lower()}s", body=manifest)
    control_plane.kubectl("create", "clusterrolebinding", binding, "--clusterrole=view", f"--user={user}")
    yield KubeClient.load(str(control_plane.user_kubeconfig(user)))
    control_plane.kubectl("delete", "clusterrolebinding", binding, check=False)
    for manifest in manifests:
        kube.request("DELETE", f"/apis/{FLOW_CONTROL}/{manifest['kind'].lower()}s/{name}")


def test_429_with_retry_after_is_retried_until_every_call_succeeds(kube, namespace, throttled_client):
    for index in range(100):
        kube.create(CONFIG_MAP, {"metadata": {"name": f"cm-{index}", "namespace": namespace}, "data": {"k": "v" * 512}})
    before = rejected_429()
    with concurrent.futures.ThreadPoolExecutor(24) as pool:
        lists = list(pool.map(lambda _: throttled_client.list(CONFIG_MAP, namespace), range(96)))
    assert all(len(result["items"]) >= 100 for result in lists)
    assert rejected_429() > before, "APF rejected nothing: the test did not exercise 429"
