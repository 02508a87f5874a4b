"""The IngressConfig custom resource: how users outside the mother reach one guest cluster through HAProxy.

Cluster-scoped and named after its cluster id (the CRD enforces it), so the API server keeps one IngressConfig
per cluster. Three routes may come of it, all TLS passthrough or plain HTTP — HAProxy never holds a certificate:

* ``api``: the guest API server, by SNI on the shared TLS port (and on an allocated port when asked);
* ``https``: the guest's ingress controller, by SNI on the shared TLS port;
* ``http``: the guest's ingress controller, by Host header on the shared HTTP port.
"""

from __future__ import annotations

import re
from typing import Annotated, Literal

import pydantic

from operatorkit import DNS_LABEL, DOMAIN, Context, Kind, Status

INGRESS_CONFIG = Kind("kubeception.io/v1alpha1", "IngressConfig", "ingressconfigs", namespaced=False)
MAX_HOSTNAMES = 16

Hostname = Annotated[str, pydantic.Field(pattern=DOMAIN, max_length=253)]
"""An exact name: a lower-case DNS name of at least two labels."""
WildcardHostname = Annotated[str, pydantic.Field(pattern=r"^(\*\.)?" + DOMAIN.removeprefix("^"), max_length=253)]
"""A name or a ``*.`` wildcard of one label, as in TLS."""


class _Model(pydantic.BaseModel):
    model_config = pydantic.ConfigDict(extra="forbid", populate_by_name=True, frozen=True)


class Backend(_Model):
    """A Service in the mother; its ready EndpointSlice endpoints become HAProxy's servers."""

    service: str = pydantic.Field(min_length=1, max_length=63, pattern=r"^[a-z]([-a-z0-9]*[a-z0-9])?$")
    namespace: str = pydantic.Field(min_length=1, max_length=63, pattern=DNS_LABEL)
    port: int | str = 443
    """The Service port: its number or its name."""

    @pydantic.field_validator("port")
    @classmethod
    def _port(cls, value: int | str) -> int | str:
        if isinstance(value, int) and not 1 <= value <= 65535:
            raise ValueError("must be a port number 1-65535 or a port name")
        if isinstance(value, str) and (len(value) > 15 or not re.match(DNS_LABEL, value)):
            raise ValueError("must be a port number 1-65535 or a port name")
        return value


class APIRoute(_Model):
    hostnames: list[Hostname] = pydantic.Field(default_factory=list, max_length=MAX_HOSTNAMES)
    """Exact names (no wildcard); empty: ``api.<clusterID>.<base domain>``."""
    backend: Backend
    frontend_port: bool = pydantic.Field(default=False, alias="frontendPort")
    """Also give the API a TCP port of its own from the operator's pool (clients without SNI)."""


class IngressRoute(_Model):
    hostnames: list[WildcardHostname] = pydantic.Field(default_factory=list, max_length=MAX_HOSTNAMES)
    """Names or ``*.`` wildcards (one label, as in TLS); empty: ``*.<clusterID>.<base domain>``."""
    http: Backend | None = None
    """Plain HTTP, routed by the Host header."""
    https: Backend | None = None
    """TLS passed through to the guest's ingress controller, routed by SNI."""
    frontend_ports: bool = pydantic.Field(default=False, alias="frontendPorts")
    """Also give HTTP and HTTPS a TCP port each from the operator's pool."""


class IngressConfigSpec(_Model):
    cluster_id: str = pydantic.Field(alias="clusterID", min_length=1, max_length=40, pattern=DNS_LABEL)
    api: APIRoute | None = None
    ingress: IngressRoute | None = None


RouteName = Literal["api", "https", "http"]


class _StatusPart(pydantic.BaseModel):
    """A part of the status: changed in place by the resources (not frozen, unlike the spec's parts)."""

    model_config = pydantic.ConfigDict(extra="forbid", populate_by_name=True)


class RouteStatus(_StatusPart):
    """One route as HAProxy serves it; ``backend`` and ``port`` are allocations (the source of truth on restart)."""

    name: RouteName
    backend: str = pydantic.Field(pattern=r"^(tls|http)-[0-9]{1,5}$")
    hostnames: list[str] = pydantic.Field(default_factory=list, max_length=MAX_HOSTNAMES)
    port: int | None = pydantic.Field(default=None, ge=1, le=65535)
    endpoints: int = pydantic.Field(default=0, ge=0)
    """Ready endpoints of the backend Service behind the route."""


class IngressConfigStatus(Status):
    cluster_id: str | None = pydantic.Field(default=None, alias="clusterID")
    routes: list[RouteStatus] = pydantic.Field(default_factory=list, max_length=3)
    endpoints: list[str] = pydantic.Field(default_factory=list, max_length=3 * MAX_HOSTNAMES + 3)
    """The URLs users use."""
    revision: int | None = pydantic.Field(default=None, ge=0)
    """The routing table revision that holds this cluster's current routes."""


IngressContext = Context[IngressConfigSpec, IngressConfigStatus]
