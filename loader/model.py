"""Immutable objects built from validated catalog data: one generic class per concept, none per database."""

from __future__ import annotations

import copy
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from types import MappingProxyType
from typing import Any

CAPABILITY_NAMES = (
    "transactions",
    "json_documents",
    "full_text_search",
    "vector_search",
    "replication",
    "tls",
    "embedded",
)
ROLE_NAMES = ("primary_store", "vector_store", "cache", "session_store", "full_text_search", "analytics")
FIT_SCORES = {"excellent": 3, "good": 2, "fair": 1}


def frozen_map(data: Mapping[str, Any]) -> Mapping[str, Any]:
    return MappingProxyType(dict(data))


@dataclass(frozen=True)
class Generate:
    """How a secret parameter's value is generated: length and alphabet."""

    length: int
    alphabet: str


@dataclass(frozen=True)
class Parameter:
    """One parameter of a database: its type, default and constraints."""

    name: str
    type: str
    description: str
    default: Any
    has_default: bool
    required: bool
    secret: bool
    enum: tuple[Any, ...] | None
    minimum: float | None
    maximum: float | None
    container_pattern: str | None
    required_when: Mapping[str, tuple[Any, ...]]
    generate: Generate | None

    @classmethod
    def from_data(cls, name: str, data: Mapping[str, Any]) -> Parameter:
        default = data.get("default")
        return cls(
            name=name,
            type=data["type"],
            description=data["description"],
            default=frozen_map(default) if isinstance(default, dict) else default,
            has_default="default" in data,
            required=bool(data.get("required", False)),
            secret=bool(data.get("secret", False)),
            enum=tuple(data["enum"]) if "enum" in data else None,
            minimum=data.get("minimum"),
            maximum=data.get("maximum"),
            container_pattern=data.get("container_pattern"),
            required_when=frozen_map({k: tuple(v) for k, v in data.get("required_when", {}).items()}),
            generate=Generate(**data["generate"]) if "generate" in data else None,
        )


@dataclass(frozen=True)
class VectorSearch:
    """How a database searches vectors, and its limits."""

    support: str
    extension: str | None = None
    max_dimensions: int | str | None = None  # an int, or 'unpublished' when the docs give no limit
    distance_metrics: tuple[str, ...] = ()
    index_types: tuple[str, ...] = ()


@dataclass(frozen=True)
class Capabilities:
    """What a database can do (catalog ``capabilities``)."""

    transactions: bool
    json_documents: bool
    full_text_search: bool
    vector_search: VectorSearch
    replication: bool
    tls: bool
    embedded: bool

    @classmethod
    def from_data(cls, data: Mapping[str, Any]) -> Capabilities:
        vector = data["vector_search"]
        return cls(
            **{name: data[name] for name in CAPABILITY_NAMES if name != "vector_search"},
            vector_search=VectorSearch(
                support=vector["support"],
                extension=vector.get("extension"),
                max_dimensions=vector.get("max_dimensions"),
                distance_metrics=tuple(vector.get("distance_metrics", ())),
                index_types=tuple(vector.get("index_types", ())),
            ),
        )

    def has(self, name: str) -> bool:
        """Whether the capability is present; vector_search counts when native or by extension."""
        if name == "vector_search":
            return self.vector_search.support != "none"
        return bool(getattr(self, name))


@dataclass(frozen=True)
class ConnectionForm:
    """One connection-string form: the template a client's URL or DSN is rendered from."""

    name: str
    description: str
    client: str | None
    template: str
    accepts: Mapping[str, FormAccepts] = field(default_factory=dict)  # parameter -> what the client can carry


@dataclass(frozen=True)
class FormAccepts:
    """What a form's client can carry in one parameter (an RE2 pattern), and why."""

    pattern: str  # RE2, over the whole value
    why: str


@dataclass(frozen=True)
class Pool:
    """Connection-pool settings, and whether they go into the URI."""

    in_uri: bool
    settings: Mapping[str, str]


@dataclass(frozen=True)
class Port:
    """One port the database's container listens on."""

    name: str
    container: int
    protocol: str
    parameter: str | None


