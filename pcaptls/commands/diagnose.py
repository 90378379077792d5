"""`pcaptls diagnose` and `pcaptls timeline`: capture + logs on one clock, findings with evidence."""

from __future__ import annotations

import json
import sys
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Callable, Iterator, TypeVar

import click

from ..errors import InputError
from ..pipeline.analysis import Analysis, while_scanning
from ..pipeline.result import connection_order
from ..report.safe import json_line, terminal
from ..times import readable
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
    usable_analyses,
)
from .inputs import Filters, captures_argument, filter_options, open_inputs, wrong
from .keys import keylog_option
from .outputs import output_format, output_option, output_stream, table_width, to_file, wrapped

if TYPE_CHECKING:  # the rest loads while the captures are read (see _prepare): the scan starts sooner
    from ..certificates.verdicts import Judge
    from ..correlate.findings import Finding
    from ..correlate.link import Correlation
    from ..logs.events import ParseSummary
    from ..tls.model import TlsConnection

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


def _gather(captures: tuple[str, ...], logs: tuple[str, ...], trust_path: str | None, clock_offset: float | None,
            log_tz: str | None, jobs: int | None, scheduler: str | None = None,
            filters: Filters | None = None) -> Inputs:
    """Read the inputs (:func:`pcaptls.commands.inputs.resolve`), analyse the captures, keep the
    connections the filters select and put the logs on their clock."""
    with open_inputs(captures, logs) as src:
        status = EXIT_INPUT if src.problems or src.unusable else EXIT_OK
        log_paths = list(logs) or src.logs
        from_bundle = trust_path is None and src.trust_store is not None
        if trust_path is None:
            trust_path = src.trust_store
        store = None
        if trust_path is not None:  # given or the bundle's: read first, so a bad one fails before any analysis
            from ..certificates import truststore

            try:
                store = truststore.load(trust_path)
            except InputError:
                if not from_bundle:
                    raise
                fail(f"{trust_path}: no ca_*.pem trust store in the bundle; using the public CA bundle")
        paths = [r.path for r in src.recordings]
        with while_scanning(lambda: _prepare(store is None)):
            analyses, bad_input = usable_analyses(paths, analyse_where(scheduler, paths, jobs), src.name)
        if bad_input:
            status = EXIT_INPUT
        if not analyses:
            raise InputError(f"{', '.join(captures)}: no capture could be read")
        from ..certificates import truststore
        from ..certificates.verdicts import Judge
        from ..correlate import correlate
        from ..logs.reader import read_logs

        judge = Judge(store if store is not None else truststore.load(None))
        conns = sorted((c for a in analyses for c in a.connections), key=connection_order)
        if filters is not None:
            conns = filters.select(conns, judge)
        events: list[Any] = []
        summary = None
        corr = None
        if log_paths:
            events, summary = read_logs(log_paths, log_tz=log_tz)
            for problem in summary.problems:
                fail(problem)
            corr = correlate(conns, events, clock_offset=clock_offset)
    return Inputs(analyses, conns, events, summary, corr, judge, status)


def _prepare(default_store: bool) -> None:
    """What diagnose and timeline need once the captures are read: the certificate, log and
    correlation modules (and cryptography), and certifi's bundle when no trust store was
    given. Run while a large capture is scanned, so that the scan need not wait for them."""
    from ..certificates import truststore
    from ..certificates import verdicts  # noqa: F401  (imported for its own sake, as below)
    from ..correlate import findings, timeline  # noqa: F401
    from ..logs import reader  # noqa: F401
    from ..report import findings as finding_records  # noqa: F401

    if default_store:
        truststore.default_store()


