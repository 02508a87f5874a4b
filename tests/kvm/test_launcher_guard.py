"""The tap's guard in a real kernel, without a VM: a network namespace stands in for the host (the cluster's bridge,
the gateway's address, a listening port), another for the VM (a veth for its tap). A root tenant on the VM changes
its address to a sibling's, its MAC, and sends ARP for an address not its own: each works without the guard (the
control) and is dropped with it, while the VM as itself still reaches the gateway. The guard is loaded and removed
by the launcher's own code (:class:`kvm_operator.launcher.tap.Tap`)."""

from __future__ import annotations

import ipaddress
import subprocess
import sys
import uuid
from typing import TYPE_CHECKING

import pytest

from kubeception_testenv import wait_for
from kubeception_testenv.network import run
from kvm_operator.launcher.tap import guard, guard_table

if TYPE_CHECKING:
    from collections.abc import Iterator

pytestmark = pytest.mark.servers

BRIDGE, TAP = "br-guard", "vmguardtest"
GATEWAY, OWN, SIBLING = "10.64.1.1", "10.64.1.10", "10.64.1.11"
MAC, OTHER_MAC = "02:00:00:00:00:0a", "02:00:00:00:00:0b"
PORT = 7000
LISTEN = f"""
import socket, sys
server = socket.create_server(("{GATEWAY}", {PORT}), backlog=64)
print("listening", flush=True)
sys.stdin.read()
"""
GUARD = f"""
import ipaddress, sys
from kvm_operator.launcher.tap import Tap
tap = Tap("{TAP}", "{BRIDGE}")
tap.guard("{MAC}", ipaddress.IPv4Address("{OWN}"))
print("guarded", flush=True)
sys.stdin.read()
tap.close()
"""
CONNECT = """
import socket, sys
try:
    socket.create_connection((sys.argv[1], int(sys.argv[2])), timeout=2).close()
except OSError as error:
    sys.exit(f"{error}")
"""


@pytest.fixture
def namespaces() -> Iterator[tuple[str, str]]:
    """(host, vm): the VM's ``eth0`` (its tap's peer) with its own MAC and address, on the host's bridge."""
    suffix = uuid.uuid4().hex[:6]
    host, vm = f"kcguard-{suffix}-host", f"kcguard-{suffix}-vm"
    run("ip", "netns", "add", host)
    run("ip", "netns", "add", vm)
    try:
        run("ip", "link", "add", BRIDGE, "type", "bridge", netns=host)
        run("ip", "addr", "add", f"{GATEWAY}/24", "dev", BRIDGE, netns=host)
        run("ip", "link", "add", TAP, "type", "veth", "peer", "name", "eth0", "netns", vm, netns=host)
        run("ip", "link", "set", TAP, "master", BRIDGE, netns=host)
        for link in (BRIDGE, TAP):
            run("ip", "link", "set", link, "up", netns=host)
        run("ip", "link", "set", "eth0", "address", MAC, netns=vm)
        run("ip", "addr", "add", f"{OWN}/24", "dev", "eth0", netns=vm)
        run("ip", "link", "set", "eth0", "up", netns=vm)
        yield host, vm
    finally:
        run("ip", "netns", "delete", vm, check=False)
        run("ip", "netns", "delete", host, check=False)


