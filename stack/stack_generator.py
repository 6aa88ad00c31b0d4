"""stack_generator: builds a complete stack from a plan and writes it without losing anything.

Output folder: ``compose.yaml``, ``.env`` (secrets, mode 0600), a ``README.md`` for the
stack, and the app's settings files (created once, never overwritten). Regenerating keeps
every value already in ``.env`` (a database reads its password only on first start), keeps
the user's own lines, writes atomically and backs up what it replaces.
"""

from __future__ import annotations

import ipaddress
import itertools
import json
import re
import shlex
from collections.abc import Mapping
from dataclasses import dataclass, field, replace
from functools import lru_cache
from pathlib import Path
from typing import Any
from urllib.parse import unquote, urlsplit

import yaml

from dbstack.loader import DatabaseConfig, DbstackError, text
from dbstack.loader.apps import BUILTIN_APPS, AppDefinition, AppService, AppUser, FirstStart, Role, load_app
from dbstack.loader.environments import environment_names
from dbstack.loader.interpolation import compose_escape
from dbstack.loader.registry import BUILTIN_CATALOG
from dbstack.loader.yaml_source import safe_load
from dbstack.render import KUSTOMIZATION_FILE, dotenv
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
from dbstack.render.files import check_regular, read_regular
from dbstack.sandbox import attributes, variables

from .config_engine import DEFAULT_ENVIRONMENT, ConfigEngine, RolePlan, StackPlan, StackRequest
from .output import (
    COMPOSE_FILE,
    MARKER,
    PROJECT_NAME,
    README_FILE,
    README_MARKER,
    WRITTEN_FILE,
    OutputFile,
    WriteReport,
    edited_once_files,
    read_env,
    recorded_names,
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
    # Config files written once and the user's from then on (the proxy's Caddyfile): 0644, never replaced.
    user_config_files: dict[str, str] = field(default_factory=dict)
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
            words += [f"--name {text.shell_word(choices.project)}"]
            # The command runs after this run wrote the settings file, which then decides the domain, sign-up
            # and embeddings: a flag baked in here would be refused once the user changes the file as told.
            first = self.plan.app.first_start
            if first is None or first.settings_file not in self.settings_files:
                words += [f"--domain {text.shell_word(choices.domain)}"]
                words += [f"--registration {text.shell_word(choices.registration)}"]
                words += [f"--embeddings {text.shell_word(choices.embeddings)}"] if choices.embeddings else []
            words += [f"--endpoint {text.shell_word(e)}" for e in choices.endpoints]
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
        # Why each service waits as it does (apps/*.yaml wait_for), next to the file that carries the waits.
        for app_service in self.plan.services:
            depends_on = self.compose["services"].get(app_service.name, {}).get("depends_on", {})
            for other, wait in app_service.wait_for.items():
                if other in depends_on:
                    header += f"# {text.comment(app_service.name)} waits for {text.comment(other)} "
                    header += f"({text.comment(wait.until)}): "
                    header += f"{text.comment(wait.why)}\n"
        return header + dump_compose(self.compose)


class StackGenerator:
    """Turns plans into compose files through the registry and the templates in render/."""

    def __init__(self, engine: ConfigEngine | None = None) -> None:
        self.engine = engine or ConfigEngine()

    def _select_database_config(self, role_plan: RolePlan) -> DatabaseConfig:
        """The validated config of the database that fills a role (through the registry)."""
        return role_plan.adapter.config

    def _generate_database_services(
        self, plan: StackPlan, front: FrontDoor | None = None
    ) -> dict[str, ComposeService]:
        """One compose service per role, each rendered from its catalog entry."""
        services: dict[str, ComposeService] = {}
        used_ports = {s.published_port for s in plan.services if s.published_port}  # the app's front door
        used_ports |= {front.port} if front is not None else set()
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
        self, plan: StackPlan, front: FrontDoor | None = None
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
                ports=_app_ports(app_service, front),
                volumes=[{"type": "volume", "source": v, "target": t} for v, t in app_service.volumes.items()],
                depends_on=depends_on,
                env_file=app_service.env_file,
            )
            owned[app_service.name] = own
        return services, derived, settings, owned

    def build(self, plan: StackPlan, choices: Choices | None = None) -> Stack:
        front = front_door(plan, choices)
        database_services = self._generate_database_services(plan, front)
        app_services, derived, settings, owned = self._build_service_configs(plan, front)
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
        owned_files = self._app_users(plan, services, owned)
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
            user_config_files=proxy_files,
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
        host_ip = loopback_address(host)
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
        # Caddy answers 502 until the api is up; it need not wait for the api's healthcheck to start, nor restart
        # with it.
        services[proxy.name]["depends_on"][proxy.upstream_service] = {"condition": "service_started"}
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
            header = plan.app.settings_files[first.settings_file]
            settings[first.settings_file] = settings_file_text(header, choices, first.embeddings_variable)
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
        request, notes = kept_request(request, folder)
        plan = self.engine.plan(request, existing.as_dict())
        choices = resolve_choices(request, plan, folder, existing.as_dict(), target)
        if choices is not None and notes:
            choices = replace(choices, warnings=(*choices.warnings, *notes))
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
        kept_volumes = _keep_versioned_volumes(stack, _previous_compose(folder))
        project = str(stack.compose["name"])
        upgrade_notes = [kept_volume_note(k, project) for k in kept_volumes]
        if existing is None:
            existing = read_env(folder)
        missing = stack.missing_keys(existing.as_dict())
        files = [
            OutputFile(COMPOSE_FILE, stack.compose_text(folder), owner=f"{MARKER} App: {stack.plan.app.id};"),
            OutputFile(
                README_FILE, _stack_readme(stack, folder, existing.as_dict(), tuple(kept_volumes)), owner=README_MARKER
            ),
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
        # The proxy's config: the user extends it (headers, logs, more sites), so it is written once; read by the
        # container's root without DAC_OVERRIDE through a read-only bind mount, hence 0644 (it holds no secret).
        files += [OutputFile(name, body, 0o644, create_only=True) for name, body in stack.user_config_files.items()]
        # Read before writing: a problem found in the folder (its record) must stop the run before anything changes.
        once_notes = written_once_notes(stack, folder)
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
            names={"project": project},
        )
        report.to_fill = stack.placeholders() + missing
        report.warnings += [*(stack.first_start.warnings if stack.first_start else ()), *upgrade_notes]
        report.warnings += first_run_notes(stack, existing.as_dict())
        report.warnings += once_notes
        return report


