"""pcaptls as tables: connections, timeline rows and findings as pandas DataFrames.

Made from the very records the commands write, so a frame holds what ``--format jsonl`` says::

    import pcaptls
    conns = pcaptls.connections("capture.pcap", trust_store="truststore.pem")
    conns[conns.status == "failed"][["start", "connection", "sni", "verify"]]
    tl = pcaptls.timeline("bundle.tar.gz")                 # captures, log and trust store found in it
    fx = pcaptls.findings(["a.pcap", "b.pcap"], logs="expressway.log", trust_store="ca.pem")

- :func:`connections`: one row per TLS connection; the columns are the keys of ``pcaptls inspect
  --format jsonl`` in its order (``verify`` included), plus ``capture``; rows in its order (time,
  across captures).
- :func:`timeline`: one row per capture and log event; the keys of ``pcaptls timeline --format jsonl``.
- :func:`findings`: one row per finding; the keys of ``pcaptls diagnose --format jsonl``.

Types: times (``start``, ``end``, ``start_utc``; the timeline's ``time``) are
``datetime64[ns, UTC]`` at the microsecond the reports show; ports, frame numbers and counts
are integers (``Int64`` where a value may be missing); flags are booleans; text is pandas'
string type; lists and objects (certificates, alerts, the handshake, the verdict) stay Python
lists and dicts, as in the JSON. :func:`connections_frame`, :func:`timeline_frame` and
:func:`findings_frame` turn records into frames (``[]`` gives the empty frame with every column
typed: what :mod:`pcaptls.dask` declares as its meta).

``paths``: a capture, a glob pattern, an Expressway diagnostic bundle (``.tar.gz`` or its
folder: its captures, and by default its log and ``ca_*.pem`` trust store), or a list of
these. A capture that cannot be read raises :class:`~pcaptls.errors.InputError` with
``errors="raise"`` (the default), or is left out with a :class:`PcaptlsWarning` with
``errors="warn"``; a capture cut short gives what came before the cut and a warning.
Key logs (TLS 1.3 decryption) are not taken yet.
"""

from __future__ import annotations

import contextlib
import glob
import os
import warnings
from dataclasses import dataclass, field
from datetime import datetime, timezone
from typing import TYPE_CHECKING, Any, Callable, Iterable, Iterator, Sequence, Union

from .errors import InputError, PcaptlsError
from .pipeline.analysis import Analysis, using_keys
from .pipeline.result import row_order
from .tcp.facts import Endpoint
from .tls.model import TlsConnection

if TYPE_CHECKING:
    import pandas as pd

    from .certificates.truststore import TrustStore
    from .certificates.verdicts import Judge
    from .correlate.link import Correlation
    from .tls.keylog import KeyLog

PathArg = Union[str, "os.PathLike[str]"]
Paths = Union[PathArg, Sequence[PathArg]]
# analyse_many's shape: (paths, make_row) -> one Analysis or error per path, in order.
AnalyseMany = Callable[[Sequence[str], Callable[[str, Any], Any] | None], list[Union[Analysis, PcaptlsError]]]


class PcaptlsWarning(UserWarning):
    """A capture left out, or read only up to where it was cut."""


# ---------------------------------------------------------------------------------------------
# Records -> frames


def _columns() -> list[str]:
    """The jsonl keys of a connection, in order, from the record builder itself (so a key added
    there is a column here), plus ``capture``."""
    from .report.records import connection_record

    probe = TlsConnection(client=Endpoint("0.0.0.0", 0), server=Endpoint("0.0.0.0", 0), start=0.0, end=0.0,
                          first_frame=1)
    return [*connection_record(probe, None, with_verify=True), "capture"]


CONNECTION_COLUMNS = _columns()
_TIMES = ("start", "end", "start_utc")
_INTS = ("client_port", "server_port", "first_frame", "last_frame")
_NULLABLE_INTS = ("version_id", "cipher_id", "client_version_id", "close_frame")
_BOOLS = ("hello_retry", "certificates_visible", "certificate_request")
_STRINGS = ("connection", "client_ip", "server_ip", "status", "reason", "sni", "version", "cipher", "alpn",
            "kex_group", "starttls", "closed_by", "close_kind", "capture")
# Everything else (lists, dicts, and keys this module does not know yet) stays as Python objects.


