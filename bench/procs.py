"""Worker processes: each one is started in its own session (process group) and is always killed
with its whole tree, including children that left the group (RQ's work horses call setsid).

Every process started here is also remembered in a module-level registry that an ``atexit`` hook
(and :func:`kill_all`) empties, so an interrupted run leaves nothing running.
"""

from __future__ import annotations

import atexit
import contextlib
import ctypes
import os
import signal
import subprocess
import sys
import time
from collections.abc import Mapping, Sequence
from pathlib import Path

import psutil

REPO_ROOT = Path(__file__).resolve().parent.parent

_LIVE: dict[int, WorkerProcess] = {}
_PR_SET_PDEATHSIG = 1


def die_with_parent() -> None:
    """In the child, before exec: get SIGKILL if the benchmark process dies (Linux only)."""
    try:
        libc = ctypes.CDLL(None, use_errno=True)
        libc.prctl(_PR_SET_PDEATHSIG, signal.SIGKILL, 0, 0, 0)
    except (OSError, AttributeError):
        pass


class WorkerProcess:
    """A process (and its descendants) started for one benchmarked worker."""

    def __init__(
        self,
        argv: Sequence[str],
        env: Mapping[str, str],
        log_path: Path,
        label: str,
    ) -> None:
        self.label = label
        self.argv = list(argv)
        self.log_path = log_path
        full_env = dict(os.environ)
        full_env.update(env)
        pythonpath = [str(REPO_ROOT)]
        if full_env.get("PYTHONPATH"):
            pythonpath.append(full_env["PYTHONPATH"])
        full_env["PYTHONPATH"] = os.pathsep.join(pythonpath)
        full_env["PYTHONUNBUFFERED"] = "1"
        log_path.parent.mkdir(parents=True, exist_ok=True)
        with log_path.open("ab") as log:
            self.popen = subprocess.Popen(
                self.argv,
                env=full_env,
                cwd=REPO_ROOT,
                stdin=subprocess.DEVNULL,
                stdout=log,
                stderr=subprocess.STDOUT,
                start_new_session=True,
                preexec_fn=die_with_parent,  # noqa: PLW1509 -- started before any thread
            )
        self.pid = self.popen.pid
        self.started_at = time.time()
        self._known: set[int] = {self.pid}
        _LIVE[self.pid] = self

    def alive(self) -> bool:
        return self.popen.poll() is None

    def tree(self) -> list[psutil.Process]:
        """The leader and all its live descendants."""
        try:
            leader = psutil.Process(self.pid)
            procs = [leader, *leader.children(recursive=True)]
        except psutil.NoSuchProcess:
            return []
        self._known.update(p.pid for p in procs)
        return procs

    def pids(self) -> set[int]:
        return {p.pid for p in self.tree()}

    def owns(self, pid: int) -> bool:
        """True if ``pid`` is (or was, when last looked at) in this worker's tree."""
        return pid in self._known or pid in self.pids()

    def rss_bytes(self) -> int:
        total = 0
        for proc in self.tree():
            with contextlib.suppress(psutil.NoSuchProcess, psutil.AccessDenied):
                total += proc.memory_info().rss
        return total

    def kill(self) -> None:
        """SIGKILL the whole tree: the process group, then any descendant outside it."""
        members = self.tree()
        with contextlib.suppress(ProcessLookupError, PermissionError):
            os.killpg(self.pid, signal.SIGKILL)
        for proc in members:
            with contextlib.suppress(psutil.NoSuchProcess, psutil.AccessDenied):
                proc.kill()
        with contextlib.suppress(subprocess.TimeoutExpired):
            self.popen.wait(timeout=10)
        for proc in members:
            with contextlib.suppress(psutil.Error):
                proc.wait(timeout=2)
        _LIVE.pop(self.pid, None)

    def log_tail(self, lines: int = 20) -> str:
        try:
            text = self.log_path.read_text(errors="replace")
        except OSError:
            return ""
        return "\n".join(text.splitlines()[-lines:])


def python_argv(*args: str) -> list[str]:
    """``[sys.executable, *args]``: workers run in the interpreter (venv) that runs the bench."""
    return [sys.executable, *args]


def kill_all() -> None:
    for proc in list(_LIVE.values()):
        proc.kill()


atexit.register(kill_all)
