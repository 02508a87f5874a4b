"""The project's container images, built here from ``images/*.yaml`` — no registry, no Docker daemon.

A recipe names Debian packages (a root filesystem made by mmdebstrap from the machine's Debian mirror), Go
binaries built by ``tools/testenv/build.sh`` (pause, flanneld), and workspace Python packages installed with their
locked dependencies for the image's Python (uv, for CPython 3.11 on x86_64 Linux). The result is one layer, written
as an OCI image archive (``oci-layout``, ``index.json``, blobs) that ``ctr images import`` loads into the real
nodes and ``skopeo copy oci-archive:...`` pushes to a real registry. Archives are cached by a hash of everything
that goes into them, like the test-environment binaries: ``<cache>/images/<name>-<hash>.tar``.

Usage: ``python -m kubeception_testenv images`` (``make images``) builds every image and prints the archives.
"""

from __future__ import annotations

import contextlib
import dataclasses
import gzip
import hashlib
import io
import json
import shutil
import subprocess
import sys
import tarfile
import tempfile
import time
import tomllib
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO, Any

import yaml

from kubeception_testenv._binaries import cache_dir, find_binary
from kubeception_testenv._initramfs import bootable

ROOT = Path(__file__).resolve().parents[4]
RECIPES = ROOT / "images"
SUITE = "bookworm"
PYTHON_TARGET = "/opt/kubeception/site-packages"
DEFAULT_PATH = "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"  # Docker's, which images assume
STALE_AFTER_SECONDS = 86400  # an older build of an image unused this long is deleted
_EPOCH = 0  # every file of a layer gets this mtime: the same inputs give the same image digest
_TRIM = ("usr/share/man", "usr/share/info", "usr/share/locale", "usr/share/lintian", "var/cache/apt",
         "var/cache/debconf", "var/lib/apt/lists", "var/log")  # fmt: skip


def version() -> str:
    """The image tag: the project's version, which every chart's appVersion matches."""
    return str(tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]["version"])


@dataclass
class Boot:
    """What makes a bootable image: the initramfs keeps ``include`` (globs of the root filesystem), the recipe's
    binaries, the kernel ``modules`` named (with what they depend on, in load order) and ``preload`` (recipe files
    whose images the node imports at boot); the kernel becomes ``/boot/vmlinuz``; the binary at ``/init`` is the
    VM's first process."""

    include: list[str] = field(default_factory=list)
    modules: list[str] = field(default_factory=list)
    preload: list[str] = field(default_factory=list)


@dataclass
class Recipe:
    name: str
    debian: list[str] = field(default_factory=list)
    python: list[str] = field(default_factory=list)
    binaries: dict[str, str] = field(default_factory=dict)
    user: int = 0
    env: dict[str, str] = field(default_factory=dict)
    entrypoint: list[str] = field(default_factory=list)
    cmd: list[str] = field(default_factory=list)
    tag: str = ""  # the project's version unless the image carries someone else's (Kubernetes: v1.36.3)
    variant: str = "essential"  # mmdebstrap's: "extract" unpacks the packages without installing anything
    keep: list[str] = field(default_factory=list)  # globs: only these (and the binaries) stay, e.g. one program
    files: dict[str, str] = field(default_factory=dict)  # written last: path -> content (a default config)
    links: dict[str, str] = field(default_factory=dict)  # symlinks made last: path -> target (logs -> /dev/stdout)
    boot: Boot | None = None  # a VM's kernel and initramfs instead of a container's root filesystem

    @property
    def short(self) -> str:
        """The image's name without its registry path, with its own tag when it has one: unique per recipe."""
        name = self.name.rsplit("/", 1)[-1]
        return f"{name}-{self.tag}" if self.tag else name

    @property
    def ref(self) -> str:
        return f"{self.name}:{self.tag or version()}"

    @classmethod
    def load(cls, path: Path) -> Recipe:
        fields = yaml.safe_load(path.read_text())
        if base := fields.pop("base", None):  # another recipe's fields, these replacing its top-level ones
            fields = {**yaml.safe_load((path.parent / base).read_text()), **fields}
        if "boot" in fields:
            fields["boot"] = Boot(**fields["boot"])
        return cls(**fields)


def recipes() -> list[Recipe]:
    return [Recipe.load(path) for path in sorted(RECIPES.glob("*.yaml"))]


