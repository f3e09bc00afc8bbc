"""One function per route: validate the request, call the core, shape the answer.

Shapes follow the brief's REST contract (Phases 1-3, camelCase), corrected by
ERRATA.md: failback states are the DRS ``FailbackState`` enum with the console label
beside it, reverse replication is ``ReverseReplication``, failback branches on the
origin, and every list is read to its last page (by the core). The core's records are
snake_case; :mod:`shapes` renames them. Nothing here decides anything the modules
would decide differently: that lives in the core.
"""

from __future__ import annotations

import logging

from ansible_collections.drs.orchestration.plugins.module_utils import (
    agent_install,
    failback,
    recovery_instances,
    replication,
)
from ansible_collections.drs.orchestration.plugins.module_utils.aws import error_code
from ansible_collections.drs.orchestration.plugins.module_utils.tracking import TrackingTable
from ansible_collections.drs.orchestration.plugins.module_utils.validation import check_ids

from . import shapes
from .proxy import HttpError, bad_request, check_fields, expect

# maxItems of the list query parameters in openapi.yaml (the published contract).
MAX_REGIONS = 30
MAX_IDS = 200

LOG = logging.getLogger("drs_orchestration.api")

MAX_INSTANCES = 50  # SSM SendCommand's InstanceIds limit: one command per request
ACCESS_DENIED_CODES = frozenset({"AccessDeniedException", "AccessDenied"})
TERMINAL_INSTALL_STATUSES = frozenset({"Success", "Failed", "Cancelled"})


def region_of(app, value, name="region"):
    """The region a request names (default: the API's), which the stack must allow."""
    if value is None:
        region = app.region or (app.allowed_regions[0] if app.allowed_regions else None)
        if region is None:
            raise bad_request(f"{name} is required: this API has no default region.")
        return region
    if not isinstance(value, str) or value not in app.allowed_regions:
        raise bad_request(
            f"{name}: {value!r} is not a region this API may act in. Allowed: {', '.join(app.allowed_regions)} "
            "(the stack's allowedRegions)."
        )
    return value


def replication_status(app, request):
    """GET /servers/{sourceServerId}/replication-status"""
    (server_id,) = check_ids([request.path_param("sourceServerId")], "source_server", "sourceServerId")
    region = region_of(app, request.query_value("region"))
    result = replication.describe_replication(app.clients, [region], source_server_ids=[server_id])
    if not result["servers"]:
        raise HttpError(
            404,
            f"No source server {server_id} in {region}. Source server IDs are per region: check the ID, "
            "or pass ?region= for the region it replicates to.",
            "NotFound",
        )
    return 200, shapes.replication_status(result["servers"][0])


def replication_summary(app, request):
    """GET /replication/summary"""
    regions = [region_of(app, r, "regions") for r in request.query_list("regions", max_items=MAX_REGIONS) or [None]]
    if len(regions) > 30:
        raise bad_request(f"regions: {len(regions)} regions given; name at most 30.")
    include_jobs = request.query_bool("includeJobs")
    result = replication.describe_replication(app.clients, regions, include_jobs=include_jobs)
    return 200, shapes.replication_summary(result)


# --- agent installation ---------------------------------------------------------------------


def parse_tags(value):
    """``tags`` as the brief sends it (``"K=V,K=V"``) or as an object, into a mapping.

    Only the text form is parsed here (spaces around keys and values dropped, as the
    contract's pattern allows); what characters a key or value may hold is the core's
    rule (``agent_install._check_tags``; openapi.yaml's tags schema says the same).
    """
    if value is None or value == "":
        return {}
    if isinstance(value, dict):
        bad = {k: v for k, v in value.items() if not isinstance(v, str)}
        if bad:
            raise bad_request(f"tags: values must be strings, got {bad!r}.")
        return value
    if not isinstance(value, str):
        raise bad_request('tags must be a "Key=Value,Key=Value" string or an object of strings.')
    tags = {}
    for pair in value.split(","):
        key, sep, tag_value = pair.partition("=")
        key, tag_value = key.strip(" "), tag_value.strip(" ")
        if not sep or not key or "=" in tag_value:
            raise bad_request(f'tags: {pair!r} is not Key=Value; write tags as "Environment=Production,App=Web".')
        if key in tags:
            raise bad_request(f"tags: the key {key!r} is given twice.")
        tags[key] = tag_value
    return tags


def install_agent(app, request):
    """POST /agent/install: one SendCommand, recorded in the tracking table."""
    body = request.json_body()
    check_fields(body, ("instanceIds", "targetRegion", "tags", "region"), required=("instanceIds", "targetRegion"))
    instance_ids = expect(body["instanceIds"], list, "instanceIds")
    if not instance_ids:
        raise bad_request("instanceIds is empty: list the EC2 instances to install the agent on.")
    if len(instance_ids) > MAX_INSTANCES:
        raise bad_request(
            f"Maximum {MAX_INSTANCES} instances per request (SSM SendCommand's limit), got {len(instance_ids)}. "
            "Split the list, or use the drs_agent_install Ansible module, which batches any number."
        )
    target_region = expect(body["targetRegion"], str, "targetRegion")
    region = region_of(app, expect(body.get("region"), str, "region"))
    tags = parse_tags(body.get("tags"))
    try:
        sent = agent_install.submit_install(
            app.clients_for(region),
            instance_ids,
            target_region,
            tags=tags,
            document_name=app.document_name or agent_install.DEFAULT_DOCUMENT,
        )
    except Exception as exc:
        code = error_code(exc)
        if app.install_instance_tag and code in ACCESS_DENIED_CODES:
            key, value = app.install_instance_tag
            raise HttpError(
                403,
                f"SSM refused the install ({code}): this API may run it only on instances tagged {key}={value} "
                "(the stack's installInstanceTagKey/installInstanceTagValue). Tag the instances and retry; if they "
                "are tagged, check they are EC2 instances of this account in the region given.",
                code,
            ) from exc
        raise
    answer = shapes.install_accepted(sent, target_region, region)
    answer["tracked"], warning = _record_install(app, sent, target_region, region, request.user)
    if warning:
        answer["warnings"] = [warning]
    return 202, answer


