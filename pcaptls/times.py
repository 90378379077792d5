"""UTC times as pcaptls writes them: the one module that turns times into text.

Inside, times are epoch seconds (``float``) or aware UTC ``datetime``. Out, data formats
(jsonl, csv) write ISO-8601 with ``Z``; tables and messages write shorter readable forms.
"""

from __future__ import annotations

from datetime import datetime, timezone
from math import modf


def iso(t: float | None) -> str | None:
    """Epoch seconds -> ``2022-07-11T16:55:26.016000Z`` (microseconds always shown)."""
    if t is None:
        return None
    whole = _whole_second(t)
    if whole is None:
        return datetime.fromtimestamp(t, timezone.utc).isoformat(timespec="microseconds").replace("+00:00", "Z")
    return f"{whole[0]}.{whole[1]:06d}Z"


def iso_offset(t: float) -> str:
    """Epoch seconds -> ``2022-07-11T16:55:26.016000+00:00``: the timeline's form so far."""
    whole = _whole_second(t)
    if whole is None:
        return datetime.fromtimestamp(t, timezone.utc).isoformat(timespec="microseconds")
    return f"{whole[0]}.{whole[1]:06d}+00:00"


# Every connection's line and every timeline row has a time; datetime makes each in about 2 us,
# of which the date and time of day are the same for every time in one second. These are made
# once per second (the text up to the seconds: the same for both forms above), the microseconds
# split off exactly as datetime.fromtimestamp does. Outside [0, 2**34) s, or for NaN, datetime
# makes the whole text (and raises what it raises).
_SECONDS: dict[int, str] = {}
_SECONDS_MAX = 1 << 16


def _whole_second(t: float) -> tuple[str, int] | None:
    """``2022-07-11T16:55:26`` and the microseconds of ``t``, as ``datetime.fromtimestamp(t,
    timezone.utc)`` rounds them (CPython's ``_PyTime_DoubleToDenominator``: the fraction from
    ``modf``, times 10**6, rounded half to even, carried into the seconds); ``None`` out of range."""
    if not 0.0 <= t < 17179869184.0:
        return None
    frac, whole = modf(t)
    us = round(frac * 1e6)  # half to even, as _PyTime_ROUND_HALF_EVEN
    sec = int(whole)
    if us >= 1_000_000:
        us -= 1_000_000
        sec += 1
    text = _SECONDS.get(sec)
    if text is None:
        text = datetime.fromtimestamp(sec, timezone.utc).isoformat(timespec="seconds")[:-6]  # "+00:00" off
        if len(_SECONDS) >= _SECONDS_MAX:
            _SECONDS.clear()
        _SECONDS[sec] = text
    return text, us


def iso_seconds(t: datetime) -> str:
    """A certificate's or trust store's time (whole seconds) -> ``2022-07-11T16:55:26Z``."""
    return t.astimezone(timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")


def readable_seconds(t: datetime) -> str:
    """For sentences: ``2022-07-11 16:55:26Z``."""
    return t.astimezone(timezone.utc).strftime("%Y-%m-%d %H:%M:%SZ")


def table_time(iso_text: str | None) -> str:
    """An :func:`iso` time as a table shows it: ``2022-07-11 16:55:26.016`` (milliseconds)."""
    return (iso_text or "")[:23].replace("T", " ")


def time_of_day(t: float | None) -> str:
    """Epoch seconds -> ``16:55:26.016000`` (for evidence listed under one date)."""
    return (iso(t) or "")[11:26]
