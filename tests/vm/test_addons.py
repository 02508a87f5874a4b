"""The guest add-ons on a real worker VM: the node image built here booted by the launcher (as tests/vm/test_boot.py
does) against a real guest API server with a controller-manager and a scheduler (what kvm-operator's control plane
runs), kube-proxy and CoreDNS applied exactly as kvm-operator renders them (:mod:`kvm_operator.addons`; their
images are preloaded in the node image), and pods on the VM: one resolves ``kubernetes.default.svc.cluster.local``
and a Service's name through CoreDNS at the Service network's 10th address (the kubelet's ``clusterDNS`` from the
boot configuration), reaches that ClusterIP Service backed by another pod (kube-proxy's nftables rules), and has a
default route (the CNI conflist's ``isDefaultGateway``)."""

from __future__ import annotations

import ipaddress
import time
from typing import TYPE_CHECKING, Any

import pytest

from kubeception_testenv import find_binary, wait_for
from kubeception_testenv._process import Server
from kubeception_testenv.guest import NodeGuest, WorkerVM
from kubeception_testenv.images import version
from kvm_operator import addons, bootconfig, key
from kvm_operator.settings import ImageSettings
from operatorkit import KubeClient
from operatorkit.kinds import CONFIG_MAP, DAEMON_SET, DEPLOYMENT, POD, SERVICE, SERVICE_ACCOUNT
from tests.ingress.conftest import kubectl
from tests.vm.conftest import worker_config as boot_config

if TYPE_CHECKING:
    from collections.abc import Iterator, Sequence
    from pathlib import Path


pytestmark = [pytest.mark.slow, pytest.mark.realnodes]
API_HOST = "api.vm-addons.kubeception.test"
NODE_NAME = "worker-0"
SERVICE_CIDR = ipaddress.IPv4Network("10.97.0.0/16")  # the NodeGuest API server's
POD_CIDR = ipaddress.IPv4Network("10.244.0.0/16")
BUSYBOX = f"ghcr.io/kubeception/busybox:{version()}"


class ControllerManager(Server):
    """The guest's kube-controller-manager as kvm-operator runs it (Node CIDRs from the pod network), with the
    admin's kubeconfig; no HTTPS serving (nothing here asks it)."""

    name = "guest-controller-manager"

    def __init__(self, workdir: Path, guest: NodeGuest) -> None:
        super().__init__(workdir)
        self.guest, self.kube = guest, KubeClient.load(str(guest.kubeconfig))

    def command(self) -> Sequence[str]:
        return [
            str(find_binary("kube-controller-manager")),
            f"--kubeconfig={self.guest.kubeconfig}",
            "--secure-port=0",
            f"--root-ca-file={self.guest.pki.ca.cert}",
            f"--service-cluster-ip-range={SERVICE_CIDR}",
            f"--cluster-cidr={POD_CIDR}",
            "--allocate-node-cidrs=true",
            "--node-cidr-mask-size=24",
            "--leader-elect=false",
            "--use-service-account-credentials=false",
            "--v=1",
        ]

    def healthy(self) -> bool:
        return self.kube.get_or_none(CONFIG_MAP, "kube-root-ca.crt", "kube-system") is not None


class Scheduler(Server):
    name = "guest-scheduler"

    def __init__(self, workdir: Path, guest: NodeGuest) -> None:
        super().__init__(workdir)
        self.guest = guest

    def command(self) -> Sequence[str]:
        return [str(find_binary("kube-scheduler")), f"--kubeconfig={self.guest.kubeconfig}", "--secure-port=0",
                "--leader-elect=false", "--v=1"]  # fmt: skip

    def healthy(self) -> bool:
        return True  # it schedules once it has synced; the pods' waits cover that


@pytest.fixture(scope="module")
def guest(tmp_path_factory: pytest.TempPathFactory) -> Iterator[NodeGuest]:
    workdir = tmp_path_factory.mktemp("vm-addons")
    with NodeGuest(workdir, API_HOST) as started, ControllerManager(workdir, started), Scheduler(workdir, started):
        yield started


def guest_addons(guest: NodeGuest) -> addons.Guest:
    images = ImageSettings()
    return addons.Guest(
        version="1.36.3",
        api_host=API_HOST,
        api_port=guest.server.port,
        api_address=guest.gateway,
        pod_cidr=POD_CIDR,
        service_cidr=SERVICE_CIDR,
        workers=1,
        forward=False,  # nothing here to forward to: the guest's own names only
        kube_proxy_image=images.kube_proxy,
        coredns_image=f"ghcr.io/kubeception/coredns:{version()}",
    )


def worker_config(guest: NodeGuest) -> dict[str, Any]:
    return boot_config(guest, API_HOST, NODE_NAME, cluster_dns=key.cluster_dns(SERVICE_CIDR))


def pod(name: str, script: str, labels: dict[str, str] | None = None, **env: str) -> dict[str, Any]:
    return {
        "metadata": {"name": name, "namespace": "default", "labels": labels or {}},
        "spec": {
            "automountServiceAccountToken": False,
            "restartPolicy": "Never",
            "terminationGracePeriodSeconds": 0,
            "containers": [
                {
                    "name": name,
                    "image": BUSYBOX,
                    "imagePullPolicy": "Never",
                    "command": ["/bin/busybox", "sh", "-c", script],
                    "env": [{"name": k, "value": v} for k, v in env.items()],
                }
            ],
        },
    }


