"""Never touch what you don't own, one owner per cluster, nothing issued that is not stored — cert-operator
against the real control plane and a real OpenBao."""

from __future__ import annotations

import base64
import functools
import uuid
from typing import Any

import pytest

from guestkit import CA_CONFIG, CERT_CONFIG
from kubeception_testenv import wait_for
from operatorkit import ADOPT_ANNOTATION, ApiError, KubeClient
from operatorkit.kinds import NAMESPACE, SECRET
from operatorkit.testing import condition_of, status_of
from tests.cert.helpers import ca_config, cert_config, issued_serials, ready, revoked

TEST_LABEL = "kubeception.io/test"


def condition(kube: KubeClient, kind: Any, name: str, namespace: str, reason: str) -> dict[str, Any] | None:
    found = condition_of(kube, kind, name, namespace)
    return found if found is not None and found["reason"] == reason else None


def foreign_secret(kube: KubeClient, name: str, namespace: str, type_: str = "kubernetes.io/tls") -> dict[str, Any]:
    data = {"tls.crt": base64.b64encode(b"theirs").decode(), "tls.key": base64.b64encode(b"theirs").decode()}
    if type_ == "Opaque":
        data = {"password": base64.b64encode(b"hunter2").decode()}
    return kube.create(SECRET, {"metadata": {"name": name, "namespace": namespace}, "type": type_, "data": data})


def refuses_secret(kube: KubeClient, namespace: str, name: str) -> bool:
    """Whether the API server refuses a Secret ``name`` (a dry run: nothing is stored)."""
    try:
        kube.request(
            "POST",
            SECRET.path(namespace),
            query={"dryRun": "All"},
            body={"apiVersion": "v1", "kind": "Secret", "metadata": {"name": name, "namespace": namespace}},
        )
    except ApiError as exc:
        return exc.status in (403, 422)
    return False


@pytest.mark.parametrize("type_", ["kubernetes.io/tls", "Opaque"])
def test_a_secret_it_does_not_own_is_never_written_nor_deleted(kube, namespace, bao, start_cert_operator, type_):
    start_cert_operator()
    cluster = f"o{uuid.uuid4().hex[:6]}"
    kube.create(CA_CONFIG, ca_config("ca", namespace, cluster))
    wait_for(functools.partial(ready, kube, CA_CONFIG, "ca", namespace), timeout=30, message="CA ready")
    before = foreign_secret(kube, "victim", namespace, type_)
    serials = issued_serials(bao, cluster)

    kube.create(CERT_CONFIG, cert_config("thief", namespace, cluster, secretName="victim"))
    refused = wait_for(
        functools.partial(condition, kube, CERT_CONFIG, "thief", namespace, "NotOwned"), timeout=30, message="refusal"
    )
    assert isinstance(refused, dict)
    assert "Secret" in refused["message"]
    assert "victim" in refused["message"]
    hint = f"kubectl annotate secrets -n {namespace} victim {ADOPT_ANNOTATION}=CertConfig/{namespace}/thief"
    assert hint in refused["message"], "says how to hand it over, naming the namespace (issue 29)"
    assert issued_serials(bao, cluster) == serials, "nothing is issued for a Secret it may not write"

    kube.delete(CERT_CONFIG, "thief", namespace)
    wait_for(lambda: kube.get_or_none(CERT_CONFIG, "thief", namespace) is None, timeout=30, message="deleted")
    after = kube.get(SECRET, "victim", namespace)
    assert after["data"] == before["data"]
    assert after["metadata"]["resourceVersion"] == before["metadata"]["resourceVersion"], "never written"


