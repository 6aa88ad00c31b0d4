"""Kubernetes output: a kustomize folder rendered from the same data as the compose service.

A workload starts as the compose service ``render/compose.py`` renders for the same environment (one
definition of every variable, command and healthcheck feeds both targets); it is translated here into
the context of the templates in ``templates/k8s/`` (every value through ``tojson``), whose output is
parsed back into data and dumped. What differs between environments on a cluster (storage, resources,
disruption budget, replicas of stateless services) is the ``kubernetes`` block of the environment's data.

Public API (PART B reuses it for app workloads):

* :func:`database_workload` - a catalog database's compose service -> :class:`WorkloadSpec` (StatefulSet);
* :func:`app_workload` - any compose service (an app's) -> :class:`WorkloadSpec` (Deployment);
* :func:`render_tree` - workloads + environment + namespace -> :class:`KubernetesTree`, whose
  :meth:`KubernetesTree.files` are the folder's contents (manifests, ``kustomization.yaml`` and the
  secret env files kustomize's ``secretGenerator`` reads).

Text that crosses from compose to Kubernetes changes dialect: in a compose file ``$$`` is a literal
``$`` and ``${VAR:?...}`` the service's own secret; in a container's ``command``, ``args`` and ``env``
Kubernetes reads ``$$`` as a literal ``$`` too and ``$(VAR)`` as an earlier variable of the container,
so ``$$`` stays and the secret reference becomes ``$(VAR)`` with VAR taken from the Secret. Probes are
not expanded by Kubernetes: there ``$$`` becomes ``$`` (read by the probe's shell, as Compose did).
"""

from __future__ import annotations

import math
import re
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from functools import cache
from pathlib import Path
from typing import TYPE_CHECKING, Any

from dbstack.loader.environments import KubernetesEnvironment, load_kubernetes_environment
from dbstack.loader.errors import DbstackError
from dbstack.loader.model import KubernetesFacts
from dbstack.loader.resources import package_folder
from dbstack.loader.yaml_source import YamlSourceError, parse_text
from dbstack.render import KUSTOMIZATION_FILE
from dbstack.render.compiled import template_source

from .compose import (
    SECRET_FILE_DIR,
    ComposeService,
    _join_surrogate_pairs,
    dump_compose,
    file_secret_variables,
    render_text,
    secret_reference,
)

if TYPE_CHECKING:
    from dbstack.loader.model import DatabaseSpec

TEMPLATE_DIR = package_folder("render", "templates", "k8s")
CREDENTIALS_FILE_SUFFIX = "-credentials.env"  # a workload's secrets: NAME-credentials.env -> Secret NAME-credentials
# Where secrets read through an image's *_FILE variables are mounted (the path Docker uses for secrets).
SECRET_DIR = f"{SECRET_FILE_DIR}/dbstack"
MANAGED_BY = "dbstack"
# RFC 1123 label: what Kubernetes accepts as a namespace and Service name.
_DNS_LABEL = re.compile(r"[a-z0-9]([-a-z0-9]*[a-z0-9])?")
# A StatefulSet's pods carry controller-revision-hash NAME-<10 characters>, a label value of at most 63.
MAX_NAME = 52
RESERVED_NAMESPACES = frozenset({"default", "kube-system", "kube-public", "kube-node-lease"})
_LABEL_VALUE = re.compile(r"([A-Za-z0-9]([-A-Za-z0-9_.]{0,61}[A-Za-z0-9])?)?")
_PORT_NAME = re.compile(r"[a-z0-9]([-a-z0-9]{0,13}[a-z0-9])?")
_DURATION_PART = re.compile(r"([0-9]+)(ms|s|m|h)")
_SECONDS = {"ms": 0.001, "s": 1, "m": 60, "h": 3600}
_BYTE_SIZE = re.compile(r"([0-9]+)\s*(b|k|kb|m|mb|g|gb)?", re.IGNORECASE)
_BYTE_UNITS = {"b": 1, "k": 1024, "kb": 1024, "m": 1024**2, "mb": 1024**2, "g": 1024**3, "gb": 1024**3}
# Compose keys whose Kubernetes counterpart comes from elsewhere (environment data, the claim, the
# Service, the probes): the compose value is not carried over.
_COMPOSE_ONLY = frozenset(
    {
        "restart",
        "ports",
        "expose",
        "depends_on",
        "security_opt",
        "cap_drop",
        "mem_limit",
        "cpus",
        "pids_limit",
        "logging",
        "labels",
    }
)
_TRANSLATED = frozenset(
    {
        "env_file",
        "image",
        "command",
        "entrypoint",
        "environment",
        "healthcheck",
        "cap_add",
        "user",
        "volumes",
        "shm_size",
        "tmpfs",
        "stop_grace_period",
        "working_dir",
    }
)


