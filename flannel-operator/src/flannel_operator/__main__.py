"""``python -m flannel_operator``: the flannel-operator process (operatorkit's common flags plus its own)."""

from __future__ import annotations

import ipaddress
import sys
from typing import TYPE_CHECKING, Any

from flannel_operator import metrics
from flannel_operator.allocator import Allocator
from flannel_operator.controller import flannel_controller
from flannel_operator.etcd import EtcdSettings, NetworkStore
from flannel_operator.settings import FlannelSettings
from operatorkit.cli import main

if TYPE_CHECKING:
    import argparse
    from collections.abc import Sequence

    from operatorkit import Controller, KubeClient
    from operatorkit.cli import Options


def add_arguments(parser: argparse.ArgumentParser) -> None:
    group = parser.add_argument_group("flannel")
    group.add_argument("--etcd-endpoint", required=True, help="the mother's etcd, http(s)://host:port")
    group.add_argument("--etcd-prefix", default="/coreos.com/network", help="base of the per-cluster prefixes")
    group.add_argument("--etcd-ca-file")
    group.add_argument("--etcd-cert-file")
    group.add_argument("--etcd-key-file")
    group.add_argument("--network-pool", default="10.64.0.0/10", help="CIDR networks are allocated from")
    group.add_argument(
        "--network-prefix",
        type=int,
        default=18,
        help="size of an allocated network (/18: 256 clusters in the default pool, 64 hosts each)",
    )
    group.add_argument("--vni-range", default="1000-9999", help="VNIs allocated from, inclusive")
    group.add_argument("--node-selector", default="", help="label selector of the hosts, key=value[,key=value]")
    group.add_argument("--flannel-image", default="quay.io/coreos/flannel:v0.26.7")
    group.add_argument("--tools-image", default="docker.io/library/alpine:3.22")
    group.add_argument(
        "--health-port-base",
        type=int,
        default=21000,
        help="flanneld health ports are this + VNI mod 40000 (at most 24535 to stay below 65536)",
    )


def settings_from(extra: dict[str, Any]) -> FlannelSettings:
    low, _, high = extra["vni_range"].partition("-")
    allocator = Allocator(ipaddress.IPv4Network(extra["network_pool"]), extra["network_prefix"], (int(low), int(high)))
    etcd = NetworkStore(
        EtcdSettings(
            extra["etcd_endpoint"],
            extra["etcd_prefix"],
            extra["etcd_ca_file"],
            extra["etcd_cert_file"],
            extra["etcd_key_file"],
        )
    )
    selector = dict(pair.split("=", 1) for pair in extra["node_selector"].split(",") if pair)
    return FlannelSettings(
        allocator=allocator,
        etcd=etcd,
        node_selector=selector,
        flannel_image=extra["flannel_image"],
        tools_image=extra["tools_image"],
        health_port_base=extra["health_port_base"],
    )


def build(options: Options, client: KubeClient) -> Sequence[Controller[Any]]:
    settings = settings_from(options.extra)
    metrics.register(settings.allocator)
    return [flannel_controller(settings, workers=options.workers, resync_period=options.resync_period)]


if __name__ == "__main__":
    sys.exit(main("flannel-operator", build, add_arguments=add_arguments))
