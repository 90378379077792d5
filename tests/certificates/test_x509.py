"""DER certificates -> CertInfo, with ``openssl x509`` as the oracle for what a certificate says.

Certificates come from the checked-in generator (tests/helpers/certgen.py) and from the lab
captures; every field ``openssl x509`` can print is compared with what it prints.
"""

from __future__ import annotations

import hashlib
import ipaddress
import json
import re
import shutil
import subprocess
from datetime import datetime, timedelta, timezone
from functools import lru_cache

import pytest
from cryptography import x509
from cryptography.x509.oid import NameOID
from hypothesis import given
from hypothesis import strategies as st

from pcaptls.certificates.x509 import CertInfo, check, decode, sha256_hex, try_decode, window
from pcaptls.errors import MalformedError
from pcaptls.pipeline.analysis import analyse
from tests.helpers import certgen
from tests.helpers.paths import CAPTURES

UTC = timezone.utc
OPENSSL = shutil.which("openssl")
needs_openssl = pytest.mark.skipif(OPENSSL is None, reason="openssl CLI not installed")


# -- the certificates --------------------------------------------------------------------------

@lru_cache(maxsize=None)
def made() -> dict[str, certgen.Issued]:
    root = certgen.make(certgen.name("x509 Root CA", "pcaptls test"), certgen.key("x509-root"), ca=True)
    two_cn = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "first.example.com"),
                        x509.NameAttribute(NameOID.COMMON_NAME, "last.example.com")])
    odd = x509.Name([x509.NameAttribute(NameOID.COUNTRY_NAME, "DE"),
                     x509.NameAttribute(NameOID.ORGANIZATION_NAME, "Example, Inc. + Co"),
                     x509.NameAttribute(NameOID.COMMON_NAME, "Ünïcode <x>=y;z")])
    return {
        "root": root,
        "rsa-leaf": certgen.make(certgen.name("cucm.example.com", "pcaptls test"), certgen.key("x509-leaf"), root,
                                 dns=("cucm.example.com", "cucm"), ips=("10.48.36.215", "2001:db8::5")),
        "p384-self-signed": certgen.make("tftp.example.com", certgen.key("x509-p384", "p384"), ca=True, dns=("tftp.example.com",)),
        "p256-no-bc": certgen.make("nobc.example.com", certgen.key("x509-p256", "p256"), root, ca=None),
        "ed25519": certgen.make("ed.example.com", certgen.key("x509-ed", "ed25519"), root, dns=("ed.example.com",)),
        "two-cn": certgen.make(two_cn, certgen.key("x509-leaf"), root),
        "no-cn": certgen.make(certgen.name(None, "Org only"), certgen.key("x509-leaf"), root),
        "odd-name": certgen.make(odd, certgen.key("x509-leaf"), root, dns=("odd.example.com",)),
        # After 2049 the dates are GeneralizedTime rather than UTCTime.
        "far-future": certgen.make("future.example.com", certgen.key("x509-leaf"), root,
                                   not_before=datetime(2049, 12, 31, 23, 59, 59, tzinfo=UTC),
                                   not_after=datetime(2060, 2, 29, 12, 0, 1, tzinfo=UTC)),
        # Names itself as issuer but is signed by another key: self-issued, not self-signed.
        "self-issued-forged": certgen.make("mimic.example.com", certgen.key("x509-leaf"),
                                           sign_key=certgen.key("x509-forger"), ca=True),
    }


def _lab_certificates() -> list[tuple[str, bytes]]:
    out: list[tuple[str, bytes]] = []
    for scenario in ("01-cucm-8443-ok", "02-tftp-6972-selfsigned-ecdsa"):
        path = CAPTURES / scenario / "capture.pcap"
        if not path.exists():
            continue
        seen: set[bytes] = set()
        for c in analyse(path).connections:
            for i, der in enumerate(c.server_certs):
                if der not in seen:
                    seen.add(der)
                    out.append((f"{scenario}[{len(seen) - 1}]", der))
    return out


LAB = _lab_certificates()
ALL = [pytest.param(lambda n=n: made()[n].der, id=n) for n in (
    "root", "rsa-leaf", "p384-self-signed", "p256-no-bc", "ed25519", "two-cn", "no-cn", "odd-name", "far-future",
    "self-issued-forged")] + [pytest.param(lambda d=d: d, id=name) for name, d in LAB]