@dataclass(frozen=True)
class PortSpec:
    """One port a workload's container listens on."""

    name: str  # a Kubernetes port name (IANA service name: at most 15 characters)
    container: int
    protocol: str  # TCP or UDP


@dataclass(frozen=True)
class WorkloadSpec:
    """One workload, in the shape both databases and apps share.

    ``service`` is the compose service rendered for the compose target; ``secrets`` maps each
    ``${VAR:?...}`` the service reads to its value (these become one Secret, never a manifest literal);
    ``data_dir`` makes the workload a StatefulSet with a volume claim mounted there (a Deployment without);
    ``clients`` are the labels of the pods the NetworkPolicy lets in (None: any source, on the workload's
    ports only: a front door an Ingress controller in another namespace reaches); ``pod_labels`` are added
    to the pods (the ``dbstack.dev/ID-client`` labels of what they connect to); ``env_from`` are ConfigMaps
    for the compose ``env_file``; ``claims`` maps a compose named volume to its PersistentVolumeClaim (a
    Deployment whose pods keep data on a ReadWriteOnce claim runs one replica, replaced not rolled);
    ``config_files`` maps a compose bind source (``./FILE``) to the ConfigMap and key mounted read-only there;
    ``data_claim`` names the StatefulSet's volume claim template (its claim is ``DATA_CLAIM-NAME-0``).
    """

    name: str
    app_name: str
    component: str
    version: str | None
    service: Mapping[str, Any]
    ports: tuple[PortSpec, ...]
    secrets: Mapping[str, str] = field(repr=False)
    clients: Mapping[str, str] | None
    data_dir: str | None = None
    pod_labels: Mapping[str, str] = field(default_factory=dict)
    env_from: tuple[str, ...] = ()
    claims: Mapping[str, str] = field(default_factory=dict)
    config_files: Mapping[str, tuple[str, str]] = field(default_factory=dict)
    # Read from the Secret but not in it yet (a key only the user has): the pod waits until it is there.
    absent_secrets: tuple[str, ...] = ()
    file_variants: Mapping[str, str] = field(default_factory=dict)
    read_by_name: frozenset[str] = frozenset()  # variables a client in the container reads itself
    facts: KubernetesFacts = field(default_factory=KubernetesFacts)
    where: str = ""
    data_claim: str = "data"


@dataclass(frozen=True)
class ConfigMapSpec:
    """A ConfigMap kustomize's configMapGenerator makes from a file of the folder: ``env`` reads it as
    KEY=VALUE lines (one key each), otherwise the whole file is one key named after it."""

    name: str
    file: str
    env: bool


@dataclass(frozen=True)
class IngressSpec:
    """An Ingress sending ``host`` to a Service's port; ``tls_secret`` names the Secret holding the
    certificate (filled by the user's cert-manager or by hand), None for plain HTTP."""

    name: str
    host: str
    service: str
    port: str
    tls_secret: str | None


@dataclass(frozen=True)
class KubernetesTree:
    """The kustomize folder: manifests (file -> resource), the kustomization, and secret env files."""

    namespace: str
    manifests: Mapping[str, Mapping[str, Any]]
    kustomization: Mapping[str, Any]
    secret_files: Mapping[str, Mapping[str, str]] = field(repr=False)  # file -> KEY -> value

    def files(self, header: str) -> dict[str, str]:
        """File name -> text; every file starts with ``header`` (a comment line kustomize ignores)."""
        texts = {KUSTOMIZATION_FILE: f"{header}\n{dump_compose(self.kustomization)}"}
        texts.update({name: f"{header}\n{dump_compose(doc)}" for name, doc in self.manifests.items()})
        for name, entries in self.secret_files.items():
            texts[name] = header + "\n" + "".join(f"{key}={value}\n" for key, value in entries.items())
        return texts


