"""Prometheus (Debian's package) on loopback for the platform: it scrapes every operator replica and loads
``monitoring/alerts.yaml`` unchanged, so the alerts the project ships are evaluated against the real metrics.

Discovery is by files (``file_sd``): Debian builds Prometheus without ``kubernetes_sd`` (its Kubernetes client
libraries are not packaged), so :class:`PodTargets` does what ``kubernetes_sd`` with the usual relabelling would —
list the pods of the platform's namespace that say ``prometheus.io/scrape: "true"`` (every operator's and the
HAProxy agents' pods do) and write their ``podIP:prometheus.io/port`` to ``targets/pods.json`` — with an identity
that may only list pods there (:func:`grant_discovery`). Targets come with the labels ``namespace`` and ``pod`` the
alerts group by; ``honor_labels`` lets a metric's own ``namespace`` (the object's: ``kubeception_ca_lost``,
``kubeception_kvm_cluster_ready``) win over the target's, as the alerts mean it.

A guest's API server is scraped the way its users reach it — through the platform's HAProxy, by SNI — with the
admin client certificate of the guest's kubeconfig Secret, which the platform already keeps
(:meth:`PrometheusServer.scrape_guest`, run by ``make demo``: one job per guest, files 0600 in the state). A
guest's etcd is not scraped: its NetworkPolicy admits only its API servers and peers, and opening its metrics
port to the host would weaken that.
"""

from __future__ import annotations

import base64
import ipaddress
import json
import logging
import os
import signal
import threading
import urllib.parse
import urllib.request
from typing import TYPE_CHECKING, Any

import yaml

from kubeception_testenv._binaries import find_binary
from kubeception_testenv._http import http_status
from kubeception_testenv._ports import free_port
from kubeception_testenv._process import Server
from kubeception_testenv.images import ROOT
from operatorkit.kinds import NAMESPACE, POD, ROLE, ROLE_BINDING

if TYPE_CHECKING:
    from collections.abc import Iterable, Mapping, Sequence
    from pathlib import Path

    from operatorkit import KubeClient

log = logging.getLogger(__name__)
RULES = ROOT / "monitoring" / "alerts.yaml"
JOB = "kubeception"
SCRAPE_ANNOTATION = "prometheus.io/scrape"
PORT_ANNOTATION = "prometheus.io/port"
PATH_ANNOTATION = "prometheus.io/path"
DISCOVERY_USER = "kubeception-prometheus"  # the client certificate's CN the discovery lists pods as
FIELD_MANAGER = "kubeception-testenv"

TargetGroup = dict[str, Any]  # file_sd: {"targets": ["host:port"], "labels": {...}}


