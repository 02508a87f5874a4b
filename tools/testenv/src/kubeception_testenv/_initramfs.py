"""A VM's boot files from a root filesystem: the kernel, and an initramfs (a gzip'd ``newc`` cpio, what the kernel
unpacks into its root file system) holding only what a worker node runs — no disk image, no boot loader, no
partition: QEMU boots ``-kernel``/``-initrd`` directly, and the node keeps its state in memory (a worker is
replaced, never repaired in place).
"""

from __future__ import annotations

import gzip
import re
import shutil
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from pathlib import Path

    from kubeception_testenv.images import Boot

MODULES_LIST = "etc/kubeception/modules"  # what the init loads, in order (images/node/main.go)
PRELOAD = "usr/lib/kubeception/images"  # images/node/nodeinit imports these into containerd
_DEPENDS = re.compile(rb"(?:^|\0)depends=([^\0]*)")


def bootable(boot: Boot, rootfs: Path, binaries: list[str], out: Path, preload: dict[str, Path]) -> Path:
    """A root filesystem for the image that carries the VM's ``/boot/vmlinuz`` and ``/boot/initrd.img``, plus a
    static busybox: the pod's init container copies the two files into the VM's volume (``cp`` is its entrypoint)."""
    kernels = sorted((rootfs / "boot").glob("vmlinuz-*"))
    if len(kernels) != 1:
        raise RuntimeError(f"want exactly one kernel in the recipe's packages, found {[k.name for k in kernels]}")
    release = kernels[0].name.removeprefix("vmlinuz-")
    files: dict[str, Path] = {}  # path in the initramfs -> source
    for pattern in boot.include:
        for path in rootfs.glob(pattern):
            files[str(path.relative_to(rootfs))] = path
    for destination in binaries:  # the recipe's Go binaries; the one at /init is the first process
        files[destination.lstrip("/")] = rootfs / destination.lstrip("/")
    modules = _modules(rootfs / "lib/modules" / release, boot.modules)
    for module in modules:
        files[str(module.relative_to(rootfs))] = module
    for name, archive in preload.items():
        files[f"{PRELOAD}/{name.removesuffix('.yaml')}.tar"] = archive
    if "init" not in files:
        raise RuntimeError("a bootable recipe needs a binary at /init")
    extra = {MODULES_LIST: "".join(f"/{m.relative_to(rootfs)}\n" for m in modules).encode()}
    image = out / "image"
    (image / "boot").mkdir(parents=True)
    (image / "bin").mkdir()
    shutil.copy2(kernels[0], image / "boot/vmlinuz")
    shutil.copy2(rootfs / "bin/busybox", image / "bin/busybox")
    (image / "boot/initrd.img").write_bytes(gzip.compress(_cpio(files, extra), compresslevel=1, mtime=0))
    return image


def _modules(directory: Path, wanted: list[str]) -> list[Path]:
    """The modules named and everything they depend on (read from each module's ``.modinfo``), dependencies first:
    the package ships no ``modules.dep`` (depmod runs when it is installed, and nothing is installed here)."""
    by_name = {p.name.removesuffix(".ko").replace("-", "_"): p for p in directory.rglob("*.ko")}
    ordered: list[Path] = []

    def visit(name: str) -> None:
        path = by_name.get(name.replace("-", "_"))
        if path is None:
            raise RuntimeError(f"kernel module {name} is not in {directory} (built in, or misspelt?)")
        if path in ordered:
            return
        match = _DEPENDS.search(path.read_bytes())
        for dependency in filter(None, (match.group(1).decode().split(",") if match else [])):
            visit(dependency)
        ordered.append(path)

    for name in wanted:
        visit(name)
    return ordered


def _cpio(files: dict[str, Path], extra: dict[str, bytes]) -> bytes:
    """A ``newc`` cpio archive (the kernel's initramfs format) of ``files`` and ``extra``, with their directories,
    in a fixed order with mtime 0: the same inputs give the same bytes."""
    entries: dict[str, tuple[int, bytes]] = {}  # path -> (mode, data)
    for path, source in files.items():
        if source.is_symlink():
            entries[path] = (0o120777, str(source.readlink()).encode())
        elif source.is_file():
            entries[path] = (0o100000 | (source.stat().st_mode & 0o7777), source.read_bytes())
    for path, data in extra.items():
        entries[path] = (0o100755, data)
    for path in list(entries):
        parts = path.split("/")[:-1]
        for depth in range(1, len(parts) + 1):
            entries.setdefault("/".join(parts[:depth]), (0o040755, b""))
    out = bytearray()
    for inode, (path, (mode, data)) in enumerate(sorted(entries.items()), start=1):
        _entry(out, inode, path, mode, data)
    _entry(out, 0, "TRAILER!!!", 0, b"")
    return bytes(out)


def _entry(out: bytearray, inode: int, name: str, mode: int, data: bytes) -> None:
    encoded = name.encode() + b"\0"
    fields = (inode, mode, 0, 0, 1, 0, len(data), 0, 0, 0, 0, len(encoded), 0)
    out += b"070701" + b"".join(f"{value:08x}".encode() for value in fields)
    out += encoded + b"\0" * (-(110 + len(encoded)) % 4)
    out += data + b"\0" * (-len(data) % 4)
