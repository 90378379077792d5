"""`pcaptls diagnose` and `pcaptls timeline`: capture + logs on one clock, findings with evidence."""

from __future__ import annotations

import json
import os
import sys
from dataclasses import dataclass
from typing import Any, Callable, Iterator, TextIO, TypeVar

import click

from ..certificates import truststore
from ..certificates.verdicts import Judge
from ..correlate import correlate, timeline_rows
from ..correlate.timeline import ROW_COLUMNS, timeline_cells
from ..correlate.findings import Finding, find
from ..correlate.link import Correlation
from ..errors import InputError, PcaptlsError
from ..inputs.bundle import Bundle, is_bundle, open_bundle
from ..logs.events import ParseSummary
from ..logs.reader import read_logs
from ..pipeline.analysis import Analysis
from ..pipeline.result import connection_order
from ..report.safe import json_line, terminal
from ..report.table import column_widths, render_lines
from ..report.writers import write_csv_rows
from ..times import time_of_day
from ..tls.model import TlsConnection
from .common import (
    EXIT_FINDINGS,
    EXIT_INPUT,
    EXIT_OK,
    analyse_where,
    debug_option,
    fail,
    format_option,
    handle_errors,
    jobs_option,
    scheduler_option,
    unread_link_types,
)
from .keys import keylog_option

_F = TypeVar("_F", bound=Callable[..., Any])


@dataclass
class Inputs:
    analyses: list[Analysis]
    connections: list[TlsConnection]
    events: list[Any]
    log_summary: ParseSummary | None
    correlation: Correlation | None
    judge: Judge
    status: int


def _gather(capture: str, logs: tuple[str, ...], trust_path: str | None, clock_offset: float | None,
            log_tz: str | None, jobs: int | None, scheduler: str | None = None) -> Inputs:
    bundle: Bundle | None = None
    captures = [capture]
    log_paths = list(logs)
    status = EXIT_OK
    if is_bundle(capture):
        bundle = open_bundle(capture)
        captures = bundle.captures
        for problem in bundle.problems:
            fail(problem)
            status = EXIT_INPUT
        log_paths = log_paths or bundle.logs
        if trust_path is None and bundle.trust_store is not None:
            trust_path = bundle.trust_store
    try:
        try:
            store = truststore.load(trust_path)
        except InputError:
            if bundle is None or trust_path != bundle.trust_store:
                raise
            fail(f"{capture}: no ca_*.pem trust store in the bundle; using the public CA bundle")
            store = truststore.load(None)
        analyses: list[Analysis] = []
        for path, res in zip(captures, analyse_where(scheduler, captures, jobs)):
            if isinstance(res, PcaptlsError):
                fail(str(res))
                status = EXIT_INPUT
                continue
            if res.truncated:
                fail(f"{path}: file ends early ({res.truncated}); reporting what came before the cut")
                status = EXIT_INPUT
            unread = unread_link_types(res)
            if unread:
                fail(f"{path}: {unread}")
                status = EXIT_INPUT
            if bundle is not None:  # name the member, not the temporary copy
                res.path = f"{os.path.basename(path).split('_', 1)[1]} (in {capture})"  # less the 000_ prefix
            analyses.append(res)
    finally:
        if bundle is not None:
            bundle.cleanup()
    if not analyses:
        raise InputError(f"{capture}: no capture could be read")
    conns = sorted((c for a in analyses for c in a.connections), key=connection_order)
    events: list[Any] = []
    summary = None
    corr = None
    if log_paths:
        events, summary = read_logs(log_paths, log_tz=log_tz)
        for problem in summary.problems:
            fail(problem)
        corr = correlate(conns, events, clock_offset=clock_offset)
    return Inputs(analyses, conns, events, summary, corr, Judge(store), status)


