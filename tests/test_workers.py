"""`catalog validate` shares the checks of many uncached files among forked processes (loader/workers.py): the
outcome is what one process gives (entries, every problem in its order and place, the cache written), whatever a
share's process does (fails, is killed), and no process is left behind."""

from __future__ import annotations

import faulthandler
import json
import os
import re
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from dbstack.loader import cache, registry, workers
from dbstack.loader.registry import BUILTIN_CATALOG, check_catalog

BUILTIN = sorted(BUILTIN_CATALOG.glob("*.yaml"))


def write_catalog(folder: Path, count: int) -> None:
    """``count`` entries copied from the built-in ones under new ids, and files with every kind of problem: one
    that is no YAML, one the schema refuses, one whose template does not render, aliases and ids that clash
    across files, one that replaces no built-in entry."""
    folder.mkdir()
    for index in range(count):
        source = BUILTIN[index % len(BUILTIN)]
        new_id = f"{source.stem[:20]}-{index:03d}"
        text = source.read_text(encoding="utf-8")
        text = re.sub(r"^id: .*$", f"id: {new_id}", text, count=1, flags=re.M)
        text = re.sub(r"^aliases: .*$", f"aliases: [{new_id}-alias]", text, count=1, flags=re.M)
        (folder / f"{new_id}.yaml").write_text(text, encoding="utf-8")
    first = sorted(folder.iterdir())[0]
    text = first.read_text(encoding="utf-8")
    (folder / "broken-yaml.yaml").write_text("id: broken-yaml\nname: [unclosed\n", encoding="utf-8")
    (folder / "no-schema.yaml").write_text(text.replace(f"id: {first.stem}", "id: no-schema", 1) + "surprise: 1\n")
    clash = re.sub(r"^aliases: .*$", f"aliases: [{first.stem}-alias]", text, count=1, flags=re.M)
    (folder / "clash.yaml").write_text(clash.replace(f"id: {first.stem}", "id: clash", 1), encoding="utf-8")
    (folder / "postgresql.yaml").write_text((BUILTIN_CATALOG / "postgresql.yaml").read_text(encoding="utf-8"))
    lonely = text.replace(f"id: {first.stem}", "id: lonely\nreplaces_builtin: true", 1)
    (folder / "lonely.yaml").write_text(re.sub(r"^aliases: .*$", "aliases: []", lonely, count=1, flags=re.M))
    healthcheck = re.compile(r"^(    test: )\[.*\]$", re.M)
    bad = healthcheck.sub(r'\1["CMD-SHELL", "{{ nothing.here }}"]', text.replace(f"id: {first.stem}", "id: bad"), 1)
    (folder / "bad.yaml").write_text(re.sub(r"^aliases: .*$", "aliases: []", bad, count=1, flags=re.M))


def validate(folder: Path, cache_home: Path, monkeypatch: pytest.MonkeyPatch) -> dict[str, Any]:
    """What check_catalog gives for ``folder`` with a cache of its own, and the cache lines it wrote."""
    monkeypatch.setenv("XDG_CACHE_HOME", str(cache_home))
    result = check_catalog([folder])
    cache_file = cache.EntryCache(cache_home / "dbstack")._file(folder.resolve() / "x.yaml")
    lines = sorted(cache_file.read_bytes().splitlines()) if cache_file.exists() else []
    return {
        "problems": [(str(p), p.rule) for p in result.problems],
        "files": result.files,
        "entries": result.specs,
        "cache": lines,
    }


@pytest.fixture
def forks(monkeypatch: pytest.MonkeyPatch) -> list[int]:
    """The pids of the processes forked for shares (the real fork still runs)."""
    pids: list[int] = []
    real = workers._fork

    def counting(
        part: Sequence[Any], work: Callable[[Sequence[Any]], bytes], mask: workers.Signals, earlier: Sequence[int]
    ) -> workers._Child | None:
        child = real(part, work, mask, earlier)
        if child is not None:
            pids.append(child.pid)
        return child

    monkeypatch.setattr(workers, "_fork", counting)
    return pids


def share_among(monkeypatch: pytest.MonkeyPatch, count: int, least: int = 10) -> None:
    monkeypatch.setattr(workers, "available_workers", lambda: count)
    monkeypatch.setattr(registry, "LEAST_FILES_PER_SHARE", least)


