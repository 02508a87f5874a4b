"""The side servers: a standalone etcd, OpenBao (Vault API), moto (AWS API) and HAProxy."""

from __future__ import annotations

import json
import os
import secrets
import signal
import subprocess
import sys
import urllib.request
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import etcd3gw
import hvac
import requests

from kubeception_testenv._binaries import find_binary
from kubeception_testenv._http import client_tls_context, http_status
from kubeception_testenv._pki import KeyPair, LocalPKI
from kubeception_testenv._ports import free_port, port_open
from kubeception_testenv._process import Server, ServerError

if TYPE_CHECKING:
    import ssl
    from collections.abc import Mapping, Sequence
    from pathlib import Path


class EtcdServer(Server):
    """A single-member etcd 3.6 on loopback; with ``tls=True`` it serves TLS from a CA of its own and requires
    client certificates from that CA (``client_cert``; ``ca_file`` verifies the server). ``keep_pki`` keeps the CA
    found in ``workdir`` (the demo's etcd keeps its data and its clients across restarts)."""

    name = "etcd"

    def __init__(
        self,
        workdir: Path,
        *,
        tls: bool = False,
        name: str = "etcd",
        host: str = "127.0.0.1",
        keep_pki: bool = False,
    ) -> None:
        self.name = name
        super().__init__(workdir)
        self.client_port = free_port()
        self.peer_port = free_port()
        self.tls = tls
        self.host = host
        self.client_cert: KeyPair | None = None
        self.ca_file: Path | None = None
        scheme = "http"
        if tls:
            pki = LocalPKI(workdir / f"{name}-pki", keep=keep_pki)
            self.ca_file = pki.ca.cert
            self._server_cert = pki.issue(
                "server",
                "etcd",
                ip_addresses=tuple(dict.fromkeys(("127.0.0.1", host))),
                dns_names=("localhost",),
                server=True,
                client=True,
            )
            self.client_cert = pki.issue("client", "etcd-client", client=True)
            scheme = "https"
        self.url = f"{scheme}://{host}:{self.client_port}"

    def command(self) -> Sequence[str]:
        peer = f"http://127.0.0.1:{self.peer_port}"
        args = [
            str(find_binary("etcd")),
            f"--name={self.name}",
            f"--data-dir={self.workdir / f'{self.name}-data'}",
            f"--listen-client-urls={self.url}",
            f"--advertise-client-urls={self.url}",
            f"--listen-peer-urls={peer}",
            f"--initial-advertise-peer-urls={peer}",
            f"--initial-cluster={self.name}={peer}",
            "--unsafe-no-fsync",
            "--log-level=warn",
        ]
        if self.tls:
            args += [
                f"--cert-file={self._server_cert.cert}",
                f"--key-file={self._server_cert.key}",
                f"--trusted-ca-file={self.ca_file}",
                "--client-cert-auth",
            ]
        return args

    def client(self) -> etcd3gw.Etcd3Client:
        """An etcd3gw client for this server (verifying it, with the client certificate, when it serves TLS)."""
        if not (self.tls and self.ca_file and self.client_cert):
            return etcd3gw.client(host=self.host, port=self.client_port)
        session = requests.Session()
        session.trust_env = False  # REQUESTS_CA_BUNDLE would override verify
        session.verify = str(self.ca_file)
        session.cert = (str(self.client_cert.cert), str(self.client_cert.key))
        return etcd3gw.client(host=self.host, port=self.client_port, protocol="https", session=session)

    def compact(self) -> int:
        """Compact the keyspace at the current revision (physically); returns that revision."""
        revision = int(self._post("/v3/kv/range", {"key": "AA=="})["header"]["revision"])
        self._post("/v3/kv/compaction", {"revision": str(revision), "physical": True})
        return revision

    def _post(self, path: str, body: object) -> dict[str, Any]:
        context = None
        if self.tls and self.ca_file and self.client_cert:
            context = client_tls_context(str(self.ca_file), str(self.client_cert.cert), str(self.client_cert.key))
        request = urllib.request.Request(f"{self.url}{path}", data=json.dumps(body).encode(), method="POST")
        with urllib.request.urlopen(request, timeout=10, context=context) as response:
            result: dict[str, Any] = json.load(response)
            return result

    def healthy(self) -> bool:
        context = None
        if self.tls and self.ca_file and self.client_cert:
            context = client_tls_context(str(self.ca_file), str(self.client_cert.cert), str(self.client_cert.key))
        return http_status(f"{self.url}/health", context) == 200


