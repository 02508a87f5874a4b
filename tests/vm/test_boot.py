"""A worker VM booted for real: the node image built here (images/node.yaml), started by the launcher
(``python -m kvm_operator.launcher``) under KVM if it works here, else TCG emulation (the launcher's probe decides),
with its tap on a bridge the test makes, boots the Ignition config kvm-operator renders, and its kubelet joins a
real guest kube-apiserver with the node certificate it was handed; a pod runs on it and ``kubectl logs`` reads its
output through the kubelet. The same config passes Ignition's own validator."""

from __future__ import annotations

import ipaddress
import subprocess
import sys
import time
from typing import TYPE_CHECKING

import pytest

from kubeception_testenv import EtcdServer, GuestAPIServer, LocalAddresses, find_binary, wait_for
from kubeception_testenv._pki import LocalPKI
from kubeception_testenv.images import RECIPES, Recipe, build, extract, version
from kubeception_testenv.nodes import write_kubeconfig
from kvm_operator import bootconfig
from kvm_operator.launcher.vm import kvm_available, mac_address, tap_name
from operatorkit import KubeClient
from operatorkit.kinds import NODE, POD, SERVICE_ACCOUNT
from tests.ingress.conftest import kubectl

if TYPE_CHECKING:
    from collections.abc import Iterator
    from pathlib import Path


pytestmark = pytest.mark.slow
API_HOST = "api.vm-test.kubeception.test"
NODE_NAME = "worker-0"


class Guest:
    def __init__(self, server: GuestAPIServer, pki: LocalPKI, kubeconfig: Path, bridge: str, network: str) -> None:
        self.server, self.pki, self.kubeconfig, self.bridge = server, pki, kubeconfig, bridge
        self.network = ipaddress.IPv4Network(network)
        self.kube = KubeClient.load(str(kubeconfig))


@pytest.fixture(scope="module")
def boot_files(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path]:
    archive = build(Recipe.load(RECIPES / "node.yaml"))
    kernel, initrd = extract(archive, ["boot/vmlinuz", "boot/initrd.img"], tmp_path_factory.mktemp("node-image"))
    return kernel, initrd


@pytest.fixture(scope="module")
def guest(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Guest]:
    """A guest kube-apiserver (Node,RBAC, like kvm-operator's) on an address of a bridge the VM's tap joins."""
    workdir = tmp_path_factory.mktemp("vm-guest")
    addresses = LocalAddresses(1)
    with addresses as (address,), EtcdServer(workdir, name="vm-etcd") as etcd:
        pki = LocalPKI(workdir / "pki")
        serving = pki.issue("apiserver", "kube-apiserver", dns_names=(API_HOST,), ip_addresses=(address,), server=True)
        kubelet_client = pki.issue(
            "kubelet-client", "kube-apiserver-kubelet-client", organizations=("system:masters",), client=True
        )
        admin = pki.issue("admin", "admin", organizations=("system:masters",), client=True)
        server = GuestAPIServer(
            workdir,
            etcd_url=etcd.url,
            serving_cert=serving.cert,
            serving_key=serving.key,
            client_ca=pki.ca.cert,
            name="vm-guest",
            address=address,
            authorization_mode="Node,RBAC",
            kubelet_client=kubelet_client,
        )
        kubeconfig = write_kubeconfig(workdir / "admin.kubeconfig", server.url, pki.ca.cert, admin)
        with server:
            assert addresses.subnet is not None
            yield Guest(server, pki, kubeconfig, addresses.link, str(addresses.subnet))


def worker_config(guest: Guest) -> dict[str, object]:
    node_cert = guest.pki.issue(NODE_NAME, f"system:node:{NODE_NAME}", organizations=("system:nodes",), client=True)
    hosts = list(guest.network.hosts())
    return bootconfig.render(
        bootconfig.WorkerBoot(
            node=NODE_NAME,
            mac=mac_address(NODE_NAME),
            address=ipaddress.IPv4Interface(f"{hosts[-1]}/{guest.network.prefixlen}"),
            gateway=hosts[0],
            api_host=API_HOST,
            api_port=guest.server.port,
            api_address=ipaddress.IPv4Address(guest.server.address),
            ca_pem=guest.pki.ca.cert.read_text(),
            cert_pem=node_cert.cert.read_text(),
            key_pem=node_cert.key.read_text(),
            pod_cidr=ipaddress.IPv4Network("10.244.0.0/24"),
            sandbox_image=f"ghcr.io/kubeception/pause:{version()}",
            labels={"kubeception.io/pool": "default"},
        )
    )


