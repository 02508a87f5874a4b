"""The example controller: ``Greeting`` → ConfigMap ``<name>-greeting`` with the message."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import pydantic

from operatorkit import Context, Controller, Kind, Object, ObjectResource, Resource, Status
from operatorkit.kinds import CONFIG_MAP

if TYPE_CHECKING:
    from collections.abc import Sequence

    from operatorkit.cli import Options
    from operatorkit.client import KubeClient

GREETING = Kind("example.kubeception.io/v1alpha1", "Greeting", "greetings")


class GreetingSpec(pydantic.BaseModel):
    model_config = pydantic.ConfigDict(extra="forbid")

    message: str = pydantic.Field(min_length=1, max_length=1024)
    language: str = "en"


class GreetingStatus(Status):
    """observedGeneration and conditions: all the example records."""


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
    name: str = "greeting", workers: int = 4, extra: Sequence[Resource[GreetingSpec]] = (), **overrides: Any
) -> Controller[GreetingSpec]:
    """The example controller; ``extra`` resources run after the ConfigMap (tests add probes there)."""
    return Controller(
        name=name,
        kind=GREETING,
        resources=[GreetingConfigMap(), *extra],
        spec_model=GreetingSpec,
        status_model=GreetingStatus,
        owns=[CONFIG_MAP],
        workers=workers,
        **overrides,
    )


def build_controllers(options: Options, client: KubeClient) -> Sequence[Controller[Any]]:
    return [greeting_controller(workers=options.workers, resync_period=options.resync_period)]
