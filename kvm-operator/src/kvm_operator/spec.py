"""The KVMConfig custom resource: one guest cluster — its hosted control plane now, its worker VMs later.

Namespaced, so platform teams hand each tenant a namespace to create clusters in (like Kamaji's
TenantControlPlane and Cluster API's Cluster), and named after its cluster id (the CRD enforces it). The id is
unique across the mother all the same, because everything the cluster gets is named after it in cluster-wide name
spaces (the control-plane namespace, the FlannelConfig, the IngressConfig) and each of those is owned by exactly
one KVMConfig: a second one with the same id, in another namespace, is refused naming the first.
"""

from __future__ import annotations

import ipaddress
import re
from typing import TYPE_CHECKING, Annotated, Literal

import pydantic

from guestkit import MAX_LABELS, MAX_TAINTS, ClusterID, GuestClusterStatus, NodeLabels, Taint
from operatorkit import DNS_LABEL, DOMAIN, Context, Kind, LabelValue

if TYPE_CHECKING:
    from operatorkit import Object

KVM_CONFIG = Kind("kubeception.io/v1alpha1", "KVMConfig", "kvmconfigs")
MAX_POOLS = 16
MAX_WORKERS = 200
MAX_DNS_SERVERS = 3
"""The C library reads three ``nameserver`` lines; the kubelet warns about more."""
VNI_MAX = 9_999_999
"""flannel names the cluster's VXLAN device ``flannel.<VNI>`` on every host: Linux allows 15 characters."""
_VERSION = re.compile(r"^1\.([0-9]{1,3})\.([0-9]{1,3})$")
_VERSION_FORMAT = r"^1\.[0-9]{1,3}\.[0-9]{1,3}$"
_QUANTITY = r"^[0-9]{1,6}(\.[0-9]{1,3})?(m|Ki|Mi|Gi|Ti|k|M|G|T)?$"

Quantity = Annotated[str, pydantic.Field(pattern=_QUANTITY, max_length=16)]


_BINARY = {"Mi": 1, "Gi": 1024, "Ti": 1024 * 1024}


def mebibytes(quantity: str) -> int:
    """``"2Gi"`` → 2048: a VM's memory or disk, in whole MiB (only binary units: a VM's RAM is counted in pages)."""
    match = re.fullmatch(r"([0-9]{1,7})(Mi|Gi|Ti)", quantity)
    if not match:
        raise ValueError(f"{quantity!r}: use a whole number of Mi, Gi or Ti (e.g. 2Gi, 1536Mi)")
    return int(match[1]) * _BINARY[match[2]]


def parse_version(version: str) -> tuple[int, int]:
    """``"1.36.3"`` → (36, 3): minor and patch of a Kubernetes 1.x version."""
    match = _VERSION.match(version)
    if not match:
        raise ValueError(f"invalid Kubernetes version {version!r}: use 1.<minor>.<patch>, e.g. 1.36.3")
    return int(match[1]), int(match[2])


class _Model(pydantic.BaseModel):
    model_config = pydantic.ConfigDict(extra="forbid", populate_by_name=True, frozen=True)


class Resources(_Model):
    """Requests (and the memory limit) of one control-plane component."""

    cpu: Quantity = "100m"
    memory: Quantity = "256Mi"


class ControlPlaneResources(_Model):
    etcd: Resources = Resources(cpu="100m", memory="256Mi")
    apiserver: Resources = Resources(cpu="250m", memory="512Mi")
    controller_manager: Resources = pydantic.Field(
        default=Resources(cpu="100m", memory="256Mi"), alias="controllerManager"
    )
    scheduler: Resources = Resources(cpu="50m", memory="128Mi")


class EtcdStorage(_Model):
    """``emptyDir`` (development: the data goes with the pod) or a PersistentVolumeClaim per member."""

    type: Literal["emptyDir", "persistentVolumeClaim"] = "emptyDir"
    size: Quantity = "1Gi"
    storage_class_name: str | None = pydantic.Field(
        default=None, alias="storageClassName", pattern=DNS_LABEL, max_length=63
    )


class ControlPlane(_Model):
    replicas: Literal[1, 3] = 1
    """1, or 3 spread across mother nodes (etcd quorum; the API survives one node)."""
    resources: ControlPlaneResources = ControlPlaneResources()
    etcd_storage: EtcdStorage = pydantic.Field(default=EtcdStorage(), alias="etcdStorage")


