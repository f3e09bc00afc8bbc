"""The core's snake_case records in the REST contract's camelCase (openapi.yaml schemas).

Pure renaming and selection; no decisions. Field names follow the brief (Phases 1-3)
where it defines them, with ERRATA's corrections.
"""

from __future__ import annotations

from ansible_collections.drs.orchestration.plugins.module_utils.recovery_instances import LAUNCH_STATUS_LABELS
from ansible_collections.drs.orchestration.plugins.module_utils.timeutil import format_duration


def _get(record, *path):
    for key in path:
        if not isinstance(record, dict):
            return None
        record = record.get(key)
    return record


# --- replication -------------------------------------------------------------------------


def replication_status(record):
    """One source server (GET /servers/{id}/replication-status)."""
    initiation = record.get("initiation") or {}
    lifecycle = record.get("lifecycle") or {}
    staging = record.get("staging_area") or {}
    error = record.get("error")
    return {
        "sourceServerId": record.get("source_server_id"),
        "region": record.get("region"),
        "arn": record.get("arn"),
        "hostname": record.get("hostname"),
        "instanceId": record.get("instance_id"),
        "dataReplicationState": record.get("data_replication_state"),
        "stateLabel": record.get("state_label"),
        "replicationDirection": record.get("replication_direction"),
        "etaDateTime": _get(record, "eta", "timestamp"),
        "etaSeconds": _get(record, "eta", "seconds_from_now"),
        "lagDuration": _get(record, "lag", "iso"),
        "lagSeconds": _get(record, "lag", "seconds"),
        "lifecycle": {
            "addedToServiceDateTime": lifecycle.get("added"),
            "firstByteDateTime": lifecycle.get("first_byte"),
            "elapsedReplicationDuration": format_duration(lifecycle.get("elapsed_seconds")),
            "lastSeenByServiceDateTime": lifecycle.get("last_seen"),
        },
        "initializationSteps": [
            {"name": step.get("name"), "status": step.get("status"), "label": step.get("label")}
            for step in initiation.get("steps") or ()
        ],
        "initialization": {
            "currentStep": initiation.get("current_step"),
            "failedStep": initiation.get("failed_step"),
            "stepsDone": initiation.get("done"),
            "stepsTotal": initiation.get("total"),
        },
        "replicatedDisks": [
            {
                "deviceName": disk.get("device"),
                "totalStorageBytes": disk.get("total_bytes") or 0,
                "replicatedStorageBytes": disk.get("replicated_bytes") or 0,
                "rescannedStorageBytes": disk.get("rescanned_bytes") or 0,
                "backloggedStorageBytes": disk.get("backlogged_bytes") or 0,
                "progressPercent": disk.get("percent") or 0.0,
                "rescanPercent": disk.get("rescan_percent"),
            }
            for disk in record.get("disks") or ()
        ],
        "overallProgress": record.get("progress_percent") or 0.0,
        "rescanProgress": record.get("rescan_percent"),
        "stagingArea": {
            "status": staging.get("status"),
            "stagingAccountId": staging.get("staging_account_id"),
            "stagingSourceServerArn": staging.get("staging_source_server_arn"),
            "errorMessage": staging.get("error_message"),
        },
        "error": (
            {"error": error.get("code"), "rawError": error.get("raw"), "label": error.get("label")} if error else None
        ),
    }


def job(record):
    """A DRS job of the jobs core (recent activity)."""
    return {
        "jobId": record.get("job_id"),
        "region": record.get("region"),
        "type": record.get("type"),
        "initiatedBy": record.get("initiated_by"),
        "status": record.get("status"),
        "creationDateTime": record.get("creation_time"),
        "endDateTime": record.get("end_time"),
        "participatingServers": [
            {
                "sourceServerId": server.get("source_server_id"),
                "recoveryInstanceId": server.get("recovery_instance_id"),
                "launchStatus": server.get("launch_status"),
            }
            for server in record.get("participating_servers") or ()
        ],
    }


def replication_summary(result):
    """Dashboard metrics (GET /replication/summary) from the core's describe_replication result."""
    summary = result.get("summary") or {}
    return {
        "regions": list(result.get("regions") or ()),
        "asOf": result.get("as_of"),
        "totalServers": summary.get("total", 0),
        "byState": dict(summary.get("by_state") or {}),
        "byRegion": dict(summary.get("by_region") or {}),
        "ready": summary.get("ready", 0),
        "readyPercent": summary.get("ready_percent", 0.0),
        "syncing": summary.get("syncing", 0),
        "needsAttention": summary.get("needs_attention_count", 0),
        "alerts": [
            {
                "sourceServerId": item.get("source_server_id"),
                "hostname": item.get("hostname"),
                "region": item.get("region"),
                "state": item.get("state"),
                "reason": item.get("reason"),
                "reasons": list(item.get("reasons") or ()),
            }
            for item in summary.get("needs_attention") or ()
        ],
        "recentActivity": [job(j) for j in result.get("jobs") or ()],
    }


# --- agent installation ---------------------------------------------------------------------


def install_accepted(sent, target_region, region):
    """POST /agent/install: the brief's response plus where it runs and when it was sent."""
    return {
        "commandId": sent.get("command_id"),
        "instanceIds": list(sent.get("instance_ids") or ()),
        "status": sent.get("status"),
        "documentName": sent.get("document_name"),
        "targetRegion": target_region,
        "region": region,
        "requestedAt": sent.get("requested_at"),
    }


