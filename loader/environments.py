"""Deployment environments (development, staging, production): data files loaded and checked like the catalog.

The files are ``render/environments/NAME.yaml`` (they shape what is rendered, and ship beside the templates);
loading them is the loader's job, so a renderer only ever receives a checked DeployEnvironment.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from functools import cache
from pathlib import Path
from typing import Any

from .checked import load_checked
from .errors import DbstackError, Problem
from .resources import package_folder
from .yaml_source import LocatedDocument, YamlSourceError, load_mapping

ENVIRONMENT_DIR = package_folder("render", "environments")


@dataclass(frozen=True)
class DeployEnvironment:
    """One deployment environment, loaded from ``render/environments/NAME.yaml``."""

    name: str
    description: str
    publish_ports: str
    restart: str
    depends_on_condition: str
    resources: Mapping[str, Any]
    security: Mapping[str, bool]
    logging: Mapping[str, Any]

    def as_context(self) -> dict[str, Any]:
        return {
            "name": self.name,
            "publish_ports": self.publish_ports,
            "restart": self.restart,
            "depends_on_condition": self.depends_on_condition,
            "resources": dict(self.resources),
            "security": dict(self.security),
            "logging": {"driver": self.logging["driver"], "options": dict(self.logging["options"])},
        }


def environment_names() -> list[str]:
    return sorted(p.stem for p in ENVIRONMENT_DIR.glob("*.yaml"))


@cache
def load_environment(name: str) -> DeployEnvironment:
    if name not in environment_names():
        raise DbstackError(f"unknown environment {name!r}; known: {', '.join(environment_names())}")
    path = ENVIRONMENT_DIR / f"{name}.yaml"
    try:
        return load_checked(
            path,
            "environment",
            lambda doc: _problems(path, doc),
            lambda data: DeployEnvironment(**{key: data[key] for key in DeployEnvironment.__dataclass_fields__}),
        )
    except YamlSourceError as exc:
        raise DbstackError(str(exc.problem(path))) from None


def _problems(path: Path, doc: LocatedDocument) -> list[Problem]:
    from .validation import check_schema  # the checks module: only for a file the cache does not vouch for

    return check_schema(path, doc, "environment")


@dataclass(frozen=True)
class KubernetesEnvironment:
    """The ``kubernetes`` block of ``render/environments/NAME.yaml``."""

    name: str
    storage_size: str
    storage_class: str | None
    app_storage_size: str
    resources: Mapping[str, Mapping[str, str]]
    min_available: int | None
    app_replicas: int
    anti_affinity: bool


@cache
def load_kubernetes_environment(name: str) -> KubernetesEnvironment:
    load_environment(name)  # the whole file, checked against its schema (one line per problem)
    path = ENVIRONMENT_DIR / f"{name}.yaml"
    try:
        data = load_mapping(path).data["kubernetes"]
    except YamlSourceError as exc:  # pragma: no cover - load_environment read the same file
        raise DbstackError(str(exc.problem(path))) from None
    budget = data["pod_disruption_budget"]
    return KubernetesEnvironment(
        name=name,
        storage_size=data["storage"]["size"],
        storage_class=data["storage"].get("storage_class"),
        app_storage_size=data["app_storage"]["size"],
        resources={kind: dict(values) for kind, values in data["resources"].items()},
        min_available=budget["min_available"] if budget else None,
        app_replicas=data["app_replicas"],
        anti_affinity=data["anti_affinity"],
    )
