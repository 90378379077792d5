"""`pcaptls report`: the diagnosis as one self-contained HTML page (see :mod:`pcaptls.report.html`)."""

from __future__ import annotations

import os
import shutil
import sys
import tempfile
from dataclasses import dataclass, field
from datetime import datetime, timezone

import click

from .. import __version__
from ..errors import InputError
from ..pipeline.analysis import Analysis
from .common import (
    EXIT_FINDINGS,
    EXIT_INPUT,
    EXIT_OK,
    analyse_many,
    debug_option,
    default_jobs,
    fail,
    handle_errors,
    jobs_option,
    usable_analyses,
)
from .inputs import Filters, Sources, captures_argument, filter_options, open_inputs
from .keys import keylog_option


@dataclass
class _Sources:
    """The files behind the arguments (:func:`pcaptls.commands.inputs.resolve`): captures, logs,
    a trust store, and what to list as inputs."""

    captures: list[str] = field(default_factory=list)
    names: dict[str, str] = field(default_factory=dict)  # capture path -> name to show (bundle members)
    logs: list[str] = field(default_factory=list)
    trust_store: str | None = None
    listed: list[tuple[str, str]] = field(default_factory=list)  # (role, path) for the Inputs section
    resolved: Sources | None = None

    def cleanup(self) -> None:
        if self.resolved is not None:
            self.resolved.cleanup()


def _sources(args: tuple[str, ...], logs: tuple[str, ...]) -> _Sources:
    src = open_inputs(args, logs)
    return _Sources(captures=[r.path for r in src.recordings], names={r.path: r.name for r in src.recordings},
                    logs=list(logs) or src.logs, trust_store=src.trust_store, listed=src.listed, resolved=src)


def _analyse(s: _Sources, jobs: int | None, tmp: str) -> tuple[list[Analysis], list[str], int]:
    """Analyse the captures: several are merged into one recording first (pcaptls.capture.merge),
    so a connection cut at a file boundary is one connection. Returns analyses, notes, status."""
    from ..capture.merge import merge

    status = EXIT_OK
    notes: list[str] = []
    paths = list(s.captures)
    merged_name: str | None = None
    if len(paths) > 1:
        m = merge(paths, os.path.join(tmp, "merged.pcap"))
        for problem in m.problems:
            fail(problem)
            status = EXIT_INPUT
        if m.path is not None:
            names = [s.names.get(p, p) for p in paths]
            merged_name = f"{len(paths)} files read as one recording ({', '.join(names[:3])}{', …' if len(names) > 3 else ''})"
            notes.append(f"{len(paths)} capture files were merged in time order into one recording: "
                         "frame numbers count across the files")
            paths = [m.path]
        else:
            notes.append(f"the {len(paths)} captures were read separately ({m.why_not}): a connection cut "
                         "at a file boundary shows as two")
    analyses, bad_input = usable_analyses(paths, analyse_many(paths, default_jobs(jobs)),
                                 lambda path: merged_name or s.names.get(path, path))
    if bad_input:
        status = EXIT_INPUT
    if not analyses:
        raise InputError(f"{', '.join(s.captures)}: no capture could be read")
    return analyses, notes, status


@click.command("report")
@captures_argument
@filter_options
@click.option("--log", "logs", multiple=True, type=click.Path(exists=False),
              help="Log file, folder or diagnostic bundle (repeatable). Default: the logs of a bundle or folder given.")
@click.option("--trust-store", type=click.Path(exists=False), default=None,
              help="Expressway-C's trust store (PEM bundle, folder, or bundle's ca_*.pem). Default: from the bundle "
                   "or folder, else the public certifi bundle.")
@click.option("-o", "--output", default="report.html", show_default=True, type=click.Path(dir_okay=False, allow_dash=True),
              help="Write the page here; '-' writes it to standard output.")
@click.option("--clock-offset", type=float, default=None,
              help="Seconds the log's clock is ahead of the capture's (default: estimated).")
