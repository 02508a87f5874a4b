"""kvm-operator settings: operatorkit's common ones plus the platform's plan, the base domain, images and supported
versions."""

from __future__ import annotations

import ipaddress
from typing import Annotated

import pydantic

from operatorkit import DNS_SUBDOMAIN, OperatorSettings, SettingsGroup, operator_config
from operatorkit.platform import PlatformSettings, platform_field


class RoutingSettings(SettingsGroup):
    base_domain: str = pydantic.Field(
        default="kubeception.test",
        max_length=200,
        pattern=DNS_SUBDOMAIN,
    )
    """Guest API hostnames default to api.<clusterID>.<base domain> (ingress-operator's base domain); counted among
    the platform's base domains (``platform.domains``) whether or not the plan lists it."""
    port: int = pydantic.Field(default=443, ge=1, le=65535)
    """The port users reach guest APIs at through HAProxy (ingress-operator's TLS port)."""
    address: ipaddress.IPv4Address | None = None
    """Where guest API hostnames answer — an HAProxy of ingress-operator — for the worker VMs (an ``/etc/hosts``
    line in their boot configuration) and for the operator itself (draining, Node health). Unset: both resolve
    ``api.<cluster>.<base domain>`` through DNS."""


class ImageSettings(SettingsGroup):
    """The control plane's images (images/kubernetes.yaml and images/etcd.yaml build them)."""

    kubernetes: str = pydantic.Field(default="ghcr.io/kubeception/kubernetes", max_length=200)
    """kube-apiserver, kube-controller-manager and kube-scheduler: ``<this>:v<Kubernetes version>``."""
    etcd: str = pydantic.Field(default="ghcr.io/kubeception/etcd:v3.6.16", max_length=250)
    """Every guest's etcd, whatever its Kubernetes version (the supported ones all pair with etcd 3.6). A
    Kubernetes upgrade leaves etcd's pods alone; changing this rolls each guest's etcd, one member at a time."""
    node: str = pydantic.Field(default="ghcr.io/kubeception/node", max_length=200)
    """Worker VMs' kernel and initramfs: ``<this>:v<Kubernetes version>`` (images/node.yaml)."""
    vm: str = pydantic.Field(default="ghcr.io/kubeception/vm:0.2.0", max_length=250)
    """The worker pods' QEMU and launcher (images/vm.yaml)."""
    pause: str = pydantic.Field(default="ghcr.io/kubeception/pause:0.2.0", max_length=250)
    """The sandbox image of the worker VMs' containerd (preloaded in the node image)."""
    kube_proxy: str = pydantic.Field(default="ghcr.io/kubeception/kube-proxy", max_length=200)
    """The guests' kube-proxy add-on: ``<this>:v<Kubernetes version>`` (images/kube-proxy.yaml), the cluster's own
    version; preloaded in the node image of that version."""
    coredns: str = pydantic.Field(default="ghcr.io/kubeception/coredns:0.2.0", max_length=250)
    """The guests' CoreDNS add-on (images/coredns.yaml; preloaded in the node image)."""
    flannel: str = pydantic.Field(default="ghcr.io/kubeception/flannel-guest:0.2.0", max_length=250)
    """The guests' pod network add-on, flanneld (images/flannel-guest.yaml; pulled by the nodes)."""
    network_policies: str = pydantic.Field(default="ghcr.io/kubeception/kube-network-policies:0.2.0", max_length=250)
    """The guests' NetworkPolicy add-on (images/kube-network-policies.yaml; pulled by the nodes)."""
    pull_policy: str = pydantic.Field(default="IfNotPresent", pattern=r"^(Always|IfNotPresent|Never)$")


class VersionSettings(SettingsGroup):
    supported: list[str] = pydantic.Field(default_factory=lambda: ["1.36.1", "1.36.3"], min_length=1, max_length=32)
    """Kubernetes versions this installation has images for; others are refused with a condition."""


class PlacementSettings(SettingsGroup):
    spread: str = pydantic.Field(default="required", pattern=r"^(required|preferred)$")
    """How a 3-replica control plane's pods spread over mother nodes: ``required`` puts each replica of a
    component on a node of its own (a node lost costs one replica; with fewer nodes than replicas the rest stay
    Pending and ControlPlaneAvailable says so), ``preferred`` spreads where it can (small mothers, development)."""
    node_selector: dict[str, str] = pydantic.Field(default_factory=dict, max_length=16)
    """Mother nodes the guests' control planes run on (e.g. nodes labelled for hosted control planes)."""


