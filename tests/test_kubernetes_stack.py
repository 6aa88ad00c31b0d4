"""`dbstack generate --target kubernetes`: LibreChat as a kustomize folder, checked by the real tools.

Every environment, with the default roles, without the optional full_text_search and with cache=redis, is
written, built by `kubectl kustomize`, validated by `kubernetes-validate --strict` (three newest versions)
and scanned by checkov with the repository's .checkov.yaml. The wiring test reads both generated outputs:
the compose stack through the real Docker Compose binary, the Kubernetes one after kustomize built it.
"""

from __future__ import annotations

import base64
import json
import os
import shutil
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
import yaml
from test_kubernetes import ROOT, build, by_kind, newest_versions, scanner_skips

from dbstack.cli import main
from dbstack.loader.apps import load_app
from dbstack.loader.environments import environment_names, load_kubernetes_environment
from dbstack.render import kubernetes

from compose_tools import compose_config, service_environment, user_keys

VARIANTS = {
    "default": [],
    "no-search": ["--without", "full_text_search"],
    "redis": ["--use", "cache=redis"],
    "https": ["--domain", "https://chat.example.com"],
}
CASES = [(env, variant) for env in environment_names() for variant in VARIANTS]


def prepare(folder: Path) -> None:
    """The keys only the user has, in .env before the first run (as the README asks)."""
    folder.mkdir(parents=True, exist_ok=True)
    (folder / ".env").write_text("".join(f"{k}={v}\n" for k, v in user_keys().items()), encoding="utf-8")
    (folder / ".env").chmod(0o600)


def generate(folder: Path, env: str, *extra: str, target: str = "kubernetes") -> int:
    return main(["generate", "--target", target, "--env", env, "-o", str(folder), *extra])


@pytest.fixture(scope="module")
def stacks(tmp_path_factory: pytest.TempPathFactory) -> dict[tuple[str, str], tuple[Path, list[dict[str, Any]]]]:
    root = tmp_path_factory.mktemp("k8s-stack")
    built = {}
    for env, variant in CASES:
        folder = root / f"lc-{env}-{variant}"
        prepare(folder)
        assert generate(folder, env, *VARIANTS[variant]) == 0
        built[(env, variant)] = (folder, build(folder))
    return built


def secret_values(folder: Path) -> list[str]:
    lines = (folder / ".env").read_text(encoding="utf-8").splitlines()
    return [line.split("=", 1)[1] for line in lines if "=" in line and not line.startswith("#")]


def container(docs: list[dict[str, Any]], name: str) -> dict[str, Any]:
    (deployment,) = [d for d in by_kind(docs, "Deployment") if d["metadata"]["name"] == name]
    (only,) = deployment["spec"]["template"]["spec"]["containers"]
    return dict(only)


def resolved_environment(docs: list[dict[str, Any]], name: str) -> dict[str, str]:
    """A Deployment's container environment as the pod gets it: envFrom ConfigMaps first, env over them,
    secretKeyRef and configMapKeyRef resolved through the built Secrets and ConfigMaps (by their hashed names)."""
    maps = {d["metadata"]["name"]: d.get("data", {}) for d in by_kind(docs, "ConfigMap")}
    secrets = {d["metadata"]["name"]: d.get("data", {}) for d in by_kind(docs, "Secret")}
    spec = container(docs, name)
    environment: dict[str, str] = {}
    for source in spec.get("envFrom", []):
        environment.update(maps[source["configMapRef"]["name"]])
    for entry in spec.get("env", []):
        if "valueFrom" in entry:
            ref = entry["valueFrom"]["secretKeyRef"]
            environment[entry["name"]] = base64.b64decode(secrets[ref["name"]][ref["key"]]).decode()
        else:
            environment[entry["name"]] = entry["value"].replace("$$", "$")
    return environment