def _package_dir(package: str) -> Path:
    """The workspace member (a folder named in the root pyproject's ``tool.uv.workspace``) that is ``package``."""
    members = tomllib.loads((ROOT / "pyproject.toml").read_text())["tool"]["uv"]["workspace"]["members"]
    for member in members:
        folder: Path = ROOT / str(member)
        if tomllib.loads((folder / "pyproject.toml").read_text())["project"]["name"] == package:
            return folder
    raise LookupError(f"{package} is no member of the workspace")


def _sources(recipe: Recipe) -> bytes:
    """Everything the image is made of, for the cache key: the recipe, this builder, binaries, Python sources."""
    parts = [json.dumps(dataclasses.asdict(recipe), sort_keys=True).encode(), version().encode()]
    parts += [Path(__file__).read_bytes(), (Path(__file__).parent / "_initramfs.py").read_bytes()]
    for binary in sorted(recipe.binaries):
        parts.append(find_binary(binary).read_bytes())
    for preload in recipe.boot.preload if recipe.boot else []:
        parts.append(archive_path(Recipe.load(RECIPES / preload)).name.encode())
    if recipe.python:
        parts.append((ROOT / "uv.lock").read_bytes())
        for package in sorted(recipe.python):
            folder = _package_dir(package)
            parts.append((folder / "pyproject.toml").read_bytes())
            source = folder / "src"
            for path in sorted(source.rglob("*")):
                if path.is_file() and "__pycache__" not in path.parts:
                    parts += [str(path.relative_to(ROOT)).encode(), path.read_bytes()]
    return b"\0".join(parts)


def archive_path(recipe: Recipe) -> Path:
    key = hashlib.sha256(_sources(recipe)).hexdigest()[:16]
    return cache_dir() / "images" / f"{recipe.short}-{key}.tar"


def build(recipe: Recipe) -> Path:
    """The image's OCI archive, built unless the cache has it."""
    target = archive_path(recipe)
    if target.exists():
        target.touch()  # in use: another checkout's clean-up keeps it
        return target
    target.parent.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(prefix=f"image-{recipe.short}-", dir=target.parent) as tmp:
        rootfs = Path(tmp) / "rootfs"
        _debian(recipe, rootfs)
        _binaries(recipe, rootfs)
        _python(recipe, rootfs)
        if recipe.keep:
            rootfs = _kept(recipe, rootfs, Path(tmp) / "kept")
        if recipe.boot is not None:
            preload = {name: build(Recipe.load(RECIPES / name)) for name in recipe.boot.preload}
            rootfs = bootable(recipe.boot, rootfs, list(recipe.binaries.values()), Path(tmp) / "boot", preload)
        _finish(recipe, rootfs)
        partial = target.with_suffix(".partial")
        _write_oci_archive(recipe, rootfs, partial)
        partial.rename(target)
    # Older builds of this image go once no checkout has used them for a day: a second clone (or worktree) at
    # another commit builds its own and must not find its archive deleted under it.
    for stale in target.parent.glob(f"{recipe.short}-*.tar"):
        with contextlib.suppress(FileNotFoundError):
            if stale != target and time.time() - stale.stat().st_mtime > STALE_AFTER_SECONDS:
                stale.unlink()
    return target


def _debian(recipe: Recipe, rootfs: Path) -> None:
    if not recipe.debian:
        rootfs.mkdir()
        return
    # The host's apt sources (the machine's mirror); the essential set + the recipe's packages, no recommends.
    subprocess.run(
        [
            "mmdebstrap",
            f"--variant={recipe.variant}",  # essential: no apt, nothing is installed into a running image
            "--mode=root",
            "--format=directory",
            "--quiet",
            "--aptopt=APT::Install-Recommends false",
            f"--include={','.join(recipe.debian)}",
            SUITE,
            str(rootfs),
        ],
        check=True,
    )


def _binaries(recipe: Recipe, rootfs: Path) -> None:
    for binary, destination in recipe.binaries.items():
        path = rootfs / destination.lstrip("/")
        path.parent.mkdir(parents=True, exist_ok=True)
        shutil.copy2(find_binary(binary), path)
        path.chmod(0o755)


