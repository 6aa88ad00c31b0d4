"""Issue 8's first-start and upgrade guarantees on `dbstack generate --target kubernetes`.

- Meilisearch's claim template carries the image's major.minor (as the compose volume does); a regeneration that
  moves it names the old claim, and says that `kubectl apply -k` will refuse the StatefulSet, with the steps.
- The folder's README.md gives first-start steps whose every kubectl command names what the built folder holds
  (namespace, StatefulSets, Deployments, Services, pods, claims, files): read from the manifests kubectl built.
- A role dropped on regeneration: its files go (or stay, named, when the user changed them), and the warning's
  kubectl commands name exactly the resources the earlier folder built.
"""

from __future__ import annotations

import os
import re
import shlex
import shutil
from pathlib import Path
from typing import Any

import pytest
import yaml
from test_kubernetes import SERVERS, build, by_kind
from test_kubernetes_stack import generate, prepare

from dbstack.cli import main
from dbstack.loader.apps import load_app

from compose_tools import user_keys

FIRST = load_app("librechat").first_start
assert FIRST is not None
MEILISEARCH = next(s for s in SERVERS if s.id == "meilisearch")
assert MEILISEARCH.container is not None


def _version_claim(tag: str) -> str:
    major, minor = re.match(r"v?(\d+)\.(\d+)", tag).groups()  # type: ignore[union-attr]
    return f"meilisearch-data-v{major}-{minor}"


def statefulset(docs: list[dict[str, Any]], name: str) -> dict[str, Any]:
    (found,) = [d for d in by_kind(docs, "StatefulSet") if d["metadata"]["name"] == name]
    return found


def claim_templates(docs: list[dict[str, Any]]) -> dict[str, list[str]]:
    return {
        d["metadata"]["name"]: [t["metadata"]["name"] for t in d["spec"].get("volumeClaimTemplates", [])]
        for d in by_kind(docs, "StatefulSet")
    }


def older_meilisearch_catalog(folder: Path, tag: str) -> Path:
    """A user catalog whose Meilisearch is another version: what an older or newer dbstack would pin."""
    assert MEILISEARCH.container is not None
    text = Path(MEILISEARCH.file).read_text(encoding="utf-8")
    text = text.replace(f'tag: "{MEILISEARCH.container.tag}"', f'tag: "{tag}"', 1)
    text = text.replace("id: meilisearch\n", "id: meilisearch\nreplaces_builtin: true\n", 1)
    folder.mkdir()
    (folder / "meilisearch.yaml").write_text(text, encoding="utf-8")
    return folder


# --- 1. Meilisearch data by version ------------------------------------------------------------------------------


def test_meilisearch_claim_template_carries_the_image_version_as_the_compose_volume(tmp_path: Path) -> None:
    assert MEILISEARCH.container is not None
    folder, compose_folder = tmp_path / "k8s", tmp_path / "compose"
    for f in (folder, compose_folder):
        prepare(f)
    assert generate(folder, "production") == 0
    assert generate(compose_folder, "production", target="compose") == 0
    docs = build(folder)
    expected = _version_claim(MEILISEARCH.container.tag)
    meili = statefulset(docs, "meilisearch")
    assert claim_templates(docs)["meilisearch"] == [expected]
    (container,) = meili["spec"]["template"]["spec"]["containers"]
    assert {"name": expected, "mountPath": MEILISEARCH.container.data_dir} in container["volumeMounts"]
    # The same name as the compose volume (a DNS label: '.' -> '-').
    compose_text = (compose_folder / "compose.yaml").read_text(encoding="utf-8")
    assert f"{expected.replace('-v', '-v', 1)}" == re.sub(
        r"\.", "-", re.search(r"meilisearch-data-v[0-9.]+", compose_text).group(0)  # type: ignore[union-attr]
    )
    # No other claim is renamed: a cluster refuses to change a StatefulSet's claim templates.
    assert {n: t for n, t in claim_templates(docs).items() if n != "meilisearch"} == {
        "mongodb": ["data"],
        "vectordb": ["data"],
    }
    # The upgrade steps delete the StatefulSet and rely on its claims outliving it (the default: Retain).
    for d in by_kind(docs, "StatefulSet"):
        assert d["spec"].get("persistentVolumeClaimRetentionPolicy", {}).get("whenDeleted", "Retain") == "Retain"


