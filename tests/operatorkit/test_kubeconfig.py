"""Reading kubeconfigs: the forms operatorkit reads itself reach the real API server; the rest go to the
kubernetes package."""

from __future__ import annotations

import base64
from typing import TYPE_CHECKING, Any

import yaml

from operatorkit import KubeClient
from operatorkit._base import kubeconfig
from operatorkit.kinds import NAMESPACE

if TYPE_CHECKING:
    from pathlib import Path

    from kubeception_testenv import ControlPlane


def _files_instead_of_data(config: dict[str, Any], tmp_path: Path) -> dict[str, Any]:
    """The same kubeconfig with certificate files (relative to it) instead of inline data."""
    cluster, user = config["clusters"][0]["cluster"], config["users"][0]["user"]
    for entry, key in ((cluster, "certificate-authority"), (user, "client-certificate"), (user, "client-key")):
        (tmp_path / f"{key}.pem").write_bytes(base64.b64decode(entry.pop(f"{key}-data")))
        entry[key] = f"{key}.pem"
    return config


def test_certificate_kubeconfigs_inline_and_in_files(control_plane: ControlPlane, tmp_path: Path):
    inline = tmp_path / "inline"
    inline.write_text(yaml.safe_dump(control_plane.kubeconfig_dict()))
    files = tmp_path / "files"
    files.write_text(yaml.safe_dump(_files_instead_of_data(control_plane.kubeconfig_dict(), tmp_path)))
    for path in (inline, files):
        assert kubeconfig.from_kubeconfig(str(path), None, 4) is not None, "read without the kubernetes package"
        assert KubeClient.load(str(path)).get(NAMESPACE, "default")["metadata"]["name"] == "default"


def test_token_files_are_reread(tmp_path: Path, monkeypatch):
    token = tmp_path / "token"
    token.write_text("first\n")
    source = kubeconfig._TokenFile(str(token))
    assert source() == "first"
    token.write_text("second")
    assert source() == "first", "cached for a minute"
    monkeypatch.setattr(kubeconfig, "_TOKEN_REREAD", 0.0)
    assert source() == "second"


def test_exec_plugins_and_merged_files_go_to_the_kubernetes_package(control_plane: ControlPlane, tmp_path: Path):
    config = control_plane.kubeconfig_dict()
    config["users"][0]["user"] = {"exec": {"apiVersion": "client.authentication.k8s.io/v1", "command": "true"}}
    path = tmp_path / "exec"
    path.write_text(yaml.safe_dump(config))
    assert kubeconfig.from_kubeconfig(str(path), None, 4) is None
    assert kubeconfig.from_kubeconfig(f"{path}:{path}", None, 4) is None
