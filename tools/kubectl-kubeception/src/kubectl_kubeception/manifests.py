"""``create``, ``scale`` and ``upgrade`` as changes to a KVMConfig or AWSConfig: pure functions from flags and
objects to manifests and patches. The API server's CRD validation and the organization's admission policies stay
the judges (their refusals are printed as they are); what is checked here is only what a person should hear before a
round trip: a version the CRD's pattern refuses, a skew kvm-operator would refuse, a pool that does not exist."""

from __future__ import annotations

import re
from typing import TYPE_CHECKING, Any

from kubectl_kubeception.mother import Invalid
from operatorkit import DNS_LABEL

if TYPE_CHECKING:
    from collections.abc import Sequence

    from operatorkit import Object

VERSION = re.compile(r"^1\.[0-9]{1,3}\.[0-9]{1,3}$")  # spec.kubernetesVersion's pattern in both CRDs
NAME = re.compile(DNS_LABEL)  # clusterID's and pools' pattern (and the AWSConfig's credentials.secretName's)
MAX_CLUSTER_ID = 30  # characters: clusterID's bound in both CRDs
MAX_WORKERS = 100  # a pool's size the plugin and the console accept
CONTROL_PLANE_REPLICAS = ("1", "3")  # masters.replicas / controlPlane.replicas: one, or an etcd quorum
# The AWSConfig CRD's patterns and bounds (copied: the plugin imports no operator), checked before a round trip
REGION = re.compile(r"^[a-z]{2}(-[a-z]+)+-[0-9]{1,2}$")  # spec.region, at most MAX_REGION characters
ZONE = re.compile(r"^[a-z]{2}(-[a-z]+)+-[0-9]{1,2}[a-z]$")  # an item of spec.availabilityZones
INSTANCE_TYPE = re.compile(r"^[a-z][a-z0-9-]{0,15}\.[a-z0-9]{1,15}$")  # a pool's instanceType
MAX_REGION, MAX_ZONE, MAX_ZONES, MAX_INSTANCE_TYPE, MAX_SECRET_NAME = 25, 26, 3, 32, 253
AWS_REGION, AWS_CREDENTIALS = "eu-central-1", "aws-account"  # create cluster's defaults, the console's too


def check_version(version: str) -> None:
    if not VERSION.match(version):
        raise Invalid(f"version {version!r} is not one the CRD accepts: 1.<minor>.<patch>, e.g. 1.36.3")


def check_zones(region: str, zones: Sequence[str]) -> None:
    """The AWSConfig CRD's rules for spec.availabilityZones: at most three distinct zones, each the region and one
    letter (the CRD's message names only the rule; this names the zone)."""
    if len(zones) > MAX_ZONES:
        raise Invalid(f"availability zones: at most {MAX_ZONES}, not {len(zones)}")
    for zone in zones:
        if len(zone) > MAX_ZONE or not ZONE.match(zone):
            raise Invalid(f"an availability zone (like {region}a): {zone[:64]!r} is not one")
        if zone[:-1] != region:
            raise Invalid(f"availability zone {zone} is not in region {region} (a zone is its region and a letter)")
    if len(set(zones)) < len(zones):
        raise Invalid(f"availability zones: each once, not {' '.join(zones)}")


def skew_problem(running: str | None, wanted: str) -> str | None:
    """Why the control plane cannot go from ``running`` to ``wanted`` by Kubernetes' version-skew policy, which
    kvm-operator enforces (no minor downgrade, one minor at a time; patches either way). Which versions this
    installation has images for the operator alone knows: it refuses others with ``Upgrading=False VersionRefused``."""
    if running is None or running == wanted:
        return None
    was, will = int(running.split(".")[1]), int(wanted.split(".")[1])
    if will < was:
        return f"{running} → {wanted} is a minor downgrade, which Kubernetes does not support"
    if will > was + 1:
        return f"{running} → {wanted} skips a minor version: upgrade to 1.{was + 1}.x first"
    return None


