"""A worker VM's boot configuration, as an Ignition config (spec 3.4): the format Flatcar Container Linux boots
from, and the one the project's node image (``images/node.yaml``) applies with its own small init. QEMU hands it
in through fw_cfg under Flatcar's name (``opt/org.flatcar-linux/config``), so the same config and the same
command line serve both.

What it holds is everything a node needs to join without asking anyone: its name and address (a systemd-networkd
file), the guest API's name and where it answers (``/etc/hosts``: the ingress endpoint, by SNI), the cluster CA
and the node's own client certificate (``CN=system:node:<name>``, ``O=system:nodes``, from cert-operator: no
bootstrap token to leak, and a certificate that is stored and revoked with the node), containerd's and the
kubelet's configuration, and two units. Only ``data:`` URLs: a VM fetches nothing at boot.
"""

from __future__ import annotations

import base64
import gzip
import json
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any
from urllib.parse import quote, unquote, urlsplit

import yaml

from guestkit import kubeconfig

if TYPE_CHECKING:
    import ipaddress

IGNITION_VERSION = "3.4.0"
FW_CFG_NAME = "opt/org.flatcar-linux/config"  # where Flatcar (and images/node's init) read the config
PKI = "/etc/kubernetes/pki"
KUBELET_CONFIG = "/etc/kubernetes/kubelet.yaml"
KUBELET_KUBECONFIG = "/etc/kubernetes/kubelet.conf"
NETWORK_FILE = "/etc/systemd/network/10-node.network"
CNI_BINARIES = "/usr/lib/cni"  # the node image's, from containernetworking/plugins (on Flatcar: /opt/cni/bin)
CNI_TEMPLATE = "/etc/containerd/cni.template"
REGISTRY_HOSTS = "/etc/containerd/certs.d"  # containerd's config_path: <registry>/hosts.toml
CNI_CONFLIST = "/etc/cni/net.d/10-pods.conflist"
VXLAN_OVERHEAD = 50
DEFAULT_LINK_MTU = 1450  # a VM on the mother's flannel VXLAN (1500 - 50), until the launcher knows its link
STATE_DISK_SERIAL = "kubeception-state"  # the launcher's virtio disk; udev (and nodeinit) name it by this serial
STATE_DISK = f"/dev/disk/by-id/virtio-{STATE_DISK_SERIAL}"
_SECRET = 0o600
_FILE = 0o644


@dataclass(frozen=True)
class WorkerBoot:
    """One worker VM's identity and its cluster's coordinates."""

    node: str  # the Node's name, = the VM pod's name
    api_host: str  # the guest API's name (its serving certificate has it; SNI routes by it)
    api_port: int
    api_address: ipaddress.IPv4Address | None  # where api_host answers (the ingress); None: DNS says
    ca_pem: str  # the cluster CA: verifies the API server, and the clients of the kubelet
    cert_pem: str  # the node's client certificate
    key_pem: str
    sandbox_image: str
    pod_cidr: ipaddress.IPv4Network | None = None
    """This node's pods; by default the one the guest controller-manager gives the Node (``--allocate-node-cidrs``),
    which the kubelet hands to containerd, which writes the CNI config from a template."""
    cluster_dns: ipaddress.IPv4Address | None = None
    """The guest's CoreDNS Service (:func:`kvm_operator.key.cluster_dns`): the kubelet's ``clusterDNS``."""
    cluster_domain: str = "cluster.local"
    dns_servers: tuple[ipaddress.IPv4Address, ...] = ()
    """The cluster's declared resolvers: the node's ``/etc/resolv.conf`` (what the node pulls images with, and what
    CoreDNS forwards to: its pods take the node's resolver). None: an empty one, nothing resolves off the guest."""
    labels: dict[str, str] = field(default_factory=dict)
    taints: list[str] = field(default_factory=list)  # key=value:Effect, kubelet's --register-with-taints form
    max_pods: int = 110
    registry: RegistryMirror | None = None
    """Where containerd pulls the images of the mirrored registries from (the platform registry)."""
    masquerade: bool = True
    """Whether the node's CNI masquerades what its pods send off the node. Not with the guest's pod network
    (:mod:`kvm_operator.addons.flannel`): a pod's address must reach the other nodes' pods unchanged (their
    NetworkPolicy judges it), and flanneld masquerades only what leaves the pod network."""


