"""pcaptls.logs.reader: files, folders, bundles, encodings, damage."""

from __future__ import annotations

import gzip
import io
import tarfile
from pathlib import Path

import pytest

from pcaptls.errors import InputError
from pcaptls.logs import EventKind, read_logs
from pcaptls.logs.reader import iter_lines

DATA = Path(__file__).parent / "data"
FIXTURE = (DATA / "expressway_x14.log").read_bytes()
N_EVENTS = 19


def _kinds(evs):
    return [e.kind for e in evs]


def test_plain_file(tmp_path):
    evs, s = read_logs(DATA / "expressway_x14.log")
    assert len(evs) == N_EVENTS and s.events == N_EVENTS and s.lines == FIXTURE.count(b"\n")
    assert {e.source for e in evs} == {"expressway_x14.log"}


def test_bundle_reads_only_the_log_snapshot_and_never_extracts(tmp_path):
    bundle = tmp_path / "diagnostic_logging_vcsc.tar.gz"
    with tarfile.open(bundle, "w:gz") as tar:
        for name, data in [
            ("diag/loggingsnapshot_vcsc_2022-07-11_16-56.txt", FIXTURE),
            ("diag/eth0_diagnostic_logging_tcpdump00_vcsc_2022-07-11_16-56.pcap", b"\xd4\xc3\xb2\xa1" + b"\0" * 60),
            ("diag/ca_vcsc_2022.pem", b"-----BEGIN CERTIFICATE-----\n"),
            ("../../etc/evil.log", b"2024-01-01T00:00:00Z h p[1]: [ET_NET 0] WARNING: x\n"),
        ]:
            info = tarfile.TarInfo(name)
            info.size = len(data)
            tar.addfile(info, io.BytesIO(data))
    evs, s = read_logs(bundle)
    assert len(evs) == N_EVENTS + 1
    assert {e.source for e in evs} == {"loggingsnapshot_vcsc_2022-07-11_16-56.txt", "evil.log"}
    assert not (tmp_path.parent.parent / "etc" / "evil.log").exists()


def test_folder_with_logs_bundles_and_other_files(tmp_path):
    (tmp_path / "a.log").write_bytes(FIXTURE)
    (tmp_path / "capture.pcap").write_bytes(b"\xd4\xc3\xb2\xa1" + b"\x00" * 100)
    (tmp_path / "manifest.json").write_text("{}")
    sub = tmp_path / "sub"
    sub.mkdir()
    (sub / "b.log.gz").write_bytes(gzip.compress(FIXTURE))
    evs, s = read_logs(tmp_path)
    assert len(evs) == 2 * N_EVENTS
    assert {e.source for e in evs} == {"a.log", "b.log"}


def test_missing_path_and_bad_bundle_are_input_errors(tmp_path):
    with pytest.raises(InputError):
        read_logs(tmp_path / "nope.log")
    bad = tmp_path / "x.tar.gz"
    bad.write_bytes(b"this is not gzip")
    with pytest.raises(InputError):
        read_logs(bad)
    with pytest.raises(InputError):
        read_logs(DATA / "expressway_x14.log", log_tz="Not/AZone")


def test_gzip_cut_short_keeps_what_was_read(tmp_path):
    data = gzip.compress(FIXTURE * 50)
    p = tmp_path / "cut.log.gz"
    p.write_bytes(data[: len(data) * 2 // 3])
    evs, s = read_logs(p)
    assert 0 < len(evs) < 50 * N_EVENTS
    assert len(s.problems) == 1 and "read stopped" in s.problems[0]


def test_bundle_cut_short_keeps_what_was_read(tmp_path):
    bundle = tmp_path / "b.tar.gz"
    with tarfile.open(bundle, "w:gz") as tar:
        data = FIXTURE * 200
        info = tarfile.TarInfo("loggingsnapshot_x.txt")
        info.size = len(data)
        tar.addfile(info, io.BytesIO(data))
    raw = bundle.read_bytes()
    bundle.write_bytes(raw[: len(raw) // 2])
    evs, s = read_logs(bundle)
    assert len(evs) > 0 and s.problems


@pytest.mark.parametrize("encoding", ["utf-16", "utf-16-le", "utf-16-be"])
def test_utf16_logs(tmp_path, encoding):
    p = tmp_path / "w.log"
    p.write_bytes(FIXTURE.decode().encode(encoding))
    evs, s = read_logs(p)
    assert _kinds(evs) == _kinds(read_logs(DATA / "expressway_x14.log")[0])


def test_latin1_and_bom_and_crlf(tmp_path):
    p = tmp_path / "l.log"
    text = FIXTURE.replace(b"emusk", "émusk".encode("latin-1")).replace(b"\n", b"\r\n")
    p.write_bytes(b"\xef\xbb\xbf" + text)
    evs, s = read_logs(p)
    assert len(evs) == N_EVENTS and evs[0].line_no == 1 and evs[0].time.year == 2022
    assert "\ufffd" in evs[0].text and not evs[0].text.endswith("\r")


def test_huge_line_without_newline_is_cut_not_buffered(tmp_path):
    p = tmp_path / "big.log"
    with open(p, "wb") as fh:
        fh.write(FIXTURE)
        fh.write(b"2024-01-01T00:00:00Z h p[1]: [ET_NET 0] WARNING: " + b"A" * 5_000_000 + b"\n")
        fh.write(FIXTURE)
        fh.write(b"B" * 3_000_000)  # last line, no newline
    evs, s = read_logs(p, max_line=4096)
    assert len(evs) == 2 * N_EVENTS + 1
    assert s.cut_lines == 2 and max(len(e.text) for e in evs) <= 4096
    assert s.reasons["no_timestamp"] == 1


def test_binary_garbage_between_records(tmp_path):
    import random

    rnd = random.Random(7)
    junk = bytes(rnd.randrange(256) for _ in range(200_000))
    p = tmp_path / "j.log"
    p.write_bytes(FIXTURE + b"\n" + junk + b"\n" + FIXTURE + b"\x00" * 1000 + b"\n")
    evs, s = read_logs(p)
    failures = [e for e in evs if e.kind is EventKind.CERT_VERIFY_FAILED]
    assert len(failures) == 2
    assert s.skipped > 100 and s.reasons["binary"] > 0


def test_iter_lines_on_a_stream():
    out = list(iter_lines(io.BytesIO(b"a\nbb\r\n" + b"c" * 10 + b"\nd"), max_line=4))
    assert out == [("a\n", False), ("bb\r\n", False), ("cccc", True), ("d", False)]


def test_folder_skips_fifos_and_follows_no_symlink_loops(tmp_path):
    import os

    (tmp_path / "a.log").write_bytes(FIXTURE)
    os.mkfifo(tmp_path / "pipe.log")
    (tmp_path / "loop").symlink_to(tmp_path, target_is_directory=True)
    evs, s = read_logs(tmp_path)
    assert len(evs) == N_EVENTS
