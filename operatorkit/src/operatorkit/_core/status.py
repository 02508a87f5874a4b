"""Pydantic models for status: what an operator may write is declared next to its spec model.

``Controller(status_model=...)`` checks every status before it is written. Top-level keys the model does not
declare are dropped (an earlier version's fields); a status the model rejects is a bug in the operator, so it
is not written: the object gets ``Ready=False InvalidStatus`` with the validation
message instead and the key is retried with backoff.

The model also types ``ctx.status``: resources read and write its attributes, and what is written is the
difference to the stored status (:func:`status_changes`) — a field the operator never changed is not sent, so a
default the model fills in is not written and a field another writer keeps is not dropped. A controller without a
``status_model`` gets :class:`Status` itself (observedGeneration and conditions).
"""

from __future__ import annotations

import datetime
from typing import TYPE_CHECKING, Any, Literal

import pydantic
from typing_extensions import TypeVar

from operatorkit._core.signals import ReconcileError

if TYPE_CHECKING:
    import logging


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
    """The part every operatorkit status has; subclass it with the operator's own fields. ``ctx.status`` is an
    instance of the controller's ``status_model``: set a field to change it, to None to remove it; lists and nested
    models may be changed in place. Conditions go through ``ctx.set_condition``."""

    model_config = pydantic.ConfigDict(extra="forbid", populate_by_name=True)

    observed_generation: int | None = pydantic.Field(default=None, alias="observedGeneration", ge=0)
    conditions: list[Condition] = pydantic.Field(default_factory=list)


ModelT = TypeVar("ModelT", bound=Status)
T = TypeVar("T")


def required(value: T | None, field: str) -> T:
    """A status field an earlier step records, for a step that cannot go on without it: a missing one stops the
    reconcile with a reason (the earlier step says why) rather than a KeyError or a None that goes on."""
    if value is None:
        raise ReconcileError(f"status.{field} is not recorded yet", reason="StatusIncomplete")
    return value


def _alias(name: str, field: pydantic.fields.FieldInfo) -> str:
    return field.alias or name


def parse_status(model: type[ModelT], data: dict[str, Any], log: logging.LoggerAdapter[Any] | None = None) -> ModelT:
    """The stored status as ``model`` reads it: fields the model does not declare left out, and a field whose
    stored value the model refuses left out too (logged) rather than the whole status — a status another writer
    broke in one field still names everything else the operator made."""
    known = {_alias(name, f) for name, f in model.model_fields.items()}
    data = {key: value for key, value in data.items() if key in known}
    for _ in range(len(data) + 1):
        try:
            return model.model_validate(data)
        except pydantic.ValidationError as exc:
            refused = {str(error["loc"][0]) for error in exc.errors() if error["loc"]}
            if log is not None:
                log.warning("stored status does not fit %s in %s", model.__name__, ", ".join(sorted(refused)))
            if not refused & data.keys():
                break
            data = {key: value for key, value in data.items() if key not in refused}
    return model()


def dump_status(status: pydantic.BaseModel) -> dict[str, Any]:
    """A status model as the API stores it: JSON, camelCase, no nulls (a field set to None is a field removed).
    Inside a top-level field only what was set (read from the stored status, given to a constructor, assigned) is
    kept — a nested model's defaults are not written, as a dict status never held them; a top-level field is kept
    whole, so a default list changed in place is seen (:func:`status_changes` then sends only what changed)."""
    fields = type(status).model_fields
    every_field_set = type(status).model_construct(
        _fields_set=set(fields), **{name: getattr(status, name) for name in fields}
    )
    return every_field_set.model_dump(mode="json", by_alias=True, exclude_none=True, exclude_unset=True)


def status_changes(stored: dict[str, Any], before: dict[str, Any], status: pydantic.BaseModel) -> dict[str, Any]:
    """The status to write: ``stored`` with every top-level field whose value ``status`` changed from ``before``
    (``stored`` as the model read it, dumped) replaced — or removed, when it is now None. Unchanged fields keep their
    stored form, so only what the operator changed goes into the merge patch."""
    after = dump_status(status)
    desired = dict(stored)
    for key in before.keys() | after.keys():
        if before.get(key) != after.get(key):
            if key in after:
                desired[key] = after[key]
            else:
                desired.pop(key, None)
    return desired


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
