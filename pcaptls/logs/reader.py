"""Log files, folders and diagnostic bundles -> lines -> :class:`LineParser` -> events.

The only module of :mod:`pcaptls.logs` that opens files. It reads bytes, cuts every line at
``max_line`` bytes (the rest of an over-long line is read and dropped, never buffered), decodes
UTF-8 with replacement (UTF-16 when the file says so with a BOM or looks like it), and hands the
text to a parser per source. A file that ends in the middle of a gzip stream or tar member is
read up to the damage and the damage is reported in the summary; only a path that cannot be
opened at all raises :class:`~pcaptls.errors.InputError`.
"""

from __future__ import annotations

import fnmatch
import gzip
import io
import os
import stat
import zlib
from collections.abc import Callable, Iterable, Iterator
from datetime import tzinfo
from typing import IO, Any

from ..errors import InputError, MalformedError
from ..inputs.archive import GZIP_MAGIC, Inflated, TarStream
from .events import EMPTY_SUMMARY, LogEvent, ParseSummary
from .parser import MAX_LINE, LineParser
from .timestamps import parse_tz

# In folders and bundles: what is a text log. Captures, PEM files and the rest are not.
LOG_PATTERNS = ("loggingsnapshot_*", "*.log", "*.log.[0-9]*", "*.txt", "*.log.gz", "*.txt.gz")
BUNDLE_SUFFIXES = (".tar.gz", ".tgz", ".tar")
_READ_ERRORS = (OSError, EOFError, zlib.error, gzip.BadGzipFile, MalformedError)


def is_log_name(name: str) -> bool:
    base = os.path.basename(name)
    return not base.startswith(".") and any(fnmatch.fnmatch(base.lower(), p) for p in LOG_PATTERNS)


def is_bundle_name(name: str) -> bool:
    return name.lower().endswith(BUNDLE_SUFFIXES)


def iter_lines(stream: IO[bytes] | io.RawIOBase, max_line: int = MAX_LINE) -> Iterator[tuple[str, bool]]:
    """``(text, cut)`` per line of a byte stream; ``cut`` when the line was longer than ``max_line``.

    Memory stays at one capped line whatever the input (a gigabyte without a newline included).
    """
    buffered: Any = stream if isinstance(stream, io.BufferedIOBase) else io.BufferedReader(stream)
    head = buffered.peek(512)[:512] if hasattr(buffered, "peek") else b""
    encoding = _sniff(head)
    if encoding != "utf-8":
        text = io.TextIOWrapper(buffered, encoding=encoding, errors="replace", newline="")
        yield from _capped(text.readline, max_line, "")
        return
    first = True
    for raw, cut in _capped(buffered.readline, max_line, b""):
        if first and raw.startswith(b"\xef\xbb\xbf"):
            raw = raw[3:]
        first = False
        yield raw.decode("utf-8", "replace"), cut


def _capped(readline: Callable[[int], Any], max_line: int, empty: str | bytes) -> Iterator[tuple[Any, bool]]:
    while True:
        line = readline(max_line)
        if not line:
            return
        if line.endswith(("\n" if isinstance(line, str) else b"\n")) or len(line) < max_line:
            yield line, False
            continue
        # Over-long: keep the first max_line, skip to the end of the line without buffering it.
        while True:
            more = readline(max_line)
            if not more or more.endswith(("\n" if isinstance(more, str) else b"\n")):
                break
        yield line, True


