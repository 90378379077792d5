"""Results -> one self-contained HTML page (`pcaptls report`).

The page is for the people who act on a diagnosis and forward it: the verdict in a sentence,
the findings with their evidence and numbered fixes, a timeline drawn as inline SVG, every
connection in a table, every certificate decoded (with its PEM as a ``data:`` link), the trust
store and its lint warnings, and the inputs with their SHA-256.

Nothing here recomputes what the other commands compute: findings come from
:func:`pcaptls.correlate.findings.find`, connection records from :mod:`.records` (the JSON
schema of ``inspect``), table cells from :mod:`.connections`, trust store warnings from
:func:`pcaptls.certificates.truststore.lint`. This module only arranges them.

Safety: every string from a capture, a log or a certificate is attacker-controlled. The page
is rendered by Jinja2 with autoescaping on (``<``, ``&``, quotes become entities) after
:func:`.safe.terminal` has made control characters visible as ``\\xNN``. The only script and
style are the template's own, allowed by their SHA-256 in a Content-Security-Policy that forbids
everything else (no network, no other script, no inline handlers), so even a string that got
past the escaping could neither run nor load anything. The page reads fully without the script:
it only adds sorting and filtering to the connections table.
"""

from __future__ import annotations

import base64
import hashlib
import os
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime, timezone
from functools import lru_cache
from typing import Any

from ..certificates.verdicts import Judge
from ..certificates.x509 import CertInfo, try_decode
from ..correlate.findings import Finding
from ..correlate.link import Correlation
from ..logs.events import EventKind, ParseSummary
from ..times import iso, readable
from ..tls.constants import alert_title
from ..tls.model import TlsConnection
from .connections import TABLE_HEADERS, table_row
from .records import connection_record, verdict_record
from .safe import terminal

TEMPLATE = "report.html.j2"

# The timeline's geometry, in SVG user units (pixels at 100 %).
SVG_WIDTH = 1100
SVG_LABEL = 200  # the server:port column on the left
SVG_ROW = 30
SVG_TOP = 34  # room for the time axis
SVG_RIGHT = 12


@dataclass(frozen=True, slots=True)
class InputFile:
    """A file the report was made from: what it was used as, where, its size and SHA-256."""

    role: str  # "capture", "log", "trust store", "bundle"
    path: str
    size: int | None
    sha256: str | None


def input_file(role: str, path: str) -> InputFile:
    """Describe ``path`` (hashing it); a folder or unreadable path gets no size or digest."""
    try:
        if os.path.isfile(path):
            h = hashlib.sha256()
            with open(path, "rb") as fh:
                while chunk := fh.read(1 << 20):
                    h.update(chunk)
            return InputFile(role, path, os.path.getsize(path), h.hexdigest())
    except OSError:
        pass
    return InputFile(role, path, None, None)


# --------------------------------------------------------------------------------------------
# The timeline


@dataclass(frozen=True, slots=True)
class _Mark:
    row: int
    kind: str  # hs-ok | hs-failed | hs-incomplete | alert | log | http502
    t0: float
    t1: float
    title: str


