"""Where the API server is and who we are to it: a kubeconfig or the pod's in-cluster service account.

The forms operators meet — client certificates, bearer tokens and token files (files and inline data), and the
in-cluster service account with its rotated token — are read here directly. Anything else a kubeconfig can say
(exec credential plugins, auth providers, several merged files) is handed to the ``kubernetes`` package's
loader, imported only then: importing it costs a Python operator about 0.15 s of CPU at every start.
"""

from __future__ import annotations

import atexit
import base64
import os
import shutil
import ssl
import tempfile
import threading
import time
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

import urllib3
import yaml

if TYPE_CHECKING:
    from collections.abc import Callable

SERVICE_ACCOUNT = Path("/var/run/secrets/kubernetes.io/serviceaccount")
_TOKEN_REREAD = 60.0  # seconds: the kubelet rewrites a projected token well before it expires


class KubeconfigError(ValueError):
    """The kubeconfig cannot be used; the message says what is missing."""


@dataclass(frozen=True)
class Connection:
    """An HTTPS connection pool to the API server and, when the identity is a token, where to get it."""

    host: str
    pool: urllib3.HTTPConnectionPool
    token: Callable[[], str | None] | None = None


class _TokenFile:
    """A bearer token from a file, re-read every minute (rotated service-account tokens)."""

    def __init__(self, path: str) -> None:
        self.path = path
        self._lock = threading.Lock()
        self._token: str | None = None
        self._read_at = 0.0

    def __call__(self) -> str | None:
        with self._lock:
            if self._token is None or time.monotonic() - self._read_at > _TOKEN_REREAD:
                self._token, self._read_at = Path(self.path).read_text().strip(), time.monotonic()
            return self._token


def _pool(
    host: str, context: ssl.SSLContext, server_name: str | None, max_connections: int
) -> urllib3.HTTPConnectionPool:
    manager = urllib3.PoolManager(
        num_pools=1, maxsize=max_connections, ssl_context=context, server_hostname=server_name
    )
    return manager.connection_from_url(host)


def _material(entry: dict[str, Any], key: str, base: Path, secrets: Path) -> str | None:
    """A file named by ``key`` (relative to the kubeconfig), or ``key-data`` written to a private file."""
    if data := entry.get(f"{key}-data"):
        path = secrets / key
        path.write_bytes(base64.b64decode(data))
        path.chmod(0o600)
        return str(path)
    if name := entry.get(key):
        return str(base / name) if not os.path.isabs(name) else str(name)
    return None


def _private_dir() -> Path:
    directory = Path(tempfile.mkdtemp(prefix="operatorkit-"))
    directory.chmod(0o700)
    atexit.register(shutil.rmtree, directory, True)
    return directory


def from_kubeconfig(path: str | None, context: str | None, max_connections: int) -> Connection | None:
    """A connection from the kubeconfig at ``path`` (default ``$KUBECONFIG``, then ``~/.kube/config``), or None
    when it uses a form only the ``kubernetes`` package reads."""
    path = path or os.environ.get("KUBECONFIG") or str(Path.home() / ".kube" / "config")
    if os.pathsep in path:
        return None  # several files to merge
    config = yaml.safe_load(Path(path).read_text()) or {}
    name = context or config.get("current-context")
    entries = {
        kind: {e["name"]: e[kind[:-1]] for e in config.get(kind) or []} for kind in ("contexts", "clusters", "users")
    }
    try:
        chosen = entries["contexts"][name]
        cluster, user = entries["clusters"][chosen["cluster"]], entries["users"].get(chosen.get("user"), {}) or {}
    except KeyError as exc:
        raise KubeconfigError(f"{path}: context {name!r} names no {exc.args[0]!r}") from None
    if "exec" in user or "auth-provider" in user:
        return None
    base, secrets = Path(path).resolve().parent, _private_dir()
    context_ = ssl.create_default_context(cafile=_material(cluster, "certificate-authority", base, secrets))
    if cluster.get("insecure-skip-tls-verify"):
        context_.check_hostname, context_.verify_mode = False, ssl.CERT_NONE
    if cert := _material(user, "client-certificate", base, secrets):
        context_.load_cert_chain(cert, _material(user, "client-key", base, secrets))
    token: Callable[[], str | None] | None = None
    if fixed := user.get("token"):
        token = lambda: fixed  # noqa: E731 - the simplest token source
    elif token_file := user.get("tokenFile"):
        token = _TokenFile(token_file)
    host = str(cluster["server"]).rstrip("/")
    return Connection(host, _pool(host, context_, cluster.get("tls-server-name"), max_connections), token)


def in_cluster(max_connections: int) -> Connection | None:
    """The pod's own service account, or None outside a pod."""
    host, port = os.environ.get("KUBERNETES_SERVICE_HOST"), os.environ.get("KUBERNETES_SERVICE_PORT")
    if not host or not port or not (SERVICE_ACCOUNT / "token").exists():
        return None
    host = f"[{host}]" if ":" in host else host
    context = ssl.create_default_context(cafile=str(SERVICE_ACCOUNT / "ca.crt"))
    url = f"https://{host}:{port}"
    return Connection(url, _pool(url, context, None, max_connections), _TokenFile(str(SERVICE_ACCOUNT / "token")))


def with_kubernetes_package(path: str | None, context: str | None, max_connections: int) -> Connection:
    """Any kubeconfig, read by the ``kubernetes`` package (exec plugins, auth providers, merged files)."""
    from kubernetes import client as k8s_client
    from kubernetes import config as k8s_config

    configuration = k8s_client.Configuration()
    k8s_config.load_kube_config(config_file=path, context=context, client_configuration=configuration)  # type: ignore[no-untyped-call]
    configuration.connection_pool_maxsize = max_connections
    host = configuration.host.rstrip("/")
    pool = k8s_client.rest.RESTClientObject(configuration).pool_manager.connection_from_url(host)

    def token() -> str | None:
        # kubernetes >= 33 files the token under "BearerToken" (older: "authorization"); this runs the refresh
        # hook, so exec plugins and auth providers hand out fresh tokens.
        value: str | None = configuration.get_api_key_with_prefix("BearerToken", alias="authorization")
        return value.removeprefix("Bearer ") if value else None

    return Connection(host, pool, token)
