"""What kind of file a path holds, in words, from its first bytes: so that an input given in
the wrong place is named ("a PNG image", "a text file") rather than shown as magic bytes.

Only the first bytes are read (and, for gzip, the first bytes of what it holds).
"""

from __future__ import annotations

import zlib

HEAD = 512  # bytes looked at

CAPTURE_KINDS = ("a pcap capture", "a pcapng capture")

# (magic at offset 0, words): the kinds people hand over by mistake.
_MAGICS: tuple[tuple[bytes, str], ...] = (
    (b"\xd4\xc3\xb2\xa1", "a pcap capture"), (b"\xa1\xb2\xc3\xd4", "a pcap capture"),
    (b"\x4d\x3c\xb2\xa1", "a pcap capture"), (b"\xa1\xb2\x3c\x4d", "a pcap capture"),
    (b"\x0a\x0d\x0d\x0a", "a pcapng capture"),
    (b"\x89PNG\r\n\x1a\n", "a PNG image"), (b"\xff\xd8\xff", "a JPEG image"),
    (b"GIF8", "a GIF image"), (b"%PDF", "a PDF document"),
    (b"PK\x03\x04", "a ZIP archive"), (b"PK\x05\x06", "a ZIP archive (empty)"),
    (b"\x7fELF", "an ELF executable"), (b"BZh", "a bzip2 file"), (b"\xfd7zXZ\x00", "an xz file"),
    (b"7z\xbc\xaf\x27\x1c", "a 7-Zip archive"), (b"\x28\xb5\x2f\xfd", "a zstd file"),
    (b"SQLite format 3\x00", "an SQLite database"),
    (b"\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1", "an Office document (OLE)"),
    (b"\x30\x82", "DER data (a certificate or key?)"),
)


def describe(head: bytes, gz_inner: bytes | None = None) -> str:
    """Words for a file that starts with ``head``: ``"a PNG image"``, ``"a text file"``,
    ``"an empty file"``, ``"a pcap capture"``, ... ``gz_inner``: the first bytes of what a
    gzip file holds, when ``head`` is gzip (``None``: not known)."""
    if not head:
        return "an empty file"
    if head[:2] == b"\x1f\x8b":
        if gz_inner is None:
            return "a damaged gzip file (its first bytes do not decompress)"
        if len(gz_inner) >= 262 and gz_inner[257:262] == b"ustar":
            return "a gzip-compressed tar archive"
        inner = describe(gz_inner)
        return "an empty gzip file" if inner == "an empty file" else f"a gzip-compressed {inner.split(' ', 1)[1]}"
    for magic, words in _MAGICS:
        if head.startswith(magic):
            return words
    if len(head) >= 262 and head[257:262] == b"ustar":
        return "a tar archive"
    if b"-----BEGIN " in head:
        return "a PEM file (certificates or keys)"
    text = head.lstrip(b"\xef\xbb\xbf")
    if head.startswith((b"\xff\xfe", b"\xfe\xff")) or _texty(text):
        if text.lstrip().startswith((b"<!DOCTYPE html", b"<html", b"<!doctype html")):
            return "an HTML page"
        return "a text file"
    return f"data of an unknown kind (first bytes {head[:4].hex()})"


def _texty(b: bytes) -> bool:
    """Text, as logs are: no NUL, and nearly all of it printable (logs carry the odd escape or
    control character, and may be Latin-1 rather than UTF-8)."""
    if b"\x00" in b:
        return False
    try:
        s = b.decode("utf-8")
    except UnicodeDecodeError as e:
        s = b[: e.start].decode("utf-8") if e.start >= len(b) - 3 else b.decode("latin-1")
    odd = sum(1 for c in s if not (c.isprintable() or c in "\r\n\t\f\v"))
    return odd <= len(s) // 20


def sniff_file(path: str) -> str:
    """:func:`describe` of the file at ``path``; raises ``OSError`` when it cannot be read."""
    with open(path, "rb") as fh:
        head = fh.read(HEAD)
    inner = gunzip_head(head) if head[:2] == b"\x1f\x8b" else None
    return describe(head, inner)


def gunzip_head(head: bytes) -> bytes | None:
    """The first bytes a gzip stream starting with ``head`` decompresses to; ``None`` if it is damaged."""
    try:
        return zlib.decompressobj(16 + zlib.MAX_WBITS).decompress(head, HEAD)
    except zlib.error:
        return None


def is_capture(words: str) -> bool:
    """Is :func:`describe`'s answer a capture (plain or gzip-compressed)?"""
    return words in CAPTURE_KINDS or words in ("a gzip-compressed pcap capture", "a gzip-compressed pcapng capture")
