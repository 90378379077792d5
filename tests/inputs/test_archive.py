"""Streaming gzip and tar readers, on archives made here with the standard library's writers:
whole, concatenated, cut at every point, corrupted; every byte before the damage is handed on,
and the damage is always said, never silent."""

from __future__ import annotations

import gzip
import io
import random
import tarfile

import pytest
from hypothesis import given
from hypothesis import strategies as st

from pcaptls.errors import MalformedError
from pcaptls.inputs.archive import _IN, _OUT, GZIP_MAGIC, Inflated, TarStream

_rng = random.Random(20250601)
FILES = {
    "logs/network.log": b"".join(b"2022-07-11T16:55:%02d.016+00:00 tvcs: Event=\"x\" n=%d\n" % (i % 60, i) for i in range(900)),
    "certs/server.der": _rng.randbytes(9000),  # incompressible: spans several gzip blocks
    "empty.txt": b"",
    "../outside.txt": b"a name with dots is only a name\n",
}


def make_tar(compression: str = "gz", files: dict[str, bytes] = FILES) -> bytes:
    """A tar (``compression``: "gz", "xz", "bz2" or "" for plain) with a directory and a symlink
    among the regular files."""
    bio = io.BytesIO()
    with tarfile.open(fileobj=bio, mode=f"w:{compression}" if compression else "w") as t:
        d = tarfile.TarInfo("logs")
        d.type = tarfile.DIRTYPE
        t.addfile(d)
        for name, data in files.items():
            info = tarfile.TarInfo(name)
            info.size = len(data)
            t.addfile(info, io.BytesIO(data))
        link = tarfile.TarInfo("latest.log")
        link.type = tarfile.SYMTYPE
        link.linkname = "logs/network.log"
        t.addfile(link)
    return bio.getvalue()


def read_tar(data: bytes, wanted=lambda name: True) -> tuple[dict[str, bytes], str | None]:  # type: ignore[no-untyped-def]
    with TarStream(io.BytesIO(data)) as tar:
        got = {info.name: member.read() for info, member in tar.files(wanted)}
    return got, tar.cut


def inflate(data: bytes) -> tuple[bytes, str | None]:
    f = Inflated(io.BytesIO(data))
    return f.read(), f.problem


@pytest.fixture(scope="module")
def tar_gz() -> bytes:
    return make_tar("gz")


# -- gzip --------------------------------------------------------------------------------------

def test_gzip_whole() -> None:
    text = FILES["logs/network.log"]
    assert inflate(gzip.compress(text)) == (text, None)
    assert inflate(gzip.compress(b"")) == (b"", None)


def test_gzip_read_through_io_layers() -> None:
    text = FILES["logs/network.log"]
    lines = io.TextIOWrapper(io.BufferedReader(Inflated(io.BytesIO(gzip.compress(text)))), encoding="utf-8").readlines()
    assert "".join(lines).encode() == text and len(lines) == 900


def test_gzip_concatenated_members_are_read_on() -> None:
    a, b = FILES["logs/network.log"], b"rotated again\n"
    assert inflate(gzip.compress(a) + gzip.compress(b) + gzip.compress(b"")) == (a + b, None)


def _stored_member(size: int) -> tuple[bytes, bytes]:
    """A gzip member of exactly ``size`` bytes (stored blocks, so its length is predictable)."""
    for n in range(size, 0, -1):
        plain = random.Random(n).randbytes(n)
        member = gzip.compress(plain, compresslevel=0, mtime=0)
        if len(member) == size:
            return plain, member
    raise AssertionError(size)


@pytest.mark.parametrize("first_size", [
    _IN - 2,  # the next member's magic is whole in the first read
    _IN - 1,  # only its first byte is: the second must be read before the magic is judged
    _IN,  # the next member starts a new read
])
def test_gzip_member_boundary_at_a_read_boundary(first_size: int) -> None:
    plain, first = _stored_member(first_size)
    second = b"second member\n"
    assert inflate(first + gzip.compress(second)) == (plain + second, None)