def validate_namespace(namespace: str, where: str = "--namespace") -> str:
    """A namespace dbstack may write into: an RFC 1123 label, never default nor a kube-* system one."""
    if len(namespace) > 63 or not _DNS_LABEL.fullmatch(namespace):
        raise DbstackError(
            f"{where}: {namespace!r} is not a Kubernetes namespace name (at most 63 lowercase letters, digits "
            "and '-', starting and ending with a letter or digit); give one with --namespace"
        )
    if namespace in RESERVED_NAMESPACES:
        raise DbstackError(f"{where}: {namespace!r} is reserved; give the stack a namespace of its own")
    return namespace


def database_workload(
    spec: DatabaseSpec, service: ComposeService, *, clients: Mapping[str, str] | None = None
) -> WorkloadSpec:
    """The workload of a catalog database, from the compose service rendered for it."""
    container = spec.container
    if container is None:
        raise DbstackError(f"{spec.id} is embedded: it runs inside the application and has no container")
    name = _resource_name(service.name, str(spec.file))
    return WorkloadSpec(
        name=name,
        app_name=spec.id,
        component="database",
        version=container.tag,
        service=service.service,
        ports=_ports(((p.name, p.container, p.protocol) for p in container.ports), str(spec.file)),
        secrets={var: service.env_entries[var] for var in service.secret_vars.values()},
        clients=dict(clients) if clients is not None else {f"{MANAGED_BY}.dev/{name}-client": "true"},
        data_dir=container.data_dir,
        file_variants=dict(container.file_variants),
        read_by_name=frozenset(container.healthcheck.credentials_from),
        facts=container.kubernetes,
        where=str(spec.file),
    )


def app_workload(
    name: str,
    service: Mapping[str, Any],
    *,
    ports: Iterable[tuple[str, int, str]],
    secrets: Mapping[str, str],
    clients: Mapping[str, str] | None,
    app_name: str | None = None,
    version: str | None = None,
    component: str = "app",
    facts: KubernetesFacts | None = None,
    pod_labels: Mapping[str, str] | None = None,
    env_from: Sequence[str] = (),
    claims: Mapping[str, str] | None = None,
    config_files: Mapping[str, tuple[str, str]] | None = None,
    absent_secrets: Sequence[str] = (),
) -> WorkloadSpec:
    """A stateless app service (a Deployment with a Service) from its compose service.

    ``ports`` are (name, container port, tcp|udp); ``secrets`` maps each variable the service reads
    as ``${VAR:?...}`` to its value; ``clients`` label the pods allowed to connect to it (None: any);
    the other keywords are :class:`WorkloadSpec`'s.
    """
    name = _resource_name(name, name)
    return WorkloadSpec(
        name=name,
        app_name=app_name or name,
        component=component,
        version=version,
        service=service,
        ports=_ports(ports, name),
        secrets=dict(secrets),
        clients=None if clients is None else dict(clients),
        facts=facts or KubernetesFacts(),
        where=name,
        pod_labels=dict(pod_labels or {}),
        env_from=tuple(env_from),
        claims=dict(claims or {}),
        config_files=dict(config_files or {}),
        absent_secrets=tuple(absent_secrets),
    )


