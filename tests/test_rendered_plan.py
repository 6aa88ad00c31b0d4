"""The rendered-container rules share work between renderings (loader/validation.py, _EntryTemplates): a template
renders once per value set it can tell apart, and a filled rendering that changes no value a template reads is left
out. The exhaustive plan renders every template in every rendering; both must report the same problems, in the same
order, at the same places, for built-in entries and for entries whose container templates and parameters are
changed at random (secrets behind options, text that depends on the tls mode or fails in one mode only, compose
variables, filters that mangle a secret)."""

from __future__ import annotations

import copy
from pathlib import Path
from typing import Any

import pytest
import yaml
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from dbstack.loader.errors import Problem
from dbstack.loader.registry import BUILTIN_CATALOG
from dbstack.loader.validation import Reporter, _check_rendered_container
from dbstack.loader.yaml_source import parse_mapping

ENTRIES: dict[str, dict[str, Any]] = {
    path.stem: yaml.safe_load(path.read_text(encoding="utf-8")) for path in sorted(BUILTIN_CATALOG.glob("*.yaml"))
}
WITH_CONTAINER = sorted(name for name, entry in ENTRIES.items() if "container" in entry)

# Template texts: NAME is replaced by any parameter of the entry (tls included), OPTION by one that is not secret,
# SECRET by a secret one.
SNIPPETS = [
    "{{ NAME }}",
    "--opt={{ NAME | upper }}",
    "{% if OPTION %}--opt={{ SECRET }}{% endif %}",
    "{% if OPTION %}${X{{ OPTION }}}{% endif %}",
    "${X{{ OPTION }}}",
    "{{ SECRET if tls == 'require' else 'plain' }}",
    "{{ 'https' if tls != 'disable' else 'http' }}://db:{{ container_port }}",
    "{{ (SECRET ~ '')[1:] }}",
    "{{ 'long' if (SECRET ~ '') | length > 60 else 'short' }}",
    "{{ 1 // 0 if tls == 'verify-full' else 'ok' }}",
    "{{ 1 // 0 if OPTION else 'ok' }}",
    "{{ 'x' if (SECRET ~ '') | length > 60 else 1 // 0 }}",
    "{{ undeclared_name }}",
    "$$HOME {{ NAME }}",
    "${OTHER_SERVICE_SECRET}",
    "$X-{{ NAME }}",
    "redis-cli -a {{ SECRET }} ping",
    "sh -c 'echo {{ NAME }}; true'",
    "curl -f http://localhost:{{ container_port }}/{{ OPTION }}",
    "plain text",
]
PARAMETERS: list[dict[str, Any]] = [
    {"type": "string", "description": "an option"},
    {"type": "string", "default": "on", "description": "an option with a default"},
    {"type": "boolean", "default": False, "description": "a switch"},
    {"type": "integer", "default": 3, "description": "a number"},
    {"type": "number", "description": "a number without a default"},
    {"type": "number", "enum": [1, 1.0], "default": 1, "description": "equal to the default, but written 1.0"},
    {"type": "string", "enum": ["a", "b"], "default": "a", "description": "a choice"},
    {"type": "string", "secret": True, "required": True, "description": "another secret"},
]
SLOTS = ["command", "environment", "healthcheck", "tls.command", "tls.environment", "compose_fragment"]


def found(entry: dict[str, Any], exhaustive: bool) -> list[Problem]:
    doc = parse_mapping(yaml.safe_dump(entry, sort_keys=False))
    reporter = Reporter(Path("entry.yaml"), doc)
    _check_rendered_container(reporter, doc.data, exhaustive=exhaustive)
    return reporter.problems


def problems(entry: dict[str, Any], exhaustive: bool) -> list[str]:
    return [str(problem) for problem in found(entry, exhaustive)]


@pytest.mark.parametrize("name", WITH_CONTAINER)
def test_built_in_entries_give_the_same_problems_with_either_plan(name: str) -> None:
    assert problems(ENTRIES[name], exhaustive=False) == problems(ENTRIES[name], exhaustive=True) == []


