"""The worker boot configuration (pure logic; tests/vm boots it in a real VM and runs Ignition's validator)."""

from __future__ import annotations

import dataclasses
import gzip
import ipaddress
import json
import tomllib
from typing import Any
from urllib.parse import unquote

import yaml

from kvm_operator import bootconfig

BOOT = bootconfig.WorkerBoot(
    node="c1-default-0",
    api_host="api.c1.kubeception.test",
    api_port=443,
    api_address=ipaddress.IPv4Address("10.1.0.5"),
    ca_pem="-----BEGIN CERTIFICATE-----\nCA\n-----END CERTIFICATE-----\n",
    cert_pem="-----BEGIN CERTIFICATE-----\nNODE\n-----END CERTIFICATE-----\n",
    key_pem="-----BEGIN EC PRIVATE KEY-----\nKEY\n-----END EC PRIVATE KEY-----\n",
    pod_cidr=ipaddress.IPv4Network("10.244.3.0/24"),
    sandbox_image="ghcr.io/kubeception/pause:0.2.0",
    labels={"kubeception.io/pool": "default"},
    taints=["dedicated=gpu:NoSchedule", "spot:PreferNoSchedule"],
    cluster_dns=ipaddress.IPv4Address("172.31.0.10"),
    dns_servers=(ipaddress.IPv4Address("10.1.0.53"), ipaddress.IPv4Address("10.1.0.54")),
)


def files(config: dict[str, Any]) -> dict[str, tuple[int, str]]:
    return {
        f["path"]: (f["mode"], unquote(f["contents"]["source"].removeprefix("data:,")))
        for f in config["storage"]["files"]
    }


def test_the_node_joins_by_name_through_the_ingress_with_its_own_certificate():
    config = bootconfig.render(BOOT)
    written = files(config)
    assert config["ignition"]["version"] == "3.4.0"
    assert written["/etc/kubernetes/pki/node.key"] == (0o600, BOOT.key_pem), "the key is readable by root only"
    assert written["/etc/kubernetes/kubelet.conf"][0] == 0o600
    kubeconfig = yaml.safe_load(written["/etc/kubernetes/kubelet.conf"][1])
    cluster = kubeconfig["clusters"][0]["cluster"]
    assert cluster["server"] == "https://api.c1.kubeception.test:443"
    assert cluster["tls-server-name"] == "api.c1.kubeception.test", "SNI picks the cluster's route"
    assert kubeconfig["users"][0]["name"] == "system:node:c1-default-0"
    assert "10.1.0.5 api.c1.kubeception.test" in written["/etc/hosts"][1]
    assert bootconfig.NETWORK_FILE not in written, "the host the VM starts on gives its address"


def test_the_launcher_adds_the_network_where_the_vm_starts():
    network = bootconfig.NodeNetwork(
        "02:00:00:00:00:01", ipaddress.IPv4Interface("10.1.2.10/24"), ipaddress.IPv4Address("10.1.2.1"), 1450
    )
    config = bootconfig.with_network(bootconfig.render(BOOT), BOOT.node, network)
    written = files(config)
    assert written[bootconfig.NETWORK_FILE][1] == (
        "[Match]\nMACAddress=02:00:00:00:00:01\n\n[Link]\nMTUBytes=1450\n\n"
        "[Network]\nAddress=10.1.2.10/24\nGateway=10.1.2.1\n"
    )
    assert written["/etc/hosts"][1].endswith("10.1.2.10 c1-default-0\n"), "the kubelet's InternalIP"
    again = bootconfig.with_network(config, BOOT.node, network)
    assert [f["path"] for f in again["storage"]["files"]].count(bootconfig.NETWORK_FILE) == 1


def test_kubelet_config_units_and_state_disk():
    config = bootconfig.render(BOOT)
    written = files(config)
    kubelet = yaml.safe_load(written[bootconfig.KUBELET_CONFIG][1])
    assert kubelet["authentication"]["anonymous"]["enabled"] is False
    assert kubelet["authorization"]["mode"] == "Webhook"
    assert kubelet["registerWithTaints"] == [
        {"key": "dedicated", "value": "gpu", "effect": "NoSchedule"},
        {"key": "spot", "effect": "PreferNoSchedule"},
    ]
    assert json.loads(written["/etc/cni/net.d/10-pods.conflist"][1])["plugins"][0]["ipam"]["ranges"] == [
        [{"subnet": "10.244.3.0/24"}]
    ]
    assert 'sandbox = "ghcr.io/kubeception/pause:0.2.0"' in written["/etc/containerd/config.toml"][1]
    units = config["systemd"]["units"]
    assert [u["name"] for u in units] == ["var-lib.mount", "containerd.service", "kubelet.service"]
    assert "--node-labels=kubeception.io/pool=default" in units[2]["contents"]
    assert config["storage"]["filesystems"] == [
        {"device": bootconfig.STATE_DISK, "format": "ext4", "wipeFilesystem": True, "label": "state"}
    ]


def test_without_a_pod_range_containerd_writes_the_cni_config_from_the_node_s():
    written = files(bootconfig.render(dataclasses.replace(BOOT, pod_cidr=None)))
    assert "/etc/cni/net.d/10-pods.conflist" not in written
    template = json.loads(written[bootconfig.CNI_TEMPLATE][1])
    assert template["plugins"][0]["ipam"]["ranges"] == [[{"subnet": "{{.PodCIDR}}"}]]
    assert f'conf_template = "{bootconfig.CNI_TEMPLATE}"' in written["/etc/containerd/config.toml"][1]