def test_sharing_gives_what_one_process_gives(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, forks: list[int]
) -> None:
    folder = tmp_path / "catalog"
    write_catalog(folder, 60)
    share_among(monkeypatch, 1)
    alone = validate(folder, tmp_path / "alone", monkeypatch)
    assert not forks
    rules = {rule for _, rule in alone["problems"]}
    assert {"DBS001", "DBS101", "DBS103", "DBS301"} <= rules, alone["problems"]
    # the copies; clash, postgresql and lonely: each valid alone (their problems are across files)
    assert len(alone["cache"]) == 60 + 3

    share_among(monkeypatch, 3)
    shared = validate(folder, tmp_path / "shared", monkeypatch)
    assert len(forks) == 2  # three shares: two forked, one done here
    assert shared == alone

    forks.clear()  # a second run: every valid file served from the cache, nothing left to share
    assert validate(folder, tmp_path / "shared", monkeypatch) == alone
    assert not forks


def test_sharing_after_edits_gives_what_one_process_gives(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, forks: list[int]
) -> None:
    """Warm caches, then files broken (their lines must go), edited (checked again) and added: the files served
    from the cache, checked in each share, and the lines each share drops or writes are those of one process."""
    folder = tmp_path / "catalog"
    write_catalog(folder, 60)
    share_among(monkeypatch, 1)
    validate(folder, tmp_path / "alone", monkeypatch)
    share_among(monkeypatch, 3)
    validate(folder, tmp_path / "shared", monkeypatch)
    copies = sorted(path for path in folder.glob("*-0[0-9][0-9].yaml"))
    for path in copies[:20]:  # broken: a line each had must be dropped
        path.write_text(path.read_text(encoding="utf-8").replace("\nname: ", "\nname: [", 1), encoding="utf-8")
    for path in copies[20:45]:  # edited: checked again, a new line each
        path.write_text(path.read_text(encoding="utf-8").replace("\ndescription: ", "\ndescription: Edited. ", 1))
    (folder / "new-entry.yaml").write_text(
        copies[50].read_text(encoding="utf-8").replace(f"id: {copies[50].stem}", "id: new-entry", 1), "utf-8"
    )
    share_among(monkeypatch, 1)
    forks.clear()
    alone = validate(folder, tmp_path / "alone", monkeypatch)
    assert not forks
    share_among(monkeypatch, 3)
    shared = validate(folder, tmp_path / "shared", monkeypatch)
    assert len(forks) == 2  # 20 + 25 + 1 files and those with a problem: checked again, shared
    assert shared == alone
    assert len(alone["cache"]) == 63 - 20 + 1 and sum(p[1] == "DBS001" for p in alone["problems"]) == 21


def test_sharing_without_a_cache_gives_what_one_process_gives(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, forks: list[int]
) -> None:
    folder = tmp_path / "catalog"
    write_catalog(folder, 30)
    monkeypatch.setenv(cache.NO_CACHE_ENV, "1")
    share_among(monkeypatch, 1)
    alone = validate(folder, tmp_path / "alone", monkeypatch)
    share_among(monkeypatch, 2)
    assert validate(folder, tmp_path / "shared", monkeypatch) == alone
    assert len(forks) == 1
    assert alone["cache"] == [] and not (tmp_path / "shared").exists()


@pytest.mark.parametrize(
    "failure",
    [
        pytest.param(lambda: os._exit(3), id="exits-non-zero"),
        pytest.param(lambda: os.kill(os.getpid(), signal.SIGKILL), id="killed"),
        pytest.param(lambda: (_ for _ in ()).throw(RuntimeError("a bug in a check")), id="raises"),
    ],
)
def test_a_share_whose_process_fails_is_checked_here(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, forks: list[int], failure: Callable[[], None]
) -> None:
    folder = tmp_path / "catalog"
    write_catalog(folder, 40)
    share_among(monkeypatch, 1)
    alone = validate(folder, tmp_path / "alone", monkeypatch)

    here = os.getpid()
    real = registry._check_share

    def failing_elsewhere(entries: cache.EntryCache | None, caller: int, part: Sequence[tuple[Path, Path]]) -> bytes:
        if os.getpid() != here:
            failure()
        return real(entries, caller, part)

    monkeypatch.setattr(registry, "_check_share", failing_elsewhere)
    share_among(monkeypatch, 2)
    assert validate(folder, tmp_path / "shared", monkeypatch) == alone
    assert len(forks) == 1
    with pytest.raises(ChildProcessError, match="No child processes"):
        os.waitpid(forks[0], os.WNOHANG)  # reaped


def test_results_larger_than_a_pipe_holds_come_back_whole() -> None:
    def work(part: Sequence[int]) -> bytes:
        return b"".join(bytes([n]) * 3_000_000 for n in part)  # each child writes far past the pipe's 64 KiB

    one, two, three, four = (bytes([n]) * 3_000_000 for n in (1, 2, 3, 4))
    assert workers.run_shares([[1], [2, 3], [4]], work) == [one, two + three, four]


