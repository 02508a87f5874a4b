"""The FlannelConfig custom resource: one VXLAN network per guest cluster."""

from __future__ import annotations

import ipaddress
import re

import pydantic

from flannel_operator import key
from operatorkit import Context, Kind, Status

FLANNEL_CONFIG = Kind("kubeception.io/v1alpha1", "FlannelConfig", "flannelconfigs", namespaced=False)
VNI_MAX = 2**24 - 1
_DNS_LABEL = re.compile(r"^[a-z0-9]([-a-z0-9]*[a-z0-9])?$")
_IFNAME = re.compile(r"^[A-Za-z0-9_.-]{1,15}$")


class ServerList(pydantic.BaseModel):
    model_config = pydantic.ConfigDict(extra="forbid")
    servers: list[str] = pydantic.Field(default_factory=list)


class FlannelConfigSpec(pydantic.BaseModel):
    """What a guest cluster's network needs; network and VNI are allocated when left empty."""

    model_config = pydantic.ConfigDict(extra="forbid", populate_by_name=True)

    cluster_id: str = pydantic.Field(alias="clusterID", min_length=1, max_length=40)
    network: ipaddress.IPv4Network | None = None
    subnet_len: int = pydantic.Field(default=24, alias="subnetLen", ge=8, le=30)
    vni: int | None = pydantic.Field(default=None, ge=1, le=VNI_MAX)
    bridge_name: str | None = pydantic.Field(default=None, alias="bridgeName")
    dns: ServerList = pydantic.Field(default_factory=ServerList)
    ntp: ServerList = pydantic.Field(default_factory=ServerList)
    host_interface: str | None = pydantic.Field(default=None, alias="hostInterface")

    @pydantic.field_validator("cluster_id")
    @classmethod
    def _dns_label(cls, value: str) -> str:
        if not _DNS_LABEL.match(value):
            raise ValueError("must be a DNS label: lower-case letters, digits and '-'")
        return value

    @pydantic.field_validator("bridge_name", "host_interface")
    @classmethod
    def _interface_name(cls, value: str | None) -> str | None:
        if value is not None and not _IFNAME.match(value):
            raise ValueError("must be a Linux interface name: at most 15 of [A-Za-z0-9_.-]")
        return value

    @pydantic.model_validator(mode="after")
    def _subnet_fits(self) -> FlannelConfigSpec:
        if self.network is not None and self.subnet_len <= self.network.prefixlen:
            raise ValueError(f"subnetLen {self.subnet_len} must be longer than the network's /{self.network.prefixlen}")
        return self

    @property
    def bridge(self) -> str:
        """The bridge of this cluster's VMs on every host."""
        return self.bridge_name or key.default_bridge(self.cluster_id)


class FlannelConfigStatus(Status):
    """What the operator records: the allocation (the source of truth when the operator restarts), where the
    config lives in etcd, and how many hosts run the network."""

    cluster_id: str | None = pydantic.Field(default=None, alias="clusterID")
    network: str | None = None
    subnet_len: int | None = pydantic.Field(default=None, alias="subnetLen")
    vni: int | None = pydantic.Field(default=None, ge=1, le=16777215)
    bridge: str | None = None
    etcd_key: str | None = pydantic.Field(default=None, alias="etcdKey")
    hosts_ready: int | None = pydantic.Field(default=None, alias="hostsReady", ge=0)
    hosts_desired: int | None = pydantic.Field(default=None, alias="hostsDesired", ge=0)


FlannelContext = Context[FlannelConfigSpec, FlannelConfigStatus]
