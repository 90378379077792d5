"""Correlation on the lab's real captures and their Expressway-format logs (captures/<scenario>/).

The manifest says which connection every log line is about; every WARNING/ERROR line (and every
other line the lab tied to a connection) must be linked to that connection — with the log clock
as the lab wrote it, pushed further off, and with the offset forced. ``PCAPTLS_LAB_DIR`` points
the tests at a freshly generated lab (``captures/lab.py --out DIR``) instead of the shipped one.
"""

from __future__ import annotations

import dataclasses
import json
import os
from datetime import timedelta
from functools import lru_cache
from pathlib import Path

import pytest

from pcaptls.correlate import build_timeline, correlate
from pcaptls.logs import EventKind, read_logs

LAB = Path(os.environ.get("PCAPTLS_LAB_DIR", Path(__file__).resolve().parents[2] / "captures"))
SCENARIOS = sorted(p.parent.name for p in LAB.glob("*/manifest.json"))
pytestmark = pytest.mark.skipif(not SCENARIOS, reason=f"no lab captures in {LAB}")


@lru_cache(maxsize=None)
def load(name: str):
    from pcaptls.pipeline.analysis import analyse

    d = LAB / name
    manifest = json.loads((d / "manifest.json").read_text())
    conns = analyse(d / manifest["files"]["capture"]).connections
    by_tuple = {(c.client.ip, c.client.port, c.server.ip, c.server.port): i for i, c in enumerate(conns)}
    ids = {
        c["id"]: by_tuple.get((c["client"]["ip"], c["client"]["port"], c["server"]["ip"], c["server"]["port"]))
        for c in manifest["connections"]
    }
    events, summary = read_logs(d / manifest["files"]["log"])
    expected = {x["line"]: x for x in manifest["log_lines"]}
    return manifest, conns, ids, tuple(events), summary, expected


def _check(name: str, events, corr, *, failures_only: bool = False) -> tuple[int, int]:
    manifest, conns, ids, _, _, expected = load(name)
    right = total = 0
    for link in corr.links:
        x = expected[link.event.line_no]
        if failures_only and link.event.level not in ("WARNING", "ERROR"):
            continue
        want = ids[x["connection"]] if x["connection"] else None
        total += 1
        right += link.connection == want
        if link.event.level in ("WARNING", "ERROR"):
            assert want is not None, x
            assert link.connection == want, (name, x, link.reason, link.event.message)
    return right, total


@pytest.mark.parametrize("name", SCENARIOS)
def test_every_lab_connection_is_in_the_capture_and_the_log_reads_clean(name):
    manifest, conns, ids, events, summary, expected = load(name)
    assert None not in ids.values()
    assert summary.skipped == 0 and summary.problems == ()
    assert {e.line_no for e in events} <= set(expected)
    # The lab's WARNING/ERROR lines are all read as the failures they are.
    for e in events:
        if e.level in ("WARNING", "ERROR"):
            assert e.kind.is_failure, e.message


@pytest.mark.parametrize("name", SCENARIOS)
def test_lab_log_links_as_the_manifest_says(name):
    manifest, conns, ids, events, _, _ = load(name)
    corr = correlate(conns, list(events))
    if corr.offset.method == "estimated":
        assert corr.offset.seconds == pytest.approx(manifest["log_clock_offset_seconds"], abs=0.02)
    right, total = _check(name, events, corr)
    assert right == total


@pytest.mark.parametrize("shift", [0.3, 3.0, -8.25, 45.0])
@pytest.mark.parametrize("name", SCENARIOS)
def test_lab_log_with_the_clock_further_off(name, shift):
    manifest, conns, ids, events, _, _ = load(name)
    moved = [dataclasses.replace(e, time=e.time + timedelta(seconds=shift)) for e in events]
    corr = correlate(conns, moved)
    want = manifest["log_clock_offset_seconds"] + shift
    if any(e.kind.is_failure or e.kind is EventKind.REQUEST for e in events):
        assert corr.offset.method == "estimated"
        assert corr.offset.seconds == pytest.approx(want, abs=0.02)
    else:
        # Nothing to estimate from: the offset must be given.
        corr = correlate(conns, moved, clock_offset=want)
    right, total = _check(name, moved, corr)
    assert right == total


