"""SecretVolume: the kubelet's atomic layout that the guest-apiserver tests rely on for certificate reloads."""

from __future__ import annotations

from typing import TYPE_CHECKING

from kubeception_testenv import SecretVolume

if TYPE_CHECKING:
    from pathlib import Path


def test_keys_are_swapped_together_and_the_old_version_removed(tmp_path: Path):
    volume = SecretVolume(tmp_path / "tls")
    assert volume.write({"tls.crt": b"cert-1", "tls.key": b"key-1"})
    first = volume.current()
    assert not volume.write({"tls.crt": b"cert-1", "tls.key": b"key-1"}), "unchanged contents are not republished"
    assert volume.write({"tls.crt": b"cert-2", "tls.key": b"key-2"})
    assert volume.path("tls.crt").is_symlink()
    assert volume.path("tls.crt").read_bytes() == b"cert-2"
    assert volume.read("tls.crt", "tls.key") == {"tls.crt": b"cert-2", "tls.key": b"key-2"}
    assert not first.exists(), "the replaced version is deleted, as the kubelet does (kube-apiserver reloads on it)"
    assert [
        p.name for p in (tmp_path / "tls").iterdir() if p.name.startswith("..") and p.is_dir() and not p.is_symlink()
    ] == [volume.current().name]
