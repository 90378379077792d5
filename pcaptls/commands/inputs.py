"""What every command that reads captures shares on the way in: the CAPTURE arguments, the
filters, and checking the inputs before anything is printed.

Arguments (:func:`resolve`), each one *recording*:

- a capture file (pcap or pcapng, optionally gzip-compressed);
- a folder of captures, or a glob (``'eth0_*.pcap'``): rotated files (``tcpdump -C``,
  ``editcap -c``, Expressway's 20 files per interface) read as one recording, merged in time
  order (:mod:`pcaptls.capture.merge`), so a connection cut at a file boundary is one connection;
- an Expressway diagnostic bundle (``.tar.gz``, or its unpacked folder): its captures as one
  recording, and its log snapshot and ``ca_*.pem`` trust store, used when no ``--log`` /
  ``--trust-store`` is given;
- ``-`` (or ``/dev/stdin``, or a named pipe) for standard input, plain or gzip.
  ``inspect`` reads it as it arrives (:mod:`pcaptls.pipeline.stream`); the other commands
  need the whole capture and read it once it has ended.

Every input is looked at before any analysis: one that cannot be used (missing, a PNG image, a
text file, an empty file) is one line on stderr and exit 2, with nothing on standard output.

Filters (:class:`Filters`, :func:`filter_options`), the same on every command and applied by
one function (:meth:`Filters.select`): ``--server``, ``--port``, ``--sni``, ``--status``,
``--failed-only``, ``--since``, ``--until``.
"""

from __future__ import annotations

import fnmatch
import functools
import os
import shutil
import stat
import sys
import tempfile
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Callable, Iterable, Sequence, TypeVar

import click

from ..errors import InputError
from ..inputs.kinds import is_capture, sniff_file
from ..times import parse_utc

if TYPE_CHECKING:  # and bundles' readers load when a bundle is given: a capture is read sooner
    from ..certificates.verdicts import Judge
    from ..inputs.bundle import Bundle
    from ..tls.model import TlsConnection

F = TypeVar("F", bound=Callable[..., Any])

STDIN_NAMES = ("-", "/dev/stdin", "/dev/fd/0", "/proc/self/fd/0")
CAPTURE_WORDS = "a capture (pcap or pcapng, optionally gzip-compressed), a folder of captures or a diagnostic bundle"

captures_argument = click.argument("captures", nargs=-1, required=True, metavar="CAPTURE...",
                                   type=click.Path(allow_dash=True))


# --- filters -------------------------------------------------------------------------------

STATUSES = ("ok", "failed", "incomplete")


@dataclass(frozen=True)
class Filters:
    """Which connections a command shows. Empty: all of them."""

    host: str | None = None  # --server HOST: the server's IP address or its SNI
    server_port: int | None = None  # --server HOST:PORT
    port: int | None = None  # --port: the server's port
    sni: str | None = None  # --sni: a glob, case-insensitive
    status: str | None = None
    failed_only: bool = False  # failed, or a server chain that does not verify
    since: float | None = None
    until: float | None = None

    def keep(self, c: TlsConnection) -> bool:
        """Does ``c`` pass every filter but ``--failed-only`` (which needs a verdict: :meth:`select`)?

        Time window: a connection is in it when it started before ``--until`` and its last
        packet is at or after ``--since`` (it was open during the window)."""
        if self.host is not None and not _same_host(self.host, c):
            return False
        if self.server_port is not None and c.server.port != self.server_port:
            return False
        if self.port is not None and c.server.port != self.port:
            return False
        if self.sni is not None and not fnmatch.fnmatchcase((c.sni or "").lower(), self.sni.lower()):
            return False
        if self.status is not None and c.status != self.status:
            return False
        if self.since is not None and c.end < self.since:
            return False
        if self.until is not None and c.start >= self.until:
            return False
        return True

    def select(self, conns: Iterable[TlsConnection], judge: Judge | None = None) -> list[TlsConnection]:
        """The connections that pass every filter; ``--failed-only`` judges server chains with
        ``judge`` (without one, only the handshake's status counts)."""
        out = [c for c in conns if self.keep(c)]
        if self.failed_only:
            out = [c for c in out if not good(c, judge)]
        return out

    @property
    def active(self) -> bool:
        return self != Filters()


def good(c: TlsConnection, judge: Judge | None) -> bool:
    """Handshake completed and (if judged) its server chain verifies."""
    if c.status != "ok":
        return False
    return judge is None or not c.server_certs or _verifies(judge, c)


