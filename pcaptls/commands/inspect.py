"""`pcaptls inspect`: every TLS connection in one or more captures."""

from __future__ import annotations

import sys
from typing import TYPE_CHECKING, Any, Iterable, Iterator, NamedTuple, TextIO

import click

from ..errors import PcaptlsError
from ..pipeline import spill
from ..pipeline.analysis import Analysis, while_scanning
from ..pipeline.result import row_order
from .common import (
    EXIT_FINDINGS,
    EXIT_INPUT,
    EXIT_OK,
    analyse_where,
    debug_option,
    fail,
    fail_input,
    format_option,
    handle_errors,
    jobs_option,
    scheduler_option,
    unread_link_types,
)
from .inputs import Filters, Sources, captures_argument, filter_options, open_inputs, stdin_fd
from .keys import keylog_option
from .outputs import capped, details_option, note, output_format, output_option, output_stream, table_width, wrapped

if TYPE_CHECKING:
    from ..certificates.openssl.vocabulary import Verdict
    from ..certificates.truststore import TrustStore
    from ..certificates.verdicts import Judge
    from ..report import connections as view
    from ..report import table as table_layout
    from ..report import writers
    from ..report.records import connection_parts, connection_record, flatten, json_text, verdict_record
    from ..tls.model import TlsConnection

_REPORT_LOADED = False


def _load_report() -> None:
    """Import the report modules this command writes with (as the module's own names): while
    the Rust engine scans a large capture (see ``while_scanning``), else at the first row, so
    that the scan starts without waiting for them (20-30 ms: the connection model, hashlib and
    json among them)."""
    global _REPORT_LOADED, view, table_layout, writers, connection_parts, connection_record, flatten
    global json_text, verdict_record
    if _REPORT_LOADED:
        return
    from ..report import connections as view
    from ..report import table as table_layout
    from ..report import writers
    from ..report.records import connection_parts, connection_record, flatten, json_text, verdict_record

    _REPORT_LOADED = True


@click.command("inspect")
@captures_argument
@filter_options
@format_option
@output_option
@details_option
@jobs_option
@click.option("--trust-store", type=click.Path(exists=False), default=None,
              help="PEM bundle, folder of PEM/DER certificates, or Expressway diagnostic bundle (ca_*.pem) "
                   "to verify server chains against, as the peer would. Default: the public certifi bundle.")
