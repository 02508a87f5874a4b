"""The built images as a standard tool sees them (skopeo reads and copies the OCI archives, as it pushes them to a
registry), and what is inside: no compilers or package caches, a non-root operators image with its bytecode
compiled at build time."""

from __future__ import annotations

import gzip
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
    assert inside("nft", "--version").startswith("nftables v1."), "the launcher checks the bridge's table"
    assert not (root / "usr/lib/x86_64-linux-gnu/qemu/ui-gtk.so").exists(), "no GUI"
    assert archives["vm"].stat().st_size < 200 * 2**20


def test_the_tools_image_has_ip_and_nft(archives, tmp_path):
    """flannel-operator's bridge container and cleanup Job: iproute2 for the bridge, nft for its confinement table."""
    root = tmp_path / "tools"
    with layer(archives["tools"]) as image:
        image.extractall(root, filter="fully_trusted")
    for command in (["ip", "-V"], ["nft", "--version"]):
        subprocess.run(["chroot", str(root), *command], capture_output=True, check=True, env={"PATH": DEFAULT_PATH})


def test_the_node_image_boots_from_its_kernel_and_initramfs_and_copies_them(archives):
    files = set(layer(archives["node-v1.36.3"]).getnames())
    assert {"bin/busybox", "boot/vmlinuz", "boot/initrd.img"} <= files
    assert archives["node-v1.36.3"].stat().st_size < 190 * 2**20  # 164 MiB with the five add-ons' images preloaded


def unpack(archive: Path, root: Path) -> Path:
    with layer(archive) as image:
        image.extractall(root, filter="fully_trusted")  # our own image
    return root


def serve(root: Path, command: str, probe: str, then: str = "") -> str:
    """``command`` run in the image's root (chroot) in a network namespace of its own with only a loopback, /dev and
    /proc mounted as a container runtime would; ``probe`` (curl against it) retried until it answers (deadline
    30 s), then ``then``. The output of all, the server's included."""
    script = f"""
        set -e
        ip link set lo up
        mkdir -p {root}/dev {root}/proc && mount --bind /dev {root}/dev && mount -t proc proc {root}/proc
        {command} > {root}/server.log 2>&1 &
        deadline=$(( $(date +%s) + 30 ))
        until {probe}; do [ $(date +%s) -lt $deadline ] || {{ cat {root}/server.log; exit 1; }}; sleep 0.1; done
        {then}
        kill $! && wait $! || true
        cat {root}/server.log
    """
    result = subprocess.run(
        ["unshare", "--mount", "--net", "--fork", "sh", "-c", script], capture_output=True, text=True, timeout=120
    )
    assert result.returncode == 0, result.stdout + result.stderr
    return result.stdout


def test_guest_images_run_their_programs_without_a_shell(archives, tmp_path):
    """kube-proxy's image has no shell, only nft and its libraries beside kube-proxy: both run from its root;
    flannel's has nft too (EnableNFTables), and the guests' flannel has no shell either, only iptables in its
    nf_tables variant (flanneld gives up without one at start); the node's initramfs has nft, its libraries and the
    nftables portmap, and no iptables."""
    env = {"PATH": DEFAULT_PATH}
    for name in ("kube-proxy-v1.36.3", "flannel", "flannel-guest"):
        root = unpack(archives[name], tmp_path / name)
        run = subprocess.run(["chroot", str(root), "nft", "--version"], capture_output=True, text=True, env=env)
        assert run.stdout.startswith("nftables v1.0.6"), (name, run.stderr)
    guest_flannel = tmp_path / "flannel-guest"
    assert not (guest_flannel / "bin/sh").exists()
    for command, says in ((["iptables", "--version"], "(nf_tables)"), (["flanneld", "--version"], "v0.28.10")):
        run = subprocess.run(["chroot", str(guest_flannel), *command], capture_output=True, text=True, env=env)
        assert says in run.stdout + run.stderr, (command, run.stdout, run.stderr)
    root = tmp_path / "kube-proxy-v1.36.3"
    assert not (root / "bin/sh").exists()
    version = subprocess.run(["chroot", str(root), "kube-proxy", "--version"], capture_output=True, text=True, env=env)
    assert version.stdout.strip() == "Kubernetes v1.36.3", version.stderr
    initramfs = initramfs_names(archives["node-v1.36.3"])
    assert {"usr/sbin/nft", "usr/lib/cni/portmap", "usr/lib/x86_64-linux-gnu/libnftables.so.1"} <= initramfs
    assert not [name for name in initramfs if "iptables" in name or "xtables-" in name]


def initramfs_names(archive: Path) -> set[str]:
    """The paths in a node image's initramfs (a gzip'd newc cpio)."""
    with layer(archive) as image:
        member = image.extractfile("boot/initrd.img")
        assert member is not None
        data = gzip.decompress(member.read())
    names: set[str] = set()
    position = 0
    while True:
        header = data[position : position + 110]
        size, name_size = int(header[54:62], 16), int(header[94:102], 16)
        name = data[position + 110 : position + 110 + name_size - 1].decode()
        position += 110 + name_size + (-(110 + name_size) % 4)
        if name == "TRAILER!!!":
            return names
        names.add(name)
        position += size + (-size % 4)


def test_the_nginx_image_serves_its_page_on_port_80_and_logs_to_stdout(archives, tmp_path):
    """What `kubectl create deployment hello --image=nginx` gets in a guest: the image's own command (Debian's
    nginx in the foreground), the default page on :80, the access log on the container's stdout."""
    config = json.loads(skopeo("inspect", "--config", f"oci-archive:{archives['nginx']}").stdout)["config"]
    root = unpack(archives["nginx"], tmp_path / "nginx")
    command = " ".join(f"'{part}'" for part in config["Cmd"])
    out = serve(root, f"chroot {root} {command}", "curl -sf http://127.0.0.1/ | grep -q 'Welcome to nginx'")
    assert '"GET / HTTP/1.1" 200' in out, out


def test_the_registry_image_takes_a_push_and_serves_it(archives, tmp_path):
    """The platform registry: the image's own command and configuration, as its user, storage on a volume; skopeo
    pushes an image built here (as `make push` does) and reads it back by name."""
    config = json.loads(skopeo("inspect", "--config", f"oci-archive:{archives['registry']}").stdout)["config"]
    root = unpack(archives["registry"], tmp_path / "registry")
    (root / "var/lib/registry").mkdir(parents=True)
    command = " ".join([*config["Entrypoint"], *config["Cmd"]])
    storage = f"mount -t tmpfs -o mode=1777 tmpfs {root}/var/lib/registry"
    pushed = "docker://127.0.0.1:5000/kubeception/busybox:test"
    out = serve(
        root,
        f"{storage} && chroot --userspec={config['User']}:{config['User']} {root} {command}",
        "curl -sf http://127.0.0.1:5000/v2/",
        f"skopeo copy --quiet --dest-tls-verify=false oci-archive:{archives['busybox']} {pushed} && "
        f"skopeo inspect --tls-verify=false {pushed} && curl -sf http://127.0.0.1:5000/v2/_catalog",
    )
    assert '"Name": "127.0.0.1:5000/kubeception/busybox"' in out, out
    assert '{"repositories":["kubeception/busybox"]}' in out, out
