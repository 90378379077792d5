"""Worker processes made with fork(): they start as a copy of this process.

That copy is the point: a command's closures (its row maker, its loaded trust store) reach the
workers without pickling; only a key and a path cross. Used to split one capture over processes
(:func:`pcaptls.pipeline.analysis.analyse`) and to read several captures at once
(:func:`pcaptls.commands.common.analyse_many`).
"""

from __future__ import annotations

import contextlib
import os
import sys
from collections.abc import Callable, Iterator
from typing import TYPE_CHECKING, Any

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
