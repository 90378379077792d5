"""What one capture held (:class:`Analysis`), and how shares of a split capture become one."""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from operator import attrgetter, itemgetter
from typing import TYPE_CHECKING, Any

from .spill import Merged

if TYPE_CHECKING:  # annotations only: the model loads while the Rust engine scans (pcaptls._core)
    from ..capture.frames import ReadStats
    from ..tls.model import TlsConnection

Row = tuple[float, int, Any]  # (connection start, its first frame, what ``make_row`` made of it)


@dataclass(slots=True)
class Analysis:
    """What one capture held: TLS connections in time order, and what could not be read."""

    path: str
    connections: list[TlsConnection]
    stats: ReadStats
    counts: dict[str, int]  # frames by why they carried no TCP (not_ip, fragment, malformed, ...)
    tcp_segments: int = 0
    tcp_connections: int = 0
    evicted: int = 0
    anomalies: dict[str, int] = field(default_factory=dict)  # by kind, over all TLS connections
    # With analyse(make_row=f): one Row per connection in time order, made in the process that
    # followed the connection as it finished; ``connections`` is then empty. They may wait in
    # sorted runs on disk (see pcaptls.pipeline.spill); each iteration reads them again.
    rows: Iterable[Row] | None = None

    @property
    def truncated(self) -> str | None:
        return self.stats.truncated


# The order of Analysis.connections: start time, then first frame (in C: a sort key per connection).
connection_order: Callable[[TlsConnection], tuple[float, int]] = attrgetter("start", "first_frame")


# The order of Analysis.rows: the same as the connections they were made from.
row_order: Callable[[Row], tuple[float, int]] = itemgetter(0, 1)


def merge(shares: list[Analysis]) -> Analysis:
    """One capture's shares (same file, same frames) -> the result of reading it in one go."""
    first = shares[0]
    conns = [c for a in shares for c in a.connections]
    conns.sort(key=connection_order)
    rows = None
    if first.rows is not None:
        rows = Merged([a.rows or () for a in shares], row_order)
    return Analysis(
        rows=rows,
        path=first.path,
        connections=conns,
        stats=first.stats,  # every share read every frame
        counts=first.counts,  # share 0 counted the frames without TCP
        tcp_segments=sum(a.tcp_segments for a in shares),
        tcp_connections=sum(a.tcp_connections for a in shares),
        evicted=sum(a.evicted for a in shares),
        anomalies=_sum_counts(a.anomalies for a in shares),
    )


def _sum_counts(dicts: Iterable[dict[str, int]]) -> dict[str, int]:
    out: dict[str, int] = {}
    for d in dicts:
        for k, v in d.items():
            out[k] = out.get(k, 0) + v
    return dict(sorted(out.items()))