@pytest.mark.parametrize("name", SCENARIOS)
def test_forced_offset_links_the_same(name):
    manifest, conns, ids, events, _, _ = load(name)
    corr = correlate(conns, list(events), clock_offset=manifest["log_clock_offset_seconds"])
    assert corr.offset.method == "forced"
    right, total = _check(name, events, corr)
    assert right == total


def test_repeated_server_port_in_the_mra_login():
    if "mra-login" not in SCENARIOS:
        pytest.skip("no mra-login scenario")
    manifest, conns, ids, events, _, _ = load("mra-login")
    failed = [c for c in manifest["connections"] if c["outcome"] != "ok"]
    per_addr: dict[tuple[str, int], int] = {}
    for c in failed:
        key = (c["server"]["ip"], c["server"]["port"])
        per_addr[key] = per_addr.get(key, 0) + 1
    assert max(per_addr.values()) >= 2  # the scenario exercises it
    corr = correlate(conns, list(events))
    warned = [k.connection for k in corr.links if k.event.kind.is_failure and k.event.level == "WARNING"]
    assert len(warned) == len(set(warned)) == len(failed)


@pytest.mark.parametrize("name", SCENARIOS)
def test_lab_timeline(name):
    manifest, conns, ids, events, _, _ = load(name)
    corr = correlate(conns, list(events))
    df = build_timeline(conns, corr)
    assert df["epoch"].is_monotonic_increasing
    assert set(df["source"]) <= {"capture", manifest["files"]["log"]}
    warn = df[df.level.isin(["WARNING", "ERROR"])]
    assert (warn["connection"] != "").all()
    for cid, row in zip(warn["connection"], warn.itertuples()):
        # A failure record sits within a few ms of its connection's fatal alert on the capture clock.
        alerts = df[(df.source == "capture") & (df.connection == cid) & (df.event == "alert")]
        if len(alerts):
            assert abs(alerts["epoch"].min() - row.epoch) < 0.05


@pytest.mark.parametrize("name", [n for n in SCENARIOS if "midstream" in load(n)[0]])
def test_capture_that_starts_mid_connection(name):
    from pcaptls.pipeline.analysis import analyse

    manifest, _, _, events, _, expected = load(name)
    conns = analyse(LAB / name / manifest["midstream"]["file"]).connections
    by_tuple = {(c.client.ip, c.client.port, c.server.ip, c.server.port): i for i, c in enumerate(conns)}
    ids = {c["id"]: by_tuple[(c["client"]["ip"], c["client"]["port"], c["server"]["ip"], c["server"]["port"])]
           for c in manifest["connections"]}
    corr = correlate(conns, list(events))
    for link in corr.links:
        x = expected[link.event.line_no]
        assert link.connection == (ids[x["connection"]] if x["connection"] else None), (x, link.reason)


@pytest.mark.parametrize("name", SCENARIOS)
@pytest.mark.parametrize("only_linked", [False, True])
def test_lab_timeline_rows_in_the_order_pandas_sorts_them(name, only_linked):
    """The CLI's streamed rows are the build-order rows (each connection's, then the log's)
    sorted as pandas sorts them: stable by (time, capture before log). pandas is the oracle
    for the order; the rows' content is checked by the tests above and the CLI's."""
    import pandas as pd

    from pcaptls.correlate.timeline import (
        _base,
        _capture_row,
        _capture_times,
        _log_row,
        timeline_rows,
    )

    manifest, conns, ids, events, _, _ = load(name)
    corr = correlate(conns, list(events))
    built = [(t, 0, _capture_row(c, j, _base(c))) for c in conns for j, t in enumerate(_capture_times(c))]
    built += [(k.time, 1, _log_row(k, conns)) for k in corr.links if not (only_linked and k.connection is None)]
    df = pd.DataFrame({"epoch": [b[0] for b in built], "_cap": [b[1] for b in built]})
    expected = [built[i][2] for i in df.sort_values(["epoch", "_cap"], kind="stable").index]
    got = list(timeline_rows(conns, corr, only_linked=only_linked))
    assert got == expected
