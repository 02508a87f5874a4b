"""The example operator from docs/writing-an-operator.md: a ``Greeting`` becomes a ConfigMap.

It is also the trivial controller of the benchmark (per object: one ConfigMap, status.observedGeneration).
"""

from __future__ import annotations

from pathlib import Path

from operatorkit.example.controller import GREETING, GreetingSettings, GreetingSpec, build, greeting_controller

CRD_PATH = Path(__file__).with_name("crd.yaml")

__all__ = ["CRD_PATH", "GREETING", "GreetingSettings", "GreetingSpec", "build", "greeting_controller"]
