"""Connections: port reuse, who closed, STARTTLS upgrades of every protocol pcaptls names."""

from __future__ import annotations

from pathlib import Path

import pytest

from pcaptls.pipeline.analysis import analyse
from pcaptls.tcp.flows import FlowTable
from tests.helpers import pcapgen

# Tests of the Python reference's flow table (its patched bounds); the Rust
# table has its own (rust/core/src/tcp) and is held equal to this one by tests/pipeline/test_engines.py.
pytestmark = pytest.mark.reference


@pytest.fixture(scope="module")
def wire() -> list[tuple[int, bytes]]:
    w, err = pcapgen.handshake_bytes(pcapgen.make_chain(), app_data=b"ping")
    assert err is None
    return w


def test_port_reuse_starts_new_connection(tmp_path: Path, wire) -> None:  # type: ignore[no-untyped-def]
    ep = pcapgen.Endpoints()
    frames = (pcapgen.tcp_flow(wire, ep, isn=(100, 200))
              + pcapgen.tcp_flow(wire, ep, t0=1_780_000_010.0, isn=(9000, 7000), rst_by=1))
    p = tmp_path / "reuse.pcap"
    pcapgen.write_pcap(p, frames)
    a, b = analyse(p).connections
    assert a.id == b.id and a.start < b.start
    assert (a.closed_by, a.close_kind) == ("client", "FIN")
    assert (b.closed_by, b.close_kind) == ("server", "RST")
    assert a.status == b.status == "ok"


def test_capture_without_syn(tmp_path: Path, wire) -> None:  # type: ignore[no-untyped-def]
    p = tmp_path / "nosyn.pcap"
    pcapgen.write_pcap(p, pcapgen.tcp_flow(wire, syn=False))
    (c,) = analyse(p).connections
    assert c.sni == "server.example.com" and c.status == "ok"
    assert c.anomalies[0].kind == "no_syn"


PREFIXES = {
    "smtp": (b"EHLO x\r\nSTARTTLS\r\n", b"220 mx ESMTP\r\n250 STARTTLS\r\n220 go ahead\r\n"),
    "imap": (b"a1 STARTTLS\r\n", b"* OK [CAPABILITY IMAP4rev1 STARTTLS] ready\r\na1 OK Begin TLS\r\n"),
    "pop3": (b"STLS\r\n", b"+OK POP3 ready\r\n+OK Begin TLS\r\n"),
    "ftp": (b"AUTH TLS\r\n", b"220 FTP ready\r\n234 AUTH TLS OK\r\n"),
    "xmpp": (b"<stream:stream to='imp.example.com'><starttls xmlns='urn:ietf:params:xml:ns:xmpp-tls'/>",
             b"<stream:stream><stream:features><starttls/></stream:features><proceed xmlns='urn:ietf:params:xml:ns:xmpp-tls'/>"),
    "ldap": (b"0\x1d\x02\x01\x01w\x18\x80\x161.3.6.1.4.1.1466.20037", b"0\x0c\x02\x01\x01x\x07\n\x01\x00\x04\x00\x04\x00"),
    "postgresql": (b"\x00\x00\x00\x08\x04\xd2\x16\x2f", b"S"),
    "mysql": (b"\x20\x00\x00\x01\x0f\xae\x00\x00" + b"\0" * 28, b"\x4a\x00\x00\x00\x0a8.0.36\x00" + b"\0" * 60),
}