common_inputs = [
    click.argument("capture", type=click.Path(exists=False)),
    click.option("--log", "logs", multiple=True, type=click.Path(exists=False),
                 help="Log file, folder or diagnostic bundle (repeatable). Expressway logs are read in full; "
                      "any other text log with ISO-8601 timestamps generically."),
    click.option("--clock-offset", type=float, default=None,
                 help="Seconds the log's clock is ahead of the capture's (default: estimated)."),
    click.option("--log-tz", default=None, help="Time zone for log lines without an offset (e.g. Europe/Berlin, +02:00)."),
    jobs_option,
    scheduler_option,
]


def _with_inputs(fn: _F) -> _F:
    for deco in reversed(common_inputs):
        fn = deco(fn)
    return fn


def _log_header(inp: Inputs) -> list[str]:
    lines = []
    if inp.log_summary is not None:
        s = inp.log_summary
        skipped = ", ".join(f"{k} {v}" for k, v in sorted(s.reasons.items()))
        lines.append(f"logs: {s.lines} lines, {s.events} events, {s.skipped} lines skipped" + (f" ({skipped})" if skipped else "")
                     + (f", {s.cut_lines} overlong lines cut" if s.cut_lines else ""))
    if inp.correlation is not None:
        c = inp.correlation
        lines.append(f"log clock vs capture clock: {c.offset}; {c.linked} of {len(c.links)} log events linked to a connection")
        if len(c.offsets) > 1:  # logs from different boxes run on different clocks
            for src, off in sorted(c.offsets.items()):
                lines.append(f"  {src}: {off}")
    return lines


@click.command("diagnose")
@_with_inputs
@click.option("--trust-store", type=click.Path(exists=False), default=None,
              help="Expressway-C's trust store (PEM bundle, folder, or bundle's ca_*.pem). Default: from the bundle, "
                   "else the public certifi bundle.")
@click.option("--format", "fmt", type=click.Choice(["table", "jsonl"]), default="table", show_default=True,
              help="table for people, jsonl (one finding per line) for machines.")
@debug_option
@handle_errors
@keylog_option
def diagnose(capture: str, logs: tuple[str, ...], clock_offset: float | None, log_tz: str | None, jobs: int | None,
             scheduler: str | None, trust_store: str | None, fmt: str, debug: bool) -> None:
    """Say what is wrong and what to change: one finding per failing server and port.

    CAPTURE is a capture file, or an Expressway diagnostic bundle (.tar.gz or its folder), in which
    case its captures, log snapshot and ca_*.pem trust store are found automatically. Each finding
    names the certificate the server presented, OpenSSL's verdict (in the words Expressway's log
    uses), the evidence from capture and log side by side in time, and the fix. Exit status: 0 no
    findings, 1 findings, 2 input error.
    """
    inp = _gather(capture, logs, trust_store, clock_offset, log_tz, jobs, scheduler)
    findings = find(inp.connections, inp.judge, inp.correlation)
    out = sys.stdout
    if fmt == "jsonl":
        for f in findings:
            out.write(json_line(json.dumps(f.to_dict(), ensure_ascii=False)) + "\n")
    else:
        out.write(_findings_text(inp, findings) + "\n")
    status = inp.status if inp.status != EXIT_OK else (EXIT_FINDINGS if findings else EXIT_OK)
    sys.exit(status)


def _cert_line(f: Finding) -> list[str]:
    c = f.certificate
    if c is None:
        return ["  certificate: not visible in the capture (TLS 1.3, or not captured)"]
    return [
        f"  certificate: {c.subject}",
        f"    issuer {c.issuer}{' (self-signed)' if c.self_signed else ''}; key {c.key}",
        f"    valid {c.to_dict()['not_before']} .. {c.to_dict()['not_after']}; SAN {', '.join(c.san) or '-'}",
        f"    sha256 {c.sha256}" + (f"; chain of {len(f.chain)}" if len(f.chain) > 1 else ""),
    ]


