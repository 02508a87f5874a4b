"""Real nodes for the local mother cluster: per node containerd 2.x, kubelet and kube-proxy (iptables mode),
with Debian's runc and CNI plugins. Images come from the harness's OCI archives (``make images``), imported into
every node.

A node is, like a machine, a network namespace (:mod:`kubeception_testenv.network`), a mount namespace with a
``/run`` of its own (so ``hostPath`` volumes under ``/run`` — flannel's subnet files — belong to the node, not to
the host or the other nodes), a directory and a cgroup subtree. Its daemons run inside both namespaces. Stopping
it removes every pod, shim, mount and cgroup it made (:meth:`RealNode.leftovers` says what remains, for teardown
tests). Facts this rests on, verified on the project's machines: ``../shared/reference/real-nodes.md`` (cgroup v1
needs ``failCgroupV1: false``; without ``restrict_oom_score_adj`` no sandbox starts; Debian's runc has seccomp).
"""

from __future__ import annotations

import contextlib
import functools
import json
import os
import shlex
import signal
import subprocess
import time
from pathlib import Path
from typing import TYPE_CHECKING, Any, Self

import yaml

from kubeception_testenv._binaries import find_binary
from kubeception_testenv._http import http_status
from kubeception_testenv._process import Server, StartStop
from kubeception_testenv.images import version
from operatorkit.testing import wait_until

if TYPE_CHECKING:
    from collections.abc import Mapping, Sequence

    from kubeception_testenv._pki import KeyPair, LocalPKI
    from kubeception_testenv.network import NodeAddress

CLUSTER_DNS = "10.96.0.10"
CNI_PLUGINS = Path("/usr/lib/cni")
RUNC = Path("/usr/sbin/runc")
CGROUP_V1 = Path("/sys/fs/cgroup")
SANDBOX_IMAGE = f"ghcr.io/kubeception/pause:{version()}"
REAL_NODE_LABEL = "kubeception.io/node"
KUBELET_ROOT = Path("/run/kubelet")


class MountNamespace:
    """A mount namespace kept alive by a bind mount of it on a file in the node's directory, with a private
    ``/run`` (tmpfs) and, under it, directories of the node's own (``binds``: short paths for the daemons'
    sockets, contents on disk in the node's directory). Mounts made inside never propagate to the host; they go
    when the namespace does."""

    def __init__(self, workdir: Path, binds: Mapping[str, Path]) -> None:
        self.holder = workdir / "namespace"
        self.file = self.holder / "mnt"
        self.binds = dict(binds)
        self.link = ""  # the namespace as /proc/<pid>/ns/mnt names it, once created

    def create(self) -> None:
        self.holder.mkdir(parents=True, exist_ok=True)
        if not mounts_under(self.holder):  # unshare pins the namespace only on a privately propagated mount
            _mount("--bind", str(self.holder), str(self.holder))
            _mount("--make-private", str(self.holder))
        self.file.touch()
        script = ["mount -t tmpfs -o mode=0755,size=64m kubeception-node-run /run"]
        for target, source in self.binds.items():
            source.mkdir(parents=True, exist_ok=True)
            target_q, source_q = shlex.quote(target), shlex.quote(str(source))
            script.append(f"mkdir -p {target_q} && mount --bind {source_q} {target_q}")
        subprocess.run(
            ["unshare", f"--mount={self.file}", "--propagation=private", "sh", "-ec", " && ".join(script)],
            capture_output=True, text=True, check=True,
        )  # fmt: skip
        self.link = f"mnt:[{self.file.stat().st_ino}]"

    def processes(self) -> list[int]:
        """Every process inside the namespace (daemons, shims, containers not in a mount namespace of their own)."""
        found = []
        for proc in Path("/proc").iterdir():
            if proc.name.isdigit() and self.link:
                with contextlib.suppress(OSError):
                    if os.readlink(proc / "ns" / "mnt") == self.link:
                        found.append(int(proc.name))
        return found

    def enter(self, netns: str, command: Sequence[str]) -> list[str]:
        # nsenter, not `ip netns exec`: that one mounts a fresh /sys, hiding the cgroup mounts kubelet needs. Both
        # namespace files are opened before entering either, so /run/netns is the host's.
        return ["nsenter", f"--mount={self.file}", f"--net=/run/netns/{netns}", "--", *command]

    def destroy(self) -> None:
        """Unpin the namespace (the kernel drops its mounts once its last process is gone) and its holder."""
        unmount_under(self.holder)