def _wait_and_hosts(service: dict[str, Any], app_service: AppService, healthy: str) -> None:
    """depends_on as the app behaves (apps/*.yaml wait_for says why for each), and extra /etc/hosts entries."""
    for name, dependency in service.get("depends_on", {}).items():
        wait = app_service.wait_for.get(name)
        started = wait is not None and wait.until == "started"
        dependency["condition"] = "service_started" if started else healthy
        if started:  # restart: true would restart the app whenever the service it tolerates losing restarts
            dependency.pop("restart", None)
    if app_service.extra_hosts:
        service["extra_hosts"] = [f"{host}:{address}" for host, address in app_service.extra_hosts.items()]


# compose.yaml's record of the versioned volumes it keeps, volume -> the image that wrote it: a regeneration
# after the change no longer sees the old image, and the upgrade steps need its tag. Compose ignores x- keys.
KEPT_VOLUMES = "x-dbstack-kept-volumes"
_IMAGE_REFERENCE = re.compile(r"[A-Za-z0-9][A-Za-z0-9._/:@-]*")


@dataclass(frozen=True)
class KeptVolume:
    """A data volume the current image cannot open (Meilisearch of another version): kept, with its image."""

    service: str
    volume: str  # the compose volume key; Docker's name is PROJECT_volume
    image: str | None  # the image that wrote it, when known
    new_volume: str
    new_image: str


def _keep_versioned_volumes(stack: Stack, previous: Mapping[str, Any]) -> list[KeptVolume]:
    """A versioned data volume (Meilisearch) whose version changed: the old one stays declared (and recorded
    under KEPT_VOLUMES with the image that wrote it); the README's Upgrading section moves the data. A volume
    from before the versioning (``meilisearch-data``) is kept the same way."""
    kept: list[KeptVolume] = []
    old_volumes = _mapping(previous.get("volumes"))
    recorded = _mapping(previous.get(KEPT_VOLUMES))
    previous_services = _mapping(previous.get("services"))
    volumes = stack.compose["volumes"]
    for role_plan in stack.plan.roles.values():
        if not role_plan.role.volume_by_version:
            continue
        service = role_plan.service
        prefix = f"{service}-data-v"
        new = next((v for v in volumes if v.startswith(prefix)), None)
        if new is None:
            continue
        before = _mapping(previous_services.get(service))
        mounts = before.get("volumes")
        mounts = mounts if isinstance(mounts, list) else []
        for old in old_volumes:
            if not isinstance(old, str) or old == new or not (old.startswith(prefix) or old == f"{service}-data"):
                continue
            image = recorded.get(old)
            if not isinstance(image, str) and any(isinstance(m, dict) and m.get("source") == old for m in mounts):
                image = before.get("image")
            # Read from a file the user may edit: only an image reference is carried on (into README commands).
            image = image if isinstance(image, str) and _IMAGE_REFERENCE.fullmatch(image) else None
            volumes[old] = {}
            stack.compose.setdefault(KEPT_VOLUMES, {})[old] = image or "unknown"
            new_image = stack.compose["services"][service]["image"]
            kept.append(KeptVolume(service, old, image, new, new_image))
    return kept


def _mapping(value: object) -> dict[str, Any]:
    """A mapping read from a file the user may have edited; anything else counts as empty."""
    return value if isinstance(value, dict) else {}


def kept_volume_note(kept: KeptVolume, project: str) -> str:
    written = f"by {kept.image}" if kept.image else "by an older version"
    return (
        f"{kept.service}: {kept.new_image} cannot open the data written {written} in volume {project}_{kept.volume} "
        f"(kept); it starts empty on {project}_{kept.new_volume}. Move the data with a dump: the exact steps are in "
        "README.md, Upgrading"
    )


