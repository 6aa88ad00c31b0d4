"""A built app stack written as a kustomize folder (``dbstack generate --target kubernetes``).

The input is the :class:`~dbstack.stack_generator.Stack` that ``compose.yaml`` is written from: the same
build, so every variable, secret reference and setting of every service is wired once (in
``StackGenerator.build``) and only translated here, by ``render/kubernetes.py``:

* each database of the plan: its catalog workload (StatefulSet, Services, NetworkPolicy), as
  ``dbstack compose ID --target kubernetes`` writes it;
* each app service: a Deployment and a Service (``app_workload``); its compose ``env_file`` (the user's
  settings file, written once) becomes a ConfigMap the pods read with ``envFrom`` (compose's
  ``environment`` wins over the file, as ``env`` wins over ``envFrom``), the config file's read-only bind
  mount a ConfigMap mounted read-only at the same path, its named volumes PersistentVolumeClaims;
* the pods of an app service carry ``dbstack.dev/NAME-client: "true"`` for each database and app
  service it reaches, which is all those services' NetworkPolicies let in; the front door (the service
  with a published port) takes connections from anywhere on its port, for the Ingress controller;
* an Ingress when the domain is a DNS name (TLS from a Secret the user's cert-manager fills, for https).

Secrets: one env file per workload, ``NAME-credentials.env`` (mode 0600, first line dbstack's marker so
``write_folder`` refuses a file of that name it did not write), read by kustomize's ``secretGenerator``;
the values are those of ``.env``, merged exactly as for compose, so a regeneration keeps them.
"""

from __future__ import annotations

import json
import re
from collections.abc import Mapping, Sequence
from dataclasses import replace
from pathlib import Path
from typing import TYPE_CHECKING, Any
from urllib.parse import urlsplit

from dbstack.loader import DbstackError, text
from dbstack.loader.yaml_source import YamlSourceError, parse_text
from dbstack.render import KUSTOMIZATION_FILE, dotenv, kubernetes
from dbstack.render.compose import render_template
from dbstack.render.digests import LOCK_FILE, load_lock, pin_images
from dbstack.render.files import read_regular

from .output import (
    ENV_FILE,
    MARKER,
    README_FILE,
    README_MARKER,
    OutputFile,
    StaleFile,
    WriteReport,
    recorded_names,
    write_folder,
)
from .stack_generator import USER_PROVIDED, is_ip, loopback_address, unnamed_data_refusal, written_once_notes

if TYPE_CHECKING:
    from dbstack.loader.apps import FirstStart

    from .stack_generator import Stack

OWNER = f"{MARKER} Kubernetes stack:"
_DNS_LABEL_CHARS = re.compile(r"[^a-z0-9-]+")


def resource_name(service: str) -> str:
    """A compose service name as a Kubernetes resource and DNS name (``rag_api`` -> ``rag-api``)."""
    return _DNS_LABEL_CHARS.sub("-", service.lower()).strip("-")


def config_map_name(file: str) -> str:
    """The ConfigMap a settings file becomes (``librechat.env`` -> ``librechat-env``)."""
    return resource_name(file)