def _timeline(conns: Sequence[TlsConnection], correlation: Correlation | None) -> dict[str, Any]:
    """Rows (one per server:port), marks and axis ticks, in SVG coordinates.

    Marks that would fall on the same pixel of the same row and kind are merged into one (its
    hover text counts them): a retry storm of 10,000 connections draws at most one mark per
    pixel column and kind, so the SVG stays small whatever the capture holds."""
    rows: dict[str, int] = {}

    def row(server: str) -> int:
        return rows.setdefault(server, len(rows))

    marks: list[_Mark] = []
    for c in sorted(conns, key=lambda c: (c.server.port, c.server.ip_address.packed if c.server.ip else b"", c.start)):
        row(str(c.server))
    for c in conns:
        r = rows[str(c.server)]
        name = f" ({c.sni})" if c.sni else ""
        marks.append(_Mark(r, f"hs-{c.status}", c.start, c.end,
                           f"{_utc(c.start)} {c.id}{name}: {c.status}, {c.reason}"))
        for a in c.alerts:
            if a.fatal and not a.encrypted and a.code is not None:
                marks.append(_Mark(r, "alert", a.time, a.time,
                                   f"{_utc(a.time)} frame {a.frame}: {a.sender} sent fatal alert {alert_title(a.code)} ({c.id})"))
    if correlation is not None:
        for link in correlation.links:
            e = link.event
            is502 = e.kind == EventKind.CONNECT_FAILED_502
            level = (e.level or "").strip().upper()
            if not (is502 or e.kind.is_failure or level in ("WARNING", "ERROR", "CRITICAL")):
                continue
            if link.connection is not None:
                server = str(conns[link.connection].server)
            elif e.server_ip and e.server_port:
                server = f"[{e.server_ip}]:{e.server_port}" if ":" in e.server_ip else f"{e.server_ip}:{e.server_port}"
            else:
                server = "log (no server)"
            where = f"{e.source} line {e.line_no}"
            marks.append(_Mark(row(server), "http502" if is502 else "log", link.time, link.time,
                               f"{_utc(link.time)} {where}{' ' + level if level else ''}: {e.message}"))
    times = [t for m in marks for t in (m.t0, m.t1)]
    t0, t1 = (min(times), max(times)) if times else (0.0, 1.0)
    if t1 - t0 < 1e-3:
        t0, t1 = t0 - 0.5, t1 + 0.5
    pad = (t1 - t0) * 0.01
    t0, t1 = t0 - pad, t1 + pad
    span = SVG_WIDTH - SVG_LABEL - SVG_RIGHT

    def x(t: float) -> float:
        return SVG_LABEL + (t - t0) / (t1 - t0) * span

    merged: dict[tuple[int, str, int], list[Any]] = {}
    for m in marks:
        key = (m.row, m.kind, int(x(m.t0)))
        got = merged.get(key)
        if got is None:
            merged[key] = [m.t0, m.t1, 1, m.title]
        else:
            got[1] = max(got[1], m.t1)
            got[2] += 1
    drawn = []
    for (r, kind, _px), (a, b, n, title) in merged.items():
        y = SVG_TOP + r * SVG_ROW
        text = title if n == 1 else f"{n} marks here, the first: {title}"
        x0 = x(a)
        if kind.startswith("hs-"):
            # At least 4 units wide: a failed handshake lasts milliseconds, and must still show.
            drawn.append({"shape": "rect", "kind": kind, "x": round(x0, 1), "y": y + 10,
                          "w": round(max(x(b) - x0, 4.0), 1), "h": 10, "title": terminal(text)})
        else:
            # Alerts on the handshake's bar, log lines above it, 502s below: all three stay visible.
            dy = {"alert": 15, "log": 5, "http502": 25}[kind]
            drawn.append({"shape": kind, "kind": kind, "x": round(x0, 1), "y": y + dy, "title": terminal(text)})
    # Handshakes under the points, so the points stay visible and hoverable.
    drawn.sort(key=lambda d: (d["shape"] != "rect", d["y"], d["x"]))
    ticks = []
    n = 6
    for i in range(n + 1):
        t = t0 + (t1 - t0) * i / n
        ticks.append({"x": round(x(t), 1), "label": _clock(t, t1 - t0)})
    height = SVG_TOP + max(len(rows), 1) * SVG_ROW + 6
    return {
        "width": SVG_WIDTH, "height": height, "label_x": SVG_LABEL - 8, "left": SVG_LABEL,
        "right": SVG_WIDTH - SVG_RIGHT, "top": SVG_TOP,
        "rows": [{"label": terminal(s), "y": SVG_TOP + i * SVG_ROW, "mid": SVG_TOP + i * SVG_ROW + 19}
                 for s, i in rows.items()],
        "marks": drawn, "ticks": ticks,
        "start": iso(t0), "end": iso(t1), "date": datetime.fromtimestamp(t0, timezone.utc).strftime("%Y-%m-%d"),
    }


def _utc(t: float) -> str:
    return datetime.fromtimestamp(t, timezone.utc).strftime("%H:%M:%S.%f")


def _clock(t: float, span: float) -> str:
    s = datetime.fromtimestamp(t, timezone.utc).strftime("%H:%M:%S.%f")
    return s[:12] if span < 10 else (s[:8] if span < 3 * 86400 else datetime.fromtimestamp(t, timezone.utc).strftime("%m-%d %H:%M"))


# --------------------------------------------------------------------------------------------
# Certificates


def cert_anchor(sha256: str) -> str:
    """The id of a certificate's section (links from findings and table rows point here)."""
    return f"cert-{sha256[:16]}"


@lru_cache(maxsize=4096)
def _pem_data_url(der: bytes) -> str:
    body = base64.encodebytes(der).decode("ascii")
    pem = f"-----BEGIN CERTIFICATE-----\n{body}-----END CERTIFICATE-----\n"
    return "data:application/x-pem-file;base64," + base64.b64encode(pem.encode("ascii")).decode("ascii")


