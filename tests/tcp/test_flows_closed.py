"""Segments sent again after both sides closed belong to the closed connection (both engines).

A real lab capture (captures/01-cucm-8443-ok, two TLS 1.2 connections that end with close_notify
and FIN both ways) with the server's close_notify segment of the second connection sent again
three times after the close, now with FIN set, as a server whose FIN went unacknowledged does.
Before the fix the first copy retired the connection and the next opened a phantom one on the
same 4-tuple: FAILED, "capture starts after the TCP handshake", exit 1.
"""

from __future__ import annotations

import struct
from pathlib import Path

import pytest

from pcaptls.pipeline.analysis import analyse
from tests.helpers.paths import CAPTURES

pytestmark = pytest.mark.engines
LAB = CAPTURES / "01-cucm-8443-ok" / "capture.pcap"
_RECORD = struct.Struct("<IIII")
_FIN = 0x01


def _records(data: bytes) -> list[tuple[int, int, bytes]]:
    out, off = [], 24
    while off + 16 <= len(data):
        sec, usec, incl, _ = _RECORD.unpack_from(data, off)
        out.append((sec, usec, data[off + 16 : off + 16 + incl]))
        off += 16 + incl
    return out


def _tcp(pkt: bytes) -> tuple[int, int, int, int]:
    """(TCP header offset, source port, flags, payload length) of an Ethernet/IPv4/TCP frame."""
    ihl = (pkt[14] & 0x0F) * 4
    tcp = 14 + ihl
    total = int.from_bytes(pkt[16:18], "big")
    return tcp, int.from_bytes(pkt[tcp : tcp + 2], "big"), pkt[tcp + 13], total - ihl - (pkt[tcp + 12] >> 4) * 4


def _with_fin_resent(tmp_path: Path, copies: int) -> tuple[Path, int]:
    data = LAB.read_bytes()
    recs = _records(data)
    # The last server segment with data is the second connection's encrypted close_notify.
    i = max(k for k, (_, _, p) in enumerate(recs) if _tcp(p)[1] == 8443 and _tcp(p)[3] > 0)
    sec, usec, pkt = recs[i]
    tcp = _tcp(pkt)[0]
    again = bytearray(pkt)
    again[tcp + 13] |= _FIN
    last = recs[-1][0] + recs[-1][1] / 1e6
    out = bytearray(data)
    for n in range(copies):
        t = last + 0.2 * 2**n  # the server's retransmission timer doubling
        out += _RECORD.pack(int(t), round((t % 1) * 1e6), len(again), len(again)) + again
    path = tmp_path / "fin-resent.pcap"
    path.write_bytes(bytes(out))
    port = int.from_bytes(pkt[tcp + 2 : tcp + 4], "big")
    return path, port


@pytest.mark.parametrize("copies", [1, 3])
def test_fin_and_close_notify_sent_again_open_no_connection(tmp_path: Path, copies: int, engine: str) -> None:
    path, client_port = _with_fin_resent(tmp_path, copies)
    before = analyse(LAB).connections
    after = analyse(path).connections
    assert len(after) == len(before) == 2
    assert [c.status for c in after] == ["ok", "ok"]
    again = next(c for c in after if c.client.port == client_port)
    assert again.saw_syn and again.handshake_done
    assert not any(a.kind == "no_syn" for c in after for a in c.anomalies)
