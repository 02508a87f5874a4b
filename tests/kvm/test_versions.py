"""The skew rules and the upgrade order, as pure logic (the integration test watches a real roll)."""

from __future__ import annotations

from kvm_operator.versions import VERSION_ANNOTATION, component_version, skew_problem

SUPPORTED = ["1.35.9", "1.36.3", "1.36.4", "1.37.0", "1.38.0"]


def test_skew_rules():
    assert skew_problem(None, "1.36.3", SUPPORTED) is None
    assert skew_problem("1.36.4", "1.36.3", SUPPORTED) is None  # patch downgrade: allowed
    assert skew_problem("1.36.3", "1.37.0", SUPPORTED) is None
    assert "minor downgrade" in (skew_problem("1.37.0", "1.36.4", SUPPORTED) or "")
    assert "skips a minor" in (skew_problem("1.36.3", "1.38.0", SUPPORTED) or "")
    assert "not supported" in (skew_problem("1.36.3", "1.36.9", SUPPORTED) or "")


def workload(version: str, ready: bool, kind: str = "Deployment") -> dict[str, object]:
    status: dict[str, object] = (
        {"observedGeneration": 1, "updatedReplicas": 1, "availableReplicas": 1, "readyReplicas": 1}
        if ready
        else {"observedGeneration": 1, "updatedReplicas": 0, "availableReplicas": 1}
    )
    if kind == "StatefulSet":
        status |= {"currentRevision": "a", "updateRevision": "a" if ready else "b"}
    return {
        "kind": kind,
        "metadata": {"generation": 1, "annotations": {VERSION_ANNOTATION: version}},
        "spec": {"replicas": 1},
        "status": status,
    }


def test_each_component_waits_for_the_one_before():
    old = {
        "etcd": workload("1.36.3", True, "StatefulSet"),
        "apiserver": workload("1.36.3", True),
        "controller-manager": workload("1.36.3", True),
        "scheduler": workload("1.36.3", True),
    }
    assert component_version("etcd", "1.36.4", old) == "1.36.4"
    assert component_version("apiserver", "1.36.4", old) == "1.36.3"
    rolling = {**old, "etcd": workload("1.36.4", False, "StatefulSet")}
    assert component_version("apiserver", "1.36.4", rolling) == "1.36.3"
    rolled = {**old, "etcd": workload("1.36.4", True, "StatefulSet")}
    assert component_version("apiserver", "1.36.4", rolled) == "1.36.4"
    assert component_version("scheduler", "1.36.4", rolled) == "1.36.3"
    assert component_version("scheduler", "1.36.4", {}) == "1.36.4"  # a new cluster starts at the target


def test_available_means_enough_replicas_on_any_version():
    from kvm_operator.versions import available

    assert not available(None)
    assert available(workload("1.36.3", True))
    rolling = workload("1.36.4", False)  # updatedReplicas 0 but the old replica still available
    assert available(rolling)
    down = {**rolling, "status": {"availableReplicas": 0}}
    assert not available(down)
