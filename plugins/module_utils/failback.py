# Copyright: Contributors to drs.orchestration
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Failback, declaratively: reverse replication, readiness, failback launch, re-protection, stop.

DRS fails back in two different ways depending on where the recovered server came
from (``originEnvironment``; ERRATA row 4 and "Failback, as AWS documents it"):

* origin AWS (cross-Region): ``ReverseReplication`` on the recovery instance creates
  a reversed-direction source server in the origin Region; once that server is
  CONTINUOUS, the failback is a ``StartRecovery`` of it there (drill or not); then
  ``ReverseReplication`` on the failback instance re-protects it towards the recovery
  Region. Readiness is the reversed-direction server's replication state.
* origin on premises: the Failback Client, booted on the failback target, pairs with
  the recovery instance; ``failback.state`` tracks the sync; ``StartFailbackLaunch``
  launches when it is FAILBACK_READY_FOR_LAUNCH; ``StopFailback`` stops it.

Each recovery instance is placed on one ladder of phases, read from DRS on every round
(nothing is remembered between runs, so an interrupted run picks up where AWS is; within a
run, what the run sent raises the phase, so a read that lags behind DRS never makes it send
a call twice)::

    not_reversed < reversing < ready < launching < launched < protecting < protected

A requested ``state`` (reversed, ready, launched, protected) is reached when the
instance is at or past its rung; asking for a state already reached sends nothing.
``stopped`` is off the ladder: no failback replication running for the instance.

Mutating calls go through writer clients and :func:`retry_throttled`; a failure that
may have executed (:func:`is_ambiguous`) is reconciled by reading DRS again before
anything is sent a second time.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field

from .aws import chunked, error_code, error_message, is_ambiguous, is_aws_error, retry_throttled
from .errors import (
    AmbiguousCallError,
    ConflictError,
    DrsOrchestrationError,
    InputError,
    NotFoundError,
    WaitFailed,
    WaitTimeout,
)
from .recovery_instances import (
    INACTIVE_REPLICATION_STATES,
    TROUBLE_REPLICATION_STATES,
    arn_account,
    describe_raw,
    in_this_cycle,
    is_gone,
    launched_from_reversed,
    normalize_recovery_instance,
    own_reversed_server,
    parse_source_server_arn,
    read_context,
    reversed_active,
    reversed_server_view,
    reversed_unknown,
    sort_records,
)
from .timeutil import parse_datetime
from .validation import check_ids, check_range, check_region
from .waiter import wait_for

STATES = ("reversed", "ready", "launched", "protected", "stopped")
PHASES = ("not_reversed", "reversing", "ready", "launching", "launched", "protecting", "protected")
RANK = {phase: i for i, phase in enumerate(PHASES)}
TARGET_RANK = {"reversed": RANK["reversing"], "ready": RANK["ready"], "launched": RANK["launched"]}
TARGET_RANK["protected"] = RANK["protected"]
LAUNCH_STATES = frozenset({"launched", "protected"})

# StartFailbackLaunchRequest.recoveryInstanceIDs: at most 200 items (model).
FAILBACK_LAUNCH_MAX = 200
ACTIVE_LAUNCH_STATUSES = frozenset({"PENDING", "IN_PROGRESS"})
ACTIVE_JOB_STATUSES = frozenset({"PENDING", "STARTED"})
ON_PREMISES_READY = "FAILBACK_READY_FOR_LAUNCH"
ON_PREMISES_SYNCING = frozenset({"FAILBACK_IN_PROGRESS", "FAILBACK_NOT_READY_FOR_LAUNCH"})
# Failback states with nothing to stop.
ON_PREMISES_IDLE = frozenset({"FAILBACK_NOT_STARTED", "FAILBACK_COMPLETED", None})

DEFAULT_WAIT_TIMEOUT = 14400
DEFAULT_POLL_INTERVAL = 30
# After a mutating call whose answer was lost, DRS is read at once and again after each of
# these delays (seconds) before the call counts as not executed: DRS may show an effect a few
# reads late (ReverseReplication's reversedDirectionSourceServerArn, a new job).
RECONCILE_DELAYS = (2.0, 5.0)

# What to do when DRS answers a conflict, per operation.
CONFLICT_HINTS = {
    "ReverseReplication": (
        "DRS runs one job per source server and reverses only non-drill recovery instances that "
        "originated in EC2: wait for running jobs (drs_job_info) and re-run."
    ),
    "StartFailbackLaunch": (
        "The instance must be FAILBACK_READY_FOR_LAUNCH with no job running: check its failback state "
        "(drs_recovery_instance_info) and re-run with wait: true."
    ),
    "StartRecovery": "A job is probably running for the reversed-direction source server: wait for it and re-run.",
    "StopFailback": "Check the failback state (drs_recovery_instance_info) and re-run.",
    "StopReplication": "Check the reversed-direction source server's state (drs_replication_info) and re-run.",
}


# --- The request -----------------------------------------------------------------------------


@dataclass(frozen=True)
class FailbackRequest:
    """A validated failback request (module options or REST body)."""

    region: str
    state: str
    recovery_instance_ids: tuple = ()
    source_server_ids: tuple = ()
    drill: bool = True
    confirm_production: bool = False
    wait: bool = True
    wait_timeout: float = DEFAULT_WAIT_TIMEOUT
    poll_interval: float = DEFAULT_POLL_INTERVAL
    tags: dict = field(default_factory=dict)

    @classmethod
    def from_options(
        cls,
        region,
        state,
        recovery_instance_ids=None,
        source_server_ids=None,
        drill=True,
        confirm_production=False,
        wait=True,
        wait_timeout=DEFAULT_WAIT_TIMEOUT,
        poll_interval=DEFAULT_POLL_INTERVAL,
        tags=None,
    ):
        """Validate plain options; raises :class:`InputError` naming what to change."""
        if state not in STATES:
            raise InputError(f"state must be one of {', '.join(STATES)}; got {state!r}.")
        ids = check_ids(recovery_instance_ids, "recovery_instance", "recovery_instance_ids")
        servers = check_ids(source_server_ids, "source_server", "source_server_ids")
        if bool(ids) == bool(servers):
            raise InputError(
                "Name the recovery instances to fail back: give recovery_instance_ids, or source_server_ids "
                "(their non-drill recovery instances), but not both."
            )
        drill = True if drill is None else bool(drill)
        if state == "protected" and drill:
            raise InputError(
                "state protected re-protects the failback instance, which only a production failback launches: "
                "set drill: false and confirm_production: true, or use state launched for a drill failback."
            )
        if state in LAUNCH_STATES and not drill and not confirm_production:
            raise InputError(
                f"state {state} with drill: false launches a PRODUCTION failback (the workload moves back to the "
                "origin). Confirm it with confirm_production: true, or keep drill: true for a failback drill."
            )
        wait_timeout = DEFAULT_WAIT_TIMEOUT if wait_timeout is None else wait_timeout
        poll_interval = DEFAULT_POLL_INTERVAL if poll_interval is None else poll_interval
        check_range(wait_timeout, "wait_timeout", 0)
        if poll_interval <= 0:
            raise InputError(f"poll_interval must be greater than 0 seconds, got {poll_interval}.")
        return cls(
            region=check_region(region, "region"),
            state=state,
            recovery_instance_ids=tuple(ids),
            source_server_ids=tuple(servers),
            drill=drill,
            confirm_production=bool(confirm_production),
            wait=bool(wait),
            wait_timeout=wait_timeout,
            poll_interval=poll_interval,
            tags=_check_tags(tags),
        )


def _check_tags(tags):
    if tags is None:
        return {}
    if not isinstance(tags, dict):
        raise InputError(f"tags must be a mapping of tag key to value, like {{'change': 'CHG001'}}; got {tags!r}.")
    bad = [k for k in tags if not isinstance(k, str) or not k or len(k) > 256]
    if bad:
        raise InputError(f"tags: keys {bad!r} must be non-empty strings of at most 256 characters.")
    values = {k: "" if v is None else str(v) for k, v in tags.items()}
    long_values = [k for k, v in values.items() if len(v) > 256]
    if long_values:
        raise InputError(f"tags: values of {long_values!r} are longer than 256 characters.")
    return values