def _mount(*args: str) -> None:
    subprocess.run(["mount", *args], capture_output=True, text=True, check=True)


class _NodeProcess(Server):
    """A node's daemon, run inside the node's network and mount namespaces."""

    def __init__(self, workdir: Path, node: NodeAddress, name: str, namespace: MountNamespace) -> None:
        self.name = f"{node.name}-{name}"
        super().__init__(workdir)
        self.node = node
        self.namespace = namespace

    def netns(self, command: Sequence[str]) -> list[str]:
        return self.namespace.enter(self.node.netns, command)


class Containerd(_NodeProcess):
    def __init__(self, workdir: Path, node: NodeAddress, namespace: MountNamespace) -> None:
        super().__init__(workdir, node, "containerd", namespace)
        self.socket = Path("/run/containerd/containerd.sock")  # in the node's /run (a socket path must be short)
        self.root, self.state = workdir / "containerd-root", workdir / "containerd-state"
        self.cni = workdir / "cni"
        self.config = workdir / "containerd.toml"

    def command(self) -> Sequence[str]:
        self._write_config()
        return self.netns([str(find_binary("containerd")), f"--config={self.config}", "--log-level=warn"])

    def environment(self) -> Mapping[str, str]:
        # The shim is found next to containerd; runc and the CNI plugins are Debian's.
        return {"PATH": f"{find_binary('containerd').parent}:/usr/sbin:/usr/bin:/sbin:/bin"}

    def _write_config(self) -> None:
        (self.cni / "net.d").mkdir(parents=True, exist_ok=True)
        cri_runtime = '"io.containerd.cri.v1.runtime"'
        self.config.write_text(
            f"""version = 3
root = "{self.root}"
state = "{self.state}"
disabled_plugins = ["io.containerd.snapshotter.v1.btrfs", "io.containerd.snapshotter.v1.zfs",
  "io.containerd.snapshotter.v1.devmapper", "io.containerd.internal.v1.tracing"]

[grpc]
  address = "{self.socket}"

[plugins.{cri_runtime}]
  restrict_oom_score_adj = true
  enable_unprivileged_ports = true
  netns_mounts_under_state_dir = true

[plugins.{cri_runtime}.cni]
  bin_dirs = ["{CNI_PLUGINS}"]
  conf_dir = "{self.cni / "net.d"}"

[plugins.{cri_runtime}.containerd.runtimes.runc]
  runtime_type = "io.containerd.runc.v2"

[plugins.{cri_runtime}.containerd.runtimes.runc.options]
  BinaryName = "{RUNC}"
  Root = "{self.state / "runc"}"
  SystemdCgroup = false

[plugins."io.containerd.cri.v1.images".pinned_images]
  sandbox = "{SANDBOX_IMAGE}"
"""
        )

    def healthy(self) -> bool:
        return self.ctr("version", check=False).returncode == 0

    def ctr(self, *args: str, check: bool = True) -> subprocess.CompletedProcess[str]:
        command = self.netns([str(find_binary("ctr")), f"--address={self.socket}", "--namespace=k8s.io", *args])
        return subprocess.run(command, capture_output=True, text=True, check=check, timeout=300)

    def import_images(self, archives: Sequence[Path]) -> None:
        for archive in archives:
            self.ctr("images", "import", str(archive))

    def kill_tasks(self) -> None:
        """Stop every container the node runs (pods do not outlive their node in the harness)."""
        for line in self.ctr("tasks", "list", "--quiet", check=False).stdout.split():
            self.ctr("tasks", "kill", "--all", "--signal=SIGKILL", line, check=False)
        deadline = time.monotonic() + 15
        while time.monotonic() < deadline and self.ctr("tasks", "list", "--quiet", check=False).stdout.strip():
            time.sleep(0.2)


