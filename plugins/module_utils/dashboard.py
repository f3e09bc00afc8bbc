# Copyright: Contributors to drs.orchestration
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
"""What the replication dashboard shows, computed once in Python: cards, chart geometry, rows.

The HTML template (role ``replication_report``) only lays out what :func:`build_view`
returns, so a 3,000-server fleet renders in a fraction of a second and the numbers on
the page are the numbers of the module's result. :func:`artifact_data` and
:func:`csv_text` give the JSON and CSV artifacts of the same data.

Input is the result of ``drs_replication_info`` / :func:`replication.describe_replication`
(a failed wait's details have the same shape) and, for the recovery instances / failback
section, the records of ``drs_recovery_instance_info`` (:func:`recovery_data` accepts them
as a list, as the module's result or as a result looped over regions). Pure Python, no
Ansible, no Jinja.
"""

from __future__ import annotations

import csv
import io
import json
import math

from .errors import InputError
from .records import as_dict, shown_progress
from .replication import (
    DATA_REPLICATION_STATES,
    SYNCING_STATES,
    UNKNOWN_STATE,
    human_duration,
    state_label,
)

# Badge tone and chart colour per state; states newer than the model get the "other" grey.
STATE_TONES = {
    "CONTINUOUS": "ok",
    "INITIATING": "sync",
    "INITIAL_SYNC": "sync",
    "CREATING_SNAPSHOT": "sync",
    "RESCAN": "sync",
    "BACKLOG": "warn",
    "STALLED": "bad",
    "DISCONNECTED": "bad",
    "STOPPED": "idle",
    "PAUSED": "idle",
}
STATE_COLORS = {
    "CONTINUOUS": "#1d8102",
    "INITIATING": "#5f9ee8",
    "INITIAL_SYNC": "#0972d3",
    "CREATING_SNAPSHOT": "#033160",
    "RESCAN": "#7d4dc4",
    "BACKLOG": "#c77700",
    "STALLED": "#d91515",
    "DISCONNECTED": "#8d0b0b",
    "STOPPED": "#5f6b7a",
    "PAUSED": "#8c97a5",
}
OTHER_COLOR = "#b6bec9"

DONUT_RADIUS = 60
DONUT_STROKE = 26
BAR_ROW_HEIGHT = 28
BAR_WIDTH = 320

CSV_COLUMNS = (
    "source_server_id",
    "hostname",
    "fqdn",
    "region",
    "instance_id",
    "data_replication_state",
    "replication_direction",
    "progress_percent",
    "rescan_percent",
    "total_bytes",
    "replicated_bytes",
    "backlogged_bytes",
    "lag_seconds",
    "eta",
    "eta_seconds",
    "initiation_done",
    "initiation_total",
    "current_step",
    "failed_step",
    "error_code",
    "error_raw",
    "last_seen",
    "last_seen_seconds_ago",
    "agent_version",
    "needs_attention",
    "attention_reason",
    "arn",
)


# --- formatting ------------------------------------------------------------------------


def human_bytes(count):
    if not count:
        return "0 B"
    units = ("B", "KiB", "MiB", "GiB", "TiB", "PiB")
    power = min(int(math.log(count, 1024)), len(units) - 1)
    value = count / 1024**power
    return f"{value:.0f} {units[power]}" if power == 0 else f"{value:.1f} {units[power]}"


def state_color(state):
    return STATE_COLORS.get(state, OTHER_COLOR)


def state_tone(state):
    return STATE_TONES.get(state, "other")


# --- charts ----------------------------------------------------------------------------


