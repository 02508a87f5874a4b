"""Hostile input against the live operators: generated specs (Hypothesis) and cross-tenant references.

Tenant B (the victim) has a CA, a certificate in a Secret and a network. Tenant A throws objects at the operators:
malformed values, huge strings, shell metacharacters, wrong types — and B's cluster id, Secret, bridge, VNI and
network. For every example: the API server refuses it with a readable message, or the operator ends with a
readable Ready condition; B's state is unchanged; the operators stay up without a single panic; the work an
example causes is bounded; and once the object is deleted, nothing of it is left behind.
"""

from __future__ import annotations

import functools
import uuid
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from cert_operator.controller import ca_controller, cert_controller
from cert_operator.vault import Vault
from cert_operator.vault_auth import TokenAuth
from flannel_operator.controller import flannel_controller, shared_parts
from flannel_operator.spec import FLANNEL_CONFIG
from guestkit import CA_CONFIG, CERT_CONFIG
from kubeception_testenv import wait_for
from kvm_operator.spec import KVM_CONFIG
from operatorkit import ApiError, Kind, KubeClient, is_true
from operatorkit.kinds import NAMESPACE, SECRET
from operatorkit.testing import condition_of, metric_sum
from tests.cert.helpers import ca_config, cert_config, ready
from tests.flannel.conftest import settings_for

if TYPE_CHECKING:
    from collections.abc import Iterator

    import etcd3gw
    import hvac

    from kubeception_testenv import EtcdServer, OpenBaoServer
    from operatorkit import Operator
    from operatorkit.testing import OperatorRunner

MARK = "kubeception.io/hostile"
EXAMPLES = 40
INTERNALS = ("Traceback", "pydantic", "errors.pydantic.dev", "<class ", "object at 0x")

# -- what a hostile tenant types ---------------------------------------------------------------------------------
NASTY = [
    "", " ", "a", "$(reboot)", "`id`", "; rm -rf /", "a;b", "../../etc/passwd", "x" * 254, "x" * 100_000,
    "\x00", "\n", "é", "*.", "-a", "A" * 65, "10.0.0.1", "::1", "256.1.1.1", "10.0.0.0/8", "0s", "1s", "59s",
    "99999999999d", "-1h", "1h", "720h", "87600h", "pool.ntp.org", "api.victim.local", "*.victim.local",
]  # fmt: skip
text = st.one_of(st.sampled_from(NASTY), st.text(max_size=20))
value = st.one_of(text, st.integers(min_value=-(2**40), max_value=2**40), st.booleans(), st.none())
texts = st.one_of(st.lists(text, max_size=4), value)


@dataclass
class Victim:
    namespace: str
    cluster: str
    secret: str
    network: str
    vni: int
    bridge: str


def maybe(strategy: st.SearchStrategy[Any]) -> st.SearchStrategy[Any]:
    """A field that may be absent (None drops it) or hold a sane value."""
    return st.one_of(st.none(), strategy)


def spec_of(fields: dict[str, Any]) -> dict[str, Any]:
    return {k: v for k, v in fields.items() if v is not None}


def hostile(sane: st.SearchStrategy[dict[str, Any]], fields: list[str]) -> st.SearchStrategy[dict[str, Any]]:
    """Sane specs (cross-tenant references included), and the same with one field replaced by anything at all:
    so both the API server's validation and the operators' handling of what passes it are exercised."""
    junk = st.tuples(sane, st.sampled_from(fields), st.one_of(value, texts)).map(lambda t: {**t[0], t[1]: t[2]})
    return st.one_of(sane, junk)


