"""pcaptls on a Dask cluster: many captures, one DataFrame, the same answers as one machine.

Needs the optional extra (``pip install 'pcaptls[dask]'``); the rest of pcaptls does not import
this module. Work runs on whatever :class:`distributed.Client` is active (or Dask's local
scheduler when there is none)::

    from distributed import Client
    import pcaptls.dask

    client = Client("tcp://scheduler:8786")
    conns = pcaptls.dask.connections("s3://bucket/bundles/*.pcap", trust_store="ca.pem")
    conns[conns.status == "failed"].groupby("server_ip").size().compute()
    pcaptls.dask.findings(["a.pcap", "b.pcap"], logs="expressway.log", trust_store="ca.pem")

- :func:`connections` returns a lazy dask DataFrame with one partition per capture file (the
  files of a list, a folder, a glob, an Expressway diagnostic bundle's captures, or fsspec URLs
  such as ``s3://`` when the matching fsspec backend is installed; workers read them, so paths
  must be visible to them). Its meta is declared (:func:`pcaptls.api.connections_frame` of
  nothing): building the graph reads no capture. Each partition is
  :func:`pcaptls.connections` of its capture: the same rows and types; in the partitions'
  order rather than merged in time (sort on ``start`` and ``first_frame`` for that).
- The trust store is read here, once, and is one key of the graph that every partition depends
  on: each worker receives it once. Verdicts are cached per worker and trust store (a
  :class:`~pcaptls.certificates.verdicts.Judge` lives on for the worker's later partitions).
- :func:`findings` and :func:`timeline` read the captures on the cluster (the files are sent
  from here, as ``--scheduler`` does) and correlate the combined connections here: the same
  frames as :func:`pcaptls.findings` / :func:`pcaptls.timeline`.

Key logs (TLS 1.3 decryption) are not taken yet.
"""

from __future__ import annotations

import contextlib
import glob
import hashlib
import os
import shutil
import tempfile
import threading
import traceback
import warnings
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Iterator

try:
    import dask
    import dask.dataframe as dd
    from dask.base import tokenize
except ImportError as e:  # pragma: no cover - exercised without the extra
    raise ImportError(f"pcaptls.dask needs the optional extra: pip install 'pcaptls[dask]' ({e})") from e

from . import api
from .errors import InputError, MalformedError, PcaptlsError
from .pipeline import cluster
from .pipeline.analysis import analyse

if TYPE_CHECKING:
    import pandas as pd
    from distributed import Client

    from .certificates.truststore import TrustStore
    from .tls.keylog import KeyLog

__all__ = ["connections", "findings", "timeline"]


@dataclass(frozen=True, slots=True)
class Source:
    """One capture to read on a worker: a path or URL, or a member of a bundle tarball there."""

    url: str
    name: str  # as reported in the ``capture`` column
    member: str | None = None
    storage_options: tuple[tuple[str, Any], ...] = ()


def _is_url(p: str) -> bool:
    return "://" in p


def _local_path(url: str) -> str | None:
    """The path of a local file (a plain path, or a ``file://`` URL), else ``None``."""
    if not _is_url(url):
        return url
    return url.removeprefix("file://") if url.startswith("file://") else None


@contextlib.contextmanager
def _open(url: str, storage_options: dict[str, Any]) -> Iterator[Any]:
    local = _local_path(url)
    if local is None:
        import fsspec

        with fsspec.open(url, "rb", **storage_options) as fh:
            yield fh
    else:
        with open(local, "rb") as fh:
            yield fh


def _tar_members(url: str, storage_options: dict[str, Any]) -> list[str]:
    """The capture members of a bundle tarball (names only: their data is skipped)."""
    from .inputs.archive import TarStream
    from .inputs.bundle import _CAPTURE

    try:
        with _open(url, storage_options) as fh, TarStream(fh) as tar:
            return [info.name for info, _data in tar.files(lambda n: bool(_CAPTURE.search(os.path.basename(n))))]
    except (OSError, EOFError, ValueError, MalformedError) as e:
        raise InputError(f"{url}: not a readable diagnostic bundle: {e}") from e


def sources(paths_or_glob: api.Paths, storage_options: dict[str, Any] | None = None) -> tuple[list[Source], str | None]:
    """One :class:`Source` per capture, and the trust store a bundle brought (its path)."""
    from .inputs.bundle import is_bundle, open_bundle

    so = dict(storage_options or {})
    frozen = tuple(sorted(so.items()))
    items = [paths_or_glob] if isinstance(paths_or_glob, (str, os.PathLike)) else list(paths_or_glob)
    out: list[Source] = []
    bundled: str | None = None
    for item in items:
        p = os.fspath(item)
        if _is_url(p):
            import fsspec

            fs, _token, found = fsspec.core.get_fs_token_paths(p, storage_options=so)
            expanded = [fs.unstrip_protocol(f) for f in sorted(found)]
        else:
            expanded = sorted(glob.glob(p)) if api._GLOB & set(p) else [p]
        if not expanded:
            raise InputError(f"{p}: no file matches")
        for x in expanded:
            if x.endswith((".tar.gz", ".tgz", ".tar")):
                out += [Source(x, f"{os.path.basename(m)} (in {x})", m, frozen) for m in _tar_members(x, so)]
                bundled = bundled or _local_path(x)
            elif _local_path(x) is not None and is_bundle(_local_path(x) or x):  # a folder: its captures, its ca_*.pem
                b = open_bundle(_local_path(x) or x)
                out += [Source(c, c) for c in b.captures]
                bundled = bundled or b.trust_store
            else:
                out.append(Source(x, x, None, frozen))
    return out, bundled