def render_tree(
    workloads: Sequence[WorkloadSpec],
    environment: str | KubernetesEnvironment,
    *,
    namespace: str,
    part_of: str | None = None,
    config_maps: Sequence[ConfigMapSpec] = (),
    ingress: IngressSpec | None = None,
) -> KubernetesTree:
    """Render every workload into one kustomize folder for ``namespace``."""
    env = load_kubernetes_environment(environment) if isinstance(environment, str) else environment
    validate_namespace(namespace)
    part_of = part_of or namespace
    manifests: dict[str, dict[str, Any]] = {}
    secret_files: dict[str, dict[str, str]] = {}
    generators: list[dict[str, Any]] = []
    restricted = True
    for workload in workloads:
        rendered = _render_workload(workload, env, part_of)
        restricted &= rendered.restricted
        for name, doc in rendered.manifests.items():
            if name in manifests:
                raise DbstackError(f"{workload.where}: two workloads would write {name}")
            manifests[name] = doc
        if workload.secrets:
            env_file = f"{workload.name}{CREDENTIALS_FILE_SUFFIX}"
            secret_files[env_file] = {
                var: _env_file_value(var, value, workload.where) for var, value in workload.secrets.items()
            }
            generators.append({"name": _secret_name(workload), "env_file": env_file, "labels": rendered.labels})
    labels = {"app.kubernetes.io/part-of": part_of, "app.kubernetes.io/managed-by": MANAGED_BY}
    if ingress is not None:
        ingress_labels = {**labels, "app.kubernetes.io/name": ingress.name, "app.kubernetes.io/component": "ingress"}
        manifests[f"{ingress.name}-ingress.yaml"] = _template("ingress", {**vars(ingress), "labels": ingress_labels})
    maps = [
        {"name": c.name, "file": c.file, "env": c.env, "labels": {**labels, "app.kubernetes.io/name": c.name}}
        for c in config_maps
    ]
    # Pod Security admission: the namespace enforces the strictest standard every pod in it meets.
    level = "restricted" if restricted else "baseline"
    namespace_labels = {
        **labels,
        "app.kubernetes.io/name": namespace,
        "pod-security.kubernetes.io/enforce": level,
        "pod-security.kubernetes.io/warn": "restricted",
    }
    all_manifests = {"namespace.yaml": _template("namespace", {"name": namespace, "labels": namespace_labels})}
    all_manifests.update(manifests)
    kustomization = _template(
        "kustomization",
        {"namespace": namespace, "resources": list(all_manifests), "secrets": generators, "config_maps": maps},
    )
    return KubernetesTree(namespace, all_manifests, kustomization, secret_files)


@dataclass(frozen=True)
class _Rendered:
    """A workload's manifests by file name, its labels, and whether it fits the restricted Pod Security level."""

    manifests: dict[str, dict[str, Any]]
    labels: dict[str, str]
    restricted: bool