def cert_specs(victim: Victim, tenant_cluster: str) -> st.SearchStrategy[dict[str, Any]]:
    own, theirs = f"{tenant_cluster}.local", f"{victim.cluster}.local"
    sane = st.fixed_dictionaries(
        {
            "clusterID": st.sampled_from([tenant_cluster, tenant_cluster, victim.cluster]),
            "role": st.sampled_from(["api", "api", "admin", "nope"]),
            "commonName": st.sampled_from([f"api.{own}", f"api.{own}", "admin", f"x.{theirs}"]),
            "altNames": maybe(st.lists(st.sampled_from([f"a.{own}", f"b.{own}", f"api.{theirs}"]), max_size=3)),
            "ipSANs": maybe(st.lists(st.sampled_from(["127.0.0.1", "::1", "10.0.0.1"]), max_size=3)),
            "organizations": maybe(st.lists(st.sampled_from(["system:masters", "team"]), max_size=2)),
            "ttl": st.sampled_from(["1h", "24h", "24h", "72h"]),
            "renewBefore": maybe(st.sampled_from(["10s", "30m"])),
            "secretName": maybe(st.sampled_from([victim.secret, "mine", "victim-secret"])),
        }
    ).map(spec_of)
    return hostile(sane, ["clusterID", "role", "commonName", "altNames", "ipSANs", "ttl", "secretName", "colour"])


def ca_specs(victim: Victim, tenant_cluster: str) -> st.SearchStrategy[dict[str, Any]]:
    role = st.fixed_dictionaries(
        {
            "name": st.sampled_from(["api", "admin"]),
            "allowedDomains": maybe(st.lists(st.sampled_from(["tenant.local", "victim.local"]))),
            "allowAnyName": maybe(st.booleans()),
            "maxTTL": maybe(st.sampled_from(["1h", "24h"])),
        }
    ).map(spec_of)
    sane = st.fixed_dictionaries(
        {
            "clusterID": st.sampled_from([tenant_cluster, victim.cluster]),
            "commonName": st.just("tenant CA"),
            "ttl": maybe(st.sampled_from(["1h", "48h", "87600h"])),
            "keyType": maybe(st.sampled_from(["rsa", "ec"])),
            "keyBits": maybe(st.sampled_from([256, 2048, 4096])),
            "roles": maybe(st.lists(role, max_size=3, unique_by=lambda r: r["name"])),
        }
    ).map(spec_of)
    return hostile(sane, ["clusterID", "commonName", "ttl", "keyType", "keyBits", "roles", "rotation"])


def flannel_specs(victim: Victim) -> st.SearchStrategy[dict[str, Any]]:
    sane = st.fixed_dictionaries(
        {
            "network": maybe(st.sampled_from([victim.network, "10.250.0.0/16", "10.250.1.0/24", "10.0.0.0/8"])),
            "vni": maybe(st.sampled_from([victim.vni, 4100, 40_000 + victim.vni])),
            "bridgeName": maybe(st.sampled_from([victim.bridge, "br-tenant", "eth0"])),
            "subnetLen": maybe(st.integers(min_value=16, max_value=28)),
            "dns": maybe(st.fixed_dictionaries({"servers": st.lists(st.sampled_from(["10.0.0.10", "::1"]))})),
            "ntp": maybe(st.fixed_dictionaries({"servers": st.lists(st.sampled_from(["pool.ntp.org", "10.0.0.1"]))})),
        }
    ).map(spec_of)
    junk_servers = st.fixed_dictionaries({"servers": texts})
    return st.one_of(
        hostile(sane, ["network", "vni", "bridgeName", "subnetLen", "hostInterface"]),
        st.tuples(sane, st.sampled_from(["dns", "ntp"]), junk_servers).map(lambda t: {**t[0], t[1]: t[2]}),
    )


