"""The jsonl and csv schema of every command, as a page (``docs/SCHEMA.md``) made from the code.

The keys come from the functions that write the records (a probe record is built and its keys
read), the words from :data:`WORDS`. A key the code writes that has no words here stops the page
from being made, so a new key cannot go undocumented; ``tests/report/test_schema.py`` makes the
page again and compares it with the one in ``docs/``, and checks the lab captures' real records
against it. Run ``python -m pcaptls.report.schema`` to write the page (``--check`` only compares).
"""

from __future__ import annotations

import argparse
import sys
from datetime import datetime, timedelta, timezone
from pathlib import Path
from typing import Any, Iterable

PAGE = Path(__file__).resolve().parents[2] / "docs" / "SCHEMA.md"

TRUSTSTORE_HEADER = ["record", "source", "at", "certificates", "skipped"]
TRUSTSTORE_CSV = ["record", "subject", "issuer", "not_after", "key", "sha256", "kind", "severity", "message"]

# Every key of every record, in words. Shared words for a key that appears in several records.
WORDS: dict[str, str] = {
    # inspect: connection
    "connection": "`CLIENTIP:PORT-SERVERIP:PORT` (IPv6 in brackets): the connection's id in every output",
    "client_ip": "client address", "client_port": "client port", "server_ip": "server address",
    "server_port": "server port",
    "start": "first packet of the TCP connection, epoch seconds (float, UTC)",
    "start_utc": "`start` as ISO-8601 UTC with microseconds and `Z`",
    "end": "last packet seen, epoch seconds",
    "first_frame": "frame number (1-based, as tshark counts) of the first packet",
    "status": "`ok`, `failed` (fatal alert, or closed before the handshake ended) or `incomplete` (the capture ends first)",
    "reason": "why, in words (for `ok`: what completed)",
    "sni": "server name the client sent (null: none)",
    "version": "negotiated version by name (`TLS 1.2`...)", "version_id": "negotiated version as a number (0x0303 = 771)",
    "cipher": "negotiated cipher suite by IANA name", "cipher_id": "negotiated cipher suite as a number",
    "client_version_id": "the ClientHello's legacy_version",
    "offered_versions": "supported_versions the client offered, wire order",
    "alpn_offered": "ALPN protocols the client offered", "alpn": "ALPN protocol the server chose",
    "kex_group": "key exchange group (named curve or FFDHE group)",
    "hello_retry": "the server sent a HelloRetryRequest",
    "starttls": "protocol upgraded from (`smtp`, `xmpp`...), null when TLS from the first byte",
    "certificates_visible": "false for TLS 1.3 without session keys: the certificates were encrypted",
    "server_certs": "the server's certificates, wire order (objects: see *certificate*)",
    "client_certs": "the client's certificates, wire order",
    "certificate_request": "the server asked for a client certificate",
    "alerts": "every alert, in order (objects: see *alert*); csv: `sender:level:description` joined by `; `",
    "closed_by": "who sent the first FIN or RST (`client`/`server`), null while still open",
    "close_kind": "`FIN` or `RST`",
    "close_frame": "frame number of that FIN or RST", "close_time": "its time, epoch seconds",
    "last_frame": "frame number of the last packet (`end`)",
    "handshake": "every plaintext handshake message (objects: see *handshake message*)",
    "anomalies": "what was not as it should be: gaps, retransmissions, caps, malformed messages (objects: see *anomaly*); "
                 "csv: `kind: detail` joined by `; `. On a certificate: how it departs from RFC 5280/DER",
    "resumed": "`psk`, `ticket` or `session_id` for a resumed session (no certificate to judge), else null",
    "ja3": "JA3 string of the ClientHello", "ja3_hash": "its MD5", "ja3s": "JA3S string of the ServerHello",
    "ja3s_hash": "its MD5", "ja4": "JA4 fingerprint", "ja4_r": "JA4 raw (unhashed) form",
    "offered_ciphers": "cipher suites the client offered, wire order, GREASE kept (numbers)",
    "offered_extensions": "ClientHello extension types, wire order, GREASE kept",
    "offered_groups": "supported_groups the client offered", "offered_sigalgs": "signature_algorithms the client offered",
    "offered_point_formats": "ec_point_formats the client offered",
    "server_extensions": "ServerHello extension types, wire order",
    "verify": "OpenSSL's verdict on the server chain against the trust store in use (object: see *verify*); null when no "
              "server certificate was visible",
    "capture": "the capture file, when several were read",
    # inspect csv
    "server_chain_sha256": "SHA-256 of each server certificate, wire order, space separated",
    "server_cert_subject": "leaf's subject", "server_cert_issuer": "leaf's issuer",
    "server_cert_san": "leaf's subjectAltName entries, space separated",
    "server_cert_not_before": "leaf's notBefore (ISO-8601, Z)", "server_cert_not_after": "leaf's notAfter (ISO-8601, Z)",
    "server_cert_key": "leaf's key (`RSA 2048`, `EC secp384r1`...)", "server_cert_self_signed": "leaf is self-signed",
    "client_chain_sha256": "as `server_chain_sha256`, for the client", "client_cert_subject": "as for the server",
    "client_cert_issuer": "as for the server", "client_cert_san": "as for the server",
    "client_cert_not_before": "as for the server", "client_cert_not_after": "as for the server",
    "client_cert_key": "as for the server", "client_cert_self_signed": "as for the server",
    "verify_error": "`verify.error`", "verify_depth": "`verify.depth`", "verify_message": "`verify.message`",
    "verify_name": "`verify.name`",
    # certificate
    "sha256": "SHA-256 of the DER, hex", "subject": "subject DN (RFC 4514)", "issuer": "issuer DN",
    "common_name": "subject CN", "serial": "serial number (decimal text)",
    "not_before": "validity start, ISO-8601 with `Z`, whole seconds as X.509 keeps them",
    "not_after": "validity end, ISO-8601 with `Z`, whole seconds",
    "san": "subjectAltName entries (`DNS:…`, `IP:…`)", "key": "key type and size or curve",
    "signature_algorithm": "signature algorithm", "self_signed": "issuer and subject match and the signature verifies",
    "is_ca": "basicConstraints CA:TRUE", "error": "why the certificate could not be decoded (then only sha256 is known)",
    # alert
    "time": "epoch seconds (inspect), or ISO-8601 UTC with microseconds and `Z` (timeline, diagnose evidence)",
    "frame": "frame number of the packet that carried it",
    "sender": "`client` or `server`", "level": "1 warning, 2 fatal (timeline: the log line's level)",
    "code": "alert number", "description": "alert name (`unknown_ca`...)", "title": "Wireshark's title (`Unknown CA`)",
    "encrypted": "true when the alert was encrypted (then no level or code)",
    "message": "handshake message name (inspect); OpenSSL's words (verify); the warning (truststore)",
    # anomaly
    "kind": "what kind (anomaly: `gap`, `retransmission`, `cap`, `malformed`, `no_syn`, `decrypt`...; "
            "finding: `handshake_failed` or `not_verified`; certs: `cert` or `chain`; truststore finding: the check)",
    "detail": "in words (timeline: the event's text)",
    # verify
    "depth": "where OpenSSL reports the error (0 = the server's own certificate), null for OK",
    "name": "the host name or IP address checked (SNI, else the server's address)",
    "expressway_message": "the same error in OpenSSL 1.x words, as Expressway's log writes it",
    "explanation": "in a network engineer's words",
    # timeline
    "source": "`capture` or the log file's name", "event": "`connection start`, a handshake message, `alert`, `FIN`, `RST`, "
              "`last packet`, or the log record's kind",
    "server": "`ip:port`", "line": "line number in the log file", "link": "how a log row was linked (attempt, transaction, "
              "nearest) or why not", "log_time": "the time as the log wrote it, on its own clock",
    "delta": "seconds from the connection's moment the record belongs to",
    # diagnose
    "server_name": "the SNI, or the name the log used", "headline": "what happened to this server's connections, in words",
    "trust_store": "the trust store the chains were judged against, as it describes itself",
    "chain_sha256": "SHA-256 of each certificate of the chain, wire order (csv: space separated)",
    "problem": "one line: the cause", "certificate": "the leaf the server presented (see *certificate*)",
    "connections": "ids of the connections the finding is about (csv: space separated)",
    "failed_connections": "how many of them failed their handshake (0 for `not_verified`)",
    "total_connections": "all connections to this server and port",
    "evidence": "capture frames and log lines, on the capture's clock (objects: see *evidence*)",
    "fixes": "what to change, in order (csv: joined by ` | `)",
    "certificate_subject": "`certificate.subject`", "certificate_sha256": "`certificate.sha256`",
    "first_evidence_time": "`evidence[0].time`",
    "text": "what happened, in words",
    # certs
    "path": "file written", "servers": "`ip:port` of the servers that sent it (csv: space separated)",
    "count": "certificates in the file",
    # truststore
    "record": "`truststore` (the header), `certificate` or `finding`", "at": "the time validity was judged at",
    "certificates": "certificates read", "skipped": "files that held no certificate",
    "severity": "`warning` or `info`", "certs": "SHA-256 of the certificates concerned",
}


