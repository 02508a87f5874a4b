"""Kubernetes' timestamps (RFC 3339, seconds, UTC) as the API servers write them — in the mother and in guests."""

from __future__ import annotations

import datetime

FORMAT = "%Y-%m-%dT%H:%M:%SZ"


def now() -> datetime.datetime:
    return datetime.datetime.now(datetime.UTC)


def stamp(moment: datetime.datetime | None = None) -> str:
    return (moment or now()).strftime(FORMAT)


def parse(value: str) -> datetime.datetime:
    return datetime.datetime.strptime(value, FORMAT).replace(tzinfo=datetime.UTC)


def since(value: str) -> float:
    """Seconds from ``value`` until now (never negative)."""
    return max(0.0, (now() - parse(value)).total_seconds())