# -- the world: a victim, a tenant, the operators ------------------------------------------------------------------
@pytest.fixture
def world(
    kube: KubeClient,
    operator_runner: OperatorRunner,
    openbao: OpenBaoServer,
    etcd_server: EtcdServer,
    cert_crds: None,
    flannel_crd: None,
) -> Iterator[tuple[Victim, str, list[Operator]]]:
    """Both operators watching only objects labelled for this run (all namespaces, and the cluster scope)."""
    marker = uuid.uuid4().hex[:8]
    vault = Vault(openbao.url, TokenAuth(openbao.root_token), ca_cert=str(openbao.ca_file))
    selector = f"{MARK}={marker}"
    common = {"namespace": None, "selector": selector, "reconcile": {"backoff_base": 0.05, "backoff_cap": 2}}
    operators = [
        operator_runner.start("cert-operator", [ca_controller(vault), cert_controller(vault, 1)], **common),
        operator_runner.start(
            "flannel-operator",
            [flannel_controller(shared_parts(settings_for(etcd_server, "kubeception.io/no-such-host=true")))],
            settings=settings_for(etcd_server, "kubeception.io/no-such-host=true", **common),
        ),
    ]
    victim_ns, tenant_ns = f"victim-{marker}", f"tenant-{marker}"
    for name in (victim_ns, tenant_ns):
        kube.create(NAMESPACE, {"metadata": {"name": name}})
    cluster = f"victim{marker[:4]}"
    labelled = {"labels": {MARK: marker}}
    kube.create(CA_CONFIG, deep_merge(ca_config("ca", victim_ns, cluster), {"metadata": labelled}))
    kube.create(CERT_CONFIG, deep_merge(cert_config("api", victim_ns, cluster), {"metadata": labelled}))
    network = {"apiVersion": FLANNEL_CONFIG.api_version, "kind": "FlannelConfig", "spec": {"clusterID": cluster}}
    kube.create(FLANNEL_CONFIG, deep_merge(network, {"metadata": {"name": cluster, **labelled}}))
    wait_for(functools.partial(ready, kube, CERT_CONFIG, "api", victim_ns), timeout=60, message="victim certificate")
    wait_for(lambda: (kube.get(FLANNEL_CONFIG, cluster).get("status") or {}).get("etcdKey"), timeout=60, message="net")
    st_ = kube.get(FLANNEL_CONFIG, cluster)["status"]
    victim = Victim(victim_ns, cluster, "api", st_["network"], st_["vni"], st_["bridge"])
    yield victim, tenant_ns, operators
    kube.delete(CERT_CONFIG, "api", victim_ns)
    kube.delete(CA_CONFIG, "ca", victim_ns)
    kube.delete(FLANNEL_CONFIG, cluster)
    wait_for(lambda: kube.get_or_none(FLANNEL_CONFIG, cluster) is None, timeout=60, message="victim network gone")
    wait_for(lambda: kube.get_or_none(CA_CONFIG, "ca", victim_ns) is None, timeout=60, message="victim CA gone")
    for name in (victim_ns, tenant_ns):
        kube.delete(NAMESPACE, name)


def deep_merge(base: dict[str, Any], extra: dict[str, Any]) -> dict[str, Any]:
    merged = dict(base)
    for key, val in extra.items():
        merged[key] = (
            deep_merge(merged[key], val) if isinstance(val, dict) and isinstance(merged.get(key), dict) else val
        )
    return merged


def snapshot(kube: KubeClient, bao: hvac.Client, etcd: etcd3gw.Etcd3Client, victim: Victim) -> dict[str, Any]:
    """Everything of the victim a tenant must never change."""
    ca = kube.get(CA_CONFIG, "ca", victim.namespace)["status"]
    cert = kube.get(CERT_CONFIG, "api", victim.namespace)["status"]
    network = kube.get(FLANNEL_CONFIG, victim.cluster)["status"]
    prefix = f"/coreos.com/network/{victim.bridge}/"
    return {
        "ca": (ca["ca"]["serial"], ca["mount"], is_true(ca, "Ready")),
        "vault": bao.read(f"pki-{victim.cluster}/issuer/default")["data"]["certificate"],
        "revoked": bool(bao.read(f"pki-{victim.cluster}/cert/{cert['serial']}")["data"].get("revocation_time")),
        "certificate": (cert["serial"], is_true(cert, "Ready")),
        "secret": kube.get(SECRET, victim.secret, victim.namespace)["data"],
        "network": {k: network.get(k) for k in ("network", "vni", "bridge", "healthPort", "etcdKey")},
        "etcd": sorted((meta["key"], data) for data, meta in etcd.get_prefix(prefix)),
        "namespace": kube.get(NAMESPACE, f"flannel-{victim.cluster}")["metadata"].get("labels"),
    }


