"""Guest access for people: the groups a guest credential carries (cert-operator's GuestCredentialRequest issuer
signs ``O=kubeception:<access>``) bound to the guest's own ClusterRoles of that name — ``view``, ``edit`` and
``admin``, the user-facing roles every Kubernetes has. ``masters`` credentials are ``system:masters`` and need no
binding."""

from __future__ import annotations

from typing import TYPE_CHECKING

from kvm_operator.addons import ACCESS, Guest, Manifests, metadata
from operatorkit.kinds import CLUSTER_ROLE, CLUSTER_ROLE_BINDING

if TYPE_CHECKING:
    from operatorkit import Object

LEVELS = ("view", "edit", "admin")
NODES = "kubeception:nodes"
"""Reading Nodes, which none of view, edit and admin grants (they are namespaced roles): every credential may see
the cluster's nodes (`kubectl get nodes`), as a viewer of a managed cluster can elsewhere."""


def group(level: str) -> str:
    """The group a credential of ``level`` carries (the certificate's O)."""
    return f"kubeception:{level}"


def binding(level: str) -> Object:
    return {
        "apiVersion": "rbac.authorization.k8s.io/v1",
        "kind": "ClusterRoleBinding",
        "metadata": metadata(group(level), ACCESS, namespace=None),
        "roleRef": {"apiGroup": "rbac.authorization.k8s.io", "kind": "ClusterRole", "name": level},
        "subjects": [{"apiGroup": "rbac.authorization.k8s.io", "kind": "Group", "name": group(level)}],
    }


def nodes_role() -> Object:
    return {
        "apiVersion": "rbac.authorization.k8s.io/v1",
        "kind": "ClusterRole",
        "metadata": metadata(NODES, ACCESS, namespace=None),
        "rules": [{"apiGroups": [""], "resources": ["nodes"], "verbs": ["get", "list", "watch"]}],
    }


def nodes_binding() -> Object:
    return {
        "apiVersion": "rbac.authorization.k8s.io/v1",
        "kind": "ClusterRoleBinding",
        "metadata": metadata(NODES, ACCESS, namespace=None),
        "roleRef": {"apiGroup": "rbac.authorization.k8s.io", "kind": "ClusterRole", "name": NODES},
        "subjects": [
            {"apiGroup": "rbac.authorization.k8s.io", "kind": "Group", "name": group(level)} for level in LEVELS
        ],
    }


def render(guest: Guest) -> Manifests:
    del guest  # the same in every guest
    bindings: Manifests = [(CLUSTER_ROLE_BINDING, binding(level)) for level in LEVELS]
    return [*bindings, (CLUSTER_ROLE, nodes_role()), (CLUSTER_ROLE_BINDING, nodes_binding())]
