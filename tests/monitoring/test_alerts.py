"""The alert rules are valid for the real Prometheus and fire when (and only when) they should."""

from __future__ import annotations

import subprocess
from pathlib import Path

from kubeception_testenv import find_binary

MONITORING = Path(__file__).parents[2] / "monitoring"


def promtool(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [str(find_binary("promtool")), *args], capture_output=True, text=True, check=False, cwd=MONITORING
    )


def test_rules_are_valid():
    result = promtool("check", "rules", "alerts.yaml")
    assert result.returncode == 0, result.stdout + result.stderr


def test_rules_fire_as_specified():
    result = promtool("test", "rules", "alerts_test.yaml")
    assert result.returncode == 0, result.stdout + result.stderr