def test_gzip_trailing_garbage_is_said() -> None:
    text = b"kept\n" * 10
    got, problem = inflate(gzip.compress(text) + b"\x00" * 300)
    assert got == text and problem == "bytes after the end of the gzip stream ignored"


@pytest.mark.parametrize("junk", [b"", b"not gzip at all", b"\x1f\x8b"])
def test_gzip_nothing_usable_is_said(junk: bytes) -> None:
    got, problem = inflate(junk)
    assert got == b"" and problem is not None


@given(st.data())
def test_gzip_every_cut_gives_a_prefix_and_says_so(data: st.DataObject) -> None:
    text = FILES["logs/network.log"] + FILES["certs/server.der"]
    whole = gzip.compress(text)
    cut = data.draw(st.integers(0, len(whole)))
    got, problem = inflate(whole[:cut])
    assert text.startswith(got)
    if cut == len(whole):
        assert (got, problem) == (text, None)
    else:
        assert problem == "the gzip stream ends before its end marker (file cut short)"


def test_gzip_cut_keeps_the_bytes_gzip_module_drops() -> None:
    text = FILES["logs/network.log"]
    whole = gzip.compress(text)
    cut = whole[: len(whole) - 20]
    got, problem = inflate(cut)
    stdlib = bytearray()
    with pytest.raises(EOFError), gzip.GzipFile(fileobj=io.BytesIO(cut)) as g:
        while chunk := g.read(4096):
            stdlib += chunk
    assert text.startswith(got) and len(got) > len(stdlib) and problem


@given(st.data())
def test_gzip_corruption_is_never_silent(data: st.DataObject) -> None:
    """Any one byte changed: the same text comes out (a header byte such as mtime), or the
    damage is said (zlib's own error, or the CRC at the end); no exception escapes."""
    text = FILES["logs/network.log"]
    whole = bytearray(gzip.compress(text, mtime=0))
    i = data.draw(st.integers(0, len(whole) - 1))
    whole[i] ^= data.draw(st.integers(1, 255))
    got, problem = inflate(bytes(whole))
    assert got == text or problem is not None
    if problem is not None and not problem.startswith("the gzip stream ends"):
        assert problem.startswith(("corrupt gzip data", "bytes after the end"))


def test_gzip_bomb_is_inflated_a_bounded_block_at_a_time() -> None:
    size = 16 << 20
    bomb = gzip.compress(b"\0" * size, compresslevel=9)
    assert len(bomb) < size // 500
    f = Inflated(io.BytesIO(bomb))
    total = 0
    while True:
        chunk = f.read(4 << 20)  # asks for far more than one block
        assert chunk is not None and len(chunk) <= _OUT and len(f.buf) <= _OUT
        if not chunk:
            break
        total += len(chunk)
    assert total == size and f.problem is None


# -- tar ---------------------------------------------------------------------------------------

@pytest.mark.parametrize("compression", ["gz", "xz", "bz2", ""])
def test_tar_whole(compression: str) -> None:
    got, cut = read_tar(make_tar(compression))
    assert got == FILES and cut is None  # regular files only: no directory, no symlink


def test_tar_wanted_members_only_and_unread_data_is_skipped(tar_gz: bytes) -> None:
    with TarStream(io.BytesIO(tar_gz)) as tar:
        seen = []
        for info, member in tar.files(lambda name: name != "empty.txt"):
            seen.append(info.name)
            if info.name == "logs/network.log":
                assert member.read(10) == FILES[info.name][:10]  # the rest is left unread
            elif info.name == "certs/server.der":
                assert member.read() == FILES[info.name]
    assert seen == ["logs/network.log", "certs/server.der", "../outside.txt"] and tar.cut is None


def test_tar_member_names_are_never_paths(tar_gz: bytes, tmp_path, monkeypatch) -> None:  # type: ignore[no-untyped-def]
    monkeypatch.chdir(tmp_path)
    got, _ = read_tar(tar_gz)
    assert got["../outside.txt"] == FILES["../outside.txt"]
    assert list(tmp_path.iterdir()) == [] and not (tmp_path.parent / "outside.txt").exists()


