"""`pcaptls certs`: export every certificate servers presented in a capture."""

from __future__ import annotations

import json
import sys

import click

from ..errors import PcaptlsError
from ..pipeline.analysis import while_scanning
from .common import (
    EXIT_FINDINGS,
    EXIT_INPUT,
    EXIT_OK,
    analyse_where,
    debug_option,
    fail_input,
    format_option,
    handle_errors,
    jobs_option,
    unread_link_types,
)
from .inputs import Filters, captures_argument, filter_options, open_inputs, wrong
from .keys import keylog_option
from .outputs import output_format, output_option, output_stream, table_width


@click.command("certs")
@captures_argument
@filter_options
@click.option("--export", "export_dir", required=True, type=click.Path(file_okay=False),
              help="Folder to write the certificates into (created if missing).")
@click.option("--der", is_flag=True, help="Write single certificates as DER (.der) instead of PEM.")
@click.option("--trust-store", type=click.Path(exists=False), default=None,
              help="Judge the server chains against this trust store (PEM bundle, folder, or diagnostic bundle): "
                   "for --failed-only and the exit status. Default: not judged (only failed handshakes count).")
@format_option
@output_option
@jobs_option
@debug_option
@handle_errors
@keylog_option
def certs(captures: tuple[str, ...], filters: Filters, export_dir: str, der: bool, trust_store: str | None, fmt: str,
          output: str | None, jobs: int | None, debug: bool) -> None:
    """Write every distinct server certificate in each CAPTURE (file, folder or glob of rotated
    captures, diagnostic bundle, - for standard input) into a folder.

    Each certificate once, named <CN>_<SHA-256 prefix>.pem (or .der with --der), and one PEM
    bundle per server address and port with the chain as the server sent it
    (chain_<ip>_<port>.pem): the files to upload to Expressway-C's trust store
    (Maintenance > Security > Trusted CA certificate). Prints what was written.
    TLS 1.3 encrypts certificates: those connections contribute only with --keylog (or the
    capture's own decryption secrets).

    Exit status: 0 nothing wrong, 1 a handshake failed (or, with --trust-store, a server chain
    does not verify), 2 an input could not be read (wholly or in part), 130 interrupted.
    """
    fmt = output_format(fmt, output)
    out = output_stream(output)
    judge = None
    if trust_store is not None:
        from ..certificates import truststore
        from ..certificates.verdicts import Judge

        judge = Judge(truststore.load(trust_store))
    with open_inputs(captures, debug=debug) as src:
        status = EXIT_INPUT if src.problems or src.unusable else EXIT_OK
        conns = []
        paths = [r.path for r in src.recordings]
        with while_scanning(_load_export):
            results = analyse_where(None, paths, jobs)
        for path, result in zip(paths, results):
            name = src.name(path)
            if isinstance(result, PcaptlsError):
                fail_input(name, result, debug)
                status = EXIT_INPUT
                continue
            if result.truncated:
                fail_input(name, f"file ends early ({result.truncated}); exporting what came before the cut", debug,
                           result.stats.trace)
                status = EXIT_INPUT
            unread = unread_link_types(result)
            if unread:
                fail_input(name, unread, debug)
                status = EXIT_INPUT
            conns += result.connections
    conns = filters.select(sorted(conns, key=lambda c: (c.start, c.first_frame)), judge)
    if status == EXIT_OK and any(wrong(c, judge) for c in conns):
        status = EXIT_FINDINGS
    from ..certificates.export import connection_chains, export
    from ..report.table import render
    from ..report.writers import write_csv

    written = export(connection_chains(conns), export_dir, der=der)
    if fmt == "jsonl":
        for w in written:
            out.write(json.dumps(w.to_dict()) + "\n")
    elif fmt == "csv":
        write_csv(out, ({"path": w.path, "kind": w.kind, "sha256": w.sha256, "subject": w.subject,
                         "servers": " ".join(w.servers), "count": w.count} for w in written),
                  ["path", "kind", "sha256", "subject", "servers", "count"], header_when_empty=True)
    else:
        if not written:
            out.write(f"{', '.join(src.name(p) for p in paths)}: no server certificates seen (TLS 1.3 encrypts them)\n")
        else:
            rows = [(w.path, w.kind if w.kind == "cert" else f"chain ({w.count})", w.subject,
                     ", ".join(w.servers), w.sha256[:16]) for w in written]
            out.write(render(["FILE", "KIND", "SUBJECT", "SERVERS", "SHA256"], rows, {2: 60, 3: 40},
                             table_width(out), {0: 30, 2: 24, 3: 20}, (4, 1, 3), (3, 2, 0)) + "\n")
    out.flush()
    sys.exit(status)


def _load_export() -> None:
    """Import the certificate writer (and with it cryptography): the warm-up while a large
    capture is scanned, so that the scan need not wait for it."""
    from ..certificates import export  # noqa: F401  (imported for its own sake)