class OpenBaoServer(Server):
    """OpenBao (the Vault API). By default the in-memory dev server with a known root token; with
    ``persistent=True`` a server storing in ``workdir`` — initialised once (one unseal key, kept with the
    root token in ``workdir/init.json``, readable by the owner only) and unsealed at every start — so what was
    stored survives a restart, as in production (the local demo uses it). Storage is Raft, OpenBao's own.

    With ``tls=True`` it serves HTTPS with a certificate from a CA of its own (``ca_file``; kept in ``workdir``
    when persistent), and — being no dev server then — is initialised and unsealed at every start when not
    persistent (in-memory storage; the root token comes from the initialisation)."""

    name = "openbao"

    def __init__(
        self,
        workdir: Path,
        root_token: str | None = None,
        *,
        persistent: bool = False,
        host: str = "127.0.0.1",
        tls: bool = False,
    ) -> None:
        super().__init__(workdir)
        self.port = free_port()
        self.host = host
        self.tls = tls
        self.url = f"{'https' if tls else 'http'}://{host}:{self.port}"
        self.persistent = persistent
        self._init_file = workdir / "init.json"
        self.root_token = root_token or secrets.token_hex(16)
        self.ca_file: Path | None = None
        self._context: ssl.SSLContext | None = None
        if tls:
            pki = LocalPKI(workdir / "pki", keep=persistent)
            self.ca_file = pki.ca.cert
            self._serving = pki.issue(
                "openbao", "openbao", ip_addresses=tuple(dict.fromkeys(("127.0.0.1", host))), server=True
            )
            self._context = client_tls_context(str(self.ca_file))
            if not persistent:
                self._init_file.unlink(missing_ok=True)  # in-memory: initialised afresh at every start
        if persistent and self._init_file.exists():
            self.root_token = json.loads(self._init_file.read_text())["root_token"]

    def hvac_client(self) -> hvac.Client:
        """A root-token client that verifies the server when it serves TLS."""
        return hvac.Client(url=self.url, token=self.root_token, verify=str(self.ca_file) if self.ca_file else True)

    def command(self) -> Sequence[str]:
        if not self.persistent and not self.tls:
            return [
                str(find_binary("bao")),
                "server",
                "-dev",
                f"-dev-root-token-id={self.root_token}",
                f"-dev-listen-address={self.host}:{self.port}",
                "-dev-no-store-token",
                "-log-level=warn",
            ]
        config, data = self.workdir / "openbao.hcl", self.workdir / "data"
        data.mkdir(exist_ok=True)
        cluster_port = free_port()
        # Integrated storage (Raft), one node: OpenBao's persistent backend. performance_multiplier 1: the single
        # node elects itself in about a second, not ten (the default 5 is for networks between nodes); init waits
        # for that leader.
        storage = (
            f'storage "raft" {{ path = "{data}" node_id = "local" performance_multiplier = 1 }}'
            if self.persistent
            else 'storage "inmem" {}'
        )
        tls = (
            f'tls_cert_file = "{self._serving.cert}" tls_key_file = "{self._serving.key}"'
            if self.tls
            else "tls_disable = true"
        )
        config.write_text(
            f'{storage}\nlistener "tcp" {{ address = "{self.host}:{self.port}" {tls} }}\n'
            f'api_addr = "{self.url}"\ncluster_addr = "http://127.0.0.1:{cluster_port}"\n'
        )
        return [str(find_binary("bao")), "server", f"-config={config}", "-log-level=warn"]

    def environment(self) -> Mapping[str, str]:
        return {"HOME": str(self.workdir)}

    def healthy(self) -> bool:
        status = http_status(f"{self.url}/v1/sys/health", self._context)
        if status in (501, 503):  # not initialised, or sealed (no dev server): the harness does both
            self._init_and_unseal(initialised=status == 503)
            status = http_status(f"{self.url}/v1/sys/health", self._context)
        return status == 200

    def _init_and_unseal(self, *, initialised: bool) -> None:
        if not initialised and not self._init_file.exists():
            answer = self._put("/v1/sys/init", {"secret_shares": 1, "secret_threshold": 1})
            self._init_file.write_text(json.dumps({"keys": answer["keys"], "root_token": answer["root_token"]}))
            self._init_file.chmod(0o600)
            self.root_token = answer["root_token"]
        keys = json.loads(self._init_file.read_text())["keys"]
        self._put("/v1/sys/unseal", {"key": keys[0]})

    def _put(self, path: str, body: object) -> dict[str, Any]:
        """A PUT given all the time OpenBao needs: a client giving up on ``sys/init`` while the server completes it
        would lose the unseal key and the root token for good."""
        request = urllib.request.Request(f"{self.url}{path}", data=json.dumps(body).encode(), method="PUT")
        with urllib.request.urlopen(request, timeout=120, context=self._context) as response:
            answer: dict[str, Any] = json.load(response)
            return answer


