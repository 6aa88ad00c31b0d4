"""Application definitions (apps/*.yaml): the roles an app has and how its services are wired."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from .checked import load_checked
from .errors import CatalogError, DbstackError, Problem
from .model import Healthcheck, KubernetesFacts, frozen_map
from .resources import package_folder
from .yaml_source import LocatedDocument, YamlSourceError

if TYPE_CHECKING:
    from .validation import Reporter

BUILTIN_APPS = package_folder("apps")
ROLE_CONTEXT = frozenset({"urls", "service"})
SERVICE_CONTEXT = frozenset({"secrets", "services"})


@dataclass(frozen=True)
class Requirements:
    """What a role's database must have: protocols, capabilities, a server, vector dimensions."""

    protocols: tuple[str, ...]
    capabilities: tuple[str, ...]
    server: bool
    vector_dimensions: int | None


@dataclass(frozen=True)
class Role:
    """One role an app gives a database (apps/*.yaml ``roles``)."""

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
    volume_by_version: bool = False
    app_users: Mapping[str, AppUser] = field(default_factory=dict)  # catalog database id -> its least-privilege user


@dataclass(frozen=True)
class AppUser:
    """The app's own user on one database: only ``roles`` on the role's database, created at first
    initialisation by an init script rendered from ``template``; its password is the app secret
    ``password_secret``, handed to the container as ``password_variable``."""

    username: str
    roles: tuple[str, ...]
    password_secret: str
    password_variable: str
    template: str
    script: str
    target: str
    config: Mapping[str, Any]

    @property
    def password_file_variable(self) -> str:
        """The script reads the password from the file this names when the container has it (app.schema.json)."""
        return f"{self.password_variable}_FILE"


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
    """One of the app's own services (apps/*.yaml ``services``)."""

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
    wait_for: Mapping[str, Wait] = field(default_factory=dict)
    extra_hosts: Mapping[str, str] = field(default_factory=dict)
    kubernetes: KubernetesFacts = field(default_factory=KubernetesFacts)

    @property
    def image_ref(self) -> str:
        return f"{self.image}:{self.tag}"


@dataclass(frozen=True)
class Wait:
    """How long a service waits for another at start: until healthy or only started, and why."""

    until: str
    why: str


@dataclass(frozen=True)
class EndpointKey:
    """A key a model endpoint reads from .env."""

    name: str
    description: str
    user_provided: bool  # the app accepts the literal value user_provided (each user enters a key)


@dataclass(frozen=True)
class Endpoint:
    """A model provider the app can enable (``--endpoint``), with its keys."""

    name: str
    endpoint: str
    keys: Mapping[str, EndpointKey]
    custom: Mapping[str, Any] | None


@dataclass(frozen=True)
class EmbeddingsProvider:
    """An embeddings provider (``--embeddings``): its settings and the keys only the user has."""

    name: str
    settings: Mapping[str, str]
    required: Mapping[str, str]  # VAR -> what it is: only the user has it, so .env must hold it
    unavailable: str | None


@dataclass(frozen=True)
class FirstStart:
    """What a fresh stack needs before a person can use the app (apps/*.yaml ``first_start``)."""

    settings_file: str
    domain_default: str
    domain_variables: tuple[str, ...]
    secure_cookie_variable: str
    registration_variable: str
    registration_defaults: Mapping[str, str]
    create_user_service: str  # the service the app's own create-user command runs in
    create_user_command: str
    config_file: Mapping[str, Any] | None
    endpoints_service: str | None
    endpoints: Mapping[str, Endpoint]
    embeddings_service: str | None
    embeddings_variable: str | None
    embeddings_default: str | None
    embeddings: Mapping[str, EmbeddingsProvider]
    proxies: Mapping[str, Proxy] = field(default_factory=dict)


@dataclass(frozen=True)
class Proxy:
    """A TLS front (first_start.proxy.NAME): image, upstream, config file, volumes, healthcheck."""

    name: str
    image: str
    tag: str
    upstream_service: str
    upstream_port: int
    config: Mapping[str, str]
    volumes: Mapping[str, str]
    capabilities: tuple[str, ...]
    healthcheck: Healthcheck


@dataclass(frozen=True)
class AppDefinition:
    """An app the stack is generated for (apps/*.yaml)."""

    id: str
    name: str
    description: str
    secrets: Mapping[str, AppSecret]
    roles: Mapping[str, Role]
    services: Mapping[str, AppService]
    settings_files: Mapping[str, str]
    file: Path
    first_start: FirstStart | None = None
    upstream_differences: tuple[str, ...] = ()


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
        volume_by_version=data.get("volume_by_version", False),
        app_users=frozen_map(
            {
                database: AppUser(
                    username=u["username"],
                    roles=tuple(u["roles"]),
                    password_secret=u["password_secret"],
                    password_variable=u["password_variable"],
                    template=u["template"],
                    script=u["script"],
                    target=u["target"],
                    config=frozen_map(u["config"]),
                )
                for database, u in data.get("app_user", {}).items()
            }
        ),
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
        wait_for=frozen_map({n: Wait(w["until"], w["why"]) for n, w in data.get("wait_for", {}).items()}),
        extra_hosts=frozen_map(data.get("extra_hosts", {})),
        kubernetes=KubernetesFacts.from_data(data.get("kubernetes", {})),
    )