def _findings_text(inp: Inputs, findings: list[Finding]) -> str:
    lines = [f"trust store: {inp.judge.trust.source}"]
    for a in inp.analyses:
        ok = sum(1 for c in a.connections if c.status == "ok")
        lines.append(f"capture {a.path}: {len(a.connections)} TLS connections ({ok} ok)")
    lines += _log_header(inp)
    lines.append("")
    if not findings:
        lines.append("No failing TLS connections found.")
        return "\n".join(terminal(x) for x in lines)
    for n, f in enumerate(findings, 1):
        name = f" ({f.server_name})" if f.server_name else ""
        lines.append(f"FINDING {n}: {f.server}{name}: {len(f.connections)} of {f.total_connections} connections failed")
        lines.append(f"  problem: {f.problem}")
        lines.append(f"  why: {f.explanation}")
        lines += _cert_line(f)
        lines.append("  evidence:")
        for e in f.evidence:
            where = f"frame {e.frame}" if e.frame else (f"line {e.line}" if e.line else "")
            lines.append(f"    {time_of_day(e.time)}  {e.source:<16} {where:<10} {e.text}")
        if len(f.connections) > 1:
            lines.append(f"    (and {len(f.connections) - 1} more failed connections: {', '.join(f.connections[1:4])}"
                         f"{' …' if len(f.connections) > 4 else ''})")
        lines.append("  fix:")
        for i, fx in enumerate(f.fixes, 1):
            lines.append(f"    {i}. {fx}")
        lines.append("")
    lines.append(f"{len(findings)} finding{'s' if len(findings) != 1 else ''}.")
    return "\n".join(terminal(x) for x in lines)


TIMELINE_COLUMNS = ["time", "source", "event", "connection", "server", "sni", "detail"]  # the table's
TIMELINE_CAPS = {3: 38, 5: 24, 6: 90}  # widest cells of connection, sni, detail


@click.command("timeline")
@_with_inputs
@click.option("-o", "--output", type=click.Path(dir_okay=False, writable=True), default=None,
              help="Write the timeline as CSV to this file (default: print it).")
@format_option
@click.option("--linked-only", is_flag=True, help="Leave out log events not linked to any connection.")
@debug_option
@handle_errors
@keylog_option
def timeline(capture: str, logs: tuple[str, ...], clock_offset: float | None, log_tz: str | None, jobs: int | None,
             scheduler: str | None, output: str | None, fmt: str, linked_only: bool, debug: bool) -> None:
    """Capture and log events on one clock, one row per event, sorted by time.

    Capture events: connection start, ClientHello, ServerHello, Certificate, CertificateRequest,
    alerts, FIN/RST. Log events carry the connection they were linked to (empty if none). Times are
    ISO-8601 UTC with microseconds, on the capture's clock (the log's clock offset is applied).
    """
    inp = _gather(capture, logs, None, clock_offset, log_tz, jobs, scheduler)

    def rows() -> Iterator[dict[str, object]]:
        return timeline_rows(inp.connections, inp.correlation, only_linked=linked_only)

    def csv_rows(out: TextIO) -> int:
        return write_csv_rows(out, ROW_COLUMNS, timeline_cells(inp.connections, inp.correlation, only_linked=linked_only))

    if output is not None:
        try:
            with open(output, "w", encoding="utf-8", newline="") as fh:
                n = csv_rows(fh)
        except OSError as e:
            raise InputError(f"{output}: cannot write: {e.strerror or e}") from e
        for line in _log_header(inp):
            click.echo(line, err=True)
        click.echo(f"wrote {n} events to {output}", err=True)
    elif fmt == "csv":
        csv_rows(sys.stdout)
    elif fmt == "jsonl":
        for r in rows():
            sys.stdout.write(json_line(json.dumps(r, ensure_ascii=False)) + "\n")
    else:
        for line in _log_header(inp):
            sys.stdout.write(terminal(line) + "\n")
        # Two passes over the rows (widths, then lines) rather than holding them all.
        def cells() -> Iterator[list[str]]:
            return ([terminal(str(r.get(c) or "")) for c in TIMELINE_COLUMNS] for r in rows())

        widths = column_widths(TIMELINE_COLUMNS, cells(), TIMELINE_CAPS)
        for line in render_lines(TIMELINE_COLUMNS, cells(), widths):
            sys.stdout.write(line + "\n")
    sys.exit(inp.status)

