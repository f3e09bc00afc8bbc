# Copyright: Contributors to drs.orchestration
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Recovery instances as an operator reads them: origin, drill flag, failback progress, next step.

A recovery instance (``DescribeRecoveryInstances`` item) says little by itself about
failback: its hostname, its origin region and the reversed-direction source server
live on source servers (ERRATA rows 2 and 11). This file joins them, in a fixed number
of calls whatever the fleet size:

* one paginated DescribeRecoveryInstances (recovery instance IDs chunked by the
  filter's model maximum of 200);
* one DescribeSourceServers sweep of the recovery region for their source servers
  (hostname, origin, ``reversedDirectionSourceServerArn``);
* one DescribeSourceServers sweep per origin region for the reversed-direction source
  servers (their replication state is what "ready for failback" means for origin AWS);
* one DescribeJobs by job ID, only for origin-AWS recovery instances whose source server no
  longer names the job that launched them: a recovery instance's failback cycle starts with
  its launch (:func:`in_this_cycle`).

Facts from the service model (botocore ``drs`` 2020-02-26) relied on here:

* ``failback.state`` is the ``FailbackState`` enum (7 values, ERRATA row 3);
  ``failback.failbackToOriginalServer`` is a Boolean (ERRATA row 2);
* ``dataReplicationInfo`` of a recovery instance uses
  ``RecoveryInstanceDataReplicationState`` (adds NOT_STARTED and
  REPLICATION_STATE_NOT_AVAILABLE) and 18 initiation steps, the Failback Client's
  steps first (ERRATA row 9);
* ``lagDuration`` and ``failback.elapsedReplicationDuration`` are typed as date-time
  strings on recovery instances (ERRATA row 12): read as a duration or as "since".

Records never raise on missing members or enum values AWS adds later.
"""

from __future__ import annotations

from .aws import chunked, is_aws_error, read_error
from .errors import IncompleteReadError, InputError
from .records import (
    REPLICATION_STEPS,
    StepTable,
    as_dict,
    as_list,
    as_text,
    disk,
    disk_progress,
    initiation,
    iso_text,
    label,
    progress_text,
    replication_error,
    rescan_progress,
)
from .timeutil import duration_or_since, format_duration, parse_datetime, service_now
from .validation import check_ids, check_regions

# DescribeRecoveryInstancesRequestFilters.recoveryInstanceIDs: at most 200 items.
ID_FILTER_MAX = 200

# --- The vocabulary of the model --------------------------------------------------------
# A unit test checks these against the botocore model so an update cannot drift silently.

# FailbackState -> the console's label (the brief's "Not started / Synchronizing / Ready /
# Completed / Error"). NOT_READY_FOR_LAUNCH means data is still being synchronised;
# LAUNCH_STATE_NOT_AVAILABLE means DRS cannot tell, which for an operator is "not started".
FAILBACK_STATE_LABELS = {
    "FAILBACK_NOT_STARTED": "Not started",
    "FAILBACK_IN_PROGRESS": "Synchronizing",
    "FAILBACK_READY_FOR_LAUNCH": "Ready",
    "FAILBACK_COMPLETED": "Completed",
    "FAILBACK_ERROR": "Error",
    "FAILBACK_NOT_READY_FOR_LAUNCH": "Synchronizing",
    "FAILBACK_LAUNCH_STATE_NOT_AVAILABLE": "Not started",
}
FAILBACK_LABELS = ("Not started", "Synchronizing", "Ready", "Completed", "Error")
# LaunchStatus (lifeCycle.lastLaunch.status) of the launch that created a recovery instance -> what an operator reads
# (the brief's ``lastLaunchResult``: "Launch successful").
LAUNCH_STATUS_LABELS = {
    "PENDING": "Launch pending",
    "IN_PROGRESS": "Launch in progress",
    "LAUNCHED": "Launch successful",
    "FAILED": "Launch failed",
    "TERMINATED": "Terminated",
}
# reverse_replication_status of an origin-AWS recovery instance whose source server names a
# reversed-direction source server that was not read (include_reversed false) or that belongs to
# another account than the recovery instance (these credentials cannot see it): whether reverse
# replication runs is not known. A server of the same account missing from its Region's sweep is
# gone (deleted): the instance is simply not reversed.
UNKNOWN_STATUS = "Unknown"

REPLICATION_STATE_LABELS = {
    "STOPPED": "Stopped",
    "INITIATING": "Initiating",
    "INITIAL_SYNC": "Initial sync",
    "BACKLOG": "Backlog",
    "CREATING_SNAPSHOT": "Creating snapshot",
    "CONTINUOUS": "Continuous",
    "PAUSED": "Paused",
    "RESCAN": "Rescan",
    "STALLED": "Stalled",
    "DISCONNECTED": "Disconnected",
    "REPLICATION_STATE_NOT_AVAILABLE": "Not available",
    "NOT_STARTED": "Not started",
}

# The 18 RecoveryInstanceDataReplicationInitiationStepName values in model (= execution)
# order: the Failback Client's own steps, then the replication set-up source servers share.
INITIATION_STEPS = (
    ("LINK_FAILBACK_CLIENT_WITH_RECOVERY_INSTANCE", "Link Failback Client with recovery instance"),
    ("COMPLETE_VOLUME_MAPPING", "Complete volume mapping"),
    ("ESTABLISH_RECOVERY_INSTANCE_COMMUNICATION", "Establish recovery instance communication"),
    ("DOWNLOAD_REPLICATION_SOFTWARE_TO_FAILBACK_CLIENT", "Download replication software to Failback Client"),
    ("CONFIGURE_REPLICATION_SOFTWARE", "Configure replication software"),
    ("PAIR_AGENT_WITH_REPLICATION_SOFTWARE", "Pair agent with replication software"),
    ("ESTABLISH_AGENT_REPLICATOR_SOFTWARE_COMMUNICATION", "Establish agent and replicator communication"),
) + REPLICATION_STEPS
_STEPS = StepTable(INITIATION_STEPS)

# Source server replication states in which a reversed-direction server is not moving data.
INACTIVE_REPLICATION_STATES = frozenset({"STOPPED"})
# States that need an operator (the same ones the replication wait fails on).
TROUBLE_REPLICATION_STATES = frozenset({"STALLED", "DISCONNECTED"})
GONE_EC2_STATES = frozenset({"TERMINATED", "NOT_FOUND", "SHUTTING-DOWN"})


# --- Labels ----------------------------------------------------------------------------------


def failback_label(state):
    """The console label of a FailbackState; an unknown future value reads as itself."""
    return label(state, FAILBACK_STATE_LABELS, "Not started")


def replication_label(state):
    return label(state, REPLICATION_STATE_LABELS, "Unknown")


# --- ARNs ----------------------------------------------------------------------------------


def parse_source_server_arn(arn):
    """Region, account and ID from a source server ARN (``arn:aws:drs:REGION:ACCOUNT:source-server/s-...``).

    Returns None for anything that is not a source server ARN.
    """
    if not isinstance(arn, str):
        return None
    parts = arn.split(":", 5)
    if len(parts) != 6 or parts[0] != "arn" or not parts[5].startswith("source-server/"):
        return None
    server_id = parts[5][len("source-server/") :]
    if not server_id.startswith("s-"):
        return None
    return {
        "arn": arn,
        "partition": parts[1],
        "region": parts[3],
        "account_id": parts[4],
        "source_server_id": server_id,
    }


def arn_account(arn):
    """The account ID of any ARN (``arn:PARTITION:SERVICE:REGION:ACCOUNT:...``), or None."""
    if not isinstance(arn, str):
        return None
    parts = arn.split(":", 5)
    if len(parts) != 6 or parts[0] != "arn" or not parts[4]:
        return None
    return parts[4]


# --- One recovery instance -------------------------------------------------------------------


def _as_source_record(value, region, now):
    """Accept a raw DescribeSourceServers item or a normalised record (replication core)."""
    value = as_dict(value)
    if "source_server_id" in value:
        return value
    from .replication import normalize_source_server

    return normalize_source_server(value, region, now)


def _failback(raw, now):
    state = as_text(raw.get("state"))
    return {
        "state": state,
        "label": failback_label(state),
        "failback_to_original_server": raw.get("failbackToOriginalServer")
        if isinstance(raw.get("failbackToOriginalServer"), bool)
        else None,
        "launch_type": as_text(raw.get("failbackLaunchType")),
        "client_id": as_text(raw.get("failbackClientID")),
        "client_last_seen": iso_text(raw.get("failbackClientLastSeenByServiceDateTime")),
        "agent_last_seen": iso_text(raw.get("agentLastSeenByServiceDateTime")),
        "initiation_time": iso_text(raw.get("failbackInitiationTime")),
        "job_id": as_text(raw.get("failbackJobID")),
        "first_byte": iso_text(raw.get("firstByteDateTime")),
        "elapsed_replication_seconds": duration_or_since(raw.get("elapsedReplicationDuration"), now),
    }


def _replication(raw, now):
    state = as_text(raw.get("dataReplicationState"))
    disks = [disk(d, state == "RESCAN") for d in as_list(raw.get("replicatedDisks"))]
    total, replicated, backlogged, progress = disk_progress(disks, state)
    lag_seconds = duration_or_since(raw.get("lagDuration"), now)
    return {
        "state": state,
        "label": replication_label(state),
        "progress_percent": progress,
        "rescan_percent": rescan_progress(disks, state),
        "total_bytes": total,
        "replicated_bytes": replicated,
        "backlogged_bytes": backlogged,
        "disks": disks,
        "lag": {"iso": format_duration(lag_seconds), "seconds": lag_seconds},
        "eta": iso_text(raw.get("etaDateTime")),
        # The 18 steps in model order (the Failback Client's first); no retry time on recovery instances.
        "initiation": initiation(as_dict(raw.get("dataReplicationInitiation")), _STEPS),
        "error": replication_error(as_dict(raw.get("dataReplicationError")), {}),
        "staging_availability_zone": as_text(raw.get("stagingAvailabilityZone")),
    }


def _hostname(source, raw):
    """The source server's hostname hint, else its FQDN, else the instance's own hints."""
    own = as_dict(as_dict(raw.get("recoveryInstanceProperties")).get("identificationHints"))
    for value in (source.get("hostname"), source.get("fqdn"), own.get("hostname"), own.get("fqdn")):
        if as_text(value):
            return value
    return None


def reversed_server_view(
    arn, server, this_instance_id, region_read=False, instance_account_id=None, cycle_started=None
):
    """The reversed-direction source server as seen from one recovery instance.

    ``belongs_to_this_instance``: the server's identification hint names this recovery
    instance's EC2 instance (or DRS reports no hint), so it is this instance's reversed
    replication and not one left over from an earlier cycle for another instance.
    ``replicating_this_instance``: it belongs and its replication is not stopped.
    ``cycle_started`` (kept only when it belongs): when this instance's failback cycle began,
    its launch (see :func:`in_this_cycle`).
    ``found`` is false when the server is not known: ``region_read`` says whether its Region
    was read with these credentials. ``missing`` is true when it was, the ARN names the
    recovery instance's own account (``instance_account_id``) and the server is not there:
    DRS no longer has it (deleted), so the instance is not reversed. Otherwise (Region not
    read, another account, the account unknown) nothing is known about it, see
    :func:`reversed_unknown`.
    """
    parsed = parse_source_server_arn(arn)
    if parsed is None:
        return None
    same_account = instance_account_id is not None and parsed["account_id"] == instance_account_id
    view = {
        "arn": arn,
        "region": parsed["region"],
        "account_id": parsed["account_id"],
        "source_server_id": parsed["source_server_id"],
        "found": server is not None,
        "region_read": bool(region_read),
        "missing": server is None and bool(region_read) and same_account,
        "data_replication_state": None,
        "state_label": None,
        "replication_direction": None,
        "instance_id": None,
        "progress_percent": None,
        "rescan_percent": None,
        "lag_seconds": None,
        "error": None,
        "recovery_instance_id": None,
        "last_launch": None,
        "replication_started": None,
        "cycle_started": None,
        "belongs_to_this_instance": False,
        "replicating_this_instance": False,
    }
    if server is None:
        return view
    state = server.get("data_replication_state")
    hint = server.get("instance_id")
    belongs = hint is None or hint == this_instance_id
    view.update(
        data_replication_state=state,
        state_label=server.get("state_label") or replication_label(state),
        replication_direction=server.get("replication_direction"),
        instance_id=hint,
        progress_percent=server.get("progress_percent"),
        rescan_percent=server.get("rescan_percent"),
        lag_seconds=as_dict(server.get("lag")).get("seconds"),
        error=server.get("error"),
        recovery_instance_id=server.get("recovery_instance_id"),
        last_launch=as_dict(server.get("lifecycle")).get("last_launch"),
        replication_started=as_dict(server.get("initiation")).get("started"),
        cycle_started=cycle_started if belongs else None,
        belongs_to_this_instance=belongs,
        replicating_this_instance=belongs and state is not None and state not in INACTIVE_REPLICATION_STATES,
    )
    return view


def launch_time(raw, source, launch_times=None):
    """When this recovery instance was launched (its launch job's start, ISO text), or None when not known.

    ``jobID`` is "the ID of the Job that created the Recovery Instance" (model). The source
    server's ``lifeCycle.lastLaunch`` gives that job's ``apiCallDateTime`` while it names
    the job (no later launch of the server); otherwise ``launch_times`` may hold the job's
    ``creationDateTime`` (:func:`read_launch_times`).

    :param source: the source server record (replication core) of the instance, or {}
    """
    raw = as_dict(raw)
    known = (launch_times or {}).get(as_text(raw.get("recoveryInstanceID")))
    if known:
        return known
    job = as_text(raw.get("jobID"))
    last = as_dict(as_dict(as_dict(source).get("lifecycle")).get("last_launch"))
    return last.get("initiated") if job and last.get("job_id") == job else None


def launch_status(raw, source):
    """The status of the launch that created this recovery instance (``LaunchStatus``), or None.

    Known while its source server's ``lifeCycle.lastLaunch`` names the instance's job
    (``jobID``); after a later launch of the server it is not (its job's log would tell).

    :param source: the source server record (replication core) of the instance, or {}
    """
    job = as_text(as_dict(raw).get("jobID"))
    last = as_dict(as_dict(as_dict(source).get("lifecycle")).get("last_launch"))
    return last.get("status") if job and last.get("job_id") == job else None


def normalize_recovery_instance(
    raw, region, now, source_servers=None, reversed_servers=None, reversed_regions=(), launch_times=None
):
    """The stable record of one DescribeRecoveryInstances item.

    :param raw: one item of ``DescribeRecoveryInstances.items`` (plain dict)
    :param region: the region it was read in
    :param now: the service's current time (aware datetime), for ages
    :param source_servers: ``{source_server_id: item}`` of the recovery region, raw
        DescribeSourceServers items or records of the replication core; gives the
        hostname, the origin region and the reversed-direction source server ARN
    :param reversed_servers: ``{source_server_id: record}`` of reversed-direction source
        servers (any region), to report their state and derive readiness
    :param reversed_regions: the regions whose source servers were read into
        ``reversed_servers`` (a reversed-direction server of the instance's own account that
        is missing from its region's read is gone; one never looked for is unknown)
    :param launch_times: ``{recovery_instance_id: creation time of its launch job}`` for the
        instances whose source server no longer names that job (:func:`read_launch_times`)
    """
    raw = as_dict(raw)
    source_servers = source_servers or {}
    reversed_servers = reversed_servers or {}
    source_id = as_text(raw.get("sourceServerID"))
    source = _as_source_record(source_servers.get(source_id), region, now) if source_id in source_servers else {}
    ec2_id = as_text(raw.get("ec2InstanceID"))
    origin = as_text(raw.get("originEnvironment"))
    arn = source.get("reversed_direction_source_server_arn")
    parsed = parse_source_server_arn(arn)
    reversed_record = reversed_servers.get(parsed["source_server_id"]) if parsed else None
    launched = launch_time(raw, source, launch_times)
    point_in_time = iso_text(raw.get("pointInTimeSnapshotDateTime"))
    record = {
        "recovery_instance_id": as_text(raw.get("recoveryInstanceID")),
        "ec2_instance_id": ec2_id,
        "ec2_instance_state": as_text(raw.get("ec2InstanceState")),
        "arn": as_text(raw.get("arn")),
        "region": region,
        "source_server_id": source_id,
        "source_server_found": bool(source),
        "source_hostname": _hostname(source, raw),
        "source_replication_direction": source.get("replication_direction"),
        "source_instance_id": source.get("instance_id"),
        "source_data_replication_state": source.get("data_replication_state"),
        "origin_environment": origin,
        "origin_region": as_dict(source.get("origin")).get("region") if origin == "AWS" else None,
        "origin_availability_zone": as_text(raw.get("originAvailabilityZone")),
        "is_drill": raw.get("isDrill") if isinstance(raw.get("isDrill"), bool) else None,
        "job_id": as_text(raw.get("jobID")),
        "point_in_time": point_in_time,
        "launch_time": launched,
        "launch_status": launch_status(raw, source),
        "agent_version": as_text(raw.get("agentVersion")),
        "failback": _failback(as_dict(raw.get("failback")), now),
        "replication": _replication(as_dict(raw.get("dataReplicationInfo")), now),
        "reversed_direction_source_server": reversed_server_view(
            arn,
            reversed_record,
            ec2_id,
            region_read=bool(parsed) and parsed["region"] in reversed_regions,
            instance_account_id=arn_account(raw.get("arn")),
            # the launch; when not known, the point in time it was launched from (never later)
            cycle_started=launched or point_in_time,
        )
        if arn
        else None,
        "tags": {str(k): str(v) for k, v in as_dict(raw.get("tags")).items()},
    }
    if record["origin_region"] is None and origin == "AWS" and parsed:
        record["origin_region"] = parsed["region"]
    record["reverse_replication_status"] = reverse_replication_status(record)
    record["pending_action"] = pending_action(record)
    return record


# --- What an operator reads ------------------------------------------------------------------


def is_gone(record):
    return record["ec2_instance_state"] in GONE_EC2_STATES


def reversed_unknown(record):
    """The reversed-direction server's view when its ARN is known but nothing about the server, else None.

    That is: its Region was not read, or the ARN names another account than the recovery
    instance's (or the instance's account is unknown), so not finding it says nothing. Then
    whether reverse replication runs for the instance cannot be told: it is reported as
    :data:`UNKNOWN_STATUS` with no pending action, and failback refuses to act on it. A
    server of the instance's own account missing from its Region (``missing``) is not
    unknown: it is gone.
    """
    view = record.get("reversed_direction_source_server")
    return view if view and not view["found"] and not view.get("missing") else None


def reversed_missing(record):
    """The reversed-direction server's view when DRS no longer has it (deleted), else None."""
    view = record.get("reversed_direction_source_server")
    return view if view and view.get("missing") else None


def own_reversed_server(record):
    """This instance's reversed-direction source server (origin AWS), stopped or not; else None."""
    view = record.get("reversed_direction_source_server")
    return view if view and view["belongs_to_this_instance"] else None


def reversed_active(record):
    """The reversed-direction source server replicating this instance now, or None."""
    view = own_reversed_server(record)
    return view if view and view["replicating_this_instance"] else None


def in_this_cycle(view, when):
    """True unless ``when`` (a launch, a snapshot) is known to predate the failback cycle the view is about.

    For a recovery instance's own reversed-direction server the cycle starts with that
    instance's launch (``cycle_started``): whatever was launched from the server since then
    is this instance's failback, however often the server's replication was stopped and
    started again since (each restart moves its ``dataReplicationInitiation.startDateTime``).
    A launch from before it belongs to an earlier cycle (an earlier recovery instance's
    failback, or the original recovery seen from a failback instance). Without a known
    launch, the server's current replication start is the cycle's start.
    """
    if not view:
        return True
    started = parse_datetime(view.get("cycle_started") or view.get("replication_started"))
    at = parse_datetime(when)
    return started is None or at is None or at >= started


def launched_from_reversed(view):
    """True when a production failback launch from the reversed-direction server succeeded in this cycle."""
    launch = as_dict(view.get("last_launch")) if view else {}
    return (
        launch.get("type") == "RECOVERY"
        and launch.get("status") == "LAUNCHED"
        and in_this_cycle(view, launch.get("initiated"))
    )


def reverse_replication_status(record):
    """One of Not started / Synchronizing / Ready / Completed / Error (or Unknown), for both origins.

    On-premises origin: the label of ``failback.state``. Origin AWS: derived from the
    reversed-direction source server, because the recovery instance's failback state is
    not documented to move in that path (ERRATA "Failback, as AWS documents it").

    A failback instance (launched in the origin Region from a reversed-direction server)
    has failed back: ``Completed``. Reverse replication from it re-protects it towards the
    recovery Region (API reference, ReverseReplication); it is no failback to come, so it
    is never ``Ready``, and ``Error`` only while that re-protection is in trouble.

    ``Unknown`` (origin AWS): the source server names a reversed-direction server that was
    not read or belongs to another account (:func:`reversed_unknown`). One of the instance's
    own account that its Region's read did not find is gone: ``Not started``.
    """
    if record["origin_environment"] != "AWS":
        return record["failback"]["label"]
    if record["source_replication_direction"] == "FAILBACK" and not record["is_drill"]:
        view = reversed_active(record)
        return "Error" if view is not None and _trouble_text(view) else "Completed"
    if not record["is_drill"] and reversed_unknown(record):
        return UNKNOWN_STATUS
    view = own_reversed_server(record)
    if view is not None and launched_from_reversed(view):
        return "Completed"
    view = reversed_active(record)
    if view is None:
        return "Not started"
    state = view["data_replication_state"]
    if state in TROUBLE_REPLICATION_STATES or view["error"]:
        return "Error"
    return "Ready" if state == "CONTINUOUS" else "Synchronizing"


def _view_progress(view):
    """Where a reversed-direction source server's replication stands (``progress_text``)."""
    return progress_text(view["data_replication_state"], view["progress_percent"], rescan=view["rescan_percent"])


def pending_action(record):
    """What the operator should do next with this recovery instance, or None."""
    if is_gone(record):
        return None
    if record["is_drill"]:
        return "Terminate the drill instance once the drill is verified (drill instances are not failed back)."
    if record["origin_environment"] == "AWS":
        return _pending_aws(record)
    return _pending_on_premises(record)


def reprotected_state(record):
    """The replication state of this instance's own source server once it replicates the failback instance.

    After a failback launched from the reversed-direction source server, re-protection
    (ReverseReplication on the failback instance) makes this instance's source server
    replicate the failback instance. None while that is not (yet) the case.
    """
    view = own_reversed_server(record)
    if not launched_from_reversed(view):
        return None
    failback_instance = view["recovery_instance_id"]
    state = record["source_data_replication_state"]
    if not failback_instance or record["source_instance_id"] != failback_instance:
        return None
    return None if state in INACTIVE_REPLICATION_STATES else state


def _pending_aws(record):
    if reversed_unknown(record):
        return None  # the reversed-direction server was not read: nothing can be said
    origin = record["origin_region"] or "the origin region"
    view = own_reversed_server(record)
    if launched_from_reversed(view):
        where = view["region"]
        protected = reprotected_state(record)
        if protected == "CONTINUOUS":
            return None
        if protected:
            return f"Wait for re-protection replication to {record['region']} ({protected})."
        return (
            f"Re-protect failback instance {view['recovery_instance_id']} in {where}: start reversed replication on it."
        )
    if record["source_replication_direction"] == "FAILBACK":
        return _pending_failback_instance(record)
    view = reversed_active(record)
    if view is None:
        gone = reversed_missing(record)
        if gone:
            return (
                f"Start reversed replication to {origin}: the reversed-direction source server "
                f"{gone['source_server_id']} that source server {record['source_server_id']} names is no longer "
                f"in {gone['region']} (deleted)."
            )
        return f"Start reversed replication to {origin}."
    where = view["region"]
    state = view["data_replication_state"]
    problem = _trouble_text(view)
    if problem:
        return f"Fix reversed replication of {view['source_server_id']} in {where} ({problem})."
    if state == "CONTINUOUS":
        return f"Launch for failback in {where} (source server {view['source_server_id']})."
    return f"Wait for reversed replication to {where} ({_view_progress(view)})."


def _pending_failback_instance(record):
    """A failback instance (launched from a reversed-direction server): re-protect it, then nothing."""
    view = reversed_active(record)
    if view is None:
        target = record["origin_region"] or "the recovery Region"
        return f"Re-protect this failback instance: start reversed replication to {target}."
    state = view["data_replication_state"]
    problem = _trouble_text(view)
    if problem:
        return f"Fix re-protection replication of {view['source_server_id']} in {view['region']} ({problem})."
    if state == "CONTINUOUS":
        return None
    return f"Wait for re-protection replication to {view['region']} ({_view_progress(view)})."


def _trouble_text(view):
    state = view["data_replication_state"]
    if state in TROUBLE_REPLICATION_STATES or view["error"]:
        code = as_dict(view["error"]).get("code")
        return f"{state}{', error ' + code if code else ''}"
    return None


def _pending_on_premises(record):
    state = record["failback"]["state"]
    replication = record["replication"]
    if state == "FAILBACK_COMPLETED":
        return _pending_reprotection_on_premises(record)
    if state == "FAILBACK_READY_FOR_LAUNCH":
        return "Launch failback (StartFailbackLaunch): the failback target is synchronised."
    if state == "FAILBACK_ERROR" or replication["error"]:
        code = as_dict(replication["error"]).get("code")
        what = f"the failback error {code}" if code else "the failback error"
        return f"Investigate {what}; stop failback and run the Failback Client again."
    if state in ("FAILBACK_IN_PROGRESS", "FAILBACK_NOT_READY_FOR_LAUNCH"):
        if replication["state"] in TROUBLE_REPLICATION_STATES:
            return f"Fix failback replication ({replication['state']}): check the Failback Client's network."
        step = replication["initiation"]["current_step"]
        where = progress_text(
            replication["state"], replication["progress_percent"], step, replication["rescan_percent"]
        )
        return f"Wait for failback replication ({where})."
    return "Boot the Failback Client on the failback target and pair it with this recovery instance."


def _pending_reprotection_on_premises(record):
    """After an on-premises failback: what keeps the failed-back server from being protected again, or None.

    The failed-back server is protected again once its source server replicates it
    (CONTINUOUS). No DRS call of this collection does that: the AWS Replication Agent on the
    failed-back server reconnects to the source server, which an operator checks (and starts
    again with StartReplication when it was STOPPED).
    """
    server, state = record["source_server_id"], record["source_data_replication_state"]
    if state == "CONTINUOUS":
        return None
    if not record["source_server_found"]:
        return (
            f"Protect the failed-back server again: its source server {server} is not in {record['region']}; "
            "install the AWS Replication Agent on it."
        )
    if state in INACTIVE_REPLICATION_STATES:
        return (
            f"Start data replication of source server {server} again (StartReplication: it is {state}) to protect "
            "the failed-back server again."
        )
    if state in TROUBLE_REPLICATION_STATES:
        return (
            f"Check source server {server} ({state}): the AWS Replication Agent on the failed-back server must run "
            "and reach DRS for it to be protected again."
        )
    return f"Wait for source server {server} to replicate the failed-back server again ({state or 'state unknown'})."


# --- Reading them --------------------------------------------------------------------------


def describe_raw(clients, region, recovery_instance_ids=(), source_server_ids=()):
    """Raw items and the service time: one paginated DescribeRecoveryInstances per ID chunk."""
    reader = clients.reader("drs", region)
    paginator = reader.get_paginator("describe_recovery_instances")
    if recovery_instance_ids:
        filters = [{"recoveryInstanceIDs": chunk} for chunk in chunked(recovery_instance_ids, ID_FILTER_MAX)]
    elif source_server_ids:
        filters = [{"sourceServerIDs": chunk} for chunk in chunked(source_server_ids, ID_FILTER_MAX)]
    else:
        filters = [{}]
    items, now = {}, None
    for flt in filters:
        for page in paginator.paginate(filters=flt):
            now = now or service_now(page)
            for item in page.get("items") or ():
                if source_server_ids and item.get("sourceServerID") not in source_server_ids:
                    continue
                items[item.get("recoveryInstanceID")] = item
    return list(items.values()), now or service_now(None)


def source_servers_by_id(clients, region, source_server_ids):
    """``{source_server_id: record}`` of the replication core for these IDs (one sweep)."""
    ids = [i for i in dict.fromkeys(source_server_ids) if i]
    if not ids:
        return {}
    from .replication import describe_replication

    result = describe_replication(clients, [region], source_server_ids=ids)
    return {r["source_server_id"]: r for r in result["servers"]}


def reversed_servers_by_id(clients, arns):
    """Reversed-direction source servers named by ARNs: one sweep per region they live in."""
    by_region = {}
    for arn in arns:
        parsed = parse_source_server_arn(arn)
        if parsed:
            by_region.setdefault(parsed["region"], []).append(parsed["source_server_id"])
    found = {}
    for region, ids in sorted(by_region.items()):
        found.update(source_servers_by_id(clients, region, ids))
    return found


def _needs_launch_job(item, sources, reversed_records):
    """True for an origin-AWS recovery instance whose launch time decides its failback cycle and is not known yet.

    That is a non-drill instance whose own reversed-direction source server was read (what
    was launched from that server counts only from this instance's launch on) while its
    source server's ``lifeCycle.lastLaunch`` names another job than the instance's.
    """
    if item.get("originEnvironment") != "AWS" or item.get("isDrill") or not item.get("jobID"):
        return False
    source = sources.get(item.get("sourceServerID"))
    if not source or launch_time(item, source):
        return False
    parsed = parse_source_server_arn(source.get("reversed_direction_source_server_arn"))
    server = reversed_records.get(parsed["source_server_id"]) if parsed else None
    return server is not None and server.get("instance_id") in (None, item.get("ec2InstanceID"))


def read_launch_times(clients, region, items):
    """``{recovery_instance_id: creation time of its launch job, or None}``: one DescribeJobs round by job ID.

    None for a job DRS no longer returns: the instance's point in time then stands for its
    launch (it is never later).
    """
    jobs = sorted({i["jobID"] for i in items})
    if not jobs:
        return {}
    from .jobs import describe_jobs

    created = {job["job_id"]: job["creation_time"] for job in describe_jobs(clients, region, job_ids=jobs)}
    return {i.get("recoveryInstanceID"): created.get(i["jobID"]) for i in items}


def read_context(
    clients, region, recovery_instance_ids=(), source_server_ids=(), include_reversed=True, launch_times=None
):
    """Everything the records of a region need, read in a fixed number of calls.

    :param launch_times: launch times already read (by an earlier round of the same run):
        not read again
    :returns: ``{"items": raw recovery instances, "sources": {id: source server record},
        "reversed": {id: reversed-direction source server record}, "reversed_regions": the
        regions read for them, "launch_times": {recovery instance id: launch time} of the
        instances that need one read (:func:`read_launch_times`), "now": service time}``
    """
    items, now = describe_raw(clients, region, list(recovery_instance_ids), list(source_server_ids))
    sources = source_servers_by_id(clients, region, [i.get("sourceServerID") for i in items])
    reversed_records, reversed_regions = {}, set()
    known = dict(launch_times or {})
    if include_reversed:
        arns = [a for a in (s.get("reversed_direction_source_server_arn") for s in sources.values()) if a]
        reversed_records = reversed_servers_by_id(clients, arns)
        reversed_regions = {p["region"] for p in map(parse_source_server_arn, arns) if p}
        wanted = [
            i
            for i in items
            if i.get("recoveryInstanceID") not in known and _needs_launch_job(i, sources, reversed_records)
        ]
        known.update(read_launch_times(clients, region, wanted))
    return {
        "items": items,
        "sources": sources,
        "reversed": reversed_records,
        "reversed_regions": reversed_regions,
        "launch_times": known,
        "now": now,
    }


def describe_recovery_instances(
    clients, region, recovery_instance_ids=None, source_server_ids=None, include_reversed=True
):
    """Recovery instances of a region as records (see :func:`normalize_recovery_instance`).

    :param recovery_instance_ids: only these (IDs DRS does not know are simply absent)
    :param source_server_ids: only the recovery instances of these source servers
    :param include_reversed: also read the reversed-direction source servers in their
        regions (their state is what readiness means for origin AWS)
    :returns: list of records, sorted by hostname then ID
    """
    ids = check_ids(recovery_instance_ids, "recovery_instance", "recovery_instance_ids")
    servers = check_ids(source_server_ids, "source_server", "source_server_ids")
    if ids and servers:
        raise InputError("Give recovery_instance_ids or source_server_ids, not both.")
    context = read_context(clients, region, ids, servers, include_reversed)
    records = [
        normalize_recovery_instance(
            i,
            region,
            context["now"],
            context["sources"],
            context["reversed"],
            context["reversed_regions"],
            context["launch_times"],
        )
        for i in context["items"]
    ]
    return sort_records(records)


def sort_records(records):
    return sorted(
        records,
        key=lambda r: ((r["source_hostname"] or "").lower(), r["region"] or "", r["recovery_instance_id"] or ""),
    )


ORIGIN_ENVIRONMENTS = ("AWS", "ON_PREMISES")


def recovery_instance_info(
    clients,
    regions=None,
    recovery_instance_ids=None,
    source_server_ids=None,
    origin_environment=None,
    drill=None,
    include_terminated=True,
    include_reversed=True,
):
    """What ``drs_recovery_instance_info`` returns: the recovery instances of one or more regions.

    Each region costs what :func:`describe_recovery_instances` costs; a region that cannot
    be read (DRS not initialized there, no permission) does not hide the others.

    :param regions: recovery regions; None means the clients' region
    :param origin_environment: only ``AWS`` or only ``ON_PREMISES`` origins
    :param drill: True only drill instances, False only recovery instances, None both
    :param include_terminated: also the instances whose EC2 instance is terminated or gone
    :returns: ``{"regions", "recovery_instances", "missing", "summary", "errors"}``;
        ``missing`` lists requested recovery instance IDs no region read had
    :raises IncompleteReadError: when a region could not be read, with that result
        (the other regions' records, ``errors`` naming the region) in its details
    """
    regions = check_regions(regions, clients.region)
    ids = check_ids(recovery_instance_ids, "recovery_instance", "recovery_instance_ids")  # for ``missing``
    if origin_environment is not None and origin_environment not in ORIGIN_ENVIRONMENTS:
        raise InputError(f"origin_environment: {origin_environment!r} is not one of {', '.join(ORIGIN_ENVIRONMENTS)}.")
    records, errors = [], []
    for region in regions:
        try:
            # it checks the IDs (and that not both are given) before its first call
            records += describe_recovery_instances(clients, region, ids, source_server_ids, include_reversed)
        except Exception as exc:
            if not is_aws_error(exc):
                raise
            errors.append(read_error(region, "DescribeRecoveryInstances", exc))
    found = {r["recovery_instance_id"] for r in records}
    records = sort_records(select_records(records, origin_environment, drill, include_terminated))
    result = {
        "regions": list(regions),
        "recovery_instances": records,
        "missing": [i for i in ids if i not in found],
        "summary": summarize_records(records),
        "errors": errors,
    }
    if errors:
        failed = {e["region"] for e in errors}
        parts = [f"{e['region']} ({e['operation']}: {e['code']}: {e['message']})" for e in errors]
        read = [r for r in regions if r not in failed]
        raise IncompleteReadError(
            "Recovery instances could not be read in " + "; ".join(parts) + ". "
            f"What was read: {len(records)} recovery instance{'' if len(records) == 1 else 's'} in "
            f"{', '.join(read) or 'no region'}. "
            "Initialize DRS in those regions or leave them out of regions, and check the role's permissions "
            "(drs:DescribeRecoveryInstances and drs:DescribeSourceServers, also in the origin regions, and "
            "drs:DescribeJobs).",
            **result,
        )
    return result


def select_records(records, origin_environment=None, drill=None, include_terminated=True):
    """The records of this origin, drill flag and EC2 state."""
    return [
        r
        for r in records
        if (origin_environment is None or r["origin_environment"] == origin_environment)
        and (drill is None or bool(r["is_drill"]) == drill)
        and (include_terminated or not is_gone(r))
    ]


def summarize_records(records):
    """Counts by console label, origin and region; drills; instances with an action pending."""
    by_status, by_origin, by_region = {}, {}, {}
    for r in records:
        by_status[r["reverse_replication_status"]] = by_status.get(r["reverse_replication_status"], 0) + 1
        origin = r["origin_environment"] or "UNKNOWN"
        by_origin[origin] = by_origin.get(origin, 0) + 1
        by_region[r["region"]] = by_region.get(r["region"], 0) + 1
    return {
        "total": len(records),
        "by_status": by_status,
        "by_origin": by_origin,
        "by_region": by_region,
        "drills": sum(1 for r in records if r["is_drill"]),
        "pending_actions": sum(1 for r in records if r["pending_action"]),
    }
