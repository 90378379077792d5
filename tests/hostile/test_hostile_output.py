"""Attacker-chosen strings (SNI, ALPN, certificate fields) in every output format.

Table: no raw control character, bidi override or line separator reaches the terminal.
CSV: no cell starts with ``=``, ``+``, ``-``, ``@``, tab or CR (OWASP), numbers stay numbers.
JSON lines: every line parses on its own (even split by ``str.splitlines``) and gives back
exactly the string pcaptls decoded.
"""

from __future__ import annotations

import csv
import datetime as dt
import io
import json
import re
import subprocess
import sys
import unicodedata
from pathlib import Path

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.hazmat.primitives.serialization import Encoding
from cryptography.x509.oid import NameOID
from hypothesis import example, given, settings
from hypothesis import strategies as st

from pcaptls.capture.frames import ReadStats
from pcaptls.certificates.x509 import try_decode
from pcaptls.pipeline.analysis import analyse_frames
from pcaptls.report import connections as view
from pcaptls.report import writers
from pcaptls.report.records import connection_line, connection_record, json_text
from pcaptls.report.safe import csv_cell, terminal
from tests.helpers import craft, pcapgen

# What must never reach a terminal raw: C0 (but the table's own newlines), DEL, C1, bidi
# embedding/override/isolate controls and marks, Unicode line and paragraph separators.
UNSAFE = re.compile("[\x00-\x09\x0b-\x1f\x7f-\x9f\u061c\u200e\u200f\u202a-\u202e\u2066-\u2069\u2028\u2029]")
FORMULA = ("=", "+", "-", "@", "\t", "\r")
NASTY = [
    "\x1b[2J\x1b[H", "\x1b]0;owned\x07", "\x07", "\x08\x08\x08", "\u202e", "\u2066", "\u061c", "\r", "\n",
    "\x9b31m", "\x85", "\u2028", "=HYPERLINK(\"http://x\")", "+1", "-1", "@SUM(A1)", "\t", "'", '"', ",", ";",
]
nasty_text = st.lists(st.one_of(st.sampled_from(NASTY), st.text(max_size=8)), max_size=8).map("".join)


def is_unsafe_char(c: str) -> bool:
    if c == "\n":
        return False
    return (unicodedata.category(c) in ("Cc", "Zl", "Zp")
            or unicodedata.bidirectional(c) in ("LRE", "RLE", "LRO", "RLO", "PDF", "LRI", "RLI", "FSI", "PDI")
            or c in "\u200e\u200f\u061c")


# -- the two primitives ------------------------------------------------------------------------

@given(st.text())
@example("\u061c\u202e\x9b\x1b\x07\u2028\u2029\x85\x00")
def test_terminal_escapes_every_control(s: str) -> None:
    out = terminal(s)
    assert not any(is_unsafe_char(c) for c in out if c != "\n") and "\n" not in out
    if not any(is_unsafe_char(c) or c == "\n" for c in s):
        assert out == s  # ordinary text, accents and CJK included, is left alone


@given(st.one_of(st.text(), st.integers(), st.floats(allow_nan=False), st.booleans(), st.none()))
@example("=1+1")
@example("\r=1")
def test_csv_cell_neutralises_formulas_only(v: object) -> None:
    out = csv_cell(v)
    if isinstance(v, (int, float, bool)) or v is None:
        assert out is v
    elif isinstance(v, str) and v.startswith(FORMULA):
        assert out == "'" + v
    else:
        assert out == v


# -- whole pipeline --------------------------------------------------------------------------

_KEY = ec.generate_private_key(ec.SECP256R1())


def hostile_cert(cn: str, org: str = "@SUM(A1)\t", san: str = "-x\x1b[1m.example") -> bytes:
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, cn), x509.NameAttribute(NameOID.ORGANIZATION_NAME, org)])
    now = dt.datetime(2026, 1, 1, tzinfo=dt.timezone.utc)
    cert = (x509.CertificateBuilder().subject_name(name).issuer_name(name).public_key(_KEY.public_key())
            .serial_number(1).not_valid_before(now).not_valid_after(now + dt.timedelta(days=3))
            .add_extension(x509.SubjectAlternativeName([x509.DNSName(san)]), critical=False)
            .sign(_KEY, hashes.SHA256()))
    return cert.public_bytes(Encoding.DER)


