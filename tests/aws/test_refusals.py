"""What an AWSConfig is refused, and how: a readable condition, nothing half-made left in any account, and
nobody else's state touched."""

from __future__ import annotations

import functools
import json
import random
import time
import uuid
from typing import TYPE_CHECKING, Any

import boto3
import pytest

from aws_operator import key
from aws_operator.spec import AWS_CONFIG
from guestkit import CERT_CONFIG
from ingress_operator.controller import ingress_controller, shared_parts
from ingress_operator.settings import IngressSettings
from ingress_operator.spec import INGRESS_CONFIG
from kubeception_testenv import MotoServer, wait_for
from kvm_operator.controller import kvm_controller
from kvm_operator.settings import KVMSettings
from kvm_operator.shared import Shared as KVMShared
from kvm_operator.spec import KVM_CONFIG
from operatorkit import ApiError, is_true
from operatorkit.kinds import NAMESPACE
from operatorkit.platform import DOMAIN_CLAIM, HELD
from operatorkit.testing import condition_of, in_process_settings
from tests.aws.conftest import REGION, Guest, aws_config, condition, credentials, status, wait_ready
from tests.conftest import throwaway_namespace
from tests.ingress.conftest import ingress_config
from tests.kvm.conftest import kvm_config

if TYPE_CHECKING:
    from collections.abc import Callable
    from pathlib import Path

    import hvac

    from operatorkit import Kind, KubeClient, Object, Operator
    from operatorkit.testing import OperatorRunner

pytestmark = pytest.mark.slow


def reason(kube: KubeClient, name: str, namespace: str, type_: str = "Ready") -> str:
    return str(condition(kube, name, namespace, type_).get("reason", ""))


def test_template_error_leaves_no_stack(
    kube: KubeClient, namespace: str, account: str, guest: Guest, start_aws: Callable[..., Operator]
) -> None:
    """A hosted zone that does not exist: CloudFormation's error in the condition, the stack deleted."""
    credentials(kube, namespace, f"arn:aws:iam::{account}:role/kubeception")
    start_aws()
    kube.create(AWS_CONFIG, aws_config("zoneless", namespace, dns={"hostedZoneID": "Z0000MISSING"}))
    wait_for(lambda: reason(kube, "zoneless", namespace) == "CreateFailed", timeout=90, message="CreateFailed")
    message = condition(kube, "zoneless", namespace, "Ready")["message"]
    assert "NoSuchHostedZone" in message
    assert "nothing is left behind" in message
    assert guest.live_stacks() == []
    assert status(kube, "zoneless", namespace)["failedTemplate"]
    kube.delete(AWS_CONFIG, "zoneless", namespace)
    wait_for(lambda: kube.get_or_none(AWS_CONFIG, "zoneless", namespace) is None, timeout=90, message="deleted")
    left = guest.leftovers()
    assert left == {k: [] for k in left}


def test_credentials_refused(
    kube: KubeClient, namespace: str, start_aws: Callable[..., Operator], tmp_path: Path
) -> None:
    """No Secret, a Secret without a role ARN, and a role the operator may not assume (moto checking IAM, as AWS
    does): each a CredentialsValid condition naming the cause, and nothing made in AWS."""
    with MotoServer(tmp_path / "moto-iam", unauthenticated_calls=3) as strict:
        iam = boto3.client("iam", endpoint_url=strict.url, region_name=REGION)
        iam.create_user(UserName="aws-operator")
        policy = {
            "Version": "2012-10-17",
            "Statement": [
                {"Effect": "Allow", "Action": "sts:AssumeRole", "Resource": "arn:aws:iam::*:role/kubeception-guest"}
            ],
        }
        iam.put_user_policy(UserName="aws-operator", PolicyName="assume", PolicyDocument=json.dumps(policy))
        access = iam.create_access_key(UserName="aws-operator")["AccessKey"]
        with pytest.MonkeyPatch.context() as env:
            env.setenv("AWS_ACCESS_KEY_ID", access["AccessKeyId"])
            env.setenv("AWS_SECRET_ACCESS_KEY", access["SecretAccessKey"])
            start_aws(url=strict.url)
            kube.create(AWS_CONFIG, aws_config("nosecret", namespace))
            wait_for(lambda: reason(kube, "nosecret", namespace) == "SecretNotFound", timeout=60, message="refused")
            credentials(kube, namespace, "not-an-arn")
            wait_for(lambda: reason(kube, "nosecret", namespace) == "InvalidRoleARN", timeout=60, message="refused")
            kube.delete(AWS_CONFIG, "nosecret", namespace)

            credentials(kube, namespace, "arn:aws:iam::222233334444:role/someone-elses", name="foreign")
            kube.create(AWS_CONFIG, aws_config("foreign", namespace, credentials={"secretName": "foreign"}))
            wait_for(lambda: reason(kube, "foreign", namespace) == "AssumeRoleFailed", timeout=60, message="refused")
            message = condition(kube, "foreign", namespace, "CredentialsValid")["message"]
            assert "AccessDenied" in message
            assert "someone-elses" in message
            assert not status(kube, "foreign", namespace).get("stacks")
            kube.delete(AWS_CONFIG, "foreign", namespace)
            wait_for(lambda: not kube.list(AWS_CONFIG, namespace)["items"], timeout=60, message="deleted")


