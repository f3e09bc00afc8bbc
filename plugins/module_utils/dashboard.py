# Copyright: Contributors to drs.orchestration
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
"""What the replication dashboard shows, computed once in Python: cards, chart geometry, rows.

The HTML template (role ``replication_report``) only lays out what :func:`build_view`
returns, so a 3,000-server fleet renders in a fraction of a second and the numbers on
the page are the numbers of the module's result. :func:`artifact_data` and
:func:`csv_text` give the JSON and CSV artifacts of the same data.

Input is the result of ``drs_replication_info`` / :func:`replication.describe_replication`
(a failed wait's details have the same shape). Pure Python, no Ansible, no Jinja.
"""

from __future__ import annotations

import csv
import io
import json
import math

from .replication import DATA_REPLICATION_STATES, SYNCING_STATES, UNKNOWN_STATE, human_duration, state_label

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
    return {
        "id": server.get("source_server_id") or "—",
        "hostname": server.get("hostname") or server.get("fqdn") or "—",
        "instance_id": server.get("instance_id") or "",
        "region": server.get("region") or "—",
        "state": state,
        "state_label": server.get("state_label") or state_label(None),
        "tone": state_tone(state),
        "progress": server.get("progress_percent") or 0.0,
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


# --- the view ----------------------------------------------------------------------------


def build_view(result, title="DRS replication dashboard", recovery=None):
    """Everything the dashboard template lays out.

    :param result: a ``drs_replication_info`` result (``servers``, ``summary``, ``regions``,
        ``as_of``, ``jobs``; a failed wait's details have the same members)
    :param recovery: optional data for the recovery instances / failback section, passed
        through untouched to the template's ``recovery`` block
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
        "legend_states": [s for s in DATA_REPLICATION_STATES if s in by_state],
        "recovery": recovery,
    }


# --- artifacts ---------------------------------------------------------------------------


def artifact_data(result):
    """The JSON artifact: the result's data members (no Ansible bookkeeping)."""
    keys = ("regions", "as_of", "summary", "servers", "missing", "jobs", "wait")
    return {key: result[key] for key in keys if key in result}


def json_text(result):
    """Compact, key-sorted JSON (stable for change detection; indenting doubles the time at 3,000 servers)."""
    return json.dumps(artifact_data(result), separators=(",", ":"), sort_keys=True, default=str) + "\n"


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
