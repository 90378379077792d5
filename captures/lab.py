#!/usr/bin/env python3
"""The lab: real captures of Expressway-C's X14.2 certificate checks failing (and passing).

Run as root from the project root::

    .venv/bin/python captures/lab.py [--out DIR] [--only SCENARIO ...]

For every scenario the lab builds two network namespaces joined by a veth pair (MTU 1500,
offloads off): ``C`` holds Expressway-C (10.48.36.10), ``S`` the servers it talks to (CUCM,
IM&P, Unity; one address each). Real TLS stacks (Python ``ssl`` on OpenSSL) run on both sides;
tcpdump records on C's veth. The client verifies like X14.2's traffic server: chain against the
scenario's trust store, and the name it connected to (FQDN -> SNI and hostname check; IP -> no
SNI, IP check). What its OpenSSL said is the ground truth for the Expressway-format log and for
``manifest.json``, the expected answer pcaptls is tested against.

Written per scenario into ``DIR/<scenario>/`` (default: this folder): ``capture.pcap``,
``truststore.pem``, ``expressway.log``, ``manifest.json`` (and ``midstream.pcap`` for the messy
network, ``keylog.txt`` for the scenarios whose peers write their secrets). For the scenarios in ``EXTRAS`` also ``truststore-duplicate-cn.pem`` and
``diagnostic_bundle.tar.gz`` (see ``_extras.py``; ``--extras-only`` rewrites just those from the
folders already there, without root). Certificates are made fresh on every run, so fingerprints
and times change; the shape (connections, verdicts, alerts, log lines) does not.
"""

from __future__ import annotations

import argparse
import base64
import datetime as dt
import functools
import json
import os
import re
import select
import shutil
import signal
import ssl
import subprocess
import sys
import tempfile
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import _extras
import _pcapfile
import _pki
from _pki import Issued

HERE = Path(__file__).resolve().parent
PEERS = HERE / "_peers.py"

DOMAIN = "steven.lab"
EXPC_IP = "10.48.36.10"
PREFIX = 24

LOG_TZ = dt.timezone(dt.timedelta(hours=2))
# Scenarios that also get a duplicate-CN trust store and an Expressway diagnostic bundle.
EXTRAS = ("mra-login",)
TS_PID, XCP_PID, TVCS_PID = 18242, 3916, 2871

# OpenSSL X509_V_ERR codes (stable across 1.1 and 3.x) for the verdicts the lab produces.
X509_V_ERR = {
    0: "OK",
    2: "UNABLE_TO_GET_ISSUER_CERT",
    7: "CERT_SIGNATURE_FAILURE",
    9: "CERT_NOT_YET_VALID",
    10: "CERT_HAS_EXPIRED",
    18: "DEPTH_ZERO_SELF_SIGNED_CERT",
    19: "SELF_SIGNED_CERT_IN_CHAIN",
    20: "UNABLE_TO_GET_ISSUER_CERT_LOCALLY",
    21: "UNABLE_TO_VERIFY_LEAF_SIGNATURE",
    26: "INVALID_PURPOSE",
    62: "HOSTNAME_MISMATCH",
    64: "IP_ADDRESS_MISMATCH",
}

# RFC 8446 section 6 names.
ALERTS = {
    0: "close_notify", 10: "unexpected_message", 20: "bad_record_mac", 40: "handshake_failure",
    42: "bad_certificate", 43: "unsupported_certificate", 44: "certificate_revoked",
    45: "certificate_expired", 46: "certificate_unknown", 47: "illegal_parameter",
    48: "unknown_ca", 49: "access_denied", 50: "decode_error", 51: "decrypt_error",
    70: "protocol_version", 71: "insufficient_security", 80: "internal_error",
    86: "inappropriate_fallback", 90: "user_canceled", 109: "missing_extension",
    112: "unrecognized_name", 116: "certificate_required", 120: "no_application_protocol",
}
VERSION_IDS = {"TLSv1": 0x0301, "TLSv1.1": 0x0302, "TLSv1.2": 0x0303, "TLSv1.3": 0x0304}
# OpenSSL's names for the suites the client offers (its ssl object names only finished ones).
CIPHER_NAMES = {c["id"] & 0xFFFF: c["name"] for c in ssl.create_default_context().get_ciphers()}

# Expressway's traffic server logs OpenSSL 1.1 wording; the lab's OpenSSL 3 hyphenates.
_OPENSSL1_WORDING = {"self-signed": "self signed"}


class LabError(RuntimeError):
    """The lab could not build a scenario, or a TLS stack did something the scenario rules out."""


def sh(*argv: str, ns: str | None = None, check: bool = True) -> subprocess.CompletedProcess:
    cmd = (["ip", "netns", "exec", ns] if ns else []) + list(argv)
    res = subprocess.run(cmd, capture_output=True, text=True)
    if check and res.returncode != 0:
        raise LabError(f"{' '.join(cmd)}: {res.stderr.strip() or res.stdout.strip()}")
    return res


# ---------------------------------------------------------------------------------- PKI


class Pki:
    """The lab's certificates, made on first use (RSA 4096 key generation is the slow part)."""

    def __init__(self) -> None:
        self.now = dt.datetime.now(dt.timezone.utc).replace(microsecond=0)
        self.valid = (self.now - 30 * _pki.DAY, self.now + 700 * _pki.DAY)

    @functools.cached_property
    def root(self) -> Issued:
        return _pki.make_ca("Steven Lab Root CA", _pki.rsa_key(4096), self.now)

    @functools.cached_property
    def issuing(self) -> Issued:
        return _pki.make_ca("Steven Lab Issuing CA 1", _pki.rsa_key(4096), self.now,
                            issuer=self.root, path_length=0)

    @functools.cached_property
    def other_root(self) -> Issued:
        """An unrelated root in the trust store, as real trust stores hold several."""
        return _pki.make_ca("Steven Lab Legacy Root CA", _pki.p384_key(), self.now)

    @functools.cached_property
    def partner_root(self) -> Issued:
        return _pki.make_ca("Partner Telecom Root CA", _pki.rsa_key(2048), self.now)

    @functools.cached_property
    def partner_issuing(self) -> Issued:
        return _pki.make_ca("Partner Telecom Issuing CA", _pki.rsa_key(2048), self.now,
                            issuer=self.partner_root, path_length=0)

    @functools.cached_property
    def cucm_rsa(self) -> Issued:
        """CUCM tomcat: RSA 4096, CA-signed, so its chain fills several TCP segments."""
        return _pki.make_leaf("cucm.steven.lab", _pki.rsa_key(4096), self.issuing, *self.valid,
                              dns=("cucm.steven.lab", "cucm"), ou="tomcat")

    @functools.cached_property
    def cucm_ecdsa(self) -> Issued:
        """CUCM tomcat-ECDSA as installed: self-signed P-384."""
        return _pki.make_leaf("cucm.steven.lab", _pki.p384_key(), None, *self.valid,
                              dns=("cucm.steven.lab",), ou="tomcat-ECDSA")

    @functools.cached_property
    def imp(self) -> Issued:
        return _pki.make_leaf("imp.steven.lab", _pki.rsa_key(2048), self.issuing, *self.valid,
                              dns=("imp.steven.lab", DOMAIN), ou="cup-xmpp")

    @functools.cached_property
    def unity(self) -> Issued:
        """Unity Connection: CA-signed, DNS names only in the SAN (no IP)."""
        return _pki.make_leaf("unity.steven.lab", _pki.rsa_key(2048), self.issuing, *self.valid,
                              dns=("unity.steven.lab",), ou="tomcat")

    @functools.cached_property
    def expired(self) -> Issued:
        return _pki.make_leaf("cucm2.steven.lab", _pki.rsa_key(2048), self.issuing,
                              self.now - 400 * _pki.DAY, self.now - 20 * _pki.DAY,
                              dns=("cucm2.steven.lab",), ou="tomcat")

    @functools.cached_property
    def partner_leaf(self) -> Issued:
        return _pki.make_leaf("cucmsub.steven.lab", _pki.rsa_key(4096), self.partner_issuing,
                              *self.valid, dns=("cucmsub.steven.lab",), ou="tomcat")

    @functools.cached_property
    def expressway(self) -> Issued:
        """Expressway-C's own certificate, CA-signed, presented when a server asks for one."""
        return _pki.make_leaf("vcsc.steven.lab", _pki.rsa_key(2048), self.issuing, *self.valid,
                              dns=("vcsc.steven.lab",), ou="Expressway-C")

    def trust(self, *extra: Issued) -> tuple[Issued, ...]:
        """Expressway-C's usual trust store: the lab roots, plus ``extra``."""
        return (self.root, self.other_root, *extra)


