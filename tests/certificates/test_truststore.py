"""Trust stores: every input form, bad input, lint findings, and use by the verifier."""

from __future__ import annotations

import base64
import io
import re
import tarfile
from datetime import timedelta
from pathlib import Path

import pytest

from pcaptls.certificates.openssl.chain import verify_chain
from pcaptls.certificates.truststore import (
    LintWarning,
    TrustStore,
    lint,
    load,
    parse_certificates,
)
from pcaptls.errors import InputError
from tests.helpers import certgen
from tests.helpers.certgen import DAY, T

pytestmark = pytest.mark.filterwarnings("ignore::cryptography.utils.CryptographyDeprecationWarning")


@pytest.fixture(scope="module")
def pki():
    root = certgen._root("ts")
    inter = certgen._int("ts", root)
    leaf = certgen._leaf("cucm.example.com", inter)
    return root, inter, leaf


def _tar(path: Path, members: dict[str, bytes]) -> Path:
    with tarfile.open(path, "w:gz") as tar:
        for name, data in members.items():
            info = tarfile.TarInfo(name)
            info.size = len(data)
            tar.addfile(info, io.BytesIO(data))
    return path


def test_pem_bundle_der_file_and_duplicates(tmp_path: Path, pki) -> None:
    root, inter, _ = pki
    bundle = tmp_path / "bundle.pem"
    bundle.write_bytes(b"some text before\n" + root.pem + inter.pem + root.pem)
    store = load(bundle)
    assert store.certs == (root.der, inter.der)  # exact duplicates dropped, like X509_STORE
    assert len(store.entries) == 3
    assert str(bundle) in store.source
    der = tmp_path / "root.cer"
    der.write_bytes(root.der)
    assert load(der).certs == (root.der,)


def test_trusted_certificate_block(tmp_path: Path, pki) -> None:
    root = pki[0]
    aux = root.der + bytes.fromhex("3000")  # OpenSSL appends trust settings after the certificate
    b64 = base64.encodebytes(aux)
    f = tmp_path / "trusted.pem"
    f.write_bytes(b"-----BEGIN TRUSTED CERTIFICATE-----\n" + b64 + b"-----END TRUSTED CERTIFICATE-----\n")
    assert load(f).certs == (root.der,)


def test_folder_of_pem_and_der_skips_other_files(tmp_path: Path, pki) -> None:
    root, inter, _ = pki
    (tmp_path / "a.pem").write_bytes(root.pem)
    (tmp_path / "sub").mkdir()
    (tmp_path / "sub" / "b.der").write_bytes(inter.der)
    (tmp_path / "README").write_text("not a certificate\n")
    store = load(tmp_path)
    assert set(store.certs) == {root.der, inter.der}
    assert store.skipped == (str(tmp_path / "README"),)


def test_unpacked_diagnostic_bundle_reads_only_ca_pem(tmp_path: Path, pki) -> None:
    root, inter, leaf = pki
    (tmp_path / "ca_vcsc_20220711.pem").write_bytes(root.pem + inter.pem)
    (tmp_path / "server.pem").write_bytes(leaf.pem)  # the node's own certificate: not the trust store
    store = load(tmp_path)
    assert store.certs == (root.der, inter.der)
    assert "ca_vcsc_20220711.pem" in store.source


def test_diagnostic_bundle_tar_gz(tmp_path: Path, pki) -> None:
    root, inter, leaf = pki
    path = _tar(tmp_path / "diagnostic.tar.gz", {
        "loggingsnapshot_vcsc_20220711.txt": b"log\n",
        "tmp/ca_vcsc_20220711_1655.pem": root.pem + inter.pem,
        "../../etc/evil.pem": leaf.pem,  # never extracted; not a ca_*.pem anyway
    })
    store = load(path)
    assert store.certs == (root.der, inter.der)
    assert "Expressway trust store" in store.source