def donut(by_state, total):
    """Donut segments as SVG circle strokes (``stroke-dasharray``): works for one 100% slice too."""
    circumference = 2 * math.pi * DONUT_RADIUS
    segments, offset = [], 0.0
    for state, count in by_state.items():
        share = count / total if total else 0.0
        length = share * circumference
        segments.append(
            {
                "state": state,
                "label": state_label(None if state == UNKNOWN_STATE else state),
                "count": count,
                "percent": round(100 * share, 1),
                "color": state_color(state),
                "dasharray": f"{length:.3f} {circumference - length:.3f}",
                "dashoffset": f"{-offset:.3f}",
            }
        )
        offset += length
    size = 2 * (DONUT_RADIUS + DONUT_STROKE)
    return {
        "size": size,
        "center": size / 2,
        "radius": DONUT_RADIUS,
        "stroke": DONUT_STROKE,
        "segments": segments,
        "total": total,
    }


def region_bars(by_region_state):
    """Horizontal stacked bars, one per region, scaled to the largest region."""
    largest = max((sum(states.values()) for states in by_region_state.values()), default=0)
    rows = []
    for index, (region, states) in enumerate(by_region_state.items()):
        total = sum(states.values())
        x, parts = 0.0, []
        for state, count in states.items():
            width = BAR_WIDTH * count / largest if largest else 0.0
            parts.append(
                {"state": state, "count": count, "x": f"{x:.2f}", "width": f"{width:.2f}", "color": state_color(state)}
            )
            x += width
        rows.append({"region": region, "total": total, "y": index * BAR_ROW_HEIGHT, "parts": parts, "end": f"{x:.2f}"})
    return {"rows": rows, "width": BAR_WIDTH, "row_height": BAR_ROW_HEIGHT, "height": len(rows) * BAR_ROW_HEIGHT}


# --- rows ------------------------------------------------------------------------------


def server_row(server, attention):
    state = server.get("data_replication_state") or UNKNOWN_STATE
    initiation = server.get("initiation") or {}
    lag = (server.get("lag") or {}).get("seconds")
    eta = server.get("eta") or {}
    error = server.get("error") or {}
    lifecycle = server.get("lifecycle") or {}
    progress, progress_text = _server_progress(server, state)
    return {
        "id": server.get("source_server_id") or "—",
        "hostname": server.get("hostname") or server.get("fqdn") or "—",
        "instance_id": server.get("instance_id") or "",
        "region": server.get("region") or "—",
        "state": state,
        "state_label": server.get("state_label") or state_label(None),
        "tone": state_tone(state),
        "progress": progress,
        "progress_text": progress_text,
        "size": human_bytes(server.get("total_bytes") or 0),
        "lag": human_duration(lag),
        "eta": human_duration(eta.get("seconds_from_now")) if eta.get("timestamp") else "—",
        "eta_at": eta.get("timestamp") or "",
        "last_seen": human_duration(lifecycle.get("last_seen_seconds_ago")),
        "steps": f"{initiation.get('done', 0)}/{initiation.get('total', 11)}",
        "error": error.get("code") or "",
        "error_label": error.get("label") or error.get("raw") or "",
        "attention": attention,
        "direction": server.get("replication_direction") or "",
    }


def _server_progress(server, state):
    """The progress bar's value and its label: the initial sync, or the rescan of a server in RESCAN
    (``shown_progress``): "Rescan 40.0%", an empty bar "Rescan, progress not reported" while DRS reports none.
    """
    rescanning, figure = shown_progress(state, server.get("progress_percent"), server.get("rescan_percent"))
    if rescanning and figure is None:
        return 0.0, "Rescan, progress not reported"
    progress = _bounded_percent(figure)
    return progress, f"Rescan {progress}%" if rescanning else f"{progress}%"


def initiating_view(server):
    initiation = server.get("initiation") or {}
    labels = {s.get("name"): s.get("label") for s in initiation.get("steps") or ()}
    return {
        "id": server.get("source_server_id") or "—",
        "hostname": server.get("hostname") or "—",
        "region": server.get("region") or "—",
        "done": initiation.get("done", 0),
        "total": initiation.get("total", 11),
        "current": labels.get(initiation.get("current_step")),
        "failed": labels.get(initiation.get("failed_step")),
        "steps": [
            {
                "index": s.get("index"),
                "label": s.get("label"),
                "status": s.get("status") or "NOT_REPORTED",
                "css": (s.get("status") or "not-reported").lower().replace("_", "-"),
            }
            for s in initiation.get("steps") or ()
        ],
    }