@scheduler_option
@debug_option
@handle_errors
@keylog_option
def inspect(captures: tuple[str, ...], filters: Filters, fmt: str, output: str | None, details: int,
            jobs: int | None, trust_store: str | None, scheduler: str | None, debug: bool) -> None:
    """List every TLS connection in each CAPTURE: a capture file (pcap/pcapng, optionally .gz),
    a folder or glob of rotated captures (read as one recording), an Expressway diagnostic
    bundle, or - for standard input (read as it arrives: rows come as connections end).

    For each: client and server, SNI, negotiated version and cipher suite, the certificate
    chain each side presented, whether a client certificate was requested, and every alert
    with who sent it. Exit status: 0 nothing wrong, 1 a handshake failed or a server chain does
    not verify, 2 an input could not be read (or was cut short; what it held is still
    reported), 130 interrupted.

    \b
    Examples:
      pcaptls inspect captures/mra-login/capture.pcap --failed-only
      tcpdump -i eth0 -U -w - 'tcp port 8443' | pcaptls inspect - --format jsonl
    """
    failed_only = filters.failed_only
    # A trust store given by path is read first, so a bad path fails before any analysis; the
    # default bundle is only read once a server certificate needs judging. The certificate
    # modules (and cryptography) are imported only then, too.
    fmt = output_format(fmt, output)
    out = output_stream(output)
    store: TrustStore | None = None
    if trust_store is not None:
        from ..certificates import truststore

        store = truststore.load(trust_store)
    judge: Judge | None = None
    # Judge hands out the same Verdict for connections that must agree; its record and JSON are
    # made once (connection_record copies the record). Keyed by id(), the Verdict kept alive alongside.
    verdict_records: dict[int, tuple[Verdict | None, dict[str, Any] | None, str]] = {}

    def load_judge() -> Judge:
        nonlocal judge
        if judge is None:
            from ..certificates import truststore
            from ..certificates.verdicts import Judge

            judge = Judge(store if store is not None else truststore.load(None))
        return judge

    def judged(c: TlsConnection) -> tuple[Verdict | None, dict[str, Any] | None, str] | None:
        if not c.server_certs:
            return None
        v = (judge or load_judge()).verdict(c)
        hit = verdict_records.get(id(v))
        if hit is None:
            made = verdict_record(v)
            hit = verdict_records[id(v)] = (v, made, json_text(made))
        return hit

    def verdict(c: TlsConnection) -> dict[str, Any] | None:
        hit = judged(c)
        return None if hit is None else hit[1]

    src = open_inputs(captures, stream=len(captures) == 1, debug=debug)
    multi = len(src.recordings) > 1
    stream = fmt in ("jsonl", "csv")

    def record(path: str, c: TlsConnection) -> dict[str, Any]:
        rec = connection_record(c, verdict(c), with_verify=True)
        if multi:
            rec["capture"] = src.name(path)
        return rec

    def render(path: str, c: TlsConnection) -> tuple[Any, bool]:
        """A JSON line (in pieces), CSV row or table :class:`_Row` (``None`` when --failed-only hides it)
        and whether the handshake failed. Made in the process that analysed the connection
        (with --jobs, in parallel); what it makes waits for time order, on disk if need be."""
        _load_report()
        if not filters.keep(c):
            return None, False
        if fmt == "table":
            rec = record(path, c)
            return _Row(view.table_row(rec), view.details(rec), rec["status"], _good(rec), path,
                        bool(c.server_certs)), _bad(rec["status"], rec.get("verify"))
        if fmt == "jsonl":
            hit = judged(c)
            v = None if hit is None else hit[1]
            status = c.status
            if failed_only and _good_verdict(status, v):
                return None, _bad(status, v)
            # In pieces (joined when written): what waits for time order on disk is then each
            # line's own text and references to the texts it shares with others.
            return connection_parts(c, None if hit is None else hit[2], src.name(path) if multi else None), _bad(status, v)
        rec = record(path, c)
        bad = _bad(rec["status"], rec.get("verify"))
        if failed_only and _good(rec):
            return None, bad
        return flatten(rec), bad

    if src.recordings[0].stream:
        with src:
            _stream(src, render, fmt, failed_only, store.source if store is not None else None, out)

    # Lines wait for time order in a private temporary folder once there are many (pcaptls.pipeline.spill).
    with src, spill.folder() as waiting:
        paths = [r.path for r in src.recordings]
        if scheduler is not None:
            # A cluster's workers get ``render`` by value, with the names it uses as they are
            # here: they must be loaded before it is sent.
            _load_report()
        # A large capture: the report modules and the trust store load while the Rust engine reads it.
        with while_scanning(_load_report), while_scanning(load_judge):
            results = analyse_where(scheduler, paths, jobs, render, waiting)
        _load_report()  # if no connection was rendered
        status = EXIT_INPUT if src.problems or src.unusable else EXIT_OK
        analyses: list[tuple[str, Analysis]] = []
        for path, res in zip(paths, results):
            if isinstance(res, PcaptlsError):
                fail_input(path, res, debug)
                status = EXIT_INPUT
                continue
            res.path = src.name(path)
            analyses.append((path, res))
            if res.truncated:
                fail_input(src.name(path), f"file ends early ({res.truncated}); reporting what came before the cut", debug, res.stats.trace)
                status = EXIT_INPUT
            unread = unread_link_types(res)
            if unread:
                fail_input(src.name(path), unread, debug)
                status = EXIT_INPUT

        # In time order across captures; read again for each pass of the table.
        rows = spill.Merged([a.rows or () for _path, a in analyses], row_order)
        failed = False
        if stream:
            if status == EXIT_OK:  # a file not read (or cut): its one error line is all stderr holds
                note(f"trust store: {_source(store, True)}")
            def shown() -> Iterator[Any]:
                nonlocal failed
                for _start, _frame, (item, failed_here) in rows:
                    failed = failed or failed_here
                    if item is not None:
                        yield item

            if fmt == "jsonl":
                out.writelines(map("".join, shown()))
            else:
                writers.write_csv(out, shown())
        else:
            failed = _write_table(out, rows, failed_only, analyses, store, details)
        if failed and status == EXIT_OK:
            status = EXIT_FINDINGS
        out.flush()
    sys.exit(status)


class _Row(NamedTuple):
    """What the table report needs of one connection, made where it was analysed."""

    cells: list[str]  # its table row, escaped for the terminal
    details: str  # its failure paragraph, or ""
    status: str
    good: bool  # succeeded and, if judged, verified
    capture: str
    judged: bool  # its server chain was judged against the trust store


def _source(store: TrustStore | None, judged: bool) -> str:
    """The trust store the verdicts are against, as the reports state it."""
    if store is not None:
        return store.source
    if judged:
        from ..certificates.bundled import default_source

        return default_source()
    return "not needed: no server certificate is visible"


