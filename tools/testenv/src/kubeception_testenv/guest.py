"""A guest cluster's kube-apiserver whose certificates come from outside the harness.

The platform issues a guest control plane's serving certificate and its client CA (cert-operator); this server
runs with exactly those files, the way a guest control-plane pod runs with its mounted Secrets. kube-apiserver
reloads serving certificates and the client CA when the files change, so renewal and CA rotation can be
watched happening to a live server. :class:`SecretVolume` lays files out as the kubelet does.
"""

from __future__ import annotations

import os
import shutil
import ssl
import time
from typing import TYPE_CHECKING

from kubeception_testenv._binaries import find_binary
from kubeception_testenv._http import http_status
from kubeception_testenv._pki import KeyPair, LocalPKI
from kubeception_testenv._ports import free_port
from kubeception_testenv._process import Server

if TYPE_CHECKING:
    from collections.abc import Mapping, Sequence
    from pathlib import Path


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
    ) -> None:
        self.name = name
        super().__init__(workdir)
        self.address = address
        self.port = free_port()
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
            "--service-cluster-ip-range=10.97.0.0/16",
            f"--authorization-mode={self.authorization_mode}",
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
