"""Client and server fingerprints from the hellos' fields: JA3, JA3S (Salesforce, BSD 3-Clause)
and JA4 (FoxIO, the client fingerprint only, BSD 3-Clause; JA4S/JA4X are under another licence
and are not made here).

Pure functions of a :class:`~pcaptls.tls.model.TlsConnection`'s hello lists, so both engines'
records give the same fingerprints. Each returns ``None`` when the hello it reads was not seen.

- JA3: ``SSLVersion,Ciphers,Extensions,EllipticCurves,EllipticCurvePointFormats`` of the
  ClientHello, decimal, ``-``-joined, GREASE (RFC 8701) left out; its MD5 is the hash.
- JA3S: ``SSLVersion,Cipher,Extensions`` of the ServerHello (its version field, not the
  negotiated version), and its MD5.
- JA4: ``t`` + version + ``d``/``i`` (SNI or not) + cipher and extension counts + ALPN chars,
  then the truncated SHA-256 of the sorted suites, then of the sorted extensions (without SNI and
  ALPN) ``_`` the signature algorithms in wire order. ``ja4_r`` is the same before hashing.
"""

from __future__ import annotations

import hashlib
import re

from .constants import is_grease
from .model import TlsConnection

_SNI = 0x0000
_ALPN = 0x0010
_SUPPORTED_VERSIONS = 0x002B

# JA4's two-character version names (technical_details/JA4.md).
_JA4_VERSION = {0x0304: "13", 0x0303: "12", 0x0302: "11", 0x0301: "10", 0x0300: "s3", 0x0002: "s2",
                0xFEFF: "d1", 0xFEFD: "d2", 0xFEFC: "d3"}
_ESCAPED = re.compile(r"\\x[0-9a-f]{2}")


def _md5(text: str) -> str:
    return hashlib.md5(text.encode("ascii"), usedforsecurity=False).hexdigest()


def _dec(values: tuple[int, ...]) -> str:
    return "-".join(str(v) for v in values if not is_grease(v))


def ja3(c: TlsConnection) -> str | None:
    """The JA3 string of ``c``'s ClientHello, or ``None`` (no ClientHello, or an SSLv2 one)."""
    if not c.client_hello_seen or c.client_version is None or c.client_hello_sslv2:
        return None
    return ",".join((str(c.client_version), _dec(c.offered_ciphers), _dec(c.client_extensions),
                     _dec(c.offered_groups), "-".join(map(str, c.client_point_formats))))


def ja3s(c: TlsConnection) -> str | None:
    """The JA3S string of ``c``'s ServerHello, or ``None`` (no TLS ServerHello seen)."""
    if c.server_legacy_version is None or c.cipher_id is None:
        return None
    return f"{c.server_legacy_version},{c.cipher_id},{_dec(c.server_extensions)}"


def md5_of(text: str | None) -> str | None:
    """The JA3/JA3S hash of a string from :func:`ja3`/:func:`ja3s`."""
    return None if text is None else _md5(text)


def _alpn_chars(alpn: tuple[str, ...]) -> str:
    """First and last character of the first ALPN value; ``00`` without one. A value that starts
    or ends with a byte outside ASCII gives ``99``, as the JA4 project's tool writes it. (The
    values are kept as text with invalid UTF-8 escaped as ``\\xNN``: such an escape is a byte
    outside ASCII.)"""
    if not alpn or not alpn[0]:
        return "00"
    v = alpn[0]
    if v[0] > "\x7f" or v[-1] > "\x7f" or _ESCAPED.match(v) or _ESCAPED.fullmatch(v[-4:]):
        return "99"
    return v[0] + v[-1]


def _sha12(text: str) -> str:
    return hashlib.sha256(text.encode("ascii")).hexdigest()[:12]


def _ja4_parts(c: TlsConnection, original: bool) -> tuple[str, str, str, str] | None:
    """(a, ciphers, extensions, sigalgs) of JA4, lists as the raw form writes them."""
    if not c.client_hello_seen or c.client_version is None or c.client_hello_sslv2:
        return None
    ciphers = [x for x in c.offered_ciphers if not is_grease(x)]
    exts = [x for x in c.client_extensions if not is_grease(x)]
    versions = [v for v in c.offered_versions if not is_grease(v)] if _SUPPORTED_VERSIONS in exts else []
    version = _JA4_VERSION.get(max(versions) if versions else c.client_version, "00")
    a = (f"t{version}{'d' if _SNI in exts else 'i'}{min(len(ciphers), 99):02d}{min(len(exts), 99):02d}"
         f"{_alpn_chars(c.alpn_offered)}")
    if original:
        listed = exts
    else:
        ciphers = sorted(ciphers)
        listed = sorted(x for x in exts if x not in (_SNI, _ALPN))
    sigalgs = [x for x in c.offered_sigalgs if not is_grease(x)]
    return (a, ",".join(f"{x:04x}" for x in ciphers), ",".join(f"{x:04x}" for x in listed),
            ",".join(f"{x:04x}" for x in sigalgs))


def ja4(c: TlsConnection, original: bool = False) -> str | None:
    """JA4 of ``c``'s ClientHello (``original``: JA4_o, lists in wire order), or ``None``."""
    parts = _ja4_parts(c, original)
    if parts is None:
        return None
    a, ciphers, exts, sigalgs = parts
    b = _sha12(ciphers) if ciphers else "000000000000"
    if not any(x not in (_SNI, _ALPN) and not is_grease(x) for x in c.client_extensions):
        # No extension but SNI and ALPN: zeros, in the original-order form too (as the JA4
        # project's tool writes it).
        tail = "000000000000"
    else:
        tail = _sha12(f"{exts}_{sigalgs}" if sigalgs else exts)
    return f"{a}_{b}_{tail}"


def ja4_r(c: TlsConnection, original: bool = False) -> str | None:
    """JA4_r (``original``: JA4_ro): the lists JA4 hashes, unhashed."""
    parts = _ja4_parts(c, original)
    if parts is None:
        return None
    a, ciphers, exts, sigalgs = parts
    return f"{a}_{ciphers}_{exts}_{sigalgs}" if sigalgs else f"{a}_{ciphers}_{exts}"
