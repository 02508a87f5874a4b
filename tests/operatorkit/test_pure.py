"""Pure helpers: conditions, subset comparison, REST paths, keys."""

from __future__ import annotations

import re
from typing import TYPE_CHECKING, Any

import pytest
import urllib3
from prometheus_client import REGISTRY, Counter

from operatorkit import Kind, NotOwned, Owner, Status, by_label, check_claim, is_subset, object_key
from operatorkit._base.client import WatchStream
from operatorkit._base.conditions import clean_reason, set_condition
from operatorkit._runtime.reconcile import deletion_wait
from operatorkit._runtime.store import Store
from operatorkit._runtime.writes import merge_patch
from operatorkit.kinds import CONFIG_MAP, NAMESPACE
from operatorkit.testing import metric_sum, offline_context, wait_progressing, wait_until

if TYPE_CHECKING:
    from collections.abc import Iterator


def test_condition_transition_time_moves_only_when_status_flips():
    conditions: list[dict[str, Any]] = []
    assert set_condition(conditions, "Ready", "False", "Waiting", "vault down", 1)
    first = conditions[0]["lastTransitionTime"]
    conditions[0]["lastTransitionTime"] = "2000-01-01T00:00:00Z"
    assert not set_condition(conditions, "Ready", "False", "Waiting", "vault down", 1), "no change, no write"
    assert set_condition(conditions, "Ready", "False", "Waiting", "vault still down", 1)
    assert conditions[0]["lastTransitionTime"] == "2000-01-01T00:00:00Z", "same status keeps the time"
    assert set_condition(conditions, "Ready", "True", "Reconciled", "", 2)
    assert conditions[0]["lastTransitionTime"] >= first
    assert conditions[0]["observedGeneration"] == 2
    assert len(conditions) == 1


def test_reasons_are_made_valid():
    assert clean_reason("Vault unreachable!") == "Vaultunreachable"
    assert clean_reason("409 Conflict") == "R409Conflict"
    assert clean_reason("") == "Unknown"
    assert clean_reason("InvalidSpec") == "InvalidSpec"


def test_is_subset_ignores_server_defaults_but_not_changes():
    desired = {"metadata": {"name": "a", "labels": {"x": "1"}}, "data": {"k": "v"}}
    current = {"metadata": {"name": "a", "uid": "u", "labels": {"x": "1", "other": "2"}}, "data": {"k": "v"}}
    assert is_subset(desired, current)
    assert not is_subset({**desired, "data": {"k": "w"}}, current)
    assert not is_subset({"spec": {"ports": [1, 2]}}, {"spec": {"ports": [1]}})
    assert is_subset({"spec": {"ports": [{"port": 1}]}}, {"spec": {"ports": [{"port": 1, "protocol": "TCP"}]}})
    # What the server leaves out of the stored object (omitempty) is the same as empty; a value is not.
    assert is_subset({"spec": {"ingress": [], "nodeSelector": {}, "note": "", "x": None}}, {"spec": {}})
    assert not is_subset({"spec": {"ingress": [{"ports": []}]}}, {"spec": {}})
    assert not is_subset({"spec": {"ingress": []}}, {"spec": {"ingress": [{"ports": []}]}})


def test_kind_paths():
    greeting = Kind("example.kubeception.io/v1alpha1", "Greeting", "greetings")
    assert (
        greeting.path("ns", "g", "status") == "/apis/example.kubeception.io/v1alpha1/namespaces/ns/greetings/g/status"
    )
    assert greeting.path() == "/apis/example.kubeception.io/v1alpha1/greetings"
    assert CONFIG_MAP.path("ns", "c") == "/api/v1/namespaces/ns/configmaps/c"
    assert NAMESPACE.path("ignored", "n") == "/api/v1/namespaces/n"


def test_store_indices_follow_updates_and_deletes():
    store = Store()
    store.add_indexer("cluster", by_label("cluster"))
    cm = {
        "metadata": {
            "name": "a",
            "namespace": "ns",
            "labels": {"cluster": "c1"},
            "ownerReferences": [{"uid": "owner-1"}],
            "resourceVersion": "5",
        }
    }
    store.upsert(cm)
    assert object_key(cm) == "ns/a"
    assert store.by_index("cluster", "c1") == [cm]
    assert store.by_index("owner", "owner-1") == [cm]
    moved = {**cm, "metadata": {**cm["metadata"], "labels": {"cluster": "c2"}, "resourceVersion": "6"}}
    store.upsert(moved)
    assert store.by_index("cluster", "c1") == []
    assert store.by_index("cluster", "c2") == [moved]
    assert not store.remember(cm), "an older version never replaces a newer one"
    store.delete("ns/a")
    assert store.by_index("cluster", "c2") == []
    assert store.by_index("owner", "owner-1") == []


