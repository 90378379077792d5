"""Findings: one per failing server and port, with the certificate, the verdict, the evidence
from capture and logs side by side in time, and the fix in Expressway terms (DOMAIN.md).

A server:port gets a finding when a handshake to it failed (in the capture, or by a log failure
record linked to it), or when its chain does not verify against the trust store in use. These are
different facts and are worded differently (:attr:`Finding.kind`): ``handshake_failed`` says what
the capture and log show; ``not_verified`` says only that handshakes completed with a chain that
would not verify against the trust store pcaptls was given (or the public bundle, when none was:
the peer that completed them trusted it, so it says nothing of Expressway-C's store). When the
trust store is the public bundle, the cause of a failed handshake comes from the log (the
peer's own words) or the alert, never from the public bundle's verdict. Connections that presented
different chains (RSA on 8443, ECDSA on 6972, or a server that changed its certificate) are judged
separately, so a finding names the certificate that actually failed.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Mapping, Sequence

from ..certificates.openssl.advice import explain, fix
from ..certificates.openssl.vocabulary import Verdict, make_verdict
from ..certificates.truststore import default_source
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


HANDSHAKE_FAILED = "handshake_failed"  # the capture or the log shows the handshake failing
NOT_VERIFIED = "not_verified"  # handshakes completed; the chain does not verify against the store in use


@dataclass(frozen=True, slots=True)
class Finding:
    server: str  # "ip:port" as inspect prints it
    server_name: str | None  # the SNI, or the name the log used
    problem: str  # one line
    explanation: str
    certificate: CertInfo | None  # the leaf the server presented on the failing connections
    chain: tuple[CertInfo, ...]
    verdict: Verdict | None
    connections: tuple[str, ...]  # ids of the connections this finding is about
    total_connections: int  # all connections to this server:port
    evidence: tuple[Evidence, ...]
    fixes: tuple[str, ...]
    kind: str = HANDSHAKE_FAILED  # or NOT_VERIFIED
    failed: int = 0  # of ``connections``, how many handshakes failed (the rest completed)
    trust_store: str = ""  # the store chains were judged against, as it describes itself
    default_store: bool = False  # that store is the public bundle (no --trust-store given)

    @property
    def headline(self) -> str:
        """What happened to this server's connections, in words that claim no more than that."""
        n, total = len(self.connections), self.total_connections
        if self.kind == NOT_VERIFIED:
            against = "the public CA bundle (no --trust-store given)" if self.default_store else "the trust store given"
            return (f"{n} of {total} handshake{'s' if total != 1 else ''} completed, but the chain would not verify "
                    f"against {against}")
        text = f"{self.failed} of {total} handshake{'s' if total != 1 else ''} failed"
        if n > self.failed:
            text += f" ({n - self.failed} more completed with a chain that would not verify)"
        return text

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
            "kind": self.kind,
            "headline": self.headline,
            "trust_store": self.trust_store,
            "connections": list(self.connections),
            "failed_connections": self.failed,
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


# What a fatal alert from Expressway-C (the client) says about the server's chain, and what to do,
# when the chain itself is not visible (TLS 1.3 without keys) or the log does not say more.
_CLIENT_ALERT: dict[str, tuple[str, str]] = {
    "unknown_ca": ("the client did not trust the server's certificate chain: the CA that issued it (or the "
                   "self-signed certificate itself) is not in the client's trust store",
                   "upload the server's issuing CA chain (or its self-signed certificate) to Expressway-C's trust "
                   "store on every cluster node (Maintenance > Security > Trusted CA certificate)"),
    "bad_certificate": ("the client rejected the server's certificate: most often its name (the FQDN or IP "
                        "address the client connected to is not in the SAN)",
                        "put the name or IP address in use into the certificate's SAN, or change CUCM's System > "
                        "Server entry to a name the certificate holds"),
    "certificate_expired": ("the client found the server's certificate (or a CA in its chain) expired",
                            "renew the certificate on the server (or the expired CA, and re-upload it)"),
    "unsupported_certificate": ("the client cannot use the server's certificate type (key or signature "
                                "algorithm)", "reissue the certificate with a key type both sides support"),
    "decrypt_error": ("the client could not verify the server's signature (CertificateVerify or key exchange)",
                      "check the server's certificate and private key belong together"),
}
_TLS13_HIDDEN = ("the certificate is encrypted in TLS 1.3: give pcaptls the session keys (--keylog, "
                 "SSLKEYLOGFILE) to see it and OpenSSL's verdict, or fetch it with "
                 "`openssl s_client -connect {server} -showcerts`")


def _alert_words(c: TlsConnection) -> tuple[str, list[str]] | None:
    """Why and what to do, from a fatal alert the client sent (``None`` if it sent none we know)."""
    a = c.fatal_alert
    if a is None or a.sender != "client" or a.description not in _CLIENT_ALERT:
        return None
    why, what = _CLIENT_ALERT[a.description]
    fixes = [what]
    if not c.server_certs:
        fixes.insert(0, _TLS13_HIDDEN.format(server=c.server))
    return f"the client ended the handshake with fatal alert {a.description}: {why}", fixes


def _log_verdict(log_failures: Sequence[LogEvent], name: str | None) -> Verdict | None:
    """The verdict the peer itself logged (Expressway's X509 error), if a linked record names one."""
    e = next((e for e in log_failures if e.error_code), None)
    return None if e is None or e.error_code is None else make_verdict(e.error_code, e.depth, name)


