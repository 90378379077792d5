"""The chain algorithm of ``X509_verify_cert`` (see the package docstring for its order of
checks): :func:`verify_chain` for DER certificates, :func:`verify_connection` for a connection."""

from __future__ import annotations

import dataclasses
import math
from collections.abc import Sequence
from datetime import datetime, timezone
from typing import TYPE_CHECKING

from ...errors import MalformedError
from ..truststore import TrustStore
from ..x509 import sha256_hex
from .constraints import name_constraints_violation
from .facts import (
    PURPOSES,
    Facts,
    check_ca,
    facts_of,
    ku_rejects_certsign,
    likely_issued,
    purpose_sslserver,
    time_ok,
)
from .hostnames import host_matches, ip_matches, is_ip, traffic_server_name_matches
from .signatures import signature_ok
from .vocabulary import Verdict, make_verdict

if TYPE_CHECKING:
    from ...tls.model import TlsConnection

_MAX_DEPTH = 100  # X509_VERIFY_PARAM default depth, as in TLS and `openssl verify`


def _best_issuer(candidates: Sequence[bytes], child: Facts, t: int, exclude: Sequence[bytes] = ()) -> bytes | None:
    """First candidate that likely issued ``child`` and is valid at ``t``; else the one that
    expires last (X509_STORE_CTX_get1_issuer / find_issuer)."""
    best: Facts | None = None
    for der in candidates:
        if der in exclude:
            continue
        f = facts_of(der)
        if not likely_issued(f, child):
            continue
        if time_ok(f, t):
            return der
        if best is None or f.not_after > best.not_after:
            best = f
    return best.der if best else None


NAME_CHECKS = ("openssl", "traffic_server")


