"""Link layers, IP versions and tunnels: the same TLS segment found inside every wrapping.

Frames are built with scapy around a real ClientHello; pcaptls must find the connection and
its SNI, as tshark does on the same file.
"""

from __future__ import annotations

import subprocess
from pathlib import Path

import pytest
from scapy.all import (
    GRE,
    IP,
    PPP,
    TCP,
    UDP,
    VXLAN,
    CookedLinux,
    Dot1AD,
    Dot1Q,
    Ether,
    IPv6,
    IPv6ExtHdrDestOpt,
    IPv6ExtHdrFragment,
    IPv6ExtHdrHopByHop,
    IPv6ExtHdrRouting,
    Loopback,
    PPPoE,
    Raw,
    wrpcap,
)
from scapy.contrib.geneve import GENEVE
from scapy.layers.l2 import CookedLinuxV2

from pcaptls.capture.decode import decode, new_counts
from pcaptls.pipeline.analysis import analyse
from tests.helpers import pcapgen

SNI = "decode.example.com"


@pytest.fixture(scope="module")
def hello() -> bytes:
    wire, _ = pcapgen.handshake_bytes(pcapgen.make_chain(cn=SNI), sni=SNI)
    return wire[0][1]


def _tcp(hello: bytes):  # type: ignore[no-untyped-def]
    return TCP(sport=51000, dport=8443, flags="PA", seq=1000, ack=1) / Raw(hello)


CASES = {
    "ethernet": (1, lambda h: Ether() / IP(src="10.1.1.1", dst="10.2.2.2") / _tcp(h)),
    "vlan": (1, lambda h: Ether() / Dot1Q(vlan=10) / IP(src="10.1.1.1", dst="10.2.2.2") / _tcp(h)),
    "qinq": (1, lambda h: Ether() / Dot1AD(vlan=100) / Dot1Q(vlan=10) / IP(src="10.1.1.1", dst="10.2.2.2") / _tcp(h)),
    "sll": (113, lambda h: CookedLinux(proto=0x0800) / IP(src="10.1.1.1", dst="10.2.2.2") / _tcp(h)),
    "sll2": (276, lambda h: CookedLinuxV2(proto=0x86DD) / IPv6(src="2001:db8::1", dst="2001:db8::2") / _tcp(h)),
    "raw": (101, lambda h: IP(src="10.1.1.1", dst="10.2.2.2") / _tcp(h)),
    "null": (0, lambda h: Loopback(type=2) / IP(src="127.0.0.1", dst="127.0.0.2") / _tcp(h)),
    "pppoe": (1, lambda h: Ether(type=0x8864) / PPPoE(sessionid=1) / PPP(proto=0x0021) / IP(src="10.1.1.1", dst="10.2.2.2") / _tcp(h)),
    "ipv6-ext": (1, lambda h: Ether() / IPv6(src="2001:db8::1", dst="2001:db8::2") / IPv6ExtHdrHopByHop()
                 / IPv6ExtHdrRouting() / IPv6ExtHdrDestOpt() / _tcp(h)),
    "ipv6-atomic-fragment": (1, lambda h: Ether() / IPv6(src="2001:db8::1", dst="2001:db8::2") / IPv6ExtHdrFragment(m=0, offset=0) / _tcp(h)),
    "gre": (1, lambda h: Ether() / IP(src="192.0.2.1", dst="192.0.2.2") / GRE(proto=0x0800) / IP(src="10.1.1.1", dst="10.2.2.2") / _tcp(h)),
    "vxlan": (1, lambda h: Ether() / IP(src="192.0.2.1", dst="192.0.2.2") / UDP(sport=5555, dport=4789) / VXLAN(vni=42)
              / Ether() / IP(src="10.1.1.1", dst="10.2.2.2") / _tcp(h)),
    "geneve": (1, lambda h: Ether() / IP(src="192.0.2.1", dst="192.0.2.2") / UDP(sport=5555, dport=6081) / GENEVE(proto=0x6558)
               / Ether() / IP(src="10.1.1.1", dst="10.2.2.2") / _tcp(h)),
    "ipip": (101, lambda h: IP(src="192.0.2.1", dst="192.0.2.2", proto=4) / IP(src="10.1.1.1", dst="10.2.2.2") / _tcp(h)),
}


@pytest.mark.parametrize("name", sorted(CASES))
def test_link_layers_and_tunnels(name: str, hello: bytes, tmp_path: Path, tshark: str) -> None:
    linktype, build = CASES[name]
    pkt = build(hello)
    counts = new_counts()
    seg = decode(linktype, bytes(pkt), counts)
    assert seg is not None, counts
    assert seg[2:4] == (51000, 8443) and seg[7] == hello
    path = tmp_path / f"{name}.pcap"
    wrpcap(str(path), [pkt], linktype=linktype)
    (c,) = analyse(path).connections
    assert c.sni == SNI and c.server.port == 8443
    out = subprocess.run([tshark, "-r", str(path), "-d", "tcp.port==8443,tls", "-T", "fields", "-e", "tls.handshake.extensions_server_name"],
                         capture_output=True, text=True, check=True).stdout.split()
    assert out == [SNI]


def test_snapped_frame_reports_missing_bytes(hello: bytes) -> None:
    data = bytes(Ether() / IP(src="10.1.1.1", dst="10.2.2.2") / _tcp(hello))
    seg = decode(1, data[:100], new_counts())
    assert seg is not None and len(seg[7]) == 100 - 54 and seg[8] == len(hello) - (100 - 54)


def test_fragment_and_non_tcp_are_counted(hello: bytes) -> None:
    counts = new_counts()
    assert decode(1, bytes(Ether() / IP(src="1.1.1.1", dst="2.2.2.2", flags=1, frag=0) / _tcp(hello)), counts) is None
    assert decode(1, bytes(Ether() / IP() / UDP() / Raw(b"x")), counts) is None
    assert decode(1, bytes(Ether(type=0x0806) / Raw(b"x" * 28)), counts) is None
    assert decode(147, b"whatever", counts) is None
    assert counts["fragment"] == 1 and counts["not_tcp"] == 1 and counts["not_ip"] == 1 and counts["unknown_link"] == 1