def test_cluster_id_and_stack_of_another_owner(
    kube: KubeClient,
    namespace: str,
    account: str,
    guest: Guest,
    start_aws: Callable[..., Operator],
) -> None:
    """A stack of the cluster's name that kubeception did not make is neither changed nor deleted; a second
    AWSConfig with a taken cluster id (in another tenant's namespace) is refused, naming the first."""
    credentials(kube, namespace, f"arn:aws:iam::{account}:role/kubeception")
    cfn = guest.client("cloudformation")
    squatter = {"Resources": {"Topic": {"Type": "AWS::SNS::Topic", "Properties": {}}}}
    cfn.create_stack(StackName=key.stack("taken"), TemplateBody=json.dumps(squatter))
    start_aws()
    kube.create(AWS_CONFIG, aws_config("taken", namespace))
    wait_for(lambda: reason(kube, "taken", namespace) == "NotOwned", timeout=90, message="NotOwned")
    message = condition(kube, "taken", namespace, "Ready")["message"]
    assert "CloudFormation stack kubeception-taken" in message
    assert "not created by kubeception" in message
    kube.delete(AWS_CONFIG, "taken", namespace)
    wait_for(lambda: kube.get_or_none(AWS_CONFIG, "taken", namespace) is None, timeout=90, message="deleted")
    stacks = guest.live_stacks()
    assert [s["StackName"] for s in stacks] == ["kubeception-taken"]  # still there, untouched
    assert stacks[0]["StackStatus"] == "CREATE_COMPLETE"


def test_cluster_id_taken_in_another_namespace(
    kube: KubeClient, namespace: str, account: str, guest: Guest, start_aws: Callable[..., Operator]
) -> None:
    """The second AWSConfig of a cluster id is refused naming the first; it made nothing, so its deletion waits for
    nothing (not for the first's stack, bucket, key or PKI of the same names) and goes within seconds."""
    credentials(kube, namespace, f"arn:aws:iam::{account}:role/kubeception")
    start_aws()
    kube.create(AWS_CONFIG, aws_config("dupe", namespace))
    wait_ready(kube, "dupe", namespace)
    before = guest.leftovers()
    with throwaway_namespace(kube) as other:
        credentials(kube, other, f"arn:aws:iam::{account}:role/kubeception")
        kube.create(AWS_CONFIG, aws_config("dupe", other))
        wait_for(lambda: reason(kube, "dupe", other) == "NotOwned", timeout=60, message="second refused")
        assert f"AWSConfig {namespace}/dupe" in condition(kube, "dupe", other, "Ready")["message"]
        assert not status(kube, "dupe", other).get("made")
        kube.delete(AWS_CONFIG, "dupe", other)
        wait_for(lambda: kube.get_or_none(AWS_CONFIG, "dupe", other) is None, timeout=10, message="second gone")
    assert condition(kube, "dupe", namespace, "Ready")["status"] == "True"  # the first is untouched
    assert guest.leftovers() == before
    assert kube.get(NAMESPACE, "dupe")["metadata"].get("deletionTimestamp") is None


