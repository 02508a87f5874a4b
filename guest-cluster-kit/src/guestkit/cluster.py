"""A guest cluster's id: the name of its namespace on the mother (its claim on the id — one owner per id, whatever
kind of guest) and of every object derived from it, so the same rules hold for every kind."""

from __future__ import annotations

import re
from typing import Annotated

import pydantic

from operatorkit import DNS_LABEL

RESERVED_IDS = re.compile(r"^(kube-|kubeception|default$|openshift|flannel-)")
"""Ids that would name a namespace the mother itself uses — or one another operator derives from a cluster id
(flannel-operator's ``flannel-<cluster>``): cluster ``flannel-b`` must not take cluster ``b``'s namespace."""
WORKERS_SUFFIX = "-workers"
"""kvm-operator's workers' namespace is ``<clusterID>-workers``: no cluster of any kind may take it."""


def _not_reserved(value: str) -> str:
    if RESERVED_IDS.match(value):
        raise ValueError(f"clusterID {value!r} would name a namespace of the mother (kube-*, flannel-*, default, ...)")
    if value.endswith(WORKERS_SUFFIX):
        raise ValueError(f"clusterID {value!r} would name the workers' namespace of cluster {value[:-8]!r}")
    return value


ClusterID = Annotated[
    str, pydantic.Field(pattern=DNS_LABEL, min_length=3, max_length=30), pydantic.AfterValidator(_not_reserved)
]
"""A spec's ``clusterID`` (give it the alias and a docstring of your kind)."""