@dataclass(frozen=True)
class RegistryMirror:
    """The platform registry as containerd's mirror (``hosts.toml`` per mirrored registry, containerd's
    ``config_path``): ``nginx`` is pulled as ``<url>/v2/library/nginx/...``, and from ``docker.io`` only if the
    mirror fails."""

    url: str  # http(s)://host[:port]
    mirror_of: tuple[str, ...]
    address: ipaddress.IPv4Address | None = None  # where the url's host answers (/etc/hosts); None: DNS says


@dataclass(frozen=True)
class NodeNetwork:
    """Where the VM sits: known only on the host it starts on (the launcher takes an address from that host's
    lease of the cluster's network), so the launcher adds it with :func:`with_network`."""

    mac: str  # of the VM's NIC: the network file matches it, not a kernel-chosen interface name
    address: ipaddress.IPv4Interface  # the node's address and its network's prefix
    gateway: ipaddress.IPv4Address
    mtu: int | None = None


def render(boot: WorkerBoot) -> dict[str, Any]:
    """The Ignition config (a dict; :func:`dumps` gives the bytes QEMU hands in), without the node's network:
    :func:`with_network` adds it where the VM starts."""
    files = [
        _file("/etc/hostname", boot.node + "\n"),
        _file("/etc/hosts", _hosts(boot)),
        _file("/etc/resolv.conf", "".join(f"nameserver {server}\n" for server in boot.dns_servers)),
        _file(f"{PKI}/ca.crt", boot.ca_pem),
        _file(f"{PKI}/node.crt", boot.cert_pem),
        _file(f"{PKI}/node.key", boot.key_pem, mode=_SECRET),
        _file(KUBELET_KUBECONFIG, _kubelet_kubeconfig(boot), mode=_SECRET),
        _file(KUBELET_CONFIG, yaml.safe_dump(_kubelet_config(boot), sort_keys=False)),
        _file("/etc/containerd/config.toml", _containerd_config(boot)),
        *_registry_files(boot.registry),
        _cni_file(boot),
    ]
    # The state disk (containerd's images and snapshots, the kubelet's pods) is made anew at every boot: a worker
    # is replaced, never repaired in place, and a disk the kubelet measures is what its eviction works from.
    state = {"device": STATE_DISK, "format": "ext4", "wipeFilesystem": True, "label": "state"}
    return {
        "ignition": {"version": IGNITION_VERSION},
        "storage": {"filesystems": [state], "files": files},
        "systemd": {
            "units": [
                {"name": "var-lib.mount", "enabled": True, "contents": _STATE_MOUNT},
                {"name": "containerd.service", "enabled": True, "contents": _CONTAINERD_UNIT},
                {"name": "kubelet.service", "enabled": True, "contents": _kubelet_unit(boot)},
            ]
        },
    }


def with_network(config: dict[str, Any], node: str, network: NodeNetwork) -> dict[str, Any]:
    """``config`` with the node's systemd-networkd file, and its name resolving to its address (the kubelet
    reports that address as the Node's InternalIP)."""
    files = [f for f in config["storage"]["files"] if f["path"] != NETWORK_FILE]
    for entry in files:
        if entry["path"] == "/etc/hosts":
            hosts = _text(entry["contents"]["source"]) + f"{network.address.ip} {node}\n"
            entry["contents"]["source"] = _source(hosts)
    files.append(_file(NETWORK_FILE, _network(network)))
    if network.mtu:
        files = [_with_mtu(entry, pod_mtu(network.mtu)) for entry in files]
    return {**config, "storage": {**config["storage"], "files": files}}


def pod_mtu(link_mtu: int) -> int:
    """The pods' MTU under a VM link of ``link_mtu``: room for the guest's own VXLAN header (50 bytes), so pod
    traffic between VMs is never fragmented or dropped."""
    return link_mtu - VXLAN_OVERHEAD


def _with_mtu(entry: dict[str, Any], mtu: int) -> dict[str, Any]:
    """The CNI file ``entry`` with its bridge's MTU set to ``mtu`` (other files as they are)."""
    if entry["path"] not in (CNI_TEMPLATE, CNI_CONFLIST):
        return entry
    cni = json.loads(_text(entry["contents"]["source"]))
    for plugin in cni["plugins"]:
        if plugin["type"] == "bridge":
            plugin["mtu"] = mtu
    return {**entry, "contents": {"source": _source(json.dumps(cni, indent=2))}}