def test_the_same_boot_renders_the_same_bytes():
    assert bootconfig.dumps(bootconfig.render(BOOT)) == bootconfig.dumps(bootconfig.render(BOOT))


def test_the_launcher_adds_the_accelerator_label_and_reads_gzipped_configs():
    config = bootconfig.render(BOOT)
    labelled = bootconfig.with_labels(config, {"kubeception.io/accelerator": "tcg"})
    kubelet = next(u for u in labelled["systemd"]["units"] if u["name"] == "kubelet.service")["contents"]
    assert "--node-labels=kubeception.io/accelerator=tcg,kubeception.io/pool=default\n" in kubelet
    bare = bootconfig.render(dataclasses.replace(BOOT, labels={}, api_address=None))
    kubelet = next(u for u in bootconfig.with_labels(bare, {"a": "b"})["systemd"]["units"] if "kubelet" in u["name"])
    assert "--node-labels=a=b --hostname-override=c1-default-0" in kubelet["contents"]
    assert "api.c1" not in files(bare)["/etc/hosts"][1], "no address: DNS resolves the API's name"
    packed = gzip.compress(bootconfig.dumps(config), mtime=0)
    assert (
        bootconfig.loads(packed) == bootconfig.loads(bootconfig.dumps(config)) == json.loads(bootconfig.dumps(config))
    )


def test_the_node_resolves_through_the_cluster_s_servers_and_its_pods_through_cluster_dns():
    written = files(bootconfig.render(BOOT))
    assert written["/etc/resolv.conf"][1] == "nameserver 10.1.0.53\nnameserver 10.1.0.54\n"
    kubelet = yaml.safe_load(written[bootconfig.KUBELET_CONFIG][1])
    assert kubelet["clusterDNS"] == ["172.31.0.10"]
    assert kubelet["clusterDomain"] == "cluster.local"
    assert kubelet["resolvConf"] == "/etc/resolv.conf"
    bare = files(bootconfig.render(dataclasses.replace(BOOT, dns_servers=())))
    assert bare["/etc/resolv.conf"][1] == "", "no declared servers: nothing resolves off the node"


def test_pods_have_a_default_route_hairpin_masquerade_and_host_ports():
    cni = json.loads(files(bootconfig.render(BOOT))["/etc/cni/net.d/10-pods.conflist"][1])
    bridge, portmap = cni["plugins"]
    assert bridge["type"] == "bridge"
    assert bridge["isGateway"] is True
    assert bridge["isDefaultGateway"] is True, "Services and the world via the node"
    assert bridge["hairpinMode"] is True
    assert bridge["ipMasq"] is True
    assert bridge["ipMasqBackend"] == "nftables"
    assert bridge["mtu"] == 1400, "under a VM link on the mother's VXLAN (1450), room for the guest's own"
    assert portmap == {"type": "portmap", "capabilities": {"portMappings": True}, "backend": "nftables"}
    joined_boot = dataclasses.replace(BOOT, masquerade=False)
    joined = json.loads(files(bootconfig.render(joined_boot))[bootconfig.CNI_CONFLIST][1])
    assert joined["plugins"][0]["ipMasq"] is False, "with the guest's pod network, flanneld masquerades (off it only)"


def test_the_pods_mtu_follows_the_vm_s_link():
    network = bootconfig.NodeNetwork(
        "02:00:00:00:00:01", ipaddress.IPv4Interface("10.1.2.10/24"), ipaddress.IPv4Address("10.1.2.1"), 1500
    )
    for boot in (BOOT, dataclasses.replace(BOOT, pod_cidr=None)):
        config = bootconfig.with_network(bootconfig.render(boot), boot.node, network)
        written = files(config)
        path = bootconfig.CNI_CONFLIST if boot.pod_cidr else bootconfig.CNI_TEMPLATE
        assert json.loads(written[path][1])["plugins"][0]["mtu"] == 1450


def test_images_by_name_come_from_the_platform_registry_as_containerd_s_mirror():
    mirror = bootconfig.RegistryMirror(
        "http://registry.kubeception.test:5000", ("docker.io", "ghcr.io"), ipaddress.IPv4Address("10.1.0.7")
    )
    written = files(bootconfig.render(dataclasses.replace(BOOT, registry=mirror)))
    assert 'config_path = "/etc/containerd/certs.d"' in written["/etc/containerd/config.toml"][1]
    for registry in ("docker.io", "ghcr.io"):
        hosts = tomllib.loads(written[f"/etc/containerd/certs.d/{registry}/hosts.toml"][1])
        assert hosts == {"host": {"http://registry.kubeception.test:5000": {"capabilities": ["pull", "resolve"]}}}
    assert "10.1.0.7 registry.kubeception.test\n" in written["/etc/hosts"][1], "the mirror's name resolves"
    bare = files(bootconfig.render(BOOT))
    assert not [path for path in bare if path.startswith("/etc/containerd/certs.d/")]
    assert bare["/etc/hosts"][1] == "127.0.0.1 localhost\n10.1.0.5 api.c1.kubeception.test\n"
