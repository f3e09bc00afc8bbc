# Copyright: Contributors to drs.orchestration
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
"""DRS jobs: reading them, waiting for them, and knowing which servers are busy.

Every DRS launch, termination and on-premises failback runs as a job (``drsjob-...``).
DRS runs at most one job per source server and a limited number of jobs at once
(ERRATA "Quotas"), so the launch code asks this file which servers are already in a
job before starting anything, and waits for jobs here.

Facts from the service model (botocore ``drs`` 2020-02-26) this file relies on:

* ``DescribeJobs`` is paginated; its only filters are ``jobIDs`` (at most 1000),
  ``fromDate`` and ``toDate`` (creation time, ``YYYY-MM-DDTHH:MM:SSZ``). Type,
  initiator and status are filtered here, client side.
* A job's ``status`` is PENDING, STARTED or COMPLETED. A job never "fails": each
  participating server carries its own ``launchStatus`` (PENDING, IN_PROGRESS,
  LAUNCHED, FAILED, TERMINATED), and the reasons are in ``DescribeJobLogItems``.

Records returned here are snake_case dicts (see :func:`job_record`).
"""

from __future__ import annotations

import time
from datetime import UTC, timedelta

from .aws import chunked, paginate
from .errors import InputError, NotFoundError
from .timeutil import isoformat, parse_datetime, utcnow
from .validation import check_ids
from .waiter import wait_for

# DescribeJobsRequestFiltersJobIDs: max 1000 items.
JOB_ID_FILTER_MAX = 1000
ACTIVE_STATUSES = ("PENDING", "STARTED")
JOB_TYPES = ("LAUNCH", "TERMINATE", "CREATE_CONVERTED_SNAPSHOT")
INITIATORS = (
    "START_RECOVERY",
    "START_DRILL",
    "FAILBACK",
    "DIAGNOSTIC",
    "TERMINATE_RECOVERY_INSTANCES",
    "TARGET_ACCOUNT",
    "CREATE_NETWORK_RECOVERY",
    "UPDATE_NETWORK_RECOVERY",
    "ASSOCIATE_NETWORK_RECOVERY",
)
# How far back to look for jobs that may still run. DRS launches and terminations
# take minutes to hours; a week leaves a wide margin and keeps the sweep short.
ACTIVE_JOB_LOOKBACK = timedelta(days=7)


def drs_datetime(value, option):
    """The ``YYYY-MM-DDTHH:MM:SSZ`` text DRS filters accept, from anything parse_datetime reads."""
    if value is None or value == "":
        return None
    parsed = parse_datetime(value)
    if parsed is None:
        raise InputError(f"{option}: {value!r} is not a date-time; use ISO 8601, for example 2024-05-01T12:00:00Z.")
    return parsed.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def server_record(item):
    """One participating server of a job, snake_case."""
    return {
        "source_server_id": item.get("sourceServerID"),
        "recovery_instance_id": item.get("recoveryInstanceID"),
        "launch_status": item.get("launchStatus"),
    }


def job_record(job):
    """A DRS Job as a snake_case dict (dates as ISO 8601 text, absent ones as None)."""
    return {
        "job_id": job.get("jobID"),
        "arn": job.get("arn"),
        "type": job.get("type"),
        "initiated_by": job.get("initiatedBy"),
        "status": job.get("status"),
        "creation_time": isoformat(job.get("creationDateTime")),
        "end_time": isoformat(job.get("endDateTime")),
        "tags": dict(job.get("tags") or {}),
        "participating_servers": [server_record(s) for s in job.get("participatingServers") or ()],
    }


def log_item_record(item):
    """One DescribeJobLogItems entry, snake_case; only the members DRS returned."""
    data = item.get("eventData") or {}
    event_data = {
        key: data[name]
        for key, name in (
            ("source_server_id", "sourceServerID"),
            ("conversion_server_id", "conversionServerID"),
            ("target_instance_id", "targetInstanceID"),
            ("raw_error", "rawError"),
            ("attempt_count", "attemptCount"),
            ("max_attempts_count", "maxAttemptsCount"),
        )
        if data.get(name) is not None
    }
    return {"time": isoformat(item.get("logDateTime")), "event": item.get("event"), "event_data": event_data}