def panics() -> float:
    return metric_sum("controller_runtime_reconcile_panics_total")


def reconciles() -> float:
    return metric_sum("controller_runtime_reconcile_total")


def readable(message: str) -> bool:
    return bool(message.strip()) and not any(internal in message for internal in INTERNALS)


def throw(kube: KubeClient, kind: Kind, obj: dict[str, Any], namespace: str | None) -> str:
    """Create ``obj``; the outcome: refused by the API server, or the operator's Ready condition. Then delete it
    and wait until it is gone."""
    name = obj["metadata"]["name"]
    refusal: ApiError | None = None
    try:
        kube.create(kind, obj)
    except ApiError as exc:
        refusal = exc
    if refusal is not None:
        assert 400 <= refusal.status < 500, f"the API server failed instead of refusing: {refusal}"
        assert readable(refusal.message), refusal.message
        return f"refused {refusal.status}"
    try:
        condition = wait_for(
            lambda: (c := condition_of(kube, kind, name, namespace)) and c.get("observedGeneration") == 1 and c,
            timeout=30,
            message=f"a Ready condition on {kind.kind} {name}",
        )
        assert isinstance(condition, dict)
        assert readable(condition["message"]) or condition["status"] == "True", condition
        return f"{condition['status']} {condition['reason']}"
    finally:
        kube.delete(kind, name, namespace)
        wait_for(lambda: kube.get_or_none(kind, name, namespace) is None, timeout=60, message=f"{name} deleted")


HYPOTHESIS = settings(
    max_examples=EXAMPLES,
    deadline=None,
    derandomize=True,  # the same examples on every run: a CI failure reproduces locally
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow, HealthCheck.data_too_large],
)


def check_untouched(kube, bao, etcd, victim, before, operators, panics_before) -> None:
    assert snapshot(kube, bao, etcd, victim) == before, "tenant A changed tenant B's state"
    assert panics() == panics_before, "an unexpected exception in a reconcile"
    assert all(op.healthz() is None and op.readyz() is None for op in operators), "the operators stay healthy"


def test_hostile_certconfigs_and_caconfigs(kube, bao, etcd_server, world):
    victim, tenant, operators = world
    etcd = etcd_server.client()
    before, panics_before = snapshot(kube, bao, etcd, victim), panics()
    tenant_cluster = f"tenant{uuid.uuid4().hex[:4]}"
    marker = kube.get(CA_CONFIG, "ca", victim.namespace)["metadata"]["labels"][MARK]
    kube.create(
        CA_CONFIG, deep_merge(ca_config("tenant-ca", tenant, tenant_cluster), {"metadata": {"labels": {MARK: marker}}})
    )
    wait_for(functools.partial(ready, kube, CA_CONFIG, "tenant-ca", tenant), timeout=60, message="tenant CA")
    outcomes: list[str] = []

    @HYPOTHESIS
    @given(spec=cert_specs(victim, tenant_cluster))
    def certconfigs(spec: dict[str, Any]) -> None:
        started = reconciles()
        name = f"c-{uuid.uuid4().hex[:8]}"
        obj = {"apiVersion": CERT_CONFIG.api_version, "kind": "CertConfig", "spec": spec}
        obj["metadata"] = {"name": name, "namespace": tenant, "labels": {MARK: marker}}
        outcomes.append(throw(kube, CERT_CONFIG, obj, tenant))
        assert reconciles() - started < 60, "an example's work is bounded"
        check_untouched(kube, bao, etcd, victim, before, operators, panics_before)

    @HYPOTHESIS
    @given(spec=ca_specs(victim, tenant_cluster))
    def caconfigs(spec: dict[str, Any]) -> None:
        name = f"a-{uuid.uuid4().hex[:8]}"
        obj = {"apiVersion": CA_CONFIG.api_version, "kind": "CAConfig", "spec": spec}
        obj["metadata"] = {"name": name, "namespace": tenant, "labels": {MARK: marker}}
        outcomes.append(throw(kube, CA_CONFIG, obj, tenant))
        check_untouched(kube, bao, etcd, victim, before, operators, panics_before)

    certconfigs()
    issued = len(bao.list(f"pki-{tenant_cluster}/certs")["data"]["keys"])
    assert issued <= 1 + 2 * EXAMPLES, f"{issued} certificates for {EXAMPLES} CertConfigs: issuance is bounded"
    caconfigs()
    kube.delete(CA_CONFIG, "tenant-ca", tenant)
    wait_for(lambda: kube.get_or_none(CA_CONFIG, "tenant-ca", tenant) is None, timeout=60, message="tenant CA gone")
    mounts = bao.sys.list_mounted_secrets_engines()["data"]
    assert f"pki-{tenant_cluster}/" not in mounts, "nothing of the tenant left in Vault"
    assert f"pki-{victim.cluster}/" in mounts
    print("cert outcomes:", sorted(set(outcomes)))
    for expected in ("refused", "False NotOwned", "True"):
        assert any(o.startswith(expected) for o in outcomes), f"no example ended {expected}: {sorted(set(outcomes))}"


