"""Kubernetes' timestamps: RFC 3339, whole seconds, UTC, ``Z`` — as API servers write them (in the mother and in
guests), and as operators write theirs in status, annotations and messages. One format for every operator, read
back leniently: :func:`parse` also takes fractions of a second and numeric offsets (what an earlier version or
another writer may have stored), and reads a time without an offset as UTC."""

from __future__ import annotations

import datetime

FORMAT = "%Y-%m-%dT%H:%M:%SZ"


def now() -> datetime.datetime:
    """The current moment, in UTC."""
    return datetime.datetime.now(datetime.UTC)


def stamp(moment: datetime.datetime | None = None) -> str:
    """``moment`` (default: now) as Kubernetes writes it: ``2026-12-07T03:54:00Z``."""
    return (moment or now()).astimezone(datetime.UTC).strftime(FORMAT)


def parse(value: str) -> datetime.datetime:
    """A timestamp → an aware datetime; ValueError when it is none."""
    moment = datetime.datetime.fromisoformat(value)
    return moment if moment.tzinfo is not None else moment.replace(tzinfo=datetime.UTC)


def since(value: str) -> float:
    """Seconds from ``value`` until now (never negative); ValueError when it is no timestamp."""
    return max(0.0, (now() - parse(value)).total_seconds())