def _first_start(data: Mapping[str, Any] | None) -> FirstStart | None:
    if data is None:
        return None
    domain, registration = data["domain"], data["registration"]
    endpoints, embeddings = data.get("endpoints", {}), data.get("embeddings", {})
    return FirstStart(
        settings_file=data["settings_file"],
        domain_default=domain["default"],
        domain_variables=tuple(domain["variables"]),
        secure_cookie_variable=domain["secure_cookie_variable"],
        registration_variable=registration["variable"],
        registration_defaults=frozen_map(registration["defaults"]),
        create_user_service=registration["create_user"]["service"],
        create_user_command=registration["create_user"]["command"],
        config_file=frozen_map(data["config_file"]) if "config_file" in data else None,
        endpoints_service=endpoints.get("service"),
        endpoints=frozen_map(
            {
                name: Endpoint(
                    name,
                    e["endpoint"],
                    frozen_map(
                        {k: EndpointKey(k, v["description"], v["user_provided"]) for k, v in e.get("keys", {}).items()}
                    ),
                    e.get("custom"),
                )
                for name, e in endpoints.get("providers", {}).items()
            }
        ),
        embeddings_service=embeddings.get("service"),
        embeddings_variable=embeddings.get("variable"),
        embeddings_default=embeddings.get("default"),
        embeddings=frozen_map(
            {
                name: EmbeddingsProvider(
                    name, frozen_map(e.get("settings", {})), frozen_map(e.get("required", {})), e.get("unavailable")
                )
                for name, e in embeddings.get("providers", {}).items()
            }
        ),
        proxies=frozen_map(
            {
                name: Proxy(
                    name,
                    p["image"],
                    p["tag"],
                    p["upstream"]["service"],
                    p["upstream"]["port"],
                    frozen_map(p["config"]),
                    frozen_map(p["volumes"]),
                    tuple(p["capabilities"]),
                    Healthcheck.from_data(p["healthcheck"]),
                )
                for name, p in data.get("proxy", {}).items()
            }
        ),
    )


def _semantic_problems(reporter: Reporter, data: Mapping[str, Any]) -> None:
    from .validation import healthcheck_problems  # the checks module: only when a file is checked

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
    for role_name, role in roles.items():
        for database, user in role.get("app_user", {}).items():
            if user["password_secret"] not in secrets:
                where = ("roles", role_name, "app_user", database, "password_secret")
                reporter.add("DBS501", where, f"{user['password_secret']!r} is not in secrets")
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
        for other in service.get("wait_for", {}):
            if other not in service_names:
                reporter.add(
                    "DBS501", ("services", service_name, "wait_for", other), f"no service {other!r} in the app"
                )
    first_start = data.get("first_start")
    if first_start is not None:
        _first_start_problems(reporter, first_start, data)


def _first_start_problems(reporter: Reporter, first_start: Mapping[str, Any], data: Mapping[str, Any]) -> None:
    services, settings_files = data["services"], data.get("settings_files", {})
    if first_start["settings_file"] not in settings_files:
        reporter.add(
            "DBS501", ("first_start", "settings_file"), f"{first_start['settings_file']!r} is not in settings_files"
        )
    for section in ("config_file", "endpoints", "embeddings"):
        service = first_start.get(section, {}).get("service")
        if service is not None and service not in services:
            reporter.add("DBS501", ("first_start", section, "service"), f"no app service {service!r}")
    embeddings = first_start.get("embeddings")
    if embeddings is not None:
        default = embeddings["providers"].get(embeddings["default"])
        if default is None or "unavailable" in default:
            reporter.add("DBS501", ("first_start", "embeddings", "default"), "must name an available provider")


def _check_template(
    reporter: Reporter, path: tuple[str, ...], source: str, allowed: frozenset[str] | None
) -> frozenset[str]:
    from .validation import check_template

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
        return load_checked(path, "app", lambda doc: _problems(path, doc), lambda data: _app_definition(data, path))
    except YamlSourceError as exc:
        raise CatalogError([exc.problem(path)]) from None


def _problems(path: Path, doc: LocatedDocument) -> list[Problem]:
    from .validation import Reporter, check_id_is_file_name, check_schema  # the checks: only for a file not cached

    problems = check_schema(path, doc, "app")
    if not problems:
        reporter = Reporter(path, doc)
        _semantic_problems(reporter, doc.data)
        check_id_is_file_name(reporter, path, doc.data["id"])
        problems = reporter.problems
    return problems


def _app_definition(data: Mapping[str, Any], path: Path) -> AppDefinition:
    if data["id"] != path.stem:  # checked for a file; data from the cache must say the same
        raise ValueError(f"{path}: id {data['id']!r} is not the file's name")
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
        first_start=_first_start(data.get("first_start")),
        upstream_differences=tuple(data.get("upstream_differences", ())),
    )
