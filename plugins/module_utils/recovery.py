# Copyright: Contributors to drs.orchestration
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Drills and recoveries: choose source servers, plan jobs within the DRS quotas, launch, wait, clean up.

A launch is declarative: "these servers have a drill (or recovery) instance". Each
selected server is classified first (:func:`plan_launch`):

* ``reattach``: it is already in a PENDING/STARTED launch job of the same kind. DRS
  runs one job per source server, and this is how an interrupted run is resumed:
  the job it started is waited for, nothing is launched twice;
* ``wait``: it is in a running TERMINATE job (the termination of its instances, for
  example by the previous run of the drill role): the run waits for that job, then
  classifies the server again (DRS refuses a launch while it runs);
* ``present``: it already has a live recovery instance of the same kind (drill or
  not) from its current replication cycle (:func:`earlier_cycle_instances`) and
  ``relaunch`` is off;
* ``not_ready``: it cannot be launched now (replication not CONTINUOUS, no recovery
  snapshot, or busy in another kind of job); such servers are reported, and unless
  the caller says to skip them nothing is launched;
* ``launch``: it goes into a new job.

New jobs hold at most :data:`MAX_SERVERS_PER_JOB` servers and are started in waves so
that the region never has :data:`CONCURRENT_JOB_QUOTA` jobs or more than
:data:`MAX_SERVERS_IN_ACTIVE_JOBS` servers in active jobs at once (ERRATA "Quotas";
DRS user guide, "Elastic Disaster Recovery quotas"). Jobs other people run count too.

