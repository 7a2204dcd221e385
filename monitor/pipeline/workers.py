"""The extraction worker pool: a ProcessPoolExecutor (forkserver) that heals itself.

``ExtractionPool.run(fn, *args)`` runs ``fn`` in a worker under a deadline. A pool broken by a
dead worker (the OOM killer's SIGKILL, a crash in C code) is replaced and the work tried once
more; a page that breaks the pool twice is an ExtractError, so its story is built from the feed.
The pool's state (``ok`` or ``failing``, with the reason) is handed to ``on_change``, which the
runtime stores for `monitor status`. The workers die with the daemon even after ``kill -9``.
"""

from __future__ import annotations

import asyncio
import ctypes
import logging
import multiprocessing
import multiprocessing.forkserver
import os
import signal
import sys
import time
from collections.abc import Callable
from concurrent.futures import ProcessPoolExecutor
from concurrent.futures.process import BrokenProcessPool
from types import FrameType
from typing import Any, TypeVar

from monitor.errors import ExtractError

log = logging.getLogger("monitor")

T = TypeVar("T")
PR_SET_PDEATHSIG = 1  # linux/prctl.h
# The workers are replaced after this many tasks each, on average: whatever trafilatura and
# lxml leave behind (caches, fragmented arenas) is handed back to the system now and then.
# The pool retires itself rather than use ProcessPoolExecutor's max_tasks_per_child, which
# deadlocks on Python 3.11 to 3.14 when a worker exits at its limit with tasks queued
# (CPython gh-115634: the queued tasks never run and the interpreter hangs at exit).
TASKS_PER_WORKER = 200
# The daemon gives up on a task this long after the worker's own deadline, which a long call
# into C code (lxml) can outlast: the pool is then killed and made again.
HARD_MARGIN = 5.0
OK, FAILING = "ok", "failing"
StateHook = Callable[[str, str | None], None]


def die_with_parent() -> None:
    """Linux: this process gets SIGKILL when its parent dies, ``kill -9`` included; elsewhere
    nothing. Also exits at once if the parent is gone already (reparented before the call)."""
    if not sys.platform.startswith("linux"):
        return
    parent = os.getppid()
    try:
        libc = ctypes.CDLL(None, use_errno=True)
        libc.prctl(PR_SET_PDEATHSIG, signal.SIGKILL, 0, 0, 0)
    except (OSError, AttributeError):  # no libc prctl: the pipes are the only guard left
        return
    if os.getppid() != parent:
        os._exit(1)


def _init_worker(memory: int) -> None:
    """Each worker: killed with its parent (the forkserver, itself killed with the daemon);
    deaf to SIGTERM and SIGINT, which systemd and a terminal send to the whole group while the
    daemon is still finishing its work (the daemon ends its workers itself); and its address
    space capped, so that a page blowing up in lxml costs a MemoryError in one worker, not the
    unit's MemoryMax killing the whole service."""
    die_with_parent()
    signal.signal(signal.SIGTERM, signal.SIG_IGN)
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    if memory > 0:
        import resource  # Unix only, as the forkserver is

        resource.setrlimit(resource.RLIMIT_AS, (memory, memory))


def _expired(signum: int, frame: FrameType | None) -> None:
    raise TimeoutError("extraction deadline passed")


def _call(deadline: float, fn: Callable[..., T], *args: Any) -> T:
    """In the worker: ``fn(*args)`` under ``deadline`` seconds (SIGALRM, so the worker stays
    usable); a timeout or a MemoryError is the page's ExtractError."""
    previous = signal.signal(signal.SIGALRM, _expired)
    signal.setitimer(signal.ITIMER_REAL, deadline)
    try:
        return fn(*args)
    except TimeoutError:
        raise ExtractError(f"extraction took longer than {deadline:g}s") from None
    except MemoryError:
        raise ExtractError("extraction ran out of memory (worker_memory)") from None
    finally:
        signal.setitimer(signal.ITIMER_REAL, 0)
        signal.signal(signal.SIGALRM, previous)


def _processes(executor: ProcessPoolExecutor) -> list[multiprocessing.process.BaseProcess]:
    return list((getattr(executor, "_processes", None) or {}).values())


