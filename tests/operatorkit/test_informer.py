"""Informer resilience against the real servers: apiserver restart, etcd compaction (410), a silent watch."""

from __future__ import annotations

import urllib.request
import uuid
from typing import Any

import pytest
import urllib3
import yaml

from kubeception_testenv import ControlPlane, wait_for
from kubeception_testenv.controlplane import UNCACHED_RESOURCE
from operatorkit import ApiError, Kind, KubeClient, is_true
from operatorkit._runtime.informer import Informer
from operatorkit.example import GREETING
from operatorkit.example.controller import greeting_controller
from operatorkit.kinds import CONFIG_MAP
from tests.operatorkit.conftest import greeting

RELIST = Kind("testenv.kubeception.io/v1", "Relist", "relists")


@pytest.fixture(scope="module")
def relist_crd(control_plane: ControlPlane) -> None:
    """A kind the apiserver serves without its watch cache, so an old resourceVersion reaches etcd itself."""
    group = UNCACHED_RESOURCE.split(".", 1)[1]
    crd = {
        "apiVersion": "apiextensions.k8s.io/v1",
        "kind": "CustomResourceDefinition",
        "metadata": {"name": UNCACHED_RESOURCE},
        "spec": {
            "group": group,
            "scope": "Namespaced",
            "names": {"kind": "Relist", "plural": "relists", "singular": "relist"},
            "versions": [
                {
                    "name": "v1",
                    "served": True,
                    "storage": True,
                    "schema": {"openAPIV3Schema": {"type": "object", "x-kubernetes-preserve-unknown-fields": True}},
                }
            ],
        },
    }
    control_plane.kubectl("apply", "-f", "-", input=yaml.safe_dump(crd))
    control_plane.kubectl("wait", "--for=condition=Established", "--timeout=30s", f"crd/{UNCACHED_RESOURCE}")


class Recorder:
    def __init__(self) -> None:
        self.events: list[tuple[str, str]] = []

    def on_add(self, obj: dict[str, Any]) -> None:
        self.events.append(("add", obj["metadata"]["name"]))

    def on_update(self, old: dict[str, Any], new: dict[str, Any]) -> None:
        self.events.append(("update", new["metadata"]["name"]))

    def on_delete(self, obj: dict[str, Any]) -> None:
        self.events.append(("delete", obj["metadata"]["name"]))


def relist(name: str, namespace: str) -> dict[str, Any]:
    return {"apiVersion": RELIST.api_version, "kind": "Relist", "metadata": {"name": name, "namespace": namespace}}


def _first_watch_answer(kube: KubeClient, namespace: str, resource_version: str | None) -> tuple[str, int]:
    """The server says 410 either as the HTTP status or as the first (ERROR) event."""
    try:
        first = next(iter(kube.watch(RELIST, namespace, resource_version=resource_version, timeout_seconds=5)))
    except ApiError as exc:
        return ("ERROR", exc.status)
    return (first["type"], int(first["object"].get("code", 0)))


@pytest.mark.usefixtures("relist_crd")
def test_etcd_compaction_gives_410_and_relist_catches_up(control_plane, kube: KubeClient, namespace):
    kube.create(RELIST, relist("a", namespace))
    kube.create(RELIST, relist("b", namespace))
    informer = Informer(kube, RELIST, namespace=namespace, inactivity_timeout=5)
    recorder = Recorder()
    informer.add_handler(recorder)
    informer.start()
    assert informer.wait_synced(10)
    assert sorted(informer.store.all_keys()) == [f"{namespace}/a", f"{namespace}/b"]
    informer.stop()
    stale = informer.resource_version

    # While the informer is away: a delete and a create, then the history is compacted.
    kube.delete(RELIST, "b", namespace)
    kube.create(RELIST, relist("c", namespace))
    control_plane.etcd.compact()
    assert _first_watch_answer(kube, namespace, stale) == ("ERROR", 410)

    informer.start()  # resumes from the stale resourceVersion → 410 → relist
    wait_for(lambda: informer.relists == 2, timeout=20, message="a relist after 410 Gone")
    assert sorted(informer.store.all_keys()) == [f"{namespace}/a", f"{namespace}/c"]
    assert ("delete", "b") in recorder.events, "a deletion missed while away is still delivered"
    assert ("add", "c") in recorder.events
    kube.create(RELIST, relist("d", namespace))
    wait_for(lambda: informer.store.get(f"{namespace}/d") is not None, timeout=10, message="watch after relist")
    informer.stop()