def test_a_secret_another_certconfig_owns_is_left_to_it(kube, namespace, bao, start_cert_operator):
    start_cert_operator()
    cluster = f"s{uuid.uuid4().hex[:6]}"
    kube.create(CA_CONFIG, ca_config("ca", namespace, cluster))
    kube.create(CERT_CONFIG, cert_config("first", namespace, cluster, secretName="shared"))
    wait_for(functools.partial(ready, kube, CERT_CONFIG, "first", namespace), timeout=30, message="first issued")
    owned = kube.get(SECRET, "shared", namespace)

    kube.create(CERT_CONFIG, cert_config("second", namespace, cluster, secretName="shared", commonName="other"))
    refused = wait_for(
        functools.partial(condition, kube, CERT_CONFIG, "second", namespace, "NotOwned"), timeout=30, message="refusal"
    )
    assert isinstance(refused, dict)
    assert f"belongs to CertConfig {namespace}/first" in refused["message"], refused["message"]
    kube.delete(CERT_CONFIG, "second", namespace)
    wait_for(lambda: kube.get_or_none(CERT_CONFIG, "second", namespace) is None, timeout=10, message="deleted")
    assert kube.get(SECRET, "shared", namespace)["data"] == owned["data"]
    assert ready(kube, CERT_CONFIG, "first", namespace)
    assert not revoked(bao, cluster, status_of(kube, CERT_CONFIG, "first", namespace)["serial"])


def test_an_existing_secret_is_adopted_only_when_it_invites_it(kube, namespace, start_cert_operator):
    start_cert_operator()
    cluster = f"a{uuid.uuid4().hex[:6]}"
    kube.create(CA_CONFIG, ca_config("ca", namespace, cluster))
    foreign_secret(kube, "handed-over", namespace)
    kube.create(CERT_CONFIG, cert_config("heir", namespace, cluster, secretName="handed-over"))
    refused = wait_for(
        functools.partial(condition, kube, CERT_CONFIG, "heir", namespace, "NotOwned"), timeout=30, message="refusal"
    )
    assert isinstance(refused, dict)
    invitation = f"CertConfig/{namespace}/heir"  # what the refusal says to write
    assert f"{ADOPT_ANNOTATION}={invitation})" in refused["message"], refused["message"]
    kube.patch(SECRET, "handed-over", {"metadata": {"annotations": {ADOPT_ANNOTATION: invitation}}}, namespace)
    wait_for(functools.partial(ready, kube, CERT_CONFIG, "heir", namespace), timeout=30, message="adopted and issued")
    secret = kube.get(SECRET, "handed-over", namespace)
    heir = kube.get(CERT_CONFIG, "heir", namespace)
    assert secret["metadata"]["ownerReferences"][0]["uid"] == heir["metadata"]["uid"]


def test_one_caconfig_per_cluster_across_namespaces(kube, namespace, bao, start_cert_operator):
    marker = uuid.uuid4().hex[:8]
    start_cert_operator(namespace=None, selector=f"{TEST_LABEL}={marker}")
    other = f"t-{uuid.uuid4().hex[:8]}"
    kube.create(NAMESPACE, {"metadata": {"name": other}})
    try:
        cluster = f"d{uuid.uuid4().hex[:6]}"
        first, second = ca_config("ca", namespace, cluster), ca_config("ca", other, cluster)
        for ca in (first, second):
            ca["metadata"]["labels"] = {TEST_LABEL: marker}
        kube.create(CA_CONFIG, first)
        wait_for(functools.partial(ready, kube, CA_CONFIG, "ca", namespace), timeout=30, message="first CA ready")
        serial = status_of(kube, CA_CONFIG, "ca", namespace)["ca"]["serial"]
        kube.create(CA_CONFIG, second)
        refused = wait_for(
            functools.partial(condition, kube, CA_CONFIG, "ca", other, "NotOwned"), timeout=30, message="duplicate"
        )
        assert isinstance(refused, dict)
        assert f"Vault PKI mount pki-{cluster} belongs to CAConfig {namespace}/ca" in refused["message"]

        kube.delete(CA_CONFIG, "ca", other)
        wait_for(lambda: kube.get_or_none(CA_CONFIG, "ca", other) is None, timeout=10, message="duplicate deleted")
        assert f"pki-{cluster}/" in bao.sys.list_mounted_secrets_engines()["data"], "the first CA's mount survives"
        issuer = bao.read(f"pki-{cluster}/issuer/default")["data"]
        assert not issuer.get("revoked"), "and its CA is not revoked"
        assert status_of(kube, CA_CONFIG, "ca", namespace)["ca"]["serial"] == serial
        assert ready(kube, CA_CONFIG, "ca", namespace)
        certificate = cert_config("api", namespace, cluster)
        certificate["metadata"]["labels"] = {TEST_LABEL: marker}
        kube.create(CERT_CONFIG, certificate)
        wait_for(functools.partial(ready, kube, CERT_CONFIG, "api", namespace), timeout=30, message="still issues")
    finally:
        kube.delete(NAMESPACE, other)