def kubernetes_tree(
    stack: Stack, folder: Path, namespace: str | None, env: Mapping[str, str], new_project: bool = False
) -> tuple[kubernetes.KubernetesTree, list[str]]:
    """The stack's kustomize tree and the notes to print; ``env`` is the folder's .env (values kept)."""
    plan, choices = stack.plan, stack.first_start
    namespace = stack_namespace(stack, folder, namespace, new_project)
    services = stack.compose["services"]
    lock = load_lock(folder / LOCK_FILE)
    pin_images(stack.compose, lock)
    values = {
        **stack.env_entries,
        **{k: v for k, v in env.items() if k in stack.env_entries or k in stack.required_keys},
    }
    notes: list[str] = []
    names = {name: resource_name(name) for name in services}
    _refuse_docker_host(stack, folder)
    workloads: list[kubernetes.WorkloadSpec] = []
    script_maps: dict[str, str] = {}
    for role_plan in plan.roles.values():
        # The service as rendered for its image (Kubernetes makes its own *_FILE decision), images.lock applied.
        service = stack.database_services[role_plan.service]
        pin_images({"services": {role_plan.service: service.service}}, lock)
        workload = kubernetes.database_workload(role_plan.adapter.spec, service)
        # An init script dbstack wrote (the app's own MongoDB user) is mounted from a ConfigMap; the password
        # it reads comes from the Secret with the database's own.
        scripts = {
            f"./{file}": (config_map_name(file), file)
            for file in stack.owned_files
            if any(v.get("source") == f"./{file}" for v in service.service.get("volumes") or [])
        }
        script_maps.update({file: map_name for map_name, file in scripts.values()})
        read = (*workload.secrets, *stack.reads.get(role_plan.service, ()))
        workload = replace(workload, secrets={v: values[v] for v in read}, config_files=scripts)
        if role_plan.role.volume_by_version:
            workload = replace(workload, data_claim=_versioned_claim(workload))
            notes += _moved_claim_notes(folder, workload, namespace)
        workloads.append(workload)
    renamed = {name: k8s for name, k8s in names.items() if name != k8s}
    references = {name: _reached(services[name], names) for name in services}
    settings_maps = {f: config_map_name(f) for f in stack.settings_files}
    config_maps: list[kubernetes.ConfigMapSpec] = []
    missing: list[str] = []
    dropped: list[str] = []
    for app_service in plan.services:
        name = app_service.name
        body = {k: v for k, v in services[name].items() if k != "extra_hosts"}
        if "extra_hosts" in services[name]:
            dropped.append(name)
        body["environment"] = {
            var: _rename_hosts(value, renamed) for var, value in (body.get("environment") or {}).items()
        }
        ports = [("http", app_service.container_port, "tcp")] if app_service.container_port else []
        if not ports:
            reached_at = sorted({p for other in references.values() for n, p in other if n == name})
            ports = [(f"port-{port}", port, "tcp") for port in reached_at]
        if not ports:
            raise DbstackError(f"{plan.app.file}: service {name} has no port: give it `port` in the app definition")
        secrets = {v: values[v] for v in stack.reads.get(name, ()) if values.get(v)}
        absent = [v for v in stack.reads.get(name, ()) if v not in secrets]
        missing += absent
        clients = {f"{kubernetes.MANAGED_BY}.dev/{names[n]}-client": "true" for n, _ in references[name]}
        clients.update(
            {
                f"{kubernetes.MANAGED_BY}.dev/{rp.service}-client": "true"
                for rp in plan.roles.values()
                if name in rp.role.environment
            }
        )
        env_from = []
        if app_service.env_file:
            env_from.append(settings_maps[app_service.env_file])
        config_files = {
            f"./{file}": (settings_maps[file], file)
            for file in stack.settings_files
            if any(v.get("source") == f"./{file}" for v in body.get("volumes") or [])
        }
        workloads.append(
            kubernetes.app_workload(
                names[name],
                body,
                ports=ports,
                secrets=secrets,
                clients=None
                if app_service.published_port
                else {f"{kubernetes.MANAGED_BY}.dev/{names[name]}-client": "true"},
                app_name=names[name],
                version=app_service.tag,
                component=name,
                pod_labels=clients,
                env_from=env_from,
                claims={volume: volume for volume in app_service.volumes},
                config_files=config_files,
                absent_secrets=absent,
                facts=app_service.kubernetes,
            )
        )
    used_files = {f for w in workloads for f in w.env_from} | {c for w in workloads for c, _ in w.config_files.values()}
    config_maps += [kubernetes.ConfigMapSpec(map_name, file, env=False) for file, map_name in script_maps.items()]
    for file, map_name in settings_maps.items():
        if map_name in used_files:
            config_maps.append(
                kubernetes.ConfigMapSpec(map_name, file, env=map_name in {f for w in workloads for f in w.env_from})
            )
    ingress = _ingress(stack, names)
    if ingress is None and choices is not None:
        front = next((s for s in plan.services if s.published_port), None)
        if front is not None:
            forward = port_forward_command(namespace, names[front.name], choices.domain, front.container_port)
            notes.append(
                f"{text.visible(choices.domain)} is not a DNS name an Ingress can serve: reach LibreChat with "
                f"`{forward}`, or set DOMAIN_CLIENT and DOMAIN_SERVER in librechat.env to https://NAME "
                "(SESSION_COOKIE_SECURE=true) and regenerate for an Ingress"
            )
    if dropped:
        hosts = sorted({h for s in plan.services for h in s.extra_hosts})
        notes.append(
            f"{', '.join(dropped)}: extra_hosts {', '.join(hosts)} (the Docker host) has no Kubernetes form and is "
            "left out; nothing this stack configures uses it"
        )
    if missing:
        notes.append(
            f"{folder / ENV_FILE}: set {', '.join(dict.fromkeys(missing))}, then run this command again: the pods "
            "that read them cannot start until their Secret holds them"
        )
    notes += _settings_differences(folder, stack)
    notes += written_once_notes(stack, folder)
    part_of = plan.app.id if re.fullmatch(r"[a-z0-9]([-a-z0-9]*[a-z0-9])?", plan.app.id) else None
    tree = kubernetes.render_tree(
        workloads,
        plan.environment.name,
        namespace=namespace,
        part_of=part_of,
        config_maps=config_maps,
        ingress=ingress,
    )
    return tree, notes


