"""operatorkit: each controller an ordered list of small resources, on controller-runtime's foundations.

This module is the public API — everything an operator author needs, and nothing else. :class:`Informer` is here
for processes that are not operators but follow the API server the same way (ingress-operator's HAProxy agent):
one LIST+WATCH loop with the operators' handling of timeouts, broken connections, 410 Gone and backoff. The modules
behind it (``operatorkit._base``, ``_core``, ``_runtime``) are implementation details; an import-linter contract
keeps the operators off them. Two more public modules: :mod:`operatorkit.kinds` (the built-in kinds) and
:mod:`operatorkit.testing` (fixtures for operator test suites).
"""

from operatorkit._base.client import ApiError, KubeClient, Object
from operatorkit._base.conditions import get_condition, is_true
from operatorkit._base.metrics import precreate
from operatorkit._core.cache import CacheReader, Index, by_field, by_label, by_owner_uid, object_key
from operatorkit._core.context import Context
from operatorkit._core.controller import Controller, Watch
from operatorkit._core.lost import clear_lost, report_lost
from operatorkit._core.names import (
    ADOPT_ANNOTATION,
    CLUSTER_LABEL,
    MANAGED_BY_LABEL,
    PAUSED_ANNOTATION,
    READY,
    managed_by,
    selector,
)
from operatorkit._core.ownership import NotOwned, Owner, check_claim, owned_by, owner_of
from operatorkit._core.resource import (
    CRUDResource,
    DeletedInOrder,
    DeletedTogether,
    ObjectResource,
    Patch,
    Resource,
    is_subset,
)
from operatorkit._core.settings import (
    HTTPSettings,
    LeaderElectionSettings,
    OperatorSettings,
    ReconcileSettings,
    WatchSettings,
    operator_config,
)
from operatorkit._core.signals import CancelReconcile, ReconcileError, RequeueAfter, SkipResource, TerminalError
from operatorkit._core.status import Condition, Status, required
from operatorkit._core.vocabulary import (
    DNS_LABEL,
    DNS_SUBDOMAIN,
    DOMAIN,
    LABEL_KEY,
    LABEL_VALUE,
    RESERVED_LABEL_KEY,
    LabelKey,
    LabelValue,
    SettingsGroup,
)
from operatorkit._runtime.informer import Informer
from operatorkit._runtime.manager import Operator
from operatorkit._runtime.run import load_settings, run
from operatorkit.kinds import Kind

__all__ = [
    "ADOPT_ANNOTATION",
    "CLUSTER_LABEL",
    "DNS_LABEL",
    "DNS_SUBDOMAIN",
    "DOMAIN",
    "LABEL_KEY",
    "LABEL_VALUE",
    "MANAGED_BY_LABEL",
    "PAUSED_ANNOTATION",
    "READY",
    "RESERVED_LABEL_KEY",
    "ApiError",
    "CRUDResource",
    "CacheReader",
    "CancelReconcile",
    "Condition",
    "Context",
    "Controller",
    "DeletedInOrder",
    "DeletedTogether",
    "HTTPSettings",
    "Index",
    "Informer",
    "Kind",
    "KubeClient",
    "LabelKey",
    "LabelValue",
    "LeaderElectionSettings",
    "NotOwned",
    "Object",
    "ObjectResource",
    "Operator",
    "OperatorSettings",
    "Owner",
    "Patch",
    "ReconcileError",
    "ReconcileSettings",
    "RequeueAfter",
    "Resource",
    "SettingsGroup",
    "SkipResource",
    "Status",
    "TerminalError",
    "Watch",
    "WatchSettings",
    "by_field",
    "by_label",
    "by_owner_uid",
    "check_claim",
    "clear_lost",
    "get_condition",
    "is_subset",
    "is_true",
    "load_settings",
    "managed_by",
    "object_key",
    "operator_config",
    "owned_by",
    "owner_of",
    "precreate",
    "report_lost",
    "required",
    "run",
    "selector",
]
