"""The launcher's address claims on a host's flannel lease (pure logic on files in a temporary directory)."""

from __future__ import annotations

import ipaddress
from typing import TYPE_CHECKING

import pytest

from kvm_operator.launcher.address import AddressClaims, Lease, read_lease

if TYPE_CHECKING:
    from pathlib import Path

LEASE = Lease(ipaddress.IPv4Interface("10.1.5.1/29"), 1450)  # the bridge .1, VMs .2-.6


def claims(tmp_path: Path, running: set[str]) -> AddressClaims:
    return AddressClaims(tmp_path / "br-c1.vms", LEASE, lambda name: name in running)


def test_a_lease_is_read_from_flanneld_s_subnet_file(tmp_path: Path):
    path = tmp_path / "br-c1.env"
    path.write_text("FLANNEL_NETWORK=10.1.0.0/16\nFLANNEL_SUBNET=10.1.5.1/24\nFLANNEL_MTU=1450\nFLANNEL_IPMASQ=false\n")
    assert read_lease(path) == Lease(ipaddress.IPv4Interface("10.1.5.1/24"), 1450)
    path.write_text("FLANNEL_NETWORK=10.1.0.0/16\n")
    with pytest.raises(ValueError, match="not a flannel subnet file"):
        read_lease(path)


def test_vms_get_distinct_addresses_never_the_bridge_s_and_keep_theirs(tmp_path: Path):
    running = {"a", "b"}
    host = claims(tmp_path, running)
    a, b = host.claim("a"), host.claim("b")
    assert (str(a), str(b)) == ("10.1.5.2/29", "10.1.5.3/29")
    assert host.claim("a") == a, "a VM restarted in its pod takes its own address again"
    host.release("a")
    running.discard("a")
    assert host.claim("c") == a, "a released address is free"


def test_a_stale_claim_is_taken_over_and_a_full_lease_refused(tmp_path: Path):
    running = {"a", "b", "c", "d", "e"}
    host = claims(tmp_path, running)
    for name in sorted(running):
        host.claim(name)
    with pytest.raises(RuntimeError, match=r"no free address in 10\.1\.5\.0/29"):
        host.claim("f")
    running.discard("c")  # its pod was killed: its tap is gone, its claim left behind
    assert str(host.claim("f")) == "10.1.5.4/29"
    assert (tmp_path / "br-c1.vms" / "10.1.5.4").read_text() == "f\n"