def _render_workload(workload: WorkloadSpec, env: KubernetesEnvironment, part_of: str) -> _Rendered:
    service, where, name = workload.service, workload.where, workload.name
    unknown = sorted(set(service) - _COMPOSE_ONLY - _TRANSLATED)
    if unknown:
        raise DbstackError(f"{where}: the compose service sets {', '.join(unknown)}, which has no Kubernetes form here")
    selector = {"app.kubernetes.io/name": workload.app_name, "app.kubernetes.io/instance": name}
    labels = {
        **selector,
        "app.kubernetes.io/component": workload.component,
        "app.kubernetes.io/part-of": part_of,
        "app.kubernetes.io/managed-by": MANAGED_BY,
    }
    if workload.version and _LABEL_VALUE.fullmatch(workload.version):
        labels["app.kubernetes.io/version"] = workload.version
    pod_labels = {**labels, **workload.pod_labels}
    secret_name = _secret_name(workload)
    references = {secret_reference(var): var for var in (*workload.secrets, *workload.absent_secrets)}
    env_entries, volumes, mounts = _environment(workload, references, secret_name)
    command = [_container_text(a, references, env_entries, where, secret_name) for a in service.get("entrypoint") or []]
    args = [_container_text(a, references, env_entries, where, secret_name) for a in service.get("command") or []]
    facts = workload.facts
    pod_security: dict[str, Any] = {"seccompProfile": {"type": "RuntimeDefault"}}
    user = _numeric_user(service.get("user"), where)
    run_as_user = facts.run_as_user if facts.run_as_user is not None else user[0]
    run_as_group = facts.run_as_group or facts.fs_group or user[1]
    if run_as_user is not None:
        pod_security.update(runAsNonRoot=True, runAsUser=run_as_user)
        if run_as_group is not None:
            pod_security["runAsGroup"] = run_as_group
    if facts.fs_group is not None:
        pod_security.update(fsGroup=facts.fs_group, fsGroupChangePolicy="OnRootMismatch")
    # Capabilities serve an entrypoint that starts as root to chown the data and switch user; started as
    # the server's own user, it does neither, so none is added back.
    capabilities = [] if run_as_user is not None else list(service.get("cap_add") or [])
    for path in facts.writable_paths:
        volume = f"writable-{len(volumes)}"
        volumes.append({"name": volume, "emptyDir": {}})
        mounts.append({"name": volume, "mountPath": path})
    for path in _tmpfs_paths(service.get("tmpfs")):
        volume = f"tmpfs-{len(volumes)}"
        volumes.append({"name": volume, "emptyDir": {"medium": "Memory"}})
        mounts.append({"name": volume, "mountPath": path})
    if service.get("shm_size") is not None:
        volumes.append(
            {"name": "shm", "emptyDir": {"medium": "Memory", "sizeLimit": _byte_size(service["shm_size"], where)}}
        )
        mounts.append({"name": "shm", "mountPath": "/dev/shm"})
    claim = None
    claims: dict[str, str] = {}  # claim name -> mount path (a Deployment's own PersistentVolumeClaims)
    for volume in service.get("volumes") or []:
        kind, source, target = volume.get("type"), volume.get("source"), volume.get("target")
        if workload.data_dir is not None and kind == "volume" and target == workload.data_dir:
            claim_name = _resource_name(workload.data_claim, where)
            claim = {"name": claim_name, "size": env.storage_size, "storage_class": env.storage_class}
            mounts.append({"name": claim_name, "mountPath": workload.data_dir})
        elif kind == "volume" and source in workload.claims:
            claim_name = _resource_name(workload.claims[source], where)
            claims[claim_name] = target
            volumes.append({"name": claim_name, "persistentVolumeClaim": {"claimName": claim_name}})
            mounts.append({"name": claim_name, "mountPath": target})
        elif kind == "bind" and source in workload.config_files and volume.get("read_only"):
            config_map, key = workload.config_files[source]
            volume_name = f"config-{len(volumes)}"
            volumes.append(
                {"name": volume_name, "configMap": {"name": config_map, "items": [{"key": key, "path": key}]}}
            )
            mounts.append({"name": volume_name, "mountPath": target, "subPath": key, "readOnly": True})
        else:
            raise DbstackError(f"{where}: volume {target!r} has no Kubernetes form here")
    env_files = service.get("env_file")
    if env_files and len(_env_file_names(env_files)) != len(workload.env_from):
        raise DbstackError(f"{where}: env_file {', '.join(_env_file_names(env_files))} has no ConfigMap to come from")
    if workload.data_dir is not None and claim is None:
        raise DbstackError(f"{where}: the compose service mounts nothing at the data directory {workload.data_dir}")
    stateful = workload.data_dir is not None
    # ReadWriteOnce claims attach to one node: a Deployment holding data runs one pod, replaced not rolled.
    replicas = 1 if stateful or claims else env.app_replicas
    context = {
        "kind": "StatefulSet" if stateful else "Deployment",
        "name": name,
        "headless_service": f"{name}-headless",
        "labels": labels,
        "pod_labels": pod_labels,
        "selector": selector,
        "replicas": replicas,
        "recreate": bool(claims),
        "pod_security": pod_security,
        "termination_grace_period": _seconds(service["stop_grace_period"]) if "stop_grace_period" in service else None,
        "anti_affinity": env.anti_affinity and replicas > 1,
        "container_name": workload.app_name if _DNS_LABEL.fullmatch(workload.app_name) else name,
        "image": service["image"],
        # A tag can be moved on the registry; a digest cannot: re-pull only what is not pinned.
        "image_pull_policy": "IfNotPresent" if "@sha256:" in service["image"] else "Always",
        "command": command,
        "args": args,
        "working_dir": service.get("working_dir"),
        "env": env_entries,
        "env_from": list(workload.env_from),
        "ports": [vars(p) for p in workload.ports],
        "probe": _probe(service.get("healthcheck"), where),
        "resources": {kind: dict(values) for kind, values in env.resources.items()},
        "read_only_root_filesystem": facts.read_only_root_filesystem,
        "capabilities": capabilities,
        "volume_mounts": mounts,
        "volumes": volumes,
        "volume_claim": claim,
    }
    context["annotations"] = _scanner_skips(workload, run_as_user, capabilities)
    kind = "statefulset" if stateful else "deployment"
    manifests = {f"{name}-{kind}.yaml": _template("workload", context)}
    for claim_name in claims:
        manifests[f"{claim_name}-persistentvolumeclaim.yaml"] = _template(
            "persistentvolumeclaim",
            {
                "name": claim_name,
                "labels": labels,
                "size": env.app_storage_size,
                "storage_class": env.storage_class,
            },
        )
    service_context = {"labels": labels, "selector": selector, "ports": context["ports"]}
    manifests[f"{name}-service.yaml"] = _template("service", {**service_context, "name": name, "headless": False})
    if stateful:
        manifests[f"{name}-headless-service.yaml"] = _template(
            "service", {**service_context, "name": f"{name}-headless", "headless": True}
        )
    manifests[f"{name}-networkpolicy.yaml"] = _template(
        "networkpolicy",
        {
            **service_context,
            "name": name,
            "client_labels": None if workload.clients is None else dict(workload.clients),
        },
    )
    budget = _min_available(env, replicas)
    if budget is not None:
        manifests[f"{name}-poddisruptionbudget.yaml"] = _template(
            "poddisruptionbudget", {"name": name, "labels": labels, "selector": selector, "min_available": budget}
        )
    restricted = run_as_user is not None and set(capabilities) <= {"NET_BIND_SERVICE"}
    return _Rendered(manifests, labels, restricted)


