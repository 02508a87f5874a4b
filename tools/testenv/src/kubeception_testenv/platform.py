"""The platform installed on a local mother cluster with real nodes, the way a user installs it: the CRDs, then
each operator from its Helm chart (image from ``make images``, already on the nodes), cert-operator logging in to
OpenBao with Kubernetes auth from its pod's ServiceAccount token, flannel-operator writing the network etcd.

The demo (``python -m kubeception_testenv install``) and the real-node tests both use :class:`Platform`; the side
servers it points the operators at listen on the host's address on the nodes' bridge (``ControlPlane.host``),
where pods reach them — OpenBao over HTTPS, the network etcd over HTTPS with client certificates — and the
operators verify each against its CA (Secrets ``vault-ca`` and ``flannel-etcd-client``).
"""

from __future__ import annotations

import base64
import dataclasses
import json
import subprocess
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

import hvac
import yaml

from kubeception_testenv._binaries import find_binary
from kubeception_testenv.images import ROOT, archive_path, recipes
from kubeception_testenv.network import run
from kubeception_testenv.nodes import REAL_NODE_LABEL

if TYPE_CHECKING:
    from collections.abc import Iterable, Mapping

    from kubeception_testenv.controlplane import ControlPlane
    from kubeception_testenv.images import Recipe
    from kubeception_testenv.servers import EtcdServer, OpenBaoServer

NAMESPACE = "kubeception-system"
CHARTS = ROOT / "charts"
CRDS = ROOT / "crds"
VAULT_AUTH_MOUNT = "kubernetes"
VAULT_POLICY = "cert-operator"
OPERATORS = ("cert-operator", "flannel-operator", "ingress-operator", "kvm-operator", "aws-operator")
AWS_REGION = "eu-central-1"
AWS_AMI = "ami-12c6146b"  # one of moto's images: the local "AWS" boots nothing
BASE_DOMAIN = "kubeception.test"  # guest API hostnames: api.<cluster>.<base domain>
VAULT_CA_SECRET = "vault-ca"  # cert-operator's vault.caSecret: OpenBao's CA
ETCD_CLIENT_SECRET = "flannel-etcd-client"  # flannel-operator's etcd.tlsSecret (its default)
INGRESS_PORTS = (443, 80)  # HAProxy's TLS and HTTP ports (ingress-operator's tlsPort, httpPort; the charts' defaults)
INGRESS_POOL = (30000, 30999)  # its pool of per-route ports (ingress-operator's ports.min, ports.max; the defaults)
REGISTRY = "kubeception-registry"  # the platform registry's chart and release
REGISTRY_PORT, REGISTRY_FILL_PORT = 5000, 5001  # its read-only port for the VMs, its fill port on the node's loopback
REGISTRY_IMAGES = {
    "nginx": ("library/nginx:latest",),  # what `--image=nginx` names: docker.io/library/nginx:latest
    "busybox": ("library/busybox:latest",),
    "pause": (),
    "coredns": (),
    "kube-proxy-v1.36.3": (),
    "kube-proxy-v1.36.1": (),
    "flannel-guest": (),  # the guests' pod network and NetworkPolicy add-ons: pulled, not preloaded
    "kube-network-policies": (),
}
"""What the guests pull by name: recipe (short name) -> more names for it; every one also under its own path
(``kubeception/nginx:0.2.0``, what ``ghcr.io/kubeception/nginx:0.2.0`` is pulled as). The add-ons are preloaded
on the VMs; the registry has them for a node whose preload is gone (containerd's garbage collection)."""
CONFORMANCE_IMAGES = {
    "agnhost-2.63.0": (),  # registry.k8s.io/e2e-test-images/agnhost:2.63.0, its own path (images/conformance/)
    "busybox-1.37.0-1": (),
    "glibc-dns-testing-2.0.0": (),  # the DNS tests' second querier ("jessie")
    "pause": ("pause:3.10.2",),  # registry.k8s.io/pause: the e2e suite's pause pods
    "nginx": ("e2e-test-images/nginx:1.15-4", "e2e-test-images/nginx:1.27-0"),
}
"""What the Kubernetes e2e suite's pods pull (``e2e.test --list-images``), pushed by ``make conformance`` only:
the registry mirrors registry.k8s.io, so these names need no ``KUBE_TEST_REPO_LIST``."""