def stack_namespace(stack: Stack, folder: Path, asked: str | None, new_project: bool) -> str:
    """The namespace: every claim lives in it, so a regeneration keeps the one recorded in .dbstack-files (or,
    for stacks made before the record, kustomization.yaml's), whatever the folder is called now; another one is
    refused unless ``new_project``. The first time: ``asked``, else the stack's name."""
    choices = stack.first_start
    kept = recorded_names(folder).get("namespace") or _kustomization_namespace(folder)
    if asked is not None:
        namespace = kubernetes.validate_namespace(asked)
        if kept is not None and namespace != kept and not new_project:
            raise DbstackError(
                f"--namespace {namespace}: the stack in {folder} is in namespace {kept}; another one starts with "
                "new, empty volume claims (the data stays in the old ones). Regenerate without --namespace to keep "
                "it, or add --new-project to start the new one anyway"
            )
        return namespace
    if kept is not None and not new_project:
        return kept
    if choices is not None and choices.unnamed_data:
        raise DbstackError(unnamed_data_refusal(folder, "--namespace NAME", "its claims are in"))
    default = choices.project if choices else folder.resolve().name
    return kubernetes.validate_namespace(default, f"{folder} (the namespace by default: the stack's name)")


def _kustomization_namespace(folder: Path) -> str | None:
    """kustomization.yaml's namespace, if dbstack wrote it (a stack made before names were recorded)."""
    existing = read_regular(folder / KUSTOMIZATION_FILE)
    if existing is None or not existing.data.startswith(OWNER.encode()):
        return None
    namespace = _manifest(existing.data).get("namespace")
    if not isinstance(namespace, str):
        return None
    try:
        return kubernetes.validate_namespace(namespace)  # what dbstack may write into, as for --namespace
    except DbstackError:
        return None