def _role_of(plan: StackPlan, service: str) -> str | None:
    return next((name for name, role_plan in plan.roles.items() if role_plan.service == service), None)


def _app_ports(service: AppService, front: FrontDoor | None = None) -> list[dict[str, Any]]:
    """The app's front door, on loopback in every environment: a TLS reverse proxy faces the network."""
    if not service.container_port or not service.published_port:
        return []
    port, host_ip = (front.port, front.host_ip) if front is not None else (service.published_port, "127.0.0.1")
    return [
        {
            "target": service.container_port,
            "published": str(port),
            "host_ip": host_ip,
            "protocol": "tcp",
        }
    ]


@dataclass(frozen=True)
class FrontDoor:
    """Where the app's own port is published on the host: the address users open when that is a loopback one."""

    port: int
    host_ip: str


def front_door(plan: StackPlan, choices: Choices | None) -> FrontDoor | None:
    """A plain-http loopback --domain (http://localhost:8080) is opened right on this machine, so the api is
    published at that port (on ::1 for an IPv6 address). Any other address needs something in front that
    forwards it to the default port (``forward_note``); with a proxy, the api is published nowhere."""
    if choices is None or choices.proxy is not None or choices.https or choices.target != "compose":
        return None
    parts = urlsplit(choices.domain)
    address = loopback_address(parts.hostname or "")
    if address is None:
        return None
    return FrontDoor(parts.port or 80, address)


def loopback_address(host: str) -> str | None:
    """Where a host that reaches this machine only is published: an IP literal of 127.0.0.0/8 or ::1 itself
    (users open that very address), 127.0.0.1 for localhost and *.localhost (RFC 6761); None for any other."""
    host = host.lower()
    try:
        address = ipaddress.ip_address(host)
    except ValueError:
        return "127.0.0.1" if host == "localhost" or host.endswith(".localhost") else None
    return str(address) if address.is_loopback else None


def forward_note(stack: Stack) -> str | None:
    """What must stand in front of the api when users open an address it is not published at."""
    choices = stack.first_start
    if choices is None or choices.proxy is not None or front_door(stack.plan, choices) is not None:
        return None
    for app_service in stack.plan.services:
        for port in stack.compose["services"].get(app_service.name, {}).get("ports", []):
            host = port["host_ip"]
            published = f"http://{f'[{host}]' if ':' in host else host}:{port['published']}"
            return (
                f"users open {choices.domain}, but the api is published on {published} only: a reverse proxy on "
                f"this host must serve {choices.domain} and forward it to {published} (or regenerate with "
                "--proxy caddy and an https --domain)"
            )
    return None


def _reach(service: Mapping[str, Any]) -> str:
    ports = [f"{p.get('host_ip') or 'every address'}:{p['published']}" for p in service.get("ports", [])]
    return text.markdown_cell(", ".join(ports) or "compose network only")


def _stack_readme(
    stack: Stack, folder: Path | None = None, env: Mapping[str, str] | None = None, kept: tuple[KeptVolume, ...] = ()
) -> str:
    """The stack's README, from templates/stack_readme.md.j2; every value from a catalog, an app definition,
    the environment or the user goes through loader.text, so none can add Markdown structure, HTML or a line.
    ``env``: the .env values in effect (the kept ones win), so the README says what the stack really does."""
    plan, choices = stack.plan, stack.first_start
    env = {**stack.env_entries, **(env or {})}
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
    project = str(stack.compose["name"])
    for role_plan in plan.roles.values():
        if role_plan.role.volume_by_version:
            context["versioned"] = md(role_plan.adapter.name)
            prefix = f"{role_plan.service}-data-v"
            mounts = services[role_plan.service].get("volumes", [])
            context["versioned_volume"] = ", ".join(
                code(m["source"]) for m in mounts if isinstance(m, dict) and str(m.get("source")).startswith(prefix)
            )
    context["kept_volumes"] = [_kept_volume_steps(k, project) for k in kept]
    context["db_users"] = [_db_user_context(u) for u in database_users(stack, env)]
    if first is not None and choices is not None:
        effective = choices.effective or choices.settings
        registration = "open" if _enabled(effective.get(first.registration_variable, "")) else "closed"
        default = first.registration_defaults.get(plan.environment.name, "closed")
        model_keys = []
        for endpoint in choices.endpoints:
            for key in first.endpoints[endpoint].keys.values():
                if key.user_provided and env.get(key.name) == USER_PROVIDED:
                    model_keys.append(f"{code(key.name)} is `user_provided`: each user enters their own in LibreChat")
                elif key.user_provided and env.get(key.name):
                    model_keys.append(f"{code(key.name)} holds your key: every user chats on it")
        enable = None
        if not choices.endpoints and first.endpoints and folder is not None:
            enable = {
                "command": text.visible(
                    f"{stack.regenerate_command(folder)} --endpoint {text.shell_word(next(iter(first.endpoints)))}"
                ),
                "providers": ", ".join(code(e) for e in first.endpoints),
            }
        context["first"] = {
            "domain": code(choices.domain),
            "https": choices.https,
            "secure_cookies": _enabled(effective.get(first.secure_cookie_variable, "")),
            "registration": registration,
            "registration_default": default,
            "environment": md(plan.environment.name),
            "registration_variable": text.visible(first.registration_variable),  # inside a code span
            "settings_file": code(first.settings_file),
            "create_user": text.visible(create_user_command(first)),
            "forward": md(note[0].upper() + note[1:]) if (note := forward_note(stack)) else "",
            "model_keys": model_keys,
            "enable_model": enable,
            "embeddings_variable": text.visible(first.embeddings_variable or ""),
            "embeddings": choices.embeddings is not None,
            "project": code(project),
            "project_from_folder": choices.project_from_folder,
            "paste_config": None,
        }
        if folder is not None and (block := config_block_to_paste(stack, folder)) is not None:
            lines = [text.visible(line) for line in block.split("\n")]
            context["first"]["paste_config"] = {"file": code(_config_name(first)), "block": "\n".join(lines)}
    return render_template("stack_readme.md.j2", context)