def _write_table(out: TextIO, rows: Iterable[tuple[float, int, tuple[_Row, bool]]], failed_only: bool,
                 analyses: list[tuple[str, Analysis]], store: TrustStore | None, details: int) -> bool:
    """The table report, written as it is read (``rows`` is read three times, nothing is held
    per connection): counts and column widths, then the rows, then the failure paragraphs, then
    each capture's summary. Returns whether any handshake failed or server chain did not verify."""
    failed = judged = False
    by_status: dict[str, dict[str, int]] = {path: {} for path, _a in analyses}

    def counted() -> Iterator[list[str]]:
        nonlocal failed, judged
        for _start, _frame, (row, bad) in rows:
            if row is None:  # left out by a filter
                continue
            failed = failed or bad
            judged = judged or row.judged
            counts = by_status[row.capture]
            counts[row.status] = counts.get(row.status, 0) + 1
            if not (failed_only and row.good):
                yield row.cells

    widths = table_layout.column_widths(view.TABLE_HEADERS, counted(), view.TABLE_CAPS)
    width = table_width(out)
    fitted = table_layout.fit(view.TABLE_HEADERS, widths, width, view.TABLE_MINS, view.TABLE_DROP, view.TABLE_NARROW)
    out.write("\n".join(wrapped([f"trust store: {_source(store, judged)}"], width)) + "\n\n")

    def visible() -> Iterator[_Row]:
        return (row for _s, _f, (row, _x) in rows if row is not None and not (failed_only and row.good))

    out.write("\n".join(fitted.lines(view.TABLE_HEADERS, (r.cells for r in visible()))))
    out.write("\n\n" if fitted.note is None else "\n" + "\n".join(wrapped([fitted.note], width)) + "\n\n")
    first = True
    for paragraph in capped((r.details for r in visible()), details):
        text = "\n".join(wrapped(paragraph.split("\n"), width))
        out.write(text if first else "\n" + text)
        first = False
    if not first:
        out.write("\n")
    for path, a in analyses:
        out.write("\n".join(wrapped(view.summary_of(a, by_status[path]).split("\n"), width)) + "\n")
    return failed


def _good(rec: dict[str, Any]) -> bool:
    return _good_verdict(rec["status"], rec.get("verify"))


def _good_verdict(status: str, v: dict[str, Any] | None) -> bool:
    return status == "ok" and (v is None or v["error"] == "OK")


def _bad(status: str, v: dict[str, Any] | None) -> bool:
    """Something wrong, for the exit status: the handshake failed or the chain does not verify."""
    return status == "failed" or (v is not None and v["error"] != "OK")


# Standard input's table: written row by row, so its column widths are fixed rather than measured.
_STREAM_WIDTHS = [23, 44, 30, 7, 30, 40, 20, 30, 40]


def _stream(src: Sources, render: Any, fmt: str, failed_only: bool, source: str | None, out: TextIO) -> None:
    """Standard input (or a named pipe): rows as connections end (:mod:`pcaptls.pipeline.stream`),
    each written and flushed at once; then exit with the status."""
    from ..pipeline.stream import StreamScan

    _load_report()
    r = src.recordings[0]
    scan = StreamScan(stdin_fd(r), r.name)  # InputError here, before anything is written
    if hasattr(out, "reconfigure"):
        out.reconfigure(line_buffering=True)  # each row reaches the reader now
    bad = False
    counts: dict[str, int] = {}

    def items() -> Iterator[Any]:
        nonlocal bad
        for batch in scan:
            for c in batch:
                item, wrong = render(r.path, c)
                bad = bad or wrong
                if item is None:
                    continue
                if fmt == "table":
                    counts[item.status] = counts.get(item.status, 0) + 1
                    if failed_only and item.good:
                        continue
                yield item

    if fmt == "jsonl":
        for parts in items():
            out.write("".join(parts))
    elif fmt == "csv":
        writers.write_csv(out, items())
    else:
        if source is None:
            from ..certificates.bundled import default_source

            source = default_source()
        out.write(f"trust store: {source}\n\n")
        details: list[str] = []
        lines = table_layout.render_lines(view.TABLE_HEADERS, ((details.append(x.details) or x.cells)  # type: ignore[func-returns-value]
                                                             for x in items()), _STREAM_WIDTHS)
        for line in lines:
            out.write(line + "\n")
        out.write("\n")  # then as the file's table: failure paragraphs, then the summary
        shown = [d for d in details if d]
        if shown:
            out.write("\n".join(shown) + "\n")
    a = scan.analysis
    status = EXIT_OK
    if a is not None:
        if fmt == "table":
            out.write(view.summary_of(a, counts) + "\n")
        if a.truncated:
            fail(f"{r.name}: input ends early ({a.truncated}); reported what came before the cut")
            status = EXIT_INPUT
    if status == EXIT_OK and bad:
        status = EXIT_FINDINGS
    out.flush()
    sys.exit(status)