@pytest.mark.usefixtures("greeting_crd")
def test_apiserver_restart_mid_watch_loses_no_update(control_plane, kube: KubeClient, namespace, run_operator):
    run_operator([greeting_controller("restart")])
    kube.create(GREETING, greeting("before", namespace, "one"))
    wait_for(
        lambda: kube.get_or_none(CONFIG_MAP, "before-greeting", namespace) is not None,
        timeout=20,
        message="reconciled before the restart",
    )

    control_plane.restart_apiserver()
    # Changes made the moment the server is back, before the operator's watches have reconnected.
    kube.patch(GREETING, "before", {"spec": {"message": "two"}}, namespace)
    kube.create(GREETING, greeting("after", namespace, "three"))

    def converged() -> bool:
        before = kube.get_or_none(CONFIG_MAP, "before-greeting", namespace)
        after = kube.get_or_none(CONFIG_MAP, "after-greeting", namespace)
        return (
            before is not None
            and before["data"]["message"] == "two"
            and after is not None
            and after["data"]["message"] == "three"
        )

    wait_for(converged, timeout=60, message="both changes reconciled after the restart")


def _healthz(port: int) -> int:
    try:
        with urllib.request.urlopen(f"http://127.0.0.1:{port}/healthz", timeout=5) as response:
            return int(response.status)
    except urllib.error.HTTPError as exc:
        return exc.code


@pytest.mark.usefixtures("greeting_crd")
def test_silent_watch_is_restarted_and_reported_by_healthz(control_plane, kube: KubeClient, namespace, run_operator):
    operator = run_operator([greeting_controller(f"silent-{uuid.uuid4().hex[:4]}")], watch={"inactivity_timeout": 1.0})
    port = operator.http_ports[-1]
    assert _healthz(port) == 200
    restarts = sum(informer.watch_restarts for informer in operator.informers)
    control_plane.apiserver.pause()  # the server holds its connections but says nothing
    try:
        wait_for(lambda: _healthz(port) == 500, timeout=20, message="/healthz to report the stalled watch")
        assert sum(informer.watch_restarts for informer in operator.informers) > restarts
    finally:
        control_plane.apiserver.resume()
    wait_for(lambda: _healthz(port) == 200, timeout=30, message="/healthz to recover")
    kube.create(GREETING, greeting("after-stall", namespace))
    wait_for(
        lambda: is_true(kube.get(GREETING, "after-stall", namespace).get("status"), "Ready"),
        timeout=30,
        message="reconciles resume",
    )


def test_what_a_watch_raises_when_the_api_server_stalls_or_dies(control_plane, kube: KubeClient, namespace):
    """What a caller of ``KubeClient.watch`` must handle: a watch the server ends on time raises nothing; a stalled
    server, urllib3's ReadTimeoutError; a killed one, urllib3's ProtocolError — neither is an OSError. (Closing the
    broken stream a second time raised urllib3 2.x's ValueError, which replaced the ProtocolError: the HAProxy agent,
    handling OSError and ValueError only, survived a killed API server by that accident and died of a stalled one.)"""
    version = kube.list(CONFIG_MAP, namespace)["metadata"]["resourceVersion"]
    list(kube.watch(CONFIG_MAP, namespace, resource_version=version, timeout_seconds=1))
    stalled = kube.watch(CONFIG_MAP, namespace, resource_version=version, inactivity_timeout=1)
    control_plane.apiserver.pause()
    try:
        with pytest.raises(urllib3.exceptions.ReadTimeoutError):
            list(stalled)
    finally:
        control_plane.apiserver.resume()
    broken = kube.watch(CONFIG_MAP, namespace, resource_version=version)
    control_plane.apiserver.kill()
    try:
        with pytest.raises(urllib3.exceptions.ProtocolError):
            list(broken)
    finally:
        control_plane.apiserver.start()
