"""Kubernetes Events (core/v1) with client-go-style aggregation: a repeat bumps ``count`` instead of adding."""

from __future__ import annotations

import logging
import threading
from collections import OrderedDict
from typing import TYPE_CHECKING, Literal

from operatorkit import timestamps
from operatorkit._base.client import ApiError
from operatorkit._base.conditions import clean_reason
from operatorkit.kinds import EVENT

if TYPE_CHECKING:
    from operatorkit._base.client import KubeClient, Object

log = logging.getLogger(__name__)
EventType = Literal["Normal", "Warning"]
_CACHE_SIZE = 4096


class EventRecorder:
    """Best effort: a failure to record an event is logged, never raised into the reconcile."""

    def __init__(self, client: KubeClient, component: str, instance: str) -> None:
        self.client = client
        self.component = component
        self.instance = instance
        self._lock = threading.Lock()
        self._seen: OrderedDict[tuple[str, str, str, str], tuple[str, str, int]] = OrderedDict()

    def record(self, obj: Object, type_: EventType, reason: str, message: str) -> None:
        meta = obj["metadata"]
        namespace = meta.get("namespace") or "default"
        reason = clean_reason(reason)
        cache_key = (meta.get("uid", ""), type_, reason, message)
        now = timestamps.stamp()
        with self._lock:
            previous = self._seen.get(cache_key)
        try:
            if previous is not None:
                name, event_namespace, count = previous
                self.client.patch(EVENT, name, {"count": count + 1, "lastTimestamp": now}, event_namespace)
                result = (name, event_namespace, count + 1)
            else:
                created = self.client.create(
                    EVENT,
                    {
                        "metadata": {"generateName": f"{meta['name']}.", "namespace": namespace},
                        "involvedObject": {
                            "apiVersion": obj.get("apiVersion"),
                            "kind": obj.get("kind"),
                            "name": meta["name"],
                            "namespace": meta.get("namespace"),
                            "uid": meta.get("uid"),
                            "resourceVersion": meta.get("resourceVersion"),
                        },
                        "type": type_,
                        "reason": reason,
                        "message": message[:1024],
                        "source": {"component": self.component},
                        "reportingComponent": self.component,
                        "reportingInstance": self.instance,
                        "firstTimestamp": now,
                        "lastTimestamp": now,
                        "count": 1,
                    },
                )
                result = (created["metadata"]["name"], namespace, 1)
        except ApiError as exc:
            if previous is not None and exc.not_found:  # the old event expired: start a new one
                with self._lock:
                    self._seen.pop(cache_key, None)
                self.record(obj, type_, reason, message)
                return
            log.warning("could not record event %s on %s: %s", reason, meta.get("name"), exc)
            return
        except Exception as exc:
            log.warning("could not record event %s on %s: %s", reason, meta.get("name"), exc)
            return
        with self._lock:
            self._seen[cache_key] = result
            self._seen.move_to_end(cache_key)
            while len(self._seen) > _CACHE_SIZE:
                self._seen.popitem(last=False)