def written_once_notes(stack: Stack, folder: Path) -> list[str]:
    """The files written once that the user changed (dbstack keeps them as they are) and that lack what this run
    would write there: named, with what to change. A file still as dbstack wrote it is rewritten instead."""
    notes = []
    for name, fresh in _written_once_files(stack).items():
        existing = read_regular(folder / name)
        if existing is None or name not in edited_once_files(folder, [OutputFile(name, fresh, create_only=True)]):
            continue
        have = {line.strip() for line in existing.data.decode("utf-8", "replace").splitlines()}
        sites = [s for s in fresh.splitlines() if s.endswith(" {") and not s[0].isspace() and s not in have]
        if name in stack.user_config_files and sites:
            notes.append(
                f"{folder / name}: kept as it is (you changed it since dbstack wrote it); it lacks the site this "
                f"stack serves: {text.visible(sites[0])} ... }}. Change the site address there (or move the file "
                "away and regenerate)"
            )
        elif name == _config_name_of(stack) and (block := config_block_to_paste(stack, folder)) is not None:
            # JSON is YAML: the block on one line (README.md, step 2, has it in block style)
            one_line = f"endpoints: {json.dumps(safe_load(block)['endpoints'])}"
            notes.append(
                f"{folder / name}: kept as it is (you changed it since dbstack wrote it), so it lacks the endpoints "
                f"this stack enables; add them to its endpoints (README.md, step 2): {text.visible(one_line)}"
            )
    return notes


def _written_once_files(stack: Stack) -> dict[str, str]:
    """Every file dbstack writes once (settings, LibreChat's config file, the proxy's config) -> this run's text."""
    return {**stack.settings_files, **stack.user_config_files}


def _config_name_of(stack: Stack) -> str:
    first = stack.plan.app.first_start
    return _config_name(first) if first is not None else ""


def config_block_to_paste(stack: Stack, folder: Path) -> str | None:
    """The ``endpoints:`` block of the app's config file that a file the user changed lacks (None when it has
    every line of it, or is dbstack's and rewritten): the exact YAML to paste."""
    name = _config_name_of(stack)
    fresh = stack.settings_files.get(name) if name else None
    existing = read_regular(folder / name) if fresh is not None else None
    if fresh is None or existing is None:
        return None
    if name not in edited_once_files(folder, [OutputFile(name, fresh, create_only=True)]):
        return None
    lines = fresh.splitlines()
    start = next((i for i, line in enumerate(lines) if line == "endpoints:"), None)
    if start is None:
        return None
    block = lines[start:]
    have = {line.rstrip() for line in existing.data.decode("utf-8", "replace").splitlines()}
    if all(line in have for line in block):
        return None
    return "\n".join(block)


def first_run_notes(stack: Stack, env: Mapping[str, str]) -> list[str]:
    """What still stands between this stack and a first chat, said at generate as the README says it."""
    notes: list[str] = []
    first, choices = stack.plan.app.first_start, stack.first_start
    if first is not None and choices is not None and first.endpoints and not choices.endpoints:
        notes.append(
            f"no model endpoint is enabled, so there is nothing to chat with: regenerate with --endpoint "
            f"{'|'.join(first.endpoints)} (the command is in README.md, First start)"
        )
    if (note := forward_note(stack)) is not None:
        notes.append(note)
    for user in database_users(stack, {**stack.env_entries, **env}):
        if user.in_effect != user.app_user.username:
            notes.append(
                f"{user.service}: LibreChat still logs in as {user.in_effect or 'no user'} ({user.uri_variable} kept "
                f"in .env; the init script that creates {user.app_user.username} runs only on an empty database): "
                "README.md, Database user, gives the two commands that move it to its own user"
            )
    return notes


@dataclass(frozen=True)
class DatabaseUser:
    """Who the app logs in as, per database with an app user (apps/*.yaml roles.*.app_user), from the .env in
    effect: a stack from before least privilege keeps its root URI (MongoDB ran the init script only once)."""

    service: str
    app_user: AppUser
    database: str
    uri_variable: str
    in_effect: str  # the user name the kept URI holds


