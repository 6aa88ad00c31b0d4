"""stack_generator: builds a complete stack from a plan and writes it without losing anything.

Output folder: ``compose.yaml``, ``.env`` (secrets, mode 0600), a ``README.md`` for the
stack, and the app's settings files (created once, never overwritten). Regenerating keeps
every value already in ``.env`` (a database reads its password only on first start), keeps
the user's own lines, writes atomically and backs up what it replaces.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from dbstack.loader import DatabaseConfig, DbstackError
from dbstack.loader.apps import BUILTIN_APPS, AppService, Role
from dbstack.loader.registry import BUILTIN_CATALOG
from dbstack.render import dotenv, text
from dbstack.render.compose import (
    ComposeService,
    compose_context,
    compose_escape,
    dump_compose,
    env_var_name,
    refuse_foreign_references,
    render_service,
    render_text,
    secret_reference,
    service_from_template,
)
from dbstack.render.digests import LOCK_FILE, load_lock, pin_images
from dbstack.sandbox import attributes, variables

from .config_engine import ConfigEngine, RolePlan, StackPlan, StackRequest
from .output import (
    COMPOSE_FILE,
    ENV_FILE,
    MARKER,
    README_FILE,
    README_MARKER,
    OutputFile,
    WriteReport,
    read_env,
    write_folder,
)


@dataclass(frozen=True)
class Stack:
    """A built stack, ready to write."""

    plan: StackPlan
    compose: dict[str, Any]
    env_entries: dict[str, str] = field(repr=False)  # VAR -> value: secrets and values derived from them
    derived: frozenset[str]  # the entries computed from other values (URIs with credentials)
    settings_files: dict[str, str]  # app settings file -> initial text

    def regenerate_command(self, folder: Path) -> str:
        """The command that writes this stack again (user catalogs and app files included)."""
        plan = self.plan
        folders = dict.fromkeys(
            text.shell_word(p.adapter.spec.file.parent.resolve())
            for p in plan.roles.values()
            if p.adapter.spec.file.parent.resolve() != BUILTIN_CATALOG.resolve()
        )
        app = plan.app.id if plan.app.file.parent.resolve() == BUILTIN_APPS.resolve() else str(plan.app.file.resolve())
        words = ["dbstack", *(f"--catalog {f}" for f in folders), "generate", "--app", text.shell_word(app)]
        words += ["--env", text.shell_word(plan.environment.name)]
        words += [f"--use {text.shell_word(f'{r}={p.adapter.id}')}" for r, p in plan.roles.items()]
        words += [
            f"--without {text.shell_word(r)}"
            for r in plan.app.roles
            if r not in plan.roles and plan.app.roles[r].enabled_by_default
        ]
        return " ".join([*words, "-o", text.shell_word(folder.resolve())])

    def placeholders(self) -> list[str]:
        """App secrets still holding the placeholder the user must replace (an API key only they have)."""
        secrets = self.plan.app.secrets
        return [n for n, s in secrets.items() if s.placeholder is not None and self.env_entries.get(n) == s.placeholder]

    def compose_text(self, folder: Path) -> str:
        app, environment = text.comment(self.plan.app.id), text.comment(self.plan.environment.name)
        header = (
            f"{MARKER} App: {app}; environment: {environment}.\n"
            f"# Regenerate with: {text.comment(self.regenerate_command(folder))}\n"
            "# Secrets live in .env beside this file; edits here are replaced on regeneration (a backup is kept).\n"
        )
        return header + dump_compose(self.compose)


class StackGenerator:
    """Turns plans into compose files through the registry and the templates in render/."""

    def __init__(self, engine: ConfigEngine | None = None) -> None:
        self.engine = engine or ConfigEngine()

    def _select_database_config(self, role_plan: RolePlan) -> DatabaseConfig:
        """The validated config of the database that fills a role (through the registry)."""
        return role_plan.adapter.config

    def _generate_database_services(self, plan: StackPlan) -> dict[str, ComposeService]:
        """One compose service per role, each rendered from its catalog entry."""
        services: dict[str, ComposeService] = {}
        used_ports = {s.published_port for s in plan.services if s.published_port}  # the app's front door
        for role_plan in plan.roles.values():
            adapter = role_plan.adapter
            container = adapter.container
            if container is None:
                raise DbstackError(f"{adapter.id} is embedded and cannot run as the {role_plan.role.name} service")
            published: dict[str, int] = {}
            for port in container.ports:  # two services may not publish the same host port
                number = port.container
                while number in used_ports:
                    number += 1
                used_ports.add(number)
                published[port.name] = number
            services[role_plan.service] = render_service(
                adapter, plan.environment, name=role_plan.service, published_ports=published
            )
        return services

    def _role_environment(
        self, role_plan: RolePlan, app_service: str
    ) -> tuple[dict[str, str], dict[str, str], set[str]]:
        """Variables a role feeds into one app service: (compose environment, derived .env entries,
        the ${VAR} references these may hold: the role's secrets and the derived entries).

        A value built from a connection string whose form reads a secret is itself a secret: it goes
        to .env and the compose file references it. Other values are rendered with secret parameters
        as ${VAR} references, so the compose file never holds a secret.
        """
        role, adapter = role_plan.role, role_plan.adapter
        context, secret_vars, _ = compose_context(adapter, role_plan.service)
        context["service"] = role_plan.service
        real = {**adapter.template_context(), "service": role_plan.service, "urls": adapter.connection_strings()}
        secret_names = {n for n, p in adapter.spec.parameters.items() if p.secret}
        environment: dict[str, str] = {}
        derived: dict[str, str] = {}
        for var, source in role.environment.get(app_service, {}).items():
            where = f"{role.name}.environment.{app_service}.{var}"
            if "urls" not in variables(source):
                if value := render_text(source, context, where):
                    environment[var] = value
                continue
            value = render_text(source, real, where)
            forms = attributes(source, "urls")
            carries_secret = forms is None or any(
                variables(adapter.form(form).template) & secret_names for form in forms
            )
            if carries_secret:
                env_name = env_var_name(app_service, var)
                derived[env_name] = value
                environment[var] = secret_reference(env_name)
            else:
                environment[var] = compose_escape(value)
        own = {secret_reference(v) for v in (*secret_vars.values(), *derived)}
        return environment, derived, own

    @staticmethod
    def _absent_environment(role: Role, app_service: str) -> dict[str, str]:
        """What an app service is told when a role is left out (e.g. SEARCH=false)."""
        return {
            var: compose_escape(render_text(source, {}, f"{role.name}.absent_environment.{var}"))
            for var, source in role.absent_environment.get(app_service, {}).items()
        }

    def _build_service_configs(
        self, plan: StackPlan
    ) -> tuple[dict[str, dict[str, Any]], dict[str, str], dict[str, str], dict[str, set[str]]]:
        """The app's own services: (services, derived .env entries, settings files, the ${VAR}
        references each service owns: the app's secrets and what its roles feed it)."""
        names = [s.name for s in plan.services]
        secrets = {name: secret_reference(name) for name in plan.app.secrets}
        services: dict[str, dict[str, Any]] = {}
        derived: dict[str, str] = {}
        settings: dict[str, str] = {}
        owned: dict[str, set[str]] = {}
        env = plan.environment
        for app_service in plan.services:
            own = set(secrets.values())
            environment = {}
            for var, source in app_service.environment.items():
                value = render_text(
                    source, {"secrets": secrets, "services": names}, f"services.{app_service.name}.{var}"
                )
                if value:
                    environment[var] = value
            depends_on: list[str] = []
            for role in plan.app.roles.values():
                if role.name in plan.roles:
                    role_env, role_derived, role_own = self._role_environment(plan.roles[role.name], app_service.name)
                    if app_service.name in role.environment:
                        depends_on.append(role.service)
                        own |= role_own
                    derived.update(role_derived)
                else:
                    role_env = self._absent_environment(role, app_service.name)
                environment.update(role_env)
            depends_on += [s for s in app_service.depends_on if s in names]
            if app_service.env_file:
                settings[app_service.env_file] = plan.app.settings_files[app_service.env_file]
            services[app_service.name] = service_from_template(
                env,
                image=app_service.image_ref,
                healthcheck=app_service.healthcheck,
                healthcheck_test=list(app_service.healthcheck.test),
                capabilities=app_service.capabilities,
                environment=environment,
                user=app_service.user,
                ports=_app_ports(app_service),
                volumes=[{"type": "volume", "source": v, "target": t} for v, t in app_service.volumes.items()],
                depends_on=depends_on,
                env_file=app_service.env_file,
            )
            owned[app_service.name] = own
        return services, derived, settings, owned

    def build(self, plan: StackPlan) -> Stack:
        database_services = self._generate_database_services(plan)
        app_services, derived, settings, owned = self._build_service_configs(plan)
        volumes: dict[str, Any] = {}
        for service in database_services.values():
            volumes.update(service.volumes)
        for app_service in plan.services:
            volumes.update({name: {} for name in app_service.volumes})
        env_entries: dict[str, str] = {}
        sources = [("the app's secrets", plan.app_secrets), ("connection strings", derived)]
        sources += [(f"service {s.name}", s.env_entries) for s in database_services.values()]
        for source, entries in sources:
            for key, value in entries.items():
                if key in env_entries:
                    raise DbstackError(
                        f".env variable {key} would be set twice (again by {source}); "
                        "rename the service or the secret in the app definition"
                    )
                env_entries[key] = value
        services = {**{n: s.service for n, s in database_services.items()}, **app_services}
        compose = {"name": plan.app.id, "services": services, "volumes": volumes}
        # "A service interpolates only its own secrets", checked on the finished document: every value,
        # key and list item of every service, whatever template or parameter type it came from.
        for name, service in database_services.items():
            owned[name] = {secret_reference(v) for v in service.secret_vars.values()}
        for name, body in services.items():
            where = plan.roles[role].adapter.spec.file if (role := _role_of(plan, name)) else plan.app.file
            refuse_foreign_references(body, owned[name], f"{where}: service {name}")
        refuse_foreign_references({**compose, "services": list(services)}, set(), str(plan.app.file))
        return Stack(plan, compose, env_entries, frozenset(derived), settings)

    # --- writing ------------------------------------------------------------------------------

    def generate(self, request: StackRequest, folder: Path, *, force: bool = False) -> WriteReport:
        """Plan, build and write a stack into ``folder``, reusing the secrets already there."""
        existing = read_env(folder)
        plan = self.engine.plan(request, existing.as_dict())
        return self.write(self.build(plan), folder, force=force, existing=existing)

    def write(
        self,
        stack: Stack,
        folder: Path,
        *,
        force: bool = False,
        existing: dotenv.DotenvDocument | None = None,
    ) -> WriteReport:
        """Write the stack; refuses, touching nothing, if the folder holds files dbstack did not write."""
        lock = load_lock(folder / LOCK_FILE)
        pin_images(stack.compose, lock)
        files = [
            OutputFile(COMPOSE_FILE, stack.compose_text(folder), owner=f"{MARKER} App: {stack.plan.app.id};"),
            OutputFile(README_FILE, _stack_readme(stack), owner=README_MARKER),
        ]
        files += [OutputFile(name, text, 0o600, create_only=True) for name, text in stack.settings_files.items()]
        report = write_folder(
            folder,
            files,
            stack.env_entries,
            env_header=f"Added by dbstack for {stack.plan.app.id} ({stack.plan.environment.name}). "
            "Keep these values: the databases were created with them.",
            existing=existing if existing is not None else read_env(folder),
            derived=stack.derived,
            force=force,
        )
        report.to_fill = stack.placeholders()
        return report


def _role_of(plan: StackPlan, service: str) -> str | None:
    return next((name for name, role_plan in plan.roles.items() if role_plan.service == service), None)


def _app_ports(service: AppService) -> list[dict[str, Any]]:
    """The app's front door, on loopback in every environment: a TLS reverse proxy faces the network."""
    if not service.container_port or not service.published_port:
        return []
    host_ip = "127.0.0.1"
    return [
        {
            "target": service.container_port,
            "published": str(service.published_port),
            "host_ip": host_ip,
            "protocol": "tcp",
        }
    ]


def _reach(service: Mapping[str, Any]) -> str:
    ports = [f"{p['host_ip']}:{p['published']}" for p in service.get("ports", [])]
    return text.markdown_cell(", ".join(ports) or "compose network only")


def _stack_readme(stack: Stack) -> str:
    """The stack's README; every value from a catalog, an app definition or the environment goes through
    render.text, so none can add Markdown structure, HTML or a line."""
    plan = stack.plan
    md, cell, code = text.markdown, text.markdown_cell, text.markdown_code
    lines = [
        f"{README_MARKER} Regenerating replaces this file; a backup is kept. -->",
        f"# {md(plan.app.name)} stack ({md(plan.environment.name)})",
        "",
        md(plan.environment.description),
        "",
        "| service | image | role | reachable from the host |",
        "|---|---|---|---|",
    ]
    services = stack.compose["services"]
    for role_name, role_plan in plan.roles.items():
        service, what = services[role_plan.service], cell(f"{role_name} ({role_plan.adapter.name})")
        image = code(service["image"], in_table=True)
        lines.append(f"| {cell(role_plan.service)} | {image} | {what} | {_reach(service)} |")
    for app_service in plan.services:
        service = services[app_service.name]
        image, what = code(service["image"], in_table=True), cell(app_service.description)
        lines.append(f"| {cell(app_service.name)} | {image} | {what} | {_reach(service)} |")
    volumes = ", ".join(code(v) for v in stack.compose["volumes"])
    settings = ", ".join(code(n) for n in stack.settings_files)
    to_fill = stack.placeholders()
    lines += ["", "## Start", ""]
    if to_fill:
        lines += [
            "First replace the placeholders in `.env`:",
            "",
            *(f"- {code(name)}: {md(plan.app.secrets[name].description)}" for name in to_fill),
            "",
        ]
    lines += [
        "```sh",
        "docker compose up -d",
        "docker compose ps        # every service should turn healthy",
        "```",
        "",
        "## Secrets",
        "",
        f"`{ENV_FILE}` (mode 0600) holds every password and key; `compose.yaml` only references them as `${{VAR}}`.",
        "Keep it: each database stored its password when it first started, so a new value would lock you out.",
        "Regenerating the stack keeps every value already in it.",
    ]
    if settings:
        lines += [
            "",
            f"Your own settings (endpoints, feature flags) go in {settings}; dbstack never overwrites it.",
        ]
    lines += [
        "",
        "## Back up",
        "",
        f"- the volumes {volumes}",
        f"- `{ENV_FILE}`" + (f" and {settings}" if settings else ""),
        "",
    ]
    return "\n".join(lines)
