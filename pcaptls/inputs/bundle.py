"""Inputs given as an Expressway diagnostic bundle (``.tar.gz`` or its unpacked folder).

A bundle holds ``loggingsnapshot_<host>_<ts>.txt`` (the log), up to 20 captures per interface
``eth<n>_diagnostic_logging_tcpdump<x>_<host>_<ts>.pcap`` and the node's trust store
``ca_<host>_<ts>.pem``. :func:`open_bundle` finds them; captures inside a tarball are extracted
to a temporary folder (regular files only, by base name: no path from the archive is trusted).
"""

from __future__ import annotations

import os
import re
import shutil
import tempfile
from dataclasses import dataclass, field
from pathlib import Path

from ..errors import InputError, MalformedError
from .archive import TarStream

_CAPTURE = re.compile(r"\.(pcap|pcapng|cap)(\.gz)?$", re.I)
_LOG = re.compile(r"(loggingsnapshot|\.log$|\.txt$)", re.I)
_TRUST = re.compile(r"(^|/)ca_[^/]*\.pem$", re.I)
MAX_MEMBER = 1 << 30  # a capture member larger than this is not extracted (Expressway writes 20 MB ones)
MAX_EXTRACTED = 8 << 30  # all members together: a bundle cannot fill the disk


@dataclass
class Bundle:
    """What was found; ``cleanup()`` removes the extracted copies."""

    source: str
    captures: list[str] = field(default_factory=list)
    logs: list[str] = field(default_factory=list)
    trust_store: str | None = None
    problems: list[str] = field(default_factory=list)  # a tarball cut short: what was lost, for stderr
    # An extracted capture's temporary path -> the name to show: the member's, never the copy's.
    names: dict[str, str] = field(default_factory=dict)
    _tmp: str | None = None

    def name(self, path: str) -> str:
        """How to call one of :attr:`captures`: ``member.pcap (in bundle.tar.gz)``, or its own path."""
        return self.names.get(path, path)

    def cleanup(self) -> None:
        if self._tmp:
            shutil.rmtree(self._tmp, ignore_errors=True)
            self._tmp = None


def is_bundle(path: str) -> bool:
    p = Path(path)
    return p.is_dir() or p.name.endswith((".tar.gz", ".tgz", ".tar"))


def open_bundle(path: str) -> Bundle:
    """Find captures, logs and the trust store in a bundle folder or tarball."""
    p = Path(path)
    if not p.exists():
        raise InputError(f"{path}: no such file or folder")
    b = Bundle(source=str(p))
    if p.is_dir():
        for f in sorted(p.rglob("*")):
            if not f.is_file():
                continue
            rel = f.relative_to(p).as_posix()
            if _CAPTURE.search(f.name):
                b.captures.append(str(f))
            elif _TRUST.search(rel):
                b.trust_store = b.trust_store or str(f)
            elif _LOG.search(f.name):
                b.logs.append(str(f))
    else:
        cut: str | None = None
        try:
            with open(p, "rb") as fh, TarStream(fh) as tar:
                tmp = tempfile.mkdtemp(prefix="pcaptls-bundle-")
                b._tmp = tmp
                extracted = 0
                for m, data in tar.files(lambda n: bool(_CAPTURE.search(os.path.basename(n)))):
                    name = os.path.basename(m.name)
                    if m.size > MAX_MEMBER or extracted + m.size > MAX_EXTRACTED:
                        b.problems.append(f"{path}: {name} ({m.size} bytes) not read: over the "
                                          f"{MAX_MEMBER >> 20} MiB per capture / {MAX_EXTRACTED >> 30} GiB per bundle limit")
                        continue
                    extracted += m.size
                    # Numbered: two members with the same base name must not overwrite each other.
                    dest = Path(tmp, f"{len(b.captures):03d}_{name}")
                    b.captures.append(str(dest))  # a member cut short is read up to its cut
                    b.names[str(dest)] = f"{name} (in {path})"
                    with open(dest, "wb") as out:
                        while chunk := data.read(1 << 20):
                            out.write(chunk)
            cut = tar.cut
        except (MalformedError, OSError) as e:
            if not b.captures:
                b.cleanup()
                raise InputError(f"{path}: not a readable diagnostic bundle: {e}") from e
            cut = str(e)
        if cut:
            # A bundle copied while being written: the captures before the cut are still good.
            n = len(b.captures)
            b.problems.append(f"{path}: bundle ends early ({cut}); reading the {n} capture{'s' * (n != 1)} before the cut")
        b.logs.append(str(p))  # the log reader reads log members straight from the tarball
        b.trust_store = str(p)  # so does the trust store loader (ca_*.pem)
        b.captures.sort()
    if not b.captures:
        b.cleanup()
        raise InputError(f"{path}: no capture (.pcap/.pcapng) in this bundle")
    return b
