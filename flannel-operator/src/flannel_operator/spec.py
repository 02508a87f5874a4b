"""The FlannelConfig custom resource: one VXLAN network per guest cluster."""

from __future__ import annotations

import ipaddress
import re
from typing import Annotated, Any

import pydantic

from flannel_operator import key
from operatorkit import DNS_LABEL, DNS_SUBDOMAIN, Context, Kind, Status

FLANNEL_CONFIG = Kind("kubeception.io/v1alpha1", "FlannelConfig", "flannelconfigs", namespaced=False)
VNI_MAX = key.VNI_MAX
"""flanneld names the VXLAN device ``flannel.<VNI>``: a larger VNI names a device Linux refuses."""
_IFNAME = re.compile(r"^[A-Za-z0-9_.-]{1,15}$")
_IFNAME_SCHEMA: dict[str, Any] = {"pattern": _IFNAME.pattern, "maxLength": 15}
"""What the interface-name validators enforce, stated in the schema (the CRD checks it too); the validators
keep their messages, which say why."""

MAX_SERVERS = 8


def _hostname_or_ip(value: str) -> str:
    try:
        ipaddress.ip_address(value)
    except ValueError:
        if len(value) > 253 or not re.match(DNS_SUBDOMAIN, value):
            raise ValueError("must be an IP address or a DNS name") from None
    return value


class DNSServers(pydantic.BaseModel):
    model_config = pydantic.ConfigDict(extra="forbid")
    servers: list[ipaddress.IPv4Address | ipaddress.IPv6Address] = pydantic.Field(
        default_factory=list, max_length=MAX_SERVERS
    )


class NTPServers(pydantic.BaseModel):
    model_config = pydantic.ConfigDict(extra="forbid")
    servers: list[Annotated[str, pydantic.Field(max_length=253), pydantic.AfterValidator(_hostname_or_ip)]] = (
        pydantic.Field(default_factory=list, max_length=MAX_SERVERS)
    )


class FlannelConfigSpec(pydantic.BaseModel):
    """What a guest cluster's network needs; network and VNI are allocated when left empty. The object's name is
    the cluster id (the CRD enforces it), so the API server keeps one FlannelConfig per cluster."""

    model_config = pydantic.ConfigDict(extra="forbid", populate_by_name=True)

    cluster_id: str = pydantic.Field(alias="clusterID", min_length=1, max_length=40, pattern=DNS_LABEL)
    network: ipaddress.IPv4Network | None = None
    subnet_len: int = pydantic.Field(default=24, alias="subnetLen", ge=8, le=30)
    vni: int | None = pydantic.Field(default=None, ge=1, json_schema_extra={"maximum": VNI_MAX})
    bridge_name: str | None = pydantic.Field(default=None, alias="bridgeName", json_schema_extra=_IFNAME_SCHEMA)
    dns: DNSServers = pydantic.Field(default_factory=DNSServers)
    ntp: NTPServers = pydantic.Field(default_factory=NTPServers)
    host_interface: str | None = pydantic.Field(default=None, alias="hostInterface", json_schema_extra=_IFNAME_SCHEMA)

    @pydantic.field_validator("network")
    @classmethod
    def _network_size(cls, value: ipaddress.IPv4Network | None) -> ipaddress.IPv4Network | None:
        if value is not None and not 8 <= value.prefixlen <= 28:
            raise ValueError("must be a /8 to /28 network")
        return value

    @pydantic.field_validator("vni")
    @classmethod
    def _vni_names_a_device(cls, value: int | None) -> int | None:
        if value is not None and value > VNI_MAX:
            raise ValueError(
                f"must be at most {VNI_MAX}: flannel names the VXLAN device {key.vxlan_device(value)}, longer than "
                f"Linux's {key.IFNAME_MAX} characters"
            )
        return value

    @pydantic.field_validator("bridge_name")
    @classmethod
    def _bridge_name(cls, value: str | None) -> str | None:
        if value is not None and (problem := key.interface_name_problem(value)):
            raise ValueError(problem)
        return value

    @pydantic.field_validator("host_interface")
    @classmethod
    def _interface_name(cls, value: str | None) -> str | None:
        if value is not None and (not _IFNAME.match(value) or value in (".", "..")):
            raise ValueError("must be a Linux interface name: at most 15 of [A-Za-z0-9_.-], not '.' or '..'")
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
    health_port: int | None = pydantic.Field(default=None, alias="healthPort", ge=1024, le=65535)
    etcd_key: str | None = pydantic.Field(default=None, alias="etcdKey")
    hosts_ready: int | None = pydantic.Field(default=None, alias="hostsReady", ge=0)
    hosts_desired: int | None = pydantic.Field(default=None, alias="hostsDesired", ge=0)


FlannelContext = Context[FlannelConfigSpec, FlannelConfigStatus]
