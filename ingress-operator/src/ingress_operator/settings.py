"""ingress-operator settings: operatorkit's common ones plus the platform's plan, routing, the port pool, the table
and the agents."""

from __future__ import annotations

import pydantic

from operatorkit import DNS_SUBDOMAIN, OperatorSettings, SettingsGroup, operator_config
from operatorkit.platform import PlatformSettings, platform_field


class RoutingSettings(SettingsGroup):
    """What users outside the mother see."""

    base_domain: str | None = pydantic.Field(default=None, max_length=200, pattern=DNS_SUBDOMAIN)
    """When set, every hostname of cluster <id> must lie under <id>.<base domain> (no cluster can take another's
    names), and empty hostname lists default to api.<id>.<base domain> and *.<id>.<base domain>. Counted among the
    platform's base domains (``platform.domains``) whether or not the plan lists it."""
    public_host: str | None = pydantic.Field(default=None, max_length=253)
    """The address users reach HAProxy at, for the URLs of allocated ports in status (none: those URLs are left out)."""
    tls_port: int = pydantic.Field(default=443, ge=1, le=65535)
    """HAProxy's shared TLS port (SNI routing): in the URLs in status; the agents bind it."""
    http_port: int = pydantic.Field(default=80, ge=1, le=65535)
    """HAProxy's shared HTTP port (Host routing)."""


class PortSettings(SettingsGroup):
    """The pool frontend ports are allocated from, when a route asks for a port of its own."""

    min: int = pydantic.Field(default=30000, ge=1024, le=65535)
    max: int = pydantic.Field(default=30999, ge=1024, le=65535)


class HAProxySettings(SettingsGroup):
    """The shape of the HAProxy configuration the agents render (the operator allocates within it)."""

    servers_per_backend: int = pydantic.Field(default=8, ge=1, le=64)
    """Endpoints one route can use at a time; more ready endpoints than this are reported, not routed."""
    backend_block: int = pydantic.Field(default=256, ge=16, le=4096)
    """Backends are rendered in blocks of this many free slots, so new clusters need no reload; a new block is a
    reload (a seamless one)."""


class TableSettings(SettingsGroup):
    """The routing table: one ConfigMap, written by the operator, read by every agent."""

    namespace: str = pydantic.Field(default="kubeception-system", max_length=63)
    name: str = pydantic.Field(default="ingress-routes", max_length=253)
    publish_interval: float = pydantic.Field(default=0.1, gt=0, le=10)
    """Seconds between two writes of the table: route changes within it are written together."""


class AgentSettings(SettingsGroup):
    """Where the operator reads what each HAProxy agent has applied (``Ready`` means every agent serves the route)."""

    urls: list[str] = pydantic.Field(default_factory=list, max_length=64)
    """Agent status URLs (http://host:port); or, with ``service``, found from that Service's EndpointSlices."""
    service: str | None = pydantic.Field(default=None, pattern=r"^[a-z0-9-]{1,63}/[a-z0-9-]{1,63}$")
    """namespace/name of the agents' Service."""
    port: int = pydantic.Field(default=8404, ge=1, le=65535)
    """The agents' status port, with ``service``."""
    timeout: float = pydantic.Field(default=2.0, gt=0, le=30)

    @pydantic.field_validator("urls", mode="before")
    @classmethod
    def _comma_separated(cls, value: object) -> object:
        if isinstance(value, str) and not value.lstrip().startswith("["):
            return [url for url in value.split(",") if url]
        return value


class IngressSettings(OperatorSettings):
    model_config = operator_config("ingress-operator")

    platform: PlatformSettings = platform_field()
    routing: RoutingSettings = RoutingSettings()
    ports: PortSettings = PortSettings()
    haproxy: HAProxySettings = HAProxySettings()
    table: TableSettings = TableSettings()
    agents: AgentSettings = AgentSettings()
