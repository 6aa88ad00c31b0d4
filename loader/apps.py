"""Application definitions (apps/*.yaml): the roles an app has and how its services are wired."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from .errors import CatalogError, DbstackError
from .model import Healthcheck, frozen_map
from .resources import package_folder
from .validation import Reporter, check_id_is_file_name, check_schema, check_template, healthcheck_problems
from .yaml_source import YamlSourceError, load_mapping

BUILTIN_APPS = package_folder("apps")
ROLE_CONTEXT = frozenset({"urls", "service"})
SERVICE_CONTEXT = frozenset({"secrets", "services"})


@dataclass(frozen=True)
class Requirements:
    protocols: tuple[str, ...]
    capabilities: tuple[str, ...]
    server: bool
    vector_dimensions: int | None


@dataclass(frozen=True)
class Role:
    name: str
    description: str
    optional: bool
    enabled_by_default: bool
    workload: str
    requires: Requirements
    default: str
    service: str
    config: Mapping[str, Any]
    environment: Mapping[str, Mapping[str, str]]
    absent_environment: Mapping[str, Mapping[str, str]]


@dataclass(frozen=True)
class AppSecret:
    """Generated (length and alphabet) or, for a value only the user has, a placeholder to replace."""

    name: str
    description: str
    length: int | None
    alphabet: str | None
    placeholder: str | None


@dataclass(frozen=True)
class AppService:
    name: str
    description: str
    image: str
    tag: str
    requires_roles: tuple[str, ...]
    depends_on: tuple[str, ...]
    container_port: int | None
    published_port: int | None
    environment: Mapping[str, str]
    env_file: str | None
    volumes: Mapping[str, str]
    user: str | None
    healthcheck: Healthcheck
    capabilities: tuple[str, ...]

    @property
    def image_ref(self) -> str:
        return f"{self.image}:{self.tag}"


@dataclass(frozen=True)
class AppDefinition:
    id: str
    name: str
    description: str
    secrets: Mapping[str, AppSecret]
    roles: Mapping[str, Role]
    services: Mapping[str, AppService]
    settings_files: Mapping[str, str]
    file: Path


def _env_map(data: Mapping[str, Mapping[str, str]] | None) -> Mapping[str, Mapping[str, str]]:
    return frozen_map({service: frozen_map(env) for service, env in (data or {}).items()})


def _role(name: str, data: Mapping[str, Any]) -> Role:
    requires = data["requires"]
    return Role(
        name=name,
        description=data["description"],
        optional=data.get("optional", False),
        enabled_by_default=data.get("enabled_by_default", True),
        workload=data["workload"],
        requires=Requirements(
            protocols=tuple(requires.get("protocols", ())),
            capabilities=tuple(requires.get("capabilities", ())),
            server=requires.get("server", True),
            vector_dimensions=requires.get("vector_dimensions"),
        ),
        default=data["default"],
        service=data["service"],
        config=frozen_map(data.get("config", {})),
        environment=_env_map(data.get("environment")),
        absent_environment=_env_map(data.get("absent_environment")),
    )


def _service(name: str, data: Mapping[str, Any]) -> AppService:
    port = data.get("port", {})
    return AppService(
        name=name,
        description=data["description"],
        image=data["image"],
        tag=data["tag"],
        requires_roles=tuple(data.get("requires_roles", ())),
        depends_on=tuple(data.get("depends_on", ())),
        container_port=port.get("container"),
        published_port=port.get("published"),
        environment=frozen_map(data.get("environment", {})),
        env_file=data.get("env_file"),
        volumes=frozen_map(data.get("volumes", {})),
        user=data.get("user"),
        healthcheck=Healthcheck.from_data(data["healthcheck"]),
        capabilities=tuple(data["capabilities"]),
    )


def _semantic_problems(reporter: Reporter, data: Mapping[str, Any]) -> None:
    roles, services = data["roles"], data["services"]
    service_names = set(services) | {role["service"] for role in roles.values()}
    if len(service_names) != len(services) + len(roles):
        reporter.add("DBS501", ("roles",), "role services and app services must all have different names")
    for role_name, role in roles.items():
        for key in ("environment", "absent_environment"):
            for service, env in role.get(key, {}).items():
                if service not in services:
                    reporter.add("DBS501", ("roles", role_name, key, service), f"no app service {service!r}")
                for var, source in env.items():
                    _check_template(reporter, ("roles", role_name, key, service, var), source, None)
    secrets = set(data.get("secrets", {}))
    for service_name, service in services.items():
        for role_name in service.get("requires_roles", []):
            if role_name not in roles:
                reporter.add("DBS501", ("services", service_name, "requires_roles"), f"no role {role_name!r}")
        for other in service.get("depends_on", []):
            if other not in services:
                reporter.add("DBS501", ("services", service_name, "depends_on"), f"no app service {other!r}")
        for var, source in service.get("environment", {}).items():
            used = _check_template(reporter, ("services", service_name, "environment", var), source, SERVICE_CONTEXT)
            if "secrets" in used and not secrets:
                reporter.add(
                    "DBS501", ("services", service_name, "environment", var), "uses secrets, and the app declares none"
                )
        if "env_file" in service and service["env_file"] not in data.get("settings_files", {}):
            reporter.add(
                "DBS501", ("services", service_name, "env_file"), f"{service['env_file']!r} is not in settings_files"
            )
        for problem in healthcheck_problems(service["healthcheck"]["test"], service["image_has"]):
            reporter.add("DBS402", ("services", service_name, "healthcheck", "test"), problem)


def _check_template(
    reporter: Reporter, path: tuple[str, ...], source: str, allowed: frozenset[str] | None
) -> frozenset[str]:
    return check_template(reporter, path, source, allowed, unknown="unknown name(s)")


def load_app(name_or_path: str | Path) -> AppDefinition:
    """A built-in app by id, or an app definition file by path."""
    path = Path(name_or_path)
    if path.suffix not in (".yaml", ".yml"):
        path = BUILTIN_APPS / f"{name_or_path}.yaml"
        if not path.is_file():
            known = ", ".join(sorted(p.stem for p in BUILTIN_APPS.glob("*.yaml")))
            raise DbstackError(
                f"unknown app {str(name_or_path)!r}; built-in apps: {known} (or give a path to a YAML file)"
            )
    try:
        doc = load_mapping(path)
    except YamlSourceError as exc:
        raise CatalogError([exc.problem(path)]) from None
    problems = check_schema(path, doc, "app")
    if not problems:
        reporter = Reporter(path, doc)
        _semantic_problems(reporter, doc.data)
        check_id_is_file_name(reporter, path, doc.data["id"])
        problems = reporter.problems
    if problems:
        raise CatalogError(problems)
    data = doc.data
    return AppDefinition(
        id=data["id"],
        name=data["name"],
        description=data["description"],
        secrets=frozen_map(
            {
                n: AppSecret(n, s["description"], s.get("length"), s.get("alphabet"), s.get("placeholder"))
                for n, s in data.get("secrets", {}).items()
            }
        ),
        roles=frozen_map({n: _role(n, r) for n, r in data["roles"].items()}),
        services=frozen_map({n: _service(n, s) for n, s in data["services"].items()}),
        settings_files=frozen_map(data.get("settings_files", {})),
        file=path,
    )
