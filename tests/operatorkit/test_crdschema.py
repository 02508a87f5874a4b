"""crd_disagreements: what it finds between a CRD's schema and the models, case by case (no server)."""

from __future__ import annotations

import copy
import ipaddress
from typing import Annotated, Any, Literal

import pydantic
import pytest

from operatorkit import LABEL_KEY, Status
from operatorkit.testing import crd_disagreements

Key = Annotated[str, pydantic.Field(pattern=LABEL_KEY, max_length=253)]


class Pool(pydantic.BaseModel):
    name: str = pydantic.Field(pattern=r"^[a-z]+$", max_length=20)
    replicas: int = pydantic.Field(default=1, ge=0, le=100)


class Spec(pydantic.BaseModel):
    model_config = pydantic.ConfigDict(populate_by_name=True)

    cluster_id: str = pydantic.Field(alias="clusterID", min_length=3, max_length=30)
    mode: Literal["a", "b"] = "a"
    port: int | str = 443
    address: ipaddress.IPv4Address | None = None
    pools: list[Pool] = pydantic.Field(default_factory=list, max_length=4)
    labels: dict[Key, str] = pydantic.Field(default_factory=dict, max_length=8)
    pool: Pool = Pool(name="main")


class SpecStatus(Status):
    endpoint: str | None = pydantic.Field(default=None, max_length=200)


def crd(spec: dict[str, Any], status: dict[str, Any]) -> dict[str, Any]:
    schema = {"type": "object", "properties": {"spec": spec, "status": status}}
    return {
        "metadata": {"name": "x"},
        "spec": {"versions": [{"name": "v1", "storage": True, "schema": {"openAPIV3Schema": schema}}]},
    }


POOL = {
    "type": "object",
    "required": ["name"],
    "properties": {
        "name": {"type": "string", "maxLength": 20, "pattern": "^[a-z]+$"},
        "replicas": {"type": "integer", "minimum": 0, "maximum": 100, "default": 1},
    },
}
SPEC = {
    "type": "object",
    "required": ["clusterID"],
    "properties": {
        "clusterID": {"type": "string", "minLength": 3, "maxLength": 30},
        "mode": {"type": "string", "enum": ["b", "a"], "default": "a"},
        "port": {"x-kubernetes-int-or-string": True},
        "address": {"type": "string", "maxLength": 15, "x-kubernetes-validations": [{"rule": "isIP(self)"}]},
        "pools": {"type": "array", "maxItems": 4, "items": POOL},
        "labels": {
            "type": "object",
            "maxProperties": 8,
            "additionalProperties": {"type": "string"},
            "x-kubernetes-validations": [{"rule": f"self.all(k, k.size() <= 253 && k.matches(r'{LABEL_KEY}'))"}],
        },
        "pool": {**copy.deepcopy(POOL), "default": {"name": "main"}},
    },
}
CONDITIONS = {
    "type": "array",
    "items": {
        "type": "object",
        "properties": {
            name: {"type": kind}
            for name, kind in [("type", "string"), ("status", "string"), ("reason", "string"), ("message", "string")]
        }
        | {"lastTransitionTime": {"type": "string"}, "observedGeneration": {"type": "integer"}},
    },
}
STATUS = {
    "type": "object",
    "properties": {"observedGeneration": {"type": "integer"}, "conditions": CONDITIONS, "endpoint": {"type": "string"}},
}


def changed(path: list[str], value: Any) -> dict[str, Any]:
    """The agreeing CRD with one thing changed: ``path`` (keys from the schema root) set to ``value``, or removed
    when ``value`` is ``...``."""
    schema: dict[str, Any] = {"spec": copy.deepcopy(SPEC), "status": copy.deepcopy(STATUS)}
    node = schema
    for key in path[:-1]:
        node = node[key]
    if value is ...:
        del node[path[-1]]
    else:
        node[path[-1]] = value
    return crd(schema["spec"], schema["status"])


def test_an_agreeing_crd_has_no_disagreement():
    assert crd_disagreements(crd(SPEC, STATUS), Spec, SpecStatus) == []


CASES = [
    (["spec", "properties", "clusterID", "maxLength"], 63, ".spec.clusterID: maxLength 63 in the CRD, 30 in the model"),
    (
        ["spec", "properties", "clusterID", "minLength"],
        ...,
        ".spec.clusterID: minLength None in the CRD, 3 in the model",
    ),
    (["spec", "properties", "clusterID", "pattern"], "^.*$", ".spec.clusterID: pattern '^.*$' in the CRD, None"),
    (["spec", "properties", "mode", "enum"], ["a", "b", "c"], ".spec.mode: enum ['a', 'b', 'c'] in the CRD"),
    (["spec", "properties", "mode", "default"], "b", ".spec.mode: default 'b' in the CRD, 'a' in the model"),
    (["spec", "properties", "port"], {"type": "integer"}, ".spec.port: type integer in the CRD, int-or-string"),
    (["spec", "properties", "address", "maxLength"], ..., ".spec.address: no maxLength in the CRD"),
    (["spec", "properties", "pools", "maxItems"], 40, ".spec.pools: maxItems 40 in the CRD, 4 in the model"),
    (["spec", "properties", "pools", "items", "required"], [], ".spec.pools[]: required [] in the CRD, ['name']"),
    (
        ["spec", "properties", "pools", "items", "properties", "replicas", "maximum"],
        1000,
        ".spec.pools[].replicas: maximum 1000",
    ),
    (
        ["spec", "properties", "pool", "default"],
        {"name": "other"},
        ".spec.pool.name: default 'other' in the CRD, 'main'",
    ),
    (["spec", "properties", "labels", "x-kubernetes-validations"], [], ".spec.labels: the model's key pattern"),
    (["spec", "properties", "extra"], {"type": "string"}, ".spec.extra: in the CRD only"),
    (["spec", "properties", "clusterID"], ..., ".spec.clusterID: in the model only"),
    (["status", "properties", "endpoint"], ..., ".status.endpoint: in the model only"),
    (["status", "properties", "endpoint"], {"type": "integer"}, ".status.endpoint: type integer in the CRD, string"),
]


@pytest.mark.parametrize(("path", "value", "found"), CASES, ids=[".".join(p) + f"={v!r}" for p, v, _ in CASES])
def test_each_kind_of_disagreement_is_named(path: list[str], value: Any, found: str):
    problems = crd_disagreements(changed(path, value), Spec, SpecStatus)
    assert problems, "found nothing"
    assert found in problems[0], problems
    assert all(problem.startswith(found.split(":")[0]) for problem in problems), problems


def test_a_status_is_compared_by_shape_and_a_preserved_one_not_at_all():
    """Status bounds are the operator's own check on what it writes; a field missing in the CRD is pruned."""
    assert crd_disagreements(crd(SPEC, STATUS), Spec, SpecStatus) == []  # maxLength 200 in the model only
    preserved = {"type": "object", "x-kubernetes-preserve-unknown-fields": True}
    assert crd_disagreements(crd(SPEC, preserved), Spec, SpecStatus) == []
    assert crd_disagreements(crd({**SPEC, "x-kubernetes-preserve-unknown-fields": True}, STATUS), Spec) == []
    assert crd_disagreements(crd({"type": "object", "x-kubernetes-preserve-unknown-fields": True}, STATUS), Spec) == [
        ".spec: the CRD keeps unknown fields; the model declares them"
    ]