# --- Errors DRS answers ---------------------------------------------------------------------


def drs_error(exc, operation, region, subject):
    """A core error with a clear message for a DRS error response; None for other failures.

    :param subject: what the call was about ("recovery instance i-..."), for the message
    """
    code = error_code(exc)
    text = f"DRS refused {operation} for {subject} in {region}: {error_message(exc)}"
    details = {"aws_error_code": code, "operation": operation, "region": region}
    if code == "ConflictException":
        return ConflictError(f"{text}. {CONFLICT_HINTS.get(operation, '')}".strip(), **details)
    if code == "ResourceNotFoundException":
        return NotFoundError(f"{text}. Check the ID and the region (DRS IDs are per region).", **details)
    if code == "ValidationException":
        return InputError(f"{text}.", **details)
    if code == "UninitializedAccountException":
        return ConflictError(
            f"{text}. Initialize Elastic Disaster Recovery in {region} (console or InitializeService) "
            "before failing back: the origin Region must be initialized too.",
            **details,
        )
    if code == "ServiceQuotaExceededException":
        return ConflictError(f"{text}. Wait for running jobs to finish, or ask for a higher quota.", **details)
    return None


def _send(call, operation, region, subject, sleep=time.sleep, **params):
    """Send one mutating call: retried only while throttled; DRS errors become core errors."""
    from botocore.exceptions import ClientError

    try:
        return retry_throttled(call, sleep=sleep, **params)
    except ClientError as exc:
        if is_ambiguous(exc):
            raise
        mapped = drs_error(exc, operation, region, subject)
        if mapped is None:
            raise
        raise mapped from None


def _ambiguous(exc):
    """True for a failure after which the call may have executed."""
    from botocore.exceptions import BotoCoreError, ClientError

    return isinstance(exc, ClientError | BotoCoreError) and is_ambiguous(exc)


# --- Where one instance stands --------------------------------------------------------------


@dataclass
class Assessment:
    """One recovery instance on the ladder, and what is known around it."""

    record: dict
    phase: str
    problem: str | None = None
    failback_instance: dict | None = None
    job_id: str | None = None
    pending: str | None = None  # replaces the record's pending action when the run knows better
    # {recovery or EC2 instance ID: record} of the recovery instances DRS lists in the recovery Region
    # for the instance's source server; read only while its reversed-direction server replicates
    # another of them (see reversal_conflict). None: not read.
    siblings: dict | None = None


def _failback_instance_for(view, candidates, drill, any_kind=False):
    """The live failback instance launched from the reversed-direction server in this cycle.

    This cycle: from the recovery instance's launch on (:func:`in_this_cycle`; a failback
    instance's point in time is a snapshot of the reversed-direction server, taken while it
    replicated this instance). Of the requested kind (drill or not); with ``any_kind``, of the other kind when there is
    none of the requested one (a production failback ends the cycle whatever is asked next).
    """
    if view is None:
        return None
    kinds = (drill, not drill) if any_kind else (drill,)
    for kind in kinds:
        matching = [
            f
            for f in candidates.get(view["source_server_id"], ())
            if bool(f["is_drill"]) == kind and not is_gone(f) and in_this_cycle(view, f["point_in_time"])
        ]
        preferred = [f for f in matching if f["recovery_instance_id"] == view.get("recovery_instance_id")]
        if preferred or matching:
            return (preferred or matching)[0]
    return None


def _listed(view, candidates, drill):
    """True when DRS lists a failback instance of this kind from this cycle, live or not."""
    return any(
        bool(f["is_drill"]) == drill and in_this_cycle(view, f["point_in_time"])
        for f in candidates.get(view["source_server_id"], ())
    )


def _production_done(view, launch, candidates):
    """Why a production failback of this cycle counts as launched though no live failback instance of it is listed.

    The workload moved back once (DRS lists a production failback instance of this cycle
    that is gone, or the reversed-direction server's last launch is a production one of this
    cycle that launched): launching again would start a second copy of it in the origin
    Region, so it is never done. None when neither is the case.
    """
    if view is None:
        return None
    server, region = view["source_server_id"], view["region"]
    gone = [f for f in candidates.get(server, ()) if not f["is_drill"] and in_this_cycle(view, f["point_in_time"])]
    if gone:
        what = f"its failback instance {gone[0]['recovery_instance_id']} is {gone[0]['ec2_instance_state']}"
    elif (
        launch.get("type") == "RECOVERY"
        and launch.get("status") in ("LAUNCHED", "TERMINATED")
        and in_this_cycle(view, launch.get("initiated"))
    ):
        what = f"DRS lists no failback instance of job {launch.get('job_id')} ({launch.get('status')})"
    else:
        return None
    return (
        f"a production failback of it was already launched from {server} in {region} ({what}) and a production "
        f"failback is never launched twice: check the workload in {region}; to launch one again on purpose, "
        f"recover {server} in {region} with drs_recovery (drill: false, relaunch: true)"
    )


def _trouble(state, error, what):
    if state in TROUBLE_REPLICATION_STATES or error:
        code = (error or {}).get("code")
        return f"{what} is {state}{', error ' + code if code else ''}"
    return None


def assess_aws(record, candidates, drill, own_jobs, any_kind=False, followed=()):
    """Place an origin-AWS recovery instance on the ladder.

    :param candidates: ``{reversed server id: [failback instance records]}`` in the origin Region
    :param own_jobs: job IDs this run started (a failure of one of them ends the run)
    :param any_kind: count a failback instance of either kind (for the states before the launch:
        an instance already failed back, drill or production, is past ``ready`` whatever
        ``drill`` says, and must not be reversed again)
    :param followed: job IDs of the launches this run started, re-attached to or saw running.
        Only such a launch, reported LAUNCHED while DRS does not list its failback instance
        (yet), holds the instance at ``launching``. An older drill launch says nothing (its
        instance may have been removed from DRS since), and the drill is launched again; an
        older production launch of this cycle is ``launched`` (:func:`_production_done`).
    """
    view = own_reversed_server(record)
    launch = (view or {}).get("last_launch") or {}
    ours = launch.get("type") == ("DRILL" if drill else "RECOVERY") and in_this_cycle(view, launch.get("initiated"))
    if ours and launch.get("status") in ACTIVE_LAUNCH_STATUSES:
        return Assessment(record, "launching", job_id=launch.get("job_id"))
    failback = _failback_instance_for(view, candidates, drill, any_kind)
    if failback is not None:
        if failback["is_drill"]:
            return Assessment(record, "launched", failback_instance=failback)
        back = reversed_active(failback)
        if back is None:
            return Assessment(record, "launched", failback_instance=failback)
        state = back["data_replication_state"]
        problem = _trouble(state, back["error"], f"re-protection replication of {back['source_server_id']}")
        phase = "protected" if state == "CONTINUOUS" else "protecting"
        return Assessment(record, phase, problem=problem, failback_instance=failback)
    if (
        ours
        and launch.get("status") == "LAUNCHED"
        and launch.get("job_id") in followed
        and not _listed(view, candidates, drill)
    ):
        # DRS says the launch this run follows succeeded but does not list its instance (yet):
        # launching again would make a second failback instance, so wait for it to show.
        return Assessment(
            record,
            "launching",
            job_id=launch.get("job_id"),
            pending=f"Wait for DRS to list the failback instance launched by job {launch.get('job_id')} "
            f"from {view['source_server_id']} in {view['region']}.",
        )
    done = _production_done(view, launch, candidates) if (not drill or any_kind) else None
    if done:
        return Assessment(record, "launched", problem=done, job_id=launch.get("job_id"))
    if ours and launch.get("status") == "FAILED" and launch.get("job_id") in own_jobs:
        return Assessment(
            record,
            "ready",
            problem=f"failback launch job {launch['job_id']} FAILED for {view['source_server_id']} "
            f"in {view['region']} (see drs_job_info with include_log_items)",
            job_id=launch.get("job_id"),
        )
    active = reversed_active(record)
    if active is None:
        return Assessment(record, "not_reversed")
    state = active["data_replication_state"]
    problem = _trouble(state, active["error"], f"reversed replication of {active['source_server_id']}")
    return Assessment(record, "ready" if state == "CONTINUOUS" else "reversing", problem=problem)