def job_row(job):
    servers = job.get("participating_servers") or ()
    launched = sum(1 for s in servers if s.get("launch_status") == "LAUNCHED")
    failed = sum(1 for s in servers if s.get("launch_status") == "FAILED")
    return {
        "id": job.get("job_id") or "—",
        "region": job.get("region") or "—",
        "type": job.get("type") or "—",
        "initiated_by": job.get("initiated_by") or "—",
        "status": job.get("status") or "—",
        "created": job.get("creation_time") or "—",
        "ended": job.get("end_time") or "",
        "servers": len(servers),
        "launched": launched,
        "failed": failed,
    }


def _is_initiating(server):
    """Still initiating, or stopped at a failed initiation step (the timeline shows where)."""
    state = server.get("data_replication_state")
    failed = (server.get("initiation") or {}).get("failed_step")
    return state == "INITIATING" or (bool(failed) and state != "CONTINUOUS")


# --- recovery instances and failback ---------------------------------------------------------
# Records are those of ``drs_recovery_instance_info`` (module_utils/recovery_instances.py);
# they are read defensively so a member that is missing or new shows as a dash, never fails.

# Badge tone per console label of the failback status (both origins).
FAILBACK_TONES = {"Not started": "other", "Synchronizing": "sync", "Ready": "ok", "Completed": "idle", "Error": "bad"}
EC2_TONES = {
    "RUNNING": "ok",
    "PENDING": "sync",
    "STOPPING": "warn",
    "STOPPED": "idle",
    "SHUTTING-DOWN": "idle",
    "TERMINATED": "idle",
    "NOT_FOUND": "bad",
}
# Failback replication of an on-premises origin (Failback Client) is moving data in these.
FAILBACK_SYNCING_STATES = frozenset(
    {"FAILBACK_IN_PROGRESS", "FAILBACK_NOT_READY_FOR_LAUNCH", "FAILBACK_READY_FOR_LAUNCH"}
)
REPLICATION_NOT_STARTED = frozenset({"NOT_STARTED", "REPLICATION_STATE_NOT_AVAILABLE"})
UNKNOWN_STATUS = "Unknown"

RECOVERY_CSV_COLUMNS = (
    "recovery_instance_id",
    "region",
    "source_server_id",
    "source_hostname",
    "origin_environment",
    "origin_region",
    "is_drill",
    "ec2_instance_state",
    "failback_state",
    "failback_status",
    "reverse_progress_percent",
    "reverse_replicated_bytes",
    "reverse_total_bytes",
    "initiation_done",
    "initiation_total",
    "current_step",
    "failed_step",
    "reversed_source_server_region",
    "reversed_source_server_id",
    "reversed_source_server_state",
    "pending_action",
)


def _text(value):
    return value if isinstance(value, str) else None


def recovery_data(value):
    """Recovery instance records, their summary and the regions that could not be read.

    :param value: ``None`` (no recovery section), a list of ``drs_recovery_instance_info``
        records, the module's result (also a failed one: its ``errors`` name the regions
        it could not read, its records still count), a result registered from a loop
        over regions (a failed region becomes an entry of ``errors``), or this
        function's own output
    :returns: ``None`` or ``{"recovery_instances": [...], "summary": {...}, "errors": [...]}``
    :raises InputError: for anything else, saying what to pass instead
    """
    if value is None:
        return None
    records, errors = [], []
    _collect_recovery(value, records, errors, region=None)
    records = _unique_records(records)
    return {"recovery_instances": records, "summary": recovery_summary(records), "errors": errors}