StartRecovery and TerminateRecoveryInstances are sent through a writer client and
:func:`retry_throttled`. When one fails in a way that may have executed (answer lost,
5xx), the effect is looked up before anything is sent again (:func:`_reconcile`).
The signal is the job itself: a job unknown before the call, of the expected kind,
whose participating servers (or recovery instances) are exactly the batch. The
source server's ``lifeCycle.lastLaunch.initiated.jobID`` points straight at it when
DRS has recorded it, so it is read first; a DescribeJobs sweep of recent jobs finds
it otherwise. A job record is proof the call executed, whatever happened since
(the job may even have completed), whereas a server's replication state or
``lastLaunchResult`` only changes later and says nothing about which call did it.
"""

from __future__ import annotations

import time

from .aws import chunked, error_code, error_message, is_ambiguous, paginate, retry_throttled
from .errors import AmbiguousCallError, ConflictError, DrsOrchestrationError, InputError, NotFoundError, WaitTimeout
from .jobs import describe_job_log_items, describe_jobs, job_record, recent_jobs, servers_in_jobs, wait_for_jobs
from .timeutil import isoformat, parse_datetime
from .validation import check_ids, check_range
from .waiter import wait_for

MAX_SERVERS_PER_JOB = 100  # the recommended job size (DRS "disaster recovery at scale": 100-200)
CONCURRENT_JOB_QUOTA = 20  # concurrent jobs per account and region: we always stay below it
MAX_SERVERS_IN_ACTIVE_JOBS = 500  # source servers in all active jobs at once
FILTER_MAX = 200  # DescribeSourceServers / DescribeRecoveryInstances ID filters
LAUNCH_INITIATORS = {True: "START_DRILL", False: "START_RECOVERY"}
GONE_EC2_STATES = frozenset({"TERMINATED", "NOT_FOUND", "SHUTTING-DOWN"})
FAILED_EVENTS = frozenset(
    {"SNAPSHOT_FAIL", "USING_PREVIOUS_SNAPSHOT_FAILED", "CONVERSION_FAIL", "LAUNCH_FAILED", "CLEANUP_FAIL"}
)


# --- Input -------------------------------------------------------------------------------


def check_production_confirmed(drill, confirmed, option="confirm_production_recovery"):
    """A production recovery (``drill`` false) needs an explicit confirmation.

    Modules and the REST handler call this before :func:`launch_recovery`; the failback
    core confirms its own production launches and calls :func:`launch_recovery` directly.
    """
    if not drill and not confirmed:
        raise InputError(
            "drill: false launches a production recovery (recovery instances meant to take over "
            f"from the source servers). Set {option}: true to confirm, or keep drill: true for a drill."
        )


def check_tags(tags, option):
    """A tag mapping with string keys and values (None or {} means no tags)."""
    if not tags:
        return {}
    if not isinstance(tags, dict):
        raise InputError(f"{option} must be a mapping of tag keys to values, for example {{'dr:tier': '1'}}.")
    return {str(k): "" if v is None else str(v) for k, v in tags.items()}


def _limits(servers_per_job, max_concurrent_jobs):
    check_range(servers_per_job, "servers_per_job", 1, MAX_SERVERS_PER_JOB)
    check_range(max_concurrent_jobs, "max_concurrent_jobs", 1, CONCURRENT_JOB_QUOTA - 1)
    return servers_per_job, max_concurrent_jobs


# --- Reading DRS ---------------------------------------------------------------------------


def hostname(server):
    hints = (server.get("sourceProperties") or {}).get("identificationHints") or {}
    return hints.get("hostname") or hints.get("fqdn")


def replication_state(server):
    return (server.get("dataReplicationInfo") or {}).get("dataReplicationState")


def last_launch_job_id(server):
    """The job that last launched the server (``lifeCycle.lastLaunch.initiated.jobID``), or None."""
    return ((((server.get("lifeCycle") or {}).get("lastLaunch") or {}).get("initiated")) or {}).get("jobID")


def _servers_by_ids(reader, ids):
    found = {}
    for chunk in chunked(ids, FILTER_MAX):
        for server in paginate(reader, "describe_source_servers", "items", filters={"sourceServerIDs": chunk}):
            found[server["sourceServerID"]] = server
    return found


def select_source_servers(clients, region, source_server_ids=None, source_server_tags=None):
    """The source servers named by ID, or carrying all the given tags (raw DRS records).

    IDs: DescribeSourceServers filtered by ID (200 per call); every ID must exist.
    Tags: DescribeSourceServers has no tag filter, so one paginated sweep of the region
    (``filters: {}``, ERRATA row 10) is matched here; at least one server must match.
    """
    ids = check_ids(source_server_ids, "source_server", "source_server_ids")
    tags = check_tags(source_server_tags, "source_server_tags")
    if ids and tags:
        raise InputError("Choose servers by source_server_ids or by source_server_tags, not both.")
    if not ids and not tags:
        raise InputError("No servers chosen: give source_server_ids or source_server_tags.")
    reader = clients.reader("drs", region)
    if ids:
        found = _servers_by_ids(reader, ids)
        missing = [i for i in ids if i not in found]
        if missing:
            raise NotFoundError(
                f"DRS in {region} has no source server {', '.join(missing)}: check the IDs and the region "
                "(drs_replication_info lists the source servers)."
            )
        return [found[i] for i in ids]
    servers = [
        s
        for s in paginate(reader, "describe_source_servers", "items", filters={})
        if all((s.get("tags") or {}).get(k) == v for k, v in tags.items())
    ]
    if not servers:
        shown = ", ".join(f"{k}={v}" for k, v in tags.items())
        raise NotFoundError(f"No source server in {region} has the tags {shown}: check source_server_tags and region.")
    return sorted(servers, key=lambda s: s["sourceServerID"])


def recovery_instances_of(clients, region, source_server_ids=(), recovery_instance_ids=()):
    """Raw recovery instances of the given source servers or with the given IDs (200 IDs per filter)."""
    reader = clients.reader("drs", region)
    found = {}
    for key, ids in (("sourceServerIDs", source_server_ids), ("recoveryInstanceIDs", recovery_instance_ids)):
        for chunk in chunked(ids, FILTER_MAX):
            for item in paginate(reader, "describe_recovery_instances", "items", filters={key: chunk}):
                found[item["recoveryInstanceID"]] = item
    return list(found.values())


def instance_summary(item):
    """What a drill or recovery result says about one recovery instance."""
    return {
        "recovery_instance_id": item.get("recoveryInstanceID"),
        "ec2_instance_id": item.get("ec2InstanceID"),
        "ec2_instance_state": item.get("ec2InstanceState"),
        "source_server_id": item.get("sourceServerID"),
        "is_drill": bool(item.get("isDrill")),
        "job_id": item.get("jobID"),
        "origin_environment": item.get("originEnvironment"),
        "point_in_time_snapshot_time": isoformat(item.get("pointInTimeSnapshotDateTime")),
    }


def is_live(instance):
    """A recovery instance whose EC2 instance still exists (not shutting down or gone)."""
    return instance.get("ec2_instance_state") not in GONE_EC2_STATES


def check_snapshots(clients, region, snapshot_ids, server_ids):
    """Validate ``{source_server_id: recovery snapshot ID}`` against DescribeRecoverySnapshots.

    Every named server must be selected and every snapshot must belong to its server,
    so a typo fails before anything launches rather than as a failed job.
    """
    if not snapshot_ids:
        return {}
    if not isinstance(snapshot_ids, dict):
        raise InputError("snapshot_ids must map source server IDs to recovery snapshot IDs (pit-...).")
    check_ids(list(snapshot_ids), "source_server", "snapshot_ids keys")
    check_ids(list(snapshot_ids.values()), "snapshot", "snapshot_ids values")
    stray = [s for s in snapshot_ids if s not in server_ids]
    if stray:
        raise InputError(f"snapshot_ids names {', '.join(stray)}, which is not among the selected source servers.")
    reader = clients.reader("drs", region)
    for server_id, snapshot_id in snapshot_ids.items():
        snapshots = list(paginate(reader, "describe_recovery_snapshots", "items", sourceServerID=server_id))
        if not any(s["snapshotID"] == snapshot_id for s in snapshots):
            latest = max(snapshots, key=lambda s: s.get("expectedTimestamp") or "", default=None)
            hint = (
                f"its latest is {latest['snapshotID']} ({latest.get('expectedTimestamp')})" if latest else "it has none"
            )
            raise NotFoundError(
                f"{snapshot_id} is not a recovery snapshot of {server_id} in {region} ({hint}). "
                "List them with aws drs describe-recovery-snapshots."
            )
    return dict(snapshot_ids)


def replication_started(server):
    """When the server's current data replication started (``dataReplicationInitiation.startDateTime``), or None."""
    info = server.get("dataReplicationInfo") or {}
    return parse_datetime((info.get("dataReplicationInitiation") or {}).get("startDateTime"))


