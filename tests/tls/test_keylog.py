"""NSS key logs and pcapng Decryption Secrets Blocks: real files written by OpenSSL and editcap,
hostile lines, random bytes."""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

import pytest
from hypothesis import given
from hypothesis import strategies as st

from pcaptls.errors import InputError, MalformedError
from pcaptls.tls import keylog
from tests.helpers.paths import CAPTURES

KEYS = CAPTURES / "keylog"


def test_openssl_key_log() -> None:
    kl = keylog.load(KEYS / "tls13.keys")
    # One session per ClientHello random the peers logged: 9 connections, each with its
    # handshake secrets; all but the client that gave up on the 6972 server (it never derived
    # its application secret) with both application secrets; the 0-RTT one with its early secret.
    assert len(kl.secrets) == 9
    for d in kl.secrets.values():
        assert {keylog.CLIENT_HANDSHAKE, keylog.SERVER_HANDSHAKE, keylog.SERVER_TRAFFIC} <= set(d)
        assert all(len(v) in (32, 48) for v in d.values())
    assert sum(keylog.CLIENT_TRAFFIC in d for d in kl.secrets.values()) == 8
    assert sum(keylog.CLIENT_EARLY in d for d in kl.secrets.values()) == 1
    kl12 = keylog.load(KEYS / "tls12.keys")
    assert all(set(d) == {keylog.CLIENT_RANDOM} for d in kl12.secrets.values())
    assert len(kl12.secrets) == 6  # five connections got a master secret (not the 6972 one), one renegotiated


def test_hostile_lines_are_counted_never_fatal_never_shown() -> None:
    good = (KEYS / "tls13.keys").read_text().splitlines()
    secret = good[2].split()[2]
    text = "\n".join([
        "# comment", "", "garbage", "CLIENT_RANDOM zz " + "00" * 48,  # bad hex
        "CLIENT_RANDOM " + "00" * 31 + " " + "11" * 48,  # short random
        "CLIENT_RANDOM " + "00" * 32 + " " + "11" * 47,  # wrong master secret length
        "SERVER_HANDSHAKE_TRAFFIC_SECRET " + "00" * 32 + " " + "11" * 40,  # wrong traffic secret length
        "NOT_A_LABEL " + "00" * 32 + " " + "11" * 32,
        "x" * 5000, "\x00\xff binary", good[2],
    ])
    kl = keylog.parse(text, "hostile")
    assert len(kl.secrets) == 1
    assert sum(kl.skipped_count.values()) == 8
    assert secret not in kl.summary() and secret not in repr(kl)
    assert "wrong length" in kl.summary() and "bad hex" in kl.summary()


@given(st.text(max_size=2000) | st.binary(max_size=2000))
def test_parse_never_raises(data: str | bytes) -> None:
    keylog.parse(data)


def test_unreadable_files(tmp_path: Path) -> None:
    with pytest.raises(InputError, match="no such file"):
        keylog.load(tmp_path / "missing")
    (tmp_path / "bin").write_bytes(b"\x00" * 100)
    with pytest.raises(InputError, match="binary"):
        keylog.load(tmp_path / "bin")


def test_decryption_secrets_block_equals_the_key_log() -> None:
    """editcap --inject-secrets put tls13.keys into tls13-dsb.pcapng: the same secrets come back."""
    assert keylog.from_capture(KEYS / "tls13-dsb.pcapng").secrets == keylog.load(KEYS / "tls13.keys").secrets
    assert not keylog.from_capture(KEYS / "tls13.pcap")  # pcap has no blocks


def test_dsb_from_editcap_now_and_cut(tmp_path: Path) -> None:
    editcap = shutil.which("editcap")
    if editcap is None:
        pytest.skip("editcap (wireshark-common) is not installed")
    out = tmp_path / "tls12.pcapng"
    subprocess.run([editcap, "--inject-secrets", f"tls,{KEYS / 'tls12.keys'}", str(KEYS / "tls12.pcap"), str(out)],
                   check=True, capture_output=True)
    assert keylog.from_capture(out).secrets == keylog.load(KEYS / "tls12.keys").secrets
    data = out.read_bytes()
    for cut in (30, 100, 200, 1000):  # inside the section header, the DSB, after it
        p = tmp_path / f"cut{cut}.pcapng"
        p.write_bytes(data[:cut])
        keylog.from_capture(p)  # never raises


@given(st.binary(max_size=600))
def test_dsb_walk_raises_only_malformed(data: bytes) -> None:
    head = b"\x0a\x0d\x0d\x0a\x1c\x00\x00\x00\x4d\x3c\x2b\x1a\x01\x00\x00\x00" + b"\xff" * 8 + b"\x1c\x00\x00\x00"
    for blob in (data, head + data):
        try:
            keylog.dsb_secrets(blob)
        except MalformedError:
            pass