def write_kubernetes(
    stack: Stack,
    folder: Path,
    *,
    namespace: str | None,
    force: bool,
    existing: dotenv.DotenvDocument,
    new_project: bool = False,
) -> WriteReport:
    """Write the stack's kustomize folder, .env and settings files (created once), all or nothing."""
    tree, notes = kubernetes_tree(stack, folder, namespace, existing.as_dict(), new_project)
    plan = stack.plan
    header = (
        f"{OWNER} {text.comment(plan.app.id)}; environment: {text.comment(plan.environment.name)}; "
        f"namespace: {tree.namespace}."
    )
    files = [
        OutputFile(name, content, 0o600 if name in tree.secret_files else 0o644, owner=OWNER)
        for name, content in tree.files(header).items()
    ]
    config = plan.app.first_start.config_file if plan.app.first_start else None
    readable = {config["name"]} if config else set()
    files += [
        OutputFile(name, content, 0o644 if name in readable else 0o600, create_only=True)
        for name, content in stack.settings_files.items()
    ]
    # dbstack's own init scripts, read by kustomize into ConfigMaps (no secret in them).
    files += [OutputFile(name, body, owner=body.split("\n", 1)[0]) for name, body in stack.owned_files.items()]
    if stack.first_start is not None:
        readme = stack_readme(stack, tree, folder, existing.as_dict())
        files.append(OutputFile(README_FILE, readme, owner=README_MARKER))
    report = write_folder(
        folder,
        files,
        stack.env_entries,
        env_header=f"Added by dbstack for {plan.app.id} ({plan.environment.name}). "
        "Keep these values: the databases were created with them.",
        existing=existing,
        derived=stack.derived,
        force=force,
        names={"namespace": tree.namespace} | ({"project": stack.first_start.project} if stack.first_start else {}),
    )
    report.to_fill = stack.placeholders()
    report.warnings += [
        *(stack.first_start.warnings if stack.first_start else ()),
        *notes,
        *left_in_cluster(report.stale, tree.namespace),
    ]
    report.steps = first_start_steps(stack, tree.namespace, folder)
    return report


def left_in_cluster(stale: Sequence[StaleFile], namespace: str) -> list[str]:
    """What the folder no longer lists stays in the cluster (`kubectl apply -k` creates and changes, never
    deletes): the commands that delete it, read from the stale manifests; data claims only named."""
    resources: list[str] = []
    secrets: list[str] = []
    claims: list[str] = []
    for item in stale:
        if item.name.endswith(kubernetes.CREDENTIALS_FILE_SUFFIX):  # the Secret generated from it: its name has a hash
            secrets.append(item.name.removesuffix(kubernetes.CREDENTIALS_FILE_SUFFIX))
            continue
        doc = _manifest(item.data)
        if not isinstance(doc.get("metadata"), dict):
            continue
        kind, name = doc.get("kind"), doc["metadata"].get("name")
        if not isinstance(kind, str) or not isinstance(name, str) or kind in {"Namespace", "Kustomization"}:
            continue
        if kind == "PersistentVolumeClaim":
            claims.append(name)
            continue
        resources.append(f"{kind.lower()}/{name}")
        if kind == "StatefulSet":
            claims += [claim_of(name, template) for template in _claim_templates(doc)]
    if not resources and not secrets:
        return []
    word = text.shell_word
    commands = []
    if resources:
        commands.append(f"kubectl -n {word(namespace)} delete --ignore-not-found {' '.join(map(word, resources))}")
    commands += [
        f"kubectl -n {word(namespace)} delete secret -l "
        + word(f"app.kubernetes.io/managed-by={kubernetes.MANAGED_BY},app.kubernetes.io/instance={name}")
        for name in secrets
    ]
    kept = (
        f"; the data stays on {', '.join(f'persistentvolumeclaim/{c}' for c in claims)}: delete it when you no "
        "longer need it"
        if claims
        else ""
    )
    return [
        "the stack no longer has what these files described, and `kubectl apply -k` deletes nothing from the "
        f"cluster: delete it there with `{'` and `'.join(commands)}`{kept}"
    ]


def first_start_steps(stack: Stack, namespace: str, folder: Path) -> list[str]:
    """The first-start steps in kubectl terms (a compose stack has them in its README)."""
    first, choices = stack.plan.app.first_start, stack.first_start
    if first is None or choices is None:
        return []
    settings = text.visible(first.settings_file)
    variable = text.visible(first.registration_variable)
    apply = f"kubectl apply -k {text.shell_word(str(folder))}"
    create_user = create_user_command(first, namespace)
    if choices.registration == "open":
        return [
            "sign-up is open: the first account registered becomes the admin; then close sign-up: set "
            f"{variable}=false in {settings} and run `{apply}`"
        ]
    return [
        f"sign-up is closed: create each user with `{create_user}` (to open it: {variable}=true in {settings}, "
        f"then `{apply}`)"
    ]