def _probe_connection() -> Any:
    from ..tcp.facts import Anomaly, Endpoint
    from ..tls.model import Alert, HandshakeEvent, TlsConnection

    return TlsConnection(client=Endpoint("0.0.0.0", 0), server=Endpoint("0.0.0.0", 0), start=0.0, end=0.0,
                         first_frame=1, alerts=(Alert(0.0, 1, "client", 2, 48), Alert(0.0, 1, "client", None, None, True)),
                         handshake=(HandshakeEvent(0.0, 1, "client", 1),), anomalies=(Anomaly("gap", "x", 0.0, "client"),))


def _probe_certificate() -> bytes:
    """A throwaway self-signed certificate: only its record's keys are read."""
    from cryptography import x509
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import ec
    from cryptography.x509.oid import NameOID

    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "probe")])
    t = datetime(2020, 1, 1, tzinfo=timezone.utc)
    cert = (x509.CertificateBuilder().subject_name(name).issuer_name(name).public_key(key.public_key())
            .serial_number(1).not_valid_before(t).not_valid_after(t + timedelta(days=1))
            .add_extension(x509.SubjectAlternativeName([x509.DNSName("probe")]), critical=False)
            .sign(key, hashes.SHA256()))
    return cert.public_bytes(serialization.Encoding.DER)


