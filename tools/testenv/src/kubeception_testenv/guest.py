"""A guest cluster's kube-apiserver whose certificates come from outside the harness.

The platform issues a guest control plane's serving certificate and its client CA (cert-operator); this server
runs with exactly those files, the way a guest control-plane pod runs with its mounted Secrets. kube-apiserver
reloads serving certificates and the client CA when the files change, so renewal and CA rotation can be
watched happening to a live server. :class:`SecretVolume` lays files out as the kubelet does.
"""

from __future__ import annotations

import contextlib
import ipaddress
import json
import os
import shutil
import ssl
import subprocess
import sys
import time
from pathlib import Path
from typing import TYPE_CHECKING

from kubeception_testenv._binaries import find_binary
from kubeception_testenv._http import http_status
from kubeception_testenv._pki import KeyPair, LocalPKI
from kubeception_testenv._ports import free_port
from kubeception_testenv._process import Server
from kubeception_testenv.addresses import LocalAddresses
from kubeception_testenv.network import run
from kubeception_testenv.nodes import write_kubeconfig
from kubeception_testenv.servers import EtcdServer
from operatorkit.platform import confinement_table

if TYPE_CHECKING:
    from collections.abc import Mapping, Sequence


class SecretVolume:
    """Files in the kubelet's atomic layout: ``<key>`` → ``..data/<key>``, ``..data`` → a timestamped directory,
    swapped in one rename, so a reader never sees a new certificate next to an old key. The replaced version is
    deleted at once, as the kubelet does: that deletion is the file event kube-apiserver reloads on. Readers use
    :meth:`read` for a consistent set."""

    def __init__(self, directory: Path) -> None:
        self.directory = directory
        directory.mkdir(parents=True, exist_ok=True)
        self.contents: dict[str, bytes] = {}

    def path(self, key: str) -> Path:
        return self.directory / key

    def current(self) -> Path:
        """The directory ``..data`` points at now."""
        return self.directory / os.readlink(self.directory / "..data")

    def read(self, *keys: str) -> dict[str, bytes]:
        """Several keys from one published version (retried if a swap removed it while reading)."""
        while True:
            version = self.current()
            try:
                return {key: (version / key).read_bytes() for key in keys}
            except FileNotFoundError:
                continue

    def write(self, contents: Mapping[str, bytes]) -> bool:
        """Publish ``contents`` if they differ from what is published; True if they did."""
        if dict(contents) == self.contents:
            return False
        version = self.directory / f"..{time.time_ns()}"
        version.mkdir()
        for key, value in contents.items():
            (version / key).write_bytes(value)
        link = self.directory / "..data_tmp"
        link.unlink(missing_ok=True)
        link.symlink_to(version.name)
        previous = self.current() if (self.directory / "..data").is_symlink() else None
        link.rename(self.directory / "..data")
        for key in contents:
            if not (self.directory / key).is_symlink():
                (self.directory / key).symlink_to(f"..data/{key}")
        if previous is not None:
            shutil.rmtree(previous)
        self.contents = dict(contents)
        return True


class GuestAPIServer(Server):
    """kube-apiserver serving with ``serving_cert``/``serving_key`` and trusting client certificates of
    ``client_ca`` only; its own etcd prefix, its own service-account keys."""

    name = "guest-apiserver"
    start_timeout = 90.0

    def __init__(
        self,
        workdir: Path,
        *,
        etcd_url: str,
        serving_cert: Path,
        serving_key: Path,
        client_ca: Path,
        name: str,
        address: str = "127.0.0.1",
        authorization_mode: str = "RBAC",
        kubelet_client: KeyPair | None = None,
        port: int | None = None,
        service_cidr: str = "10.97.0.0/16",
    ) -> None:
        self.name = name
        self.service_cidr = service_cidr
        super().__init__(workdir)
        self.address = address
        self.port = port or free_port()
        self.url = f"https://{address}:{self.port}"
        self.etcd_url = etcd_url
        self.serving_cert, self.serving_key, self.client_ca = serving_cert, serving_key, client_ca
        self.authorization_mode = authorization_mode  # "Node,RBAC" lets kubelets register (worker VMs)
        self.kubelet_client = kubelet_client  # what `kubectl logs` reaches kubelets with
        self.sa = LocalPKI(workdir / f"{name}-pki").service_account_keys()

    def command(self) -> Sequence[str]:
        return [
            str(find_binary("kube-apiserver")),
            f"--etcd-servers={self.etcd_url}",
            f"--etcd-prefix=/{self.name}",
            f"--bind-address={self.address}",
            f"--secure-port={self.port}",
            f"--tls-cert-file={self.serving_cert}",
            f"--tls-private-key-file={self.serving_key}",
            f"--client-ca-file={self.client_ca}",
            f"--advertise-address={self.address}",
            "--endpoint-reconciler-type=none",
            f"--service-account-key-file={self.sa.cert}",
            f"--service-account-signing-key-file={self.sa.key}",
            "--service-account-issuer=https://kubernetes.default.svc.cluster.local",
            f"--service-cluster-ip-range={self.service_cidr}",
            f"--authorization-mode={self.authorization_mode}",
            "--allow-privileged=true",  # as kvm-operator's guest API servers: node add-ons are privileged pods
            "--profiling=false",
            "--v=1",
            *(
                [f"--kubelet-client-certificate={self.kubelet_client.cert}",
                 f"--kubelet-client-key={self.kubelet_client.key}",
                 "--kubelet-preferred-address-types=InternalIP"]
                if self.kubelet_client else []
            ),
        ]  # fmt: skip

    def healthy(self) -> bool:
        context = ssl.create_default_context(cafile=str(self.client_ca))  # the bundle that signed the serving cert
        return http_status(f"{self.url}/readyz", context) == 200


