"""Which selected hosts run the network: ``hostsReady``/``hostsDesired`` from the DaemonSet, the HostsReady
condition, and — when a host does not run it — why, in the words of the pods themselves (unschedulable, a
container in CrashLoopBackOff with the last lines it wrote): what a person acts on. NetworkReady makes ``Ready``
of it, so a network no host can run is never Ready."""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from flannel_operator import key
from flannel_operator.spec import FlannelConfigSpec, FlannelConfigStatus
from operatorkit import Resource, get_condition, selector
from operatorkit.kinds import DAEMON_SET, NODE, POD

if TYPE_CHECKING:
    from flannel_operator.shared import Shared
    from flannel_operator.spec import FlannelContext

HOSTS_READY = "HostsReady"
RECHECK = 15.0
"""Seconds between looks at the pods while a host does not run the network: a pod's reason can change (waiting →
CrashLoopBackOff) without the DaemonSet's counts changing, which is all the controller is woken by."""
SHOWN = 3
"""Hosts named in a message (the rest are counted)."""


def pod_problem(pod: dict[str, Any]) -> str:
    """Why a pod is not Ready, as the scheduler and the kubelet report it."""
    status = pod.get("status") or {}
    scheduled = get_condition(status, "PodScheduled")
    if scheduled is not None and scheduled.get("status") == "False":
        return f"unschedulable: {scheduled.get('message') or scheduled.get('reason')}"
    found = []
    for container in status.get("containerStatuses") or []:
        if container.get("ready"):
            continue
        state, last = container.get("state") or {}, (container.get("lastState") or {}).get("terminated")
        if waiting := state.get("waiting"):
            text = str(waiting.get("reason") or "waiting")
            if last is not None:
                text += f" (last exit {last.get('exitCode')}: {_said(last)})"
            elif waiting.get("message"):
                text += f" ({_tail(str(waiting['message']))})"
        elif (terminated := state.get("terminated")) is not None:
            text = f"exited {terminated.get('exitCode')}: {_said(terminated)}"
        else:
            restarts = int(container.get("restartCount") or 0)
            text = "running, not ready" + (f" after {restarts} restarts (last: {_said(last)})" if last else "")
        found.append(f"{container.get('name')} {text}")
    if found:
        return ", ".join(found)
    ready = get_condition(status, "Ready") or {}
    return str(ready.get("message") or ready.get("reason") or status.get("phase") or "not started")


def _said(terminated: dict[str, Any]) -> str:
    """What a terminated container left: the last line it wrote (its termination message), else the reason."""
    return _tail(str(terminated.get("message") or "")) or str(terminated.get("reason") or "no reason given")


def _tail(text: str) -> str:
    lines = [line.strip() for line in text.splitlines() if line.strip()]
    return lines[-1][-200:] if lines else ""


@dataclass
class HostsStatus(Resource[FlannelConfigSpec, FlannelConfigStatus]):
    shared: Shared

    def ensure_created(self, ctx: FlannelContext) -> None:
        daemonset = ctx.cache(DAEMON_SET).get_by_name(key.DAEMON_SET, key.namespace(ctx.name))
        status = (daemonset or {}).get("status", {})
        desired, ready = int(status.get("desiredNumberScheduled", 0)), int(status.get("numberReady", 0))
        updated = int(status.get("updatedNumberScheduled", 0))
        current = (daemonset or {}).get("metadata", {}).get("generation") == status.get("observedGeneration")
        ctx.status.hosts_desired, ctx.status.hosts_ready = desired, ready
        if daemonset is None or not current:
            ctx.set_condition(HOSTS_READY, "False", "Pending", "the DaemonSet controller has not placed its pods yet")
        elif desired == 0:
            wanted = selector(self.shared.settings.hosts.node_selector) or "every node"
            ctx.set_condition(HOSTS_READY, "False", "NoHosts", f"no host is selected to run it (nodes: {wanted})")
        elif ready < desired:
            scheduled = int(status.get("currentNumberScheduled", 0))
            why = self._why(ctx, missing=scheduled < desired)
            ctx.set_condition(HOSTS_READY, "False", "HostsNotReady", f"{ready}/{desired} hosts run it; {why}")
            ctx.requeue_after(RECHECK)
        elif updated < desired:
            ctx.set_condition(HOSTS_READY, "False", "Rolling", f"{ready}/{desired} hosts ready, {updated} updated")
        else:
            ctx.set_condition(HOSTS_READY, "True", "AllHostsReady", f"{ready}/{desired} hosts")

    def _why(self, ctx: FlannelContext, *, missing: bool) -> str:
        """Each host that does not run the network, with its pod's reason (read only when some host does not)."""
        namespace = key.namespace(ctx.name)
        pods = ctx.client.list(POD, namespace, label_selector=f"{key.APP_LABEL}=flannel")["items"]
        problems, hosts = [], set()
        for pod in sorted(pods, key=lambda p: str(p.get("spec", {}).get("nodeName") or "")):
            node = pod.get("spec", {}).get("nodeName")
            hosts.add(node)
            if pod["metadata"].get("deletionTimestamp") or is_ready(pod):
                continue
            problems.append(f"host {node or '(none yet)'}: pod {pod['metadata']['name']} {pod_problem(pod)}")
        if missing:
            wanted = selector(self.shared.settings.hosts.node_selector) or None
            nodes = ctx.client.list(NODE, label_selector=wanted)["items"]
            problems += [
                f"host {name}: no flannel pod yet"
                for name in sorted(n["metadata"]["name"] for n in nodes)
                if name not in hosts
            ]
        if not problems:
            return "its pods are starting"
        more = f"; and {len(problems) - SHOWN} more" if len(problems) > SHOWN else ""
        return "; ".join(problems[:SHOWN]) + more


def is_ready(pod: dict[str, Any]) -> bool:
    condition = get_condition(pod.get("status"), "Ready")
    return condition is not None and condition.get("status") == "True"
