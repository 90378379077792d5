"""Trust stores: the CA certificates a verifier (Expressway-C's traffic server) trusts.

A :class:`TrustStore` is an immutable list of DER certificates plus a description of where they
came from (``source``), so every verdict can say which trust store it was judged against.
:func:`load` reads one from a PEM bundle, a folder of PEM/DER files, an Expressway diagnostic
bundle's ``ca_<host>_<ts>.pem`` (a folder or a ``.tar.gz`` holding it), or, when no path is given,
certifi's copy of the Mozilla CA list. This module is a reader: it is allowed to open files.

:func:`lint` reports what breaks Expressway's trust store: two different certificates with the
same CN (bug CSCwa12905), CAs expired or not yet valid at a given time, certificates that are not
CAs, exact duplicates, intermediates whose root is missing.
"""

from __future__ import annotations

import base64
import binascii
import os
import re
from collections import defaultdict
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import datetime
from functools import lru_cache
from pathlib import Path

from ..errors import InputError, MalformedError
from ..times import readable
from . import x509 as x509mod
from .bundled import default_path, default_source
from .openssl.facts import (
    ca_status,
    canonical_issuer,
    canonical_subject,
    issued_by,
    self_signed,
)
from .x509 import CertInfo

# Files larger than this are not trust stores (a Mozilla bundle is ~250 KB).
MAX_FILE_BYTES = 64 * 1024 * 1024

_PEM_BEGIN = re.compile(rb"-----BEGIN (TRUSTED |X509 )?CERTIFICATE-----")
_PEM_END = re.compile(rb"-----END (?:TRUSTED |X509 )?CERTIFICATE-----")
_WHITESPACE = b" \t\n\r\f\v"  # what rb"\s" matches: dropped from a block's base64


def _pem_blocks(data: bytes) -> Iterator[tuple[bytes | None, bytes]]:
    """(kind, base64 body) of each certificate block; linear even in hostile input (a BEGIN
    without an END ends the search instead of rescanning the rest of the file)."""
    pos = 0
    while True:
        b = _PEM_BEGIN.search(data, pos)
        if b is None:
            return
        e = _PEM_END.search(data, b.end())
        if e is None:
            return
        yield b.group(1), data[b.end() : e.start()]
        pos = e.end()
_CA_MEMBER = re.compile(r"(^|/)ca_[^/]*\.pem$")


@dataclass(frozen=True, slots=True)
class TrustEntry:
    """One certificate as read, with where it was read from (file, and block number in it)."""

    der: bytes
    origin: str

    @property
    def info(self) -> CertInfo:
        return x509mod.decode(self.der)


@dataclass(frozen=True, slots=True)
class TrustStore:
    """Trusted certificates (DER) and a description of their source.

    ``entries`` keeps every certificate read, duplicates included (:func:`lint` reports them);
    ``certs`` is the de-duplicated list a verifier uses, in load order, as OpenSSL's X509_STORE
    silently drops exact duplicates. ``skipped`` names files in a folder that held no certificate.
    """

    entries: tuple[TrustEntry, ...]
    source: str
    skipped: tuple[str, ...] = ()
    certs: tuple[bytes, ...] = field(init=False, compare=False, repr=False)
    _by_subject: dict[tuple, tuple[bytes, ...]] = field(init=False, compare=False, repr=False)

    def __post_init__(self) -> None:
        seen: dict[bytes, None] = {}
        for e in self.entries:
            seen.setdefault(e.der, None)
        certs = tuple(seen)
        object.__setattr__(self, "certs", certs)
        index: dict[tuple, list[bytes]] = defaultdict(list)

        for der in certs:
            key = canonical_subject(der)
            if key is not None:
                index[key].append(der)
        object.__setattr__(self, "_by_subject", {k: tuple(v) for k, v in index.items()})

    def __len__(self) -> int:
        return len(self.certs)

    def by_subject(self, canonical_name: tuple) -> tuple[bytes, ...]:
        """Certificates whose subject equals ``canonical_name`` (OpenSSL's X509_NAME_cmp)."""
        return self._by_subject.get(canonical_name, ())

    def __contains__(self, der: object) -> bool:
        return isinstance(der, bytes) and der in self.certs

    @classmethod
    def from_certs(cls, certs: list[bytes] | tuple[bytes, ...], source: str) -> TrustStore:
        """A store from DER certificates already in memory (tests, or a capture's own chains)."""
        for i, der in enumerate(certs):
            try:
                x509mod.decode(der)
            except MalformedError as e:
                raise InputError(f"{source}: certificate {i + 1} does not decode: {e}") from e
        return cls(tuple(TrustEntry(d, f"{source}#{i + 1}") for i, d in enumerate(certs)), source)


