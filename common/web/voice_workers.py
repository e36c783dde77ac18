"""The voice webhooks' worker threads: run the service off the request thread, so the request thread
can answer within its budget whatever the service does.

Rules owned here:
- ``submit(fn, *args)`` runs ``fn`` on a worker in the submitter's context (contextvars: the
  request's trace, call sid and tenant reach the service's log lines) and returns a ``Job``; the
  submitter waits for it at once. ``detach(fn, *args)`` is the same for a job nobody waits for.
  ``Job.result(timeout)`` answers what ``fn`` returned, raises what it raised, or raises
  ``TimeoutError`` (``concurrent.futures.TimeoutError`` is the same class) when it is not done in
  time; ``Job.cancel()`` keeps a job that has not started from ever starting.
- At most ``max_workers`` threads, started on demand and kept (daemon threads: a process that exits
  does not wait for a service stuck on I/O); a job beyond them waits for the first free one. One
  more thread, the solo worker, takes a lone request's job (below).
- A job costs one queue hand-off and one lock release: the fewest a thread hop can cost. This is
  what ``concurrent.futures.ThreadPoolExecutor`` does with more bookkeeping (a work item, a future
  with its condition and callbacks, an idle semaphore taken on every submit).
- **A lone request's job stays on its CPU** (``colocate``: on where Linux lets a thread pin another
  and there is more than one CPU). The webhook handlers count the requests they are serving
  (``arrive``/``leave``). When a request is the only one and the solo worker is free, its job goes to
  the solo worker, pinned to the CPU the submitter runs on, and the submitter is pinned there while
  it waits: the submitter sleeps as soon as it has submitted, so nothing runs in parallel that could
  use the other CPU. Left alone, the kernel wakes each thread on the idle CPU, and on a virtual
  machine those two wake-ups and the other CPU's caches cost more than the job's hand-off itself
  (2-vCPU KVM guest: 58 µs of CPU per round trip against 7 µs on one CPU; docs/load-testing.md).
  With two or more requests in the process (a burst), every job takes the shared queue and no thread
  is pinned, and for ``CROWD_SECONDS`` after: the kernel spreads the work over the CPUs (pinning
  every job there doubled a burst's latency). The submitter gets the process's CPU set back as soon
  as it is woken, answer or timeout; the solo worker stays pinned while it sleeps or is stuck, and
  takes only lone jobs. ``IVR_VOICE_COLOCATE=0`` (common/web/voice.py) turns it off.
"""

from __future__ import annotations

import contextvars
import ctypes
import os
import threading
import time
from collections.abc import Callable
from queue import SimpleQueue
from typing import Any

_PENDING, _RUNNING, _CANCELLED, _DONE = range(4)
CROWD_SECONDS = 1.0  # after two requests were served at once, no job is pinned for this long
_clock = time.monotonic


class _Cpus:
    """Thread pinning: the calling thread's CPU (``current``), pin a thread by its native id
    (``pin``; 0 is the calling thread; None: every CPU of the process again). ``usable`` is False
    where any part is missing (not Linux, a single CPU, no ``sched_getcpu``)."""

    def __init__(self) -> None:
        self.usable = False
        self.allowed: tuple[int, ...] = ()
        try:
            self.allowed = tuple(sorted(os.sched_getaffinity(0)))
            getcpu = ctypes.CDLL(None, use_errno=True).sched_getcpu
        except (AttributeError, OSError):  # not Linux, or no such libc symbol
            return
        getcpu.restype, getcpu.argtypes = ctypes.c_int, []
        self._getcpu = getcpu
        self.usable = len(self.allowed) > 1

    def current(self) -> int:
        cpu = int(self._getcpu())
        return cpu if cpu in self.allowed else -1

    def pin(self, thread: int, cpu: int | None) -> bool:
        try:
            os.sched_setaffinity(thread, self.allowed if cpu is None else (cpu,))
            return True
        except (OSError, ValueError):  # the CPU left the container's set, or the thread is gone
            return False


_cpus = _Cpus()


class Job:
    __slots__ = ("_args", "_context", "_cpu", "_done", "_error", "_fn", "_lock", "_state", "_value")

    def __init__(self, fn: Callable[..., Any], args: tuple[Any, ...]) -> None:
        self._fn, self._args = fn, args
        self._cpu = -1  # the CPU its worker was pinned to (the submitter's); -1: not pinned
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
        cpu, self._cpu = self._cpu, -1  # the first wait only
        pinned = cpu >= 0 and self._state != _DONE and _cpus.pin(0, cpu)
        try:
            if not self._done.acquire(timeout=-1 if timeout is None else max(0.0, timeout)):
                raise TimeoutError(f"not done within {timeout:.3f}s")
        finally:
            if pinned:
                _cpus.pin(0, None)
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