def with_labels(config: dict[str, Any], labels: dict[str, str]) -> dict[str, Any]:
    """``config`` with more labels for the kubelet to register its Node with (what the launcher learns only where
    the VM starts: the accelerator it runs under)."""
    units = []
    for unit in config["systemd"]["units"]:
        if unit["name"] == "kubelet.service":
            unit = {**unit, "contents": _add_labels(unit["contents"], labels)}
        units.append(unit)
    return {**config, "systemd": {**config["systemd"], "units": units}}


def _add_labels(unit: str, labels: dict[str, str]) -> str:
    added = ",".join(f"{k}={v}" for k, v in sorted(labels.items()))
    if "--node-labels=" in unit:
        return unit.replace("--node-labels=", f"--node-labels={added},", 1)
    return unit.replace("--hostname-override=", f"--node-labels={added} --hostname-override=", 1)


def dumps(config: dict[str, Any]) -> bytes:
    return json.dumps(config, sort_keys=True, separators=(",", ":")).encode()


def loads(data: bytes) -> dict[str, Any]:
    """A config as :func:`dumps` wrote it, or gzip'd (as worker pools' boot Secrets hold it)."""
    if data[:2] == b"\x1f\x8b":
        data = gzip.decompress(data)
    config: dict[str, Any] = json.loads(data)
    return config


def _file(path: str, content: str, *, mode: int = _FILE) -> dict[str, Any]:
    return {"path": path, "mode": mode, "overwrite": True, "contents": {"source": _source(content)}}


def _source(content: str) -> str:
    """A data URL: text stays readable in the config (percent-encoded); anything else is base64."""
    if content.isascii():
        return "data:," + quote(content, safe="")
    return "data:;base64," + base64.b64encode(content.encode()).decode()


def _text(source: str) -> str:
    """What :func:`_source` encoded."""
    meta, _, payload = source.removeprefix("data:").partition(",")
    return base64.b64decode(payload).decode() if meta.endswith(";base64") else unquote(payload)


def _hosts(boot: WorkerBoot) -> str:
    api = f"{boot.api_address} {boot.api_host}\n" if boot.api_address else ""
    registry = ""
    if boot.registry is not None and boot.registry.address is not None:
        registry = f"{boot.registry.address} {urlsplit(boot.registry.url).hostname}\n"
    return f"127.0.0.1 localhost\n{api}{registry}"


def _registry_files(mirror: RegistryMirror | None) -> list[dict[str, Any]]:
    """One ``hosts.toml`` per mirrored registry: the mirror first, for pulls and tag resolution (a plain-HTTP
    mirror by its ``http://`` scheme), then the registry itself (containerd's default ``server``)."""
    if mirror is None:
        return []
    hosts = f'[host."{mirror.url}"]\n  capabilities = ["pull", "resolve"]\n'
    return [_file(f"{REGISTRY_HOSTS}/{registry}/hosts.toml", hosts) for registry in mirror.mirror_of]


def _network(network: NodeNetwork) -> str:
    link = f"[Link]\nMTUBytes={network.mtu}\n\n" if network.mtu else ""
    return (
        f"[Match]\nMACAddress={network.mac}\n\n{link}"
        f"[Network]\nAddress={network.address.with_prefixlen}\nGateway={network.gateway}\n"
    )


def _kubelet_kubeconfig(boot: WorkerBoot) -> str:
    cluster = {
        "server": f"https://{boot.api_host}:{boot.api_port}",
        "certificate-authority": f"{PKI}/ca.crt",
        "tls-server-name": boot.api_host,
    }
    user = {"client-certificate": f"{PKI}/node.crt", "client-key": f"{PKI}/node.key"}
    return kubeconfig("guest", f"system:node:{boot.node}", cluster, user)


def _kubelet_config(boot: WorkerBoot) -> dict[str, Any]:
    return {
        "apiVersion": "kubelet.config.k8s.io/v1beta1",
        "kind": "KubeletConfiguration",
        "cgroupDriver": "cgroupfs",  # no systemd in the node image (on Flatcar: systemd)
        "containerRuntimeEndpoint": "unix:///run/containerd/containerd.sock",
        "readOnlyPort": 0,
        "authentication": {
            "anonymous": {"enabled": False},
            "webhook": {"enabled": True},
            "x509": {"clientCAFile": f"{PKI}/ca.crt"},
        },
        "authorization": {"mode": "Webhook"},
        "clusterDNS": [str(boot.cluster_dns)] if boot.cluster_dns else [],
        "clusterDomain": boot.cluster_domain,
        "resolvConf": "/etc/resolv.conf",
        "maxPods": boot.max_pods,
        "serializeImagePulls": False,
        "failSwapOn": False,
        "registerWithTaints": [_taint(t) for t in boot.taints],
        "evictionHard": {"memory.available": "100Mi", "nodefs.available": "10%", "imagefs.available": "10%"},
    }


