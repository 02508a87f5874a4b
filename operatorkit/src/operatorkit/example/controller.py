"""The example operator from docs/writing-an-operator.md: a ``Greeting`` becomes a ConfigMap.

It is also the trivial controller of the benchmark (per object: one ConfigMap, status.observedGeneration).
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import pydantic

from operatorkit import Context, Controller, Kind, Object, ObjectResource, OperatorSettings, Status, operator_config
from operatorkit.kinds import CONFIG_MAP

if TYPE_CHECKING:
    from collections.abc import Sequence

    from operatorkit import Resource

GREETING = Kind("example.kubeception.io/v1alpha1", "Greeting", "greetings")


class GreetingSpec(pydantic.BaseModel):
    model_config = pydantic.ConfigDict(extra="forbid")

    message: str = pydantic.Field(min_length=1, max_length=1024)
    language: str = pydantic.Field(default="en", pattern=r"^[a-z]{2}$")


class GreetingStatus(Status):
    """observedGeneration and conditions: all the example records."""


class GreetingSettings(OperatorSettings):
    model_config = operator_config("greeting-operator")


class GreetingConfigMap(ObjectResource[GreetingSpec]):
    """The ConfigMap holding the greeting; owned by the Greeting, so it is garbage-collected with it."""

    kind = CONFIG_MAP

    def manifest(self, ctx: Context[GreetingSpec]) -> Object | None:
        return {
            "apiVersion": "v1",
            "kind": "ConfigMap",
            "metadata": {"name": f"{ctx.name}-greeting", "namespace": ctx.namespace},
            "data": {"message": ctx.spec.message, "language": ctx.spec.language},
        }


def greeting_controller(
    name: str = "greeting", extra: Sequence[Resource[GreetingSpec]] = (), **overrides: Any
) -> Controller[GreetingSpec]:
    """The example controller; ``extra`` resources run after the ConfigMap (tests add probes there)."""
    return Controller(
        name=name,
        kind=GREETING,
        resources=[GreetingConfigMap(), *extra],
        spec_model=GreetingSpec,
        status_model=GreetingStatus,
        owns=[CONFIG_MAP],
        **overrides,
    )


def build(settings: GreetingSettings) -> Sequence[Controller[Any]]:
    return [greeting_controller()]