def test_a_certificate_whose_secret_cannot_be_stored_is_revoked(
    kube, namespace, bao, start_cert_operator, control_plane
):
    """An admission policy refuses the Secret after Vault issued the certificate: it is revoked at once, and
    retries are bounded by the re-issue floor."""
    policy = f"refuse-secret-{namespace}"
    control_plane.kubectl(
        "apply",
        "-f",
        "-",
        input=f"""
apiVersion: admissionregistration.k8s.io/v1
kind: ValidatingAdmissionPolicy
metadata: {{name: {policy}}}
spec:
  failurePolicy: Fail
  matchConstraints:
    resourceRules:
    - {{apiGroups: [""], apiVersions: [v1], operations: [CREATE, UPDATE], resources: [secrets]}}
  validations:
  - expression: "object.metadata.name != 'unstorable'"
    message: this Secret may not be written
---
apiVersion: admissionregistration.k8s.io/v1
kind: ValidatingAdmissionPolicyBinding
metadata: {{name: {policy}}}
spec:
  policyName: {policy}
  validationActions: [Deny]
  matchResources:
    namespaceSelector: {{matchLabels: {{kubernetes.io/metadata.name: {namespace}}}}}
""",
    )
    try:
        wait_for(lambda: refuses_secret(kube, namespace, "unstorable"), timeout=30, message="the policy in force")
        start_cert_operator()
        cluster = f"w{uuid.uuid4().hex[:6]}"
        kube.create(CA_CONFIG, ca_config("ca", namespace, cluster))
        wait_for(functools.partial(ready, kube, CA_CONFIG, "ca", namespace), timeout=30, message="CA ready")
        ca_serials = issued_serials(bao, cluster)
        kube.create(CERT_CONFIG, cert_config("unstorable", namespace, cluster))

        def issued() -> set[str]:
            return issued_serials(bao, cluster) - ca_serials

        wait_for(lambda: len(issued()) >= 2, timeout=30, message="two attempts")
        failed = condition_of(kube, CERT_CONFIG, "unstorable", namespace)
        assert failed is not None
        assert "this Secret may not be written" in failed["message"]
        # A serial listed here may be one the operator is still trying to store: revocation follows the refused
        # write within the same pass, so each one seen must be revoked within seconds, not at the instant of listing.
        attempts = issued()
        wait_for(
            lambda: all(revoked(bao, cluster, serial) for serial in attempts),
            timeout=10,
            message="every certificate not stored revoked",
        )
        wait_for(lambda: len(issued()) >= len(attempts) + 2, timeout=30, message="more attempts")
        later = issued()
        wait_for(
            lambda: all(revoked(bao, cluster, serial) for serial in later),
            timeout=10,
            message="every later certificate not stored revoked",
        )
        assert not status_of(kube, CERT_CONFIG, "unstorable", namespace).get("pendingRevocations")
    finally:
        control_plane.kubectl("delete", "validatingadmissionpolicybinding,validatingadmissionpolicy", policy)


def test_a_new_secret_name_moves_the_certificate(kube, namespace, bao, start_cert_operator):
    start_cert_operator()
    cluster = f"m{uuid.uuid4().hex[:6]}"
    kube.create(CA_CONFIG, ca_config("ca", namespace, cluster))
    kube.create(CERT_CONFIG, cert_config("api", namespace, cluster, secretName="before"))
    wait_for(functools.partial(ready, kube, CERT_CONFIG, "api", namespace), timeout=30, message="issued")
    old = status_of(kube, CERT_CONFIG, "api", namespace)["serial"]
    kube.patch(CERT_CONFIG, "api", {"spec": {"secretName": "after"}}, namespace)
    wait_for(
        lambda: (
            status_of(kube, CERT_CONFIG, "api", namespace).get("secretName") == "after"
            and kube.get_or_none(SECRET, "before", namespace) is None
        ),
        timeout=30,
        message="moved",
    )
    assert kube.get(SECRET, "after", namespace)["type"] == "kubernetes.io/tls"
    assert status_of(kube, CERT_CONFIG, "api", namespace)["serial"] != old
    assert revoked(bao, cluster, old), "the certificate left behind is revoked"