def assess_on_premises(record, jobs, own_jobs):
    """Place an on-premises-origin recovery instance on the ladder (Failback Client path).

    :param jobs: ``{job_id: job record}`` for the instances' failback jobs
    """
    failback = record["failback"]
    state = failback["state"]
    replication = record["replication"]
    if state == "FAILBACK_COMPLETED":
        source = record["source_data_replication_state"]
        if source == "CONTINUOUS":
            return Assessment(record, "protected")
        if source and source not in ("STOPPED", "DISCONNECTED"):
            return Assessment(record, "protecting")
        return Assessment(record, "launched")
    if state == "FAILBACK_ERROR":
        error = (replication["error"] or {}).get("code")
        return Assessment(
            record, "reversing", problem=f"failback state is FAILBACK_ERROR{', error ' + error if error else ''}"
        )
    job = jobs.get(failback["job_id"]) if failback["job_id"] else None
    if job and _ended_before(job, failback["initiation_time"]):
        # failbackJobID names the last failback job, which may be one of an earlier pairing
        # (a second failback of the same instance): it says nothing about this one.
        job = None
    if job and job["status"] in ACTIVE_JOB_STATUSES:
        return Assessment(record, "launching", job_id=job["job_id"])
    if job and state == ON_PREMISES_READY and _job_launched(job, record["recovery_instance_id"]):
        # The instance was read before its launch job ended and the job after: the launch
        # happened and FAILBACK_COMPLETED shows on the next read. Never launch it again.
        return Assessment(record, "launching", job_id=job["job_id"])
    if state == ON_PREMISES_READY:
        problem = None
        if job and job["job_id"] in own_jobs and _job_failed_for(job, record["recovery_instance_id"]):
            problem = f"failback launch job {job['job_id']} failed (see drs_job_info with include_log_items)"
        return Assessment(record, "ready", problem=problem, job_id=job["job_id"] if job else None)
    if state in ON_PREMISES_SYNCING:
        problem = _trouble(replication["state"], replication["error"], "failback replication")
        return Assessment(record, "reversing", problem=problem)
    return Assessment(record, "not_reversed")


def _ended_before(job, when):
    """True when the job is known to have ended before ``when`` (the current failback initiation)."""
    ended, started = parse_datetime(job.get("end_time")), parse_datetime(when)
    return ended is not None and started is not None and ended < started


def _job_launched(job, recovery_instance_id):
    return job["status"] == "COMPLETED" and any(
        s["launch_status"] == "LAUNCHED"
        for s in job["participating_servers"]
        if s["recovery_instance_id"] == recovery_instance_id
    )


def _job_failed_for(job, recovery_instance_id):
    return any(
        s["launch_status"] == "FAILED"
        for s in job["participating_servers"]
        if s["recovery_instance_id"] in (None, recovery_instance_id)
    )


def replicating_another(record):
    """The reversed-direction server's view when it replicates another recovery instance whose failback may not be over.

    DRS keeps one reversed-direction source server per source server. None when that server is
    this instance's (or unknown), when its replication is STOPPED (stopped on purpose), or when
    a production failback was launched from it since its replication started (that instance's
    cycle is done: a new disaster cycle reverses the new recovery instance). Otherwise whether
    the other instance's failback is over depends on that instance (:func:`reversal_conflict`).
    """
    view = record.get("reversed_direction_source_server")
    if not view or not view["found"] or view["belongs_to_this_instance"]:
        return None
    state = view["data_replication_state"]
    if state is None or state in INACTIVE_REPLICATION_STATES or launched_from_reversed(view):
        return None
    return view


def reversal_conflict(record, siblings=None):
    """Why ReverseReplication of this instance would take over another instance's reverse replication, else None.

    When the reversed-direction server replicates another recovery instance of the same
    source server (:func:`replicating_another`: its identification hint names that instance),
    reversing this one would switch it over and stop that instance's failback. That is
    refused while the other instance lives: DRS lists it (``siblings``) with an EC2 state that
    is not gone. The server's own state does not tell: DISCONNECTED only says the agent on
    that instance is not seen (stopped, unreachable), and the server of a terminated instance
    may stay CONTINUOUS for a while before DRS shows it DISCONNECTED.

    :param siblings: ``{recovery or EC2 instance ID: record}`` of the recovery instances DRS
        lists in the recovery Region for the source server (:attr:`Assessment.siblings`); None
        when not read, and the other instance then counts as live
    """
    view = replicating_another(record)
    if view is None:
        return None
    hint = view["instance_id"]
    other = None if siblings is None else siblings.get(hint)
    if siblings is not None and (other is None or is_gone(other)):
        return None  # terminated, or no longer a recovery instance: its failback is over
    rid, state, server = record["recovery_instance_id"], view["data_replication_state"], view["source_server_id"]
    name = other["recovery_instance_id"] if other else hint
    alive = f"still {other['ec2_instance_state'] or 'in an unknown state'} in EC2" if other else "not known to be gone"
    text = (
        f"{rid}: its reversed-direction source server {server} in {view['region']} ({state}) already replicates "
        f"{name}, another recovery instance of source server {record['source_server_id']} that is {alive} and has "
        f"not failed back; ReverseReplication of {rid} would take that replication over"
    )
    terminate = (
        f"terminate it if it is abandoned (drs_recovery with state: absent, recovery_instance_ids: [{name}] and "
        "terminate_non_drill: true)"
    )
    if state == "DISCONNECTED":
        return (
            f"{text}. DISCONNECTED means that the agent on {name} is not seen ({name} stopped or unreachable): that "
            f"failback is interrupted, not over. Either {terminate}, or keep it: start it (or restore its network) so "
            f"that its reverse replication reconnects, then fail it back or stop that replication first (state: "
            f"stopped, recovery_instance_ids: [{name}])"
        )
    return (
        f"{text}. Fail back {name} instead, or stop its reverse replication first (state: stopped, "
        f"recovery_instance_ids: [{name}]), or {terminate}"
    )


def unreadable_reversed(record):
    """Why failback cannot act on this instance: nothing is known of its reversed-direction server; else None.

    That server was not read, or its ARN names another account than the recovery instance's
    (these credentials cannot see it there). One of the same account that its Region's read
    did not find is gone, not unknown (see :func:`recovery_instances.reversed_unknown`).
    """
    view = reversed_unknown(record)
    if view is None:
        return None
    rid = record["recovery_instance_id"]
    own = arn_account(record.get("arn"))
    if not view.get("region_read"):
        why = f"which was not read (the source servers of {view['region']} were not read)"
    elif own is None:
        why = (
            f"which is not among the source servers these credentials read in {view['region']}, and {rid} has no "
            f"ARN to tell whether the server's account {view['account_id']} is its own"
        )
    else:
        why = (
            f"which belongs to account {view['account_id']}, not to account {own} of {rid} and of these "
            f"credentials, so it cannot be read from here"
        )
    return (
        f"{rid}: its source server {record['source_server_id']} names the reversed-direction source server "
        f"{view['arn']}, {why}. Whether reverse replication already runs for {rid} is unknown, so nothing is sent: "
        f"check that ARN and DRS access to account {view['account_id']} in {view['region']}"
    )


# --- Calls ---------------------------------------------------------------------------------------


def _call(operation, region, parameters, instances, when="now"):
    return {
        "operation": operation,
        "region": region,
        "parameters": parameters,
        "recovery_instance_ids": list(instances),
        "when": when,
    }


def _view_summary(view):
    if view is None:
        return None
    keys = (
        "arn",
        "region",
        "account_id",
        "source_server_id",
        "found",
        "missing",
        "data_replication_state",
        "state_label",
        "replication_direction",
        "progress_percent",
        "rescan_percent",
        "lag_seconds",
        "error",
        "replicating_this_instance",
    )
    return {k: view.get(k) for k in keys}


