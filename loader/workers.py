"""Work shared between this process and forked copies of it, for the CPU-bound checks of many catalog files.

Each share of the work runs through the same function, one share in this process and each other share in a
child forked for it (a copy of this process: nothing is imported or loaded again, and nothing is pickled: the
child's result comes back as bytes through a pipe only the two processes hold). A child that fails in any way
(an exception, a signal, a non-zero exit) gives None, and the caller does that share itself: the outcome, an
internal error included, is what doing every share here gives.

Only where ``os.fork`` is safe to use and its children can be waited for: on Linux, with no other thread (a
forked child has a copy of the forking thread alone; a lock another thread held stays locked in it), and with
SIGCHLD not ignored (children would then reap themselves). A child that outlives this process (killed with
SIGKILL) ends its share and exits when it finds no one to read its result.
"""

from __future__ import annotations

import contextlib
import os
import signal
import sys
from collections.abc import Callable, Iterator, Sequence
from typing import TypeVar

Job = TypeVar("Job")
Signals = set[int | signal.Signals]  # a signal mask, as pthread_sigmask gives it

MAX_WORKERS = 8  # beyond that, copying results back and the shares' unequal sizes eat the gain


def available_workers() -> int:
    """How many processes may share work: the CPUs this process may use (its CPU affinity, and its cgroup's CPU
    quota, as a container's --cpus sets it), 1 where forking is not safe or children cannot be waited for."""
    if not sys.platform.startswith("linux") or signal.getsignal(signal.SIGCHLD) == signal.SIG_IGN:
        return 1
    try:
        if _threads() > 1:
            return 1
        cpus = len(os.sched_getaffinity(0))
    except OSError:
        return 1
    return max(1, min(cpus, _cgroup_cpus(), MAX_WORKERS))


def _threads() -> int:
    """The threads of this process, those of native libraries included (threading knows only Python's)."""
    return len(os.listdir("/proc/self/task"))


def _cgroup_cpus(membership: str = "/proc/self/cgroup", root: str = "/sys/fs/cgroup") -> int:
    """The CPUs the CPU quota of this process's cgroup (v2) allows, rounded up ("QUOTA PERIOD" in cpu.max; "max":
    no quota); MAX_WORKERS where there is none or it cannot be read."""
    try:
        with open(membership, encoding="utf-8") as lines:
            group = next((line[3:].strip() for line in lines if line.startswith("0::")), None)
        if group is None:
            return MAX_WORKERS
        with open(f"{root}{group.rstrip('/')}/cpu.max", encoding="utf-8") as limit:
            quota, period = limit.read().split()
        return MAX_WORKERS if quota == "max" else max(1, -(-int(quota) // int(period)))
    except (OSError, ValueError):
        return MAX_WORKERS


def shares(jobs: Sequence[Job], workers: int, least: int) -> list[list[Job]]:
    """``jobs`` dealt in turn to at most ``workers`` shares of at least ``least`` jobs each (one share if there
    are too few): dealt, not cut in runs, so that each share gets a like mix of small and large files."""
    count = max(1, min(workers, len(jobs) // max(1, least)))
    return [list(jobs[index::count]) for index in range(count)]


def run_shares(parts: Sequence[Sequence[Job]], work: Callable[[Sequence[Job]], bytes]) -> list[bytes | None]:
    """``work`` of each share: the first here, the others each in a forked child, at the same time. A child's
    result is None if it failed; an exception of the first share's (this process's) propagates, after every
    child has been stopped and reaped."""
    children: list[_Child | None] = []  # None: a share no child could be forked for
    try:
        for part in parts[1:]:
            # Ctrl-C held back from fork until the child is in the list (and so stopped, whatever comes) and has its
            # own handler (arriving while Python runs its after-fork code in the child, it was a traceback there,
            # "Exception ignored in _after_fork"); held, it is delivered when unblocked
            with _ctrl_c_held() as mask:
                earlier = [child.read_end for child in children if child]  # the child closes them: not its pipes
                children.append(_fork(part, work, mask, earlier))
        results: list[bytes | None] = [work(parts[0])] if parts else []
        results += [child.result() if child else None for child in children]
        return results
    finally:
        with _ctrl_c_held():  # a second Ctrl-C cannot cut this short: each child stopped and reaped, none left
            for child in children:
                if child:
                    child.stop()


@contextlib.contextmanager
def _ctrl_c_held() -> Iterator[Signals]:
    """SIGINT blocked (delivered once unblocked, as the block ends); gives the mask to restore."""
    mask = signal.pthread_sigmask(signal.SIG_BLOCK, {signal.SIGINT})
    try:
        yield mask
    finally:
        signal.pthread_sigmask(signal.SIG_SETMASK, mask)


class _Child:
    """A forked child doing one share, and the read end of the pipe its result comes through."""

    def __init__(self, pid: int, read_end: int) -> None:
        self.pid, self.read_end, self.reaped = pid, read_end, False

    def result(self) -> bytes | None:
        """The child's result once it has exited; None unless it exited 0."""
        chunks = []
        while chunk := os.read(self.read_end, 1 << 20):  # read before waiting: a full pipe would block the child
            chunks.append(chunk)
        with _ctrl_c_held():  # reaped and marked so at once: stop() never signals a pid that may be another's now
            _, status = os.waitpid(self.pid, 0)
            self.reaped = True
        if os.waitstatus_to_exitcode(status) != 0:
            return None
        return b"".join(chunks)

    def stop(self) -> None:
        with contextlib.suppress(OSError):
            os.close(self.read_end)
        if not self.reaped:
            with contextlib.suppress(ProcessLookupError):
                os.kill(self.pid, signal.SIGKILL)
            with contextlib.suppress(ChildProcessError):
                os.waitpid(self.pid, 0)
            self.reaped = True


def _fork(
    part: Sequence[Job], work: Callable[[Sequence[Job]], bytes], mask: Signals, earlier: Sequence[int]
) -> _Child | None:
    """A child doing ``part``, forked with SIGINT blocked: it sets its handler, then restores ``mask``. It closes
    ``earlier``, the read ends of the children forked before it: held open by it, a pipe whose reader is gone
    (this process killed) would block that child, not end it."""
    try:
        read_end, write_end = os.pipe()
    except OSError:  # out of file descriptors
        return None
    try:
        pid = os.fork()
    except OSError:  # out of processes or memory
        os.close(read_end)
        os.close(write_end)
        return None
    if pid == 0:  # the child: does its share, writes the result, and exits without running this process's exit code
        status = 1
        try:
            for fd in (read_end, *earlier):
                os.close(fd)
            if signal.getsignal(signal.SIGINT) is signal.default_int_handler:  # not if this process ignores it
                signal.signal(signal.SIGINT, signal.SIG_DFL)  # Ctrl-C ends it at once, without a traceback
            signal.pthread_sigmask(signal.SIG_SETMASK, mask)
            view = memoryview(work(part))
            while view:
                view = view[os.write(write_end, view) :]
            status = 0
        finally:
            os._exit(status)
    os.close(write_end)
    return _Child(pid, read_end)
