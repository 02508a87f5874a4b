"""Kubernetes' timestamps: :mod:`operatorkit.timestamps`, under the name the worker pools import."""

from __future__ import annotations

from operatorkit.timestamps import FORMAT, now, parse, since, stamp

__all__ = ["FORMAT", "now", "parse", "since", "stamp"]
