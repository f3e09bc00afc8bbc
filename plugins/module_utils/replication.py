# Copyright: Contributors to drs.orchestration
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Where every source server stands: normalisation, fleet sweep, summary and waiting.

One paginated DescribeSourceServers sweep per region answers every question here, for
any fleet size: the DRS ``sourceServerIDs`` filter is the only server-side filter worth
sending (chunked by the model's 200), everything else (instance IDs, hostnames, tags,
states, direction) is applied to the records client side. ``filters`` is always sent,
``{}`` when unfiltered (ERRATA row 10). Never one call per server.

Records are stable snake_case dictionaries (see :func:`normalize_source_server`) built
defensively: AWS may omit any member and may add enum values later; nothing here
raises on a missing field or an unknown value, it degrades to ``None`` / a derived label.
Ages and ETAs are computed against the service's clock (the response ``Date`` header),
not the controller's.
"""

from __future__ import annotations

import difflib
import fnmatch
import math
import time
from dataclasses import dataclass, field
from datetime import timedelta

from .aws import chunked, is_aws_error, read_error
from .errors import IncompleteReadError, InputError, NotFoundError, WaitFailed, WaitTimeout
from .jobs import describe_jobs
from .records import (
    REPLICATION_STEPS,
    StepTable,
    as_dict,
    as_list,
    as_text,
    as_time,
    disk,
    disk_progress,
    initiation,
    iso_text,
    label,
    percent,
    progress_text,
    replication_error,
    rescan_progress,
    utc_text,
)
from .timeutil import format_duration, isoformat, parse_duration, seconds_since, service_now
from .validation import check_ids, check_range, check_regions
from .waiter import wait_for

# --- The vocabulary of the DRS model (botocore drs 2020-02-26) ------------------------
# A unit test checks these against the model so a model update cannot drift silently.

DATA_REPLICATION_STATES = (
    "STOPPED",
    "INITIATING",
    "INITIAL_SYNC",
    "BACKLOG",
    "CREATING_SNAPSHOT",
    "CONTINUOUS",
    "PAUSED",
    "RESCAN",
    "STALLED",
    "DISCONNECTED",
)

STATE_LABELS = {
    "STOPPED": "Stopped",
    "INITIATING": "Initiating",
    "INITIAL_SYNC": "Initial sync",
    "BACKLOG": "Backlog",
    "CREATING_SNAPSHOT": "Creating snapshot",
    "CONTINUOUS": "Continuous (ready)",
    "PAUSED": "Paused",
    "RESCAN": "Rescan",
    "STALLED": "Stalled",
    "DISCONNECTED": "Disconnected",
}

# The 11 DataReplicationInitiationStepName values, in model (= execution) order.
INITIATION_STEPS = REPLICATION_STEPS
_STEPS = StepTable(INITIATION_STEPS)

# DataReplicationErrorString values with what an operator reads.
ERROR_LABELS = {
    "AGENT_NOT_SEEN": "Agent not seen by the service",
    "SNAPSHOTS_FAILURE": "Snapshots failing",
    "NOT_CONVERGING": "Replication not converging (writes outpace the transfer)",
    "UNSTABLE_NETWORK": "Unstable network",
    "FAILED_TO_CREATE_SECURITY_GROUP": "Failed to create the security group",
    "FAILED_TO_LAUNCH_REPLICATION_SERVER": "Failed to launch the replication server",
    "FAILED_TO_BOOT_REPLICATION_SERVER": "Failed to boot the replication server",
    "FAILED_TO_AUTHENTICATE_WITH_SERVICE": "Failed to authenticate with the service",
    "FAILED_TO_DOWNLOAD_REPLICATION_SOFTWARE": "Failed to download the replication software",
    "FAILED_TO_CREATE_STAGING_DISKS": "Failed to create the staging disks",
    "FAILED_TO_ATTACH_STAGING_DISKS": "Failed to attach the staging disks",
    "FAILED_TO_PAIR_REPLICATION_SERVER_WITH_AGENT": "Failed to pair the replication server with the agent",
    "FAILED_TO_CONNECT_AGENT_TO_REPLICATION_SERVER": "Failed to connect the agent to the replication server",
    "FAILED_TO_START_DATA_TRANSFER": "Failed to start the data transfer",
}

REPLICATION_DIRECTIONS = ("FAILOVER", "FAILBACK")

READY_STATES = frozenset({"CONTINUOUS"})
# On the way to CONTINUOUS: counted as "syncing" in the summary.
SYNCING_STATES = frozenset({"INITIATING", "INITIAL_SYNC", "BACKLOG", "CREATING_SNAPSHOT", "RESCAN"})
ATTENTION_STATES = frozenset({"STALLED", "DISCONNECTED"})
DEFAULT_FAIL_ON_STATES = ("STALLED", "DISCONNECTED")
UNKNOWN_STATE = "UNKNOWN"  # summary key for a server whose state AWS did not report

# The model gives DescribeSourceServers.maxResults no upper bound; 1000 is the bound the
# DRS model sets on its other bounded list calls. The paginator follows nextToken
# whatever page size the service actually returns.
PAGE_SIZE = 1000
ID_FILTER_MAX = 200  # DescribeSourceServersRequestFilters.sourceServerIDs max items


# --- Labels ----------------------------------------------------------------------------


def human_duration(seconds):
    """``45s``, ``12m 05s``, ``3h 20m``, ``2d 4h``; ``—`` when unknown (for people, not parsers)."""
    if seconds is None:
        return "—"
    seconds = int(max(0, round(seconds)))
    days, rest = divmod(seconds, 86400)
    hours, rest = divmod(rest, 3600)
    minutes, secs = divmod(rest, 60)
    if days:
        return f"{days}d {hours}h"
    if hours:
        return f"{hours}h {minutes:02d}m"
    if minutes:
        return f"{minutes}m {secs:02d}s"
    return f"{secs}s"


def state_label(state):
    return label(state, STATE_LABELS, "Unknown")


# --- One source server ---------------------------------------------------------------


def normalize_source_server(raw, region, now):
    """The stable record of one DescribeSourceServers item.

    :param raw: one item of ``DescribeSourceServers.items`` (plain dict, as boto3 returns it)
    :param region: the region it was read in
    :param now: the service's current time (aware datetime), for ages and ETAs

    ``progress_percent`` is the initial sync (100 once it is done, also while the server
    rescans); ``rescan_percent`` is the rescan of a server in RESCAN, None in every other
    state or when DRS reports no rescan progress (:func:`.records.rescan_progress`).
    """
    raw = as_dict(raw)
    info = as_dict(raw.get("dataReplicationInfo"))
    props = as_dict(raw.get("sourceProperties"))
    hints = as_dict(props.get("identificationHints"))
    state = as_text(info.get("dataReplicationState"))
    disks = [_disk(d, state == "RESCAN") for d in as_list(info.get("replicatedDisks"))]
    total, replicated, backlogged, progress = disk_progress(disks, state)
    return {
        "source_server_id": as_text(raw.get("sourceServerID")),
        "arn": as_text(raw.get("arn")),
        "region": region,
        "hostname": as_text(hints.get("hostname")),
        "fqdn": as_text(hints.get("fqdn")),
        "instance_id": as_text(hints.get("awsInstanceID")),
        "data_replication_state": state,
        "state_label": state_label(state),
        "replication_direction": as_text(raw.get("replicationDirection")),
        "reversed_direction_source_server_arn": as_text(raw.get("reversedDirectionSourceServerArn")),
        "recovery_instance_id": as_text(raw.get("recoveryInstanceId")),
        "last_launch_result": as_text(raw.get("lastLaunchResult")),
        "lag": _lag(info.get("lagDuration"), now),
        "eta": _eta(info.get("etaDateTime"), now),
        "lifecycle": _lifecycle(as_dict(raw.get("lifeCycle")), now),
        "initiation": _initiation(as_dict(info.get("dataReplicationInitiation"))),
        "disks": disks,
        "total_bytes": total,
        "replicated_bytes": replicated,
        "backlogged_bytes": backlogged,
        "progress_percent": progress,
        "rescan_percent": rescan_progress(disks, state),
        "staging_area": _staging_area(as_dict(raw.get("stagingArea")), info),
        "error": replication_error(as_dict(info.get("dataReplicationError")), ERROR_LABELS),
        "origin": _origin(as_dict(raw.get("sourceCloudProperties"))),
        "os": as_text(as_dict(props.get("os")).get("fullString")),
        "agent_version": as_text(raw.get("agentVersion")),
        "tags": {str(k): str(v) for k, v in as_dict(raw.get("tags")).items()},
    }


def _disk(raw, rescanning):
    """The shared disk record plus the volume status, which only source servers report."""
    record = disk(raw, rescanning)
    record["volume_status"] = as_text(as_dict(raw).get("volumeStatus"))
    return record


def _lag(value, now):
    """``lagDuration`` as ISO 8601 duration and seconds.

    The model types it as an ISO 8601 duration on source servers, but as a date-time
    string on recovery instances (ERRATA row 12): a timestamp is read as "lagging since".
    A value that is neither stays in ``iso`` as AWS sent it, with ``seconds`` None.
    """
    seconds = parse_duration(value)
    if seconds is not None:
        return {"iso": value, "seconds": seconds}
    seconds = seconds_since(value, now)
    if seconds is None:
        return {"iso": as_text(value), "seconds": None}
    return {"iso": format_duration(seconds), "seconds": seconds}


def _eta(value, now):
    at = as_time(value)
    if at is None:
        return {"timestamp": None, "seconds_from_now": None}
    ahead = max(0.0, (at - now).total_seconds()) if now is not None else None
    return {"timestamp": utc_text(at), "seconds_from_now": ahead}


def _lifecycle(raw, now):
    last_launch = as_dict(raw.get("lastLaunch"))
    initiated = as_dict(last_launch.get("initiated"))
    last_seen = as_time(raw.get("lastSeenByServiceDateTime"))  # read once: shown and aged
    return {
        "added": iso_text(raw.get("addedToServiceDateTime")),
        "first_byte": iso_text(raw.get("firstByteDateTime")),
        "elapsed_seconds": parse_duration(raw.get("elapsedReplicationDuration")),
        "last_seen": utc_text(last_seen),
        "last_seen_seconds_ago": seconds_since(last_seen, now),
        "last_launch": (
            {
                "type": as_text(initiated.get("type")),
                "job_id": as_text(initiated.get("jobID")),
                "initiated": iso_text(initiated.get("apiCallDateTime")),
                "status": as_text(last_launch.get("status")),
            }
            if last_launch
            else None
        ),
    }


def _initiation(raw):
    """The 11 steps in model order (see :func:`.records.initiation`) and when DRS retries next."""
    record = initiation(raw, _STEPS)
    record["next_attempt"] = iso_text(raw.get("nextAttemptDateTime"))
    return record


def _staging_area(raw, info):
    return {
        "status": as_text(raw.get("status")),
        "staging_account_id": as_text(raw.get("stagingAccountID")),
        "staging_source_server_arn": as_text(raw.get("stagingSourceServerArn")),
        "error_message": as_text(raw.get("errorMessage")),
        "availability_zone": as_text(info.get("stagingAvailabilityZone")),
        "outpost_arn": as_text(info.get("stagingOutpostArn")),
    }


def _origin(raw):
    if not raw:
        return None
    return {
        "account_id": as_text(raw.get("originAccountID")),
        "region": as_text(raw.get("originRegion")),
        "availability_zone": as_text(raw.get("originAvailabilityZone")),
    }


# --- The summary ---------------------------------------------------------------------


def attention_reasons(record, lag_threshold=None, stale_after=None, now=None):
    """Why a server needs an operator, as ``[(code, text)]`` (empty: it does not).

    ``now`` recomputes the last-seen age from the record's timestamp; without it the
    age computed at normalisation time is used.
    """
    reasons = []
    state = record.get("data_replication_state")
    if state in ATTENTION_STATES:
        reasons.append((state, f"replication {state_label(state).lower()}"))
    error = record.get("error") or {}
    if error.get("code") or error.get("raw"):
        code = error.get("code") or "ERROR"
        reasons.append((code, f"error {code}: {error.get('label') or error.get('raw')}"))
    failed_step = (record.get("initiation") or {}).get("failed_step")
    if failed_step and not error:
        reasons.append(("INITIATION_FAILED", f"initiation step {failed_step} failed"))
    lag = (record.get("lag") or {}).get("seconds")
    if lag_threshold is not None and lag is not None and lag > lag_threshold:
        reasons.append(("LAG", f"lag {human_duration(lag)} over the {human_duration(lag_threshold)} threshold"))
    lifecycle = record.get("lifecycle") or {}
    age = seconds_since(lifecycle.get("last_seen"), now) if now is not None else lifecycle.get("last_seen_seconds_ago")
    if stale_after is not None and age is not None and age > stale_after:
        reasons.append(("NOT_SEEN", f"agent not seen for {human_duration(age)} (since {lifecycle.get('last_seen')})"))
    return reasons


def summarize(records, lag_threshold=None, stale_after=None, now=None, regions=()):
    """Fleet figures: total, by state, by region, ready, syncing, needs attention.

    ``regions`` that were read count in ``by_region`` even without a server (0).
    """
    by_state = {}
    by_region = dict.fromkeys(regions, 0)
    by_region_state = {region: {} for region in regions}
    needs_attention = []
    total_bytes = replicated_bytes = 0
    for record in records:
        state = record.get("data_replication_state") or UNKNOWN_STATE
        region = record.get("region") or "unknown"
        by_state[state] = by_state.get(state, 0) + 1
        by_region[region] = by_region.get(region, 0) + 1
        region_states = by_region_state.setdefault(region, {})
        region_states[state] = region_states.get(state, 0) + 1
        total_bytes += record.get("total_bytes") or 0
        replicated_bytes += record.get("replicated_bytes") or 0
        reasons = attention_reasons(record, lag_threshold, stale_after, now)
        if reasons:
            needs_attention.append(
                {
                    "source_server_id": record.get("source_server_id"),
                    "hostname": record.get("hostname"),
                    "region": region,
                    "state": state,
                    "reason": "; ".join(reason[1] for reason in reasons),
                    "reasons": [reason[0] for reason in reasons],
                }
            )
    total = len(records)
    ready = sum(n for s, n in by_state.items() if s in READY_STATES)
    return {
        "total": total,
        "by_state": _ordered_states(by_state),
        "by_region": dict(sorted(by_region.items())),
        "by_region_state": {r: _ordered_states(s) for r, s in sorted(by_region_state.items())},
        "ready": ready,
        "ready_percent": percent(ready, total),
        "syncing": sum(n for s, n in by_state.items() if s in SYNCING_STATES),
        "needs_attention_count": len(needs_attention),
        "needs_attention": needs_attention,
        "total_bytes": total_bytes,
        "replicated_bytes": replicated_bytes,
        "lag_threshold": lag_threshold,
        "stale_after": stale_after,
    }


def _ordered_states(counts):
    """Model order first, then states the model does not know, then UNKNOWN."""
    order = {s: i for i, s in enumerate(DATA_REPLICATION_STATES)}
    return dict(sorted(counts.items(), key=lambda kv: (kv[0] == UNKNOWN_STATE, order.get(kv[0], len(order)), kv[0])))


# --- Selection -------------------------------------------------------------------------


@dataclass(frozen=True)
class Selection:
    """Which servers a request is about. IDs go to DRS; the rest is matched here."""

    source_server_ids: tuple = ()
    instance_ids: tuple = ()
    hostnames: tuple = ()
    tags: dict = field(default_factory=dict)
    states: tuple = ()
    replication_direction: str | None = None

    def identity_matches(self, record):
        """Everything but the state: what keeps a server selected while its state changes."""
        return not self.excluded_by(record)

    def excluded_by(self, record):
        """The options, states aside, that leave this server out (empty: it is selected)."""
        out = []
        if self.source_server_ids and record["source_server_id"] not in self.source_server_ids:
            out.append("source_server_ids")
        if self.instance_ids and record["instance_id"] not in self.instance_ids:
            out.append("instance_ids")
        if self.replication_direction and record["replication_direction"] != self.replication_direction:
            out.append(f"replication_direction {self.replication_direction}")
        if self.hostnames and not self._hostname_matches(record):
            out.append(f"hostnames {list(self.hostnames)}")
        tags = record["tags"]
        if not all(tags.get(key) == value for key, value in self.tags.items()):
            out.append(f"tags {self.tags}")
        return out

    def named_ids(self, record):
        """The requested IDs (source server or instance) this server carries."""
        named = []
        if record["source_server_id"] in self.source_server_ids:
            named.append(record["source_server_id"])
        if record["instance_id"] and record["instance_id"] in self.instance_ids:
            named.append(record["instance_id"])
        return named

    def matches(self, record):
        if self.states and record["data_replication_state"] not in self.states:
            return False
        return self.identity_matches(record)

    def _hostname_matches(self, record):
        names = [n.lower() for n in (record["hostname"], record["fqdn"]) if n]
        return any(fnmatch.fnmatchcase(name, pattern) for pattern in self.hostnames for name in names)

    @property
    def narrowed(self):
        """True when the request selects some servers rather than the whole fleet."""
        return bool(
            self.source_server_ids
            or self.instance_ids
            or self.hostnames
            or self.tags
            or self.states
            or self.replication_direction
        )


@dataclass(frozen=True)
class ReplicationQuery:
    """A validated request: regions, selection, thresholds and (optionally) a wait."""

    regions: tuple
    selection: Selection
    lag_threshold: float | None = None
    stale_after: float | None = None
    include_jobs: bool = False
    wait_for_states: tuple = ()
    fail_on_states: tuple = ()
    wait_timeout: float = 14400
    poll_interval: float = 60

    @classmethod
    def from_options(
        cls,
        regions=None,
        default_region=None,
        source_server_ids=None,
        instance_ids=None,
        hostnames=None,
        tags=None,
        states=None,
        replication_direction=None,
        lag_threshold=None,
        stale_after=None,
        include_jobs=False,
        wait_for_states=None,
        fail_on_states=None,
        wait_timeout=14400,
        poll_interval=60,
    ):
        """Validate plain options (module parameters, REST query) into a query.

        Raises :class:`InputError` naming the option and what to change.
        """
        wait_states = _check_states(wait_for_states, "wait_for_states")
        if fail_on_states is not None and not wait_states:
            raise InputError(
                "fail_on_states only applies while waiting: set wait_for_states (for example [CONTINUOUS]) "
                "or remove fail_on_states."
            )
        fail_states = _check_states(fail_on_states, "fail_on_states") if fail_on_states is not None else ()
        if wait_states and fail_on_states is None:
            fail_states = tuple(s for s in DEFAULT_FAIL_ON_STATES if s not in wait_states)
        overlap = [s for s in wait_states if s in fail_states]
        if overlap:
            raise InputError(
                f"wait_for_states and fail_on_states both contain {', '.join(overlap)}: a server cannot be "
                "both the goal and a failure. Remove it from one of them."
            )
        selection = Selection(
            source_server_ids=tuple(check_ids(source_server_ids, "source_server", "source_server_ids")),
            instance_ids=tuple(check_ids(instance_ids, "instance", "instance_ids")),
            hostnames=_check_hostnames(hostnames),
            tags=_check_tags(tags),
            states=_check_states(states, "states"),
            replication_direction=_check_direction(replication_direction),
        )
        if wait_states and selection.states and set(selection.states) <= set(fail_states):
            raise InputError(
                f"states selects only servers in {', '.join(selection.states)}, which fail_on_states would "
                "fail on at once: the wait could never succeed. Change states or fail_on_states."
            )
        return cls(
            regions=check_regions(regions, default_region),
            selection=selection,
            lag_threshold=check_range(_number(lag_threshold, "lag_threshold"), "lag_threshold", 0),
            stale_after=check_range(_number(stale_after, "stale_after"), "stale_after", 0),
            include_jobs=bool(include_jobs),
            wait_for_states=wait_states,
            fail_on_states=fail_states,
            wait_timeout=check_range(_number(_default(wait_timeout, 14400), "wait_timeout"), "wait_timeout", 0),
            poll_interval=_positive(_number(_default(poll_interval, 60), "poll_interval"), "poll_interval"),
        )


def _default(value, default):
    return default if value is None else value


def _number(value, option):
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, int | float) or not math.isfinite(value):
        raise InputError(f"{option} must be a number of seconds, got {value!r}.")
    return value


def _positive(value, option):
    if value is None or value <= 0:
        raise InputError(f"{option} must be greater than 0 seconds, got {value}.")
    return value


def _check_states(values, option):
    """Upper-cased, de-duplicated state names; unknown ones get a suggestion."""
    if values is None:
        return ()
    if isinstance(values, str):
        values = [values]
    out = []
    for value in values:
        name = str(value).strip().upper()
        if name not in DATA_REPLICATION_STATES:
            guess = difflib.get_close_matches(name, DATA_REPLICATION_STATES, n=1)
            hint = f" Did you mean {guess[0]}?" if guess else ""
            raise InputError(
                f"{option}: {value!r} is not a DRS data replication state.{hint} "
                f"Valid states: {', '.join(DATA_REPLICATION_STATES)}."
            )
        if name not in out:
            out.append(name)
    return tuple(out)


def _check_direction(value):
    if value is None or value == "":
        return None
    name = str(value).strip().upper()
    if name not in REPLICATION_DIRECTIONS:
        raise InputError(f"replication_direction: {value!r} must be one of {', '.join(REPLICATION_DIRECTIONS)}.")
    return name


def _check_hostnames(values):
    if values is None:
        return ()
    if isinstance(values, str):
        values = [values]
    bad = [v for v in values if not isinstance(v, str) or not v.strip()]
    if bad:
        raise InputError(f"hostnames: {bad!r} are not host names; give names or shell patterns like 'web-*'.")
    return tuple(dict.fromkeys(v.strip().lower() for v in values))


def _check_tags(tags):
    if tags is None:
        return {}
    if not isinstance(tags, dict):
        raise InputError(f"tags must be a mapping of tag key to value, like {{'dr:tier': 'gold'}}; got {tags!r}.")
    bad = [k for k in tags if not isinstance(k, str) or not k.strip()]
    if bad:
        raise InputError(f"tags: {bad!r} are not tag keys; keys must be non-empty strings.")
    return {k: "" if v is None else str(v) for k, v in tags.items()}


# --- The sweep -------------------------------------------------------------------------


def sweep_region(clients, region, source_server_ids=()):
    """Every DescribeSourceServers item of a region (paginated), and the service's time.

    With IDs, one paginated sweep per chunk of 200 (the filter's model maximum).
    Returns ``(items, now)``.
    """
    client = clients.reader("drs", region)
    paginator = client.get_paginator("describe_source_servers")
    filters = [{"sourceServerIDs": chunk} for chunk in chunked(source_server_ids, ID_FILTER_MAX)] or [{}]
    items, now = [], None
    for flt in filters:
        for page in paginator.paginate(filters=flt, PaginationConfig={"PageSize": PAGE_SIZE}):
            if now is None:
                now = service_now(page)
            items.extend(page.get("items") or ())
    return items, now or service_now(None)


def _snapshot(clients, query, tracked_ids=None):
    """One sweep of every region: the selected records, what is missing, what failed, the service time.

    A region that cannot be read (DRS not initialized there, no permission, AWS failing
    after botocore's retries) becomes an entry of ``errors``; the other regions still
    count. When no region at all could be read, the first AWS error is raised as is.
    A requested ID whose servers all fall outside the other filters is an input error:
    the request contradicts itself.
    """
    selection = query.selection
    records, nows, errors = [], [], []
    named = {}  # requested ID -> True once one of its servers is selected, else the reasons it is not
    first_failure = None
    for region in query.regions:
        try:
            items, now = sweep_region(clients, region, selection.source_server_ids)
        except Exception as exc:
            if not is_aws_error(exc):
                raise
            first_failure = first_failure or exc
            errors.append(read_error(region, "DescribeSourceServers", exc))
            continue
        nows.append(now)
        for raw in items:
            record = normalize_source_server(raw, region, now)
            excluded = selection.excluded_by(record)
            for requested in selection.named_ids(record):
                if named.get(requested) is not True:
                    named[requested] = True if not excluded else (record, excluded)
            if excluded:
                continue
            if tracked_ids is not None:
                if record["source_server_id"] not in tracked_ids:
                    continue
            elif not selection.matches(record):
                continue
            records.append(record)
    if not nows:
        raise first_failure
    _check_contradictions({k: v for k, v in named.items() if v is not True})
    records.sort(key=lambda r: (r["region"], (r["hostname"] or "").lower(), r["source_server_id"] or ""))
    return {
        "records": records,
        "missing": {
            "source_server_ids": [i for i in selection.source_server_ids if i not in named],
            "instance_ids": [i for i in selection.instance_ids if i not in named],
        },
        "errors": errors,
        "now": max(nows),
    }


def _check_contradictions(left_out):
    if not left_out:
        return
    parts = []
    for requested, (record, excluded) in list(left_out.items())[:10]:
        server = record["source_server_id"]
        named = server if requested == server else f"{requested} is {server}"
        parts.append(
            f"{named} ({record['hostname'] or 'no hostname'}, {record['region']}), "
            f"which {' and '.join(excluded)} leave out"
        )
    more = f" and {len(left_out) - 10} more" if len(left_out) > 10 else ""
    raise InputError(
        "The filters contradict each other: " + "; ".join(parts) + more + ". Select these servers by ID or by "
        "the other filters, or make the filters agree."
    )


def _result(clients, query, snapshot):
    records = snapshot["records"]
    errors = list(snapshot["errors"])
    unread = {e["region"] for e in errors}
    read = [r for r in query.regions if r not in unread]
    result = {
        "regions": list(query.regions),
        "as_of": isoformat(snapshot["now"]),
        "servers": records,
        "summary": summarize(records, query.lag_threshold, query.stale_after, regions=read),
        "missing": snapshot["missing"],
        "jobs": [],
        "errors": errors,
    }
    if query.include_jobs:
        result["jobs"] = activity_jobs(clients, query, records, snapshot["now"], read, errors)
    return result


def _raise_if_incomplete(result):
    """Fail with what was read when a region or the jobs could not be read."""
    errors = result["errors"]
    if not errors:
        return
    parts = [f"{e['operation']} in {e['region']} failed ({e['code']}: {e['message']})" for e in errors]
    read = [r for r in result["regions"] if r not in {e["region"] for e in errors if e["operation"] != "DescribeJobs"}]
    raise IncompleteReadError(
        "Not everything could be read: " + "; ".join(parts) + ". "
        f"What was read: {len(result['servers'])} servers in {', '.join(read) or 'no region'}. "
        "Initialize DRS in those regions or leave them out of regions, and check the role's permissions "
        "(drs:DescribeSourceServers; drs:DescribeJobs with include_jobs).",
        **result,
    )


def describe_replication(clients, regions, **options):
    """Where the selected source servers stand, across regions.

    :param regions: region names; None means the clients' region
    :param options: the selection and thresholds of :meth:`ReplicationQuery.from_options`
        (``source_server_ids``, ``instance_ids``, ``hostnames``, ``tags``, ``states``,
        ``replication_direction``, ``lag_threshold``, ``stale_after``, ``include_jobs``)
    :returns: ``{"regions", "as_of", "servers": [record], "summary", "missing", "jobs"}``;
        ``missing`` lists requested IDs that no source server matched.
    """
    return run_query(clients, ReplicationQuery.from_options(regions=regions, default_region=clients.region, **options))


def run_query(clients, query, clock=time.monotonic, sleep=time.sleep):
    """Describe, or wait when the query names ``wait_for_states`` (the module's behaviour).

    Raises :class:`IncompleteReadError`, with what could be read in its details, when a
    region or the jobs could not be read.
    """
    if query.wait_for_states:
        return _wait(clients, query, clock, sleep)
    result = _result(clients, query, _snapshot(clients, query))
    _raise_if_incomplete(result)
    return result


# --- Recent jobs -----------------------------------------------------------------------

JOBS_WINDOW = timedelta(days=7)
JOBS_LIMIT = 50


def activity_jobs(clients, query, records, now, regions=None, errors=None):
    """The newest jobs (last 7 days, at most 50, newest first) of the regions, for an activity view.

    When the request narrows the fleet, only jobs that involve a selected server are kept.
    One paginated DescribeJobs sweep per region, through the jobs core. With an ``errors``
    list, a region whose jobs cannot be read is recorded there and skipped.
    """
    selected = {r["source_server_id"] for r in records}
    found = []
    for region in query.regions if regions is None else regions:
        try:
            jobs = describe_jobs(clients, region, from_date=now - JOBS_WINDOW)
        except Exception as exc:
            if errors is None or not is_aws_error(exc):
                raise
            errors.append(read_error(region, "DescribeJobs", exc))
            continue
        for job in jobs:
            servers = {p.get("source_server_id") for p in job.get("participating_servers") or ()}
            if query.selection.narrowed and not servers & selected:
                continue
            found.append({**job, "region": region})
    found.sort(key=lambda j: j.get("creation_time") or "", reverse=True)
    return found[:JOBS_LIMIT]


# --- Waiting -------------------------------------------------------------------------------


def wait_for_replication(
    clients, regions=None, wait_for_states=("CONTINUOUS",), clock=time.monotonic, sleep=time.sleep, **options
):
    """Poll until every selected server is in ``wait_for_states``.

    Fails fast (:class:`WaitFailed`) as soon as one selected server is in
    ``fail_on_states`` (default STALLED and DISCONNECTED), and with :class:`WaitTimeout`
    after ``wait_timeout`` seconds (default 4 hours, one poll every ``poll_interval``,
    default 60 seconds); both carry the last snapshot (servers, summary) in their details.
    The selection (``options`` as for :func:`describe_replication`) is fixed by the first
    sweep when ``states`` is given (so "wait for the servers now in INITIAL_SYNC" works);
    instance IDs that are not source servers yet are waited for (the agent may still be
    registering), source server IDs that do not exist fail at once. Each poll costs one
    sweep per region.
    """
    query = ReplicationQuery.from_options(
        regions=regions,
        default_region=clients.region,
        wait_for_states=wait_for_states or ("CONTINUOUS",),
        **options,
    )
    return _wait(clients, query, clock, sleep)


def _wait(clients, query, clock, sleep):
    started = clock()
    state = {"tracked": None, "polls": 0}

    def wait_details(reached):
        return {"polls": state["polls"], "elapsed_seconds": round(clock() - started, 3), "reached": reached}

    def poll():
        snapshot = _snapshot(clients, query, state["tracked"])
        if snapshot["errors"]:  # a region went unreadable: waiting on would be waiting blind
            state["polls"] += 1
            partial = _result(clients, query, snapshot)
            partial["wait"] = wait_details(False)
            _raise_if_incomplete(partial)
        if state["polls"] == 0:
            _check_something_to_wait_for(query, snapshot)
            if query.selection.states:
                state["tracked"] = {r["source_server_id"] for r in snapshot["records"]}
        state["polls"] += 1
        return snapshot

    def done(snapshot):
        missing = snapshot["missing"]
        return not missing["instance_ids"] and all(
            r["data_replication_state"] in query.wait_for_states for r in snapshot["records"]
        )

    def failure(snapshot):
        failed = [r for r in snapshot["records"] if r["data_replication_state"] in query.fail_on_states]
        if not failed:
            return None
        return (
            f"{len(failed)} of {len(snapshot['records'])} source servers reached a state that ends the wait "
            f"(fail_on_states: {', '.join(query.fail_on_states)}): {_list_servers(failed)}. "
            "Fix the replication problem shown by the state and error code, then wait again."
        )

    what = f"the source servers to reach {' or '.join(query.wait_for_states)}"
    try:
        snapshot = wait_for(
            poll,
            done,
            timeout=query.wait_timeout,
            interval=query.poll_interval,
            failure=failure,
            describe=lambda s: _describe_pending(query, s),
            what=what,
            clock=clock,
            sleep=sleep,
        )
    except (WaitFailed, WaitTimeout) as exc:
        last = exc.details.get("last")
        details = _result(clients, query, last) if last else {}
        details["wait"] = wait_details(False)
        raise type(exc)(exc.message, **details) from None
    result = _result(clients, query, snapshot)
    result["wait"] = wait_details(True)
    _raise_if_incomplete(result)
    return result


def _check_something_to_wait_for(query, snapshot):
    missing = snapshot["missing"]["source_server_ids"]
    if missing:
        raise NotFoundError(
            f"No source server {', '.join(missing)} in {', '.join(query.regions)}. "
            "Check the IDs and regions (source server IDs are per region)."
        )
    if not snapshot["records"] and not snapshot["missing"]["instance_ids"]:
        raise NotFoundError(
            f"No source server in {', '.join(query.regions)} matches the selection: nothing to wait for. "
            "Check the filters (instance_ids, hostnames, tags, states, replication_direction) and regions."
        )


def _list_servers(records, limit=20):
    parts = []
    for r in records[:limit]:
        error = (r.get("error") or {}).get("code")
        parts.append(
            f"{r['source_server_id']} ({r['hostname'] or 'no hostname'}, {r['region']}) "
            f"{r['data_replication_state'] or UNKNOWN_STATE}" + (f" error {error}" if error else "")
        )
    more = f" and {len(records) - limit} more" if len(records) > limit else ""
    return "; ".join(parts) + more


def _describe_pending(query, snapshot):
    pending = [r for r in snapshot["records"] if r["data_replication_state"] not in query.wait_for_states]
    parts = []
    if pending:
        detail = []
        for r in pending[:20]:
            where = progress_text(
                r["data_replication_state"] or UNKNOWN_STATE,
                r["progress_percent"],
                r["initiation"]["current_step"],
                r["rescan_percent"],
            )
            detail.append(f"{r['source_server_id']} ({r['hostname'] or 'no hostname'}, {r['region']}) {where}")
        more = f" and {len(pending) - 20} more" if len(pending) > 20 else ""
        parts.append(f"{len(pending)} of {len(snapshot['records'])} not there yet: " + "; ".join(detail) + more)
    missing = snapshot["missing"]["instance_ids"]
    if missing:
        parts.append(f"no source server yet for instances {', '.join(missing)}")
    return "; ".join(parts) or "not done"