class MotoServer(Server):
    """moto in server mode: a local AWS endpoint for boto3 (``endpoint_url=server.url``).

    ``unauthenticated_calls``: when set, moto checks every call after that many against IAM — signatures of access
    keys it issued, and the caller's policies (so an AssumeRole the caller may not make is refused, as AWS does)."""

    name = "moto"

    def __init__(self, workdir: Path, unauthenticated_calls: int | None = None, *, host: str = "127.0.0.1") -> None:
        super().__init__(workdir)
        self.port = free_port()
        self.host = host
        self.url = f"http://{host}:{self.port}"
        self.unauthenticated_calls = unauthenticated_calls

    def command(self) -> Sequence[str]:
        return [sys.executable, "-m", "moto.server", "-H", self.host, "-p", str(self.port)]

    def environment(self) -> Mapping[str, str]:
        found = {"AWS_ACCESS_KEY_ID": "testing", "AWS_SECRET_ACCESS_KEY": "testing"}
        if self.unauthenticated_calls is not None:
            found["INITIAL_NO_AUTH_ACTION_COUNT"] = str(self.unauthenticated_calls)
        return found

    def healthy(self) -> bool:
        return http_status(f"{self.url}/moto-api/") is not None


@dataclass(frozen=True)
class HAProxyCheck:
    ok: bool
    output: str


def haproxy_check(config: str, workdir: Path) -> HAProxyCheck:
    """Validate a configuration with ``haproxy -c``; ``output`` carries HAProxy's own diagnosis."""
    path = workdir / f"check-{secrets.token_hex(4)}.cfg"
    path.write_text(config)
    result = subprocess.run(
        [str(find_binary("haproxy")), "-c", "-f", str(path)],
        capture_output=True,
        text=True,
        check=False,
    )
    return HAProxyCheck(result.returncode == 0, (result.stdout + result.stderr).strip())


class HAProxyServer(Server):
    """HAProxy in master-worker mode, so :meth:`reload` swaps the configuration without dropping sockets."""

    name = "haproxy"

    def __init__(self, workdir: Path, config: str, listen_ports: Sequence[int]) -> None:
        super().__init__(workdir)
        self.config_path = workdir / "haproxy.cfg"
        self.config_path.write_text(config)
        self.listen_ports = tuple(listen_ports)

    def command(self) -> Sequence[str]:
        return [str(find_binary("haproxy")), "-W", "-db", "-f", str(self.config_path)]

    def healthy(self) -> bool:
        return all(port_open(port) for port in self.listen_ports)

    def reload(self, config: str) -> None:
        """Validate, then load ``config`` (SIGUSR2 to the master); a bad config is refused, not loaded."""
        check = haproxy_check(config, self.workdir)
        if not check.ok:
            raise ServerError(f"haproxy refused the configuration:\n{check.output}")
        self.config_path.write_text(config)
        if self.pid is not None:
            os.kill(self.pid, signal.SIGUSR2)
