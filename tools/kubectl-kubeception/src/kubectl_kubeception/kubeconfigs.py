"""Kubeconfig files the way ``kubectl config`` treats them: ``--kubeconfig``, else every file of ``$KUBECONFIG``
(merged, the first file's value wins), else ``~/.kube/config``; new entries are written to the first file. Written
files are 0600: a credential's private key is in them."""

from __future__ import annotations

import os
import tempfile
from pathlib import Path
from typing import Any

import yaml


def paths(explicit: str | None) -> list[Path]:
    if explicit:
        return [Path(explicit)]
    if value := os.environ.get("KUBECONFIG"):
        return [Path(p) for p in value.split(os.pathsep) if p]
    return [Path.home() / ".kube" / "config"]


def load(path: Path) -> dict[str, Any]:
    if not path.exists():
        return {}
    found = yaml.safe_load(path.read_text()) or {}
    return found if isinstance(found, dict) else {}


def merged(explicit: str | None) -> dict[str, Any]:
    """The kubeconfig kubectl would use: entries by name and ``current-context`` from the first file that has them."""
    result: dict[str, Any] = {"clusters": [], "users": [], "contexts": []}
    for path in paths(explicit):
        config = load(path)
        if "current-context" not in result and config.get("current-context"):
            result["current-context"] = config["current-context"]
        for section in ("clusters", "users", "contexts"):
            known = {e.get("name") for e in result[section]}
            result[section] += [e for e in config.get(section) or [] if e.get("name") not in known]
    return result


def namespace_of(explicit: str | None, context: str | None) -> str:
    """The context's namespace, ``default`` when it names none (kubectl's rule)."""
    config = merged(explicit)
    name = context or config.get("current-context")
    chosen = next((e.get("context") or {} for e in config["contexts"] if e.get("name") == name), {})
    return str(chosen.get("namespace") or "default")


def with_context(
    config: dict[str, Any],
    *,
    name: str,
    cluster: dict[str, Any],
    user: dict[str, Any],
    switch: bool,
) -> dict[str, Any]:
    """``config`` with the cluster, user and context ``name`` added or replaced (other entries kept as they are)."""
    result = dict(config) or {"apiVersion": "v1", "kind": "Config", "preferences": {}}
    result.setdefault("apiVersion", "v1")
    result.setdefault("kind", "Config")
    for section, entry in (
        ("clusters", {"name": name, "cluster": cluster}),
        ("users", {"name": name, "user": user}),
        ("contexts", {"name": name, "context": {"cluster": name, "user": name}}),
    ):
        result[section] = [e for e in result.get(section) or [] if e.get("name") != name] + [entry]
    if switch or not result.get("current-context"):
        result["current-context"] = name
    return result


def write(path: Path, config: dict[str, Any]) -> None:
    """Replace ``path`` atomically with ``config``, readable by its owner only."""
    path.parent.mkdir(parents=True, exist_ok=True)
    handle, temporary = tempfile.mkstemp(prefix=f".{path.name}.", dir=path.parent)
    try:
        os.fchmod(handle, 0o600)
        with os.fdopen(handle, "w") as out:
            yaml.safe_dump(config, out, sort_keys=False)
        os.replace(temporary, path)
    except BaseException:
        Path(temporary).unlink(missing_ok=True)
        raise
