"""Threads for plain (blocking) tasks: kept for reuse, never a fixed number.

A thread cannot be killed, so a plain task past its timeout runs on. In a fixed pool such a
thread would hold a slot the next job waits for (and times out waiting), and the pool's exit
hook would wait for it forever. Here a call goes to an idle thread if there is one and to a new
thread otherwise, so a stuck task never delays another; threads idle for ``keep_idle_s`` end.
Starting a thread per call (what this replaces) cost more than a no-op job itself.

The awaiting side gets a plain asyncio future, settled through ``call_soon_threadsafe``; the
threads are daemons, so a stuck one never holds the worker's exit.
"""

from __future__ import annotations

import asyncio
import contextlib
import queue
import threading
from collections.abc import Callable
from typing import Any, TypeVar

T = TypeVar("T")
_Call = tuple[asyncio.AbstractEventLoop, "asyncio.Future[Any]", Callable[[Any], Any], Any]


class TaskThreads:
    def __init__(self, keep_idle_s: float = 60.0) -> None:
        self._work: queue.SimpleQueue[_Call] = queue.SimpleQueue()
        self._lock = threading.Lock()
        self._idle = 0  # threads waiting on _work, less the calls already handed to them
        self._keep_idle_s = keep_idle_s
        self.started = 0  # threads started in all

    def run(self, fn: Callable[[Any], T], arg: Any) -> asyncio.Future[T]:
        """Call ``fn(arg)`` in a thread; the future settles on the calling loop."""
        loop = asyncio.get_running_loop()
        future: asyncio.Future[T] = loop.create_future()
        call: _Call = (loop, future, fn, arg)
        with self._lock:
            if self._idle:
                self._idle -= 1
                self._work.put(call)
                return future
            self.started += 1
        threading.Thread(target=self._serve, args=(call,), name="task", daemon=True).start()
        return future

    @property
    def idle(self) -> int:
        with self._lock:
            return self._idle

    def _serve(self, call: _Call | None) -> None:
        while call is not None:
            loop, future, fn, arg = call
            result, error = _call(fn, arg)
            with self._lock:  # idle before the caller hears back, so its next call reuses us
                self._idle += 1
            with contextlib.suppress(RuntimeError):  # a closed loop: the worker stopped
                loop.call_soon_threadsafe(_settle, future, result, error)
            call = self._next()

    def _next(self) -> _Call | None:
        try:
            return self._work.get(timeout=self._keep_idle_s)
        except queue.Empty:
            with self._lock:  # a call handed over while the wait timed out is still ours
                try:
                    return self._work.get_nowait()
                except queue.Empty:
                    self._idle -= 1
                    return None


def _call(fn: Callable[[Any], Any], arg: Any) -> tuple[Any, BaseException | None]:
    try:
        return fn(arg), None
    except Exception as exc:  # handed to the awaiting coroutine, like an executor does
        return None, exc
    except BaseException as exc:  # SystemExit & co. must fail the task, not stop the worker
        return None, RuntimeError(f"task raised {type(exc).__name__}: {exc}")


def _settle(future: asyncio.Future[Any], result: Any, error: BaseException | None) -> None:
    if future.done():  # cancelled: the attempt timed out or the worker stopped
        return
    if error is None:
        future.set_result(result)
    else:
        future.set_exception(error)
