"""Export the certificates servers presented: what a user uploads to Expressway's trust store.

:func:`plan` decides, without touching the disk, what to write: every distinct certificate once
(PEM, or DER with ``der=True``), named ``<CN>_<sha256[:16]>.pem``, and one PEM chain bundle per
server address and port, as sent on the wire (``chain_<ip>_<port>.pem``; a server that sent
different chains on different connections, say RSA on 8443 and ECDSA on 6972 of one address, or
per SNI, gets ``chain_<ip>_<port>_2.pem`` and so on). :func:`write` puts a plan into a folder.

Names come from certificate CNs, which are attacker-controlled: they are reduced to
``[A-Za-z0-9._-]``, never start with a dot, and are capped in length, so no CN can climb out of
the folder, hide a file, or collide with another certificate (the fingerprint is always part
of the name).
"""

from __future__ import annotations

import base64
import os
import re
import tempfile
import unicodedata
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path

from ..errors import InputError
from ..tcp.facts import Endpoint
from ..tls.model import TlsConnection
from . import x509 as x509mod

_UNSAFE = re.compile(r"[^A-Za-z0-9._-]+")
_MAX_STEM = 64


@dataclass(frozen=True, slots=True)
class ExportItem:
    """One file to write. ``kind`` is "cert" or "chain"; ``sha256`` is the certificate's (for a
    chain: its leaf's); ``server`` the endpoints that sent it."""

    filename: str
    data: bytes
    kind: str
    sha256: str
    subject: str
    servers: tuple[str, ...]
    count: int = 1  # certificates in the file


@dataclass(frozen=True, slots=True)
class Written:
    """A file :func:`write` wrote."""

    path: str
    kind: str
    sha256: str
    subject: str
    servers: tuple[str, ...]
    count: int

    def to_dict(self) -> dict[str, object]:
        return {"path": self.path, "kind": self.kind, "sha256": self.sha256, "subject": self.subject,
                "servers": list(self.servers), "count": self.count}


def safe_stem(text: str | None, fallback: str = "cert") -> str:
    """A file-name stem from untrusted text: ASCII letters, digits, ``._-``; no leading dot."""
    s = unicodedata.normalize("NFKD", text or "").encode("ascii", "ignore").decode("ascii")
    s = s.replace("*", "wildcard")
    s = _UNSAFE.sub("_", s).strip("._-")
    s = re.sub(r"\.{2,}", ".", s)[:_MAX_STEM].strip("._-")
    return s or fallback


def pem(der: bytes) -> bytes:
    """``der`` as a PEM certificate block (64-column base64, as OpenSSL writes it)."""
    b64 = base64.b64encode(der)
    body = b"\n".join(b64[i : i + 64] for i in range(0, len(b64), 64))
    return b"-----BEGIN CERTIFICATE-----\n" + body + b"\n-----END CERTIFICATE-----\n"


def _server_stem(server: Endpoint) -> str:
    return safe_stem(f"{server.ip.replace(':', '-')}_{server.port}", "server")


def plan(chains: Iterable[tuple[Endpoint, Sequence[bytes]]], der: bool = False) -> list[ExportItem]:
    """What to write for ``chains`` (server endpoint, DER chain in wire order) seen in a capture.

    Certificates that do not decode are still exported (named by fingerprint): they are
    evidence. The order is stable: certificates in first-seen order, then chain bundles.
    """
    certs: dict[bytes, list[str]] = {}
    bundles: dict[Endpoint, list[tuple[bytes, ...]]] = {}
    for server, chain in chains:
        chain = tuple(chain)
        if not chain:
            continue
        for c in chain:
            servers = certs.setdefault(c, [])
            if str(server) not in servers:
                servers.append(str(server))
        seen = bundles.setdefault(server, [])
        if chain not in seen:
            seen.append(chain)
    items: list[ExportItem] = []
    for c, servers in certs.items():
        info = x509mod.try_decode(c)
        sha = x509mod.sha256_hex(c)
        stem = safe_stem(info.common_name if info else None, "cert")
        ext = "der" if der else "pem"
        items.append(ExportItem(
            f"{stem}_{sha[:16]}.{ext}", c if der else pem(c), "cert", sha,
            info.subject if info else "(does not decode)", tuple(servers),
        ))
    for server, variants in bundles.items():
        for n, chain in enumerate(variants, 1):
            suffix = "" if n == 1 else f"_{n}"
            leaf = x509mod.try_decode(chain[0])
            items.append(ExportItem(
                f"chain_{_server_stem(server)}{suffix}.pem", b"".join(pem(c) for c in chain), "chain",
                x509mod.sha256_hex(chain[0]), leaf.subject if leaf else "(does not decode)",
                (str(server),), len(chain),
            ))
    return items


def write(items: Sequence[ExportItem], directory: str | os.PathLike[str]) -> list[Written]:
    """Write ``items`` into ``directory`` (created if missing). Each file is written to a temporary
    name and renamed into place, so a symlink planted under a target name is replaced, never
    followed. Raises :class:`InputError` when the folder cannot be created or written."""
    d = Path(directory)
    try:
        d.mkdir(parents=True, exist_ok=True)
    except OSError as e:
        raise InputError(f"{d}: cannot create folder: {e.strerror or e}") from e
    if not d.is_dir():
        raise InputError(f"{d}: not a folder")
    out: list[Written] = []
    for it in items:
        if "/" in it.filename or "\\" in it.filename or it.filename.startswith("."):
            raise ValueError(f"unsafe export file name {it.filename!r}")  # plan() never makes one
        target = d / it.filename
        try:
            fd, tmp = tempfile.mkstemp(dir=d, prefix=".pcaptls-")
            try:
                with os.fdopen(fd, "wb") as f:
                    f.write(it.data)
                os.chmod(tmp, 0o644)
                os.replace(tmp, target)
            except BaseException:
                if os.path.exists(tmp):
                    os.unlink(tmp)
                raise
        except OSError as e:
            raise InputError(f"{target}: cannot write: {e.strerror or e}") from e
        out.append(Written(str(target), it.kind, it.sha256, it.subject, it.servers, it.count))
    return out


def export(chains: Iterable[tuple[Endpoint, Sequence[bytes]]], directory: str | os.PathLike[str],
           der: bool = False) -> list[Written]:
    """:func:`plan` then :func:`write`: every distinct certificate and one bundle per server."""
    return write(plan(chains, der), directory)


def connection_chains(connections: Iterable[TlsConnection]) -> list[tuple[Endpoint, tuple[bytes, ...]]]:
    """(server, chain) of each :class:`~pcaptls.tls.model.TlsConnection` that carried one."""
    return [(c.server, tuple(c.server_certs)) for c in connections if c.server_certs]
