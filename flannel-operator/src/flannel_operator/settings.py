"""flannel-operator settings: operatorkit's common ones plus the platform's plan, etcd, allocation, hosts and images."""

from __future__ import annotations

import pydantic

from flannel_operator.key import VNI_MAX
from operatorkit import OperatorSettings, SettingsGroup, operator_config
from operatorkit.platform import PlatformSettings, platform_field


class EtcdSettings(SettingsGroup):
    """The mother's etcd, where every host's flannel client reads its cluster's network config."""

    endpoint: str = pydantic.Field(pattern=r"^https?://[^\s/]+$")
    """http(s)://host:port, as the operator and the hosts reach it."""
    prefix: str = pydantic.Field(default="/coreos.com/network", pattern=r"^/[A-Za-z0-9_./-]*$", max_length=200)
    """Base of the per-cluster prefixes (flannel's default)."""
    ca_file: str | None = None
    """etcd's CA (required with https: etcd's certificates come from a CA of its own, never from a public one)."""
    cert_file: str | None = None
    """The client certificate the operator and every host's flanneld present (etcd --client-cert-auth)."""
    key_file: str | None = None

    @pydantic.model_validator(mode="after")
    def _tls(self) -> EtcdSettings:
        if self.endpoint.startswith("https://") and not self.ca_file:
            raise ValueError("an https etcd endpoint needs --etcd.ca-file (etcd's CA) to verify the server")
        if bool(self.cert_file) != bool(self.key_file):
            raise ValueError("--etcd.cert-file and --etcd.key-file go together")
        return self


class AllocationSettings(SettingsGroup):
    """How cluster networks and VNIs are allocated when a FlannelConfig leaves them empty. The network pool and
    the mother's networks (never given to a cluster) are the platform's plan: ``platform.pools.flannel``,
    ``platform.mother``."""

    network_prefix: int = pydantic.Field(default=18, ge=8, le=28)
    """Size of an allocated network: /18 gives 256 clusters in the default pool, 64 hosts of /24 each."""
    vni_min: int = pydantic.Field(default=1000, ge=1, le=VNI_MAX)
    vni_max: int = pydantic.Field(default=9999, ge=1, le=VNI_MAX)
    """VNIs are allocated from vni-min to vni-max, inclusive (at most 9,999,999: flannel's VXLAN device
    ``flannel.<VNI>`` must fit Linux's 15-character interface names)."""
    health_port_base: int = pydantic.Field(default=21000, ge=1024, le=25535)
    """flanneld health ports are allocated from base to base + 40000 (hostNetwork pods share the host ports); a
    cluster gets base + VNI mod 40000 unless another holds it."""


class HostSettings(SettingsGroup):
    """Which mother nodes run flannel (and the guest VMs on its bridges)."""

    node_selector: dict[str, str] = pydantic.Field(default_factory=dict)
    """Node labels, as JSON ({"type": "kvm"}) or key=value pairs on the command line."""

    @pydantic.field_validator("node_selector", mode="before")
    @classmethod
    def _pairs(cls, value: object) -> object:
        if isinstance(value, str) and not value.lstrip().startswith("{"):
            return dict(pair.split("=", 1) for pair in value.split(",") if pair)
        return value


class ImageSettings(SettingsGroup):
    """The images of the per-cluster DaemonSet and cleanup Jobs."""

    flannel: str = "ghcr.io/kubeception/flannel:0.2.0"
    """flanneld (images/flannel.yaml)."""
    tools: str = "ghcr.io/kubeception/tools:0.2.0"
    """Bridge setup and host cleanup: a shell and iproute2 (images/tools.yaml)."""


class FlannelSettings(OperatorSettings):
    model_config = operator_config("flannel-operator")

    etcd: EtcdSettings
    platform: PlatformSettings = platform_field()
    allocation: AllocationSettings = AllocationSettings()
    hosts: HostSettings = HostSettings()
    images: ImageSettings = ImageSettings()