def test_kubernetes_validate_strict_accepts_every_stack(stacks: dict[Any, Any], tmp_path: Path) -> None:
    tool = Path(sys.executable).with_name("kubernetes-validate")
    files = []
    for (env, variant), (_, docs) in stacks.items():
        path = tmp_path / f"{env}-{variant}.yaml"
        path.write_text(yaml.safe_dump_all(docs), encoding="utf-8")
        files.append(str(path))
    for version in newest_versions():
        result = subprocess.run(
            [str(tool), "--strict", "--quiet", "-k", version, *files], capture_output=True, text=True, check=False
        )
        assert result.returncode == 0, f"{version}: {result.stdout}{result.stderr}"


def test_checkov_finds_nothing_but_the_listed_skips(stacks: dict[Any, Any], tmp_path: Path) -> None:
    checkov = os.environ.get("DBSTACK_CHECKOV") or str(ROOT / ".venv" / "tools" / "bin" / "checkov")
    assert Path(checkov).is_file(), f"checkov not installed at {checkov}: run bash tests/run"
    for (env, variant), (_, docs) in stacks.items():
        (tmp_path / f"{env}-{variant}.yaml").write_text(yaml.safe_dump_all(docs), encoding="utf-8")
    args = ["--config-file", str(ROOT / ".checkov.yaml"), "--skip-download", "--quiet", "--compact"]
    result = subprocess.run(
        [checkov, *args, "-d", str(tmp_path), "-o", "json"],
        capture_output=True,
        text=True,
        check=False,
        env={**os.environ, "BC_SKIP_MAPPING": "TRUE"},
    )
    reports = json.loads(result.stdout)
    reports = reports if isinstance(reports, list) else [reports]
    failed = sorted({(f["check_id"], f["resource"]) for r in reports for f in r["results"]["failed_checks"]})
    assert failed == [] and result.returncode == 0, failed[:20]
    assert sum(r["summary"]["passed"] for r in reports) > 1000


@pytest.mark.parametrize(("env", "variant"), CASES)
def test_no_secret_is_literal_in_a_manifest(stacks: dict[Any, Any], env: str, variant: str) -> None:
    folder, docs = stacks[(env, variant)]
    values = [v for v in secret_values(folder) if len(v) >= 8]
    assert len(values) >= 6
    for path in folder.iterdir():
        if path.suffix == ".yaml" and path.name != "librechat.yaml":
            text = path.read_text(encoding="utf-8")
            assert not any(v in text for v in values), path.name
        if path.name.endswith("-credentials.env") or path.name == ".env":
            assert path.stat().st_mode & 0o777 == 0o600, path.name
    for doc in docs:
        if doc["kind"] != "Secret":
            assert not any(v in json.dumps(doc) for v in values), doc["metadata"]["name"]


@pytest.mark.parametrize(("env", "variant"), CASES)
def test_every_variable_is_wired_exactly_as_in_the_compose_stack(
    stacks: dict[Any, Any], tmp_path: Path, env: str, variant: str
) -> None:
    """Same names and values for api and rag_api (after kustomize build; compose through its own binary),
    from two generated outputs sharing one .env; only the address of rag_api differs (rag-api on a cluster)."""
    kube_folder, docs = stacks[(env, variant)]
    compose_folder = tmp_path / "compose"
    compose_folder.mkdir()
    shutil.copy(kube_folder / ".env", compose_folder / ".env")
    assert generate(compose_folder, env, *VARIANTS[variant], target="compose") == 0
    result = compose_config(compose_folder / "compose.yaml", fmt="json")
    assert result.ok, result.stderr
    for service, deployment in (("api", "api"), ("rag_api", "rag-api")):
        assert result.model is not None, result.stderr
        compose_env = service_environment(result.model, service)
        kube_env = resolved_environment(docs, deployment)
        assert sorted(kube_env) == sorted(compose_env), service
        renamed = {k: (v or "").replace("://rag_api:", "://rag-api:") for k, v in compose_env.items()}
        assert kube_env == renamed, service


