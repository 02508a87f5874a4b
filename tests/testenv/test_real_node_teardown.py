"""A real node leaves nothing behind: after a pod with volumes ran on it and the control plane stopped, no process,
mount, cgroup, network namespace, link, route or nftables table of the run remains on the host — and when the run
was killed instead, the next one removes all of it."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from kubeception_testenv import ControlPlane, reaper, wait_for
from kubeception_testenv.images import build_all, version
from kubeception_testenv.nodes import MountNamespace, cgroup_hierarchies

pytestmark = pytest.mark.realnodes

POD = """
apiVersion: v1
kind: Pod
metadata: {name: busy, namespace: default}
spec:
  nodeSelector: {kubeception.io/node: real}
  containers:
  - name: main
    image: ghcr.io/kubeception/tools:%s
    imagePullPolicy: Never
    command: [/bin/sh, -c, 'echo x > /scratch/file; mkdir -p /host-run/mine; exec sleep 3600']
    volumeMounts: [{name: scratch, mountPath: /scratch}, {name: run, mountPath: /host-run}]
  volumes:
  - {name: scratch, emptyDir: {}}
  - {name: run, hostPath: {path: /run/kubeception-teardown-test, type: DirectoryOrCreate}}
"""


IP_NETNS_DIR = "/run/netns"  # `ip netns add` makes it a mount point of its own, once per boot


def host_mounts() -> set[str]:
    return {line.split()[4] for line in Path("/proc/self/mountinfo").read_text().splitlines()}


@pytest.mark.slow
def test_stopping_a_real_node_leaves_nothing_on_the_host(tmp_path: Path):
    images = [path for path in build_all() if path.name.startswith(("pause-", "tools-"))]
    mounts_before = host_mounts()
    plane = ControlPlane(tmp_path / "plane", nodes=0, real_nodes=1, images=images)
    with plane:
        plane.kubectl("apply", "-f", "-", input=POD % version())
        plane.kubectl("wait", "--for=condition=Ready", "pod/busy", "--timeout=90s")
        node = plane.real_node("real-node-0")
        # The pod's hostPath is in the node's own /run, not the host's (made by its command once it runs: Ready
        # comes with the start of the process, not with its first line).
        wait_for(lambda: node.path("/run/kubeception-teardown-test/mine").is_dir(), timeout=30, message="mine made")
        assert not Path("/run/kubeception-teardown-test").exists()
        # On the host: the node's network namespace and the pin of its mount namespace, none of the pod's mounts.
        pins = {f"/run/netns/{node.address.netns}", str(node.namespace.holder), str(node.namespace.file)}
        assert host_mounts() - mounts_before <= {*pins, IP_NETNS_DIR}
        assert len(node.namespace.processes()) >= 4  # containerd, kubelet, kube-proxy, the pod's shim

    assert plane.leftovers() == []
    assert host_mounts() - mounts_before <= {IP_NETNS_DIR}
    assert not Path("/run/kubeception-teardown-test").exists()


KILLED_RUN = """
import json, pathlib, sys
from kubeception_testenv import ControlPlane
plane = ControlPlane(pathlib.Path(sys.argv[1]), nodes=0, real_nodes=1, images=[pathlib.Path(p) for p in sys.argv[2:]])
plane.start()
plane.kubectl("apply", "-f", "-", input=sys.stdin.read())
plane.kubectl("wait", "--for=condition=Ready", "pod/busy", "--timeout=90s")
node = plane.real_node("real-node-0")
print(json.dumps({"run_id": plane.network.run_id, "netns": node.address.netns, "link": node.namespace.link,
                  "cgroup": node.kubelet.cgroup_root}), flush=True)
sys.stdin.close()
import time; time.sleep(600)
"""


@pytest.mark.slow
def test_what_a_killed_run_left_is_removed_by_the_next(tmp_path: Path):
    images = [str(path) for path in build_all() if path.name.startswith(("pause-", "tools-"))]
    run = subprocess.Popen(
        [sys.executable, "-c", KILLED_RUN, str(tmp_path / "plane"), *images],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        text=True,
    )
    assert run.stdin is not None
    assert run.stdout is not None
    run.stdin.write(POD % version())
    run.stdin.close()
    started = json.loads(run.stdout.readline())
    run.kill()  # no teardown at all: the daemons die with it (PDEATHSIG); shims, pods, network, cgroups do not
    run.wait()
    namespace = MountNamespace(tmp_path / "plane" / "nodes" / "real-node-0", {})
    namespace.link = started["link"]
    assert namespace.processes()  # the pod's shim survived its run
    assert started["netns"] in run_ip("netns", "list")

    assert started["run_id"] in reaper.reap()

    assert namespace.processes() == []
    assert started["netns"] not in run_ip("netns", "list")
    assert f"kc{started['run_id']}" not in run_ip("-o", "link", "show")
    assert not any((hierarchy / started["cgroup"].lstrip("/")).exists() for hierarchy in cgroup_hierarchies())
    assert not [m for m in host_mounts() if m.startswith(str(tmp_path))]
    assert subprocess.run(["nft", "list", "table", "ip", f"kc{started['run_id']}"], check=False).returncode != 0


def run_ip(*args: str) -> str:
    return subprocess.run(["ip", *args], capture_output=True, text=True, check=True).stdout
