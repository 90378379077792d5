"""Bounds-checked reads from a byte buffer: every slice is checked before it is taken."""

from __future__ import annotations

import struct

from ..errors import MalformedError, TruncatedError

_U16 = struct.Struct("!H")
_U32 = struct.Struct("!I")


class Reader:
    """Sequential big-endian reader over ``bytes``/``memoryview``.

    Reading past the end raises :class:`TruncatedError` (the structure claims more bytes than
    there are); callers that parse a length-prefixed sub-structure use :meth:`sub` so an inner
    overrun cannot read into the outer structure's next field.
    """

    __slots__ = ("buf", "pos", "end")

    def __init__(self, buf: bytes | memoryview, pos: int = 0, end: int | None = None) -> None:
        self.buf = buf
        self.pos = pos
        self.end = len(buf) if end is None else end

    @property
    def remaining(self) -> int:
        return self.end - self.pos

    def _need(self, n: int, what: str) -> None:
        if n < 0 or self.pos + n > self.end:
            raise TruncatedError(f"{what}: need {n} bytes at offset {self.pos}, have {self.end - self.pos}")

    def u8(self, what: str = "u8") -> int:
        self._need(1, what)
        v = self.buf[self.pos]
        self.pos += 1
        return v

    def u16(self, what: str = "u16") -> int:
        self._need(2, what)
        v = _U16.unpack_from(self.buf, self.pos)[0]
        self.pos += 2
        return v

    def u24(self, what: str = "u24") -> int:
        self._need(3, what)
        b = self.buf
        p = self.pos
        self.pos += 3
        return (b[p] << 16) | (b[p + 1] << 8) | b[p + 2]

    def u32(self, what: str = "u32") -> int:
        self._need(4, what)
        v = _U32.unpack_from(self.buf, self.pos)[0]
        self.pos += 4
        return v

    def bytes(self, n: int, what: str = "bytes") -> bytes:
        self._need(n, what)
        v = bytes(self.buf[self.pos : self.pos + n])
        self.pos += n
        return v

    def skip(self, n: int, what: str = "skip") -> None:
        self._need(n, what)
        self.pos += n

    def sub(self, n: int, what: str = "vector") -> "Reader":
        """A reader over the next ``n`` bytes; this reader moves past them."""
        self._need(n, what)
        r = Reader(self.buf, self.pos, self.pos + n)
        self.pos += n
        return r

    def vec8(self, what: str = "vector<1>") -> "Reader":
        return self.sub(self.u8(what), what)

    def vec16(self, what: str = "vector<2>") -> "Reader":
        return self.sub(self.u16(what), what)

    def vec24(self, what: str = "vector<3>") -> "Reader":
        return self.sub(self.u24(what), what)

    def expect_end(self, what: str) -> None:
        if self.pos != self.end:
            raise MalformedError(f"{what}: {self.end - self.pos} unexpected trailing bytes")