def sections() -> list[tuple[str, str, list[str]]]:
    """(title, what it is, keys in the order written) for every record pcaptls writes."""
    from ..certificates.export import Written
    from ..certificates.openssl.vocabulary import make_verdict
    from ..certificates.truststore import LintWarning
    from ..correlate.findings import Evidence, Finding
    from ..correlate.timeline import ROW_COLUMNS
    from .findings import FINDING_CSV
    from .records import cert_record, connection_record, flatten, verdict_record

    probe = _probe_connection()
    conn = connection_record(probe, verdict_record(make_verdict("OK", None, "x")), with_verify=True)
    conn["capture"] = ""
    cert = list(cert_record(_probe_certificate()))
    cert += [k for k in ("anomalies",) if k not in cert]  # only on a certificate that has some
    cert += [k for k in cert_record(b"not a certificate") if k not in cert]
    verdict = make_verdict("UNSPECIFIED", None, None)
    verify = list(verdict_record(verdict) or {}) + ["detail"]
    finding = Finding("s", None, "p", "e", None, (), verdict, ("c",), 1, (Evidence(0.0, "capture", "t", 1),), ())
    exported = Written("", "cert", "", "", (), 1)
    return [
        ("inspect --format jsonl", "one object per TLS connection, in time order", list(conn)),
        ("certificate", "in `server_certs`, `client_certs`, `diagnose`'s `certificate`, `truststore`'s certificate "
         "records", list(dict.fromkeys(cert))),
        ("alert", "in `alerts`: an encrypted one has only `time`, `frame`, `sender`, `encrypted`",
         list(dict.fromkeys([*conn["alerts"][0], *conn["alerts"][1]]))),
        ("handshake message", "in `handshake`", list(conn["handshake"][0])),
        ("anomaly", "in a connection's `anomalies`", list(conn["anomalies"][0])),
        ("verify", "`verify` of inspect; `detail` only when no verdict could be reached", list(dict.fromkeys(verify))),
        ("inspect --format csv", "one row per connection: the jsonl keys flattened", list(flatten(conn))),
        ("timeline --format jsonl / csv", "one row per capture or log event, in time order", list(ROW_COLUMNS)),
        ("diagnose --format jsonl", "one object per finding", list(finding.to_dict())),
        ("evidence", "in a finding's `evidence`", list(finding.to_dict()["evidence"][0])),
        ("diagnose --format csv", "one row per finding", list(FINDING_CSV)),
        ("certs --format jsonl / csv", "one per file written", list(exported.to_dict())),
        ("truststore --format jsonl: header", "the first record", TRUSTSTORE_HEADER),
        ("truststore --format jsonl: finding", "after the certificate records",
         ["record", *LintWarning("k", "s", "m", ()).to_dict()]),
        ("truststore --format csv", "certificates, then findings", TRUSTSTORE_CSV),
    ]