def started(netns: str, code: str, says: str) -> subprocess.Popen[str]:
    """A Python process in ``netns`` that has printed ``says`` (its readiness), held until its stdin closes."""
    process = subprocess.Popen(
        ["ip", "netns", "exec", netns, sys.executable, "-c", code],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    assert process.stdout is not None
    line = process.stdout.readline().strip()
    assert line == says, process.stderr.read() if process.stderr else line
    return process


def finish(process: subprocess.Popen[str]) -> None:
    assert process.stdin is not None
    process.stdin.close()
    assert process.wait(timeout=30) == 0, process.stderr.read() if process.stderr else ""


def reaches_gateway(vm: str) -> bool:
    connect = subprocess.run(
        ["ip", "netns", "exec", vm, sys.executable, "-c", CONNECT, GATEWAY, str(PORT)],
        capture_output=True,
        text=True,
        check=False,
        timeout=30,
    )
    return connect.returncode == 0


def as_sibling(host: str, vm: str, reaches: bool) -> None:
    """The VM takes its sibling's address, tries the gateway, and takes its own back (the host forgets what it
    learned meanwhile)."""
    run("ip", "addr", "flush", "dev", "eth0", netns=vm)
    run("ip", "addr", "add", f"{SIBLING}/24", "dev", "eth0", netns=vm)
    try:
        assert reaches_gateway(vm) is reaches
    finally:
        run("ip", "addr", "flush", "dev", "eth0", netns=vm)
        run("ip", "addr", "add", f"{OWN}/24", "dev", "eth0", netns=vm)
        run("ip", "neigh", "flush", "dev", BRIDGE, netns=host)


def with_mac(vm: str, mac: str, reaches: bool) -> None:
    run("ip", "link", "set", "eth0", "address", mac, netns=vm)
    try:
        assert reaches_gateway(vm) is reaches
    finally:
        run("ip", "link", "set", "eth0", "address", MAC, netns=vm)


def arp_request(vm: str, sender_ip: str) -> None:
    """An ARP request "who has the gateway? tell ``sender_ip``" from the VM's MAC, as raw Ethernet: the host answers
    and learns ``sender_ip`` at that MAC."""
    code = f"""
import socket
mac = bytes.fromhex("{MAC.replace(":", "")}")
arp = (bytes.fromhex("0001 0800 06 04 0001") + mac + socket.inet_aton("{sender_ip}")
       + bytes(6) + socket.inet_aton("{GATEWAY}"))
with socket.socket(socket.AF_PACKET, socket.SOCK_RAW) as raw:
    raw.bind(("eth0", 0))
    raw.send(b"\\xff" * 6 + mac + bytes.fromhex("0806") + arp)
"""
    run("ip", "netns", "exec", vm, sys.executable, "-c", code)


def learned(host: str, address: str) -> str:
    return run("ip", "neigh", "show", address, "dev", BRIDGE, netns=host).stdout


def spoofed_arp_is_learned(host: str, vm: str) -> bool:
    """Send an ARP request as the sibling, then one as itself: once the host learned the second, it has judged the
    first (one queue, in order)."""
    run("ip", "neigh", "flush", "dev", BRIDGE, netns=host)
    arp_request(vm, SIBLING)
    arp_request(vm, OWN)
    wait_for(lambda: MAC in learned(host, OWN), timeout=10, message="the host learned the VM's own address")
    return MAC in learned(host, SIBLING)


def test_a_vm_sends_only_as_itself_once_its_tap_is_guarded(namespaces):
    host, vm = namespaces
    listener = started(host, LISTEN, "listening")
    try:
        # Without the guard (the control): the VM reaches the gateway as itself, as its sibling, under another MAC,
        # and the host believes its ARP for the sibling's address.
        assert reaches_gateway(vm)
        as_sibling(host, vm, reaches=True)
        with_mac(vm, OTHER_MAC, reaches=True)
        assert spoofed_arp_is_learned(host, vm)

        guarded = started(host, GUARD, "guarded")
        listed = run("nft", "list", "table", "netdev", guard_table(TAP), netns=host).stdout
        assert f'hook ingress device "{TAP}"' in listed, listed
        assert reaches_gateway(vm), "as itself, the VM is not hindered"
        as_sibling(host, vm, reaches=False)
        with_mac(vm, OTHER_MAC, reaches=False)
        assert not spoofed_arp_is_learned(host, vm)
        assert reaches_gateway(vm)

        finish(guarded)  # the launcher's clean-up: the guard goes with the tap
        assert guard_table(TAP) not in run("nft", "list", "tables", netns=host).stdout
    finally:
        finish(listener)


def test_the_guard_names_the_tap_mac_and_address():
    script = guard("vm0123456789", "02:00:00:00:00:0a", ipaddress.IPv4Address("10.64.1.10"))
    table = "table netdev kubeception-vm0123456789"
    assert script.startswith(f"{table}\ndelete {table}\n{table} {{"), "replaced in one transaction"
    assert 'hook ingress device "vm0123456789" priority -500' in script
    assert "ether type != { ip, arp } drop" in script
    assert "ether saddr != 02:00:00:00:00:0a drop" in script
    assert "arp saddr ip != { 10.64.1.10, 0.0.0.0 } drop" in script
    assert "ip saddr != 10.64.1.10 drop" in script
    bare = guard("vm0123456789", "02:00:00:00:00:0a", None)
    assert "ip saddr" not in bare, "no lease: the MAC alone"
