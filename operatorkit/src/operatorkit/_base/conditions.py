"""metav1.Condition handling: a transition time that only moves when the status flips."""

from __future__ import annotations

import re
from typing import Any, Literal

import pydantic

from operatorkit import timestamps

ConditionStatus = Literal["True", "False", "Unknown"]
_REASON_INVALID = re.compile(r"[^A-Za-z0-9_,:]")
_MAX_MESSAGE = 32768


def clean_reason(reason: str) -> str:
    """A reason that passes metav1.Condition validation (``^[A-Za-z]([A-Za-z0-9_,:]*[A-Za-z0-9_])?$``)."""
    cleaned = _REASON_INVALID.sub("", reason).rstrip(",:")
    return cleaned if cleaned[:1].isalpha() else f"R{cleaned}" if cleaned else "Unknown"


def set_condition(
    conditions: list[dict[str, Any]],
    type_: str,
    status: ConditionStatus,
    reason: str,
    message: str = "",
    observed_generation: int | None = None,
) -> bool:
    """Set ``type_`` in ``conditions`` in place; True when anything but the timestamp changed."""
    wanted: dict[str, Any] = {
        "type": type_,
        "status": status,
        "reason": clean_reason(reason),
        "message": message[:_MAX_MESSAGE],
    }
    if observed_generation is not None:
        wanted["observedGeneration"] = observed_generation
    for index, existing in enumerate(conditions):
        if existing.get("type") != type_:
            continue
        unchanged = all(existing.get(k) == v for k, v in wanted.items())
        if unchanged:
            return False
        transition = existing.get("lastTransitionTime") if existing.get("status") == status else None
        conditions[index] = {**wanted, "lastTransitionTime": transition or timestamps.stamp()}
        return True
    conditions.append({**wanted, "lastTransitionTime": timestamps.stamp()})
    return True


def get_condition(status: dict[str, Any] | pydantic.BaseModel | None, type_: str) -> dict[str, Any] | None:
    """Condition ``type_`` of a status — a dict as the API stores it, or a status model — as the API stores it."""
    if isinstance(status, pydantic.BaseModel):
        for model in getattr(status, "conditions", None) or []:
            if model.type == type_:
                found: dict[str, Any] = model.model_dump(mode="json", by_alias=True, exclude_none=True)
                return found
        return None
    for condition in (status or {}).get("conditions", []):
        if condition.get("type") == type_:
            return dict(condition)
    return None


def is_true(status: dict[str, Any] | pydantic.BaseModel | None, type_: str) -> bool:
    condition = get_condition(status, type_)
    return condition is not None and condition.get("status") == "True"