@click.option("--log-tz", default=None, help="Time zone for log lines without an offset (e.g. Europe/Berlin, +02:00).")
@jobs_option
@debug_option
@handle_errors
@keylog_option
def report(captures: tuple[str, ...], filters: Filters, logs: tuple[str, ...], trust_store: str | None, output: str,
           clock_offset: float | None, log_tz: str | None, jobs: int | None, debug: bool) -> None:
    """Write the diagnosis as one self-contained HTML page, to open, scroll and forward.

    CAPTUREs are capture files, folders or globs of captures (rotated files are read as one
    recording), - for standard input, or an Expressway diagnostic bundle (.tar.gz or its folder: its captures, log snapshot and
    ca_*.pem trust store are found automatically). The page holds the verdict, each finding with
    its certificate, evidence (capture frames and log lines on one clock) and numbered fix, a
    timeline per server:port, every connection in a sortable, filterable table, every
    certificate decoded with its PEM, the trust store's warnings, and the inputs with their
    SHA-256. It loads nothing from elsewhere and works offline.

    \b
    Example:
      pcaptls report captures/mra-login/capture.pcap --log captures/mra-login/expressway.log \\
          --trust-store captures/mra-login/truststore.pem -o mra-login.html

    Exit status: 0 no findings, 1 findings, 2 an input could not be read (wholly or in part),
    130 interrupted.
    """
    from ..certificates import truststore
    from ..certificates.verdicts import Judge
    from ..correlate import correlate
    from ..correlate.findings import find
    from ..logs.reader import read_logs
    from ..pipeline import engines as engines
    from ..report import html

    inputs = captures
    s = _sources(inputs, logs)
    tmp = tempfile.mkdtemp(prefix="pcaptls-report-")
    try:
        status = EXIT_INPUT if s.resolved is not None and (s.resolved.problems or s.resolved.unusable) else EXIT_OK
        trust_path = trust_store or s.trust_store
        try:
            store = truststore.load(trust_path)
        except InputError:
            if trust_store is not None or trust_path is None:
                raise
            fail(f"{trust_path}: no ca_*.pem trust store in the bundle; using the public CA bundle")
            store = truststore.load(None)
        analyses, notes, st = _analyse(s, jobs, tmp)
        notes = [*(s.resolved.notes if s.resolved is not None else []), *notes]
        status = max(status, st)
        judge = Judge(store)
        conns = filters.select(sorted((c for a in analyses for c in a.connections), key=lambda c: (c.start, c.first_frame)),
                               judge)
        summary = correlation = None
        if s.logs:
            events, summary = read_logs(s.logs, log_tz=log_tz)
            for problem in summary.problems:
                fail(problem)
            correlation = correlate(conns, events, clock_offset=clock_offset)
        findings = find(conns, judge, correlation)
        listed = list(s.listed)
        if trust_store is not None or (trust_path and os.path.isfile(trust_path) and not trust_path.endswith((".tar.gz", ".tgz", ".tar"))):
            listed.append(("trust store", trust_path or ""))
        files = [html.input_file(role, path) for role, path in listed]
        title = ", ".join(os.path.basename(os.path.normpath(p)) for p in inputs)
        context = html.build(
            conns, findings, judge, correlation, summary, files,
            [(a.path, len(a.connections), sum(1 for c in a.connections if c.status == "ok")) for a in analyses],
            notes, __version__, engines.selected(), datetime.now(timezone.utc), title)
        page = html.render(context)
    finally:
        s.cleanup()
        shutil.rmtree(tmp, ignore_errors=True)
    if output == "-":
        sys.stdout.write(page)
        sys.stdout.flush()
    else:
        try:
            with open(output, "w", encoding="utf-8") as fh:
                fh.write(page)
        except OSError as e:
            raise InputError(f"{output}: cannot write: {e.strerror or e}") from e
        click.echo(f"wrote {output} ({len(page.encode('utf-8'))} bytes): {len(findings)} finding"
                   f"{'s' * (len(findings) != 1)}, {len(conns)} connections", err=True)
    sys.exit(status if status != EXIT_OK else (EXIT_FINDINGS if findings else EXIT_OK))