class WorkerPool(_Model):
    """Worker VMs of one shape: a StatefulSet of VM pods, each one guest Node named after its pod. Changing the
    shape (CPUs, memory, disk, labels, taints) replaces the pool's VMs one at a time, as a version change does."""

    name: str = pydantic.Field(pattern=DNS_LABEL, max_length=20)
    replicas: int = pydantic.Field(default=1, ge=0, le=100)
    cpus: int = pydantic.Field(default=2, ge=1, le=64)
    memory: str = pydantic.Field(default="2Gi", pattern=r"^[0-9]{1,7}(Mi|Gi|Ti)$", max_length=10)
    """The VM's RAM (its pod asks for this plus QEMU's overhead): 512Mi to 256Gi."""
    disk: str = pydantic.Field(default="10Gi", pattern=r"^[0-9]{1,7}(Gi|Ti)$", max_length=10)
    """The VM's state disk (containerd's images, the kubelet's pods), a sparse file in the pod's emptyDir."""
    labels: NodeLabels = pydantic.Field(default_factory=dict, max_length=MAX_LABELS)
    taints: list[Taint] = pydantic.Field(default_factory=list, max_length=MAX_TAINTS)

    @pydantic.field_validator("memory")
    @classmethod
    def _memory(cls, value: str) -> str:
        if not 512 <= mebibytes(value) <= 256 * 1024:
            raise ValueError(f"memory {value}: a worker VM has 512Mi to 256Gi")
        return value

    @pydantic.field_validator("disk")
    @classmethod
    def _disk(cls, value: str) -> str:
        if mebibytes(value) % 1024 or not 1 <= mebibytes(value) // 1024 <= 4096:
            raise ValueError(f"disk {value}: a whole number of Gi, 1Gi to 4Ti")
        return value

    @property
    def memory_mib(self) -> int:
        return mebibytes(self.memory)

    @property
    def disk_gib(self) -> int:
        return mebibytes(self.disk) // 1024


class DNS(_Model):
    servers: list[ipaddress.IPv4Address] = pydantic.Field(default_factory=list, max_length=MAX_DNS_SERVERS)
    """The cluster's resolvers: its nodes' ``/etc/resolv.conf`` (CoreDNS forwards what is not the guest's to them)
    and the FlannelConfig's ``dns`` (the VMs may reach them and nothing else of the kind). Empty: the operator's
    ``vms.dnsServers``."""


class Network(_Model):
    """The guest's networks. ``cidr``/``vni`` (the flannel network the VMs sit on) are allocated by flannel-operator
    when empty; service and pod CIDRs are the guest's own and may repeat across clusters (they never leave it)."""

    cidr: ipaddress.IPv4Network | None = None
    vni: int | None = pydantic.Field(default=None, ge=1, json_schema_extra={"maximum": VNI_MAX})
    service_cidr: ipaddress.IPv4Network = pydantic.Field(
        default=ipaddress.IPv4Network("172.31.0.0/16"), alias="serviceCIDR"
    )
    pod_cidr: ipaddress.IPv4Network = pydantic.Field(default=ipaddress.IPv4Network("172.30.0.0/16"), alias="podCIDR")
    dns: DNS = DNS()

    @pydantic.field_validator("vni")
    @classmethod
    def _vni_names_a_device(cls, value: int | None) -> int | None:
        if value is not None and value > VNI_MAX:
            raise ValueError(
                f"network.vni must be at most {VNI_MAX}: flannel names the VXLAN device flannel.{value}, longer than "
                "Linux's 15 characters"
            )
        return value

    @pydantic.model_validator(mode="after")
    def _sizes(self) -> Network:
        if self.cidr is not None and not 8 <= self.cidr.prefixlen <= 28:
            raise ValueError("network.cidr must be a /8 to /28 network")
        if not 12 <= self.service_cidr.prefixlen <= 24:
            raise ValueError("network.serviceCIDR must be a /12 to /24 network")
        if not 8 <= self.pod_cidr.prefixlen <= 20:
            raise ValueError("network.podCIDR must be a /8 to /20 network")
        if self.service_cidr.overlaps(self.pod_cidr):
            raise ValueError(f"network.serviceCIDR {self.service_cidr} overlaps podCIDR {self.pod_cidr}")
        return self


class Addon(_Model):
    enabled: bool = True


