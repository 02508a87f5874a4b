"""kvm-operator settings: operatorkit's common ones plus the base domain, images and supported versions."""

from __future__ import annotations

import pydantic

from operatorkit import OperatorSettings, operator_config


class _Group(pydantic.BaseModel):
    model_config = pydantic.ConfigDict(extra="forbid", use_attribute_docstrings=True, frozen=True)


class RoutingSettings(_Group):
    base_domain: str = pydantic.Field(
        default="kubeception.test",
        max_length=200,
        pattern=r"^[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*$",
    )
    """Guest API hostnames default to api.<clusterID>.<base domain> (ingress-operator's base domain)."""
    port: int = pydantic.Field(default=443, ge=1, le=65535)
    """The port users reach guest APIs at through HAProxy (ingress-operator's TLS port)."""


class ImageSettings(_Group):
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
    pull_policy: str = pydantic.Field(default="IfNotPresent", pattern=r"^(Always|IfNotPresent|Never)$")


class VersionSettings(_Group):
    supported: list[str] = pydantic.Field(default_factory=lambda: ["1.36.1", "1.36.3"], min_length=1, max_length=32)
    """Kubernetes versions this installation has images for; others are refused with a condition."""


class PlacementSettings(_Group):
    spread: str = pydantic.Field(default="required", pattern=r"^(required|preferred)$")
    """How a 3-replica control plane's pods spread over mother nodes: ``required`` puts each replica of a
    component on a node of its own (a node lost costs one replica; with fewer nodes than replicas the rest stay
    Pending and ControlPlaneAvailable says so), ``preferred`` spreads where it can (small mothers, development)."""
    node_selector: dict[str, str] = pydantic.Field(default_factory=dict, max_length=16)
    """Mother nodes the guests' control planes run on (e.g. nodes labelled for hosted control planes)."""


class KVMSettings(OperatorSettings):
    model_config = operator_config("kvm-operator")

    routing: RoutingSettings = RoutingSettings()
    images: ImageSettings = ImageSettings()
    versions: VersionSettings = VersionSettings()
    placement: PlacementSettings = PlacementSettings()
