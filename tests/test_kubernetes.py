"""Kubernetes output (`dbstack compose ID --target kubernetes`), checked by the real tools.

Every server database is written for every environment it allows, built by `kubectl kustomize`, checked
by `kubernetes-validate --strict` for the three newest Kubernetes versions it knows and by checkov (once,
over everything, with the repository's .checkov.yaml); the tests below assert the promised properties on
the built output.
"""

from __future__ import annotations

import base64
import dataclasses
import json
import os
import re
import shutil
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
import yaml
from hypothesis import given
from hypothesis import strategies as st

from dbstack.cli import main
from dbstack.loader import DatabaseAdapterRegistry, DbstackError
from dbstack.loader.environments import environment_names, load_kubernetes_environment
from dbstack.loader.interpolation import compose_escape
from dbstack.loader.model import KubernetesFacts
from dbstack.render import kubernetes
from dbstack.render.compose import file_secret_variables, render_service, secret_reference

ROOT = Path(__file__).resolve().parent.parent
REGISTRY = DatabaseAdapterRegistry()
SERVERS = [s for s in REGISTRY.find() if s.container is not None]
EMBEDDED = [s.id for s in REGISTRY.find() if s.container is None]
CASES = [
    (s.id, env)
    for s in SERVERS
    for env in environment_names()
    if s.container is not None and (s.container.environments is None or env in s.container.environments)
]
REFUSED_ENVIRONMENTS = [
    (s.id, env)
    for s in SERVERS
    for env in environment_names()
    if s.container is not None and s.container.environments is not None and env not in s.container.environments
]


def kubectl() -> str:
    path = shutil.which("kubectl")
    assert path, "kubectl is not on PATH: tests/run refuses to run without it"
    return path


def build(folder: Path) -> list[dict[str, Any]]:
    result = subprocess.run([kubectl(), "kustomize", str(folder)], capture_output=True, text=True, check=False)
    assert result.returncode == 0, result.stderr
    return [doc for doc in yaml.safe_load_all(result.stdout) if doc]


def write(database: str, env: str, folder: Path, *extra: str) -> int:
    return main(["compose", database, "--target", "kubernetes", "--env", env, "-o", str(folder), *extra])


@pytest.fixture(scope="session")
def outputs(tmp_path_factory: pytest.TempPathFactory) -> dict[tuple[str, str], tuple[Path, list[dict[str, Any]]]]:
    """Every (server database, allowed environment): its folder and the resources kubectl built from it."""
    root = tmp_path_factory.mktemp("k8s")
    built = {}
    for database, env in CASES:
        folder = root / f"{database}-{env}"
        assert write(database, env, folder) == 0
        built[(database, env)] = (folder, build(folder))
    return built


@pytest.fixture(scope="session")
def built_files(outputs: dict[Any, Any], tmp_path_factory: pytest.TempPathFactory) -> list[Path]:
    root = tmp_path_factory.mktemp("k8s-built")
    files = []
    for (database, env), (_, docs) in outputs.items():
        path = root / f"{database}-{env}.yaml"
        path.write_text(yaml.safe_dump_all(docs), encoding="utf-8")
        files.append(path)
    return files


def by_kind(docs: list[dict[str, Any]], kind: str) -> list[dict[str, Any]]:
    return [d for d in docs if d["kind"] == kind]


def newest_versions() -> list[str]:
    code = "from kubernetes_validate.utils import all_versions; print(' '.join(sorted(set(all_versions()))))"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout.split()
    return sorted(out, key=lambda v: tuple(int(p) for p in v.split(".")))[-3:]


def test_kubernetes_validate_strict_accepts_every_resource(built_files: list[Path]) -> None:
    tool = Path(sys.executable).with_name("kubernetes-validate")
    versions = newest_versions()
    assert len(versions) == 3
    for version in versions:
        result = subprocess.run(
            [str(tool), "--strict", "--quiet", "-k", version, *map(str, built_files)],
            capture_output=True,
            text=True,
            check=False,
        )
        assert result.returncode == 0, f"{version}: {result.stdout}{result.stderr}"


