"""Dates and durations as DRS/SSM return them, including absent and malformed values."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta, timezone

import pytest
from hypothesis import given
from hypothesis import strategies as st

from ansible_collections.drs.orchestration.plugins.module_utils import timeutil


@pytest.mark.parametrize(
    ("text", "seconds"),
    [("PT0S", 0), ("PT1H2M3S", 3723), ("P1DT2H", 93600), ("PT0.5S", 0.5), ("P1W", 604800), ("PT15M", 900)],
)
def test_iso_durations_are_read(text, seconds):
    assert timeutil.parse_duration(text) == seconds


@pytest.mark.parametrize("value", [None, "", "P", "PT", "5 minutes", "2026-01-01T00:00:00+00:00", 42])
def test_unreadable_durations_are_none(value):
    # lagDuration on recovery instances is modeled as a date-time string (ERRATA row 12)
    assert timeutil.parse_duration(value) is None


@given(st.integers(min_value=0, max_value=10**8))
def test_format_and_parse_duration_round_trip(seconds):
    assert timeutil.parse_duration(timeutil.format_duration(seconds)) == seconds


def test_datetimes_from_every_form_aws_uses():
    expected = datetime(2026, 11, 27, 10, 0, tzinfo=UTC)
    assert timeutil.parse_datetime("2026-11-27T10:00:00Z") == expected
    assert timeutil.parse_datetime("2026-11-27T10:00:00+00:00") == expected
    assert timeutil.parse_datetime("2026-11-27T10:00:00") == expected
    assert timeutil.parse_datetime(expected.timestamp()) == expected
    assert timeutil.parse_datetime(expected.replace(tzinfo=None)) == expected
    for absent in (None, "", "yesterday", True, [], {}):
        assert timeutil.parse_datetime(absent) is None


def test_times_in_another_zone_come_back_in_utc():
    # botocore hands SSM's epoch times over in the controller's local zone (tzlocal)
    eastern = timezone(timedelta(hours=-5))
    local = datetime(2026, 11, 27, 5, 0, tzinfo=eastern)
    assert timeutil.parse_datetime(local).isoformat() == "2026-11-27T10:00:00+00:00"
    assert timeutil.parse_datetime("2026-11-27T05:00:00-05:00").isoformat() == "2026-11-27T10:00:00+00:00"


def test_service_now_reads_the_date_header_and_falls_back():
    response = {"ResponseMetadata": {"HTTPHeaders": {"date": "Fri, 27 Nov 2026 10:00:00 GMT"}}}
    assert timeutil.service_now(response) == datetime(2026, 11, 27, 10, 0, tzinfo=UTC)
    fallback = datetime(2020, 1, 1, tzinfo=UTC)
    assert timeutil.service_now({}, fallback) == fallback
    assert timeutil.service_now({"ResponseMetadata": {"HTTPHeaders": {"date": "garbage"}}}, fallback) == fallback


def test_seconds_between_tolerates_missing_ends():
    assert timeutil.seconds_between("2026-11-27T10:00:00Z", "2026-11-27T10:01:30Z") == 90
    assert timeutil.seconds_between(None, "2026-11-27T10:01:30Z") is None