def capture_frames(sni: bytes, alpn: list[bytes], cn: str) -> list[tuple[float, bytes]]:
    der = hostile_cert(cn)
    wire = [(0, craft.client_hello(sni, alpn)), (1, craft.server_flight([der], alpn=alpn[0] if alpn else None))]
    return pcapgen.tcp_flow(wire, rst_by=0)


def records_of(frames: list[tuple[float, bytes]]) -> list[dict]:  # type: ignore[type-arg]
    a = analyse_frames(((i + 1, t, 1, d, len(d)) for i, (t, d) in enumerate(frames)), ReadStats(path="<x>"))
    recs = [connection_record(c, None, with_verify=True) for c in a.connections]
    # inspect --format jsonl writes connection_line(): the same text, its parts made once.
    verify = {"error": "HOSTILE", "message": "\u2028\x00\"server_certs\":\"\\u0000server_certs\"\x85", "depth": 0}
    for c, rec in zip(a.connections, recs):
        assert connection_line(c, None) == writers.jsonl((rec,))
        same = {**rec, "verify": verify, "capture": "\u202e\"verify\":\"\\u0000verify\".pcap"}
        assert connection_line(c, json_text(verify), same["capture"]) == writers.jsonl((same,))
    return recs


def check_table(text: str) -> None:
    bad = [c for c in text if c != "\n" and is_unsafe_char(c)]
    assert not bad and not UNSAFE.search(text.replace("\n", "")), bad


def check_csv(text: str, recs: list[dict]) -> None:  # type: ignore[type-arg]
    rows = list(csv.DictReader(io.StringIO(text, newline="")))
    assert len(rows) == len(recs)
    for row, rec in zip(rows, recs):
        for k, cell in row.items():
            assert not cell.startswith(FORMULA), (k, cell)
        assert row["client_port"] == str(rec["client_port"]) and row["cipher_id"] == str(rec["cipher_id"])
        sni = rec["sni"] or ""
        assert row["sni"] == ("'" + sni if sni.startswith(FORMULA) else sni)


def check_jsonl(text: str, recs: list[dict]) -> None:  # type: ignore[type-arg]
    lines = text.splitlines()  # splits on \x85, \u2028, \u2029 too: those must be escaped
    assert len(lines) == len(recs)
    assert [json.loads(x) for x in lines] == json.loads(json.dumps(recs))


@settings(max_examples=150, deadline=None)
@given(st.binary(min_size=0, max_size=60) | nasty_text.map(lambda s: s.encode("utf-8", "surrogatepass")[:200]),
       st.lists(st.binary(min_size=1, max_size=20) | nasty_text.filter(lambda s: 0 < len(s.encode()) < 200).map(str.encode),
                max_size=3),
       nasty_text.filter(lambda s: 1 <= len(s.encode()) <= 64))
@example(b"evil\x1b[2J\x07\xe2\x80\xaeexe.\n=cmd|' /C calc'!A0", [b"h2\x1b]0;x\x07", b"=1"], "\x1b[31m\u202e\r\n=1+1")
def test_hostile_strings_through_every_format(sni: bytes, alpn: list[bytes], cn: str) -> None:
    recs = records_of(capture_frames(sni, alpn, cn))
    (rec,) = recs
    # JSON keeps exactly what was decoded: bytes as UTF-8 with backslash escapes for the rest.
    assert rec["sni"] == sni.decode("utf-8", "backslashreplace")
    assert rec["alpn_offered"] == [p.decode("utf-8", "backslashreplace") for p in alpn]
    info = try_decode(hostile_cert(cn))
    assert info is not None and rec["server_certs"][0]["common_name"] == cn == info.common_name
    assert rec["server_certs"][0]["subject"] == info.subject
    table = view.table(recs) + "\n" + view.failure_details(recs)
    check_table(table)
    assert view.table(recs).count("\n") == 2  # header, rule, one row: nothing smuggled a line in
    check_csv(view.csv_text(recs), recs)
    check_jsonl(writers.jsonl(recs), recs)


