"""stack_generator: builds a complete stack from a plan and writes it without losing anything.

Output folder: ``compose.yaml``, ``.env`` (secrets, mode 0600), a ``README.md`` for the
stack, and the app's settings files (created once, never overwritten). Regenerating keeps
every value already in ``.env`` (a database reads its password only on first start), keeps
the user's own lines, writes atomically and backs up what it replaces.
"""

from __future__ import annotations

import ipaddress
import json
import re
from collections.abc import Mapping
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import yaml

from dbstack.loader import DatabaseConfig, DbstackError, text
from dbstack.loader.apps import BUILTIN_APPS, AppDefinition, AppService, AppUser, FirstStart, Role
from dbstack.loader.interpolation import compose_escape
from dbstack.loader.registry import BUILTIN_CATALOG
from dbstack.render import dotenv
from dbstack.render.compose import (
    ComposeService,
    compose_context,
    dump_compose,
    env_var_name,
    refuse_foreign_references,
    render_service,
    render_template,
    render_text,
    secret_reference,
    service_from_template,
    use_secret_files,
)
from dbstack.render.digests import LOCK_FILE, load_lock, pin_images
from dbstack.render.files import read_regular
from dbstack.sandbox import attributes, variables

from .config_engine import ConfigEngine, RolePlan, StackPlan, StackRequest
from .output import (
    COMPOSE_FILE,
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
    first_start: Choices | None = None
    required_keys: dict[str, str] = field(default_factory=dict)  # VAR -> what it is: the user must put it in .env
    secret_files: dict[str, str] = field(default_factory=dict)  # compose file secret -> the .env VAR it holds
    owned_files: dict[str, str] = field(default_factory=dict)  # dbstack's own files, rewritten on regeneration
    # The wiring, computed once by build() for every target: each service's .env variables (the ${VAR:?}
    # references in its body), and the database services as rendered from their catalog entries.
    reads: dict[str, tuple[str, ...]] = field(default_factory=dict)
    database_services: dict[str, ComposeService] = field(default_factory=dict, repr=False)

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
        if (choices := self.first_start) is not None:
            words += [f"--name {text.shell_word(choices.project)}", f"--domain {text.shell_word(choices.domain)}"]
            words += [f"--registration {text.shell_word(choices.registration)}"]
            words += [f"--endpoint {text.shell_word(e)}" for e in choices.endpoints]
            words += [f"--embeddings {text.shell_word(choices.embeddings)}"] if choices.embeddings else []
            words += [f"--proxy {text.shell_word(choices.proxy)}"] if choices.proxy else []
        return " ".join([*words, "-o", text.shell_word(folder.resolve())])

    def placeholders(self) -> list[str]:
        """App secrets still holding the placeholder the user must replace (an API key only they have)."""
        secrets = self.plan.app.secrets
        return [n for n, s in secrets.items() if s.placeholder is not None and self.env_entries.get(n) == s.placeholder]

    def missing_keys(self, env: Mapping[str, str]) -> list[str]:
        """Keys compose.yaml requires that ``env`` (the stack's .env) does not hold yet."""
        return [name for name in self.required_keys if not env.get(name)]

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
            service = render_service(adapter, plan.environment, name=role_plan.service, published_ports=published)
            if role_plan.role.volume_by_version:
                service = _versioned_volume(service, container.tag)
            services[role_plan.service] = service
        return services

    def _role_environment(
        self, role_plan: RolePlan, app_service: str, app_secrets: Mapping[str, str]
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
        if (user := role.app_users.get(adapter.id)) is not None:  # connection strings name the app's own user
            adapter = adapter.with_config(
                username=user.username, password=app_secrets[user.password_secret], **dict(user.config)
            )
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
                    role_env, role_derived, role_own = self._role_environment(
                        plan.roles[role.name], app_service.name, plan.app_secrets
                    )
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

    def build(self, plan: StackPlan, choices: Choices | None = None) -> Stack:
        database_services = self._generate_database_services(plan)
        app_services, derived, settings, owned = self._build_service_configs(plan)
        for app_service in plan.services:
            _wait_and_hosts(app_services[app_service.name], app_service, plan.environment.depends_on_condition)
        user_keys, required_keys = self._first_start(plan, choices, app_services, settings, owned)
        proxy_files = self._proxy(plan, choices, app_services, owned)
        volumes: dict[str, Any] = {}
        for service in database_services.values():
            volumes.update(service.volumes)
        for app_service in plan.services:
            volumes.update({name: {} for name in app_service.volumes})
        if choices is not None and choices.proxy is not None and plan.app.first_start is not None:
            volumes.update({name: {} for name in plan.app.first_start.proxies[choices.proxy].volumes})
        env_entries: dict[str, str] = {}
        sources = [("the app's secrets", plan.app_secrets), ("connection strings", derived)]
        sources += [("endpoint keys", user_keys)]
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
        compose: dict[str, Any] = {
            "name": choices.project if choices else plan.app.id,
            "services": services,
            "volumes": volumes,
        }
        # "A service interpolates only its own secrets", checked on the finished document: every value,
        # key and list item of every service, whatever template or parameter type it came from.
        for name, service in database_services.items():
            owned[name] = {secret_reference(v) for v in service.secret_vars.values()}
        owned_files = {**self._app_users(plan, services, owned), **proxy_files}
        for name, body in services.items():
            where = plan.roles[role].adapter.spec.file if (role := _role_of(plan, name)) else plan.app.file
            refuse_foreign_references(body, owned[name], f"{where}: service {name}")
        known = [*env_entries, *required_keys]
        # Read before the compose secrets below replace references: a value a service gets as a file is still
        # one it reads (Kubernetes puts it in the service's Secret).
        reads = {
            name: tuple(
                v for v in known if secret_reference(v) in owned[name] and secret_reference(v) in json.dumps(body)
            )
            for name, body in services.items()
        }
        # Compose secrets where the image (or dbstack's init script) reads a file (Kubernetes decides the same
        # from database_services).
        secret_files: dict[str, str] = {}
        for name, service in database_services.items():
            role_plan = plan.roles[_role_of(plan, name) or ""]
            container = role_plan.adapter.spec.container
            assert container is not None  # _generate_database_services refused embedded entries
            user = role_plan.role.app_users.get(role_plan.adapter.id)
            script_reads = {user.password_variable: user.password_file_variable} if user else {}
            as_files = use_secret_files(replace(service, service=services[name]), container, script_reads)
            services[name] = as_files.service
            if as_files.secrets:
                compose.setdefault("secrets", {}).update(as_files.secrets)
            secret_files.update(as_files.secret_files)
        refuse_foreign_references({**compose, "services": list(services)}, set(), str(plan.app.file))
        return Stack(
            plan,
            compose,
            env_entries,
            frozenset(derived),
            settings,
            choices,
            required_keys,
            secret_files=secret_files,
            owned_files=owned_files,
            reads=reads,
            database_services=database_services,
        )

    @staticmethod
    def _proxy(
        plan: StackPlan, choices: Choices | None, services: dict[str, dict[str, Any]], owned: dict[str, set[str]]
    ) -> dict[str, str]:
        """--proxy: the TLS front serving the https domain, forwarding to the upstream, which is then published
        nowhere. Returns its config file (file -> text), dbstack's own, rewritten on regeneration."""
        first = plan.app.first_start
        if first is None or choices is None or choices.proxy is None:
            return {}
        proxy = first.proxies[choices.proxy]
        if proxy.upstream_service not in services:
            raise DbstackError(f"--proxy {choices.proxy}: {proxy.upstream_service} is not in this stack")
        services[proxy.upstream_service].pop("ports", None)
        parts = urlsplit(choices.domain)
        host, port = parts.hostname or "", parts.port or 443
        public = not _internal_host(host)
        # Browsers reach a loopback name only from this machine: publish there alone; others on every address.
        host_ip = "127.0.0.1" if host == "localhost" or host.endswith(".localhost") or _is_loopback(host) else None
        ports = [(port, port)] + ([(80, 80)] if public else [])  # ACME's HTTP challenge and the redirect
        config = proxy.config
        volumes = [{"type": "bind", "source": f"./{config['name']}", "target": config["target"], "read_only": True}]
        volumes += [{"type": "volume", "source": v, "target": t} for v, t in proxy.volumes.items()]
        services[proxy.name] = service_from_template(
            plan.environment,
            image=f"{proxy.image}:{proxy.tag}",
            healthcheck=proxy.healthcheck,
            healthcheck_test=list(proxy.healthcheck.test),
            capabilities=proxy.capabilities,
            environment={},
            ports=[
                {"target": inside, "published": str(outside), "protocol": "tcp"}
                | ({"host_ip": host_ip} if host_ip else {})
                for outside, inside in ports
            ],
            volumes=volumes,
            depends_on=[proxy.upstream_service],
        )
        # Caddy answers 502 until the api is up; it need not wait for the api's healthcheck to start.
        services[proxy.name]["depends_on"][proxy.upstream_service]["condition"] = "service_started"
        owned[proxy.name] = set()
        site = parts.netloc.lower() if parts.port else host.lower() if ":" not in host else f"[{host}]"
        upstream = f"{proxy.upstream_service}:{proxy.upstream_port}"
        return {str(config["name"]): caddyfile_text(site, upstream, internal=not public, template=config["template"])}

    @staticmethod
    def _app_users(plan: StackPlan, services: dict[str, Any], owned: dict[str, set[str]]) -> dict[str, str]:
        """Least privilege (apps/*.yaml roles.*.app_user): the database container gets the app user's password
        as a ${VAR:?} reference and the init script that creates the user, mounted read-only. Returns the
        scripts (file -> text): rendered from the app definition alone, they hold no secret."""
        scripts: dict[str, str] = {}
        for role_plan in plan.roles.values():
            user = role_plan.role.app_users.get(role_plan.adapter.id)
            if user is None:
                continue
            service = services[role_plan.service]
            reference = secret_reference(user.password_secret)
            service.setdefault("environment", {})[user.password_variable] = reference
            owned[role_plan.service].add(reference)
            mount = {"type": "bind", "source": f"./{user.script}", "target": user.target, "read_only": True}
            service.setdefault("volumes", []).append(mount)
            scripts[user.script] = app_user_script(user, str(role_plan.adapter.config.get("database")))
        return scripts

    def _first_start(
        self,
        plan: StackPlan,
        choices: Choices | None,
        services: dict[str, dict[str, Any]],
        settings: dict[str, str],
        owned: dict[str, set[str]],
    ) -> tuple[dict[str, str], dict[str, str]]:
        """Wire the first-start choices into the app's services: the settings file's first text, the config
        file (mounted read-only, found through its variable), the endpoint and embeddings keys as ${VAR:?}
        references. Returns (.env entries: keys LibreChat accepts as user_provided; keys the user must add)."""
        first = plan.app.first_start
        if first is None or choices is None:
            return {}, {}
        if first.settings_file in settings:
            settings[first.settings_file] = settings_file_text(plan.app.settings_files[first.settings_file], choices)
        config = first.config_file
        if config is not None and config["service"] in services:
            service = services[config["service"]]
            service.setdefault("environment", {})[config["variable"]] = compose_escape(config["target"])
            mount = {"type": "bind", "source": f"./{config['name']}", "target": config["target"], "read_only": True}
            service.setdefault("volumes", []).append(mount)
            settings[config["name"]] = config_file_text(first, choices)
        user_keys: dict[str, str] = {}
        required: dict[str, str] = {}
        wanted: dict[str, dict[str, str]] = {}  # service -> VAR -> what it is
        if first.endpoints_service in services:
            for name in choices.endpoints:
                for key in first.endpoints[name].keys.values():
                    wanted.setdefault(first.endpoints_service or "", {})[key.name] = key.description
                    if key.user_provided:
                        user_keys[key.name] = USER_PROVIDED
                    else:
                        required[key.name] = key.description
        if choices.embeddings is not None and first.embeddings_service in services:
            for var, what in first.embeddings[choices.embeddings].required.items():
                wanted.setdefault(first.embeddings_service or "", {})[var] = what
                required[var] = what
        for service_name, keys in wanted.items():
            environment = services[service_name].setdefault("environment", {})
            for var in keys:
                environment[var] = secret_reference(var)
                owned[service_name].add(secret_reference(var))
        return user_keys, required

    # --- writing ------------------------------------------------------------------------------

    def prepare(
        self, request: StackRequest, folder: Path, target: str = "compose"
    ) -> tuple[Stack, dotenv.DotenvDocument]:
        """Plan and build the stack for ``folder``, reusing the secrets and settings already there; the .env read.

        One build for every target: compose (``write``) and Kubernetes (dbstack.kubernetes_stack.write_kubernetes,
        which sits above this module and takes the Stack)."""
        existing = read_env(folder)
        plan = self.engine.plan(request, existing.as_dict())
        choices = resolve_choices(request, plan, folder, existing.as_dict(), target)
        return self.build(plan, choices), existing

    def generate(self, request: StackRequest, folder: Path, *, force: bool = False) -> WriteReport:
        """Plan, build and write a compose stack into ``folder``, reusing the secrets and settings already there."""
        stack, existing = self.prepare(request, folder)
        return self.write(stack, folder, force=force, existing=existing)

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
        upgrade_notes = _keep_versioned_volumes(stack, _previous_compose(folder))
        if existing is None:
            existing = read_env(folder)
        missing = stack.missing_keys(existing.as_dict())
        files = [
            OutputFile(COMPOSE_FILE, stack.compose_text(folder), owner=f"{MARKER} App: {stack.plan.app.id};"),
            OutputFile(README_FILE, _stack_readme(stack), owner=README_MARKER),
            # Init scripts and the proxy's config: read by the container's own user through a read-only bind
            # mount (0644, no secret); refused when the file there does not start as dbstack wrote it.
            *(OutputFile(name, body, owner=body.split("\n", 1)[0]) for name, body in stack.owned_files.items()),
        ]
        # Settings files may hold keys (0600); the config file holds none, and the api's user (not the
        # folder's owner) reads it through the read-only bind mount (0644).
        config = stack.plan.app.first_start.config_file if stack.plan.app.first_start else None
        readable = {config["name"]} if config else set()
        files += [
            OutputFile(name, text, 0o644 if name in readable else 0o600, create_only=True)
            for name, text in stack.settings_files.items()
        ]
        report = write_folder(
            folder,
            files,
            stack.env_entries,
            env_header=f"Added by dbstack for {stack.plan.app.id} ({stack.plan.environment.name}). "
            "Keep these values: the databases were created with them.",
            existing=existing,
            derived=stack.derived,
            secret_files=stack.secret_files,
            force=force,
        )
        report.to_fill = stack.placeholders() + missing
        report.warnings += [*(stack.first_start.warnings if stack.first_start else ()), *upgrade_notes]
        return report


def _wait_and_hosts(service: dict[str, Any], app_service: AppService, healthy: str) -> None:
    """depends_on as the app behaves (apps/*.yaml wait_for says why for each), and extra /etc/hosts entries."""
    for name, dependency in service.get("depends_on", {}).items():
        wait = app_service.wait_for.get(name)
        dependency["condition"] = "service_started" if wait is not None and wait.until == "started" else healthy
    if app_service.extra_hosts:
        service["extra_hosts"] = [f"{host}:{address}" for host, address in app_service.extra_hosts.items()]


def _keep_versioned_volumes(stack: Stack, previous: Mapping[str, Any]) -> list[str]:
    """A versioned data volume (Meilisearch) whose version changed: the old one stays declared, and a note
    says how to move the data (a dump from the old version, imported by the new one)."""
    notes: list[str] = []
    old_volumes = previous.get("volumes") if isinstance(previous.get("volumes"), dict) else {}
    volumes = stack.compose["volumes"]
    for role_plan in stack.plan.roles.values():
        if not role_plan.role.volume_by_version:
            continue
        prefix = f"{role_plan.service}-data-v"
        new = next((v for v in volumes if v.startswith(prefix)), None)
        for old in old_volumes or {}:
            if isinstance(old, str) and old.startswith(prefix) and old != new:
                volumes[old] = {}
                notes.append(
                    f"{role_plan.service}: the image moved to {new}; the data stays in volume {old}, which the new "
                    f"version cannot open. Before `docker compose up`: create a dump with the old version "
                    f"(POST /dumps), start the new version with --import-dump on it, then remove {old} "
                    "(see the stack's README.md, Upgrading)"
                )
    return notes


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
    ports = [f"{p.get('host_ip') or 'every address'}:{p['published']}" for p in service.get("ports", [])]
    return text.markdown_cell(", ".join(ports) or "compose network only")


def _stack_readme(stack: Stack) -> str:
    """The stack's README, from templates/stack_readme.md.j2; every value from a catalog, an app definition,
    the environment or the user goes through loader.text, so none can add Markdown structure, HTML or a line."""
    plan, choices = stack.plan, stack.first_start
    md, cell, code = text.markdown, text.markdown_cell, text.markdown_code
    services = stack.compose["services"]
    rows = []
    for role_name, role_plan in plan.roles.items():
        service = services[role_plan.service]
        what = cell(f"{role_name} ({role_plan.adapter.name})")
        rows.append({"service": cell(role_plan.service), "image": code(service["image"], in_table=True), "what": what})
        rows[-1]["reach"] = _reach(service)
    for app_service in plan.services:
        service = services[app_service.name]
        rows.append(
            {
                "service": cell(app_service.name),
                "image": code(service["image"], in_table=True),
                "what": cell(app_service.description),
                "reach": _reach(service),
            }
        )
    first = plan.app.first_start
    if first is not None and choices is not None and choices.proxy is not None:
        proxy = first.proxies[choices.proxy]
        service = services[proxy.name]
        what = cell(f"TLS front: serves {choices.domain} over HTTPS, forwards to {proxy.upstream_service}")
        rows.append({"service": cell(proxy.name), "image": code(service["image"], in_table=True), "what": what})
        rows[-1]["reach"] = _reach(service)
    placeholders = {n: plan.app.secrets[n].description for n in stack.placeholders()}
    to_fill = [f"{code(n)}: {md(what)}" for n, what in {**placeholders, **stack.required_keys}.items()]
    context: dict[str, Any] = {
        "marker": README_MARKER,
        "title": f"{md(plan.app.name)} stack ({md(plan.environment.name)})",
        "description": md(plan.environment.description),
        "rows": rows,
        "to_fill": to_fill,
        "user_keys": ", ".join(code(k) for k, v in stack.env_entries.items() if v == USER_PROVIDED),
        "first": None,
        "waits": [
            f"{code(other)}: {md(wait.until)}: {md(wait.why)}"
            for app_service in plan.services
            for other, wait in app_service.wait_for.items()
            if other in services.get(app_service.name, {}).get("depends_on", {})
        ],
        "settings": ", ".join(code(n) for n in stack.settings_files if first is None or n != _config_name(first)),
        "backup": ", ".join(code(n) for n in stack.settings_files),
        "config_file": code(_config_name(first)) if first and _config_name(first) in stack.settings_files else "",
        "volumes": ", ".join(code(v) for v in stack.compose["volumes"]),
        "differences": [md(d) for d in plan.app.upstream_differences],
        "secret_files": ", ".join(code(n) for n in stack.secret_files),
        "copied_secrets": ", ".join(
            code(name) for name, secret in (stack.compose.get("secrets") or {}).items() if "environment" in secret
        ),
        "versioned": "",
        "proxy": None,
    }
    if choices is not None and choices.proxy is not None and first is not None:
        proxy = first.proxies[choices.proxy]
        context["proxy"] = {
            "name": md(proxy.name.capitalize()),
            "domain": code(choices.domain),
            "internal": _internal_host(urlsplit(choices.domain).hostname or ""),
            "volume": ", ".join(code(v) for v, target in proxy.volumes.items() if target == "/data"),
        }
    for role_plan in plan.roles.values():
        if role_plan.role.volume_by_version:
            context["versioned"] = md(role_plan.adapter.name)
            prefix = f"{role_plan.service}-data-v"
            context["versioned_volume"] = ", ".join(code(v) for v in stack.compose["volumes"] if v.startswith(prefix))
    if first is not None and choices is not None:
        context["first"] = {
            "domain": code(choices.domain),
            "https": choices.https,
            "registration": choices.registration,
            "registration_variable": text.visible(first.registration_variable),  # inside a code span
            "settings_file": code(first.settings_file),
            "create_user": text.visible(create_user_command(first)),
        }
    return render_template("stack_readme.md.j2", context)


def _config_name(first: FirstStart) -> str:
    return str(first.config_file["name"]) if first.config_file else ""


# --- first start: domain, sign-up, config file, endpoints, embeddings, project name ----------------------------

# Compose's rule for project names (compose-go loader.NormalizeProjectName / the `name:` key).
_PROJECT_NAME = re.compile(r"[a-z0-9][a-z0-9_-]*")
_LABEL = r"[A-Za-z0-9](?:[A-Za-z0-9-]{0,61}[A-Za-z0-9])?"
_HOST_NAME = re.compile(rf"{_LABEL}(?:\.{_LABEL})*")
REGISTRATION_CHOICES = ("open", "closed")
USER_PROVIDED = "user_provided"


@dataclass(frozen=True)
class Choices:
    """The first-start options of one stack, resolved: what was asked, else what its files hold, else defaults."""

    project: str
    domain: str
    registration: str
    endpoints: tuple[str, ...]
    embeddings: str | None
    settings: dict[str, str]  # settings-file variable -> value, written once
    warnings: tuple[str, ...] = ()
    proxy: str | None = None
    target: str = "compose"  # where the stack runs: the commands its files give follow it

    @property
    def https(self) -> bool:
        return self.domain.startswith("https://")


def project_name(name: str | None, folder: Path, app: AppDefinition) -> str:
    """``name`` checked as Compose checks project names, or one made from the output folder's name as Compose does."""
    if name is not None:
        if not _PROJECT_NAME.fullmatch(name):
            raise DbstackError(
                f"--name {text.visible(name)}: a Compose project name holds only lowercase letters, digits, "
                "'_' and '-', and starts with a letter or digit"
            )
        return name
    normalized = re.sub(r"[^a-z0-9_-]", "", folder.resolve().name.lower()).lstrip("_-")
    return normalized or app.id


def checked_domain(domain: str) -> str:
    """``scheme://host[:port]`` for LibreChat's DOMAIN_* variables; anything else is refused in one line."""
    where = f"--domain {text.visible(domain)}"
    if any(c.isspace() or not c.isprintable() for c in domain):  # urlsplit would drop tabs and line breaks
        raise DbstackError(f"{where}: no spaces or control characters in an address")
    try:
        parts = urlsplit(domain)
        port = parts.port
    except ValueError as exc:
        raise DbstackError(f"{where}: not a URL ({exc})") from None
    host = parts.hostname or ""
    if parts.scheme not in ("http", "https"):
        raise DbstackError(f"{where}: must start with http:// or https://")
    if parts.username is not None or parts.password is not None or parts.query or parts.fragment:
        raise DbstackError(f"{where}: only scheme, host and port (no user, query or fragment)")
    if parts.path not in ("", "/"):
        raise DbstackError(f"{where}: LibreChat is served at the root of its address; give no path")
    if not host or not (_is_ip(host) or _HOST_NAME.fullmatch(host)):
        raise DbstackError(f"{where}: the host must be a DNS name or an IP address")
    shown = f"[{host}]" if ":" in host else host.lower()
    return f"{parts.scheme}://{shown}" + (f":{port}" if port is not None else "")


def _is_ip(host: str) -> bool:
    try:
        ipaddress.ip_address(host)
    except ValueError:
        return False
    return True


def resolve_choices(
    request: Any,
    plan: StackPlan,
    folder: Path,
    existing_env: Mapping[str, str],
    target: str = "compose",
) -> Choices | None:
    """The request's first-start options, completed from the stack's own files (a regeneration keeps them)."""
    first = plan.app.first_start
    if first is None:
        return None
    settings_path = folder / first.settings_file
    existing_settings = _read_settings(settings_path)
    project = project_name(request.name, folder, plan.app)
    proxy = _proxy(first, request.proxy, folder)
    if request.domain is not None:
        _refuse_another_domain(checked_domain(request.domain), first, existing_settings, settings_path)
    default_domain = "https://localhost" if proxy else first.domain_default
    domain = checked_domain(request.domain or existing_settings.get(first.domain_variables[0]) or default_domain)
    if proxy and not domain.startswith("https://"):
        raise DbstackError(
            f"--proxy {proxy} serves HTTPS: give the address users open as --domain https://NAME "
            f"(the stack's address is {domain})"
        )
    registration = request.registration
    if registration is None and first.registration_variable in existing_settings:
        registration = "open" if existing_settings[first.registration_variable] == "true" else "closed"
    registration = registration or first.registration_defaults.get(plan.environment.name, "closed")
    if registration not in REGISTRATION_CHOICES:
        raise DbstackError(f"--registration {text.visible(registration)}: choose open or closed")
    endpoints = _endpoints(first, request.endpoints, existing_env)
    embeddings = _embeddings(first, plan, request.embeddings, existing_settings, settings_path)
    settings = {name: domain for name in first.domain_variables}
    settings[first.secure_cookie_variable] = "true" if domain.startswith("https://") else "false"
    settings[first.registration_variable] = "true" if registration == "open" else "false"
    if embeddings is not None and first.embeddings_variable:
        settings[first.embeddings_variable] = embeddings
        settings.update(first.embeddings[embeddings].settings)
    changed = sorted(k for k, v in settings.items() if k in existing_settings and existing_settings[k] != v)
    warnings = tuple(
        f"{settings_path}: keeps your {key}={text.visible(existing_settings[key])} (dbstack never rewrites that "
        f"file); this run asked for {text.visible(settings[key])}: change it there"
        for key in changed
    )
    return Choices(project, domain, registration, endpoints, embeddings, settings, warnings, proxy, target)


def _refuse_another_domain(
    asked: str, first: FirstStart, existing_settings: Mapping[str, str], settings_path: Path
) -> None:
    """The settings file is the user's and never rewritten, so LibreChat keeps the address it names: a --domain
    naming another would give compose.yaml (the TLS front) and the README an address LibreChat does not use.
    The message names the keys, not their values (the file is the user's; it may hold anything)."""
    differing = [
        key for key in first.domain_variables if key in existing_settings and _address(existing_settings[key]) != asked
    ]
    if differing:
        raise DbstackError(
            f"--domain {asked}: {settings_path} sets {' and '.join(differing)} to another address and dbstack never "
            f"rewrites that file; change {'them' if len(differing) > 1 else 'it'} there (with "
            f"{first.secure_cookie_variable}={'true' if asked.startswith('https://') else 'false'}), "
            "then regenerate without --domain"
        )


def _address(value: str) -> str:
    """A settings-file address as --domain would be written, to compare like with like (as is, if invalid)."""
    try:
        return checked_domain(value)
    except DbstackError:
        return value


def _proxy(first: FirstStart, asked: str | None, folder: Path) -> str | None:
    """The TLS front: as asked (``none`` removes it), else the one the stack's compose.yaml already has."""
    if asked == "none":
        return None
    if asked is not None:
        if asked not in first.proxies:
            raise DbstackError(f"--proxy {text.visible(asked)}: unknown; known: {', '.join(first.proxies) or 'none'}")
        return asked
    services = _previous_compose(folder).get("services")
    return next((name for name in first.proxies if isinstance(services, dict) and name in services), None)


def _read_settings(path: Path) -> dict[str, str]:
    existing = read_regular(path)
    if existing is None:
        return {}
    try:
        document = dotenv.parse(existing.data.decode("utf-8"), environ={})
    except UnicodeDecodeError:
        raise DbstackError(f"{path}: not valid UTF-8; fix or move it, dbstack reads its settings") from None
    return document.as_dict()


def _endpoints(first: FirstStart, asked: tuple[str, ...], existing_env: Mapping[str, str]) -> tuple[str, ...]:
    unknown = [e for e in asked if e not in first.endpoints]
    if unknown:
        known = ", ".join(first.endpoints) or "none"
        raise DbstackError(f"--endpoint {text.visible(unknown[0])}: unknown provider; known: {known}")
    kept = [n for n, e in first.endpoints.items() if e.keys and all(k in existing_env for k in e.keys)]
    return tuple(n for n in first.endpoints if n in asked or n in kept)


def _embeddings(
    first: FirstStart, plan: StackPlan, asked: str | None, existing_settings: Mapping[str, str], settings_path: Path
) -> str | None:
    in_stack = first.embeddings_service in {s.name for s in plan.services}
    if asked is not None and not in_stack:
        raise DbstackError(
            f"--embeddings {text.visible(asked)}: {first.embeddings_service or 'no service'} is not in this stack "
            "(it comes with the vector_store role)"
        )
    if not in_stack or not first.embeddings:
        return None
    variable = first.embeddings_variable or ""
    in_file = existing_settings.get(variable)
    # The settings file is the user's and is never rewritten, so rag_api will run the provider it names: a flag
    # asking for another one would make compose.yaml require that other provider's keys.
    if asked is not None and in_file is not None and asked != in_file:
        raise DbstackError(
            f"--embeddings {text.visible(asked)}: {settings_path} sets {variable}={text.visible(in_file)} and "
            "dbstack never rewrites that file; change it there, then regenerate without --embeddings"
        )
    name = asked or in_file or first.embeddings_default
    shown = text.visible(name)
    where = f"{settings_path}: {variable}={shown}" if asked is None and in_file is not None else f"--embeddings {shown}"
    provider = first.embeddings.get(name or "")
    if provider is None:
        known = ", ".join(n for n, p in first.embeddings.items() if p.unavailable is None)
        raise DbstackError(f"{where}: unknown provider; available: {known}")
    if provider.unavailable:
        raise DbstackError(f"{where}: {provider.unavailable}")
    return name


# After a change to a settings file: Compose recreates the services whose env_file changed; kustomize names
# each ConfigMap after a hash of its content, so applying the folder rolls the Deployments that read it.
APPLY_SETTINGS = {"compose": "docker compose up -d", "kubernetes": "kubectl apply -k ."}


def settings_file_text(header: str, choices: Choices) -> str:
    lines = [dotenv.format_entry(key, value) for key, value in choices.settings.items()]
    header = header.rstrip("\n") + f"\n# Apply a change (in this folder): {APPLY_SETTINGS[choices.target]}"
    return render_template("settings.env.j2", {"header": header, "lines": lines})


def create_user_command(first: FirstStart) -> str:
    """The app's own create-user command in the running compose stack (kubernetes_stack has its own)."""
    return f"docker compose exec {first.create_user_service} {first.create_user_command}"


HEALTH_PORT = 2020  # the Caddyfile's loopback-only site for the compose healthcheck (apps/librechat.yaml)
# Caddyfile tokens dbstack writes: host names, IP addresses (IPv6 in brackets) and ports; nothing that could
# end a token, open a block or start a comment.
_CADDY_TOKEN = re.compile(r"[A-Za-z0-9.:\[\]_-]+")
_PRIVATE_SUFFIXES = (".localhost", ".local", ".lan", ".internal", ".home.arpa", ".test", ".example", ".invalid")


def caddyfile_text(
    site: str,
    upstream: str,
    *,
    internal: bool,
    template: str = "Caddyfile.j2",
    health_port: int = HEALTH_PORT,
    options: tuple[str, ...] = (),
) -> str:
    """The proxy's Caddyfile: ``site`` over HTTPS (Caddy's internal CA when ``internal``), forwarded to
    ``upstream``. ``options`` are extra global options (the tests' ports); every value is checked as a token."""
    for value in (site, upstream, *(w for o in options for w in o.split(" "))):
        if not _CADDY_TOKEN.fullmatch(value):
            raise DbstackError(f"Caddyfile: {text.visible(value)} is not a host name, address or port")
    context = {"site": site, "upstream": upstream, "internal": internal, "health_port": health_port}
    return render_template(template, {**context, "options": list(options)})


def _internal_host(host: str) -> bool:
    """A name no public CA can issue a certificate for: localhost, an IP address, a single label, a private suffix."""
    host = host.lower()
    return host == "localhost" or _is_ip(host) or "." not in host or host.endswith(_PRIVATE_SUFFIXES)


def _is_loopback(host: str) -> bool:
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def app_user_script(user: AppUser, database: str) -> str:
    """The init script that creates the app's own user (templates/<user.template>)."""
    roles = [{"role": role, "db": database} for role in user.roles]
    context = {
        "variable": user.password_variable,
        "database": database,
        "username": user.username,
        "roles": roles,
        "username_comment": text.comment(user.username),
        "roles_comment": text.comment(", ".join(user.roles)),
        "database_comment": text.comment(database),
    }
    return render_template(user.template, context)


def config_file_text(first: FirstStart, choices: Choices) -> str:
    assert first.config_file is not None
    custom = [dict(first.endpoints[e].custom or {}) for e in choices.endpoints if first.endpoints[e].custom]
    # Compose re-reads a bind mount on restart; kustomize renames the ConfigMap when its content changes.
    apply = {"compose": f"docker compose restart {first.config_file['service']}", "kubernetes": "kubectl apply -k ."}
    context = {"version": str(first.config_file["version"]), "custom": custom, "apply": apply[choices.target]}
    return render_template("librechat.yaml.j2", context)


def _versioned_volume(service: ComposeService, tag: str) -> ComposeService:
    """The data volume named with the image's major.minor (v1.54.3 -> meilisearch-data-v1.54)."""
    match = re.match(r"v?(\d+)\.(\d+)", tag)
    if match is None:
        raise DbstackError(f"service {service.name}: cannot read a major.minor version from the tag {tag!r}")
    old = f"{service.name}-data"
    new = f"{old}-v{match.group(1)}.{match.group(2)}"
    volumes = [
        {**v, "source": new} if isinstance(v, dict) and v.get("source") == old else v
        for v in service.service.get("volumes", [])
    ]
    return replace(service, service={**service.service, "volumes": volumes}, volumes={new: {}})


# libyaml's safe loader: about 8x faster than PyYAML's Python one on a stack's compose.yaml, and it refuses nesting
# deeper than 1,000 levels with a YAMLError where the Python one overflows the stack (a user's file may hold anything).
_SAFE_LOADER = getattr(yaml, "CSafeLoader", yaml.SafeLoader)


def _previous_compose(folder: Path) -> dict[str, Any]:
    existing = read_regular(folder / COMPOSE_FILE)
    if existing is None:
        return {}
    try:
        data = yaml.load(existing.data.decode("utf-8"), Loader=_SAFE_LOADER)
    except (yaml.YAMLError, UnicodeDecodeError, RecursionError):
        return {}
    return data if isinstance(data, dict) else {}
