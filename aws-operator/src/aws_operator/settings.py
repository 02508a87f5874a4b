"""aws-operator settings: operatorkit's common ones plus the platform's plan, the AWS endpoint, the VPC size, the
machine images per Kubernetes version and how often stacks are watched and checked for drift."""

from __future__ import annotations

import pydantic

from operatorkit import DOMAIN, OperatorSettings, SettingsGroup, operator_config
from operatorkit.platform import PlatformSettings, platform_field


class AWSAPISettings(SettingsGroup):
    endpoint_url: str | None = pydantic.Field(default=None, pattern=r"^https?://[^\s/]+(/.*)?$", max_length=200)
    """One endpoint for every AWS service (a local moto server in tests and the demo); unset, AWS's own."""
    external_id_prefix: str = pydantic.Field(default="kubeception", pattern=r"^[A-Za-z0-9+=,.@:/-]{2,64}$")
    """Roles are assumed with ExternalId ``<prefix>:<AWSConfig namespace>``: a guest account's role that trusts
    only its own tenant's namespace cannot be assumed for another tenant's cluster (AWS's confused-deputy guard)."""
    session_seconds: int = pydantic.Field(default=3600, ge=900, le=43200)
    """How long an assumed role's credentials last; they are renewed five minutes before they expire."""
    timeout_seconds: float = pydantic.Field(default=20.0, ge=1, le=120)
    """Connect and read timeout of one AWS call (standard retry mode retries throttling and 5xx three times)."""


class NetworkSettings(SettingsGroup):
    """The VPC pool itself and the mother's networks are the platform's plan (``platform.*``)."""

    vpc_prefix: int = pydantic.Field(default=16, ge=16, le=24)
    """The size of an allocated VPC CIDR (``platform.pools.vpc`` is cut into these)."""


class DNSSettings(SettingsGroup):
    base_domain: str = pydantic.Field(
        default="aws.kubeception.test",
        max_length=150,
        pattern=DOMAIN,
    )
    """A guest's zone defaults to ``<clusterID>.<base domain>``; its API is ``api.<zone>``. Counted among the
    platform's base domains (``platform.domains``) whether or not the plan lists it."""


class ImageSettings(SettingsGroup):
    amis: dict[str, dict[str, str]] = pydantic.Field(default_factory=dict, max_length=32)
    """Kubernetes version → region → the machine image (AMI id) masters and workers boot; a version without an
    image for the cluster's region is refused with a condition."""


class StackSettings(SettingsGroup):
    poll_seconds: float = pydantic.Field(default=5.0, ge=0.5, le=300)
    """How often a stack or change set in progress is looked at (its events say how far it got)."""
    drift_check_seconds: float = pydantic.Field(default=600.0, ge=5, le=86400)
    """How often a complete stack is checked against what it created (resources gone, sizes changed)."""
    key_deletion_days: int = pydantic.Field(default=7, ge=7, le=30)
    """A deleted cluster's KMS key is scheduled for deletion after this many days (AWS's minimum is 7)."""


class AWSSettings(OperatorSettings):
    model_config = operator_config("aws-operator")

    aws: AWSAPISettings = AWSAPISettings()
    platform: PlatformSettings = platform_field()
    network: NetworkSettings = NetworkSettings()
    dns: DNSSettings = DNSSettings()
    images: ImageSettings = ImageSettings()
    stacks: StackSettings = StackSettings()