# ------------------------------------------------------------------------------- scenarios


@dataclass(frozen=True, slots=True)
class Server:
    name: str  # FQDN of the host
    ip: str
    port: int
    chain: tuple[Issued, ...]  # leaf first, as sent
    role: str
    app: str = "https"  # "https" | "xmpp"
    max_version: str | None = "TLSv1_2"  # certificates visible unless a scenario says otherwise
    request_client_cert: bool = False
    resumption: str | None = None  # "session_id" (server cache) | "ticket" | "psk" (TLS 1.3)
    groups: str | None = None  # the only key-exchange group it takes (others: HelloRetryRequest)
    ciphersuites: str | None = None  # TLS 1.3 suites (OpenSSL config of its own server process)


@dataclass(frozen=True, slots=True)
class Conn:
    server: Server
    start_at: float  # seconds after the client starts
    path: str = "/"
    by_ip: bool = False  # Expressway uses the IP address (CUCM announced by IP)
    expect: str = "OK"  # X509_V_ERR name without prefix, or "OK"
    why: str = ""
    resume: int | None = None  # offers the session of this earlier connection (index in conns)
    client_cert: bool = False  # Expressway-C presents its certificate when asked
    fails_by: str | None = None  # the handshake fails, not on the chain: OpenSSL's reason

    @property
    def target(self) -> str:
        return self.server.ip if self.by_ip else self.server.name


@dataclass(slots=True)
class Scenario:
    name: str
    description: str
    conns: list[Conn]
    trust: tuple[Issued, ...]
    mess: dict[str, Any] | None = None  # config for _mess.py's bridge; None: a plain veth
    log_offset: float = 0.0  # seconds the log's clock is ahead of the capture's
    midstream: bool = False
    want_disorder: bool = False
    keylog: bool = False  # both peers write their secrets; keylog.txt beside the capture
    linger: float = 0.4  # seconds the capture runs on after the client is done
    client_chain: tuple[Issued, ...] = ()  # Expressway-C's, for connections with client_cert