def _scanner_skips(workload: WorkloadSpec, run_as_user: int | None, capabilities: Sequence[str]) -> dict[str, str]:
    """checkov's per-resource skips (``checkov.io/skipN: CHECK=reason``) for what this workload's data lacks.

    Only a workload without the sourced facts gets them, each with its reason, so a new entry that starts as
    root, adds capabilities or writes its root filesystem shows up in its own manifest, not in a global list.
    """
    where = f"no sourced container.kubernetes facts for {workload.app_name}"
    skips: list[tuple[str, str]] = []
    if run_as_user is None:
        skips.append(("CKV_K8S_23", f"{where}: starts as the image's default user (root)"))
    if capabilities:
        added = " ".join(capabilities)
        skips.append(("CKV_K8S_25", f"the entrypoint starts as root and needs {added} to chown and switch user"))
    if not workload.facts.read_only_root_filesystem:
        skips.append(("CKV_K8S_22", f"{where}: the paths the image writes outside its data are not sourced"))
    if run_as_user is None or run_as_user < 10000:
        # The image's server user has a fixed low uid owning its files; a uid it does not know breaks it.
        user = "the image's default user" if run_as_user is None else f"uid {run_as_user}, the image's own user"
        skips.append(("CKV_K8S_40", f"runs as {user}, which owns its files"))
    # checkov splits the value at '=': a reason must not hold one.
    return {f"checkov.io/skip{n}": f"{check}={reason.replace('=', ' ')}" for n, (check, reason) in enumerate(skips, 1)}


def _min_available(env: KubernetesEnvironment, replicas: int) -> int | None:
    """The disruption budget of a workload with ``replicas`` pods, None for none.

    A budget only helps where another replica keeps serving while one is evicted: with one replica (every
    database, an app Deployment on ReadWriteOnce claims) ``minAvailable: 1`` would make every node drain
    wait forever. At least one pod may always be evicted, whatever the environment asks for.
    """
    if env.min_available is None or replicas < 2:
        return None
    return min(env.min_available, replicas - 1)


