"""The small vocabulary every operator speaks: Kubernetes' name formats and the base of a settings group.

Declared once here so that a spec model, a settings group and the CRDs (``tests/crds`` compares them with the
models) cannot drift apart one copy at a time.
"""

from __future__ import annotations

import re
from typing import Annotated

import pydantic

DNS_LABEL = r"^[a-z0-9]([-a-z0-9]*[a-z0-9])?$"
"""An RFC 1123 label (cluster ids, pool and role names, namespaces): lower-case letters, digits and '-'."""
DNS_SUBDOMAIN = r"^[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*$"
"""An RFC 1123 subdomain: one label or more, dot-separated (Secret names, base domains)."""
DOMAIN = r"^[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)+$"
"""A domain name of at least two labels (API hostnames, DNS zones, the platform's base domains)."""
LABEL_KEY = (
    r"^([a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*/)?[A-Za-z0-9]([-A-Za-z0-9_.]*[A-Za-z0-9])?$"
)
"""A label (or taint) key: an optional DNS-subdomain prefix and '/', then a name."""
LABEL_VALUE = r"^([A-Za-z0-9]([-A-Za-z0-9_.]*[A-Za-z0-9])?)?$"
"""A label (or taint) value, possibly empty."""
LabelKey = Annotated[str, pydantic.Field(pattern=LABEL_KEY, max_length=253)]
"""A model's field holding a label key (Kubernetes' bounds: a 253-character prefix and '/' and name)."""
LabelValue = Annotated[str, pydantic.Field(pattern=LABEL_VALUE, max_length=63)]
"""A model's field holding a label value."""
RESERVED_LABEL_KEY = re.compile(r"^([^/]*\.)?(kubernetes\.io|k8s\.io|kubeception\.io)/")
"""Label keys a tenant may not set on its nodes: the kubelet may set few of them, and kubeception.io/ ones are ours."""


class SettingsGroup(pydantic.BaseModel):
    """The base of a nested settings group (``--<group>.<field>`` flags): unknown keys refused, each field's
    docstring its ``--help`` text, frozen once loaded."""

    model_config = pydantic.ConfigDict(extra="forbid", use_attribute_docstrings=True, frozen=True)
