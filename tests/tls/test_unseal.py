"""Decrypted handshakes and alerts against tshark given the same key log, on captures of real
OpenSSL peers (``captures/keylog``, recorded by its ``record.py``; the lab's key-log scenarios
``captures/11-tls13-keylog`` and ``12-tls12-keylog``, whose Python ssl peers wrote ``keylog.txt``)
and on the corpus capture that carries its secrets in a Decryption Secrets Block; both engines;
wrong keys and damaged records."""

from __future__ import annotations

import hashlib
import json
import subprocess
from collections import defaultdict
from dataclasses import replace
from pathlib import Path

import pytest

from pcaptls.capture.files import iter_frames
from pcaptls.capture.frames import ReadStats
from pcaptls.pipeline import analysis
from pcaptls.pipeline.analysis import analyse
from pcaptls.pipeline.engines import rust_available
from pcaptls.tls import keylog
from pcaptls.tls.model import TlsConnection
from pcaptls.tls.unseal import unseal
from tests.helpers.paths import CAPTURES, require_corpus_file

KEYS = CAPTURES / "keylog"
DSB_CORPUS = "ja4_chrome-cloudflare-quic-with-secrets.pcapng"


def _tshark(tshark: str, path: Path, keys: Path | None,
            ports: tuple[int, ...] = ()) -> dict[tuple[int, int], dict[str, list]]:  # type: ignore[type-arg]
    """(client port, server port) -> per sender ("client"/"server", by port): handshake types,
    alerts (level, code), certificate chains (sha256), as tshark decrypts them."""
    opts = ["-o", f"tls.keylog_file:{keys}"] if keys else []
    for port in ports:  # the lab's servers on ports tshark does not take for TLS by itself
        opts += ["-d", f"tcp.port=={port},tls"]
    out = subprocess.run(
        [tshark, "-n", "-r", str(path), *opts, "-Y", "tls", "-T", "fields", "-E", "occurrence=a", "-E", "aggregator=|",
         "-e", "tcp.srcport", "-e", "tcp.dstport", "-e", "tls.handshake.type", "-e", "tls.alert_message.level",
         "-e", "tls.alert_message.desc", "-e", "tls.handshake.certificate"],
        capture_output=True, text=True, check=True, timeout=120).stdout
    conns: dict[tuple[int, int], dict[str, list]] = defaultdict(lambda: defaultdict(list))  # type: ignore[type-arg]
    for line in out.splitlines():
        sport, dport, types, levels, descs, certs = (line.split("\t") + [""] * 6)[:6]
        client = int(sport) > int(dport)  # the lab's servers listen on the low ports
        key = (int(sport), int(dport)) if client else (int(dport), int(sport))
        who = "client" if client else "server"
        c = conns[key]
        c[who + "_types"] += [int(t) for t in types.split("|") if t]
        c[who + "_alerts"] += list(zip(map(int, filter(None, levels.split("|"))), map(int, filter(None, descs.split("|")))))
        if certs:
            c[who + "_chains"].append([hashlib.sha256(bytes.fromhex(x.replace(":", ""))).hexdigest()
                                       for x in certs.split("|")])
    return conns


def _ours(c: TlsConnection) -> dict[str, list]:  # type: ignore[type-arg]
    out: dict[str, list] = defaultdict(list)  # type: ignore[type-arg]
    for e in c.handshake:
        if e.type >= 0:
            out[e.sender + "_types"].append(e.type)
    for a in c.alerts:
        out[a.sender + "_alerts"].append((a.level, a.code))
    for who, chain in (("server", c.server_certs), ("client", c.client_certs)):
        if chain:
            out[who + "_chains"].append([hashlib.sha256(d).hexdigest() for d in chain])
    return out


@pytest.mark.engines
@pytest.mark.parametrize("name", ["tls13", "tls12"])
def test_agrees_with_tshark(name: str, tshark: str) -> None:
    path, keys = KEYS / f"{name}.pcap", KEYS / f"{name}.keys"
    theirs = _tshark(tshark, path, keys)
    a = analyse(path, keys=keylog.load(keys))
    assert len(a.connections) == len(theirs) == (9 if name == "tls13" else 6)
    for c in a.connections:
        t = theirs[(c.client.port, c.server.port)]
        ours = _ours(c)
        for who in ("client", "server"):
            if name == "tls13":
                # Application-epoch records larger than an alert are not opened (application
                # data); a NewSessionTicket may be one of them (OpenSSL's carry the client's
                # certificate): only those it opened are listed.
                assert [x for x in ours[who + "_types"] if x != 4] == [x for x in t[who + "_types"] if x != 4]
                assert ours[who + "_types"].count(4) <= t[who + "_types"].count(4)
            elif c.server.port == 9447 and who == "client":
                # After its renegotiation's ChangeCipherSpec the client writes with the second
                # handshake's keys: its Finished there is not read (tshark chains the keys).
                assert ours[who + "_types"] == t[who + "_types"][:-1] and t[who + "_types"][-1] == 20
            else:
                assert ours[who + "_types"] == t[who + "_types"], (c.id, who)
            assert ours[who + "_alerts"] == t[who + "_alerts"], (c.id, who)
            # tshark lists every Certificate message; pcaptls keeps a side's first chain.
            assert ours[who + "_chains"] == t[who + "_chains"][:1], (c.id, who)
        assert not [x for x in c.anomalies if x.kind in ("decrypt", "malformed")], c.id