@contextlib.contextmanager
def _local_copy(src: Source) -> Iterator[str]:
    """A path on this worker holding ``src``'s capture (itself, when it is a local file)."""
    local = _local_path(src.url)
    if src.member is None and local is not None:
        yield local
        return
    where = tempfile.mkdtemp(prefix="pcaptls-worker-")
    try:
        tmp = os.path.join(where, os.path.basename(src.member or src.url) or "capture")
        so = dict(src.storage_options)
        with open(tmp, "wb") as out:
            if src.member is None:
                with _open(src.url, so) as fh:
                    shutil.copyfileobj(fh, out, 1 << 20)
            else:
                from .inputs.archive import TarStream

                with _open(src.url, so) as fh, TarStream(fh) as tar:
                    for _info, data in tar.files(lambda n: n == src.member):
                        shutil.copyfileobj(data, out, 1 << 20)
                        break
        yield tmp
    finally:
        shutil.rmtree(where, ignore_errors=True)


def fingerprint(store: TrustStore) -> str:
    """What identifies a trust store's verdicts: its certificates."""
    h = hashlib.sha256()
    for der in store.certs:
        h.update(len(der).to_bytes(4, "big") + der)
    return h.hexdigest()[:32]


# Per worker process: the verdicts of each trust store seen, kept for the worker's later partitions.
_VERDICTS: dict[str, api.Verdicts] = {}
_VERDICTS_LOCK = threading.Lock()
MAX_STORES = 8


def verdicts_for(store: TrustStore, key: str) -> api.Verdicts:
    """This worker's :class:`~pcaptls.api.Verdicts` for ``store`` (made on first use)."""
    with _VERDICTS_LOCK:
        v = _VERDICTS.get(key)
        if v is None:
            if len(_VERDICTS) >= MAX_STORES:
                _VERDICTS.pop(next(iter(_VERDICTS)))
            v = _VERDICTS[key] = api.Verdicts(store)
        return v


def connections_partition(src: Source, store: TrustStore, store_key: str, errors: str = "raise",
                          engine: str | None = None, keys: KeyLog | None = None) -> pd.DataFrame:
    """One capture's rows, as :func:`pcaptls.connections` makes them (runs on a worker)."""
    with _local_copy(src) as path:
        try:
            a = analyse(path, engine=engine, keys=keys)
        except PcaptlsError as e:
            err = cluster._renamed_error(e, path, src.name, traceback.format_exc()) if path != src.name else e
            if errors == "raise":
                raise err from None
            warnings.warn(str(err), api.PcaptlsWarning, stacklevel=2)
            return api.connections_frame([])
    a.path = src.name
    api._checked([a], [src.name], "warn")  # a cut, unread link types: warned, as locally
    return api.connections_frame(api.connection_records(a.connections, verdicts_for(store, store_key), src.name))


def connections(paths_or_glob: api.Paths, trust_store: api.PathArg | None = None, *, keylog: api.Paths | None = None,
                errors: str = "raise", storage_options: dict[str, Any] | None = None,
                engine: str | None = None) -> dd.DataFrame:
    """One row per TLS connection, one partition per capture file (lazy; see the module's notes).

    ``trust_store``: a path readable here (default: a bundle's ``ca_*.pem``, else certifi's).
    ``keylog``: key log file(s) readable here, shipped to the workers once.
    ``errors="warn"``: an unreadable capture gives an empty partition and a warning on the
    worker instead of failing the computation. ``storage_options``: for fsspec URLs."""
    from .certificates import truststore

    if errors not in ("raise", "warn"):
        raise ValueError(f"errors={errors!r}: 'raise' or 'warn'")
    srcs, bundled = sources(paths_or_glob, storage_options)
    store = truststore.load(os.fspath(trust_store) if trust_store is not None else bundled)
    key = fingerprint(store)
    # One key for the store: every partition depends on it, each worker fetches it once.
    store_node = dask.delayed(store, name=f"pcaptls-truststore-{key}", traverse=False)
    keys = api.load_keys(keylog)  # read here; one graph key, fetched once by each worker, as the store
    keys_node = None if keys is None else dask.delayed(keys, name=f"pcaptls-keylog-{tokenize(keylog)}", traverse=False)
    parts = [dask.delayed(connections_partition, pure=True)(
        s, store_node, key, errors, engine, keys_node,
        dask_key_name=f"pcaptls-capture-{tokenize(s, key, errors, engine, keylog)}")
        for s in srcs]
    meta = api.connections_frame([])
    # Dask would turn object columns into strings: lists (certificates, alerts) must stay lists.
    with dask.config.set({"dataframe.convert-string": False}):
        return dd.from_delayed(parts, meta=meta, divisions=None)


def _client(client: Client | None) -> Client:
    if client is not None:
        return client
    from distributed import get_client

    try:
        return get_client()
    except ValueError as e:
        raise cluster.ClusterError("no active Dask client: start one (distributed.Client(...)) or pass client=") from e


def _on(client: Client) -> api.AnalyseMany:
    return lambda paths, make_row: cluster.analyse_many(client, paths, make_row)


def findings(paths: api.Paths, logs: api.Paths | None = None, trust_store: api.PathArg | None = None, *,
             client: Client | None = None, **options: Any) -> pd.DataFrame:
    """:func:`pcaptls.findings`, the captures read on the cluster (``client``, else the active
    one): findings from the combined connections, the same frame as a local run."""
    return api.findings(paths, logs, trust_store, analyse_many=_on(_client(client)), **options)


def timeline(paths: api.Paths, logs: api.Paths | None = None, *, client: Client | None = None,
             **options: Any) -> pd.DataFrame:
    """:func:`pcaptls.timeline`, the captures read on the cluster (``client``, else the active one)."""
    return api.timeline(paths, logs, analyse_many=_on(_client(client)), **options)
