"""Hypothesis: the log parser and reader never raise on content, and never lose count of a line.

``PCAPTLS_FUZZ_EXAMPLES`` raises the number of examples for a long run outside the suite.
"""

from __future__ import annotations

import io
import os
from pathlib import Path

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from pcaptls.logs import LineParser, parse_lines
from pcaptls.logs.reader import iter_lines

# A loaded profile (``--hypothesis-profile=long``) that asks for more examples wins.
N = int(os.environ.get("PCAPTLS_FUZZ_EXAMPLES", max(300, settings.default.max_examples)))
FUZZ = settings(max_examples=N, deadline=None, suppress_health_check=[HealthCheck.too_slow])
REAL = (Path(__file__).parent / "data" / "expressway_x14.log").read_text().splitlines()

# Pieces of real records, recombined: reaches the deep branches far more often than random text.
PIECES = [
    "2022-07-11T18:55:26.016+02:00 ", "vcsc ", "traffic_server[18242]: ", "XCP_JABBERD[1]: ", "tvcs: ",
    'UTCTime="2022-07-11 16:55:26,016" ', 'UTCTime="', 'Level="INFO ": ', 'Detail="Sending Request" ',
    'Detail="Receive Response" ', 'Detail="Sending Response" ', 'Txn-id="191" ', 'TrackingID="a" ',
    'Dst-ip="10.48.36.215" ', 'Dst-port="6972" ', 'Src-ip="::1" ', 'Msg="HTTP/1.1 502 connect failed"',
    'Msg="GET /c3RldmVuLmxhYi9odHRwcy8xMC40OC4zNi4yMTUvODQ0Mw/x HTTP/1.1"', "[ET_NET 0] WARNING: ",
    "[ET_NET 0] ERROR: ", "Core server certificate verification failed for (", "SNI (", ") not in certificate",
    "SSL connection failed for '", "': error:14094418:SSL routines:ssl3_read_bytes:tlsv1 alert unknown ca",
    "Error=self-signed certificate ", "server=", "cucm.lab(10.0.0.1) ", "(", ")", "'", '"', "=", "depth=",
    "9" * 30, "HTTPMSG:", "|", "\x00", "\ufffd", "\x1b[2J", "\x9b", "\t", " ", "Time=\"2022/07/11-17:50:13\"",
    'Event="x" ', 'Request="https://[::1:8443/', "Hostname verification failed for (", "+99:99", "Z",
    "Jul 11 18:55:26 ", "<134>", "Feb 30 25:61:61 ", 'Event="Outbound TLS Negotiation Error" ',
    'Address="10.0.0.1:5222" ', 'Detail="STARTTLS failed" ', 'Reason="tlsv1 alert unknown ca" ',
]
records = st.lists(st.sampled_from(PIECES), max_size=30).map("".join)
lines = st.one_of(records, st.text(max_size=300), st.sampled_from(REAL))


def _check_invariants(events, summary):
    assert summary.events == len(events)
    in_events = sum(e.text.count("\n") + 1 for e in events)
    assert summary.lines == in_events + summary.skipped
    for e in events:
        assert e.time.utcoffset() is not None and e.time.utcoffset().total_seconds() == 0
        assert "\x00" not in e.text and "\x1b" not in e.text and "\x9b" not in e.text
        assert e.server_port is None or 0 < e.server_port < 65536


@FUZZ
@given(st.lists(lines, max_size=40), st.sampled_from([None, "+05:30", "Europe/Berlin"]))
def test_parser_never_raises_and_counts_every_line(batch, tz):
    events, summary = parse_lines(batch, "f.log", log_tz=tz, max_line=512, max_block=2048)
    assert summary.lines == len(batch)
    _check_invariants(events, summary)


@FUZZ
@given(st.lists(st.sampled_from(REAL), min_size=1, max_size=20), st.data())
def test_mutated_real_records(batch, data):
    mutated = []
    for line in batch:
        i = data.draw(st.integers(0, len(line)))
        j = data.draw(st.integers(i, min(len(line), i + 40)))
        mutated.append(line[:i] + data.draw(st.text(max_size=8)) + line[j:])
    events, summary = parse_lines(mutated)
    _check_invariants(events, summary)


@FUZZ
@given(st.binary(max_size=4000), st.integers(1, 200))
def test_reader_lines_from_any_bytes(raw, cap):
    p = LineParser("b.log", max_line=cap)
    events = []
    n = 0
    for text, cut in iter_lines(io.BytesIO(raw), cap):
        n += 1
        assert len(text) <= cap
        events.extend(p.feed(text, n, cut=cut))
    events.extend(p.close())
    _check_invariants(events, p.summary)
    assert p.summary.lines == n
