"""What a run with real nodes made on the host, recorded before it is made, so that a run which died without
cleaning up (SIGKILL, a crashed interpreter, a killed CI job) is cleaned up by the next one.

A run's record, ``/run/kubeception-testenv/<run id>.json``, names its process (pid and start time, so a reused
pid is not mistaken for it), its network (bridge, namespaces, veths, routes, nftables table) and per real node
the node's directory and cgroup root. :func:`reap` removes, for every record whose process is gone, exactly what
the record names — pods' shims and containers in the node's mount namespace included — then the record. It runs
at the start of every control plane with real nodes, and by hand: ``python -m kubeception_testenv reap``.
"""

from __future__ import annotations

import fcntl
import ipaddress
import json
import os
from dataclasses import asdict
from pathlib import Path
from typing import TYPE_CHECKING, Any

from kubeception_testenv.network import NodeAddress, NodeNetwork
from kubeception_testenv.nodes import MountNamespace, release_node

if TYPE_CHECKING:
    from collections.abc import Sequence

    from kubeception_testenv.nodes import RealNode

RECORDS = Path("/run/kubeception-testenv")  # tmpfs: forgotten at reboot, like everything it names


def _start_time(pid: int) -> str | None:
    try:
        return Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[19]
    except (OSError, IndexError):
        return None


def record(network: NodeNetwork, nodes: Sequence[RealNode]) -> None:
    RECORDS.mkdir(mode=0o700, exist_ok=True)
    pid = os.getpid()
    content = {
        "pid": pid,
        "start_time": _start_time(pid),
        "network": {**asdict(network), "nodes": [{k: str(v) for k, v in asdict(n).items()} for n in network.nodes]},
        "nodes": [{"workdir": str(node.workdir), "cgroup_root": node.kubelet.cgroup_root} for node in nodes],
    }
    (RECORDS / f"{network.run_id}.json").write_text(json.dumps(content, default=str))


def forget(run_id: str) -> None:
    (RECORDS / f"{run_id}.json").unlink(missing_ok=True)


def reap() -> list[str]:
    """Clean up after every recorded run whose process is gone; returns their run ids. One reaper at a time (a
    lock beside the records): two runs starting together would both remove the same dead run's cgroups."""
    RECORDS.mkdir(mode=0o700, exist_ok=True)
    with (RECORDS / ".lock").open("a") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        return _reap()


def _reap() -> list[str]:
    reaped = []
    for path in sorted(RECORDS.glob("*.json")):
        if not path.exists():
            continue
        content: dict[str, Any] = json.loads(path.read_text())
        if content["start_time"] is not None and _start_time(content["pid"]) == content["start_time"]:
            continue  # its run is still going
        for node in content["nodes"]:
            workdir = Path(node["workdir"])
            namespace = MountNamespace(workdir, {})
            if namespace.file.exists():
                namespace.link = f"mnt:[{namespace.file.stat().st_ino}]"
            release_node(workdir, namespace, node["cgroup_root"])
        _network(content["network"]).destroy()
        path.unlink()
        reaped.append(path.stem)
    return reaped


def _network(saved: dict[str, Any]) -> NodeNetwork:
    nodes = [
        NodeAddress(
            name=n["name"],
            netns=n["netns"],
            veth_host=n["veth_host"],
            ip=ipaddress.IPv4Address(n["ip"]),
            pod_cidr=ipaddress.IPv4Network(n["pod_cidr"]),
        )
        for n in saved["nodes"]
    ]
    network = NodeNetwork(
        saved["run_id"],
        nodes=nodes,
        subnet=ipaddress.IPv4Network(saved["subnet"]),
        pods=ipaddress.IPv4Network(saved["pods"]),
    )
    network.created = True
    network.forwarding_before = str(saved.get("forwarding_before", "1"))
    return network