def test_checkov_finds_nothing_but_the_listed_skips(built_files: list[Path]) -> None:
    checkov = os.environ.get("DBSTACK_CHECKOV") or str(ROOT / ".venv" / "tools" / "bin" / "checkov")
    assert Path(checkov).is_file(), f"checkov not installed at {checkov}: run bash tests/run"
    folder = built_files[0].parent
    result = subprocess.run(
        [
            checkov,
            "--config-file",
            str(ROOT / ".checkov.yaml"),
            "--skip-download",
            "--quiet",
            "--compact",
            "-d",
            str(folder),
            "-o",
            "json",
        ],
        capture_output=True,
        text=True,
        check=False,
        env={**os.environ, "BC_SKIP_MAPPING": "TRUE"},
    )
    reports = json.loads(result.stdout)
    reports = reports if isinstance(reports, list) else [reports]
    failed = [(f["check_id"], f["file_path"]) for r in reports for f in r["results"]["failed_checks"]]
    assert failed == [] and result.returncode == 0, failed[:20]
    assert sum(r["summary"]["passed"] for r in reports) > 1000  # it really scanned the outputs


def test_skip_list_is_short_and_every_skip_has_a_reason() -> None:
    text = (ROOT / ".checkov.yaml").read_text(encoding="utf-8")
    skips = yaml.safe_load(text)["skip-check"]
    assert len(skips) <= 6
    lines = text.splitlines()
    for skip in skips:
        at = next(i for i, line in enumerate(lines) if line.strip() == f"- {skip}")
        while lines[at].strip().startswith("- CKV"):  # a group of skips shares the reason above it
            at -= 1
        assert lines[at].strip().startswith("#"), skip


def scanner_skips(workload: dict[str, Any]) -> dict[str, str]:
    """check id -> reason, from the workload's checkov.io/skipN annotations."""
    annotations = workload["metadata"].get("annotations", {})
    pairs = [value.split("=", 1) for key, value in annotations.items() if key.startswith("checkov.io/skip")]
    return {check: reason for check, reason in pairs}


def test_root_checks_are_skipped_per_resource_never_globally() -> None:
    skips = yaml.safe_load((ROOT / ".checkov.yaml").read_text(encoding="utf-8"))["skip-check"]
    assert not {"CKV_K8S_22", "CKV_K8S_23", "CKV_K8S_25", "CKV_K8S_40"} & set(skips)


@pytest.mark.parametrize(("database", "env"), CASES)
def test_only_entries_without_sourced_user_facts_start_as_root(
    outputs: dict[tuple[str, str], tuple[Path, list[dict[str, Any]]]], database: str, env: str
) -> None:
    _, docs = outputs[(database, env)]
    spec = REGISTRY.spec(database)
    assert spec.container is not None
    facts = spec.container.kubernetes
    (sts,) = by_kind(docs, "StatefulSet")
    pod = sts["spec"]["template"]["spec"]
    added = pod["containers"][0]["securityContext"]["capabilities"].get("add", [])
    skips = scanner_skips(sts)
    assert all(reason and "=" not in reason for reason in skips.values())
    if facts.run_as_user is None:
        assert "runAsUser" not in pod["securityContext"]
        assert "CKV_K8S_23" in skips and "root" in skips["CKV_K8S_23"]
    else:
        assert pod["securityContext"]["runAsNonRoot"] is True
        assert pod["securityContext"]["runAsUser"] == facts.run_as_user
        assert pod["securityContext"]["fsGroup"] == facts.fs_group
        assert added == [] and "CKV_K8S_23" not in skips and "CKV_K8S_25" not in skips
    assert ("CKV_K8S_25" in skips) is bool(added)
    assert ("CKV_K8S_22" in skips) is (not facts.read_only_root_filesystem)


