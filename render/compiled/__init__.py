"""dbstack's own templates (render/templates) as Python code, compiled when they change and shipped here.

Compiling a template costs far more than rendering it: a generate compiled its six own templates on every run
(13 ms, about a tenth of its CPU time). Each module here holds what sandbox.compile_trusted() makes of one
template (the same code render() would compile), beside the SHA-256 of the template's text and the Jinja
version that compiled it; template_source() hands it to the sandbox only when both match, so a changed template
or another Jinja compiles from its text as before. This is code of the package like the rest of it, never a
cache of the user's. After changing a template, from the checkout:

    python -m dbstack.render.compiled render/templates render/compiled

(tests/test_compiled_templates.py fails while a module is missing or stale.)
"""

from __future__ import annotations

import hashlib
import importlib
import re
from pathlib import Path

import jinja2

from dbstack.loader.resources import package_folder
from dbstack.sandbox import compile_trusted, use_compiled

TEMPLATES = package_folder("render", "templates")


def module_name(relative: str) -> str:
    """The module of a template by its path in render/templates: k8s/workload.yaml.j2 -> k8s_workload_yaml."""
    return re.sub(r"[^a-z0-9]+", "_", relative.removesuffix(".j2").lower()).strip("_")


def _digest(source: str) -> str:
    return hashlib.sha256(source.encode("utf-8")).hexdigest()


def module_text(relative: str, source: str) -> str:
    """The module shipped for the template at ``relative`` whose text is ``source``."""
    return (
        f'"""render/templates/{relative}, compiled by python -m dbstack.render.compiled: generated, do not edit."""\n'
        "# mypy: ignore-errors\n"
        "# ruff: noqa\n"
        f"SOURCE_SHA256 = {_digest(source)!r}\n"
        f"JINJA_VERSION = {jinja2.__version__!r}\n"
        f"{compile_trusted(source)}\n"
    )


def template_source(path: Path) -> str:
    """The text of one of dbstack's own templates; its shipped code, when compiled from this very text by this
    Jinja, is what the sandbox renders it with."""
    source = path.read_text(encoding="utf-8")
    try:
        module = importlib.import_module(f"{__name__}.{module_name(path.relative_to(TEMPLATES).as_posix())}")
    except (ImportError, ValueError):  # no module for it, or not a template of the package
        return source
    if getattr(module, "SOURCE_SHA256", None) == _digest(source) and getattr(module, "JINJA_VERSION", None) == (
        jinja2.__version__
    ):
        use_compiled(source, vars(module))
    return source


def write_modules(templates: Path, folder: Path) -> list[Path]:
    """(Re)write the module of every template under ``templates`` into ``folder``; remove modules of none."""
    written = []
    for path in sorted(templates.rglob("*.j2")):
        relative = path.relative_to(templates).as_posix()
        target = folder / f"{module_name(relative)}.py"
        target.write_text(module_text(relative, path.read_text(encoding="utf-8")), encoding="utf-8")
        written.append(target)
    for stale in set(folder.glob("*.py")) - set(written) - {folder / "__init__.py", folder / "__main__.py"}:
        stale.unlink()
    return written
