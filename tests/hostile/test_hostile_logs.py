"""Hostile log files: binary junk, endless lines, wrong encodings, mixed time zones, damage.

Every line is either part of an event or counted as skipped; nothing raises on content; a
line without end costs one capped line of memory; a cut file keeps what came before the cut.
"""

from __future__ import annotations

import datetime as dt
import gzip
import io
import os
import random
import tarfile
import tracemalloc
import zlib
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from pcaptls.errors import InputError
from pcaptls.logs import read_logs
from pcaptls.logs.parser import MAX_LINE
from pcaptls.report.safe import terminal

DATA = Path(__file__).resolve().parent.parent / "logs" / "data" / "expressway_x14.log"
REAL = DATA.read_bytes()
REAL_LINES = REAL.count(b"\n")


def _events_of_real() -> int:
    evs, s = read_logs(DATA)
    return len(evs)


N_REAL = _events_of_real()
WARN = ("2022-07-11T18:55:26.016+02:00 vcsc traffic_server[18242]: [ET_NET 0] WARNING: Core server certificate "
        "verification failed for (cucm.steven.lab). Action=Terminate Error=self signed certificate "
        "server=cucm.steven.lab(10.48.36.215) depth=0")


def _assert_accounted(summary, events) -> None:  # type: ignore[no-untyped-def]
    assert summary.events == len(events)
    assert summary.lines == sum(e.text.count("\n") + 1 for e in events) + summary.skipped


def test_binary_junk_between_real_lines(tmp_path: Path) -> None:
    rng = random.Random(1)
    junk = [rng.randbytes(rng.randint(1, 400)).replace(b"\n", b"\x00") for _ in range(200)]
    lines = REAL.splitlines(keepends=True)
    out = b""
    for i, line in enumerate(lines):
        out += line + junk[i % len(junk)] + b"\n"
    p = tmp_path / "junk.log"
    p.write_bytes(out + os.urandom(100_000))
    evs, s = read_logs(p)
    assert len([e for e in evs if e.kind.is_failure]) >= len([e for e in read_logs(DATA)[0] if e.kind.is_failure])
    assert s.skipped >= len(lines) // 2 and s.reasons.get("binary", 0) > 0
    _assert_accounted(s, evs)
    for e in evs:
        assert "\x00" not in e.text and "\x1b" not in e.text
        assert not any(c in terminal(e.text) for c in "\x1b\x07\x9b\u202e")


def test_pure_binary_file(tmp_path: Path) -> None:
    p = tmp_path / "random.log"
    p.write_bytes(random.Random(2).randbytes(2_000_000))
    evs, s = read_logs(p)
    _assert_accounted(s, evs)
    assert s.lines > 0 and s.skipped >= s.lines - 3 * len(evs)


def test_endless_line_costs_one_capped_line(tmp_path: Path) -> None:
    """200 MB without a newline, then a real record: the record is found, memory stays small."""
    p = tmp_path / "long.log"
    with open(p, "wb") as f:
        chunk = b"A" * (1 << 20)
        for _ in range(200):
            f.write(chunk)
        f.write(b"\n" + WARN.encode() + b"\n")
    tracemalloc.start()
    try:
        evs, s = read_logs(p)
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    assert peak < 16 * MAX_LINE + (4 << 20), peak
    assert s.cut_lines == 1 and s.lines == 2
    assert evs[-1].server_name == "cucm.steven.lab"
    assert all(len(e.text) <= MAX_LINE for e in evs)


def test_many_long_lines(tmp_path: Path) -> None:
    p = tmp_path / "long2.log"
    p.write_bytes((b"x" * (MAX_LINE * 3) + b"\n") * 50 + REAL)
    evs, s = read_logs(p)
    assert s.cut_lines == 50 and len(evs) >= N_REAL
    _assert_accounted(s, evs)


@pytest.mark.parametrize("encoding", ["utf-16", "utf-16-le", "utf-16-be", "latin-1", "cp1252", "utf-8-sig"])
def test_other_encodings(tmp_path: Path, encoding: str) -> None:
    """UTF-16 (with or without BOM) is recognised; 8-bit encodings decode with replacement."""
    text = REAL.decode() + "2022-07-11T18:55:27.000+02:00 vcsc traffic_server[1]: [ET_NET 1] WARNING: Müller café\n"
    p = tmp_path / f"{encoding}.log"
    p.write_bytes(text.encode(encoding))
    evs, s = read_logs(p)
    _assert_accounted(s, evs)
    assert len(evs) >= N_REAL
    assert {e.server_name for e in evs if e.server_name} >= {"cucm.steven.lab"}


