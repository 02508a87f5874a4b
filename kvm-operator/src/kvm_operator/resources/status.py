"""The KVMConfig's conditions, folded from what its children report (a child's problem shows with the child's
own message) and from the control plane's workloads as their controllers observed them:

* ``CertificatesReady`` — the CAConfig and every CertConfig Ready (cert-operator);
* ``NetworkReady`` — the FlannelConfig Ready (flannel-operator);
* ``EndpointReady`` — the IngressConfig Ready: every HAProxy serves the route (ingress-operator);
* ``ControlPlaneAvailable`` — etcd and every component have as many available replicas as asked (during a roll
  too: ``Upgrading`` tells the versions);
* ``Upgrading`` — the control plane moving to the target version, component by component;
* ``Ready`` — all of them, and the kubeconfig Secret written: the guest's API serves its users. Worker VMs have a
  condition of their own, ``WorkersReady`` (:mod:`kvm_operator.resources.worker_pools`): a pool scaling or rolling
  does not make an answering API unready.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from guestkit import CA_CONFIG, CERT_CONFIG
from kvm_operator import key, metrics, versions
from kvm_operator.resources._workload import workloads
from kvm_operator.resources.version import UPGRADING
from kvm_operator.shared import FLANNEL_CONFIG, INGRESS_CONFIG
from kvm_operator.spec import KVMConfigSpec, KVMConfigStatus
from operatorkit import READY, Resource, get_condition, is_true, required
from operatorkit.kinds import POD

if TYPE_CHECKING:
    from kvm_operator.shared import Shared
    from kvm_operator.spec import KVMContext
    from operatorkit import Kind, Object

CERTIFICATES_READY, NETWORK_READY, ENDPOINT_READY = "CertificatesReady", "NetworkReady", "EndpointReady"
CONTROL_PLANE_AVAILABLE = "ControlPlaneAvailable"
CONDITIONS = (CERTIFICATES_READY, NETWORK_READY, ENDPOINT_READY, CONTROL_PLANE_AVAILABLE)


def stuck_pods(ctx: KVMContext, components: list[str]) -> str:
    """Why pods of ``components`` are not running, as the scheduler and the kubelet said it (unschedulable:
    "Insufficient cpu"; a container waiting: "CrashLoopBackOff ..."): what a person acts on."""
    found: list[str] = []
    for pod in ctx.cache(POD).by_index(key.CLUSTER_INDEX, ctx.spec.cluster_id):
        if pod["metadata"].get("labels", {}).get(key.NAME_LABEL) not in components:
            continue
        status = pod.get("status") or {}
        scheduled = get_condition(status, "PodScheduled")
        if scheduled is not None and scheduled.get("status") == "False" and scheduled.get("message"):
            found.append(f"pod {pod['metadata']['name']} unschedulable: {scheduled['message']}")
            continue
        for container in status.get("containerStatuses") or []:
            waiting = (container.get("state") or {}).get("waiting") or {}
            if waiting.get("reason") not in (None, "ContainerCreating", "PodInitializing"):
                detail = f" ({waiting['message']})" if waiting.get("message") else ""
                found.append(f"pod {pod['metadata']['name']}: {waiting['reason']}{detail}")
    return "; ".join(sorted(found)[:3])[:600]


def child_problem(kind: Kind, name: str, obj: Object | None) -> str | None:
    """None when the child is Ready; otherwise what it says (or that it is not there / not yet reconciled)."""
    if obj is None:
        return f"{kind.kind} {name} does not exist yet"
    status = obj.get("status") or {}
    if status.get("observedGeneration") not in (None, obj["metadata"].get("generation")):
        return f"{kind.kind} {name} has not seen its latest spec yet"
    condition = get_condition(status, READY)
    if condition is None:
        return f"{kind.kind} {name} is not reconciled yet"
    if condition["status"] != "True":
        return f"{kind.kind} {name}: {condition.get('reason')}: {condition.get('message')}"
    return None


def _fold(ctx: KVMContext, type_: str, problems: list[str], ready_message: str) -> bool:
    if problems:
        more = f" (and {len(problems) - 3} more)" if len(problems) > 3 else ""
        ctx.set_condition(type_, "False", "ChildNotReady", "; ".join(problems[:3]) + more)
        return False
    ctx.set_condition(type_, "True", "Ready", ready_message)
    return True


@dataclass
class ClusterStatus(Resource[KVMConfigSpec, KVMConfigStatus]):
    shared: Shared

    def ensure_created(self, ctx: KVMContext) -> None:
        cluster, status = ctx.spec.cluster_id, ctx.status
        namespace = key.namespace(cluster)
        status.cluster_id = cluster
        certs = [(CA_CONFIG, key.CA, ctx.cache(CA_CONFIG).get_by_name(key.CA, namespace))]
        certs += [(CERT_CONFIG, n, ctx.cache(CERT_CONFIG).get_by_name(n, namespace)) for n in key.CERTIFICATES]
        problems = [p for kind, name, obj in certs if (p := child_problem(kind, name, obj))]
        certificates = _fold(ctx, CERTIFICATES_READY, problems, f"CA and {len(key.CERTIFICATES)} certificates issued")

        flannel = ctx.cache(FLANNEL_CONFIG).get_by_name(cluster)
        problem = child_problem(FLANNEL_CONFIG, cluster, flannel)
        network_status = (flannel or {}).get("status") or {}
        if network_status.get("network"):
            status.network, status.vni = network_status["network"], network_status.get("vni")
        network = _fold(ctx, NETWORK_READY, [problem] if problem else [], f"network {status.network}")

        ingress = ctx.cache(INGRESS_CONFIG).get_by_name(cluster)
        problem = child_problem(INGRESS_CONFIG, cluster, ingress)
        endpoints = ((ingress or {}).get("status") or {}).get("endpoints") or []
        status.endpoint = endpoints[0] if endpoints else None
        endpoint = _fold(ctx, ENDPOINT_READY, [problem] if problem else [], f"served at {', '.join(endpoints)}")

        available = self._control_plane(ctx)
        ready = certificates and network and endpoint and available and bool(status.kubeconfig_secret)
        if ready:
            running = required(status.kubernetes_version, "kubernetesVersion")
            ctx.set_condition(READY, "True", "Ready", f"Kubernetes {running} at {status.endpoint}")
            if not status.available_at:
                status.available_at = metrics.first_available(ctx)
        else:
            waiting = [t for t in CONDITIONS if not is_true(status, t)] or ["the kubeconfig Secret"]
            ctx.set_condition(READY, "False", "Waiting", f"waiting for {', '.join(waiting)}")
        metrics.ready.labels(ctx.namespace or "", ctx.name).set(1 if ready else 0)

    def _control_plane(self, ctx: KVMContext) -> bool:
        status = ctx.status
        target = status.target_version or ctx.spec.kubernetes_version
        found = workloads(ctx)
        api: dict[str, Any] = (found[key.APISERVER] or {}).get("status") or {}
        status.control_plane_ready = f"{api.get('availableReplicas', 0)}/{ctx.spec.control_plane.replicas}"
        pending = [c for c in versions.ORDER if not versions.available(found[c])]
        if pending:
            why = stuck_pods(ctx, pending)
            ctx.set_condition(
                CONTROL_PLANE_AVAILABLE,
                "False",
                "Unschedulable" if why else "Unavailable",
                f"fewer replicas available than asked: {', '.join(pending)}" + (f"; {why}" if why else ""),
            )
        else:
            ctx.set_condition(CONTROL_PLANE_AVAILABLE, "True", "Available", "etcd and every component available")
        upgrading = [c for c in versions.ORDER if not versions.rolled(found[c], target)]
        refused = status.version_refused
        if refused:
            ctx.set_condition(UPGRADING, "False", "VersionRefused", refused)
        if not upgrading:
            if status.kubernetes_version not in (None, target):
                metrics.upgrade_finished(ctx)
            status.kubernetes_version = target
            if not refused:
                ctx.set_condition(UPGRADING, "False", "UpToDate", f"every component runs {target}")
        elif status.kubernetes_version not in (None, target):
            if not status.upgrade_started_at:
                metrics.upgrade_started(ctx)
            ctx.set_condition(UPGRADING, "True", "Rolling", f"to {target}: {', '.join(upgrading)} still to roll")
        return not pending