def scenarios(pki: Pki) -> dict[str, Callable[[], Scenario]]:
    """Scenario builders by directory name (built lazily so --only makes only what it needs)."""

    def cucm_8443() -> Server:
        return Server("cucm.steven.lab", "10.48.36.215", 8443, (pki.cucm_rsa, pki.issuing),
                      "CUCM tomcat (UDS)")

    def cucm_6972(max_version: str | None = "TLSv1_2") -> Server:
        return Server("cucm.steven.lab", "10.48.36.215", 6972, (pki.cucm_ecdsa,),
                      "CUCM TFTP over HTTPS", max_version=max_version, request_client_cert=True)

    def imp_5222() -> Server:
        return Server("imp.steven.lab", "10.48.36.216", 5222, (pki.imp, pki.issuing),
                      "IM&P XMPP", app="xmpp")

    def unity_443() -> Server:
        return Server("unity.steven.lab", "10.48.36.217", 443, (pki.unity, pki.issuing),
                      "Unity Connection")

    def cucmsub_8443() -> Server:
        return Server("cucmsub.steven.lab", "10.48.36.219", 8443,
                      (pki.partner_leaf, pki.partner_issuing), "CUCM subscriber tomcat (UDS)")

    ok_8443 = "chain cucm.steven.lab <- Steven Lab Issuing CA 1 <- trusted Steven Lab Root CA; " \
              "cucm.steven.lab is in the SAN"
    self_signed = ("CUCM presents its self-signed tomcat-ECDSA certificate (X14.2 prefers ECDSA), "
                   "which is not in Expressway-C's trust store")
    ip_san = ("Expressway connects to Unity by IP address 10.48.36.217 (no SNI); the certificate's "
              "SAN holds only DNS:unity.steven.lab")

    def s01() -> Scenario:
        srv = cucm_8443()
        return Scenario(
            "01-cucm-8443-ok",
            "CUCM tomcat on 8443, RSA 4096 leaf + intermediate, CA-signed and trusted: succeeds. "
            "The Certificate message spans several TCP segments.",
            [Conn(srv, 0.0, "/cucm-uds/user/emusk", why=ok_8443),
             Conn(srv, 0.3, "/cucm-uds/user/emusk/devices", why=ok_8443)],
            pki.trust(),
        )

    def s02() -> Scenario:
        srv = cucm_6972()
        return Scenario(
            "02-tftp-6972-selfsigned-ecdsa",
            "CUCM TFTP over HTTPS on 6972 presents a self-signed ECDSA P-384 certificate and "
            "sends CertificateRequest; Expressway-C rejects it with a fatal Unknown CA alert.",
            [Conn(srv, 0.0, "/CSFemusk.cnf.xml", expect="DEPTH_ZERO_SELF_SIGNED_CERT",
                  why=self_signed),
             Conn(srv, 0.4, "/CSFemusk.cnf.xml", expect="DEPTH_ZERO_SELF_SIGNED_CERT",
                  why=self_signed + " (Jabber retries)")],
            pki.trust(),
        )

    def s03() -> Scenario:
        return Scenario(
            "03-ip-not-in-san",
            "Unity Connection reached by IP address; its CA-signed certificate names only "
            "DNS:unity.steven.lab, so the IP check fails.",
            [Conn(unity_443(), 0.0, "/vmrest/version", by_ip=True, expect="IP_ADDRESS_MISMATCH",
                  why=ip_san)],
            pki.trust(),
        )

    def s04() -> Scenario:
        return Scenario(
            "04-untrusted-root",
            "CUCM subscriber sends leaf + intermediate issued by Partner Telecom Root CA, which "
            "is not in the trust store: the chain breaks at depth 1.",
            [Conn(cucmsub_8443(), 0.0, "/cucm-uds/version",
                  expect="UNABLE_TO_GET_ISSUER_CERT_LOCALLY",
                  why="the issuer of 'Partner Telecom Issuing CA' (Partner Telecom Root CA) is "
                      "not in Expressway-C's trust store")],
            pki.trust(),
        )

    def s05() -> Scenario:
        srv = Server("cucm2.steven.lab", "10.48.36.218", 8443, (pki.expired, pki.issuing),
                     "CUCM tomcat (UDS)")
        return Scenario(
            "05-expired",
            "CUCM presents a CA-signed certificate that expired 20 days before the capture.",
            [Conn(srv, 0.0, "/cucm-uds/version", expect="CERT_HAS_EXPIRED",
                  why="the leaf's notAfter is 20 days before the handshake")],
            pki.trust(),
        )

    def s06() -> Scenario:
        ok = Server("cucm.steven.lab", "10.48.36.215", 8443, (pki.cucm_rsa, pki.issuing),
                    "CUCM tomcat (UDS)", max_version=None)
        return Scenario(
            "06-tls13",
            "TLS 1.3: one connection succeeds, one fails on a self-signed certificate. The "
            "certificates and the CertificateRequest are encrypted; the client's Unknown CA "
            "alert goes out in plaintext (it has no handshake write key yet), but which "
            "certificate failed and why only the log says.",
            [Conn(ok, 0.0, "/cucm-uds/user/emusk", why=ok_8443),
             Conn(cucm_6972(max_version=None), 0.4, "/CSFemusk.cnf.xml",
                  expect="DEPTH_ZERO_SELF_SIGNED_CERT", why=self_signed)],
            pki.trust(),
        )

    def s07() -> Scenario:
        return Scenario(
            "07-xmpp-starttls-5222",
            "IM&P XMPP on 5222: stream header, <starttls/>, <proceed/>, then TLS 1.2 with a "
            "CA-signed certificate: succeeds.",
            [Conn(imp_5222(), 0.0,
                  why="chain imp.steven.lab <- Steven Lab Issuing CA 1 <- trusted root; "
                      "name in SAN")],
            pki.trust(),
        )

    def s08() -> Scenario:
        srv, bad = cucm_8443(), cucmsub_8443()
        untrusted = "issuer of 'Partner Telecom Issuing CA' is not in the trust store"
        return Scenario(
            "08-messy-network",
            "Five multi-segment handshakes, partly two at a time, through a bridge that drops, "
            "holds back and duplicates chosen server-to-client data segments of chosen "
            "connections (deterministic): certificate segments arrive out of order and are "
            "retransmitted; the failing connection (c3) only sees a duplicate. "
            "midstream.pcap is the same traffic with the capture starting mid-connection.",
            # c1 runs alone, so that midstream.pcap's cut (inside c1) leaves c2..c5 whole.
            [Conn(srv, 0.0, "/cucm-uds/user/emusk", why=ok_8443),
             Conn(srv, 0.4, "/cucm-uds/user/emusk/devices", why=ok_8443),
             Conn(bad, 0.45, "/cucm-uds/version", expect="UNABLE_TO_GET_ISSUER_CERT_LOCALLY",
                  why=untrusted),
             Conn(srv, 1.0, "/cucm-uds/servers", why=ok_8443),
             Conn(srv, 1.05, "/cucm-uds/user/emusk/credentials", why=ok_8443)],
            pki.trust(),
            mess={"hold_ms": 25, "rules": [
                {"connection": 1, "segment": 2, "action": "hold"},  # Certificate: 1, 3, 2
                {"connection": 2, "segment": 2, "action": "drop"},  # 1, 3, retransmitted 2
                {"connection": 3, "segment": 1, "action": "dup"},
                {"connection": 4, "segment": 1, "action": "hold"},  # ServerHello after 2
                {"connection": 4, "segment": 5, "action": "dup"},
                {"connection": 5, "segment": 3, "action": "drop"},  # flight's tail: TLP/RTO
                {"connection": 5, "segment": 4, "action": "dup"}]},
            midstream=True,
            want_disorder=True,
        )

    def mra() -> Scenario:
        c8443, c6972, imp, unity = cucm_8443(), cucm_6972(), imp_5222(), unity_443()
        return Scenario(
            "mra-login",
            "One Jabber MRA login through Expressway-C: CUCM UDS on 8443 works; TFTP on 6972 "
            "fails (self-signed ECDSA, Unknown CA); IM&P XMPP STARTTLS on 5222 works; Unity on "
            "443 by IP fails (IP not in SAN). The log's clock is ahead of the capture's.",
            [Conn(c8443, 0.0, "/cucm-uds/version", why=ok_8443),
             Conn(c8443, 0.3, "/cucm-uds/user/emusk", why=ok_8443),
             Conn(c6972, 0.6, "/CSFemusk.cnf.xml", expect="DEPTH_ZERO_SELF_SIGNED_CERT",
                  why=self_signed),
             Conn(c6972, 0.9, "/CSFemusk.cnf.xml", expect="DEPTH_ZERO_SELF_SIGNED_CERT",
                  why=self_signed + " (retry)"),
             Conn(imp, 1.2, why="chain imp.steven.lab <- Steven Lab Issuing CA 1 <- trusted "
                                "root; name in SAN"),
             Conn(unity, 1.5, "/vmrest/version", by_ip=True, expect="IP_ADDRESS_MISMATCH",
                  why=ip_san),
             Conn(c8443, 1.8, "/cucm-uds/user/emusk/devices", why=ok_8443),
             Conn(c6972, 2.1, "/CSFemusk.cnf.xml", expect="DEPTH_ZERO_SELF_SIGNED_CERT",
                  why=self_signed + " (retry)"),
             Conn(unity, 2.4, "/vmrest/version", by_ip=True, expect="IP_ADDRESS_MISMATCH",
                  why=ip_san + " (retry)")],
            pki.trust(),
            log_offset=4.75,
        )

    def s09() -> Scenario:
        srv = cucm_8443()
        return Scenario(
            "09-fin-retransmitted",
            "Two TLS 1.2 connections to CUCM 8443 through the bridge, both succeed and close "
            "cleanly (close_notify and FIN both ways). After c2 has closed on both sides the "
            "bridge sends the server's close_notify segment and its FIN again three times "
            "(200, 400, 800 ms later), as a server whose FIN went unacknowledged would; the "
            "client's stack answers each copy. One connection each, no second one on c2's "
            "4-tuple.",
            [Conn(srv, 0.0, "/cucm-uds/user/emusk", why=ok_8443),
             Conn(srv, 0.3, "/cucm-uds/user/emusk/devices", why=ok_8443)],
            pki.trust(),
            mess={"rules": [{"connection": 2, "action": "resend_close", "copies": 3,
                             "after_ms": 200}]},
            linger=2.0,
        )

    def s10() -> Scenario:
        by_id = Server("cucm.steven.lab", "10.48.36.215", 8443, (pki.cucm_rsa, pki.issuing),
                       "CUCM tomcat (UDS), session cache, no tickets", resumption="session_id")
        by_ticket = Server("imp.steven.lab", "10.48.36.216", 8443, (pki.imp, pki.issuing),
                           "IM&P tomcat, session tickets", resumption="ticket")
        by_psk = Server("unity.steven.lab", "10.48.36.217", 443, (pki.unity, pki.issuing),
                        "Unity Connection, TLS 1.3 tickets", max_version=None, resumption="psk")
        return Scenario(
            "10-resumption",
            "Resumed sessions: Expressway-C connects twice to each server and offers the first "
            "connection's session on the second. CUCM (TLS 1.2, session cache, no tickets) "
            "resumes by session ID, IM&P (TLS 1.2) by session ticket, Unity (TLS 1.3) by PSK; "
            "OpenSSL says session_reused on both sides. The resumed TLS 1.2 handshakes carry "
            "no Certificate: there is no chain to judge.",
            [Conn(by_id, 0.0, "/cucm-uds/version", why=ok_8443),
             Conn(by_id, 0.5, "/cucm-uds/user/emusk", resume=0,
                  why="resumes c1's session by session ID"),
             Conn(by_ticket, 1.0, "/cup/version", why="chain imp.steven.lab <- Steven Lab "
                  "Issuing CA 1 <- trusted root; name in SAN"),
             Conn(by_ticket, 1.5, "/cup/presence", resume=2,
                  why="resumes c3's session with its session ticket"),
             Conn(by_psk, 2.0, "/vmrest/version", why="chain unity.steven.lab <- Steven Lab "
                  "Issuing CA 1 <- trusted root; name in SAN"),
             Conn(by_psk, 2.5, "/vmrest/user", resume=4,
                  why="resumes c5's session with a TLS 1.3 PSK (its NewSessionTicket)")],
            pki.trust(),
        )

    def s11() -> Scenario:
        mutual = Server("cucm.steven.lab", "10.48.36.215", 8443, (pki.cucm_rsa, pki.issuing),
                        "CUCM tomcat (UDS), asks for a client certificate", max_version=None,
                        request_client_cert=True)
        hrr = Server("imp.steven.lab", "10.48.36.216", 8443, (pki.imp, pki.issuing),
                     "IM&P tomcat, P-384 key exchange only", max_version=None,
                     groups="secp384r1")
        chacha = Server("unity.steven.lab", "10.48.36.217", 443, (pki.unity, pki.issuing),
                        "Unity Connection, ChaCha20-Poly1305 only", max_version=None,
                        ciphersuites="TLS_CHACHA20_POLY1305_SHA256")
        imp_ok = ("chain imp.steven.lab <- Steven Lab Issuing CA 1 <- trusted root; name in "
                  "SAN")
        return Scenario(
            "11-tls13-keylog",
            "TLS 1.3 with the key log both peers wrote (keylog.txt): CUCM 8443 asks for a "
            "client certificate and gets Expressway-C's; CUCM TFTP on 6972 presents its "
            "self-signed P-384 certificate with a CertificateRequest and the client rejects it "
            "with unknown_ca (twice: Jabber retries; the TLS 1.3 twin of "
            "02-tftp-6972-selfsigned-ecdsa); IM&P takes only P-384, so the client's X25519 key "
            "share gets a HelloRetryRequest; Unity negotiates ChaCha20-Poly1305. Without the "
            "key log the certificates are encrypted.",
            [Conn(mutual, 0.0, "/cucm-uds/user/emusk", client_cert=True,
                  why=ok_8443 + "; Expressway-C presents vcsc.steven.lab"),
             Conn(cucm_6972(max_version=None), 0.4, "/CSFemusk.cnf.xml",
                  expect="DEPTH_ZERO_SELF_SIGNED_CERT", why=self_signed),
             Conn(cucm_6972(max_version=None), 0.8, "/CSFemusk.cnf.xml",
                  expect="DEPTH_ZERO_SELF_SIGNED_CERT", why=self_signed + " (Jabber retries)"),
             Conn(hrr, 1.2, "/cup/version", why=imp_ok + "; HelloRetryRequest for P-384"),
             Conn(chacha, 1.6, "/vmrest/version",
                  why="chain unity.steven.lab <- Steven Lab Issuing CA 1 <- trusted root; "
                      "name in SAN; TLS_CHACHA20_POLY1305_SHA256")],
            pki.trust(),
            keylog=True,
            client_chain=(pki.expressway, pki.issuing),
        )

    def s12() -> Scenario:
        srv = cucm_8443()
        return Scenario(
            "12-tls12-keylog",
            "TLS 1.2 with the key log both peers wrote (keylog.txt), through the bridge: c1's "
            "server Finished arrives with its last byte flipped (its AEAD tag), so the client's "
            "OpenSSL rejects the record and sends a fatal bad_record_mac alert, encrypted (it "
            "had already sent its ChangeCipherSpec): only the key log says which alert. c2 is "
            "the self-signed 6972 server (plaintext unknown_ca), c3 a clean connection to IM&P.",
            [Conn(srv, 0.0, "/cucm-uds/user/emusk", fails_by="DECRYPTION_FAILED_OR_BAD_RECORD_MAC",
                  why=ok_8443 + ", but the server's Finished was damaged on the way"),
             Conn(cucm_6972(), 0.4, "/CSFemusk.cnf.xml", expect="DEPTH_ZERO_SELF_SIGNED_CERT",
                  why=self_signed),
             Conn(Server("imp.steven.lab", "10.48.36.216", 8443, (pki.imp, pki.issuing),
                         "IM&P tomcat"), 0.8, "/cup/version",
                  why="chain imp.steven.lab <- Steven Lab Issuing CA 1 <- trusted root; name "
                      "in SAN")],
            pki.trust(),
            mess={"rules": [{"connection": 1, "action": "corrupt_finished"}]},
            keylog=True,
        )

    return {
        "01-cucm-8443-ok": s01, "02-tftp-6972-selfsigned-ecdsa": s02, "03-ip-not-in-san": s03,
        "04-untrusted-root": s04, "05-expired": s05, "06-tls13": s06,
        "07-xmpp-starttls-5222": s07, "08-messy-network": s08, "mra-login": mra,
        "09-fin-retransmitted": s09, "10-resumption": s10, "11-tls13-keylog": s11,
        "12-tls12-keylog": s12,
    }


