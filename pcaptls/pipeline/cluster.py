"""Captures analysed on a Dask cluster: the command's ``analyse_many`` with workers elsewhere.

One machine stays the default; this module is imported only for ``--scheduler ADDRESS`` (or
``DASK_SCHEDULER_ADDRESS``) and by :mod:`pcaptls.dask`, and it needs the optional extra
(``pip install 'pcaptls[dask]'``). :func:`analyse_many` returns what
:func:`pcaptls.commands.common.analyse_many` returns, in the same order, so a command prints
the same bytes whichever ran it:

- The files are sent, not named: the client reads each capture and its bytes travel inside
  the task, so workers need no shared file system, and a task lost with a killed worker is
  simply run again elsewhere (its input is in the task, nothing scattered is lost with it).
  At most :data:`IN_FLIGHT_PER_THREAD` captures per worker thread are in flight at once:
  the client's memory does not grow with the number of captures.
- On the worker a capture is written to a private temporary file under its own base name and
  analysed by :func:`pcaptls.pipeline.analysis.analyse`; paths in what comes back (``Analysis.path``,
  error messages, tracebacks) name the client's file again.
- ``make_row`` (the command's per-connection work, a closure over its trust store and verdict
  cache) is one task of its own that every capture's task depends on: each worker receives it
  once and keeps it, so its trust store crosses once per worker and its verdicts are cached
  per worker, as in a local run's process.
- Results arrive as workers finish; rows items are added to a local
  :class:`~pcaptls.pipeline.spill.Runs` (on disk past a bound), so they wait for time order as a local
  run's do.
"""

from __future__ import annotations

import functools
import os
import shutil
import tempfile
import traceback
from typing import TYPE_CHECKING, Any, Callable, Sequence

from ..errors import PcaptlsError
from . import engines as _engine
from .analysis import Analysis, analyse, keys_in_use
from .result import row_order
from .spill import Runs

if TYPE_CHECKING:
    from distributed import Client

    from ..tls.keylog import KeyLog

INSTALL_HINT = "pip install 'pcaptls[dask]'"
ENV = "DASK_SCHEDULER_ADDRESS"
IN_FLIGHT_PER_THREAD = 2  # captures sent ahead of the workers: enough to keep them busy


class ClusterError(PcaptlsError):
    """The cluster cannot be used: the extra is not installed, or the scheduler is unreachable."""


def require() -> None:
    """Raise :class:`ClusterError` (saying how to install the extra) unless Dask's distributed
    scheduler can be imported."""
    try:
        import distributed  # noqa: F401
    except ImportError as e:
        raise ClusterError(f"running on a Dask cluster needs the optional extra: {INSTALL_HINT} ({e})") from e


def connect(address: str) -> Client:
    """A client of the scheduler at ``address`` (``tcp://host:8786``, ...); it waits for the
    scheduler as long as Dask's ``distributed.comm.timeouts.connect`` says (30 s by default)."""
    require()
    from distributed import Client

    try:
        return Client(address, set_as_default=False)
    except (OSError, TimeoutError, ValueError) as e:
        raise ClusterError(f"cannot reach the Dask scheduler at {address}: {e}") from e


def _identity(x: Any) -> Any:
    return x


def _rename(text: str, tmp: str, name: str) -> str:
    return text.replace(tmp, name)


def _renamed_error(e: PcaptlsError, tmp: str, name: str, trace: str) -> PcaptlsError:
    """``e`` with the worker's temporary path replaced by the client's, as the local run says it."""
    args = tuple(_rename(a, tmp, name) if isinstance(a, str) else a for a in e.args)
    try:
        out = type(e)(*args)
    except Exception:  # a subclass with another signature: the message as a plain error
        out = PcaptlsError(*args)
    out.trace = _rename(trace, tmp, name)  # type: ignore[attr-defined]  # shown with --debug
    return out


def analyse_bytes(name: str, data: bytes, make_row: Callable[[str, Any], Any] | None = None,
                  engine: str | None = None, keys: KeyLog | None = None) -> Analysis | PcaptlsError:
    """Analyse the capture ``data`` (the file ``name`` on the client) here, on a worker.

    ``make_row(name, connection)`` as in :func:`pcaptls.commands.common.analyse_many`; its items
    come back in a list (:attr:`Analysis.rows`), in time order. A capture that cannot be
    read comes back as the error, with the client's path in its message."""
    where = tempfile.mkdtemp(prefix="pcaptls-worker-")
    tmp = os.path.join(where, os.path.basename(name) or "capture")
    try:
        with open(tmp, "wb") as fh:
            fh.write(data)
        del data
        try:
            a = analyse(tmp, make_row=None if make_row is None else functools.partial(make_row, name), engine=engine,
                        keys=keys)
        except PcaptlsError as e:
            return _renamed_error(e, tmp, name, traceback.format_exc())
        a.path = name
        a.stats.path = name
        if a.stats.trace:
            a.stats.trace = _rename(a.stats.trace, tmp, name)
        if a.rows is not None:
            a.rows = list(a.rows)  # in memory (no spill folder here): to the client
        return a
    finally:
        shutil.rmtree(where, ignore_errors=True)


def _read(path: str) -> bytes | PcaptlsError:
    """The capture's bytes, or the error a local run gives for a file it cannot open."""
    try:
        with open(path, "rb") as fh:
            return fh.read()
    except OSError:
        try:  # the local reader's own words ("no such file", "is a directory", ...)
            analyse(path)
        except PcaptlsError as e:
            e.trace = traceback.format_exc()  # type: ignore[attr-defined]
            return e
        raise


def analyse_many(client: Client, paths: Sequence[str], make_row: Callable[[str, Any], Any] | None = None,
                 spill: str | None = None, engine: str | None = None) -> list[Analysis | PcaptlsError]:
    """:func:`pcaptls.commands.common.analyse_many` on ``client``'s cluster: one task per
    capture, results in the order given. Projected items wait in ``spill`` once there are many.

    ``engine``: as for :func:`pcaptls.pipeline.analysis.analyse`; by default the client's explicit
    choice (``--engine``, ``PCAPTLS_ENGINE``) if it made one, else each worker's own."""
    from distributed import as_completed

    engine = engine or os.environ.get(_engine.ENV)
    keys = keys_in_use()  # --keylog / keylog=: the workers get the secrets with each task

    results: list[Analysis | PcaptlsError | None] = [None] * len(paths)
    ctx = None if make_row is None else client.submit(_identity, make_row, pure=False)
    threads = sum(client.nthreads().values()) or 1
    window = max(2, IN_FLIGHT_PER_THREAD * threads)
    pending = iter(enumerate(paths))
    index: dict[Any, int] = {}  # task key -> position

    def send() -> Any:
        for i, path in pending:
            data = _read(path)
            if isinstance(data, PcaptlsError):
                results[i] = data
                continue
            fut = client.submit(analyse_bytes, path, data, ctx, engine, keys, pure=False)
            index[fut.key] = i
            return fut
        return None

    try:
        first = [f for f in (send() for _ in range(window)) if f is not None]
        running = as_completed(first, loop=client.loop)
        for fut in running:
            res = fut.result()
            i = index.pop(fut.key)
            fut.release()
            if isinstance(res, Analysis) and res.rows is not None:
                runs = Runs(row_order, spill)
                for item in res.rows:
                    runs.add(item)
                res.rows = runs
            results[i] = res
            more = send()
            if more is not None:
                running.add(more)
    finally:
        if ctx is not None:
            ctx.release()
    assert all(r is not None for r in results)  # every capture was sent, or failed to be read
    return results  # type: ignore[return-value]
