"""Results that wait for time order without growing memory: sorted runs spilled to disk.

A capture's connections are reported in time order, but they finish in another order, so they
wait until the capture ends. A retry storm (thousands of short failing handshakes a minute, the
motivating case) makes that wait grow with the capture. :class:`Runs` keeps at most
:data:`RUN_ITEMS` items in memory: past that it sorts them and writes them to a file in a private
temporary folder (a *run*), in chunks; reading merges the runs and what is still in memory back
into one sorted stream, a chunk of each run at a time (an external merge sort). Runs are kept in
levels: :data:`MAX_RUNS` runs of one level are merged into one run of the next, so the files
open at once stay few and each item is rewritten once per level (log of the count), not once
per merge.

The folder is the caller's (see :func:`folder`); a :class:`Runs` pickles as the names of its
files and its items in memory, so a worker process can hand its runs to the parent.
"""

from __future__ import annotations

import contextlib
import heapq
import os
from collections.abc import Callable, Iterable, Iterator
from typing import Any

from ..errors import PcaptlsError

RUN_ITEMS = 4_096  # items kept in memory before a run is written (a JSON line is ~3 KB: ~12 MB)
CHUNK = 100  # items per pickle in a run file: what merging holds of each run
MAX_RUNS = 16  # runs of one level before they are merged into one run of the next level


class SpillError(PcaptlsError):
    """The temporary folder for waiting results cannot be written (full disk, say)."""


@contextlib.contextmanager
def folder() -> Iterator[str | None]:
    """A private temporary folder for runs, removed with everything in it at the end; ``None``
    when none can be made (no writable temporary directory): results then wait in memory, as
    a small capture's do anyway, rather than nothing being analysed."""
    import shutil  # here, and pickle where runs are written and read: a small capture never needs them
    import tempfile

    try:
        path = tempfile.mkdtemp(prefix="pcaptls-")
    except OSError:
        yield None
        return
    try:
        yield path
    finally:
        shutil.rmtree(path, ignore_errors=True)


class Runs:
    """Items with a sort key, in memory up to :data:`RUN_ITEMS`, then in sorted runs on disk.

    Iterating gives every item in ``key`` order (stable for equal keys only within a run: keys
    are meant to be unique). ``where`` is None: everything stays in memory."""

    def __init__(self, key: Callable[[Any], Any], where: str | None) -> None:
        self.key = key
        self.where = where
        self.items: list[Any] = []
        self.levels: list[list[str]] = []  # run files by level: level k runs hold RUN_ITEMS * MAX_RUNS**k items
        self.written = 0  # items written to runs, merges included

    @property
    def files(self) -> list[str]:
        return [f for level in self.levels for f in level]

    def add(self, item: Any) -> None:
        self.items.append(item)
        if self.where is not None and len(self.items) >= RUN_ITEMS:
            self.items.sort(key=self.key)
            self._add_run(0, self._write(self.items))
            self.items = []

    def _add_run(self, level: int, path: str) -> None:
        while len(self.levels) <= level:
            self.levels.append([])
        runs = self.levels[level]
        runs.append(path)
        if len(runs) >= MAX_RUNS:
            merged = self._write(heapq.merge(*map(_read, runs), key=self.key))
            for f in runs:
                os.unlink(f)
            runs.clear()
            self._add_run(level + 1, merged)

    def _write(self, items: Iterable[Any]) -> str:
        import pickle
        import tempfile

        assert self.where is not None
        try:
            fd, path = tempfile.mkstemp(suffix=".run", dir=self.where)
            with os.fdopen(fd, "wb") as f:
                chunk: list[Any] = []
                for item in items:
                    self.written += 1
                    chunk.append(item)
                    if len(chunk) == CHUNK:
                        pickle.dump(chunk, f, protocol=pickle.HIGHEST_PROTOCOL)
                        chunk = []
                if chunk:
                    pickle.dump(chunk, f, protocol=pickle.HIGHEST_PROTOCOL)
        except OSError as e:
            raise SpillError(f"cannot write waiting results to {self.where}: {e.strerror or e}") from e
        return path

    def __iter__(self) -> Iterator[Any]:
        self.items.sort(key=self.key)
        if not self.files:
            return iter(self.items)
        return heapq.merge(*map(_read, self.files), self.items, key=self.key)


def _read(path: str) -> Iterator[Any]:
    import pickle

    with open(path, "rb") as f:
        while True:
            try:
                chunk = pickle.load(f)  # our own file, in our own private folder
            except EOFError:
                return
            yield from chunk


class Merged:
    """Sorted streams (lists, :class:`Runs`, :class:`Merged`) as one sorted stream, merged
    lazily each time it is iterated (a report may read it more than once)."""

    def __init__(self, streams: Iterable[Iterable[Any]], key: Callable[[Any], Any]) -> None:
        self.streams = list(streams)
        self.key = key

    def __iter__(self) -> Iterator[Any]:
        return heapq.merge(*self.streams, key=self.key)