def database_users(stack: Stack, env: Mapping[str, str]) -> list[DatabaseUser]:
    users: list[DatabaseUser] = []
    for role_plan in stack.plan.roles.values():
        user = role_plan.role.app_users.get(role_plan.adapter.id)
        if user is None:
            continue
        for app_service, variables_ in role_plan.role.environment.items():
            for var in variables_:
                name = env_var_name(app_service, var)
                if name not in stack.derived or not env.get(name):
                    continue
                try:
                    username = urlsplit(env[name]).username
                except ValueError:
                    username = None
                in_effect = unquote(username) if username else ""
                database = str(role_plan.adapter.config.get("database"))
                users.append(DatabaseUser(role_plan.service, user, database, name, in_effect))
    return users


def _db_user_context(user: DatabaseUser) -> dict[str, Any]:
    """The README's words and the migration command for one database user (no secret on any command line:
    mongosh reads both passwords from the container's environment, or the files *_FILE names)."""
    own = user.in_effect == user.app_user.username
    read = (
        'const e=process.env,r=(n)=>e[n+"_FILE"]?require("fs").readFileSync(e[n+"_FILE"],"utf8").trim():e[n];'
        'db.getSiblingDB("admin").auth(r("MONGO_INITDB_ROOT_USERNAME"),r("MONGO_INITDB_ROOT_PASSWORD"));'
    )
    script = f"{read}load({json.dumps(user.app_user.target)})"
    command = f"docker compose exec {user.service} mongosh --quiet --eval '{script}'"
    return {
        "service": text.markdown_code(user.service),
        "service_word": text.visible(user.service),  # inside a code block
        "user": text.markdown_code(user.in_effect or "(none)"),
        "own": own,
        "app_user": text.markdown_code(user.app_user.username),
        "roles": text.markdown(", ".join(user.app_user.roles)),
        "database": text.markdown_code(user.database),
        "variable": text.visible(user.uri_variable),
        "command": text.visible(command),
        "script": text.markdown_code(user.app_user.script),
    }


def _kept_volume_steps(kept: KeptVolume, project: str) -> dict[str, str]:
    return {
        "service": text.visible(kept.service),
        "volume": text.visible(kept.volume),
        "docker_volume": text.visible(f"{project}_{kept.volume}"),
        "new_docker_volume": text.visible(f"{project}_{kept.new_volume}"),
        "image": text.visible(kept.image or "IMAGE:TAG"),
        "image_known": "yes" if kept.image else "",
    }


def _config_name(first: FirstStart) -> str:
    return str(first.config_file["name"]) if first.config_file else ""


# --- first start: domain, sign-up, config file, endpoints, embeddings, project name ----------------------------

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
    project_from_folder: bool = False  # the name is the folder's: another folder so named shares the volumes
    effective: dict[str, str] = field(default_factory=dict)  # the settings in effect: the file's where it has them
    # .env holds database passwords, yet no name was recorded nor given: the data's names are unknown (an old stack)
    unnamed_data: bool = False

    @property
    def https(self) -> bool:
        return self.domain.startswith("https://")


def project_name(name: str | None, folder: Path, app: AppDefinition) -> str:
    """``name`` checked as Compose checks project names, or one made from the output folder's name as Compose does."""
    if name is not None:
        if not PROJECT_NAME.fullmatch(name):
            raise DbstackError(
                f"--name {text.visible(name)}: a Compose project name holds only lowercase letters, digits, "
                "'_' and '-', and starts with a letter or digit"
            )
        return name
    return _folder_project(folder) or app.id


def _folder_project(folder: Path) -> str:
    """The folder's name normalised as Compose does; empty when nothing of it is left (``___``)."""
    return re.sub(r"[^a-z0-9_-]", "", folder.resolve().name.lower()).lstrip("_-")


def checked_domain(domain: str, where: str = "--domain") -> str:
    """``scheme://host[:port]`` for LibreChat's DOMAIN_* variables, the port left out when it is the scheme's
    default; anything else is refused in one line (``where``: the flag or the file line it came from)."""
    where = f"{where} {text.visible(domain)}"
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
    # A name whose last label is all digits is no DNS name (RFC 3696 2): 1.2.3.4.5 is a mistyped address.
    if not host or not (is_ip(host) or (_HOST_NAME.fullmatch(host) and not host.rsplit(".", 1)[-1].isdigit())):
        raise DbstackError(f"{where}: the host must be a DNS name or an IP address")
    if port == 0:
        raise DbstackError(f"{where}: port 0 is no port a browser can open")
    shown = f"[{host}]" if ":" in host else host.lower()
    default_port = {"http": 80, "https": 443}[parts.scheme]
    return f"{parts.scheme}://{shown}" + (f":{port}" if port is not None and port != default_port else "")


