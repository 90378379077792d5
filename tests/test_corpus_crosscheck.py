"""pcaptls against tshark on every capture of the public corpus, connection by connection.

For each TCP connection in which tshark sees a TLS handshake, pcaptls must report the same
SNI, negotiated version, cipher suite, server chain (SHA-256 of each DER, wire order) and
plaintext alerts (sender, code); and, for the first ClientHello and ServerHello, the same lists
(cipher suites, extension types in wire order, supported groups, signature_algorithms, EC point
formats; the ServerHello's extension types) and the same JA3 and JA3S strings as tshark 4.0's
``tls.handshake.ja3_full``/``ja3s_full``. (tshark 4.0 has no JA4 field: JA4 is held to the JA4
project's own expected outputs in ``tests/tls/test_fingerprints.py``.) Connections pcaptls finds that tshark does not (TLS on ports
tshark has no dissector for) are checked again with tshark told the port is TLS.
"""

from __future__ import annotations

from pathlib import Path

from pcaptls.pipeline.analysis import analyse
from tests.helpers.crosscheck import compare_file
from tests.helpers.oracle import tshark_connections

# Where pcaptls and tshark legitimately differ; each one is explained.
EXPLAINED = {
    # The server's Certificate message is malformed (its length fields disagree); tshark reports an
    # empty chain, pcaptls reports none and flags the message as malformed.
    ("tls__tls1.2-protocol-violation.pcap", 0): "chain",
}


def test_corpus_agrees_with_tshark(corpus: list[Path], tshark: str) -> None:
    total = agree = 0
    unexplained = []
    differing: set[tuple[str, int]] = set()
    for path in corpus:
        for o in compare_file(str(path)):
            total += 1
            if not o.diffs:
                agree += 1
                continue
            key = (o.file, o.stream)
            differing.add(key)
            fields = {d.split(":")[0] for d in o.diffs}
            if key in EXPLAINED and fields == {EXPLAINED[key]}:
                continue
            unexplained.append(f"{o.file} stream {o.stream}: {'; '.join(o.diffs)}")
    assert total > 150, f"tshark saw only {total} TLS connections in the corpus"
    rate = agree / total
    print(f"corpus agreement: {agree}/{total} = {rate:.1%}")
    assert rate >= 0.99, f"agreement {rate:.1%}"
    gone = set(EXPLAINED) - differing
    assert not gone, f"explained differences that are gone (drop them from EXPLAINED): {sorted(gone)}"
    assert not unexplained, "\n".join(unexplained)


def test_tls_on_unusual_ports_confirmed_by_tshark(corpus: list[Path], tshark: str) -> None:
    """TLS pcaptls finds on ports tshark does not decode (e.g. a scanner's ClientHello on 502)."""
    checked = 0
    for path in corpus:
        ours = analyse(path).connections
        theirs = tshark_connections(str(path))
        seen = {frozenset(t.ends) for t in theirs.values()}
        for c in ours:
            ends = frozenset({(c.client.ip, c.client.port), (c.server.ip, c.server.port)})
            if ends in seen or not c.client_hello_seen or c.version_id == 0x0002:
                continue  # (tshark files SSL 2.0 records under other fields than the oracle reads)
            forced = tshark_connections(str(path), ["-d", f"tcp.port=={c.server.port},tls"])
            match = [t for t in forced.values() if frozenset(t.ends) == ends]
            assert match, f"{path.name}: pcaptls sees TLS on {c.id}, tshark does not even when told"
            assert match[0].sni == c.sni and match[0].version == c.version_id
            checked += 1
    print(f"{checked} connections confirmed with tshark told the port")


def test_tls_on_any_port(tmp_path: Path, tshark: str) -> None:
    """A real handshake on 6972 (CUCM TFTP over HTTPS): found by content, as tshark finds it when told."""
    from tests.helpers import pcapgen

    pki = pcapgen.make_chain(cn="cucm.example.com", ecdsa=True, self_signed=True)
    wire, _ = pcapgen.handshake_bytes(pki, sni="cucm.example.com", trust_pem=pcapgen.make_chain().ca_pem)
    path = tmp_path / "p6972.pcap"
    pcapgen.write_pcap(path, pcapgen.tcp_flow(wire, pcapgen.Endpoints(sport=6972)))
    (c,) = analyse(path).connections
    assert c.server.port == 6972 and c.sni == "cucm.example.com"
    assert c.fatal_alert is not None and c.fatal_alert.description == "unknown_ca" and c.fatal_alert.sender == "client"
    (t,) = tshark_connections(str(path), ["-d", "tcp.port==6972,tls"]).values()
    assert (t.sni, t.version, t.cipher) == (c.sni, c.version_id, c.cipher_id)
    assert t.alerts == [(f"{c.client.ip}|{c.client.port}", 48)]