def describe_job_log_items(clients, region, job_id):
    """Every log item of one job, oldest first as DRS returns them (paginated)."""
    reader = clients.reader("drs", region)
    return [log_item_record(i) for i in paginate(reader, "describe_job_log_items", "items", jobID=job_id)]


def _as_set(value, option, allowed):
    if value is None or value == [] or value == "":
        return None
    values = [value] if isinstance(value, str) else list(value)
    bad = [v for v in values if v not in allowed]
    if bad:
        raise InputError(f"{option}: {', '.join(map(repr, bad))} not one of {', '.join(allowed)}.")
    return set(values)


def describe_jobs(clients, region, **options):
    """Jobs matching all the given filters, latest first: :func:`job_info`'s ``jobs``.

    IDs DRS does not know are simply absent from the result (:func:`job_info` names them).
    """
    return job_info(clients, region, **options)["jobs"]


def job_info(
    clients,
    region,
    job_ids=None,
    from_date=None,
    to_date=None,
    job_type=None,
    initiated_by=None,
    include_log_items=False,
):
    """What ``drs_job_info`` returns: the matching ``jobs`` and the ``missing_job_ids``.

    :param job_ids: job IDs (validated; chunked by 1000 per DescribeJobs call)
    :param from_date: / :param to_date: creation-time bounds (datetime, ISO text or epoch)
    :param job_type: LAUNCH, TERMINATE or CREATE_CONVERTED_SNAPSHOT (one or a list)
    :param initiated_by: START_DRILL, START_RECOVERY, FAILBACK, ... (one or a list)
    :param include_log_items: add ``log_items`` to each job (one paginated
        DescribeJobLogItems per job)
    :returns: ``{"jobs": [job_record, ...] latest first, "missing_job_ids": [...]}``;
        ``missing_job_ids`` are the given IDs DRS does not know in ``region`` (absent from
        its DescribeJobs answer), in the order given: a known job that the type, initiator
        or date filters leave out is not missing.
    """
    ids = check_ids(job_ids, "job", "job_ids")
    types = _as_set(job_type, "job_type", JOB_TYPES)
    initiators = _as_set(initiated_by, "initiated_by", INITIATORS)
    filters = {}
    start, end = drs_datetime(from_date, "from_date"), drs_datetime(to_date, "to_date")
    if start and end and start > end:
        raise InputError(f"from_date ({start}) is after to_date ({end}): swap them or widen the range.")
    if start:
        filters["fromDate"] = start
    if end:
        filters["toDate"] = end
    reader = clients.reader("drs", region)
    raw = []
    if ids:
        for chunk in chunked(ids, JOB_ID_FILTER_MAX):
            raw.extend(paginate(reader, "describe_jobs", "items", filters={**filters, "jobIDs": chunk}))
    else:
        raw.extend(paginate(reader, "describe_jobs", "items", filters=filters))
    records = {}
    for job in raw:
        record = job_record(job)
        if types and record["type"] not in types:
            continue
        if initiators and record["initiated_by"] not in initiators:
            continue
        records[record["job_id"]] = record
    jobs = sorted(records.values(), key=lambda r: r["creation_time"] or "", reverse=True)
    if include_log_items:
        for record in jobs:
            record["log_items"] = describe_job_log_items(clients, region, record["job_id"])
    known = {job.get("jobID") for job in raw}
    return {"jobs": jobs, "missing_job_ids": [i for i in ids if i not in known]}


def _jobs_by_ids(reader, ids):
    """One DescribeJobs round for known IDs: a paginated call per 1000 IDs."""
    found = {}
    for chunk in chunked(ids, JOB_ID_FILTER_MAX):
        for job in paginate(reader, "describe_jobs", "items", filters={"jobIDs": chunk}):
            found[job["jobID"]] = job_record(job)
    return found