# ------------------------------------------------------------------------------ network


class Netns:
    """Namespaces C (Expressway-C) and S (servers) joined by a veth pair; with ``bridged``, by
    two veth pairs through a third namespace R where ``_mess.py`` forwards frames.

    Use as a context manager: every namespace it creates and process it starts is gone on exit.
    """

    def __init__(self, server_ips: list[str], bridged: bool) -> None:
        tag = f"{os.getpid() % 100000}{int(time.time() * 1000) % 1000:03d}"
        self.c, self.s, self.r = f"ptl{tag}c", f"ptl{tag}s", f"ptl{tag}r"
        self.vc, self.vs = f"ptlc{tag}", f"ptls{tag}"
        self.rc, self.rs = f"ptlrc{tag}", f"ptlrs{tag}"
        self.server_ips = server_ips
        self.bridged = bridged
        self.procs: list[subprocess.Popen] = []

    def __enter__(self) -> Netns:
        try:
            self._up()
        except BaseException:
            self.__exit__(None, None, None)
            raise
        return self

    def _up(self) -> None:
        for ns in (self.c, self.s, self.r) if self.bridged else (self.c, self.s):
            sh("ip", "netns", "add", ns)
        devs = [(self.c, self.vc, [EXPC_IP]), (self.s, self.vs, self.server_ips)]
        if self.bridged:
            sh("ip", "link", "add", self.vc, "type", "veth", "peer", "name", self.rc)
            sh("ip", "link", "add", self.vs, "type", "veth", "peer", "name", self.rs)
            devs += [(self.r, self.rc, []), (self.r, self.rs, [])]
        else:
            sh("ip", "link", "add", self.vc, "type", "veth", "peer", "name", self.vs)
        for ns, dev, ips in devs:
            sh("ip", "link", "set", dev, "netns", ns)
        for ns, dev, ips in devs:
            sh("sysctl", "-qw", f"net.ipv6.conf.{dev}.disable_ipv6=1", ns=ns)
            sh("ip", "link", "set", "lo", "up", ns=ns)
            sh("ip", "link", "set", dev, "mtu", "1500", ns=ns)
            for ip in ips:
                sh("ip", "addr", "add", f"{ip}/{PREFIX}", "dev", dev, ns=ns)
            # Segments on the wire as TCP cut them: no TSO/GSO/GRO super-packets, and real
            # checksums in the capture.
            sh("ethtool", "-K", dev, "tso", "off", "gso", "off", "gro", "off",
               "tx", "off", "rx", "off", ns=ns)
            if not ips:  # the bridge's ports see frames for other hosts
                sh("ip", "link", "set", dev, "promisc", "on", ns=ns)
            sh("ip", "link", "set", dev, "up", ns=ns)

    def popen(self, ns: str, argv: list[str], **kw: Any) -> subprocess.Popen:
        proc = subprocess.Popen(["ip", "netns", "exec", ns, *argv], **kw)
        self.procs.append(proc)
        return proc

    def __exit__(self, *exc: object) -> None:
        for proc in reversed(self.procs):
            if proc.poll() is None:
                proc.terminate()
                try:
                    proc.wait(3)
                except subprocess.TimeoutExpired:
                    proc.kill()
                    proc.wait()
        for ns in (self.c, self.s, self.r) if self.bridged else (self.c, self.s):
            sh("ip", "netns", "del", ns, check=False)


def _wait_line(proc: subprocess.Popen, stream: Any, want: str, what: str,
               errors: Path | None = None) -> None:
    """Wait (10 s at most) until ``proc`` writes a line containing ``want`` to ``stream``."""
    deadline = time.time() + 10
    while (left := deadline - time.time()) > 0:
        if not select.select([stream], [], [], left)[0]:
            break
        line = stream.readline()
        if want in line:
            return
        if not line and proc.poll() is not None:
            break
    detail = errors.read_text().strip()[-2000:] if errors and errors.exists() else ""
    raise LabError(f"{what} did not start (exit {proc.poll()}) {detail}")


# ------------------------------------------------------------------------- running a scenario


def _write_pem(path: Path, certs: tuple[Issued, ...] | list[Issued]) -> None:
    path.write_bytes(b"".join(c.pem for c in certs))