def test_an_impossible_region_makes_nothing_and_is_deleted_at_once(
    kube: KubeClient, namespace: str, account: str, guest: Guest, bao: hvac.Client, start_aws: Callable[..., Operator]
) -> None:
    """A region that does not exist passes the CRD's pattern, and moto's STS assumes the role in it; every other
    call there fails. The failing call is the condition; nothing was made (``status.made`` is empty), so deletion
    makes no AWS call and takes the namespace, the CA mount and the certificates with it within seconds."""
    credentials(kube, namespace, f"arn:aws:iam::{account}:role/kubeception")
    start_aws()
    nowhere = "xx-nowhere-9"
    kube.create(AWS_CONFIG, aws_config("nowhere", namespace, region=nowhere, availabilityZones=[f"{nowhere}a"]))
    wait_for(
        lambda: "kms:DescribeKey" in condition(kube, "nowhere", namespace, "Ready").get("message", ""),
        timeout=90,
        message="the failing call in Ready",
    )
    wait_for(
        lambda: (
            len([c for c in kube.list(CERT_CONFIG, "nowhere")["items"] if is_true(c.get("status"), "Ready")])
            == len(key.CERTIFICATES)
        ),
        timeout=90,
        message="the cluster's certificates issued",
    )
    assert "pki-nowhere/" in bao.sys.list_mounted_secrets_engines()["data"]
    assert not status(kube, "nowhere", namespace).get("made")
    began = time.monotonic()
    kube.delete(AWS_CONFIG, "nowhere", namespace)
    wait_for(
        lambda: kube.get_or_none(AWS_CONFIG, "nowhere", namespace) is None,
        timeout=30,
        message="deleted within seconds, no AWS call retried",
    )
    print(f"\nan AWSConfig in an impossible region deleted in {time.monotonic() - began:.1f} s")
    assert kube.get_or_none(NAMESPACE, "nowhere") is None
    assert "pki-nowhere/" not in bao.sys.list_mounted_secrets_engines()["data"]
    left = guest.leftovers()
    assert left == {k: [] for k in left}


def test_an_account_serves_the_clusters_of_one_namespace(
    kube: KubeClient, namespace: str, account: str, guest: Guest, start_aws: Callable[..., Operator]
) -> None:
    """Another tenant's Secret naming a role in this tenant's account (which a trust policy without the ExternalId
    condition would let it assume; moto checks no trust policy at all) is refused before any call, naming the
    AWSConfig that uses the account. Nothing is made in the account for it; the first cluster stays Ready; a second
    cluster of the first tenant may use the account."""
    credentials(kube, namespace, f"arn:aws:iam::{account}:role/kubeception")
    start_aws()
    kube.create(AWS_CONFIG, aws_config("first", namespace))
    wait_ready(kube, "first", namespace)

    def made() -> dict[str, list[str]]:
        left = guest.leftovers()
        return {k: left[k] for k in ("stacks", "buckets", "keys", "aliases", "vpcs", "roles")}

    before = made()
    with throwaway_namespace(kube) as other:
        credentials(kube, other, f"arn:aws:iam::{account}:role/kubeception")
        kube.create(AWS_CONFIG, aws_config("intruder", other))
        wait_for(lambda: reason(kube, "intruder", other) == "AccountInUse", timeout=60, message="refused")
        message = condition(kube, "intruder", other, "CredentialsValid")["message"]
        assert f"account {account} is used by AWSConfig {namespace}/first" in message
        assert "roleARN" not in status(kube, "intruder", other), "no role assumed"
        assert made() == before, "nothing made in the first tenant's account"
        kube.delete(AWS_CONFIG, "intruder", other)
        wait_for(lambda: kube.get_or_none(AWS_CONFIG, "intruder", other) is None, timeout=60, message="gone")
    assert made() == before
    assert condition(kube, "first", namespace, "Ready")["status"] == "True"
    kube.create(AWS_CONFIG, aws_config("second", namespace))
    wait_ready(kube, "second", namespace)
    assert status(kube, "second", namespace)["account"] == account


def test_invalid_specs_are_refused_at_admission(kube: KubeClient, namespace: str, aws_crds: None) -> None:
    bad: list[dict[str, Any]] = [
        {"availabilityZones": ["us-east-1a"]},  # not in the region
        {"clusterID": "x-workers"},
        {"workerPools": [{"name": "p", "minSize": 3, "desired": 1}]},
        {"workerPools": [{"name": "p", "labels": {"kubernetes.io/role": "x"}}]},
        {"workerPools": [{"name": "p", "labels": {"bad key": "x"}}]},  # keys checked as the model does (issue 28)
        {"vpcCIDR": "10.0.0.0/8x"},
        {"masters": {"replicas": 2}},
        {"credentials": {"secretName": "A_B"}},
    ]
    for i, patch in enumerate(bad):
        name = str(patch.get("clusterID", f"bad{i}"))
        with pytest.raises(ApiError) as refused:
            kube.create(AWS_CONFIG, aws_config(name, namespace, **{k: v for k, v in patch.items() if k != "clusterID"}))
        assert refused.value.status in {400, 422}, patch


