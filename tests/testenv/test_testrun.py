"""The timings report of `make test` (kubeception_testenv.testrun): what it reads from the streams' JUnit files."""

from __future__ import annotations

from typing import TYPE_CHECKING

from kubeception_testenv.testrun import Report, read_junit, render

if TYPE_CHECKING:
    from pathlib import Path

JUNIT = """<?xml version="1.0" encoding="utf-8"?><testsuites><testsuite name="pytest">
<testcase classname="tests.realnodes.test_two_guests" name="test_scenario" time="2267.1">
<system-out>two KVMConfigs -&gt; both Ready in 160.2 s
step create_both: 160 s
step services_through_the_addons: 156 s
not a step: 3 s
</system-out></testcase>
<testcase classname="tests.kvm.test_kvm_operator" name="test_fifty" time="161.9">
<failure message="TimeoutError: 50 clusters converging&#10;more">trace</failure></testcase>
</testsuite></testsuites>"""


def test_a_long_tests_steps_are_reported_and_a_failure_by_its_first_line(tmp_path: Path) -> None:
    junit = tmp_path / "realnodes.xml"
    junit.write_text(JUNIT)
    scenario, fifty = read_junit(junit)
    assert scenario.suite == "realnodes"
    assert scenario.steps == ("step create_both: 160 s", "step services_through_the_addons: 156 s")
    assert (fifty.outcome, fifty.message, fifty.steps) == ("failed", "TimeoutError: 50 clusters converging", ())
    text = render(Report(streams={"realnodes": 2300.0}, wall=2300.0, cases=[scenario, fifty]))
    assert "The steps of `tests/realnodes/test_two_guests.py::test_scenario`:" in text
    assert "| create_both | 160 s |\n| services_through_the_addons | 156 s |\n" in text
    assert "not a step" not in text