def port_forward_command(namespace: str, service: str, domain: str, port: int | None) -> str:
    """The port-forward that makes ``domain`` (localhost or an IP address, no Ingress) reach the Service: the
    domain's own port on this machine (kubectl listens on loopback unless told an --address)."""
    parts = urlsplit(domain)
    local = parts.port or (443 if parts.scheme == "https" else 80)
    listen = loopback_address(parts.hostname or "localhost") or parts.hostname or "localhost"
    # kubectl listens on 127.0.0.1 and ::1 unless told another --address (127.0.0.2 is one).
    address = "" if listen in ("127.0.0.1", "::1") else f" --address {text.shell_word(listen)}"
    return f"kubectl -n {namespace} port-forward{address} service/{service} {local}:{port}"


def create_user_command(first: FirstStart, namespace: str) -> str:
    """The app's own create-user command in its running Deployment; it asks its questions on the terminal:
    -it, as docker compose exec gives a TTY by default."""
    service = resource_name(first.create_user_service)
    return f"kubectl -n {namespace} exec -it deploy/{service} -- {text.visible(first.create_user_command)}"


def stack_readme(stack: Stack, tree: kubernetes.KubernetesTree, folder: Path, env: Mapping[str, str]) -> str:
    """The stack's README (templates/k8s/stack_readme.md.j2): its names, images, claims and commands read from
    the rendered manifests, so they are those of the folder. Values reach Markdown through loader.text."""
    plan, first, choices = stack.plan, stack.plan.app.first_start, stack.first_start
    md, cell, code = text.markdown, text.markdown_cell, text.markdown_code
    namespace = tree.namespace
    roles = {role_plan.service: f"{name} ({role_plan.adapter.name})" for name, role_plan in plan.roles.items()}
    databases = {role_plan.service: role_plan.adapter.name for role_plan in plan.roles.values()}
    roles.update({resource_name(s.name): s.description for s in plan.services})
    services = {
        d["metadata"]["name"]: d for d in tree.manifests.values() if d["kind"] == "Service" and not _headless(d)
    }
    rows, workloads, claims = [], [], []
    versioned: dict[str, str] | None = None
    versioned_roles = {rp.service for rp in plan.roles.values() if rp.role.volume_by_version}
    for doc in tree.manifests.values():
        kind, name = doc["kind"], doc["metadata"]["name"]
        if kind == "PersistentVolumeClaim":
            claims.append(name)
        if kind not in {"StatefulSet", "Deployment"}:
            continue
        workloads.append(f"{kind.lower()}/{name}")
        (container,) = doc["spec"]["template"]["spec"]["containers"]
        ports = services[name]["spec"]["ports"] if name in services else []
        reach = ", ".join(f"{name}:{p['port']}" for p in ports) or "nowhere"
        rows.append(
            {
                "name": cell(name),
                "kind": cell(kind),
                "image": code(container["image"], in_table=True),
                "what": cell(roles.get(name, "")),
                "reach": code(reach, in_table=True),
            }
        )
        for template in doc["spec"].get("volumeClaimTemplates") or []:
            claims.append(claim_of(name, template["metadata"]["name"]))
            if name in versioned_roles:
                versioned = _upgrade_steps(doc, template["metadata"]["name"], namespace, databases[name])
    missing = [k for k in stack.required_keys if not env.get(k)]
    to_fill = [f"{code(n)}: {md(plan.app.secrets[n].description)}" for n in stack.placeholders()]
    to_fill += [f"{code(n)}: {md(stack.required_keys[n])}" for n in missing]
    # The compose command ends with `-o FOLDER`: this target's options go before it.
    output = f" -o {text.shell_word(folder.resolve())}"
    regenerate = stack.regenerate_command(folder).removesuffix(output)
    regenerate += f" --target kubernetes --namespace {namespace}{output}"
    ingress = next((d for d in tree.manifests.values() if d["kind"] == "Ingress"), None)
    context: dict[str, Any] = {
        "marker": README_MARKER,
        "title": f"{md(plan.app.name)} stack ({md(plan.environment.name)}) on Kubernetes",
        "environment": code(plan.environment.name),
        "namespace": namespace,
        "namespace_code": code(namespace),
        "rows": rows,
        "workloads": workloads,
        "to_fill": to_fill,
        "regenerate": regenerate,
        "user_keys": ", ".join(code(k) for k, v in stack.env_entries.items() if v == USER_PROVIDED),
        "credentials": ", ".join(code(n) for n in tree.secret_files),
        "settings": ", ".join(code(n) for n in stack.settings_files if not first or n != _config_name(first)),
        "backup": ", ".join(code(n) for n in stack.settings_files),
        "config_file": "",
        "versioned": versioned,
        "claims": ", ".join(code(c) for c in claims),
        "init_scripts": ", ".join(code(n) for n in stack.owned_files),
        "renamed": [
            (code(s.name), code(resource_name(s.name))) for s in plan.services if s.name != resource_name(s.name)
        ],
        "first": None,
        "ingress": None,
    }
    if first is not None and choices is not None:
        config = _config_name(first)
        if config in stack.settings_files:
            context["config_file"] = code(config)
            context["config_path"] = code(_mount_path(tree, config))
        context["first"] = {
            "domain": code(choices.domain),
            "https": choices.https,
            "registration": choices.registration,
            "registration_variable": text.visible(first.registration_variable),
            "settings_file": code(first.settings_file),
        }
        context["create_user"] = create_user_command(first, namespace)
        front = next((s for s in plan.services if s.published_port), None)
        if ingress is not None:
            (rule,) = ingress["spec"]["rules"]
            tls = ingress["spec"].get("tls") or []
            context["ingress"] = {
                "name": code(ingress["metadata"]["name"]),
                "host": code(rule["host"]),
                "service": code(rule["http"]["paths"][0]["backend"]["service"]["name"]),
                "tls": code(tls[0]["secretName"]) if tls else None,
            }
        elif front is not None:
            service = resource_name(front.name)
            port = services[service]["spec"]["ports"][0]["port"]
            context["port_forward"] = port_forward_command(namespace, service, choices.domain, port)
    return render_template("k8s/stack_readme.md.j2", context)


