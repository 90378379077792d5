"""Log timestamps -> aware UTC datetimes: offsets taken at their word, local stamps read in the
user's zone (across daylight-saving changes), bad stamps giving ``None``, bad zones InputError."""

from __future__ import annotations

from datetime import datetime, timedelta, timezone, tzinfo

import pytest
from hypothesis import given
from hypothesis import strategies as st

from pcaptls.errors import InputError
from pcaptls.logs.timestamps import (
    ISO_AT_START,
    ISO_SEARCH,
    UTC,
    from_match,
    parse_eventlog_time,
    parse_tz,
    parse_utctime,
)

zoneinfo = pytest.importorskip("zoneinfo")
try:
    BERLIN = zoneinfo.ZoneInfo("Europe/Berlin")
    NEW_YORK = zoneinfo.ZoneInfo("America/New_York")
except zoneinfo.ZoneInfoNotFoundError:  # pragma: no cover - no tz database (pip install tzdata)
    pytest.skip("no time zone database", allow_module_level=True)


def utc(*args: int) -> datetime:
    return datetime(*args, tzinfo=UTC)  # type: ignore[misc]


def stamp(line: str, tz: tzinfo = UTC) -> datetime | None:
    m = ISO_SEARCH.search(line)
    assert m is not None, line
    return from_match(m, tz)


def _is_utc(t: datetime | None) -> bool:
    return t is not None and t.tzinfo is not None and t.utcoffset() == timedelta(0)


# -- stamps that carry their offset ------------------------------------------------------------

@pytest.mark.parametrize("line, expected", [
    ("2022-07-11T18:55:26.016+02:00 expressway: x", utc(2022, 7, 11, 16, 55, 26, 16000)),
    ("2022-07-11T18:55:26+0200", utc(2022, 7, 11, 16, 55, 26)),
    ("2022-07-11T18:55:26+02", utc(2022, 7, 11, 16, 55, 26)),
    ("2022-07-11 11:25:26 -05:30 pid=7", utc(2022, 7, 11, 16, 55, 26)),
    ("[INFO] 2022/07/11 16:55:26Z started", utc(2022, 7, 11, 16, 55, 26)),
    ("2022-07-11 16:55:26,5 UTC", utc(2022, 7, 11, 16, 55, 26, 500000)),
    ("2022-07-11T16:55:26.123456789Z", utc(2022, 7, 11, 16, 55, 26, 123456)),  # nanoseconds cut, not rounded
    ("2022-12-31T23:30:00-01:00", utc(2023, 1, 1, 0, 30)),  # across a year end
    ("2022-07-11T18:55:26+23:59", utc(2022, 7, 10, 18, 56, 26)),
])
@pytest.mark.parametrize("log_tz", ["UTC", "Europe/Berlin", "-08:00"])
def test_an_offset_in_the_stamp_wins_over_the_log_zone(line: str, expected: datetime, log_tz: str) -> None:
    got = stamp(line, parse_tz(log_tz))
    assert got == expected and _is_utc(got)


@pytest.mark.parametrize("line", [
    "2022-13-01 10:00:00",  # month 13
    "2022-02-29 10:00:00",  # not a leap year
    "2022-07-11 24:00:00",
    "2022-07-11 10:60:00",
    "2022-07-11 10:00:61",
    "2022-07-11 10:00:00+24:00",  # no such offset
    "2022-07-11 10:00:00+02:60",
    "0001-01-01T00:30:00+01:00",  # before year 1 in UTC
    "9999-12-31T23:30:00-01:00",  # after year 9999 in UTC
])
def test_stamps_that_are_no_real_time_give_none(line: str) -> None:
    assert stamp(line, BERLIN) is None


# -- local stamps ------------------------------------------------------------------------------

