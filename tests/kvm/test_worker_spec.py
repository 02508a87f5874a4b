"""Worker pool fields: sizes, reserved labels, totals and the cluster ids that would take another cluster's
workers' namespace (pure logic; the CRD's own rules are checked at admission in test_kvm_operator)."""

from __future__ import annotations

import pydantic
import pytest

from kvm_operator.spec import KVMConfigSpec, WorkerPool, mebibytes
from kvm_operator.vmpod import VMPod


def spec(**fields: object) -> KVMConfigSpec:
    return KVMConfigSpec.model_validate({"clusterID": "c01", "kubernetesVersion": "1.36.3", **fields})


def test_sizes_are_whole_binary_units():
    assert (mebibytes("2Gi"), mebibytes("1536Mi"), mebibytes("1Ti")) == (2048, 1536, 1024 * 1024)
    pool = WorkerPool(name="a", memory="1536Mi", disk="4Gi")
    assert (pool.memory_mib, pool.disk_gib) == (1536, 4)
    for bad in ({"memory": "256Mi"}, {"memory": "2G"}, {"memory": "1.5Gi"}, {"disk": "1536Mi"}, {"disk": "5Ti"}):
        with pytest.raises(pydantic.ValidationError):
            WorkerPool.model_validate({"name": "a", **bad})


@pytest.mark.parametrize(
    "label", ["kubeception.io/pool", "node-role.kubernetes.io/worker", "k8s.io/x", "kubernetes.io/os"]
)
def test_labels_the_platform_or_the_kubelet_own_are_refused(label: str):
    with pytest.raises(pydantic.ValidationError, match="reserved"):
        WorkerPool(name="a", labels={label: "x"})
    assert WorkerPool(name="a", labels={"tier": "web", "example.com/team": "blue"}).labels["tier"] == "web"


def test_cluster_ids_and_totals():
    with pytest.raises(pydantic.ValidationError, match="workers' namespace of cluster 'c1'"):
        spec(clusterID="c1-workers")
    with pytest.raises(pydantic.ValidationError, match="at most 200"):
        spec(workerPools=[{"name": f"p{i}", "replicas": 100} for i in range(3)])
    with pytest.raises(pydantic.ValidationError, match="unique"):
        spec(workerPools=[{"name": "a"}, {"name": "a"}])


def test_a_vm_pod_asks_for_its_size_and_overcommits_cpu_only_when_told():
    """A VM pod asks for its RAM plus QEMU's measured overhead (320 MiB: docs/benchmarks.md)."""
    plain = VMPod("node:v1", "vm:1", "br0", "boot", cpus=2, memory_mib=2048, disk_gib=10).spec()
    resources = plain["containers"][0]["resources"]
    assert resources == {"requests": {"cpu": "2", "memory": "2368Mi"}, "limits": {"cpu": "2", "memory": "2368Mi"}}
    shared = VMPod("node:v1", "vm:1", "br0", "boot", cpus=2, memory_mib=2048, disk_gib=10, cpu_allocation_ratio=4)
    resources = shared.spec()["containers"][0]["resources"]
    assert resources["requests"] == {"cpu": "500m", "memory": "2368Mi"}
    assert resources["limits"] == {"cpu": "2", "memory": "2368Mi"}
    # The API server's own form (2Gi, not 2048Mi; 1, not 1000m): what is applied reads back the same.
    even = VMPod("node:v1", "vm:1", "br0", "boot", cpus=4, memory_mib=1728, disk_gib=10, cpu_allocation_ratio=4)
    assert even.spec()["containers"][0]["resources"]["requests"] == {"cpu": "1", "memory": "2Gi"}


def test_a_vni_whose_vxlan_device_name_cannot_exist_is_refused():
    """flannel names the VXLAN device flannel.<VNI>: at most 9,999,999 fits Linux's 15 characters (issue 29)."""
    assert spec(network={"vni": 9_999_999}).network.vni == 9_999_999
    with pytest.raises(pydantic.ValidationError, match=r"flannel\.10000000, longer than Linux's 15 characters"):
        spec(network={"vni": 10_000_000})