def _utc(values: Iterable[float | str | None]) -> pd.Series:
    """Epoch seconds (or ISO-8601 text) -> datetime64[ns, UTC], at the microsecond the reports
    write (datetime.fromtimestamp's rounding, as :func:`pcaptls.report.records.iso`)."""
    import pandas as pd

    out = [None if v is None else (datetime.fromisoformat(v) if isinstance(v, str)
                                   else datetime.fromtimestamp(v, timezone.utc)) for v in values]
    return pd.Series(pd.to_datetime(out, utc=True), dtype="datetime64[ns, UTC]")


def _string_dtype() -> Any:
    import pandas as pd

    return "str" if int(pd.__version__.split(".")[0]) >= 3 else object  # pandas 3's string type


def _typed(records: Sequence[dict[str, Any]], columns: Sequence[str], times: Sequence[str], ints: Sequence[str],
           nullable_ints: Sequence[str], bools: Sequence[str], strings: Sequence[str]) -> pd.DataFrame:
    import pandas as pd

    data: dict[str, Any] = {}
    text = _string_dtype()
    for col in columns:
        values = [r.get(col) for r in records]
        if col in times:
            data[col] = _utc(values)
        elif col in ints:
            data[col] = pd.Series(values, dtype="int64")
        elif col in nullable_ints:
            data[col] = pd.Series(values, dtype="Int64")
        elif col in bools:
            data[col] = pd.Series(values, dtype="boolean")
        elif col in strings:
            data[col] = pd.Series(values, dtype=object).astype(text)
        else:
            s = pd.Series([None] * len(values), dtype=object)
            s[:] = values  # lists stay lists (not spread into rows)
            data[col] = s
    return pd.DataFrame(data, columns=list(columns))


def connections_frame(records: Sequence[dict[str, Any]]) -> pd.DataFrame:
    """Connection records (``connection_record(..., with_verify=True)`` plus ``capture``) -> the
    typed frame of :func:`connections`; ``[]`` -> the empty frame, every column typed."""
    return _typed(records, CONNECTION_COLUMNS, _TIMES, _INTS, _NULLABLE_INTS, _BOOLS, _STRINGS)


def timeline_frame(rows: Sequence[dict[str, Any]]) -> pd.DataFrame:
    """Timeline rows (:func:`pcaptls.correlate.timeline_rows`) -> the typed frame of :func:`timeline`."""
    from .correlate.timeline import ROW_COLUMNS

    return _typed(rows, ROW_COLUMNS, ("time",), (), ("frame", "line"), (),
                  [c for c in ROW_COLUMNS if c not in ("time", "frame", "line", "delta")]).astype({"delta": "float64"})


FINDING_COLUMNS = ["server", "server_name", "problem", "explanation", "certificate", "chain_sha256", "verify",
                   "kind", "headline", "trust_store", "connections", "failed_connections", "total_connections",
                   "evidence", "fixes"]


def findings_frame(records: Sequence[dict[str, Any]]) -> pd.DataFrame:
    """``Finding.to_dict()`` records -> the typed frame of :func:`findings`."""
    return _typed(records, FINDING_COLUMNS, (), ("failed_connections", "total_connections"), (), (),
                  ("server", "server_name", "problem", "explanation", "kind", "headline", "trust_store"))


# ---------------------------------------------------------------------------------------------
# Inputs


@dataclass
class Inputs:
    """Captures to read (``paths``: on disk; ``names``: as reported) and what bundles brought."""

    paths: list[str] = field(default_factory=list)
    names: list[str] = field(default_factory=list)
    logs: list[str] = field(default_factory=list)
    trust_store: str | None = None
    problems: list[str] = field(default_factory=list)


_GLOB = frozenset("*?[")


@contextlib.contextmanager
def inputs(paths: Paths) -> Iterator[Inputs]:
    """Expand ``paths`` (captures, globs, bundles); bundle members extracted for the ``with``
    block, named as ``pcaptls diagnose`` names them."""
    from .inputs.bundle import is_bundle, open_bundle

    items = [paths] if isinstance(paths, (str, os.PathLike)) else list(paths)
    out = Inputs()
    opened = []
    try:
        for item in items:
            p = os.fspath(item)
            expanded = sorted(glob.glob(p)) if _GLOB & set(p) else [p]
            if not expanded:
                raise InputError(f"{p}: no file matches")
            for x in expanded:
                if not is_bundle(x):
                    out.paths.append(x)
                    out.names.append(x)
                    continue
                b = open_bundle(x)
                opened.append(b)
                out.problems += b.problems
                out.logs += b.logs
                out.trust_store = out.trust_store or b.trust_store
                for cap in b.captures:
                    out.paths.append(cap)
                    out.names.append(b.name(cap))  # a tarball's member, never its temporary copy
        yield out
    finally:
        for b in opened:
            b.cleanup()