def test_hostile_strings_through_the_cli(tmp_path: Path) -> None:
    sni = b"evil\x1b[2J\x07\xe2\x80\xaeexe\xc2\x9b.\xe2\x80\xa8\n=cmd|' /C calc'!A0\xff"
    alpn = [b"=h2\x1b]0;x\x07", b"+x\xc2\x85"]
    cn = "\x1b[31m\u202e\r\n=1+1\u2029\u061c"
    p = tmp_path / "hostile.pcap"
    pcapgen.write_pcap(p, capture_frames(sni, alpn, cn))
    expected = records_of(capture_frames(sni, alpn, cn))

    def run(fmt: str) -> str:
        r = subprocess.run([sys.executable, "-m", "pcaptls.cli", "inspect", str(p), "--format", fmt],
                           capture_output=True, timeout=120)
        # jsonl/csv state the trust store on stderr (one line, no wire text); nothing else goes there.
        said = b"" if fmt == "table" else r.stderr
        assert r.returncode == 1 and r.stderr == said and said.count(b"\n") <= 1, r.stderr
        assert not said or said.startswith(b"trust store: default: certifi"), r.stderr
        return r.stdout.decode("utf-8")

    table = run("table")
    check_table(table)
    assert "\\x1b[2J" in table and "\\u202e" in table  # shown, escaped
    csv_out = run("csv")
    check_csv(csv_out, expected)
    jl = run("jsonl")
    (got,) = [json.loads(x) for x in jl.splitlines()]
    assert got["sni"] == sni.decode("utf-8", "backslashreplace") == expected[0]["sni"]
    assert got["alpn_offered"] == [a.decode("utf-8", "backslashreplace") for a in alpn]
    assert got["alpn"] == alpn[0].decode()
    assert got["server_certs"][0]["common_name"] == cn


def test_stderr_line_is_escaped_too(tmp_path: Path) -> None:
    """A hostile file name (say, from an unpacked bundle) cannot drive the terminal either."""
    p = tmp_path / "x\x1b]0;owned\x07\u202e.pcap"
    p.write_bytes(b"")
    r = subprocess.run([sys.executable, "-m", "pcaptls.cli", "inspect", str(p), "--format", "jsonl"],
                       capture_output=True, timeout=60)
    err = r.stderr.decode()
    assert r.returncode == 2 and err.count("\n") == 1
    check_table(err)
    assert "\\x1b]0;owned\\x07" in err


@pytest.mark.parametrize("value", ["=1+1", "+1", "-1", "@x", "\t1", "\r1"])
def test_formula_cells_through_flatten(value: str) -> None:
    rec = records_of(capture_frames(value.encode(), [value.encode()], value if value[0] not in "\t\r" else "x" + value))[0]
    rows = list(csv.reader(io.StringIO(view.csv_text([rec]), newline="")))
    header, row = rows
    assert row[header.index("sni")] == "'" + value and row[header.index("alpn_offered")] == "'" + value
    assert row[header.index("server_port")] == "443"


HOSTILE_LOG = (
    "{t} vcsc traffic_server[18242]: [ET_NET 0] WARNING: Core server certificate verification failed for "
    "(=cmd\x1b[2J\u202eevil\x9b). Action=Terminate Error=self signed certificate\x07 server=@evil\x1b(10.0.0.2) depth=0\n"
    "{t} vcsc traffic_server[18242]: [ET_NET 0] ERROR: SSL connection failed for '+evil\u2066\u2028x': "
    "error:1416F086:SSL routines:tls_process_server_certificate:certificate verify failed\n"
)


@pytest.mark.parametrize("command,fmt", [("timeline", "table"), ("timeline", "jsonl"), ("timeline", "csv"),
                                         ("diagnose", "table"), ("diagnose", "jsonl")])
def test_log_and_capture_strings_through_diagnose_and_timeline(tmp_path: Path, command: str, fmt: str) -> None:
    """Log text is attacker-controlled too: the commands that print it follow the same rules."""
    frames = capture_frames(b"=cmd|evil\x1b[2J\x07\xe2\x80\xae.\xc2\x9bx", [b"=h2\x1b]0;x\x07"], "\x1b[31m\u202e=1+1\u2028x")
    p = tmp_path / "c.pcap"
    pcapgen.write_pcap(p, frames)
    log = tmp_path / "expressway.log"
    log.write_text(HOSTILE_LOG.format(t="2026-05-28T20:26:40.002+00:00"))
    r = subprocess.run([sys.executable, "-m", "pcaptls.cli", command, str(p), "--log", str(log), "--format", fmt],
                       capture_output=True, timeout=300)
    out = r.stdout.decode("utf-8")
    assert r.returncode in (0, 1) and out, r.stderr
    if fmt == "table":
        check_table(out)
    elif fmt == "jsonl":
        rows = [json.loads(x) for x in out.splitlines()]
        assert rows
        check_table(out)  # JSON text escapes what it must; what it leaves raw is printable
    else:
        for row in csv.reader(io.StringIO(out, newline="")):
            assert not any(c.startswith(FORMULA) for c in row), row
