"""A ServerHello of the earliest TLS 1.3 drafts: version field 0x0304, no session_id and no
compression method (the layout of drafts before -22, which later drafts marked 0x7Fxx).

Crafted: a real OpenSSL ClientHello, answered by such a ServerHello (cipher TLS_AES_128_GCM_SHA256,
a draft key_share extension 40), in a TCP connection written by pcapgen. pcaptls (both engines)
must read it as TLS 1.3 with that suite, without a malformed-message anomaly. tshark 4.0 is no
oracle for this form: it reads a session_id into the random's bytes and reports a nonsense suite.
"""

from __future__ import annotations

import os
import struct
from pathlib import Path

import pytest

from pcaptls.pipeline.analysis import analyse
from pcaptls.tls import handshake as hs
from tests.helpers import pcapgen

pytestmark = pytest.mark.engines


def _server_hello() -> bytes:
    share = struct.pack("!HH", 29, 32) + bytes(range(32))  # x25519 key_share entry
    exts = struct.pack("!HH", 40, len(share)) + share
    body = struct.pack("!H", 0x0304) + os.urandom(32) + struct.pack("!H", 0x1301) + struct.pack("!H", len(exts)) + exts
    msg = bytes([2]) + len(body).to_bytes(3, "big") + body
    return bytes([22, 3, 3]) + struct.pack("!H", len(msg)) + msg


def _capture(tmp_path: Path) -> Path:
    wire, err = pcapgen.handshake_bytes(pcapgen.make_chain(), tls13=True)
    assert err is None
    client_hello = wire[0][1]
    path = tmp_path / "draft.pcap"
    pcapgen.write_pcap(path, pcapgen.tcp_flow([(0, client_hello), (1, _server_hello())]))
    return path


def test_parser_reads_the_draft_layout() -> None:
    sh = hs.parse_server_hello(_server_hello()[9:])
    assert (sh.version, sh.cipher, sh.key_share_group, sh.session_id) == (0x0304, 0x1301, 29, b"")


def test_capture_reads_as_tls13(tmp_path: Path, engine: str) -> None:
    path = _capture(tmp_path)
    (c,) = analyse(path).connections
    assert (c.version, c.cipher_id, c.kex_group) == ("TLS 1.3", 0x1301, 29)
    assert not [a for a in c.anomalies if a.kind == "malformed"]