# --------------------------------------------------------------------------------------------
# Reading


def parse_certificates(data: bytes, origin: str) -> list[TrustEntry]:
    """Certificates in ``data``: PEM blocks (any number) or a single DER certificate.

    Returns an empty list when the bytes hold neither; raises :class:`InputError` when a PEM
    certificate block is present but does not decode (a corrupt bundle must not be half-used).
    """
    if b"-----BEGIN" in data:
        out: list[TrustEntry] = []
        for n, (kind, body) in enumerate(_pem_blocks(data), 1):
            try:
                der = base64.b64decode(body.translate(None, _WHITESPACE), validate=True)
            except (binascii.Error, ValueError) as e:
                raise InputError(f"{origin}: certificate block {n} is not valid base64") from e
            if kind == b"TRUSTED ":
                der = _first_der_element(der, origin, n)
            try:  # fails exactly when decode() would; the full decode waits until it is needed
                x509mod.check(der)
            except MalformedError as e:
                raise InputError(f"{origin}: certificate block {n} does not decode: {e}") from e
            out.append(TrustEntry(der, f"{origin}#{n}"))
        return out
    if data[:1] == b"\x30":
        info = x509mod.try_decode(data)
        if info is not None:
            return [TrustEntry(data, origin)]
    return []


def _first_der_element(der: bytes, origin: str, n: int) -> bytes:
    """The certificate of an OpenSSL ``TRUSTED CERTIFICATE`` (certificate + trust settings)."""
    if len(der) < 2 or der[0] != 0x30:
        raise InputError(f"{origin}: certificate block {n} is not DER")
    first = der[1]
    if first < 0x80:
        return der[: 2 + first]
    nlen = first & 0x7F
    if nlen == 0 or nlen > 4 or len(der) < 2 + nlen:
        raise InputError(f"{origin}: certificate block {n} has a bad length")
    length = int.from_bytes(der[2 : 2 + nlen], "big")
    return der[: 2 + nlen + length]


def _read_file(path: Path) -> bytes:
    try:
        size = path.stat().st_size
        if size > MAX_FILE_BYTES:
            raise InputError(f"{path}: {size} bytes is too large for a trust store file")
        return path.read_bytes()
    except InputError:
        raise
    except OSError as e:
        raise InputError(f"{path}: cannot read: {e.strerror or e}") from e


def _from_tar(path: Path) -> TrustStore:
    from ..inputs.archive import TarStream  # here: tarfile only for a bundle, not the default store

    entries: list[TrustEntry] = []
    members: list[str] = []
    try:
        with open(path, "rb") as fh, TarStream(fh) as tar:
            # A bundle cut short: the trust store is often before the cut.
            for m, data in tar.files(lambda n: bool(_CA_MEMBER.search(n))):
                if m.size > MAX_FILE_BYTES:
                    raise InputError(f"{path}: {m.name} is too large for a trust store")
                members.append(m.name)
                entries += parse_certificates(data.read(), f"{path.name}:{m.name}")  # in memory
            cut = tar.cut
    except InputError:
        raise
    except (MalformedError, OSError) as e:
        raise InputError(f"{path}: not a readable diagnostic bundle: {e}") from e
    if not members:
        where = f"in the part of this bundle before its cut ({cut})" if cut else "in this bundle"
        raise InputError(f"{path}: no ca_*.pem trust store {where}")
    if not entries:
        raise InputError(f"{path}: {', '.join(members)} holds no certificates")
    return TrustStore(tuple(entries), f"Expressway trust store {', '.join(members)} in {path}")