def wrong(c: TlsConnection, judge: Judge | None) -> bool:
    """Something to fix, for the exit status (1): the handshake failed, or (if judged) the server
    chain does not verify. A connection still open at the end of the capture is neither."""
    return c.status == "failed" or (judge is not None and bool(c.server_certs) and not _verifies(judge, c))


def _verifies(judge: Judge, c: TlsConnection) -> bool:
    v = judge.verdict(c)
    return v is None or v.ok


def _same_host(host: str, c: TlsConnection) -> bool:
    import ipaddress

    h = host.lower()
    if c.sni is not None and c.sni.lower() == h:
        return True
    try:
        return ipaddress.ip_address(h) == ipaddress.ip_address(c.server.ip)
    except ValueError:
        return False


def _server(_ctx: click.Context, _param: click.Parameter, value: str | None) -> tuple[str, int | None] | None:
    if value is None:
        return None
    v = value.strip()
    host, port = v, None
    if v.startswith("["):  # [IPv6]:port
        host, _, rest = v[1:].partition("]")
        if rest:
            if not rest.startswith(":"):
                raise click.BadParameter(f"{value!r}: expected [IPv6] or [IPv6]:PORT")
            port = rest[1:]
    elif v.count(":") == 1:
        host, port = v.split(":")
    if not host:
        raise click.BadParameter(f"{value!r}: no host")
    try:
        return host, None if port is None else _port_number(port)
    except ValueError:
        raise click.BadParameter(f"{value!r}: the port must be a number from 1 to 65535") from None


def _port_number(text: str) -> int:
    n = int(text)
    if not 0 < n < 65536:
        raise ValueError(text)
    return n


def _time(_ctx: click.Context, _param: click.Parameter, value: str | None) -> float | None:
    if value is None:
        return None
    try:
        return parse_utc(value)
    except ValueError:
        raise click.BadParameter(f"{value!r}: expected an ISO-8601 time such as 2026-11-27T11:19:25Z "
                                 "(no zone means UTC)") from None


_FILTER_OPTIONS = [
    click.option("--server", "server", metavar="HOST[:PORT]", callback=_server,
                 help="Only connections to this server: its IP address or SNI, and port if given "
                      "([IPv6]:PORT for IPv6)."),
    click.option("--port", "port", type=click.IntRange(1, 65535), default=None, help="Only connections to this server port."),
    click.option("--sni", "sni", metavar="PATTERN", default=None,
                 help="Only connections whose SNI matches this glob (case-insensitive; '*.example.com')."),
    click.option("--status", "status", type=click.Choice(STATUSES), default=None,
                 help="Only connections whose handshake ended so: ok, failed (fatal alert or closed before its "
                      "end) or incomplete (still open when the capture ends)."),
    click.option("--failed-only", "failed_only", is_flag=True,
                 help="Only connections whose handshake failed or whose server chain does not verify "
                      "against the trust store."),
    click.option("--since", "since", metavar="TIME", callback=_time,
                 help="Only connections open at or after TIME (ISO-8601, UTC unless an offset is given)."),
    click.option("--until", "until", metavar="TIME", callback=_time,
                 help="Only connections that started before TIME (ISO-8601, UTC unless an offset is given)."),
]


def filter_options(fn: F) -> F:
    """Add the filter options to a command; it gets them as one ``filters`` argument (:class:`Filters`)."""

    @functools.wraps(fn)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        server = kwargs.pop("server")
        kwargs["filters"] = Filters(
            host=server[0] if server else None, server_port=server[1] if server else None,
            port=kwargs.pop("port"), sni=kwargs.pop("sni"), status=kwargs.pop("status"),
            failed_only=kwargs.pop("failed_only"), since=kwargs.pop("since"), until=kwargs.pop("until"))
        return fn(*args, **kwargs)

    for deco in reversed(_FILTER_OPTIONS):
        wrapper = deco(wrapper)
    return wrapper  # type: ignore[return-value]


# --- inputs --------------------------------------------------------------------------------


@dataclass
class Recording:
    """One capture to analyse: the file an engine reads, and what to call it."""

    path: str  # given, extracted from a bundle, merged from several, or standard input saved
    name: str
    parts: list[str] = field(default_factory=list)  # the names of the files it holds (several: merged)
    stream: bool = False  # a pipe read as it arrives (inspect only): ``path`` is "-" or the pipe