def _failback_summary(failback):
    if failback is None:
        return None
    back = reversed_active(failback)
    return {
        "recovery_instance_id": failback["recovery_instance_id"],
        "ec2_instance_id": failback["ec2_instance_id"],
        "ec2_instance_state": failback["ec2_instance_state"],
        "region": failback["region"],
        "is_drill": failback["is_drill"],
        "job_id": failback["job_id"],
        "re_protection_state": back["data_replication_state"] if back else None,
    }


# --- One run -----------------------------------------------------------------------------------


class FailbackRun:
    """Reads where the selected instances stand and moves them towards the requested state."""

    def __init__(self, clients, request, clock=time.monotonic, sleep=time.sleep):
        self.clients = clients
        self.request = request
        self.clock = clock
        self.sleep = sleep
        self.region = request.region
        self.calls = []
        self.own_jobs = set()
        self.reattached = []  # launches found running (started by an interrupted run), not sent again
        self.followed_jobs = set()  # launch jobs this run saw running (own_jobs: the ones it started)
        self.selected = None  # recovery instance IDs, fixed by the first observation
        self.launch_times = {}  # recovery instance ID -> its launch job's creation time (read_context)
        self.before = {}
        # What this run sent, for the rest of the run: DRS may show the effect late, and a
        # call is never sent twice because a read did not show it yet.
        self.reversed_sent = {}  # instance ID (recovery or failback instance) -> ReverseReplication result
        # recovery instance ID -> {"region", "job_ids"} of the failback launch it sent (or re-attached to)
        self.launch_sent = {}

    # Observing ------------------------------------------------------------------------------

    def observe(self):
        """One round of reads: ``{recovery_instance_id: Assessment}`` in a stable order."""
        request = self.request
        by_source = self.selected is None and bool(request.source_server_ids)
        if by_source:
            context = read_context(
                self.clients, self.region, source_server_ids=request.source_server_ids, launch_times=self.launch_times
            )
        else:
            ids = self.selected or request.recovery_instance_ids
            context = read_context(self.clients, self.region, recovery_instance_ids=ids, launch_times=self.launch_times)
        self.launch_times.update(context["launch_times"])  # a launch time never changes: read once per run
        records = {
            r["recovery_instance_id"]: r
            for r in (
                normalize_recovery_instance(
                    item,
                    self.region,
                    context["now"],
                    context["sources"],
                    context["reversed"],
                    context["reversed_regions"],
                    context["launch_times"],
                )
                for item in context["items"]
            )
        }
        if self.selected is None:
            self.selected = self._select(records)
        missing = [i for i in self.selected if i not in records]
        if missing:
            raise NotFoundError(
                f"DRS in {self.region} does not know recovery instance(s) {', '.join(missing)}: check the IDs and "
                "the region (recovery instances live in the recovery Region).",
                missing=missing,
            )
        chosen = sort_records([records[i] for i in self.selected])
        candidates = self._failback_candidates(chosen, context)
        jobs = self._failback_jobs(chosen)
        any_kind = request.state not in LAUNCH_STATES
        followed = self.own_jobs | self.followed_jobs
        assessments = {}
        for record in chosen:
            if record["origin_environment"] == "AWS":
                assessment = assess_aws(record, candidates, request.drill, self.own_jobs, any_kind, followed)
            else:
                assessment = assess_on_premises(record, jobs, self.own_jobs)
            if assessment.phase == "launching" and assessment.job_id:
                self.followed_jobs.add(assessment.job_id)  # a running launch this run now waits for
            assessments[record["recovery_instance_id"]] = assessment
        sent_jobs = self._sent_launch_jobs(assessments)
        for assessment in assessments.values():
            self._remembered(assessment, sent_jobs)
        self._read_siblings(assessments, records, by_source)
        if not self.before:
            self.before = {rid: a.phase for rid, a in assessments.items()}
        return assessments

    def _remembered(self, a, sent_jobs):
        """Raise the phase to what this run already sent: DRS may not show its effect yet.

        :param sent_jobs: ``{job_id: job}`` of the launches this run sent for instances DRS
            still shows ``ready`` (:meth:`_sent_launch_jobs`)
        """
        rid = a.record["recovery_instance_id"]
        sent = self.reversed_sent.get(rid)
        if sent is not None and RANK[a.phase] < RANK["reversing"]:
            arn = sent.get("reversed_direction_source_server_arn")
            a.phase = "reversing"
            a.pending = "Wait for DRS to show the reverse replication this run started" + (f" ({arn})." if arn else ".")
        failback = a.failback_instance
        if failback and failback["recovery_instance_id"] in self.reversed_sent and a.phase == "launched":
            a.phase = "protecting"
            a.pending = (
                f"Wait for DRS to show the re-protection of {failback['recovery_instance_id']} this run started."
            )
        if rid in self.launch_sent and a.phase == "ready" and not a.problem:
            job_ids = self.launch_sent[rid]["job_ids"]
            ended = _launch_ended_without(a.record, job_ids, sent_jobs)
            if ended:
                # the launch is over and did not launch this instance: nothing to wait for
                a.job_id, a.problem = ended
            else:
                a.phase = "launching"
                a.job_id = a.job_id or next(iter(job_ids), None)
                a.pending = "Wait for the failback launch job this run started."
        return a

    def _sent_launch_jobs(self, assessments):
        """``{job_id: job}`` of the launches this run sent for instances DRS still shows ``ready``.

        Read only while DRS lags behind such a launch: one DescribeJobs per Region involved.
        """
        wanted = {}
        for rid, a in assessments.items():
            sent = self.launch_sent.get(rid)
            if sent and sent["job_ids"] and a.phase == "ready" and not a.problem:
                wanted.setdefault(sent["region"], set()).update(sent["job_ids"])
        if not wanted:
            return {}
        from .jobs import describe_jobs

        found = {}
        for region, ids in sorted(wanted.items()):
            found.update({job["job_id"]: job for job in describe_jobs(self.clients, region, job_ids=sorted(ids))})
        return found

    def _read_siblings(self, assessments, records, by_source):
        """Give the instances still to reverse whose reversed server replicates another instance their siblings.

        :func:`reversal_conflict` tells from them whether that other instance still lives. This
        round's read serves when it covered the source servers (selection by source server) or
        listed that instance; otherwise one DescribeRecoveryInstances of the recovery Region for
        all such source servers together (by source server ID, never one call per instance).

        :param records: ``{recovery_instance_id: record}`` of every instance this round read
        """
        waiting = [
            a
            for a in assessments.values()
            if a.phase == "not_reversed" and a.record["origin_environment"] == "AWS" and replicating_another(a.record)
        ]
        if not waiting:
            return
        listed = {}
        for record in records.values():
            _index_sibling(listed, record)
        unread = sorted(
            {
                a.record["source_server_id"]
                for a in waiting
                if replicating_another(a.record)["instance_id"] not in listed.get(a.record["source_server_id"], {})
            }
        )
        if unread and not by_source:
            items, now = describe_raw(self.clients, self.region, source_server_ids=unread)
            for item in items:
                _index_sibling(listed, normalize_recovery_instance(item, self.region, now))
        for a in waiting:
            a.siblings = listed.get(a.record["source_server_id"], {})

    def _select(self, records):
        """The recovery instances to work on; by source server, its one live non-drill recovery instance.

        A source server with several is refused: neither the newest launch nor the latest
        snapshot tells which one holds the data to fail back (a recovery from an older, clean
        snapshot is launched after one from the latest, infected data), and a production
        failback writes that data over the origin.
        """
        request = self.request
        if request.recovery_instance_ids:
            return list(request.recovery_instance_ids)
        live = {}
        for r in sort_records(records.values()):
            if r["source_server_id"] in request.source_server_ids and not r["is_drill"] and not is_gone(r):
                live.setdefault(r["source_server_id"], []).append(r)
        without = [s for s in request.source_server_ids if s not in live]
        if without:
            raise NotFoundError(
                f"No live non-drill recovery instance in {self.region} for source server(s) {', '.join(without)}: "
                "only instances launched by a recovery (drs_recovery with drill: false) are failed back.",
                missing=without,
            )
        several = {server: group for server, group in live.items() if len(group) > 1}
        if several:
            raise self._several_live(several)
        return [group[0]["recovery_instance_id"] for group in live.values()]

    def _several_live(self, several):
        """The refusal naming every candidate of the source servers with several live non-drill instances."""
        started = self._launch_times(sorted({r["job_id"] for g in several.values() for r in g if r["job_id"]}))
        candidates, shown = {}, []
        for server, group in several.items():
            candidates[server] = [
                {
                    "recovery_instance_id": r["recovery_instance_id"],
                    "ec2_instance_state": r["ec2_instance_state"],
                    "job_id": r["job_id"],
                    "launch_time": started.get(r["job_id"]),
                    "point_in_time": r["point_in_time"],
                }
                for r in group
            ]
            listed = ", ".join(_candidate_text(c) for c in candidates[server])
            shown.append(f"source server {server} has {len(group)}: {listed}")
        return ConflictError(
            f"Cannot tell which recovery instance to fail back: {'; '.join(shown)} (live non-drill recovery "
            f"instances in {self.region}). Neither the latest launch nor the latest point in time tells which one "
            "holds the data to fail back (after ransomware, a recovery from an older, clean snapshot is launched "
            "after one from the latest data), and a production failback writes that data over the origin. Name the "
            "instance to fail back with recovery_instance_ids (and terminate the others when they are no longer "
            "needed). Nothing was sent.",
            candidates=candidates,
        )

    def _launch_times(self, job_ids):
        """``{job_id: creation time}`` of the recovery jobs that launched the candidates, for the refusal.

        Best effort: what DRS cannot answer is left out of the message, which refuses anyway.
        """
        if not job_ids:
            return {}
        from .jobs import describe_jobs

        try:
            jobs = describe_jobs(self.clients, self.region, job_ids=job_ids)
        except Exception as exc:
            if not is_aws_error(exc):
                raise
            return {}
        return {job["job_id"]: job["creation_time"] for job in jobs}

    def _failback_candidates(self, records, context):
        """Failback instances launched from the reversed-direction servers: one read per origin Region."""
        wanted = {}
        for record in records:
            view = own_reversed_server(record) if record["origin_environment"] == "AWS" else None
            if view and view["found"]:
                wanted.setdefault(view["region"], {})[view["source_server_id"]] = record
        candidates = {}
        for region, by_server in sorted(wanted.items()):
            items, now = describe_raw(self.clients, region, source_server_ids=sorted(by_server))
            for item in items:
                server_id = item.get("sourceServerID")
                owner = by_server[server_id]
                failback = normalize_recovery_instance(item, region, now, context["reversed"])
                source = context["sources"].get(owner["source_server_id"])
                if source and source.get("arn"):
                    failback["reversed_direction_source_server"] = reversed_server_view(
                        source["arn"], source, failback["ec2_instance_id"]
                    )
                candidates.setdefault(server_id, []).append(failback)
        return candidates

    def _failback_jobs(self, records):
        """Jobs named by the on-premises instances' ``failback.failbackJobID`` (one DescribeJobs round)."""
        ids = sorted(
            {r["failback"]["job_id"] for r in records if r["origin_environment"] != "AWS" and r["failback"]["job_id"]}
        )
        if not ids:
            return {}
        from .jobs import describe_jobs

        return {job["job_id"]: job for job in describe_jobs(self.clients, self.region, job_ids=ids)}

    # Checking ----------------------------------------------------------------------------------

    def check_eligible(self, assessments):
        """Refuse, before any call, instances the requested state cannot apply to."""
        problems = []
        for rid, a in assessments.items():
            record = a.record
            live_aws = record["origin_environment"] == "AWS" and not record["is_drill"] and not is_gone(record)
            unreadable = unreadable_reversed(record) if live_aws else None
            if unreadable:
                problems.append(unreadable)
            elif self.request.state == "stopped":
                continue
            elif record["is_drill"]:
                problems.append(
                    f"{rid} is a drill instance: DRS fails back only instances launched by a recovery "
                    "(drs_recovery with drill: false); terminate drill instances instead"
                )
            elif is_gone(record):
                problems.append(f"{rid} is {record['ec2_instance_state']}: there is nothing left to fail back")
            elif record["origin_environment"] == "AWS" and not record["source_server_found"]:
                problems.append(
                    f"{rid}: its source server {record['source_server_id']} is not in {self.region}, so the origin "
                    "Region and the reversed-direction source server cannot be found"
                )
            elif (
                record["origin_environment"] == "AWS"
                and a.phase == "not_reversed"
                and reversal_conflict(record, a.siblings)
            ):
                problems.append(reversal_conflict(record, a.siblings))
            elif (
                record["origin_environment"] != "AWS"
                and self.request.state in LAUNCH_STATES
                and self.request.drill
                and RANK[a.phase] < RANK["launched"]
            ):
                problems.append(
                    f"{rid} comes from an on-premises source server: StartFailbackLaunch has no drill mode (it "
                    "writes the recovery instance onto the machine running the Failback Client and reboots it). "
                    "Set drill: false and confirm_production: true"
                )
        if problems:
            raise ConflictError(
                "Cannot fail back: " + "; ".join(problems) + ".",
                recovery_instances=[self.instance_result(a) for a in assessments.values()],
            )

    def reached(self, assessment):
        if self.request.state == "stopped":
            return self._stopped(assessment)
        return RANK[assessment.phase] >= TARGET_RANK[self.request.state]

    def _stopped(self, assessment):
        record = assessment.record
        if record["is_drill"] or is_gone(record):
            return True
        if record["origin_environment"] == "AWS":
            return reversed_active(record) is None
        return record["failback"]["state"] in ON_PREMISES_IDLE

    # Planning ------------------------------------------------------------------------------------

    def next_calls(self, assessments):
        """The calls to send now, grouped as DRS takes them."""
        if self.request.state == "stopped":
            return self._stop_calls(assessments)
        calls, failback_launches, recoveries = [], [], {}
        for rid, a in assessments.items():
            if self.reached(a) or a.problem:
                continue
            record = a.record
            aws = record["origin_environment"] == "AWS"
            if aws and a.phase == "not_reversed":
                if rid in self.reversed_sent:
                    continue  # sent in this run: never twice
                conflict = reversal_conflict(record, a.siblings) or unreadable_reversed(record)
                if conflict:
                    raise ConflictError(
                        f"Cannot fail back: {conflict}.",
                        recovery_instances=self._results(assessments),
                        calls=self.calls,
                    )
                calls.append(_call("ReverseReplication", self.region, {"recoveryInstanceID": rid}, [rid]))
            elif a.phase == "ready" and self.request.state in LAUNCH_STATES:
                if rid in self.launch_sent:
                    continue
                if aws:
                    view = reversed_active(record)
                    recoveries.setdefault(view["region"], []).append((view["source_server_id"], rid))
                else:
                    failback_launches.append(rid)
            elif aws and a.phase == "launched" and self.request.state == "protected":
                failback = a.failback_instance
                fid = failback["recovery_instance_id"]
                if failback["ec2_instance_state"] == "RUNNING" and fid not in self.reversed_sent:
                    calls.append(_call("ReverseReplication", failback["region"], {"recoveryInstanceID": fid}, [rid]))
        for region, pairs in sorted(recoveries.items()):
            for chunk in chunked(pairs, 100):
                servers = [{"sourceServerID": server} for server, _owner in chunk]
                parameters = {"sourceServers": servers, "isDrill": self.request.drill}
                if self.request.tags:
                    parameters["tags"] = dict(self.request.tags)
                calls.append(_call("StartRecovery", region, parameters, [owner for _server, owner in chunk]))
        for chunk in chunked(failback_launches, FAILBACK_LAUNCH_MAX):
            parameters = {"recoveryInstanceIDs": list(chunk)}
            if self.request.tags:
                parameters["tags"] = dict(self.request.tags)
            calls.append(_call("StartFailbackLaunch", self.region, parameters, chunk))
        return calls

    def _stop_calls(self, assessments):
        calls = []
        for rid, a in assessments.items():
            if self.reached(a):
                continue
            record = a.record
            if record["origin_environment"] == "AWS":
                view = reversed_active(record)
                calls.append(
                    _call("StopReplication", view["region"], {"sourceServerID": view["source_server_id"]}, [rid])
                )
            else:
                calls.append(_call("StopFailback", self.region, {"recoveryInstanceID": rid}, [rid]))
        return calls

    def later_calls(self, assessments):
        """For check mode: the calls that would follow once DRS reaches the next phase."""
        if self.request.state == "stopped":
            return []
        later = []
        now_ids = {rid for call in self.next_calls(assessments) for rid in call["recovery_instance_ids"]}
        for rid, a in assessments.items():
            if self.reached(a) or a.problem:
                continue
            for call in self._later_for(rid, a, rid in now_ids):
                later.append(call)
        return later

    def _later_for(self, rid, a, has_now_call):
        request, record = self.request, a.record
        rank = RANK[a.phase] + (1 if has_now_call else 0)
        tags = {"tags": dict(request.tags)} if request.tags else {}
        if record["origin_environment"] != "AWS":
            if request.state in LAUNCH_STATES and rank < RANK["launching"]:
                yield _call(
                    "StartFailbackLaunch",
                    self.region,
                    {"recoveryInstanceIDs": [rid], **tags},
                    [rid],
                    when="after failback.state is FAILBACK_READY_FOR_LAUNCH",
                )
            return
        view = own_reversed_server(record)
        origin = record["origin_region"]
        server = view["source_server_id"] if view and view["found"] else f"<reversed-direction source server of {rid}>"
        if request.state in LAUNCH_STATES and rank < RANK["launching"]:
            yield _call(
                "StartRecovery",
                (view or {}).get("region") or origin,
                {"sourceServers": [{"sourceServerID": server}], "isDrill": request.drill, **tags},
                [rid],
                when=f"after {server} is CONTINUOUS",
            )
        if request.state == "protected" and rank < RANK["protecting"]:
            yield _call(
                "ReverseReplication",
                (view or {}).get("region") or origin,
                {"recoveryInstanceID": f"<failback instance launched from {server}>"},
                [rid],
                when="after the failback launch job completes",
            )

    # Acting ----------------------------------------------------------------------------------------

    def act(self, assessments):
        """Send the calls the current phases allow; returns how many were sent."""
        calls = self.next_calls(assessments)
        for call in calls:
            handler = {
                "ReverseReplication": self._reverse,
                "StartRecovery": self._start_recovery,
                "StartFailbackLaunch": self._start_failback_launch,
                "StopFailback": self._stop_failback,
                "StopReplication": self._stop_replication,
            }[call["operation"]]
            try:
                call["result"] = handler(call)
            except DrsOrchestrationError as exc:
                raise type(exc)(
                    exc.message,
                    **{**exc.details, "calls": self.calls, "recovery_instances": self._results(assessments)},
                ) from None
            # A launch an earlier (interrupted) run already started is re-attached to, not sent.
            (self.calls if call["result"].pop("sent", True) else self.reattached).append(call)
            self._remember(call)
        return len(calls)

    def _remember(self, call):
        """Note what a call did, so that no read lagging behind DRS makes the run send it again."""
        if call["operation"] == "ReverseReplication":
            self.reversed_sent[call["parameters"]["recoveryInstanceID"]] = call["result"]
        elif call["operation"] in ("StartRecovery", "StartFailbackLaunch"):
            reattached = call.get("reattached") or {}
            for rid in call["recovery_instance_ids"]:
                job_ids = [reattached[rid]] if rid in reattached else list(call["result"].get("job_ids") or ())
                self.launch_sent[rid] = {"region": call["region"], "job_ids": job_ids}

    def _reverse(self, call):
        region, rid = call["region"], call["parameters"]["recoveryInstanceID"]
        owner = call["recovery_instance_ids"][0]

        def reconcile():
            assessment = self.observe()[owner]
            if rid == owner:
                return reversed_active(assessment.record) is not None or RANK[assessment.phase] >= RANK["launching"]
            return RANK[assessment.phase] >= RANK["protecting"]

        return reverse_call(self.clients, region, rid, reconcile, sleep=self.sleep)

    def _start_recovery(self, call):
        from .recovery import launch_recovery

        servers = [s["sourceServerID"] for s in call["parameters"]["sourceServers"]]
        # relaunch: a live instance of the same kind on the reversed-direction server is one of an
        # earlier cycle (the assessment counts failback instances of this cycle: phase ready says
        # there is none). The recovery core still re-attaches to a launch job already running.
        result = launch_recovery(
            self.clients,
            call["region"],
            servers,
            drill=self.request.drill,
            tags=self.request.tags or None,
            wait=False,
            clock=self.clock,
            sleep=self.sleep,
            relaunch=True,
            not_ready_advice=(
                "These are the reversed-direction source servers to fail back from: wait until their job ends "
                "(drs_job_info) or their replication is CONTINUOUS again (drs_replication_info in "
                f"{call['region']}), then run the failback again; it sends only what is still needed."
            ),
        )
        jobs = _job_ids(result)
        self.own_jobs.update(jobs)
        return {"job_ids": jobs, "sent": bool(result.get("changed"))}

    def _start_failback_launch(self, call):
        ids = list(call["parameters"]["recoveryInstanceIDs"])
        running = self._instances_in_active_jobs(ids)
        if running:
            # An earlier, interrupted run already launched these: re-attach, never launch twice.
            self.own_jobs.update(running.values())
            ids = [i for i in ids if i not in running]
            call["reattached"] = dict(running)
            call["parameters"]["recoveryInstanceIDs"] = ids
        if not ids:
            return {"job_ids": sorted(set(running.values())), "sent": False}
        writer = self.clients.writer("drs", self.region)
        params = {"recoveryInstanceIDs": ids, **({"tags": dict(self.request.tags)} if self.request.tags else {})}
        subject = f"recovery instance(s) {', '.join(ids)}"
        try:
            response = _send(
                writer.start_failback_launch, "StartFailbackLaunch", self.region, subject, sleep=self.sleep, **params
            )
        except Exception as exc:
            if not _ambiguous(exc):
                raise
            looked = {}

            def all_found():
                looked.update(self._instances_in_active_jobs(ids))
                return set(looked) >= set(ids)

            _seen_after_delays(all_found, self.sleep)
            found = {i: looked[i] for i in ids if i in looked}
            if set(found) != set(ids):
                raise AmbiguousCallError(
                    f"StartFailbackLaunch for {subject} in {self.region} failed without an answer "
                    f"({exc}) and DRS shows no failback job for {', '.join(i for i in ids if i not in found)}. "
                    "Check drs_job_info before running again.",
                    reconciled=found,
                ) from None
            self.own_jobs.update(found.values())
            return {"job_ids": sorted(set(found.values())), "reconciled": True}
        job_id = (response.get("job") or {}).get("jobID")
        self.own_jobs.add(job_id)
        return {"job_ids": [job_id]}

    def _instances_in_active_jobs(self, recovery_instance_ids):
        """``{recovery_instance_id: job_id}`` for instances already in a running job."""
        from .jobs import active_jobs_by_server

        wanted = set(recovery_instance_ids)
        found = {}
        for job in active_jobs_by_server(self.clients, self.region).values():
            for server in job["participating_servers"]:
                if server["recovery_instance_id"] in wanted:
                    found[server["recovery_instance_id"]] = job["job_id"]
        return found

    def _stop_failback(self, call):
        rid = call["parameters"]["recoveryInstanceID"]
        writer = self.clients.writer("drs", self.region)
        _send_reconciled(
            lambda: _send(
                writer.stop_failback,
                "StopFailback",
                self.region,
                f"recovery instance {rid}",
                sleep=self.sleep,
                recoveryInstanceID=rid,
            ),
            lambda: self._stopped(self.observe()[rid]),
            f"StopFailback for {rid} in {self.region}",
            sleep=self.sleep,
        )
        return {}

    def _stop_replication(self, call):
        region, server = call["region"], call["parameters"]["sourceServerID"]
        owner = call["recovery_instance_ids"][0]
        writer = self.clients.writer("drs", region)
        _send_reconciled(
            lambda: _send(
                writer.stop_replication,
                "StopReplication",
                region,
                f"source server {server}",
                sleep=self.sleep,
                sourceServerID=server,
            ),
            lambda: self._stopped(self.observe()[owner]),
            f"StopReplication for {server} in {region}",
            sleep=self.sleep,
        )
        return {}

    # Reporting ------------------------------------------------------------------------------------

    def instance_result(self, a):
        record = a.record
        rid = record["recovery_instance_id"]
        return {
            "recovery_instance_id": rid,
            "ec2_instance_id": record["ec2_instance_id"],
            "ec2_instance_state": record["ec2_instance_state"],
            "region": record["region"],
            "source_server_id": record["source_server_id"],
            "source_hostname": record["source_hostname"],
            "origin_environment": record["origin_environment"],
            "origin_region": record["origin_region"],
            "is_drill": record["is_drill"],
            "phase_before": self.before.get(rid, a.phase),
            "phase": a.phase,
            "reached": self.reached(a),
            "problem": a.problem,
            "job_id": a.job_id,
            "failback_state": record["failback"]["state"],
            "failback_label": record["failback"]["label"],
            "reverse_replication_status": record["reverse_replication_status"],
            "replication_state": record["replication"]["state"],
            "replication_progress_percent": record["replication"]["progress_percent"],
            "reversed_direction_source_server": _view_summary(record["reversed_direction_source_server"]),
            "failback_instance": _failback_summary(a.failback_instance),
            "pending_action": None if self.reached(a) else (a.pending or record["pending_action"]),
            "actions": [c for c in self.calls if rid in c["recovery_instance_ids"]],
        }

    def _results(self, assessments):
        return [self.instance_result(a) for a in assessments.values()]

    def result(self, assessments, planned=None):
        """The run's outcome; with ``planned`` (check mode) ``changed`` says whether calls would be sent."""
        results = self._results(assessments)
        by_phase = {}
        for r in results:
            by_phase[r["phase"]] = by_phase.get(r["phase"], 0) + 1
        out = {
            "changed": bool(self.calls) or _would_change(planned or [], self.request.wait),
            "state": self.request.state,
            "drill": self.request.drill,
            "region": self.region,
            "reached": all(r["reached"] for r in results),
            "recovery_instances": results,
            "calls": self.calls,
            "reattached": self.reattached,
            "planned_calls": planned or [],
            "summary": {
                "total": len(results),
                "reached": sum(1 for r in results if r["reached"]),
                "by_phase": {p: by_phase[p] for p in PHASES if p in by_phase},
            },
        }
        return out

    # Driving ------------------------------------------------------------------------------------

    def run(self, check_mode=False):
        assessments = self.observe()
        self.check_eligible(assessments)
        if check_mode:
            planned = self.next_calls(assessments) + self.later_calls(assessments)
            failed = self.failure(assessments) if self.request.wait else None
            if failed:
                # the real run would end on its first look, with this very message
                raise WaitFailed(failed, **self.result(assessments, planned=planned))
            return self.result(assessments, planned=planned)
        if not self.request.wait:
            if self.act(assessments):
                assessments = self.observe()
            return self.result(assessments)
        return self._wait(assessments)

    def _wait(self, first):
        rounds = {"n": 0, "pending": first}
        started = self.clock()

        def poll():
            assessments = rounds["pending"] or self.observe()
            rounds["pending"] = None
            rounds["n"] += 1
            self.act(assessments)
            return assessments

        try:
            assessments = wait_for(
                poll,
                done=lambda snapshot: all(self.reached(a) for a in snapshot.values()),
                timeout=self.request.wait_timeout,
                interval=self.request.poll_interval,
                failure=self.failure,
                describe=self._describe_pending,
                what=f"recovery instances to be {self.request.state}",
                clock=self.clock,
                sleep=self.sleep,
            )
        except (WaitFailed, WaitTimeout) as exc:
            last = exc.details.get("last") or {}
            details = self.result(last) if last else {"calls": self.calls}
            details["wait"] = {"polls": rounds["n"], "elapsed_seconds": round(self.clock() - started, 3)}
            raise type(exc)(exc.message, **details) from None
        out = self.result(assessments)
        out["wait"] = {"polls": rounds["n"], "elapsed_seconds": round(self.clock() - started, 3)}
        return out

    def failure(self, assessments):
        """The message that ends a wait: instances stopped by a problem before reaching the state; else None."""
        failed = [f"{rid}: {a.problem}" for rid, a in assessments.items() if a.problem and not self.reached(a)]
        if not failed:
            return None
        return "Failback cannot continue: " + "; ".join(failed) + ". Fix the cause and run again."

    def _describe_pending(self, assessments):
        pending = [(rid, a) for rid, a in assessments.items() if not self.reached(a)]
        shown = "; ".join(
            f"{rid} {a.phase}"
            + (f" ({a.pending or a.record['pending_action']})" if a.pending or a.record["pending_action"] else "")
            for rid, a in pending[:10]
        )
        more = f"; and {len(pending) - 10} more" if len(pending) > 10 else ""
        return f"{len(pending)} of {len(assessments)} not {self.request.state} yet: {shown}{more}"


