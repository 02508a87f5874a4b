"""The Kubernetes conformance suite against a guest (``make conformance``): its images into the platform registry,
and a summary of ``e2e.test``'s JUnit report.

``e2e.test`` (built by ``tools/testenv/build.sh conformance`` from the guests' Kubernetes version) names its
images under registry.k8s.io (``e2e.test --list-images``); the platform registry mirrors that registry for the
worker VMs, so pushing them under those paths lets the guests pull them by name, offline.
"""

from __future__ import annotations

import re
import xml.etree.ElementTree as ET
from dataclasses import dataclass
from typing import TYPE_CHECKING
from urllib.parse import urlsplit, urlunsplit

import yaml

from kubeception_testenv.images import RECIPES, Recipe, build, recipes
from kubeception_testenv.platform import CONFORMANCE_IMAGES

if TYPE_CHECKING:
    from pathlib import Path

    from kubeception_testenv.platform import Platform

_SIG = re.compile(r"\[(sig-[a-z-]+)\]")
CONFORMANCE_RECIPES = RECIPES / "conformance"


def conformance_recipes() -> list[Recipe]:
    """The e2e suite's own images (agnhost, its busybox), named as ``e2e.test`` asks for them; apart from
    ``images.recipes()`` because agnhost's binary comes from the conformance build, which ``make images`` skips."""
    return [Recipe.load(path) for path in sorted(CONFORMANCE_RECIPES.glob("*.yaml"))]


def by_name(kubeconfig: str, hosts: str) -> tuple[str, str]:
    """The guest's kubeconfig with the API's host name as its server (``tls-server-name`` dropped), and ``hosts``
    (an ``/etc/hosts``) with that name on the address: e2e.test sets the server of the kubeconfig it loads as an
    override, and client-go then drops ``tls-server-name`` — the ingress, which routes by SNI, would get none."""
    config = yaml.safe_load(kubeconfig)
    lines = [hosts.rstrip("\n")]
    for entry in config["clusters"]:
        cluster = entry["cluster"]
        if name := cluster.pop("tls-server-name", ""):
            url = urlsplit(cluster["server"])
            cluster["server"] = urlunsplit(url._replace(netloc=f"{name}:{url.port or 443}"))
            lines.append(f"{url.hostname} {name}")
    return yaml.safe_dump(config), "\n".join(lines) + "\n"


def push_images(platform: Platform) -> list[str]:
    """Build (or find cached) and push the e2e suite's images; returns the references pushed."""
    chosen = [recipe for recipe in [*recipes(), *conformance_recipes()] if recipe.short in CONFORMANCE_IMAGES]
    for recipe in chosen:
        build(recipe)
    platform.push_images(chosen, CONFORMANCE_IMAGES)
    return [recipe.ref for recipe in chosen]


@dataclass(frozen=True)
class Result:
    """One test of the report: ``passed``, ``failed`` or ``skipped``, how long it took, why it failed."""

    name: str
    outcome: str
    seconds: float
    message: str = ""

    @property
    def sig(self) -> str:
        match = _SIG.search(self.name)
        return match.group(1) if match else "other"


def results(junit: Path) -> list[Result]:
    """The test cases of a JUnit report as ginkgo writes it (``<failure>``, ``<error>``, ``<skipped>``)."""
    found = []
    for case in ET.parse(junit).getroot().iter("testcase"):
        failure = case.find("failure")
        if failure is None:
            failure = case.find("error")
        if failure is not None:
            outcome, message = "failed", failure.get("message") or (failure.text or "")
        elif case.find("skipped") is not None:
            outcome, message = "skipped", ""
        else:
            outcome, message = "passed", ""
        found.append(Result(case.get("name", ""), outcome, float(case.get("time") or 0), message.strip()))
    return found


def summary(tests: list[Result]) -> str:
    """Markdown: the count per SIG of the tests that ran (skipped ones, the suite's thousands outside the focus,
    only counted; the suite's own setup and report nodes only when they failed), then each with its outcome,
    duration and the first line of its failure."""
    ran = [t for t in tests if t.outcome == "failed" or (t.outcome == "passed" and t.name.startswith("[It]"))]
    skipped = sum(t.outcome == "skipped" for t in tests)
    sigs = sorted({t.sig for t in ran})
    lines = ["| SIG | passed | failed | seconds |", "| --- | ---: | ---: | ---: |"]
    for sig in sigs:
        mine = [t for t in ran if t.sig == sig]
        passed = sum(t.outcome == "passed" for t in mine)
        lines.append(f"| {sig} | {passed} | {len(mine) - passed} | {sum(t.seconds for t in mine):.0f} |")
    passed = sum(t.outcome == "passed" for t in ran)
    total = sum(t.seconds for t in ran)
    lines.append(f"| **all** | **{passed}** | **{len(ran) - passed}** | **{total:.0f}** |")
    lines += ["", f"{skipped} skipped (outside the focus or skipped by the suite).", ""]
    lines += ["| test | result | seconds | why |", "| --- | --- | ---: | --- |"]
    for test in ran:
        why = _cell(test.message.splitlines()[0][:200]) if test.message else ""
        lines.append(f"| {_cell(test.name)} | {test.outcome} | {test.seconds:.0f} | {why} |")
    return "\n".join(lines) + "\n"


def _cell(text: str) -> str:
    return text.replace("|", "\\|")