def is_ip(host: str) -> bool:
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
    """The request's first-start options, completed from the stack's own files (a regeneration keeps them).

    The settings file is the user's and never rewritten, so what it says is in effect: a flag asking for
    another value is refused (``refuse_flag_against_file``), and the README and the "Regenerate with" line
    describe the file's values."""
    first = plan.app.first_start
    if first is None:
        return None
    for flag, value in (("--domain", request.domain), ("--registration", request.registration)):
        if value is not None and not value.strip():
            raise DbstackError(f"{flag} is empty: give a value or leave the option out")
    settings_path = folder / first.settings_file
    existing_settings = _read_settings(settings_path)
    previous = _previous_compose(folder)
    kept = recorded_names(folder).get("project") or _compose_name(previous)
    unnamed_data = request.name is None and kept is None and holds_database_passwords(plan, folder, existing_env)
    if unnamed_data and target == "compose":
        raise DbstackError(unnamed_data_refusal(folder, "--name NAME", "its volumes have"))
    project, project_notes = _project(request.name, request.new_project, folder, plan.app, kept, previous)
    if target != "compose":  # the name becomes a namespace there, which --namespace sets and checks on its own
        project_notes = []
    proxy = _proxy(first, request.proxy, previous)
    default_domain = "https://localhost" if proxy else first.domain_default
    domain_variable = first.domain_variables[0]
    in_file = existing_settings.get(domain_variable)
    file_domain = checked_domain(in_file, f"{settings_path}: {domain_variable}") if in_file is not None else None
    if request.domain is not None:
        asked_domain = checked_domain(request.domain)
        file_addresses = {k: _address(existing_settings[k]) for k in first.domain_variables if k in existing_settings}
        # A cookie marked secure is never sent over http: the switch must follow the address in the file.
        secure = f"{first.secure_cookie_variable}={'true' if asked_domain.startswith('https://') else 'false'}"
        refuse_flag_against_file("--domain", asked_domain, file_addresses, settings_path, f" (with {secure})")
    domain = file_domain or checked_domain(request.domain or default_domain)
    if proxy and not domain.startswith("https://"):
        raise DbstackError(
            f"--proxy {proxy} serves HTTPS: give the address users open as --domain https://NAME "
            f"(the stack's address is {domain})"
        )
    if request.registration is not None and request.registration not in REGISTRATION_CHOICES:
        raise DbstackError(f"--registration {text.visible(request.registration)}: choose open or closed")
    file_registration = None
    if (in_file := existing_settings.get(first.registration_variable)) is not None:
        file_registration = "open" if _enabled(in_file) else "closed"
    if request.registration is not None and file_registration is not None:
        in_flag_terms = {first.registration_variable: file_registration}
        refuse_flag_against_file("--registration", request.registration, in_flag_terms, settings_path)
    default_registration = first.registration_defaults.get(plan.environment.name, "closed")
    registration = file_registration or request.registration or default_registration
    endpoints = _endpoints(first, request.endpoints, existing_env)
    embeddings = _embeddings(first, plan, request.embeddings, existing_settings, settings_path)
    settings = {name: domain for name in first.domain_variables}
    settings[first.secure_cookie_variable] = "true" if domain.startswith("https://") else "false"
    settings[first.registration_variable] = "true" if registration == "open" else "false"
    if embeddings is not None and first.embeddings_variable:
        settings[first.embeddings_variable] = embeddings
        settings.update(first.embeddings[embeddings].settings)
    warnings = (*project_notes, *_embeddings_notes(first, embeddings, existing_settings, settings_path))
    effective = {**settings, **{k: v for k, v in existing_settings.items() if k in settings}}
    return Choices(
        project,
        domain,
        registration,
        endpoints,
        embeddings,
        settings,
        tuple(warnings),
        proxy,
        target,
        project == _folder_project(folder),
        effective,
        unnamed_data,
    )


def refuse_flag_against_file(
    flag: str, asked: str, in_file: Mapping[str, str], settings_path: Path, advice: str = ""
) -> None:
    """One rule for every first-start flag the settings file also sets (domain, sign-up, embeddings): the file
    is the user's and its values win over flags; a flag asking for something else would be silently ignored,
    and is refused in one line instead (nothing written). ``in_file``: each variable of the flag the file sets,
    with its value in the flag's terms (an address as --domain writes it, ``open``/``closed``), so the same
    value written another way is no conflict. The line names the file and the keys that differ, never their
    values: the file is the user's and may hold anything. ``advice``: what else to change with them."""
    differing = [variable for variable, value in in_file.items() if value != asked]
    if differing:
        raise DbstackError(
            f"{flag} {text.visible(asked)}: {settings_path} sets {' and '.join(differing)} to another value and "
            f"its values win over flags; change {'them' if len(differing) > 1 else 'it'} there{advice}, "
            f"then regenerate without {flag}"
        )


def _address(value: str) -> str:
    """A settings-file address as --domain would be written, to compare like with like (as is, if invalid)."""
    try:
        return checked_domain(value)
    except DbstackError:
        return value


def _enabled(value: str) -> bool:
    """LibreChat's isEnabled(): the string true, in any case, trimmed (packages/api/src/utils/common.ts)."""
    return value.strip().lower() == "true"