def _from_folder(path: Path) -> TrustStore:
    try:
        files = sorted(p for p in path.rglob("*") if p.is_file())
    except OSError as e:
        raise InputError(f"{path}: cannot list folder: {e.strerror or e}") from e
    bundle = [p for p in files if re.fullmatch(r"ca_.*\.pem", p.name)]
    if bundle:  # an unpacked diagnostic bundle: its trust store is ca_<host>_<ts>.pem
        entries = [e for p in bundle for e in parse_certificates(_read_file(p), str(p))]
        if not entries:
            raise InputError(f"{path}: {', '.join(p.name for p in bundle)} holds no certificates")
        names = ", ".join(str(p.relative_to(path)) for p in bundle)
        return TrustStore(tuple(entries), f"Expressway trust store {names} in {path}")
    entries = []
    skipped: list[str] = []
    for p in files:
        if p.stat().st_size > MAX_FILE_BYTES:
            skipped.append(str(p))
            continue
        found = parse_certificates(_read_file(p), str(p))
        if found:
            entries += found
        else:
            skipped.append(str(p))
    if not entries:
        raise InputError(f"{path}: no PEM or DER certificates in this folder")
    return TrustStore(tuple(entries), f"folder {path} ({len(files) - len(skipped)} files)", tuple(skipped))


def default_store() -> TrustStore:
    """certifi's bundle (the Mozilla CA list): the default when no trust store is given. Read
    once per process (a store is immutable): the API's calls and a command's share it."""
    return _bundle(default_path())


@lru_cache(maxsize=1)
def _bundle(where: str) -> TrustStore:
    path = Path(where)
    return TrustStore(tuple(parse_certificates(_read_file(path), str(path))), default_source())


def load(path: str | os.PathLike[str] | None) -> TrustStore:
    """Read a trust store; ``None`` gives :func:`default_store`.

    ``path`` is a PEM bundle or a DER file, a folder (of PEM/DER files, or an unpacked diagnostic
    bundle with ``ca_*.pem``), or a ``.tar``/``.tar.gz`` diagnostic bundle. Raises
    :class:`InputError` when the path cannot be read or holds no usable certificate.
    """
    if path is None:
        return default_store()
    p = Path(path)
    if not p.exists():
        raise InputError(f"{p}: no such file or folder")
    if p.is_dir():
        return _from_folder(p)
    data = _read_file(p)
    if data[:2] == b"\x1f\x8b" or p.name.endswith((".tar", ".tgz", ".tar.gz")) or _is_tar(data):
        return _from_tar(p)
    entries = parse_certificates(data, str(p))
    if not entries:
        raise InputError(f"{p}: not a PEM or DER certificate file")
    return TrustStore(tuple(entries), f"file {p}")


def _is_tar(data: bytes) -> bool:
    return len(data) > 262 and data[257:262] == b"ustar"


# --------------------------------------------------------------------------------------------
# Lint


@dataclass(frozen=True, slots=True)
class LintWarning:
    """A problem in a trust store. ``severity`` is "warning" (breaks or will break verification)
    or "info" (worth knowing); ``certs`` are the SHA-256 fingerprints concerned."""

    kind: str  # same_cn | expired | not_yet_valid | not_ca | duplicate | no_root
    severity: str
    message: str
    certs: tuple[str, ...]

    def to_dict(self) -> dict[str, object]:
        return {"kind": self.kind, "severity": self.severity, "message": self.message, "certs": list(self.certs)}


