"""operatorkit: each controller an ordered list of small resources, on controller-runtime's foundations.

The public API is what this module exports; everything else is an implementation detail.
"""

from operatorkit.client import ApiError, KubeClient, Object
from operatorkit.conditions import get_condition, is_true
from operatorkit.context import OWNER_NAME_LABEL, OWNER_NAMESPACE_LABEL, Context, owner_labels
from operatorkit.controller import PAUSED_ANNOTATION, Controller
from operatorkit.informer import index_by_field, index_by_label, index_by_owner_uid, object_key
from operatorkit.kinds import Kind
from operatorkit.operator import Operator
from operatorkit.resource import CRUDResource, ObjectResource, Patch, Resource, is_subset
from operatorkit.signals import CancelReconcile, ReconcileError, RequeueAfter, SkipResource, TerminalError
from operatorkit.status import Condition, Status

__all__ = [
    "OWNER_NAMESPACE_LABEL",
    "OWNER_NAME_LABEL",
    "PAUSED_ANNOTATION",
    "ApiError",
    "CRUDResource",
    "CancelReconcile",
    "Condition",
    "Context",
    "Controller",
    "Kind",
    "KubeClient",
    "Object",
    "ObjectResource",
    "Operator",
    "Patch",
    "ReconcileError",
    "RequeueAfter",
    "Resource",
    "SkipResource",
    "Status",
    "TerminalError",
    "get_condition",
    "index_by_field",
    "index_by_label",
    "index_by_owner_uid",
    "is_subset",
    "is_true",
    "object_key",
    "owner_labels",
]
