"""A worker VM booted for real: the node image built here (images/node.yaml), started by the launcher
(``python -m kvm_operator.launcher``) under KVM if it works here, else TCG emulation (the launcher's probe decides),
with its tap on a bridge the test makes, boots the Ignition config kvm-operator renders, and its kubelet joins a
real guest kube-apiserver with the node certificate it was handed; a pod runs on it and ``kubectl logs`` reads its
output through the kubelet; a privileged pod on the node's network finds what kube-proxy, flannel, portmap and
kube-network-policies need there (every module the image lists loaded, rules with each nftables expression they
use accepted by the image's nft, forwarding on). The same config passes Ignition's own validator."""

from __future__ import annotations

import ipaddress
import subprocess
import time
from pathlib import Path
from typing import TYPE_CHECKING

import pytest

from kubeception_testenv import find_binary, wait_for
from kubeception_testenv.guest import NodeGuest, WorkerVM
from kubeception_testenv.images import RECIPES, Recipe, version
from kvm_operator import bootconfig
from kvm_operator.launcher.settings import LauncherSettings
from kvm_operator.launcher.tap import tap_name
from kvm_operator.launcher.vm import kvm_available, mac_address
from operatorkit import KubeClient
from operatorkit.kinds import NODE, POD, SERVICE_ACCOUNT
from tests.ingress.conftest import kubectl
from tests.vm.conftest import worker_config as boot_config

if TYPE_CHECKING:
    from collections.abc import Iterator


pytestmark = [pytest.mark.slow, pytest.mark.realnodes]
API_HOST = "api.vm-test.kubeception.test"
NODE_NAME = "worker-0"
# A rule for each nftables expression the node's networking uses, in the families they use it in: kube-proxy (ip:
# nat chains, numgen, ct, dnat, masquerade, fib, reject), portmap (ip6: fib, dnat), kube-network-policies (inet: ct,
# queue). The VM cannot load a module on demand: one missing from the image makes nft fail ("No such file").
NETFILTER_PROBE = """
table ip probe {
  chain services { type nat hook prerouting priority dstnat; numgen random mod 2 vmap { 0 : jump ep, 1 : jump ep }; }
  chain ep { ip daddr 10.97.0.10 tcp dport 53 dnat to 10.244.0.5:53; }
  chain masquerading { type nat hook postrouting priority srcnat; ct status dnat masquerade fully-random; }
  chain filter { type filter hook forward priority filter; fib daddr type local ip daddr 10.97.0.11 reject; }
}
table ip6 probe {
  chain hostports { type nat hook prerouting priority dstnat; fib daddr type local tcp dport 1 dnat to [fd00::5]:1; }
  chain filter { type filter hook input priority filter; fib daddr type local tcp dport 2 reject; }
}
table inet probe {
  chain policies { type filter hook forward priority filter; ct state established,related accept
    fib daddr type local tcp dport 3 reject; meta l4proto tcp tcp dport 4 queue num 98 bypass; }
}
"""


@pytest.fixture(scope="module")
def guest(tmp_path_factory: pytest.TempPathFactory) -> Iterator[NodeGuest]:
    with NodeGuest(tmp_path_factory.mktemp("vm-guest"), API_HOST) as started:
        yield started


def worker_config(guest: NodeGuest, node: str = NODE_NAME) -> dict[str, object]:
    return boot_config(guest, API_HOST, node, labels={"kubeception.io/pool": "default"})


def netfilter_pod() -> dict[str, object]:
    """Privileged, on the node's network, the node's root at /host: it runs the node's own nft (chroot)."""
    script = (
        'b=/bin/busybox; echo "$PROBE" | $b chroot /host /usr/sbin/nft -f - && $b chroot /host /usr/sbin/nft list '
        "ruleset && echo sysctl $($b cat /proc/sys/net/ipv4/ip_forward /proc/sys/net/bridge/bridge-nf-call-iptables) "
        "&& echo modules $($b cut -d' ' -f1 /proc/modules)"
    )
    return {
        "metadata": {"name": "netfilter", "namespace": "default"},
        "spec": {
            "nodeName": NODE_NAME,
            "hostNetwork": True,
            "automountServiceAccountToken": False,
            "restartPolicy": "Never",
            "containers": [
                {
                    "name": "probe",
                    "image": f"ghcr.io/kubeception/busybox:{version()}",
                    "imagePullPolicy": "Never",
                    "command": ["/bin/busybox", "sh", "-c", script],
                    "env": [{"name": "PROBE", "value": NETFILTER_PROBE}],
                    "securityContext": {"privileged": True},
                    "volumeMounts": [{"name": "root", "mountPath": "/host"}],
                }
            ],
            "volumes": [{"name": "root", "hostPath": {"path": "/"}}],
        },
    }


def check_netfilter(kube: KubeClient, guest: NodeGuest) -> None:
    wait_for(
        lambda: kube.get(POD, "netfilter", "default").get("status", {}).get("phase") in ("Succeeded", "Failed"),
        timeout=120,
        message="the netfilter probe ran on the VM",
    )
    logs = kubectl(guest.kubeconfig, "logs", "netfilter", "--namespace=default")
    assert kube.get(POD, "netfilter", "default")["status"]["phase"] == "Succeeded", logs.stdout + logs.stderr
    listed = logs.stdout
    for rule in ("numgen random mod 2", "dnat to 10.244.0.5:53", "masquerade fully-random", "reject", "queue"):
        assert rule in listed, (rule, listed)
    found = {line.split()[0]: line.split()[1:] for line in listed.splitlines() if line.startswith(("sysctl", "modul"))}
    assert found["sysctl"] == ["1", "1"], "nodeinit turns on forwarding and bridge netfilter"
    boot = Recipe.load(RECIPES / "node.yaml").boot
    assert boot is not None
    assert {m.replace("-", "_") for m in boot.modules} <= set(found["modules"]), found["modules"]


