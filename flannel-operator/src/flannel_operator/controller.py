"""The FlannelConfig controller: its resources in creation order (deletion runs them in reverse).

Deletion therefore goes: wait for the cluster's VM pods → stop the flannel DaemonSet → clean every host (bridge,
VXLAN device) → delete the etcd config and leases → delete the namespace and cluster role binding → release the
allocation.
"""

from __future__ import annotations

import logging
from typing import TYPE_CHECKING, Any

from flannel_operator.resources.allocation import NetworkAllocation, recorded
from flannel_operator.resources.daemonset import FlannelDaemonSet, HostsStatus
from flannel_operator.resources.etcd_config import EtcdNetworkConfig
from flannel_operator.resources.host_cleanup import HostCleanup, VMPodsGone
from flannel_operator.resources.objects import (
    MANAGED_BY,
    MANAGER,
    BridgeScripts,
    ClusterNamespace,
    EtcdClientSecret,
    FlannelClusterRoleBinding,
    FlannelServiceAccount,
)
from flannel_operator.spec import FLANNEL_CONFIG, FlannelConfigSpec, FlannelConfigStatus
from operatorkit import Controller
from operatorkit.kinds import CLUSTER_ROLE_BINDING, CONFIG_MAP, DAEMON_SET, NAMESPACE, SERVICE_ACCOUNT

if TYPE_CHECKING:
    from collections.abc import Sequence

    from flannel_operator.allocator import Allocation
    from flannel_operator.settings import FlannelSettings
    from operatorkit import Object


log = logging.getLogger(__name__)


def flannel_controller(settings: FlannelSettings, **options: Any) -> Controller[FlannelConfigSpec]:
    return Controller(
        name="flannelconfig",
        kind=FLANNEL_CONFIG,
        spec_model=FlannelConfigSpec,
        status_model=FlannelConfigStatus,
        resources=[
            NetworkAllocation(settings),
            FlannelClusterRoleBinding(settings),
            ClusterNamespace(settings),
            EtcdNetworkConfig(settings),
            HostCleanup(settings),
            FlannelServiceAccount(settings),
            EtcdClientSecret(settings),
            BridgeScripts(settings),
            FlannelDaemonSet(settings),
            HostsStatus(settings),
            VMPodsGone(settings),
        ],
        # Secrets are read one by one (get), not cached: watching every Secret of the mother cluster would need
        # list/watch on all of them.
        owns=[NAMESPACE, SERVICE_ACCOUNT, CLUSTER_ROLE_BINDING, CONFIG_MAP, DAEMON_SET],
        owned_selector=f"{MANAGED_BY}={MANAGER}",
        before_start=lambda configs: log.info("restored %d allocations", restore_allocations(settings, configs)),
        **options,
    )


def restore_allocations(settings: FlannelSettings, configs: Sequence[Object]) -> int:
    """Rebuild the allocation table from recorded statuses before any reconcile allocates; returns how many."""
    count = 0
    for config in configs:
        status = config.get("status") or {}
        allocation: Allocation | None = recorded(status)
        if allocation is not None and status.get("clusterID"):
            settings.allocator.record(str(status["clusterID"]), allocation)
            count += 1
    return count