def kvm_config(
    name: str,
    namespace: str,
    *,
    version: str,
    workers: int,
    pool: str,
    cpus: int | None,
    memory: str | None,
    replicas: int,
) -> Object:
    """A KVMConfig named after its cluster id (kvm-operator's convention), with one worker pool."""
    worker_pool: dict[str, Any] = {"name": pool, "replicas": workers}
    if cpus is not None:
        worker_pool["cpus"] = cpus
    if memory is not None:
        worker_pool["memory"] = memory
    return {
        "apiVersion": "kubeception.io/v1alpha1",
        "kind": "KVMConfig",
        "metadata": {"name": name, "namespace": namespace},
        "spec": {
            "clusterID": name,
            "kubernetesVersion": version,
            "controlPlane": {"replicas": replicas},
            "workerPools": [worker_pool],
        },
    }


def aws_config(
    name: str,
    namespace: str,
    *,
    version: str,
    workers: int,
    pool: str,
    replicas: int,
    region: str,
    zones: tuple[str, ...],
    credentials: str,
    instance_type: str | None,
) -> Object:
    """An AWSConfig with one worker pool of ``workers`` instances (``maxSize`` at least that)."""
    worker_pool: dict[str, Any] = {"name": pool, "desired": workers, "minSize": min(1, workers), "maxSize": workers}
    if instance_type is not None:
        worker_pool["instanceType"] = instance_type
    return {
        "apiVersion": "kubeception.io/v1alpha1",
        "kind": "AWSConfig",
        "metadata": {"name": name, "namespace": namespace},
        "spec": {
            "clusterID": name,
            "kubernetesVersion": version,
            "region": region,
            "availabilityZones": list(zones) or [f"{region}a"],
            "credentials": {"secretName": credentials},
            "masters": {"replicas": replicas},
            "workerPools": [worker_pool],
        },
    }


def scaled(obj: Object, workers: int, pool: str | None) -> tuple[Object, str]:
    """The merge patch that sets ``pool``'s workers (the only pool when ``pool`` is None), and what it does. The patch
    carries the resourceVersion read: a change made meanwhile makes it fail (409) instead of being overwritten —
    ``workerPools`` is a list, which a merge patch replaces whole."""
    pools: list[dict[str, Any]] = [dict(p) for p in (obj.get("spec") or {}).get("workerPools") or []]
    names = [p.get("name") for p in pools]
    if pool is None:
        if len(pools) != 1:
            raise Invalid(f"name the pool with --pool: this cluster has {names or 'no pools'}")
        pool = str(names[0])
    if pool not in names:
        raise Invalid(f"no pool {pool!r} in this cluster; its pools: {', '.join(map(str, names))}")
    target = pools[names.index(pool)]
    if obj.get("kind") == "KVMConfig":
        said = f"pool {pool}: {target.get('replicas', 1)} → {workers} workers"
        target["replicas"] = workers
    else:
        said = f"pool {pool}: desired {target.get('desired', 1)} → {workers}"
        target["desired"] = workers
        if workers > int(target.get("maxSize", 3)):
            target["maxSize"] = workers
            said += f" (maxSize raised to {workers})"
        if workers < int(target.get("minSize", 1)):
            target["minSize"] = workers
            said += f" (minSize lowered to {workers})"
    patch = {"metadata": {"resourceVersion": obj["metadata"]["resourceVersion"]}, "spec": {"workerPools": pools}}
    return patch, said


def upgraded(obj: Object, version: str) -> tuple[Object, str]:
    """The merge patch that asks for ``version``, after the checks a person should hear before it is made."""
    check_version(version)
    running = (obj.get("status") or {}).get("kubernetesVersion") or (obj.get("spec") or {}).get("kubernetesVersion")
    if problem := skew_problem(running, version):
        raise Invalid(f"refused: {problem}")
    patch = {
        "metadata": {"resourceVersion": obj["metadata"]["resourceVersion"]},
        "spec": {"kubernetesVersion": version},
    }
    return patch, f"{running} → {version}"
