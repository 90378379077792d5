"""times: iso() writes what datetime writes, to the microsecond, for any time.

They make the date and time of day once per second and round the microseconds themselves (a
retry storm's timeline has 800,000 times); datetime.fromtimestamp is the oracle, half-microsecond
ties (rounded to even) and the carry into the next second included."""

from __future__ import annotations

from datetime import datetime, timezone

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from pcaptls.times import iso, iso_seconds, parse_utc, readable


def _oracle(t: float) -> str:
    return datetime.fromtimestamp(t, timezone.utc).isoformat(timespec="microseconds")


def _same(t: float) -> None:
    try:
        want = _oracle(t)
    except (ValueError, OverflowError, OSError) as e:
        with pytest.raises(type(e)):
            iso(t)
        return
    assert iso(t) == want.replace("+00:00", "Z")


@settings(max_examples=3000, deadline=None)
@given(st.floats(allow_nan=False, allow_infinity=False, min_value=-1e11, max_value=3e11))
def test_any_time(t: float) -> None:
    _same(t)


@settings(max_examples=3000, deadline=None)
@given(st.integers(0, 2**34), st.integers(0, 1_999_999), st.sampled_from([0.0, 5e-7, -5e-7, 1e-9, -1e-9]))
def test_half_microsecond_ties_and_carries(sec: int, halves: int, nudge: float) -> None:
    _same(sec + halves / 2_000_000 + nudge)


@pytest.mark.parametrize("t", [0.0, 5e-324, 0.5e-6, 1.5e-6, 2.5e-6, 0.9999995, 0.99999949999, 1780000000.0005,
                               1780000000.0000005, 17179869183.9999995, 17179869184.0, -0.5e-6, -1.0,
                               1e20, float("nan"), float("inf")])
def test_edges(t: float) -> None:
    _same(t)


def test_none() -> None:
    assert iso(None) is None


def test_readable_is_the_one_form_for_people() -> None:
    """Tables and sentences: one form, whatever the time is given as (epoch, datetime, iso text)."""
    t = 1764242364.424121  # 2025-11-27 11:19:24.424121 UTC
    dt = datetime.fromtimestamp(t, timezone.utc)
    assert readable(t) == readable(dt) == readable(iso(t)) == "2025-11-27 11:19:24.424Z"
    assert readable(iso_seconds(dt)) == "2025-11-27 11:19:24.000Z" and readable(None) == ""


def test_parse_utc() -> None:
    assert parse_utc("2025-11-27T11:19:24Z") == parse_utc("2025-11-27 12:19:24+01:00") == 1764242364.0
    assert parse_utc("2025-11-27") == 1764201600.0
    with pytest.raises(ValueError):
        parse_utc("yesterday")