def holds_database_passwords(plan: StackPlan, folder: Path, env: Mapping[str, str]) -> bool:
    """Whether ``folder`` holds a stack dbstack generated (its record, compose file or README is there) whose .env
    has a password a database of the plan was created with. A .env the user prepared before the first run, or
    copied from another stack, into a folder dbstack never wrote is no stack yet: its databases start fresh."""
    generated = any(check_regular(folder / name) for name in (WRITTEN_FILE, COMPOSE_FILE, README_FILE))
    return generated and any(
        env.get(env_var_name(role_plan.service, name))
        for role_plan in plan.roles.values()
        for name, parameter in role_plan.adapter.spec.parameters.items()
        if parameter.secret
    )


def unnamed_data_refusal(folder: Path, flag: str, keyed: str) -> str:
    """The refusal for a stack whose data exists (its .env holds database passwords) under an unknown name: a
    name from the folder would start new, empty databases with the old passwords, the data looking lost."""
    return (
        f"{folder}: its .env holds database passwords, but no project name is recorded (.dbstack-files, "
        f"{COMPOSE_FILE}); give {flag} with the name {keyed} (librechat for stacks made before --name); "
        "nothing was changed"
    )


def _compose_name(previous: Mapping[str, Any]) -> str | None:
    """The project name of the stack's compose.yaml, if it has a valid one (stacks made before the record)."""
    name = previous.get("name")
    return name if isinstance(name, str) and PROJECT_NAME.fullmatch(name) else None


def _project(
    asked: str | None,
    new_project: bool,
    folder: Path,
    app: AppDefinition,
    kept: str | None,
    previous: Mapping[str, Any],
) -> tuple[str, list[str]]:
    """The compose project name and the notes about it. The name keys every volume (``NAME_mongodb-data``), so
    a regeneration keeps ``kept``, the one recorded in .dbstack-files or the compose.yaml (stacks made before
    ``--name`` existed say ``librechat``), whatever the target; another one is refused unless ``new_project``: a
    warning scrolls by, while the next ``docker compose up`` would start on new, empty volumes and the data
    would look lost."""
    name = project_name(asked, folder, app) if asked is not None or kept is None else kept
    if asked is None:
        if kept is not None:
            return kept, []
        if not _folder_project(folder):
            return name, [
                f"the output folder's name gives no compose project name, so it is {text.visible(name)} (the app's): "
                "any other stack so named shares its volumes and network; give --name to choose a name of its own"
            ]
        return name, [
            f"the compose project name {text.visible(name)} comes from the output folder's name: a stack in any "
            "other folder of that name shares its volumes and network; give --name to choose a name of its own"
        ]
    if kept is None or kept == name:
        return name, []
    old_volumes = previous.get("volumes")
    names = [f"{kept}_{v}" for v in old_volumes if isinstance(v, str)] if isinstance(old_volumes, dict) else []
    volumes = ", ".join(names)
    data = f" (the data stays in {text.visible(volumes)})" if volumes else ""
    if not new_project:
        raise DbstackError(
            f"--name {text.visible(name)}: the stack in {folder} is the project {kept}; another name starts "
            f"a new project with new, empty volumes{data}. Regenerate without --name to keep it, or add --new-project "
            "to start the new one anyway"
        )
    return name, [
        f"--new-project: the compose project is now {text.visible(name)}, with new, empty volumes{data}; stop the "
        f"old one first (its volumes stay): docker compose -p {kept} down"
    ]


def _proxy(first: FirstStart, asked: str | None, previous: Mapping[str, Any]) -> str | None:
    """The TLS front: as asked (``none`` removes it), else the one the stack's compose.yaml already has."""
    if asked == "none":
        return None
    if asked is not None:
        if asked not in first.proxies:
            raise DbstackError(f"--proxy {text.visible(asked)}: unknown; known: {', '.join(first.proxies) or 'none'}")
        return asked
    services = previous.get("services")
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
    if any(not e.strip() for e in asked):
        raise DbstackError("--endpoint is empty: give a value or leave the option out")
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
    if asked is not None and not asked.strip():
        raise DbstackError("--embeddings is empty: give a value or leave the option out")
    if asked is not None and not in_stack:
        raise DbstackError(
            f"--embeddings {text.visible(asked)}: {first.embeddings_service or 'no service'} is not in this stack "
            "(it comes with the vector_store role)"
        )
    if not in_stack or not first.embeddings:
        return None
    variable = first.embeddings_variable or ""
    in_file = existing_settings.get(variable)
    # rag_api runs the provider the file names: a flag asking for another one would make compose.yaml require
    # that other provider's keys.
    if asked is not None and in_file is not None:
        refuse_flag_against_file("--embeddings", asked, {variable: in_file}, settings_path)
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