def test_a_vpc_outside_the_address_plan_is_refused(
    kube: KubeClient, namespace: str, account: str, guest: Guest, start_aws: Callable[..., Operator]
) -> None:
    """Issue 29, finding 4: a VPC overlapping the KVM guests' flannel pool, the mother's Service network or its pod
    network (the local mother's real ranges, passed as the platform's plan) is refused with a condition naming the
    range before anything is made: no namespace on the mother, nothing in the account."""
    credentials(kube, namespace, f"arn:aws:iam::{account}:role/kubeception")
    start_aws()
    refused = {
        unique("f"): ("10.64.0.0/16", "overlaps the flannel pool 10.64.0.0/10"),
        unique("s"): ("10.96.0.0/16", "overlaps the mother cluster's Service network 10.96.0.0/16"),
        unique("p"): ("10.244.0.0/16", "overlaps the mother cluster's pod network 10.244.0.0/16"),
        unique("o"): ("10.0.0.0/16", "lies outside the VPC pool 10.128.0.0/9"),
    }
    for name, (cidr, _) in refused.items():
        kube.create(AWS_CONFIG, aws_config(name, namespace, vpcCIDR=cidr))
    for name, (_, expected) in refused.items():
        wait_for(functools.partial(vpc_refused, kube, name, namespace), timeout=60, message=f"{name} refused")
        assert expected in condition(kube, name, namespace, "Ready")["message"]
        assert "vpcCIDR" not in status(kube, name, namespace)
        assert kube.get_or_none(NAMESPACE, name) is None, "refused before anything is made"
    assert guest.leftovers()["vpcs"] == [], "no VPC made"
    for name in refused:
        kube.delete(AWS_CONFIG, name, namespace)
    wait_for(lambda: not kube.list(AWS_CONFIG, namespace)["items"], timeout=90, message="deleted")


def vpc_refused(kube: KubeClient, name: str, namespace: str) -> bool:
    return reason(kube, name, namespace) == "VPCCIDRRefused"


def claim(kube: KubeClient, domain: str) -> Object | None:
    return kube.get_or_none(DOMAIN_CLAIM, domain)


def held_by(kube: KubeClient, domain: str) -> str | None:
    found = claim(kube, domain)
    return str(found["spec"]["owner"]) if found is not None and found["spec"]["state"] == HELD else None


def refusal(kube: KubeClient, kind: Kind, name: str, namespace: str | None, type_: str = "Ready") -> dict[str, Any]:
    cond = condition_of(kube, kind, name, namespace, type_=type_) or {}
    return (
        cond if cond.get("status") == "False" and cond.get("reason") in {"NameRefused", "NameClash", "NotOwned"} else {}
    )


