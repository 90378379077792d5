"""The `inspect` report: one row per TLS connection, details for the failed ones, a summary."""

from __future__ import annotations

from typing import Any, Sequence

from ..pipeline.analysis import Analysis
from ..times import readable
from .records import flatten
from .safe import terminal
from .table import column_widths, render_lines
from .writers import to_csv


def _cert_cell(rec: dict[str, Any]) -> str:
    certs = rec["server_certs"]
    if not certs and rec.get("resumed"):
        return f"- (resumed: {rec['resumed']})"  # no Certificate in a resumed handshake: nothing to judge
    if not certs:
        return "(encrypted, TLS 1.3)" if not rec["certificates_visible"] and rec["version"] else "-"
    leaf = certs[0]
    cn = leaf.get("common_name") or leaf.get("subject") or leaf["sha256"][:16]
    flag = " self-signed" if leaf.get("self_signed") else ""
    return f"{cn} [{leaf.get('key')}{flag}] +{len(certs) - 1}" if len(certs) > 1 else f"{cn} [{leaf.get('key')}{flag}]"


def _client_cert_cell(rec: dict[str, Any]) -> str:
    certs = rec["client_certs"]
    sent = (certs[0].get("common_name") or certs[0].get("subject") or certs[0]["sha256"][:16]) if certs else None
    if rec["certificate_request"]:
        return f"requested, sent {sent}" if sent else "requested"
    return f"sent {sent}" if sent else "-"


def _alerts_cell(rec: dict[str, Any]) -> str:
    parts = []
    done = rec["status"] == "ok"
    for a in rec["alerts"]:
        if a.get("encrypted") and done:
            continue  # after a finished handshake: almost always close_notify; kept in JSON
        if a.get("encrypted"):
            parts.append(f"{a['sender']}: encrypted")
        else:
            parts.append(f"{a['sender']}: {'fatal' if a['level'] == 2 else 'warn'} {a['description']}")
    return ", ".join(parts) or "-"


def _result_cell(rec: dict[str, Any]) -> str:
    v = rec.get("verify")
    status = rec["status"].upper()
    if v and v.get("error") not in (None, "OK"):
        return f"{status}; {v['error']} (depth {v['depth']})"
    if v and v.get("error") == "OK":
        return f"{status}; chain OK"
    return status


TABLE_HEADERS = ["START (UTC)", "CLIENT -> SERVER", "SNI", "VERSION", "CIPHER", "SERVER CERTIFICATE", "CLIENT CERT", "ALERTS", "RESULT"]
TABLE_CAPS = {2: 40, 4: 40, 5: 48, 6: 30, 7: 40}
# Fitted to a narrow terminal (report.table.fit): how narrow each column may get (time and
# endpoints never: a cut address misleads; they wrap, the endpoints at "->"), and which columns go first when even that is too wide.
TABLE_MINS = {0: 24, 1: 21, 2: 12, 3: 7, 4: 14, 5: 20, 6: 11, 7: 16, 8: 37}
TABLE_DROP = (4, 6, 3, 2, 7, 5)  # CIPHER, CLIENT CERT, VERSION, SNI, ALERTS, SERVER CERTIFICATE
TABLE_NARROW = (1, 5, 7, 4, 6, 2)  # endpoints first: they wrap at "->" without loss


def table_row(r: dict[str, Any]) -> list[str]:
    """One connection's table cells, passed through :func:`safe.terminal`."""
    return [terminal(c) for c in (
        readable(r["start_utc"]),
        f"{r['client_ip']}:{r['client_port']} -> {r['server_ip']}:{r['server_port']}",
        r["sni"] or "-",
        r["version"] or "-",
        (r["cipher"] or "-").removeprefix("TLS_"),
        _cert_cell(r),
        _client_cert_cell(r),
        _alerts_cell(r),
        _result_cell(r),
    )]


def table(records: Sequence[dict[str, Any]]) -> str:
    rows = [table_row(r) for r in records]  # escaped already: not through render() a second time
    return "\n".join(render_lines(TABLE_HEADERS, rows, column_widths(TABLE_HEADERS, rows, TABLE_CAPS)))


