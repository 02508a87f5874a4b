"""Operator-wide settings, from the command line (see ``__main__``)."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from flannel_operator.allocator import Allocator
    from flannel_operator.etcd import NetworkStore


@dataclass
class FlannelSettings:
    allocator: Allocator
    etcd: NetworkStore
    node_selector: dict[str, str] = field(default_factory=dict)
    flannel_image: str = "quay.io/coreos/flannel:v0.26.7"
    tools_image: str = "docker.io/library/alpine:3.22"
    health_port_base: int = 21000
    namespace_prefix: str = "flannel-"
    client_cluster_role: str = "kubeception:flannel-client"

    def namespace(self, cluster_id: str) -> str:
        return f"{self.namespace_prefix}{cluster_id}"

    def health_port(self, vni: int) -> int:
        """A host port per cluster (hostNetwork pods share the host's ports), derived from the VNI: distinct for
        VNIs that differ by less than 40,000 (every pool up to that size), and always below 65536 — any VNI up
        to 2**24 may be requested."""
        return self.health_port_base + vni % 40_000
