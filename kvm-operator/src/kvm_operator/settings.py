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
    """The control plane's images: ``<repository>:<Kubernetes version>`` (images/kubernetes.yaml builds them)."""

    kubernetes: str = pydantic.Field(default="ghcr.io/kubeception/kubernetes", max_length=200)
    """kube-apiserver, kube-controller-manager, kube-scheduler and etcd, one image per Kubernetes version."""
    pull_policy: str = pydantic.Field(default="IfNotPresent", pattern=r"^(Always|IfNotPresent|Never)$")


class VersionSettings(_Group):
    supported: list[str] = pydantic.Field(default_factory=lambda: ["1.36.3"], min_length=1, max_length=32)
    """Kubernetes versions this installation has images for; others are refused with a condition."""


class KVMSettings(OperatorSettings):
    model_config = operator_config("kvm-operator")

    routing: RoutingSettings = RoutingSettings()
    images: ImageSettings = ImageSettings()
    versions: VersionSettings = VersionSettings()
