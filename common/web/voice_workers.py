"""The voice webhooks' worker threads: run the service off the request thread, so the request thread
can answer within its budget whatever the service does.

Rules owned here:
- ``submit(fn, *args)`` runs ``fn`` on a worker in the submitter's context (contextvars: the
  request's trace, call sid and tenant reach the service's log lines) and returns a ``Job``.
  ``Job.result(timeout)`` answers what ``fn`` returned, raises what it raised, or raises
  ``TimeoutError`` (``concurrent.futures.TimeoutError`` is the same class) when it is not done in
  time; ``Job.cancel()`` keeps a job that has not started from ever starting.
- At most ``max_workers`` threads, started on demand and kept (daemon threads: a process that exits
  does not wait for a service stuck on I/O); a job beyond them waits for the first free one.
- A job costs one queue hand-off and one lock release: the fewest a thread hop can cost. This is
  what ``concurrent.futures.ThreadPoolExecutor`` does with more bookkeeping (a work item, a future
  with its condition and callbacks, an idle semaphore taken on every submit).
"""

from __future__ import annotations

import contextvars
import threading
from collections.abc import Callable
from queue import SimpleQueue
from typing import Any

_PENDING, _RUNNING, _CANCELLED, _DONE = range(4)


class Job:
    __slots__ = ("_args", "_context", "_done", "_error", "_fn", "_lock", "_state", "_value")

    def __init__(self, fn: Callable[..., Any], args: tuple[Any, ...]) -> None:
        self._fn, self._args = fn, args
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
        if not self._done.acquire(timeout=-1 if timeout is None else max(0.0, timeout)):
            raise TimeoutError(f"not done within {timeout:.3f}s")
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


class Workers:
    def __init__(self, max_workers: int, thread_name_prefix: str = "worker") -> None:
        if max_workers < 1:
            raise ValueError("max_workers must be at least 1")
        self.max_workers = max_workers
        self.prefix = thread_name_prefix
        self._queue: SimpleQueue[Job] = SimpleQueue()
        self._lock = threading.Lock()
        self._threads = 0
        self._idle = 0

    def submit(self, fn: Callable[..., Any], /, *args: Any) -> Job:
        job = Job(fn, args)
        with self._lock:
            start = self._idle <= 0 and self._threads < self.max_workers
            if start:
                self._threads += 1
            else:
                self._idle -= 1  # an idle worker will take it (below 0: jobs wait for the first free one)
        self._queue.put(job)
        if start:
            threading.Thread(target=self._work, name=f"{self.prefix}_{self._threads - 1}", daemon=True).start()
        return job

    @property
    def threads(self) -> int:
        return self._threads

    def _work(self) -> None:
        while True:
            self._queue.get()._run()
            with self._lock:
                self._idle += 1