def _environment(
    workload: WorkloadSpec, references: Mapping[str, str], secret_name: str
) -> tuple[list[dict[str, Any]], list[dict[str, Any]], list[dict[str, Any]]]:
    """The container's env list, and the secret volume when an image reads secrets from files.

    A variable whose whole value is a secret reference is read from the Secret: as a file through the
    image's ``*_FILE`` variant where it has one and nothing in the container reads the variable by name
    (a shell in the healthcheck or command, or a client such as redis-cli); as an env value otherwise.
    Secrets inside longer text get a variable of their own, first in the list, for ``$(VAR)``.
    """
    service, where = workload.service, workload.where
    environment: Mapping[str, str] = service.get("environment") or {}
    as_files = file_secret_variables(service, workload.file_variants, tuple(workload.read_by_name))
    entries: list[dict[str, Any]] = []
    files: list[str] = []
    for var, value in environment.items():
        secret_var = references.get(value)
        if secret_var is None:
            entries.append({"name": var, "value": value})  # converted below, once helpers are known
            continue
        if var in as_files:
            file_var = as_files[var][0]
            files.append(secret_var)
            entries.append({"name": file_var, "value": f"{SECRET_DIR}/{secret_var}"})
        else:
            entries.append({"name": var, "valueFrom": {"secretKeyRef": {"name": secret_name, "key": secret_var}}})
    helpers: list[dict[str, Any]] = []
    defined = {e["name"] for e in entries}
    for entry in entries:
        if "value" in entry:
            entry["value"] = _container_text(entry["value"], references, helpers, where, secret_name, defined)
    volumes: list[dict[str, Any]] = []
    mounts: list[dict[str, Any]] = []
    if files:
        mode = 0o440 if workload.facts.fs_group is not None else 0o400
        volumes.append(
            {
                "name": "secrets",
                "secret": {
                    "secretName": secret_name,
                    "defaultMode": mode,
                    "items": [{"key": var, "path": var} for var in files],
                },
            }
        )
        mounts.append({"name": "secrets", "mountPath": SECRET_DIR, "readOnly": True})
    return helpers + entries, volumes, mounts


def _container_text(
    value: str,
    references: Mapping[str, str],
    helpers: list[dict[str, Any]],
    where: str,
    secret_name: str,
    defined: Iterable[str] = (),
) -> str:
    """Compose text -> the same text for a container's command, args or env value (see the module doc).

    A secret reference becomes ``$(VAR)``, and VAR is added to ``helpers`` (read from the Secret) unless
    already there; a name the container's environment uses for something else is refused.
    """
    out: list[str] = []
    at = 0
    while (found := value.find("$", at)) >= 0:
        out.append(value[at:found])
        if value.startswith("$$", found):
            out.append("$$")
            at = found + 2
            continue
        reference = next((r for r in references if value.startswith(r, found)), None)
        if reference is None:  # compose.refuse_foreign_references let nothing else through
            raise DbstackError(f"{where}: a '$' that is neither $$ nor the service's own secret cannot be carried over")
        var = references[reference]
        if var in set(defined):
            raise DbstackError(f"{where}: {var} is both a container variable and a secret of the service")
        if not any(h["name"] == var for h in helpers):
            helpers.append({"name": var, "valueFrom": {"secretKeyRef": {"name": secret_name, "key": var}}})
        out.append(f"$({var})")
        at = found + len(reference)
    out.append(value[at:])
    return "".join(out)


def _probe(healthcheck: Mapping[str, Any] | None, where: str) -> dict[str, Any] | None:
    """Exec probes from the compose healthcheck: CMD runs the program itself, CMD-SHELL runs ``sh -c``."""
    if not healthcheck:
        return None
    test = list(healthcheck["test"])
    for part in test:
        if re.search(r"\$(?!\$)", part.replace("$$", "")):
            raise DbstackError(f"{where}: the healthcheck reads a compose variable; a probe cannot")
    test = [part.replace("$$", "$") for part in test]  # probes are not expanded by Kubernetes
    if test[0] == "CMD-SHELL":
        command = ["sh", "-c", test[1]]
    elif test[0] == "CMD":
        command = test[1:]
    else:
        raise DbstackError(f"{where}: healthcheck test {test[0]!r} has no Kubernetes probe form")
    period = _seconds(healthcheck["interval"])
    retries = int(healthcheck["retries"])
    start = _seconds(healthcheck["start_period"])
    return {
        "command": command,
        "period": period,
        "timeout": _seconds(healthcheck["timeout"]),
        "failure_threshold": retries,
        # Compose ignores failures during start_period, then allows `retries` more.
        "startup_failure_threshold": math.ceil(start / period) + retries,
    }


def _seconds(duration: str) -> int:
    """A compose duration (``1m30s``) in whole seconds, at least 1 (probe fields count seconds)."""
    total = sum(int(n) * _SECONDS[unit] for n, unit in _DURATION_PART.findall(str(duration)))
    return max(1, math.ceil(total))


