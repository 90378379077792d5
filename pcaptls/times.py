"""UTC times as pcaptls writes them: the one module that turns times into text.

Inside, times are epoch seconds (``float``) or aware UTC ``datetime``. Out there are two forms,
one per kind of output:

- data (jsonl, csv): ISO-8601 with ``Z``. An event's time (a packet, a log line) with
  microseconds, :func:`iso` (``2022-07-11T16:55:26.016000Z``); a certificate's validity or a
  trust store's "judged at" in whole seconds, as X.509 stores them, :func:`iso_seconds`
  (``2022-07-11T16:55:26Z``).
- people (tables, the lines around them, sentences): :func:`readable`,
  ``2022-07-11 16:55:26.016Z``: the same date and clock, milliseconds, ``Z`` for UTC, whatever the
  time is of.
"""

from __future__ import annotations

from datetime import datetime, timezone
from math import modf


def iso(t: float | None) -> str | None:
    """Epoch seconds -> ``2022-07-11T16:55:26.016000Z`` (microseconds always shown)."""
    if t is None:
        return None
    # Every connection's line and every timeline row has a time; datetime makes each in about
    # 2 us, of which the date and time of day are the same for every time in one second. These
    # are made once per second (the text up to the seconds, _SECONDS), the microseconds split
    # off exactly as datetime.fromtimestamp(t, timezone.utc) does (CPython's
    # _PyTime_DoubleToDenominator: the fraction from modf, times 10**6, rounded half to even,
    # carried into the seconds). Outside [0, 2**34) s, or for NaN, datetime makes the whole
    # text (and raises what it raises). Inline rather than in a helper: a call is a sixth of it.
    if not 0.0 <= t < 17179869184.0:
        return datetime.fromtimestamp(t, timezone.utc).isoformat(timespec="microseconds").replace("+00:00", "Z")
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
    return f"{text}.{us:06d}Z"


_SECONDS: dict[int, str] = {}
_SECONDS_MAX = 1 << 16


def iso_seconds(t: datetime) -> str:
    """A certificate's or trust store's time (whole seconds) -> ``2022-07-11T16:55:26Z``."""
    return t.astimezone(timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")


def parse_utc(text: str) -> float:
    """``2022-07-11T16:55:26Z`` (or with an offset, or a date alone; no zone means UTC) -> epoch
    seconds. Raises ``ValueError`` for anything else."""
    t = datetime.fromisoformat(text.strip().replace(" ", "T", 1))
    return (t if t.tzinfo is not None else t.replace(tzinfo=timezone.utc)).timestamp()


def readable(t: float | datetime | str | None) -> str:
    """Any time (epoch seconds, an aware ``datetime``, or :func:`iso`/:func:`iso_seconds` text)
    as tables and sentences show it: ``2022-07-11 16:55:26.016Z``; ``""`` for ``None``."""
    if t is None or t == "":
        return ""
    if isinstance(t, str):
        t = datetime.fromisoformat(t.replace("Z", "+00:00"))
    if not isinstance(t, datetime):
        t = datetime.fromtimestamp(t, timezone.utc)
    t = t.astimezone(timezone.utc)
    return t.strftime("%Y-%m-%d %H:%M:%S.") + f"{t.microsecond // 1000:03d}Z"
