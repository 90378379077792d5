"""`pcaptls certs`: export every certificate servers presented in a capture."""

from __future__ import annotations

import json
import sys

import click

from ..certificates.export import connection_chains, export
from ..pipeline.analysis import analyse
from ..report.table import render
from ..report.writers import write_csv
from .common import (
    EXIT_INPUT,
    EXIT_OK,
    debug_option,
    fail_input,
    format_option,
    handle_errors,
    unread_link_types,
)
from .keys import keylog_option
from .outputs import output_format, output_option, output_stream, table_width


@click.command("certs")
@click.argument("capture", type=click.Path(dir_okay=False))
@click.option("--export", "export_dir", required=True, type=click.Path(file_okay=False),
              help="Folder to write the certificates into (created if missing).")
@click.option("--der", is_flag=True, help="Write single certificates as DER (.der) instead of PEM.")
@format_option
@output_option
@debug_option
@handle_errors
@keylog_option
def certs(capture: str, export_dir: str, der: bool, fmt: str, output: str | None, debug: bool) -> None:
    """Write every distinct server certificate in CAPTURE into a folder.

    Each certificate once, named <CN>_<SHA-256 prefix>.pem (or .der with --der), and one PEM
    bundle per server address and port with the chain as the server sent it
    (chain_<ip>_<port>.pem): the files to upload to Expressway-C's trust store
    (Maintenance > Security > Trusted CA certificate). Prints what was written.
    TLS 1.3 encrypts certificates: those connections contribute only with --keylog (or the
    capture's own decryption secrets).
    """
    fmt = output_format(fmt, output)
    out = output_stream(output)
    result = analyse(capture)
    status = EXIT_OK
    if result.truncated:
        fail_input(capture, f"file ends early ({result.truncated}); exporting what came before the cut", debug,
                   result.stats.trace)
        status = EXIT_INPUT
    unread = unread_link_types(result)
    if unread:
        fail_input(capture, unread, debug)
        status = EXIT_INPUT
    written = export(connection_chains(result.connections), export_dir, der=der)
    if fmt == "jsonl":
        for w in written:
            out.write(json.dumps(w.to_dict()) + "\n")
    elif fmt == "csv":
        write_csv(out, ({"path": w.path, "kind": w.kind, "sha256": w.sha256, "subject": w.subject,
                         "servers": " ".join(w.servers), "count": w.count} for w in written),
                  ["path", "kind", "sha256", "subject", "servers", "count"], header_when_empty=True)
    else:
        if not written:
            out.write(f"{capture}: no server certificates seen (TLS 1.3 encrypts them)\n")
        else:
            rows = [(w.path, w.kind if w.kind == "cert" else f"chain ({w.count})", w.subject,
                     ", ".join(w.servers), w.sha256[:16]) for w in written]
            out.write(render(["FILE", "KIND", "SUBJECT", "SERVERS", "SHA256"], rows, {2: 60, 3: 40},
                             table_width(out), {0: 30, 2: 24, 3: 20}, (4, 1, 3), (3, 2, 0)) + "\n")
    out.flush()
    sys.exit(status)