def install_instance(record):
    return {
        "instanceId": record.get("instance_id"),
        "status": record.get("status"),
        "statusDetails": record.get("status_details"),
        "outcome": record.get("state"),
        "reason": record.get("reason"),
        "remedy": record.get("remedy"),
        "startTime": record.get("start_time"),
        "endTime": record.get("end_time"),
        "responseCode": record.get("response_code"),
        "output": record.get("output") or None,
        "outputUrl": record.get("output_url"),
    }


def install_status(status, record=None):
    """GET /agent/install/{commandId}/status, with who sent it when the tracking table knows."""
    record = record or {}
    return {
        "commandId": status.get("command_id"),
        "overallStatus": status.get("overall_status"),
        "commandStatus": status.get("status"),
        "commandStatusDetails": status.get("status_details"),
        "documentName": status.get("document_name"),
        "targetRegion": status.get("target_region") or record.get("TargetRegion"),
        "requestedAt": status.get("requested_at"),
        "createdBy": record.get("CreatedBy"),
        "createdAt": record.get("CreatedAt"),
        "summary": dict(status.get("summary") or {}),
        "instances": [install_instance(i) for i in status.get("instances") or ()],
    }


# --- recovery instances ---------------------------------------------------------------------


def _reversed_server(view):
    if not view:
        return None
    return {
        "region": view.get("region"),
        "sourceServerId": view.get("source_server_id"),
        "arn": view.get("arn"),
        "dataReplicationState": view.get("data_replication_state"),
        "progressPercent": view.get("progress_percent"),
        "rescanPercent": view.get("rescan_percent"),
        "replicatingThisInstance": view.get("replicating_this_instance"),
    }


def recovery_instance(record):
    """One recovery instance (GET /recovery-instances), per the brief with ERRATA rows 2, 3, 11, 12.

    ``reversedDirectionLaunchState`` is DRS's FailbackState enum and
    ``reversedDirectionLaunchStateLabel`` its console label; ``reverseReplicationStatus``
    is the operator's view for both origins (for origin AWS it follows the
    reversed-direction source server, whose state is what readiness means there).
    """
    failback = record.get("failback") or {}
    data = record.get("replication") or {}
    initiation = data.get("initiation") or {}
    return {
        "recoveryInstanceId": record.get("recovery_instance_id"),
        "region": record.get("region"),
        "ec2InstanceId": record.get("ec2_instance_id"),
        "ec2InstanceState": record.get("ec2_instance_state"),
        "sourceServerId": record.get("source_server_id"),
        "sourceServerHostname": record.get("source_hostname"),
        "isDrill": record.get("is_drill"),
        "originEnvironment": record.get("origin_environment"),
        "originRegion": record.get("origin_region"),
        "reversedDirectionLaunchState": failback.get("state"),
        "reversedDirectionLaunchStateLabel": failback.get("label"),
        "reverseReplicationStatus": record.get("reverse_replication_status"),
        "failbackLaunchType": failback.get("launch_type"),
        "failbackJobId": failback.get("job_id"),
        "dataReplicationStatus": data.get("state"),
        "dataReplicationProgress": data.get("progress_percent"),
        "dataReplicationRescanProgress": data.get("rescan_percent"),
        "failbackInitialization": {
            "currentStep": initiation.get("current_step"),
            "failedStep": initiation.get("failed_step"),
            "stepsDone": initiation.get("done"),
            "stepsTotal": initiation.get("total"),
        },
        "pendingAction": record.get("pending_action"),
        "replicatingToSourceServer": _reversed_server(record.get("reversed_direction_source_server")),
        "lastLaunchResult": LAUNCH_STATUS_LABELS.get(record.get("launch_status")),
    }


def reverse_replication(result):
    """POST /recovery-instances/{id}/reverse-replication, from the failback core's result."""
    view = result.get("reversed_direction_source_server") or {}
    arn = result.get("reversed_direction_source_server_arn") or view.get("arn")
    return {
        "recoveryInstanceId": result.get("recovery_instance_id"),
        "region": result.get("region"),
        "reverseReplicationStatus": "Initiated" if result.get("changed") else "AlreadyRunning",
        "changed": bool(result.get("changed")),
        "targetSourceServerId": result.get("reversed_direction_source_server_id") or view.get("source_server_id"),
        "targetRegion": result.get("reversed_direction_region") or view.get("region"),
        "reversedDirectionSourceServerArn": arn,
        "message": result.get("message")
        or (
            "Reverse replication started: DRS replicates the recovery instance to its origin region."
            if result.get("changed")
            else "Reverse replication already runs."
        ),
    }


def failback_launch(result, recovery_instance_id):
    """POST /recovery-instances/{id}/failback, from the failback core's result."""
    instances = result.get("recovery_instances") or [{}]
    instance = next((i for i in instances if i.get("recovery_instance_id") == recovery_instance_id), instances[0])
    job_ids = list(result.get("job_ids") or ([instance["job_id"]] if instance.get("job_id") else []))
    reversed_server = instance.get("reversed_direction_source_server") or {}
    failback_instance = instance.get("failback_instance") or {}
    return {
        "recoveryInstanceId": recovery_instance_id,
        "region": result.get("region"),
        "path": instance.get("origin_environment"),
        "isDrill": bool(result.get("drill")),
        "changed": bool(result.get("changed")),
        "jobId": job_ids[0] if job_ids else None,
        "jobIds": job_ids,
        "status": instance.get("phase"),
        "failbackRegion": reversed_server.get("region") if instance.get("origin_environment") == "AWS" else None,
        "targetInstances": [failback_instance["recovery_instance_id"]] if failback_instance else [],
        "pendingAction": instance.get("pending_action"),
    }