def test_the_common_databases_run_as_their_own_user() -> None:
    facts = {s.id: s.container.kubernetes.run_as_user for s in SERVERS if s.container is not None}
    assert {d: facts[d] for d in ("postgresql", "pgvector", "mongodb", "redis", "valkey")} == dict.fromkeys(
        ("postgresql", "pgvector", "mongodb", "redis", "valkey"), 999
    )


@pytest.mark.parametrize(("database", "env"), CASES)
def test_built_output_has_the_promised_shape(
    outputs: dict[tuple[str, str], tuple[Path, list[dict[str, Any]]]], database: str, env: str
) -> None:
    folder, docs = outputs[(database, env)]
    spec = REGISTRY.spec(database)
    assert spec.container is not None
    namespace = folder.name
    kinds = sorted(d["kind"] for d in docs)
    expected = ["Namespace", "NetworkPolicy", "Service", "Service", "StatefulSet"]
    if any(p.secret for p in spec.parameters.values()):
        expected.append("Secret")
    # One replica: a disruption budget would make every node drain wait forever (README, Kubernetes).
    assert kinds == sorted(expected)
    for doc in docs:
        labels = doc["metadata"]["labels"]
        assert labels["app.kubernetes.io/managed-by"] == "dbstack"
        assert labels["app.kubernetes.io/part-of"] == namespace
        if doc["kind"] != "Namespace":
            assert doc["metadata"]["namespace"] == namespace != "default"
            assert labels["app.kubernetes.io/name"] == database
            assert labels["app.kubernetes.io/instance"] == database
    (sts,) = by_kind(docs, "StatefulSet")
    pod = sts["spec"]["template"]["spec"]
    (container,) = pod["containers"]
    assert sts["spec"]["replicas"] == 1
    assert sts["spec"]["serviceName"] == f"{database}-headless"
    assert pod["automountServiceAccountToken"] is False
    assert container["image"] == spec.container.image_ref
    security = container["securityContext"]
    assert security["allowPrivilegeEscalation"] is False
    assert security["capabilities"]["drop"] == ["ALL"]
    assert security["seccompProfile"] == {"type": "RuntimeDefault"}
    facts = spec.container.kubernetes
    if facts.run_as_user is not None:  # what the checkov skips of root/capabilities cannot hide
        assert pod["securityContext"]["runAsNonRoot"] is True
        assert pod["securityContext"]["runAsUser"] == facts.run_as_user
        assert pod["securityContext"]["fsGroup"] == facts.fs_group
        assert "add" not in security["capabilities"]
    else:
        assert security["capabilities"].get("add", []) == list(spec.container.capabilities)
    assert security["readOnlyRootFilesystem"] is facts.read_only_root_filesystem
    mounted = {m["mountPath"] for m in container.get("volumeMounts", [])}
    assert spec.container.data_dir in mounted
    assert set(facts.writable_paths) <= mounted
    environment = load_kubernetes_environment(env)
    assert container["resources"] == {k: dict(v) for k, v in environment.resources.items()}
    (claim,) = sts["spec"]["volumeClaimTemplates"]
    assert claim["spec"]["resources"]["requests"]["storage"] == environment.storage_size
    check = spec.container.healthcheck
    for probe in ("startupProbe", "readinessProbe", "livenessProbe"):
        command = container[probe]["exec"]["command"]
        if check.test[0] == "CMD-SHELL":
            assert command[:2] == ["sh", "-c"]
        assert "$$" not in " ".join(command)  # compose escaping undone: probes are not expanded
        assert container[probe]["timeoutSeconds"] >= 1
    assert container["livenessProbe"]["failureThreshold"] == check.retries
    assert container["startupProbe"]["failureThreshold"] > check.retries
    (policy,) = by_kind(docs, "NetworkPolicy")
    assert policy["spec"]["podSelector"]["matchLabels"] == sts["spec"]["selector"]["matchLabels"]
    (rule,) = policy["spec"]["ingress"]
    assert rule["from"] == [{"podSelector": {"matchLabels": {f"dbstack.dev/{database}-client": "true"}}}]
    assert sorted(p["port"] for p in rule["ports"]) == sorted(p.container for p in spec.container.ports)
    services = {s["metadata"]["name"]: s for s in by_kind(docs, "Service")}
    assert services[f"{database}-headless"]["spec"]["clusterIP"] == "None"
    assert services[database]["spec"]["selector"] == sts["spec"]["selector"]["matchLabels"]