def cycle_starts(servers, raw_instances):
    """``{source_server_id: when its current replication cycle began}`` for the servers DRS shows failed back since.

    A server's recovery cycle (recovery, then failback) ends with the failback; what was
    launched before belongs to that earlier cycle:

    * on premises: the recovery instance that was failed back reaches ``failback.state``
      FAILBACK_COMPLETED; the next cycle begins with that failback
      (``failback.failbackInitiationTime``);
    * origin AWS: the failback ends with re-protection, ``ReverseReplication`` of the failback
      instance, after which the source server replicates that instance: its replication
      starts again (``dataReplicationInitiation.startDateTime``). Only a server that names a
      reversed-direction source server (``reversedDirectionSourceServerArn``) was ever
      reversed, so only such a server's replication start begins a cycle. DRS does not tell
      a replication stopped and started by hand (StopReplication, StartReplication) from
      one restarted by re-protection: both begin a cycle.
    """
    starts = {}
    for server in servers:
        start = replication_started(server) if server.get("reversedDirectionSourceServerArn") else None
        if start is not None:
            starts[server["sourceServerID"]] = start
    for item in raw_instances:
        failback = item.get("failback") or {}
        at = parse_datetime(failback.get("failbackInitiationTime"))
        if failback.get("state") == "FAILBACK_COMPLETED" and at is not None:
            sid = item.get("sourceServerID")
            starts[sid] = max(starts.get(sid, at), at)
    return starts


def earlier_cycle_instances(clients, region, servers, raw_instances, known_jobs, drill):
    """IDs of the servers' ``drill``-kind instances that belong to an earlier recovery cycle (:func:`cycle_starts`).

    Such an instance does not make its server ``present``: it holds data from before the
    failback, and a second disaster needs a new recovery (or drill) from the current data.
    An instance counts from its launch, its launch job's creation (the recent jobs already
    read, else the server's ``lifeCycle.lastLaunch`` when it names that job, else one
    DescribeJobs by job ID), never from its point in time: an instance recovered from an
    older snapshot in the current cycle is current. An on-premises instance that was failed
    back (FAILBACK_COMPLETED) is always of an earlier cycle. When the launch job is no
    longer known the point in time stands for the launch (it is never later).
    """
    starts = cycle_starts(servers, raw_instances)
    by_id = {s["sourceServerID"]: s for s in servers}
    created = {j["job_id"]: parse_datetime(j["creation_time"]) for j in known_jobs}
    earlier, unknown = set(), []
    for item in raw_instances:
        rid, sid, job = item.get("recoveryInstanceID"), item.get("sourceServerID"), item.get("jobID")
        if bool(item.get("isDrill")) != bool(drill):
            continue
        if (item.get("failback") or {}).get("state") == "FAILBACK_COMPLETED":
            earlier.add(rid)
            continue
        start = starts.get(sid)
        point_in_time = parse_datetime(item.get("pointInTimeSnapshotDateTime"))
        if start is None or (point_in_time is not None and point_in_time >= start):
            continue  # no cycle ended, or launched after the cycle began (never before its point in time)
        last = ((by_id.get(sid) or {}).get("lifeCycle") or {}).get("lastLaunch") or {}
        launched = created.get(job) or (
            parse_datetime((last.get("initiated") or {}).get("apiCallDateTime"))
            if job and last_launch_job_id(by_id.get(sid) or {}) == job
            else None
        )
        if launched is None and job:
            unknown.append(item)
        elif (launched or point_in_time) is not None and (launched or point_in_time) < start:
            earlier.add(rid)
    if unknown:
        jobs = describe_jobs(clients, region, job_ids=sorted({i["jobID"] for i in unknown}))
        created = {j["job_id"]: parse_datetime(j["creation_time"]) for j in jobs}
        for item in unknown:
            launched = created.get(item["jobID"]) or parse_datetime(item.get("pointInTimeSnapshotDateTime"))
            if launched is not None and launched < starts[item["sourceServerID"]]:
                earlier.add(item["recoveryInstanceID"])
    return earlier


def _has_snapshot(reader, server_id):
    page = reader.describe_recovery_snapshots(sourceServerID=server_id, order="DESC", maxResults=1)
    return bool(page.get("items"))


# --- Planning ------------------------------------------------------------------------------


def _job_label(job):
    return f"{job['job_id']} ({job['type']}, {job['initiated_by']}, {job['status']})"


def plan_launch(
    servers,
    active_by_server,
    instances_by_server,
    drill,
    relaunch=False,
    require_continuous=True,
    has_snapshot=None,
    servers_per_job=MAX_SERVERS_PER_JOB,
    earlier_cycle=frozenset(),
):
    """Classify every server (see the module docstring) and batch the ones to launch.

    Pure: takes what was read from DRS, returns ``{"servers": [...], "reattach": [...],
    "wait_for": [TERMINATE job IDs], "new_jobs": [[server IDs], ...]}``; the order of
    ``servers`` is kept everywhere.

    :param earlier_cycle: IDs of instances of an earlier recovery cycle
        (:func:`earlier_cycle_instances`): they do not make their server ``present``
    """
    initiator = LAUNCH_INITIATORS[bool(drill)]
    has_snapshot = has_snapshot or {}
    entries, reattach, launch, wait_for = [], {}, [], []
    for server in servers:
        sid = server["sourceServerID"]
        state = replication_state(server)
        entry = {"source_server_id": sid, "hostname": hostname(server), "replication_state": state}
        job = active_by_server.get(sid)
        live = [i for i in instances_by_server.get(sid, ()) if i["is_drill"] == bool(drill) and is_live(i)]
        kind_instances = [i for i in live if i["recovery_instance_id"] not in earlier_cycle]
        if job is not None:
            if job["type"] == "LAUNCH" and job["initiated_by"] == initiator:
                entry.update(action="reattach", job_id=job["job_id"])
                reattach.setdefault(job["job_id"], []).append(sid)
            elif job["type"] == "TERMINATE":
                entry.update(
                    action="wait",
                    job_id=job["job_id"],
                    reason=f"in job {_job_label(job)}: planned again once it completes",
                )
                wait_for += [job["job_id"]] if job["job_id"] not in wait_for else []
            else:
                entry.update(action="not_ready", reason=f"in job {_job_label(job)}: wait for it to finish")
        elif kind_instances and not relaunch:
            entry.update(action="present", recovery_instance_id=kind_instances[0]["recovery_instance_id"])
        elif state == "CONTINUOUS":
            entry.update(action="launch")
        elif require_continuous:
            entry.update(action="not_ready", reason=f"data replication is {state or 'unknown'}, not CONTINUOUS")
        elif not has_snapshot.get(sid):
            entry.update(action="not_ready", reason=f"data replication is {state or 'unknown'} and it has no snapshot")
        else:
            entry.update(action="launch")
        if entry["action"] == "launch":
            launch.append(sid)
            earlier = [i["recovery_instance_id"] for i in live if i["recovery_instance_id"] in earlier_cycle]
            if earlier and not relaunch:
                entry["earlier_cycle_instance_ids"] = earlier
        entries.append(entry)
    return {
        "servers": entries,
        "reattach": [{"job_id": j, "source_server_ids": ids} for j, ids in reattach.items()],
        "wait_for": wait_for,
        "new_jobs": chunked(launch, servers_per_job),
    }