def _collect_recovery(value, records, errors, region):
    if isinstance(value, list):
        bad = next((item for item in value if not isinstance(item, dict)), None)
        if bad is not None:
            raise InputError(
                f"recovery: every recovery instance record must be a mapping, got {type(bad).__name__} {bad!r:.60}."
            )
        records.extend(value)
        return
    if not isinstance(value, dict):
        raise InputError(
            "recovery: give a list of drs.orchestration.drs_recovery_instance_info records or the module's registered "
            f"result (looped over regions or not), not a {type(value).__name__}."
        )
    if isinstance(value.get("results"), list):
        for result in value["results"]:
            _collect_recovery(result, records, errors, region=_loop_region(result))
        return
    if value.get("failed") and not isinstance(value.get("recovery_instances"), list):
        where = region or as_dict(as_dict(value.get("invocation")).get("module_args")).get("region")
        errors.append({"region": where or "", "message": str(value.get("msg") or "the read failed")})
        return
    if value.get("skipped"):
        return
    if not isinstance(value.get("recovery_instances"), list):
        raise InputError(
            "recovery: this mapping is not a drs.orchestration.drs_recovery_instance_info result "
            "(no 'recovery_instances' list)."
        )
    _collect_recovery(value["recovery_instances"], records, errors, region)
    errors.extend(_read_error(e) for e in value.get("errors") or () if isinstance(e, dict))


def _read_error(error):
    """``{region, message}`` of an entry of the module's ``errors`` (region, operation, code, message)."""
    message = str(error.get("message") or "the read failed")
    if error.get("code"):
        message = f"{error.get('operation') or 'The read'} failed ({error['code']}: {message})"
    return {"region": error.get("region") or "", "message": message}


def _loop_region(result):
    """The loop item of one result of a looped task (the role loops over region names)."""
    if not isinstance(result, dict):
        return None
    item = result.get(result.get("ansible_loop_var") or "item")
    return item if isinstance(item, str) else None


def _unique_records(records):
    """One record per (region, recovery instance), sorted by hostname like the module sorts them."""
    unique = {(r.get("region"), r.get("recovery_instance_id")): r for r in records}
    return sorted(
        unique.values(),
        key=lambda r: (
            str(r.get("source_hostname") or "").lower(),
            str(r.get("region") or ""),
            str(r.get("recovery_instance_id") or ""),
        ),
    )


def failback_status(record):
    """The console label operators read (Not started / Synchronizing / Ready / Completed / Error).

    ``reverse_replication_status`` holds it for both origins; the label of the raw
    ``failback.state`` is the fallback for records that lack it.
    """
    return record.get("reverse_replication_status") or as_dict(record.get("failback")).get("label") or UNKNOWN_STATUS


def recovery_summary(records):
    """The section's cards, also published in the JSON artifact and to AWX."""
    by_status = {}
    for record in records:
        status = failback_status(record)
        by_status[status] = by_status.get(status, 0) + 1
    return {
        "total": len(records),
        "drills": sum(1 for r in records if r.get("is_drill") is True),
        "ready_for_failback": by_status.get("Ready", 0),
        "in_error": by_status.get("Error", 0),
        "pending_actions": sum(1 for r in records if r.get("pending_action")),
        "by_status": by_status,
    }


def reverse_progress(record):
    """Progress of the replication back to the origin, or None while none runs.

    Origin AWS: the reversed-direction source server that replicates this instance (its
    progress is by bytes, from the replication core). On-premises: the recovery
    instance's own failback replication to the Failback Client, by bytes.
    """
    if record.get("origin_environment") == "AWS":
        server = as_dict(record.get("reversed_direction_source_server"))
        if not (server.get("belongs_to_this_instance") and server.get("replicating_this_instance")):
            return None
        _rescanning, figure = shown_progress(
            server.get("data_replication_state"), server.get("progress_percent"), server.get("rescan_percent")
        )
        return {
            "percent": _bounded_percent(figure),
            "label": server.get("state_label") or UNKNOWN_STATUS,
            "bytes": "",
        }
    replication = as_dict(record.get("replication"))
    state = replication.get("state")
    failback_state = as_dict(record.get("failback")).get("state")
    if failback_state not in FAILBACK_SYNCING_STATES and (state is None or state in REPLICATION_NOT_STARTED):
        return None
    total = replication.get("total_bytes") or 0
    _rescanning, figure = shown_progress(state, replication.get("progress_percent"), replication.get("rescan_percent"))
    return {
        "percent": _bounded_percent(figure),
        "label": replication.get("label") or UNKNOWN_STATUS,
        "bytes": f"{human_bytes(replication.get('replicated_bytes') or 0)} of {human_bytes(total)}" if total else "",
    }


