"""A kubeconfig file for one cluster and one user: the components' (file paths) and the admin's (data)."""

from __future__ import annotations

from typing import Any

import yaml


def kubeconfig(name: str, user: str, cluster: dict[str, Any], credentials: dict[str, Any]) -> str:
    return yaml.safe_dump(
        {
            "apiVersion": "v1",
            "kind": "Config",
            "clusters": [{"name": name, "cluster": cluster}],
            "users": [{"name": user, "user": credentials}],
            "contexts": [{"name": name, "context": {"cluster": name, "user": user}}],
            "current-context": name,
        }
    )
