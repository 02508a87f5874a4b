"""The AWSConfig controller: its resources in creation order (deletion runs them in reverse).

Creation: a requested VPC CIDR checked against the platform's plan → the namespace (the claim on the cluster id) →
the DNS zone's claim → the PKI (CAConfig, CertConfigs) → the guest account (the assumed role) → the VPC CIDR → the
KMS key → the bucket → the encrypted certificates and boot configs → the main stack → drift → the admin kubeconfig
→ status. Deletion therefore goes: the stack (workers, masters, load balancers, network, roles, DNS:
CloudFormation's dependency order, then verified by list calls) → the bucket emptied → the bucket → the key
scheduled for deletion → the PKI (one tier: cert-operator revokes) → the zone's claim → the namespace.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from aws_operator import key
from aws_operator.resources.bucket import Bucket
from aws_operator.resources.certificate_objects import CertificateObjects
from aws_operator.resources.credentials import Credentials
from aws_operator.resources.deletion import DeletionDone
from aws_operator.resources.drift import Drift
from aws_operator.resources.encryption_key import EncryptionKey
from aws_operator.resources.guest_stack import GuestStack
from aws_operator.resources.namespace import ClusterNamespace
from aws_operator.resources.status import ClusterStatus
from aws_operator.resources.vpc import PlannedVPC, VPCNetwork
from aws_operator.resources.zone import ZoneClaim
from aws_operator.shared import Shared
from aws_operator.spec import AWS_CONFIG, AWSConfigSpec, AWSConfigStatus, deletion_spec
from guestkit import CA_CONFIG, CERT_CONFIG, GuestKubeconfig, pki_children
from operatorkit import Controller, DeletedTogether
from operatorkit.kinds import NAMESPACE, SECRET
from operatorkit.platform import DOMAIN_CLAIM, DOMAIN_CLAIM_INDEX

if TYPE_CHECKING:
    from collections.abc import Sequence

    from aws_operator.settings import AWSSettings
    from operatorkit import Resource


def aws_controller(shared: Shared, **overrides: Any) -> Controller[AWSConfigSpec, AWSConfigStatus]:
    pki = pki_children(shared, key.CERTIFICATES)
    resources: list[Resource[AWSConfigSpec, AWSConfigStatus]] = [
        DeletionDone(),
        PlannedVPC(shared),
        ClusterNamespace(),
        ZoneClaim(shared),
        DeletedTogether("pki", pki),  # deletion: the CA and its certificates at once, then waited for together
        *pki,
        Credentials(shared),
        VPCNetwork(shared),
        EncryptionKey(shared),
        Bucket(shared),
        CertificateObjects(shared),
        GuestStack(shared),
        Drift(shared),
        GuestKubeconfig(shared),
        ClusterStatus(shared),
    ]
    return Controller(
        name="awsconfig",
        kind=AWS_CONFIG,
        spec_model=AWSConfigSpec,
        status_model=AWSConfigStatus,
        deletion_spec=deletion_spec,
        resources=resources,
        owns=[NAMESPACE, CA_CONFIG, CERT_CONFIG, SECRET, DOMAIN_CLAIM],
        owned_selector=key.managed_selector(),
        indexes=[DOMAIN_CLAIM_INDEX],
        **overrides,
    )


def build(settings: AWSSettings) -> Sequence[Controller[AWSConfigSpec, AWSConfigStatus]]:
    return [aws_controller(Shared(settings))]
