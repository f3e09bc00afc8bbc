# Copyright: Contributors to drs.orchestration
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Dates and durations as AWS returns them, parsed defensively.

DRS returns most times as ISO 8601 strings and durations as ISO 8601 durations, but
values may be absent, and on recovery instances the model types ``lagDuration`` as a
date-time string (ERRATA row 12). SSM returns datetimes (botocore parses them). Every
parser here returns None for what it cannot read instead of raising.
"""

from __future__ import annotations

import re
from datetime import UTC, datetime, timedelta
from email.utils import parsedate_to_datetime

_DURATION = re.compile(
    r"^P(?:(?P<weeks>\d+(?:\.\d+)?)W)?(?:(?P<days>\d+(?:\.\d+)?)D)?"
    r"(?:T(?:(?P<hours>\d+(?:\.\d+)?)H)?(?:(?P<minutes>\d+(?:\.\d+)?)M)?(?:(?P<seconds>\d+(?:\.\d+)?)S)?)?$"
)


def utcnow():
    return datetime.now(UTC)


def parse_datetime(value):
    """An aware UTC datetime from a datetime, an ISO 8601 string or epoch seconds; else None."""
    if value is None or value == "":
        return None
    if isinstance(value, datetime):
        return value.astimezone(UTC) if value.tzinfo else value.replace(tzinfo=UTC)
    if isinstance(value, int | float) and not isinstance(value, bool):
        try:
            return datetime.fromtimestamp(value, UTC)
        except (OverflowError, OSError, ValueError):
            return None
    if isinstance(value, str):
        text = value.strip()
        if text.endswith(("Z", "z")):
            text = text[:-1] + "+00:00"
        try:
            parsed = datetime.fromisoformat(text)
        except ValueError:
            return None
        return parsed.astimezone(UTC) if parsed.tzinfo else parsed.replace(tzinfo=UTC)
    return None


def parse_duration(value):
    """Seconds from an ISO 8601 duration (``PT1H2M3S``, ``P1DT2H``); None when unreadable."""
    if not isinstance(value, str):
        return None
    text = value.strip()
    match = _DURATION.match(text)
    if not match or text in ("P", "PT"):
        return None
    weeks, days, hours, minutes, seconds = map(float, match.groups(0))
    return weeks * 604800 + days * 86400 + hours * 3600 + minutes * 60 + seconds


def format_duration(seconds):
    """ISO 8601 duration for a number of seconds (``PT1H5M``)."""
    if seconds is None:
        return None
    seconds = int(max(0, round(seconds)))
    days, rem = divmod(seconds, 86400)
    hours, rem = divmod(rem, 3600)
    minutes, secs = divmod(rem, 60)
    out = "P" + (f"{days}D" if days else "")
    time_part = (f"{hours}H" if hours else "") + (f"{minutes}M" if minutes else "")
    if secs or not (days or time_part):
        time_part += f"{secs}S"
    return out + ("T" + time_part if time_part else "")


def isoformat(value):
    """ISO 8601 text (UTC) of anything :func:`parse_datetime` reads; None stays None."""
    parsed = parse_datetime(value)
    return parsed.astimezone(UTC).isoformat() if parsed is not None else None


def seconds_since(value, now):
    """Seconds from ``value`` (ISO 8601 text or a datetime) to ``now``, never negative; None when either is unknown."""
    at = parse_datetime(value) if isinstance(value, str | datetime) else None
    if at is None or now is None:
        return None
    return max(0.0, (now - at).total_seconds())


def duration_or_since(value, now):
    """Seconds from a member the model types as a date-time but that may hold a duration.

    An ISO 8601 duration is read as is; a timestamp is read as "since then", against
    ``now`` (ERRATA row 12: ``lagDuration`` and ``elapsedReplicationDuration`` of
    recovery instances).
    """
    seconds = parse_duration(value)
    return seconds_since(value, now) if seconds is None else seconds


def seconds_between(start, end):
    a, b = parse_datetime(start), parse_datetime(end)
    if a is None or b is None:
        return None
    return (b - a).total_seconds()


def service_now(response, fallback=None):
    """The service's clock from a response's ``Date`` header, else ``fallback`` or local now.

    Ages and ETAs are computed against the service's time so a skewed controller clock
    (or the emulator's fast clock) does not distort them.
    """
    headers = ((response or {}).get("ResponseMetadata") or {}).get("HTTPHeaders") or {}
    date = headers.get("date")
    if date:
        try:
            parsed = parsedate_to_datetime(date)
            return parsed.astimezone(UTC) if parsed.tzinfo else parsed.replace(tzinfo=UTC)
        except (TypeError, ValueError, IndexError):
            pass
    return fallback or utcnow()


def add_seconds(value, seconds):
    parsed = parse_datetime(value)
    return None if parsed is None else parsed + timedelta(seconds=seconds)
