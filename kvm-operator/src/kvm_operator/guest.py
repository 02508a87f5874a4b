"""The operator's way into a guest cluster: the guest's admin certificate (cert-operator's Secret ``admin``) against
the endpoint users reach — HAProxy, by SNI — so what the operator sees (Nodes, evictions) went the way a user's
request goes. One client per cluster, rebuilt only when the certificate's serial or the endpoint changes."""

from __future__ import annotations

import base64
import shutil
import tempfile
import threading
from pathlib import Path
from typing import TYPE_CHECKING

from guestkit import ADMIN_CERTIFICATE, admin_serial, kubeconfig
from kvm_operator import key
from operatorkit import KubeClient
from operatorkit.kinds import SECRET

if TYPE_CHECKING:
    from kvm_operator.shared import Shared
    from kvm_operator.spec import KVMContext


class GuestUnreachable(Exception):
    """The guest's API cannot be asked yet (no admin certificate) or did not answer; the message says which."""


class GuestClients:
    """Clients of the guests' APIs by KVMConfig (its uid: a KVMConfig refused for a cluster id another one holds
    never forgets the holder's client). Their credentials live in a private directory per client, removed when the
    client is replaced or its KVMConfig forgotten."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._clients: dict[str, tuple[str, KubeClient, Path]] = {}

    def client(self, ctx: KVMContext, shared: Shared) -> KubeClient:
        cluster = ctx.spec.cluster_id
        serial = admin_serial(ctx, key.namespace(cluster))
        if serial is None:
            raise GuestUnreachable("the guest's admin certificate is not issued yet")
        hostname, port = shared.api_hostname(ctx.spec), shared.settings.routing.port
        address = shared.settings.routing.address
        server = f"https://{address or hostname}:{port}"
        fingerprint, owner = f"{serial} {server}", str(ctx.obj["metadata"]["uid"])
        with self._lock:
            found = self._clients.get(owner)
            if found is not None and found[0] == fingerprint:
                return found[1]
        secret = ctx.client.get(SECRET, ADMIN_CERTIFICATE, key.namespace(cluster))
        directory = Path(tempfile.mkdtemp(prefix=f"guest-{cluster}-"))
        directory.chmod(0o700)
        files: dict[str, str] = {}
        for name in ("ca.crt", "tls.crt", "tls.key"):
            path = directory / name
            path.write_bytes(base64.b64decode(secret["data"][name]))
            path.chmod(0o600)
            files[name] = str(path)
        config = kubeconfig(
            cluster,
            "admin",
            {"server": server, "tls-server-name": hostname, "certificate-authority": files["ca.crt"]},
            {"client-certificate": files["tls.crt"], "client-key": files["tls.key"]},
        )
        (directory / "kubeconfig").write_text(config)
        # One retry: a guest that does not answer is a condition and a requeue, not a worker blocked for a minute.
        client = KubeClient.load(str(directory / "kubeconfig"), max_connections=4, retry_attempts=1, retry_deadline=5)
        with self._lock:
            old = self._clients.get(owner)
            self._clients[owner] = (fingerprint, client, directory)
        if old is not None:
            shutil.rmtree(old[2], ignore_errors=True)
        return client

    def forget(self, owner: str) -> None:
        """Drop the client of the KVMConfig with uid ``owner``."""
        with self._lock:
            old = self._clients.pop(owner, None)
        if old is not None:
            shutil.rmtree(old[2], ignore_errors=True)
