"""What every command shares: output formats, error handling, progress, parallel reading."""

from __future__ import annotations

import functools
import os
import sys
import time
from typing import Any, Callable, Sequence, TypeVar

import click

from ..errors import PcaptlsError
from ..pipeline import forks
from ..pipeline.analysis import Analysis, analyse
from ..report.safe import terminal

F = TypeVar("F", bound=Callable[..., Any])

EXIT_OK, EXIT_FINDINGS, EXIT_INPUT = 0, 1, 2
EXIT_INTERRUPTED = 130  # Ctrl-C: 128 + SIGINT, as shells report it

format_option = click.option(
    "--format", "fmt", type=click.Choice(["table", "jsonl", "csv"]), default="table", show_default=True,
    help="table for people, jsonl (one JSON object per line) or csv for machines.",
)
debug_option = click.option("--debug", is_flag=True, help="Show tracebacks for errors (for bug reports).")
jobs_option = click.option(
    "--jobs", "-j", type=click.IntRange(1, 64), default=None,
    help="Processes to use [default: all cores]. Several captures are read in parallel; one "
    "capture of 32 MB or more is split by connection when that pays (with the Rust engine: when "
    "it is dense in connections, as a retry storm is). Output is the same for any value.",
)
scheduler_option = click.option(
    "--scheduler", metavar="ADDRESS", envvar="DASK_SCHEDULER_ADDRESS", default=None,
    help="Analyse the captures on the Dask cluster whose scheduler is at ADDRESS (tcp://host:8786) "
    "[default: $DASK_SCHEDULER_ADDRESS, else this machine]; the files are sent to it. Needs "
    "pip install 'pcaptls[dask]'. Output is the same.",
)


def fail(message: str) -> None:
    """One line on stderr; the caller exits 2."""
    click.echo(f"pcaptls: {terminal(message)}", err=True)


def fail_input(path: str, problem: PcaptlsError | str, debug: bool, trace: str | None = None) -> None:
    """A file that could not be read (wholly or in part): its traceback with ``--debug``, then one line."""
    if debug:
        import traceback  # here, as below: only errors need it

        if isinstance(problem, BaseException) and problem.__traceback__ is not None:
            traceback.print_exception(problem)
        elif trace or getattr(problem, "trace", None):  # from a worker process: the text it kept
            sys.stderr.write(trace or problem.trace)  # type: ignore[union-attr]
    fail(str(problem) if isinstance(problem, BaseException) else f"{path}: {problem}")


def unread_link_types(a: Analysis) -> str | None:
    """Why some frames were not looked at (link types decode() does not read), or ``None``."""
    n = a.counts.get("unknown_link", 0)
    if not n:
        return None
    from ..capture.decode import LINKTYPES  # the Python reference's decoder: loaded only when needed

    kinds = ", ".join(str(k) for k in sorted(a.stats.linktypes - LINKTYPES)) or "?"
    return f"{n} frames of unsupported link type {kinds} not analysed"


def usable_analyses(paths: Sequence[str], results: Sequence[Analysis | PcaptlsError],
                    name: Callable[[str], str]) -> tuple[list[Analysis], bool]:
    """The analyses of ``paths`` that could be used, each named ``name(path)`` (a bundle's member,
    a merged folder: never a temporary copy), and whether any input was a problem: unreadable,
    cut short or with link types not read. Each problem is one line on stderr."""
    usable: list[Analysis] = []
    problem = False
    for path, res in zip(paths, results):
        if isinstance(res, PcaptlsError):
            fail(str(res))
            problem = True
            continue
        shown = name(path)
        if res.truncated:
            fail(f"{shown}: file ends early ({res.truncated}); reporting what came before the cut")
            problem = True
        unread = unread_link_types(res)
        if unread:
            fail(f"{shown}: {unread}")
            problem = True
        res.path = shown
        usable.append(res)
    return usable, problem


def handle_errors(fn: F) -> F:
    """Turn project errors (and, without --debug, any crash) into one stderr line and exit 2."""

    @functools.wraps(fn)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        debug = kwargs.get("debug", False)
        try:
            try:
                return fn(*args, **kwargs)
            finally:
                # A closed pipe surfaces here, in every format, rather than at interpreter exit.
                sys.stdout.flush()
        except PcaptlsError as e:
            if debug:
                import traceback

                traceback.print_exc()
            fail(str(e))
            sys.exit(EXIT_INPUT)
        except KeyboardInterrupt:
            sys.exit(EXIT_INTERRUPTED)
        except BrokenPipeError:
            # `pcaptls inspect ... | head`: the reader left, which is not an error: quiet, and exit
            # 0 whatever the format (what was not read cannot be judged).
            devnull = os.open(os.devnull, os.O_WRONLY)
            os.dup2(devnull, sys.stdout.fileno())
            sys.exit(EXIT_OK)
        except (click.exceptions.Exit, click.ClickException, SystemExit):
            raise
        except Exception as e:  # a bug: still one line, unless asked for the traceback
            if debug:
                import traceback

                traceback.print_exc()
            fail(f"internal error: {type(e).__name__}: {e} (run with --debug for details)")
            sys.exit(EXIT_INPUT)

    return wrapper  # type: ignore[return-value]