def test_an_exception_here_stops_and_reaps_every_child(forks: list[int], tmp_path: Path) -> None:
    here = os.getpid()

    def work(part: Sequence[int]) -> bytes:
        if os.getpid() == here:
            raise KeyboardInterrupt("Ctrl-C while this process did its share")
        time.sleep(5)  # a child still working: it must be stopped, not waited for
        (tmp_path / f"share-{part[0]}-ended").touch()
        return b""

    with pytest.raises(KeyboardInterrupt, match="Ctrl-C while"):
        workers.run_shares([[0], [1], [2]], work)
    assert len(forks) == 2
    for pid in forks:
        with pytest.raises(ChildProcessError, match="No child processes"):
            os.waitpid(pid, os.WNOHANG)
    assert list(tmp_path.iterdir()) == []  # stopped: neither child lived to end its share


def test_ctrl_c_ends_a_child_by_the_signal() -> None:
    """A child takes Ctrl-C as the default action (it ends at once, no Python code runs), not as an exception its
    share's code could catch or print."""

    def work(part: Sequence[int]) -> bytes:
        try:
            os.kill(os.getpid(), signal.SIGINT)
            time.sleep(5)
        except KeyboardInterrupt:
            return b"caught"
        return b"went on"

    with workers._ctrl_c_held() as mask:
        child = workers._fork([1], work, mask, [])
    assert child is not None
    try:
        _, status = os.waitpid(child.pid, 0)
        child.reaped = True
    finally:
        child.stop()
    assert os.WIFSIGNALED(status) and os.WTERMSIG(status) == signal.SIGINT