# --- Sending, reconciling ------------------------------------------------------------------


def _participants(job, field="source_server_id"):
    """The source server IDs (or another member) of a job's participating servers."""
    return {s[field] for s in job["participating_servers"] if s.get(field)}


def _shown(ids, limit=3):
    return ", ".join(ids[:limit]) + (" ..." if len(ids) > limit else "")


class _Sender:
    """Starts jobs (one mutating call each) and reconciles calls whose outcome is unknown.

    ``known`` holds every job ID seen before a call, so a reconciled job is one that
    did not exist before: the job our call created. ``created`` lists the jobs our
    calls created (answered or reconciled), as opposed to jobs re-attached to.
    """

    def __init__(self, clients, region, known, interval, sleep):
        self.clients = clients
        self.region = region
        self.known = set(known)
        self.created = []
        self.interval = interval
        self.sleep = sleep

    def send(self, what, call, params, match, pointers=None):
        """Send ``call(**params)``; return the job records that carry out the request.

        :param match: (job record) -> bool, "this job is the effect of this call"
        :param pointers: () -> job IDs that may be the effect (cheap first look), or None
        """
        for _attempt in range(2):
            try:
                job = job_record(retry_throttled(call, sleep=self.sleep, **params)["job"])
                self.known.add(job["job_id"])
                self.created.append(job["job_id"])
                return [job]
            except Exception as exc:
                if error_code(exc) == "ConflictException":
                    return self._conflict(what, exc, params)
                if error_code(exc) == "ServiceQuotaExceededException":
                    raise ConflictError(
                        f"DRS in {self.region} refused {what}: {error_message(exc)}. Lower max_concurrent_jobs or "
                        "servers_per_job, or wait for running jobs (drs_job_info) and run again."
                    ) from None
                if not is_ambiguous(exc):
                    raise
                found = self._reconcile(match, pointers)
                if found is not None:
                    return [found]
                last = exc
        raise AmbiguousCallError(
            f"{what} in {self.region} failed twice without a usable answer ({last}) and DRS shows no job for it. "
            "Check drs_job_info, then run again: the module re-attaches to any job it finds."
        )

    def _reconcile(self, match, pointers):
        """The job the lost call created, or None when DRS shows none (twice, a poll interval apart)."""
        for look in range(2):
            if look:
                self.sleep(self.interval)
            candidates = [j for j in (pointers() if pointers else ()) if j not in self.known]
            jobs = describe_jobs(self.clients, self.region, job_ids=candidates) if candidates else []
            found = next((j for j in jobs if match(j)), None)
            if found is None:
                found = next(
                    (j for j in recent_jobs(self.clients, self.region) if j["job_id"] not in self.known and match(j)),
                    None,
                )
            if found is not None:
                self.known.add(found["job_id"])
                self.created.append(found["job_id"])
                return found
        return None

    def _conflict(self, what, exc, params):
        """ConflictException: re-attach when the conflicting jobs are this very request, else explain."""
        wanted = {s["sourceServerID"] for s in params.get("sourceServers", ())}
        instances = set(params.get("recoveryInstanceIDs", ()))
        running = [j for j in recent_jobs(self.clients, self.region) if j["status"] != "COMPLETED"]
        if instances:
            same = [
                j for j in running if j["type"] == "TERMINATE" and _participants(j, "recovery_instance_id") & instances
            ]
            covered = set().union(*(_participants(j, "recovery_instance_id") for j in same)) >= instances
        else:
            initiator = LAUNCH_INITIATORS[bool(params.get("isDrill"))]
            same = [j for j in running if j["initiated_by"] == initiator and _participants(j) & wanted]
            covered = set().union(*(_participants(j) for j in same)) >= wanted
        if same and covered:
            self.known.update(j["job_id"] for j in same)
            return same
        busy = [
            _job_label(j)
            for j in running
            if _participants(j) & wanted or _participants(j, "recovery_instance_id") & instances
        ]
        where = f" Running job(s): {', '.join(busy)}." if busy else ""
        raise ConflictError(
            f"DRS in {self.region} refused {what}: {error_message(exc)}.{where} "
            "Wait for those jobs to finish (drs_job_info) and run again.",
            job_ids=[j["job_id"] for j in running],
        ) from None