def test_the_boot_config_passes_ignitions_validator(guest: Guest, tmp_path: Path) -> None:
    config = tmp_path / "config.ign"
    config.write_bytes(bootconfig.dumps(worker_config(guest)))
    result = subprocess.run([str(find_binary("ignition-validate")), str(config)], capture_output=True, text=True)
    assert result.returncode == 0, result.stdout + result.stderr
    broken = tmp_path / "broken.ign"
    broken.write_text('{"ignition": {"version": "3.4.0"}, "storage": {"files": [{"path": "relative"}]}}')
    refused = subprocess.run([str(find_binary("ignition-validate")), str(broken)], capture_output=True, text=True)
    assert refused.returncode != 0, "the validator is real: a relative path is refused"


def node_ready(kube: KubeClient) -> bool:
    node = kube.get_or_none(NODE, NODE_NAME)
    conditions = (node or {}).get("status", {}).get("conditions", [])
    return any(c["type"] == "Ready" and c["status"] == "True" for c in conditions)


def test_a_worker_vm_joins_runs_a_pod_and_powers_off_cleanly(
    guest: Guest, boot_files: tuple[Path, Path], tmp_path: Path
) -> None:
    kernel, initrd = boot_files
    config = tmp_path / "config.ign"
    config.write_bytes(bootconfig.dumps(worker_config(guest)))
    console = (tmp_path / "console.log").open("wb")
    launcher = subprocess.Popen(
        [sys.executable, "-m", "kvm_operator.launcher", f"--name={NODE_NAME}", "--cpus=2", "--memory-mib=1536",
         f"--kernel={kernel}", f"--initrd={initrd}", f"--boot-config={config}", f"--bridge={guest.bridge}",
         "--accelerator=auto", "--kvm-probe-seconds=5", f"--state-dir={tmp_path / 'state'}", "--shutdown-seconds=30",
         f"--disk={tmp_path / 'state.img'}", "--disk-gib=4"],
        stdout=console, stderr=subprocess.STDOUT,
    )  # fmt: skip
    started = time.monotonic()

    def ready() -> bool:
        if launcher.poll() is not None:
            pytest.fail(f"the launcher exited ({launcher.returncode}): {console.name}")
        return node_ready(guest.kube)

    try:
        wait_for(ready, timeout=240, message=f"node Ready (console: {console.name})")
        ready_after = time.monotonic() - started
        accelerator = (tmp_path / "state" / "accelerator").read_text().strip()
        print(f"worker VM: Node Ready {ready_after:.1f} s after the launcher started ({accelerator})")
        if kvm_available():  # here /dev/kvm opens but a guest makes no progress (real-nodes.md): the probe says so
            assert accelerator == "kvm" or "falling back to TCG" in (tmp_path / "console.log").read_text()
        else:
            assert accelerator == "tcg"
        node = guest.kube.get(NODE, NODE_NAME)
        assert node["metadata"]["labels"]["kubeception.io/pool"] == "default"
        assert node["status"]["nodeInfo"]["kubeletVersion"] == "v1.36.3"
        assert {"type": "InternalIP", "address": str(list(guest.network.hosts())[-1])} in node["status"]["addresses"]
        # The state disk, not memory, is what the kubelet reports as the node's storage.
        assert 3 << 30 < int(node["status"]["capacity"]["ephemeral-storage"].removesuffix("Ki")) << 10 <= 4 << 30

        guest.kube.create(SERVICE_ACCOUNT, {"metadata": {"name": "default", "namespace": "default"}})
        guest.kube.create(
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
            lambda: guest.kube.get(POD, "hello", "default").get("status", {}).get("phase") == "Succeeded",
            timeout=120,
            message="the pod ran to completion on the VM",
        )
        logs = kubectl(guest.kubeconfig, "logs", "hello", "--namespace=default")
        assert logs.returncode == 0, logs.stderr
        assert logs.stdout.strip() == "hello from hello"
    finally:
        launcher.terminate()  # the pod's SIGTERM: the power button, then the guest stops its units
        code = launcher.wait(timeout=60)
        console.close()
    log = (tmp_path / "console.log").read_text(errors="replace")
    assert "power button pressed" in log
    assert "all units stopped" in log, log[-3000:]
    assert code == 0, log[-3000:]
    links = subprocess.run(["ip", "-o", "link"], capture_output=True, text=True, check=True).stdout
    assert tap_name(NODE_NAME) not in links, "the tap leaves with the VM"
