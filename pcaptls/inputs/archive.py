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
from typing import IO, Self

from ..errors import MalformedError, TruncatedError

GZIP_MAGIC = b"\x1f\x8b"

_IN = 1 << 16  # compressed bytes read at a time
_OUT = 1 << 16  # decompressed bytes made at a time: a small bomb stays small in memory
_CUT = "the gzip stream ends before its end marker (file cut short)"


class Inflated(io.RawIOBase):
    """The text of a gzip file, up to the damage when it has some.

    :class:`gzip.GzipFile` raises at a cut and drops the block it was decompressing (up to
    8 KiB of log lines); this returns every byte the stream still yields, then ends, and
    :attr:`problem` says what was wrong. Concatenated members (``cat a.gz b.gz``) are read on.
    """

    def __init__(self, raw: IO[bytes]) -> None:
        self.raw = raw
        self.z = zlib.decompressobj(16 + zlib.MAX_WBITS)
        self.rest = b""  # the next member's first bytes, read with the end of the last one
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
        """The next block of text (at most ``_OUT`` bytes); ``b""`` once the stream is done."""
        while not self.ended:
            if self.z.eof and not self._next_member():
                break
            data, self.rest = self.z.unconsumed_tail or self.rest or self.raw.read(_IN), b""
            if not data:
                self.problem = _CUT
                self.ended = True
                return self.z.flush()
            before = self.z.copy()  # zlib drops a failing call's output: kept to make it again
            try:
                out = self.z.decompress(data, _OUT)
            except zlib.error as e:
                self.problem = f"corrupt gzip data ({e})"
                self.ended = True
                return _up_to_the_error(before, data)
            if out:
                return out
        self.ended = True
        return b""

    def _next_member(self) -> bool:
        """After a member's end: start the next one, or say why there is none (False)."""
        data = self.z.unused_data
        while len(data) < len(GZIP_MAGIC):  # a member can end a byte before a read boundary
            more = self.raw.read(_IN)
            if not more:
                break
            data += more
        if not data:
            return False
        if not data.startswith(GZIP_MAGIC):
            # A lone first magic byte is a member cut short; anything else is not gzip.
            self.problem = _CUT if GZIP_MAGIC.startswith(data) else "bytes after the end of the gzip stream ignored"
            return False
        self.z, self.rest = zlib.decompressobj(16 + zlib.MAX_WBITS), data
        return True


def _up_to_the_error(z: zlib._Decompress, data: bytes) -> bytes:
    """The text ``z.decompress(data, _OUT)`` made before it raised, which zlib throws away.

    Fed again a byte at a time, only the failing byte's output is lost. That call raised
    before filling ``_OUT`` bytes, so this is about as bounded as its output would have been.
    """
    out = []
    for i in range(len(data)):
        try:
            out.append(z.decompress(data[i:i + 1]))
        except zlib.error:
            break
    return b"".join(out)


class Member(io.RawIOBase):
    """One member of a tar stream, read from the stream itself: a member cut short yields every
    byte that is there (tarfile's own reader drops the last block) and sets :attr:`short`
    (and :attr:`damage` when xz or bz2 data was corrupt rather than cut); it never raises."""

    def __init__(self, tar: tarfile.TarFile, member: tarfile.TarInfo) -> None:
        self.stream = tar.fileobj  # the stream in "r|" mode; positioned at the member's data
        self.size = member.size
        self.left = member.size
        self.short = False
        self.damage: str | None = None

    def readable(self) -> bool:
        return True

    def readinto(self, b: bytearray | memoryview) -> int:  # type: ignore[override]
        want = min(len(b), self.left)
        if not want or self.short:
            return 0
        try:
            data = self.stream.read(want)
        except (tarfile.TarError, EOFError) as e:  # tarfile's xz/bz2 stream: corrupt data
            data, self.damage = b"", str(e)
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


# tarfile's kinds of header error: in the module since Python 3.2, missing from its type stubs.
_END_BLOCK, _NO_HEADER, _SHORT_HEADER = (
    tarfile.EOFHeaderError, tarfile.EmptyHeaderError, tarfile.TruncatedHeaderError)  # type: ignore[attr-defined]


class _Header(tarfile.TarInfo):
    """A member header that does not let tarfile end quietly at damage.

    Past the first member, tarfile ends its iteration at a missing, short or garbled header
    just as at the end-of-archive block, and the members after a cut would be lost without a
    word. Here only the all-zero end-of-archive block ends the tar (one is enough: no member
    can follow it); the rest raises, and :meth:`TarStream.files` reports it as the cut.
    """

    @classmethod
    def fromtarfile(cls, tar: tarfile.TarFile) -> Self:
        at = tar.offset  # where this header starts, in the uncompressed tar
        try:
            return super().fromtarfile(tar)
        except _END_BLOCK:
            raise  # the end-of-archive block: the tar is whole
        except tarfile.HeaderError as e:
            if at == 0:
                raise  # no first header: tarfile says it is not a tar
            if isinstance(e, _NO_HEADER):
                raise TruncatedError(f"the tar ends at byte {at}, before its end-of-archive block") from e
            if isinstance(e, _SHORT_HEADER):
                raise TruncatedError(f"the tar ends inside the member header at byte {at}") from e
            raise MalformedError(f"bad member header at byte {at} of the tar ({e})") from e


class TarStream:
    """The files of a tar (gzip, bz2, xz or plain) read in order, as a stream, up to the damage
    when it was cut::

        with TarStream(fh) as tar:
            for info, data in tar.files(wanted):  # data: a Member to read (or leave)
                ...
        tar.cut  # None when the tar was whole, else where and why it ended early

    Raises :class:`~pcaptls.errors.MalformedError` when there is no tar header at all; reading
    on never raises for damage, it is said in :attr:`cut`. Nothing is extracted to disk:
    member names never become paths here (no path traversal).
    """

    def __init__(self, fh: IO[bytes]) -> None:
        self.gz = Inflated(fh) if fh.read(2) == GZIP_MAGIC else None
        fh.seek(0)
        try:
            self.tar = tarfile.open(fileobj=self.gz or fh, mode="r|" if self.gz else "r|*", tarinfo=_Header)
        except (tarfile.TarError, EOFError) as e:
            if self.gz is not None and self.gz.problem:
                raise MalformedError(f"{e}; {self.gz.problem}") from e
            raise MalformedError(str(e)) from e
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
                data.finish()
                if data.short:
                    self.cut = f"{info.name} cut after {info.size - data.left} of {info.size} bytes"
                    if data.damage:
                        self.cut += f" ({data.damage})"
                    break
        except (tarfile.TarError, EOFError, MalformedError) as e:
            self.cut = str(e)
        if self.gz is not None and self.gz.problem:
            self.cut = f"{self.cut}; {self.gz.problem}" if self.cut else self.gz.problem
