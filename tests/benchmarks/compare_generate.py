"""Proof that a speed change left `dbstack generate` byte for byte as it was: two versions of dbstack, one output.

    pip install --no-deps --target /tmp/before .      (in a checkout of the version to compare against)
    python tests/benchmarks/compare_generate.py /tmp/before

The version installed in this Python's environment ("after") runs as itself; the one in the given folder
("before") runs as the same Python with that folder first on PYTHONPATH. For every environment and every option
combination below, both write a fresh stack at the same path (the path is written into compose.yaml); every file
must be equal, files of secrets compared with their values masked (fresh secrets are random). Then the "before"
stack is regenerated in place by each version from the same copy (with the same options, or with those after
"then:", which test what a regeneration reads from the folder): every file, secrets included, must be equal.
"after" runs twice per case with its own cache folder, cold and then warm, and both runs must match. Differences
are printed as unified diffs; the exit status is 1 if there is any.
"""

from __future__ import annotations

import difflib
import os
import re
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

ENVIRONMENTS = ("development", "staging", "production")
OPTIONS: tuple[tuple[str, ...], ...] = (
    (),
    ("--proxy", "caddy", "--domain", "https://chat.example.com"),
    ("--proxy", "caddy", "--domain", "https://localhost:8443", "--registration", "open"),
    ("--without", "full_text_search", "--without", "vector_store"),
    ("--use", "cache=valkey", "--endpoint", "openai", "--endpoint", "ollama", "--embeddings", "ollama"),
    ("--use", "cache=redis", "--name", "chat", "--domain", "http://192.168.1.5:3080", "--registration", "closed"),
    ("--embeddings", "bedrock", "--endpoint", "anthropic", "--endpoint", "google"),
    ("--target", "kubernetes"),
    ("--target", "kubernetes", "--use", "cache=valkey", "--namespace", "chat-prod"),
    # Regenerated with no options: the proxy, domain, sign-up, endpoints and embeddings come from the folder.
    ("--proxy", "caddy", "--domain", "https://chat.example.com", "--registration", "open", "then:"),
    ("--endpoint", "openai", "--embeddings", "ollama", "--use", "cache=valkey", "then:", "--use", "cache=valkey"),
    ("--use", "cache=valkey", "then:", "--use", "cache=redis"),
)
# Files that hold secrets (fresh ones are random): .env, Kubernetes' *-credentials.env, compose file secrets.
SECRET_FILE = re.compile(r"^\.env$|-credentials\.env$|\.secret$")
BACKUP = re.compile(r"\.bak-\d{8}T\d{6}Z(?:-\d+)?")  # a backup's time stamp, in its name and in what is printed


def snapshot(folder: Path, mask_env: bool) -> dict[str, str]:
    """Every file under ``folder`` by relative path (backups by their original name: their stamps differ)."""
    files: dict[str, str] = {}
    for path in sorted(p for p in folder.rglob("*") if p.is_file()):
        name = BACKUP.sub(".bak", str(path.relative_to(folder)))
        text = path.read_text(encoding="utf-8")
        if mask_env and SECRET_FILE.search(path.name):
            text = re.sub(r"(?m)^([A-Z0-9_]+)=.*$", r"\1=***", text) if path.name.endswith(".env") else "***"
        elif mask_env and path.name == ".dbstack-files":  # the digests of those files differ with their secrets
            text = "\n".join(_masked_digest(line) for line in text.splitlines())
        files[f"{name} (mode {path.stat().st_mode & 0o777:o})"] = text
    return files


def _masked_digest(line: str) -> str:
    """A `.dbstack-files` line (``DIGEST  PATH``) with the digest masked if PATH holds secrets."""
    _, _, listed = line.partition("  ")
    return f"***  {listed}" if listed and SECRET_FILE.search(Path(listed).name) else line


def run(version: str, args: list[str], cwd: Path, before: Path, cache: Path) -> str:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("DBSTACK_", "PYTHON"))}
    env["XDG_CACHE_HOME"] = str(cache)
    if version == "before":
        env["PYTHONPATH"] = str(before)
    result = subprocess.run(
        [sys.executable, "-m", "dbstack", *args], cwd=cwd, env=env, capture_output=True, text=True, check=False
    )
    return BACKUP.sub(".bak", f"exit {result.returncode}\n{result.stdout}{result.stderr}")


def differences(label: str, left: dict[str, str], right: dict[str, str]) -> list[str]:
    lines: list[str] = []
    for name in sorted(set(left) | set(right)):
        a, b = left.get(name), right.get(name)
        if a != b:
            lines += [f"--- {label}: {name}"]
            old, new = (a or "").splitlines(), (b or "").splitlines()
            lines += difflib.unified_diff(old, new, "before", "after", lineterm="")
    return lines


def main() -> None:
    before = Path(sys.argv[1]).resolve()
    problems: list[str] = []
    compared = 0
    with tempfile.TemporaryDirectory() as tmp:
        work = Path(tmp)
        stack = work / "librechat-stack"
        for environment in ENVIRONMENTS:
            for options in OPTIONS:
                label = f"--env {environment} {' '.join(options)}"
                first = options[: options.index("then:")] if "then:" in options else options
                again = options[options.index("then:") + 1 :] if "then:" in options else options
                args = ["generate", "--env", environment, *first, "-o", str(stack)]
                outputs: dict[str, dict[str, str]] = {}
                for version, cache in (("before", "cache-before"), ("after", "cache-after"), ("after", "cache-after")):
                    shutil.rmtree(stack, ignore_errors=True)
                    said = run(version, args, work, before, work / cache)
                    key = version if version not in outputs else "after (warm cache)"
                    outputs[key] = {"(output)": said, **snapshot(stack, mask_env=True)}
                    if version == "before":
                        kept = work / "kept"
                        shutil.rmtree(kept, ignore_errors=True)
                        shutil.copytree(stack, kept, symlinks=True)
                problems += differences(f"fresh {label}", outputs["before"], outputs["after"])
                problems += differences(f"fresh, warm cache {label}", outputs["before"], outputs["after (warm cache)"])
                regenerated: dict[str, dict[str, str]] = {}
                for version, cache in (("before", "cache-before"), ("after", "cache-after")):
                    shutil.rmtree(stack, ignore_errors=True)
                    shutil.copytree(work / "kept", stack, symlinks=True)
                    again_args = ["generate", "--env", environment, *again, "-o", str(stack)]
                    said = run(version, again_args, work, before, work / cache)
                    regenerated[version] = {"(output)": said, **snapshot(stack, mask_env=False)}
                problems += differences(f"up to date {label}", regenerated["before"], regenerated["after"])
                compared += 1
                status = outputs["before"]["(output)"].split("\n", 1)[0]
                print(f"{label:<110} {status}, {len(outputs['before']) - 1} files", flush=True)
    print("\n".join(problems))
    print(f"{compared} cases, {'identical' if not problems else 'DIFFERENT'}")
    sys.exit(1 if problems else 0)


if __name__ == "__main__":
    main()
