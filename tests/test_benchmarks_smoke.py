"""benchmarks/gen_capture.py makes captures pcaptls reads exactly as written (and tshark agrees).

A few megabytes only: timings belong to ``benchmarks/run.py``, not to the test suite.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from benchmarks import gen_capture  # noqa: E402
from pcaptls.pipeline.analysis import analyse
from pcaptls.report.records import connection_record
from tests.helpers.crosscheck import compare_file


@pytest.fixture(scope="module")
def capture(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, gen_capture.Summary]:
    pool = gen_capture.session_pool(("rsa2048", "ecdsa"))
    path = tmp_path_factory.mktemp("bench") / "bench.pcap"
    return path, gen_capture.generate(4, path, seed=3, pool=pool)


def test_generated_capture_is_read_back(capture: tuple[Path, gen_capture.Summary]) -> None:
    path, made = capture
    assert path.stat().st_size == made.bytes
    a = analyse(path)
    assert a.truncated is None
    assert a.stats.frames == made.frames
    assert len(a.connections) == made.tls
    statuses = [connection_record(c)["status"] for c in a.connections]
    assert statuses.count("failed") == made.tls_failed
    assert statuses.count("ok") == made.tls - made.tls_failed
    # Bulk data is skipped, not lost: every connection ends cleanly, with no gaps or resyncs.
    kinds = {x.kind for c in a.connections for x in c.anomalies}
    assert not kinds & {"gap", "resync", "desync", "lost_handshake"}


def test_generated_capture_agrees_with_tshark(capture: tuple[Path, gen_capture.Summary], tshark: str) -> None:
    path, made = capture
    outcomes = compare_file(str(path))
    assert len(outcomes) == made.tls
    assert [o for o in outcomes if o.diffs] == []


def test_handshake_heavy_capture_is_read_back(tmp_path: Path) -> None:
    """``--kind handshakes``: every connection a full handshake, the failing ones ended by the
    client's fatal alert (as generated, by description), retry series, close_notify, no gaps."""
    pool = gen_capture.handshake_pool(("rsa2048", "ecdsa"))
    path = tmp_path / "handshakes.pcap"
    made = gen_capture.generate_handshakes(3, path, seed=5, pool=pool)
    assert path.stat().st_size == made.bytes
    assert made.retry_series and made.tls13 and made.close_notify and 0.2 < made.tls_failed / made.tls < 0.5
    a = analyse(path)
    assert a.truncated is None
    assert a.stats.frames == made.frames
    records = [connection_record(c) for c in a.connections]
    assert len(records) == made.tls
    failed = [r for r in records if r["status"] == "failed"]
    assert len(failed) == made.tls_failed
    assert sum(r["version"] == "TLS 1.3" for r in records) == made.tls13
    alerts: dict[str, int] = {}
    for r in failed:
        (alert,) = r["alerts"]
        assert alert["sender"] == "client" and alert["level"] == 2
        alerts[alert["description"]] = alerts.get(alert["description"], 0) + 1
    assert alerts == made.alerts
    kinds = {x.kind for c in a.connections for x in c.anomalies}
    assert not kinds & {"gap", "resync", "desync", "lost_handshake"}