def test_the_boot_config_passes_ignitions_validator(guest: NodeGuest, tmp_path: Path) -> None:
    network = bootconfig.NodeNetwork(
        mac_address(NODE_NAME), ipaddress.IPv4Interface("10.1.5.2/24"), ipaddress.IPv4Address("10.1.5.1"), 1450
    )
    rendered = worker_config(guest)
    for which, config in (
        ("as rendered", rendered),
        ("with network", bootconfig.with_network(rendered, NODE_NAME, network)),
    ):
        path = tmp_path / "config.ign"
        path.write_bytes(bootconfig.dumps(config))
        result = subprocess.run([str(find_binary("ignition-validate")), str(path)], capture_output=True, text=True)
        assert result.returncode == 0, (which, result.stdout + result.stderr)
    broken = tmp_path / "broken.ign"
    broken.write_text('{"ignition": {"version": "3.4.0"}, "storage": {"files": [{"path": "relative"}]}}')
    refused = subprocess.run([str(find_binary("ignition-validate")), str(broken)], capture_output=True, text=True)
    assert refused.returncode != 0, "the validator is real: a relative path is refused"


def test_a_worker_vm_joins_runs_a_pod_and_powers_off_cleanly(
    guest: NodeGuest, boot_files: tuple[Path, Path], tmp_path: Path
) -> None:
    config = tmp_path / "config.ign"
    config.write_bytes(bootconfig.dumps(worker_config(guest)))
    vm = WorkerVM(tmp_path, guest, NODE_NAME, boot_files, config)
    kube = KubeClient.load(str(guest.kubeconfig))
    started = time.monotonic()
    vm.launch()  # not `with vm:`, which waits for Node Ready: the Node needs its pod range first
    try:
        # The guest's controller-manager gives a registered Node its pod range (this guest has none: the test does
        # what it would); the kubelet hands it to containerd, which writes the CNI config from its template.
        wait_for(lambda: kube.get_or_none(NODE, NODE_NAME), timeout=240, message=f"node registered ({vm.log_path})")
        kube.patch(NODE, NODE_NAME, {"spec": {"podCIDR": "10.244.0.0/24", "podCIDRs": ["10.244.0.0/24"]}})
        vm.wait_healthy()
        print(f"worker VM: Node Ready {time.monotonic() - started:.1f} s after the launcher started ({vm.accelerator})")
        if kvm_available():  # here /dev/kvm opens but a guest makes no progress (real-nodes.md): the probe says so
            assert vm.accelerator == "kvm" or "falling back to TCG" in vm.log_path.read_text()
        else:
            assert vm.accelerator == "tcg"
        node = kube.get(NODE, NODE_NAME)
        assert node["metadata"]["labels"]["kubeception.io/pool"] == "default"
        assert node["status"]["nodeInfo"]["kubeletVersion"] == "v1.36.3"
        # The launcher took the first address of the lease after the bridge's (the API server's here).
        internal = {a["address"] for a in node["status"]["addresses"] if a["type"] == "InternalIP"}
        assert internal == {str(guest.gateway + 1)}
        # The state disk, not memory, is what the kubelet reports as the node's storage.
        assert 3 << 30 < int(node["status"]["capacity"]["ephemeral-storage"].removesuffix("Ki")) << 10 <= 4 << 30

        kube.create(SERVICE_ACCOUNT, {"metadata": {"name": "default", "namespace": "default"}})
        kube.create(POD, netfilter_pod())
        kube.create(
            POD,
            {
                "metadata": {"name": "hello", "namespace": "default"},
                "spec": {
                    "nodeName": NODE_NAME,  # the test's guest has no scheduler
                    "automountServiceAccountToken": False,
                    "restartPolicy": "Never",
                    "containers": [
                        {
                            "name": "hello",
                            "image": f"ghcr.io/kubeception/busybox:{version()}",
                            "imagePullPolicy": "Never",
                            "command": ["/bin/busybox", "sh", "-c", "echo hello from $(/bin/busybox hostname)"],
                        }
                    ],
                },
            },
        )
        wait_for(
            lambda: kube.get(POD, "hello", "default").get("status", {}).get("phase") == "Succeeded",
            timeout=120,
            message="the pod ran to completion on the VM",
        )
        logs = kubectl(guest.kubeconfig, "logs", "hello", "--namespace=default")
        assert logs.returncode == 0, logs.stderr
        assert logs.stdout.strip() == "hello from hello"
        check_netfilter(kube, guest)
        if vm.accelerator == "tcg":  # TCG's translation cache is capped (the launcher's default)
            qemu = vm.qemu_pid()
            assert qemu is not None
            command = Path(f"/proc/{qemu}/cmdline").read_bytes().split(b"\0")
            assert f"tcg,tb-size={LauncherSettings.model_fields['tcg_tb_size_mib'].default}".encode() in command
    finally:
        vm.stop(timeout=60)  # the pod's SIGTERM: the power button, then the guest stops its units
    log = vm.log_path.read_text(errors="replace")
    assert "power button pressed" in log
    assert "all units stopped" in log, log[-3000:]
    assert vm.returncode == 0, log[-3000:]
    links = subprocess.run(["ip", "-o", "link"], capture_output=True, text=True, check=True).stdout
    assert tap_name(NODE_NAME, guest.bridge) not in links, "the tap leaves with the VM"