class ExtractionPool:
    """Worker processes for the CPU-bound work on pages, made again whenever they break."""

    def __init__(self, workers: int, *, memory: int = 0, deadline: float = 30.0,
                 on_change: StateHook | None = None) -> None:
        self.workers = workers
        self.memory = memory  # bytes of address space per worker; 0: no limit
        self.deadline = deadline
        self.on_change = on_change
        self.state = OK
        self.detail: str | None = None
        self.restarts = 0
        self.recycled = 0
        self._submitted = 0  # to the current executor
        # Workers of replaced executors, finishing their tasks before they exit (an executor
        # forgets its processes once shut down, so they are kept here).
        self._retired: list[multiprocessing.process.BaseProcess] = []
        self._executor = self._make()

    def _make(self) -> ProcessPoolExecutor:
        # forkserver, because forking a process that runs threads (the resolver's) is unsafe.
        # The forkserver preloads the analysis, and the guard that kills it with the daemon.
        context = multiprocessing.get_context("forkserver")
        context.set_forkserver_preload(["monitor.pipeline.forkserver_guard",
                                        "monitor.pipeline.analysis"])
        return ProcessPoolExecutor(max_workers=self.workers, mp_context=context,
                                   initializer=_init_worker, initargs=(self.memory,))

    def _recycle(self) -> None:
        """New workers for the next tasks once these have had their share; the old ones finish
        the tasks they hold (shutdown without cancelling) and then exit."""
        if self._submitted < TASKS_PER_WORKER * self.workers:
            return
        old = self._executor
        self._executor = self._make()
        self._submitted = 0
        self.recycled += 1
        self._retired = [p for p in self._retired if p.is_alive()] + _processes(old)
        old.shutdown(wait=False)

    def _set(self, state: str, detail: str | None) -> None:
        changed = (state, detail) != (self.state, self.detail)
        self.state, self.detail = state, detail
        if changed and self.on_change is not None:
            self.on_change(state, detail)

    def _replace(self, broken: ProcessPoolExecutor, reason: str, *, kill: bool = False) -> None:
        """A new pool in place of ``broken`` (once, however many tasks saw it break)."""
        if broken is not self._executor:
            return
        log.warning("extraction pool: %s; starting new workers", reason)
        self.restarts += 1
        self._set(FAILING, reason)
        if kill:  # a worker stuck in C code: only killing it ends the task
            for process in _processes(broken):
                process.kill()
        broken.shutdown(wait=False, cancel_futures=True)
        self._executor = self._make()
        self._submitted = 0

    def check(self) -> None:
        """Notice a dead worker between tasks too (the daemon calls this every few seconds), so
        that status shows it and the next task finds new workers."""
        if getattr(self._executor, "_broken", False):
            self._replace(self._executor, "an extraction worker died")

    async def run(self, fn: Callable[..., T], *args: Any) -> T:
        """``fn(*args)`` in a worker. ExtractError when the deadline passes, when memory runs
        out, or when the task breaks the pool twice (the pool is whole again after)."""
        breaks = 0
        while breaks < 2:
            self._recycle()
            executor = self._executor
            # The forkserver is started from this thread, whose life is the daemon's: its
            # parent-death signal fires when the thread that started it ends (prctl(2)), and a
            # thread of the default executor may end long before the daemon.
            multiprocessing.forkserver.ensure_running()
            try:
                # Submitted from a thread: a submit may start a worker process, which waits
                # for the forkserver to have preloaded trafilatura: seconds the loop can't give.
                submitted = await asyncio.to_thread(executor.submit, _call, self.deadline, fn,
                                                    *args)
            except BrokenProcessPool:
                self._replace(executor, "an extraction worker died")
                breaks += 1
                continue
            except RuntimeError:
                if executor is self._executor:  # shut down for good: the daemon is stopping
                    raise
                # replaced meanwhile (another task's _replace, or retired after its share of
                # tasks) before this task reached it: the current executor takes it
                continue
            if executor is self._executor:
                self._submitted += 1
            try:
                result = await asyncio.wait_for(asyncio.wrap_future(submitted),
                                                self.deadline + HARD_MARGIN)
            except BrokenProcessPool:
                self._replace(executor, "an extraction worker died")
                breaks += 1
                continue
            except asyncio.TimeoutError:
                self._replace(executor, "an extraction worker stuck past its deadline",
                              kill=True)
                raise ExtractError(f"extraction took longer than {self.deadline:g}s") from None
            if executor is self._executor:
                self._set(OK, None)
            return result
        raise ExtractError("the page killed an extraction worker twice")

    def shutdown(self, timeout: float = 10.0) -> None:
        """End the workers: each finishes its task within ``timeout`` seconds or is killed.
        Waiting for them lets multiprocessing release its semaphores (no leak)."""
        executor = self._executor
        processes = self._retired + _processes(executor)
        executor.shutdown(wait=False, cancel_futures=True)
        end = time.monotonic() + timeout
        for process in processes:
            process.join(max(0.0, end - time.monotonic()))
            if process.is_alive():
                process.kill()
        executor.shutdown(wait=True)
        self._retired = []
