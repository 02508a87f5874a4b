"""What the VM tests share: the node image's kernel and initramfs (built here, cached), and a worker's boot
configuration for a :class:`NodeGuest`."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import pytest

from kubeception_testenv.images import RECIPES, Recipe, build, extract, version
from kvm_operator import bootconfig

if TYPE_CHECKING:
    from pathlib import Path

    from kubeception_testenv.guest import NodeGuest


@pytest.fixture(scope="module")
def boot_files(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path]:
    archive = build(Recipe.load(RECIPES / "node.yaml"))
    kernel, initrd = extract(archive, ["boot/vmlinuz", "boot/initrd.img"], tmp_path_factory.mktemp("node-image"))
    return kernel, initrd


def worker_config(guest: NodeGuest, api_host: str, node: str, **fields: Any) -> dict[str, Any]:
    """The Ignition config of worker ``node`` joining ``guest`` by ``api_host``, with its own certificate;
    ``fields`` add to :class:`bootconfig.WorkerBoot` (labels, cluster DNS)."""
    certificate = guest.node_certificate(node)
    return bootconfig.render(
        bootconfig.WorkerBoot(
            node=node,
            api_host=api_host,
            api_port=guest.server.port,
            api_address=guest.gateway,
            ca_pem=guest.pki.ca.cert.read_text(),
            cert_pem=certificate.cert.read_text(),
            key_pem=certificate.key.read_text(),
            sandbox_image=f"ghcr.io/kubeception/pause:{version()}",
            **fields,
        )
    )