@dataclass
class Sources:
    """What the CAPTURE arguments resolved to. ``cleanup()`` removes temporary copies."""

    recordings: list[Recording] = field(default_factory=list)
    logs: list[str] = field(default_factory=list)  # found in bundles and folders
    trust_store: str | None = None  # found in a bundle or folder
    problems: list[str] = field(default_factory=list)  # files cut short: say so, exit 2, read what is there
    unusable: list[InputError] = field(default_factory=list)  # inputs left out (not a capture, missing): exit 2
    notes: list[str] = field(default_factory=list)  # how the files were read (the report lists them)
    cautions: list[str] = field(default_factory=list)  # for stderr, not errors: a merge that could not be done
    listed: list[tuple[str, str]] = field(default_factory=list)  # (role, path): what was given
    bundles: list[Bundle] = field(default_factory=list)
    tmp: str | None = None

    def name(self, path: str) -> str:
        """The name of the recording an engine read at ``path``."""
        for r in self.recordings:
            if r.path == path:
                return r.name
        return path

    def cleanup(self) -> None:
        for b in self.bundles:
            b.cleanup()
        if self.tmp:
            shutil.rmtree(self.tmp, ignore_errors=True)
            self.tmp = None

    def _dir(self) -> str:
        if self.tmp is None:
            self.tmp = tempfile.mkdtemp(prefix="pcaptls-inputs-")
        return self.tmp

    def __enter__(self) -> Sources:
        return self

    def __exit__(self, *exc: object) -> None:
        self.cleanup()


def is_stdin(arg: str) -> bool:
    return arg in STDIN_NAMES


def _is_pipe(path: str) -> bool:
    try:
        return stat.S_ISFIFO(os.stat(path).st_mode)
    except OSError:
        return False


def resolve(args: Sequence[str], logs: Sequence[str] = (), stream: bool = False) -> Sources:
    """The CAPTURE arguments as recordings (see the module's docstring), every one checked.

    An input that is not a capture (or is missing) is left out and named in
    :attr:`Sources.unusable`, so the others are still reported; a bad ``--log`` (not a text
    log) raises :class:`InputError`, as does a bundle that cannot be read at all.
    ``stream``: standard input (and a named pipe) stays a stream for
    :mod:`pcaptls.pipeline.stream`; otherwise it is saved to a temporary file first.
    Use as a context manager (temporary copies are removed at its end)."""
    s = Sources()
    try:
        if sum(1 for a in args if is_stdin(a)) > 1:
            raise InputError("standard input can be given only once")
        check_logs(logs)
        for i, arg in enumerate(args):
            try:
                _resolve_one(s, arg, i, stream)
            except _Unusable as e:
                s.unusable.append(e)
        s.listed += [("log", p) for p in logs]
    except BaseException:
        s.cleanup()
        raise
    return s


def open_inputs(args: Sequence[str], logs: Sequence[str] = (), stream: bool = False, debug: bool = False) -> Sources:
    """:func:`resolve`, then each input left out and each problem as one line on stderr (with its
    traceback under ``--debug``); exit 2, with nothing on standard output, when no capture is left."""
    from .common import EXIT_INPUT, fail, fail_input

    s = resolve(args, logs, stream)
    for e in s.unusable:
        fail_input("", e, debug)
    for line in [*s.problems, *s.cautions]:
        fail(line)
    if not s.recordings:
        s.cleanup()
        sys.exit(EXIT_INPUT)
    return s


class _Unusable(InputError):
    """An input left out: not a capture, or missing."""


def _resolve_one(s: Sources, arg: str, i: int, stream: bool) -> None:
    if is_stdin(arg) or _is_pipe(arg):
        name = "standard input" if is_stdin(arg) else arg
        if stream:
            s.recordings.append(Recording("-" if is_stdin(arg) else arg, name, [name], stream=True))
        else:
            path = os.path.join(s._dir(), f"stdin-{i}.pcap")
            _save(arg, path, name)
            _check_capture(path, name)
            s.recordings.append(Recording(path, name, [name]))
        s.listed.append(("capture", name))
        return
    if not os.path.exists(arg) and any(c in arg for c in "*?["):
        import glob

        matches = sorted(glob.glob(arg))
        if not matches:
            raise _Unusable(f"{arg}: no file matches this pattern")
        files = [m for m in matches if os.path.isfile(m) and _usable(s, m, m)]
        if files:
            _add_group(s, arg, files, {}, i)
            s.listed += [("capture", m) for m in files]
        for d in (m for m in matches if os.path.isdir(m)):
            _resolve_one(s, d, i, stream)
        return
    if os.path.isdir(arg):
        from ..inputs.bundle import open_bundle

        try:
            b = open_bundle(arg)
        except InputError:
            raise _Unusable(f"{arg}: no capture (.pcap, .pcapng or .cap, optionally .gz) in this folder") from None
        _add_bundle(s, arg, b, i)
        s.listed += [("capture", p) for p in b.captures] + [("log", p) for p in b.logs]
        return
    if not os.path.exists(arg):
        raise _Unusable(f"{arg}: no such file or folder")
    words = _kind(arg)
    if "tar archive" in words:  # a diagnostic bundle
        from ..inputs.bundle import open_bundle

        _add_bundle(s, arg, open_bundle(arg), i)
        s.listed.append(("bundle", arg))
        return
    if not is_capture(words):
        raise _Unusable(f"{arg}: {words}, not {CAPTURE_WORDS}")
    s.recordings.append(Recording(arg, arg, [arg]))
    s.listed.append(("capture", arg))