# -- the oracle --------------------------------------------------------------------------------

# OpenSSL prints the X9.62 names of the curves that SEC 2 also names; cryptography the SEC 2 ones.
_X962_NAMES = {"prime192v1": "secp192r1", "prime256v1": "secp256r1"}


def openssl_says(der: bytes) -> dict[str, object]:
    """What ``openssl x509`` prints about ``der``: names (RFC 2253, UTF-8 unescaped), serial,
    SHA-256 fingerprint, subjectAltName, dates, signature algorithm and key size/curve."""
    assert OPENSSL
    def run(*args: str) -> str:
        r = subprocess.run([OPENSSL, "x509", "-inform", "DER", "-noout", "-nameopt", "RFC2253,-esc_msb", *args],
                           input=der, capture_output=True, timeout=30)
        assert r.returncode == 0, r.stderr
        return r.stdout.decode("utf-8")
    fields = run("-subject", "-issuer", "-serial", "-fingerprint", "-sha256", "-dates", "-ext", "subjectAltName")
    text = run("-text")
    got: dict[str, object] = {}
    lines = fields.splitlines()
    for i, line in enumerate(lines):
        key, _, value = line.partition("=")
        if key in ("subject", "issuer", "notBefore", "notAfter"):
            got[key] = value
        elif key == "serial":
            got["serial"] = int(value, 16)
        elif key == "sha256 Fingerprint":
            got["sha256"] = value.replace(":", "").lower()
        elif "Subject Alternative Name" in line:
            got["san"] = [s.strip() for s in lines[i + 1].split(",")]
    got.setdefault("san", [])
    for key in ("notBefore", "notAfter"):
        got[key] = datetime.strptime(str(got[key]), "%b %d %H:%M:%S %Y GMT").replace(tzinfo=UTC)
    got["signature_algorithm"] = re.search(r"Signature Algorithm: (\S+)", text).group(1)  # type: ignore[union-attr]
    bits = re.search(r"Public-Key: \((\d+) bit\)", text)
    got["key_bits"] = int(bits.group(1)) if bits else None
    curve = re.search(r"ASN1 OID: (\S+)", text)
    got["curve"] = _X962_NAMES.get(curve.group(1), curve.group(1)) if curve else None
    return got


def _san_as_openssl(info: CertInfo) -> list[str]:
    # OpenSSL writes "IP Address:" and IPv6 uncompressed, upper case; compare as addresses.
    return [f"DNS:{d}" for d in info.san_dns] + [f"IP:{ipaddress.ip_address(i)}" for i in info.san_ip]


def _openssl_san(entries: list[str]) -> list[str]:
    out = []
    for e in entries:
        if e.startswith("IP Address:"):
            out.append(f"IP:{ipaddress.ip_address(e.removeprefix('IP Address:'))}")
        else:
            out.append(e)
    return out


# -- fields against openssl --------------------------------------------------------------------

def test_lab_captures_hold_certificates() -> None:
    assert LAB, f"no server certificates found in the lab captures under {CAPTURES}"


@needs_openssl
@pytest.mark.parametrize("make_der", ALL)
def test_fields_match_openssl(make_der) -> None:  # type: ignore[no-untyped-def]
    der = make_der()
    info = decode(der)
    want = openssl_says(der)
    assert info.der == der
    assert info.subject == want["subject"] and info.issuer == want["issuer"]
    assert int(info.serial, 16) == want["serial"] and info.serial == info.serial.lower()
    assert info.sha256 == want["sha256"] == sha256_hex(der) == hashlib.sha256(der).hexdigest()
    assert _san_as_openssl(info) == _openssl_san(want["san"])  # type: ignore[arg-type]
    assert (info.not_before, info.not_after) == (want["notBefore"], want["notAfter"])
    assert info.signature_algorithm.lower() == str(want["signature_algorithm"]).lower()
    if want["key_bits"] is not None:
        assert info.key_bits == want["key_bits"]
    assert info.curve == want["curve"]


