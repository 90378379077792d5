"""Findings: one per failing server and port, with the certificate, the verdict, the evidence
from capture and logs side by side in time, and the fix in Expressway terms (DOMAIN.md).

A server:port is failing when a handshake to it failed in the capture, its chain does not verify
against the trust store, or a log failure record was linked to it. Connections that presented
different chains (RSA on 8443, ECDSA on 6972, or a server that changed its certificate) are
judged separately, so a finding names the certificate that actually failed.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Mapping, Sequence

from ..certificates.openssl.advice import explain, fix
from ..certificates.openssl.vocabulary import Verdict
from ..certificates.verdicts import Judge
from ..certificates.x509 import CertInfo, try_decode
from ..logs.events import EventKind, LogEvent
from ..times import iso
from ..tls.constants import alert_title
from ..tls.model import TlsConnection
from .link import Correlation

SHORT_TERM = ("short-term only: `xConfiguration EdgeConfigServer VerifyOriginServer: Off` on Expressway-C "
              "restores the pre-X14.2 behaviour (no verification) until the certificates are fixed")
RSA_PREFIX = ("or make Expressway-C prefer RSA: prefix its cipher string with `ECDHE-RSA-AES256-GCM-SHA384:` "
              "(Maintenance > Security > Ciphers / `xConfiguration Ciphers`)")


@dataclass(frozen=True, slots=True)
class Evidence:
    time: float  # on the capture's clock
    source: str  # "capture" or the log file's name
    text: str
    frame: int | None = None
    line: int | None = None


@dataclass(frozen=True, slots=True)
class Finding:
    server: str  # "ip:port" as inspect prints it
    server_name: str | None  # the SNI, or the name the log used
    problem: str  # one line
    explanation: str
    certificate: CertInfo | None  # the leaf the server presented on the failing connections
    chain: tuple[CertInfo, ...]
    verdict: Verdict | None
    connections: tuple[str, ...]  # failing connection ids
    total_connections: int  # all connections to this server:port
    evidence: tuple[Evidence, ...]
    fixes: tuple[str, ...]

    def to_dict(self) -> dict[str, Any]:
        return {
            "server": self.server,
            "server_name": self.server_name,
            "problem": self.problem,
            "explanation": self.explanation,
            "certificate": self.certificate.to_dict() if self.certificate else None,
            "chain_sha256": [c.sha256 for c in self.chain],
            "verify": None if self.verdict is None else {
                **self.verdict.to_dict(), "expressway_message": self.verdict.expressway_message},
            "connections": list(self.connections),
            "failed_connections": len(self.connections),
            "total_connections": self.total_connections,
            "evidence": [{"time": iso(e.time), "source": e.source, "text": e.text, "frame": e.frame, "line": e.line}
                         for e in self.evidence],
            "fixes": list(self.fixes),
        }


def _fixes(v: Verdict | None, leaf: CertInfo | None, conn: TlsConnection | None, log_events: Sequence[LogEvent]) -> list[str]:
    out: list[str] = []
    if v is not None and not v.ok:
        base = fix(v)
        if base:
            if leaf is not None and v.error == "DEPTH_ZERO_SELF_SIGNED_CERT":
                base = (f"upload the self-signed certificate {leaf.short_name} (SHA-256 {leaf.sha256[:16]}…, "
                        f"`pcaptls certs CAPTURE --export DIR` writes it) to Expressway-C's trust store on every "
                        f"cluster node (Maintenance > Security > Trusted CA certificate), or have it CA-signed")
            out.append(base)
        if leaf is not None and leaf.key_type == "EC" and v.error in ("DEPTH_ZERO_SELF_SIGNED_CERT", "SELF_SIGNED_CERT_IN_CHAIN",
                                                                     "UNABLE_TO_GET_ISSUER_CERT_LOCALLY"):
            out.append("the server presents an ECDSA certificate (X14.2+ prefers ECDSA, so CUCM sends its "
                       "tomcat-ECDSA/CallManager-ECDSA certificate): CA-sign the ECDSA certificates, " + RSA_PREFIX)
        out.append(SHORT_TERM)
        return out
    alerts = {e.alert for e in log_events if e.kind == EventKind.ALERT_RECEIVED and e.alert}
    server_alert = conn.fatal_alert if conn is not None and conn.fatal_alert and conn.fatal_alert.sender == "server" else None
    if alerts or server_alert is not None:
        what = ", ".join(sorted(alerts)) or (server_alert.description if server_alert else "")
        out.append(f"the server rejected Expressway-C ({what}): if it asked for a client certificate, upload the CA "
                   "that signed Expressway-C's certificate to the server's trust store (CUCM tomcat-trust / "
                   "callmanager-trust), and check protocol versions and ciphers on both sides")
        return out
    log_codes = {e.error_code for e in log_events if e.error_code}
    for code in sorted(log_codes):
        f = fix(Verdict(code, None, code, code, None))
        if f:
            out.append(f + " (from the log: the certificate itself is not visible in the capture)")
    if log_codes:
        out.append(SHORT_TERM)
    return out


def _evidence(conns: Sequence[tuple[int, TlsConnection]], links: Sequence[Any]) -> list[Evidence]:
    ev: list[Evidence] = []
    for _, c in conns:
        ev.append(Evidence(c.start, "capture", f"{c.id}: connection opened", c.first_frame))
        cert = next((e for e in c.handshake if e.type == 11 and e.sender == "server"), None)
        if cert is not None:
            ev.append(Evidence(cert.time, "capture", f"{c.id}: server sent Certificate ({len(c.server_certs)} certificate{'s' if len(c.server_certs) != 1 else ''})", cert.frame))
        if c.certificate_request:
            cr = next((e for e in c.handshake if e.type == 13), None)
            if cr is not None:
                ev.append(Evidence(cr.time, "capture", f"{c.id}: server sent CertificateRequest", cr.frame))
        for a in c.alerts:
            if a.encrypted:
                continue
            ev.append(Evidence(a.time, "capture", f"{c.id}: {a.sender} sent Alert (Level: {'Fatal' if a.level == 2 else 'Warning'}, "
                                                   f"Description: {alert_title(a.code) if a.code is not None else '?'})", a.frame))
        if c.closed_by:
            ev.append(Evidence(c.close_time if c.close_time is not None else c.end, "capture",
                               f"{c.id}: {c.closed_by} closed ({c.close_kind})", c.close_frame))
    for link in links:
        e = link.event
        if e.kind in (EventKind.REQUEST, EventKind.RESPONSE, EventKind.OTHER, EventKind.EVENT) and not e.kind.is_failure:
            if e.kind != EventKind.RESPONSE or "502" not in e.message:
                continue
        ev.append(Evidence(link.time, e.source, e.message, line=e.line_no))
    ev.sort(key=lambda x: (x.time, x.source != "capture"))
    return ev


def find(conns: Sequence[TlsConnection], judge: Judge, correlation: Correlation | None = None,
         max_evidence: int = 12) -> list[Finding]:
    """The findings for a capture (and its correlated logs), most failing connections first."""
    groups: dict[tuple[str, tuple[bytes, ...]], list[int]] = {}
    for i, c in enumerate(conns):
        groups.setdefault((str(c.server), c.server_certs), []).append(i)
    by_server_total: dict[str, int] = {}
    for c in conns:
        by_server_total[str(c.server)] = by_server_total.get(str(c.server), 0) + 1
    by_conn: Mapping[int, tuple[Any, ...]] = correlation.by_connection if correlation else {}
    findings: list[Finding] = []
    for (server, chain), idx in groups.items():
        members = [(i, conns[i]) for i in idx]
        verdicts = {i: judge.verdict(c) for i, c in members}
        links = [ln for i, _ in members for ln in by_conn.get(i, ())]
        log_failures = [ln.event for ln in links if ln.event.kind.is_failure]
        failing = [(i, c) for i, c in members
                   if c.status == "failed" or ((v := verdicts[i]) is not None and not v.ok)
                   or any(ln.event.kind.is_failure for ln in by_conn.get(i, ()))]
        if not failing:
            continue
        first_i, first = failing[0]
        v = verdicts[first_i]
        infos = tuple(x for x in (try_decode(d) for d in chain) if x is not None)
        leaf = infos[0] if infos else None
        name = first.sni or next((e.server_name for e in log_failures if e.server_name), None)
        if v is not None and not v.ok:
            at = infos[v.depth] if v.depth is not None and v.depth < len(infos) else None
            problem = f"{v.error} at depth {v.depth}: {v.message}" + (f" ({v.expressway_message!r} in Expressway's log)" if v.expressway_message != v.message else "")
            explanation = explain(v, at.short_name if at else None)
            if v.error == "IP_ADDRESS_MISMATCH" and not first.sni:
                explanation += (" (the client sent no SNI: it connected by IP address, as Expressway-C does when CUCM's "
                                "System > Server entry is an IP address, so the address is the name checked)")
        elif first.fatal_alert is not None:
            a = first.fatal_alert
            problem = f"{a.sender} sent fatal alert {a.description}"
            explanation = first.reason
            if v is not None and v.ok:
                explanation += "; the server chain verifies against the trust store given"
        else:
            problem = first.reason
            explanation = first.reason
        if log_failures and (v is None or v.ok):
            e = log_failures[0]
            problem += f"; log: {e.message}"
        findings.append(Finding(
            server=server,
            server_name=name,
            problem=problem,
            explanation=explanation,
            certificate=leaf,
            chain=infos,
            verdict=v,
            connections=tuple(c.id for _, c in failing),
            total_connections=by_server_total[server],
            # The story of the first failing connection in full; the others are listed by id.
            evidence=tuple(_evidence(failing[:1], by_conn.get(first_i, ()))[:max_evidence]),
            fixes=tuple(_fixes(v, leaf, first, log_failures)),
        ))
    findings.sort(key=lambda f: (-len(f.connections), f.server))
    return findings