def recent_jobs(clients, region, since=None):
    """Every job created since ``since`` (default :data:`ACTIVE_JOB_LOOKBACK` ago), latest first.

    DescribeJobs cannot filter by status, so active jobs are found by reading a
    recent window of jobs (one paginated sweep) and looking at their status.
    """
    start = drs_datetime(since or (utcnow() - ACTIVE_JOB_LOOKBACK), "since")
    reader = clients.reader("drs", region)
    jobs = [job_record(j) for j in paginate(reader, "describe_jobs", "items", filters={"fromDate": start})]
    return sorted(jobs, key=lambda r: r["creation_time"] or "", reverse=True)


def is_active(job):
    return job["status"] in ACTIVE_STATUSES


def active_jobs(clients, region, since=None):
    """Jobs still PENDING or STARTED in the region (any type, anyone's), latest first."""
    return [j for j in recent_jobs(clients, region, since=since) if is_active(j)]


def servers_in_jobs(jobs):
    """``{source_server_id: job}`` for the active jobs among ``jobs`` (the latest job wins)."""
    by_server = {}
    for job in sorted(jobs, key=lambda r: r["creation_time"] or ""):
        if not is_active(job):
            continue
        for server in job["participating_servers"]:
            if server["source_server_id"]:
                by_server[server["source_server_id"]] = job
    return by_server


def active_jobs_by_server(clients, region, since=None):
    """``{source_server_id: job record}`` for every server in a PENDING/STARTED job.

    DRS runs one job per source server at a time, so a server found here must not
    get a second job: callers re-attach to this one or wait for it.
    """
    return servers_in_jobs(active_jobs(clients, region, since=since))


def job_progress(job):
    """``drsjob-... STARTED (3 servers: 2 LAUNCHED, 1 IN_PROGRESS)``: where one job stands."""
    counts = {}
    for server in job["participating_servers"]:
        status = server["launch_status"] or "UNKNOWN"
        counts[status] = counts.get(status, 0) + 1
    detail = ", ".join(f"{n} {status}" for status, n in sorted(counts.items()))
    servers = len(job["participating_servers"])
    return f"{job['job_id']} {job['status']} ({servers} server{'s' if servers != 1 else ''}: {detail or 'none yet'})"


def describe_wait(jobs):
    """Short text of the jobs still running, for timeout messages."""
    running = [j for j in jobs if j["status"] != "COMPLETED"]
    shown = "; ".join(job_progress(j) for j in running[:5])
    more = f"; and {len(running) - 5} more" if len(running) > 5 else ""
    return f"{len(jobs) - len(running)} of {len(jobs)} job(s) COMPLETED; still running: {shown}{more}"


def wait_for_jobs(clients, region, job_ids, timeout, interval, clock=time.monotonic, sleep=time.sleep):
    """Wait until every job is COMPLETED; return their final records (in ``job_ids`` order).

    One DescribeJobs round per poll (a call per 1000 IDs). A job DRS does not know
    raises :class:`NotFoundError` at once: waiting would never end. Completion says
    nothing about success: check each participating server's ``launch_status``.
    Raises :class:`WaitTimeout` (``details['last']`` = the last records) on timeout.
    """
    ids = check_ids(job_ids, "job", "job_ids")
    if not ids:
        return []
    reader = clients.reader("drs", region)

    def poll():
        found = _jobs_by_ids(reader, ids)
        missing = [i for i in ids if i not in found]
        if missing:
            raise NotFoundError(
                f"DRS in {region} does not know job(s) {', '.join(missing)}: check the IDs and the region.",
                jobs=list(found.values()),
            )
        return [found[i] for i in ids]

    return wait_for(
        poll,
        done=lambda jobs: all(j["status"] == "COMPLETED" for j in jobs),
        timeout=timeout,
        interval=interval,
        describe=describe_wait,
        what=f"{len(ids)} DRS job(s) in {region}",
        clock=clock,
        sleep=sleep,
    )