@pytest.mark.parametrize("scenario", ["01-cucm-8443-ok", "02-tftp-6972-selfsigned-ecdsa"])
def test_lab_chains_as_their_manifest_describes_them(scenario: str) -> None:
    """The lab's generator wrote down each chain it served (fingerprints, names, leaf key)."""
    folder = CAPTURES / scenario
    if not (folder / "manifest.json").exists():
        pytest.skip(f"lab capture {scenario} not present")
    manifest = json.loads((folder / "manifest.json").read_text())
    by_id = {c.id: c for c in analyse(folder / "capture.pcap").connections}
    checked = 0
    for m in manifest["connections"]:
        if not m.get("certificates_visible"):
            continue
        infos = [decode(der) for der in by_id[m["pcaptls_id"]].server_certs]
        assert [i.sha256 for i in infos] == m["server_chain_sha256"]
        assert [i.common_name for i in infos] == m["server_chain_subjects"]
        assert infos[0].key == m["server_key"].replace("ECDSA", "EC")  # the lab says ECDSA, pcaptls the key type
        checked += 1
    assert checked


# -- decoded facts -----------------------------------------------------------------------------

@pytest.mark.parametrize("name, key, key_type, bits, curve", [
    ("rsa-leaf", "RSA 2048", "RSA", 2048, None),
    ("p384-self-signed", "EC secp384r1", "EC", 384, "secp384r1"),
    ("p256-no-bc", "EC secp256r1", "EC", 256, "secp256r1"),
    ("ed25519", "Ed25519 256", "Ed25519", 256, None),
])
def test_key_facts(name: str, key: str, key_type: str, bits: int, curve: str | None) -> None:
    info = decode(made()[name].der)
    assert (info.key, info.key_type, info.key_bits, info.curve) == (key, key_type, bits, curve)


@pytest.mark.parametrize("name, self_issued, self_signed, is_ca", [
    ("root", True, True, True),
    ("p384-self-signed", True, True, True),
    ("rsa-leaf", False, False, False),
    ("p256-no-bc", False, False, None),  # no basicConstraints: unknown, not False
    ("self-issued-forged", True, False, True),
])
def test_self_signed_self_issued_and_ca(name: str, self_issued: bool, self_signed: bool, is_ca: bool | None) -> None:
    info = decode(made()[name].der)
    assert (info.self_issued, info.self_signed, info.is_ca) == (self_issued, self_signed, is_ca)


@needs_openssl
@pytest.mark.parametrize("name", ["root", "p384-self-signed", "self-issued-forged"])
def test_self_signed_agrees_with_openssl_verify(tmp_path, name: str) -> None:  # type: ignore[no-untyped-def]
    """A self-issued certificate verifies as its own trust anchor exactly when its own key signed it."""
    cert = made()[name]
    pem = tmp_path / "c.pem"
    pem.write_bytes(cert.pem)
    r = subprocess.run([OPENSSL, "verify", "-check_ss_sig", "-attime", str(int(certgen.T.timestamp())),
                        "-no-CApath", "-no-CAstore", "-CAfile", str(pem), str(pem)], capture_output=True, text=True)
    assert (r.returncode == 0) == decode(cert.der).self_signed, r.stdout + r.stderr


def test_names_and_san() -> None:
    leaf = decode(made()["rsa-leaf"].der)
    assert leaf.common_name == "cucm.example.com" and leaf.short_name == "cucm.example.com"
    assert leaf.san_dns == ("cucm.example.com", "cucm")
    assert leaf.san_ip == ("10.48.36.215", "2001:db8::5")
    assert leaf.san == ("DNS:cucm.example.com", "DNS:cucm", "IP:10.48.36.215", "IP:2001:db8::5")
    assert decode(made()["two-cn"].der).common_name == "last.example.com"  # OpenSSL takes the last CN
    no_cn = decode(made()["no-cn"].der)
    assert no_cn.common_name is None and no_cn.short_name == no_cn.subject == "O=Org only"
    assert no_cn.san == ()
    assert decode(made()["odd-name"].der).common_name == "Ünïcode <x>=y;z"


