"""The launcher's tap, for real, in a network namespace the test makes: on the bridge while the launcher holds it,
gone with the launcher even when it is killed before its clean-up (the grace period of a VM pod running out), and
never on a bridge without its confinement table."""

from __future__ import annotations

import subprocess
import sys
import uuid
from typing import TYPE_CHECKING

import pytest

from kubeception_testenv import wait_for
from kubeception_testenv.network import run
from operatorkit.platform import confinement_table

if TYPE_CHECKING:
    from collections.abc import Iterator

pytestmark = pytest.mark.servers

BRIDGE = "br-tap-test"
HOLD = """
import sys
from kvm_operator.launcher.tap import Tap
tap = Tap(sys.argv[1], sys.argv[2])
print(tap.open(), flush=True)
sys.stdin.read()  # holds the tap until killed
"""


@pytest.fixture
def netns() -> Iterator[str]:
    name = f"kc-tap-{uuid.uuid4().hex[:8]}"
    run("ip", "netns", "add", name)
    try:
        run("ip", "link", "add", BRIDGE, "type", "bridge", netns=name)
        confine(name)
        yield name
    finally:
        run("ip", "netns", "delete", name)


def confine(netns: str) -> None:
    """The bridge's confinement table, as flannel-operator's bridge container loads it (its rules matter not here)."""
    run("nft", "add", "table", "inet", confinement_table(BRIDGE), netns=netns)


def link(netns: str, name: str) -> str:
    return run("ip", "-o", "link", "show", name, netns=netns, check=False).stdout


def hold(netns: str, name: str) -> subprocess.Popen[str]:
    return subprocess.Popen(
        ["ip", "netns", "exec", netns, sys.executable, "-c", HOLD, name, BRIDGE],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )


def test_a_killed_launcher_leaves_no_tap(netns: str):
    launcher = hold(netns, "vmkilled")
    try:
        assert launcher.stdout is not None
        assert launcher.stdout.readline().strip().isdigit(), launcher.stderr.read() if launcher.stderr else ""
        shown = link(netns, "vmkilled")
        assert f"master {BRIDGE}" in shown
        assert ",UP" in shown, shown
    finally:
        launcher.kill()  # SIGKILL: no clean-up of its own runs
        launcher.wait()
    wait_for(lambda: not link(netns, "vmkilled"), timeout=10, message="the kernel removed the tap")


def test_a_persistent_tap_of_the_vm_is_replaced_and_a_foreign_link_is_refused(netns: str):
    run("ip", "tuntap", "add", "dev", "vmleftover", "mode", "tap", netns=netns)  # an older launcher's
    launcher = hold(netns, "vmleftover")
    try:
        assert launcher.stdout is not None
        assert launcher.stdout.readline().strip().isdigit(), launcher.stderr.read() if launcher.stderr else ""
        assert f"master {BRIDGE}" in link(netns, "vmleftover")
    finally:
        launcher.kill()
        launcher.wait()
    wait_for(lambda: not link(netns, "vmleftover"), timeout=10, message="the replacement went with its launcher")

    run("ip", "link", "add", "vmforeign", "type", "bridge", netns=netns)  # not a tap
    refused = hold(netns, "vmforeign")
    _, stderr = refused.communicate(timeout=30)
    assert refused.returncode != 0
    assert "link vmforeign exists and is not a tap of this launcher: not touching it" in stderr
    assert "bridge" in run("ip", "-d", "-o", "link", "show", "vmforeign", netns=netns).stdout, "left as it was"


def test_no_tap_goes_on_a_bridge_without_its_confinement_table(netns: str):
    run("nft", "delete", "table", "inet", confinement_table(BRIDGE), netns=netns)
    run("nft", "add", "table", "inet", "kubeception-br-other", netns=netns)  # another bridge's table is no proof
    refused = hold(netns, "vmunconfined")
    _, stderr = refused.communicate(timeout=30)
    assert refused.returncode != 0
    assert f"bridge {BRIDGE} is not confined: nft list table inet kubeception-{BRIDGE} failed" in stderr
    assert not link(netns, "vmunconfined"), "no tap made"

    confine(netns)
    launcher = hold(netns, "vmunconfined")
    try:
        assert launcher.stdout is not None
        assert launcher.stdout.readline().strip().isdigit(), launcher.stderr.read() if launcher.stderr else ""
        assert f"master {BRIDGE}" in link(netns, "vmunconfined")
    finally:
        launcher.kill()
        launcher.wait()
