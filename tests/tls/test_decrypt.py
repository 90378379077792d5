"""Key schedules against RFC 8448's published trace; record protection against hostile input.

Decryption of real records is proven against tshark in ``test_unseal.py``."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from pcaptls.tls import decrypt as d

H = bytes.fromhex


def test_hkdf_expand_label_rfc8448() -> None:
    """RFC 8448 section 3 (Simple 1-RTT Handshake): the server's handshake write key and IV."""
    secret = H("b67b7d690cc16c4e75e54213cb2d37b4e9c912bcded9105d42befd59d391ad38")
    assert d.hkdf_expand_label(secret, "key", b"", 16, "sha256") == H("3fce516009c21727d0f2e4e86ee403bc")
    assert d.hkdf_expand_label(secret, "iv", b"", 12, "sha256") == H("5d313eb2671276ee13000b30")


def test_suites_by_name() -> None:
    s = d.suite(0x1301)
    assert s is not None and s.tls13 and (s.cipher, s.key_len, s.hash) == ("gcm", 16, "sha256")
    s = d.suite(0x1303)
    assert s is not None and (s.cipher, s.key_len) == ("chacha", 32)
    s = d.suite(0x1304)
    assert s is not None and s.cipher == "ccm"
    s = d.suite(0xC030)  # ECDHE-RSA-AES256-GCM-SHA384
    assert s is not None and not s.tls13 and (s.key_len, s.hash, s.fixed_iv_len) == (32, "sha384", 4)
    s = d.suite(0xC028)  # ECDHE-RSA-AES256-SHA384 (CBC)
    assert s is not None and (s.cipher, s.mac, s.mac_len, s.hash) == ("cbc", "sha384", 48, "sha384")
    s = d.suite(0xC013)  # ECDHE-RSA-AES128-SHA
    assert s is not None and (s.cipher, s.mac, s.hash) == ("cbc", "sha1", "sha256")
    s = d.suite(0xCCA8)
    assert s is not None and (s.cipher, s.fixed_iv_len) == ("chacha", 12)
    assert d.suite(0x0005) is None  # RC4: not decrypted
    assert d.suite(None) is None


def _ciphers() -> list[d.RecordCipher]:
    out = []
    for code in (0x1301, 0x1302, 0x1303, 0x1304, 0xC02F, 0xCCA8, 0xC0AC):
        s = d.suite(code)
        assert s is not None
        out.append(d.RecordCipher.tls13(s, b"\x01" * s.hash_len) if s.tls13 else
                   d.tls12_ciphers(s, b"\x02" * 48, b"\x03" * 32, b"\x04" * 32)[0])
    for code, etm in ((0xC013, False), (0xC028, True)):
        s = d.suite(code)
        assert s is not None
        out.append(d.tls12_ciphers(s, b"\x02" * 48, b"\x03" * 32, b"\x04" * 32, etm)[0])
    return out


CIPHERS = _ciphers()


@given(st.binary(max_size=300), st.integers(0, 2**64 - 1), st.sampled_from([21, 22, 23]))
def test_random_records_fail_cleanly(body: bytes, seq: int, ct: int) -> None:
    for c in CIPHERS:
        with pytest.raises(d.DecryptError):
            c.open(seq, ct, body)


def test_round_trip_and_wrong_key_tls13() -> None:
    from cryptography.hazmat.primitives.ciphers.aead import AESGCM

    s = d.suite(0x1301)
    assert s is not None
    c = d.RecordCipher.tls13(s, b"\x05" * 32)
    inner = b"\x02\x30" + b"\x15" + b"\x00" * 5  # alert, type 21, padding
    aad = b"\x17\x03\x03" + (len(inner) + 16).to_bytes(2, "big")
    nonce = bytes(a ^ b for a, b in zip(c.iv, (7).to_bytes(12, "big")))
    body = AESGCM(c.key).encrypt(nonce, inner, aad)
    assert c.open(7, 23, body) == (21, b"\x02\x30")
    with pytest.raises(d.DecryptError):
        c.open(8, 23, body)  # wrong sequence number
    with pytest.raises(d.DecryptError):
        d.RecordCipher.tls13(s, b"\x06" * 32).open(7, 23, body)  # wrong key