# --- Waves within the quotas -----------------------------------------------------------


class _Waves:
    """Starts batches as job slots allow: fewer than the concurrent job quota, at most 500 servers.

    Capacity is read from one DescribeJobs sweep per round; jobs started here that the
    sweep does not show yet count as running.
    """

    def __init__(self, clients, region, max_jobs, deadline, interval, clock, sleep):
        self.clients = clients
        self.region = region
        self.max_jobs = max_jobs
        self.deadline = deadline
        self.interval = interval
        self.clock = clock
        self.sleep = sleep
        self.started = {}  # job ID -> number of servers

    def load(self, jobs):
        seen = {j["job_id"] for j in jobs}
        running = [j for j in jobs if j["status"] != "COMPLETED"]
        count = len(running) + sum(1 for j in self.started if j not in seen)
        servers = sum(len(j["participating_servers"]) for j in running)
        servers += sum(n for j, n in self.started.items() if j not in seen)
        return count, servers

    def fits(self, jobs, size):
        count, servers = self.load(jobs)
        return count < self.max_jobs and servers + size <= MAX_SERVERS_IN_ACTIVE_JOBS

    def run(self, batches, start, jobs):
        """``start(batch) -> [job records]`` for each batch, waiting for slots; returns the records."""
        records = []
        pending = list(batches)
        while pending:
            if not self.fits(jobs, len(pending[0])):
                jobs = self._wait_for_slot(len(pending[0]), records, pending)
            for job in start(pending.pop(0)):
                records.append(job)
                self.started[job["job_id"]] = max(len(job["participating_servers"]), 1)
        return records

    def _wait_for_slot(self, size, records, pending):
        try:
            return wait_for(
                lambda: recent_jobs(self.clients, self.region),
                done=lambda jobs: self.fits(jobs, size),
                timeout=max(0.0, self.deadline - self.clock()),
                interval=self.interval,
                describe=lambda jobs: "{} job(s) and {} server(s) in active jobs".format(*self.load(jobs)),
                what=f"a free DRS job slot in {self.region} (fewer than {self.max_jobs + 1} jobs, "
                f"at most {MAX_SERVERS_IN_ACTIVE_JOBS} servers in active jobs)",
                clock=self.clock,
                sleep=self.sleep,
            )
        except WaitTimeout as exc:
            raise WaitTimeout(
                exc.message + " Jobs already started keep running; run again to start the rest.",
                jobs=records,
                not_started=[sid for batch in pending for sid in batch],
            ) from None


# --- Launch ----------------------------------------------------------------------------


def _launch_match(batch, drill):
    wanted = set(batch)
    initiator = LAUNCH_INITIATORS[bool(drill)]
    return lambda job: job["type"] == "LAUNCH" and job["initiated_by"] == initiator and _participants(job) == wanted


def _launch_pointers(clients, region, batch):
    def pointers():
        found = _servers_by_ids(clients.reader("drs", region), batch)
        return sorted({last_launch_job_id(s) for s in found.values() if last_launch_job_id(s)})

    return pointers


def _failure_reasons(clients, region, jobs, failed_ids):
    """``{source_server_id: [log text]}`` from the log items of jobs where servers failed."""
    reasons = {}
    for job in jobs:
        if not _participants(job) & failed_ids:
            continue
        for item in describe_job_log_items(clients, region, job["job_id"]):
            sid = item["event_data"].get("source_server_id")
            if sid in failed_ids and item["event"] in FAILED_EVENTS:
                text = item["event"] + (
                    f": {item['event_data']['raw_error']}" if item["event_data"].get("raw_error") else ""
                )
                reasons.setdefault(sid, []).append(text)
    return reasons


def _server_results(plan, jobs, instances):
    """Per-server outcome: the plan's action plus the job's launch status and the instance."""
    status = {}
    for job in jobs:
        for server in job["participating_servers"]:
            status[server["source_server_id"]] = (job["job_id"], server)
    by_id = {i["recovery_instance_id"]: i for i in instances}
    results = []
    for entry in plan["servers"]:
        entry = dict(entry)
        job_id, server = status.get(entry["source_server_id"], (entry.get("job_id"), None))
        if server is not None:
            entry["job_id"] = job_id
            entry["launch_status"] = server["launch_status"]
            entry["recovery_instance_id"] = server["recovery_instance_id"] or entry.get("recovery_instance_id")
        instance = by_id.get(entry.get("recovery_instance_id"))
        entry["ec2_instance_state"] = instance["ec2_instance_state"] if instance else None
        results.append(entry)
    return results


NOT_READY_ADVICE = "Wait until they are ready, or set skip_not_ready: true to launch the others."
DOWN_STATES = ("DISCONNECTED", "STALLED")
# A server whose source is down (a disaster: its agent is not seen, DISCONNECTED) is not CONTINUOUS
# again until it runs; DRS launches it from its latest recovery snapshot all the same.
DOWN_ADVICE = (
    "A server DISCONNECTED or STALLED because its source is down does not become ready by waiting: "
    "require_continuous: false launches it from its latest recovery snapshot, if it has one."
)


