"""The pod a worker VM runs in (one per guest Node; node name = pod name).

* an init container from the node image copies the kernel and initramfs into the pod's ``vm`` volume (its
  entrypoint is ``cp``: the image is the VM's boot files, KubeVirt's container-disk idea);
* the ``vm`` container runs the launcher (``python3 -m kvm_operator.launcher``): a tap on the cluster's flannel
  bridge, an address from this host's flannel lease (``/run/flannel``, where flanneld writes it), the boot
  configuration from the pool's Secret (a key per node), the state disk in the ``vm`` volume. It is privileged:
  it makes a tap in the host's network namespace (``hostNetwork``) and opens ``/dev/kvm`` and ``/dev/net/tun``;
  the namespace it runs in allows exactly that (Pod Security ``privileged``) and holds nothing else;
* its limits are the VM's CPUs, and its memory plus QEMU's overhead: a VM never takes more than its size. It asks
  for that memory, and for its CPUs divided by the CPU allocation ratio (KubeVirt's ``cpuAllocationRatio``; 1
  by default: no overcommit) — memory is never overcommitted;
* the grace period outlasts the launcher's power-down deadline: SIGTERM presses the VM's power button, the guest
  stops its kubelet and containerd, then QEMU exits.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

BOOT_DIR = "/etc/kubeception/boot"
STATE_DIR = "/vm"
SHUTDOWN_SECONDS = 60


def cpu_quantity(millicores: int) -> str:
    """CPU in the form the API server stores (``2``, not ``2000m``): the StatefulSet the operator applies then
    equals what it reads back, and an unchanged pool is not written again."""
    return str(millicores // 1000) if millicores % 1000 == 0 else f"{millicores}m"


def memory_quantity(mib: int) -> str:
    """Memory in the API server's canonical form (``2Gi``, not ``2048Mi``), for the same reason."""
    return f"{mib // 1024}Gi" if mib % 1024 == 0 else f"{mib}Mi"


@dataclass(frozen=True)
class VMPod:
    node_image: str  # <images.node>:v<version>
    vm_image: str
    bridge: str  # the cluster's flannel bridge on every host
    boot_secret: str  # the pool's boot configurations, a key "<node>.ign" per node
    cpus: int
    memory_mib: int
    disk_gib: int
    accelerator: str = "auto"
    qemu_overhead_mib: int = 320
    cpu_allocation_ratio: float = 1.0
    node_selector: dict[str, str] | None = None
    pull_policy: str = "IfNotPresent"

    def spec(self) -> dict[str, Any]:
        memory = memory_quantity(self.memory_mib + self.qemu_overhead_mib)
        limits = {"cpu": str(self.cpus), "memory": memory}
        requests = {**limits, "cpu": cpu_quantity(max(1, int(self.cpus * 1000 / self.cpu_allocation_ratio)))}
        launcher = [
            "--name=$(NODE_NAME)",
            f"--cpus={self.cpus}",
            f"--memory-mib={self.memory_mib}",
            f"--kernel={STATE_DIR}/vmlinuz",
            f"--initrd={STATE_DIR}/initrd.img",
            f"--boot-config={BOOT_DIR}/$(NODE_NAME).ign",
            f"--bridge={self.bridge}",
            f"--flannel-env=/run/flannel/{self.bridge}.env",
            f"--disk={STATE_DIR}/state.img",
            f"--disk-gib={self.disk_gib}",
            f"--accelerator={self.accelerator}",
            f"--shutdown-seconds={SHUTDOWN_SECONDS}",
        ]
        mounts = [{"name": "vm", "mountPath": STATE_DIR}]
        return {
            "hostNetwork": True,
            "dnsPolicy": "ClusterFirstWithHostNet",
            "enableServiceLinks": False,
            "automountServiceAccountToken": False,
            "terminationGracePeriodSeconds": SHUTDOWN_SECONDS + 15,
            "nodeSelector": dict(self.node_selector or {}),
            "initContainers": [
                {
                    "name": "boot-files",
                    "image": self.node_image,
                    "imagePullPolicy": self.pull_policy,
                    "args": [f"{STATE_DIR}/"],
                    "volumeMounts": mounts,
                    "resources": {"requests": {"cpu": "10m", "memory": "32Mi"}, "limits": {"memory": "64Mi"}},
                }
            ],
            "containers": [
                {
                    "name": "vm",
                    "image": self.vm_image,
                    "imagePullPolicy": self.pull_policy,
                    "args": launcher,
                    "env": [{"name": "NODE_NAME", "valueFrom": {"fieldRef": {"fieldPath": "metadata.name"}}}],
                    "securityContext": {"privileged": True},
                    "resources": {"requests": requests, "limits": limits},
                    "volumeMounts": [
                        *mounts,
                        {"name": "boot", "mountPath": BOOT_DIR, "readOnly": True},
                        {"name": "flannel", "mountPath": "/run/flannel"},
                    ],
                }
            ],
            "volumes": [
                {"name": "vm", "emptyDir": {"sizeLimit": f"{self.disk_gib + 1}Gi"}},
                {"name": "boot", "secret": {"secretName": self.boot_secret, "defaultMode": 0o400}},
                {"name": "flannel", "hostPath": {"path": "/run/flannel", "type": "Directory"}},
            ],
        }
