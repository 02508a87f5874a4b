"""A control plane of its own with the audit log on, for proving what each chart grants is what its operator uses."""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pytest
import yaml

from kubeception_testenv import ControlPlane
from operatorkit import KubeClient
from operatorkit.testing import apply_crds

if TYPE_CHECKING:
    from collections.abc import Iterator

CRDS = Path(__file__).parents[2] / "crds"
PSEUDO_VERBS = {"bind", "escalate", "impersonate"}
"""Verbs RBAC checks inside another request (creating a binding checks ``bind``); they never appear as requests."""


@pytest.fixture(scope="module")
def audited(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ControlPlane]:
    with ControlPlane(tmp_path_factory.mktemp("audited"), nodes=2, audit=True) as plane:
        apply_crds(KubeClient.load(str(plane.kubeconfig)), *sorted(CRDS.glob("*.yaml")))
        yield plane


@pytest.fixture(scope="module")
def admin(audited: ControlPlane) -> KubeClient:
    return KubeClient.load(str(audited.kubeconfig))


@dataclass(frozen=True)
class Grant:
    group: str
    resource: str
    verb: str

    def __str__(self) -> str:
        return f"{self.verb} {self.resource}{'.' + self.group if self.group else ''}"


def granted(manifest: str) -> set[Grant]:
    """Every (group, resource, verb) the chart's Roles and ClusterRoles grant, bind-like verbs aside."""
    grants = set()
    for doc in yaml.safe_load_all(manifest):
        if not doc or doc["kind"] not in ("Role", "ClusterRole") or doc["metadata"]["name"].startswith("kubeception:"):
            continue
        for rule in doc.get("rules", []):
            for group in rule["apiGroups"]:
                for resource in rule["resources"]:
                    grants |= {Grant(group, resource, verb) for verb in rule["verbs"] if verb not in PSEUDO_VERBS}
    return grants


def audit_events(plane: ControlPlane, username: str) -> list[dict[str, Any]]:
    assert plane.apiserver.audit_log is not None
    events = []
    with plane.apiserver.audit_log.open() as lines:
        for line in lines:
            if username in line:
                event = json.loads(line)
                if event["user"]["username"] == username and event["stage"] == "ResponseComplete":
                    events.append(event)
    return events


def used(events: list[dict[str, Any]]) -> set[Grant]:
    grants = set()
    for event in events:
        ref = event.get("objectRef") or {}
        if not ref.get("resource"):
            continue  # non-resource URLs (discovery)
        resource = ref["resource"] + (f"/{ref['subresource']}" if ref.get("subresource") else "")
        grants.add(Grant(ref.get("apiGroup", ""), resource, event["verb"]))
    return grants


def denied(events: list[dict[str, Any]]) -> list[str]:
    return [
        f"{e['verb']} {e['requestURI']}: {e['responseStatus'].get('message', '')[:200]}"
        for e in events
        if e.get("responseStatus", {}).get("code") in (401, 403)
        or "validation.policy.admission.k8s.io/validation_failure" in (e.get("annotations") or {})
    ]


def install(plane: ControlPlane, manifest: str) -> None:
    """Everything the chart renders but its workloads: the operator (and an agent) run here, as its ServiceAccounts."""
    docs = [d for d in yaml.safe_load_all(manifest) if d and d["kind"] not in ("Deployment", "DaemonSet")]
    plane.kubectl("apply", "-f", "-", input=yaml.safe_dump_all(docs))