def _embeddings_notes(
    first: FirstStart, embeddings: str | None, existing_settings: Mapping[str, str], settings_path: Path
) -> list[str]:
    """A provider the user switched to in the settings file: each of its settings the file lacks (rag_api would
    fall back to its own default, e.g. OLLAMA_BASE_URL=http://ollama:11434, and fail on the first file while
    /health says UP), and a model name left from another provider."""
    variable = first.embeddings_variable or ""
    if embeddings is None or variable not in existing_settings:
        return []  # a new file: dbstack writes the provider's settings itself
    provider = first.embeddings[embeddings]
    notes = [
        f"{settings_path}: {variable}={text.visible(embeddings)} needs {key}, which the file lacks (rag_api then "
        f"uses its own default): add {key}={text.visible(value)}"
        for key, value in provider.settings.items()
        if key not in existing_settings
    ]
    model_variable = "EMBEDDINGS_MODEL"
    model = existing_settings.get(model_variable)
    others = [name for name, p in first.embeddings.items() if name != embeddings and p.settings.get(model_variable)]
    owners = [name for name in others if first.embeddings[name].settings[model_variable] == model]
    if model is not None and model != provider.settings.get(model_variable) and owners:
        notes.append(
            f"{settings_path}: {model_variable}={text.visible(model)} is the model of {', '.join(owners)}, not one of "
            f"{text.visible(embeddings)}'s: set {model_variable}={text.visible(provider.settings.get(model_variable))} "
            "or another model of that provider"
        )
    return notes


# After a change to a settings file: Compose recreates the services whose env_file changed; kustomize names
# each ConfigMap after a hash of its content, so applying the folder rolls the Deployments that read it.
APPLY_SETTINGS = {"compose": "docker compose up -d", "kubernetes": "kubectl apply -k ."}


def settings_file_text(header: str, choices: Choices, embeddings_variable: str | None = None) -> str:
    lines = [dotenv.format_entry(key, value) for key, value in choices.settings.items()]
    header = header.rstrip("\n")
    if embeddings_variable and choices.embeddings is not None:  # the provider's keys are wired in compose.yaml
        header += (
            f"\n# A change of {text.comment(embeddings_variable)} needs a regeneration first (dbstack generate, "
            "see README.md): compose.yaml passes\n# rag_api the keys of the provider named here, and dbstack names "
            "what the new one lacks."
        )
    header += f"\n# Apply a change (in this folder): {APPLY_SETTINGS[choices.target]}"
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
    return host == "localhost" or is_ip(host) or "." not in host or host.endswith(_PRIVATE_SUFFIXES)


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


_REGENERATE_LINE = re.compile(r"# Regenerate with: (dbstack .*)")


def kept_request(request: StackRequest, folder: Path) -> tuple[StackRequest, list[str]]:
    """The request completed from the stack's compose.yaml, as the project name and proxy are: the environment
    (when --env is not given) and each role's database (--use, --without) that the request does not name. A
    regeneration without them would otherwise silently revert the stack. An --env other than the stack's is a
    deliberate change: kept, and said in a note. Read from the header line dbstack wrote (its "Regenerate with"
    command); a Kubernetes stack keeps its environment from kustomization.yaml's header (which names no roles);
    anything not recognised there is ignored."""
    app = load_app(request.app).id
    existing = read_regular(folder / COMPOSE_FILE)
    header = existing.data.decode("utf-8", "replace").split("\n", 3)[:3] if existing is not None else []
    words: list[str] = []
    if len(header) >= 2 and header[0].startswith(f"{MARKER} App: {app};"):
        match = _REGENERATE_LINE.fullmatch(header[1])
        try:
            words = shlex.split(match.group(1)) if match else []
        except ValueError:
            words = []
    elif (kustomization := read_regular(folder / KUSTOMIZATION_FILE)) is not None:
        first_line = kustomization.data.decode("utf-8", "replace").split("\n", 1)[0]
        stack_line = rf"{re.escape(MARKER)} Kubernetes stack: {re.escape(app)}; environment: (\S+); .*"
        match = re.fullmatch(stack_line, first_line)
        words = ["--env", match.group(1)] if match else []
    environment, use, without = None, dict(request.use), set(request.without)
    for flag, value in itertools.pairwise(words):
        if flag == "--env" and value in environment_names():
            environment = value
        elif flag == "--use" and "=" in value:
            role, database = value.split("=", 1)
            if role not in use and role not in without:
                use[role] = database
        elif flag == "--without" and value not in request.use:
            without.add(value)
    notes = []
    if request.environment is not None and environment is not None and request.environment != environment:
        notes.append(
            f"--env {request.environment}: the stack was {environment}; it is now {request.environment} (its "
            "databases' published ports, limits and defaults follow; .env and the data volumes are kept)"
        )
    asked = request.environment or environment or DEFAULT_ENVIRONMENT
    return replace(request, environment=asked, use=use, without=frozenset(without)), notes


def _previous_compose(folder: Path) -> Mapping[str, Any]:
    """The folder's compose.yaml as data (read-only: the same bytes give the same object), or {}."""
    existing = read_regular(folder / COMPOSE_FILE)
    return {} if existing is None else _compose_data(existing.data)


@lru_cache(maxsize=1)  # a regeneration reads the file when it plans and when it writes: parsed once
def _compose_data(content: bytes) -> Mapping[str, Any]:
    """libyaml's safe loader refuses nesting deeper than 1,000 levels with a YAMLError where PyYAML's Python one
    overflowed the stack (a user's file may hold anything)."""
    try:
        data = safe_load(content.decode("utf-8"))
    except (yaml.YAMLError, UnicodeDecodeError, RecursionError):
        return {}
    return data if isinstance(data, dict) else {}