_FILE_UNSAFE = re.compile(r"[^A-Za-z0-9._-]+")


def _pem_name(info: CertInfo) -> str:
    stem = _FILE_UNSAFE.sub("_", info.short_name).strip("._")[:60] or "certificate"
    return f"{stem}_{info.sha256[:12]}.pem"


def _cert_view(info: CertInfo, seen: Mapping[str, Any] | None = None) -> dict[str, Any]:
    d = info.to_dict()
    return {
        "anchor": cert_anchor(info.sha256),
        "name": terminal(info.short_name),
        "subject": terminal(info.subject), "issuer": terminal(info.issuer),
        "serial": info.serial, "not_before": d["not_before"], "not_after": d["not_after"],
        "san": [terminal(s) for s in info.san], "key": terminal(info.key),
        "signature_algorithm": terminal(info.signature_algorithm),
        "self_signed": info.self_signed, "is_ca": info.is_ca, "sha256": info.sha256,
        "pem_url": _pem_data_url(info.der), "pem_name": _pem_name(info),
        "servers": sorted(seen["servers"]) if seen else [], "roles": sorted(seen["roles"]) if seen else [],
        "connections": seen["connections"] if seen else 0,
    }


# --------------------------------------------------------------------------------------------
# The page


def _verdict_sentence(conns: Sequence[TlsConnection], findings: Sequence[Finding]) -> str:
    n = len(conns)
    failed = sum(1 for c in conns if c.status == "failed")
    if not conns:
        return "No TLS connection was found in the capture."
    if not findings:
        return (f"All is well: none of the {n} TLS connection{'s' * (n != 1)} failed, and every server "
                "certificate chain that was visible verifies against the trust store.")
    parts = []
    for f in findings[:3]:
        name = f" ({f.server_name})" if f.server_name else ""
        why = f.verdict.message if f.verdict is not None and not f.verdict.ok else f.problem
        parts.append(f"{f.server}{name}: {why}")
    more = f"; and {len(findings) - 3} more" if len(findings) > 3 else ""
    return (f"{len(findings)} server{'s' * (len(findings) != 1)} fail{'s' * (len(findings) == 1)} TLS "
            f"({failed} of {n} connection{'s' * (n != 1)} failed) — " + "; ".join(parts) + more + ".")


def _finding_view(n: int, f: Finding) -> dict[str, Any]:
    evidence = []
    for e in f.evidence:
        cap = e.source == "capture"
        evidence.append({
            "time": readable(e.time), "capture": terminal(e.text) if cap else "",
            "log": "" if cap else terminal(e.text),
            "where": f"frame {e.frame}" if e.frame else (f"{terminal(e.source)} line {e.line}" if e.line else ""),
        })
    return {
        "n": n, "id": f"finding-{n}", "server": terminal(f.server),
        "name": terminal(f.server_name) if f.server_name else None,
        "failed": f.failed, "total": f.total_connections, "headline": terminal(f.headline),
        "problem": terminal(f.problem), "why": terminal(f.explanation),
        "expressway": terminal(f.verdict.expressway_message) if f.verdict is not None and not f.verdict.ok else None,
        "certificate": _cert_view(f.certificate) if f.certificate is not None else None,
        "chain": [{"anchor": cert_anchor(c.sha256), "name": terminal(c.short_name)} for c in f.chain],
        "evidence": evidence,
        "others": [terminal(c) for c in f.connections[1:]],
        "fixes": [terminal(x) for x in f.fixes],
    }