def _index_sibling(listed, record):
    """File a recovery instance under its source server, by recovery instance ID and by EC2 instance ID."""
    ids = listed.setdefault(record["source_server_id"], {})
    for key in (record["recovery_instance_id"], record["ec2_instance_id"]):
        if key:
            ids[key] = record


def _candidate_text(candidate):
    """One candidate of a source server with several live recovery instances, for a message."""
    facts = [candidate["ec2_instance_state"] or "EC2 state unknown"]
    if candidate["job_id"]:
        when = f" started {candidate['launch_time']}" if candidate["launch_time"] else ""
        facts.append(f"launched by job {candidate['job_id']}{when}")
    if candidate["point_in_time"]:
        facts.append(f"point in time {candidate['point_in_time']}")
    return f"{candidate['recovery_instance_id']} ({', '.join(facts)})"


def _launch_ended_without(record, job_ids, jobs):
    """``(job_id, problem)`` when every launch job this run sent for the instance ended without launching it.

    None while one may still launch it (running, or not shown by DescribeJobs yet) or did
    launch it (DRS shows the result late). Origin AWS: a participating server is the
    reversed-direction server; on premises: the recovery instance itself.
    """
    if not job_ids:
        return None
    rid = record["recovery_instance_id"]
    aws = record["origin_environment"] == "AWS"
    view = own_reversed_server(record) if aws else None
    if aws and view is None:
        return None  # the launched server is not known: nothing to tell the job's servers by
    mine = []
    for job_id in job_ids:
        job = jobs.get(job_id)
        if job is None or job["status"] in ACTIVE_JOB_STATUSES:
            return None
        for server in job["participating_servers"]:
            if (aws and server["source_server_id"] == view["source_server_id"]) or (
                not aws and server["recovery_instance_id"] == rid
            ):
                if server["launch_status"] == "LAUNCHED":
                    return None
                mine.append((job_id, job["status"], server["launch_status"]))
    job_id, status, launch = mine[-1] if mine else (job_ids[-1], jobs[job_ids[-1]]["status"], None)
    return job_id, (
        f"failback launch job {job_id} this run started ended ({status}) without launching it "
        f"(launch status {launch or 'none'}; see drs_job_info with include_log_items)"
    )