def _sniff(head: bytes) -> str:
    if head.startswith((b"\xff\xfe", b"\xfe\xff")):
        return "utf-16"
    if len(head) >= 16:
        # ASCII written as UTF-16 without BOM: every other byte is NUL.
        odd_nuls = head[1::2].count(0)
        even_nuls = head[0::2].count(0)
        if odd_nuls > 0.8 * (len(head) // 2) and even_nuls < 0.1 * (len(head) // 2):
            return "utf-16-le"
        if even_nuls > 0.8 * (len(head) // 2) and odd_nuls < 0.1 * (len(head) // 2):
            return "utf-16-be"
    return "utf-8"


def _regular(path: str) -> bool:
    try:
        return stat.S_ISREG(os.stat(path).st_mode)
    except OSError:
        return False


class LogReader:
    """Events of all log sources under ``paths``, one source after another, and a summary.

    Iterate once; :attr:`summary` is complete after the iteration. Raises :class:`InputError`
    for a path that does not exist or cannot be opened, or for a bad ``log_tz``.
    """

    def __init__(
        self,
        paths: str | os.PathLike[str] | Iterable[str | os.PathLike[str]],
        *,
        log_tz: str | tzinfo | None = None,
        max_line: int = MAX_LINE,
    ) -> None:
        if isinstance(paths, (str, os.PathLike)):
            paths = [paths]
        self.paths = [os.fspath(p) for p in paths]
        for p in self.paths:
            # Fail before reading anything rather than after half the logs.
            if not os.path.exists(p):
                raise InputError(f"{p}: no such file or directory")
        self.tz = parse_tz(log_tz)
        self.max_line = max_line
        self.summary: ParseSummary = EMPTY_SUMMARY
        self.sources: list[str] = []

    def __iter__(self) -> Iterator[LogEvent]:
        for path in self.paths:
            if not os.path.exists(path):
                raise InputError(f"{path}: no such file or directory")
            if os.path.isdir(path):
                for root, dirs, files in os.walk(path):
                    dirs[:] = sorted(d for d in dirs if not d.startswith("."))
                    for f in sorted(files):
                        full = os.path.join(root, f)
                        if not _regular(full):
                            continue  # a FIFO named x.log would block the read for ever
                        if is_bundle_name(f):
                            yield from self._bundle(full)
                        elif is_log_name(f):
                            yield from self._file(full)
            elif is_bundle_name(path):
                yield from self._bundle(path)
            else:
                yield from self._file(path)

    def _file(self, path: str) -> Iterator[LogEvent]:
        name = os.path.basename(path)
        try:
            fh = open(path, "rb")
        except OSError as e:
            raise InputError(f"{path}: cannot open ({e.strerror or e})") from e
        with fh:
            if fh.read(2) == GZIP_MAGIC:
                fh.seek(0)
                gz = Inflated(fh)
                name = name[:-3] if name.endswith(".gz") else name
                yield from self._parse(name, gz, path, lambda: gz.problem)
            else:
                fh.seek(0)
                yield from self._parse(name, fh, path)

    def _bundle(self, path: str) -> Iterator[LogEvent]:
        try:
            fh = open(path, "rb")
        except FileNotFoundError as e:
            raise InputError(f"{path}: no such file") from e
        except OSError as e:
            raise InputError(f"{path}: cannot open ({e.strerror or e})") from e
        with fh:
            try:
                tar = TarStream(fh)
            except _READ_ERRORS as e:
                raise InputError(f"{path}: not a readable tar/tar.gz bundle ({e})") from e
            cut: str | None = None
            with tar:
                try:
                    for member, data in tar.files(is_log_name):
                        yield from self._parse(os.path.basename(member.name), data, f"{path}:{member.name}")
                except _READ_ERRORS as e:
                    cut = str(e)
            cut = cut or tar.cut
            if cut:
                self.summary = self.summary + ParseSummary(0, 0, 0, problems=(f"{path}: bundle cut short ({cut})",))

    def _parse(self, name: str, stream: IO[bytes] | io.RawIOBase, where: str,
               damage: Callable[[], str | None] | None = None) -> Iterator[LogEvent]:
        parser = LineParser(name, log_tz=self.tz, max_line=self.max_line)
        self.sources.append(name)
        n = 0
        try:
            for text, cut in iter_lines(stream, self.max_line):
                n += 1
                yield from parser.feed(text, n, cut=cut)
        except _READ_ERRORS as e:
            # A log copied while being written: keep what was read.
            parser.problem(f"{where}: read stopped after line {n} ({e})")
        problem = damage() if damage is not None else None
        if problem:  # a gzip cut short: every line before the cut was read
            parser.problem(f"{where}: read stopped after line {n} ({problem})")
        yield from parser.close()
        self.summary = self.summary + parser.summary


def read_logs(
    paths: str | os.PathLike[str] | Iterable[str | os.PathLike[str]],
    *,
    log_tz: str | tzinfo | None = None,
    max_line: int = MAX_LINE,
) -> tuple[list[LogEvent], ParseSummary]:
    """All events of the logs under ``paths`` (files, folders, ``.tar.gz`` bundles), and a summary."""
    reader = LogReader(paths, log_tz=log_tz, max_line=max_line)
    events = list(reader)
    return events, reader.summary
