"""pcaptls.capture.merge: rotated captures (editcap -c, as tcpdump -C cuts them) merged back
give the original frames, in order; interleaved captures come out in time order; what cannot
be merged says why."""

from __future__ import annotations

import gzip
import shutil
import subprocess
from pathlib import Path

import pytest

from pcaptls.capture.files import iter_frames
from pcaptls.capture.merge import merge
from tests.helpers import craft
from tests.helpers.paths import CAPTURES

MRA = CAPTURES / "mra-login" / "capture.pcap"


def frames(path: Path | str) -> list[tuple[float, bytes]]:
    return [(t, bytes(data)) for _n, t, _link, data, _wire in iter_frames(path)]


@pytest.mark.skipif(not MRA.exists(), reason="lab capture not generated")
@pytest.mark.parametrize("fmt", ["pcap", "pcapng"])
def test_rotated_files_merge_back_to_the_original(tmp_path: Path, fmt: str) -> None:
    editcap = shutil.which("editcap")
    if editcap is None:
        pytest.skip("editcap (tshark's package) is not installed")
    subprocess.run([editcap, "-F", fmt, "-c", "40", str(MRA), str(tmp_path / f"part.{fmt}")], check=True)
    parts = sorted(str(p) for p in tmp_path.iterdir())
    assert len(parts) > 3
    # One of them gzip-compressed, as some rotations leave them.
    with open(parts[1], "rb") as src, gzip.open(parts[1] + ".gz", "wb") as dst:
        shutil.copyfileobj(src, dst)
    Path(parts[1]).unlink()
    parts[1] += ".gz"
    out = tmp_path / f"merged.{fmt}"
    m = merge(parts, str(out))
    assert m.path == str(out) and m.why_not is None and m.problems == []
    assert frames(out) == frames(MRA)
    # Given in any order, the frames still come out in time order.
    m = merge(parts[::-1], str(out))
    assert frames(out) == frames(MRA)


def test_interleaved_captures_come_out_in_time_order(tmp_path: Path) -> None:
    a = craft.write_frames(tmp_path / "a.pcap", [(1.0, b"a1" * 30), (3.0, b"a3" * 30), (5.0, b"a5" * 30)])
    b = craft.write_frames(tmp_path / "b.pcap", [(2.0, b"b2" * 30), (3.0, b"b3" * 30), (4.0, b"b4" * 30)])
    out = tmp_path / "m.pcap"
    assert merge([str(a), str(b)], str(out)).path == str(out)
    # Equal times keep the order the files were given in.
    assert [d[:2] for _t, d in frames(out)] == [b"a1", b"b2", b"a3", b"b3", b"b4", b"a5"]


def test_a_file_cut_short_is_merged_up_to_the_cut(tmp_path: Path) -> None:
    a = craft.write_frames(tmp_path / "a.pcap", [(1.0, b"x" * 60), (2.0, b"y" * 60)])
    data = a.read_bytes()
    a.write_bytes(data[:-10])
    b = craft.write_frames(tmp_path / "b.pcap", [(3.0, b"z" * 60)])
    out = tmp_path / "m.pcap"
    m = merge([str(a), str(b)], str(out))
    assert m.path == str(out)
    assert len(m.problems) == 1 and "a.pcap: file ends early after frame 1" in m.problems[0]
    assert [d[:1] for _t, d in frames(out)] == [b"x", b"z"]


def test_what_cannot_be_merged(tmp_path: Path) -> None:
    a = craft.write_frames(tmp_path / "a.pcap", [(1.0, b"x" * 60)])
    raw = craft.write_frames(tmp_path / "raw.pcap", [(2.0, b"\x45" + b"\x00" * 59)], linktype=101)
    m = merge([str(a), str(raw)], str(tmp_path / "m.pcap"))
    assert m.path is None and m.why_not == "link types differ: 1, 101"
    ng = tmp_path / "b.pcapng"
    ng.write_bytes(craft.pcapng_shb() + craft.pcapng_idb() + craft.pcapng_epb(2.0, b"y" * 60))
    m = merge([str(a), str(ng)], str(tmp_path / "m.pcap"))
    assert m.path is None and m.why_not == "pcap and pcapng files mixed"
    # pcapng files: sections one after the other.
    ng2 = tmp_path / "c.pcapng"
    ng2.write_bytes(craft.pcapng_shb() + craft.pcapng_idb() + craft.pcapng_epb(3.0, b"z" * 60))
    out = tmp_path / "m.pcapng"
    assert merge([str(ng), str(ng2)], str(out)).path == str(out)
    assert [d[:1] for _t, d in frames(out)] == [b"y", b"z"]