@dataclass(frozen=True)
class Healthcheck:
    """A container's healthcheck, as compose writes it."""

    test: tuple[str, ...]
    interval: str
    timeout: str
    retries: int
    start_period: str
    credentials_from: tuple[str, ...] = ()  # environment variables the test's client reads (a secret each)

    @classmethod
    def from_data(cls, data: Mapping[str, Any]) -> Healthcheck:
        return cls(**{**data, "test": tuple(data["test"]), "credentials_from": tuple(data.get("credentials_from", ()))})


@dataclass(frozen=True)
class ContainerTLS:
    """How the container serves TLS: where the certificates go, and the command and environment."""

    certificate_dir: str
    command: tuple[str, ...]
    environment: Mapping[str, str]


@dataclass(frozen=True)
class KubernetesFacts:
    """What Kubernetes output needs to know about the image beyond compose (all optional, all sourced)."""

    run_as_user: int | None = None
    run_as_group: int | None = None
    fs_group: int | None = None
    read_only_root_filesystem: bool = False
    writable_paths: tuple[str, ...] = ()

    @classmethod
    def from_data(cls, data: Mapping[str, Any]) -> KubernetesFacts:
        return cls(**{**data, "writable_paths": tuple(data.get("writable_paths", ()))})


# What a catalog's compose_fragment may set (render/compose.py merges it; loader/validation.py checks it as
# rendered). Everything that widens a container's privileges or reaches the host (privileged, cap_add, devices,
# bind mounts, host namespaces) is not here.
FRAGMENT_KEYS = frozenset(
    {
        "command",
        "entrypoint",
        "environment",
        "expose",
        "init",
        "labels",
        "shm_size",
        "stop_grace_period",
        "stop_signal",
        "sysctls",
        "tmpfs",
        "ulimits",
        "user",
        "working_dir",
    }
)


@dataclass(frozen=True)
class Fragment:
    """A rendered compose_fragment as read: its data if it reads as a mapping, and why a service may not take it."""

    data: dict[str, Any] | None
    problem: str | None


def read_fragment(text: str) -> Fragment:
    """The one reading of a rendered compose_fragment: the service's rendering merges it (render/compose.py) and
    the rendered checks report what it would refuse."""
    from .yaml_source import EmptyDocument, YamlSourceError, parse_text

    try:
        data = parse_text(text).data
    except EmptyDocument:  # nothing but spaces and comments
        return Fragment(None, "renders an empty text, not a mapping")
    except YamlSourceError as exc:
        where = f" (line {exc.line} of the rendered text)" if exc.line else ""
        return Fragment(None, f"renders invalid YAML{where}: {str(exc).removeprefix('invalid YAML: ')}")
    if not isinstance(data, dict):
        return Fragment(None, "must render a mapping")
    refused = sorted(set(data) - FRAGMENT_KEYS)
    if refused:
        return Fragment(data, f"may not set {', '.join(refused)}; allowed: {', '.join(sorted(FRAGMENT_KEYS))}")
    return Fragment(data, None)


@dataclass(frozen=True)
class Container:
    """The database's container image and how it runs (catalog ``container``)."""

    image: str
    tag: str
    digest: str | None
    ports: tuple[Port, ...]
    environment: Mapping[str, str]
    file_variants: Mapping[str, str]
    data_dir: str
    command: tuple[str, ...]
    user: str | None
    image_has: Mapping[str, bool]
    healthcheck: Healthcheck
    capabilities: tuple[str, ...]
    tls: ContainerTLS | None
    compose_fragment: str | None
    environments: tuple[str, ...] | None  # None: every environment
    single_node: str | None
    kubernetes: KubernetesFacts = field(default_factory=KubernetesFacts)
    # The image's group, when its entrypoint reads *_FILE only after dropping root (schema: file_variants_group).
    file_variants_group: int | None = None

    @classmethod
    def from_data(cls, data: Mapping[str, Any]) -> Container:
        tls = data.get("tls")
        return cls(
            image=data["image"],
            tag=data["tag"],
            digest=data.get("digest"),
            ports=tuple(
                Port(p["name"], p["container"], p.get("protocol", "tcp"), p.get("parameter")) for p in data["ports"]
            ),
            environment=frozen_map(data.get("environment", {})),
            file_variants=frozen_map(data.get("file_variants", {})),
            data_dir=data["data_dir"],
            command=tuple(data.get("command", ())),
            user=data.get("user"),
            image_has=frozen_map(data["image_has"]),
            healthcheck=Healthcheck.from_data(data["healthcheck"]),
            capabilities=tuple(data["capabilities"]),
            tls=ContainerTLS(
                tls["certificate_dir"], tuple(tls.get("command", ())), frozen_map(tls.get("environment", {}))
            )
            if tls
            else None,
            compose_fragment=data.get("compose_fragment"),
            environments=tuple(data["environments"]) if "environments" in data else None,
            single_node=data.get("single_node"),
            kubernetes=KubernetesFacts.from_data(data.get("kubernetes", {})),
            file_variants_group=data.get("file_variants_group"),
        )

    @property
    def image_ref(self) -> str:
        """``image:tag``, pinned by the catalog's digest when it gives one."""
        return self.pinned_to(self.digest)

    def pinned_to(self, digest: str | None) -> str:
        """``image:tag@digest`` (``image:tag`` for None)."""
        return f"{self.image}:{self.tag}@{digest}" if digest else f"{self.image}:{self.tag}"

    @property
    def main_port(self) -> Port:
        return self.ports[0]


