"""config_engine: resolves a stack request into a plan, from the registry and an app definition.

No database is hard-coded here: which databases exist, what they can do and how
they connect all come from the catalog; what the app needs comes from apps/*.yaml.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from dbstack.loader import DatabaseAdapter, DatabaseAdapterRegistry, DatabaseConfig, DbstackError
from dbstack.loader.apps import AppDefinition, AppSecret, AppService, Role, load_app
from dbstack.loader.config import generate_secret
from dbstack.loader.environments import DeployEnvironment, load_environment
from dbstack.loader.model import Generate
from dbstack.render.compose import resolve_secrets
from dbstack.sandbox import attributes

from .recommend import Candidate, rank, unmet_requirements

AUTO = "auto"


DEFAULT_ENVIRONMENT = "development"


@dataclass(frozen=True)
class StackRequest:
    """What the user asked for: an app, an environment, a database per role (or auto), roles left out."""

    app: str = "librechat"
    # None: the stack's own (a regeneration keeps it, stack_generator.kept_request), else DEFAULT_ENVIRONMENT
    environment: str | None = None
    use: Mapping[str, str] = field(default_factory=dict)
    without: frozenset[str] = frozenset()
    # First-start options (the app's first_start section); None: what the stack's files hold, else the default.
    name: str | None = None  # compose project name (default: from the output folder)
    domain: str | None = None
    registration: str | None = None  # open | closed
    endpoints: tuple[str, ...] = ()
    embeddings: str | None = None
    proxy: str | None = None  # a TLS front (first_start.proxy), or 'none'
    new_project: bool = False  # --name may differ from the existing stack's project (new, empty volumes)


@dataclass(frozen=True)
class RolePlan:
    """The database chosen for one of the app's roles, and its adapter."""

    role: Role
    adapter: DatabaseAdapter  # configured for the compose network: host = service name
    chosen_by: str  # "user" or "auto"

    @property
    def service(self) -> str:
        return self.role.service


@dataclass(frozen=True)
class StackPlan:
    """What a stack is made of: the app, the environment, a database per role, services and secrets."""

    app: AppDefinition
    environment: DeployEnvironment
    roles: Mapping[str, RolePlan]
    services: tuple[AppService, ...]
    app_secrets: Mapping[str, str] = field(repr=False)


class ConfigEngine:
    """Plans stacks: a validated adapter and config per role, secrets, and the app's services."""

    def __init__(self, registry: DatabaseAdapterRegistry | None = None) -> None:
        self.registry = registry or DatabaseAdapterRegistry()

    def recommend(
        self, app: str = "librechat", role: str | None = None, environment: str = "development"
    ) -> dict[str, list[Candidate]]:
        """Ranked candidates for each role of the app (or one role) that ``environment`` allows."""
        definition = load_app(app)
        load_environment(environment)  # an unknown environment is refused, not ranked against
        roles = [self._role(definition, role)] if role else list(definition.roles.values())
        specs = list(self.registry)
        return {r.name: rank(specs, r, environment) for r in roles}

    # --- planning -------------------------------------------------------------------------------

    @staticmethod
    def _role(app: AppDefinition, name: str) -> Role:
        try:
            return app.roles[name]
        except KeyError:
            raise DbstackError(f"{app.id} has no role {name!r}; roles: {', '.join(app.roles)}") from None

    def _choose(self, app: AppDefinition, role: Role, wanted: str, environment: str) -> tuple[str, str]:
        """The database for ``role``: the user's (when it can fill the role here) or the best that can."""
        if wanted != AUTO:
            spec = self.registry.spec(wanted)
            problems = unmet_requirements(spec, role, environment)
            if problems:
                candidates = [c.id for c in rank(list(self.registry), role, environment)]
                raise DbstackError(
                    f"{spec.id} cannot be {app.name}'s {role.name}: {'; '.join(problems)}; "
                    f"candidates: {', '.join(candidates) or 'none in the catalog'}"
                )
            return spec.id, "user"
        if role.default in self.registry and not unmet_requirements(
            self.registry.spec(role.default), role, environment
        ):
            return self.registry.resolve_id(role.default), "auto"
        ranked = rank(list(self.registry), role, environment)
        if not ranked:
            raise DbstackError(f"no database in the catalog can be {app.name}'s {role.name} in {environment}")
        return ranked[0].id, "auto"

    def plan(self, request: StackRequest, existing_env: Mapping[str, str] | None = None) -> StackPlan:
        """Resolve ``request``; secrets already in ``existing_env`` (the stack's .env) are reused."""
        existing = dict(existing_env or {})
        app = load_app(request.app)
        environment = load_environment(request.environment or DEFAULT_ENVIRONMENT)
        for name in [*request.use, *request.without]:
            self._role(app, name)
        for name in request.without:
            if not app.roles[name].optional:
                raise DbstackError(f"{app.name} cannot run without its {name}: that role is required")
            if name in request.use:
                raise DbstackError(f"role {name!r} is both used (--use) and left out (--without)")
        roles: dict[str, RolePlan] = {}
        for role in app.roles.values():
            if role.name in request.without or (
                role.optional and not role.enabled_by_default and role.name not in request.use
            ):
                continue
            database_id, chosen_by = self._choose(
                app, role, request.use.get(role.name, AUTO), environment.name
            )
            roles[role.name] = RolePlan(role, self._role_adapter(database_id, role, existing), chosen_by)
        services = tuple(s for s in app.services.values() if all(r in roles for r in s.requires_roles))
        used = {name for service in services for name in _secrets_read(service, app)}
        used |= {user.password_secret for r in roles.values() if (user := r.role.app_users.get(r.adapter.id))}
        secrets = {name: existing.get(name) or _new_secret(s) for name, s in app.secrets.items() if name in used}
        return StackPlan(app, environment, roles, services, secrets)

    def _role_adapter(self, database_id: str, role: Role, existing: Mapping[str, str]) -> DatabaseAdapter:
        """The database as the app's services reach it inside the compose network."""
        spec = self.registry.spec(database_id)
        values: dict[str, Any] = dict(role.config)
        if spec.container is not None:
            values["host"] = role.service
            port = spec.container.main_port
            if port.parameter:
                values[port.parameter] = port.container
        known = {k: v for k, v in values.items() if k in spec.parameters}
        adapter = self.registry.get_adapter(database_id, DatabaseConfig(known))
        return resolve_secrets(adapter, role.service, existing).adapter


def _secrets_read(service: AppService, app: AppDefinition) -> set[str]:
    """The app secrets a service's environment reads (all of them where a template picks one by a key)."""
    names: set[str] = set()
    for source in service.environment.values():
        read = attributes(source, "secrets")
        names |= set(app.secrets) if read is None else read
    return names


def _new_secret(secret: AppSecret) -> str:
    if secret.placeholder is not None:
        return secret.placeholder
    assert secret.length is not None and secret.alphabet is not None  # the schema requires one or the other
    return generate_secret(Generate(secret.length, secret.alphabet))
