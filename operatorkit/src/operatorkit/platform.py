"""What every kubeception operator shares beyond the library: the platform's plan (base domains, the mother's
networks, the pools guests' networks come from) and the claims that give every routed or published name one owner.

An operator adds the plan to its settings with :func:`platform_field` and checks what its objects ask for with the
pure functions here; a controller that routes or publishes names owns :data:`DOMAIN_CLAIM` objects (declare it in
``owns`` and :data:`DOMAIN_CLAIM_INDEX` in ``indexes``) and calls :func:`claim_names` before it does — or runs
a :class:`NameClaim` step, which claims before the steps after it and gives back after them.
"""

from __future__ import annotations

from typing import Any

import pydantic

from operatorkit._core.domains import (
    DOMAIN_CLAIM,
    DOMAIN_CLAIM_INDEX,
    HELD,
    PENDING,
    Claim,
    NameClaim,
    NameClash,
    NameRefused,
    check_domain,
    claim_names,
    cluster_domain,
    domain_of,
    domains_for,
    minimal,
    overlaps,
    release_domains,
    within,
)
from operatorkit._core.plan import (
    CONFINEMENT_PREFIX,
    GUEST_ENDPOINTS_MAX,
    NFT_NAME_MAX,
    AddressRefused,
    GuestEndpoint,
    MotherNetworks,
    PlatformSettings,
    Pools,
    check_flannel_network,
    check_guest_ranges,
    check_vpc,
    confinement_table,
    free_network,
)

PLATFORM_ENV = "KUBECEPTION_PLATFORM"
"""One JSON document with the whole plan, read by every operator (``make up`` exports it)."""


def platform_field() -> Any:
    """The ``platform`` settings field: ``platform: PlatformSettings = platform_field()`` — flags
    ``--platform.*``, or :data:`PLATFORM_ENV` for all operators at once."""
    return pydantic.Field(
        default_factory=PlatformSettings, validation_alias=pydantic.AliasChoices("platform", PLATFORM_ENV)
    )


__all__ = [
    "CONFINEMENT_PREFIX",
    "DOMAIN_CLAIM",
    "DOMAIN_CLAIM_INDEX",
    "GUEST_ENDPOINTS_MAX",
    "HELD",
    "NFT_NAME_MAX",
    "PENDING",
    "PLATFORM_ENV",
    "AddressRefused",
    "Claim",
    "GuestEndpoint",
    "MotherNetworks",
    "NameClaim",
    "NameClash",
    "NameRefused",
    "PlatformSettings",
    "Pools",
    "check_domain",
    "check_flannel_network",
    "check_guest_ranges",
    "check_vpc",
    "claim_names",
    "cluster_domain",
    "confinement_table",
    "domain_of",
    "domains_for",
    "free_network",
    "minimal",
    "overlaps",
    "platform_field",
    "release_domains",
    "within",
]