def _would_change(planned, wait):
    """Calls due now are sent; later ones only when the run waits for their moment."""
    return any(call["when"] == "now" or wait for call in planned)


def _job_ids(result):
    """Job IDs in a launch result of the recovery core (defensive about its exact shape)."""
    ids = []
    for job in (result or {}).get("jobs") or ():
        job_id = job.get("job_id") if isinstance(job, dict) else None
        if job_id and job_id not in ids:
            ids.append(job_id)
    return ids


def _seen_after_delays(effect_seen, sleep, delays=RECONCILE_DELAYS):
    """Look for the effect of a call whose answer was lost: at once, then after each delay."""
    for delay in (0.0, *delays):
        if delay:
            sleep(delay)
        if effect_seen():
            return True
    return False


def _send_reconciled(send, effect_seen, what, sleep=time.sleep):
    """Send a call; if its answer was lost, look the effect up (:func:`_seen_after_delays`), never send it again."""
    try:
        send()
    except Exception as exc:
        if not _ambiguous(exc):
            raise
        if not _seen_after_delays(effect_seen, sleep):
            raise AmbiguousCallError(
                f"{what} failed without an answer ({exc}) and DRS does not show its effect yet. "
                "Run again: the module reads DRS first and sends only what is still needed."
            ) from None