def _kind(path: str) -> str:
    try:
        return sniff_file(path)
    except IsADirectoryError:
        return "a folder"
    except OSError as e:
        raise _Unusable(f"{path}: cannot open: {e.strerror or e}") from e


def _check_capture(path: str, name: str) -> None:
    words = _kind(path)
    if not is_capture(words):
        raise _Unusable(f"{name}: {words}, not a capture (pcap or pcapng, optionally gzip-compressed)")


def _usable(s: Sources, path: str, name: str) -> bool:
    """Is a member of a folder, glob or bundle a capture? If not, it is left out and named."""
    try:
        _check_capture(path, name)
    except _Unusable as e:
        s.unusable.append(e)
        return False
    return True


def _add_bundle(s: Sources, arg: str, b: Bundle, i: int) -> None:
    s.bundles.append(b)
    s.problems += b.problems
    captures = [p for p in b.captures if _usable(s, p, b.name(p))]
    s.logs += b.logs
    if b.trust_store and s.trust_store is None:
        s.trust_store = b.trust_store
    if captures:
        _add_group(s, arg, captures, b.names, i)


def _add_group(s: Sources, arg: str, files: list[str], names: dict[str, str], i: int) -> None:
    """Several files from one argument: merged into one recording (rotated captures)."""
    shown = [names.get(p, p) for p in files]
    if len(files) == 1:
        s.recordings.append(Recording(files[0], shown[0], shown))
        return
    from ..capture.merge import merge

    m = merge(files, os.path.join(s._dir(), f"merged-{i}.pcap"))
    s.problems += m.problems
    if m.path is None:
        s.notes.append(f"{arg}: the {len(files)} captures were read separately ({m.why_not}): a connection "
                       "cut at a file boundary shows as two")
        s.cautions.append(s.notes[-1])
        s.recordings += [Recording(p, n, [n]) for p, n in zip(files, shown)]
        return
    s.notes.append(f"{arg}: {len(files)} capture files were merged in time order into one recording "
                   "(frame numbers count across the files)")
    s.recordings.append(Recording(m.path, f"{arg} ({len(files)} files)", shown))


def _save(arg: str, dest: str, name: str) -> None:
    """Standard input (or a pipe) into ``dest``, for a command that needs the whole capture."""
    try:
        src = sys.stdin.buffer if is_stdin(arg) else open(arg, "rb")
        with open(dest, "wb") as out:
            shutil.copyfileobj(src, out, 1 << 20)
    except OSError as e:
        raise InputError(f"{name}: cannot read: {e.strerror or e}") from e


# What a log given to --log may be: text (plain or gzip), or a tar bundle.
_LOG_KINDS = ("a text file", "an HTML page", "an empty file", "an empty gzip file", "a gzip file holding text file",
              "a tar archive", "a gzip-compressed tar archive")


def check_logs(paths: Iterable[str]) -> None:
    """Raise :class:`InputError` for a ``--log`` that is not a text log (a capture, an image, ...)."""
    for p in paths:
        if is_stdin(p):
            raise InputError("--log -: give log files, folders or bundles; standard input is for a capture")
        if os.path.isdir(p):
            continue
        if not os.path.exists(p):
            raise InputError(f"{p}: no such file or folder")
        words = _kind(p)
        if words in _LOG_KINDS:
            continue
        if is_capture(words):
            raise InputError(f"{p}: {words}, not a text log (give captures as arguments, not to --log)")
        if words.startswith("a PEM"):
            raise InputError(f"{p}: {words}, not a text log (a trust store goes to --trust-store)")
        raise InputError(f"{p}: {words}, not a text log")


def stdin_fd(r: Recording) -> int:
    """The file descriptor a streamed recording is read from (opened for a named pipe)."""
    if r.path == "-":
        return sys.stdin.fileno()
    try:
        return os.open(r.path, os.O_RDONLY)
    except OSError as e:
        raise InputError(f"{r.path}: cannot open: {e.strerror or e}") from e