class VMSettings(SettingsGroup):
    """Where worker VMs run and how their pools are kept healthy."""

    node_selector: dict[str, str] = pydantic.Field(default_factory=dict, max_length=16)
    """Mother nodes that run worker VM pods (e.g. nodes labelled for VMs, with /dev/kvm)."""
    spread: str = pydantic.Field(default="preferred", pattern=r"^(required|preferred)$")
    """Anti-affinity of a cluster's VM pods across mother nodes: ``required`` puts each on a node of its own."""
    accelerator: str = pydantic.Field(default="auto", pattern=r"^(auto|kvm|tcg)$")
    """The launcher's ``--accelerator``: ``auto`` uses KVM where it works, else TCG emulation."""
    qemu_overhead_mib: int = pydantic.Field(default=320, ge=64, le=4096)
    """Memory a VM pod asks for beyond its VM's RAM (QEMU itself, the launcher)."""
    cpu_allocation_ratio: float = pydantic.Field(default=1.0, ge=1.0, le=10.0)
    """vCPUs per CPU a VM pod requests (KubeVirt's ``cpuAllocationRatio``): 1 requests a CPU per vCPU; 4 lets four
    vCPUs share one. Limits stay the VM's vCPUs; memory is never overcommitted."""
    drain_timeout_seconds: int = pydantic.Field(default=600, ge=10, le=86400)
    """How long evictions may be refused (PodDisruptionBudgets) before the Node's VM goes anyway; the pool's
    condition says so when it happens (Cluster API's nodeDrainTimeout)."""
    repair_after_seconds: int = pydantic.Field(default=300, ge=10, le=86400)
    """A worker whose guest Node is not Ready this long (or never registered this long after its pod started) is
    replaced."""
    max_unhealthy_percent: int = pydantic.Field(default=40, ge=0, le=100)
    """No repairs while more of a pool than this is unhealthy (a network or control-plane problem, not the VMs':
    Cluster API's maxUnhealthy); one unhealthy VM is always repaired, so a pool of one heals too."""
    health_check_seconds: float = pydantic.Field(default=15.0, ge=1, le=3600)
    """How often a cluster with workers looks at its guest Nodes (the guest's changes raise no mother event), and
    every guest at its add-ons (drift repaired, readiness reported)."""
    dns_servers: list[ipaddress.IPv4Address] = pydantic.Field(default_factory=list, max_length=3)
    """The worker VMs' resolvers when a KVMConfig declares none (``spec.network.dns.servers``). Empty: the nodes
    resolve nothing but ``/etc/hosts``, and the guest's CoreDNS answers only for the guest's own names."""


REGISTRY_URL = r"^https?://[a-z0-9]([-a-z0-9.]*[a-z0-9])?(:[0-9]{1,5})?$"
REGISTRY_HOST = r"^[a-z0-9]([-a-z0-9.]*[a-z0-9])?(:[0-9]{1,5})?$"


class RegistrySettings(SettingsGroup):
    """The platform registry worker VMs pull images by name from: containerd's mirror for the registries a guest's
    images name (``nginx`` is ``docker.io/library/nginx``), so a guest without a way to the internet runs them."""

    mirror: str = pydantic.Field(default="", max_length=250, pattern=rf"({REGISTRY_URL})|^$")
    """``http(s)://<host>[:port]`` of an OCI registry (``charts/kubeception-registry``, or the platform's own
    Harbor, Zot, …) serving the images under their upstream paths (``library/nginx``, ``kubeception/coredns``).
    It must be among ``platform.guestEndpoints`` (the VMs reach nothing else of the platform). Empty: the VMs
    pull from the registries the images name."""
    mirror_of: list[Annotated[str, pydantic.Field(max_length=253, pattern=REGISTRY_HOST)]] = pydantic.Field(
        default_factory=lambda: ["docker.io", "registry.k8s.io", "ghcr.io", "quay.io"], max_length=16
    )
    """The registries whose images the mirror serves; each still falls back to the registry itself when the
    mirror has not the image (where the platform gives the guests egress)."""
    address: ipaddress.IPv4Address | None = None
    """Where the mirror's host name answers, for the VMs (an ``/etc/hosts`` line, like ``routing.address``);
    unset: their resolvers say."""


class KVMSettings(OperatorSettings):
    model_config = operator_config("kvm-operator")

    platform: PlatformSettings = platform_field()
    routing: RoutingSettings = RoutingSettings()
    images: ImageSettings = ImageSettings()
    versions: VersionSettings = VersionSettings()
    placement: PlacementSettings = PlacementSettings()
    registry: RegistrySettings = RegistrySettings()
    vms: VMSettings = VMSettings()
    """Worker VMs (``workers`` is operatorkit's: how many objects reconcile at once)."""