def _headless(service: Mapping[str, Any]) -> bool:
    return bool(service.get("spec", {}).get("clusterIP") == "None")


def _config_name(first: FirstStart) -> str:
    return str(first.config_file["name"]) if first.config_file else ""


def _mount_path(tree: kubernetes.KubernetesTree, file: str) -> str:
    """Where a settings file is mounted (the subPath mount of its ConfigMap key)."""
    for doc in tree.manifests.values():
        if doc["kind"] in {"StatefulSet", "Deployment"}:
            for container in doc["spec"]["template"]["spec"]["containers"]:
                for mount in container.get("volumeMounts") or []:
                    if mount.get("subPath") == file:
                        return str(mount["mountPath"])
    return file


def _upgrade_steps(statefulset: Mapping[str, Any], claim: str, namespace: str, what: str) -> dict[str, str]:
    """The names the README's upgrade steps use, and the Meilisearch API calls they make (the key from the
    container's own environment, through printf and curl's stdin: on no command line)."""
    name = statefulset["metadata"]["name"]
    (container,) = statefulset["spec"]["template"]["spec"]["containers"]
    port = container["ports"][0]["containerPort"]
    (data_dir,) = [m["mountPath"] for m in container["volumeMounts"] if m["name"] == claim]
    pod = f"{name}-0"

    def call(method: str, path: str) -> str:
        return (
            f"kubectl -n {namespace} exec {pod} -- sh -c 'printf \"Authorization: Bearer %s\\n\" "
            f"\"$MEILI_MASTER_KEY\" | curl --fail --silent --show-error -X {method} --header @- "
            f"http://127.0.0.1:{port}{path}'"
        )

    return {
        "what": text.markdown(what),
        "name": name,
        "pod": pod,
        "data_dir": data_dir,
        "statefulset": text.markdown_code(f"statefulset/{name}"),
        "claim": text.markdown_code(claim),
        "pvc": text.markdown_code(claim_of(name, claim)),
        "dump": call("POST", "/dumps"),
        "tasks": call("GET", "/tasks?types=dumpCreation"),
        "import_patch": f"kubectl -n {namespace} patch statefulset/{name} --type json -p "
        + text.shell_word(json.dumps(import_patch(container, f"{data_dir}/import.dump"), separators=(",", ":"))),
    }