def _not_ready_advice(not_ready, busy, require_continuous):
    """The default advice, with the way out for servers that are down when only CONTINUOUS ones count."""
    down = [e for e in not_ready if e["source_server_id"] not in busy and e["replication_state"] in DOWN_STATES]
    return NOT_READY_ADVICE + (f" {DOWN_ADVICE}" if require_continuous and down else "")


def _wait_for_terminations(clients, region, plan, deadline, interval, clock, sleep):
    """Wait for the running TERMINATE jobs that hold servers to launch (``wait`` in the plan); nothing is sent."""
    held = [e["source_server_id"] for e in plan["servers"] if e["action"] == "wait"]
    try:
        wait_for_jobs(clients, region, plan["wait_for"], max(0.0, deadline - clock()), interval, clock, sleep)
    except WaitTimeout as exc:
        raise WaitTimeout(
            f"{exc.message} Source server(s) {_shown(held)} are in these TERMINATE job(s) and are launched only once "
            "they complete (DRS runs one job per source server). Nothing was launched; run again later.",
            plan={"reattach": plan["reattach"], "new_jobs": plan["new_jobs"], "wait_for": plan["wait_for"]},
            servers=plan["servers"],
        ) from None


def launch_recovery(
    clients,
    region,
    source_server_ids,
    drill=True,
    snapshot_ids=None,
    tags=None,
    wait=True,
    wait_timeout=3600,
    poll_interval=15,
    check_mode=False,
    clock=time.monotonic,
    sleep=time.sleep,
    source_server_tags=None,
    relaunch=False,
    require_continuous=True,
    skip_not_ready=False,
    servers_per_job=MAX_SERVERS_PER_JOB,
    max_concurrent_jobs=CONCURRENT_JOB_QUOTA - 1,
    not_ready_advice=None,
):
    """Make sure the servers have drill (``drill=True``) or recovery instances: launch, re-attach, wait.

    :param source_server_ids: servers by ID (or None with ``source_server_tags``)
    :param drill: True for a drill; False for a production recovery (callers confirm
        it first, see :func:`check_production_confirmed`)
    :param snapshot_ids: ``{source_server_id: 'pit-...'}`` point-in-time snapshots to
        launch from (validated); other servers launch from the latest data
    :param tags: tags of the new jobs (StartRecovery ``tags``)
    :param wait: wait until every job is COMPLETED (the quotas may make the run wait for
        job slots even when False)
    :param check_mode: read and plan, send nothing
    :param source_server_tags: choose the servers by tags instead (all must match)
    :param relaunch: launch even for servers that already have a live instance of that kind
    :param require_continuous: only CONTINUOUS servers are ready; when False, servers in
        other states launch from their latest recovery snapshot if they have one (a
        disaster often leaves sources DISCONNECTED)
    :param skip_not_ready: launch the ready servers and report the others; by default
        any server that is not ready stops the run before anything is sent
    :param servers_per_job: at most this many servers per job (1-100)
    :param max_concurrent_jobs: never more active jobs than this in the region (1-19)
    :param not_ready_advice: what the refusal of servers that are not ready tells the caller
        to do (the failback core, which has no ``skip_not_ready``, says its own); by default
        wait or skip them, and for servers that are down, ``require_continuous=False``
    :returns: ``{changed, drill, plan, jobs, servers, recovery_instances, not_ready,
        failures}``; ``jobs`` lists every job started or re-attached (job records)
    :raises ConflictError: servers not ready (``details['plan']``), or DRS refused a job
    :raises DrsOrchestrationError: servers failed to launch (``details`` = the result)
    """
    _limits(servers_per_job, max_concurrent_jobs)
    deadline = clock() + wait_timeout
    servers = select_source_servers(clients, region, source_server_ids, source_server_tags)
    ids = [s["sourceServerID"] for s in servers]
    snapshots = check_snapshots(clients, region, snapshot_ids, set(ids))
    tags = check_tags(tags, "tags")
    while True:
        known_jobs = recent_jobs(clients, region)
        raw_instances = recovery_instances_of(clients, region, source_server_ids=ids)
        instances = [instance_summary(i) for i in raw_instances]
        by_server = {}
        for instance in instances:
            by_server.setdefault(instance["source_server_id"], []).append(instance)
        reader = clients.reader("drs", region)
        has_snapshot = {}
        if not require_continuous:
            has_snapshot = {
                s["sourceServerID"]: _has_snapshot(reader, s["sourceServerID"])
                for s in servers
                if replication_state(s) != "CONTINUOUS"
            }
        busy = servers_in_jobs(known_jobs)
        plan = plan_launch(
            servers,
            busy,
            by_server,
            drill,
            relaunch,
            require_continuous,
            has_snapshot,
            servers_per_job,
            earlier_cycle_instances(clients, region, servers, raw_instances, known_jobs, drill),
        )
        not_ready = [e for e in plan["servers"] if e["action"] == "not_ready"]
        summary = {"drill": bool(drill), "plan": {"reattach": plan["reattach"], "new_jobs": plan["new_jobs"]}}
        if not_ready and not skip_not_ready:
            shown = "; ".join(f"{e['source_server_id']} ({e['hostname']}): {e['reason']}" for e in not_ready[:10])
            more = f"; and {len(not_ready) - 10} more" if len(not_ready) > 10 else ""
            raise ConflictError(
                f"{len(not_ready)} of {len(servers)} source server(s) are not ready to launch: {shown}{more}. "
                "Nothing was launched. " + (not_ready_advice or _not_ready_advice(not_ready, busy, require_continuous)),
                **summary,
                servers=plan["servers"],
                not_ready=not_ready,
            )
        if check_mode:
            return {
                "changed": bool(plan["new_jobs"] or plan["wait_for"]),
                **summary,
                "jobs": [],
                "servers": plan["servers"],
                "recovery_instances": [i for i in instances if i["is_drill"] == bool(drill) and is_live(i)],
                "not_ready": not_ready,
                "failures": [],
            }
        if not plan["wait_for"]:
            break
        _wait_for_terminations(clients, region, plan, deadline, poll_interval, clock, sleep)
        servers = select_source_servers(clients, region, ids)  # their state may have moved meanwhile

    sender = _Sender(clients, region, [j["job_id"] for j in known_jobs], poll_interval, sleep)
    kind = "drill" if drill else "recovery"

    def start(batch):
        params = {
            "sourceServers": [
                {"sourceServerID": sid, **({"recoverySnapshotID": snapshots[sid]} if sid in snapshots else {})}
                for sid in batch
            ],
            "isDrill": bool(drill),
            **({"tags": tags} if tags else {}),
        }
        return sender.send(
            f"a {kind} job for {len(batch)} source server(s) ({_shown(batch)})",
            clients.writer("drs", region).start_recovery,
            params,
            _launch_match(batch, drill),
            _launch_pointers(clients, region, batch),
        )

    waves = _Waves(clients, region, max_concurrent_jobs, deadline, poll_interval, clock, sleep)
    started = waves.run(plan["new_jobs"], start, known_jobs)
    attached = [j for j in known_jobs if j["job_id"] in {r["job_id"] for r in plan["reattach"]}]
    jobs = list({j["job_id"]: j for j in attached + started}.values())
    if wait and jobs:
        try:
            jobs = wait_for_jobs(
                clients, region, [j["job_id"] for j in jobs], max(0.0, deadline - clock()), poll_interval, clock, sleep
            )
        except WaitTimeout as exc:
            raise WaitTimeout(
                exc.message, **summary, jobs=exc.details.get("last") or jobs, changed=bool(sender.created)
            ) from None
    instances = [instance_summary(i) for i in recovery_instances_of(clients, region, source_server_ids=ids)]
    results = _server_results(plan, jobs, instances)
    wanted = {r.get("recovery_instance_id") for r in results if r["action"] != "not_ready"}
    result = {
        "changed": bool(sender.created),
        **summary,
        "jobs": jobs,
        "servers": results,
        "recovery_instances": [i for i in instances if i["recovery_instance_id"] in wanted],
        "not_ready": not_ready,
        "failures": [r for r in results if r.get("launch_status") == "FAILED"],
    }
    if result["failures"]:
        reasons = _failure_reasons(clients, region, jobs, {r["source_server_id"] for r in result["failures"]})
        for entry in result["failures"]:
            entry["reason"] = "; ".join(reasons.get(entry["source_server_id"], ())) or "see the job log items"
        shown = "; ".join(f"{r['source_server_id']}: {r['reason']}" for r in result["failures"][:10])
        raise DrsOrchestrationError(
            f"{len(result['failures'])} of {len(results)} source server(s) failed to launch in {region}: {shown}. "
            "drs_job_info with include_log_items shows the full job logs.",
            **result,
        )
    return result


