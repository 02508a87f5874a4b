"""What the VM tests share: the node image's kernel and initramfs (built here, cached)."""

from __future__ import annotations

from typing import TYPE_CHECKING

import pytest

from kubeception_testenv.images import RECIPES, Recipe, build, extract

if TYPE_CHECKING:
    from pathlib import Path


@pytest.fixture(scope="module")
def boot_files(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path]:
    archive = build(Recipe.load(RECIPES / "node.yaml"))
    kernel, initrd = extract(archive, ["boot/vmlinuz", "boot/initrd.img"], tmp_path_factory.mktemp("node-image"))
    return kernel, initrd