def test_names_have_one_owner_across_kinds(
    kube: KubeClient,
    namespace: str,
    account: str,
    start_aws: Callable[..., Operator],
    operator_runner: OperatorRunner,
    kvm_crds: None,
    ingress_crd: None,
) -> None:
    """Issue 29, finding 3: an AWS guest's zone and a tenant's own zone are each held by one cluster, across
    AWSConfigs, KVMConfigs and IngressConfigs. A KVM guest called ``aws`` naming the AWS guest's API, another tenant's
    AWSConfig naming the zone as its own, an IngressConfig routing a name inside it, a zone holding another's, a KVM
    guest's API inside a tenant's own zone, a KVMConfig with the AWS guest's cluster id: each refused with a
    condition naming the holder (kind, namespace/name), none claims anything, the holders stay as they are. A
    KVMConfig and an AWSConfig racing for one domain (two operators): exactly one holds it. A holder's deletion
    gives its claim back."""
    credentials(kube, namespace, f"arn:aws:iam::{account}:role/kubeception")
    start_aws()
    kvm = in_process_settings(KVMSettings, reconcile={"backoff_base": 0.1, "backoff_cap": 2})
    assert isinstance(kvm, KVMSettings)
    operator_runner.start("kvm-operator", [kvm_controller(KVMShared(kvm))], settings=kvm)
    ingress = in_process_settings(IngressSettings, table={"namespace": namespace}, reconcile={"backoff_cap": 2})
    assert isinstance(ingress, IngressSettings)
    operator_runner.start("ingress-operator", [ingress_controller(shared_parts(ingress, kube))], settings=ingress)
    first, own = unique("n"), unique("o")
    zone, own_zone = f"{first}.aws.kubeception.test", f"{own}.example.org"
    kube.create(AWS_CONFIG, aws_config(first, namespace))
    kube.create(AWS_CONFIG, aws_config(own, namespace, dns={"zone": own_zone}))
    wait_ready(kube, first, namespace)
    wait_for(lambda: held_by(kube, own_zone), timeout=60, message="the tenant's own zone held")
    assert held_by(kube, zone) == f"AWSConfig {namespace}/{first}"
    backends = unique("b")  # never reached: the names are refused first
    thief, intruder, wide, route, inside = unique("t"), unique("k"), unique("w"), unique("i"), unique("j")
    racing_aws, racing_kvm, race_zone = unique("ra"), unique("rk"), f"{unique('r')}.example.net"
    with throwaway_namespace(kube) as other:
        credentials(kube, other, f"arn:aws:iam::{random.randrange(10**11, 10**12)}:role/kubeception")
        kube.create(KVM_CONFIG, kvm_config("aws", other, apiHostname=f"api.{zone}"))
        kube.create(KVM_CONFIG, kvm_config(first, other))  # the AWS guest's cluster id: its namespace is taken
        kube.create(AWS_CONFIG, aws_config(thief, other, dns={"zone": zone}))
        kube.create(INGRESS_CONFIG, ingress_config(route, backends, hostnames=[f"api.{zone}"]))
        kube.create(KVM_CONFIG, kvm_config(intruder, other, apiHostname=f"api.{own_zone}"))
        kube.create(AWS_CONFIG, aws_config(wide, other, dns={"zone": "example.org"}))
        kube.create(INGRESS_CONFIG, ingress_config(inside, backends, hostnames=[f"www.{own_zone}"]))
        kube.create(AWS_CONFIG, aws_config(racing_aws, other, dns={"zone": race_zone}))
        kube.create(KVM_CONFIG, kvm_config(racing_kvm, other, apiHostname=f"api.{race_zone}"))
        cases: list[tuple[Kind, str, str | None, str]] = [
            (KVM_CONFIG, "aws", other, f"AWSConfig {namespace}/{first}"),
            (KVM_CONFIG, first, other, f"AWSConfig {namespace}/{first}"),
            (AWS_CONFIG, thief, other, f"AWSConfig {namespace}/{first}"),
            (INGRESS_CONFIG, route, None, f"AWSConfig {namespace}/{first}"),
            (KVM_CONFIG, intruder, other, f"AWSConfig {namespace}/{own}"),
            (AWS_CONFIG, wide, other, f"AWSConfig {namespace}/{own}"),
            (INGRESS_CONFIG, inside, None, f"AWSConfig {namespace}/{own}"),
        ]
        for kind, name, where, holder in cases:
            kind_condition = "Claimed" if kind == INGRESS_CONFIG else "Ready"
            found = wait_for(
                functools.partial(refusal, kube, kind, name, where, kind_condition),
                timeout=60,
                message=f"{kind.kind} {name} refused",
            )
            assert isinstance(found, dict)
            assert holder in found["message"], (name, found["message"])

        contenders = {race_zone: (AWS_CONFIG, racing_aws), f"api.{race_zone}": (KVM_CONFIG, racing_kvm)}

        def one_winner() -> str | None:
            held = [domain for domain in contenders if held_by(kube, domain)]
            if len(held) != 1:
                return None
            (loser_kind, loser), winner = next(v for d, v in contenders.items() if d != held[0]), held_by(kube, held[0])
            message = refusal(kube, loser_kind, loser, other).get("message", "")
            return held[0] if winner and winner in message else None

        wait_for(one_winner, timeout=60, message="one of the racers holds the domain, the other is refused naming it")
        held = [c["spec"] for c in kube.list(DOMAIN_CLAIM)["items"]]
        refused = {"aws", thief, intruder, wide, route, inside}
        assert [c for c in held if c["clusterID"] in refused] == [], "nothing claimed for the refused"
        assert [c["owner"] for c in held if c["clusterID"] == first] == [f"AWSConfig {namespace}/{first}"]
        assert held_by(kube, zone) == f"AWSConfig {namespace}/{first}"
        assert held_by(kube, own_zone) == f"AWSConfig {namespace}/{own}"
        assert condition(kube, first, namespace, "Ready")["status"] == "True"
        for kind, name, where, _ in [*cases, (AWS_CONFIG, racing_aws, other, ""), (KVM_CONFIG, racing_kvm, other, "")]:
            kube.delete(kind, name, where)
        wait_for(
            lambda: not kube.list(KVM_CONFIG, other)["items"] and not kube.list(AWS_CONFIG, other)["items"],
            timeout=120,
            message="the refused and the racers gone",
        )
        wait_for(lambda: not kube.list(INGRESS_CONFIG)["items"], timeout=60, message="the IngressConfigs gone")
    assert [c for c in kube.list(DOMAIN_CLAIM)["items"] if race_zone in c["metadata"]["name"]] == []
    kube.delete(AWS_CONFIG, own, namespace)
    wait_for(lambda: claim(kube, own_zone) is None, timeout=120, message="the claim given back with its owner")


def unique(prefix: str) -> str:
    return f"{prefix}{uuid.uuid4().hex[:6]}"
