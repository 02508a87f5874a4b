"""What every kvm resource shares: the settings, the kinds of the children other operators reconcile, and what the
guest-cluster kit asks of an operator (the cluster's PKI, where its admin reaches the API)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

import guestkit
from kvm_operator import key
from operatorkit import Kind

if TYPE_CHECKING:
    import ipaddress

    from kvm_operator.settings import KVMSettings
    from kvm_operator.spec import KVMConfigSpec, KVMContext

# The children's kinds, declared here (the PKI's in guestkit): their CRDs are the contract between operators, not
# their Python packages.
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

    def pki(self, ctx: KVMContext) -> guestkit.GuestPKI:
        """kubeadm's certificates for a hosted control plane: etcd and the API server named by their Services (and
        the users' hostname), the API server also by the guest's ``kubernetes`` Service address; worker VMs'
        kubelets get certificates of the CA's node role (:mod:`kvm_operator.resources.node_certificates`)."""
        cluster = ctx.spec.cluster_id
        return guestkit.GuestPKI(
            cluster_id=cluster,
            namespace=key.namespace(cluster),
            labels=key.labels(cluster),
            certificates=key.CERTIFICATES,
            etcd_names=key.etcd_names(cluster),
            apiserver_names=key.apiserver_names(cluster, self.api_hostname(ctx.spec)),
            apiserver_ips=("127.0.0.1", str(next(ctx.spec.network.service_cidr.hosts()))),
            extra_roles=(guestkit.node_role(),),
        )

    def admin_access(self, ctx: KVMContext) -> guestkit.AdminAccess:
        """What ingress-operator says users reach the API at, else what it will say; the hostname as SNI (HAProxy
        routes by it)."""
        ingress = ctx.cache(INGRESS_CONFIG).get_by_name(ctx.spec.cluster_id)
        published = ((ingress or {}).get("status") or {}).get("endpoints") or []
        hostname = self.api_hostname(ctx.spec)
        port = self.settings.routing.port
        server = next((url for url in published if url.startswith(f"https://{hostname}")), None) or (
            f"https://{hostname}" + ("" if port == 443 else f":{port}")
        )
        return guestkit.AdminAccess(server, tls_server_name=hostname, sort_keys=True)