def _record_install(app, sent, target_region, region, user):
    """Write the tracking record; a failure is reported, not raised: the command was sent."""
    if not app.table_name:
        return False, "No tracking table configured (AGENT_INSTALLATIONS_TABLE): the install was not recorded."
    try:
        TrackingTable(app.clients.writer("dynamodb"), app.table_name).record_command(
            sent["command_id"],
            sent["instance_ids"],
            target_region,
            sent["status"],
            created_by=user,
            ttl_days=app.ttl_days,
            created_at=sent.get("requested_at"),
            command_region=region,
        )
    except Exception as exc:  # the command is out; say the record is missing rather than fail the request
        LOG.exception("tracking record for %s not written", sent["command_id"])
        return False, f"The command was sent but not recorded in {app.table_name}: {exc}"
    return True, None


def install_status(app, request):
    """GET /agent/install/{commandId}/status; a finished command's record gets its final status.

    Only agent installs: a command of an install document (``app.install_documents``) or one
    the tracking table recorded. Any other SSM command of the account is answered exactly
    like an unknown one (404, same message), before its output is read: its status and
    output are not this API's to show. Without ``?region=`` a recorded command is looked up
    in the Region it was sent in.
    """
    command_id = agent_install.check_command_id(request.path_param("commandId"))
    record = _tracking_record(app, command_id)
    asked = request.query_value("region")
    region = region_of(app, asked if asked is not None or not record else record.get("CommandRegion"))
    status = agent_install.install_status(
        app.clients_for(region), command_id, documents=None if record else app.install_documents
    )
    if record:
        overall = status["overall_status"]
        if overall in TERMINAL_INSTALL_STATUSES and record.get("Status") != overall:
            table = TrackingTable(app.clients.writer("dynamodb"), app.table_name)
            try:
                table.update_status(command_id, overall, summary=status.get("summary"))
                record["Status"] = overall
            except Exception:  # the status was read; the record catches up on a later read
                LOG.exception("tracking record for %s not brought up to date", command_id)
    return 200, shapes.install_status(status, record)


def _tracking_record(app, command_id):
    """The command's tracking record, or None: also when the table cannot be read (the status comes
    from SSM either way; a missing or misconfigured table is logged, not answered as a missing command)."""
    if not app.table_name:
        return None
    try:
        return TrackingTable(app.clients.reader("dynamodb"), app.table_name).get(command_id)
    except Exception:
        LOG.exception("tracking table %s not readable for %s", app.table_name, command_id)
        return None


# --- recovery instances, reverse replication, failback --------------------------------------


def list_recovery_instances(app, request):
    """GET /recovery-instances"""
    region = region_of(app, request.query_value("region"))
    records = recovery_instances.describe_recovery_instances(
        app.clients,
        region,
        recovery_instance_ids=request.query_list("recoveryInstanceIds", max_items=MAX_IDS),
        source_server_ids=request.query_list("sourceServerIds", max_items=MAX_IDS),
    )
    return 200, {"region": region, "recoveryInstances": [shapes.recovery_instance(r) for r in records]}


def _recovery_instance_id(request):
    (rid,) = check_ids([request.path_param("id")], "recovery_instance", "id")
    return rid


def reverse_replication(app, request):
    """POST /recovery-instances/{id}/reverse-replication: DRS ReverseReplication (ERRATA row 1)."""
    rid = _recovery_instance_id(request)
    body = request.json_body(required=False)
    check_fields(body, ("region", "targetRegion"))
    region = region_of(app, expect(body.get("region"), str, "region"))
    expected = expect(body.get("targetRegion"), str, "targetRegion")
    if expected is not None:
        _check_origin(app, region, rid, expected)
    result = failback.reverse_replication(app.clients, region, rid)
    return (202 if result.get("changed") else 200), shapes.reverse_replication(result)


def _check_origin(app, region, rid, expected):
    """The brief lets a caller name the failback region; DRS decides it (the origin): they must agree."""
    records = recovery_instances.describe_recovery_instances(app.clients, region, recovery_instance_ids=[rid])
    if not records:
        raise HttpError(404, f"No recovery instance {rid} in {region}: check the ID and ?region=.", "NotFound")
    origin = records[0].get("origin_region")
    if origin and origin != expected:
        raise HttpError(
            409,
            f"Reverse replication of {rid} goes to its origin region {origin} (DRS decides it), not {expected}. "
            f"Send targetRegion {origin} or leave it out.",
            "Conflict",
        )


def failback_launch(app, request):
    """POST /recovery-instances/{id}/failback: branches on the origin (ERRATA row 4), in the core."""
    rid = _recovery_instance_id(request)
    body = request.json_body()
    check_fields(body, ("isDrill", "region"), required=("isDrill",))
    drill = expect(body["isDrill"], bool, "isDrill")
    region = region_of(app, expect(body.get("region"), str, "region"))
    # isDrill is required and has no default: sending false IS the explicit production choice.
    result = failback.launch_failback(app.clients, region, rid, drill=drill, confirm_production=not drill)
    return (202 if result.get("changed") else 200), shapes.failback_launch(result, rid)
