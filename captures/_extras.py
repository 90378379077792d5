"""Files the lab derives from a finished scenario folder, without running any traffic.

- ``truststore-duplicate-cn.pem``: the scenario's trust store plus a *renewed* "Steven Lab Root
  CA" (same CN, new key). Expressway's trust store keeps one certificate per CN (CSCwa12905), so
  the CA that signed the servers' chains may be the one that goes missing; ``pcaptls truststore``
  must warn about it.
- ``diagnostic_bundle.tar.gz``: what Expressway-C's Maintenance > Diagnostics hands out, built
  from the scenario: ``loggingsnapshot_vcsc_<ts>.txt`` (the log), ``eth0_diagnostic_logging_
  tcpdump00_vcsc_<ts>.pcap`` (the capture) and ``ca_vcsc_<ts>.pem`` (the trust store). ``<ts>`` is
  the capture's last packet time (UTC, ``YYYY-MM-DD_HH-MM``). The archive is byte-for-byte
  reproducible from the folder: fixed member order, times, owners and modes, and a gzip header
  without name or time of its own.

``lab.py`` writes them after the scenarios listed in ``lab.EXTRAS``; ``lab.py --extras-only``
rewrites them from folders already there (no root needed).
"""

from __future__ import annotations

import datetime as dt
import gzip
import io
import struct
import tarfile
from pathlib import Path

import _pcapfile
import _pki
from cryptography import x509

HOST = "vcsc"
DUPLICATE_CN = "truststore-duplicate-cn.pem"
BUNDLE = "diagnostic_bundle.tar.gz"
RENEWED_CN = "Steven Lab Root CA"


def _last_packet(folder: Path) -> int:
    """The capture's last packet time, whole epoch seconds (0 for an empty capture)."""
    _, records = _pcapfile.read(str(folder / "capture.pcap"))
    return struct.unpack_from("<I", records[-1][0])[0] if records else 0  # ts_sec


def bundle_members(folder: Path) -> list[tuple[str, Path]]:
    """``(member name, source file)`` in archive order for the scenario in ``folder``."""
    ts = dt.datetime.fromtimestamp(_last_packet(folder), dt.timezone.utc).strftime("%Y-%m-%d_%H-%M")
    return [
        (f"loggingsnapshot_{HOST}_{ts}.txt", folder / "expressway.log"),
        (f"eth0_diagnostic_logging_tcpdump00_{HOST}_{ts}.pcap", folder / "capture.pcap"),
        (f"ca_{HOST}_{ts}.pem", folder / "truststore.pem"),
    ]


def write_bundle(folder: Path) -> Path:
    """Write ``folder/diagnostic_bundle.tar.gz`` from the scenario's log, capture and trust
    store."""
    members = bundle_members(folder)
    mtime = _last_packet(folder)
    raw = io.BytesIO()
    with tarfile.open(fileobj=raw, mode="w", format=tarfile.USTAR_FORMAT) as tar:
        for name, src in members:
            data = src.read_bytes()
            info = tarfile.TarInfo(name)
            info.size, info.mtime, info.mode = len(data), mtime, 0o644
            info.uid = info.gid = 0
            info.uname = info.gname = "root"
            tar.addfile(info, io.BytesIO(data))
    out = folder / BUNDLE
    with open(out, "wb") as fh, gzip.GzipFile(filename="", mode="wb", fileobj=fh, mtime=mtime,
                                              compresslevel=9) as gz:
        gz.write(raw.getvalue())
    return out


def write_duplicate_cn(folder: Path, now: dt.datetime) -> Path:
    """Write ``folder/truststore-duplicate-cn.pem``: the trust store, then a renewed root CA with
    the CN of the one already there (new key, issued ``now``)."""
    trust = (folder / "truststore.pem").read_bytes()
    cns = {c.subject.get_attributes_for_oid(x509.NameOID.COMMON_NAME)[0].value
           for c in x509.load_pem_x509_certificates(trust)}
    if RENEWED_CN not in cns:
        raise ValueError(f"{folder / 'truststore.pem'} holds no {RENEWED_CN!r} to renew")
    renewed = _pki.make_ca(RENEWED_CN, _pki.rsa_key(2048), now)
    out = folder / DUPLICATE_CN
    out.write_bytes(trust + renewed.pem)
    return out


def write_extras(folder: Path, now: dt.datetime | None = None) -> list[Path]:
    """Both files above, into ``folder``; returns their paths."""
    now = now or dt.datetime.now(dt.timezone.utc).replace(microsecond=0)
    return [write_duplicate_cn(folder, now), write_bundle(folder)]
