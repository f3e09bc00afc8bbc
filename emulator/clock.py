"""A virtual clock that runs ``speed`` times faster than real time and can be advanced."""

from __future__ import annotations

import threading
import time
from datetime import UTC, datetime, timedelta


class VirtualClock:
    """Virtual time = start + speed * real elapsed time + manual advances.

    Tests set ``speed=0`` (time only moves when advanced) and call ``advance``; the
    demo runs with ``speed=60`` so an hour of replication takes a minute.
    """

    def __init__(self, speed: float = 1.0, start: datetime | None = None):
        if speed < 0:
            raise ValueError("speed must be >= 0")
        self._lock = threading.Lock()
        self._speed = float(speed)
        self._origin_real = time.monotonic()
        self._origin_virtual = (start or datetime.now(UTC)).astimezone(UTC)

    @property
    def speed(self) -> float:
        return self._speed

    def now(self) -> datetime:
        with self._lock:
            elapsed = (time.monotonic() - self._origin_real) * self._speed
            return self._origin_virtual + timedelta(seconds=elapsed)

    def advance(self, seconds: float) -> datetime:
        if seconds < 0:
            raise ValueError("the clock only moves forward")
        with self._lock:
            self._origin_virtual += timedelta(seconds=seconds)
        return self.now()

    def set_speed(self, speed: float) -> None:
        if speed < 0:
            raise ValueError("speed must be >= 0")
        current = self.now()
        with self._lock:
            self._origin_real = time.monotonic()
            self._origin_virtual = current
            self._speed = float(speed)


def iso(dt: datetime | None) -> str | None:
    """DRS renders its date-time strings as ISO 8601 with seconds, UTC, 'Z'-less '+00:00'."""
    if dt is None:
        return None
    return dt.astimezone(UTC).isoformat(timespec="seconds")


def iso_duration(seconds: float) -> str:
    """ISO 8601 duration as DRS returns it in ``lagDuration`` / ``elapsedReplicationDuration``."""
    seconds = max(0, int(seconds))
    days, rem = divmod(seconds, 86400)
    hours, rem = divmod(rem, 3600)
    minutes, secs = divmod(rem, 60)
    out = "P"
    if days:
        out += f"{days}D"
    out += "T"
    if hours:
        out += f"{hours}H"
    if minutes:
        out += f"{minutes}M"
    if secs or out.endswith("T"):
        out += f"{secs}S"
    return out
