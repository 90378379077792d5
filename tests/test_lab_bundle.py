"""The lab's derived files for mra-login: the diagnostic bundle and the duplicate-CN trust store.

The bundle must hold exactly what Expressway-C's diagnostic logging hands out (log snapshot,
tcpdump capture, trust store), each equal to the scenario's own file, and pcaptls must read the
trust store and the log out of it as it reads the loose files. The duplicate-CN trust store is
the scenario's trust store plus a second "Steven Lab Root CA" (CSCwa12905), which the trust store
lint must flag, and only that.
"""

from __future__ import annotations

import json
import re
import shutil
import sys
import tarfile
from datetime import datetime, timezone
from pathlib import Path

import pytest

from pcaptls.certificates import truststore
from pcaptls.certificates.x509 import decode
from pcaptls.logs import read_logs
from tests.helpers.paths import CAPTURES

FOLDER = CAPTURES / "mra-login"
BUNDLE = FOLDER / "diagnostic_bundle.tar.gz"
DUPLICATE = FOLDER / "truststore-duplicate-cn.pem"
TS = r"(\d{4}-\d{2}-\d{2}_\d{2}-\d{2})"
MEMBERS = {  # member name pattern -> the scenario file it must equal
    rf"loggingsnapshot_vcsc_{TS}\.txt": "expressway.log",
    rf"eth0_diagnostic_logging_tcpdump00_vcsc_{TS}\.pcap": "capture.pcap",
    rf"ca_vcsc_{TS}\.pem": "truststore.pem",
}

pytestmark = pytest.mark.skipif(not BUNDLE.exists(), reason="no mra-login diagnostic bundle")


def _members() -> dict[str, bytes]:
    with tarfile.open(BUNDLE, "r:gz") as tar:
        out = {}
        for m in tar.getmembers():
            assert m.isfile(), f"{m.name} is not a regular file"
            f = tar.extractfile(m)
            assert f is not None
            out[m.name] = f.read()
        return out


def test_bundle_holds_exactly_the_scenario_files() -> None:
    members = _members()
    assert len(members) == 3, sorted(members)
    stamps = set()
    for pattern, source in MEMBERS.items():
        found = [n for n in members if re.fullmatch(pattern, n)]
        assert len(found) == 1, f"{pattern}: {sorted(members)}"
        stamps.add(re.fullmatch(pattern, found[0]).group(1))  # type: ignore[union-attr]
        assert members[found[0]] == (FOLDER / source).read_bytes(), f"{found[0]} != {source}"
    assert len(stamps) == 1, f"members carry different timestamps: {stamps}"


def test_pcaptls_reads_the_bundle_like_the_loose_files() -> None:
    from_bundle = truststore.load(BUNDLE)
    assert from_bundle.certs == truststore.load(FOLDER / "truststore.pem").certs
    events, summary = read_logs(BUNDLE)
    loose, loose_summary = read_logs(FOLDER / "expressway.log")
    assert [e.text for e in events] == [e.text for e in loose]
    assert summary.lines == loose_summary.lines


def test_lab_rebuilds_the_same_bundle(tmp_path: Path) -> None:
    """The archive is a pure function of the folder: regenerating it changes no byte."""
    sys.path.insert(0, str(CAPTURES))
    try:
        import _extras
    finally:
        sys.path.remove(str(CAPTURES))
    for name in ("capture.pcap", "expressway.log", "truststore.pem"):
        shutil.copyfile(FOLDER / name, tmp_path / name)
    assert _extras.write_bundle(tmp_path).read_bytes() == BUNDLE.read_bytes()


def test_duplicate_cn_trust_store_is_flagged() -> None:
    base = truststore.load(FOLDER / "truststore.pem")
    dup = truststore.load(DUPLICATE)
    assert dup.certs[: len(base.certs)] == base.certs
    extra = [decode(d) for d in dup.certs[len(base.certs):]]
    assert len(extra) == 1
    same = [decode(d) for d in base.certs if decode(d).common_name == extra[0].common_name]
    assert len(same) == 1 and same[0].der != extra[0].der
    manifest = json.loads((FOLDER / "manifest.json").read_text())
    at = datetime.fromtimestamp(manifest["connections"][0]["start"], timezone.utc)
    findings = truststore.lint(dup, at)
    assert [f.kind for f in findings if f.severity == "warning"] == ["same_cn"]
    assert set(findings[0].certs) == {same[0].sha256, extra[0].sha256}
    assert "CSCwa12905" in findings[0].message
    assert not [f for f in truststore.lint(base, at) if f.severity == "warning"]