@pytest.mark.parametrize(("env", "variant"), CASES)
def test_deployments_have_probes_limits_security_and_network_policies(
    stacks: dict[Any, Any], env: str, variant: str
) -> None:
    _, docs = stacks[(env, variant)]
    environment = load_kubernetes_environment(env)
    deployments = {d["metadata"]["name"]: d for d in by_kind(docs, "Deployment")}
    assert sorted(deployments) == ["api", "rag-api"]
    services = load_app("librechat").services
    for name, deployment in deployments.items():
        spec = container(docs, name)
        healthcheck = services[name.replace("-", "_")].healthcheck
        kind, *test = healthcheck.test
        # CMD runs the program itself, CMD-SHELL a shell (Compose's $$ undone: a probe is not expanded).
        command = test if kind == "CMD" else ["sh", "-c", test[0].replace("$$", "$")]
        for probe in ("startupProbe", "readinessProbe", "livenessProbe"):
            assert spec[probe]["exec"]["command"] == command, (name, probe)
            assert spec[probe]["timeoutSeconds"] == int(healthcheck.timeout.removesuffix("s")), (name, probe)
        assert spec["resources"] == {k: dict(v) for k, v in environment.resources.items()}
        security = spec["securityContext"]
        assert security["allowPrivilegeEscalation"] is False and security["capabilities"] == {"drop": ["ALL"]}
        pod = deployment["spec"]["template"]["spec"]
        assert pod["automountServiceAccountToken"] is False
        # The api's image runs as node (uid 1000, apps/librechat.yaml); rag_api's as root, said in its manifest.
        facts = services[name.replace("-", "_")].kubernetes
        assert pod["securityContext"].get("runAsUser") == facts.run_as_user == ({"api": 1000}.get(name))
        assert ("CKV_K8S_23" in scanner_skips(deployment)) is (facts.run_as_user is None)
        assert pod["securityContext"]["seccompProfile"] == {"type": "RuntimeDefault"}
    # api keeps uploads and logs on ReadWriteOnce claims: one pod, replaced; rag_api is stateless.
    assert deployments["api"]["spec"]["replicas"] == 1
    assert deployments["api"]["spec"]["strategy"] == {"type": "Recreate"}
    assert deployments["rag-api"]["spec"]["replicas"] == environment.app_replicas
    # A budget only where another replica serves: never the api nor a database (a drain would wait forever).
    budgets = {b["metadata"]["name"] for b in by_kind(docs, "PodDisruptionBudget")}
    has_budget = environment.min_available is not None and environment.app_replicas > 1
    assert budgets == ({"rag-api"} if has_budget else set())
    policies = {p["metadata"]["name"]: p for p in by_kind(docs, "NetworkPolicy")}
    workloads = [d["metadata"]["name"] for d in docs if d["kind"] in ("Deployment", "StatefulSet")]
    assert sorted(policies) == sorted(workloads)
    pods = {d["metadata"]["name"]: d["spec"]["template"]["metadata"]["labels"] for d in deployments.values()}
    users = {"mongodb": {"api"}, "meilisearch": {"api"}, "redis": {"api"}, "vectordb": {"rag-api"}, "rag-api": {"api"}}
    for name, policy in policies.items():
        (rule,) = policy["spec"]["ingress"]
        if name == "api":  # the front door: any source, its port only
            assert "from" not in rule and [p["port"] for p in rule["ports"]] == [3080]
            continue
        (source,) = rule["from"]
        ((label, value),) = source["podSelector"]["matchLabels"].items()
        assert label == f"dbstack.dev/{name}-client" and value == "true"
        assert {pod for pod, labels in pods.items() if labels.get(label) == "true"} == users[name], name


def test_regeneration_keeps_secrets_and_applies_the_users_settings(tmp_path: Path) -> None:
    folder = tmp_path / "lc"
    prepare(folder)
    assert generate(folder, "production") == 0
    first = build(folder)
    env_before = (folder / ".env").read_bytes()
    with (folder / "librechat.env").open("a", encoding="utf-8") as settings:
        settings.write("DEBUG_LOGGING=true\n")
    assert generate(folder, "production") == 0
    assert (folder / ".env").read_bytes() == env_before
    second = build(folder)
    assert by_kind(second, "Secret") == by_kind(first, "Secret")
    assert resolved_environment(second, "api")["DEBUG_LOGGING"] == "true"