@pytest.mark.parametrize(("database", "env"), CASES)
def test_no_secret_is_literal_in_a_manifest(
    outputs: dict[tuple[str, str], tuple[Path, list[dict[str, Any]]]], database: str, env: str
) -> None:
    folder, docs = outputs[(database, env)]
    secrets = [d for d in docs if d["kind"] == "Secret"]
    values = [base64.b64decode(v).decode() for s in secrets for v in s.get("data", {}).values()]
    has_secrets = any(p.secret for p in REGISTRY.spec(database).parameters.values())
    assert bool(values) is has_secrets
    assert bool(list(folder.glob("*-credentials.env"))) is has_secrets
    for path in folder.iterdir():
        if path.suffix == ".yaml":
            text = path.read_text(encoding="utf-8")
            assert not any(v in text for v in values), path.name
        elif path.name.endswith(".env"):
            assert path.stat().st_mode & 0o777 == 0o600, path.name
    (sts,) = by_kind(docs, "StatefulSet")
    assert not any(v in json.dumps(sts) for v in values)
    names = {s["metadata"]["name"] for s in secrets}
    assert all(n.startswith(f"{database}-credentials-") for n in names)  # kustomize's content hash
    for entry in sts["spec"]["template"]["spec"]["containers"][0].get("env", []):
        if "valueFrom" in entry:
            assert entry["valueFrom"]["secretKeyRef"]["name"] in names


def test_images_reading_file_variants_get_their_secrets_as_files(
    outputs: dict[tuple[str, str], tuple[Path, list[dict[str, Any]]]],
) -> None:
    """Each entry's secrets are files exactly where the one shared decision (file_secret_variables, also
    used for compose ``secrets:``) says so, and environment values everywhere else."""
    with_files = set()
    for (database, env), (_, docs) in outputs.items():
        (sts,) = by_kind(docs, "StatefulSet")
        container = sts["spec"]["template"]["spec"]["containers"][0]
        variables = {e["name"]: e for e in container.get("env", [])}
        spec = REGISTRY.spec(database)
        assert spec.container is not None
        service = render_service(REGISTRY.get_adapter(database), env).service
        expected = file_secret_variables(
            service, spec.container.file_variants, spec.container.healthcheck.credentials_from
        )
        as_files = {var for var, file_var in spec.container.file_variants.items() if file_var in variables}
        assert as_files == set(expected), f"{database} ({env})"
        for var in expected:
            file_var = expected[var][0]
            assert var not in variables, f"{database}: both {var} and {file_var}"  # images refuse both
            assert variables[file_var]["value"] == f"{kubernetes.SECRET_DIR}/{expected[var][1]}"
        mounts = [m for m in container.get("volumeMounts", []) if m["mountPath"] == kubernetes.SECRET_DIR]
        assert [m["readOnly"] for m in mounts] == ([True] if expected else []), database
        if expected:
            with_files.add(database)
    assert {"mariadb", "mysql"} <= with_files  # the decision is not trivially empty


