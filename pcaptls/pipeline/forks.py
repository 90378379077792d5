"""Worker processes made with fork(): they start as a copy of this process.

That copy is the point: a command's closures (its row maker, its loaded trust store) reach the
workers without pickling; at most a key and a path cross to them, and results come back.
:class:`Forked` (one task, one child) splits one capture over processes
(:func:`pcaptls.pipeline.analysis.analyse`); :func:`pool` reads several captures at once
(:func:`pcaptls.commands.common.analyse_many`).
"""

from __future__ import annotations

import contextlib
import os
import sys
from collections.abc import Callable, Iterator
from typing import TYPE_CHECKING, Any, NoReturn

if TYPE_CHECKING:
    from concurrent.futures import ProcessPoolExecutor


def can_fork() -> bool:
    """Worker processes are made with fork() (they inherit this process, closures included).
    Only on Linux: macOS system libraries are not fork-safe, Windows has no fork. Elsewhere
    ``jobs`` is taken as 1 (the result is the same, only slower)."""
    return sys.platform.startswith("linux") and hasattr(os, "fork")


# Functions a forked worker finds by key: a closure does not pickle, but a worker made by fork()
# starts with a copy of this process, this table included.
_INHERITED: dict[int, Callable[..., Any]] = {}


@contextlib.contextmanager
def inherited(fn: Callable[..., Any] | None) -> Iterator[int | None]:
    """Make ``fn`` available to workers forked inside the ``with`` block; yields its key for
    :func:`by_key` (``None`` for no function)."""
    if fn is None:
        yield None
        return
    key = id(fn)
    _INHERITED[key] = fn
    try:
        yield key
    finally:
        _INHERITED.pop(key, None)


def by_key(key: int | None) -> Callable[..., Any] | None:
    """In a worker: the function registered under ``key`` by :func:`inherited`."""
    return None if key is None else _INHERITED[key]


def pool(workers: int) -> ProcessPoolExecutor:
    """A pool of ``workers`` forked processes."""
    import multiprocessing  # here: a run on one process does not load them
    from concurrent.futures import ProcessPoolExecutor

    return ProcessPoolExecutor(max_workers=workers, mp_context=multiprocessing.get_context("fork"))


class Forked:
    """``fn(*args)`` run in a child process made with fork(); :meth:`result` gives what it
    returned, or raises what it raised. One task, one child, a pipe for the pickled outcome:
    what splitting one capture needs, without a pool's modules (multiprocessing and
    concurrent.futures take 20 ms to import, before the first frame is read). Use as a context
    manager: leaving it stops a child whose result was not taken."""

    def __init__(self, fn: Callable[..., Any], *args: Any) -> None:
        import pickle  # noqa: F401  (here, before the fork: the child answers with it)

        read, write = os.pipe()
        try:
            pid = os.fork()
        except OSError:
            os.close(read)
            os.close(write)
            raise
        if pid == 0:  # the child
            os.close(read)
            _answer(write, fn, args)
        os.close(write)
        self._pid: int | None = pid
        self._read = read

    def result(self) -> Any:
        import pickle

        with os.fdopen(self._read, "rb") as f:
            data = f.read()
        status = self._wait()
        if not data:
            raise RuntimeError(f"a worker process ended without a result ({_how(status)})")
        ok, value, trace = pickle.loads(data)
        if ok:
            return value
        value.__cause__ = _RemoteTraceback(trace)  # with --debug, where it failed in the child
        raise value

    def _wait(self) -> int:
        pid, self._pid = self._pid, None
        return 0 if pid is None else os.waitpid(pid, 0)[1]

    def __enter__(self) -> Forked:
        return self

    def __exit__(self, *exc: object) -> None:
        if self._pid is not None:  # the result was not wanted (this process failed): stop it
            import signal

            try:
                os.kill(self._pid, signal.SIGKILL)
            except ProcessLookupError:
                pass
            self._wait()
            os.close(self._read)


def _answer(fd: int, fn: Callable[..., Any], args: tuple[Any, ...]) -> NoReturn:
    """In the child: run the task, write its pickled outcome, and leave without running this
    process's exit handlers or flushing its copies of the parent's buffers."""
    import pickle

    code = 0
    try:
        try:
            out: tuple[bool, Any, str] = (True, fn(*args), "")
        except BaseException as e:
            import traceback

            out = (False, e, traceback.format_exc())
        try:
            data = pickle.dumps(out, protocol=pickle.HIGHEST_PROTOCOL)
        except Exception as e:  # a result (or an exception) that does not pickle: said as text
            what = "result" if out[0] else f"exception {out[1]!r}"
            data = pickle.dumps((False, RuntimeError(f"the worker's {what} does not pickle: {e}"), out[2]))
        with os.fdopen(fd, "wb") as f:
            f.write(data)
    except BaseException:
        code = 1
    finally:
        os._exit(code)


def _how(status: int) -> str:
    if os.WIFSIGNALED(status):
        return f"killed by signal {os.WTERMSIG(status)}"
    return f"exit status {os.waitstatus_to_exitcode(status)}"


class _RemoteTraceback(Exception):
    def __init__(self, tb: str) -> None:
        super().__init__(tb)
        self.tb = tb

    def __str__(self) -> str:
        return self.tb
