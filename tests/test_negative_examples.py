"""Negative examples as files (tests/examples/negative/), as check-jsonschema keeps its examples: each file is a
catalog entry with one deliberate fault, and its header lists every problem `dbstack catalog validate` must
report for it, one line each:

    # expect: RULE PATH LINE:COLUMN MESSAGE-REGEX

RULE is a rule id of loader/rules.py, PATH the field path (``-`` for the document itself), LINE:COLUMN where the
problem points in the file, MESSAGE-REGEX searched in the message. The file must give exactly these problems."""

from __future__ import annotations

import json
import re
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path

import pytest

from dbstack.loader.rules import RULES

DBSTACK = str(Path(sys.executable).parent / "dbstack")
NEGATIVE = Path(__file__).resolve().parent / "examples" / "negative"
EXPECT = re.compile(r"^# expect: (?P<rule>DBS\d{3}) (?P<path>\S+) (?P<line>\d+):(?P<column>\d+) (?P<message>.+)$")


@dataclass(frozen=True)
class Expected:
    rule: str
    path: str
    line: int
    column: int
    message: str  # a regular expression

    def matches(self, problem: dict[str, object]) -> bool:
        return (
            (problem["rule"], problem["path"], problem["line"], problem["column"])
            == (self.rule, self.path, self.line, self.column)
            and isinstance(problem["message"], str)
            and re.search(self.message, problem["message"]) is not None
        )


def expected_problems(example: Path) -> list[Expected]:
    found = []
    for line in example.read_text(encoding="utf-8").splitlines():
        if line.startswith("# expect:"):
            match = EXPECT.match(line)
            assert match, f"{example.name}: malformed expectation {line!r}"
            path = "" if match["path"] == "-" else match["path"]
            found.append(Expected(match["rule"], path, int(match["line"]), int(match["column"]), match["message"]))
    return found


EXAMPLES = sorted(NEGATIVE.glob("*.yaml"))


def test_there_are_negative_examples_and_each_expects_known_rules() -> None:
    assert len(EXAMPLES) >= 20, EXAMPLES
    known = {rule.id for rule in RULES}
    for example in EXAMPLES:
        expected = expected_problems(example)
        assert expected, f"{example.name} has no '# expect:' line"
        assert {e.rule for e in expected} <= known, example.name


@pytest.mark.parametrize("example", EXAMPLES, ids=[e.stem for e in EXAMPLES])
def test_negative_example_gives_exactly_its_expected_problems(example: Path) -> None:
    result = subprocess.run(
        [DBSTACK, "catalog", "validate", str(example), "--format", "json"],
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert result.returncode == 1, (result.stdout, result.stderr)
    report = json.loads(result.stdout)
    assert report["valid"] is False
    problems = report["problems"]
    assert all(p["file"] == str(example) and p["severity"] == "error" for p in problems), problems
    unmatched = list(problems)
    for expected in expected_problems(example):
        match = next((p for p in unmatched if expected.matches(p)), None)
        assert match is not None, f"{example.name}: no problem matches {expected}; got {unmatched}"
        unmatched.remove(match)
    assert unmatched == [], f"{example.name}: problems not in its header: {unmatched}"