@pytest.mark.parametrize("line, tz, expected", [
    ("2022-07-11 18:55:26", BERLIN, utc(2022, 7, 11, 16, 55, 26)),  # CEST, +02:00
    ("2022-01-11 18:55:26", BERLIN, utc(2022, 1, 11, 17, 55, 26)),  # CET, +01:00
    ("2022-07-11 12:55:26", NEW_YORK, utc(2022, 7, 11, 16, 55, 26)),  # EDT, -04:00
    ("2022-01-11 12:55:26", NEW_YORK, utc(2022, 1, 11, 17, 55, 26)),  # EST, -05:00
    ("2022-07-11 18:55:26", UTC, utc(2022, 7, 11, 18, 55, 26)),
])
def test_local_stamps_are_read_in_the_log_zone(line: str, tz: tzinfo, expected: datetime) -> None:
    got = stamp(line, tz)
    assert got == expected and _is_utc(got)


@pytest.mark.parametrize("spec", ["+02:00", "+0200", "+02"])
def test_a_fixed_offset_zone_ignores_the_season(spec: str) -> None:
    tz = parse_tz(spec)
    assert stamp("2022-07-11 18:55:26", tz) == utc(2022, 7, 11, 16, 55, 26)
    assert stamp("2022-01-11 18:55:26", tz) == utc(2022, 1, 11, 16, 55, 26)


@pytest.mark.parametrize("local, expected", [
    # Berlin, spring 2022: 02:00 CET became 03:00 CEST at 01:00 UTC.
    ("2022-03-27 01:59:59", utc(2022, 3, 27, 0, 59, 59)),
    ("2022-03-27 03:00:00", utc(2022, 3, 27, 1, 0, 0)),  # one second after the previous line
    # 02:30 never happened: read with the offset in force before the change (PEP 495, fold=0).
    ("2022-03-27 02:30:00", utc(2022, 3, 27, 1, 30, 0)),
    # Berlin, autumn 2022: 03:00 CEST became 02:00 CET at 01:00 UTC; 02:xx happened twice.
    ("2022-10-30 01:59:59", utc(2022, 10, 29, 23, 59, 59)),
    ("2022-10-30 02:30:00", utc(2022, 10, 30, 0, 30, 0)),  # the first 02:30 (CEST), fold=0
    ("2022-10-30 03:00:00", utc(2022, 10, 30, 2, 0, 0)),
])
def test_daylight_saving_edges(local: str, expected: datetime) -> None:
    assert stamp(local, BERLIN) == expected


def test_local_time_runs_on_across_the_autumn_change() -> None:
    """A log written every 15 minutes through the night the clocks go back: UTC keeps moving
    forward except where the local stamps repeat (the hour that happened twice)."""
    locals_ = ["2022-10-30 01:45:00", "2022-10-30 02:00:00", "2022-10-30 02:15:00", "2022-10-30 03:00:00"]
    got = [stamp(s, BERLIN) for s in locals_]
    assert got == [utc(2022, 10, 29, 23, 45), utc(2022, 10, 30, 0, 0), utc(2022, 10, 30, 0, 15), utc(2022, 10, 30, 2, 0)]


# -- Expressway's two formats ------------------------------------------------------------------

@pytest.mark.parametrize("value, expected", [
    ("2022-07-11 16:55:26,016", utc(2022, 7, 11, 16, 55, 26, 16000)),
    ("2022-07-11 16:55:26.999", utc(2022, 7, 11, 16, 55, 26, 999000)),
    ("2022-07-11 16:55:26", utc(2022, 7, 11, 16, 55, 26)),
    (" 2022-07-11T16:55:26Z ", utc(2022, 7, 11, 16, 55, 26)),
    ("2022-07-11 16:55:26,016+02:00", utc(2022, 7, 11, 14, 55, 26, 16000)),
    ("2022-13-11 16:55:26,016", None),
    ("2022-07-11 16:55:26,0x6", None),
    ("2022-07-11 16:55:26,\u0661\u0662\u0663", None),  # Arabic-Indic digits are digits, not ASCII ones
    ("2022-07-11 16:55:26,016 trailing", None),
    ("", None),
])
def test_parse_utctime(value: str, expected: datetime | None) -> None:
    got = parse_utctime(value)
    assert got == expected
    if got is not None:
        assert _is_utc(got)