def details(r: dict[str, Any]) -> str:
    """The paragraph :func:`failure_details` writes for one connection ("" when it succeeded)."""
    v = r.get("verify")
    bad_verify = v is not None and v.get("error") not in (None, "OK")
    if r["status"] == "ok" and not bad_verify:
        return ""
    out = [f"{r['connection']}  {readable(r['start_utc'])}  sni={r['sni'] or '-'}", f"  result: {r['status']}: {r['reason']}"]
    if v:
        out.append(f"  verify: {v['error']} at depth {v['depth']}: {v['message']} (name checked: {v['name']})")
        if v.get("explanation") and v["error"] != "OK":
            out.append(f"  meaning: {v['explanation']}")
    for i, c in enumerate(r["server_certs"]):
        out.append(f"  server cert {i}: {c.get('subject')}")
        out.append(f"    issuer {c.get('issuer')}; key {c.get('key')}; self-signed {c.get('self_signed')}")
        out.append(f"    valid {readable(c.get('not_before'))} .. {readable(c.get('not_after'))}; SAN {', '.join(c.get('san') or []) or '-'}")
        out.append(f"    sha256 {c['sha256']}")
        for quirk in c.get("anomalies") or ():  # read leniently, as OpenSSL reads it
            out.append(f"    non-conforming: {quirk}")
    if r.get("resumed"):
        out.append(f"  resumed ({r['resumed']}): no certificate in this handshake, the chain was judged when the session began")
    elif not r["server_certs"] and not r["certificates_visible"]:
        out.append("  server certificate: encrypted (TLS 1.3), not visible in the capture")
    if r.get("ja3_hash") or r.get("ja4"):
        out.append(f"  fingerprints: ja3 {r.get('ja3_hash') or '-'}; ja3s {r.get('ja3s_hash') or '-'}; ja4 {r.get('ja4') or '-'}")
    if r["certificate_request"]:
        out.append("  server requested a client certificate (CertificateRequest)")
    for a in r["anomalies"]:
        out.append(f"  note: {a['kind']}: {a['detail']}")
    out.append("")
    return "\n".join(terminal(line) for line in out)


def failure_details(records: Sequence[dict[str, Any]]) -> str:
    """A paragraph per connection that did not succeed: what happened and what was presented."""
    return "\n".join(d for d in map(details, records) if d)


def summary(a: Analysis, records: Sequence[dict[str, Any]]) -> str:
    by_status: dict[str, int] = {}
    for r in records:
        by_status[r["status"]] = by_status.get(r["status"], 0) + 1
    return summary_of(a, by_status)


def summary_of(a: Analysis, by_status: dict[str, int]) -> str:
    """The summary lines of one capture, given its TLS connections counted by status."""
    st = a.stats
    parts = ", ".join(f"{n} {k}" for k, n in sorted(by_status.items()))
    lines = [
        f"{a.path}: {st.format}, {st.frames} frames, {a.tcp_segments} TCP segments, {a.tcp_connections} TCP connections, "
        f"{sum(by_status.values())} TLS connections ({parts or 'none'})",
    ]
    skipped = {k: v for k, v in a.counts.items() if v}
    if skipped:
        lines.append("  frames without TCP: " + ", ".join(f"{k} {v}" for k, v in sorted(skipped.items())))
    if st.snapped:
        lines.append(f"  {st.snapped} frames cut by the capture's snaplen")
    if a.anomalies:
        lines.append("  anomalies: " + ", ".join(f"{k} {v}" for k, v in sorted(a.anomalies.items())))
    if a.evicted:
        lines.append(f"  {a.evicted} idle connections retired early to bound memory")
    if st.truncated:
        lines.append(f"  file ends early: {st.truncated}; everything before the cut is reported")
    return "\n".join(terminal(line) for line in lines)


def csv_text(records: Sequence[dict[str, Any]]) -> str:
    return to_csv([flatten(r) for r in records])