class Kubelet(_NodeProcess):
    def __init__(
        self, workdir: Path, node: NodeAddress, *, pki: LocalPKI, api_url: str, containerd: Containerd
    ) -> None:
        super().__init__(workdir, node, "kubelet", containerd.namespace)
        self.containerd = containerd
        self.root_dir = KUBELET_ROOT  # in the node's mount namespace; on disk in <workdir>/kubelet
        self.api_url = api_url
        self.cgroup_root = f"/kubeception/{node.netns}"
        self.credentials = pki.issue(
            f"{node.name}-kubelet-client", f"system:node:{node.name}", organizations=("system:nodes",), client=True
        )
        self.serving = pki.issue(f"{node.name}-kubelet", node.name, ip_addresses=(str(node.ip),), server=True)
        self.ca = pki.ca.cert
        self.port = 10250
        self.healthz_port = 10248

    def command(self) -> Sequence[str]:
        config = self.workdir / "kubelet.yaml"
        config.write_text(yaml.safe_dump(self.configuration()))
        kubeconfig = write_kubeconfig(self.workdir / "kubelet.kubeconfig", self.api_url, self.ca, self.credentials)
        return self.netns(
            [
                str(find_binary("kubelet")),
                f"--config={config}",
                f"--kubeconfig={kubeconfig}",
                f"--root-dir={self.root_dir}",
                f"--hostname-override={self.node.name}",
                f"--node-ip={self.node.ip}",
                "--v=1",
            ]
        )

    def configuration(self) -> dict[str, Any]:
        create_cgroup_root(self.cgroup_root)
        return {
            "apiVersion": "kubelet.config.k8s.io/v1beta1",
            "kind": "KubeletConfiguration",
            "failCgroupV1": False,  # the machines have cgroup v1 only
            "cgroupDriver": "cgroupfs",
            "cgroupRoot": self.cgroup_root,
            "failSwapOn": False,
            "containerRuntimeEndpoint": f"unix://{self.containerd.socket}",
            "address": str(self.node.ip),
            "port": self.port,
            "readOnlyPort": 0,
            "healthzBindAddress": str(self.node.ip),
            "healthzPort": self.healthz_port,
            "tlsCertFile": str(self.serving.cert),
            "tlsPrivateKeyFile": str(self.serving.key),
            "authentication": {
                "anonymous": {"enabled": False},
                "webhook": {"enabled": True},
                "x509": {"clientCAFile": str(self.ca)},
            },
            "authorization": {"mode": "Webhook"},
            "clusterDNS": [CLUSTER_DNS],
            "clusterDomain": "cluster.local",
            "podLogsDir": str(self.workdir / "pod-logs"),
            "resolvConf": "/etc/resolv.conf",
            "serializeImagePulls": False,
            "nodeStatusUpdateFrequency": "4s",
            "nodeStatusReportFrequency": "10s",
            # The machines' disks run full of build caches: evict on memory only.
            "evictionHard": {"memory.available": "100Mi"},
            "imageGCHighThresholdPercent": 100,
            "imageGCLowThresholdPercent": 99,
            "protectKernelDefaults": False,
            "enforceNodeAllocatable": ["pods"],
            "localStorageCapacityIsolation": False,
        }

    def healthy(self) -> bool:
        return http_status(f"http://{self.node.ip}:{self.healthz_port}/healthz") == 200


class KubeProxy(_NodeProcess):
    def __init__(
        self,
        workdir: Path,
        node: NodeAddress,
        namespace: MountNamespace,
        *,
        pki: LocalPKI,
        api_url: str,
        cluster_cidr: str,
    ) -> None:
        super().__init__(workdir, node, "kube-proxy", namespace)
        self.api_url = api_url
        self.cluster_cidr = cluster_cidr
        self.credentials = pki.issue(f"{node.name}-kube-proxy", "system:kube-proxy", client=True)
        self.ca = pki.ca.cert

    def command(self) -> Sequence[str]:
        kubeconfig = write_kubeconfig(self.workdir / "kube-proxy.kubeconfig", self.api_url, self.ca, self.credentials)
        config = self.workdir / "kube-proxy.yaml"
        config.write_text(
            yaml.safe_dump(
                {
                    "apiVersion": "kubeproxy.config.k8s.io/v1alpha1",
                    "kind": "KubeProxyConfiguration",
                    "mode": "iptables",
                    "clientConnection": {"kubeconfig": str(kubeconfig)},
                    "hostnameOverride": self.node.name,
                    "clusterCIDR": self.cluster_cidr,
                    "bindAddress": str(self.node.ip),
                    "healthzBindAddress": f"{self.node.ip}:10256",
                    "metricsBindAddress": "127.0.0.1:10249",
                    "conntrack": {"maxPerCore": 0},  # leave the host's conntrack table size alone
                }
            )
        )
        return self.netns([str(find_binary("kube-proxy")), f"--config={config}", "--v=1"])

    def healthy(self) -> bool:
        return http_status(f"http://{self.node.ip}:10256/healthz") is not None  # 503 until it has synced once