def test_an_https_domain_gets_an_ingress_with_tls_from_the_users_certificate(tmp_path: Path) -> None:
    folder = tmp_path / "lc"
    prepare(folder)
    assert generate(folder, "production", "--domain", "https://chat.example.com") == 0
    (ingress,) = by_kind(build(folder), "Ingress")
    assert ingress["spec"]["tls"] == [{"hosts": ["chat.example.com"], "secretName": "api-tls"}]
    (rule,) = ingress["spec"]["rules"]
    assert rule["host"] == "chat.example.com"
    assert rule["http"]["paths"][0]["backend"]["service"] == {"name": "api", "port": {"name": "http"}}
    assert not by_kind(build(folder), "Certificate")  # the user's cert-manager makes it


@pytest.mark.parametrize(
    ("arguments", "message"),
    [
        (["--domain", "https://chat.example.com:8443"], "an Ingress serves ports 80 and 443 only"),
        (["--endpoint", "ollama"], "host.docker.internal (the Docker host), which a pod cannot reach"),
        (["--embeddings", "ollama"], "host.docker.internal (the Docker host), which a pod cannot reach"),
        (["--namespace", "default"], "reserved"),
        (["--name", "my_chat"], "give one with --namespace"),
    ],
)
def test_what_a_cluster_cannot_do_is_refused_in_one_line(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], arguments: list[str], message: str
) -> None:
    folder = tmp_path / "lc"
    assert generate(folder, "production", *arguments) == 1
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and message in err, err
    assert not folder.exists()


def test_namespace_is_for_kubernetes_only(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert generate(tmp_path / "lc", "development", "--namespace", "chat", target="compose") == 1
    assert "--namespace is for --target kubernetes" in capsys.readouterr().err
    assert not (tmp_path / "lc").exists()


def test_settings_kustomize_would_read_differently_are_named(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    folder = tmp_path / "lc"
    prepare(folder)
    assert generate(folder, "development") == 0
    with (folder / "librechat.env").open("a", encoding="utf-8") as settings:
        settings.write('APP_TITLE="My chat"\n')
    capsys.readouterr()
    assert generate(folder, "development") == 0
    err = capsys.readouterr().err
    assert "kustomize reads APP_TITLE differently from Compose" in err and "My chat" not in err


def test_kustomize_env_reads_as_kubectl_kustomize_does(tmp_path: Path) -> None:
    text = '\ufeff# c\n  A="x y"\nB=  v  \r\nC\n E=a=b # no comment\nF=${HOME}\n\n'
    (tmp_path / "a.env").write_text(text, encoding="utf-8")
    (tmp_path / "kustomization.yaml").write_text("configMapGenerator:\n- name: x\n  envs: [a.env]\n", encoding="utf-8")
    (config_map,) = build(tmp_path)
    assert kubernetes.kustomize_env(text) == config_map["data"]


@pytest.mark.parametrize("registration", ["open", "closed"])
def test_first_start_steps_are_given_in_kubectl_terms(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], registration: str
) -> None:
    """A cluster has no `docker compose`: the printed steps and the written files give kubectl commands."""
    folder = tmp_path / "chat"
    prepare(folder)
    assert generate(folder, "production", "--registration", registration, "--namespace", "lc") == 0
    printed = capsys.readouterr()
    apply = f"kubectl apply -k {folder}"
    if registration == "closed":
        assert (
            "then: sign-up is closed: create each user with `kubectl -n lc exec -it deploy/api -- npm run create-user` "
            f"(to open it: ALLOW_REGISTRATION=true in librechat.env, then `{apply}`)"
        ) in printed.out.splitlines()
    else:
        assert (
            "then: sign-up is open: the first account registered becomes the admin; then close sign-up: set "
            f"ALLOW_REGISTRATION=false in librechat.env and run `{apply}`"
        ) in printed.out.splitlines()
    settings = (folder / "librechat.env").read_text(encoding="utf-8")
    assert "# Apply a change (in this folder): kubectl apply -k .\n" in settings
    config = (folder / "librechat.yaml").read_text(encoding="utf-8")
    assert "to apply a change run (in this folder): kubectl apply -k .\n" in config
    assert "docker compose" not in printed.out + printed.err
    assert [p.name for p in folder.rglob("*") if p.is_file() and "docker compose" in p.read_text("utf-8")] == []