@pytest.mark.parametrize("value, tz, expected", [
    ("2022/07/11-16:55:25", BERLIN, utc(2022, 7, 11, 14, 55, 25)),
    ("2022/01/11-16:55:25", BERLIN, utc(2022, 1, 11, 15, 55, 25)),
    (" 2022/07/11-16:55:25.250 ", UTC, utc(2022, 7, 11, 16, 55, 25, 250000)),
    ("2022/03/27-02:30:00", BERLIN, utc(2022, 3, 27, 1, 30)),
    ("2022/07/11-16:55:25+02:00", UTC, None),  # the event log never writes an offset
    ("2022-07-11-16:55:25", UTC, None),
    ("2022/07/11-25:00:00", UTC, None),
])
def test_parse_eventlog_time(value: str, tz: tzinfo, expected: datetime | None) -> None:
    assert parse_eventlog_time(value, tz) == expected


_utctime_like = st.text(st.sampled_from("0123456789-: ,.TZ+"), min_size=19, max_size=26)


@given(st.one_of(_utctime_like, st.datetimes(timezones=st.none()).map(
    lambda d: d.strftime("%Y-%m-%d %H:%M:%S") + f",{d.microsecond // 1000:03d}")))
def test_utctime_fast_path_agrees_with_the_general_one(value: str) -> None:
    """The 23-character shortcut gives what the general pattern gives (a trailing space forces that path)."""
    got = parse_utctime(value)
    assert got == parse_utctime(value + " ")
    assert got is None or _is_utc(got)


@given(st.from_regex(ISO_AT_START, fullmatch=True), st.sampled_from([UTC, BERLIN, NEW_YORK, timezone(timedelta(hours=14))]))
def test_any_stamp_the_pattern_matches_gives_utc_or_none(text: str, tz: tzinfo) -> None:
    m = ISO_AT_START.fullmatch(text)
    assert m is not None
    got = from_match(m, tz)
    assert got is None or _is_utc(got)


# -- zones as users give them ------------------------------------------------------------------

@pytest.mark.parametrize("spec", [None, "UTC", "utc", "Z", "GMT", "", "  UTC  "])
def test_utc_spellings(spec: str | None) -> None:
    assert parse_tz(spec) is UTC


@pytest.mark.parametrize("spec, offset", [
    ("+02:00", timedelta(hours=2)), ("+0200", timedelta(hours=2)), ("+02", timedelta(hours=2)),
    ("-05:30", -timedelta(hours=5, minutes=30)), ("-0530", -timedelta(hours=5, minutes=30)),
    (" +14:00 ", timedelta(hours=14)), ("-00:00", timedelta(0)),
])
def test_fixed_offsets(spec: str, offset: timedelta) -> None:
    assert parse_tz(spec).utcoffset(None) == offset


def test_named_zones_and_tzinfo_pass_through() -> None:
    assert parse_tz("Europe/Berlin") == BERLIN
    assert parse_tz(" America/New_York ") == NEW_YORK
    fixed = timezone(timedelta(hours=3))
    assert parse_tz(fixed) is fixed


@pytest.mark.parametrize("spec", [
    "Mars/Olympus", "Europe", "+25:00", "+02:60", "+2", "UTC+2", "../../etc/passwd", "/etc/localtime",
    "Europe/Berlin\x00", "\x00", ".", "a" * 300,
])
def test_bad_zone_is_input_error(spec: str) -> None:
    with pytest.raises(InputError) as e:
        parse_tz(spec)
    assert "unknown time zone" in str(e.value)


@given(st.text(max_size=40))
def test_any_zone_text_gives_a_zone_or_input_error(spec: str) -> None:
    try:
        tz = parse_tz(spec)
    except InputError:
        return
    assert isinstance(tz, tzinfo)
    # A zone that was accepted converts stamps.
    assert _is_utc(stamp("2022-07-11 18:55:26", tz))