def test_validity_window_is_aware_utc() -> None:
    cert = made()["far-future"]
    info = decode(cert.der)
    nb, na = datetime(2049, 12, 31, 23, 59, 59, tzinfo=UTC), datetime(2060, 2, 29, 12, 0, 1, tzinfo=UTC)
    assert (info.not_before, info.not_after) == (nb, na)
    assert info.not_before.utcoffset() == timedelta(0) and info.not_after.utcoffset() == timedelta(0)
    assert check(cert.der) == (nb, na)
    assert window(cert.der) == (nb.timestamp(), na.timestamp())
    leaf = decode(made()["rsa-leaf"].der)  # generator default: 30 days before to 365 after its reference time
    assert (leaf.not_before, leaf.not_after) == (certgen.T - 30 * certgen.DAY, certgen.T + 365 * certgen.DAY)


def test_to_dict() -> None:
    info = decode(made()["rsa-leaf"].der)
    d = info.to_dict()
    assert d == {
        "sha256": info.sha256, "subject": info.subject, "issuer": info.issuer, "common_name": "cucm.example.com",
        "serial": info.serial, "not_before": "2025-05-02T12:00:00Z", "not_after": "2026-06-01T12:00:00Z",
        "san": list(info.san), "key": "RSA 2048", "signature_algorithm": "sha256WithRSAEncryption",
        "self_signed": False, "is_ca": False,
    }


def test_decode_is_memoised_by_content() -> None:
    der = made()["rsa-leaf"].der
    assert decode(der) is decode(bytes(bytearray(der)))


# -- not certificates --------------------------------------------------------------------------

@pytest.mark.parametrize("junk", [b"", b"\x00", b"garbage", b"\x30\x03\x02\x01\x01"], ids=repr)
def test_junk_is_malformed(junk: bytes) -> None:
    with pytest.raises(MalformedError):
        decode(junk)
    with pytest.raises(MalformedError):
        check(junk)
    assert try_decode(junk) is None and window(junk) is None


def test_pem_is_not_der() -> None:
    assert try_decode(made()["root"].pem) is None


def test_every_truncation_is_malformed() -> None:
    der = made()["p384-self-signed"].der
    for cut in range(len(der)):
        with pytest.raises(MalformedError):
            decode(der[:cut])
        assert try_decode(der[:cut]) is None


@given(st.data())
def test_mutated_certificates_decode_or_raise_malformed_and_check_agrees(data: st.DataObject) -> None:
    """Any byte flips: ``decode`` returns or raises MalformedError, and ``check`` raises exactly
    when ``decode`` does, with the same message (its documented promise)."""
    der = bytearray(made()[data.draw(st.sampled_from(["rsa-leaf", "p384-self-signed", "ed25519"]))].der)
    for _ in range(data.draw(st.integers(1, 4))):
        i = data.draw(st.integers(0, len(der) - 1))
        der[i] = data.draw(st.integers(0, 255))
    mutated = bytes(der)
    try:
        info = decode(mutated)
    except MalformedError as e:
        with pytest.raises(MalformedError) as got:
            check(mutated)
        assert str(got.value) == str(e)
        assert try_decode(mutated) is None and window(mutated) is None
    else:
        assert check(mutated) == (info.not_before, info.not_after)
        assert info.sha256 == hashlib.sha256(mutated).hexdigest()


@pytest.mark.filterwarnings("ignore::cryptography.utils.CryptographyDeprecationWarning")
def test_check_agrees_with_decode_on_quirky_and_bundled_certificates() -> None:
    """``check`` skips the lenient reader's survey for what cryptography reads as it is: on
    certificates only OpenSSL reads (and some neither reads) and on certifi's bundle it still
    returns decode's validity or raises decode's error, called first on fresh caches."""
    from pcaptls.certificates import lenient
    from pcaptls.certificates.truststore import load
    from tests.helpers import quirkgen

    quirky = [der for q in quirkgen.quirks(certgen.T) for der in q.wire] if certgen.OPENSSL else []
    for der in dict.fromkeys(quirky + list(load(None).certs)):
        for cache in (check, decode, lenient.load, lenient._strict):
            cache.cache_clear()
        try:
            got: object = check(der)
        except MalformedError as e:
            got = str(e)
        try:
            info = decode(der)
            want: object = (info.not_before, info.not_after)
        except MalformedError as e:
            want = str(e)
        assert got == want