class PrometheusServer(Server):
    """Prometheus on ``127.0.0.1:port`` with its data in ``workdir/data``; targets are the ``*.json`` files in
    ``targets_dir`` (:meth:`write_targets`). ``interval`` is both the scrape and the evaluation interval: the
    rule file is never changed, a test only evaluates it more often."""

    name = "prometheus"

    def __init__(self, workdir: Path, *, port: int | None = None, interval: str = "15s", rules: Path = RULES) -> None:
        super().__init__(workdir)
        self.port = port or free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.targets_dir = workdir / "targets"
        self.targets_dir.mkdir(exist_ok=True)
        self.guests_dir = workdir / "guests"
        self.guests_dir.mkdir(mode=0o700, exist_ok=True)
        self.config_path = workdir / "prometheus.yml"
        self.interval, self.rules = interval, rules
        self.write_config()

    def write_config(self) -> None:
        """The configuration: the file-discovered targets, and one job per guest in ``guests/`` (kept across
        restarts, like the data)."""
        jobs = [json.loads(path.read_text()) for path in sorted(self.guests_dir.glob("*/job.json"))]
        config = prometheus_config(self.targets_dir, self.interval, self.rules)
        config["scrape_configs"] += jobs
        partial = self.workdir / ".prometheus.yml.partial"
        partial.write_text(yaml.safe_dump(config))
        partial.rename(self.config_path)

    def scrape_guest(self, namespace: str, cluster: str, kubeconfig: Mapping[str, Any], pid: int | None) -> None:
        """Scrape guest ``namespace/cluster``'s API server at the server of ``kubeconfig`` (its admin kubeconfig,
        the server reachable from here), by its TLS server name, verified with its CA, with its client
        certificate; then reload the Prometheus running as ``pid`` (SIGHUP), if any."""
        job = guest_job(namespace, cluster, kubeconfig, self.guests_dir / f"{namespace}.{cluster}")
        (self.guests_dir / f"{namespace}.{cluster}" / "job.json").write_text(json.dumps(job, indent=1))
        self.write_config()
        if pid is not None:
            os.kill(pid, signal.SIGHUP)

    def command(self) -> Sequence[str]:
        return [
            str(find_binary("prometheus")),
            f"--config.file={self.config_path}",
            f"--storage.tsdb.path={self.workdir / 'data'}",
            "--storage.tsdb.retention.time=7d",
            f"--web.listen-address=127.0.0.1:{self.port}",
            "--log.level=warn",
        ]

    def healthy(self) -> bool:
        return http_status(f"{self.url}/-/ready") == 200

    def write_targets(self, name: str, groups: Sequence[TargetGroup]) -> None:
        """Replace ``targets/<name>.json`` whole (written aside, then renamed: Prometheus never reads half)."""
        partial = self.targets_dir / f".{name}.json.partial"
        partial.write_text(json.dumps(list(groups), indent=1, sort_keys=True))
        partial.rename(self.targets_dir / f"{name}.json")

    # -- the HTTP API --------------------------------------------------------------------------------------------
    def api(self, path: str, **params: str) -> Any:
        """``GET /api/v1/<path>``'s ``data``."""
        query = f"?{urllib.parse.urlencode(params)}" if params else ""
        with urllib.request.urlopen(f"{self.url}/api/v1/{path}{query}", timeout=10) as response:
            answer = json.load(response)
        if answer.get("status") != "success":
            raise RuntimeError(f"prometheus /api/v1/{path}: {answer}")
        return answer["data"]

    def query(self, expr: str) -> list[dict[str, Any]]:
        """An instant query's vector: ``[{"metric": {...}, "value": [time, "value"]}, ...]``."""
        result: list[dict[str, Any]] = self.api("query", query=expr)["result"]
        return result

    def alerts(self) -> list[dict[str, Any]]:
        """The alerts pending or firing now: ``[{"labels": {...}, "state": "pending", ...}, ...]``."""
        found: list[dict[str, Any]] = self.api("alerts")["alerts"]
        return found

    def active_targets(self) -> list[dict[str, Any]]:
        found: list[dict[str, Any]] = self.api("targets", state="active")["activeTargets"]
        return found


def prometheus_config(targets_dir: Path, interval: str, rules: Path = RULES) -> dict[str, Any]:
    return {
        "global": {"scrape_interval": interval, "evaluation_interval": interval, "scrape_timeout": "1s"},
        "rule_files": [str(rules)],
        "scrape_configs": [
            {
                "job_name": JOB,
                # The operators' own labels win: their namespace label is the object's, where they have one.
                "honor_labels": True,
                # Written whole and renamed (inotify), re-read every 10 s besides.
                "file_sd_configs": [{"files": [str(targets_dir / "*.json")], "refresh_interval": "10s"}],
            }
        ],
    }


def guest_job(namespace: str, cluster: str, kubeconfig: Mapping[str, Any], files: Path) -> dict[str, Any]:
    """A scrape job for a guest's API server from its kubeconfig; the CA and the client pair written to ``files``
    (readable by the owner only), which Prometheus reads at each new connection."""
    entry = kubeconfig["clusters"][0]["cluster"]
    user = kubeconfig["users"][0]["user"]
    files.mkdir(mode=0o700, parents=True, exist_ok=True)
    paths = {}
    for name, field in (("ca.crt", entry["certificate-authority-data"]), ("tls.crt", user["client-certificate-data"])):
        paths[name] = _write_private(files / name, base64.b64decode(field))
    paths["tls.key"] = _write_private(files / "tls.key", base64.b64decode(user["client-key-data"]))
    server = urllib.parse.urlsplit(entry["server"])
    if server.scheme != "https" or not server.hostname:
        raise ValueError(f"guest {namespace}/{cluster}: not an https server: {entry['server']}")
    return {
        "job_name": f"guest-apiserver/{namespace}/{cluster}",
        "scheme": "https",
        "tls_config": {
            "ca_file": paths["ca.crt"],
            "cert_file": paths["tls.crt"],
            "key_file": paths["tls.key"],
            "server_name": entry.get("tls-server-name") or server.hostname,
        },
        "static_configs": [
            {
                "targets": [f"{server.hostname}:{server.port or 443}"],
                "labels": {"namespace": namespace, "cluster": cluster, "component": "apiserver"},
            }
        ],
    }