def find(conns: Sequence[TlsConnection], judge: Judge, correlation: Correlation | None = None,
         max_evidence: int = 12) -> list[Finding]:
    """The findings for a capture (and its correlated logs): handshakes that failed first, most
    connections first; then chains that would not verify against the trust store in use."""
    default = judge.trust.source == default_source()
    groups: dict[tuple[str, tuple[bytes, ...]], list[int]] = {}
    by_server_total: dict[str, int] = {}
    for i, c in enumerate(conns):
        server = str(c.server)  # once: a retry storm has 100,000 connections
        groups.setdefault((server, c.server_certs), []).append(i)
        by_server_total[server] = by_server_total.get(server, 0) + 1
    by_conn: Mapping[int, tuple[Any, ...]] = correlation.by_connection if correlation else {}
    findings: list[Finding] = []
    for (server, chain), idx in groups.items():
        members = [(i, conns[i]) for i in idx]
        verdicts = {i: judge.verdict(c) for i, c in members}
        failed_hs = [(i, c) for i, c in members
                     if c.status == "failed" or any(ln.event.kind.is_failure for ln in by_conn.get(i, ()))]
        failed_ids = {i for i, _c in failed_hs}  # a set: a retry storm puts 100,000 connections in one group
        unverified = [(i, c) for i, c in members if i not in failed_ids
                      and (v := verdicts[i]) is not None and not v.ok]
        if not failed_hs and not unverified:
            continue
        kind = HANDSHAKE_FAILED if failed_hs else NOT_VERIFIED
        about = failed_hs + unverified
        first_i, first = about[0]
        v = verdicts[first_i]
        links = by_conn.get(first_i, ())
        log_failures = [ln.event for i, _ in failed_hs for ln in by_conn.get(i, ()) if ln.event.kind.is_failure]
        infos = tuple(x for x in (try_decode(d) for d in chain) if x is not None)
        leaf = infos[0] if infos else None
        name = first.sni or next((e.server_name for e in log_failures if e.server_name), None)
        store_words = "the public CA bundle" if default else "the trust store given"
        logged = _log_verdict(log_failures, name or str(first.server.ip)) if kind == HANDSHAKE_FAILED else None
        # The public bundle is not the peer's trust store: on a failed handshake its verdict is not
        # the cause; the peer's own log line or alert is.
        if kind == HANDSHAKE_FAILED and default and logged is not None:
            v = logged
        alert_words = _alert_words(first) if kind == HANDSHAKE_FAILED else None
        # On a failed handshake judged only against the public bundle, that bundle's verdict is no cause.
        public_only = kind == HANDSHAKE_FAILED and default and v is not None and v is not logged
        fixes = _fixes(None if public_only else v, leaf, first, log_failures)
        if v is not None and not v.ok and not public_only:
            at = infos[v.depth] if v.depth is not None and v.depth < len(infos) else None
            depth = f" at depth {v.depth}" if v.depth is not None else ""
            if v is logged:
                problem = f"{v.error}{depth}: {v.message}, as Expressway-C's log reports it"
            else:
                problem = f"{v.error}{depth}: {v.message}" + (f" ({v.expressway_message!r} in Expressway's log)" if v.expressway_message != v.message else "")
            explanation = explain(v, at.short_name if at else None)
            if v.error == "IP_ADDRESS_MISMATCH" and not first.sni:
                explanation += (" (the client sent no SNI: it connected by IP address, as Expressway-C does when CUCM's "
                                "System > Server entry is an IP address, so the address is the name checked)")
            if kind == NOT_VERIFIED:
                problem = f"the chain would not verify against {store_words}: {problem}"
                if default:
                    explanation += (". The handshakes completed: the client trusted this chain; the public CA bundle "
                                    "is not Expressway-C's trust store, so this says nothing of it. Run again with "
                                    "--trust-store (Expressway-C's ca.pem, or its diagnostic bundle) for its verdict")
                    fixes = [("check this chain against Expressway-C's own trust store: pcaptls diagnose CAPTURE "
                              "--trust-store ca.pem"), f"if it fails there too: {fix(v) or v.message}"]
                else:
                    explanation += "; the handshakes completed all the same (the client did not check, or trusts more)"
        elif first.fatal_alert is not None:
            a = first.fatal_alert
            problem = f"{a.sender} sent fatal alert {a.description}"
            explanation = alert_words[0] if alert_words else first.reason
            if v is not None and not v.ok:
                explanation += (f"; against {store_words} the chain would not verify either ({v.error} at depth "
                                f"{v.depth}), but that is not the client's trust store: --trust-store gives its verdict")
            elif v is not None and v.ok:
                explanation += f"; the server chain verifies against {store_words}"
            if alert_words and not fixes:
                fixes = [*alert_words[1], SHORT_TERM]
        else:
            problem = first.reason
            explanation = first.reason
            if not first.server_certs and first.is_tls13 and not first.handshake_decrypted:
                explanation += "; " + _TLS13_HIDDEN.format(server=first.server)
        if log_failures and (v is None or v.ok):
            problem += f"; log: {log_failures[0].message}"
        findings.append(Finding(
            server=server,
            server_name=name,
            problem=problem,
            explanation=explanation,
            certificate=leaf,
            chain=infos,
            verdict=v,
            connections=tuple(c.id for _, c in about),
            total_connections=by_server_total[server],
            # The story of the first connection in full; the others are listed by id.
            evidence=tuple(_evidence(about[:1], links)[:max_evidence]),
            fixes=tuple(fixes),
            kind=kind,
            failed=len(failed_hs),
            trust_store=judge.trust.source,
            default_store=default,
        ))
    findings.sort(key=lambda f: (f.kind != HANDSHAKE_FAILED, -len(f.connections), f.server))
    return findings
