# Copyright: Contributors to drs.orchestration
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Readers for the plain dicts DRS returns, and the record parts both record kinds share.

Source servers (:mod:`.replication`) and recovery instances (:mod:`.recovery_instances`)
carry the same kind of ``dataReplicationInfo``: replicated disks, initiation steps and a
replication error. They are read here, once, so both records agree on what a byte count,
a percentage or an unknown enum value becomes.

Every reader degrades instead of raising: AWS may omit any member and may add enum values
later; a missing or malformed member becomes ``None``, ``{}``, ``[]`` or ``0``. No Ansible
import: the Lambda package ships this file as it is.
"""

from __future__ import annotations

import math
from datetime import UTC

from .timeutil import parse_datetime

# The replication set-up steps, in execution order, with labels: all 11
# DataReplicationInitiationStepName values (source servers) and the last 11 of the 18
# RecoveryInstanceDataReplicationInitiationStepName values (recovery instances).
REPLICATION_STEPS = (
    ("WAIT", "Wait"),
    ("CREATE_SECURITY_GROUP", "Create security group"),
    ("LAUNCH_REPLICATION_SERVER", "Launch replication server"),
    ("BOOT_REPLICATION_SERVER", "Boot replication server"),
    ("AUTHENTICATE_WITH_SERVICE", "Authenticate with service"),
    ("DOWNLOAD_REPLICATION_SOFTWARE", "Download replication software"),
    ("CREATE_STAGING_DISKS", "Create staging disks"),
    ("ATTACH_STAGING_DISKS", "Attach staging disks"),
    ("PAIR_REPLICATION_SERVER_WITH_AGENT", "Pair replication server with agent"),
    ("CONNECT_AGENT_TO_REPLICATION_SERVER", "Connect agent to replication server"),
    ("START_DATA_TRANSFER", "Start data transfer"),
)

# Initiation step statuses that count as done (the rest are NOT_STARTED, IN_PROGRESS, FAILED).
STEP_DONE_STATUSES = frozenset({"SUCCEEDED", "SKIPPED"})


# --- Defensive readers -------------------------------------------------------------------


def as_dict(value):
    return value if isinstance(value, dict) else {}


def as_list(value):
    return value if isinstance(value, list) else []


def as_text(value):
    """A non-empty string, else None."""
    return value if isinstance(value, str) and value else None


def as_bytes(value):
    """A non-negative byte count; anything unreadable counts as 0."""
    if isinstance(value, bool):
        return 0
    if isinstance(value, int):
        return max(0, value)
    if isinstance(value, float) and math.isfinite(value):
        return max(0, int(value))
    return 0


def as_time(value):
    """An aware datetime from an ISO 8601 string member; None for anything else."""
    return parse_datetime(value) if isinstance(value, str) else None


def iso_text(value):
    """A string timestamp member as UTC ISO 8601 text; None when absent or unreadable."""
    return utc_text(as_time(value))


def utc_text(at):
    """An aware datetime (or None) as UTC ISO 8601 text."""
    return at.astimezone(UTC).isoformat() if at is not None else None


def percent(part, whole):
    """``part`` of ``whole`` in percent, one decimal, always within 0-100; 100.0 only when complete."""
    if whole <= 0:
        return 0.0
    if part >= whole:
        return 100.0
    return min(round(100.0 * max(part, 0) / whole, 1), 99.9)


def readable(code):
    """A label for an enum value we have no label for (``NEW_STATE`` -> ``New state``)."""
    return code.replace("_", " ").capitalize() if isinstance(code, str) and code else None


def label(code, labels, unknown):
    """``labels[code]``; a code without a label reads as itself; no code at all reads ``unknown``."""
    return labels.get(code) or readable(code) or unknown


# --- Replicated disks --------------------------------------------------------------------


def disk(raw, rescanning):
    """One ``replicatedDisks`` item: device, byte counts and the disk's own progress.

    ``rescanning``: the server is in RESCAN. Only then does the disk get a
    ``rescan_percent`` (rescanned of total, 0-100, see :func:`rescan_progress`), and only
    when it reports its size and a rescanned byte count; otherwise that member is None.
    """
    raw = as_dict(raw)
    total = as_bytes(raw.get("totalStorageBytes"))
    replicated = as_bytes(raw.get("replicatedStorageBytes"))
    rescanned = raw.get("rescannedStorageBytes")
    known = rescanning and total > 0 and _is_count(rescanned)
    return {
        "device": as_text(raw.get("deviceName")),
        "total_bytes": total,
        "replicated_bytes": replicated,
        "rescanned_bytes": as_bytes(rescanned),
        "backlogged_bytes": as_bytes(raw.get("backloggedStorageBytes")),
        "percent": percent(replicated, total),
        "rescan_percent": percent(as_bytes(rescanned), total) if known else None,
    }


def _is_count(value):
    """A byte count AWS actually reported (a finite number), as opposed to a missing or unreadable member."""
    return not isinstance(value, bool) and isinstance(value, int | float) and math.isfinite(value)


def disk_progress(disks, state):
    """``(total, replicated, backlogged, percent)`` over disk records: initial sync weighted by bytes.

    A disk never counts more replicated bytes than it holds. Without byte counts a
    CONTINUOUS server has, by definition, finished its initial sync (100); any other
    state without byte counts has shown no progress yet (0).
    """
    total = replicated = backlogged = 0
    for item in disks:
        total += item["total_bytes"]
        replicated += min(item["replicated_bytes"], item["total_bytes"])
        backlogged += item["backlogged_bytes"]
    if total > 0:
        return total, replicated, backlogged, percent(replicated, total)
    return total, replicated, backlogged, 100.0 if state == "CONTINUOUS" else 0.0


def shown_progress(state, progress, rescan):
    """``(rescanning, percent)``: the figure a replication's progress is shown by.

    In RESCAN the initial sync finished long ago (``progress`` 100): what it waits for is
    the rescan, so its figure is ``rescan`` (None while DRS reports no rescan progress);
    in any other state it is ``progress``, the initial sync by bytes.
    """
    if state == "RESCAN":
        return True, rescan
    return False, progress


def progress_text(state, percent, step=None, rescan=None):
    """Where a replication stands, for messages: ``STATE step X``, ``STATE 42.5%`` (in RESCAN the
    rescan's percent, :func:`shown_progress`) or ``STATE`` alone when no figure is known."""
    _rescanning, figure = shown_progress(state, percent, rescan)
    where = f"step {step}" if step else (f"{figure}%" if figure is not None else "")
    return f"{state or 'state unknown'}{' ' + where if where else ''}"


def rescan_progress(disks, state):
    """How far the rescan of a server in RESCAN has come, in percent weighted by bytes; None when unknown.

    DRS rescans a server's disks after its agent was stopped or lost contact (the source
    machine was stopped and started again, a disconnect). The botocore model documents
    ``rescannedStorageBytes`` only as "The amount of data to be rescanned in bytes"; we
    read it, like ``replicatedStorageBytes`` ("replicated so far"), as the bytes of the
    disk rescanned so far, out of ``totalStorageBytes``, as the name and the same member
    in the Application Migration Service model (``mgn``, the same replication engine:
    "amount of data rescanned in bytes") suggest. The AWS guides do not say, so that
    reading is an assumption, as is that the member is meaningful only in RESCAN.

    Disk records come from :func:`disk` with ``rescanning=True``. None when the server
    is not in RESCAN, or no disk reports both a size and a rescanned byte count; a disk
    that reports a size but no rescanned count counts as not rescanned yet, so the figure
    never overstates; rescanned bytes are capped per disk at its size. Always within
    0-100 (:func:`percent`: 100.0 only when every byte is rescanned).
    """
    if state != "RESCAN":
        return None
    known = [item for item in disks if item.get("rescan_percent") is not None]
    if not known:
        return None
    total = sum(item["total_bytes"] for item in disks)
    rescanned = sum(min(item["rescanned_bytes"], item["total_bytes"]) for item in known)
    return percent(rescanned, total)


# --- Initiation steps --------------------------------------------------------------------


class StepTable:
    """A model's initiation steps in execution order, with labels, numbered once.

    Built once per model (11 steps for source servers, 18 for recovery instances) so
    reading thousands of servers does not rebuild the same lookup for each.
    """

    def __init__(self, steps):
        self.rows = tuple((index, name, text) for index, (name, text) in enumerate(steps, start=1))
        self.names = frozenset(name for name, _label in steps)


def initiation(raw, table):
    """``dataReplicationInitiation``: every step of ``table`` in order with its label and status.

    Steps AWS did not report have status None; step names the table does not know yet
    are kept, after the known ones, labelled from their name. The first report of a name
    wins. This runs once per server of the fleet: one pass over the reported steps, one
    over the table.
    """
    reported, unknown, done = {}, [], 0
    for step in as_list(raw.get("steps")):
        name = step.get("name") if isinstance(step, dict) else None
        if not name or not isinstance(name, str) or name in reported:
            continue
        status = reported[name] = as_text(step.get("status"))
        if status in STEP_DONE_STATUSES:
            done += 1
        if name not in table.names:
            unknown.append(name)
    rows = table.rows
    if unknown:
        rows += tuple((index, name, readable(name)) for index, name in enumerate(unknown, start=len(rows) + 1))
    steps = [{"index": index, "name": name, "label": text, "status": reported.get(name)} for index, name, text in rows]
    statuses = reported.values()
    return {
        "steps": steps,
        "current_step": _first_step(steps, "IN_PROGRESS") if "IN_PROGRESS" in statuses else None,
        "failed_step": _first_step(steps, "FAILED") if "FAILED" in statuses else None,
        "done": done,
        "total": len(steps),
        "started": iso_text(raw.get("startDateTime")),
    }


def _first_step(steps, status):
    return next(step["name"] for step in steps if step["status"] == status)


# --- Errors ------------------------------------------------------------------------------


def replication_error(raw, labels):
    """``dataReplicationError`` as ``{code, raw, label}``; None when it names no error."""
    code, detail = as_text(raw.get("error")), as_text(raw.get("rawError"))
    if not code and not detail:
        return None
    return {"code": code, "raw": detail, "label": labels.get(code) or readable(code)}