def write_kubeconfig(path: Path, server: str, ca: Path, credentials: KeyPair) -> Path:
    path.write_text(
        yaml.safe_dump(
            {
                "apiVersion": "v1",
                "kind": "Config",
                "clusters": [{"name": "local", "cluster": {"server": server, "certificate-authority": str(ca)}}],
                "users": [
                    {
                        "name": "node",
                        "user": {"client-certificate": str(credentials.cert), "client-key": str(credentials.key)},
                    }
                ],
                "contexts": [{"name": "local", "context": {"cluster": "local", "user": "node"}}],
                "current-context": "local",
            }
        )
    )
    path.chmod(0o600)
    return path


def cgroup_hierarchies() -> list[Path]:
    """The mounted cgroup v1 hierarchies (cpu, memory, pids, ...)."""
    return [p for p in CGROUP_V1.iterdir() if p.is_dir() and p.name != "unified" and (p / "cgroup.procs").exists()]


def create_cgroup_root(root: str) -> None:
    for hierarchy in cgroup_hierarchies():
        (hierarchy / root.lstrip("/")).mkdir(parents=True, exist_ok=True)


def remove_cgroup_root(root: str) -> list[str]:
    """Kill what is left in the subtree, then remove it deepest first; returns the cgroups that would not go."""
    stuck = []
    for hierarchy in cgroup_hierarchies():
        top = hierarchy / root.lstrip("/")
        if not top.exists():
            continue
        groups = sorted((p for p in top.rglob("*") if p.is_dir()), key=lambda p: len(p.parts), reverse=True)
        for group in [*groups, top]:
            with contextlib.suppress(OSError):
                for pid in (group / "cgroup.procs").read_text().split():
                    with contextlib.suppress(ProcessLookupError):
                        os.kill(int(pid), signal.SIGKILL)
            try:
                wait_until(functools.partial(_rmdir, group), timeout=10, message=f"cgroup {group} to empty")
            except TimeoutError:
                stuck.append(str(group))
    parent = root.lstrip("/").split("/")[0]
    for hierarchy in cgroup_hierarchies():
        with contextlib.suppress(OSError):
            (hierarchy / parent).rmdir()  # the shared parent, once no node uses it
    return stuck


def _rmdir(group: Path) -> bool:
    try:
        group.rmdir()
    except FileNotFoundError:
        return True
    except OSError:
        return False
    return True


def mounts_under(directory: Path) -> list[str]:
    prefix = str(directory.resolve())
    found = []
    for line in Path("/proc/self/mountinfo").read_text().splitlines():
        mountpoint = line.split()[4].replace("\\040", " ")
        if mountpoint == prefix or mountpoint.startswith(prefix + "/"):
            found.append(mountpoint)
    return found


def unmount_under(directory: Path) -> None:
    for mountpoint in sorted(mounts_under(directory), key=len, reverse=True):
        subprocess.run(["umount", "-l", mountpoint], capture_output=True, check=False)


def processes_mentioning(text: str) -> list[int]:
    """Processes whose command line mentions ``text`` (a node's directory or socket)."""
    found = []
    for proc in Path("/proc").iterdir():
        if not proc.name.isdigit() or int(proc.name) == os.getpid():
            continue
        with contextlib.suppress(OSError):
            if text in (proc / "cmdline").read_bytes().replace(b"\0", b" ").decode(errors="replace"):
                found.append(int(proc.name))
    return found


