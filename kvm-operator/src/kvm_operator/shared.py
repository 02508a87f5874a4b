"""What every kvm resource shares: the settings (and the kinds of the children other operators reconcile)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

from kvm_operator import key
from operatorkit import Kind

if TYPE_CHECKING:
    import ipaddress

    from kvm_operator.settings import KVMSettings
    from kvm_operator.spec import KVMConfigSpec

# The children's kinds, declared here: their CRDs are the contract between operators, not their Python packages.
CA_CONFIG = Kind("kubeception.io/v1alpha1", "CAConfig", "caconfigs")
CERT_CONFIG = Kind("kubeception.io/v1alpha1", "CertConfig", "certconfigs")
FLANNEL_CONFIG = Kind("kubeception.io/v1alpha1", "FlannelConfig", "flannelconfigs", namespaced=False)
INGRESS_CONFIG = Kind("kubeception.io/v1alpha1", "IngressConfig", "ingressconfigs", namespaced=False)


@dataclass(frozen=True)
class Shared:
    settings: KVMSettings

    def api_hostname(self, spec: KVMConfigSpec) -> str:
        return spec.api_hostname or key.api_hostname(spec.cluster_id, self.settings.routing.base_domain)

    def dns_servers(self, spec: KVMConfigSpec) -> list[ipaddress.IPv4Address]:
        """The cluster's declared resolvers: its own, else the operator's default."""
        return list(spec.network.dns.servers or self.settings.vms.dns_servers)