LAB_KEYLOG = ["11-tls13-keylog", "12-tls12-keylog"]


@pytest.mark.engines
@pytest.mark.parametrize("name", LAB_KEYLOG)
def test_lab_agrees_with_tshark(name: str, tshark: str) -> None:
    """Every decrypted field (handshake messages by sender, alerts, both chains) as tshark reads
    them with the peers' key log, and as OpenSSL sent them (the manifest, from its message
    callbacks): the HelloRetryRequest, the client certificate, the encrypted CertificateRequest
    and self-signed P-384 chain on 6972, ChaCha20-Poly1305, the encrypted bad_record_mac."""
    folder = CAPTURES / name
    m = json.loads((folder / "manifest.json").read_text())
    keys = folder / m["files"]["keylog"]
    theirs = _tshark(tshark, folder / "capture.pcap", keys, tuple(sorted({c["server"]["port"] for c in m["connections"]})))
    a = analyse(folder / "capture.pcap", keys=keylog.load(keys))
    assert len(a.connections) == len(theirs) == len(m["connections"])
    by_id = {c.id: c for c in a.connections}
    for cm in m["connections"]:
        c = by_id[cm["pcaptls_id"]]
        t = theirs[(c.client.port, c.server.port)]
        ours = _ours(c)
        for who in ("client", "server"):
            types = ours[who + "_types"]
            if c.is_tls13 and cm["outcome"] == "ok":
                # A NewSessionTicket travels in the application epoch: pcaptls does not open
                # records there larger than an alert (see test_agrees_with_tshark).
                assert [x for x in types if x != 4] == [x for x in t[who + "_types"] if x != 4], (cm["id"], who)
            else:
                assert types == t[who + "_types"], (cm["id"], who)
            assert ours[who + "_alerts"] == t[who + "_alerts"], (cm["id"], who)
            assert ours[who + "_chains"] == t[who + "_chains"][:1], (cm["id"], who)
        # ... and what OpenSSL itself sent.
        assert ours["server_chains"] == [cm["server_chain_sha256"]]
        assert ours["client_chains"] == ([cm["client_chain_sha256"]] if cm["client_chain_sha256"] else [])
        for who in ("client", "server"):
            assert ours[who + "_alerts"] == [(x["level"], x["code"]) for x in cm["alerts"] if x["sender"] == who]
        assert (13 in ours["server_types"]) == cm["certificate_request"]
        assert c.hello_retry == cm["hello_retry"] and ours["server_types"].count(2) == 1 + cm["hello_retry"]
        assert (c.version_id, c.cipher_id) == (cm["version_id"], cm["cipher_id"])
        # A record OpenSSL rejected (the damaged Finished) is one pcaptls cannot open either.
        assert bool([x for x in c.anomalies if x.kind == "decrypt"]) == bool(
            cm["ssl_error"] and "BAD_RECORD_MAC" in cm["ssl_error"]), cm["id"]
    if name == "11-tls13-keylog":
        assert "TLS_CHACHA20_POLY1305_SHA256" in {cm["cipher"] for cm in m["connections"]}
    else:  # the fatal alert OpenSSL sent encrypted, opened
        assert [(x["description"], x["wire"]) for cm in m["connections"] for x in cm["alerts"] if x["level"] == 2][0] == (
            "bad_record_mac", "encrypted")


def _by_port(a: analysis.Analysis) -> dict[int, TlsConnection]:
    return {c.server.port: c for c in a.connections if c.server.port != 8448} | {
        c.client.port: c for c in a.connections if c.server.port == 8448}


@pytest.mark.engines
def test_what_decryption_shows() -> None:
    a = analyse(KEYS / "tls13.pcap", keys=keylog.load(KEYS / "tls13.keys"))
    p = {c.server.port: c for c in a.connections if c.server.port != 8448}
    # The 6972 server: its self-signed P-384 certificate, its CertificateRequest, and the
    # client's encrypted unknown_ca as the reason.
    c = p[6972]
    assert c.status == "failed" and c.reason == "client sent fatal alert unknown_ca (48)"
    assert c.certificate_request and len(c.server_certs) == 1 and c.handshake_decrypted
    # Client certificate and a KeyUpdate; the close_notify after it opened with the next key.
    c = p[8450]
    assert len(c.client_certs) == 2 and c.certificate_request  # leaf and the CA (s_client sends it)
    assert [e.sender for e in c.handshake if e.type == 24] == ["client"]
    assert ("client", 1, 0) in [(x.sender, x.level, x.code) for x in c.alerts]
    assert p[8447].hello_retry and p[8447].server_certs
    resumed = [c for c in a.connections if c.server.port == 8448][1]
    assert [x.kind for x in resumed.anomalies] == ["early_data"]
    assert 5 in [e.type for e in resumed.handshake]  # EndOfEarlyData, under the early keys
    a12 = analyse(KEYS / "tls12.pcap", keys=keylog.load(KEYS / "tls12.keys"))
    c = {c.server.port: c for c in a12.connections}[9447]
    assert c.reason == "server sent fatal alert unknown_ca (48)"  # was: an encrypted alert
    assert not any(x.encrypted for x in c.alerts)