def test_workers_are_the_cpus_this_process_may_use(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(workers, "_threads", lambda: 1)
    monkeypatch.setattr(os, "sched_getaffinity", lambda pid: {0, 1, 2, 3})
    monkeypatch.setattr(workers, "_cgroup_cpus", lambda: workers.MAX_WORKERS)
    assert workers.available_workers() == 4
    monkeypatch.setattr(workers, "_cgroup_cpus", lambda: 2)  # a container's CPU quota
    assert workers.available_workers() == 2
    monkeypatch.setattr(os, "sched_getaffinity", lambda pid: set(range(64)))
    monkeypatch.setattr(workers, "_cgroup_cpus", lambda: workers.MAX_WORKERS)
    assert workers.available_workers() == workers.MAX_WORKERS
    monkeypatch.setattr(workers, "_threads", lambda: 2)  # another thread: forking is not safe
    assert workers.available_workers() == 1


@pytest.mark.parametrize(
    ("membership", "cpu_max", "cpus"),
    [
        ("0::/ci/job\n", "150000 100000\n", 2),  # 1.5 CPUs: two processes
        ("0::/ci/job\n", "100000 100000\n", 1),
        ("0::/ci/job\n", "max 100000\n", workers.MAX_WORKERS),
        ("0::/\n", "400000 100000\n", 4),  # the root of a cgroup namespace (a container's view)
        ("4:memory:/x\n1:cpu:/\n", None, workers.MAX_WORKERS),  # cgroup v1: no quota read
        ("0::/ci/job\n", "nonsense\n", workers.MAX_WORKERS),
    ],
)
def test_a_cgroup_cpu_quota_bounds_the_workers(tmp_path: Path, membership: str, cpu_max: str | None, cpus: int) -> None:
    (tmp_path / "cgroup").write_text(membership, encoding="utf-8")
    group = tmp_path / "fs" / membership.partition("0::/")[2].strip()
    group.mkdir(parents=True)
    if cpu_max is not None:
        (group / "cpu.max").write_text(cpu_max, encoding="utf-8")
    assert workers._cgroup_cpus(str(tmp_path / "cgroup"), str(tmp_path / "fs")) == cpus


def test_every_thread_of_the_process_is_counted() -> None:
    """Python's threads and those of native code (faulthandler's watchdog: a C thread threading does not know)."""
    before = workers._threads()  # the test run's own (other tests may have left some)
    stop = threading.Event()
    thread = threading.Thread(target=stop.wait)
    thread.start()
    try:
        assert workers._threads() == before + 1
        assert workers.available_workers() == 1
    finally:
        stop.set()
        thread.join()
    python_threads = threading.active_count()
    faulthandler.dump_traceback_later(600)
    try:
        assert (workers._threads(), threading.active_count()) == (before + 1, python_threads)
    finally:
        faulthandler.cancel_dump_traceback_later()


SIGCHLD_IGNORED = """
import os, signal, sys
signal.signal(signal.SIGCHLD, signal.SIG_IGN)  # as some daemons and CI runners start their jobs: it survives exec
os.execv(sys.executable, [sys.executable, "-m", "dbstack", *sys.argv[1:]])
"""


def test_a_process_started_with_sigchld_ignored_checks_alone_and_reports_the_same(tmp_path: Path) -> None:
    """Children would reap themselves, and waiting for one fails ("No child processes"): nothing is shared."""
    folder = tmp_path / "catalog"
    write_catalog(folder, 120)
    args = ["catalog", "validate", "--format", "json", str(folder)]
    env = {**os.environ, "DBSTACK_NO_CACHE": "1"}
    ignored = subprocess.run([sys.executable, "-c", SIGCHLD_IGNORED, *args], env=env, capture_output=True, text=True)
    usual = subprocess.run([sys.executable, "-m", "dbstack", *args], env=env, capture_output=True, text=True)
    assert ignored.returncode == usual.returncode == 1, ignored.stderr
    assert ignored.stderr == usual.stderr and json.loads(ignored.stdout) == json.loads(usual.stdout)


def test_the_cli_reports_a_large_catalog_cold_as_warm(tmp_path: Path) -> None:
    """The real command: the report of a cold run, whose checks are shared where there are two CPUs or more (that
    the command shares them is seen in the Ctrl-C test below), is the report of the warm run that follows, which
    serves every valid file from the cache and checks only those with a problem, in this one process."""
    folder = tmp_path / "catalog"
    write_catalog(folder, 120)
    command = [sys.executable, "-m", "dbstack", "catalog", "validate", "--format", "json", str(folder)]
    env = {**os.environ, "XDG_CACHE_HOME": str(tmp_path / "cache")}
    cold = subprocess.run(command, env=env, capture_output=True, text=True, check=False)
    warm = subprocess.run(command, env=env, capture_output=True, text=True, check=False)
    assert cold.returncode == warm.returncode == 1, cold.stderr
    assert json.loads(cold.stdout) == json.loads(warm.stdout)


CTRL_C_IN_AFTER_FORK = """
import os, signal, sys
from dbstack.loader import workers
# Ctrl-C at the worst moment: while Python runs its own after-fork code in the child
os.register_at_fork(after_in_child=lambda: os.kill(os.getpid(), signal.SIGINT))
print(workers.run_shares([[1], [2]], lambda part: bytes(part)))
"""


def test_ctrl_c_right_after_fork_ends_the_child_without_a_traceback() -> None:
    run = subprocess.run([sys.executable, "-c", CTRL_C_IN_AFTER_FORK], capture_output=True, text=True, check=False)
    # the child died of the signal (its share is then None: done again here, had Ctrl-C not reached this process)
    assert (run.returncode, run.stdout, run.stderr) == (0, "[b'\\x01', None]\n", "")


def children_of(pid: int) -> list[int]:
    try:
        return [int(child) for child in Path(f"/proc/{pid}/task/{pid}/children").read_text().split()]
    except OSError:  # exited
        return []


def test_ctrl_c_while_sharing_ends_every_process_without_a_traceback(tmp_path: Path) -> None:
    """Ctrl-C in a terminal reaches the whole process group: the command and each process checking a share."""
    folder = tmp_path / "catalog"
    write_catalog(folder, 1500)
    command = [sys.executable, "-m", "dbstack", "catalog", "validate", str(folder)]
    env = {**os.environ, "XDG_CACHE_HOME": str(tmp_path / "cache")}
    process = subprocess.Popen(command, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, start_new_session=True)
    children: list[int] = []
    while not children and process.poll() is None:  # until a share's process runs
        time.sleep(0.005)
        children = children_of(process.pid)
    assert children, "the command ended before it shared its checks (a machine with one CPU?)"
    os.killpg(process.pid, signal.SIGINT)
    out, err = process.communicate(timeout=60)
    assert (process.returncode, out, err) == (130, b"", b"")
    for child in children:
        assert not Path(f"/proc/{child}").exists() or "Z" in Path(f"/proc/{child}/stat").read_text().split()[2]


@given(jobs=st.lists(st.integers(), max_size=300), count=st.integers(1, 12), least=st.integers(0, 40))
def test_shares_deal_every_job_once(jobs: list[int], count: int, least: int) -> None:
    parts = workers.shares(jobs, count, least)
    assert len(parts) == max(1, min(count, len(jobs) // max(1, least)))
    assert sorted(job for part in parts for job in part) == sorted(jobs)
    assert 1 <= len(parts) <= count
    if len(parts) > 1:
        assert all(len(part) >= least for part in parts)
        assert max(map(len, parts)) - min(map(len, parts)) <= 1
