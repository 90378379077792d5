"""`pcaptls inspect`: every TLS connection in one or more captures."""

from __future__ import annotations

import sys

import click

from ..analysis import Analysis
from ..errors import PcaptlsError
from ..report import inspect_view as view
from ..certificates import truststore
from ..certificates.judge import Judge
from ..report.records import connection_record, verdict_record
from .common import (EXIT_FINDINGS, EXIT_INPUT, EXIT_OK, analyse_many, debug_option, fail_input, format_option,
                     handle_errors, unread_link_types)


@click.command("inspect")
@click.argument("captures", nargs=-1, required=True, type=click.Path(dir_okay=False))
@format_option
@click.option("--jobs", "-j", type=click.IntRange(1, 64), default=1, show_default=True,
              help="Captures analysed in parallel (one process each).")
@click.option("--failed-only", is_flag=True, help="Only connections whose handshake failed or whose chain does not verify.")
@click.option("--trust-store", type=click.Path(exists=False), default=None,
              help="PEM bundle, folder of PEM/DER certificates, or Expressway diagnostic bundle (ca_*.pem) "
                   "to verify server chains against, as the peer would. Default: the public certifi bundle.")
@debug_option
@handle_errors
def inspect(captures: tuple[str, ...], fmt: str, jobs: int, failed_only: bool, trust_store: str | None, debug: bool) -> None:
    """List every TLS connection in CAPTURES (pcap/pcapng, optionally .gz).

    For each: client and server, SNI, negotiated version and cipher suite, the certificate
    chain each side presented, whether a client certificate was requested, and every alert
    with who sent it. Exit status: 0 all handshakes succeeded, 1 some failed, 2 a file could
    not be read (or was cut short; what it held is still reported).
    """
    judge = Judge(truststore.load(trust_store))
    results = analyse_many(list(captures), jobs)
    status = EXIT_OK
    records = []
    analyses: list[Analysis] = []
    for path, res in zip(captures, results):
        if isinstance(res, PcaptlsError):
            fail_input(path, res, debug)
            status = EXIT_INPUT
            continue
        analyses.append(res)
        if res.truncated:
            fail_input(path, f"file ends early ({res.truncated}); reporting what came before the cut", debug, res.stats.trace)
            status = EXIT_INPUT
        unread = unread_link_types(res)
        if unread:
            fail_input(path, unread, debug)
            status = EXIT_INPUT
        for c in res.connections:
            rec = connection_record(c, verdict_record(judge.verdict(c)), with_verify=True)
            if len(captures) > 1:
                rec["capture"] = path
            records.append(rec)
    records.sort(key=lambda r: (r["start"], r["first_frame"]))
    if any(r["status"] == "failed" for r in records) and status == EXIT_OK:
        status = EXIT_FINDINGS
    shown = [r for r in records if not _good(r)] if failed_only else records
    out = sys.stdout
    if fmt == "jsonl":
        out.write(view.jsonl(shown))
    elif fmt == "csv":
        out.write(view.csv_text(shown))
    else:
        out.write(f"trust store: {judge.trust.source}\n\n")
        out.write(view.table(shown) + "\n\n")
        details = view.failure_details(shown)
        if details:
            out.write(details + "\n")
        for a in analyses:
            out.write(view.summary(a, [r for r in records if r.get("capture", a.path) == a.path or len(captures) == 1]) + "\n")
    out.flush()
    sys.exit(status)


def _good(rec: dict) -> bool:  # type: ignore[type-arg]
    v = rec.get("verify")
    return rec["status"] == "ok" and (v is None or v["error"] == "OK")