def test_invalid_utf8_everywhere(tmp_path: Path) -> None:
    bad = REAL.replace(b"cucm", b"cu\xc3\x28m").replace(b"Level", b"Le\xffvel").replace(b" ", b" \xed\xa0\x80", 50)
    p = tmp_path / "bad.log"
    p.write_bytes(bad)
    evs, s = read_logs(p)
    _assert_accounted(s, evs)
    assert s.lines == REAL_LINES


def test_mixed_time_zones_are_one_clock(tmp_path: Path) -> None:
    """The same instant written five ways ends up as one UTC time."""
    instant = dt.datetime(2022, 7, 11, 16, 55, 26, 16000, tzinfo=dt.timezone.utc)
    stamps = ["2022-07-11T18:55:26.016+02:00", "2022-07-11T16:55:26.016Z", "2022-07-11T11:55:26.016-05:00",
              "2022-07-11T22:25:26.016+05:30", "2022-07-11T16:55:26.016+00:00"]
    body = " vcsc traffic_server[1]: [ET_NET 0] WARNING: SNI (10.48.36.215) not in certificate. Action=Terminate"
    p = tmp_path / "tz.log"
    p.write_text("".join(s + body + "\n" for s in stamps))
    evs, s = read_logs(p)
    assert len(evs) == len(stamps) and s.skipped == 0
    assert {e.time for e in evs} == {instant}
    assert all(e.time.utcoffset() == dt.timedelta(0) for e in evs)
    # Stamps without an offset take --log-tz; an impossible offset is skipped, not fatal.
    q = tmp_path / "naive.log"
    q.write_text("2022-07-11T18:55:26.016" + body + "\n" + "2022-07-11T18:55:26.016+99:99" + body + "\n")
    evs, s = read_logs(q, log_tz="Europe/Berlin")
    _assert_accounted(s, evs)
    assert evs and evs[0].time == instant