def run_scenario(sc: Scenario, work: Path) -> tuple[dict[str, Any], list[dict[str, Any]], Path]:
    """Run one scenario's traffic; returns (client results by id, server records, pcap path)."""
    servers: dict[tuple[str, int], Server] = {}
    for c in sc.conns:
        servers[(c.server.ip, c.server.port)] = c.server
    listeners = []
    for i, srv in enumerate(servers.values()):
        cert, key = work / f"srv{i}.pem", work / f"srv{i}.key"
        _write_pem(cert, srv.chain)
        key.write_bytes(srv.chain[0].key_pem)
        spec = {"name": f"{srv.name}:{srv.port}", "ip": srv.ip, "port": srv.port,
                "certfile": str(cert), "keyfile": str(key), "app": srv.app,
                "max_version": srv.max_version, "client_ca": None,
                "resumption": srv.resumption, "tickets": srv.resumption in ("ticket", "psk"),
                "groups": srv.groups, "ciphersuites": srv.ciphersuites,
                "keylog": str(work / "keylog-server.txt") if sc.keylog else None}
        if srv.request_client_cert:
            # CUCM's own trust (tomcat-trust) for client certificates: the lab root.
            ca = work / f"srv{i}-clientca.pem"
            _write_pem(ca, [sc.trust[0]])
            spec["client_ca"] = str(ca)
        listeners.append(spec)
    report = work / "server-report.jsonl"
    # One server process per OpenSSL configuration: TLS 1.3 suites are only set that way from
    # Python (SSLContext.set_ciphers covers TLS 1.2 and below).
    suites = sorted({spec["ciphersuites"] or "" for spec in listeners})
    for n, suite in enumerate(suites):
        (work / f"server{n}.json").write_text(json.dumps(
            {"report": str(report), "listeners": [x for x in listeners
                                                  if (x["ciphersuites"] or "") == suite]}))
        if suite:
            (work / f"server{n}.cnf").write_text(
                "openssl_conf = lab_conf\n[lab_conf]\nssl_conf = lab_ssl\n[lab_ssl]\n"
                "system_default = lab_default\n[lab_default]\n"
                f"Ciphersuites = {suite}\n")
    trust = work / "truststore.pem"
    _write_pem(trust, sc.trust)
    client_cert = work / "client.pem"
    if any(c.client_cert for c in sc.conns):
        _write_pem(client_cert, sc.client_chain)
        (work / "client.key").write_bytes(sc.client_chain[0].key_pem)
    plan = {"truststore": str(trust), "client_ip": EXPC_IP,
            "keylog": str(work / "keylog-client.txt") if sc.keylog else None, "connections": [
        {"id": f"c{i + 1}", "server_ip": c.server.ip, "port": c.server.port,
         "server_hostname": c.target, "app": c.server.app, "path": c.path,
         "host_header": f"{c.target}:{c.server.port}", "xmpp_domain": DOMAIN,
         "start_at": c.start_at,
         "session_group": f"{c.server.ip}:{c.server.port}" if c.server.resumption else None,
         "resume": None if c.resume is None else f"c{c.resume + 1}",
         "tickets": c.server.resumption in ("ticket", "psk"),
         "certfile": str(client_cert) if c.client_cert else None,
         "keyfile": str(work / "client.key") if c.client_cert else None}
        for i, c in enumerate(sc.conns)]}
    (work / "plan.json").write_text(json.dumps(plan))
    pcap = work / "capture.pcap"
    server_ips = sorted({s.ip for s in servers.values()})

    with Netns(server_ips, sc.mess is not None) as net:
        bridge = None
        if sc.mess:
            (work / "mess.json").write_text(json.dumps(
                {**sc.mess, "client_if": net.rc, "server_if": net.rs,
                 "report": str(work / "mess-report.json")}))
            with open(work / "bridge.err", "w") as err_fh:
                bridge = net.popen(net.r, [sys.executable, str(HERE / "_mess.py"),
                                           str(work / "mess.json")],
                                   stdout=subprocess.PIPE, stderr=err_fh, text=True)
            _wait_line(bridge, bridge.stdout, "READY", "bridge", work / "bridge.err")
        srv_procs = []
        for n, suite in enumerate(suites):
            env = dict(os.environ)
            if suite:
                env["OPENSSL_CONF"] = str(work / f"server{n}.cnf")
            with open(work / f"server{n}.err", "w") as err_fh:
                srv_proc = net.popen(net.s, [sys.executable, str(PEERS), "serve",
                                             str(work / f"server{n}.json")],
                                     stdout=subprocess.PIPE, stderr=err_fh, text=True, env=env)
            _wait_line(srv_proc, srv_proc.stdout, "READY", "TLS servers", work / f"server{n}.err")
            srv_procs.append(srv_proc)
        dump = net.popen(net.c, ["tcpdump", "-i", net.vc, "-s", "0", "-U", "-n", "-Z", "root",
                                 "--immediate-mode", "-w", str(pcap)],
                         stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
        _wait_line(dump, dump.stderr, "listening on", "tcpdump")
        client = net.popen(net.c, [sys.executable, str(PEERS), "connect", str(work / "plan.json")],
                           stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
        out, err = client.communicate(timeout=60)
        if client.returncode != 0:
            raise LabError(f"client failed: {err.strip()}")
        time.sleep(sc.linger)  # the last FIN/ACKs (and held-back segments) reach the capture
        dump.send_signal(signal.SIGINT)
        dump.wait(5)
        for srv_proc in srv_procs:
            srv_proc.terminate()
            srv_proc.wait(5)
        if bridge:
            bridge.terminate()
            bridge.wait(5)
    results = {r["id"]: r for r in json.loads(out)}
    records = [json.loads(line) for line in report.read_text().splitlines() if line.strip()]
    return results, records, pcap


# ------------------------------------------------------------------------- ground truth


def _hs_messages(events: list, direction: str, htype: int) -> list[bytes]:
    return [bytes.fromhex(e[3]) for e in events
            if e[0] == direction and e[1] == 22 and bytes.fromhex(e[3])[:1] == bytes([htype])]


def _certificate_list(msg: bytes, tls13: bool) -> list[bytes]:
    """DERs from a Certificate handshake message (with its 4-byte header)."""
    body = msg[4:]
    off = 0
    if tls13:
        off = 1 + body[0]
    end = off + 3 + int.from_bytes(body[off:off + 3], "big")
    off += 3
    ders = []
    while off < end:
        n = int.from_bytes(body[off:off + 3], "big")
        ders.append(body[off + 3:off + 3 + n])
        off += 3 + n
        if tls13:
            off += 2 + int.from_bytes(body[off:off + 2], "big")
    return ders


def _server_hello(msg: bytes) -> tuple[int, int]:
    """(negotiated version, cipher suite) from a ServerHello message (with header)."""
    body = msg[4:]
    version = int.from_bytes(body[0:2], "big")
    off = 34
    off += 1 + body[off]
    cipher = int.from_bytes(body[off:off + 2], "big")
    off += 3
    if off + 2 <= len(body):
        end = off + 2 + int.from_bytes(body[off:off + 2], "big")
        off += 2
        while off + 4 <= end:
            etype = int.from_bytes(body[off:off + 2], "big")
            elen = int.from_bytes(body[off + 2:off + 4], "big")
            if etype == 43 and elen == 2:
                version = int.from_bytes(body[off + 4:off + 6], "big")
            off += 4 + elen
    return version, cipher


# ServerHello.random of a HelloRetryRequest (RFC 8446 section 4.1.3).
_HRR_RANDOM = bytes.fromhex("cf21ad74e59a6111be1d8c021e65b891c2a211167abb8c5e079e09e2c8a8339c")


def _alerts(events: list, sender: str) -> list[dict[str, Any]]:
    """The alerts ``sender``'s stack wrote, with how their records looked on the wire.

    OpenSSL reports each record header it writes just before the alert it carries, so ``wire``
    comes from that header: "plaintext" (an alert record of 2 bytes: level and description
    visible), "encrypted" (an alert record with encrypted contents: TLS 1.2 after the sender's
    ChangeCipherSpec) or "hidden" (TLS 1.3: an application_data record like any other).
    """
    out = []
    header = b""
    for direction, ct, _mtype, data_hex, t in events:
        if direction != "write":
            continue
        data = bytes.fromhex(data_hex)
        if ct == 0x100:
            header = data
            continue
        if ct != 21:
            continue
        rtype, rlen = header[:1], int.from_bytes(header[3:5], "big")
        wire = ("hidden" if rtype != b"\x15" else "plaintext" if rlen == 2 else "encrypted")
        out.append({"sender": sender, "level": data[0],
                    "level_name": {1: "warning", 2: "fatal"}.get(data[0], str(data[0])),
                    "code": data[1], "description": ALERTS.get(data[1], str(data[1])),
                    "wire": wire, "time": t})
    return out


def openssl_verify(chain: list[bytes], trust: Path, target: str, by_ip: bool, at: float,
                   work: Path) -> dict[str, Any]:
    """Ask ``openssl verify`` (the reference peer) about ``chain`` at time ``at``."""
    from cryptography import x509
    from cryptography.hazmat.primitives.serialization import Encoding

    def pem(ders: list[bytes]) -> bytes:
        return b"".join(x509.load_der_x509_certificate(d).public_bytes(Encoding.PEM) for d in ders)

    leaf, rest = work / "verify-leaf.pem", work / "verify-rest.pem"
    leaf.write_bytes(pem(chain[:1]))
    argv = ["openssl", "verify", "-attime", str(int(at)), "-purpose", "sslserver",
            "-CAfile", str(trust)]
    if len(chain) > 1:
        rest.write_bytes(pem(chain[1:]))
        argv += ["-untrusted", str(rest)]
    argv += ["-verify_ip" if by_ip else "-verify_hostname", target, str(leaf)]
    res = subprocess.run(argv, capture_output=True, text=True)
    text = (res.stdout + res.stderr).strip()
    m = re.search(r"error (\d+) at (\d+) depth lookup: ?(.*)", text)
    if m:
        return {"code": int(m.group(1)), "depth": int(m.group(2)), "message": m.group(3).strip(),
                "output": m.group(0)}
    if res.returncode == 0 and text.endswith("OK"):
        return {"code": 0, "depth": None, "message": "ok", "output": "OK"}
    raise LabError(f"unexpected openssl verify output: {text}")


def build_connections(sc: Scenario, results: dict[str, Any], records: list[dict[str, Any]],
                      trust: Path, work: Path) -> list[dict[str, Any]]:
    by_client = {(r["client"][0], r["client"][1]): r for r in records}
    conns = []
    for i, c in enumerate(sc.conns):
        cid = f"c{i + 1}"
        res = results[cid]
        srec = by_client.get((EXPC_IP, res["client_port"]))
        if srec is None:
            raise LabError(f"{sc.name} {cid}: the server never saw this connection: {res['error']}")
        events = res["events"]
        hellos = _hs_messages(events, "read", 2)
        if not hellos:
            raise LabError(f"{sc.name} {cid}: no ServerHello: {res['error']}")
        hello_version, hello_cipher = _server_hello(hellos[0])
        version_id = VERSION_IDS[res["version"]] if res["version"] else hello_version
        cipher_id = res["cipher_id"] if res["cipher_id"] is not None else hello_cipher
        if (version_id, cipher_id) != (hello_version, hello_cipher):
            raise LabError(f"{sc.name} {cid}: ssl object and ServerHello disagree")
        tls13 = version_id == 0x0304
        cert_msgs = _hs_messages(events, "read", 11)
        chain = _certificate_list(cert_msgs[0], tls13) if cert_msgs else []
        reused = bool(res.get("session_reused"))
        if reused != (c.resume is not None) or reused != bool(srec.get("session_reused", reused)):
            raise LabError(f"{sc.name} {cid}: session_reused {reused} (server "
                           f"{srec.get('session_reused')}), the scenario says resume={c.resume}")
        if chain != ([] if reused else [x.der for x in c.server.chain]):
            raise LabError(f"{sc.name} {cid}: the server sent a different chain than configured")
        sent_cr = bool(_hs_messages(srec["events"], "write", 13))
        client_msgs = _hs_messages(srec["events"], "read", 11)
        client_chain = _certificate_list(client_msgs[0], tls13) if client_msgs else []
        if bool(client_chain) != c.client_cert:
            raise LabError(f"{sc.name} {cid}: client certificate sent: {bool(client_chain)}")
        hello_retry = hellos[0][6:38] == _HRR_RANDOM

        if reused:  # no chain on the wire; OpenSSL keeps the first handshake's verdict
            verdict = {"code": 0, "depth": None, "message": "ok",
                       "output": "not run: resumed, no certificate sent"}
        else:
            verdict = openssl_verify(chain, trust, c.target, c.by_ip, res["t_hello"], work)
        python_code = res["verify_code"] if res["verify_code"] is not None else (
            0 if res["ok"] or c.fails_by else None)  # fails_by: the chain passed, then it failed
        if python_code != verdict["code"]:
            raise LabError(f"{sc.name} {cid}: Python ssl said {python_code} "
                           f"({res['error']}), openssl verify said {verdict['output']}")
        name = X509_V_ERR.get(verdict["code"])
        if name is None:
            raise LabError(f"{sc.name} {cid}: add X509_V_ERR code {verdict['code']} to the table")
        if name != c.expect:
            raise LabError(f"{sc.name} {cid}: expected {c.expect}, OpenSSL said {name}")
        alerts = sorted(_alerts(events, "client") + _alerts(srec["events"], "server"),
                        key=lambda a: a["time"])
        ok = res["ok"] and srec["handshake_ok"]
        if c.fails_by and (ok or c.fails_by not in (res["error"] or "")):
            raise LabError(f"{sc.name} {cid}: expected to fail with {c.fails_by}: "
                           f"{res['error']}")
        message = res["verify_message"] if not ok else None
        verify = {"result": name, "code": verdict["code"], "depth": verdict["depth"],
                  "message": message, "openssl_verify": verdict["output"]}
        if not ok and message is not None:
            log_msg = message
            for new, old in _OPENSSL1_WORDING.items():
                log_msg = log_msg.replace(new, old)
            verify["log_message"] = log_msg
        fatal = next((a for a in alerts if a["level"] == 2), None)
        why = c.why
        if c.fails_by:
            why += (f". OpenSSL: {c.fails_by}, chain {name}; "
                    f"{fatal['sender'] if fatal else 'nobody'} sent "
                    f"{'fatal ' + fatal['description'] if fatal else 'no alert'}"
                    f"{' (encrypted)' if fatal and fatal['wire'] != 'plaintext' else ''}")
        elif not ok:
            why += (f". OpenSSL: {name} at depth {verdict['depth']} ({message}); "
                    f"{fatal['sender'] if fatal else 'nobody'} sent "
                    f"{'fatal ' + fatal['description'] if fatal else 'no alert'}"
                    f"{' (encrypted)' if fatal and fatal['wire'] != 'plaintext' else ''}")
        conns.append({
            "id": cid,
            "pcaptls_id": f"{EXPC_IP}:{res['client_port']}-{c.server.ip}:{c.server.port}",
            "client": {"ip": EXPC_IP, "port": res["client_port"]},
            "server": {"ip": c.server.ip, "port": c.server.port},
            "server_name": c.server.name,
            "role": c.server.role,
            "protocol": "xmpp-starttls" if c.server.app == "xmpp" else "https",
            "target": c.target,
            "sni": None if c.by_ip else c.target,
            "version": res["version"] or {0x0303: "TLSv1.2", 0x0304: "TLSv1.3"}[version_id],
            "version_id": version_id,
            "cipher": res["cipher_name"] or CIPHER_NAMES.get(cipher_id),
            "cipher_id": cipher_id,
            "certificates_visible": not tls13 and bool(chain),
            "hello_retry": hello_retry,
            "session_reused": reused,
            "resumed": c.server.resumption if reused else None,
            "offered_session": bool(res.get("offered_session")),
            "client_chain_sha256": [_sha256(d) for d in client_chain],
            "ssl_error": None if ok else res["error"],
            "server_chain_sha256": [_sha256(d) for d in chain],
            "server_chain_subjects": [] if reused else [x.subject for x in c.server.chain],
            "server_key": _key_kind(c.server.chain[0]),
            "certificate_request": sent_cr,
            "alerts": alerts,
            "verify": verify,
            "outcome": "ok" if ok else "failed",
            "why": why,
            "http_request": None if c.server.app == "xmpp" else f"GET {c.path} HTTP/1.1",
            "http_status": res.get("status_line"),
            "times": {k: res.get(k) for k in ("t_connect", "t_hello", "t_handshake_end",
                                               "t_request", "t_response", "t_closed")},
        })
    return conns


def _read_json(path: Path) -> Any:
    return json.loads(path.read_text()) if path.exists() else None


def _sha256(der: bytes) -> str:
    import hashlib

    return hashlib.sha256(der).hexdigest()


def _key_kind(cert: Issued) -> str:
    from cryptography.hazmat.primitives.asymmetric import ec, rsa

    key = cert.key
    if isinstance(key, rsa.RSAPrivateKey):
        return f"RSA {key.key_size}"
    if isinstance(key, ec.EllipticCurvePrivateKey):
        return f"ECDSA {key.curve.name}"
    return type(key).__name__


# ------------------------------------------------------------------------- the Expressway log


def _stamp(t: float) -> tuple[str, str]:
    """(local ISO time with offset and ms, UTCTime field value) for epoch ``t``, same ms."""
    ms = int(round(t * 1000))
    utc = dt.datetime.fromtimestamp(ms // 1000, dt.timezone.utc).replace(
        microsecond=(ms % 1000) * 1000)
    local = utc.astimezone(LOG_TZ)
    return (local.isoformat(timespec="milliseconds"),
            utc.strftime("%Y-%m-%d %H:%M:%S,") + f"{ms % 1000:03d}")


def _b64_target(host: str, port: int) -> str:
    raw = f"{DOMAIN}/https/{host}/{port}".encode()
    return base64.urlsafe_b64encode(raw).decode().rstrip("=")


class LogWriter:
    """Collects Expressway-C diagnostic log entries, then writes them in time order."""

    def __init__(self, offset: float) -> None:
        self.offset = offset
        self.entries: list[tuple[float, int, str, list[str], str | None, str]] = []

    def add(self, t: float, text: str, conn: str | None, kind: str,
            block: list[str] | None = None) -> None:
        self.entries.append((t + self.offset, len(self.entries), text, block or [], conn, kind))

    def write(self, path: Path) -> list[dict[str, Any]]:
        lines: list[str] = []
        index: list[dict[str, Any]] = []
        for t, _, text, block, conn, kind in sorted(self.entries):
            local, utc = _stamp(t)
            lines.append(text.replace("{LOCAL}", local).replace("{UTC}", utc))
            index.append({"line": len(lines), "connection": conn, "kind": kind})
            if block:
                lines.append("HTTPMSG:")
                index.append({"line": len(lines), "connection": conn, "kind": "httpmsg"})
                for b in block:
                    lines.append("|" + b)
                    index.append({"line": len(lines), "connection": conn, "kind": "httpmsg"})
        path.write_text("\n".join(lines) + "\n")
        return index


def _ts_line(txn_detail: str, level: str = "INFO") -> str:
    return (f'{{LOCAL}} vcsc traffic_server[{TS_PID}]: UTCTime="{{UTC}}" '
            f'Module="network.http.trafficserver" Level="{level}": {txn_detail}')


# OpenSSL 3 reason (as Python's SSLError names it) -> the OpenSSL 1.1 error Expressway logs.
_OPENSSL1_ERRORS = {
    "DECRYPTION_FAILED_OR_BAD_RECORD_MAC":
        "error:1408F119:SSL routines:ssl3_get_record:decryption failed or bad record mac",
}


def _ssl_reason(error: str | None) -> str:
    m = re.search(r"\[SSL: ([A-Z0-9_]+)\]", error or "")
    if not m or m.group(1) not in _OPENSSL1_ERRORS:
        raise LabError(f"no Expressway wording for the handshake error {error!r}")
    return m.group(1)


def _et_net(n: int, text: str) -> str:
    return f"{{LOCAL}} vcsc traffic_server[{TS_PID}]: [ET_NET {n}] {text}"


def write_log(sc: Scenario, conns: list[dict[str, Any]], path: Path) -> list[dict[str, Any]]:
    log = LogWriter(sc.log_offset)
    first = min(c["times"]["t_connect"] for c in conns)
    last = max(c["times"]["t_closed"] for c in conns)
    _unrelated(log, first, last)
    for n, c in enumerate(conns):
        t = c["times"]
        cid, target, port = c["id"], c["target"], c["server"]["port"]
        ip = c["server"]["ip"]
        if c["protocol"] == "xmpp-starttls":
            _xmpp_lines(log, c)
            continue
        txn = 191 + n
        tracking = str(uuid.uuid4())
        edge_port = 35766 + 2 * n
        inbound = f"/{_b64_target(target, port)}{c['http_request'].split(' ')[1]}"
        log.add(t["t_connect"] - 0.004, _ts_line(
            f'Detail="Receive Request" Txn-id="{txn}" TrackingID="{tracking}" '
            f'Src-ip="127.0.0.1" Src-port="{edge_port}" Msg="GET {inbound} HTTP/1.1"'),
            cid, "receive_request",
            [f"GET {inbound} HTTP/1.1", f"Host: vcsc.{DOMAIN}", "User-Agent: Jabber/14.1",
             "Authorization: Bearer <redacted>", f"X-Cisco-TrackingID: {tracking}"])
        log.add(t["t_connect"], _ts_line(
            f'Detail="Sending Request" Txn-id="{txn}" TrackingID="{tracking}" Dst-ip="{ip}" '
            f'Dst-port="{port}" Msg="{c["http_request"]}"'),
            cid, "sending_request",
            [c["http_request"], f"Host: {target}:{port}", "User-Agent: TrafficServer/9.1.4",
             "Accept: */*"])
        if c["outcome"] == "ok":
            status = c["http_status"]
            log.add(t["t_response"], _ts_line(
                f'Detail="Receive Response" Txn-id="{txn}" TrackingID="{tracking}" '
                f'Src-ip="{ip}" Src-port="{port}" Msg="{status}"'),
                cid, "receive_response",
                [status, "Content-Type: text/xml", "Connection: close"])
            log.add(t["t_response"] + 0.001, _ts_line(
                f'Detail="Sending Response" Txn-id="{txn}" TrackingID="" Dst-ip="127.0.0.1" '
                f'Dst-port="{edge_port}" Msg="{status}"'),
                cid, "sending_response")
            continue
        v = c["verify"]
        thread = n % 4
        reason = "error:1416F086:SSL routines:tls_process_server_certificate:certificate verify failed"
        if v["result"] == "OK":  # the chain passed; the handshake failed afterwards
            reason = _OPENSSL1_ERRORS[_ssl_reason(c["ssl_error"])]
        elif v["result"] in ("IP_ADDRESS_MISMATCH", "HOSTNAME_MISMATCH"):
            log.add(t["t_handshake_end"], _et_net(
                thread, f"WARNING: SNI ({target}) not in certificate. Action=Terminate "
                        f"server={target}({ip})"), cid, "name_failed")
        else:
            log.add(t["t_handshake_end"], _et_net(
                thread, f"WARNING: Core server certificate verification failed for ({target}). "
                        f"Action=Terminate Error={v['log_message']} server={target}({ip}) "
                        f"depth={v['depth']}"), cid, "verify_failed")
        log.add(t["t_handshake_end"] + 0.0002, _et_net(
            thread, f"ERROR: SSL connection failed for '{target}': {reason}"),
            cid, "ssl_failed")
        log.add(t["t_handshake_end"] + 0.008, _ts_line(
            f'Detail="Sending Response" Txn-id="{txn}" TrackingID="" Dst-ip="127.0.0.1" '
            f'Dst-port="{edge_port}" Msg="HTTP/1.1 502 connect failed"'),
            cid, "sending_response",
            ["HTTP/1.1 502 connect failed", "Connection: keep-alive", "Cache-Control: no-store",
             "Content-Type: text/html", "Content-Language: en", "Content-Length: 247"])
    return log.write(path)


def _xcp(thread: str, detail: str) -> str:
    return (f'{{LOCAL}} vcsc XCP_JABBERD[{XCP_PID}]: UTCTime="{{UTC}}" ThreadID="{thread}" '
            f'Module="cisco.xcp.jabberd" Level="INFO " CodeLocation="xcp/c2s" {detail}')


def _xmpp_lines(log: LogWriter, c: dict[str, Any]) -> None:
    t, cid = c["times"], c["id"]
    addr = f'Server="{c["target"]}" Address="{c["server"]["ip"]}:{c["server"]["port"]}"'
    log.add(t["t_connect"], _xcp("4076723008", f'Detail="Connecting to IM&P" {addr}'),
            cid, "xmpp_connect")
    if c["outcome"] == "ok":
        log.add(t["t_handshake_end"], _xcp(
            "4076723008", f'Detail="STARTTLS negotiated" {addr} Protocol="{c["version"]}" '
                          f'Cipher="{c["cipher"]}"'), cid, "xmpp_tls")
    else:
        log.add(t["t_handshake_end"], _xcp(
            "4076723008", f'Detail="STARTTLS failed" {addr} Reason="{c["verify"]["log_message"]}"'),
            cid, "xmpp_tls")
    log.add(t["t_closed"], _xcp("4076723008", f'Detail="Stream closed" {addr}'),
            cid, "xmpp_close")


def _unrelated(log: LogWriter, first: float, last: float) -> None:
    """Lines a real snapshot holds around the traffic: nothing to do with the handshakes."""
    local, _ = _stamp(first - 1.2 + log.offset)
    evt_time = local[:19].replace("-", "/").replace("T", "-")
    log.add(first - 2.5, ('{LOCAL} vcsc tvcs: UTCTime="{UTC}" Event="Diagnostic Logging '
                          'Started" Module="developer.diagnostics" Level="1"'), None, "event")
    log.add(first - 1.2, (f'{{LOCAL}} vcsc tvcs: Event="Registration Accepted" Service="SIP" '
                          f'Src-ip="192.168.10.51" Src-port="5061" Protocol="TLS" '
                          f'AOR="sip:emusk@{DOMAIN}" Duration="3600" Time="{evt_time}" '
                          'Level="1"'), None, "event")
    log.add(first - 0.8, _xcp("4101901120", 'Detail="Component connected" '
                                            'Component="cm-2_jsmcp-1.vcsc.steven.lab"'),
            None, "xcp")
    log.add(first - 0.5, (f'{{LOCAL}} vcsc traffic_server[{TS_PID}]: UTCTime="{{UTC}}" '
                          'Module="network.http.trafficserver" Level="DEBUG": Detail="Cache '
                          'lookup" Txn-id="190" Msg="miss"'), None, "other")
    log.add(last + 0.3, ('{LOCAL} vcsc tvcs: UTCTime="{UTC}" Event="Authentication '
                         'Succeeded" Service="HTTP" Src-ip="127.0.0.1" User="emusk" '
                         'Detail="OAuth token refreshed" Level="1"'), None, "event")
    log.add(last + 0.9, _xcp("4101901120", 'Detail="Presence update routed" '
                                           f'From="emusk@{DOMAIN}/jabber_1"'), None, "xcp")


# ------------------------------------------------------------------------------- manifest


def _cert_info(c: Issued) -> dict[str, Any]:
    cert = c.cert
    return {"subject": cert.subject.rfc4514_string(), "issuer": cert.issuer.rfc4514_string(),
            "sha256": c.sha256}


def _midstream(pcap: Path, out: Path, conns: list[dict[str, Any]]) -> dict[str, Any]:
    """Write ``out``: ``pcap`` from just after the first server data packet of connection 1."""
    header, records = _pcapfile.read(str(pcap))
    segs = _pcapfile.segments(records)
    c1 = conns[0]
    srv = (c1["server"]["ip"], c1["server"]["port"])
    cli = (c1["client"]["ip"], c1["client"]["port"])
    cut = next(s.index for s in segs if s.src == srv and s.dst == cli and s.payload)
    _pcapfile.write(str(out), header, records[cut + 1:])
    partial, lost, first = [], {}, {}
    for c in conns:
        cli_ep = (c["client"]["ip"], c["client"]["port"])
        srv_ep = (c["server"]["ip"], c["server"]["port"])
        mine = [s for s in segs if {s.src, s.dst} == {cli_ep, srv_ep}]
        if mine and mine[0].index <= cut:
            partial.append(c["id"])
            cli_data = next((s.index for s in mine if s.src == cli_ep and s.payload), None)
            srv_data = next((s.index for s in mine if s.src == srv_ep and s.payload), None)
            lost[c["id"]] = ["syn"] + [
                part for part, i in (("client_hello", cli_data), ("server_hello", srv_data))
                if i is not None and i <= cut]
        left = [s.index for s in mine if s.index > cut]
        if left:
            first[c["id"]] = left[0] - cut
    return {"file": out.name, "dropped_frames": cut + 1, "partial_connections": partial,
            "lost": lost, "first_frames": first,
            "note": "the first frames are cut up to and including the first server data segment "
                    "of c1 (its ServerHello and the start of its Certificate); connections listed "
                    "as partial lost their start ('lost' says which parts: syn, client_hello, "
                    "server_hello), all others are whole and read as in capture.pcap"}


def finish_scenario(sc: Scenario, results: dict[str, Any], records: list[dict[str, Any]],
                    pcap: Path, work: Path, dest: Path) -> dict[str, Any]:
    trust = work / "truststore.pem"
    conns = build_connections(sc, results, records, trust, work)
    dest.mkdir(parents=True, exist_ok=True)
    for old in dest.iterdir():
        if old.is_file():
            old.unlink()
    shutil.copyfile(pcap, dest / "capture.pcap")
    shutil.copyfile(trust, dest / "truststore.pem")
    if sc.keylog:
        _merge_keylogs([work / "keylog-client.txt", work / "keylog-server.txt"],
                       dest / "keylog.txt")
    log_index = write_log(sc, conns, dest / "expressway.log")
    segs = _pcapfile.segments(_pcapfile.read(str(pcap))[1])
    disorder = _pcapfile.disorder(segs)
    for c in conns:
        key = {(c["client"]["ip"], c["client"]["port"]), (c["server"]["ip"], c["server"]["port"])}
        mine = [s for s in segs if {s.src, s.dst} == key]
        c["first_frame"] = mine[0].index + 1  # 1-based, as tshark counts
        c["start"] = mine[0].time  # the capture's timestamp of that frame (UTC epoch)
        c["tcp_frames"] = len(mine)
    manifest: dict[str, Any] = {
        "scenario": sc.name,
        "description": sc.description,
        "files": {"capture": "capture.pcap", "log": "expressway.log",
                  "truststore": "truststore.pem"},
        "generated_by": "captures/lab.py",
        "tls_stack": ssl.OPENSSL_VERSION,
        "expressway_c": EXPC_IP,
        "truststore": [_cert_info(c) for c in sc.trust],
        "log_utc_offset": "+02:00",
        "log_clock_offset_seconds": sc.log_offset,
        "log_clock_note": ("the log's clock (both its local time and UTCTime) runs this many "
                           "seconds ahead of the capture's" if sc.log_offset else
                           "log and capture share one clock"),
        "network": {
            "impairment": sc.mess and {
                "how": "captures/_mess.py: userspace Ethernet bridge between Expressway-C and the "
                       "servers; connections numbered in SYN order (c1 = 1), segments = "
                       "server-to-client segments with new data, numbered per connection",
                **sc.mess, "done": _read_json(work / "mess-report.json")},
            "server_to_client_disorder": {
                f"{k[0][0]}:{k[0][1]}->{k[1][0]}:{k[1][1]}": v
                for k, v in disorder.items() if k[0][0] != EXPC_IP and any(v.values())},
        },
        "connections": conns,
        "log_lines": log_index,
    }
    if sc.keylog:
        manifest["files"]["keylog"] = "keylog.txt"
        manifest["keylog_note"] = ("NSS key log: the client's lines (SSLContext.keylog_filename), "
                                   "then the server's that the client did not write")
    if sc.midstream:
        manifest["midstream"] = _midstream(pcap, dest / "midstream.pcap", conns)
        manifest["files"]["midstream"] = "midstream.pcap"
    (dest / "manifest.json").write_text(json.dumps(manifest, indent=1) + "\n")
    return manifest


def _merge_keylogs(sources: list[Path], out: Path) -> None:
    """One NSS key log from both peers' files: every secret once, in the order written."""
    seen: set[str] = set()
    lines = []
    for src in sources:
        for line in src.read_text().splitlines() if src.exists() else []:
            if line.strip() and not line.startswith("#") and line not in seen:
                seen.add(line)
                lines.append(line)
    if not lines:
        raise LabError(f"the peers wrote no key log ({', '.join(p.name for p in sources)})")
    out.write_text("\n".join(lines) + "\n")


def _messy_enough(pcap: Path) -> tuple[bool, str]:
    """At least one certificate flight out of order, and at least one retransmitted segment."""
    segs = _pcapfile.segments(_pcapfile.read(str(pcap))[1])
    dis = _pcapfile.disorder(segs)
    server_side = {k: v for k, v in dis.items() if k[0][0] != EXPC_IP}
    ooo = sum(v["out_of_order"] for v in server_side.values())
    rep = sum(v["repeated"] for v in dis.values())
    return ooo > 0 and rep > 0, f"out-of-order {ooo}, repeated {rep}"


# ------------------------------------------------------------------------------------- main


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--out", type=Path, default=HERE, help="where scenario folders go")
    ap.add_argument("--only", action="append", default=[], metavar="SCENARIO",
                    help="run only this scenario (repeatable)")
    ap.add_argument("--extras-only", action="store_true",
                    help=f"only rewrite the derived files of {', '.join(EXTRAS)} (duplicate-CN "
                         "trust store, diagnostic bundle) from the existing folders; no root "
                         "needed")
    args = ap.parse_args(argv)
    if args.extras_only:
        for name in args.only or EXTRAS:
            if name not in EXTRAS:
                print(f"lab.py: {name} has no extras; those with: {list(EXTRAS)}", file=sys.stderr)
                return 2
            written = _extras.write_extras(args.out / name)
            print(f"{name}: " + ", ".join(p.name for p in written))
        return 0
    if os.geteuid() != 0:
        print("lab.py: needs root (network namespaces, tcpdump)", file=sys.stderr)
        return 2
    for tool in ("ip", "tcpdump", "ethtool", "tc", "openssl"):
        if shutil.which(tool) is None:
            print(f"lab.py: {tool} is missing (apt-get install iproute2 tcpdump ethtool openssl)",
                  file=sys.stderr)
            return 2

    def on_term(signum, frame):  # noqa: ARG001
        raise SystemExit(128 + signum)

    signal.signal(signal.SIGTERM, on_term)
    pki = Pki()
    builders = scenarios(pki)
    names = args.only or list(builders)
    unknown = [n for n in names if n not in builders]
    if unknown:
        print(f"lab.py: unknown scenario(s) {unknown}; known: {list(builders)}", file=sys.stderr)
        return 2
    started = time.time()
    for name in names:
        t0 = time.time()
        sc = builders[name]()
        for attempt in range(1, 5):
            with tempfile.TemporaryDirectory(prefix="pcaptls-lab-") as tmp:
                work = Path(tmp)
                results, records, pcap = run_scenario(sc, work)
                if sc.want_disorder:
                    enough, what = _messy_enough(pcap)
                    if not enough and attempt < 4:
                        print(f"  {name}: not messy enough ({what}), again", file=sys.stderr)
                        continue
                manifest = finish_scenario(sc, results, records, pcap, work, args.out / name)
            break
        if name in EXTRAS:
            _extras.write_extras(args.out / name, pki.now)
        verdicts = ", ".join(f"{c['id']} {c['outcome']}"
                             + ("" if c["outcome"] == "ok" else f" {c['verify']['result']}")
                             for c in manifest["connections"])
        print(f"{name}: {verdicts} ({time.time() - t0:.1f}s)")
    print(f"lab: {len(names)} scenario(s) in {time.time() - started:.1f}s -> {args.out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
