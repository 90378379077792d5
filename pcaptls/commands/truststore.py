"""`pcaptls truststore`: list a trust store's CAs and warn about what breaks Expressway."""

from __future__ import annotations

import json
import sys
import warnings
from datetime import datetime, timezone

import click

from ..report.safe import terminal
from ..times import iso_seconds, readable
from .common import EXIT_FINDINGS, EXIT_OK, debug_option, format_option, handle_errors
from .outputs import output_format, output_option, output_stream, table_width, wrapped


def parse_time(value: str | None) -> datetime:
    """``--at`` as an aware UTC datetime (a time without zone is taken as UTC); now if absent."""
    if value is None:
        return datetime.now(timezone.utc)
    try:
        t = datetime.fromisoformat(value.strip().replace("z", "Z"))
    except ValueError as e:
        raise click.BadParameter(f"{value!r} is not an ISO 8601 time (e.g. 2022-07-11T16:55:26Z)") from e
    return t.replace(tzinfo=timezone.utc) if t.tzinfo is None else t.astimezone(timezone.utc)


@click.command("truststore")
@click.argument("path", type=click.Path())
@format_option
@output_option
@click.option("--at", "at", metavar="ISO-TIME",
              help="Judge validity at this time (e.g. a capture's time; default: now, UTC).")
@debug_option
@handle_errors
def truststore(path: str, fmt: str, output: str | None, at: str | None, debug: bool) -> None:
    """List the certificates in a trust store and warn about what breaks Expressway.

    PATH is a PEM bundle, a DER file, a folder of PEM/DER certificates, or an Expressway
    diagnostic bundle (.tar.gz, or its unpacked folder) whose ca_<host>_<ts>.pem is read.

    Warnings: two different certificates with the same CN (Expressway keeps only one,
    CSCwa12905), certificates expired or not yet valid, certificates that are not CAs, exact
    duplicates, intermediates without their root. Exit status: 0 no warnings, 1 warnings,
    2 the trust store could not be read.
    """
    # Here: `pcaptls --help` lists this command without loading cryptography.
    from ..certificates import truststore as ts
    from ..certificates.openssl.facts import self_signed
    from ..certificates.x509 import decode
    from ..report.schema import TRUSTSTORE_CSV
    from ..report.table import render
    from ..report.writers import write_csv

    # Old CA certificates (negative serials ...) are what users have: judge them, don't nag.
    warnings.filterwarnings("ignore", module=r"pcaptls\.certificates\..*")
    fmt = output_format(fmt, output)
    out = output_stream(output)
    when = parse_time(at)
    store = ts.load(path)
    findings = ts.lint(store, when)
    infos = [decode(d) for d in store.certs]
    if fmt == "jsonl":
        out.write(json.dumps({"record": "truststore", "source": store.source, "at": iso_seconds(when),
                              "certificates": len(infos), "skipped": list(store.skipped)}) + "\n")
        for i in infos:
            out.write(json.dumps({"record": "certificate", **i.to_dict()}) + "\n")
        for f in findings:
            out.write(json.dumps({"record": "finding", **f.to_dict()}) + "\n")
    elif fmt == "csv":
        names = TRUSTSTORE_CSV
        records = [dict(zip(names, ("certificate", i.subject, i.issuer, iso_seconds(i.not_after), i.key, i.sha256, "", "", "")))
                for i in infos]
        records += [dict(zip(names, ("finding", "", "", "", "", " ".join(f.certs), f.kind, f.severity, f.message)))
                 for f in findings]
        write_csv(out, records, names, header_when_empty=True)
    else:
        width = table_width(out)
        out.write("\n".join(wrapped([f"{terminal(store.source)}: {len(infos)} certificates, judged at {readable(when)}"],
                                     width)) + "\n\n")
        rows = [(i.subject, "(self-signed)" if self_signed(i.der) else i.issuer,
                 readable(i.not_after), i.key, i.sha256[:16]) for i in infos]
        out.write(render(["SUBJECT", "ISSUER", "EXPIRES (UTC)", "KEY", "SHA256"], rows, {0: 60, 1: 50},
                         width, {0: 24, 1: 16, 2: 24}, (4, 3, 1), (1, 0)) + "\n")
        if store.skipped:
            out.write(f"\n{len(store.skipped)} files held no certificate: "
                      f"{terminal(', '.join(store.skipped[:5]))}{' ...' if len(store.skipped) > 5 else ''}\n")
        if findings:
            out.write("\n")
            for f in findings:
                out.write("\n".join(wrapped([f"{f.severity.upper()}: {terminal(f.message)}"], width)) + "\n")
    out.flush()
    sys.exit(EXIT_FINDINGS if any(f.severity == "warning" for f in findings) else EXIT_OK)
