"""Ready means ready, bounded work, lost state reported — cert-operator against a real control plane and OpenBao."""

from __future__ import annotations

import datetime
import functools
import time
import uuid
from typing import Any

import pytest
from prometheus_client import REGISTRY

from cert_operator import pem
from cert_operator.resources.ca_health import CAHealth
from cert_operator.spec import CAConfigStatus
from guestkit import CA_CONFIG, CERT_CONFIG
from kubeception_testenv import wait_for
from operatorkit import ApiError, Context, get_condition, timestamps
from operatorkit.kinds import EVENT, SECRET
from operatorkit.testing import condition_of, holds_for, metric_sum, offline_context, reason_of, status_of
from tests.cert.helpers import ca_config, cert_config, issued_serials, ready


def test_a_ttl_beyond_the_role_is_refused_before_anything_is_issued(kube, namespace, bao, start_cert_operator):
    start_cert_operator()
    cluster = f"t{uuid.uuid4().hex[:6]}"
    kube.create(CA_CONFIG, ca_config("ca", namespace, cluster))  # role api: maxTTL 24h
    wait_for(functools.partial(ready, kube, CA_CONFIG, "ca", namespace), timeout=30, message="CA ready")
    before = issued_serials(bao, cluster)
    kube.create(CERT_CONFIG, cert_config("long", namespace, cluster, ttl="72h"))
    wait_for(lambda: reason_of(kube, CERT_CONFIG, "long", namespace) == "TTLTooLong", timeout=30, message="TTL refused")
    message = (condition_of(kube, CERT_CONFIG, "long", namespace) or {})["message"]
    assert "ttl 72h is longer than role api's maxTTL 24h" in message
    # The bug issued and revoked about 6 a second: over 3 s not one is issued.
    assert holds_for(lambda: issued_serials(bao, cluster) == before, 3), "no certificate issued, let alone a loop"


def test_a_name_the_issuer_leaves_out_makes_the_certificate_not_ready(kube, namespace, bao, start_cert_operator):
    """The role sets no organization: asking for one gets a certificate without it — not Ready, and not retried."""
    start_cert_operator()
    cluster = f"n{uuid.uuid4().hex[:6]}"
    kube.create(CA_CONFIG, ca_config("ca", namespace, cluster))
    kube.create(CERT_CONFIG, cert_config("api", namespace, cluster, organizations=["system:masters"]))
    wait_for(
        lambda: reason_of(kube, CERT_CONFIG, "api", namespace) == "NotAsRequested", timeout=30, message="not ready"
    )
    message = (condition_of(kube, CERT_CONFIG, "api", namespace) or {})["message"]
    assert "organizations missing: system:masters" in message
    issued = issued_serials(bao, cluster)
    assert holds_for(lambda: issued_serials(bao, cluster) == issued, 3), "issuing again would give the same answer"


def deferred() -> float:
    return metric_sum("kubeception_certificate_reissue_deferred_total")


def test_issuance_is_bounded_whatever_deletes_the_secret(kube, namespace, bao, start_cert_operator):
    start_cert_operator()
    cluster = f"f{uuid.uuid4().hex[:6]}"
    kube.create(CA_CONFIG, ca_config("ca", namespace, cluster))
    kube.create(CERT_CONFIG, cert_config("api", namespace, cluster))
    wait_for(functools.partial(ready, kube, CERT_CONFIG, "api", namespace), timeout=30, message="issued")
    ca_and_first = issued_serials(bao, cluster)
    before_deferred = deferred()
    started = time.monotonic()
    while time.monotonic() - started < 8:  # something deletes the Secret over and over
        kube.delete(SECRET, "api", namespace)
        time.sleep(0.2)
    elapsed = time.monotonic() - started
    issued = len(issued_serials(bao, cluster) - ca_and_first)
    assert issued <= elapsed / 2 + 1, f"{issued} certificates in {elapsed:.0f} s: more than one per 2 s floor"
    assert deferred() > before_deferred, "held-back issuances are counted"
    wait_for(functools.partial(ready, kube, CERT_CONFIG, "api", namespace), timeout=30, message="issued again")


