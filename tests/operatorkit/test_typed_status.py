"""A typed ``ctx.status``: resources set attributes of the status model; what is written is what they changed, by
the CRD's (camelCase) names — no server needed."""

from __future__ import annotations

from typing import Any, Literal, TypeVar, assert_type

import pydantic

from operatorkit import Context, Status, get_condition, is_true
from operatorkit._runtime.writes import merge_patch
from operatorkit.testing import offline_context


class Stack(pydantic.BaseModel):
    model_config = pydantic.ConfigDict(extra="forbid", populate_by_name=True)

    name: str
    template_hash: str | None = pydantic.Field(default=None, alias="templateHash")


class ClusterStatus(Status):
    cluster_id: str | None = pydantic.Field(default=None, alias="clusterID")
    endpoint: str | None = None
    made: list[Literal["key", "bucket"]] = pydantic.Field(default_factory=list)
    stacks: list[Stack] = pydantic.Field(default_factory=list)
    uploaded: dict[str, str] = pydantic.Field(default_factory=dict)
    port: int | None = pydantic.Field(default=None, ge=1, le=65535)


StatusT = TypeVar("StatusT", bound=Status)


def context(status: dict[str, Any], model: type[StatusT]) -> Context[Any, StatusT]:
    obj = {"metadata": {"name": "c", "uid": "u", "generation": 4}, "status": status}
    ctx: Context[Any, StatusT] = offline_context(obj, model, spec={}, status_model=model)
    return ctx


def patch_of(ctx: Context[Any, Any]) -> dict[str, Any]:
    """What the runtime would send: the merge patch from the stored status to the desired one."""
    return merge_patch(ctx.obj.get("status") or {}, ctx.desired_status())


STORED = {
    "clusterID": "c1",
    "endpoint": "https://old",
    "stacks": [{"name": "guest", "templateHash": "h1"}],
    "uploaded": {"ca": "s1", "admin": "s2"},
}


def test_the_status_is_the_model_and_mypy_knows_it():
    typed = context(STORED, ClusterStatus)
    assert_type(typed.status, ClusterStatus)
    assert typed.status.cluster_id == "c1"
    assert typed.status.stacks[0].template_hash == "h1"
    bare = context({"observedGeneration": 3, "legacyField": "x"}, Status)
    assert_type(bare.status, Status)  # a controller without a status model of its own: Status itself
    assert bare.status.observed_generation == 3


def test_an_unchanged_status_is_not_written_and_defaults_the_model_fills_in_are_not_sent():
    ctx = context(STORED, ClusterStatus)
    assert ctx.status.made == []  # a default: not stored, and not written by reading it
    assert ctx.desired_status() == STORED
    assert patch_of(ctx) == {}


def test_only_what_the_operator_set_is_sent_by_the_crd_names():
    ctx = context(STORED, ClusterStatus)
    ctx.status.endpoint = "https://new"
    ctx.status.port = 6443
    assert patch_of(ctx) == {"endpoint": "https://new", "port": 6443}
    ctx.status.endpoint = "https://old"  # set back to what is stored: nothing to write for it
    assert patch_of(ctx) == {"port": 6443}


def test_changes_in_place_are_seen_at_any_depth():
    ctx = context(STORED, ClusterStatus)
    ctx.status.made.append("key")  # a default list changed in place (the write-ahead record)
    ctx.status.stacks[0].template_hash = "h2"
    ctx.status.uploaded.pop("admin")
    assert patch_of(ctx) == {
        "made": ["key"],
        "stacks": [{"name": "guest", "templateHash": "h2"}],
        "uploaded": {"admin": None},
    }


def test_none_removes_a_field_and_is_nothing_for_one_that_is_not_stored():
    ctx = context(STORED, ClusterStatus)
    ctx.status.endpoint = None
    ctx.status.port = None  # not stored: no null sent for it
    ctx.status.stacks[0].template_hash = None  # inside a list: the key goes, no null in the item
    assert patch_of(ctx) == {"endpoint": None, "stacks": [{"name": "guest"}]}


def test_fields_the_model_does_not_declare_are_dropped_and_one_it_refuses_is_left_alone():
    stored = {**STORED, "legacyField": "x", "port": "not a port"}
    ctx = context(stored, ClusterStatus)
    assert ctx.status.port is None  # the refused field reads as unset; the rest of the status is there
    assert ctx.status.cluster_id == "c1"
    assert patch_of(ctx) == {"legacyField": None}  # as for a dict status: an earlier version's field goes
    ctx.status.port = 443
    assert patch_of(ctx) == {"legacyField": None, "port": 443}


def test_conditions_keep_their_helpers_and_their_transition_times():
    ctx = context(STORED, ClusterStatus)
    ctx.set_condition("Ready", "False", "Waiting", "stack creating")
    patch = patch_of(ctx)
    (ready,) = patch["conditions"]
    assert ready["type"] == "Ready"
    assert ready["reason"] == "Waiting"
    assert ready["observedGeneration"] == 4
    assert ready["lastTransitionTime"].endswith("Z")
    assert len(ready["lastTransitionTime"]) == 20
    assert get_condition(ctx.status, "Ready") == ready
    assert not is_true(ctx.status, "Ready")
    # Stored, then set again the same: nothing to write; flipped: a new transition time.
    again = context({**STORED, "conditions": [ready]}, ClusterStatus)
    again.set_condition("Ready", "False", "Waiting", "stack creating")
    assert patch_of(again) == {}
    again.set_condition("Ready", "True", "Reconciled")
    assert is_true(again.status, "Ready")
    assert patch_of(again)["conditions"][0]["status"] == "True"


def test_the_runtime_writes_observed_generation_and_resets_a_refused_status():
    ctx = context(STORED, ClusterStatus)
    ctx.observe_generation()
    assert patch_of(ctx) == {"observedGeneration": 4}
    ctx.status.endpoint = "changed"
    ctx.reset_status()
    assert ctx.status.endpoint == "https://old"
    assert patch_of(ctx) == {}


def test_after_a_write_ahead_only_what_changed_since_is_sent():
    ctx = context(STORED, ClusterStatus)
    ctx.status.made.append("bucket")
    written = ctx.desired_status()
    assert patch_of(ctx) == {"made": ["bucket"]}
    ctx.obj = {**ctx.obj, "status": written}  # what the runtime does with the answer of ctx.save_status()
    assert patch_of(ctx) == {}
    ctx.status.endpoint = "e"
    assert patch_of(ctx) == {"endpoint": "e"}


def test_a_nested_model_writes_what_was_set_not_its_defaults():
    class Pool(pydantic.BaseModel):
        model_config = pydantic.ConfigDict(populate_by_name=True)

        name: str
        desired: int = 0
        in_service: int = pydantic.Field(default=0, alias="inService")

    class PoolsStatus(Status):
        pools: list[Pool] = pydantic.Field(default_factory=list)

    ctx = context({}, PoolsStatus)
    ctx.status.pools.append(Pool(name="a", in_service=2))
    assert patch_of(ctx) == {"pools": [{"name": "a", "inService": 2}]}  # as a dict status would have held it
