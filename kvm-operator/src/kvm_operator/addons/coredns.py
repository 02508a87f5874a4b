"""CoreDNS, the guest's cluster DNS (kubeadm's shape): a Deployment of ``min(2, workers)`` replicas spread over
the workers, Service ``kube-dns`` at the 10th address of the Service network (what every kubelet's ``clusterDNS``
names), a ClusterRole to read Services, EndpointSlices, Pods and Namespaces, and the Corefile: the cluster domain
from the guest's API, everything else forwarded to the node's resolvers (the cluster's declared DNS servers; no
``forward`` when there are none: CoreDNS refuses an empty resolv.conf)."""

from __future__ import annotations

from typing import TYPE_CHECKING

from kvm_operator import key
from kvm_operator.addons import (
    COREDNS,
    Guest,
    Manifests,
    account_bound_to,
    host_aliases,
    labels,
    metadata,
    token_kubeconfig,
)
from operatorkit.kinds import CLUSTER_ROLE, CONFIG_MAP, DEPLOYMENT, SERVICE

if TYPE_CHECKING:
    from operatorkit import Object

SERVICE_NAME = "kube-dns"
CONFIG_DIR = "/etc/coredns"
ROLE = "kubeception:coredns"
SELECT = {"k8s-app": SERVICE_NAME}


def replicas(workers: int) -> int:
    return min(2, workers)


def corefile(guest: Guest) -> str:
    forward = "    forward . /etc/resolv.conf {\n        max_concurrent 1000\n    }\n" if guest.forward else ""
    return (
        ".:53 {\n    errors\n    health {\n        lameduck 5s\n    }\n    ready\n"
        f"    kubernetes {guest.cluster_domain} in-addr.arpa ip6.arpa {{\n"
        f"        kubeconfig {CONFIG_DIR}/kubeconfig guest\n"
        "        pods insecure\n        fallthrough in-addr.arpa ip6.arpa\n        ttl 30\n    }\n"
        "    prometheus :9153\n"
        f"{forward}"
        "    cache 30\n    loop\n    reload\n    loadbalance\n}\n"
    )


def deployment(guest: Guest) -> Object:
    ports = [
        {"name": "dns", "containerPort": 53, "protocol": "UDP"},
        {"name": "dns-tcp", "containerPort": 53, "protocol": "TCP"},
        {"name": "metrics", "containerPort": 9153, "protocol": "TCP"},
    ]
    spread = {"labelSelector": {"matchLabels": SELECT}, "topologyKey": "kubernetes.io/hostname"}
    return {
        "apiVersion": "apps/v1",
        "kind": "Deployment",
        "metadata": metadata(COREDNS, COREDNS),
        "spec": {
            "replicas": replicas(guest.workers),
            "selector": {"matchLabels": SELECT},
            "strategy": {"type": "RollingUpdate", "rollingUpdate": {"maxUnavailable": 1}},
            "template": {
                "metadata": {"labels": {**SELECT, **labels(COREDNS)}},
                "spec": {
                    "serviceAccountName": COREDNS,
                    "priorityClassName": "system-cluster-critical",
                    "dnsPolicy": "Default",  # the node's resolvers: what `forward` sends to
                    "hostAliases": host_aliases(guest),
                    "nodeSelector": {"kubernetes.io/os": "linux"},
                    "tolerations": [{"key": "CriticalAddonsOnly", "operator": "Exists"}],
                    "affinity": {
                        "podAntiAffinity": {
                            "preferredDuringSchedulingIgnoredDuringExecution": [
                                {"weight": 100, "podAffinityTerm": spread}
                            ]
                        }
                    },
                    "securityContext": {
                        "runAsNonRoot": True,
                        "runAsUser": 65532,
                        "runAsGroup": 65532,
                        # port 53 without a capability (a safe, namespaced sysctl)
                        "sysctls": [{"name": "net.ipv4.ip_unprivileged_port_start", "value": "53"}],
                        "seccompProfile": {"type": "RuntimeDefault"},
                    },
                    "containers": [
                        {
                            "name": COREDNS,
                            "image": guest.coredns_image,
                            "imagePullPolicy": guest.pull_policy,
                            "args": ["-conf", f"{CONFIG_DIR}/Corefile"],
                            "ports": ports,
                            "resources": {"requests": {"cpu": "50m", "memory": "70Mi"}, "limits": {"memory": "170Mi"}},
                            "securityContext": {
                                "allowPrivilegeEscalation": False,
                                "readOnlyRootFilesystem": True,
                                "capabilities": {"drop": ["ALL"]},
                            },
                            "livenessProbe": {
                                "httpGet": {"path": "/health", "port": 8080},
                                "initialDelaySeconds": 60,
                                "timeoutSeconds": 5,
                                "failureThreshold": 5,
                            },
                            "readinessProbe": {"httpGet": {"path": "/ready", "port": 8181}},
                            "volumeMounts": [{"name": "config", "mountPath": CONFIG_DIR, "readOnly": True}],
                        }
                    ],
                    "volumes": [{"name": "config", "configMap": {"name": COREDNS}}],
                },
            },
        },
    }


def service(guest: Guest) -> Object:
    return {
        "apiVersion": "v1",
        "kind": "Service",
        "metadata": {
            **metadata(SERVICE_NAME, COREDNS),
            "labels": {**labels(COREDNS), **SELECT, "kubernetes.io/name": "CoreDNS"},
        },
        "spec": {
            "selector": SELECT,
            "clusterIP": str(key.cluster_dns(guest.service_cidr)),
            "ports": [
                {"name": "dns", "port": 53, "protocol": "UDP", "targetPort": 53},
                {"name": "dns-tcp", "port": 53, "protocol": "TCP", "targetPort": 53},
                {"name": "metrics", "port": 9153, "protocol": "TCP", "targetPort": 9153},
            ],
        },
    }


def render(guest: Guest) -> Manifests:
    rules = [
        {"apiGroups": [""], "resources": ["endpoints", "services", "pods", "namespaces"], "verbs": ["list", "watch"]},
        {"apiGroups": ["discovery.k8s.io"], "resources": ["endpointslices"], "verbs": ["list", "watch"]},
    ]
    files = {"Corefile": corefile(guest), "kubeconfig": token_kubeconfig(guest, COREDNS)}
    return [
        (
            CLUSTER_ROLE,
            {
                "apiVersion": "rbac.authorization.k8s.io/v1",
                "kind": "ClusterRole",
                "metadata": metadata(ROLE, COREDNS, namespace=None),
                "rules": rules,
            },
        ),
        *account_bound_to(COREDNS, ROLE, ROLE),
        (CONFIG_MAP, {"apiVersion": "v1", "kind": "ConfigMap", "metadata": metadata(COREDNS, COREDNS), "data": files}),
        (DEPLOYMENT, deployment(guest)),
        (SERVICE, service(guest)),
    ]