def _kept(recipe: Recipe, rootfs: Path, out: Path) -> Path:
    """A root filesystem of only the paths ``keep`` matches and the recipe's binaries (symlinks stay links): a
    package's program without what its dependencies and maintainer scripts would bring (adduser, perl)."""
    out.mkdir()
    paths = {match for pattern in recipe.keep for match in rootfs.glob(pattern)}
    paths |= {rootfs / destination.lstrip("/") for destination in recipe.binaries.values()}
    if missing := [p for p in recipe.keep if not any(rootfs.glob(p))]:
        raise RuntimeError(f"{recipe.short}: nothing in the root filesystem matches {missing}")
    for path in sorted(paths):
        target = out / path.relative_to(rootfs)
        target.parent.mkdir(parents=True, exist_ok=True)
        if path.is_dir() and not path.is_symlink():
            shutil.copytree(path, target, symlinks=True, dirs_exist_ok=True)
        else:
            shutil.copy2(path, target, follow_symlinks=False)
    return out


def _python(recipe: Recipe, rootfs: Path) -> None:
    """The workspace packages and their locked dependencies, for CPython 3.11 on Linux x86_64, compiled."""
    if not recipe.python:
        return
    uv = shutil.which("uv") or sys.exit("uv is needed to build the Python images")
    with tempfile.TemporaryDirectory() as tmp:
        requirements = Path(tmp) / "requirements.txt"
        packages = [f"--package={p}" for p in recipe.python]
        subprocess.run(
            [uv, "export", "--frozen", "--no-dev", "--no-hashes", "--no-emit-workspace", *packages,
             f"--output-file={requirements}"],
            cwd=ROOT, check=True, capture_output=True,
        )  # fmt: skip
        wheels = Path(tmp) / "wheels"
        for package in recipe.python:
            subprocess.run(
                [uv, "build", "--wheel", f"--package={package}", f"--out-dir={wheels}", "--quiet"],
                cwd=ROOT, check=True,
            )  # fmt: skip
        site = rootfs / PYTHON_TARGET.lstrip("/")
        subprocess.run(
            [uv, "pip", "install", "--quiet", f"--target={site}", "--python-version=3.11",
             "--python-platform=x86_64-manylinux_2_28", "--no-deps", "--no-cache",
             "-r", str(requirements), *map(str, sorted(wheels.glob("*.whl")))],
            cwd=ROOT, check=True,
        )  # fmt: skip
    # The image's CPython is 3.11 like this one: the same bytecode format. The layer's files all get mtime 0, so
    # timestamp-checked bytecode would be stale at once (and the root filesystem is read-only): an image never
    # changes, so its bytecode is never checked against the sources.
    subprocess.run(
        [sys.executable, "-m", "compileall", "-q", "-j", "0", "--invalidation-mode=unchecked-hash", str(site)],
        check=True,
    )


def _finish(recipe: Recipe, rootfs: Path) -> None:
    for path in _TRIM:
        shutil.rmtree(rootfs / path, ignore_errors=True)
    docs = rootfs / "usr/share/doc"
    if docs.exists():  # keep the copyright files, drop the rest
        for item in docs.rglob("*"):
            if item.is_file() and item.name != "copyright":
                item.unlink()
    if recipe.user and (rootfs / "etc/passwd").exists():
        with (rootfs / "etc/passwd").open("a") as passwd:
            passwd.write(f"kubeception:x:{recipe.user}:{recipe.user}::/nonexistent:/usr/sbin/nologin\n")
        with (rootfs / "etc/group").open("a") as group:
            group.write(f"kubeception:x:{recipe.user}:\n")
    (rootfs / "tmp").mkdir(exist_ok=True, mode=0o1777)
    for path, content in recipe.files.items():
        file = rootfs / path.lstrip("/")
        file.parent.mkdir(parents=True, exist_ok=True)
        file.unlink(missing_ok=True)
        file.write_text(content)
        file.chmod(0o644)
    for path, target in recipe.links.items():
        link = rootfs / path.lstrip("/")
        link.parent.mkdir(parents=True, exist_ok=True)
        link.unlink(missing_ok=True)
        link.symlink_to(target)


def _layer(rootfs: Path) -> bytes:
    """The root filesystem as one tar, in a stable order with fixed times."""
    buffer = io.BytesIO()
    with tarfile.open(fileobj=buffer, mode="w", format=tarfile.PAX_FORMAT) as tar:
        for path in sorted(rootfs.rglob("*"), key=lambda p: str(p.relative_to(rootfs))):
            info = tar.gettarinfo(str(path), arcname=str(path.relative_to(rootfs)))
            info.mtime = _EPOCH
            if info.isreg():
                with path.open("rb") as data:
                    tar.addfile(info, data)
            else:
                tar.addfile(info)
    return buffer.getvalue()