@pytest.mark.parametrize("proto", sorted(PREFIXES))
def test_starttls_upgrades(tmp_path: Path, wire, proto: str) -> None:  # type: ignore[no-untyped-def]
    client, server = PREFIXES[proto]
    msgs = [(1, server[: len(server) // 2]), (0, client), (1, server[len(server) // 2 :]), *wire]
    p = tmp_path / f"{proto}.pcap"
    pcapgen.write_pcap(p, pcapgen.tcp_flow(msgs, pcapgen.Endpoints(sport=4000)))
    (c,) = analyse(p).connections
    assert c.starttls == proto and c.sni == "server.example.com" and c.status == "ok"
    assert c.client.port == 50000  # the side that sent the ClientHello, even though the server spoke first


def test_snaplen_capture_is_marked_not_misread(tmp_path: Path, wire) -> None:  # type: ignore[no-untyped-def]
    """tcpdump -s 200: hellos survive partly, certificates do not; nothing is invented."""
    p = tmp_path / "snap.pcap"
    pcapgen.write_pcap(p, pcapgen.tcp_flow(wire), snaplen=200)
    a = analyse(p)
    assert a.stats.snapped > 0
    (c,) = a.connections
    assert c.server_certs == ()
    assert any(x.kind == "gap" for x in c.anomalies)


@pytest.mark.parametrize("rst_by", [0, None])
def test_closed_connections_leave_the_table_after_linger(rst_by: int | None, tmp_path: Path, wire,  # type: ignore[no-untyped-def]
                                                          monkeypatch: pytest.MonkeyPatch) -> None:
    """Connections closed by RST or by FIN both ways wait CLOSED_LINGER seconds of capture time
    for late packets, then are retired at the next sweep: not counted as evicted, all reported."""
    from pcaptls.tcp import flows

    monkeypatch.setattr(flows, "SWEEP_EVERY", 512)
    monkeypatch.setattr(flows, "CLOSED_LINGER", 1.0)
    live: list[int] = []
    sweep = FlowTable.sweep

    def spy(self: FlowTable, now: float) -> None:
        sweep(self, now)
        live.append(len(self.table) // 2)

    monkeypatch.setattr(FlowTable, "sweep", spy)
    p = tmp_path / "storm.pcap"
    pcapgen.retry_storm(p, wire, 3000, gap=0.01, rst_by=rst_by)
    a = analyse(p)
    assert len(a.connections) == 3000 and a.evicted == 0
    per_sweep = 512 // 8 + 1  # connections started between two sweeps (at least 8 frames each)
    assert len(live) > 20 and max(live) <= 1.0 / 0.01 + per_sweep


def test_closed_connections_are_handed_on_as_they_end(tmp_path: Path, wire,  # type: ignore[no-untyped-def]
                                                      monkeypatch: pytest.MonkeyPatch) -> None:
    """A retry storm's results stream out: at every sweep, each connection that closed more than
    CLOSE_DELAY before has been reported already (not at the end of the capture, nor after its
    CLOSED_LINGER), and each is reported once, its end its own last packet."""
    from pcaptls.tcp import flows

    monkeypatch.setattr(flows, "SWEEP_EVERY", 512)
    reported: list[float] = []  # end of each connection, as reported
    seen: list[tuple[float, int]] = []  # (sweep time, connections reported by then)
    init, sweep = FlowTable.__init__, FlowTable.sweep

    def spy_init(self: FlowTable, layer, on_done, shares: int = 1) -> None:  # type: ignore[no-untyped-def]
        def done(c):  # type: ignore[no-untyped-def]
            reported.append(c.end)
            on_done(c)
        init(self, layer, done, shares)

    def spy_sweep(self: FlowTable, now: float) -> None:
        sweep(self, now)
        seen.append((now, len(reported)))

    monkeypatch.setattr(FlowTable, "__init__", spy_init)
    monkeypatch.setattr(FlowTable, "sweep", spy_sweep)
    p = tmp_path / "storm.pcap"
    pcapgen.retry_storm(p, wire, 3000, gap=0.01, rst_by=None)  # 30 s of FIN-closed connections
    a = analyse(p)
    ends = sorted(c.end for c in a.connections)
    assert len(ends) == 3000 and sorted(reported) == ends
    assert len(seen) > 20
    for now, count in seen:
        assert count >= sum(1 for e in ends if e < now - flows.CLOSE_DELAY)
    before_end = seen[-1][1]
    assert before_end >= 3000 - (flows.CLOSE_DELAY + 2) / 0.01  # the rest come at close_all


def test_fin_answered_by_reset_is_closed(tmp_path: Path, wire, monkeypatch: pytest.MonkeyPatch) -> None:  # type: ignore[no-untyped-def]
    """The client's FIN answered by the server's RST closes the connection: a later SYN on the
    same addresses and ports (even with the same ISN) starts a new one, and the closed one is
    retired after its linger, not counted as evicted after IDLE_TIMEOUT."""
    from pcaptls.tcp import flows

    monkeypatch.setattr(flows, "SWEEP_EVERY", 4)
    ep = pcapgen.Endpoints()
    first = pcapgen.tcp_flow(wire, ep, fin=False)
    t = first[-1][0]
    first += [(t + 0.001, pcapgen._ip_tcp(ep.client, ep.server, ep.cport, ep.sport, 0, 0, 0x11, b"")),
              (t + 0.002, pcapgen._ip_tcp(ep.server, ep.client, ep.sport, ep.cport, 0, 0, 0x04, b""))]
    second = pcapgen.tcp_flow(wire, ep, t0=first[-1][0] + flows.IDLE_TIMEOUT + 100)
    p = tmp_path / "fin-rst.pcap"
    pcapgen.write_pcap(p, first + second)
    a = analyse(p)
    x, y = a.connections
    assert (x.closed_by, x.close_kind) == ("client", "FIN")
    assert x.status == y.status == "ok" and y.saw_syn and x.end < y.start
    assert a.evicted == 0