def test_dependents_are_owned_by_reference_or_by_labels_across_scopes():

    from operatorkit import Context
    from operatorkit.kinds import CLUSTER_ROLE_BINDING

    owner = {
        "apiVersion": "example.kubeception.io/v1alpha1",
        "kind": "Greeting",
        "metadata": {"name": "g", "namespace": "ns", "uid": "u1", "generation": 1},
    }
    ctx: Context[dict[str, Any]] = offline_context(owner, Status, spec={})
    owned = ctx.own(CONFIG_MAP, {"metadata": {"name": "c", "namespace": "ns"}})
    assert owned["metadata"]["ownerReferences"][0]["uid"] == "u1"
    labelled = ctx.own(CLUSTER_ROLE_BINDING, {"metadata": {"name": "crb", "labels": {"keep": "me"}}})
    assert "ownerReferences" not in labelled["metadata"]
    assert labelled["metadata"]["labels"] == {
        "keep": "me",
        "kubeception.io/owner-name": "g",
        "kubeception.io/owner-namespace": "ns",
        "kubeception.io/owner-kind": "Greeting",
        "kubeception.io/owner-uid": "u1",
    }
    # An ownerReference across namespaces would be read in the dependent's namespace, found missing, and the
    # dependent garbage-collected: labels there too.
    elsewhere = ctx.own(CONFIG_MAP, {"metadata": {"name": "c", "namespace": "control-plane"}})
    assert "ownerReferences" not in elsewhere["metadata"]
    assert elsewhere["metadata"]["labels"]["kubeception.io/owner-uid"] == "u1"


def test_status_models_check_conditions_and_drop_fields_of_earlier_versions():
    from operatorkit._core.status import drop_unknown_fields, status_problems
    from operatorkit.example.controller import GreetingStatus

    conditions: list[dict[str, Any]] = []
    set_condition(conditions, "Ready", "True", "Reconciled", "", 3)
    good = {"observedGeneration": 3, "conditions": conditions, "legacyField": "x"}
    drop_unknown_fields(GreetingStatus, good)
    assert "legacyField" not in good
    assert status_problems(GreetingStatus, good) is None
    bad = {"observedGeneration": -1, "conditions": [{"type": "Ready", "status": "Yes"}]}
    problems = status_problems(GreetingStatus, bad)
    assert problems is not None
    for field in ("status.observedGeneration", "status.conditions.0.status", "status.conditions.0.reason"):
        assert field in problems, problems


def test_status_patch_removes_keys_at_every_depth_and_sends_only_changes():
    stored = {
        "observedGeneration": 3,
        "rotation": {"phase": "Trusting", "settledAt": "t0", "id": "r1"},
        "pending": ["a"],
        "gone": 1,
    }
    desired = {"observedGeneration": 3, "rotation": {"phase": "Reissuing", "id": "r1"}, "pending": ["a", "b"]}
    patch = merge_patch(stored, desired)
    assert patch == {"rotation": {"phase": "Reissuing", "settledAt": None}, "pending": ["a", "b"], "gone": None}
    assert merge_patch(desired, desired) == {}
    # None for a key the stored status does not have is no change (the server keeps no nulls to compare with).
    assert merge_patch(desired, {**desired, "endpoint": None}) == {}
    assert merge_patch({**desired, "endpoint": "e"}, {**desired, "endpoint": None}) == {"endpoint": None}


def test_claims_read_back_in_both_encodings_and_the_tag_one_fits_aws_tags():
    primary = {"kind": "AWSConfig", "metadata": {"namespace": "team-a", "name": "c1", "uid": "0f1e2d3c-4b5a-6978"}}
    owner = Owner.of(primary)
    tag = owner.encode_tag()
    assert tag == "AWSConfig/team-a/c1/0f1e2d3c-4b5a-6978"
    assert Owner.decode(tag) == owner == Owner.decode(owner.encode())
    assert re.fullmatch(r"[\w .:/=+\-@]{1,256}", tag), "S3's and IAM's tag value characters"
    cluster_scoped = Owner("FlannelConfig", None, "net", "u1")
    assert Owner.decode(cluster_scoped.encode_tag()) == cluster_scoped
    for text in ("", "a/b/c", "a/b/c/d/e", "/ns/name/uid", "Kind/ns//uid", "Kind/ns/name/", "{not json"):
        assert Owner.decode(text) is None, text
    assert check_claim(tag, "bucket b", primary, owner_exists=True)
    other = {"kind": "AWSConfig", "metadata": {"namespace": "team-b", "name": "c1", "uid": "other"}}
    with pytest.raises(NotOwned, match="belongs to AWSConfig team-a/c1"):
        check_claim(tag, "bucket b", other, owner_exists=True)


