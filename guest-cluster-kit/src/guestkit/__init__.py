"""guestkit: what every guest-cluster operator of kubeception shares, whatever infrastructure it runs the guest on.

A guest cluster's control plane needs kubeadm's certificates, issued by cert-operator from a CA of the cluster's own
(:mod:`.pki`: the CAConfig and the CertConfigs, rendered from a :class:`GuestPKI` the operator derives), and its
admin needs a kubeconfig (:mod:`.kubeconfig`: the Secret, and the one way kubeconfigs are written). An operator for
another infrastructure implements two methods on its ``Shared`` — ``pki(ctx)`` and ``admin_access(ctx)`` — puts
:func:`pki_children` and :class:`GuestKubeconfig` in its resource list, and writes only its own infrastructure's
resources (Cluster API keeps the same things once: ``util/secret``, ``util/kubeconfig``).
"""

from __future__ import annotations

from guestkit.certificates import ADMIN_CERTIFICATE, bootstrap_role, certificate_set, node_role
from guestkit.cluster import RESERVED_IDS, WORKERS_SUFFIX, ClusterID
from guestkit.kinds import CA_CONFIG, CERT_CONFIG
from guestkit.kubeconfig import (
    AdminAccess,
    GuestKubeconfig,
    HasAdminAccess,
    admin_kubeconfig,
    admin_serial,
    kubeconfig,
    kubeconfig_secret,
)
from guestkit.nodes import MAX_LABELS, MAX_TAINTS, NodeLabels, Taint
from guestkit.pki import CA, Certificate, ClusterCA, GuestPKI, HasPKI, pki_children
from guestkit.status import GuestClusterStatus

__all__ = [
    "ADMIN_CERTIFICATE",
    "CA",
    "CA_CONFIG",
    "CERT_CONFIG",
    "MAX_LABELS",
    "MAX_TAINTS",
    "RESERVED_IDS",
    "WORKERS_SUFFIX",
    "AdminAccess",
    "Certificate",
    "ClusterCA",
    "ClusterID",
    "GuestClusterStatus",
    "GuestKubeconfig",
    "GuestPKI",
    "HasAdminAccess",
    "HasPKI",
    "NodeLabels",
    "Taint",
    "admin_kubeconfig",
    "admin_serial",
    "bootstrap_role",
    "certificate_set",
    "kubeconfig",
    "kubeconfig_secret",
    "node_role",
    "pki_children",
]
