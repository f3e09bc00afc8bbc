"""Shared state of one emulator: clock, scheduler, backends per account/region, faults, call log.

Lifecycles are a discrete-event simulation on the virtual clock: backends ``schedule``
callbacks at virtual times; before every request the world runs, in time order, every
callback that is due. A callback receives the time it was scheduled for, so chains of
events (install finished -> agent registered -> step 1 -> step 2 ...) carry true
timestamps even when a test advances the clock by an hour at once. Quantities that
change continuously (replicated bytes, lag) are computed from timestamps when read.
"""

from __future__ import annotations

import heapq
import itertools
import random
import threading
from collections import Counter
from collections.abc import Callable
from datetime import datetime, timedelta
from typing import Any

from . import DEFAULT_ACCOUNT_ID
from .clock import VirtualClock
from .faults import Faults
from .fleet import Fleet


class Backend:
    """Base of a service's state machine for one account and region.

    Subclasses set ``service`` (the SigV4 signing name: ``drs``, ``ssm``, ``ec2``,
    ``sts``) and implement operations as methods named by botocore's snake_case of the
    operation (``describe_source_servers(self, params) -> dict``). ``params`` is the
    request parsed into the operation's input shape (plain dict); the return value is
    the output shape as a plain dict (``datetime`` allowed for timestamp members).
    Raise :class:`emulator.errors.AwsError` for error responses.
    """

    service: str = ""

    def __init__(self, world: World, account_id: str, region: str):
        self.world = world
        self.account_id = account_id
        self.region = region

    # Convenience -------------------------------------------------------------
    @property
    def clock(self) -> VirtualClock:
        return self.world.clock

    def now(self) -> datetime:
        """The current virtual time (inside an event callback: that event's time)."""
        return self.world.now()

    def peer(self, service: str, region: str | None = None, account_id: str | None = None) -> Backend:
        """Another service's backend (same account, same region unless given)."""
        return self.world.backend(service, account_id or self.account_id, region or self.region)

    def reset(self) -> None:
        """Forget all state (called on admin reset before the fleet is reloaded)."""

    # Admin hooks ---------------------------------------------------------------
    def admin(self, action: str, body: dict) -> dict:
        """Service-specific admin actions: POST /_emulator/<service>/<action>."""
        handler = getattr(self, f"admin_{action.replace('-', '_')}", None)
        if handler is None:
            raise KeyError(action)
        return handler(body) or {}


class World:
    """Everything one emulator process knows."""

    def __init__(
        self,
        fleet: Fleet | None = None,
        speed: float = 1.0,
        start: datetime | None = None,
        seed: int = 0,
    ):
        self.lock = threading.RLock()
        self.clock = VirtualClock(speed=speed, start=start)
        self.seed = seed
        self.random = random.Random(seed)
        self.faults = Faults(seed=seed)
        self.fleet = fleet or Fleet.empty()
        self._backend_classes: dict[str, type[Backend]] = {}
        self._backends: dict[tuple[str, str, str], Backend] = {}
        self._events: list[tuple[datetime, int, Callable[[datetime], Any]]] = []
        self._seq = itertools.count()
        self._event_time: datetime | None = None
        self.calls: list[dict] = []
        self.call_counts: Counter = Counter()
        self._call_seq = itertools.count(1)
        self.faults.load(self.fleet.faults)

    # Registry ----------------------------------------------------------------
    def register(self, backend_class: type[Backend]) -> None:
        self._backend_classes[backend_class.service] = backend_class

    @property
    def services(self) -> list[str]:
        return sorted(self._backend_classes)

    def backend(self, service: str, account_id: str, region: str) -> Backend:
        key = (service, account_id, region)
        found = self._backends.get(key)
        if found is None:
            cls = self._backend_classes[service]
            found = self._backends[key] = cls(self, account_id, region)
        return found

    def backends(self, service: str | None = None) -> list[Backend]:
        return [b for (svc, _, _), b in sorted(self._backends.items()) if service in (None, svc)]

    def account_for_access_key(self, access_key: str | None) -> str:
        return self.fleet.accounts.get(access_key or "", self.fleet.account_id or DEFAULT_ACCOUNT_ID)

    # Time ----------------------------------------------------------------------
    def now(self) -> datetime:
        """Virtual now; while an event runs, the time that event was due."""
        return self._event_time or self.clock.now()

    def schedule(self, at: datetime | float, callback: Callable[[datetime], Any]) -> None:
        """Run ``callback(at)`` once virtual time reaches ``at`` (a datetime or seconds from now)."""
        if not isinstance(at, datetime):
            at = self.now() + timedelta(seconds=float(at))
        heapq.heappush(self._events, (at, next(self._seq), callback))

    def run_due_events(self) -> int:
        """Run every event due by now, in time order; returns how many ran."""
        ran = 0
        with self.lock:
            now = self.clock.now()
            while self._events and self._events[0][0] <= now:
                at, _, callback = heapq.heappop(self._events)
                self._event_time = at
                try:
                    callback(at)
                finally:
                    self._event_time = None
                ran += 1
        return ran

    def advance(self, seconds: float) -> datetime:
        """Advance the clock and run what became due."""
        with self.lock:
            self.clock.advance(seconds)
            self.run_due_events()
            return self.clock.now()

    def pending_events(self) -> int:
        return len(self._events)

    # Events between services -----------------------------------------------------
    def instance_state_changed(self, account_id: str, region: str, instance_id: str, state: str) -> None:
        """EC2 moved an instance to ``state``: backends with ``on_instance_state`` react (DRS: the agent on it).

        Only backends that exist are told: one that was never used has nothing on the instance.
        """
        at = self.now()
        for backend in list(self._backends.values()):
            hook = getattr(backend, "on_instance_state", None)
            if hook is not None:
                hook(account_id, region, instance_id, state, at)

    # Call log ------------------------------------------------------------------
    def record_call(self, entry: dict) -> dict:
        with self.lock:
            entry = {"seq": next(self._call_seq), **entry}
            self.calls.append(entry)
            self.call_counts[f"{entry['service']}:{entry['operation']}"] += 1
            return entry

    def reset_calls(self) -> None:
        with self.lock:
            self.calls.clear()
            self.call_counts.clear()

    # Reset -----------------------------------------------------------------------
    def reset(self, fleet: Fleet | None = None) -> None:
        """Drop all state, then load ``fleet`` (or the current one) again."""
        with self.lock:
            if fleet is not None:
                self.fleet = fleet
            self._backends.clear()
            self._events.clear()
            self.random = random.Random(self.seed)
            self.faults = Faults(seed=self.seed)
            self.faults.load(self.fleet.faults)
            self.reset_calls()
            self.load_fleet()

    def load_fleet(self) -> None:
        """Let every service build its initial state from the fleet."""
        with self.lock:
            for _, cls in sorted(self._backend_classes.items()):
                loader = getattr(cls, "load_fleet", None)
                if loader is not None:
                    loader(self, self.fleet)

    # Ids -------------------------------------------------------------------------
    def hex_id(self, prefix: str, length: int = 17) -> str:
        """AWS-style id: ``prefix`` + ``length`` lowercase hex digits (s-, i-, drsjob-, pit-)."""
        return prefix + "".join(self.random.choice("0123456789abcdef") for _ in range(length))

    def uuid(self) -> str:
        bits = self.random.getrandbits
        version, variant = (bits(16) & 0x0FFF) | 0x4000, (bits(16) & 0x3FFF) | 0x8000
        return f"{bits(32):08x}-{bits(16):04x}-{version:04x}-{variant:04x}-{bits(48):012x}"
