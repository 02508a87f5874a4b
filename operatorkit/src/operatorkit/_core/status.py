"""Pydantic models for status: what an operator may write is declared next to its spec model.

``Controller(status_model=...)`` checks every status before it is written. Top-level keys the model does not
declare are dropped (an earlier version's fields); a status the model rejects is a bug in the operator, so it
is not written: the object gets ``Ready=False InvalidStatus`` with the validation
message instead and the key is retried with backoff.
"""

from __future__ import annotations

import datetime
from typing import Any, Literal

import pydantic


class Condition(pydantic.BaseModel):
    """metav1.Condition."""

    model_config = pydantic.ConfigDict(extra="forbid", populate_by_name=True)

    type: str = pydantic.Field(
        pattern=r"^([a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*/)?(([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9])$",
        max_length=316,
    )
    status: Literal["True", "False", "Unknown"]
    reason: str = pydantic.Field(pattern=r"^[A-Za-z]([A-Za-z0-9_,:]*[A-Za-z0-9_])?$", max_length=1024)
    message: str = pydantic.Field(max_length=32768)
    last_transition_time: datetime.datetime = pydantic.Field(alias="lastTransitionTime")
    observed_generation: int | None = pydantic.Field(default=None, alias="observedGeneration", ge=0)


class Status(pydantic.BaseModel):
    """The part every operatorkit status has; subclass it with the operator's own fields."""

    model_config = pydantic.ConfigDict(extra="forbid", populate_by_name=True)

    observed_generation: int | None = pydantic.Field(default=None, alias="observedGeneration", ge=0)
    conditions: list[Condition] = pydantic.Field(default_factory=list)


def drop_unknown_fields(model: type[pydantic.BaseModel], status: dict[str, Any]) -> None:
    """Remove top-level keys the model does not declare (left by an earlier operator version: the status is the
    operator's own, and the removal is written as ``null``)."""
    known = {f.alias or name for name, f in model.model_fields.items()} | set(model.model_fields)
    for key in [k for k in status if k not in known]:
        del status[key]


def status_problems(model: type[pydantic.BaseModel], status: object) -> str | None:
    """Why ``status`` does not fit ``model``, or None."""
    try:
        model.model_validate(status)
    except pydantic.ValidationError as exc:
        return "; ".join(f"status.{'.'.join(str(p) for p in error['loc'])}: {error['msg']}" for error in exc.errors())
    return None