@pytest.mark.parametrize("junk", [b"", b"plain text, not an archive\n" * 40, gzip.compress(b"a gzip of text, not of a tar\n", mtime=0)],
                         ids=["empty", "text", "gzip-of-text"])
def test_not_a_tar_raises_malformed_error(junk: bytes) -> None:
    with pytest.raises(MalformedError):
        TarStream(io.BytesIO(junk))


def test_tar_gz_cut_in_its_first_header_says_why(tar_gz: bytes) -> None:
    with pytest.raises(MalformedError, match="gzip stream ends before its end marker"):
        TarStream(io.BytesIO(tar_gz[:40]))


def test_tar_gz_cut_inside_a_member_says_where(tar_gz: bytes) -> None:
    cut_at = len(tar_gz) // 2
    got, cut = read_tar(tar_gz[:cut_at])
    assert got["logs/network.log"] == FILES["logs/network.log"]
    partial = got["certs/server.der"]
    assert FILES["certs/server.der"].startswith(partial) and len(partial) < 9000
    assert cut == f"certs/server.der cut after {len(partial)} of 9000 bytes; the gzip stream ends before its end marker (file cut short)"


def test_tar_gz_corrupt_says_so(tar_gz: bytes) -> None:
    """Damage in the deflate data is said: where nothing before it can be read, as the error
    that there is no tar; otherwise as the cut."""
    damaged = bytearray(tar_gz)
    damaged[len(damaged) // 2] ^= 0xFF
    try:
        _, cut = read_tar(bytes(damaged))
    except MalformedError as e:
        assert "corrupt gzip data" in str(e)
    else:
        assert cut is not None and "corrupt gzip data" in cut


def test_gzip_bad_checksum_still_hands_on_the_text() -> None:
    text = FILES["logs/network.log"]
    whole = bytearray(gzip.compress(text))
    whole[-6] ^= 0x01  # the CRC-32 in the trailer: every data byte is intact
    got, problem = inflate(bytes(whole))
    assert problem is not None and "corrupt gzip data" in problem
    assert got == text


@given(data=st.data())
def test_tar_gz_every_cut_gives_prefixes_and_never_a_silent_loss(data: st.DataObject) -> None:
    whole = _TARS["gz"]
    n = data.draw(st.integers(0, len(whole)))
    try:
        got, cut = read_tar(whole[:n])
    except MalformedError:
        assert n < len(whole)
        return
    for name, content in got.items():
        assert FILES[name].startswith(content)
    if cut is None:
        assert got == FILES, f"cut at {n} of {len(whole)}, not said"


_TARS = {"gz": make_tar("gz"), "xz": make_tar("xz"), "": make_tar("")}


def _plain_header_offsets() -> list[int]:
    """Where the headers after the first start in the plain tar (each member: header, data, padding)."""
    offsets, pos = [], 0
    with tarfile.open(fileobj=io.BytesIO(_TARS[""])) as t:
        for m in t.getmembers():
            offsets.append(m.offset)
            pos = m.offset_data + (-(-m.size // 512)) * 512
    return [o for o in offsets if o > 0] + [pos]


@pytest.mark.parametrize("compression", ["", "xz"])
def test_tar_cut_in_a_later_header_is_said(compression: str) -> None:
    whole = _TARS[compression]
    cuts = [n for at in _plain_header_offsets() for n in (at, at + 100)] if not compression else range(0, 600, 3)
    silent = []
    for n in cuts:
        try:
            got, cut = read_tar(whole[:n])
        except MalformedError:
            continue
        if cut is None and got != FILES:
            silent.append(n)
    assert not silent, f"cuts not said (of {len(whole)} bytes): {silent[:10]}"


def test_plain_tar_cut_inside_a_member_is_said() -> None:
    whole = _TARS[""]
    with tarfile.open(fileobj=io.BytesIO(whole)) as t:
        der = t.getmember("certs/server.der")
    n = der.offset_data + 1000
    got, cut = read_tar(whole[:n])
    assert got["certs/server.der"] == FILES["certs/server.der"][:1000]
    assert cut == "certs/server.der cut after 1000 of 9000 bytes"


def test_gzip_magic() -> None:
    assert _TARS["gz"].startswith(GZIP_MAGIC) and not _TARS["xz"].startswith(GZIP_MAGIC)


# -- any cut, any chunking ---------------------------------------------------------------------

class Trickle(io.BytesIO):
    """A file whose reads return at most ``step`` bytes, as a pipe or a socket may: member ends
    and gzip magics fall on every read boundary."""

    def __init__(self, data: bytes, step: int) -> None:
        super().__init__(data)
        self.step = step

    def read(self, n: int | None = -1) -> bytes:
        return super().read(self.step if n is None or n < 0 else min(n, self.step))


_MEMBERS = [gzip.compress(b"first\n" * 3000, mtime=0), gzip.compress(b"", mtime=0),
            gzip.compress(_rng.randbytes(3000), mtime=0), gzip.compress(b"last\n", mtime=0)]
_ENDS = {len(b"".join(_MEMBERS[:i])) for i in range(1, len(_MEMBERS) + 1)}


@given(cut=st.integers(0, sum(map(len, _MEMBERS))), step=st.integers(1, 4000), size=st.integers(1, 5000))
def test_gzip_any_cut_and_chunking_gives_the_text_or_says_the_cut(cut: int, step: int, size: int) -> None:
    whole = b"".join(_MEMBERS)
    text = gzip.decompress(whole)
    f = Inflated(Trickle(whole[:cut], step))
    got = b"".join(iter(lambda: f.read(size), b""))
    if cut in _ENDS:  # between members: the text of those before, nothing wrong
        assert (got, f.problem) == (gzip.decompress(whole[:cut]), None)
    else:  # inside a member: the text before the cut, and the cut said
        assert text.startswith(got) and f.problem == "the gzip stream ends before its end marker (file cut short)"


_TARS["bz2"] = make_tar("bz2")


@given(compression=st.sampled_from(["gz", "xz", "bz2", ""]), data=st.data(), size=st.integers(1, 10000))
def test_tar_any_cut_and_chunking_gives_every_member_or_says_the_cut(compression: str, data: st.DataObject, size: int) -> None:
    """Whatever the cut and however members are read, a member's bytes are a prefix of its
    text, and unless the cut is said, every member came whole."""
    whole = _TARS[compression]
    n = data.draw(st.integers(0, len(whole)), label="cut")
    try:
        with TarStream(io.BytesIO(whole[:n])) as tar:
            got = {info.name: b"".join(iter(lambda: member.read(size), b"")) for info, member in tar.files(lambda _: True)}
    except MalformedError:
        assert n < len(whole)  # nothing readable: said by the error
        return
    assert all(FILES[name].startswith(content) for name, content in got.items())
    assert tar.cut is not None or got == FILES, f"{compression!r} tar cut at {n} of {len(whole)}, not said"
    if n == len(whole):
        assert tar.cut is None


def test_plain_tar_garbled_later_header_is_said() -> None:
    whole = bytearray(_TARS[""])
    at = _plain_header_offsets()[1]  # the header of certs/server.der
    whole[at:at + 100] = b"x" * 100  # its name and modes: the checksum no longer matches
    got, cut = read_tar(bytes(whole))
    assert got == {"logs/network.log": FILES["logs/network.log"]}
    assert cut is not None and cut.startswith(f"bad member header at byte {at} of the tar")


def test_xz_tar_corrupt_inside_a_member_is_said() -> None:
    whole = bytearray(_TARS["xz"])
    whole[len(whole) // 2] ^= 0xFF
    got, cut = read_tar(bytes(whole))
    assert all(FILES[name].startswith(content) for name, content in got.items())
    assert cut is not None and "invalid compressed data" in cut