@pytest.mark.engines
def test_without_keys_nothing_changes() -> None:
    """No key log, or one for other sessions: the connections as the engines report them."""
    plain = analyse(KEYS / "tls13.pcap")
    other = analyse(KEYS / "tls13.pcap", keys=keylog.load(KEYS / "tls12.keys"))
    assert plain.connections == other.connections
    assert all(c.sealed is None and not c.handshake_decrypted for c in plain.connections)


@pytest.mark.engines
def test_wrong_key_is_an_anomaly() -> None:
    real = keylog.load(KEYS / "tls13.keys")
    bad = keylog.KeyLog()
    for cr, d in real.secrets.items():
        bad.secrets[cr] = {k: bytes(b ^ 1 for b in v) for k, v in d.items()}
    a = analyse(KEYS / "tls13.pcap", keys=bad)
    plain = analyse(KEYS / "tls13.pcap")
    for c, p in zip(a.connections, plain.connections):
        assert replace(c, anomalies=p.anomalies) == p
        assert any(x.kind == "decrypt" and "wrong key" in x.detail for x in c.anomalies)
        for x in c.anomalies:  # never a secret in a text
            assert not any(v.hex() in x.detail for d in real.secrets.values() for v in d.values())


def _carried(path: Path, engine: str) -> analysis.Analysis:
    sink = analysis.Collector(None, None)
    sink.sealed = True  # copy, but do not decrypt: what the engine hands over
    if engine == "rust":
        return analysis._rust_share(str(path), None, 0, 1, sink)
    st = ReadStats(path=str(path))
    return analysis._pipeline(iter_frames(path, st), st, None, 0, 1, sink)


def test_corrupted_record_is_an_anomaly(tmp_path: Path) -> None:
    """A bit flipped in the server's encrypted Certificate: the handshake stops decrypting there."""
    kl = keylog.load(KEYS / "tls13.keys")
    conns = _carried(KEYS / "tls13.pcap", "python").connections
    c = next(c for c in conns if c.server.port == 6972)
    assert c.sealed is not None
    recs = list(c.sealed.records)
    i = next(k for k, r in enumerate(recs) if r.sender == "server" and len(r.body) > 500)
    recs[i] = replace(recs[i], body=recs[i].body[:100] + bytes([recs[i].body[100] ^ 1]) + recs[i].body[101:])
    out = unseal(replace(c, sealed=replace(c.sealed, records=tuple(recs))), kl)
    assert not out.server_certs
    assert any(x.kind == "decrypt" and x.sender == "server" for x in out.anomalies)
    assert out.fatal_alert is not None  # the client's records still open


@pytest.mark.skipif(not rust_available(), reason="the Rust engine (pcaptls._core) is not built")
def test_engines_carry_the_same_records() -> None:
    paths = [KEYS / "tls13.pcap", KEYS / "tls12.pcap", KEYS / "tls13-dsb.pcapng",
             CAPTURES / "06-tls13" / "capture.pcap", CAPTURES / "08-messy-network" / "capture.pcap",
             CAPTURES / "08-messy-network" / "midstream.pcap",
             *(CAPTURES / n / "capture.pcap" for n in LAB_KEYLOG)]
    for path in paths:
        r, p = _carried(path, "rust"), _carried(path, "python")
        assert r.connections == p.connections, path
    assert sum(len(c.sealed.records) for c in p.connections if c.sealed) > 0


@pytest.mark.engines
def test_corpus_secrets_block(tshark: str) -> None:
    """Chrome to Cloudflare, secrets in the pcapng: the brotli-compressed chain, as tshark reads it."""
    path = require_corpus_file(DSB_CORPUS)
    a = analyse(path)
    assert len(a.connections) == 1
    c = a.connections[0]
    out = subprocess.run([tshark, "-n", "-r", str(path), "-Y", "tcp && tls.handshake.certificate", "-T", "fields",
                          "-E", "occurrence=a", "-E", "aggregator=|", "-e", "tls.handshake.certificate"],
                         capture_output=True, text=True, check=True, timeout=120).stdout.split()
    assert [hashlib.sha256(d).hexdigest() for d in c.server_certs] == [
        hashlib.sha256(bytes.fromhex(x.replace(":", ""))).hexdigest() for x in out[0].split("|")]
    assert c.alpn == "h2" and c.handshake_decrypted and not c.anomalies
