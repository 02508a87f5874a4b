"""The operator guide shows the example operator as it is, and the example stays a small skeleton."""

from __future__ import annotations

import re
from pathlib import Path

ROOT = Path(__file__).parents[2]
GUIDE = ROOT / "docs" / "writing-an-operator.md"


def quoted_files() -> dict[str, str]:
    text = GUIDE.read_text()
    return {m["path"]: m["body"] for m in re.finditer(r"```python file=(?P<path>\S+)\n(?P<body>.*?)```", text, re.S)}


def test_the_guide_quotes_the_example_verbatim():
    files = quoted_files()
    assert set(files) == {
        "operatorkit/src/operatorkit/example/controller.py",
        "operatorkit/src/operatorkit/example/__main__.py",
    }
    for path, body in files.items():
        assert (ROOT / path).read_text() == body, f"docs/writing-an-operator.md is out of date with {path}"


def test_a_whole_operator_is_under_eighty_lines():
    lines = sum(len(body.splitlines()) for body in quoted_files().values())
    assert lines < 80, f"spec, status, settings, resource, controller and __main__ take {lines} lines"
