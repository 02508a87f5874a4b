"""The base of the per-cluster Kubernetes objects: owned by the FlannelConfig, deleted in order."""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

from flannel_operator.spec import FlannelConfigSpec, FlannelConfigStatus
from operatorkit import ObjectResource

if TYPE_CHECKING:
    from flannel_operator.shared import Shared
    from operatorkit import Kind


@dataclass
class ClusterObject(ObjectResource[FlannelConfigSpec, FlannelConfigStatus]):
    shared: Shared

    def needs_finalizer(self, primary: Kind) -> bool:
        return True  # deletion is ordered: these go only after the hosts are cleaned up