# --- Terminate -------------------------------------------------------------------------


def _terminate_plan(ids, instances, known_jobs):
    """Split instances into: re-attach to a running TERMINATE job, busy in another job, to terminate.

    Busy: the instance, or its source server, takes part in a running job. DRS runs one job
    per source server and refuses a TerminateRecoveryInstances whose instances' source
    servers are in one (a recovery job of the server, the TERMINATE job of another of its
    instances), so such a call is not sent.
    """
    running = [j for j in known_jobs if j["status"] != "COMPLETED"]
    reattach, busy, todo = {}, [], []
    for job in running:
        if job["type"] == "TERMINATE":
            for rid in sorted(_participants(job, "recovery_instance_id") & set(instances)):
                reattach.setdefault(job["job_id"], []).append(rid)
    taken = {rid for rids in reattach.values() for rid in rids}
    for rid in ids:
        if rid not in instances or rid in taken:
            continue
        server = instances[rid]["source_server_id"]
        job = next((j for j in running if rid in _participants(j, "recovery_instance_id")), None)
        if job is not None:
            busy.append(f"{rid} in {_job_label(job)}")
            continue
        job = next((j for j in running if server in _participants(j)), None)
        if job is not None:
            busy.append(f"{rid} (its source server {server} is in {_job_label(job)})")
            continue
        todo.append(rid)
    return reattach, busy, todo