class Progress:
    """Bytes read of a file (or of a bundle: ``total`` bytes), on stderr, only when stderr is a terminal."""

    def __init__(self, path: str, enabled: bool | None = None, total: int | None = None) -> None:
        self.enabled = sys.stderr.isatty() if enabled is None else enabled
        self.path = path
        try:
            self.total = os.path.getsize(path) if total is None else total
        except OSError:
            self.total = 0
        self.started = time.monotonic()
        self.shown = False

    def __call__(self, done: int) -> None:
        if not self.enabled or time.monotonic() - self.started < 1.0:
            return
        pct = f"{100 * done / self.total:5.1f}%" if self.total else ""
        rate = done / max(time.monotonic() - self.started, 1e-6) / 1e6
        sys.stderr.write(f"\r{os.path.basename(self.path)}: {done / 1e6:8.1f} MB {pct} {rate:6.1f} MB/s")
        sys.stderr.flush()
        self.shown = True

    def close(self) -> None:
        if self.shown:
            sys.stderr.write("\r" + " " * 70 + "\r")
            sys.stderr.flush()


def _analyse_one(path: str, key: int | None = None, spill: str | None = None) -> Analysis | PcaptlsError:
    try:
        # Its rows come back as runs (pcaptls.pipeline.spill.Runs): what is in memory, and files.
        make_row = forks.by_key(key)
        return analyse(path, make_row=None if make_row is None else functools.partial(make_row, path), spill=spill)
    except PcaptlsError as e:
        import traceback

        e.trace = traceback.format_exc()  # type: ignore[attr-defined]  # a traceback does not pickle
        return e


def analyse_many(paths: Sequence[str], jobs: int, make_row: Callable[[str, Any], Any] | None = None,
                 spill: str | None = None) -> list[Analysis | PcaptlsError]:
    """Analyse captures, in parallel on ``jobs`` processes; results in the order given.

    Several captures: one process per capture at a time. One capture: split over ``jobs``
    processes by connection (see :func:`pcaptls.pipeline.analysis.analyse`). ``make_row(path, conn)``
    is run where each connection was followed, and its rows wait in ``spill`` once there
    are many (see ``analyse(make_row=..., spill=...)``)."""
    if jobs <= 1 or len(paths) <= 1 or not forks.can_fork():
        out: list[Analysis | PcaptlsError] = []
        for p in paths:
            prog = Progress(p)
            try:
                out.append(analyse(p, progress=prog, jobs=jobs,
                                   make_row=None if make_row is None else functools.partial(make_row, p), spill=spill))
            except PcaptlsError as e:
                out.append(e)
            finally:
                prog.close()
        return out
    sizes: dict[str, int] = {}
    for p in paths:
        try:
            sizes[p] = os.path.getsize(p)
        except OSError:
            sizes[p] = 0
    from concurrent.futures import as_completed

    with forks.inherited(make_row) as key, forks.pool(jobs) as pool:
        futures = {pool.submit(_analyse_one, p, key, spill): p for p in paths}
        prog = Progress(f"{len(paths)} captures", total=sum(sizes.values()))
        done = 0
        try:
            for f in as_completed(futures):  # progress by whole captures as the workers finish them
                done += sizes[futures[f]]
                prog(done)
        finally:
            prog.close()
        return [f.result() for f in futures]


def default_jobs(jobs: int | None = None) -> int:
    """``--jobs`` as given, else one process per core."""
    if jobs:
        return jobs
    try:
        return max(1, len(os.sched_getaffinity(0)))  # the cores this process may use (taskset, containers)
    except (AttributeError, OSError):
        return max(1, os.cpu_count() or 1)


def analyse_where(scheduler: str | None, paths: Sequence[str], jobs: int | None,
                  make_row: Callable[[str, Any], Any] | None = None,
                  spill: str | None = None) -> list[Analysis | PcaptlsError]:
    """:func:`analyse_many` here (``--jobs``), or on the Dask cluster at ``scheduler``
    (:mod:`pcaptls.pipeline.cluster`, imported only then): the same results either way."""
    if not scheduler:
        return analyse_many(paths, default_jobs(jobs), make_row, spill)
    from ..pipeline import cluster

    client = cluster.connect(scheduler)
    try:
        return cluster.analyse_many(client, paths, make_row, spill)
    finally:
        client.close()
