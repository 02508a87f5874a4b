"""The built images as a standard tool sees them (skopeo reads and copies the OCI archives, as it pushes them to a
registry), and what is inside: no compilers or package caches, a non-root operators image with its bytecode
compiled at build time."""

from __future__ import annotations

import json
import subprocess
from typing import TYPE_CHECKING

import pytest

from kubeception_testenv.images import DEFAULT_PATH, build, layer, recipes

pytestmark = pytest.mark.realnodes

if TYPE_CHECKING:
    from pathlib import Path


@pytest.fixture(scope="module")
def archives() -> dict[str, Path]:
    return {recipe.short: build(recipe) for recipe in recipes()}


def skopeo(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(["skopeo", *args], capture_output=True, text=True, check=True, timeout=300)


def test_skopeo_reads_and_copies_every_archive(archives, tmp_path):
    for recipe in recipes():
        archive = archives[recipe.short]
        config = json.loads(skopeo("inspect", "--config", f"oci-archive:{archive}").stdout)["config"]
        assert config["User"] == str(recipe.user)
        assert f"PATH={DEFAULT_PATH}" in config["Env"]  # runtimes take PATH from the image; sbin for iptables
        assert config.get("Entrypoint") == (recipe.entrypoint or None)  # kubernetes, etcd: the pod names the command
        # What `make push` does, to a local OCI layout instead of a registry.
        skopeo("copy", "--quiet", f"oci-archive:{archive}", f"oci:{tmp_path / recipe.short}:{recipe.ref.split(':')[1]}")
        assert (tmp_path / recipe.short / "index.json").exists()


def test_the_operators_image_holds_no_compiler_or_cache_and_compiled_bytecode(archives):
    image = layer(archives["operators"])
    files = image.getnames()
    assert archives["operators"].stat().st_size < 120 * 2**20
    assert not [f for f in files if f.startswith(("usr/bin/gcc", "usr/bin/cc", "usr/lib/gcc", "usr/bin/pip"))]
    assert not [f for f in files if "/.cache/" in f or f.startswith(("var/cache/apt/", "var/lib/apt/lists/"))]
    site = "opt/kubeception/site-packages/"
    sources = [f for f in files if f.startswith(site + "operatorkit/") and f.endswith(".py")]
    assert sources
    compiled = {f for f in files if f.endswith(".pyc")}
    for source in sources:
        directory, name = source.rsplit("/", 1)
        assert f"{directory}/__pycache__/{name[:-3]}.cpython-311.pyc" in compiled, source
    # PEP 552 flags: hash-based, never checked against the source (whose mtime in the image is 0).
    pyc = image.extractfile(f"{site}operatorkit/__pycache__/__init__.cpython-311.pyc")
    assert pyc is not None
    assert int.from_bytes(pyc.read(8)[4:8], "little") == 0b01


def test_the_vm_image_runs_qemu_and_the_launcher(archives, tmp_path):
    """What a worker pod's ``vm`` container runs, run from the image's own root (chroot): its QEMU and its
    launcher, with the image's Python and packages — no QEMU GUI or firmware beyond what a -kernel boot needs."""
    root = tmp_path / "vm"
    with layer(archives["vm"]) as image:
        image.extractall(root, filter="fully_trusted")  # our own image, with its device-less /dev
    env = {"PATH": DEFAULT_PATH, "PYTHONPATH": "/opt/kubeception/site-packages"}

    def inside(*command: str) -> str:
        return subprocess.run(
            ["chroot", str(root), *command], capture_output=True, text=True, check=True, env=env
        ).stdout

    assert inside("qemu-system-x86_64", "--version").startswith("QEMU emulator version 7.2")
    assert "--accelerator" in inside("python3", "-m", "kvm_operator.launcher", "--help")
    assert not (root / "usr/lib/x86_64-linux-gnu/qemu/ui-gtk.so").exists(), "no GUI"
    assert archives["vm"].stat().st_size < 200 * 2**20


def test_the_node_image_boots_from_its_kernel_and_initramfs_and_copies_them(archives):
    files = set(layer(archives["node-v1.36.3"]).getnames())
    assert {"bin/busybox", "boot/vmlinuz", "boot/initrd.img"} <= files
    assert archives["node-v1.36.3"].stat().st_size < 120 * 2**20