def test_hostile_flannelconfigs(kube, bao, etcd_server, world):
    victim, _, operators = world
    etcd = etcd_server.client()
    before, panics_before = snapshot(kube, bao, etcd, victim), panics()
    marker = kube.get(FLANNEL_CONFIG, victim.cluster)["metadata"]["labels"][MARK]
    outcomes: list[str] = []
    created: list[str] = []

    @HYPOTHESIS
    @given(spec=flannel_specs(victim), same_id=st.booleans())
    def flannelconfigs(spec: dict[str, Any], same_id: bool) -> None:
        name = f"h-{uuid.uuid4().hex[:8]}"
        cluster = name if same_id else victim.cluster  # claiming the victim's cluster id under another name
        obj = {
            "apiVersion": FLANNEL_CONFIG.api_version,
            "kind": "FlannelConfig",
            "spec": {**spec, "clusterID": cluster},
        }
        obj["metadata"] = {"name": name, "labels": {MARK: marker}}
        created.append(name)
        outcomes.append(throw(kube, FLANNEL_CONFIG, obj, None))
        check_untouched(kube, bao, etcd, victim, before, operators, panics_before)

    flannelconfigs()
    keys = [meta["key"].decode() for _, meta in etcd.get_prefix("/coreos.com/network/")]
    assert not [k for k in keys if any(f"/{name}" in k or f"-{name[2:8]}" in k for name in created)], keys
    wait_for(  # deleted with the FlannelConfig; the namespace controller empties them asynchronously
        lambda: not [n for n in created if kube.get_or_none(NAMESPACE, f"flannel-{n}")],
        timeout=120,
        message="no namespace left behind",
    )
    print("flannel outcomes:", sorted(set(outcomes)))
    assert any(o.startswith("refused") for o in outcomes)


# -- admission cases: what the API server itself refuses ----------------------------------------------------------
def named(kind: Kind, namespace: str, **fields: Any) -> dict[str, Any]:
    name = f"n{uuid.uuid4().hex[:8]}"
    spec = {"clusterID": name, **fields, **({"kubernetesVersion": "1.36.3"} if kind == KVM_CONFIG else {})}
    metadata = {"name": name, **({"namespace": namespace} if kind.namespaced else {})}
    return {"apiVersion": kind.api_version, "kind": kind.kind, "metadata": metadata, "spec": spec}


IMPOSSIBLE_NAMES = [
    # flannel names the VXLAN device flannel.<vni>, and Linux allows 15 characters (issue 29: with VNI 10000000
    # flanneld crash-looped while the network said Ready).
    (FLANNEL_CONFIG, {"vni": 10_000_000}, "flannel.<vni>"),
    (FLANNEL_CONFIG, {"vni": 16_777_215}, "must be at most 9999999"),
    (KVM_CONFIG, {"network": {"vni": 10_000_000}}, "flannel.<vni>"),
    (FLANNEL_CONFIG, {"bridgeName": ".."}, "Linux refuses '.' and '..'"),
    (FLANNEL_CONFIG, {"bridgeName": "flannel.4242"}, "flannel's VXLAN devices"),
    (FLANNEL_CONFIG, {"bridgeName": "vm0123456789"}, "the worker VMs' taps"),
]