def _bounded_percent(value):
    """A number from 0 to 100 (it ends up in a CSS width: nothing else may get there)."""
    if isinstance(value, bool) or not isinstance(value, int | float) or not math.isfinite(value):
        return 0.0
    return float(min(max(value, 0), 100))


def failback_initiation(record):
    """Where the 18-step failback initiation (Failback Client path) stands while it is not finished; else None."""
    replication = as_dict(record.get("replication"))
    initiation = as_dict(replication.get("initiation"))
    steps = {s.get("name"): s for s in map(as_dict, initiation.get("steps") or ()) if s.get("name")}
    current = steps.get(_text(initiation.get("current_step")))
    failed = steps.get(_text(initiation.get("failed_step")))
    initiating = replication.get("state") == "INITIATING" or current is not None
    if not (initiating or (failed is not None and replication.get("state") != "CONTINUOUS")):
        return None
    return {
        "done": initiation.get("done", 0),
        "total": initiation.get("total", len(steps)),
        "current": current.get("label") if current else None,
        "current_index": current.get("index") if current else None,
        "failed": failed.get("label") if failed else None,
        "failed_index": failed.get("index") if failed else None,
    }


def _origin(record):
    origin = record.get("origin_environment")
    if origin == "AWS":
        return {"label": "AWS", "detail": record.get("origin_region") or ""}
    if origin == "ON_PREMISES":
        return {"label": "On-premises", "detail": ""}
    return {"label": origin or "—", "detail": ""}


def _reversed_server(record):
    server = record.get("reversed_direction_source_server")
    if not isinstance(server, dict):
        return None
    return {
        "region": server.get("region") or "—",
        "id": server.get("source_server_id") or "—",
        "state": server.get("state_label") or ("not found" if server.get("found") is False else "—"),
        "earlier_cycle": server.get("found") is not False and server.get("belongs_to_this_instance") is False,
    }


def recovery_row(record):
    """One row of the recovery instances table."""
    status = failback_status(record)
    ec2_state = record.get("ec2_instance_state")
    drill = record.get("is_drill")
    return {
        "id": record.get("recovery_instance_id") or "—",
        "region": record.get("region") or "—",
        "source_server_id": record.get("source_server_id") or "—",
        "hostname": record.get("source_hostname") or "—",
        "origin": _origin(record),
        "kind": "Drill" if drill is True else ("Recovery" if drill is False else "—"),
        "kind_tone": "other" if drill is True else "sync",
        "ec2_state": ec2_state or "—",
        "ec2_tone": EC2_TONES.get(ec2_state, "other"),
        "status": status,
        "status_tone": FAILBACK_TONES.get(status, "other"),
        "failback_state": as_dict(record.get("failback")).get("state") or "",
        "progress": reverse_progress(record),
        "initiation": failback_initiation(record),
        "reversed": _reversed_server(record),
        "pending_action": record.get("pending_action") or "",
        "attention": status == "Error",
    }


def recovery_view(data):
    """The recovery instances / failback section from :func:`recovery_data`'s output (None: no section)."""
    if data is None:
        return None
    summary = data["summary"]
    return {
        "cards": [
            {"key": "recovery_total", "label": "Recovery instances", "value": summary["total"], "tone": "neutral"},
            {"key": "recovery_drills", "label": "Drills", "value": summary["drills"], "tone": "neutral"},
            {
                "key": "ready_for_failback",
                "label": "Ready for failback",
                "value": summary["ready_for_failback"],
                "tone": "ok",
            },
            {"key": "failback_error", "label": "In error", "value": summary["in_error"], "tone": "bad"},
            {"key": "pending_actions", "label": "Action pending", "value": summary["pending_actions"], "tone": "warn"},
        ],
        "rows": [recovery_row(r) for r in data["recovery_instances"]],
        "errors": data["errors"],
    }


