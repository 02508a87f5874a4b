"""What every flannel resource shares: the settings, the allocation table and the etcd store."""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from flannel_operator.allocator import Allocator
    from flannel_operator.etcd import NetworkStore
    from flannel_operator.settings import FlannelSettings


@dataclass(frozen=True)
class Shared:
    settings: FlannelSettings
    allocator: Allocator
    etcd: NetworkStore
