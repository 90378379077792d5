"""Reading gzip files and tar streams up to the damage: diagnostic bundles and rotated logs are
often copied while being written, and what comes before a cut is still good.

The standard library raises at a cut and drops the block it was decompressing or copying;
these readers hand on every byte that is there and then say what was wrong.
"""

from __future__ import annotations

import io
import tarfile
import zlib
from collections.abc import Callable, Iterator
from typing import IO

GZIP_MAGIC = b"\x1f\x8b"

_IN = 1 << 16  # compressed bytes read at a time
_OUT = 1 << 16  # decompressed bytes made at a time: a small bomb stays small in memory


class Inflated(io.RawIOBase):
    """The text of a gzip file, up to the damage when it has some.

    :class:`gzip.GzipFile` raises at a cut and drops the block it was decompressing (up to
    8 KiB of log lines); this returns every byte the stream still yields, then ends, and
    :attr:`problem` says what was wrong. Concatenated members (``cat a.gz b.gz``) are read on.
    """

    def __init__(self, raw: IO[bytes]) -> None:
        self.raw = raw
        self.z = zlib.decompressobj(16 + zlib.MAX_WBITS)
        self.buf = b""
        self.pos = 0
        self.problem: str | None = None
        self.ended = False

    def readable(self) -> bool:
        return True

    def readinto(self, b: bytearray | memoryview) -> int:  # type: ignore[override]
        if self.pos >= len(self.buf):
            self.buf, self.pos = self._more(), 0
        n = min(len(b), len(self.buf) - self.pos)
        b[:n] = self.buf[self.pos:self.pos + n]
        self.pos += n
        return n

    def _more(self) -> bytes:
        while not self.ended:
            z = self.z
            try:
                if z.eof:  # a member ended: another may follow
                    data = z.unused_data or self.raw.read(_IN)
                    if not data:
                        break
                    if data[:2] != GZIP_MAGIC:
                        self.problem = "bytes after the end of the gzip stream ignored"
                        break
                    self.z = z = zlib.decompressobj(16 + zlib.MAX_WBITS)
                else:
                    data = z.unconsumed_tail or self.raw.read(_IN)
                    if not data:
                        self.problem = "the gzip stream ends before its end marker (file cut short)"
                        self.ended = True
                        return z.flush()
                out = z.decompress(data, _OUT)
            except zlib.error as e:
                self.problem = f"corrupt gzip data ({e})"
                break
            if out:
                return out
        self.ended = True
        return b""


class Member(io.RawIOBase):
    """One member of a tar stream, read from the stream itself: a member cut short yields every
    byte that is there (tarfile's own reader drops the last block) and sets :attr:`short`."""

    def __init__(self, tar: tarfile.TarFile, member: tarfile.TarInfo) -> None:
        self.stream = tar.fileobj  # the stream in "r|" mode; positioned at the member's data
        self.size = member.size
        self.left = member.size
        self.short = False

    def readable(self) -> bool:
        return True

    def readinto(self, b: bytearray | memoryview) -> int:  # type: ignore[override]
        want = min(len(b), self.left)
        if not want or self.short:
            return 0
        data = self.stream.read(want)
        if len(data) < want:
            self.short = True
        b[:len(data)] = data
        self.left -= len(data)
        return len(data)

    def finish(self) -> None:
        """Move past the rest and the padding, where tarfile looks for the next header."""
        while self.left and not self.short:
            if not self.readinto(bytearray(min(self.left, _IN))):
                break
        if not self.short:
            self.stream.read(-self.size % tarfile.BLOCKSIZE)


class TarStream:
    """The files of a tar (gzip, bz2, xz or plain) read in order, as a stream, up to the damage
    when it was cut::

        with TarStream(fh) as tar:
            for info, data in tar.files(wanted):  # data: a Member to read (or leave)
                ...
        tar.cut  # None when the tar was whole, else where and why it ended early

    Raises tarfile's errors when there is no tar header at all. Nothing is extracted to disk:
    member names never become paths here (no path traversal).
    """

    def __init__(self, fh: IO[bytes]) -> None:
        self.gz = Inflated(fh) if fh.read(2) == GZIP_MAGIC else None
        fh.seek(0)
        try:
            self.tar = tarfile.open(fileobj=self.gz or fh, mode="r|" if self.gz else "r|*")
        except tarfile.TarError as e:
            if self.gz is not None and self.gz.problem:
                raise tarfile.ReadError(f"{e}; {self.gz.problem}") from e
            raise
        self.cut: str | None = None

    def __enter__(self) -> TarStream:
        return self

    def __exit__(self, *exc: object) -> None:
        self.tar.close()

    def files(self, wanted: Callable[[str], bool]) -> Iterator[tuple[tarfile.TarInfo, Member]]:
        """Regular members whose name ``wanted`` accepts, each with a :class:`Member` positioned
        at its data; what the caller leaves unread is skipped. Stops at the cut."""
        try:
            for info in self.tar:
                if not info.isfile() or not wanted(info.name):
                    continue
                data = Member(self.tar, info)
                yield info, data
                if data.short:
                    self.cut = f"{info.name} cut after {info.size - data.left} of {info.size} bytes"
                    break
                data.finish()
        except (tarfile.TarError, EOFError) as e:
            self.cut = str(e)
        if self.gz is not None and self.gz.problem:
            self.cut = f"{self.cut}; {self.gz.problem}" if self.cut else self.gz.problem