class Addons(_Model):
    """The add-ons kvm-operator keeps in the guest (:mod:`kvm_operator.addons`), each on unless turned off; their
    versions follow the cluster's (kube-proxy) or the platform's (the others). With ``podNetwork`` off, each node's
    pods masquerade as the node and reach no pod on another node: bring a CNI of your own."""

    pod_network: Addon = pydantic.Field(default=Addon(), alias="podNetwork")
    network_policy: Addon = pydantic.Field(default=Addon(), alias="networkPolicy")
    kube_proxy: Addon = pydantic.Field(default=Addon(), alias="kubeProxy")
    core_dns: Addon = pydantic.Field(default=Addon(), alias="coreDNS")


class KVMConfigSpec(_Model):
    cluster_id: ClusterID = pydantic.Field(alias="clusterID")
    """The cluster's id: its control plane's namespace and the name of every child object. Immutable."""
    organization: LabelValue = ""
    team: LabelValue = ""
    kubernetes_version: str = pydantic.Field(alias="kubernetesVersion", pattern=_VERSION_FORMAT, max_length=16)
    control_plane: ControlPlane = pydantic.Field(default=ControlPlane(), alias="controlPlane")
    worker_pools: list[WorkerPool] = pydantic.Field(default_factory=list, alias="workerPools", max_length=MAX_POOLS)
    network: Network = Network()
    api_hostname: str | None = pydantic.Field(default=None, alias="apiHostname", pattern=DOMAIN, max_length=253)
    """Default: ``api.<clusterID>.<base domain>`` (the operator's setting)."""
    addons: Addons = Addons()

    @pydantic.field_validator("kubernetes_version")
    @classmethod
    def _version(cls, value: str) -> str:
        parse_version(value)
        return value

    @pydantic.model_validator(mode="after")
    def _unique_pools(self) -> KVMConfigSpec:
        names = [pool.name for pool in self.worker_pools]
        if len(names) != len(set(names)):
            raise ValueError("workerPools names must be unique")
        if (total := sum(pool.replicas for pool in self.worker_pools)) > MAX_WORKERS:
            raise ValueError(f"{total} workers in all pools: at most {MAX_WORKERS} per cluster")
        return self


class NodeStatus(_Model):
    name: str
    ready: bool = False
    version: str | None = None
    """The kubelet's version, as the guest's Node reports it."""
    accelerator: str | None = None
    """``kvm`` or ``tcg`` (emulation): what the VM's launcher chose, from the Node's label."""
    up_to_date: bool = pydantic.Field(default=False, alias="upToDate")


class PoolStatus(_Model):
    name: str
    desired: int = 0
    ready: int = 0
    up_to_date: int = pydantic.Field(default=0, alias="upToDate")
    version: str | None = None
    """The Kubernetes version the pool's VMs are (being) rolled to."""
    nodes: list[NodeStatus] = pydantic.Field(default_factory=list)


class KVMConfigStatus(GuestClusterStatus):  # clusterID, version, endpoint, workers, kubeconfig: the kit's
    target_version: str | None = pydantic.Field(default=None, alias="targetVersion")
    version_refused: str | None = pydantic.Field(default=None, alias="versionRefused")
    """Why the spec's version is not the target (skew rules), while it is not."""
    etcd_members: int | None = pydantic.Field(default=None, alias="etcdMembers")
    control_plane_ready: str | None = pydantic.Field(default=None, alias="controlPlaneReady")
    """``ready/desired`` API server replicas, for the printer column."""
    worker_pools: list[PoolStatus] | None = pydantic.Field(default=None, alias="workerPools")
    """None until the pools are first reported: a cluster without pools reports an empty list."""
    network: str | None = None
    vni: int | None = None
    available_at: str | None = pydantic.Field(default=None, alias="availableAt")
    upgrade_started_at: str | None = pydantic.Field(default=None, alias="upgradeStartedAt")


KVMContext = Context[KVMConfigSpec, KVMConfigStatus]


def deletion_spec(obj: Object) -> KVMConfigSpec:
    """What a deletion reads when the stored spec no longer validates (changed into one the model refuses, e.g. a
    ``network.cidr`` the CRD lets through): the cluster id — the object's name, as the CRD keeps it — from which the
    name of everything to delete derives; the version the status recorded. Nothing else is read to delete."""
    status = obj.get("status") or {}
    version = status.get("kubernetesVersion") or status.get("targetVersion") or "1.0.0"
    return KVMConfigSpec.model_validate({"clusterID": obj["metadata"]["name"], "kubernetesVersion": version})