def reverse_call(clients, region, recovery_instance_id, reconcile, sleep=time.sleep):
    """ReverseReplication for one instance, never sent twice for one effect.

    On a failure that may have executed, ``reconcile()`` reads DRS at once and again after
    each of :data:`RECONCILE_DELAYS` (DRS may show the reversed-direction server a few reads
    late): as soon as reverse replication shows, the call counts as done. Only when none of
    these reads shows it is the call sent once more; a second lost answer, after the same
    reads, fails with :class:`AmbiguousCallError`.
    """
    writer = clients.writer("drs", region)
    subject = f"recovery instance {recovery_instance_id}"
    for attempt in (1, 2):
        try:
            response = _send(
                writer.reverse_replication,
                "ReverseReplication",
                region,
                subject,
                sleep=sleep,
                recoveryInstanceID=recovery_instance_id,
            )
        except Exception as exc:
            if not _ambiguous(exc):
                raise
            if _seen_after_delays(reconcile, sleep):
                return {"reconciled": True}
            if attempt == 2:
                raise AmbiguousCallError(
                    f"ReverseReplication for {subject} in {region} failed twice without an answer ({exc}) and DRS "
                    "shows no reversed replication. Check the recovery instance before running again."
                ) from None
            continue
        arn = response.get("reversedDirectionSourceServerArn")
        parsed = parse_source_server_arn(arn) or {}
        return {
            "reversed_direction_source_server_arn": arn,
            "reversed_direction_source_server_id": parsed.get("source_server_id"),
            "reversed_direction_region": parsed.get("region"),
        }
    return {}  # not reached: the loop returns or raises


