"""`pcaptls inspect`: every TLS connection in one or more captures."""

from __future__ import annotations

import heapq
import sys
from typing import TYPE_CHECKING, Any, Iterator

import click

from ..analysis import Analysis
from .. import spill
from ..errors import PcaptlsError
from ..report import inspect_view as view
from ..model import TlsConnection
from ..report.records import connection_line, connection_record, flatten, json_text, verdict_record
from ..report.safe import csv_cell
from .common import (EXIT_FINDINGS, EXIT_INPUT, EXIT_OK, analyse_many, debug_option, default_jobs, fail_input,
                     format_option, handle_errors, jobs_option, unread_link_types)

if TYPE_CHECKING:
    from ..certificates.judge import Judge
    from ..certificates.truststore import TrustStore
    from ..certificates.verify import Verdict


@click.command("inspect")
@click.argument("captures", nargs=-1, required=True, type=click.Path(dir_okay=False))
@format_option
@jobs_option
@click.option("--failed-only", is_flag=True, help="Only connections whose handshake failed or whose chain does not verify.")
@click.option("--trust-store", type=click.Path(exists=False), default=None,
              help="PEM bundle, folder of PEM/DER certificates, or Expressway diagnostic bundle (ca_*.pem) "
                   "to verify server chains against, as the peer would. Default: the public certifi bundle.")
@debug_option
@handle_errors
def inspect(captures: tuple[str, ...], fmt: str, jobs: int | None, failed_only: bool, trust_store: str | None, debug: bool) -> None:
    """List every TLS connection in CAPTURES (pcap/pcapng, optionally .gz).

    For each: client and server, SNI, negotiated version and cipher suite, the certificate
    chain each side presented, whether a client certificate was requested, and every alert
    with who sent it. Exit status: 0 all handshakes succeeded, 1 some failed, 2 a file could
    not be read (or was cut short; what it held is still reported).
    """
    # A trust store given by path is read first, so a bad path fails before any analysis; the
    # default bundle is only read once a server certificate needs judging. The certificate
    # modules (and cryptography) are imported only then, too.
    store: TrustStore | None = None
    if trust_store is not None:
        from ..certificates import truststore

        store = truststore.load(trust_store)
    judge: Judge | None = None
    # Judge hands out the same Verdict for connections that must agree; its record and JSON are
    # made once (connection_record copies the record). Keyed by id(), the Verdict kept alive alongside.
    verdict_records: dict[int, tuple[Verdict | None, dict[str, Any] | None, str]] = {}

    def judged(c: TlsConnection) -> tuple[Verdict | None, dict[str, Any] | None, str] | None:
        nonlocal judge
        if not c.server_certs:
            return None
        if judge is None:
            from ..certificates import truststore
            from ..certificates.judge import Judge

            judge = Judge(store if store is not None else truststore.load(None))
        v = judge.verdict(c)
        hit = verdict_records.get(id(v))
        if hit is None:
            made = verdict_record(v)
            hit = verdict_records[id(v)] = (v, made, json_text(made))
        return hit

    def verdict(c: TlsConnection) -> dict[str, Any] | None:
        hit = judged(c)
        return None if hit is None else hit[1]

    multi = len(captures) > 1
    stream = fmt in ("jsonl", "csv")

    def record(path: str, c: TlsConnection) -> dict[str, Any]:
        rec = connection_record(c, verdict(c), with_verify=True)
        if multi:
            rec["capture"] = path
        return rec

    def render(path: str, c: TlsConnection) -> tuple[str | dict[str, Any] | None, bool]:
        """A JSON line or CSV row (``None`` when --failed-only hides it) and whether the handshake
        failed. Made in the process that analysed the connection: with --jobs, in parallel."""
        failed = c.status == "failed"
        if fmt == "jsonl":
            hit = judged(c)
            if failed_only and _good_verdict(c.status, None if hit is None else hit[1]):
                return None, failed
            return connection_line(c, None if hit is None else hit[2], path if multi else None), failed
        rec = record(path, c)
        if failed_only and _good(rec):
            return None, failed
        return {k: csv_cell(v) for k, v in flatten(rec).items()}, failed

    # Lines wait for time order in a private temporary folder once there are many (pcaptls.spill).
    with spill.folder() as waiting:
        results = analyse_many(list(captures), default_jobs(jobs), render if stream else None, waiting)
        status = EXIT_OK
        analyses: list[tuple[str, Analysis]] = []
        for path, res in zip(captures, results):
            if isinstance(res, PcaptlsError):
                fail_input(path, res, debug)
                status = EXIT_INPUT
                continue
            analyses.append((path, res))
            if res.truncated:
                fail_input(path, f"file ends early ({res.truncated}); reporting what came before the cut", debug, res.stats.trace)
                status = EXIT_INPUT
            unread = unread_link_types(res)
            if unread:
                fail_input(path, unread, debug)
                status = EXIT_INPUT

        def records() -> Iterator[dict[str, Any]]:
            """Records in time order across captures, made one at a time (nothing held per record)."""
            streams = [((c.start, c.first_frame, path, c) for c in a.connections) for path, a in analyses]
            for _, _, path, c in heapq.merge(*streams, key=lambda x: (x[0], x[1])):
                yield record(path, c)

        failed = False
        out = sys.stdout
        if stream:
            writer = None
            rows = heapq.merge(*(a.projected or () for _path, a in analyses), key=lambda p: (p[0], p[1]))
            for _start, _frame, (item, failed_here) in rows:
                failed = failed or failed_here
                if item is None:
                    continue
                if isinstance(item, str):
                    out.write(item)
                else:
                    if writer is None:
                        writer = view.csv_writer(out, list(item))
                    writer.writerow(item)
        else:
            all_records = list(records())
            failed = any(r["status"] == "failed" for r in all_records)
            shown = [r for r in all_records if not _good(r)] if failed_only else all_records
            source = judge.trust.source if judge is not None else (store.source if store is not None else
                                                                   "not needed: no server certificate is visible")
            out.write(f"trust store: {source}\n\n")
            out.write(view.table(shown) + "\n\n")
            details = view.failure_details(shown)
            if details:
                out.write(details + "\n")
            for path, a in analyses:
                mine = [r for r in all_records if not multi or r.get("capture") == path]
                out.write(view.summary(a, mine) + "\n")
        if failed and status == EXIT_OK:
            status = EXIT_FINDINGS
        out.flush()
    sys.exit(status)


def _good(rec: dict[str, Any]) -> bool:
    return _good_verdict(rec["status"], rec.get("verify"))


def _good_verdict(status: str, v: dict[str, Any] | None) -> bool:
    return status == "ok" and (v is None or v["error"] == "OK")
