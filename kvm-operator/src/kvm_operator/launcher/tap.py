"""A VM's tap on its cluster's bridge, held open by the launcher and handed to QEMU as a descriptor.

The tap is not persistent: the kernel removes it when the last descriptor closes, so a launcher killed before its
own clean-up (a pod's grace period running out under load) leaves no link behind on the node. That is how
libvirt hands taps to QEMU, too.

No tap goes on a bridge whose confinement table (``inet kubeception-<bridge>``, flannel-operator's, loaded before it
makes the bridge) is missing: a tenant is root on its VM, and a VM on an unconfined bridge reaches the platform.

The bridge's table judges by address, so each tap gets a guard of its own (:func:`guard`, ``netdev
kubeception-<tap>``, on the tap's ingress, before the bridge sees a frame): a VM sends only IPv4 and ARP, from its
own MAC and its own address — it cannot answer ARP for its gateway or a sibling VM, take their traffic, or send as
them. The guard is loaded before QEMU starts and deleted with the tap; one left by a launcher killed before its
clean-up matches no device, and the VM's next start on this host replaces it.
"""

from __future__ import annotations

import fcntl
import hashlib
import os
import struct
import subprocess
from typing import TYPE_CHECKING

from operatorkit.platform import confinement_table

if TYPE_CHECKING:
    import ipaddress

# linux/if_tun.h: a tap (Ethernet frames), without the packet-information header QEMU does not expect, with the
# virtio-net header QEMU would ask for itself (checksum and segmentation offloads).
TUNSETIFF = 0x400454CA
IFF_TAP = 0x0002
IFF_NO_PI = 0x1000
IFF_VNET_HDR = 0x4000


def tap_name(name: str, bridge: str) -> str:
    """``vm`` + 10 hex characters of a hash of the bridge's and the VM's names, within Linux's 15 characters: VMs
    of two clusters (two bridges) with the same node name on one host get taps of their own."""
    return "vm" + hashlib.sha256(f"{bridge}/{name}".encode()).hexdigest()[:10]


def guard_table(tap: str) -> str:
    """The tap's guard: ``netdev kubeception-<tap>`` (tap names are unique on a host: :func:`tap_name`)."""
    return f"kubeception-{tap}"


def guard(tap: str, mac: str, address: ipaddress.IPv4Address | None) -> str:
    """The tap's guard, replacing any of that name in one transaction (``nft -f -``): frames from the VM other than
    IPv4 and ARP, or not from ``mac``, or (with ``address``) ARP or IPv4 not from ``address``, are dropped."""
    table = guard_table(tap)
    rules = [
        'ether type != { ip, arp } drop comment "IPv4 and ARP only: no IPv6, VLAN tags or other protocols"',
        f'ether saddr != {mac} drop comment "not the VM\'s own MAC"',
        f'arp saddr ether != {mac} drop comment "ARP for a MAC not its own"',
    ]
    if address is not None:
        rules += [
            # 0.0.0.0: an ARP probe (RFC 5227) before an address is taken
            f'arp saddr ip != {{ {address}, 0.0.0.0 }} drop comment "ARP for an address not its own"',
            f'ip saddr != {address} drop comment "IPv4 from an address not its own"',
        ]
    body = "\n".join(f"    {rule}" for rule in rules)
    return (
        f"table netdev {table}\ndelete table netdev {table}\n"
        f"table netdev {table} {{\n  chain ingress {{\n"
        f'    type filter hook ingress device "{tap}" priority -500; policy accept;\n{body}\n  }}\n}}\n'
    )


def _nft(script: str) -> None:
    result = subprocess.run(["nft", "-f", "-"], input=script, capture_output=True, text=True, check=False)
    if result.returncode != 0:
        raise RuntimeError(f"nft -f: {result.stderr.strip()}")


def link_exists(name: str) -> bool:
    return os.path.exists(f"/sys/class/net/{name}")


def _ip(*args: str, check: bool = True) -> None:
    result = subprocess.run(["ip", *args], capture_output=True, text=True, check=False)
    if check and result.returncode != 0:
        raise RuntimeError(f"ip {' '.join(args)}: {result.stderr.strip()}")


def check_confined(bridge: str) -> None:
    """RuntimeError unless ``bridge``'s confinement table exists in this network namespace."""
    table = confinement_table(bridge)
    try:
        result = subprocess.run(["nft", "list", "table", "inet", table], capture_output=True, text=True, check=False)
    except OSError as error:
        result = subprocess.CompletedProcess([], 1, "", str(error))
    if result.returncode != 0:
        said = result.stderr.strip().splitlines()[:1]
        raise RuntimeError(
            f"bridge {bridge} is not confined: nft list table inet {table} failed ({said[0] if said else 'no output'})."
            " flannel-operator's bridge container loads that table before it creates the bridge; no VM is attached"
            " to a bridge without it"
        )


class Tap:
    """The tap ``name`` on ``bridge``: :meth:`open` makes it and returns its descriptor, :meth:`close` lets it go."""

    def __init__(self, name: str, bridge: str) -> None:
        self.name, self.bridge = name, bridge
        self.fd: int | None = None
        self.guarded = False

    def open(self) -> int:
        check_confined(self.bridge)
        # The name derives from the VM's: a tap left by an earlier run of the same VM (a persistent one of an older
        # launcher) is ours to replace; a link of that name that is no tap is someone else's, and left alone.
        if link_exists(self.name):
            if not os.path.exists(f"/sys/class/net/{self.name}/tun_flags"):
                raise RuntimeError(f"link {self.name} exists and is not a tap of this launcher: not touching it")
            _ip("link", "delete", self.name)
        self.fd = os.open("/dev/net/tun", os.O_RDWR | os.O_CLOEXEC)
        try:
            fcntl.ioctl(
                self.fd, TUNSETIFF, struct.pack("16sH22x", self.name.encode(), IFF_TAP | IFF_NO_PI | IFF_VNET_HDR)
            )
            _ip("link", "set", self.name, "master", self.bridge)
            _ip("link", "set", self.name, "up")
        except (OSError, RuntimeError):
            self.close()
            raise
        return self.fd

    def guard(self, mac: str, address: ipaddress.IPv4Address | None) -> None:
        """Load the tap's guard (:func:`guard`): before QEMU starts, so the VM's first frame meets it."""
        _nft(guard(self.name, mac, address))
        self.guarded = True

    def close(self) -> None:
        """Closing the launcher's descriptor removes the tap once QEMU's copy is closed too (QEMU has exited); the
        guard goes with it."""
        if self.guarded:
            table = guard_table(self.name)
            _nft(f"table netdev {table}\ndelete table netdev {table}\n")
            self.guarded = False
        if self.fd is not None:
            os.close(self.fd)
            self.fd = None
