"""What a worker pool says about its nodes, whatever runs them: the labels and taints its Nodes register with.

A tenant is root on its nodes, but the labels under ``kubernetes.io``, ``k8s.io`` and ``kubeception.io`` are not
its to set: the kubelet may set few of them, and ``kubeception.io/`` ones are the platform's.
"""

from __future__ import annotations

from typing import Annotated, Literal

import pydantic

from operatorkit import RESERVED_LABEL_KEY, LabelKey, LabelValue

MAX_LABELS = 32
MAX_TAINTS = 16


class Taint(pydantic.BaseModel):
    model_config = pydantic.ConfigDict(extra="forbid", populate_by_name=True, frozen=True)

    key: LabelKey
    value: LabelValue = ""
    effect: Literal["NoSchedule", "PreferNoSchedule", "NoExecute"]


def _own_labels(value: dict[str, str]) -> dict[str, str]:
    reserved = [k for k in value if RESERVED_LABEL_KEY.match(k)]
    if reserved:
        raise ValueError(f"labels {reserved}: keys under kubernetes.io, k8s.io and kubeception.io are reserved")
    return value


NodeLabels = Annotated[dict[LabelKey, LabelValue], pydantic.AfterValidator(_own_labels)]
"""A pool's node labels (bound them with ``pydantic.Field(default_factory=dict, max_length=MAX_LABELS)``)."""
