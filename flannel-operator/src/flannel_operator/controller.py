"""The FlannelConfig controller: its resources in creation order (deletion runs them in reverse).

Deletion therefore goes: wait for the cluster's VM pods → stop the flannel DaemonSet → clean every host (bridge,
VXLAN device) → delete the etcd config and leases → delete the namespace and cluster role binding → release the
allocation.
"""

from __future__ import annotations

import logging
from typing import TYPE_CHECKING

import pydantic

from flannel_operator import key, metrics
from flannel_operator.allocator import Allocator
from flannel_operator.etcd import NetworkStore
from flannel_operator.resources.allocation import NetworkAllocation, recorded
from flannel_operator.resources.bridge_scripts import BridgeScripts
from flannel_operator.resources.cluster_role_binding import FlannelClusterRoleBinding
from flannel_operator.resources.daemonset import FlannelDaemonSet
from flannel_operator.resources.etcd_client_secret import EtcdClientSecret
from flannel_operator.resources.etcd_config import EtcdNetworkConfig
from flannel_operator.resources.host_cleanup import HostCleanup
from flannel_operator.resources.hosts_status import HostsStatus
from flannel_operator.resources.namespace import ClusterNamespace
from flannel_operator.resources.network_ready import NetworkReady
from flannel_operator.resources.service_account import FlannelServiceAccount
from flannel_operator.resources.vm_pods_gone import VMPodsGone
from flannel_operator.shared import Shared
from flannel_operator.spec import FLANNEL_CONFIG, FlannelConfigSpec, FlannelConfigStatus
from operatorkit import Controller
from operatorkit.kinds import CLUSTER_ROLE_BINDING, CONFIG_MAP, DAEMON_SET, NAMESPACE, SERVICE_ACCOUNT

if TYPE_CHECKING:
    from collections.abc import Sequence

    from flannel_operator.settings import FlannelSettings
    from operatorkit import Object

log = logging.getLogger(__name__)


def flannel_controller(shared: Shared) -> Controller[FlannelConfigSpec, FlannelConfigStatus]:
    return Controller(
        name="flannelconfig",
        kind=FLANNEL_CONFIG,
        spec_model=FlannelConfigSpec,
        status_model=FlannelConfigStatus,
        resources=[
            NetworkAllocation(shared),
            FlannelClusterRoleBinding(shared),
            ClusterNamespace(shared),
            EtcdNetworkConfig(shared),
            FlannelServiceAccount(shared),
            EtcdClientSecret(shared),
            BridgeScripts(shared),
            HostCleanup(shared),  # after the scripts: deletion cleans the hosts while the cleanup script exists
            FlannelDaemonSet(shared),
            HostsStatus(shared),
            NetworkReady(),
            VMPodsGone(shared),
        ],
        owns=[NAMESPACE, SERVICE_ACCOUNT, CLUSTER_ROLE_BINDING, CONFIG_MAP, DAEMON_SET],
        owned_selector=key.managed_selector(),
        before_start=lambda configs: log.info("restored %d allocations", restore_allocations(shared, configs)),
    )


def shared_parts(settings: FlannelSettings) -> Shared:
    allocation, plan = settings.allocation, settings.platform
    allocator = Allocator(
        plan.pools.flannel,
        allocation.network_prefix,
        (allocation.vni_min, allocation.vni_max),
        allocation.health_port_base,
        tuple(net for _, net in plan.mother_networks()),
    )
    return Shared(settings, allocator, NetworkStore(settings.etcd))


def build(settings: FlannelSettings) -> Sequence[Controller[FlannelConfigSpec, FlannelConfigStatus]]:
    shared = shared_parts(settings)
    metrics.register(shared.allocator)
    return [flannel_controller(shared)]


def restore_allocations(shared: Shared, configs: Sequence[Object]) -> int:
    """Rebuild the allocation table from recorded statuses before any reconcile allocates; returns how many."""
    count = 0
    for config in configs:
        try:
            status = FlannelConfigStatus.model_validate(config.get("status") or {})
        except pydantic.ValidationError:
            log.warning("FlannelConfig %s: unreadable status, allocation not restored", config["metadata"]["name"])
            continue
        if (allocation := recorded(status, shared.settings.allocation.health_port_base)) is not None:
            shared.allocator.record(config["metadata"]["name"], allocation)
            count += 1
    return count