def test_a_lost_ca_is_reported_and_recreated_only_on_request(kube, namespace, bao, start_cert_operator):
    start_cert_operator()
    cluster = f"l{uuid.uuid4().hex[:6]}"
    kube.create(CA_CONFIG, ca_config("ca", namespace, cluster))
    kube.create(CERT_CONFIG, cert_config("api", namespace, cluster))
    wait_for(functools.partial(ready, kube, CERT_CONFIG, "api", namespace), timeout=30, message="issued")
    lost = status_of(kube, CA_CONFIG, "ca", namespace)["ca"]["serial"]
    secret = kube.get(SECRET, "api", namespace)["data"]

    bao.sys.disable_secrets_engine(f"pki-{cluster}")  # what a Vault without persistence does on restart
    kube.patch(CA_CONFIG, "ca", {"metadata": {"labels": {"nudge": "1"}}}, namespace)  # or the next resync
    wait_for(lambda: reason_of(kube, CA_CONFIG, "ca", namespace) == "CALost", timeout=30, message="CA lost")
    ca_status = status_of(kube, CA_CONFIG, "ca", namespace)
    assert (get_condition(ca_status, "CALost") or {}).get("status") == "True"
    message = (get_condition(ca_status, "Ready") or {})["message"]
    assert lost in message
    assert f"kubeception.io/recreate-ca={lost}" in message, "says how to recreate it"
    assert f"pki-{cluster}/" not in bao.sys.list_mounted_secrets_engines()["data"], "nothing recreated"
    assert REGISTRY.get_sample_value("kubeception_ca_lost", {"namespace": namespace, "name": "ca", "serial": lost}) == 1
    events = kube.list(EVENT, namespace, field_selector="involvedObject.name=ca")["items"]
    assert any(e["type"] == "Warning" and e["reason"] == "CALost" for e in events)
    wait_for(lambda: reason_of(kube, CERT_CONFIG, "api", namespace) == "WaitingForCA", timeout=30, message="cert waits")
    assert kube.get(SECRET, "api", namespace)["data"] == secret, "what was issued is left as it is"

    kube.patch(CA_CONFIG, "ca", {"metadata": {"annotations": {"kubeception.io/recreate-ca": lost}}}, namespace)
    wait_for(functools.partial(ready, kube, CA_CONFIG, "ca", namespace), timeout=30, message="recreated")
    assert status_of(kube, CA_CONFIG, "ca", namespace)["ca"]["serial"] != lost
    wait_for(
        lambda: (
            status_of(kube, CERT_CONFIG, "api", namespace).get("caSerial")
            == status_of(kube, CA_CONFIG, "ca", namespace)["ca"]["serial"]
            and ready(kube, CERT_CONFIG, "api", namespace)
        ),
        timeout=30,
        message="the certificate re-issued by the new CA",
    )
    assert (
        REGISTRY.get_sample_value("kubeception_ca_lost", {"namespace": namespace, "name": "ca", "serial": lost}) is None
    )


def test_ca_parameters_change_only_through_a_rotation(kube, namespace, start_cert_operator):
    start_cert_operator()
    cluster = f"p{uuid.uuid4().hex[:6]}"
    kube.create(CA_CONFIG, ca_config("ca", namespace, cluster))
    with pytest.raises(ApiError) as refused:
        kube.patch(CA_CONFIG, "ca", {"spec": {"commonName": "renamed", "keyType": "ec", "keyBits": 256}}, namespace)
    assert refused.value.status == 422
    assert "change only through a rotation" in refused.value.message
    kube.patch(
        CA_CONFIG,
        "ca",
        {"spec": {"commonName": "renamed", "keyType": "ec", "keyBits": 256, "rotation": {"id": "r1", "overlap": "0s"}}},
        namespace,
    )
    wait_for(
        lambda: (status_of(kube, CA_CONFIG, "ca", namespace).get("rotation") or {}).get("phase") == "Complete",
        timeout=60,
        message="rotation applying the new parameters",
    )
    new_ca = pem.load(status_of(kube, CA_CONFIG, "ca", namespace)["ca"]["certificate"])
    assert new_ca.subject.rfc4514_string() == "CN=renamed"


def ca_context(not_before: str, not_after: str) -> Context[Any, CAConfigStatus]:
    """A CAConfig reconcile's context holding a CA with the given validity (pure logic: no server involved)."""
    ca = {"issuer": "root", "issuerID": "i1", "serial": "01", "notBefore": not_before, "notAfter": not_after}
    obj = {
        "metadata": {"name": "ca", "namespace": "ns", "uid": "u", "generation": 1},
        "status": {"ca": {**ca, "certificate": "-----BEGIN CERTIFICATE-----"}},
    }
    ctx: Context[Any, CAConfigStatus] = offline_context(obj, CAConfigStatus, status_model=CAConfigStatus)
    return ctx


def test_an_expired_ca_is_not_ready_and_one_about_to_expire_is_revisited_in_time():
    expired = ca_context("2020-01-01T00:00:00Z", timestamps.stamp(timestamps.now().replace(microsecond=0)))
    CAHealth().ensure_created(expired)
    condition = get_condition(expired.status, "Ready")
    assert condition is not None
    assert (condition["status"], condition["reason"]) == ("False", "CAExpired")
    assert "rotate it" in condition["message"]

    soon = timestamps.now().replace(microsecond=0) + datetime.timedelta(seconds=90)
    valid = ca_context("2020-01-01T00:00:00Z", timestamps.stamp(soon))
    CAHealth().ensure_created(valid)
    assert (get_condition(valid.status, "Ready") or {}).get("status") == "True"
    assert valid.requeue_delay is not None
    assert valid.requeue_delay <= 90, "back when it expires, to say so"