@pytest.mark.parametrize(("kind", "fields", "why"), IMPOSSIBLE_NAMES, ids=[str(f) for _, f, _ in IMPOSSIBLE_NAMES])
def test_an_interface_name_that_cannot_exist_is_refused_at_admission(
    kube: KubeClient, namespace: str, flannel_crd: None, kvm_crds: None, kind: Kind, fields: dict[str, Any], why: str
) -> None:
    with pytest.raises(ApiError) as refused:
        kube.create(kind, named(kind, namespace, **fields))
    assert refused.value.status == 422, refused.value
    assert why in refused.value.message, refused.value.message
    assert readable(refused.value.message)


def test_the_largest_vni_whose_device_name_fits_is_accepted(kube, namespace, flannel_crd, kvm_crds) -> None:
    for kind, fields in ((FLANNEL_CONFIG, {"vni": 9_999_999}), (KVM_CONFIG, {"network": {"vni": 9_999_999}})):
        obj = named(kind, namespace, **fields)  # a dry run: validated, nothing stored
        kube.request("POST", kind.path(namespace if kind.namespaced else None), query={"dryRun": "All"}, body=obj)


BAD_LABEL_KEYS = [
    ("bad key", "label keys are"),  # the kubelet's --node-labels would refuse it: the VM never joins
    ("a/b/c", "label keys are"),
    (f"{'a' * 251}/bb", "label keys are"),  # 253 characters at most
    ("node-role.kubernetes.io/x", "reserved"),
]


@pytest.mark.parametrize(("label", "why"), BAD_LABEL_KEYS, ids=[k[:20] for k, _ in BAD_LABEL_KEYS])
def test_a_pool_s_label_keys_are_checked_at_admission(
    kube: KubeClient, namespace: str, kvm_crds: None, label: str, why: str
) -> None:
    """The model refuses a malformed key; the CRD did not (issue 28: found by comparing them), so such a cluster
    was stored and then stuck on InvalidSpec instead of refused with a message."""
    with pytest.raises(ApiError) as refused:
        kube.create(KVM_CONFIG, named(KVM_CONFIG, namespace, workerPools=[{"name": "a", "labels": {label: "x"}}]))
    assert refused.value.status == 422, refused.value
    assert why in refused.value.message, refused.value.message


BAD_RESOLVERS = [
    (["10.0.0.1", "10.0.0.2", "10.0.0.3", "10.0.0.4"], "at most 3"),  # the C library reads three
    (["fd00::53"], "must be an IPv4 address"),
    (["dns.example"], "must be an IPv4 address"),
]


@pytest.mark.parametrize(("servers", "why"), BAD_RESOLVERS, ids=[str(s) for s, _ in BAD_RESOLVERS])
def test_a_cluster_s_resolvers_are_checked_at_admission(
    kube: KubeClient, namespace: str, kvm_crds: None, servers: list[str], why: str
) -> None:
    with pytest.raises(ApiError) as refused:
        kube.create(KVM_CONFIG, named(KVM_CONFIG, namespace, network={"dns": {"servers": servers}}))
    assert refused.value.status == 422, refused.value
    assert why in refused.value.message, refused.value.message
    accepted = kube.create(KVM_CONFIG, named(KVM_CONFIG, namespace, network={"dns": {"servers": ["10.0.0.53"]}}))
    on = {"enabled": True}
    defaults = {"podNetwork": on, "networkPolicy": on, "kubeProxy": on, "coreDNS": on}
    assert accepted["spec"]["addons"] == defaults, "the add-ons' defaults"
    kube.delete(KVM_CONFIG, accepted["metadata"]["name"], namespace)