# The probes that restart the container when it serves no HTTP (the readiness one only holds traffic back).
_RESTARTING_PROBES = ("startupProbe", "livenessProbe")


def import_patch(container: Mapping[str, Any], dump: str) -> list[dict[str, Any]]:
    """The JSON patch that starts the StatefulSet's only container once importing ``dump``: MEILI_IMPORT_DUMP
    set, and the startup and liveness probes removed, since Meilisearch serves no HTTP while it imports and a
    probe would kill a long import (the readiness probe stays: ready means imported)."""
    at = "/spec/template/spec/containers/0"
    variable = {"name": "MEILI_IMPORT_DUMP", "value": dump}
    patch: list[dict[str, Any]] = [{"op": "remove", "path": f"{at}/{p}"} for p in _RESTARTING_PROBES if p in container]
    if "env" in container:
        patch.append({"op": "add", "path": f"{at}/env/-", "value": variable})
    else:
        patch.append({"op": "add", "path": f"{at}/env", "value": [variable]})
    return patch



def _versioned_claim(workload: kubernetes.WorkloadSpec) -> str:
    """The claim template of a database whose data only its own version opens (Meilisearch): named as the
    compose volume, which carries the image's major.minor (meilisearch-data-v1.54 -> meilisearch-data-v1-54)."""
    (source,) = [
        v["source"] for v in workload.service.get("volumes") or [] if v.get("target") == workload.data_dir
    ]
    return resource_name(str(source))


def claim_of(name: str, claim_template: str) -> str:
    """The PersistentVolumeClaim a one-replica StatefulSet's claim template gives its pod."""
    return f"{claim_template}-{name}-0"


def _moved_claim_notes(folder: Path, workload: kubernetes.WorkloadSpec, namespace: str) -> list[str]:
    """The StatefulSet written before names another claim template: its data stays on the old claim, and
    Kubernetes refuses to change a StatefulSet's volumeClaimTemplates, so `kubectl apply -k` fails on that
    StatefulSet and the old version keeps running until the user moves the data (README.md, Upgrading)."""
    existing = read_regular(folder / f"{workload.name}-statefulset.yaml")
    old = _claim_templates(_manifest(existing.data)) if existing is not None else []
    if not old or workload.data_claim in old:
        return []
    old_claim = claim_of(workload.name, old[0])
    new_claim = claim_of(workload.name, workload.data_claim)
    return [
        f"{workload.name}: its data now goes to claim {new_claim} (the image's version is in the name); the data "
        f"stays on {old_claim}, which the new version cannot open. `kubectl apply -k` will refuse to change "
        f"statefulset/{workload.name} (Kubernetes never changes a StatefulSet's volumeClaimTemplates) and the old "
        f"version keeps running: dump its data, `kubectl -n {namespace} delete statefulset {workload.name}` "
        f"(claims outlive it), apply, import the dump, then delete {old_claim} (README.md, Upgrading)"
    ]


def _manifest(data: bytes) -> dict[str, Any]:
    """A manifest dbstack wrote earlier (the user may have changed it) as data, read as safely as a catalog
    file; {} when it is no YAML mapping: then there is nothing to compare or delete."""
    try:
        doc = parse_text(data.decode("utf-8")).data
    except (YamlSourceError, UnicodeDecodeError):
        return {}
    return doc if isinstance(doc, dict) else {}


