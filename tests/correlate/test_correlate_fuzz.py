"""Hypothesis: logs written from random connection sequences link back to those connections."""

from __future__ import annotations

import os

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from pcaptls.correlate import build_timeline, correlate
from pcaptls.logs import EventKind
from tests.correlate.test_correlate_link import CUCM, T0, Log, conn

# A loaded profile (``--hypothesis-profile=long``) that asks for more examples wins.
N = int(os.environ.get("PCAPTLS_FUZZ_EXAMPLES", max(100, settings.default.max_examples)))
FUZZ = settings(max_examples=N, deadline=None, suppress_health_check=[HealthCheck.too_slow])

sessions = st.lists(
    st.tuples(
        st.floats(0.06, 3.0),  # gap since the previous connection started
        st.sampled_from([8443, 6972, 6970]),
        st.booleans(),  # failed
        st.integers(1, 3),  # connections in the transaction (retries)
    ),
    min_size=1, max_size=25,
)


@FUZZ
@given(sessions, st.floats(-120, 120).map(lambda x: round(x, 3)))
def test_generated_logs_link_back(plan, offset):
    conns, log = [], Log(offset)
    t, cport = T0, 40000
    for gap, port, failed, tries in plan:
        group = []
        for _ in range(tries if failed else 1):
            t += gap if not group else 0.02
            group.append(conn(cport, CUCM, port, t, failed=failed, sni="cucm.steven.lab"))
            cport += 2
        conns.extend(group)
        log.request(group[0], "cucm.steven.lab", conns=group)
    events = log.events()
    corr = correlate(conns, events)
    assert corr.offset.seconds == pytest.approx(offset, abs=0.005)
    # Each WARNING names the connection whose alert it was written at.
    for k, e in enumerate(events):
        if e.kind is EventKind.CERT_VERIFY_FAILED:
            ci = corr.links[k].connection
            assert ci is not None
            assert abs(conns[ci].alerts[0].time - (e.timestamp - offset)) < 0.002
    warned = [corr.links[k].connection for k, e in enumerate(events) if e.kind is EventKind.CERT_VERIFY_FAILED]
    assert len(warned) == len(set(warned)) == sum(1 for c in conns if c.alerts)
    assert corr.linked == len(events)
    df = build_timeline(conns, corr)
    assert df["epoch"].is_monotonic_increasing
