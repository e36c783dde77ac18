"""The voice webhooks' worker threads: run the service off the request thread, so the request thread
can answer within its budget whatever the service does.

Rules owned here:
- ``submit(fn, *args)`` (``detach`` for a job nobody waits for) runs ``fn`` on a worker in the
  submitter's context (contextvars: the request's trace, call sid and tenant reach the service's
  log lines) and returns a ``Job``.
  ``Job.result(timeout)`` answers what ``fn`` returned, raises what it raised, or raises
  ``TimeoutError`` (``concurrent.futures.TimeoutError`` is the same class) when it is not done in
  time; ``Job.cancel()`` keeps a job that has not started from ever starting.
- At most ``max_workers`` threads, started on demand and kept (daemon threads: a process that exits
  does not wait for a service stuck on I/O); a job beyond them waits for the first free one.
- A job costs two lock releases (the worker's wake-up, the answer): the fewest a thread hop can
  cost. ``concurrent.futures.ThreadPoolExecutor`` does the same with more bookkeeping (a work item,
  a future with its condition and callbacks, an idle semaphore taken on every submit).
- The idle worker that ran last takes the next job (a stack, not a queue): its stack and the
  service's data are the likeliest to still be in a CPU's caches.
- Same CPU (``colocate``, on by default where Linux lets a thread pin itself): the worker is pinned
  to the CPU the submitter runs on, and the submitter to it while it waits. The submitter sleeps
  as soon as it has submitted, so the job loses no parallelism; without it the kernel wakes each
  thread on the idle CPU, and on a virtual machine that wake-up and the caches of the other CPU
  cost more than the job's hand-off itself (on a 2-vCPU KVM guest: 58 µs of CPU per round trip
  against 7 µs on one CPU; docs/load-testing.md). The submitter gets its own CPU set back as soon as
  it is woken, answer or timeout; a worker stays pinned while it is idle or stuck (asleep either
  way) and is pinned afresh by its next job. Off with one CPU, or where pinning fails.
"""

from __future__ import annotations

import contextvars
import ctypes
import os
import threading
from collections import deque
from collections.abc import Callable
from typing import Any

_PENDING, _RUNNING, _CANCELLED, _DONE = range(4)


class _Cpus:
    """Thread pinning: this CPU (``current``), pin a thread by its native id (``pin``; 0 is the
    calling thread) and give the calling thread back the set it had (``release``). ``usable`` is
    False where any part is missing (not Linux, one CPU, no ``sched_getcpu``)."""

    def __init__(self) -> None:
        self.usable = False
        self.allowed: set[int] = set()
        try:
            self.allowed = set(os.sched_getaffinity(0))
            getcpu = ctypes.CDLL(None, use_errno=True).sched_getcpu
        except (AttributeError, OSError):  # not Linux, or no such libc symbol
            return
        getcpu.restype, getcpu.argtypes = ctypes.c_int, []
        self._getcpu = getcpu
        self.usable = len(self.allowed) > 1

    def current(self) -> int:
        return int(self._getcpu())

    def pin(self, thread: int, cpu: int | None) -> bool:
        """Pin ``thread`` to ``cpu`` (None: let it run on every CPU it may again)."""
        try:
            os.sched_setaffinity(thread, self.allowed if cpu is None else (cpu,))
            return True
        except (OSError, ValueError):  # the CPU left the container's set, or the thread is gone
            return False

    def release(self) -> None:
        """The calling thread on every CPU it may run on again."""
        self.pin(0, None)


_cpus = _Cpus()


