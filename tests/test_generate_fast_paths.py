"""What makes generate faster changes nothing it writes (issue 11).

* dbstack's own templates ship compiled (render/compiled): every module is what its template compiles to now,
  the shipped code is what renders, a module that does not match its template's text or the running Jinja is
  not used, and a whole stack (compose and Kubernetes) renders the same from shipped code as from the texts.
* the previous compose.yaml is read with libyaml's loader: what a regeneration keeps from it is as before, and a
  file nested too deeply for a recursive parser is ignored, not an internal error.

tests/benchmarks/compare_generate.py proves the same against the version before these changes, process for
process (it needs that version installed elsewhere, so it is not a test).
"""

from __future__ import annotations

import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from dbstack import sandbox
from dbstack.config_engine import ConfigEngine, StackRequest
from dbstack.kubernetes_stack import kubernetes_tree
from dbstack.loader import DatabaseAdapterRegistry
from dbstack.render import compiled, compose, kubernetes
from dbstack.stack_generator import StackGenerator, _previous_compose, _stack_readme, resolve_choices

DBSTACK = Path(sys.executable).parent / "dbstack"
TEMPLATES = sorted(path.relative_to(compiled.TEMPLATES).as_posix() for path in compiled.TEMPLATES.rglob("*.j2"))
COMPILED = Path(compiled.__file__).parent


def _forget_compiled_templates() -> None:
    sandbox._SHIPPED.clear()
    sandbox._compiled.cache_clear()
    compose._service_template.cache_clear()
    kubernetes._template_source.cache_clear()


@pytest.fixture(autouse=True)
def _fresh_templates() -> Iterator[None]:
    _forget_compiled_templates()
    yield
    _forget_compiled_templates()


def test_every_template_has_its_module_and_nothing_else_is_shipped() -> None:
    modules = {path.name for path in COMPILED.glob("*.py")} - {"__init__.py", "__main__.py"}
    assert modules == {f"{compiled.module_name(relative)}.py" for relative in TEMPLATES}
    assert len(modules) == len(TEMPLATES)  # no two templates share a module name


@pytest.mark.parametrize("relative", TEMPLATES)
def test_each_module_is_what_its_template_compiles_to_now(relative: str) -> None:
    """Fails after a template changed without `python -m dbstack.render.compiled render/templates render/compiled`."""
    source = (compiled.TEMPLATES / relative).read_text(encoding="utf-8")
    shipped = (COMPILED / f"{compiled.module_name(relative)}.py").read_text(encoding="utf-8")
    assert shipped == compiled.module_text(relative, source)


@pytest.mark.parametrize("relative", TEMPLATES)
def test_the_shipped_code_is_what_renders(relative: str) -> None:
    source = compiled.template_source(compiled.TEMPLATES / relative)
    template = sandbox._compiled(source, True)
    assert template is sandbox._SHIPPED[source]
    assert template.root_render_func.__module__ == f"dbstack.render.compiled.{compiled.module_name(relative)}"


@pytest.mark.parametrize("stamp", ["SOURCE_SHA256", "JINJA_VERSION"])
def test_a_module_that_does_not_match_is_not_used(stamp: str, monkeypatch: pytest.MonkeyPatch) -> None:
    module = sys.modules.get("dbstack.render.compiled.settings_env") or __import__(
        "dbstack.render.compiled.settings_env", fromlist=["root"]
    )
    monkeypatch.setattr(module, stamp, "something else")
    path = compiled.TEMPLATES / "settings.env.j2"
    source = compiled.template_source(path)
    assert source not in sandbox._SHIPPED
    assert sandbox._compiled(source, True).root_render_func.__module__ != module.__name__
    assert compose.render_template("settings.env.j2", {"header": "# h", "lines": ["A=1"]}) == "# h\nA=1\n"


def test_a_template_outside_the_package_is_read_as_text(tmp_path: Path) -> None:
    path = tmp_path / "service.yaml.j2"
    path.write_text("{{ 1 }}", encoding="utf-8")
    assert compiled.template_source(path) == "{{ 1 }}"
    assert sandbox._SHIPPED == {}