class NodeGuest:
    """A guest API server that worker VMs join, outside any mother cluster: kube-apiserver (Node,RBAC, like
    kvm-operator's) on an address of a bridge this process makes, which the VMs' taps join (``bridge``); its own
    etcd and CA; ``node_certificate`` issues what a kubelet presents; ``kubeconfig`` is the admin's."""

    def __init__(self, workdir: Path, api_host: str) -> None:
        self.workdir, self.api_host = workdir, api_host
        self._stack = contextlib.ExitStack()

    def __enter__(self) -> NodeGuest:
        addresses = LocalAddresses(1)
        try:
            (address,) = self._stack.enter_context(addresses)
            etcd = self._stack.enter_context(EtcdServer(self.workdir, name="node-guest-etcd"))
            self.pki = pki = LocalPKI(self.workdir / "pki")
            serving = pki.issue(
                "apiserver", "kube-apiserver", dns_names=(self.api_host,), ip_addresses=(address,), server=True
            )
            self.server = GuestAPIServer(
                self.workdir,
                etcd_url=etcd.url,
                serving_cert=serving.cert,
                serving_key=serving.key,
                client_ca=pki.ca.cert,
                name="node-guest",
                address=address,
                authorization_mode="Node,RBAC",
                kubelet_client=pki.issue(
                    "kubelet-client", "kube-apiserver-kubelet-client", organizations=("system:masters",), client=True
                ),
            )
            self._stack.enter_context(self.server)
        except BaseException:
            self._stack.close()
            raise
        admin = pki.issue("admin", "admin", organizations=("system:masters",), client=True)
        self.kubeconfig = write_kubeconfig(self.workdir / "admin.kubeconfig", self.server.url, pki.ca.cert, admin)
        assert addresses.subnet is not None
        self.bridge, self.network = addresses.link, addresses.subnet
        # The launcher attaches no tap to a bridge without its confinement table (flannel-operator's on a mother's
        # host). This bridge has no tenant to confine and its API server listens on the bridge's own address, so the
        # table is an empty one: it stands for the real one without filtering anything.
        table = confinement_table(self.bridge)
        run("nft", "add", "table", "inet", table)
        self._stack.callback(run, "nft", "delete", "table", "inet", table, check=False)
        return self

    def __exit__(self, *exc: object) -> None:
        self._stack.close()

    def node_certificate(self, node: str) -> KeyPair:
        return self.pki.issue(node, f"system:node:{node}", organizations=("system:nodes",), client=True)

    @property
    def lease(self) -> Path:
        """A flannel subnet file for the bridge (what flanneld writes on a mother's host): the API server's
        address is the bridge's, the VMs take the others."""
        path = self.workdir / "flannel" / f"{self.bridge}.env"
        path.parent.mkdir(exist_ok=True)
        path.write_text(f"FLANNEL_SUBNET={self.server.address}/{self.network.prefixlen}\nFLANNEL_MTU=1500\n")
        return path

    @property
    def gateway(self) -> ipaddress.IPv4Address:
        return ipaddress.IPv4Address(self.server.address)

    def node_ready(self, node: str) -> bool:
        result = subprocess.run(
            [str(find_binary("kubectl")), f"--kubeconfig={self.kubeconfig}", "get", "node", node, "-o", "json"],
            capture_output=True, text=True, check=False, timeout=30,
        )  # fmt: skip
        if result.returncode != 0:
            return False
        conditions = json.loads(result.stdout).get("status", {}).get("conditions", [])
        return any(c["type"] == "Ready" and c["status"] == "True" for c in conditions)


class WorkerVM(Server):
    """A worker VM by kvm-operator's launcher (``python -m kvm_operator.launcher``), its console in the log: healthy
    once its Node is Ready in ``guest``. :meth:`stop` is the pod's SIGTERM; ``returncode`` then says how it ended."""

    start_timeout = 240.0

    def __init__(
        self,
        workdir: Path,
        guest: NodeGuest,
        name: str,
        boot_files: tuple[Path, Path],
        boot_config: Path,
        *,
        cpus: int = 2,
        memory_mib: int = 1536,
        options: Sequence[str] = (),
    ) -> None:
        self.name = name
        kernel, initrd = boot_files
        super().__init__(workdir)
        self.guest, self.state = guest, workdir / f"{name}-state"
        self.arguments = [
            f"--name={name}", f"--cpus={cpus}", f"--memory-mib={memory_mib}", f"--kernel={kernel}",
            f"--initrd={initrd}", f"--boot-config={boot_config}", f"--bridge={guest.bridge}",
            f"--flannel-env={guest.lease}", "--accelerator=auto",
            "--kvm-probe-seconds=5", f"--state-dir={self.state}", f"--disk={workdir / f'{name}.img'}",
            "--disk-gib=4", "--shutdown-seconds=30", *options,
        ]  # fmt: skip

    def command(self) -> Sequence[str]:
        return [sys.executable, "-m", "kvm_operator.launcher", *self.arguments]

    def healthy(self) -> bool:
        return self.guest.node_ready(self.name)

    @property
    def accelerator(self) -> str:
        return (self.state / "accelerator").read_text().strip()

    @property
    def qmp_socket(self) -> Path:
        return self.state / f"{self.name}.qmp"

    def qemu_pid(self) -> int | None:
        """The launcher's QEMU (its child process), while it runs."""
        if self.pid is None:
            return None
        for stat in Path("/proc").glob("[0-9]*/stat"):
            with contextlib.suppress(OSError):
                text = stat.read_text()  # "pid (comm) state ppid ..."
                command, rest = text.split("(", 1)[1].rsplit(")", 1)
                if command.startswith("qemu") and int(rest.split()[1]) == self.pid:
                    return int(stat.parent.name)
        return None