def release_node(workdir: Path, namespace: MountNamespace, cgroup_root: str) -> None:
    """What is left of a node once its daemons are stopped (or dead) goes: shims (they outlive containerd) and
    anything else in its mount namespace, containers (in its cgroups), the namespace, mounts under its directory."""
    for pid in namespace.processes():
        with contextlib.suppress(ProcessLookupError):
            os.kill(pid, signal.SIGKILL)
    remove_cgroup_root(cgroup_root)
    namespace.destroy()
    unmount_under(workdir)


class RealNode(StartStop):
    """One real node: containerd, kubelet and kube-proxy in the node's network namespace."""

    def __init__(
        self,
        workdir: Path,
        node: NodeAddress,
        *,
        pki: LocalPKI,
        api_url: str,
        cluster_cidr: str,
        images: Sequence[Path] = (),
    ) -> None:
        self.workdir = workdir
        self.address = node
        self.images = list(images)
        self.namespace = MountNamespace(workdir, {str(KUBELET_ROOT): workdir / "kubelet"})
        self.containerd = Containerd(workdir, node, self.namespace)
        self.kubelet = Kubelet(workdir, node, pki=pki, api_url=api_url, containerd=self.containerd)
        self.kube_proxy = KubeProxy(workdir, node, self.namespace, pki=pki, api_url=api_url, cluster_cidr=cluster_cidr)
        self.started_seconds = 0.0

    @property
    def name(self) -> str:
        return self.address.name

    @property
    def servers(self) -> tuple[Server, ...]:
        return (self.containerd, self.kubelet, self.kube_proxy)

    def write_cni_config(self) -> None:
        pod = self.address.pod_cidr
        config = {
            "cniVersion": "1.0.0",
            "name": "kubeception",
            "plugins": [
                {
                    "type": "bridge",
                    "bridge": "cni0",
                    "isGateway": True,
                    "ipMasq": False,  # pods reach each other and the host's servers by their own addresses
                    "hairpinMode": True,
                    "ipam": {
                        "type": "host-local",
                        "dataDir": str(self.workdir / "ipam"),
                        "ranges": [[{"subnet": str(pod), "gateway": str(pod.network_address + 1)}]],
                        "routes": [{"dst": "0.0.0.0/0"}],
                    },
                },
                {"type": "portmap", "capabilities": {"portMappings": True}},
            ],
        }
        (self.containerd.cni / "net.d").mkdir(parents=True, exist_ok=True)
        (self.containerd.cni / "net.d" / "10-kubeception.conflist").write_text(json.dumps(config, indent=2))

    def start(self) -> Self:
        started = time.monotonic()
        try:
            self.namespace.create()
            self.write_cni_config()
            self.containerd.start()
            self.containerd.import_images(self.images)
            self.kubelet.launch()
            self.kube_proxy.launch()
            self.kubelet.wait_healthy()
            self.kube_proxy.wait_healthy()
        except BaseException:
            self.stop()
            raise
        self.started_seconds = time.monotonic() - started
        return self

    def stop(self) -> None:
        """Everything the node made goes: pods and shims, daemons, mounts, cgroups."""
        self.kube_proxy.stop()
        self.kubelet.stop()
        if self.containerd.running:
            self.containerd.kill_tasks()
        self.containerd.stop()
        release_node(self.workdir, self.namespace, self.kubelet.cgroup_root)

    def path(self, path: str) -> Path:
        """A path as the node sees it (its own /run), while the node runs."""
        if self.containerd.pid is None:
            raise RuntimeError(f"{self.name} is not running")
        return Path(f"/proc/{self.containerd.pid}/root{path}")

    def leftovers(self) -> list[str]:
        pids = {*processes_mentioning(str(self.workdir)), *self.namespace.processes()}
        found = [f"process {pid}" for pid in sorted(pids)]
        found += [f"mount {m}" for m in mounts_under(self.workdir)]
        found += [
            f"cgroup {h / self.kubelet.cgroup_root.lstrip('/')}"
            for h in cgroup_hierarchies()
            if (h / self.kubelet.cgroup_root.lstrip("/")).exists()
        ]
        return found