def _blob(blobs: dict[str, bytes], data: bytes) -> dict[str, Any]:
    digest = f"sha256:{hashlib.sha256(data).hexdigest()}"
    blobs[digest] = data
    return {"digest": digest, "size": len(data)}


def _write_oci_archive(recipe: Recipe, rootfs: Path, target: Path) -> None:
    """An OCI image layout (image-spec 1.1) in a tar: what ``ctr images import`` and skopeo read."""
    blobs: dict[str, bytes] = {}
    layer = _layer(rootfs)
    compressed = gzip.compress(layer, compresslevel=6, mtime=_EPOCH)
    layer_descriptor = {"mediaType": "application/vnd.oci.image.layer.v1.tar+gzip", **_blob(blobs, compressed)}
    config = {
        "architecture": "amd64",
        "os": "linux",
        "config": {
            "User": str(recipe.user),
            "Env": [f"{k}={v}" for k, v in {"PATH": DEFAULT_PATH, **recipe.env}.items()],
            "Entrypoint": recipe.entrypoint or None,
            "Cmd": recipe.cmd or None,
            "Labels": {"org.opencontainers.image.source": "https://github.com/kubeception/kubeception"},
        },
        "rootfs": {"type": "layers", "diff_ids": [f"sha256:{hashlib.sha256(layer).hexdigest()}"]},
        "history": [{"created_by": f"kubeception images/{recipe.short}.yaml"}],
    }
    config_descriptor = {
        "mediaType": "application/vnd.oci.image.config.v1+json",
        **_blob(blobs, json.dumps(config, sort_keys=True).encode()),
    }
    manifest = {
        "schemaVersion": 2,
        "mediaType": "application/vnd.oci.image.manifest.v1+json",
        "config": config_descriptor,
        "layers": [layer_descriptor],
    }
    manifest_descriptor = {
        "mediaType": "application/vnd.oci.image.manifest.v1+json",
        **_blob(blobs, json.dumps(manifest, sort_keys=True).encode()),
        "annotations": {
            "io.containerd.image.name": recipe.ref,
            "org.opencontainers.image.ref.name": recipe.ref.rsplit(":", 1)[1],
        },
        "platform": {"architecture": "amd64", "os": "linux"},
    }
    index = {
        "schemaVersion": 2,
        "mediaType": "application/vnd.oci.image.index.v1+json",
        "manifests": [manifest_descriptor],
    }
    with tarfile.open(target, "w") as tar:
        for name, data in (
            ("oci-layout", json.dumps({"imageLayoutVersion": "1.0.0"}).encode()),
            ("index.json", json.dumps(index, sort_keys=True).encode()),
            *((f"blobs/sha256/{d.removeprefix('sha256:')}", b) for d, b in sorted(blobs.items())),
        ):
            info = tarfile.TarInfo(name)
            info.size, info.mtime, info.mode = len(data), _EPOCH, 0o644
            tar.addfile(info, io.BytesIO(data))


def build_all() -> list[Path]:
    return [build(recipe) for recipe in recipes()]


def layer(archive: Path) -> tarfile.TarFile:
    """The single layer of an image archive built here, as a tar (read into memory: close it when done)."""
    with tarfile.open(archive) as outer:
        index = json.load(_member(outer, "index.json"))
        manifest = json.load(_member(outer, _blob_path(index["manifests"][0]["digest"])))
        (descriptor,) = manifest["layers"]
        data = gzip.decompress(_member(outer, _blob_path(descriptor["digest"])).read())
    return tarfile.open(fileobj=io.BytesIO(data))


def extract(archive: Path, paths: list[str], into: Path) -> list[Path]:
    """Files of an image archive (e.g. a node image's ``boot/vmlinuz``), written into ``into`` — what a worker
    pod's init container does, for tests that boot a VM outside a pod."""
    into.mkdir(parents=True, exist_ok=True)
    written = []
    with layer(archive) as files:
        for path in paths:
            target = into / Path(path).name
            target.write_bytes(_member(files, path).read())
            written.append(target)
    return written


def _blob_path(digest: str) -> str:
    return f"blobs/sha256/{digest.removeprefix('sha256:')}"


def _member(tar: tarfile.TarFile, name: str) -> IO[bytes]:
    member = tar.extractfile(name)
    if member is None:
        raise FileNotFoundError(f"{name} is not a file in {tar.name!r}")
    return member