def _claim_templates(statefulset: Mapping[str, Any]) -> list[str]:
    """The names of a StatefulSet manifest's volumeClaimTemplates, whatever shape an edited file has."""
    spec = statefulset.get("spec")
    templates = spec.get("volumeClaimTemplates") if isinstance(spec, dict) else None
    names = []
    for template in templates if isinstance(templates, list) else []:
        metadata = template.get("metadata") if isinstance(template, dict) else None
        if isinstance(metadata, dict) and isinstance(metadata.get("name"), str):
            names.append(metadata["name"])
    return names


def _reached(service: Mapping[str, Any], names: Mapping[str, str]) -> list[tuple[str, int]]:
    """(service, port) of each other service this one's environment addresses as ``scheme://NAME:PORT``."""
    found = []
    for value in (service.get("environment") or {}).values():
        for host, port in re.findall(r"://([A-Za-z0-9_.-]+):([0-9]+)", str(value)):
            if host in names:
                found.append((host, int(port)))
    return list(dict.fromkeys(found))


def _rename_hosts(value: str, renamed: Mapping[str, str]) -> str:
    """Addresses of services whose compose name is no DNS label (``http://rag_api:8000`` -> ``rag-api``)."""
    for name, k8s in renamed.items():
        value = re.sub(rf"(?<=://){re.escape(name)}(?=[:/]|$)", k8s, value)
    return value


def _ingress(stack: Stack, names: Mapping[str, str]) -> kubernetes.IngressSpec | None:
    choices = stack.first_start
    front = next((s for s in stack.plan.services if s.published_port), None)
    if choices is None or front is None:
        return None
    parts = urlsplit(choices.domain)
    host = parts.hostname or ""
    if host == "localhost" or is_ip(host):
        return None
    if parts.port is not None:
        raise DbstackError(
            f"--domain {text.visible(choices.domain)}: an Ingress serves ports 80 and 443 only; "
            "give the address without a port for --target kubernetes"
        )
    name = names[front.name]
    return kubernetes.IngressSpec(name, host, name, "http", f"{name}-tls" if choices.https else None)


def _refuse_docker_host(stack: Stack, folder: Path) -> None:
    """A settings or config file that reaches the Docker host (host.docker.internal, compose's extra_hosts)
    cannot work from a pod: refuse in one line rather than write a stack that cannot reach it."""
    hosts = sorted({h for s in stack.plan.services for h in s.extra_hosts})
    for name, generated in stack.settings_files.items():
        on_disk = read_regular(folder / name)
        content = on_disk.data.decode("utf-8", errors="replace") if on_disk is not None else generated
        for host in hosts:
            if host in content:
                raise DbstackError(
                    f"{folder / name}: reaches {host} (the Docker host), which a pod cannot reach; on Kubernetes "
                    "point it at a Service of your cluster (e.g. --endpoint/--embeddings ollama need that: "
                    "leave them out, or edit the file) and run again"
                )


def _settings_differences(folder: Path, stack: Stack) -> list[str]:
    """Lines of a settings file that kustomize reads differently from Compose (quotes, escapes, a key with
    no '=' taken from kustomize's own environment): named, never quoted (they may hold keys)."""
    notes = []
    for name, generated in stack.settings_files.items():
        if not name.endswith(".env"):
            continue
        on_disk = read_regular(folder / name)
        content = on_disk.data.decode("utf-8", errors="replace") if on_disk is not None else generated
        compose_reads = dotenv.parse(content, environ={}).as_dict()
        kustomize_reads = kubernetes.kustomize_env(content)
        differ = sorted(k for k in {*compose_reads, *kustomize_reads} if compose_reads.get(k) != kustomize_reads.get(k))
        if differ:
            notes.append(
                f"{folder / name}: kustomize reads {', '.join(differ)} differently from Compose (it takes the rest "
                "of the line as it is: no quotes, no escapes, no ${...}); write plain KEY=value lines"
            )
    return notes