class _Solo:
    """The solo worker's mailbox: the job it is handed, the lock it sleeps on, where it is pinned."""

    __slots__ = ("busy", "cpu", "job", "thread", "wake")

    def __init__(self) -> None:
        self.busy = True  # until its thread is up and asleep on ``wake``
        self.cpu = -1
        self.job: Job | None = None
        self.thread = 0
        self.wake = threading.Lock()
        self.wake.acquire()  # released by ``submit`` with a job in ``job``


class Workers:
    def __init__(self, max_workers: int, thread_name_prefix: str = "worker", colocate: bool = True) -> None:
        if max_workers < 1:
            raise ValueError("max_workers must be at least 1")
        self.max_workers = max_workers
        self.prefix = thread_name_prefix
        self.colocate = colocate and _cpus.usable
        self._queue: SimpleQueue[Job] = SimpleQueue()
        self._lock = threading.Lock()
        self._threads = 0
        self._idle = 0
        self._requests = 0  # requests being served (``arrive`` / ``leave``)
        self._crowded_until = 0.0  # monotonic time: no pinning before it (``CROWD_SECONDS``)
        self._solo: _Solo | None = None
        self.solo_jobs = 0  # jobs the solo worker took, pinned (``/_local/counters`` shows them)
        self.queued_jobs = 0  # jobs that took the shared queue

    def arrive(self) -> None:
        """A webhook request begins (pair it with ``leave`` in a ``finally``)."""
        with self._lock:
            self._requests += 1
            if self._requests > 1:
                self._crowded_until = _clock() + CROWD_SECONDS

    def leave(self) -> None:
        with self._lock:
            self._requests -= 1

    def submit(self, fn: Callable[..., Any], /, *args: Any) -> Job:
        """Run ``fn(*args)`` on a worker; the submitter waits for it (``Job.result``) at once."""
        job = Job(fn, args)
        if self.colocate and self._requests == 1 and self._crowded_until <= _clock() and self._solo_takes(job):
            return job
        self._enqueue(job)
        return job

    def detach(self, fn: Callable[..., Any], /, *args: Any) -> Job:
        """Run ``fn(*args)`` on a worker nobody waits for: it runs beside the submitter, on any CPU."""
        job = Job(fn, args)
        self._enqueue(job)
        return job

    @property
    def threads(self) -> int:
        """The shared queue's threads (the solo worker is not one of them)."""
        return self._threads

    def _enqueue(self, job: Job) -> None:
        with self._lock:
            self.queued_jobs += 1
            start = self._idle <= 0 and self._threads < self.max_workers
            if start:
                self._threads += 1
            else:
                self._idle -= 1  # an idle worker will take it (below 0: jobs wait for the first free one)
        self._queue.put(job)
        if start:
            try:
                threading.Thread(target=self._work, name=f"{self.prefix}_{self._threads - 1}", daemon=True).start()
            except RuntimeError:  # no thread to be had (a process limit): the job waits for a busy one
                with self._lock:
                    self._threads -= 1
                    self._idle -= 1
                    alone = self._threads == 0
                if alone:
                    job.cancel()  # nobody will ever take it
                    raise

    def _work(self) -> None:
        while True:
            self._queue.get()._run()
            with self._lock:
                self._idle += 1

    def _solo_takes(self, job: Job) -> bool:
        """Hand ``job`` to the solo worker, pinned to this CPU, if it is free (False: it is not)."""
        with self._lock:
            solo = self._solo
            if solo is None:
                solo = self._solo = _Solo()
                first = True
            elif solo.busy or self._requests != 1:
                return False
            else:
                first, solo.busy = False, True
                self.solo_jobs += 1
        if first:  # its first use starts it; this job takes the queue
            try:
                threading.Thread(target=self._solo_work, args=(solo,), name=f"{self.prefix}_solo",
                                 daemon=True).start()  # fmt: skip
            except RuntimeError:  # no thread to be had (a process limit): the queue alone, as before
                self.colocate = False
            return False
        cpu = _cpus.current()
        if cpu >= 0 and (cpu == solo.cpu or _cpus.pin(solo.thread, cpu)):
            solo.cpu = job._cpu = cpu
        else:  # this CPU is not the process's, or pinning is refused here: no more pinning
            solo.cpu, self.colocate = -1, False
        solo.job = job
        solo.wake.release()
        return True

    def _solo_work(self, solo: _Solo) -> None:
        solo.thread = threading.get_native_id()
        solo.busy = False
        while True:
            solo.wake.acquire()
            job, solo.job = solo.job, None
            if job is not None:
                job._run()
            solo.busy = False