def lint(store: TrustStore, at: datetime) -> list[LintWarning]:
    """Problems in ``store`` judged at ``at`` (aware datetime), in a stable order.

    Validity follows OpenSSL: a certificate is valid when notBefore <= at < notAfter.
    """

    if at.tzinfo is None:
        raise ValueError("lint() needs an aware datetime")
    findings: list[LintWarning] = []
    # exact duplicates
    count: dict[bytes, list[str]] = defaultdict(list)
    for e in store.entries:
        count[e.der].append(e.origin)
    for der, origins in count.items():
        if len(origins) > 1:
            info = x509mod.decode(der)
            findings.append(LintWarning(
                "duplicate", "info",
                f"{info.short_name} appears {len(origins)} times ({', '.join(origins)})",
                (info.sha256,),
            ))
    infos = [x509mod.decode(d) for d in store.certs]
    findings += _same_cn(infos)
    for info in infos:
        if info.not_before > at:
            findings.append(LintWarning(
                "not_yet_valid", "warning",
                f"{info.short_name} is not valid before {readable(info.not_before)}", (info.sha256,)))
        elif info.not_after <= at:
            findings.append(LintWarning(
                "expired", "warning", f"{info.short_name} expired on {readable(info.not_after)}", (info.sha256,)))
        ss = self_signed(info.der)
        if ca_status(info.der) == 0:
            if ss:
                findings.append(LintWarning(
                    "not_ca", "info",
                    f"{info.short_name} is a self-signed server certificate, not a CA: it trusts only "
                    "itself (fine for a self-signed CUCM/IM&P/Unity certificate)",
                    (info.sha256,)))
            else:
                findings.append(LintWarning(
                    "not_ca", "warning",
                    f"{info.short_name} is not a CA certificate and not self-signed: it can neither "
                    "sign a chain nor anchor one",
                    (info.sha256,)))
        elif not ss and not _reaches_root(info.der, store):
            findings.append(LintWarning(
                "no_root", "warning",
                f"{info.short_name} is an intermediate CA whose root ({info.issuer}) is not in the "
                "store: chains through it fail with 'unable to get issuer certificate'",
                (info.sha256,)))
    return findings


def _same_cn(infos: list[CertInfo]) -> list[LintWarning]:
    """Different certificates sharing a CN (CSCwa12905: Expressway keeps only one of them)."""
    by_cn: dict[str, list[CertInfo]] = defaultdict(list)
    for info in infos:
        if info.common_name and info not in by_cn[info.common_name.casefold()]:
            by_cn[info.common_name.casefold()].append(info)
    out = []
    for group in by_cn.values():
        if len(group) > 1:
            detail = "; ".join(f"{i.sha256[:16]} issued by {i.issuer}, expires {readable(i.not_after)}" for i in group)
            out.append(LintWarning(
                "same_cn", "warning",
                f"{len(group)} different certificates share CN={group[0].common_name!r}: Expressway "
                f"keeps only one certificate per CN (CSCwa12905), the others will be missing: {detail}",
                tuple(i.sha256 for i in group),
            ))
    return out


def upload_conflicts(to_upload: list[bytes] | tuple[bytes, ...], store: TrustStore | None = None) -> list[LintWarning]:
    """CSCwa12905 before it bites: certificates a user is told to upload (say the self-signed
    RSA and ECDSA tomcat certificates of one CUCM, which often share a CN) that share a CN with
    each other or with a different certificate already in ``store``."""
    infos = [x509mod.decode(d) for d in dict.fromkeys(to_upload)]
    present = [x509mod.decode(d) for d in store.certs] if store is not None else []
    wanted = {i.sha256 for i in infos}
    return [f for f in _same_cn(infos + [p for p in present if p.sha256 not in wanted])
            if wanted.intersection(f.certs)]


def _reaches_root(der: bytes, store: TrustStore) -> bool:
    """Whether ``der``'s issuers, followed inside ``store``, end in a self-signed certificate."""

    seen = {der}
    frontier = [der]
    while frontier:
        cur = frontier.pop()
        key = canonical_issuer(cur)
        if key is None:
            continue
        for cand in store.by_subject(key):
            if cand in seen or not issued_by(cur, cand):
                continue
            if self_signed(cand):
                return True
            seen.add(cand)
            frontier.append(cand)
    return False
