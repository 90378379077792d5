"""`pcaptls report` through the real CLI: the page holds what diagnose, inspect and truststore
say (every finding, connection and certificate), escapes hostile strings, loads nothing from
elsewhere, and reads a bundle and a folder of rotated captures as the single file.

The browser's view of the same pages is tests/report/test_html_browser.py."""

from __future__ import annotations

import base64
import hashlib
import json
import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from pcaptls.times import readable
from tests.helpers.paths import CAPTURES
from tests.report import samples
from tests.report.htmldoc import Element, parse

MRA = CAPTURES / "mra-login"
PCAPTLS = [sys.executable, "-m", "pcaptls.cli"]

pytestmark = pytest.mark.skipif(not (MRA / "manifest.json").exists(), reason="lab capture not generated")


def run(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([*PCAPTLS, *args], capture_output=True, text=True, timeout=300)


def jsonl(*args: str) -> list[dict]:  # type: ignore[type-arg]
    r = run(*args, "--format", "jsonl")
    assert r.returncode in (0, 1), r.stderr
    return [json.loads(x) for x in r.stdout.splitlines() if x.strip()]


def report(tmp: Path, *args: str, name: str = "report.html") -> tuple[str, subprocess.CompletedProcess[str]]:
    out = tmp / name
    r = run("report", *args, "-o", str(out))
    assert r.returncode in (0, 1), r.stderr
    assert r.stderr.strip().startswith(f"wrote {out}"), r.stderr
    return out.read_text(encoding="utf-8"), r


MRA_ARGS = (str(MRA / "capture.pcap"), "--log", str(MRA / "expressway.log"), "--trust-store", str(MRA / "truststore.pem"))


@pytest.fixture(scope="module")
def mra_page(tmp_path_factory: pytest.TempPathFactory) -> tuple[str, Element]:
    html, r = report(tmp_path_factory.mktemp("mra"), *MRA_ARGS)
    assert r.returncode == 1  # findings
    doc, errors = parse(html)
    assert errors == []
    return html, doc


def _text(el: Element | None) -> str:
    assert el is not None
    return " ".join(el.text.split())


def table_rows(doc: Element) -> list[list[str]]:
    rows_box = doc.find_id("conn-rows")
    assert rows_box is not None
    return [[" ".join(td.text.split()) for td in tr.iter("td")] for tr in rows_box.iter("tr") if list(tr.iter("td"))]


def findings_view(doc: Element) -> list[str]:
    """Each finding's article as text, frame numbers and all (what must not change)."""
    return [_text(a) for a in doc.iter("article") if "finding" in a.classes()]


# -- contents ----------------------------------------------------------------------------------

def test_every_finding_with_its_evidence_and_numbered_fix(mra_page: tuple[str, Element]) -> None:
    _html, doc = mra_page
    findings = jsonl("diagnose", *MRA_ARGS)
    assert len(findings) == 2
    verdict = _text(doc.find_id("verdict"))
    assert verdict.startswith("2 servers fail TLS (5 of 9 connections failed)")
    for n, f in enumerate(findings, 1):
        art = doc.find_id(f"finding-{n}")
        assert art is not None, n
        text = _text(art)
        assert f["server"] in text and f["problem"] in text and f["explanation"] in text
        assert f["certificate"]["subject"] in text and f["certificate"]["sha256"] in text
        # Evidence: capture frames and log lines on one clock, in the two columns.
        rows = [[" ".join(td.text.split()) for td in tr.iter("td")] for tr in art.iter("tr")][1:]
        assert [r[0] for r in rows] == [readable(e["time"]) for e in f["evidence"]]  # the tables' one readable form
        for r, e in zip(rows, f["evidence"]):
            col = 2 if e["source"] == "capture" else 3
            assert r[col] == " ".join(e["text"].split())
            assert r[1] == (f"frame {e['frame']}" if e["frame"] else (f"{e['source']} line {e['line']}" if e["line"] else ""))
        fixes = [ol for ol in art.iter("ol") if "fixes" in ol.classes()][0]
        assert [" ".join(li.text.split()) for li in fixes.iter("li")] == [" ".join(x.split()) for x in f["fixes"]]


def test_every_connection_in_the_table(mra_page: tuple[str, Element]) -> None:
    _html, doc = mra_page
    conns = jsonl("inspect", str(MRA / "capture.pcap"), "--trust-store", str(MRA / "truststore.pem"))
    rows = table_rows(doc)
    assert len(rows) == len(conns) == 9
    for row, c in zip(rows, conns):
        assert row[0] == c["start_utc"][:23].replace("T", " ") + "Z"
        assert row[1] == f"{c['client_ip']}:{c['client_port']} -> {c['server_ip']}:{c['server_port']}"
        assert row[2] == (c["sni"] or "-")
        v = c["verify"]
        assert row[8].startswith(c["status"].upper())
        if v and v["error"] != "OK":
            assert v["error"] in row[8]
    bad = [tr for tr in doc.find_id("conn-rows").iter("tr") if "bad" in tr.classes()]  # type: ignore[union-attr]
    assert len(bad) == sum(1 for c in conns if c["status"] != "ok" or (c["verify"] and c["verify"]["error"] != "OK"))


def test_every_certificate_decoded_with_its_pem(mra_page: tuple[str, Element]) -> None:
    _html, doc = mra_page
    conns = jsonl("inspect", str(MRA / "capture.pcap"))
    certs = {c["sha256"]: c for conn in conns for c in conn["server_certs"] + conn["client_certs"]}
    assert len(certs) >= 4
    section = doc.find_id("certificates")
    assert section is not None
    arts = [a for a in section.iter("article")]
    assert len(arts) == len(certs)
    for sha, c in certs.items():
        art = doc.find_id(f"cert-{sha[:16]}")
        assert art is not None, c["subject"]
        text = _text(art)
        assert c["subject"] in text and c["issuer"] in text and sha in text and c["not_after"] in text
        link = next(a for a in art.iter("a") if "download" in a.attrs)
        href = link.attrs["href"] or ""
        assert href.startswith("data:application/x-pem-file;base64,")
        pem = base64.b64decode(href.split(",", 1)[1]).decode("ascii")
        body = "".join(pem.strip().splitlines()[1:-1])
        assert hashlib.sha256(base64.b64decode(body)).hexdigest() == sha
        # and openssl reads the PEM as the same certificate
        if shutil.which("openssl"):
            out = subprocess.run(["openssl", "x509", "-noout", "-fingerprint", "-sha256"], input=pem,
                                 capture_output=True, text=True, check=True).stdout
            assert out.split("=", 1)[1].strip().replace(":", "").lower() == sha


def test_timeline_one_row_per_server_port_with_alerts_and_log_lines(mra_page: tuple[str, Element]) -> None:
    _html, doc = mra_page
    svg = doc.find_id("timeline-svg")
    assert svg is not None and svg.tag == "svg"
    conns = jsonl("inspect", str(MRA / "capture.pcap"))
    servers = {f"{c['server_ip']}:{c['server_port']}" for c in conns}
    labels = {t.text for t in svg.iter("text") if "rowlabel" in t.classes()}
    assert labels == servers
    kinds: dict[str, int] = {}
    for el in svg.iter():
        for k in el.classes():
            kinds[k] = kinds.get(k, 0) + 1
    assert kinds["hs-ok"] == 4 and kinds["hs-failed"] == 5  # one bar per connection here (none share a pixel)
    assert kinds["alert"] == 5  # every fatal alert
    # WARNING/ERROR lines and the 502s: a verification WARNING and its ERROR share a millisecond,
    # hence one mark (its hover text counts both).
    assert kinds["log"] == 5 and kinds["http502"] == 5
    # Hover: every mark carries its detail.
    titles = [t.text for t in svg.iter("title")]
    assert any("fatal alert Unknown CA" in t for t in titles)
    assert any("502 connect failed" in t for t in titles)
    assert sum(t.startswith("2 marks here, the first: ") and "WARNING" in t for t in titles) == 5


def test_trust_store_lint_and_inputs(tmp_path: Path) -> None:
    store = MRA / "truststore-duplicate-cn.pem"
    html, _ = report(tmp_path, str(MRA / "capture.pcap"), "--log", str(MRA / "expressway.log"), "--trust-store", str(store))
    doc, errors = parse(html)
    assert errors == []
    ts = _text(doc.find_id("truststore"))
    conns = jsonl("inspect", str(MRA / "capture.pcap"))
    at = conns[0]["start_utc"][:19] + "Z"
    lint = [x for x in jsonl("truststore", str(store), "--at", at) if x["record"] == "finding"]
    assert any(x["kind"] == "same_cn" for x in lint)
    for x in lint:
        assert " ".join(x["message"].split()) in ts
    inputs = _text(doc.find_id("inputs"))
    for f in (MRA / "capture.pcap", MRA / "expressway.log", store):
        assert hashlib.sha256(f.read_bytes()).hexdigest() in inputs
    from pcaptls import __version__

    assert f"pcaptls {__version__}" in inputs


# -- safety ------------------------------------------------------------------------------------

def _no_external_loads(html: str, doc: Element) -> None:
    csp = [m.attrs.get("content") or "" for m in doc.iter("meta") if (m.attrs.get("http-equiv") or "").lower() == "content-security-policy"]
    assert len(csp) == 1
    policy = dict((d.strip().split(" ", 1) + [""])[:2] for d in csp[0].split(";") if d.strip())
    assert policy["default-src"] == "'none'"
    assert "unsafe-inline" not in csp[0] and "unsafe-eval" not in csp[0] and "http" not in csp[0]
    scripts = list(doc.iter("script"))
    assert len(scripts) == 1 and "src" not in scripts[0].attrs
    digest = base64.b64encode(hashlib.sha256(scripts[0].text.encode()).digest()).decode()
    assert policy["script-src"] == f"'sha256-{digest}'"  # the one script, and only it
    for el in doc.iter():
        assert el.tag not in ("link", "img", "iframe", "object", "embed", "base", "form", "video", "audio")
        for k, v in el.attrs.items():
            assert not k.startswith("on"), (el.tag, k)
            if k in ("src", "href", "action", "srcset", "xlink:href", "poster", "data"):
                assert v is not None and (v.startswith("#") or v.startswith("data:application/x-pem-file;base64,")), (el.tag, k, v)
    assert not re.search(r"(?i)\b(src|href)\s*=\s*[\"']?\s*(https?:|//)", html)
    assert "url(" not in html  # no stylesheet URL either


def test_no_external_resources_and_a_strict_csp(mra_page: tuple[str, Element]) -> None:
    _no_external_loads(*mra_page)


def test_hostile_strings_are_text(tmp_path: Path) -> None:
    cap, log = samples.hostile_inputs(tmp_path)
    html, r = report(tmp_path, str(cap), "--log", str(log))
    assert r.returncode == 1
    doc, errors = parse(html)
    assert errors == []
    _no_external_loads(html, doc)
    text = doc.text
    for s in samples.SHOWN:
        assert s in text, s  # shown, as the characters they are
    # Nowhere as markup: no element but the page's own came out of them.
    assert "<img" not in html and html.count("<script") == 1 and "onerror=alert" not in html.replace("onerror=alert(", "")
    # Terminal escapes and bidi controls made visible, as on a terminal.
    assert "\x1b" not in html and "\x07" not in html and "\u202e" not in html
    assert "O=\\x1b]0\\;owned\\x07 Evil \\u202e Org" in text  # the subject, RFC 4514-escaped, then made visible
    # The hostile log line is on the timeline, its hover text whole.
    svg = doc.find_id("timeline-svg")
    assert svg is not None
    assert any('WARNING: Core server certificate verification failed for (<script>alert("log")</script>' in t.text
               for t in svg.iter("title"))


# -- inputs ------------------------------------------------------------------------------------

def test_bundle_gives_the_same_report(tmp_path: Path, mra_page: tuple[str, Element]) -> None:
    html, r = report(tmp_path, str(MRA / "diagnostic_bundle.tar.gz"))
    assert r.returncode == 1
    doc, errors = parse(html)
    assert errors == []
    _html, single = mra_page
    assert table_rows(doc) == table_rows(single)
    # The same findings; the log is the bundle's snapshot, by its own name.
    snapshot = re.compile(r"loggingsnapshot_vcsc_[0-9_-]+\.txt line")
    assert [snapshot.sub("expressway.log line", f) for f in findings_view(doc)] == findings_view(single)
    inputs = _text(doc.find_id("inputs"))
    assert hashlib.sha256((MRA / "diagnostic_bundle.tar.gz").read_bytes()).hexdigest() in inputs


def test_rotated_captures_as_a_folder_give_the_same_report(tmp_path: Path, mra_page: tuple[str, Element]) -> None:
    editcap = shutil.which("editcap")
    if editcap is None:
        pytest.skip("editcap (tshark's package) is not installed")
    folder = tmp_path / "rotated"
    folder.mkdir()
    frames = int(subprocess.run(["capinfos", "-Mc", str(MRA / "capture.pcap")], capture_output=True, text=True,
                                check=True).stdout.split()[-1]) if shutil.which("capinfos") else 200
    subprocess.run([editcap, "-c", str(-(-frames // 5)), str(MRA / "capture.pcap"), str(folder / "mra.pcap")], check=True)
    parts = sorted(folder.iterdir())
    assert len(parts) == 5
    (folder / "expressway.log").write_bytes((MRA / "expressway.log").read_bytes())
    html, r = report(tmp_path, str(folder), "--trust-store", str(MRA / "truststore.pem"))
    assert r.returncode == 1
    doc, errors = parse(html)
    assert errors == []
    _html, single = mra_page
    assert table_rows(doc) == table_rows(single)
    assert findings_view(doc) == findings_view(single)  # frame numbers count across the files
    assert "5 capture files were merged in time order" in " ".join(doc.text.split())
    # Read one by one, the connections cut at the file boundaries come out differently: the merge matters.
    alone = [c for p in parts for c in jsonl("inspect", str(p))]
    assert sorted((c["connection"], c["status"]) for c in alone) != sorted(
        (c["connection"], c["status"]) for c in jsonl("inspect", str(MRA / "capture.pcap")))


def test_stdout_and_bad_input(tmp_path: Path) -> None:
    r = run("report", *MRA_ARGS, "-o", "-")
    assert r.returncode == 1
    assert r.stdout.startswith("<!DOCTYPE html>") and r.stdout.rstrip().endswith("</html>")
    r = run("report", str(tmp_path / "missing.pcap"), "-o", str(tmp_path / "x.html"))
    assert r.returncode == 2
    assert len(r.stderr.strip().splitlines()) <= 2 and "Traceback" not in r.stderr
    assert not (tmp_path / "x.html").exists()
    junk = tmp_path / "junk.pcap"
    junk.write_bytes(b"not a capture at all")
    r = run("report", str(junk), "-o", str(tmp_path / "y.html"))
    assert r.returncode == 2 and "Traceback" not in r.stderr and "a text file, not a capture" in r.stderr


def test_key_log_opens_tls13_certificates_in_the_report(tmp_path: Path) -> None:
    """--keylog on `report` as on the other commands: the TLS 1.3 lab scenario's self-signed
    6972 certificate is judged only when the peers' key log is given."""
    lab = CAPTURES / "11-tls13-keylog"
    if not (lab / "keylog.txt").exists():
        pytest.skip("lab key-log scenario not generated")
    args = [str(lab / "capture.pcap"), "--trust-store", str(lab / "truststore.pem")]
    with_keys = run("report", *args, "--keylog", str(lab / "keylog.txt"), "-o", str(tmp_path / "k.html"))
    without = run("report", *args, "-o", str(tmp_path / "n.html"))
    assert "key log: " in with_keys.stderr and "key log: " not in without.stderr
    assert "DEPTH_ZERO_SELF_SIGNED_CERT" in (tmp_path / "k.html").read_text()
    assert "DEPTH_ZERO_SELF_SIGNED_CERT" not in (tmp_path / "n.html").read_text()