def page() -> str:
    """docs/SCHEMA.md's text. Raises ``KeyError`` naming any key without words in :data:`WORDS`."""
    secs = sections()
    missing = sorted({k for _t, _w, keys in secs for k in keys if k not in WORDS})
    if missing:
        raise KeyError(f"keys without words in pcaptls/report/schema.py WORDS: {', '.join(missing)}")
    out = [
        "# What pcaptls writes: the jsonl and csv schema",
        "",
        "<!-- Made by `python -m pcaptls.report.schema` from the code that writes the records; "
        "tests/report/test_schema.py checks it. Do not edit by hand. -->",
        "",
        "Times: in data (jsonl, csv) ISO-8601 UTC with `Z`: events with microseconds "
        "(`2026-11-27T11:19:24.424121Z`), certificate validity in whole seconds (`2036-11-24T11:09:20Z`); "
        "`start`, `end`, `close_time` and the `time` of alerts and handshake messages in inspect are also "
        "epoch seconds (float). Tables show one readable form, `2026-11-27 11:19:24.424Z`.",
        "",
        "Trust store: `inspect` and `diagnose` state the trust store they judged chains against: in the table's "
        "first line; for jsonl and csv as a line `trust store: …` on standard error (not written when a file "
        "could not be read: the error line is all standard error holds then); each `diagnose` record also "
        "carries it (`trust_store`).",
        "",
        "Missing values are `null` in jsonl and empty in csv; lists are JSON arrays in jsonl and joined text "
        "in csv. Text from the wire is exact in jsonl and neutralised for spreadsheets in csv.",
        "",
    ]
    for title, what, keys in secs:
        out += [f"## {title}", "", what + ".", "", "| key | meaning |", "|---|---|"]
        out += [f"| `{k}` | {WORDS[k]} |" for k in keys]
        out.append("")
    return "\n".join(out)


def documented() -> dict[str, list[str]]:
    """Each section's keys (for tests that check real records against the page)."""
    return {title: keys for title, _w, keys in sections()}


def main(argv: Iterable[str] | None = None) -> int:
    ap = argparse.ArgumentParser(prog="python -m pcaptls.report.schema", description=__doc__.split("\n")[0])
    ap.add_argument("--check", action="store_true", help="only compare with docs/SCHEMA.md (exit 1 if it differs)")
    args = ap.parse_args(list(argv) if argv is not None else None)
    text = page()
    if args.check:
        same = PAGE.exists() and PAGE.read_text(encoding="utf-8") == text
        print(f"{PAGE}: {'up to date' if same else 'differs: run python -m pcaptls.report.schema'}")
        return 0 if same else 1
    PAGE.write_text(text, encoding="utf-8")
    print(f"wrote {PAGE}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