def _local(jobs: int | None) -> AnalyseMany:
    from .commands.common import analyse_many, default_jobs

    return lambda paths, make_row: analyse_many(paths, default_jobs(jobs), make_row)


def _warn(message: str) -> None:
    warnings.warn(message, PcaptlsWarning, stacklevel=3)


def _checked(results: Sequence[Analysis | PcaptlsError], names: Sequence[str], errors: str) -> list[Analysis]:
    """The analyses that could be read; an unreadable capture raises (``errors="raise"``) or warns."""
    if errors not in ("raise", "warn"):
        raise ValueError(f"errors={errors!r}: 'raise' or 'warn'")
    from .commands.common import unread_link_types

    out = []
    for name, res in zip(names, results):
        if isinstance(res, PcaptlsError):
            if errors == "raise":
                raise res
            _warn(str(res))
            continue
        if res.truncated:
            _warn(f"{name}: file ends early ({res.truncated}); reporting what came before the cut")
        unread = unread_link_types(res)
        if unread:
            _warn(f"{name}: {unread}")
        res.path = name
        out.append(res)
    return out


def load_keys(keylog: Paths | None) -> KeyLog | None:
    """The secrets of ``keylog`` (one NSS key log file or several), as ``--keylog`` reads them."""
    if keylog is None:
        return None
    from .tls import keylog as kl

    files = [keylog] if isinstance(keylog, (str, os.PathLike)) else list(keylog)
    keys = kl.KeyLog()
    for f in files:
        keys.merge(kl.load(os.fspath(f)))
    return keys


def _load_store(path: str | None, bundled: str | None) -> TrustStore:
    from .certificates import truststore

    return truststore.load(path if path is not None else bundled)


class Verdicts:
    """A connection's ``verify`` record, judged against one trust store; each distinct verdict's
    record is made once (the :class:`~pcaptls.certificates.verdicts.Judge` reuses verdicts)."""

    def __init__(self, store: TrustStore) -> None:
        from .certificates.verdicts import Judge

        self.judge: Judge = Judge(store)
        self._records: dict[int, tuple[Any, dict[str, Any] | None]] = {}

    def record(self, c: TlsConnection) -> dict[str, Any] | None:
        from .report.records import verdict_record

        if not c.server_certs:
            return None
        v = self.judge.verdict(c)
        hit = self._records.get(id(v))
        if hit is None:  # keyed by id(), the verdict kept alive beside its record
            hit = self._records[id(v)] = (v, verdict_record(v))
        return hit[1]


def connection_records(conns: Iterable[TlsConnection], verdicts: Verdicts, capture: str) -> list[dict[str, Any]]:
    """The jsonl records of ``conns`` (``verify`` from ``verdicts``), with ``capture``."""
    from .report.records import connection_record

    out = []
    for c in conns:
        rec = connection_record(c, verdicts.record(c), with_verify=True)
        rec["capture"] = capture
        out.append(rec)
    return out


# ---------------------------------------------------------------------------------------------
# The tables