# --- The API the module and the REST handler call ------------------------------------------------


def ensure_failback(
    clients,
    region,
    recovery_instance_ids=None,
    state="ready",
    drill=True,
    wait=True,
    wait_timeout=DEFAULT_WAIT_TIMEOUT,
    poll_interval=DEFAULT_POLL_INTERVAL,
    check_mode=False,
    confirm_production=False,
    clock=time.monotonic,
    sleep=time.sleep,
    source_server_ids=None,
    tags=None,
):
    """Move recovery instances to ``state`` (the drs_failback module's whole behaviour).

    :param region: the recovery Region (where the recovery instances are)
    :param state: reversed | ready | launched | protected | stopped (see module docs)
    :param drill: failback launch as a drill (default) or, with ``confirm_production``, for real
    :param check_mode: send nothing; ``planned_calls`` lists the calls (operation, region,
        parameters) that would be sent now (``when: now``) and after which event the
        later ones would follow
    :returns: ``{changed, state, drill, region, reached, recovery_instances, calls,
        planned_calls, summary[, wait]}``
    """
    request = FailbackRequest.from_options(
        region=region,
        state=state,
        recovery_instance_ids=recovery_instance_ids,
        source_server_ids=source_server_ids,
        drill=drill,
        confirm_production=confirm_production,
        wait=wait,
        wait_timeout=wait_timeout,
        poll_interval=poll_interval,
        tags=tags,
    )
    return FailbackRun(clients, request, clock=clock, sleep=sleep).run(check_mode=check_mode)


def _one(clients, region, recovery_instance_id, state, drill=True, confirm_production=False, tags=None):
    request = FailbackRequest.from_options(
        region=region,
        state=state,
        recovery_instance_ids=[recovery_instance_id],
        drill=drill,
        confirm_production=confirm_production,
        wait=False,
        tags=tags,
    )
    run = FailbackRun(clients, request)
    return run, run.observe()[request.recovery_instance_ids[0]]


def reverse_replication(clients, region, recovery_instance_id, check_mode=False):
    """Start reverse replication for one recovery instance (REST: POST .../reverse-replication).

    Sends ``ReverseReplication`` (never StartReplication: ERRATA row 1) unless reverse
    replication already runs for it, in which case the existing reversed-direction
    source server is reported and nothing is sent.
    """
    run, assessment = _one(clients, region, recovery_instance_id, "reversed")
    record = assessment.record
    rid = record["recovery_instance_id"]
    run.check_eligible({rid: assessment})
    if record["origin_environment"] != "AWS":
        raise ConflictError(
            f"{rid} comes from an on-premises source server: ReverseReplication applies only to instances that "
            "originated in EC2. Fail back with the Failback Client: boot it on the failback target and pair it with "
            f"{rid}, then wait for failback.state FAILBACK_READY_FOR_LAUNCH.",
            recovery_instance=run.instance_result(assessment),
        )
    result = {"recovery_instance_id": rid, "region": region, "changed": False}
    if run.reached(assessment):
        view = own_reversed_server(record)
        result["reversed_direction_source_server"] = _view_summary(view)
        result["message"] = f"Reverse replication already runs for {rid} ({assessment.phase})."
        return result
    call = _call("ReverseReplication", region, {"recoveryInstanceID": rid}, [rid])
    if check_mode:
        return {**result, "changed": True, "planned_calls": [call]}
    call["result"] = run._reverse(call)
    return {**result, "changed": True, **call["result"]}


def launch_failback(
    clients, region, recovery_instance_id, drill, confirm_production=False, tags=None, check_mode=False
):
    """Launch the failback of one recovery instance (REST: POST .../failback).

    Origin on premises: ``StartFailbackLaunch`` once failback.state is
    FAILBACK_READY_FOR_LAUNCH. Origin AWS: ``StartRecovery`` (through the recovery core:
    re-attaches, never twice) of the reversed-direction source server in the origin
    Region once it is CONTINUOUS. Not ready yet -> :class:`ConflictError` saying why.
    A failback of the requested kind that already exists is reported, nothing is sent.
    """
    run, assessment = _one(clients, region, recovery_instance_id, "launched", drill, confirm_production, tags)
    rid = assessment.record["recovery_instance_id"]
    run.check_eligible({rid: assessment})
    if run.reached(assessment) or assessment.phase == "launching":
        return {**run.result({rid: assessment}), "changed": False}
    calls = run.next_calls({rid: assessment})
    if not calls or assessment.phase != "ready":
        record = assessment.record
        raise ConflictError(
            f"{rid} is not ready for failback launch: it is {assessment.phase}"
            + (f" ({assessment.problem})" if assessment.problem else "")
            + (f". Next: {record['pending_action']}" if record["pending_action"] else "")
            + ".",
            recovery_instance=run.instance_result(assessment),
        )
    if check_mode:
        return run.result({rid: assessment}, planned=calls)
    run.act({rid: assessment})
    out = run.result(run.observe())
    out["job_ids"] = [j for c in run.calls + run.reattached for j in (c.get("result") or {}).get("job_ids", [])]
    return out


def stop_failback(clients, region, recovery_instance_id, check_mode=False):
    """Stop failback replication of one recovery instance (StopFailback / StopReplication)."""
    return ensure_failback(clients, region, [recovery_instance_id], state="stopped", wait=False, check_mode=check_mode)