def _byte_size(value: Any, where: str) -> str:
    match = _BYTE_SIZE.fullmatch(str(value).strip())
    if not match:
        raise DbstackError(f"{where}: size {value!r} is not a compose byte size")
    return str(int(match.group(1)) * _BYTE_UNITS[(match.group(2) or "b").lower()])


def _env_file_names(env_file: Any) -> list[str]:
    items = [env_file] if isinstance(env_file, (str, dict)) else list(env_file)
    return [str(item["path"] if isinstance(item, dict) else item) for item in items]


def _tmpfs_paths(tmpfs: Any) -> list[str]:
    if not tmpfs:
        return []
    items = [tmpfs] if isinstance(tmpfs, str) else list(tmpfs)
    return [str(item).split(":", 1)[0] for item in items]


def _numeric_user(user: Any, where: str) -> tuple[int | None, int | None]:
    if user is None:
        return None, None
    match = re.fullmatch(r"([0-9]+)(?::([0-9]+))?", str(user))
    if not match:
        raise DbstackError(f"{where}: user {user!r}: Kubernetes needs a numeric user (uid or uid:gid)")
    return int(match.group(1)), int(match.group(2)) if match.group(2) else None


def _ports(ports: Iterable[tuple[str, int, str]], where: str) -> tuple[PortSpec, ...]:
    specs = []
    for name, container, protocol in ports:
        port_name = name.lower().replace("_", "-")[:15].strip("-")
        if not _PORT_NAME.fullmatch(port_name) or not re.search("[a-z]", port_name):
            port_name = f"port-{container}"
        specs.append(PortSpec(port_name, int(container), protocol.upper()))
    if len({p.name for p in specs}) != len(specs):
        raise DbstackError(f"{where}: two ports would get the same Kubernetes port name")
    return tuple(specs)


def _resource_name(name: str, where: str) -> str:
    if len(name) > MAX_NAME or not _DNS_LABEL.fullmatch(name):
        raise DbstackError(
            f"{where}: {name!r} cannot name Kubernetes resources (at most {MAX_NAME} lowercase letters, digits and '-')"
        )
    return name


def _secret_name(workload: WorkloadSpec) -> str:
    return f"{workload.name}-credentials"


def kustomize_env(text: str) -> dict[str, str]:
    """An env file as kustomize's generators read it (sigs.k8s.io/kustomize api/kv, checked with kubectl
    kustomize v5.5.0): a BOM dropped from the first line, leading whitespace and a trailing CR dropped, blank
    and ``#`` lines skipped, then KEY is everything before the first '=' and the value the rest, exactly
    (no quotes removed, no escapes, no ``${...}``); a line with no '=' gives an empty value."""
    pairs: dict[str, str] = {}
    for number, raw in enumerate(text.split("\n")):
        line = raw.removeprefix("\ufeff") if number == 0 else raw
        line = line.removesuffix("\r").lstrip()
        if not line or line.startswith("#"):
            continue
        key, _, value = line.partition("=")
        pairs[key] = value
    return pairs


def _env_file_value(var: str, value: str, where: str) -> str:
    """A value as kustomize's env file reader takes it: the rest of the line, exactly (no quotes, no escapes)."""
    if "\n" in value or "\r" in value:
        raise DbstackError(
            f"{where}: {var} holds a line break, which a kustomize env file cannot carry; choose another value"
        )
    return value


def _template(name: str, context: Mapping[str, Any]) -> dict[str, Any]:
    """Render templates/k8s/NAME.yaml.j2 and parse it back into data."""
    path = TEMPLATE_DIR / f"{name}.yaml.j2"
    rendered = render_text(_template_source(path), context, str(path), trusted=True)
    try:
        data: dict[str, Any] = parse_text(_join_surrogate_pairs(rendered)).data
    except YamlSourceError as exc:  # a value the JSON -> YAML round trip cannot carry: refuse, never crash
        raise DbstackError(f"{path}: a value cannot be written into a manifest: {exc}") from None
    return data


@cache
def _template_source(path: Path) -> str:
    return template_source(path)
