"""UTC times as pcaptls writes them: the one module that turns times into text.

Inside, times are epoch seconds (``float``) or aware UTC ``datetime``. Out, data formats
(jsonl, csv) write ISO-8601 with ``Z``; tables and messages write shorter readable forms.
"""

from __future__ import annotations

from datetime import datetime, timezone


def iso(t: float | None) -> str | None:
    """Epoch seconds -> ``2022-07-11T16:55:26.016000Z`` (microseconds always shown)."""
    if t is None:
        return None
    return datetime.fromtimestamp(t, timezone.utc).isoformat(timespec="microseconds").replace("+00:00", "Z")


def iso_offset(t: float) -> str:
    """Epoch seconds -> ``2022-07-11T16:55:26.016000+00:00``: the timeline's form so far."""
    return datetime.fromtimestamp(t, timezone.utc).isoformat(timespec="microseconds")


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


def parse_utc(text: str) -> float:
    """``2022-07-11T16:55:26Z`` (or with an offset, or a date alone; no zone means UTC) -> epoch
    seconds. Raises ``ValueError`` for anything else."""
    t = datetime.fromisoformat(text.strip().replace(" ", "T", 1))
    return (t if t.tzinfo is not None else t.replace(tzinfo=timezone.utc)).timestamp()