class InstallError(RuntimeError):
    """A step of the installation failed; the message carries the command's output."""


@dataclass
class Platform:
    """Where the operators go and what they talk to; plain values, so the demo can keep them in its state."""

    kubeconfig: Path
    api_url: str
    api_ca: Path
    vault_url: str
    vault_token: str
    etcd_url: str
    namespace: str = NAMESPACE
    replicas: int = 2
    base_domain: str = BASE_DOMAIN
    guest_nodes: str = f"{REAL_NODE_LABEL}=real"  # where guests' bridges and control planes go (type=kwok: scale)
    ingress_address: str = ""  # an HAProxy's address (the first real node's): what worker VMs and kvm-operator dial
    accelerator: str = "tcg"  # /dev/kvm opens here but guests make no progress under it (real-nodes.md)
    cpu_allocation_ratio: float = 4.0  # a 2-core node runs the operators, a control plane and two 1-vCPU VMs
    aws_url: str = ""  # the local moto server (AWS's API) where pods reach it; empty: aws-operator is not installed
    mother: dict[str, list[str]] = dataclasses.field(
        default_factory=dict
    )  # its own networks (ControlPlane.platform_plan)
    vault_ca: str = ""  # OpenBao's CA (a file): what cert-operator verifies it with; empty: the image's trust store
    etcd_ca: str = ""  # the network etcd's CA and a client certificate (files), for flannel-operator and flanneld
    etcd_cert: str = ""
    etcd_key: str = ""
    registry_node: str = ""  # the real node the platform registry runs on (the ingress's); empty: no registry
    registry_netns: str = ""  # that node's network namespace: its loopback has the registry's fill port
    refused: str = ""  # why the last :meth:`admits` was refused

    @classmethod
    def on(cls, plane: ControlPlane, openbao: OpenBaoServer, etcd: EtcdServer, **options: Any) -> Platform:
        if plane.real_nodes and "ingress_address" not in options:
            options["ingress_address"] = str(plane.real_nodes[0].address.ip)
        options.setdefault("mother", plane.platform_plan()["mother"])
        if openbao.ca_file is not None:
            options.setdefault("vault_ca", str(openbao.ca_file))
        if etcd.ca_file is not None and etcd.client_cert is not None:
            options.setdefault("etcd_ca", str(etcd.ca_file))
            options.setdefault("etcd_cert", str(etcd.client_cert.cert))
            options.setdefault("etcd_key", str(etcd.client_cert.key))
        if plane.real_nodes:
            options.setdefault("registry_node", plane.real_nodes[0].name)
            options.setdefault("registry_netns", plane.real_nodes[0].address.netns)
        return cls(
            kubeconfig=plane.kubeconfig,
            api_url=plane.url,
            api_ca=plane.apiserver.ca.cert,
            vault_url=openbao.url,
            vault_token=openbao.root_token,
            etcd_url=etcd.url,
            **options,
        )

    def install(self, timeout: float = 240) -> None:
        """CRDs, Vault's side of cert-operator's login, every chart; returns once every operator pod is Ready."""
        self.apply_crds()
        self.configure_vault()
        self.tls_secrets()
        if self.registry_node:
            self.helm_install(REGISTRY, self.registry_values())
        self.helm_install("cert-operator", self.cert_operator_values())
        self.helm_install("flannel-operator", self.flannel_operator_values())
        self.helm_install("ingress-operator", self.ingress_operator_values())
        self.helm_install("kvm-operator", self.kvm_operator_values())
        if self.aws_url:
            self.aws_credentials()
            self.helm_install("aws-operator", self.aws_operator_values())
        for name in self.operators:
            self.wait_available(name, timeout)
        self.wait_available("ingress-operator-haproxy", timeout, kind="daemonset")
        if self.registry_node:
            self.wait_available(REGISTRY, timeout)
            self.fill_registry()

    def apply_crds(self) -> None:
        self.kubectl("apply", "--server-side", "-f", str(CRDS))
        self.kubectl("wait", "--for=condition=Established", "--timeout=60s", "-f", str(CRDS))

    def configure_vault(self) -> None:
        """What NOTES.txt asks of a Vault administrator: the chart's policy, Kubernetes auth bound to the chart's
        ServiceAccount. Vault reviews each login token with the token itself (``tokenReviewer`` in the chart)."""
        bao = self.vault()
        bao.sys.create_or_update_policy(VAULT_POLICY, (CHARTS / "cert-operator/files/vault-policy.hcl").read_text())
        if f"{VAULT_AUTH_MOUNT}/" not in bao.sys.list_auth_methods()["data"]:
            bao.sys.enable_auth_method("kubernetes", path=VAULT_AUTH_MOUNT)
        bao.write(
            f"auth/{VAULT_AUTH_MOUNT}/config",
            kubernetes_host=self.api_url,
            kubernetes_ca_cert=self.api_ca.read_text(),
            disable_local_ca_jwt=True,
        )
        bao.write(
            f"auth/{VAULT_AUTH_MOUNT}/role/cert-operator",
            bound_service_account_names="cert-operator",
            bound_service_account_namespaces=self.namespace,
            token_policies=VAULT_POLICY,
            token_ttl="1h",
        )

    def platform_values(self) -> dict[str, object]:
        """The platform's plan, the same for every chart: the base domains (the guests' and the AWS guests'), this
        mother's own networks (pools: the charts' defaults, which none of them overlaps) and what guests' VMs may
        reach of it: the HAProxy their API address names, on its TLS port (guest APIs, routed by SNI; kvm-operator's
        ``routing.port``), HTTP port and pool of per-route ports (a guest's API or apps without SNI) — the charts'
        defaults —, and the platform registry's read-only port on the same node."""
        ports = [*(str(port) for port in INGRESS_PORTS), "-".join(str(port) for port in INGRESS_POOL)]
        if self.registry_node:
            ports.append(str(REGISTRY_PORT))  # the platform registry, on the same node's address (read-only)
        endpoints = [f"{self.ingress_address}:{port}/tcp" for port in ports] if self.ingress_address else []
        return {"domains": [self.base_domain, self.aws_base_domain], "mother": self.mother, "guestEndpoints": endpoints}

    @property
    def aws_base_domain(self) -> str:
        return f"aws.{self.base_domain}"

    def vault(self) -> hvac.Client:
        """A root-token client for OpenBao, verifying it against its CA."""
        return hvac.Client(url=self.vault_url, token=self.vault_token, verify=self.vault_ca or True)

    def tls_secrets(self) -> None:
        """What the operators verify their servers with (and flannel's client certificate), as Secrets in the
        platform's namespace: OpenBao's CA for cert-operator, the network etcd's CA and client pair for
        flannel-operator (which hands them on to each cluster's flanneld)."""
        secrets = []
        if self.vault_ca:
            secrets.append(secret(VAULT_CA_SECRET, self.namespace, _read({"ca.crt": self.vault_ca})))
        if self.etcd_ca:
            files = {"ca.crt": self.etcd_ca, "tls.crt": self.etcd_cert, "tls.key": self.etcd_key}
            secrets.append(secret(ETCD_CLIENT_SECRET, self.namespace, _read(files)))
        self.apply({"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": self.namespace}}, *secrets)

    def cert_operator_values(self) -> dict[str, object]:
        vault: dict[str, object] = {
            "address": self.vault_url,
            "auth": {"method": "kubernetes", "role": "cert-operator", "tokenReviewer": True},
        }
        if self.vault_ca:
            vault["caSecret"] = VAULT_CA_SECRET
        return {"replicas": self.replicas, "vault": vault, "nodeSelector": {REAL_NODE_LABEL: "real"}}

    def flannel_operator_values(self) -> dict[str, object]:
        return {
            "replicas": self.replicas,
            "platform": self.platform_values(),
            "etcd": {"endpoint": self.etcd_url, "tlsSecret": ETCD_CLIENT_SECRET},
            "hosts": {"nodeSelector": self.guest_nodes},
            "nodeSelector": {REAL_NODE_LABEL: "real"},
        }

    def ingress_operator_values(self) -> dict[str, object]:
        """HAProxy on the real nodes' host network (their own network namespaces here), ports 443 and 80."""
        return {
            "replicas": self.replicas,
            "platform": self.platform_values(),
            "routing": {"baseDomain": self.base_domain},
            "haproxy": {"nodeSelector": {REAL_NODE_LABEL: "real"}},
            "nodeSelector": {REAL_NODE_LABEL: "real"},
        }

    def kvm_operator_values(self) -> dict[str, object]:
        """Guest control planes on the guest nodes; spread where there are nodes for it (the local mother has one
        real node unless asked for more). Worker VMs on the real nodes, reaching their guest's API (as the operator
        does) at the first real node's HAProxy — what DNS for the API hostnames would say."""
        label, value = self.guest_nodes.split("=", 1)
        routing: dict[str, object] = {"baseDomain": self.base_domain}
        if self.ingress_address:
            routing["address"] = self.ingress_address
        registry: dict[str, object] = {}
        if self.registry_node and self.ingress_address:  # by a name the VMs' /etc/hosts gives, like the API's
            registry = {"mirror": f"http://{self.registry_host}:{REGISTRY_PORT}", "address": self.ingress_address}
        return {
            "replicas": self.replicas,
            "platform": self.platform_values(),
            "routing": routing,
            "controlPlane": {"spread": "preferred", "nodeSelector": {label: value}},
            "workerVMs": {
                "nodeSelector": {REAL_NODE_LABEL: "real"},
                "accelerator": self.accelerator,
                "cpuAllocationRatio": self.cpu_allocation_ratio,
            },
            "registry": registry,
            "nodeSelector": {REAL_NODE_LABEL: "real"},
        }

    @property
    def registry_host(self) -> str:
        return f"registry.{self.base_domain}"

    def registry_values(self) -> dict[str, object]:
        """On the ingress's node (the VMs are given its address), storage in an emptyDir: filled at every install."""
        return {"nodeSelector": {"kubernetes.io/hostname": self.registry_node}}

    def fill_registry(self) -> None:
        """Push the images guests pull by name (:data:`REGISTRY_IMAGES`) through the fill port, on the node's
        loopback (``skopeo`` in the node's network namespace): again at each install, copying only what is new."""
        self.push_images(recipes(), REGISTRY_IMAGES)

    def push_images(self, candidates: Iterable[Recipe], names: Mapping[str, tuple[str, ...]]) -> None:
        """Push each of ``candidates`` that ``names`` lists (built archives) under its own path and those names."""
        for recipe in candidates:
            if recipe.short not in names:
                continue
            own = recipe.ref.split("/", 1)[1]  # ghcr.io/kubeception/nginx:0.2.0 -> kubeception/nginx:0.2.0
            for name in (own, *names[recipe.short]):
                target = f"docker://127.0.0.1:{REGISTRY_FILL_PORT}/{name}"
                copy = ("skopeo", "copy", "--quiet", "--insecure-policy", "--dest-tls-verify=false")
                run(*copy, f"oci-archive:{archive_path(recipe)}", target, netns=self.registry_netns)

    @property
    def operators(self) -> tuple[str, ...]:
        return OPERATORS if self.aws_url else OPERATORS[:-1]

    def aws_credentials(self) -> None:
        """aws-operator's own credentials (moto accepts any; they may only assume the guest accounts' roles)."""
        self.apply(
            {"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": self.namespace}},
            {
                "apiVersion": "v1",
                "kind": "Secret",
                "metadata": {"name": "aws-operator-credentials", "namespace": self.namespace},
                "stringData": {"AWS_ACCESS_KEY_ID": "testing", "AWS_SECRET_ACCESS_KEY": "testing"},
            },
        )

    def apply(self, *manifests: Mapping[str, object]) -> None:
        kubectl = str(find_binary("kubectl"))
        for manifest in manifests:
            self._run(kubectl, f"--kubeconfig={self.kubeconfig}", "apply", "-f", "-", input=json.dumps(manifest))

    def aws_operator_values(self) -> dict[str, object]:
        """aws-operator against the local moto server (the AWS API), one replica: the guests are stacks there."""
        return {
            "replicas": 1,
            "platform": self.platform_values(),
            "aws": {"endpointURL": self.aws_url, "credentialsSecret": "aws-operator-credentials"},
            "dns": {"baseDomain": self.aws_base_domain},
            "amis": {"1.36.1": {AWS_REGION: AWS_AMI}, "1.36.3": {AWS_REGION: AWS_AMI}},
            "stacks": {"pollSeconds": 2, "driftCheckSeconds": 300},
            "nodeSelector": {REAL_NODE_LABEL: "real"},
        }

    def helm_install(self, name: str, values: Mapping[str, object]) -> None:
        """``helm upgrade --install``: a second install (``make demo`` again) changes nothing that is the same."""
        self._run(
            str(find_binary("helm")),
            "upgrade",
            "--install",
            name,
            str(CHARTS / name),
            f"--namespace={self.namespace}",
            "--create-namespace",
            f"--kubeconfig={self.kubeconfig}",
            "--values=-",
            input=json.dumps(values),
        )

    def wait_available(self, name: str, timeout: float, kind: str = "deployment") -> None:
        self.kubectl(
            "-n",
            self.namespace,
            "rollout",
            "status",
            f"{kind}/{name}",
            f"--timeout={int(timeout)}s",
            timeout=timeout,
        )

    def uninstall(self) -> None:
        for name in (*self.operators, *([REGISTRY] if self.registry_node else [])):
            self._run(
                str(find_binary("helm")),
                "uninstall",
                name,
                f"--namespace={self.namespace}",
                f"--kubeconfig={self.kubeconfig}",
                "--wait",
                check=False,
            )

    def guest_kubeconfig(self, namespace: str, cluster: str) -> str:
        """Guest ``cluster``'s kubeconfig Secret with its server at the first real node's HAProxy — what DNS for
        the guest's API hostname would give (the TLS server name stays that hostname, for SNI)."""
        encoded = self.kubectl("get", "secret", "-n", namespace, f"{cluster}-kubeconfig", "-o=jsonpath={.data.value}")
        node = self.kubectl(
            "get", "nodes", "-l", f"{REAL_NODE_LABEL}=real",
            "-o=jsonpath={.items[0].status.addresses[?(@.type=='InternalIP')].address}",
        )  # fmt: skip
        config = yaml.safe_load(base64.b64decode(encoded))
        for entry in config["clusters"]:
            entry["cluster"]["server"] = f"https://{node}:443"
        return str(yaml.safe_dump(config))

    def admits(self, *manifests: Path) -> bool:
        """The API server would admit ``manifests`` now (a server-side dry run): an admission policy just installed,
        and the parameters it reads, are in force."""
        try:
            self.kubectl("apply", "--dry-run=server", *(f"--filename={m}" for m in manifests))
        except InstallError as error:
            self.refused = str(error)  # what the last try was told, for the message of whoever waits
            return False
        return True

    def kubectl(self, *args: str, timeout: float = 120) -> str:
        return self._run(str(find_binary("kubectl")), f"--kubeconfig={self.kubeconfig}", *args, timeout=timeout)

    @staticmethod
    def _run(*command: str, input: str | None = None, check: bool = True, timeout: float = 300) -> str:
        result = subprocess.run(command, input=input, capture_output=True, text=True, check=False, timeout=timeout)
        if check and result.returncode != 0:
            raise InstallError(f"{' '.join(command[:4])} ...: {result.stderr.strip() or result.stdout.strip()}")
        return result.stdout


def secret(name: str, namespace: str, data: Mapping[str, bytes], kind: str = "Opaque") -> dict[str, object]:
    """A Secret of type ``kind`` holding ``data``."""
    encoded = {key: base64.b64encode(value).decode() for key, value in data.items()}
    return {"apiVersion": "v1", "kind": "Secret", "type": kind,
            "metadata": {"name": name, "namespace": namespace}, "data": encoded}  # fmt: skip


def _read(files: Mapping[str, str]) -> dict[str, bytes]:
    """Each key's file's contents."""
    return {key: Path(path).read_bytes() for key, path in files.items()}