# --- the view ----------------------------------------------------------------------------


def build_view(result, title="DRS replication dashboard", recovery=None):
    """Everything the dashboard template lays out.

    :param result: a ``drs_replication_info`` result (``servers``, ``summary``, ``regions``,
        ``as_of``, ``jobs``; a failed wait's details have the same members)
    :param recovery: optional recovery instance records for the recovery instances /
        failback section, in any form :func:`recovery_data` accepts (None: no section)
    """
    servers = result.get("servers") or []
    summary = result.get("summary") or {}
    attention = summary.get("needs_attention") or []
    attention_ids = {a.get("source_server_id") for a in attention}
    total = summary.get("total", len(servers))
    by_state = summary.get("by_state") or {}
    syncing = summary.get("syncing", sum(n for s, n in by_state.items() if s in SYNCING_STATES))
    return {
        "title": title,
        "as_of": result.get("as_of") or "",
        "regions": result.get("regions") or sorted((summary.get("by_region") or {}).keys()),
        "cards": [
            {"key": "total", "label": "Total servers", "value": total, "tone": "neutral"},
            {"key": "ready", "label": "Continuous (ready)", "value": summary.get("ready", 0), "tone": "ok"},
            {"key": "syncing", "label": "Syncing", "value": syncing, "tone": "sync"},
            {"key": "attention", "label": "Needs attention", "value": len(attention), "tone": "bad"},
        ],
        "ready_percent": summary.get("ready_percent", 0.0),
        "state_chart": donut(by_state, total),
        "region_chart": region_bars(summary.get("by_region_state") or {}),
        "rows": [server_row(s, s.get("source_server_id") in attention_ids) for s in servers],
        "initiating": [initiating_view(s) for s in servers if _is_initiating(s)],
        "attention": attention,
        "jobs": [job_row(j) for j in result.get("jobs") or ()],
        "missing": result.get("missing") or {},
        "wait": result.get("wait"),
        "failure": result.get("msg") if result.get("failed") else None,
        # A region (or the jobs) that could not be read ends a wait too: say that, not "did not succeed".
        "failure_title": "Not everything could be read"
        if result.get("errors") or (result.get("wait") or {}).get("reached") is not False
        else "The wait did not succeed",
        "legend_states": [s for s in DATA_REPLICATION_STATES if s in by_state],
        "recovery": recovery_view(recovery_data(recovery)),
    }


# --- artifacts ---------------------------------------------------------------------------


def artifact_data(result, recovery=None):
    """The JSON artifact: the result's data members (no Ansible bookkeeping).

    With recovery instances (:func:`recovery_data`'s output) it also holds ``recovery``:
    their records as ``drs_recovery_instance_info`` returns them, the section's summary
    and the regions that could not be read.
    """
    keys = ("regions", "as_of", "summary", "servers", "missing", "jobs", "wait", "errors")
    data = {key: result[key] for key in keys if key in result}
    if recovery is not None:
        data["recovery"] = recovery
    return data


def json_text(result, recovery=None):
    """Compact, key-sorted JSON (stable for change detection; indenting doubles the time at 3,000 servers)."""
    return json.dumps(artifact_data(result, recovery), separators=(",", ":"), sort_keys=True, default=str) + "\n"