def terminate_recovery_instances(
    clients,
    region,
    recovery_instance_ids,
    drill_only=True,
    wait=True,
    wait_timeout=3600,
    poll_interval=15,
    check_mode=False,
    clock=time.monotonic,
    sleep=time.sleep,
    servers_per_job=MAX_SERVERS_PER_JOB,
    max_concurrent_jobs=CONCURRENT_JOB_QUOTA - 1,
):
    """Terminate recovery instances (TerminateRecoveryInstances), after checking what they are.

    Declarative: instances DRS no longer knows are reported as ``already_absent``, and
    instances already in a running TERMINATE job are re-attached to, not sent again.

    :param drill_only: refuse (InputError, nothing sent) when any instance is not a drill
        instance: those serve a real recovery
    :param wait: wait for the TERMINATE jobs to complete and check the instances are gone
    :returns: ``{changed, plan, jobs, terminated, already_absent, recovery_instances, failures}``
    :raises ConflictError: an instance is in another running job (still being launched ...)
    """
    _limits(servers_per_job, max_concurrent_jobs)
    deadline = clock() + wait_timeout
    ids = check_ids(recovery_instance_ids, "recovery_instance", "recovery_instance_ids")
    instances = {
        i["recovery_instance_id"]: i
        for i in map(instance_summary, recovery_instances_of(clients, region, recovery_instance_ids=ids))
    }
    absent = [i for i in ids if i not in instances]
    non_drill = [i for i in ids if i in instances and not instances[i]["is_drill"]]
    if non_drill and drill_only:
        raise InputError(
            f"Refusing to terminate {', '.join(non_drill)}: not drill instances, they serve a real recovery. "
            "Set terminate_non_drill: true if you really mean to terminate them.",
            recovery_instances=[instances[i] for i in non_drill],
        )
    known_jobs = recent_jobs(clients, region)
    reattach, busy, todo = _terminate_plan(ids, instances, known_jobs)
    if busy:
        raise ConflictError(
            f"Cannot terminate now: {'; '.join(busy)}. Wait for the job(s) to finish (drs_job_info), then run again."
        )
    plan = {
        "reattach": [{"job_id": j, "recovery_instance_ids": rids} for j, rids in reattach.items()],
        "new_jobs": chunked(todo, servers_per_job),
    }
    listed = [instances[i] for i in ids if i in instances]
    result = {"changed": bool(todo), "plan": plan, "already_absent": absent, "recovery_instances": listed}
    if check_mode or not instances:
        return {**result, "jobs": [], "terminated": [], "failures": []}

    sender = _Sender(clients, region, [j["job_id"] for j in known_jobs], poll_interval, sleep)

    def start(batch):
        return sender.send(
            f"terminating {len(batch)} recovery instance(s) ({_shown(batch)})",
            clients.writer("drs", region).terminate_recovery_instances,
            {"recoveryInstanceIDs": batch},
            lambda job, wanted=set(batch): (
                job["type"] == "TERMINATE" and _participants(job, "recovery_instance_id") == wanted
            ),
        )

    waves = _Waves(clients, region, max_concurrent_jobs, deadline, poll_interval, clock, sleep)
    started = waves.run(plan["new_jobs"], start, known_jobs)
    jobs = [j for j in known_jobs if j["job_id"] in reattach] + started
    result["changed"] = bool(sender.created)
    if not wait:
        return {**result, "jobs": jobs, "terminated": [], "failures": []}
    try:
        jobs = wait_for_jobs(
            clients, region, [j["job_id"] for j in jobs], max(0.0, deadline - clock()), poll_interval, clock, sleep
        )
    except WaitTimeout as exc:
        raise WaitTimeout(exc.message, **result, jobs=exc.details.get("last") or jobs) from None
    targets = [i for i in ids if i in instances]
    remaining = {i["recoveryInstanceID"] for i in recovery_instances_of(clients, region, recovery_instance_ids=targets)}
    failed = [
        {"recovery_instance_id": s["recovery_instance_id"], "launch_status": s["launch_status"], "job_id": j["job_id"]}
        for j in jobs
        for s in j["participating_servers"]
        if s["recovery_instance_id"] in remaining or s["launch_status"] == "FAILED"
    ]
    result.update(jobs=jobs, terminated=[i for i in targets if i not in remaining], failures=failed)
    if failed:
        raise DrsOrchestrationError(
            f"{len(failed)} recovery instance(s) were not terminated in {region}: "
            f"{', '.join(f['recovery_instance_id'] for f in failed[:10])}. "
            "drs_job_info with include_log_items shows why (CLEANUP_FAIL events).",
            **result,
        )
    return result


def remove_recovery(
    clients,
    region,
    source_server_ids=None,
    source_server_tags=None,
    recovery_instance_ids=None,
    drill=True,
    terminate_non_drill=False,
    **kwargs,
):
    """``state: absent``: terminate the drill (or, confirmed, recovery) instances chosen.

    By recovery instance IDs: those instances. By source servers (IDs or tags): their
    live instances of the kind ``drill`` names; asking for non-drill ones
    (``drill=False``) needs ``terminate_non_drill``. ``kwargs`` go to
    :func:`terminate_recovery_instances`.
    """
    if recovery_instance_ids and (source_server_ids or source_server_tags):
        raise InputError("Choose recovery_instance_ids or source servers (source_server_ids / tags), not both.")
    if not recovery_instance_ids:
        if not drill and not terminate_non_drill:
            raise InputError(
                "state: absent with drill: false terminates production recovery instances. "
                "Set terminate_non_drill: true to confirm."
            )
        servers = select_source_servers(clients, region, source_server_ids, source_server_tags)
        found = recovery_instances_of(clients, region, source_server_ids=[s["sourceServerID"] for s in servers])
        recovery_instance_ids = [
            i["recovery_instance_id"]
            for i in map(instance_summary, found)
            if i["is_drill"] == bool(drill) and i["ec2_instance_state"] != "NOT_FOUND"
        ]
        if not recovery_instance_ids:
            return {
                "changed": False,
                "plan": {"reattach": [], "new_jobs": []},
                "jobs": [],
                "terminated": [],
                "already_absent": [],
                "recovery_instances": [],
                "failures": [],
            }
    return terminate_recovery_instances(
        clients, region, recovery_instance_ids, drill_only=not terminate_non_drill, **kwargs
    )
