"""pcaptls.correlate.timeline: capture and log events as one sorted DataFrame."""

from __future__ import annotations

import re

from pcaptls.correlate import build_timeline
from tests.correlate.test_correlate_link import CUCM, scenario

ISO_US = re.compile(r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{6}Z$")


def test_columns_order_and_time_format():
    conns, events, corr = scenario()
    df = build_timeline(conns, corr)
    for col in ("time", "source", "event", "connection", "server", "sni", "detail"):
        assert col in df.columns
    assert df["epoch"].is_monotonic_increasing
    assert all(ISO_US.match(t) for t in df["time"])
    assert set(df["source"]) == {"capture", "expressway.log"}
    n_capture = sum(1 + len(c.handshake) + len(c.alerts) + 1 for c in conns)
    assert len(df) == n_capture + len(events)


def test_log_rows_are_on_the_capture_clock_next_to_their_frames():
    conns, events, corr = scenario(offset=4.75)
    df = build_timeline(conns, corr)
    alert = df[(df.source == "capture") & (df.event == "alert")].iloc[0]
    assert alert["detail"] == "Alert (Level: Fatal, Description: Unknown CA) from client"
    assert alert["connection"] == conns[1].id == "10.48.36.10:35624-10.48.36.215:6972"
    warn = df[df.event == "cert_verify_failed"].iloc[0]
    assert warn["connection"] == conns[1].id and warn["server"] == f"{CUCM}:6972"
    assert abs(warn["epoch"] - alert["epoch"]) < 0.002  # 4.75 s taken off the log's clock
    assert warn["log_time"].startswith("2022-07-11T18:55:3")  # as written: local, 4.75 s ahead
    assert warn["detail"].startswith("Core server certificate verification failed for (cucm.steven.lab)")
    assert warn["line"] > 0 and warn["level"] == "WARNING"


def test_close_rows_and_unlinked_log_rows():
    conns, events, corr = scenario()
    df = build_timeline(conns, corr)
    assert list(df[df.source == "capture"].groupby("connection")["event"].last()) == ["FIN", "RST"]
    only = build_timeline(conns, corr, only_linked=True)
    assert len(only) == len(df)  # everything in this log is linked
    empty = build_timeline([], None)
    assert list(empty.columns)[:7] == ["time", "source", "event", "connection", "server", "sni", "detail"]
    assert empty.empty


def test_error_column():
    conns, events, corr = scenario()
    df = build_timeline(conns, corr)
    assert set(df[df.event == "alert"]["error"]) == {"unknown_ca"}
    assert set(df[df.event == "cert_verify_failed"]["error"]) == {"DEPTH_ZERO_SELF_SIGNED_CERT"}
    assert set(df[df.event == "ssl_connection_failed"]["error"]) == {"certificate verify failed"}
    assert set(df[df.event == "ClientHello"]["error"]) == {""}



def test_ties_capture_rows_first_then_build_order():
    """A log record at the very moment of a capture event comes after it, in the stream and the frame."""
    import dataclasses

    from pcaptls.correlate.timeline import timeline_rows
    from pcaptls.times import iso

    conns, events, corr = scenario()
    first = corr.links[0]
    moment = conns[1].start
    tied = dataclasses.replace(corr, links=(dataclasses.replace(first, time=moment), *corr.links[1:]))
    rows = list(timeline_rows(conns, tied))
    at = [(r["source"], r["event"]) for r in rows if r["time"] == iso(moment)]
    assert at[0] == ("capture", "connection start") and ("expressway.log", first.event.kind.value) in at[1:]
    assert all(source == "expressway.log" for source, _ in at[1:]), at
    assert [r["event"] for r in rows] == list(build_timeline(conns, tied)["event"])