def csv_row(server, attention_by_id):
    initiation = server.get("initiation") or {}
    error = server.get("error") or {}
    lifecycle = server.get("lifecycle") or {}
    eta = server.get("eta") or {}
    reason = attention_by_id.get(server.get("source_server_id"))
    return {
        "source_server_id": server.get("source_server_id"),
        "hostname": server.get("hostname"),
        "fqdn": server.get("fqdn"),
        "region": server.get("region"),
        "instance_id": server.get("instance_id"),
        "data_replication_state": server.get("data_replication_state"),
        "replication_direction": server.get("replication_direction"),
        "progress_percent": server.get("progress_percent"),
        "rescan_percent": server.get("rescan_percent"),
        "total_bytes": server.get("total_bytes"),
        "replicated_bytes": server.get("replicated_bytes"),
        "backlogged_bytes": server.get("backlogged_bytes"),
        "lag_seconds": (server.get("lag") or {}).get("seconds"),
        "eta": eta.get("timestamp"),
        "eta_seconds": eta.get("seconds_from_now"),
        "initiation_done": initiation.get("done"),
        "initiation_total": initiation.get("total"),
        "current_step": initiation.get("current_step"),
        "failed_step": initiation.get("failed_step"),
        "error_code": error.get("code"),
        "error_raw": error.get("raw"),
        "last_seen": lifecycle.get("last_seen"),
        "last_seen_seconds_ago": lifecycle.get("last_seen_seconds_ago"),
        "agent_version": server.get("agent_version"),
        "needs_attention": "yes" if reason is not None else "no",
        "attention_reason": reason or "",
        "arn": server.get("arn"),
    }


def csv_text(result):
    """One CSV row per server (header first); spreadsheet-safe (formula-looking text is quoted)."""
    attention = {
        a.get("source_server_id"): a.get("reason") for a in (result.get("summary") or {}).get("needs_attention") or ()
    }
    out = io.StringIO()
    writer = csv.DictWriter(out, fieldnames=CSV_COLUMNS, lineterminator="\n")
    writer.writeheader()
    for server in result.get("servers") or ():
        writer.writerow({k: _cell(v) for k, v in csv_row(server, attention).items()})
    return out.getvalue()


def _cell(value):
    """Neutralise text a spreadsheet would run as a formula (CSV injection)."""
    if isinstance(value, str) and value[:1] in ("=", "+", "-", "@", "\t", "\r"):
        return "'" + value
    return "" if value is None else value


def recovery_csv_row(record):
    failback = as_dict(record.get("failback"))
    replication = as_dict(record.get("replication"))
    initiation = as_dict(replication.get("initiation"))
    server = as_dict(record.get("reversed_direction_source_server"))
    progress = reverse_progress(record)
    aws = record.get("origin_environment") == "AWS"
    return {
        "recovery_instance_id": record.get("recovery_instance_id"),
        "region": record.get("region"),
        "source_server_id": record.get("source_server_id"),
        "source_hostname": record.get("source_hostname"),
        "origin_environment": record.get("origin_environment"),
        "origin_region": record.get("origin_region"),
        "is_drill": {True: "yes", False: "no"}.get(record.get("is_drill")),
        "ec2_instance_state": record.get("ec2_instance_state"),
        "failback_state": failback.get("state"),
        "failback_status": failback_status(record),
        "reverse_progress_percent": progress["percent"] if progress else None,
        "reverse_replicated_bytes": None if aws or not progress else replication.get("replicated_bytes"),
        "reverse_total_bytes": None if aws or not progress else replication.get("total_bytes"),
        "initiation_done": initiation.get("done"),
        "initiation_total": initiation.get("total"),
        "current_step": initiation.get("current_step"),
        "failed_step": initiation.get("failed_step"),
        "reversed_source_server_region": server.get("region"),
        "reversed_source_server_id": server.get("source_server_id"),
        "reversed_source_server_state": server.get("data_replication_state"),
        "pending_action": record.get("pending_action"),
    }


def recovery_csv_text(recovery):
    """One CSV row per recovery instance of :func:`recovery_data`'s output (header first), spreadsheet-safe."""
    out = io.StringIO()
    writer = csv.DictWriter(out, fieldnames=RECOVERY_CSV_COLUMNS, lineterminator="\n")
    writer.writeheader()
    for record in recovery["recovery_instances"]:
        writer.writerow({k: _cell(v) for k, v in recovery_csv_row(record).items()})
    return out.getvalue()
