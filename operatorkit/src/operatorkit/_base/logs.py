"""Structured JSON logs: every line of a reconcile carries controller, object key, reconcile id and the resource
running (Giant Swarm's per-resource log wrapper, as a context variable: no resource has to pass a logger on)."""

from __future__ import annotations

import contextlib
import contextvars
import datetime
import json
import logging
import sys
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from collections.abc import Iterator

_scope: contextvars.ContextVar[dict[str, str] | None] = contextvars.ContextVar("operatorkit_scope", default=None)


class JSONFormatter(logging.Formatter):
    def format(self, record: logging.LogRecord) -> str:
        entry: dict[str, Any] = {
            "ts": datetime.datetime.fromtimestamp(record.created, datetime.UTC).isoformat(timespec="milliseconds"),
            "level": record.levelname.lower(),
            "logger": record.name,
            "msg": record.getMessage(),
            **(_scope.get() or {}),
        }
        if record.exc_info:
            entry["error"] = self.formatException(record.exc_info)
        return json.dumps(entry, default=str)


def configure(level: str = "info", json_format: bool = True) -> None:
    """Route the root logger to stderr, as JSON lines unless ``json_format`` is False."""
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(
        JSONFormatter() if json_format else logging.Formatter("%(asctime)s %(levelname)s %(name)s %(message)s")
    )
    root = logging.getLogger()
    root.handlers[:] = [handler]
    root.setLevel(level.upper())
    for noisy in ("urllib3", "kubernetes"):
        logging.getLogger(noisy).setLevel(logging.WARNING)


@contextlib.contextmanager
def reconcile_scope(controller: str, key: str, reconcile_id: str) -> Iterator[logging.LoggerAdapter[Any]]:
    """Attach the reconcile's identity to every log line emitted inside (by any logger, on this thread)."""
    token = _scope.set({"controller": controller, "object": key, "reconcileID": reconcile_id})
    try:
        yield logging.LoggerAdapter(logging.getLogger(f"operatorkit.{controller}"), {})
    finally:
        _scope.reset(token)


@contextlib.contextmanager
def resource_scope(resource: str) -> Iterator[None]:
    """Attach the running resource's name to the reconcile's log lines."""
    token = _scope.set({**(_scope.get() or {}), "resource": resource})
    try:
        yield
    finally:
        _scope.reset(token)