def _plans(generator: StackGenerator, folder: Path) -> dict[str, Any]:
    """The plans (and first-start choices) of two stacks that render every own template: compose (with the proxy)
    and Kubernetes."""
    engine = generator.engine
    texts: dict[str, Any] = {}
    requests = {
        "compose": StackRequest(environment="production", proxy="caddy", domain="https://chat.example.com"),
        "kubernetes": StackRequest(environment="staging", use={"cache": "valkey"}, endpoints=("anthropic",)),
    }
    for target, request in requests.items():
        plan = engine.plan(request, {})
        choices = resolve_choices(request, plan, folder, {}, target)
        texts[target] = plan, choices
    return texts


def test_a_whole_stack_renders_the_same_from_shipped_code_as_from_the_texts(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    generator = StackGenerator(ConfigEngine(DatabaseAdapterRegistry(use_env=False)))
    folder = tmp_path / "stack"
    planned = _plans(generator, folder)  # one plan each: the same secrets for both renders

    def render_all() -> dict[str, str]:
        texts: dict[str, str] = {}
        plan, choices = planned["compose"]
        stack = generator.build(plan, choices)
        texts["compose.yaml"] = stack.compose_text(folder)
        texts["README.md"] = _stack_readme(stack)
        texts.update(stack.settings_files)
        texts.update(stack.owned_files)
        texts.update(stack.user_config_files)  # the Caddyfile: written once, the user's from then on
        plan, choices = planned["kubernetes"]
        stack = generator.build(plan, choices)
        tree, notes = kubernetes_tree(stack, folder, None, {})
        texts.update({f"k8s/{name}": text for name, text in tree.files("# header").items()})
        texts["k8s notes"] = "\n".join(notes)
        return texts

    shipped = render_all()
    assert len(sandbox._SHIPPED) >= 12  # compose, README, settings, config, init script, Caddyfile, k8s manifests
    _forget_compiled_templates()
    monkeypatch.setattr(compiled, "use_compiled", lambda source, namespace: None)
    from_text = render_all()
    assert sandbox._SHIPPED == {}
    assert from_text == shipped
    assert {"compose.yaml", "README.md", "librechat.env", "librechat.yaml", "Caddyfile"} <= set(shipped)


def test_the_previous_compose_file_is_read_as_before(tmp_path: Path) -> None:
    (tmp_path / "compose.yaml").write_text(
        "# Generated by dbstack.\nname: x\nservices:\n  caddy: {image: 'caddy:2'}\n  api:\n    ports: ['3080:3080']\n"
        "volumes:\n  meilisearch-data-v1.12: {}\n  other: null\n",
        encoding="utf-8",
    )
    assert _previous_compose(tmp_path) == {
        "name": "x",
        "services": {"caddy": {"image": "caddy:2"}, "api": {"ports": ["3080:3080"]}},
        "volumes": {"meilisearch-data-v1.12": {}, "other": None},
    }


@pytest.mark.parametrize(
    "body",
    [
        "services: " + "[" * 200_000,  # flow nesting
        "services:\n" + "".join(" " * depth + f"k{depth}:\n" for depth in range(1, 1100)),  # block nesting
        "services: {a: 1\n",  # not YAML
        "- a list\n",  # not a mapping
    ],
    ids=["flow-nesting", "block-nesting", "broken", "list"],
)
def test_a_previous_compose_file_dbstack_cannot_read_is_ignored(tmp_path: Path, body: str) -> None:
    folder = tmp_path / "stack"
    folder.mkdir()
    (folder / "compose.yaml").write_text(f"# Generated by dbstack. App: librechat;\n{body}", encoding="utf-8")
    assert _previous_compose(folder) == {}
    result = subprocess.run(
        [str(DBSTACK), "generate", "--env", "production", "-o", str(folder)], capture_output=True, text=True
    )
    assert result.returncode == 0, result.stderr
    assert "Traceback" not in result.stderr and "internal error" not in result.stderr
    assert (folder / "compose.yaml").read_text(encoding="utf-8").startswith("# Generated by dbstack. App: librechat;")
