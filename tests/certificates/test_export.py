"""Export: safe names from hostile CNs, one file per certificate, one bundle per server chain,
and files that ``openssl x509`` reads back with the fingerprint pcaptls reported."""

from __future__ import annotations

import os
import subprocess
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from pcaptls.certificates.export import export, plan, safe_stem, write
from pcaptls.errors import InputError
from pcaptls.tcp.facts import Endpoint
from tests.helpers import certgen


@pytest.fixture(scope="module")
def chains():
    root = certgen._root("exp")
    inter = certgen._int("exp", root)
    rsa_leaf = certgen._leaf("cucm.example.com", inter)
    ec_self = certgen._leaf("cucm-EC.example.com", None, kind="p384", ca=True, label="exp-ec")
    s1, s2 = Endpoint("10.48.36.215", 8443), Endpoint("10.48.36.215", 6972)
    return root, inter, rsa_leaf, ec_self, [
        (s1, [rsa_leaf.der, inter.der]),
        (s1, [rsa_leaf.der, inter.der]),  # the same chain again: one bundle
        (s2, [ec_self.der]),
        (s2, [rsa_leaf.der, inter.der, root.der]),  # another chain from the same endpoint
        (Endpoint("2001:db8::5", 443), [rsa_leaf.der]),
    ]


@pytest.mark.parametrize("cn,expected", [
    ("cucm.example.com", "cucm.example.com"),
    ("../../etc/passwd", "etc_passwd"),
    (".hidden", "hidden"),
    ("*.example.com", "wildcard.example.com"),
    ("a/b\\c:d", "a_b_c_d"),
    ("Zürich CA", "Zurich_CA"),
    ("\x00\x1b[31mred", "31mred"),
    ("..", "cert"),
    ("", "cert"),
    (None, "cert"),
    ("a" * 300, "a" * 64),
    ("CON", "CON"),
])
def test_safe_stem(cn: str | None, expected: str) -> None:
    assert safe_stem(cn) == expected


@settings(max_examples=300)
@given(st.text(max_size=200))
def test_safe_stem_never_escapes(text: str) -> None:
    s = safe_stem(text)
    assert s and len(s) <= 64
    assert "/" not in s and "\\" not in s and not s.startswith(".") and ".." not in s
    assert all(c.isascii() and (c.isalnum() or c in "._-") for c in s)


def test_plan_distinct_certs_and_bundles(chains) -> None:
    root, inter, rsa_leaf, ec_self, seen = chains
    items = plan(seen)
    certs = [i for i in items if i.kind == "cert"]
    bundles = [i for i in items if i.kind == "chain"]
    assert [i.sha256 for i in certs] == [certgen.sha256(d) for d in (rsa_leaf.der, inter.der, ec_self.der, root.der)]
    assert certs[0].filename == f"cucm.example.com_{certgen.sha256(rsa_leaf.der)[:16]}.pem"
    assert certs[0].servers == ("10.48.36.215:8443", "10.48.36.215:6972", "[2001:db8::5]:443")
    assert [b.filename for b in bundles] == [
        "chain_10.48.36.215_8443.pem", "chain_10.48.36.215_6972.pem", "chain_10.48.36.215_6972_2.pem",
        "chain_2001-db8--5_443.pem",
    ]
    assert [b.count for b in bundles] == [2, 1, 3, 1]
    assert len({i.filename for i in items}) == len(items)


def test_write_and_openssl_round_trip(tmp_path: Path, chains) -> None:
    *_, seen = chains
    written = export(seen, tmp_path / "out")
    assert written and all(Path(w.path).parent == tmp_path / "out" for w in written)
    for w in written:
        if w.kind != "cert":
            continue
        r = subprocess.run(["openssl", "x509", "-in", w.path, "-noout", "-fingerprint", "-sha256"],
                           capture_output=True, text=True, check=True)
        fp = r.stdout.strip().split("=", 1)[1].replace(":", "").lower()
        assert fp == w.sha256
    bundle = next(w for w in written if w.kind == "chain" and w.count == 3)
    text = Path(bundle.path).read_text()
    assert text.count("BEGIN CERTIFICATE") == 3
    # what a user uploads: the bundle verifies the leaf as OpenSSL would with it as trust store
    r = subprocess.run(["openssl", "storeutl", "-noout", "-certs", bundle.path], capture_output=True, text=True)
    assert "Total found: 3" in r.stdout


def test_der_export_round_trip(tmp_path: Path, chains) -> None:
    *_, seen = chains
    written = export(seen, tmp_path, der=True)
    certs = [w for w in written if w.kind == "cert"]
    assert all(w.path.endswith(".der") for w in certs)
    for w in certs:
        r = subprocess.run(["openssl", "x509", "-inform", "DER", "-in", w.path, "-noout", "-fingerprint", "-sha256"],
                           capture_output=True, text=True, check=True)
        assert r.stdout.strip().split("=", 1)[1].replace(":", "").lower() == w.sha256
    assert all(w.path.endswith(".pem") for w in written if w.kind == "chain")  # DER holds one cert


def test_planted_symlink_is_replaced_not_followed(tmp_path: Path, chains) -> None:
    *_, seen = chains
    items = plan(seen)
    victim = tmp_path / "victim.txt"
    victim.write_text("keep me")
    out = tmp_path / "out"
    out.mkdir()
    os.symlink(victim, out / items[0].filename)
    write(items, out)
    assert victim.read_text() == "keep me"
    assert not (out / items[0].filename).is_symlink()
    assert not list(out.glob(".pcaptls-*"))


def test_undecodable_certificate_is_still_exported(tmp_path: Path) -> None:
    junk = b"\x30\x03\x02\x01\x01"
    written = export([(Endpoint("10.0.0.1", 443), [junk])], tmp_path)
    assert written[0].subject == "(does not decode)"
    assert Path(written[0].path).name.startswith("cert_")


def test_unwritable_folder(tmp_path: Path, chains) -> None:
    *_, seen = chains
    f = tmp_path / "file"
    f.write_text("x")
    with pytest.raises(InputError):
        export(seen, f)