def _write_private(path: Path, content: bytes) -> str:
    path.touch(mode=0o600)
    path.chmod(0o600)
    path.write_bytes(content)
    return str(path)


def pod_targets(pods: Iterable[Mapping[str, Any]], networks: Sequence[ipaddress.IPv4Network]) -> list[TargetGroup]:
    """The file_sd groups for the running pods that ask to be scraped, as ``kubernetes_sd`` (role pod) with the
    ``prometheus.io/scrape``/``port``/``path`` relabelling would find them; labelled with their namespace, pod
    and ``app`` (``app.kubernetes.io/name``). A pod without an IP or a port is not a target yet, nor one whose IP
    is outside ``networks`` (the real nodes' and their pods': a kwok pod's made-up address is nowhere on this
    machine, and nothing is scraped off it)."""
    groups: list[TargetGroup] = []
    for pod in pods:
        meta, status = pod.get("metadata", {}), pod.get("status", {})
        annotations = meta.get("annotations") or {}
        port = annotations.get(PORT_ANNOTATION, "")
        ip = status.get("podIP", "")
        if annotations.get(SCRAPE_ANNOTATION) != "true" or status.get("phase") != "Running" or not ip:
            continue
        if not any(_within(ip, network) for network in networks):
            continue
        if not port.isdigit() or not 0 < int(port) < 65536:
            continue
        labels = {"namespace": meta.get("namespace", ""), "pod": meta.get("name", "")}
        if app := (meta.get("labels") or {}).get("app.kubernetes.io/name"):
            labels["app"] = app
        if path := annotations.get(PATH_ANNOTATION):
            labels["__metrics_path__"] = path
        groups.append({"targets": [f"{ip}:{int(port)}"], "labels": labels})
    return sorted(groups, key=lambda group: (group["labels"]["namespace"], group["labels"]["pod"]))


def _within(ip: str, network: ipaddress.IPv4Network) -> bool:
    try:
        return ipaddress.ip_address(ip) in network
    except ValueError:
        return False


def grant_discovery(admin: KubeClient, namespace: str, user: str = DISCOVERY_USER) -> None:
    """What ``kubernetes_sd`` would be granted: get, list and watch pods in ``namespace``, nothing else."""
    admin.apply(NAMESPACE, {"metadata": {"name": namespace}}, field_manager=FIELD_MANAGER)
    name = f"{user}-discovery"
    admin.apply(
        ROLE,
        {
            "metadata": {"name": name, "namespace": namespace},
            "rules": [{"apiGroups": [""], "resources": ["pods"], "verbs": ["get", "list", "watch"]}],
        },
        field_manager=FIELD_MANAGER,
    )
    admin.apply(
        ROLE_BINDING,
        {
            "metadata": {"name": name, "namespace": namespace},
            "roleRef": {"apiGroup": "rbac.authorization.k8s.io", "kind": "Role", "name": name},
            "subjects": [{"apiGroup": "rbac.authorization.k8s.io", "kind": "User", "name": user}],
        },
        field_manager=FIELD_MANAGER,
    )


class PodTargets:
    """Keeps ``targets/pods.json`` of ``prometheus`` the scrape targets among the pods of ``namespaces`` (listed
    every ``interval`` seconds by ``kube``, an identity :func:`grant_discovery` allowed) whose address is in
    ``networks``: a thread, until :meth:`stop`. A list that fails keeps the last targets (logged); the next one
    corrects them."""

    def __init__(
        self,
        prometheus: PrometheusServer,
        kube: KubeClient,
        namespaces: Sequence[str],
        networks: Sequence[ipaddress.IPv4Network],
        interval: float = 5.0,
    ) -> None:
        self.prometheus = prometheus
        self.kube = kube
        self.namespaces = tuple(namespaces)
        self.networks = tuple(networks)
        self.interval = interval
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="prometheus-pod-targets", daemon=True)

    def sync(self) -> list[TargetGroup]:
        pods = [pod for namespace in self.namespaces for pod in self.kube.list(POD, namespace)["items"]]
        groups = pod_targets(pods, self.networks)
        self.prometheus.write_targets("pods", groups)
        return groups

    def start(self) -> PodTargets:
        self._thread.start()
        return self

    def stop(self) -> None:
        self._stop.set()
        if self._thread.is_alive():
            self._thread.join(timeout=self.interval + 10)

    def _run(self) -> None:
        while True:
            try:
                self.sync()
            except Exception:  # an API server restarting, a timeout: the next round lists again
                log.exception("listing the pods to scrape failed")
            if self._stop.wait(self.interval):
                return