def test_a_refusal_names_the_namespace_and_whether_and_how_the_object_can_be_handed_over():
    """Finding 6 of issue 29: the hint named no namespace, and its short annotation matched a namespaced primary of
    that name in any namespace. Each hint's annotation is one adoption_allowed accepts (and the charts' admission
    policies: tests/security), and says who may set it."""
    from operatorkit._core.ownership import adoption_allowed, refusal
    from operatorkit.kinds import SECRET

    def annotation(message: str) -> str:
        found = re.search(r"kubeception\.io/adopt=([^\s)]+)", message)
        assert found, message
        return found.group(1)

    tenant = {"kind": "KVMConfig", "metadata": {"namespace": "team-a", "name": "demo", "uid": "u1"}}
    secret = {"metadata": {"namespace": "team-a", "name": "demo-kubeconfig"}}
    message = str(refusal(SECRET, secret, tenant))
    assert "Secret team-a/demo-kubeconfig already exists and is not managed by KVMConfig team-a/demo" in message
    assert (
        "annotate it: kubectl annotate secrets -n team-a demo-kubeconfig kubeception.io/adopt=KVMConfig/team-a/demo"
        in message
    )
    assert annotation(message) == "KVMConfig/team-a/demo"
    invited = {"metadata": {**secret["metadata"], "annotations": {"kubeception.io/adopt": annotation(message)}}}
    assert adoption_allowed(invited, tenant)

    # Outside the tenant's namespace (or cluster-scoped): only a platform admin can hand it over.
    namespace = {"metadata": {"name": "demo"}}
    message = str(refusal(NAMESPACE, namespace, tenant))
    assert "it is cluster-scoped, not in team-a: only a platform admin can hand it over" in message
    assert "kubectl annotate namespaces demo kubeception.io/adopt=KVMConfig/team-a/demo" in message
    elsewhere = str(refusal(SECRET, {"metadata": {"namespace": "team-b", "name": "x"}}, tenant))
    assert "it is in namespace team-b, not in team-a: only a platform admin" in elsewhere
    # The short form names a namespaced primary only in its own namespace: elsewhere it is ambiguous.
    short = {"metadata": {"name": "demo", "annotations": {"kubeception.io/adopt": "KVMConfig/demo"}}}
    assert not adoption_allowed(short, tenant)
    assert adoption_allowed({"metadata": {**short["metadata"], "namespace": "team-a"}}, tenant)
    assert not adoption_allowed({"metadata": {**short["metadata"], "namespace": "team-b"}}, tenant)
    assert adoption_allowed(
        {"metadata": {"name": "demo", "annotations": {"kubeception.io/adopt": "KVMConfig/team-a/demo"}}}, tenant
    )

    # A cluster-scoped primary (platform admins create it) names itself without a namespace.
    network = {"kind": "FlannelConfig", "metadata": {"name": "demo", "uid": "u2"}}
    message = str(refusal(NAMESPACE, {"metadata": {"name": "flannel-demo"}}, network))
    assert message.endswith(
        "(to hand it over to FlannelConfig demo, annotate it: "
        "kubectl annotate namespaces flannel-demo kubeception.io/adopt=FlannelConfig/demo)"
    )

    # Owned by another: named with its namespace, and no adoption is offered.
    owned = {
        "metadata": {
            "namespace": "team-a",
            "name": "demo-kubeconfig",
            "ownerReferences": [{"kind": "KVMConfig", "name": "old", "uid": "u0", "controller": True}],
        }
    }
    message = str(refusal(SECRET, owned, tenant))
    assert "belongs to KVMConfig team-a/old (uid u0), not to KVMConfig team-a/demo" in message
    assert "not handed over while KVMConfig team-a/old owns it" in message
    assert "adopt" not in message


@pytest.mark.parametrize(
    ("requested", "waited", "cap", "expected"),
    [
        (2, 0, 1000, 2),  # a fresh wait: what the resource asked for
        (2, 15, 1000, 2),
        (2, 60, 1000, 6),  # a minute in: every 6 s
        (2, 3600, 1000, 360),  # an hour in: every 6 minutes
        (2, 86400, 1000, 1000),  # never longer than the backoff cap
        (0.2, 86400, 2, 2),  # tests run with a small cap
        (30, 60, 1000, 30),  # a longer request stands
    ],
)
def test_a_deletion_that_waits_long_looks_less_often(requested, waited, cap, expected):
    assert deletion_wait(requested, waited, cap) == expected


