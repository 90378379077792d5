"""Timestamps as logs write them -> aware UTC datetimes.

Logs are where local time enters pcaptls, so this is where it is converted: every stamp with an
offset is taken at its word; stamps without one are read in the ``log_tz`` the user gives (UTC by
default). Nothing here raises on bad input: a stamp that is not a real time gives ``None`` and the
parser counts the line.
"""

from __future__ import annotations

import re
from datetime import datetime, timedelta, timezone, tzinfo
from functools import lru_cache

from ..errors import InputError

UTC = timezone.utc

# ISO-8601-like: 2022-07-11T18:55:26.016+02:00, 2022-07-11 16:55:26,016, 2022/07/11 18:55:26Z,
# 20220711T185526Z is not accepted (not seen in the logs pcaptls targets).
_ISO = (
    r"(?P<Y>\d{4})[-/](?P<M>\d\d)[-/](?P<D>\d\d)[T ](?P<h>\d\d):(?P<m>\d\d):(?P<s>\d\d)"
    r"(?:[.,](?P<f>\d{1,9}))?(?P<z>\s?(?:Z|UTC|[+-]\d\d(?::?\d\d)?)(?![\d:]))?"
)
ISO_AT_START = re.compile(_ISO, re.A)
# Anywhere near the start of a generic line (after a "[", a level word, a pid...).
ISO_SEARCH = re.compile(r"(?<!\d)" + _ISO, re.A)
# Expressway event-log Time="2022/07/11-16:55:25"
EVENTLOG_TIME = re.compile(
    r"(?P<Y>\d{4})/(?P<M>\d\d)/(?P<D>\d\d)-(?P<h>\d\d):(?P<m>\d\d):(?P<s>\d\d)"
    r"(?:[.,](?P<f>\d{1,9}))?(?P<z>(?!))?$",  # z: never matches, so every pattern has the group
    re.A,
)


@lru_cache(maxsize=256)
def _offset(z: str) -> tzinfo | None:
    z = z.strip()
    if z in ("Z", "UTC"):
        return UTC
    sign = -1 if z[0] == "-" else 1
    digits = z[1:].replace(":", "")
    hours = int(digits[:2])
    minutes = int(digits[2:4]) if len(digits) >= 4 else 0
    if hours > 23 or minutes > 59:
        return None
    return timezone(sign * timedelta(hours=hours, minutes=minutes))


def from_match(m: re.Match[str], default_tz: tzinfo) -> datetime | None:
    """The UTC time a timestamp match denotes, or ``None`` if it is not a real time."""
    y, mo, d, h, mi, sec, f, z = m.group("Y", "M", "D", "h", "m", "s", "f", "z")
    micro = int(f[:6].ljust(6, "0")) if f else 0
    tz = _offset(z) if z else default_tz
    if tz is None:
        return None
    try:
        local = datetime(
            int(y), int(mo), int(d), int(h), int(mi), int(sec), micro, tzinfo=tz,
        )
        return local.astimezone(UTC)
    except (ValueError, OverflowError):
        # Month 13, second 61, year 0001 minus an offset: not a time, the caller counts the line.
        return None


def parse_utctime(value: str) -> datetime | None:
    """Expressway ``UTCTime="2022-07-11 16:55:26,016"`` (always UTC, whatever it says)."""
    if len(value) == 23 and value[19] in ",." and value[20:].isdigit() and value[20:].isascii():
        # The usual shape: the second is shared by many lines, only the milliseconds differ.
        base = _utc_second(value[:19])
        return None if base is None else base.replace(microsecond=int(value[20:]) * 1000)
    m = ISO_AT_START.fullmatch(value.strip())
    return None if m is None else from_match(m, UTC)


@lru_cache(maxsize=1024)
def _utc_second(value: str) -> datetime | None:
    m = ISO_AT_START.fullmatch(value)
    return None if m is None else from_match(m, UTC)


def parse_eventlog_time(value: str, default_tz: tzinfo) -> datetime | None:
    """Expressway event-log ``Time="2022/07/11-16:55:25"`` (no offset: read in ``default_tz``)."""
    m = EVENTLOG_TIME.match(value.strip())
    return None if m is None else from_match(m, default_tz)


def parse_tz(spec: str | tzinfo | None) -> tzinfo:
    """A time zone as the user gives it: ``None``/``UTC``, ``+02:00``, ``-0530``, ``Europe/Berlin``.

    Raises :class:`InputError` when the text names no time zone.
    """
    if spec is None:
        return UTC
    if isinstance(spec, tzinfo):
        return spec
    s = spec.strip()
    if s.upper() in ("UTC", "Z", "GMT", ""):
        return UTC
    if re.fullmatch(r"[+-]\d\d(?::?\d\d)?", s):
        tz = _offset(s)
        if tz is not None:
            return tz
    try:
        from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

        return ZoneInfo(s)
    except (ZoneInfoNotFoundError, ValueError, OSError) as e:
        raise InputError(f"unknown time zone {spec!r} (use UTC, +02:00 or a name like Europe/Berlin)") from e
