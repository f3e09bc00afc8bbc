"""Reading DRS times in the emulator's tests: ISO 8601 timestamps and durations, as boto3 returns them."""

from datetime import datetime


def when(text: str) -> datetime:
    return datetime.fromisoformat(text.replace("Z", "+00:00"))


def duration_seconds(text: str) -> int:
    """Seconds of an ISO 8601 duration such as P1DT2H3M4S."""
    days, _, clock = text[1:].partition("T")
    total = int(days[:-1]) * 86400 if days else 0
    number = ""
    for char in clock:
        if char.isdigit():
            number += char
        else:
            total += int(number) * {"H": 3600, "M": 60, "S": 1}[char]
            number = ""
    return total