def build(conns: Sequence[TlsConnection], findings: Sequence[Finding], judge: Judge,
          correlation: Correlation | None, log_summary: ParseSummary | None, inputs: Sequence[InputFile],
          captures: Sequence[tuple[str, int, int]], notes: Sequence[str], version: str, engine: str,
          generated: datetime, title: str) -> dict[str, Any]:
    """The template's context: every string already passed through :func:`.safe.terminal`
    (autoescaping does the HTML part). ``captures``: (name, connections, ok) per capture read."""
    from ..certificates import truststore

    certs: dict[bytes, dict[str, Any]] = {}
    table = []
    verdict_records: dict[int, dict[str, Any] | None] = {}
    for c in conns:
        v = judge.verdict(c) if c.server_certs else None
        vr = verdict_records.get(id(v))
        if vr is None and v is not None:
            vr = verdict_records[id(v)] = verdict_record(v)
        rec = connection_record(c, vr, with_verify=True)
        cells = table_row(rec)
        good = rec["status"] == "ok" and (vr is None or vr["error"] == "OK")
        leaf = c.server_certs[0] if c.server_certs else None
        table.append({"cells": cells, "status": rec["status"], "bad": not good,
                      "cert": cert_anchor(rec["server_certs"][0]["sha256"]) if leaf else None, "id": c.id})
        for role, chain in (("server", c.server_certs), ("client", c.client_certs)):
            for der in chain:
                s = certs.setdefault(der, {"servers": set(), "roles": set(), "connections": 0})
                s["servers"].add(str(c.server))
                s["roles"].add(role)
                s["connections"] += 1
    cert_views = []
    for der, seen in certs.items():
        info = try_decode(der)
        if info is not None:
            cert_views.append(_cert_view(info, seen))
    # The trust store as it stood when the capture was taken (a capture is a record of the past).
    at = datetime.fromtimestamp(conns[0].start, timezone.utc) if conns else generated
    store = judge.trust
    trust_infos = [i for i in (try_decode(d) for d in store.certs) if i is not None]
    lint = truststore.lint(store, at)
    status_counts: dict[str, int] = {}
    for c in conns:
        status_counts[c.status] = status_counts.get(c.status, 0) + 1
    corr = None
    if correlation is not None:
        corr = {"offset": terminal(str(correlation.offset)), "linked": correlation.linked, "events": len(correlation.links),
                "per_source": [(terminal(k), terminal(str(v))) for k, v in sorted(correlation.offsets.items())]
                if len(correlation.offsets) > 1 else []}
    logs = None
    if log_summary is not None:
        logs = {"lines": log_summary.lines, "events": log_summary.events, "skipped": log_summary.skipped}
    return {
        "title": terminal(title),
        "verdict": terminal(_verdict_sentence(conns, findings)),
        "has_findings": bool(findings),
        "findings": [_finding_view(i, f) for i, f in enumerate(findings, 1)],
        "timeline": _timeline(conns, correlation),
        "headers": TABLE_HEADERS,
        "connections": table,
        "status_counts": sorted(status_counts.items()),
        "certificates": cert_views,
        "trust": {
            "source": terminal(store.source), "at": at.strftime("%Y-%m-%dT%H:%M:%SZ"),
            "certs": [{"subject": terminal(i.subject), "self_signed": i.self_signed, "issuer": terminal(i.issuer),
                       "not_after": i.to_dict()["not_after"], "key": terminal(i.key), "sha256": i.sha256}
                      for i in trust_infos],
            "skipped": [terminal(s) for s in store.skipped],
            "lint": [{"severity": f.severity, "kind": f.kind, "message": terminal(f.message)} for f in lint],
            "collapsed": len(trust_infos) > 25,
        },
        "captures": [(terminal(p), n, ok) for p, n, ok in captures],
        "correlation": corr,
        "logs": logs,
        "notes": [terminal(x) for x in notes],
        "inputs": [{"role": i.role, "path": terminal(i.path), "size": i.size, "sha256": i.sha256} for i in inputs],
        "version": version,
        "engine": engine,
        "generated": generated.astimezone(timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ"),
    }


@lru_cache(maxsize=1)
def _environment() -> Any:
    import jinja2

    # Autoescaping on for everything this environment renders, whatever the template's name.
    env = jinja2.Environment(loader=jinja2.PackageLoader("pcaptls.report", "templates"), autoescape=True,
                             undefined=jinja2.StrictUndefined, trim_blocks=True, lstrip_blocks=True)
    return env


@lru_cache(maxsize=1)
def _assets() -> tuple[str, str, str]:
    """The page's stylesheet and script (package data) and the CSP that allows exactly them."""
    from importlib.resources import files

    base = files("pcaptls.report") / "templates"
    css = (base / "report.css").read_text(encoding="utf-8")
    js = (base / "report.js").read_text(encoding="utf-8")

    def h(text: str) -> str:
        return "'sha256-" + base64.b64encode(hashlib.sha256(text.encode("utf-8")).digest()).decode("ascii") + "'"

    csp = (f"default-src 'none'; script-src {h(js)}; style-src {h(css)}; img-src data:; "
           "base-uri 'none'; form-action 'none'")
    return css, js, csp


def render(context: Mapping[str, Any]) -> str:
    """The page for a :func:`build` context."""
    css, js, csp = _assets()
    return str(_environment().get_template(TEMPLATE).render(**context, css=css, js=js, csp=csp))