def test_bundle_cut_after_its_trust_store_still_loads(tmp_path: Path, pki) -> None:
    """A bundle copied while being written: the ca_*.pem before the cut is the trust store; a cut
    before it says so."""
    import os

    root, inter, _leaf = pki
    members = {"tmp/ca_vcsc_20220711_1655.pem": root.pem + inter.pem,
               "eth0_diagnostic_logging_tcpdump00.pcap": os.urandom(300_000)}
    whole = _tar(tmp_path / "whole.tar.gz", members).read_bytes()
    cut = tmp_path / "cut.tar.gz"
    cut.write_bytes(whole[: len(whole) // 2])
    assert load(cut).certs == (root.der, inter.der)
    early = tmp_path / "early.tar.gz"
    early.write_bytes(_tar(tmp_path / "w2.tar.gz", dict(reversed(members.items()))).read_bytes()[:60_000])
    with pytest.raises(InputError, match="before its cut"):
        load(early)


@pytest.mark.parametrize("members,message", [
    ({"loggingsnapshot.txt": b"x"}, "no ca_*.pem"),
    ({"ca_x.pem": b"nothing here"}, "holds no certificates"),
])
def test_bad_bundles(tmp_path: Path, members: dict[str, bytes], message: str) -> None:
    with pytest.raises(InputError, match=re.escape(message)):
        load(_tar(tmp_path / "b.tar.gz", members))


def test_bad_inputs(tmp_path: Path, pki) -> None:
    with pytest.raises(InputError, match="no such file"):
        load(tmp_path / "missing.pem")
    junk = tmp_path / "junk.pem"
    junk.write_bytes(b"\x00\x01garbage")
    with pytest.raises(InputError, match="not a PEM or DER"):
        load(junk)
    bad64 = tmp_path / "bad64.pem"
    bad64.write_bytes(b"-----BEGIN CERTIFICATE-----\n!!!!\n-----END CERTIFICATE-----\n")
    with pytest.raises(InputError, match="block 1 is not valid base64"):
        load(bad64)
    baddér = tmp_path / "badder.pem"
    baddér.write_bytes(pki[0].pem + b"-----BEGIN CERTIFICATE-----\nMAMCAQE=\n-----END CERTIFICATE-----\n")
    with pytest.raises(InputError, match="block 2 does not decode"):
        load(baddér)
    empty = tmp_path / "empty"
    empty.mkdir()
    with pytest.raises(InputError, match="no PEM or DER certificates"):
        load(empty)
    notgz = tmp_path / "x.tar.gz"
    notgz.write_bytes(b"\x1f\x8bnot really gzip")
    with pytest.raises(InputError, match="not a readable diagnostic bundle"):
        load(notgz)


def test_default_is_certifi_and_says_so() -> None:
    store = load(None)
    assert len(store) > 100
    assert "certifi" in store.source and "default" in store.source


def test_parse_certificates_returns_empty_for_non_certificates() -> None:
    assert parse_certificates(b"hello", "x") == []
    assert parse_certificates(b"\x30\x03\x02\x01\x01", "x") == []


def test_loaded_store_verifies_like_in_memory_store(tmp_path: Path, pki) -> None:
    root, inter, leaf = pki
    (tmp_path / "ca_n_1.pem").write_bytes(root.pem)
    store = load(tmp_path)
    v = verify_chain([leaf.der, inter.der], store, T, "cucm.example.com")
    assert v.ok and v.anchor == certgen.sha256(root.der)


# --------------------------------------------------------------------------------------------
# lint


def _kinds(findings: list[LintWarning]) -> list[tuple[str, str]]:
    return sorted((f.kind, f.severity) for f in findings)


def test_lint_clean_store(pki) -> None:
    root = pki[0]
    assert lint(TrustStore.from_certs([root.der], "t"), T) == []


def test_lint_same_cn_two_certificates() -> None:
    a = certgen.make(certgen.name("cucm-ms.example.com"), certgen.key("cn-a"), ca=True)
    b = certgen.make(certgen.name("cucm-ms.example.com"), certgen.key("cn-b", "p256"), ca=True)
    findings = lint(TrustStore.from_certs([a.der, b.der], "t"), T)
    assert _kinds(findings) == [("same_cn", "warning")]
    assert "CSCwa12905" in findings[0].message
    assert set(findings[0].certs) == {certgen.sha256(a.der), certgen.sha256(b.der)}


def test_lint_validity_at_given_time() -> None:
    old = certgen.make(certgen.name("Old CA"), certgen.key("old"), ca=True, not_after=T - DAY)
    future = certgen.make(certgen.name("Future CA"), certgen.key("fut"), ca=True, not_before=T + DAY)
    exact = certgen.make(certgen.name("Exact CA"), certgen.key("ex"), ca=True, not_after=T)
    store = TrustStore.from_certs([old.der, future.der, exact.der], "t")
    assert _kinds(lint(store, T)) == [("expired", "warning"), ("expired", "warning"), ("not_yet_valid", "warning")]
    assert _kinds(lint(store, T - 2 * DAY)) == [("not_yet_valid", "warning")]
    with pytest.raises(ValueError):
        lint(store, T.replace(tzinfo=None))


def test_lint_non_ca_duplicates_and_missing_root(pki) -> None:
    root, inter, leaf = pki
    selfsigned = certgen.make(certgen.name("imp.example.com"), certgen.key("ss-lint"), ca=False)
    store = TrustStore.from_certs([leaf.der, selfsigned.der, inter.der, inter.der], "t")
    got = _kinds(lint(store, T))
    assert got == [("duplicate", "info"), ("no_root", "warning"), ("not_ca", "info"), ("not_ca", "warning")]
    assert lint(TrustStore.from_certs([inter.der, root.der], "t"), T) == []


def test_lint_on_real_bundle_runs() -> None:
    store = load(None)
    findings = lint(store, T + timedelta(days=3650))
    assert any(f.kind == "expired" for f in findings)


# --------------------------------------------------------------------------------------------
# hostile input: a value or InputError, nothing else, and no quadratic blow-up

from hypothesis import given, settings  # noqa: E402
from hypothesis import strategies as st  # noqa: E402

_PIECES = [b"-----BEGIN CERTIFICATE-----\n", b"-----END CERTIFICATE-----\n", b"-----BEGIN TRUSTED CERTIFICATE-----\n",
           b"MIIB", b"\n", b"====", b"\x30\x82\x01\x00", b"garbage"]


@settings(max_examples=300, deadline=None)
@given(st.lists(st.one_of(st.sampled_from(_PIECES), st.binary(max_size=40)), max_size=20).map(b"".join))
def test_parse_certificates_hostile(data: bytes) -> None:
    try:
        out = parse_certificates(data, "fuzz")
    except InputError:
        return
    assert isinstance(out, list)


def test_many_unterminated_blocks_are_fast() -> None:
    import time

    data = b"-----BEGIN CERTIFICATE-----\nAAAA\n" * 200_000
    t = time.perf_counter()
    assert parse_certificates(data, "big") == []
    assert time.perf_counter() - t < 2


def test_upload_conflicts_same_cn_rsa_and_ecdsa() -> None:
    from pcaptls.certificates.truststore import upload_conflicts

    rsa_ss = certgen.make(certgen.name("cucm.steven.lab", "tomcat"), certgen.key("up-rsa"), ca=True)
    ec_ss = certgen.make(certgen.name("cucm.steven.lab", "tomcat-ECDSA"), certgen.key("up-ec", "p384"), ca=True)
    other = certgen.make(certgen.name("imp.steven.lab"), certgen.key("up-imp"), ca=True)
    found = upload_conflicts([rsa_ss.der, ec_ss.der, other.der])
    assert [f.kind for f in found] == ["same_cn"]
    assert set(found[0].certs) == {certgen.sha256(rsa_ss.der), certgen.sha256(ec_ss.der)}
    store = TrustStore.from_certs([rsa_ss.der, other.der], "expressway")
    assert [set(f.certs) for f in upload_conflicts([ec_ss.der], store)] == [
        {certgen.sha256(ec_ss.der), certgen.sha256(rsa_ss.der)}]
    assert upload_conflicts([other.der], store) == []  # already there: no conflict with itself
    assert upload_conflicts([rsa_ss.der, rsa_ss.der]) == []


# --------------------------------------------------------------------------------------------
# What a load computes for every certificate, cheaper than the full facts and the same answers

def _canon_value_as_it_was(value: str) -> str:
    """The character loop ``_canon_value`` replaced (X509_NAME_cmp's canonical value)."""
    spaces = " \t\n\v\f\r"
    out: list[str] = []
    prev_space = False
    for ch in value.strip(spaces):
        if ch in spaces:
            if not prev_space:
                out.append(" ")
            prev_space = True
            continue
        prev_space = False
        out.append(ch.lower() if "A" <= ch <= "Z" else ch)
    return "".join(out)


@given(st.text(alphabet=st.sampled_from(list(" \t\n\v\f\r\x1c\xa0\u2003AZaz19-.\xc4\xe4\u0130\u212a\u03a3")), max_size=40)
       | st.text(max_size=40))
def test_canonical_value_is_the_loop_it_replaced(value: str) -> None:
    from pcaptls.certificates.openssl.facts import _canon_value

    assert _canon_value(value) == _canon_value_as_it_was(value)


def test_store_index_keys_are_the_full_facts_subjects() -> None:
    """A store is indexed by ``canonical_subject``: on certifi's bundle, the quirky certificates
    (names, times and extensions OpenSSL reads and cryptography refuses) and names whose
    spaces and case fold, it is exactly the subject of ``facts_of``, ``None`` where that raises."""
    from pcaptls.certificates.openssl.facts import canonical_subject, facts_of
    from pcaptls.errors import MalformedError
    from tests.helpers import quirkgen

    folded = [certgen.make(certgen.name(cn), certgen.key("canon"), ca=True).der
              for cn in ("  Cisco   Root\tCA ", "cisco root ca", "ÄRGER Root Ünïcode")]
    quirky = [der for q in quirkgen.quirks(T) for der in q.wire] if certgen.OPENSSL else []
    ders = list(load(None).certs) + quirky + folded + [b"\x30\x03\x02\x01\x01"]
    for der in ders:
        try:
            want = facts_of(der).subject
        except MalformedError:
            want = None
        assert canonical_subject(der) == want
    assert canonical_subject(folded[0]) == canonical_subject(folded[1]) != canonical_subject(folded[2])


def test_default_store_is_read_once() -> None:
    assert load(None) is load(None)
