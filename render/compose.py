"""Compose services rendered from catalog entries, shaped by environment data.

The service comes from ``templates/service.yaml.j2`` (every value through
``tojson``), is parsed back into data, gets the entry's own fragment merged in, and
is emitted by a YAML dumper. Secret parameters never appear as values: they render
as ``${VAR:?...}`` references, and their values go to ``.env``.
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field, replace
from functools import lru_cache
from pathlib import Path
from typing import TYPE_CHECKING, Any

import yaml

from dbstack.loader.environments import DeployEnvironment, load_environment
from dbstack.loader.errors import DbstackError
from dbstack.loader.interpolation import (
    compose_escape,
    compose_escape_all,
    foreign_reference_problem,
)
from dbstack.loader.model import Container, Healthcheck, read_fragment
from dbstack.loader.yaml_source import YamlSourceError, parse_text
from dbstack.render.compiled import TEMPLATES, template_source
from dbstack.sandbox import TemplateError, render

if TYPE_CHECKING:
    from dbstack.loader.adapter import DatabaseAdapter

SERVICE_TEMPLATE = TEMPLATES / "service.yaml.j2"
TLS_FILES = ("server.crt", "server.key", "ca.crt")


def _fullmatch(pattern: str, text: str) -> bool:
    from dbstack.loader.validation import fullmatch  # the checks module (and RE2) only for an entry with a pattern

    return fullmatch(pattern, text)


def env_var_name(service: str, parameter: str) -> str:
    """``vectordb`` + ``password`` -> ``VECTORDB_PASSWORD``."""
    return re.sub(r"[^A-Z0-9]+", "_", f"{service}_{parameter}".upper()).strip("_")


@dataclass(frozen=True)
class ResolvedSecrets:
    """An adapter whose every secret has its value, and the given values that lost to kept ones."""

    adapter: DatabaseAdapter
    overridden: tuple[str, ...] = ()  # parameters given (--set) with a value other than the one kept in .env


def resolve_secrets(
    adapter: DatabaseAdapter, service: str, kept_env: Mapping[str, str] | None = None
) -> ResolvedSecrets:
    """The one rule for a secret's value: the one kept in the stack's .env (the database was created with it)
    beats the one given (``--set``, the adapter's config), which beats a generated one. An empty given secret is
    refused: Compose refuses to start a service whose ``${VAR:?}`` is empty."""
    config = adapter.config
    secrets = {name for name, parameter in adapter.spec.parameters.items() if parameter.secret}
    for name in sorted(secrets):
        if config.get(name) == "":
            raise DbstackError(
                f"--set {name}=: a secret cannot be empty (Compose refuses to start the service when "
                f"{env_var_name(service, name)} is empty); give it a value, or leave it out to have one generated"
            )
    env = kept_env or {}
    kept = {name: env[var] for name in secrets if (var := env_var_name(service, name)) in env}
    overridden = tuple(sorted(name for name in kept if config.get(name) not in (None, kept[name])))
    resolved = adapter.with_config(**kept) if kept else adapter
    return ResolvedSecrets(resolved.with_generated_secrets(), overridden)


def secret_reference(var: str) -> str:
    return f"${{{var}:?{var} must be set in .env}}"


# Where Docker (compose secrets, Swarm) mounts a secret file, and the Kubernetes renderer its Secret volume.
SECRET_FILE_DIR = "/run/secrets"


def file_secret_variables(
    service: Mapping[str, Any], file_variants: Mapping[str, str], credentials_from: Sequence[str]
) -> dict[str, tuple[str, str]]:
    """``VAR -> (VAR_FILE, secret .env variable)`` for each variable the image may read from a file instead.

    The one decision for compose ``secrets:`` and Kubernetes Secret volumes: a variable whose whole value is a
    secret reference goes to a file when the image has a ``*_FILE`` variant for it and whatever else in the
    container reads the variable can read the file as well. A client named in ``credentials_from`` reads the
    variable by name: it stays. So does one a shell in the healthcheck or command expands (``$$VAR``), unless
    that shell also expands ``$$VAR_FILE``: such a test reads whichever the container has (as the PostgreSQL
    and MongoDB entries' healthchecks do). The entrypoint exports the file's value for the server only, so a
    check reading the variable alone would fail (and the image refuses both set at once).
    """
    shell_text = (
        " ".join(str(part) for key in ("command", "entrypoint") for part in (service.get(key) or []))
        + " "
        + " ".join((service.get("healthcheck") or {}).get("test", []))
    )
    chosen: dict[str, tuple[str, str]] = {}
    for var, value in (service.get("environment") or {}).items():
        match = _WHOLE_REFERENCE.fullmatch(str(value))
        file_var = file_variants.get(var)
        if match is None or file_var is None or var in credentials_from:
            continue
        if _shell_expands(shell_text, var) and not _shell_expands(shell_text, file_var):
            continue
        chosen[var] = (file_var, match.group(1))
    return chosen


def _shell_expands(shell_text: str, var: str) -> bool:
    """``$$VAR`` or ``$${VAR...`` in compose text: a shell in the container expands VAR."""
    return re.search(rf"\$\$\{{?{re.escape(var)}\b", shell_text) is not None


_WHOLE_REFERENCE = re.compile(r"\$\{([A-Za-z_][A-Za-z0-9_]*):\?\1 must be set in \.env\}")
# A secret made from a .env variable is copied into the container (not bind-mounted), so Compose gives it the
# owner and mode asked for (pkg/compose/secrets.go createTar, since Compose 2.14.1): root reads it as its
# owner, the image's user through its group, nobody else.
ENVIRONMENT_SECRET_MODE = "0440"


def use_secret_files(
    service: ComposeService, container: Container, file_variants: Mapping[str, str] | None = None
) -> ComposeService:
    """The service with each secret its image reads from a file (``file_secret_variables``) passed as a
    compose secret: ``VAR_FILE=/run/secrets/name`` instead of ``VAR=${...}``, so ``docker inspect`` shows no
    password. ``file_variants`` adds variables read from files by something other than the image (an init
    script dbstack mounts). The .env value stays the one kept copy:

    * an entrypoint that reads the files as root gets a 0600 file beside compose.yaml, written from .env
      (``secret_files`` maps each file to its variable); Compose bind-mounts it with that owner and mode;
    * one that reads them after dropping to its own user (``container.file_variants_group``) could not read
      that file (Compose ignores uid/gid/mode of file secrets, docker/compose#9648): it gets a secret made from
      the .env variable itself, which Compose copies in owned by root and the image's group, mode 0440.
    """
    variants = {**container.file_variants, **(file_variants or {})}
    chosen = file_secret_variables(service.service, variants, container.healthcheck.credentials_from)
    if not chosen:
        return service
    body = {**service.service, "environment": dict(service.service.get("environment") or {})}
    declared: dict[str, Any] = {}
    files: dict[str, str] = {}
    group = container.file_variants_group
    for var, (file_var, secret_var) in chosen.items():
        name = secret_var.lower()
        del body["environment"][var]
        body["environment"][file_var] = f"{SECRET_FILE_DIR}/{name}"
        if group is None:
            file_name = f"{name}.secret"
            body.setdefault("secrets", []).append(name)
            declared[name] = {"file": f"./{file_name}"}
            files[file_name] = secret_var
        else:
            owner = {"source": name, "uid": "0", "gid": str(group), "mode": ENVIRONMENT_SECRET_MODE}
            body.setdefault("secrets", []).append(owner)
            declared[name] = {"environment": secret_var}
    return replace(service, service=body, secrets=declared, secret_files=files)


@dataclass(frozen=True)
class ComposeService:
    """A rendered database service and what it needs around it."""

    name: str
    service: dict[str, Any]
    volumes: dict[str, Any]
    env_entries: dict[str, str] = field(repr=False)  # VAR -> secret value, for .env
    secret_vars: dict[str, str]  # parameter -> VAR
    secrets: dict[str, Any] = field(default_factory=dict)  # top-level compose secrets: name -> {file: ...}
    secret_files: dict[str, str] = field(default_factory=dict)  # file beside compose.yaml -> its .env VAR

    def document(self) -> dict[str, Any]:
        """A complete compose document holding just this service."""
        document = {"name": self.name, "services": {self.name: self.service}, "volumes": self.volumes}
        if self.secrets:
            document["secrets"] = self.secrets
        return document


class _ExactDumper(yaml.SafeDumper):
    """A safe dumper whose every string reads back exactly, in PyYAML and in Compose's YAML 1.2 parser."""


# PyYAML writes these YAML 1.1 line breaks raw inside quoted scalars, where reading folds them
# (U+0085 becomes a space) or, in YAML 1.2, keeps the indentation after them: double quotes escape them.
_FOLDED_BREAKS = frozenset("\x85\u2028\u2029")


def _represent_str(dumper: yaml.representer.SafeRepresenter, value: str) -> yaml.ScalarNode:
    if _FOLDED_BREAKS.intersection(value):
        return dumper.represent_scalar("tag:yaml.org,2002:str", value, style='"')
    return dumper.represent_str(value)


_ExactDumper.add_representer(str, _represent_str)

try:  # libyaml's emitter, when PyYAML was built with it: the same representer, the emitter in C (about 4x faster)

    class _FastExactDumper(yaml.CSafeDumper):
        """_ExactDumper with libyaml's emitter, for documents where both write the same bytes."""

    _FastExactDumper.add_representer(str, _represent_str)
    _FAST_DUMPER: type[yaml.CSafeDumper] | None = _FastExactDumper
except AttributeError:  # pragma: no cover - depends on how PyYAML was built
    _FAST_DUMPER = None

# Keys from this length on go to PyYAML's emitter (see _emitters_agree).
_KEY_LIMIT = 100


def _emitters_agree(node: object) -> bool:
    """Whether libyaml writes ``node`` byte for byte as PyYAML's emitter does: when every string is printable
    ASCII and every key a string of 1 to 99 characters (compose keys are names). Elsewhere they differ: libyaml
    escapes characters beyond U+FFFF, folds long escaped strings at other places, and writes an empty key, or one
    of 123 characters and more, as a simple key where PyYAML writes ``? key`` (it counts the tag ``!!str`` toward
    its limit of 128). tests/test_dump_compose.py compares the two on generated documents."""
    if isinstance(node, str):
        return node.isascii() and node.isprintable()
    if isinstance(node, Mapping):
        return all(
            isinstance(key, str) and 0 < len(key) < _KEY_LIMIT and _emitters_agree(key) and _emitters_agree(value)
            for key, value in node.items()
        )
    if isinstance(node, list | tuple):
        return all(_emitters_agree(item) for item in node)
    return True  # numbers, booleans, None: written by the representer both share


def dump_compose(document: Mapping[str, Any]) -> str:
    """YAML text of a compose document (a dumper, never string concatenation); every value reads back exactly."""
    agree = _FAST_DUMPER is not None and _emitters_agree(document)
    return yaml.dump(
        dict(document),
        Dumper=_FAST_DUMPER if agree else _ExactDumper,
        sort_keys=False,
        allow_unicode=True,
        width=1000,
        default_flow_style=False,
    )


def compose_context(adapter: DatabaseAdapter, service: str) -> tuple[dict[str, Any], dict[str, str], dict[str, str]]:
    """Template context for text that lands in a compose file.

    Secret parameters become ``${VAR:?...}`` references (their values are returned for
    .env); every other value, of any type, has ``$`` escaped in each string it holds.
    Returns (context, parameter -> VAR, VAR -> value).
    """
    context: dict[str, Any] = {}
    secret_vars: dict[str, str] = {}
    env_entries: dict[str, str] = {}
    for name, parameter in adapter.spec.parameters.items():
        value = adapter.config.get(name)
        if parameter.secret and value is not None:
            var = env_var_name(service, name)
            secret_vars[name], env_entries[var] = var, str(value)
            context[name] = secret_reference(var)
        else:  # any type: a mapping's keys and values are compose text too
            context[name] = compose_escape_all(value)
    return context, secret_vars, env_entries


def render_text(source: str, context: Mapping[str, Any], where: str, *, trusted: bool = False) -> str:
    """Render one template string; failures name ``where``."""
    try:
        return render(source, context, trusted=trusted)
    except TemplateError as exc:
        raise DbstackError(f"{where}: {exc}") from None


def _deep_merge(base: dict[str, Any], extra: Mapping[str, Any]) -> dict[str, Any]:
    merged = dict(base)
    for key, value in extra.items():
        if isinstance(value, Mapping) and isinstance(merged.get(key), dict):
            merged[key] = _deep_merge(merged[key], value)
        else:
            merged[key] = value
    return merged


def render_service(
    adapter: DatabaseAdapter,
    environment: str | DeployEnvironment = "development",
    *,
    name: str | None = None,
    tls_dir: Path | None = None,
    image_digest: str | None = None,
    published_ports: Mapping[str, int] | None = None,
) -> ComposeService:
    """Render ``adapter``'s compose service for ``environment``.

    ``name`` is the service name (default: the database id); ``tls_dir`` holds
    server.crt, server.key and ca.crt to switch on server TLS; ``image_digest``
    pins the image by digest (overriding the catalog's); ``published_ports`` maps
    port names to host ports where the environment publishes them (default: the
    port parameter's value).
    """
    spec = adapter.spec
    container = spec.container
    if container is None:
        raise DbstackError(f"{spec.id} is embedded: it runs inside the application and has no container")
    env = load_environment(environment) if isinstance(environment, str) else environment
    if container.environments is not None and env.name not in container.environments:
        raise DbstackError(
            f"{spec.id}: the catalog allows this image only in {', '.join(container.environments)}, "
            f"not in {env.name} (see its limitations: dbstack catalog show {spec.id})"
        )
    service_name = name or spec.id
    origin = str(spec.file)

    if any(p.secret and adapter.config.get(n) is None for n, p in spec.parameters.items()):
        adapter = resolve_secrets(adapter, service_name).adapter  # a direct caller's adapter: generate what it lacks
    for param_name, parameter in spec.parameters.items():
        value = adapter.config.get(param_name)
        if (
            parameter.container_pattern
            and isinstance(value, str)
            and not _fullmatch(parameter.container_pattern, value)
        ):
            raise DbstackError(
                f"{spec.id}: parameter {param_name!r} cannot be used in the {container.image} container: "
                f"it must match {parameter.container_pattern} ({parameter.description})"
            )
    context, secret_vars, env_entries = compose_context(adapter, service_name)
    context["container_port"] = container.main_port.container

    def each(sources: Any, where: str) -> list[str]:
        """Render a list of argument templates; an argument that renders empty is left out."""
        rendered = (render_text(s, context, f"{origin}: {where}") for s in sources)
        return [arg for arg in rendered if arg]

    container_environment = {
        var: render_text(source, context, f"{origin}: container.environment.{var}")
        for var, source in container.environment.items()
    }
    command = each(container.command, "container.command")
    volumes: list[dict[str, Any]] = [{"type": "volume", "source": f"{service_name}-data", "target": container.data_dir}]
    tls_mode = adapter.config.get("tls", "disable")
    if (tls_dir is None) != (tls_mode == "disable"):
        raise DbstackError(
            f"{spec.id}: server TLS needs both a tls mode other than disable and a certificate folder "
            f"(tls={tls_mode}, certificates: {tls_dir or 'none'})"
        )
    if tls_dir is not None:
        if container.tls is None or not spec.capabilities.tls:
            raise DbstackError(f"{spec.id}: the catalog says nothing about server TLS for this image")
        missing = [f for f in _tls_files(container) if not (tls_dir / f).is_file()]
        if missing:
            raise DbstackError(f"{tls_dir}: missing certificate file(s): {', '.join(missing)}")
        command += each(container.tls.command, "container.tls.command")
        for var, source in container.tls.environment.items():
            container_environment[var] = render_text(source, context, f"{origin}: container.tls.environment.{var}")
        volumes.append(
            {
                "type": "bind",
                "source": compose_escape(str(tls_dir.resolve())),  # the folder's name, not a variable
                "target": container.tls.certificate_dir,
                "read_only": True,
            }
        )
    ports = []
    if env.publish_ports == "loopback":
        for port in container.ports:
            published = (published_ports or {}).get(port.name)
            if published is None:
                published = adapter.config.get(port.parameter) if port.parameter else port.container
            ports.append(
                {
                    "target": port.container,
                    "published": str(published),
                    "host_ip": "127.0.0.1",
                    "protocol": port.protocol,
                }
            )

    service = service_from_template(
        env,
        image=container.pinned_to(image_digest) if image_digest else container.image_ref,
        command=command,
        user=container.user,
        environment=container_environment,
        ports=ports,
        volumes=volumes,
        healthcheck=container.healthcheck,
        healthcheck_test=each(container.healthcheck.test, "container.healthcheck.test"),
        capabilities=container.capabilities,
    )
    if container.compose_fragment:
        service = _deep_merge(service, _fragment(container.compose_fragment, context, origin))
    # Catalog text is compose text: a ${VAR} it wrote itself would read any value of the stack's
    # shared .env (another service's secret). Only the service's own secret references may remain.
    refuse_foreign_references(service, {secret_reference(v) for v in secret_vars.values()}, origin)
    return ComposeService(
        name=service_name,
        service=service,
        volumes={f"{service_name}-data": {}},
        env_entries=env_entries,
        secret_vars=secret_vars,
    )


def service_from_template(
    env: DeployEnvironment,
    *,
    image: str,
    healthcheck: Healthcheck,
    healthcheck_test: list[str],
    capabilities: Sequence[str],
    environment: Mapping[str, str],
    command: Sequence[str] = (),
    user: str | None = None,
    ports: Sequence[Mapping[str, Any]] = (),
    volumes: Sequence[Mapping[str, Any]] = (),
    depends_on: Sequence[str] = (),
    env_file: str | None = None,
) -> dict[str, Any]:
    """Render templates/service.yaml.j2 for one service and parse it back into data."""
    context = {
        "image": image,
        "command": list(command),
        "user": user,
        "environment": env.as_context(),
        "env_file": env_file,
        "service_environment": dict(environment),
        "ports": list(ports),
        "volumes": list(volumes),
        "depends_on": list(depends_on),
        "healthcheck": {
            "test": healthcheck_test,
            "interval": healthcheck.interval,
            "timeout": healthcheck.timeout,
            "retries": healthcheck.retries,
            "start_period": healthcheck.start_period,
        },
        "capabilities": list(capabilities),
    }
    rendered = render_text(_service_template(), context, str(SERVICE_TEMPLATE), trusted=True)
    try:
        service: dict[str, Any] = parse_text(_join_surrogate_pairs(rendered)).data
    except YamlSourceError as exc:  # a value the JSON -> YAML round trip cannot carry: refuse, never crash
        raise DbstackError(f"{SERVICE_TEMPLATE}: a value cannot be written into compose.yaml: {exc}") from None
    return service


# tojson writes a character outside the BMP (an emoji) as a UTF-16 surrogate pair, \ud83d\ude00: valid JSON,
# but YAML reads each half as a character of its own and refuses. An odd run of backslashes before the
# pair means the escape is real (an even run is escaped backslashes followed by the letters "ud83d").
_SURROGATE_PAIR = re.compile(r"(?<!\\)((?:\\\\)*)\\u(d[89ab][0-9a-f]{2})\\u(d[c-f][0-9a-f]{2})", re.IGNORECASE)


def _join_surrogate_pairs(rendered: str) -> str:
    def joined(match: re.Match[str]) -> str:
        high, low = int(match.group(2), 16), int(match.group(3), 16)
        return f"{match.group(1)}\\U{0x10000 + ((high - 0xD800) << 10) + (low - 0xDC00):08x}"

    return _SURROGATE_PAIR.sub(joined, rendered)


def render_template(name: str, context: Mapping[str, Any]) -> str:
    """One of dbstack's own text templates (render/templates: the stack README, settings files), rendered by the
    trusted renderer. Every value in ``context`` is already made safe for its sink by loader.text, render.dotenv
    or tojson."""
    path = TEMPLATES / name
    return render_text(template_source(path), context, str(path), trusted=True) + "\n"


@lru_cache(maxsize=1)
def _service_template() -> str:
    return template_source(SERVICE_TEMPLATE)


def refuse_foreign_references(value: object, own: frozenset[str] | set[str], where: str) -> None:
    """DbstackError naming ``where`` if ``value`` would interpolate anything but its ``own`` references."""
    problem = foreign_reference_problem(value, own)
    if problem:
        raise DbstackError(f"{where}: {problem}")


def _tls_files(container: Container) -> list[str]:
    """Certificate files the server needs: the standard three plus any other the catalog's TLS text names."""
    assert container.tls is not None
    prefix = re.escape(container.tls.certificate_dir.rstrip("/")) + r"/([A-Za-z0-9._-]+)"
    texts = (*container.tls.command, *container.tls.environment.values(), *container.healthcheck.test)
    used = {name for text in texts for name in re.findall(prefix, text)}
    return sorted(set(TLS_FILES) | used)


def _fragment(source: str, context: Mapping[str, Any], origin: str) -> dict[str, Any]:
    fragment = read_fragment(render_text(source, context, f"{origin}: container.compose_fragment"))
    if fragment.problem or fragment.data is None:
        raise DbstackError(f"{origin}: container.compose_fragment {fragment.problem}")
    return fragment.data