def test_metric_sum_adds_the_samples_whose_labels_match():
    counter = Counter("operatorkit_test_metric_sum", "metric_sum's own test", ["controller", "host"])
    try:
        counter.labels("a", "127.0.0.1:6443").inc(2)
        counter.labels("a", "127.0.0.1:7443").inc(3)
        counter.labels("b", "127.0.0.1:6443").inc(5)
        name = "operatorkit_test_metric_sum_total"
        assert metric_sum(name) == 10
        assert metric_sum(name, controller="a") == 5
        assert metric_sum(name, controller="a", host=lambda host: host.endswith(":6443")) == 2
        assert metric_sum(name, controller="c") == 0, "nothing counted yet"
        assert metric_sum(name, missing="x") == 0, "a label the metric does not have matches nothing"
        assert metric_sum("operatorkit_test_metric_sum") == 0, "a sample's name, not the metric's"
    finally:
        REGISTRY.unregister(counter)


def test_timestamps_are_written_as_kubernetes_writes_them_and_read_back_leniently():
    """One format for every operator (issue 28: four helpers wrote two formats); what an earlier version stored
    (aws-operator's ``+00:00``), fractions and a time without offset are read back, as UTC."""
    import datetime

    from operatorkit import timestamps

    moment = datetime.datetime(2026, 12, 7, 3, 54, 0, 500_000, tzinfo=datetime.timezone(datetime.timedelta(hours=2)))
    assert timestamps.stamp(moment) == "2026-12-07T01:54:00Z"
    utc = datetime.datetime(2026, 12, 7, 1, 54, tzinfo=datetime.UTC)
    for text in (
        "2026-12-07T01:54:00Z",
        "2026-12-07T01:54:00+00:00",
        "2026-12-07T01:54:00",
        "2026-12-07T03:54:00+02:00",
    ):
        assert timestamps.parse(text) == utc, text
    assert timestamps.since(timestamps.stamp(timestamps.now() + datetime.timedelta(hours=1))) == 0.0
    with pytest.raises(ValueError, match="Invalid isoformat"):
        timestamps.parse("yesterday")


def test_a_timeout_names_the_last_reason_on_its_one_line():
    def never() -> bool:
        raise LookupError("web\nnot served")

    with pytest.raises(TimeoutError) as raised:
        wait_until(never, timeout=0.05, interval=0.01, message="web")
    assert str(raised.value) == "timed out after 0 s waiting for web (last: LookupError: web not served)"
    assert isinstance(raised.value.__cause__, LookupError)


def test_a_wave_fails_when_it_stops_moving_not_while_it_moves():
    waves = iter([{"a": "x", "b": "y", "c": "z"}, {"b": "y", "c": "z"}, {"c": "z"}, {}])
    assert wait_progressing(lambda: next(waves), stall=5, limit=5, interval=0.01) < 1

    def stuck() -> dict[str, str]:
        return {"b": "Waiting\nfor Vault", "c": "CertificatesReady=False"}

    with pytest.raises(TimeoutError) as raised:
        wait_progressing(stuck, stall=0.05, limit=5, interval=0.01, message="clusters")
    assert str(raised.value).startswith("clusters: 2 left after 0 s, none done in the last 0 s (b: Waiting for Vault;")

    def failing() -> dict[str, str]:
        raise ConnectionError("refused")

    with pytest.raises(TimeoutError, match=r"\? left .*last: ConnectionError: refused"):
        wait_progressing(failing, stall=0.05, limit=5, interval=0.01)


class FakeResponse:
    """Streams ``chunks``; once shut down, the next read fails as urllib3's does on a socket shut for reading."""

    def __init__(self, *chunks: bytes) -> None:
        self.chunks = list(chunks)
        self.calls: list[str] = []

    def stream(self, amt: int, decode_content: bool) -> Iterator[bytes]:
        for chunk in self.chunks:
            if "shutdown" in self.calls:
                raise urllib3.exceptions.ProtocolError("Response ended prematurely")
            yield chunk

    def shutdown(self) -> None:
        self.calls.append("shutdown")

    def close(self) -> None:
        self.calls.append("close")


def test_a_watch_read_by_one_thread_is_closed_by_that_thread_only():
    """Two threads closing one urllib3 response race inside http.client ("I/O operation on closed file")."""
    response = FakeResponse(b'{"type":"ADDED"}\n', b'{"type":"MODIFIED"}\n')
    stream = WatchStream(response)
    events = iter(stream)
    assert next(events) == {"type": "ADDED"}
    stream.close()  # as a stopping informer does, while its reader is between two events
    assert response.calls == ["shutdown"], "the stopper only wakes the reader"
    with pytest.raises(urllib3.exceptions.ProtocolError):
        next(events)
    assert response.calls == ["shutdown", "shutdown", "close"], "the reader closes it, once"
    stream.close()
    assert response.calls.count("close") == 1


def test_a_watch_closed_before_it_is_read_yields_nothing():
    response = FakeResponse(b'{"type":"ADDED"}\n')
    stream = WatchStream(response)
    stream.close()
    assert list(stream) == []
    assert response.calls == ["shutdown", "close"]