def test_a_version_change_keeps_the_old_claim_and_gives_the_steps(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert MEILISEARCH.container is not None
    catalog = older_meilisearch_catalog(tmp_path / "catalog", "v1.35.1")
    folder = tmp_path / "chat"
    prepare(folder)
    assert main(["--catalog", str(catalog), "generate", "--target", "kubernetes", "-o", str(folder)]) == 0
    assert claim_templates(build(folder))["meilisearch"] == ["meilisearch-data-v1-35"]
    capsys.readouterr()
    assert generate(folder, "development") == 0
    err = capsys.readouterr().err
    new = _version_claim(MEILISEARCH.container.tag)
    (note,) = [line for line in err.splitlines() if "meilisearch-data-v1-35" in line]
    assert "the data stays on meilisearch-data-v1-35-meilisearch-0, which the new version cannot open" in note
    assert f"its data now goes to claim {new}-meilisearch-0" in note
    assert "`kubectl apply -k` will refuse to change statefulset/meilisearch" in note
    assert "`kubectl -n chat delete statefulset meilisearch`" in note
    assert claim_templates(build(folder))["meilisearch"] == [new]
    readme = (folder / "README.md").read_text(encoding="utf-8")
    assert f"(`{new}`: the pod's claim is `{new}-meilisearch-0`)" in readme
    # Once moved, a regeneration says nothing more.
    assert generate(folder, "development") == 0
    assert "meilisearch-data-v" not in capsys.readouterr().err


# --- 2. The stack's README -----------------------------------------------------------------------------------------

README_CASES = {
    "closed": ("production", []),
    "open": ("development", ["--registration", "open"]),
    "ingress-redis": ("production", ["--domain", "https://chat.example.com", "--use", "cache=redis"]),
    "no-search": ("staging", ["--namespace", "team-chat", "--without", "full_text_search"]),
    "other-port": ("development", ["--domain", "http://localhost:8080"]),
    "address": ("production", ["--domain", "http://192.0.2.10:3080"]),
}


def kubectl_commands(readme: str) -> list[list[str]]:
    """Every kubectl command of the README (shell blocks and inline code), as argv up to a pipe."""
    lines = [
        line for block in re.findall(r"```sh\n(.*?)```", readme, re.S) for line in block.splitlines()
    ]
    lines += re.findall(r"`(kubectl [^`]+)`", readme)
    commands = []
    for line in lines:
        if line.startswith("kubectl "):
            words = shlex.split(line)
            commands.append(words[: words.index("|")] if "|" in words else words)
    return commands


def check_import_patch(folder: Path, name: str, patch: str) -> None:
    """The README's import patch, applied by kustomize to the folder's own StatefulSet: every path exists (kustomize
    refuses a remove of a missing one), and the result imports without the probes that would kill the import."""
    overlay = folder.parent / f"{folder.name}-import-overlay"
    overlay.mkdir()
    target = {"kind": "StatefulSet", "name": name}
    kustomization = {"resources": [os.path.relpath(folder, overlay)], "patches": [{"target": target, "patch": patch}]}
    (overlay / "kustomization.yaml").write_text(yaml.safe_dump(kustomization), encoding="utf-8")
    try:
        (container,) = statefulset(build(overlay), name)["spec"]["template"]["spec"]["containers"]
    finally:
        shutil.rmtree(overlay)
    assert "startupProbe" not in container and "livenessProbe" not in container and "readinessProbe" in container
    assert {"name": "MEILI_IMPORT_DUMP", "value": "/meili_data/import.dump"} in container["env"]
    (original,) = statefulset(build(folder), name)["spec"]["template"]["spec"]["containers"]
    assert "startupProbe" in original and "livenessProbe" in original  # what apply -k puts back


def check_command(argv: list[str], docs: list[dict[str, Any]], folder: Path) -> None:
    """One README command against the built resources: every name it uses exists, with the right kind."""
    names = {(d["kind"], d["metadata"]["name"]) for d in docs}
    (namespace,) = [d["metadata"]["name"] for d in by_kind(docs, "Namespace")]
    pods = {f"{d['metadata']['name']}-0" for d in by_kind(docs, "StatefulSet")}
    kinds = {"statefulset": "StatefulSet", "deployment": "Deployment", "deploy": "Deployment", "service": "Service"}
    words = argv[1:]
    if "-n" in words:
        at = words.index("-n")
        assert words[at + 1] == namespace, argv
        del words[at : at + 2]

    def resource(word: str) -> None:
        kind, _, name = word.partition("/")
        assert (kinds[kind], name) in names, argv

    verb = words[0]
    if verb in {"apply", "kustomize"}:
        assert words[-1] == "." and (folder / "kustomization.yaml").is_file(), argv
    elif verb == "rollout":
        resource(words[2])
    elif verb == "port-forward":
        # Where the browser goes (DOMAIN_CLIENT) is where kubectl listens: its port, and its address unless loopback.
        address = "localhost"
        if words[1] == "--address":
            address = words[2]
            del words[1:3]
        resource(words[1])
        local, remote = words[2].split(":")
        (service,) = [d for d in by_kind(docs, "Service") if d["metadata"]["name"] == words[1].split("/")[1]]
        assert int(remote) in [p["port"] for p in service["spec"]["ports"]], argv
        settings = (folder / "librechat.env").read_text(encoding="utf-8")
        assert f"DOMAIN_CLIENT=http://{address}:{local}\n" in settings, argv
    elif verb == "exec":
        target = words[2] if words[1] == "-it" else words[1]
        command = words[words.index("--") + 1 :]
        if target.startswith("deploy/"):
            resource(target)
            assert target == f"deploy/{FIRST.create_user_service}"  # type: ignore[union-attr]
            assert command == shlex.split(FIRST.create_user_command), argv  # type: ignore[union-attr]
        else:
            assert target in pods, argv
    elif verb == "cp":
        in_pod = [w for w in words[1:] if ":" in w]
        assert len(in_pod) == 1 and in_pod[0].split(":")[0] in pods, argv
        pod, path = in_pod[0].split(":")
        (container,) = statefulset(docs, pod.removesuffix("-0"))["spec"]["template"]["spec"]["containers"]
        assert any(path.startswith(m["mountPath"] + "/") for m in container["volumeMounts"]), argv
    elif verb == "delete":
        if words[1] == "pvc":
            assert words[2] == "OLD", argv  # the old claim, which dbstack names when it regenerates
        else:
            assert ({"statefulset": "StatefulSet"}[words[1]], words[2]) in names, argv
    elif verb == "set":
        resource(words[2])
    elif verb == "patch":
        resource(words[1])
        assert words[2:4] == ["--type", "json"] and words[4] == "-p", argv
        check_import_patch(folder, words[1].split("/")[1], words[5])
    else:
        pytest.fail(f"README command not checked here: {argv}")


def open_signup(folder: Path) -> bool:
    """The sign-up the stack was written with, as its settings file (the user's from then on) says."""
    return f"{FIRST.registration_variable}=true\n" in (folder / "librechat.env").read_text(encoding="utf-8")  # type: ignore[union-attr]


@pytest.fixture(scope="module")
def readmes(tmp_path_factory: pytest.TempPathFactory) -> dict[str, tuple[Path, str, list[dict[str, Any]]]]:
    root = tmp_path_factory.mktemp("k8s-readme")
    out = {}
    for case, (env, extra) in README_CASES.items():
        folder = root / f"chat-{case}"
        prepare(folder)
        assert generate(folder, env, *extra) == 0
        out[case] = (folder, (folder / "README.md").read_text(encoding="utf-8"), build(folder))
    return out


@pytest.mark.parametrize("case", README_CASES)
def test_every_readme_command_names_what_the_built_folder_holds(readmes: dict[str, Any], case: str) -> None:
    folder, readme, docs = readmes[case]
    commands = kubectl_commands(readme)
    for argv in commands:
        check_command(argv, docs, folder)
    # Every workload is waited for, and the first user is reachable: each case's own command is there.
    workloads = {
        f"{d['kind'].lower()}/{d['metadata']['name']}" for d in docs if d["kind"] in {"StatefulSet", "Deployment"}
    }
    assert {a[-1] for a in commands if a[1:2] == ["-n"] and a[3:5] == ["rollout", "status"]} == workloads
    verbs = [a[3] for a in commands if a[1:2] == ["-n"]]
    creates_users = any(a[3] == "exec" and a[5].startswith("deploy/") for a in commands if a[1:2] == ["-n"])
    assert creates_users == (not open_signup(folder))
    assert ("port-forward" in verbs) == (case != "ingress-redis")
    assert ("set" in verbs) == ("patch" in verbs) == (case != "no-search")  # the Meilisearch upgrade steps


@pytest.mark.parametrize("case", README_CASES)
def test_readme_names_the_folders_files_claims_and_ingress(readmes: dict[str, Any], case: str) -> None:
    folder, readme, docs = readmes[case]
    claims = [f"{t}-{n}-0" for n, ts in claim_templates(docs).items() for t in ts]
    claims += [d["metadata"]["name"] for d in by_kind(docs, "PersistentVolumeClaim")]
    (backup_line,) = [line for line in readme.splitlines() if line.startswith("- the data claims ")]
    assert sorted(re.findall(r"`([^`]+)`", backup_line)) == sorted(claims)
    (secrets_paragraph,) = [p for p in readme.split("\n\n") if "`secretGenerator` reads" in p]
    named = re.findall(r"`([^`]+-credentials\.env)`", secrets_paragraph)
    assert sorted(named) == sorted(p.name for p in folder.glob("*-credentials.env"))
    rows = re.findall(r"^\| (\S+) \| (StatefulSet|Deployment) \| `([^`]+)` \|", readme, re.M)
    built = {
        (d["metadata"]["name"], d["kind"], c["image"])
        for d in docs
        if d["kind"] in {"StatefulSet", "Deployment"}
        for c in d["spec"]["template"]["spec"]["containers"]
    }
    assert {(name.replace("\\", ""), kind, image) for name, kind, image in rows} == built
    ingresses = by_kind(docs, "Ingress")
    if case == "ingress-redis":
        (ingress,) = ingresses
        host = ingress["spec"]["rules"][0]["host"]
        tls = ingress["spec"]["tls"][0]["secretName"]
        assert f"sends `{host}` to the Service `api`" in readme and f"from the Secret `{tls}`" in readme
    else:
        assert not ingresses and "no DNS name an Ingress can serve" in readme
    assert ("Sign-up is open" in readme) == open_signup(folder)
    assert "docker compose" not in readme


def test_readme_is_replaced_with_a_backup_of_the_users_edits_and_a_foreign_one_refused(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    folder = tmp_path / "chat"
    prepare(folder)
    assert generate(folder, "production") == 0
    readme = folder / "README.md"
    edited = readme.read_text(encoding="utf-8") + "\nmy own notes\n"
    readme.write_text(edited, encoding="utf-8")
    assert generate(folder, "production") == 0
    (backup,) = folder.glob("README.md.bak-*")
    assert backup.read_text(encoding="utf-8") == edited and "my own notes" not in readme.read_text("utf-8")
    readme.write_text("# my README\n", encoding="utf-8")
    capsys.readouterr()
    assert generate(folder, "production") == 1
    assert "README.md, not written by dbstack" in capsys.readouterr().err
    assert readme.read_text(encoding="utf-8") == "# my README\n"


# --- 3. A role dropped on regeneration ---------------------------------------------------------------------------


def test_a_dropped_role_leaves_no_files_and_the_cluster_commands_name_its_resources(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    folder = tmp_path / "chat"
    prepare(folder)
    assert generate(folder, "production", "--use", "cache=redis") == 0
    before = build(folder)
    redis_files = sorted(p.name for p in folder.glob("redis-*"))
    assert redis_files
    capsys.readouterr()
    assert generate(folder, "production", "--without", "cache") == 0
    out, err = capsys.readouterr()
    assert not list(folder.glob("redis-*"))
    assert sorted(re.findall(r"^removed \S+/(redis-\S+) ", out, re.M)) == redis_files
    after = build(folder)  # still builds: nothing it lists is gone
    assert not [d for d in after if "redis" in d["metadata"]["name"]]
    (note,) = [line for line in err.splitlines() if "deletes nothing from the cluster" in line]
    commands = [shlex.split(c) for c in re.findall(r"`(kubectl [^`]+)`", note) if " delete " in c]
    assert len(commands) == 2
    named = {w for c in commands for w in c if "/" in w and not w.startswith("app.kubernetes.io")}
    dropped = {
        f"{d['kind'].lower()}/{d['metadata']['name']}"
        for d in before
        if d["kind"] not in {"Secret", "Namespace"} and d not in after
        and d["metadata"]["name"].startswith("redis")
    }
    assert named == dropped
    # The Secret (its name hashed by kustomize) by label: the selector matches exactly the dropped one.
    (selector,) = [c[c.index("-l") + 1] for c in commands if "-l" in c]
    wanted = dict(pair.split("=") for pair in selector.split(","))
    matched = [d for d in by_kind(before, "Secret") if wanted.items() <= d["metadata"].get("labels", {}).items()]
    assert [d["metadata"]["name"].rsplit("-", 1)[0] for d in matched] == ["redis-credentials"]
    assert all(c[1:3] == ["-n", "chat"] for c in commands)
    (claim,) = [t for t in claim_templates(before)["redis"]]
    assert f"the data stays on persistentvolumeclaim/{claim}-redis-0" in note


def test_an_edited_dropped_file_stays_and_is_named_on_every_run(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    folder = tmp_path / "chat"
    prepare(folder)
    assert generate(folder, "production", "--use", "cache=redis") == 0
    edited = folder / "redis-statefulset.yaml"
    edited.write_text(edited.read_text(encoding="utf-8") + "# mine\n", encoding="utf-8")
    capsys.readouterr()
    for _ in range(2):
        assert generate(folder, "production", "--without", "cache") == 0
        err = capsys.readouterr().err
        assert edited.read_text(encoding="utf-8").endswith("# mine\n")
        assert f"{edited}: dbstack wrote it earlier and this stack no longer has it" in err
        assert "statefulset/redis" in err  # still in the cluster, whatever the file says
    assert not (folder / "redis-service.yaml").exists()


def test_a_folder_from_before_the_versioned_claim_is_told_the_same_steps(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """Written by a dbstack whose Meilisearch claim was `data`: the cluster holds data-meilisearch-0."""
    folder = tmp_path / "chat"
    prepare(folder)
    assert generate(folder, "production") == 0
    manifest = folder / "meilisearch-statefulset.yaml"
    new = claim_templates(build(folder))["meilisearch"][0]
    manifest.write_text(manifest.read_text(encoding="utf-8").replace(new, "data"), encoding="utf-8")
    capsys.readouterr()
    assert generate(folder, "production") == 0
    err = capsys.readouterr().err
    assert "the data stays on data-meilisearch-0, which the new version cannot open" in err
    assert f"its data now goes to claim {new}-meilisearch-0" in err


@pytest.mark.parametrize(
    "text",
    [
        "kind: StatefulSet\nmetadata: {name: redis}\nspec: [not, a, mapping]\n",
        "kind: StatefulSet\nmetadata: {name: redis}\nspec: {volumeClaimTemplates: [1, {metadata: []}, {}]}\n",
        "a: &a [*a]\n",
        "{unclosed\n",
        "\xff not text\n",
    ],
)
def test_an_edited_manifest_of_any_shape_is_read_without_a_traceback(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], text: str
) -> None:
    """The earlier manifests are the user's to edit: the version and dropped-role checks read them as data."""
    assert MEILISEARCH.container is not None
    folder = tmp_path / "chat"
    prepare(folder)
    assert generate(folder, "production", "--use", "cache=redis") == 0
    for name in ("redis-statefulset.yaml", "meilisearch-statefulset.yaml"):
        header = (folder / name).read_bytes().split(b"\n", 1)[0]  # still dbstack's: its first line says so
        (folder / name).write_bytes(header + b"\n" + text.encode("utf-8").replace(b"\xc3\xbf", b"\xff"))
    capsys.readouterr()
    assert generate(folder, "production", "--without", "cache") == 0
    err = capsys.readouterr().err
    assert "Traceback" not in err and "meilisearch-data-v" not in err
    assert f"{folder / 'redis-statefulset.yaml'}: dbstack wrote it earlier" in err
    assert claim_templates(build(folder))["meilisearch"] == [_version_claim(MEILISEARCH.container.tag)]


def test_the_readme_command_for_missing_keys_regenerates_this_folder_for_kubernetes(tmp_path: Path) -> None:
    """Without the embeddings key the README lists it with the command to run once it is in .env: that
    command (a folder name holding ' -o ' included) writes this folder again, for this target and namespace."""
    folder = tmp_path / "my -o chat"
    assert generate(folder, "production", "--namespace", "lc") == 0
    readme = (folder / "README.md").read_text(encoding="utf-8")
    (command,) = re.findall(r"^   (dbstack .*)$", readme, re.M)
    argv = shlex.split(command)
    assert argv[argv.index("--target") + 1] == "kubernetes" and argv[argv.index("--namespace") + 1] == "lc"
    assert argv[-2:] == ["-o", str(folder.resolve())] and argv.count("-o") == 1
    for key in user_keys():
        assert f"`{key}`" in readme
    with (folder / ".env").open("a", encoding="utf-8") as env:
        env.write("".join(f"{k}={v}\n" for k, v in user_keys().items()))
    assert main(argv[1:]) == 0
    readme = (folder / "README.md").read_text(encoding="utf-8")
    assert "Nothing to fill in" in readme and not re.findall(r"^   (dbstack .*)$", readme, re.M)
    assert {d["metadata"]["namespace"] for d in build(folder) if d["kind"] != "Namespace"} == {"lc"}