@st.composite
def changed_entries(draw: st.DrawFn) -> dict[str, Any]:
    entry: dict[str, Any] = copy.deepcopy(ENTRIES[draw(st.sampled_from(WITH_CONTAINER))])
    parameters = entry["parameters"]
    for index, spec in enumerate(draw(st.lists(st.sampled_from(PARAMETERS), max_size=3))):
        parameters[f"extra_{index}"] = dict(spec)
    names = sorted(parameters)
    options = [name for name in names if not parameters[name].get("secret")] or ["tls"]
    secrets = [name for name in names if parameters[name].get("secret")] or names
    container = entry["container"]
    for _ in range(draw(st.integers(1, 5))):
        slot = draw(st.sampled_from(SLOTS))
        text = draw(st.sampled_from(SNIPPETS)).replace("NAME", draw(st.sampled_from(names)))
        text = text.replace("OPTION", draw(st.sampled_from(options))).replace("SECRET", draw(st.sampled_from(secrets)))
        if slot == "compose_fragment":
            container[slot] = draw(st.sampled_from([f'command: ["{text}"]\n', f"environment: {{X: '{text}'}}\n"]))
        elif slot.endswith("environment"):
            where = container.setdefault("tls", {"certificate_dir": "/tls"}) if slot.startswith("tls") else container
            where.setdefault("environment", {})[draw(st.sampled_from(["A", "B", "SECRET_VAR"]))] = text
        elif slot == "healthcheck":
            test = container["healthcheck"]["test"]
            index = draw(st.integers(1, len(test)))
            test[index : index + 1] = [text]
            if draw(st.booleans()):
                test[0] = draw(st.sampled_from(["CMD", "CMD-SHELL"]))
        else:
            where = container.setdefault("tls", {"certificate_dir": "/tls"}) if slot.startswith("tls") else container
            where.setdefault("command", []).append(text)
    if draw(st.booleans()):
        container["healthcheck"]["credentials_from"] = draw(
            st.lists(st.sampled_from(["A", "B", "SECRET_VAR"]), max_size=2)
        )
    return entry


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(changed_entries())
def test_changed_entries_give_the_same_problems_with_either_plan(entry: dict[str, Any]) -> None:
    assert problems(entry, exhaustive=False) == problems(entry, exhaustive=True)


def test_the_generated_entries_reach_every_rule() -> None:
    """The generator is worth something only if the rules fire on what it makes: DBS302, DBS402 and DBS403."""
    rules: set[str] = set()
    seen = 0

    @settings(max_examples=150, deadline=None, database=None, suppress_health_check=[HealthCheck.too_slow])
    @given(changed_entries())
    def collect(entry: dict[str, Any]) -> None:
        nonlocal seen
        seen += 1
        rules.update(problem.rule for problem in found(entry, exhaustive=False))

    collect()
    assert seen >= 100 and {"DBS302", "DBS402", "DBS403"} <= rules, rules


def redis_with(command: str, **parameters: dict[str, Any]) -> dict[str, Any]:
    entry: dict[str, Any] = copy.deepcopy(ENTRIES["redis"])
    entry["parameters"].update(parameters)
    entry["container"]["command"] = [*entry["container"].get("command", []), command]
    return entry


@pytest.mark.parametrize(
    ("entry", "expected"),
    [
        (  # only the filled rendering shows it: the option has no default
            redis_with("{% if extra %}--pass={{ password }}{% endif %}", extra={"type": "string", "description": "x"}),
            ["secret parameter 'password' reaches the container command"],
        ),
        (  # 1 and 1.0 are equal in Python, not in the text: the filled rendering is not the default one
            redis_with("${X{{ extra }}}", extra={"type": "number", "enum": [1, 1.0], "default": 1, "description": "x"}),
            ["reads the compose variable ${X1}", "reads the compose variable ${X1.0}"],
        ),
        (  # a template that reads tls renders once per mode
            redis_with("{{ '${X' ~ tls ~ '}' if tls != 'disable' else '' }}"),
            [f"reads the compose variable ${{X{mode}}}" for mode in ("require", "verify-ca", "verify-full")],
        ),
    ],
    ids=["secret behind an option", "1 written 1.0", "text per tls mode"],
)
def test_what_only_some_renderings_show_is_found_with_either_plan(entry: dict[str, Any], expected: list[str]) -> None:
    fast = problems(entry, exhaustive=False)
    assert fast == problems(entry, exhaustive=True)
    for message in expected:
        assert any(message in problem for problem in fast), (message, fast)