def test_postgresql_reads_its_password_from_the_secret_volume(
    outputs: dict[tuple[str, str], tuple[Path, list[dict[str, Any]]]],
) -> None:
    """Its healthcheck reads POSTGRES_PASSWORD_FILE when the container has it (the same decision as compose's),
    so the password is a file of the Secret volume, readable by the pod's group, not an env value."""
    _, docs = outputs[("postgresql", "production")]
    (sts,) = by_kind(docs, "StatefulSet")
    pod = sts["spec"]["template"]["spec"]
    container = pod["containers"][0]
    env = {e["name"]: e for e in container["env"]}
    assert "POSTGRES_PASSWORD" not in env
    assert env["POSTGRES_PASSWORD_FILE"]["value"] == f"{kubernetes.SECRET_DIR}/POSTGRESQL_PASSWORD"
    (volume,) = [v for v in pod["volumes"] if "secret" in v]
    assert volume["secret"]["items"] == [{"key": "POSTGRESQL_PASSWORD", "path": "POSTGRESQL_PASSWORD"}]
    assert volume["secret"]["defaultMode"] == 0o440 and pod["securityContext"]["fsGroup"] == 999
    assert {"name": volume["name"], "mountPath": kubernetes.SECRET_DIR, "readOnly": True} in container["volumeMounts"]
    assert "POSTGRES_PASSWORD_FILE" in " ".join(container["readinessProbe"]["exec"]["command"])


def test_regeneration_keeps_the_secrets(tmp_path: Path) -> None:
    folder = tmp_path / "redis-stack"
    assert write("redis", "production", folder) == 0
    first = build(folder)
    env_before = (folder / ".env").read_bytes()
    assert write("redis", "production", folder) == 0
    assert (folder / ".env").read_bytes() == env_before
    assert by_kind(build(folder), "Secret") == by_kind(first, "Secret")


def test_a_set_password_with_kubernetes_syntax_reaches_the_secret_exactly(tmp_path: Path) -> None:
    password = "a$(HOME)b $$ 'q\" #x = y "
    folder = tmp_path / "pg"
    assert write("postgresql", "development", folder, "--set", f"password={password}") == 0
    (secret,) = by_kind(build(folder), "Secret")
    assert base64.b64decode(secret["data"]["POSTGRESQL_PASSWORD"]).decode() == password


def test_a_password_with_a_line_break_is_refused_and_nothing_written(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    folder = tmp_path / "pg"
    assert write("postgresql", "development", folder, "--set", "password=a\nb") == 1
    assert "line break" in capsys.readouterr().err
    assert not folder.exists()


@pytest.mark.parametrize("database", EMBEDDED)
def test_embedded_databases_are_refused_in_one_line(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], database: str
) -> None:
    assert write(database, "development", tmp_path / "out") == 1
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "embedded" in err
    assert not (tmp_path / "out").exists()


@pytest.mark.parametrize(("database", "env"), REFUSED_ENVIRONMENTS)
def test_development_only_entries_are_refused_elsewhere(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], database: str, env: str
) -> None:
    assert write(database, env, tmp_path / "out") == 1
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "allows this image only in" in err
    assert not (tmp_path / "out").exists()


@pytest.mark.parametrize(
    ("arguments", "message"),
    [
        (["--namespace", "default"], "reserved"),
        (["--namespace", "kube-system"], "reserved"),
        (["--namespace", "Bad_Name"], "not a Kubernetes namespace name"),
        (["--namespace", "x" * 64], "not a Kubernetes namespace name"),
        (["--tls-dir", "/tmp"], "--tls-dir is for compose"),
    ],
)
def test_bad_namespaces_are_refused(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], arguments: list[str], message: str
) -> None:
    assert write("redis", "development", tmp_path / "out", *arguments) == 1
    assert message in capsys.readouterr().err
    assert not (tmp_path / "out").exists()