def rolled_out(kube: KubeClient) -> bool:
    proxy = kube.get(DAEMON_SET, "kube-proxy", "kube-system").get("status") or {}
    dns = kube.get(DEPLOYMENT, "coredns", "kube-system").get("status") or {}
    return bool(proxy.get("numberReady", 0) >= 1 and dns.get("readyReplicas", 0) >= 1)


# The client: shows its routes, fetches the page through the web Service's ClusterIP, resolves the API's Service and
# the web Service by name and fetches the page from the address the name gave. Each step retried a little (kube-proxy
# syncs its rules a moment after the Service appears). HTTP by busybox nc: the static busybox's wget crashes.
CLIENT = """
b=/bin/busybox
try() { for i in 1 2 3 4 5; do "$@" && return 0; $b sleep 2; done; return 1; }
resolve() { $b nslookup "$1" > "/tmp/$2" 2>&1; $b grep -q '^Name' "/tmp/$2"; }
get() { printf 'GET / HTTP/1.0\\r\\n\\r\\n' | $b nc -w 3 "$1" 80 > "/tmp/$2"; $b grep -q hello "/tmp/$2"; }
echo "routes: $($b ip route | $b tr '\\n' ';')"
echo "resolv: $($b tr '\\n' ';' < /etc/resolv.conf)"
try get "$WEB_IP" by-ip; echo "by-ip: $($b tail -1 /tmp/by-ip)"
try resolve kubernetes.default.svc.cluster.local api; echo "api: $($b grep -A1 '^Name' /tmp/api | $b tail -1)"
try resolve web.default.svc.cluster.local web; echo "web: $($b grep -A1 '^Name' /tmp/web | $b tail -1)"
address=$($b grep -A1 '^Name' /tmp/web | $b tail -1 | $b cut -d' ' -f2)
try get "$address" by-name; echo "page: $($b tail -1 /tmp/by-name)"
$b cat /tmp/api /tmp/web
"""


def test_pods_on_a_vm_resolve_and_reach_services_through_the_addons(
    guest: NodeGuest, boot_files: tuple[Path, Path], tmp_path: Path
) -> None:
    kube = KubeClient.load(str(guest.kubeconfig))
    for manifests in addons.render(guest_addons(guest), {}).values():
        for kind, obj in manifests:
            kube.apply(kind, obj, field_manager=key.ADDON_MANAGER)
    config = tmp_path / "config.ign"
    config.write_bytes(bootconfig.dumps(worker_config(guest)))
    vm = WorkerVM(tmp_path, guest, NODE_NAME, boot_files, config)
    started = time.monotonic()
    with vm:  # Node Ready (the controller-manager gives it its pod range)
        print(f"worker VM: Node Ready {time.monotonic() - started:.1f} s after the launcher started ({vm.accelerator})")
        wait_for(lambda: rolled_out(kube), timeout=420, message=f"kube-proxy and CoreDNS ready ({vm.log_path})")
        print(f"add-ons ready {time.monotonic() - started:.1f} s after the launcher started")
        wait_for(lambda: kube.get_or_none(SERVICE_ACCOUNT, "default", "default"), timeout=60, message="default SA")
        kube.create(POD, pod("web", "echo hello from web > /tmp/index.html; exec /bin/busybox httpd -f -p 8080 -h /tmp",
                             {"app": "web"}))  # fmt: skip
        kube.create(
            SERVICE,
            {
                "metadata": {"name": "web", "namespace": "default"},
                "spec": {"selector": {"app": "web"}, "ports": [{"port": 80, "targetPort": 8080}]},
            },
        )
        web_ip = kube.get(SERVICE, "web", "default")["spec"]["clusterIP"]
        wait_for(
            lambda: kube.get(POD, "web", "default").get("status", {}).get("podIP"), timeout=120, message="web runs"
        )
        kube.create(POD, pod("client", CLIENT, WEB_IP=web_ip))
        try:
            wait_for(
                lambda: kube.get(POD, "client", "default").get("status", {}).get("phase") in ("Succeeded", "Failed"),
                timeout=300,
                message="the client ran",
            )
        finally:
            for selector in ("k8s-app=kube-proxy", "k8s-app=kube-dns"):
                shown = kubectl(guest.kubeconfig, "logs", "-n", "kube-system", "-l", selector, "--tail=30")
                print(selector, shown.stdout[-3000:], shown.stderr[-500:])
            print("client:", kubectl(guest.kubeconfig, "logs", "client", "--namespace=default").stdout)
        logs = kubectl(guest.kubeconfig, "logs", "client", "--namespace=default").stdout
        found = dict(line.split(": ", 1) for line in logs.splitlines() if ": " in line)
        assert found.get("routes", "").startswith("default via 10.244."), logs
        assert found.get("by-ip") == "hello from web", ("the ClusterIP answered, by kube-proxy's rules", logs)
        assert found.get("api", "").endswith("10.97.0.1"), ("kubernetes.default resolved by CoreDNS", logs)
        assert found.get("web", "").endswith(web_ip), ("the web Service resolved", logs)
        assert found.get("page") == "hello from web", ("the Service reached by its name", logs)
        print(f"checked {time.monotonic() - started:.1f} s after the launcher started")