class Job:
    __slots__ = ("_args", "_context", "_cpu", "_done", "_error", "_fn", "_lock", "_state", "_value")

    def __init__(self, fn: Callable[..., Any], args: tuple[Any, ...]) -> None:
        self._fn, self._args = fn, args
        self._cpu = -1  # the CPU its worker was pinned to (the submitter's), -1: not pinned
        self._context = contextvars.copy_context()
        self._done = threading.Lock()
        self._done.acquire()  # released once, when the job has a value or an error
        self._lock = threading.Lock()  # guards the state between cancel() and the worker's start
        self._state = _PENDING
        self._value: Any = None
        self._error: BaseException | None = None

    def _run(self) -> None:
        with self._lock:
            if self._state != _PENDING:
                return  # cancelled before a worker took it
            self._state = _RUNNING
        try:
            self._value = self._context.run(self._fn, *self._args)
        except BaseException as exc:  # handed to the waiter, who decides what it means
            self._error = exc
        finally:
            self._state = _DONE
            self._fn = self._args = None  # type: ignore[assignment]  # no references kept past the answer
            self._done.release()

    def result(self, timeout: float | None = None) -> Any:
        pinned = self._cpu >= 0 and self._state != _DONE and _cpus.pin(0, self._cpu)
        try:
            if not self._done.acquire(timeout=-1 if timeout is None else max(0.0, timeout)):
                raise TimeoutError(f"not done within {timeout:.3f}s")
        finally:
            if pinned:
                self._cpu = -1  # pinned once: a second wait is not
                _cpus.release()
        self._done.release()  # later callers get the answer at once
        if self._error is not None:
            raise self._error
        return self._value

    def cancel(self) -> bool:
        """True when the job had not started and now never will."""
        with self._lock:
            if self._state == _PENDING:
                self._state = _CANCELLED
                return True
            return self._state == _CANCELLED


class _Worker:
    """A worker thread's mailbox: the job it is handed and the lock it sleeps on."""

    __slots__ = ("job", "thread", "wake")

    def __init__(self, job: Job | None) -> None:
        self.job = job
        self.thread = threading.get_native_id()
        self.wake = threading.Lock()
        self.wake.acquire()  # released by ``submit`` with a job in ``job``


class Workers:
    def __init__(self, max_workers: int, thread_name_prefix: str = "worker", colocate: bool = True) -> None:
        if max_workers < 1:
            raise ValueError("max_workers must be at least 1")
        self.max_workers = max_workers
        self.prefix = thread_name_prefix
        self.colocate = colocate and _cpus.usable
        self._lock = threading.Lock()
        self._idle: list[_Worker] = []  # the last to go idle at the end: it takes the next job
        self._waiting: deque[Job] = deque()  # jobs beyond max_workers busy threads, oldest first
        self._threads = 0

    def submit(self, fn: Callable[..., Any], /, *args: Any) -> Job:
        """Run ``fn(*args)`` on a worker; the submitter is to wait for it (``Job.result``) at once."""
        return self._submit(fn, args, self.colocate)

    def detach(self, fn: Callable[..., Any], /, *args: Any) -> Job:
        """Run ``fn(*args)`` on a worker that nobody waits for: it runs beside the submitter, on any CPU."""
        return self._submit(fn, args, False)

    def _submit(self, fn: Callable[..., Any], args: tuple[Any, ...], colocate: bool) -> Job:
        job = Job(fn, args)
        with self._lock:
            worker = self._idle.pop() if self._idle else None
            start = worker is None and self._threads < self.max_workers
            if start:
                self._threads += 1
            elif worker is None:
                self._waiting.append(job)  # every thread is busy: the first to finish takes it
                return job
        if worker is None:
            threading.Thread(target=self._work, args=(job,), name=f"{self.prefix}_{self._threads - 1}",
                             daemon=True).start()  # fmt: skip
            return job
        if colocate:
            cpu = _cpus.current()
            if cpu >= 0 and _cpus.pin(worker.thread, cpu):
                job._cpu = cpu
        elif self.colocate:
            _cpus.pin(worker.thread, None)  # an earlier job's pin: a detached job runs on any CPU
        worker.job = job
        worker.wake.release()
        return job

    @property
    def threads(self) -> int:
        return self._threads

    def _work(self, first: Job) -> None:
        me = _Worker(first)
        while True:
            job, me.job = me.job, None
            if job is not None:
                job._run()
            with self._lock:
                queued = self._waiting.popleft() if self._waiting else None
                if queued is None:
                    self._idle.append(me)
            if queued is None:
                me.wake.acquire()
                continue
            me.job = queued  # it waited for a thread: nobody waits for it on this CPU
            if self.colocate:
                _cpus.release()