def verify_chain(
    chain: Sequence[bytes],
    trust: TrustStore,
    at: datetime,
    name: str | None,
    purpose: str | None = None,
    names: str = "openssl",
) -> Verdict:
    """OpenSSL's verdict on ``chain`` (DER, wire order, leaf first) at time ``at``.

    ``name`` is the host name or IP address the client wanted (the SNI, or without SNI the
    server's IP address); ``None`` skips the name check. ``at`` must be timezone-aware.
    ``purpose`` is ``None`` (``openssl verify``'s default: no purpose check) or "sslserver"
    (what a TLS client such as Expressway's traffic server checks: serverAuth in the leaf's
    extendedKeyUsage where present, a key usage fit for TLS, no CA restricted to other uses).
    ``names`` chooses the name check: "openssl" (X509_check_host / X509_check_ip between the
    extension checks and the signatures, as ``openssl verify -verify_hostname/-verify_ip``) or
    "traffic_server" (Apache Traffic Server's own check, which Expressway's traffic server runs
    after OpenSSL found the chain good: see :func:`traffic_server_name_matches`; so an expired
    certificate with a wrong name is reported as expired).
    Raises :class:`MalformedError` when a certificate does not decode (OpenSSL would abort the
    handshake with decode_error before any verification) and ``ValueError`` for an empty chain
    or a naive time.
    """
    if not chain:
        raise ValueError("verify_chain() needs at least the server's certificate")
    if at.tzinfo is None:
        raise ValueError("verify_chain() needs an aware datetime")
    if purpose is not None and purpose not in PURPOSES:
        raise ValueError(f"unknown purpose {purpose!r}")
    if names not in NAME_CHECKS:
        raise ValueError(f"unknown name check {names!r}")
    t = math.floor(at.timestamp())  # OpenSSL compares whole seconds
    facts = [facts_of(d) for d in chain]
    leaf = facts[0]
    untrusted = [f.der for f in facts[1:]]

    # ---- build_chain (trusted first, no alternate chains, no partial chains)
    path: list[Facts] = [leaf]
    num_untrusted = 1
    trusted = False
    search_trusted = True
    search_untrusted = bool(untrusted)
    max_depth = _MAX_DEPTH + 1
    while search_trusted or search_untrusted:
        num = len(path)
        if search_trusted:
            curr = path[-1]
            issuer_der = None
            if num <= max_depth and curr.issuer is not None:
                issuer_der = _best_issuer(trust.by_subject(curr.issuer), curr, t)
            matched = False
            if issuer_der is not None:
                ss = curr.self_signed
                matched = True
                if not ss:
                    path.append(facts_of(issuer_der))
                    ss = path[-1].self_signed
                elif issuer_der != curr.der:
                    matched = False  # a self-signed look-alike of a trusted certificate
                else:
                    num_untrusted = num - 1
                    path[-1] = facts_of(issuer_der)
                    num = num - 1
                if matched:
                    search_untrusted = False
                    if any(f.self_signed and f.ext_ok for f in path[num:]):
                        trusted = True
                        break
                    if not ss:
                        continue
            if not search_untrusted:
                break
        if search_untrusted:
            curr = path[-1]
            issuer_der = None
            if not curr.self_signed and num <= max_depth:
                in_path = [f.der for f in path]
                allow_dup = curr.self_issued and len(path) == 1
                issuer_der = _best_issuer(untrusted, curr, t, () if allow_dup else in_path)
            if issuer_der is None:
                search_untrusted = False
                search_trusted = True
                continue
            untrusted.remove(issuer_der)
            path.append(facts_of(issuer_der))
            num_untrusted += 1

    ders = tuple(x509_sha256(f.der) for f in path)
    anchor = ders[-1] if trusted else None
    num = len(path)
    if not trusted:
        if num > max_depth:
            return make_verdict("CERT_CHAIN_TOO_LONG", num - 1, name, ders)
        if path[-1].self_signed:
            err = "DEPTH_ZERO_SELF_SIGNED_CERT" if num == 1 else "SELF_SIGNED_CERT_IN_CHAIN"
            return make_verdict(err, num - 1, name, ders)
        err = "UNABLE_TO_GET_ISSUER_CERT" if num_untrusted < num else "UNABLE_TO_GET_ISSUER_CERT_LOCALLY"
        return make_verdict(err, num - 1, name, ders)

    # ---- check_extensions (bottom up)
    must_be_ca = -1
    plen = 0
    for i, f in enumerate(path):
        if f.unhandled_critical:
            return make_verdict("UNHANDLED_CRITICAL_EXTENSION", i, name, ders, anchor)
        if f.proxy:
            return make_verdict("PROXY_CERTIFICATES_NOT_ALLOWED", i, name, ders, anchor)
        ret = check_ca(f)
        if must_be_ca == 1 and (ret == 0 or (i + 1 < num and ret != 1)):
            return make_verdict("INVALID_CA", i, name, ders, anchor)
        if num > 1 and f.loaded is not None and f.loaded.explicit_curve is not None:  # check_curve()
            return make_verdict("EC_KEY_EXPLICIT_PARAMS", i, name, ders, anchor)
        if purpose == "sslserver" and purpose_sslserver(f, must_be_ca > 0) == 0:
            return make_verdict("INVALID_PURPOSE", i, name, ders, anchor)
        if i > 1 and f.pathlen is not None and plen > f.pathlen:
            return make_verdict("PATH_LENGTH_EXCEEDED", i, name, ders, anchor)
        if i > 0 and not f.self_issued:
            plen += 1
        must_be_ca = 1

    # ---- check_id
    if name is not None and names == "openssl":
        if is_ip(name):
            if not ip_matches(leaf.der, name):
                return make_verdict("IP_ADDRESS_MISMATCH", 0, name, ders, anchor)
        elif not host_matches(leaf.der, name):
            return make_verdict("HOSTNAME_MISMATCH", 0, name, ders, anchor)

    # ---- internal_verify (top down): key usage, signature, validity
    n = num - 1
    xi = path[n]
    xs = xi
    if not likely_issued(xi, xi):
        if n > 0:
            n -= 1
            xs = path[n]
        else:
            return make_verdict("UNABLE_TO_VERIFY_LEAF_SIGNATURE", 0, name, ders, anchor)
    while n >= 0:
        if xs is not xi:
            if not xs.proxy and ku_rejects_certsign(xi):
                return make_verdict("KEYUSAGE_NO_CERTSIGN", n + 1, name, ders, anchor)
            if xi.key_type is None:
                return make_verdict("UNABLE_TO_DECODE_ISSUER_PUBLIC_KEY", n + 1, name, ders, anchor)
            if not signature_ok(xs, xi):
                return make_verdict("CERT_SIGNATURE_FAILURE", n, name, ders, anchor)
        if xs.loaded is not None and xs.loaded.bad_not_before:  # X509_cmp_time() cannot read it
            return make_verdict("ERROR_IN_CERT_NOT_BEFORE_FIELD", n, name, ders, anchor)
        if xs.not_before > t:
            return make_verdict("CERT_NOT_YET_VALID", n, name, ders, anchor)
        if xs.loaded is not None and xs.loaded.bad_not_after:
            return make_verdict("ERROR_IN_CERT_NOT_AFTER_FIELD", n, name, ders, anchor)
        if xs.not_after <= t:
            return make_verdict("CERT_HAS_EXPIRED", n, name, ders, anchor)
        n -= 1
        if n >= 0:
            xi, xs = xs, path[n]
    if name is not None and names == "traffic_server" and not traffic_server_name_matches(leaf.der, name):
        return make_verdict("IP_ADDRESS_MISMATCH" if is_ip(name) else "HOSTNAME_MISMATCH", 0, name, ders, anchor)

    # ---- check_name_constraints (top down; self-issued intermediates are exempt)
    for i in range(num - 1, -1, -1):
        x = path[i]
        if i != 0 and x.self_issued:
            continue
        for j in range(num - 1, i, -1):
            nc = path[j].nc
            if nc is not None:
                violation = name_constraints_violation(x, nc, i == 0)
                if violation:
                    return make_verdict(violation, i, name, ders, anchor)
    return make_verdict("OK", None, name, ders, anchor)


def x509_sha256(der: bytes) -> str:
    return sha256_hex(der)


def name_for(sni: str | None, server_ip: str) -> str:
    """The name Expressway's traffic server checks: the SNI, or without SNI the server's IP."""
    return sni if sni else server_ip


def verify_connection(conn: TlsConnection, trust: TrustStore, names: str = "openssl") -> Verdict | None:
    """:func:`verify_chain` as a TLS client does it for a :class:`~pcaptls.tls.model.TlsConnection`:
    its server chain, at the time the Certificate message was seen, against the SNI (or the
    server's IP), with purpose "sslserver" (libssl's default for a client). ``None`` when no
    server certificate was seen (TLS 1.3, or an incomplete capture); an UNSPECIFIED verdict
    with ``detail`` when a certificate does not decode."""
    if not conn.server_certs:
        return None
    # Judge at the moment the Certificate message was seen (else the connection's start).
    t = next((e.time for e in conn.handshake if e.type == 11 and e.sender == "server"), conn.start)
    at = datetime.fromtimestamp(t, timezone.utc)
    name = name_for(conn.sni, conn.server.ip)
    try:
        return verify_chain(conn.server_certs, trust, at, name, purpose="sslserver", names=names)
    except MalformedError as e:
        v = make_verdict("UNSPECIFIED", None, name)
        return dataclasses.replace(v, detail=str(e))