def test_namespace_defaults_to_the_folder_and_must_be_a_label(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert write("redis", "development", tmp_path / "Not_A_Label") == 1
    assert "give one with --namespace" in capsys.readouterr().err
    assert not (tmp_path / "Not_A_Label").exists()
    assert write("redis", "development", tmp_path / "Not_A_Label", "--namespace", "cache") == 0
    docs = build(tmp_path / "Not_A_Label")
    assert {d["metadata"].get("namespace") for d in docs if d["kind"] != "Namespace"} == {"cache"}


def test_without_an_output_folder_it_is_refused(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["compose", "redis", "--target", "kubernetes"]) == 1
    assert "give it with -o DIR" in capsys.readouterr().err


def test_a_kustomization_dbstack_did_not_write_is_refused(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    folder = tmp_path / "mine"
    folder.mkdir()
    (folder / "kustomization.yaml").write_text("resources: [mine.yaml]\n", encoding="utf-8")
    assert write("redis", "development", folder) == 1
    assert "not written by dbstack" in capsys.readouterr().err
    assert sorted(p.name for p in folder.iterdir()) == ["kustomization.yaml"]


def test_images_lock_pins_the_image_by_digest(tmp_path: Path) -> None:
    folder = tmp_path / "pg"
    folder.mkdir()
    spec = REGISTRY.spec("postgresql")
    assert spec.container is not None
    digest = "sha256:" + "a" * 64
    (folder / "images.lock").write_text(f"{spec.container.image_ref}: {digest}\n", encoding="utf-8")
    assert write("postgresql", "staging", folder) == 0
    (sts,) = by_kind(build(folder), "StatefulSet")
    container = sts["spec"]["template"]["spec"]["containers"][0]
    assert container["image"] == f"{spec.container.image_ref}@{digest}"
    assert container["imagePullPolicy"] == "IfNotPresent"


# Kubernetes' own expansion of command, args and env values (k8s.io/kubernetes third_party/forked/golang/
# expansion): `$$` is `$`, `$(NAME)` a variable (left as it is when undefined), any other `$` itself.
def kubernetes_expand(text: str, variables: dict[str, str]) -> str:
    out, i = [], 0
    while i < len(text):
        if text[i] == "$" and i + 1 < len(text):
            nxt = text[i + 1]
            if nxt == "$":
                out.append("$")
                i += 2
                continue
            if nxt == "(":
                end = text.find(")", i + 2)
                if end >= 0:
                    name = text[i + 2 : end]
                    out.append(variables.get(name, f"$({name})"))
                    i = end + 1
                    continue
            out.append("$")
            i += 1
            continue
        out.append(text[i])
        i += 1
    return "".join(out)


@given(literal=st.text(alphabet=st.sampled_from("$()ab{}:?\\ x"), max_size=30), secret=st.text(max_size=10))
def test_compose_text_means_the_same_to_kubernetes(literal: str, secret: str) -> None:
    """A literal (compose-escaped) plus a secret reference expands, in Kubernetes, to the literal and the secret."""
    references = {secret_reference("DB_PASSWORD"): "DB_PASSWORD"}
    helpers: list[dict[str, Any]] = []
    compose_text = compose_escape(literal) + secret_reference("DB_PASSWORD") + compose_escape(literal)
    converted = kubernetes._container_text(compose_text, references, helpers, "test", "db-credentials")
    assert kubernetes_expand(converted, {"DB_PASSWORD": secret}) == literal + secret + literal
    assert helpers == [
        {"name": "DB_PASSWORD", "valueFrom": {"secretKeyRef": {"name": "db-credentials", "key": "DB_PASSWORD"}}}
    ]


def test_a_literal_dollar_paren_is_not_expanded() -> None:
    converted = kubernetes._container_text(compose_escape("$(HOME)"), {}, [], "test", "s")
    assert converted == "$$(HOME)"
    assert kubernetes_expand(converted, {"HOME": "/root"}) == "$(HOME)"


def app_tree(env: str, tmp_path: Path) -> list[dict[str, Any]]:
    service = {
        "image": "ghcr.io/example/api:v1.2.3",
        "command": ["serve", "--listen", "0.0.0.0"],
        "environment": {"DB_URL": "postgresql://app:" + secret_reference("API_DB_PASSWORD") + "@postgresql/app"},
        "healthcheck": {
            "test": ["CMD", "wget", "-qO-", "http://127.0.0.1:3080/health"],
            "interval": "30s",
            "timeout": "5s",
            "retries": 3,
            "start_period": "1m",
        },
    }
    workload = kubernetes.app_workload(
        "api",
        service,
        ports=[("http", 3080, "tcp")],
        secrets={"API_DB_PASSWORD": "s3cret-value"},
        clients={"app.kubernetes.io/name": "ingress"},
        facts=KubernetesFacts(run_as_user=1000, fs_group=1000),
    )
    tree = kubernetes.render_tree([workload], env, namespace="chat")
    for name, text in tree.files("# Generated by dbstack. test").items():
        (tmp_path / name).write_text(text, encoding="utf-8")
    return build(tmp_path)


@pytest.mark.parametrize("env", ["development", "production"])
def test_app_workloads_render_as_deployments(tmp_path: Path, env: str) -> None:
    docs = app_tree(env, tmp_path)
    (deployment,) = by_kind(docs, "Deployment")
    environment = load_kubernetes_environment(env)
    assert deployment["spec"]["replicas"] == environment.app_replicas
    pod = deployment["spec"]["template"]["spec"]
    assert ("affinity" in pod) is (environment.app_replicas > 1 and environment.anti_affinity)
    (container,) = pod["containers"]
    env_vars = {e["name"]: e for e in container["env"]}
    assert env_vars["DB_URL"]["value"] == "postgresql://app:$(API_DB_PASSWORD)@postgresql/app"
    names = [e["name"] for e in container["env"]]
    assert names.index("API_DB_PASSWORD") < names.index("DB_URL")  # defined before it is used
    assert "s3cret-value" not in json.dumps(deployment)
    assert container["livenessProbe"]["exec"]["command"][0] == "wget"
    assert container["startupProbe"]["failureThreshold"] == 2 + 3
    assert by_kind(docs, "StatefulSet") == [] and len(by_kind(docs, "Service")) == 1
    assert (len(by_kind(docs, "PodDisruptionBudget")) == 1) is (env == "production")


@pytest.mark.parametrize(
    ("replicas", "asked", "expected"), [(1, 1, None), (1, None, None), (2, 1, 1), (3, 5, 2), (3, None, None)]
)
def test_a_disruption_budget_only_where_another_replica_serves(
    replicas: int, asked: int | None, expected: int | None
) -> None:
    environment = dataclasses.replace(
        load_kubernetes_environment("production"), app_replicas=replicas, min_available=asked
    )
    workload = kubernetes.app_workload("api", {"image": "x:1"}, ports=[("http", 80, "tcp")], secrets={}, clients={})
    tree = kubernetes.render_tree([workload], environment, namespace="chat")
    budgets = [doc for doc in tree.manifests.values() if doc["kind"] == "PodDisruptionBudget"]
    # At least one pod may always be evicted: a drain never waits forever.
    assert [b["spec"]["minAvailable"] for b in budgets] == ([] if expected is None else [expected])


def test_a_compose_key_with_no_kubernetes_form_is_refused() -> None:
    workload = kubernetes.app_workload(
        "api", {"image": "x:1", "ulimits": {"nofile": 1}}, ports=[("http", 80, "tcp")], secrets={}, clients={}
    )
    with pytest.raises(DbstackError, match="ulimits, which has no Kubernetes form"):
        kubernetes.render_tree([workload], "development", namespace="chat")


def test_every_server_entry_is_covered() -> None:
    assert len({database for database, _ in CASES}) == len(SERVERS) >= 28
    assert all(re.fullmatch(r"[a-z0-9-]+", d) for d, _ in CASES)
