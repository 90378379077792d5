"""Write the real TLS byte streams the Rust unit tests of rust/core/src/tls use (the inputs of
tests/tls/test_records.py and test_handshake.py, made by tests/helpers/pcapgen.py with OpenSSL).

Format of each .bin: records of [kind u8][side u8][len u32 BE][bytes]; kind 0 = wire chunk
(side = sender), 1 = a DER certificate of the server's chain (leaf first). Rerun to refresh.
"""

from __future__ import annotations

import struct
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[3]
sys.path.insert(0, str(ROOT))
from tests.helpers import pcapgen  # noqa: E402

OUT = ROOT / "rust" / "core" / "src" / "tls" / "testdata"


def write(name: str, wire, chain=()) -> None:
    out = b""
    for side, data in wire:
        out += struct.pack(">BBI", 0, side, len(data)) + data
    for der in chain:
        out += struct.pack(">BBI", 1, 0, len(der)) + der
    OUT.mkdir(exist_ok=True)
    (OUT / name).write_bytes(out)


pki = pcapgen.make_chain(cn="records.example.com")
wire, err = pcapgen.handshake_bytes(pki, sni="records.example.com", request_client_cert=True, app_data=b"x" * 40000)
assert err is None
write("tls12.bin", wire, pki.chain_der)

wire, err = pcapgen.handshake_bytes(pcapgen.make_chain(), tls13=True, app_data=b"hi")
assert err is None
write("tls13.bin", wire)

pki = pcapgen.make_chain(cn="cucm.example.com", ecdsa=True, self_signed=True)
wire, err = pcapgen.handshake_bytes(pki, sni="cucm.example.com", trust_pem=pcapgen.make_chain().ca_pem)
assert err and "self" in err
write("rejected12.bin", wire)

wire, err = pcapgen.handshake_bytes(pki, sni="cucm.example.com", tls13=True, trust_pem=pcapgen.make_chain().ca_pem)
assert err and wire[-1][1][:1] == b"\x15"
write("rejected13.bin", wire)

pki = pcapgen.make_chain(cn="hs.example.com")
wire, _ = pcapgen.handshake_bytes(pki, sni="hs.example.com")
write("hs.bin", wire, pki.chain_der)