def test_cut_gzip_and_cut_bundle_keep_what_came_before(tmp_path: Path) -> None:
    gz = gzip.compress(REAL * 20)
    p = tmp_path / "cut.log.gz"
    p.write_bytes(gz[: len(gz) // 2])
    evs, s = read_logs(p)
    assert s.problems and "cut.log.gz" in s.problems[0] and len(evs) > 0
    buf = io.BytesIO()
    rng = random.Random(3)
    with tarfile.open(fileobj=buf, mode="w:gz") as tar:
        for i in range(5):
            # Incompressible padding: the cut falls several members in, as in a real bundle.
            member = REAL + b"".join(rng.randbytes(60).hex().encode() + b"\n" for _ in range(500))
            info = tarfile.TarInfo(f"diag/loggingsnapshot_{i}.txt")
            info.size = len(member)
            tar.addfile(info, io.BytesIO(member))
    b = tmp_path / "bundle.tar.gz"
    b.write_bytes(buf.getvalue()[: len(buf.getvalue()) * 2 // 3])
    evs, s = read_logs(b)
    assert s.problems and "cut short" in s.problems[-1] and len(evs) >= 2 * N_REAL


def _lines_before(text: bytes) -> int:
    """Lines a reader can hand on from ``text``: the complete ones and a last partial one."""
    return text.count(b"\n") + (0 if text.endswith(b"\n") or not text else 1)


@pytest.mark.parametrize("fraction", [0.13, 0.5, 0.77, 0.999])
def test_cut_gzip_loses_no_line_that_is_there(tmp_path: Path, fraction: float) -> None:
    """Every byte that still decompresses is read: the lines counted are those of the longest
    prefix zlib itself recovers from the cut file (gzip.GzipFile dropped up to 8 KiB here)."""
    rng = random.Random(5)
    text = b"".join(REAL + rng.randbytes(40).hex().encode() + b"\n" for _ in range(30))
    gz = gzip.compress(text)
    cut = gz[: int(len(gz) * fraction)]
    p = tmp_path / "cut.log.gz"
    p.write_bytes(cut)
    there = zlib.decompressobj(16 + zlib.MAX_WBITS).decompress(cut)
    evs, s = read_logs(p)
    assert s.lines == _lines_before(there)
    assert s.problems and "cut short" in s.problems[0]
    whole, _ = read_logs(_write(tmp_path / "whole.log", text))
    assert [(e.line_no, e.text) for e in evs][:-1] == [(e.line_no, e.text) for e in whole][: len(evs) - 1]


def _write(p: Path, data: bytes) -> Path:
    p.write_bytes(data)
    return p


def test_cut_bundle_loses_no_line_that_is_there(tmp_path: Path) -> None:
    """A bundle cut inside a member: the members before it whole, that member up to the cut."""
    rng = random.Random(7)
    members = [REAL + b"".join(rng.randbytes(50).hex().encode() + b"\n" for _ in range(400)) for _ in range(3)]
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w:gz") as tar:
        for i, m in enumerate(members):
            info = tarfile.TarInfo(f"diag/loggingsnapshot_{i}.txt")
            info.size = len(m)
            tar.addfile(info, io.BytesIO(m))
    data = buf.getvalue()
    b = _write(tmp_path / "bundle.tar.gz", data[: len(data) * 2 // 3])
    there = zlib.decompressobj(16 + zlib.MAX_WBITS).decompress(data[: len(data) * 2 // 3])
    # The tar stream: header, member 0, padding, header, part of member 1.
    first = 512 + len(members[0]) + (-len(members[0]) % 512)
    part = there[first + 512:]
    assert 0 < len(part) < len(members[1])
    evs, s = read_logs(b)
    assert s.lines == _lines_before(members[0]) + _lines_before(part)
    assert s.problems and "cut short" in s.problems[-1] and "loggingsnapshot_1" in s.problems[-1]


def test_gzip_that_is_not_gzip(tmp_path: Path) -> None:
    p = tmp_path / "fake.log.gz"
    p.write_bytes(b"\x1f\x8b" + b"not deflate at all" * 100)
    evs, s = read_logs(p)
    assert evs == [] and s.problems


@settings(max_examples=100, deadline=None)
@given(st.binary(max_size=3000), st.sampled_from([None, "+05:30", "Europe/Berlin"]))
def test_any_bytes_as_a_log_file(tmp_path_factory, blob: bytes, tz) -> None:  # type: ignore[no-untyped-def]
    p = tmp_path_factory.mktemp("anylog") / "x.log"
    p.write_bytes(blob + REAL[: len(blob) % 2000])
    evs, s = read_logs(p, log_tz=tz)
    _assert_accounted(s, evs)
    for e in evs:
        assert e.time.utcoffset() == dt.timedelta(0) and "\x1b" not in e.text


@settings(max_examples=150, deadline=None)
@given(st.data())
def test_any_damage_to_a_gzip_log_or_bundle(tmp_path_factory, data) -> None:  # type: ignore[no-untyped-def]
    """Cut, flipped, or trailing bytes in a .log.gz or .tar.gz: read to the damage, never raise."""
    d = tmp_path_factory.mktemp("gzdamage")
    text = REAL[: data.draw(st.integers(0, len(REAL)))]
    if data.draw(st.booleans()):
        buf = io.BytesIO()
        with tarfile.open(fileobj=buf, mode="w:gz") as tar:
            info = tarfile.TarInfo("loggingsnapshot_1.txt")
            info.size = len(text)
            tar.addfile(info, io.BytesIO(text))
        blob, name = buf.getvalue(), "b.tar.gz"
    else:
        blob, name = gzip.compress(text) * data.draw(st.integers(1, 2)), "x.log.gz"
    blob = bytearray(blob[: data.draw(st.integers(0, len(blob)))])
    for _ in range(data.draw(st.integers(0, 3))):
        if blob:
            blob[data.draw(st.integers(0, len(blob) - 1))] ^= data.draw(st.integers(1, 255))
    blob += data.draw(st.binary(max_size=40))
    p = d / name
    p.write_bytes(bytes(blob))
    try:
        evs, s = read_logs(p)
    except InputError as e:  # a bundle whose first header is gone is not a bundle
        assert name.endswith(".tar.gz") and "bundle" in str(e)
        return
    _assert_accounted(s, evs)