def _taint(taint: str) -> dict[str, str]:
    key_value, effect = taint.rsplit(":", 1)
    key, _, value = key_value.partition("=")
    return {"key": key, "value": value, "effect": effect} if value else {"key": key, "effect": effect}


def _kubelet_unit(boot: WorkerBoot) -> str:
    flags = [
        f"--config={KUBELET_CONFIG}",
        f"--kubeconfig={KUBELET_KUBECONFIG}",
        f"--hostname-override={boot.node}",
    ]
    if boot.labels:
        flags.append("--node-labels=" + ",".join(f"{k}={v}" for k, v in sorted(boot.labels.items())))
    return (
        "[Unit]\nDescription=kubelet\nAfter=containerd.service\nRequires=containerd.service\n\n"
        "[Service]\nExecStart=/usr/local/bin/kubelet " + " ".join(flags) + "\n"
        "Restart=always\nRestartSec=2\n\n[Install]\nWantedBy=multi-user.target\n"
    )


_STATE_MOUNT = (
    "[Unit]\nDescription=the VM's state disk\nBefore=containerd.service\n\n"
    f"[Mount]\nWhat={STATE_DISK}\nWhere=/var/lib\nType=ext4\n\n[Install]\nWantedBy=local-fs.target\n"
)

_CONTAINERD_UNIT = (
    "[Unit]\nDescription=containerd\n\n"
    "[Service]\nExecStart=/usr/local/bin/containerd --config /etc/containerd/config.toml\n"
    "Restart=always\nRestartSec=1\n\n[Install]\nWantedBy=multi-user.target\n"
)


def _containerd_config(boot: WorkerBoot) -> str:
    runtime = '"io.containerd.cri.v1.runtime"'
    return f"""version = 3
disabled_plugins = ["io.containerd.snapshotter.v1.btrfs", "io.containerd.snapshotter.v1.zfs",
  "io.containerd.snapshotter.v1.devmapper", "io.containerd.internal.v1.tracing"]

[plugins.{runtime}.cni]
  bin_dirs = ["{CNI_BINARIES}"]
  conf_dir = "/etc/cni/net.d"
  conf_template = "{CNI_TEMPLATE}"

[plugins.{runtime}.containerd.runtimes.runc]
  runtime_type = "io.containerd.runc.v2"

[plugins."io.containerd.cri.v1.images".registry]
  config_path = "{REGISTRY_HOSTS}"

[plugins."io.containerd.cri.v1.images".pinned_images]
  sandbox = "{boot.sandbox_image}"
"""


def _cni_file(boot: WorkerBoot) -> dict[str, Any]:
    """A fixed CNI config when the boot names the node's pod range, else containerd's template for it."""
    if boot.pod_cidr is not None:
        return _file(CNI_CONFLIST, json.dumps(_cni(str(boot.pod_cidr), boot.masquerade), indent=2))
    return _file(CNI_TEMPLATE, json.dumps(_cni("{{.PodCIDR}}", boot.masquerade), indent=2))


def _cni(pod_cidr: str, masquerade: bool) -> dict[str, Any]:
    """The pods' network on the VM: a bridge that is their gateway and their default route (Services' ClusterIPs
    and everything off the VM go through the node, where kube-proxy's rules and its routes take them on), hairpin
    (a pod reaching itself through its Service), masquerade of what leaves the node's pod range unless the
    guest's pod network does it (:attr:`WorkerBoot.masquerade`), an MTU under the VM's link (:func:`with_network`
    sets it from the lease), and host ports by ``portmap`` (the nftables one: the node has no iptables)."""
    return {
        "cniVersion": "1.0.0",
        "name": "pods",
        "plugins": [
            {
                "type": "bridge",
                "bridge": "cni0",
                "isGateway": True,
                "isDefaultGateway": True,
                "hairpinMode": True,
                "ipMasq": masquerade,  # pods reach past the VM (the API's address, the resolvers) as the node
                "ipMasqBackend": "nftables",
                "mtu": pod_mtu(DEFAULT_LINK_MTU),
                "ipam": {"type": "host-local", "ranges": [[{"subnet": pod_cidr}]]},
            },
            {"type": "portmap", "capabilities": {"portMappings": True}, "backend": "nftables"},
        ],
    }