def connections(paths: Paths, trust_store: PathArg | None = None, *, keylog: Paths | None = None,
                errors: str = "raise", jobs: int | None = 1, analyse_many: AnalyseMany | None = None) -> pd.DataFrame:
    """One row per TLS connection in ``paths``: ``pcaptls inspect --format jsonl``'s records
    (with ``capture``), typed, in its order (time, across captures).

    ``trust_store``: as ``--trust-store`` (default: a bundle's ``ca_*.pem``, else certifi's).
    ``keylog``: key log file(s), as ``--keylog`` (TLS 1.3 certificates and alerts decrypted).
    ``jobs``: processes to read captures with (``None``: all cores). ``analyse_many`` runs the
    analyses elsewhere (:mod:`pcaptls.dask` passes the cluster's)."""
    from .pipeline import spill

    run = analyse_many or _local(jobs)
    with inputs(paths) as inp:
        for problem in inp.problems:
            _warn(problem)
        verdicts = Verdicts(_load_store(None if trust_store is None else os.fspath(trust_store), inp.trust_store))
        name_of = dict(zip(inp.paths, inp.names))

        def make_row(path: str, c: TlsConnection) -> dict[str, Any]:
            return connection_records((c,), verdicts, name_of.get(path, path))[0]

        with using_keys(load_keys(keylog)):
            analyses = _checked(run(inp.paths, make_row), inp.names, errors)
    records = [rec for _s, _f, rec in spill.Merged([a.rows or () for a in analyses], row_order)]
    return connections_frame(records)


@dataclass
class Gathered:
    """Captures, logs and trust store of a diagnosis, read and correlated (as ``pcaptls diagnose``)."""

    analyses: list[Analysis]
    connections: list[TlsConnection]
    correlation: Correlation | None
    judge: Judge | None  # None when no trust store was asked for (the timeline)


def gather(paths: Paths, logs: Paths | None = None, trust_store: PathArg | None = None, *,
           keylog: Paths | None = None, clock_offset: float | None = None, log_tz: str | None = None, errors: str = "raise",
           jobs: int | None = 1, analyse_many: AnalyseMany | None = None, judge: bool = True) -> Gathered:
    """Every connection of ``paths`` in time order, correlated with ``logs`` (default: a bundle's
    log), and a judge for ``trust_store`` (default: a bundle's ``ca_*.pem``, else certifi's)."""
    from .certificates.verdicts import Judge
    from .correlate import correlate
    from .logs.reader import read_logs

    run = analyse_many or _local(jobs)
    with inputs(paths) as inp:
        for problem in inp.problems:
            _warn(problem)
        store = _load_store(None if trust_store is None else os.fspath(trust_store), inp.trust_store) if judge else None
        with using_keys(load_keys(keylog)):
            analyses = _checked(run(inp.paths, None), inp.names, errors)
        log_paths = ([os.fspath(logs)] if isinstance(logs, (str, os.PathLike)) else [os.fspath(x) for x in logs]
                     ) if logs is not None else list(inp.logs)
        conns = sorted((c for a in analyses for c in a.connections), key=lambda c: (c.start, c.first_frame))
        corr = None
        if log_paths:  # read inside the block: a bundle's log is read from the bundle
            events, summary = read_logs(log_paths, log_tz=log_tz)
            for problem in summary.problems:
                _warn(problem)
            corr = correlate(conns, events, clock_offset=clock_offset)
    return Gathered(analyses, conns, corr, None if store is None else Judge(store))


def timeline(paths: Paths, logs: Paths | None = None, *, keylog: Paths | None = None, clock_offset: float | None = None,
             log_tz: str | None = None, only_linked: bool = False, errors: str = "raise", jobs: int | None = 1,
             analyse_many: AnalyseMany | None = None) -> pd.DataFrame:
    """Capture and log events on one clock: ``pcaptls timeline --format jsonl``'s rows, typed."""
    from .correlate import timeline_rows

    g = gather(paths, logs, keylog=keylog, clock_offset=clock_offset, log_tz=log_tz, errors=errors, jobs=jobs,
               analyse_many=analyse_many, judge=False)
    return timeline_frame(list(timeline_rows(g.connections, g.correlation, only_linked=only_linked)))


def findings(paths: Paths, logs: Paths | None = None, trust_store: PathArg | None = None, *,
             keylog: Paths | None = None, clock_offset: float | None = None, log_tz: str | None = None, errors: str = "raise",
             jobs: int | None = 1, analyse_many: AnalyseMany | None = None) -> pd.DataFrame:
    """What is wrong and what to change: ``pcaptls diagnose --format jsonl``'s findings, typed
    (one per failing server and port, most failing connections first)."""
    from .correlate.findings import find

    g = gather(paths, logs, trust_store, keylog=keylog, clock_offset=clock_offset, log_tz=log_tz, errors=errors,
               jobs=jobs, analyse_many=analyse_many)
    assert g.judge is not None
    return findings_frame([f.to_dict() for f in find(g.connections, g.judge, g.correlation)])