@dataclass(frozen=True)
class RoleFit:
    """How well a database fits one role, and why."""

    fit: str
    why: str

    @property
    def score(self) -> int:
        return FIT_SCORES[self.fit]


@dataclass(frozen=True)
class Workload:
    """The roles a database fits, its operational weight, strengths and limitations."""

    roles: Mapping[str, RoleFit]
    operational_weight: str
    strengths: tuple[str, ...]
    limitations: tuple[str, ...]


@dataclass(frozen=True)
class Source:
    """A documentation page the entry's facts come from, and what it covers."""

    url: str
    covers: tuple[str, ...]


@dataclass(frozen=True)
class DatabaseSpec:
    """Everything the catalog says about one database."""

    id: str
    name: str
    aliases: tuple[str, ...]
    description: str
    category: str
    license: str
    homepage: str
    sources: tuple[Source, ...]
    protocols: tuple[str, ...]
    capabilities: Capabilities
    parameters: Mapping[str, Parameter]
    pool: Pool | None
    forms: Mapping[str, ConnectionForm]
    default_form: str
    container: Container | None
    workload: Workload
    replaces_builtin: bool
    file: Path
    _data: Mapping[str, Any] = field(repr=False)

    @classmethod
    def from_data(cls, data: Mapping[str, Any], file: Path) -> DatabaseSpec:
        """Build from a schema-valid entry (see validation.check_entry)."""
        strings = data["connection_strings"]
        pool = data.get("pool")
        workload = data["workload"]
        return cls(
            id=data["id"],
            name=data["name"],
            aliases=tuple(data.get("aliases", ())),
            description=data["description"],
            category=data["category"],
            license=data["license"],
            homepage=data["homepage"],
            sources=tuple(Source(s["url"], tuple(s["covers"])) for s in data["sources"]),
            protocols=tuple(data["protocols"]),
            capabilities=Capabilities.from_data(data["capabilities"]),
            parameters=frozen_map({n: Parameter.from_data(n, p) for n, p in data["parameters"].items()}),
            pool=Pool(pool["in_uri"], frozen_map(pool["settings"])) if pool else None,
            forms=frozen_map(
                {
                    n: ConnectionForm(
                        n,
                        f["description"],
                        f.get("client"),
                        f["template"],
                        frozen_map({k: FormAccepts(a["pattern"], a["why"]) for k, a in f.get("accepts", {}).items()}),
                    )
                    for n, f in strings["forms"].items()
                }
            ),
            default_form=strings["default"],
            container=Container.from_data(data["container"]) if "container" in data else None,
            workload=Workload(
                roles=frozen_map({r: RoleFit(v["fit"], v["why"]) for r, v in workload["roles"].items()}),
                operational_weight=workload["operational_weight"],
                strengths=tuple(workload["strengths"]),
                limitations=tuple(workload["limitations"]),
            ),
            replaces_builtin=bool(data.get("replaces_builtin", False)),
            file=file,
            _data=MappingProxyType(dict(data)),  # the loader's own copy; to_dict() hands out deep copies
        )

    def to_dict(self) -> dict[str, Any]:
        """The entry as plain data (a copy), as written in its file."""
        return copy.deepcopy(dict(self._data))

    def role_fit(self, role: str) -> RoleFit | None:
        return self.workload.roles.get(role)