common_inputs = [
    captures_argument,
    filter_options,
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
@click.option("--format", "fmt", type=click.Choice(["table", "jsonl", "csv"]), default="table", show_default=True,
              help="table for people, jsonl (one finding per line) or csv for machines.")
@output_option
@debug_option
@handle_errors
@keylog_option
def diagnose(captures: tuple[str, ...], filters: Filters, logs: tuple[str, ...], clock_offset: float | None, log_tz: str | None, jobs: int | None,
             scheduler: str | None, trust_store: str | None, fmt: str, output: str | None, debug: bool) -> None:
    """Say what is wrong and what to change: one finding per failing server and port.

    Each CAPTURE is a capture file, a folder or glob of rotated captures (read as one recording),
    - for standard input, or an Expressway diagnostic bundle (.tar.gz or its folder), in which
    case its captures, log snapshot and ca_*.pem trust store are found automatically. Each finding
    names the certificate the server presented, OpenSSL's verdict (in the words Expressway's log
    uses), the evidence from capture and log side by side in time, and the fix. Exit status: 0 no
    findings, 1 findings, 2 input error, 130 interrupted.
    """
    fmt = output_format(fmt, output, ("table", "jsonl", "csv"))
    out = output_stream(output)
    inp = _gather(captures, logs, trust_store, clock_offset, log_tz, jobs, scheduler, filters)
    from ..correlate.findings import find
    from ..report.findings import FINDING_CSV, finding_row
    from ..report.writers import write_csv

    findings = find(inp.connections, inp.judge, inp.correlation)
    if fmt == "jsonl":
        for f in findings:
            out.write(json_line(json.dumps(f.to_dict(), ensure_ascii=False)) + "\n")
    elif fmt == "csv":
        write_csv(out, (finding_row(f.to_dict()) for f in findings), FINDING_CSV, header_when_empty=True)
    else:
        out.write("\n".join(wrapped(_findings_text(inp, findings).split("\n"), table_width(out))) + "\n")
    if fmt != "table" and inp.status == EXIT_OK:  # in each record too (trust_store); after an input error, only that
        click.echo(terminal(f"trust store: {inp.judge.trust.source}"), err=True)
    status = inp.status if inp.status != EXIT_OK else (EXIT_FINDINGS if findings else EXIT_OK)
    sys.exit(status)


def _cert_line(f: Finding) -> list[str]:
    c = f.certificate
    if c is None:
        return ["  certificate: not visible in the capture (TLS 1.3, or not captured)"]
    return [
        f"  certificate: {c.subject}",
        f"    issuer {c.issuer}{' (self-signed)' if c.self_signed else ''}; key {c.key}",
        f"    valid {readable(c.not_before)} .. {readable(c.not_after)}; SAN {', '.join(c.san) or '-'}",
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
        lines.append(f"FINDING {n}: {f.server}{name}: {f.headline}")
        lines.append(f"  problem: {f.problem}")
        lines.append(f"  why: {f.explanation}")
        lines += _cert_line(f)
        lines.append("  evidence:")
        for e in f.evidence:
            where = f"frame {e.frame}" if e.frame else (f"line {e.line}" if e.line else "")
            lines.append(f"    {readable(e.time)}  {e.source:<16} {where:<10} {e.text}")
        if len(f.connections) > 1:
            what = "failed connections" if f.kind == "handshake_failed" else "connections with this chain"
            lines.append(f"    (and {len(f.connections) - 1} more {what}: {', '.join(f.connections[1:4])}"
                         f"{' …' if len(f.connections) > 4 else ''})")
        lines.append("  fix:")
        for i, fx in enumerate(f.fixes, 1):
            lines.append(f"    {i}. {fx}")
        lines.append("")
    lines.append(f"{len(findings)} finding{'s' if len(findings) != 1 else ''}.")
    return "\n".join(terminal(x) for x in lines)


TIMELINE_COLUMNS = ["time", "source", "event", "frame", "connection", "server", "sni", "detail"]  # the table's
TIMELINE_CAPS = {4: 38, 6: 24, 7: 90}  # widest cells of connection, sni, detail
TIMELINE_MINS = {0: 24, 1: 10, 2: 12, 3: 5, 4: 21, 5: 17, 6: 10, 7: 24}
TIMELINE_DROP = (5, 6, 4)  # server and sni (the detail names them), then the connection
TIMELINE_NARROW = (7, 4, 1)


def table_cell(row: dict[str, object], column: str) -> str:
    """A timeline row's cell as the table shows it (times in the readable form)."""
    if column == "time":
        return readable(str(row["time"]))
    value = row.get(column)
    return "" if value is None else str(value)


@click.command("timeline")
@_with_inputs
@output_option
@format_option
@click.option("--linked-only", is_flag=True, help="Leave out log events not linked to any connection.")
@debug_option
@handle_errors
@keylog_option
def timeline(captures: tuple[str, ...], filters: Filters, logs: tuple[str, ...], clock_offset: float | None, log_tz: str | None, jobs: int | None,
             scheduler: str | None, output: str | None, fmt: str, linked_only: bool, debug: bool) -> None:
    """Capture and log events on one clock, one row per event, sorted by time.

    Capture events: connection start, ClientHello, ServerHello, Certificate, CertificateRequest,
    alerts, FIN/RST. Log events carry the connection they were linked to (empty if none). Times are
    ISO-8601 UTC with microseconds, on the capture's clock (the log's clock offset is applied).
    Exit status: 0 nothing wrong, 1 a handshake failed or a server chain does not verify (against
    the bundle's trust store, else the public one), 2 input error, 130 interrupted.
    """
    fmt = output_format(fmt, output)
    out = output_stream(output)
    inp = _gather(captures, logs, None, clock_offset, log_tz, jobs, scheduler, filters)
    from ..correlate import timeline_rows
    from ..correlate.timeline import ROW_COLUMNS, timeline_cells
    from ..report.table import column_widths, fit
    from ..report.writers import csv_header, write_csv_rows

    def rows() -> Iterator[dict[str, object]]:
        return timeline_rows(inp.connections, inp.correlation, only_linked=linked_only)

    n = 0
    if fmt == "csv":
        n = write_csv_rows(out, ROW_COLUMNS, timeline_cells(inp.connections, inp.correlation, only_linked=linked_only))
        if n == 0:  # the header even for no rows, as before
            out.write(csv_header(ROW_COLUMNS))
    elif fmt == "jsonl":
        for r in rows():
            out.write(json_line(json.dumps(r, ensure_ascii=False)) + "\n")
            n += 1
    else:
        width = table_width(out)
        for line in wrapped(_log_header(inp), width):
            out.write(terminal(line) + "\n")
        # Two passes over the rows (widths, then lines) rather than holding them all.
        def cells() -> Iterator[list[str]]:
            return ([terminal(table_cell(r, c)) for c in TIMELINE_COLUMNS] for r in rows())

        fitted = fit(TIMELINE_COLUMNS, column_widths(TIMELINE_COLUMNS, cells(), TIMELINE_CAPS), width,
                     TIMELINE_MINS, TIMELINE_DROP, TIMELINE_NARROW)
        for line in fitted.lines(TIMELINE_COLUMNS, cells()):
            out.write(line + "\n")
        if fitted.note:
            out.write("\n".join(wrapped([fitted.note], width)) + "\n")
    if fmt != "table" or to_file(output):
        for line in _log_header(inp):
            click.echo(terminal(line), err=True)
    if to_file(output):
        click.echo(terminal(f"wrote {n or 'the'} events to {output}" if fmt != "table" else f"wrote the timeline to {output}"), err=True)
    bad = any(wrong(c, inp.judge) for c in inp.connections)
    sys.exit(inp.status if inp.status != EXIT_OK else (EXIT_FINDINGS if bad else EXIT_OK))

