"""Data replication of one server on the virtual clock.

One :class:`Replication` drives a source server (11 initiation steps, initial sync,
snapshot, continuous) or a recovery instance's failback replication (18 steps, sync,
continuous). Discrete transitions are world events; each carries the replication's
``epoch`` so that stopping, disconnecting or faulting a server cancels what was planned.
Quantities that change continuously -- replicated bytes, lag, the agent's last-seen
time -- are computed from timestamps when read.

Faults (fleet ``replication:`` entries and the ``set-fault`` admin action)::

    {fault: STALLED | DISCONNECTED | FAILED_STEP, error: <DataReplicationError>,
     at: <initiation step or replication state>, after_seconds: <delay after reaching it>}

A fault stays in force until ``clear-fault``: a failed step fails again on every retry.

The source machine (an EC2 instance) can stop and start again (``machine_down`` /
``machine_up``, called through the world's instance-state hook): while it is down the agent
sends no heartbeats and no data; ``agent_not_seen_seconds`` later DRS reports DISCONNECTED
(AGENT_NOT_SEEN) with a lag that keeps growing. When it runs again the agent reconnects and
replication continues where it stopped; a server that was continuous rescans its disks
(RESCAN) before it is CONTINUOUS again.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

from .common import REPLICATION_ERRORS, SOURCE_STEPS

_FOREVER = datetime.max.replace(tzinfo=UTC)
FAULT_KINDS = ("STALLED", "DISCONNECTED", "FAILED_STEP")
FAULT_STATES = ("INITIATING", "INITIAL_SYNC", "CREATING_SNAPSHOT", "CONTINUOUS")
HELD_STATES = ("STALLED", "DISCONNECTED", "BACKLOG", "PAUSED", "RESCAN")  # states a fault (or the fleet) holds
DEFAULT_FAULT_ERROR = {"STALLED": "UNSTABLE_NETWORK", "DISCONNECTED": "AGENT_NOT_SEEN"}


@dataclass(frozen=True)
class ResumePoint:
    """Where an interrupted replication goes on."""

    phase: str  # INITIATING (at ``step``), INITIAL_SYNC, CREATING_SNAPSHOT or CONTINUOUS
    step: int = 0  # the initiation step, an index into the step names


@dataclass(frozen=True)
class AfterDown:
    """What a server does once its source machine runs again (see ``Replication.machine_down``)."""

    action: str  # "resume" (at ``point``), "hold" (``state`` with ``error``, as a fault holds it) or "restart"
    point: ResumePoint | None = None
    state: str | None = None
    error: str | None = None


def parse_fault(spec: dict | None, steps: tuple[str, ...] = SOURCE_STEPS, errors=REPLICATION_ERRORS) -> dict | None:
    """Check a fault spec and fill its defaults; ValueError says what to fix."""
    if spec is None:
        return None
    if not isinstance(spec, dict):
        raise ValueError(f"replication fault must be a mapping like {{fault: STALLED, at: INITIAL_SYNC}}, got {spec!r}")
    unknown = set(spec) - {"fault", "error", "at", "after_seconds"}
    if unknown:
        raise ValueError(
            f"replication fault has unknown keys {sorted(unknown)}; known: error, fault, at, after_seconds"
        )
    kind = str(spec.get("fault") or "").upper()
    if kind not in FAULT_KINDS:
        raise ValueError(f"replication fault must be one of {list(FAULT_KINDS)}, got {spec.get('fault')!r}")
    at = spec.get("at")
    if at is not None and at not in steps and at not in FAULT_STATES:
        raise ValueError(
            f"replication fault 'at' must be an initiation step {list(steps)} or a state {list(FAULT_STATES)}"
        )
    if kind == "FAILED_STEP" and at not in steps:
        raise ValueError(f"a FAILED_STEP fault needs 'at' set to an initiation step: {list(steps)}")
    error = spec.get("error") or DEFAULT_FAULT_ERROR.get(kind) or f"FAILED_TO_{at}"
    if error not in errors:
        raise ValueError(f"replication fault error {error!r} is not a data replication error: {list(errors)}")
    after = spec.get("after_seconds") or 0
    if not isinstance(after, int | float) or after < 0:
        raise ValueError(f"replication fault after_seconds must be a number >= 0, got {after!r}")
    return {"fault": kind, "error": error, "at": at, "after_seconds": float(after)}


class Replication:
    """The replication state of one server; see the module docstring."""

    def __init__(
        self,
        world,
        disks: list[tuple[str, int]],
        rate: float,
        steps: tuple[str, ...] = SOURCE_STEPS,
        step_timing_key: str = "initiation_step_seconds",
        snapshot_phase: bool = True,
        on_change: Callable[[str, datetime], None] | None = None,
    ):
        self.world = world
        self.disks = disks  # [(device, total bytes)]
        self.rate = rate  # bytes per second per disk
        self.step_names = steps
        self.step_timing_key = step_timing_key
        self.snapshot_phase = snapshot_phase
        self.on_change = on_change or (lambda state, at: None)
        self.state = "NOT_STARTED"
        self.steps: list[str] | None = None
        self.initiation_start: datetime | None = None
        self.next_attempt: datetime | None = None
        self.error: str | None = None
        self.replicated = [0.0] * len(disks)  # bytes replicated as of ``progress_at``
        self.progress_at: datetime | None = None  # set while bytes are flowing
        self.sync_end: datetime | None = None
        self.first_byte: datetime | None = None
        self.cdp_left: datetime | None = None  # when it last left continuous protection
        self.periods: list[list] = []  # [start, end or None] of continuous protection (snapshots)
        self.zeroed = False  # after DisconnectSourceServer: totals read as zero
        self.resume: ResumePoint | None = None  # where a faulted replication continues when cleared
        self.fault: dict | None = None
        self.epoch = 0
        self.agent_anchor: datetime | None = None  # agent heartbeats run from here ...
        self.agent_lost: datetime | None = None  # ... until here
        self.last_contact: datetime | None = None
        self.ended: datetime | None = None  # stopped/disconnected: elapsed time freezes
        self.rescan_start: datetime | None = None  # set while the disks are rescanned after the machine ran again
        self.rescanned: list[int] | None = None  # bytes rescanned when a rescan was interrupted
        self.down_since: datetime | None = None  # the source machine is stopped (or gone) since
        self.after_down: AfterDown | None = None  # what happens when it runs again
        self.deferred_fault: dict | None = None  # a fault that fell due while the machine was down
        self.version = 0  # bumped on every transition: renderings cache on it
        self._seen: tuple | None = None  # (version, valid from, valid until, last seen)

    # Timing --------------------------------------------------------------------------
    def _timing(self, key: str) -> float:
        return float(self.world.fleet.timing[key])

    def _at(self, base: datetime, secs: float, action: Callable[[datetime], None]) -> None:
        """Schedule ``action`` unless the replication moved on (epoch changed) meanwhile."""
        epoch = self.epoch
        self.world.schedule(base + timedelta(seconds=secs), lambda at: action(at) if self.epoch == epoch else None)

    def _changed(self, at: datetime) -> None:
        self.version += 1
        if self.agent_lost is None:
            self.last_contact = at
        self.on_change(self.state, at)

    # Agent ------------------------------------------------------------------------------
    def connect_agent(self, at: datetime) -> None:
        if self.agent_anchor is None or self.agent_lost is not None:
            self.agent_anchor = at
            self.agent_lost = None
        self.last_contact = at

    def last_seen(self, now: datetime) -> datetime | None:
        """Last heartbeat: every agent_heartbeat_seconds while connected, frozen once lost.

        Transitions count as contact too, so the service has always seen the agent at
        least when it last reported progress (first byte, continuous ...). The value only
        changes at the next heartbeat or transition, so it is remembered until then.
        """
        cached = self._seen
        if cached is not None and cached[0] == self.version and cached[1] <= now < cached[2]:
            return cached[3]
        anchor = self.agent_anchor
        if anchor is None:
            return None
        lost = self.agent_lost
        until = now if lost is None else min(lost, now)
        beat = self.world.fleet.timing["agent_heartbeat_seconds"]
        if beat > 0:
            beats = max(0.0, (until - anchor).total_seconds()) // beat
            beat_time = anchor + timedelta(seconds=beats * beat)
        else:
            beat_time = anchor
        seen = beat_time if self.last_contact is None else max(beat_time, self.last_contact)
        seen = min(seen, until)
        if lost is None and beat > 0:
            self._seen = (self.version, max(beat_time, seen), beat_time + timedelta(seconds=beat), seen)
        elif lost is None or now >= lost:  # no heartbeats, or frozen: constant until the next transition
            self._seen = (self.version, seen, _FOREVER, seen)
        return seen

    # Lifecycle --------------------------------------------------------------------------
    def start(self, at: datetime) -> None:
        """Begin (or begin again) the initiation sequence."""
        self.epoch += 1
        if self.down_since is None:
            self.connect_agent(at)
        self.zeroed = False
        self.ended = None
        self.resume = None
        self.error = None
        self.next_attempt = None
        self.progress_at = None
        self.sync_end = None
        self.replicated = [0.0] * len(self.disks)
        self.state = "INITIATING"
        self.initiation_start = at
        self.steps = ["NOT_STARTED"] * len(self.step_names)
        self._changed(at)
        self._arm_fault(self.state, at)
        self._enter_step(0, at)

    def _enter_step(self, index: int, at: datetime) -> None:
        assert self.steps is not None
        self.steps[index] = "IN_PROGRESS"
        self._changed(at)
        if self.down_since is not None:
            self._await_machine(ResumePoint("INITIATING", index), at)
            return
        self._arm_fault(self.step_names[index], at)
        self._at(at, self._timing(self.step_timing_key), lambda t: self._end_step(index, t))

    def _end_step(self, index: int, at: datetime) -> None:
        assert self.steps is not None
        fault = self.fault
        if fault and fault["fault"] == "FAILED_STEP" and fault["at"] == self.step_names[index]:
            self._fail_step(index, fault["error"], at)
            return
        self.steps[index] = "SUCCEEDED"
        if index + 1 < len(self.steps):
            self._enter_step(index + 1, at)
        else:
            self._enter_sync(at)

    def _fail_step(self, index: int, error: str, at: datetime) -> None:
        """A failed initiation step stalls replication; DRS tries again at nextAttemptDateTime."""
        assert self.steps is not None
        self.epoch += 1
        self.steps[index] = "FAILED"
        self.state = "STALLED"
        self.error = error
        self.next_attempt = at + timedelta(seconds=self._timing("initiation_retry_seconds"))
        self._changed(at)
        self._at(at, self._timing("initiation_retry_seconds"), self.start)

    def _enter_sync(self, at: datetime) -> None:
        self.state = "INITIAL_SYNC"
        self.first_byte = self.first_byte or at
        self.progress_at = at
        remaining = max((total - done for (_, total), done in zip(self.disks, self.replicated, strict=True)), default=0)
        duration = remaining / self.rate if self.rate > 0 else 0.0
        self.sync_end = at + timedelta(seconds=duration)
        self._changed(at)
        self._arm_fault(self.state, at)
        self._at(at, duration, self._end_sync)

    def _end_sync(self, at: datetime) -> None:
        self.replicated = [float(total) for _, total in self.disks]
        self.progress_at = None
        self.sync_end = None
        if not self.snapshot_phase:
            self._enter_continuous(at)
            return
        self.state = "CREATING_SNAPSHOT"
        self._changed(at)
        self._arm_fault(self.state, at)
        self._at(at, self._timing("snapshot_seconds"), self._enter_continuous)

    def _enter_continuous(self, at: datetime) -> None:
        self.state = "CONTINUOUS"
        self.error = None
        self.cdp_left = None
        self.rescan_start = None
        self.rescanned = None
        self.sync_end = None
        self.replicated = [float(total) for _, total in self.disks]
        self.periods.append([at, None])
        self._changed(at)
        self._arm_fault(self.state, at)

    # Faults ------------------------------------------------------------------------------
    def set_fault(self, fault: dict | None, at: datetime) -> None:
        """Install a fault; without ``at`` it strikes ``after_seconds`` from now whatever the state."""
        self.fault = fault
        if fault is None:
            return
        if fault["at"] is None and fault["fault"] != "FAILED_STEP":
            self.world.schedule(at + timedelta(seconds=fault["after_seconds"]), lambda t: self._strike(fault, t))
        elif fault["at"] in (self.state, *self._current_step()):
            self._arm_fault(fault["at"], at)

    def _current_step(self) -> tuple[str, ...]:
        if self.state == "INITIATING" and self.steps and "IN_PROGRESS" in self.steps:
            return (self.step_names[self.steps.index("IN_PROGRESS")],)
        return ()

    def _arm_fault(self, point: str, at: datetime) -> None:
        """A fault for ``point`` (a state or step just reached) strikes after its delay if still there."""
        fault = self.fault
        if fault and fault["fault"] != "FAILED_STEP" and fault["at"] == point:
            self._at(at, fault["after_seconds"], lambda t: self._strike(fault, t, point))

    def _strike(self, fault: dict, at: datetime, point: str | None = None) -> None:
        if self.fault is not fault:
            return
        if self.down_since is not None:
            if point is None:
                self.deferred_fault = fault  # strikes once the machine runs again
            return  # a fault for a state or step strikes when the server gets there again
        if self.state in ("STOPPED", "DISCONNECTED", "STALLED"):
            return
        if point is not None and point not in (self.state, *self._current_step()):
            return  # it moved past the point the fault was for
        self.hold(fault["fault"], at, error=fault["error"])

    def hold(self, state: str, at: datetime, error: str | None = None) -> None:
        """Leave the current phase for a state that does not progress (STALLED, DISCONNECTED, BACKLOG ...)."""
        self.resume = self._resume_point()
        self._freeze(at)
        self.epoch += 1
        self.state = state
        self.error = error
        if state == "DISCONNECTED" and self.agent_lost is None:
            self.agent_lost = at
        self._changed(at)

    def _resume_point(self) -> ResumePoint:
        if self.state == "INITIATING":
            step = self.steps.index("IN_PROGRESS") if self.steps and "IN_PROGRESS" in self.steps else 0
            return ResumePoint("INITIATING", step)
        if self.state in ("INITIAL_SYNC", "CREATING_SNAPSHOT"):
            return ResumePoint(self.state)
        return ResumePoint("CONTINUOUS")

    def _freeze(self, at: datetime) -> None:
        """Stop the byte counters and close the continuous period at ``at``."""
        self.replicated = self.replicated_bytes(at)
        self.progress_at = None
        self.sync_end = None
        if self.rescan_start is not None:
            self.rescanned = self.rescanned_bytes(at)
            self.rescan_start = None
        if self.periods and self.periods[-1][1] is None:
            self.periods[-1][1] = at
            self.cdp_left = at

    def clear_fault(self, at: datetime) -> None:
        """Remove the fault; a server it holds resumes where it stopped."""
        self.fault = None
        self.deferred_fault = None
        if self.resume is None or self.state not in HELD_STATES:
            return
        if self.down_since is not None:  # the machine is down: it resumes when the machine runs again
            if self.after_down is not None and self.after_down.action == "hold":
                self.after_down = AfterDown("resume", self.resume)
                self.resume = None
            return
        point, self.resume = self.resume, None
        self.epoch += 1
        self.error = None
        self.connect_agent(at)
        self._continue(point, at)

    def _continue(self, point: ResumePoint, at: datetime, rescan: bool = False) -> None:
        """Go on from a resume point: the interrupted step, the sync, the snapshot, or continuous protection."""
        if point.phase == "INITIATING":
            self.state = "INITIATING"
            self._enter_step(point.step, at)
        elif point.phase == "INITIAL_SYNC":
            self._enter_sync(at)
        elif point.phase == "CREATING_SNAPSHOT":
            self._end_sync(at)
        elif rescan:
            self._enter_rescan(at)
        else:
            self._enter_continuous(at)

    def _enter_rescan(self, at: datetime) -> None:
        """RESCAN: the agent reads every disk again (at the replication rate), then CONTINUOUS."""
        self.state = "RESCAN"
        self.error = None
        self.rescan_start = at
        self.rescanned = None
        largest = max((total for _, total in self.disks), default=0)
        duration = largest / self.rate if self.rate > 0 else 0.0
        self.sync_end = at + timedelta(seconds=duration)
        self._changed(at)
        self._at(at, duration, self._enter_continuous)

    # Source machine --------------------------------------------------------------------------
    def machine_down(self, at: datetime) -> None:
        """The source machine stopped (or is gone): no heartbeats, no data from now on.

        DRS notices ``agent_not_seen_seconds`` later: DISCONNECTED with AGENT_NOT_SEEN, lag
        counted from when data last flowed. ``after_down`` records how it goes on when the
        machine runs again: resume the interrupted phase, return to the state a fault holds,
        or restart a failed initiation.
        """
        if self.down_since is not None:
            return
        self.down_since = at
        if self.state in ("NOT_STARTED", "STOPPED") or self.zeroed:  # not replicating: only the agent goes
            self.after_down = None
            if self.agent_lost is None:
                self.agent_lost = at
                self.version += 1
            return
        if self.state in HELD_STATES and self.resume is not None:
            self.after_down = AfterDown("hold", state=self.state, error=self.error)
        elif self.state == "STALLED":  # a failed initiation step: DRS would have retried
            self.after_down = AfterDown("restart")
        else:
            self.after_down = AfterDown("resume", self._resume_point())
        self._freeze(at)
        self.epoch += 1
        self.next_attempt = None
        if self.agent_lost is None:
            self.agent_lost = at
        self._changed(at)
        self._at(at, self._timing("agent_not_seen_seconds"), self._not_seen)

    def _await_machine(self, point: ResumePoint, at: datetime) -> None:
        """Reached ``point`` while the machine is down: no agent to hand it to, so it waits for the
        machine to run again -- and DRS, not hearing from the agent, reports it as for any machine
        that is down."""
        self.after_down = AfterDown("resume", point)
        self._at(at, self._timing("agent_not_seen_seconds"), self._not_seen)

    def _not_seen(self, at: datetime) -> None:
        if self.state == "DISCONNECTED":
            return
        self.state = "DISCONNECTED"
        self.error = "AGENT_NOT_SEEN"
        self._changed(at)

    def machine_up(self, at: datetime) -> None:
        """The source machine runs again: the agent reconnects and replication goes on."""
        if self.down_since is None:
            return
        self.down_since = None
        after, self.after_down = self.after_down, None
        deferred, self.deferred_fault = self.deferred_fault, None
        if self.state == "NOT_STARTED" or self.zeroed:  # disconnected meanwhile: the agent uninstalls itself
            return
        if self.state == "STOPPED" or after is None:
            self.connect_agent(at)
            self.version += 1
            return
        self.epoch += 1
        if after.action == "hold":
            self.state, self.error = after.state, after.error
            if self.state != "DISCONNECTED":  # a DISCONNECTED fault keeps the agent unseen
                self.connect_agent(at)
            self._changed(at)
            return
        self.connect_agent(at)
        self.error = None
        if after.action == "restart":
            self.start(at)
        else:
            self._continue(after.point, at, rescan=True)
        if deferred is not None and deferred is self.fault:
            self._strike(deferred, at)

    def forget_machine(self) -> None:
        """The server replicates from another machine now: the old one being down no longer matters."""
        self.down_since = None
        self.after_down = None
        self.deferred_fault = None

    # Operations ----------------------------------------------------------------------------
    def stop(self, at: datetime) -> None:
        """StopReplication: no replication, snapshots deleted, agent still connected."""
        self._freeze(at)
        self.epoch += 1
        self.resume = None
        self.state = "STOPPED"
        self.error = None
        self.next_attempt = None
        self.periods = []
        self.ended = at
        self._changed(at)

    def disconnect(self, at: datetime) -> None:
        """DisconnectSourceServer: DISCONNECTED, totals zero, lag gone, agent no longer seen."""
        self._freeze(at)
        self.epoch += 1
        self.resume = None
        self.state = "DISCONNECTED"
        self.error = None
        self.next_attempt = None
        self.periods = []
        self.zeroed = True
        self.agent_lost = at
        self.ended = at
        self._changed(at)

    def reset(self, at: datetime) -> None:
        """Back to NOT_STARTED (StopFailback)."""
        epoch = self.epoch + 1
        self.__init__(
            self.world,
            self.disks,
            self.rate,
            self.step_names,
            self.step_timing_key,
            self.snapshot_phase,
            self.on_change,
        )
        self.epoch = epoch  # events planned before the reset must not match a later epoch
        self.on_change(self.state, at)

    # Reading -----------------------------------------------------------------------------
    @property
    def moving(self) -> bool:
        """Whether what it reports changes with time alone (bytes flowing, lag growing)."""
        return self.progress_at is not None or (
            self.cdp_left is not None and self.state not in ("CONTINUOUS", "STOPPED") and not self.zeroed
        )

    def replicated_bytes(self, now: datetime) -> list[float]:
        if self.progress_at is None:
            return list(self.replicated)
        flowed = max(0.0, (now - self.progress_at).total_seconds()) * self.rate
        return [min(float(total), done + flowed) for (_, total), done in zip(self.disks, self.replicated, strict=True)]

    def lag_seconds(self, now: datetime) -> float | None:
        """Time since the server was last in continuous protection (DRS's definition of lag).

        None before the first continuous period, when STOPPED, and after DisconnectSourceServer
        ("lagDuration ... will be nullified"); a server DISCONNECTED because its agent is not
        seen keeps its replicated data, and its lag keeps growing.
        """
        base = self._timing("continuous_lag_seconds")
        if self.state == "CONTINUOUS":
            return base
        if self.cdp_left is None or self.state == "STOPPED" or self.zeroed:
            return None
        return base + (now - self.cdp_left).total_seconds()

    def rescanned_bytes(self, now: datetime) -> list[int]:
        """Bytes rescanned per disk: growing during a rescan, half of each disk for a fleet RESCAN server."""
        if self.state != "RESCAN":
            return [0] * len(self.disks)
        if self.rescan_start is None:
            return list(self.rescanned) if self.rescanned is not None else [total // 2 for _, total in self.disks]
        done = max(0.0, (now - self.rescan_start).total_seconds()) * self.rate
        return [int(min(float(total), done)) for _, total in self.disks]

    def elapsed_seconds(self, start: datetime, now: datetime) -> float:
        return ((self.ended or now) - start).total_seconds()

    def snapshot_times(self, now: datetime) -> list[datetime]:
        """Point-in-time snapshots under DRS's default policy, oldest first.

        While continuous a snapshot is taken every snapshot_interval_seconds; DRS keeps
        each one for the last hour, the first of each hour for the last 24 hours and the
        first of each day for snapshot_retention_seconds (the "Day" rule).
        """
        interval = self._timing("snapshot_interval_seconds")
        oldest = now - timedelta(seconds=self._timing("snapshot_retention_seconds"))
        kept: list[datetime] = []
        buckets: set[tuple[str, int]] = set()
        for when in self._taken(now, oldest, interval):
            age = (now - when).total_seconds()
            if age > 86400:
                bucket = ("day", int(when.timestamp() // 86400))
            elif age > 3600:
                bucket = ("hour", int(when.timestamp() // 3600))
            else:
                kept.append(when)
                continue
            if bucket not in buckets:
                buckets.add(bucket)
                kept.append(when)
        return kept

    def _taken(self, now: datetime, oldest: datetime, interval: float):
        """Every snapshot taken since ``oldest``: one each interval of each continuous period."""
        for start, end in self.periods:
            last = min(end or now, now)
            if interval <= 0:
                if oldest <= start <= last:
                    yield start
                continue
            first = 0 if start >= oldest else math.ceil((oldest - start).total_seconds() / interval)
            count = math.floor((last - start).total_seconds() / interval)
            for k in range(first, count + 1):
                yield start + timedelta(seconds=k * interval)
