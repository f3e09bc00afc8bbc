"""The REST handler, route by route, over HTTP through the API Gateway stand-in, against the emulator.

Each test sends what a client would send and checks what a client sees (status, body)
and what reached AWS (the emulator's call log) or the tracking table.
"""

from __future__ import annotations

import json
from datetime import datetime, timedelta

import jsonschema
import pytest
from api import routes
from stack_harness import TABLE_NAME, contract

from ansible_collections.drs.orchestration.plugins.module_utils import agent_install, errors
from ansible_collections.drs.orchestration.plugins.module_utils.aws import Clients
from ansible_collections.drs.orchestration.plugins.module_utils.tracking import TrackingTable

DOCUMENT = "AWSDisasterRecovery-InstallDRAgentOnInstance"
WEB1, WEB2 = "i-0123456789abcdef0", "i-0123456789abcdef1"
FAST = {
    "install_seconds": 60,
    "registration_seconds": 10,
    "initiation_step_seconds": 1,
    "snapshot_seconds": 5,
    "job_start_seconds": 5,
    "launch_seconds": 30,
    "failback_client_step_seconds": 2,
    "replication_bytes_per_second": 1024**3,
}
INSTALL_FLEET = {
    "region": "us-east-1",
    "timing": FAST,
    "instances": [{"instance_id": WEB1, "name": "web-1"}, {"instance_id": WEB2, "name": "web-2"}],
}
SERVERS_FLEET = {
    "region": "us-east-1",
    "timing": FAST,
    "source_servers": [
        {"hostname": "db-01.corp.example.com", "state": "CONTINUOUS", "tags": {"tier": "gold"}},
        {"hostname": "db-02.corp.example.com", "state": "INITIAL_SYNC"},
        {"hostname": "db-03.corp.example.com", "state": "STALLED"},
        {"hostname": "app-01.corp.example.com", "state": "CONTINUOUS", "region": "us-west-2"},
    ],
}
FAILBACK_FLEET = {
    "region": "us-west-2",
    "timing": FAST,
    "source_servers": [
        {
            "hostname": "web-aws",
            "region": "us-east-1",
            "origin": "AWS",
            "origin_region": "us-west-2",
            "instance_id": "i-0aaaaaaaaaaaaaaa1",
        },
        {"hostname": "erp-onprem", "region": "us-east-1", "origin": "ON_PREMISES"},
    ],
}


def servers(api, region="us-east-1"):
    """``{host name or FQDN: source server ID}`` as DRS lists them."""
    items = api.emu.client("drs", region=region).describe_source_servers(filters={})["items"]
    found = {}
    for item in items:
        hints = item["sourceProperties"]["identificationHints"]
        for name in (hints.get("hostname"), hints.get("fqdn")):
            if name:
                found[name] = item["sourceServerID"]
    return found


def recover(api, hostname, region="us-east-1"):
    """Recover one source server for real (not a drill) and return its recovery instance ID."""
    server_id = servers(api, region)[hostname]
    api.emu.client("drs", region=region).start_recovery(isDrill=False, sourceServers=[{"sourceServerID": server_id}])
    api.emu.advance(120)
    items = api.emu.client("drs", region=region).describe_recovery_instances(filters={"sourceServerIDs": [server_id]})[
        "items"
    ]
    assert len(items) == 1, items
    return items[0]["recoveryInstanceID"]


def sent(api, service, operation):
    return api.emu.calls(service, operation)


def assert_error(response, status, *fragments):
    assert response.status_code == status, response.json
    body = response.json
    assert set(body) <= {"error", "code", "details", "requestId"}
    assert body["requestId"].startswith("req-")
    for fragment in fragments:
        assert fragment in body["error"], body["error"]
    return body


# --- POST /agent/install ------------------------------------------------------------------


def test_install_sends_one_command_and_records_who_sent_it(api_factory):
    api = api_factory(INSTALL_FLEET)
    response = api.post(
        "/agent/install", {"instanceIds": [WEB1, WEB2], "targetRegion": "us-west-2", "tags": "Env=Prod,App=Web"}
    )
    assert response.status_code == 202, response.json
    body = response.json
    assert body["instanceIds"] == [WEB1, WEB2]
    assert (body["status"], body["documentName"], body["targetRegion"], body["region"]) == (
        "Pending",
        DOCUMENT,
        "us-west-2",
        "us-east-1",
    )
    assert body["tracked"] is True
    (call,) = sent(api, "ssm", "SendCommand")
    assert call["params"]["DocumentName"] == DOCUMENT
    assert call["params"]["InstanceIds"] == [WEB1, WEB2]
    assert call["params"]["Parameters"]["Region"] == ["us-west-2"]
    assert call["params"]["Parameters"]["Tags"] == ["Env=Prod,App=Web"]
    item = api.tracking_item(body["commandId"])
    assert item["CreatedBy"] == {"S": "operator@example.com"}
    assert item["Status"] == {"S": "Pending"}
    assert item["TargetRegion"] == {"S": "us-west-2"}
    assert [i["S"] for i in item["InstanceIds"]["L"]] == [WEB1, WEB2]
    created = datetime.fromisoformat(item["CreatedAt"]["S"])
    assert int(item["TTL"]["N"]) == int((created + timedelta(days=90)).timestamp())
    assert item["CreatedDay"] == {"S": created.date().isoformat()}


def test_installs_are_listed_by_time_through_the_created_at_index(api_factory):
    api = api_factory(INSTALL_FLEET)
    ids = []
    for instance in (WEB1, WEB2):
        ids.append(
            api.post("/agent/install", {"instanceIds": [instance], "targetRegion": "us-west-2"}).json["commandId"]
        )
        api.emu.advance(60)  # the emulator's clock stands still at speed 0
    days = sorted({api.tracking_item(command_id)["CreatedDay"]["S"] for command_id in ids})  # one, unless at midnight
    found = [
        item
        for day in days
        for item in api.emu.client("dynamodb").query(
            TableName=TABLE_NAME,
            IndexName="CreatedAtIndex",
            KeyConditionExpression="CreatedDay = :day AND CreatedAt >= :since",
            ExpressionAttributeValues={":day": {"S": day}, ":since": {"S": f"{day}T00:00:00"}},
        )["Items"]
    ]
    assert [item["CommandId"]["S"] for item in found] == ids


def test_install_accepts_tags_as_an_object(api_factory):
    api = api_factory(INSTALL_FLEET)
    response = api.post("/agent/install", {"instanceIds": [WEB1], "targetRegion": "us-west-2", "tags": {"Env": "Dev"}})
    assert response.status_code == 202, response.json
    assert sent(api, "ssm", "SendCommand")[0]["params"]["Parameters"]["Tags"] == ["Env=Dev"]


def test_install_status_reports_each_instance_and_records_the_final_status(api_factory):
    api = api_factory(INSTALL_FLEET)
    command_id = api.post("/agent/install", {"instanceIds": [WEB1, WEB2], "targetRegion": "us-west-2"}).json[
        "commandId"
    ]
    running = api.get(f"/agent/install/{command_id}/status")
    assert running.status_code == 200
    assert running.json["overallStatus"] in ("Pending", "InProgress")
    api.emu.advance(300)
    done = api.get(f"/agent/install/{command_id}/status")
    assert done.status_code == 200
    body = done.json
    assert body["overallStatus"] == "Success"
    assert body["createdBy"] == "operator@example.com"
    assert body["targetRegion"] == "us-west-2"
    assert {i["instanceId"]: (i["status"], i["outcome"]) for i in body["instances"]} == {
        WEB1: ("Success", "Success"),
        WEB2: ("Success", "Success"),
    }
    assert all(i["startTime"] and i["endTime"] for i in body["instances"])
    item = api.tracking_item(command_id)
    assert item["Status"] == {"S": "Success"}
    assert item["Summary"] == {"M": {"Success": {"N": "2"}}}


def test_install_status_answers_from_ssm_when_the_tracking_table_cannot_be_read(api_factory):
    api = api_factory(INSTALL_FLEET, create_table=False)  # configured, never created
    sent = api.post("/agent/install", {"instanceIds": [WEB1], "targetRegion": "us-west-2"}).json
    assert sent["tracked"] is False
    api.emu.advance(300)
    done = api.get(f"/agent/install/{sent['commandId']}/status")
    assert done.status_code == 200, done.json
    assert (done.json["overallStatus"], done.json["createdBy"]) == ("Success", None)


def test_install_status_of_an_unknown_command_is_404(api_factory):
    api = api_factory(INSTALL_FLEET)
    assert_error(api.get("/agent/install/0b9f8a30-1111-4222-8333-944445555666/status"), 404, "No SSM command")


def test_install_status_with_a_malformed_command_id_is_400(api_factory):
    api = api_factory(INSTALL_FLEET)
    assert_error(api.get("/agent/install/cmd-1234/status"), 400, "is not an SSM command ID")
    assert sent(api, "ssm", "ListCommands") == []


def _without_request_id(response):
    return {k: v for k, v in response.json.items() if k != "requestId"}


def test_install_status_of_another_documents_command_is_404_like_an_unknown_one(api_factory):
    """Not an install, not recorded: the route shows neither the command nor its output."""
    api = api_factory(INSTALL_FLEET)
    command_id = api.emu.client("ssm").send_command(
        InstanceIds=[WEB1], DocumentName="AWS-RunShellScript", Parameters={"commands": ["cat /etc/app/secret.conf"]}
    )["Command"]["CommandId"]
    api.emu.advance(300)
    refused = api.get(f"/agent/install/{command_id}/status")
    assert_error(refused, 404, f"No SSM command {command_id} in us-east-1")
    unknown_id = "0b9f8a30-1111-4222-8333-944445555666"
    unknown = api.get(f"/agent/install/{unknown_id}/status")
    assert _without_request_id(refused) == {
        k: v.replace(unknown_id, command_id) if k == "error" else v for k, v in _without_request_id(unknown).items()
    }
    assert "RunShellScript" not in refused.get_data(as_text=True)


CUSTOM_INSTALL = {
    **INSTALL_FLEET,
    "documents": [
        {"name": "Custom-InstallDRAgent", "installs_drs_agent": True, "parameters": [{"Name": "Region"}]},
        {"name": "Custom-Inventory", "parameters": [{"Name": "Region"}]},
    ],
}


def test_install_status_reports_commands_of_every_install_document_of_the_stack(api_factory):
    api = api_factory(CUSTOM_INSTALL, env={"INSTALL_DOCUMENT_NAMES": f"{DOCUMENT},Custom-InstallDRAgent"})
    ssm = api.emu.client("ssm")
    install = ssm.send_command(
        InstanceIds=[WEB1], DocumentName="Custom-InstallDRAgent", Parameters={"Region": ["us-west-2"]}
    )["Command"]["CommandId"]
    other = ssm.send_command(InstanceIds=[WEB1], DocumentName="Custom-Inventory", Parameters={"Region": ["x"]})[
        "Command"
    ]["CommandId"]
    response = api.get(f"/agent/install/{install}/status")
    assert response.status_code == 200, response.json
    assert response.json["documentName"] == "Custom-InstallDRAgent"
    assert_error(api.get(f"/agent/install/{other}/status"), 404, f"No SSM command {other}")


def test_install_status_reports_a_command_the_tracking_table_recorded(api_factory):
    """A recorded command is one this API or the modules sent as an install, whatever its document."""
    api = api_factory(CUSTOM_INSTALL)
    command_id = api.emu.client("ssm").send_command(
        InstanceIds=[WEB1], DocumentName="Custom-InstallDRAgent", Parameters={"Region": ["us-west-2"]}
    )["Command"]["CommandId"]
    assert_error(api.get(f"/agent/install/{command_id}/status"), 404, f"No SSM command {command_id}")
    TrackingTable(api.emu.client("dynamodb"), TABLE_NAME).record_command(
        command_id, [WEB1], "us-west-2", "Pending", created_by="ops@example.com"
    )
    response = api.get(f"/agent/install/{command_id}/status")
    assert response.status_code == 200, response.json
    assert (response.json["documentName"], response.json["createdBy"]) == ("Custom-InstallDRAgent", "ops@example.com")


def test_a_recorded_install_is_found_in_the_region_it_was_sent_in_without_region(api_factory):
    api = api_factory({**INSTALL_FLEET, "region": "us-west-2"})
    sent = api.post("/agent/install", {"instanceIds": [WEB1], "targetRegion": "us-east-1", "region": "us-west-2"})
    assert sent.status_code == 202, sent.json
    command_id = sent.json["commandId"]
    record = TrackingTable(api.emu.client("dynamodb", region="us-east-1"), TABLE_NAME).get(command_id)
    assert record["CommandRegion"] == "us-west-2"

    found = api.get(f"/agent/install/{command_id}/status")  # the API's default region is us-east-1

    assert found.status_code == 200, found.json
    assert found.json["commandId"] == command_id
    assert_error(api.get(f"/agent/install/{command_id}/status", region="us-east-1"), 404, "No SSM command")


@pytest.mark.parametrize(
    ("body", "fragment"),
    [
        (None, "body is missing"),
        ("{not json", "not valid JSON"),
        ("[1, 2]", "must be a JSON object"),
        ({"targetRegion": "us-west-2"}, "Missing required field(s): instanceIds"),
        ({"instanceIds": [WEB1]}, "Missing required field(s): targetRegion"),
        ({"instanceIds": [], "targetRegion": "us-west-2"}, "instanceIds is empty"),
        ({"instanceIds": WEB1, "targetRegion": "us-west-2"}, "instanceIds must be an array"),
        (
            {"instanceIds": [f"i-{n:017x}" for n in range(51)], "targetRegion": "us-west-2"},
            "Maximum 50 instances per request",
        ),
        ({"instanceIds": ["i-123"], "targetRegion": "us-west-2"}, "'i-123' is not an EC2 instance ID"),
        ({"instanceIds": [WEB1], "targetRegion": "mars-north-1"}, "is not a region where DRS is available"),
        ({"instanceIds": [WEB1], "targetRegion": 7}, "targetRegion must be a string"),
        ({"instanceIds": [WEB1], "targetRegion": "us-west-2", "region": "eu-west-1"}, "not a region this API"),
        ({"instanceIds": [WEB1], "targetRegion": "us-west-2", "tags": "Env"}, "is not Key=Value"),
        ({"instanceIds": [WEB1], "targetRegion": "us-west-2", "tags": "A=b=c"}, "is not Key=Value"),
        ({"instanceIds": [WEB1], "targetRegion": "us-west-2", "tags": {"A": "x,y"}}, "tags"),
        ({"instanceIds": [WEB1], "targetRegion": "us-west-2", "force": True}, "Unknown field(s) in the request body"),
        ("[" * 100_000 + "]" * 100_000, "nests arrays or objects too deeply"),
        ('{"instanceIds": ' + "[" * 100_000 + "]" * 100_000 + ', "targetRegion": "us-west-2"}', "too deeply"),
    ],
)
def test_bad_install_requests_are_400_and_send_nothing(api_factory, body, fragment):
    api = api_factory(INSTALL_FLEET)
    if body is None:
        response = api.http.post("/agent/install", headers=api.headers)
    elif isinstance(body, str):
        response = api.post("/agent/install", raw=body)
    else:
        response = api.post("/agent/install", body)
    assert_error(response, 400, fragment)
    assert sent(api, "ssm", "SendCommand") == []


def _tags_schema():
    return contract()["components"]["schemas"]["InstallRequest"]["properties"]["tags"]


# (tags, whether the handler accepts them): the contract's tags schema must say the same.
TAG_SAMPLES = [
    ("Env=Prod,App=Web", True),
    ("Env=Prod, App = Web Server ", True),
    ("", True),
    ("a:b/c@d+e.f-g_h=1", True),
    ({"Env": "Prod", "Team": " Data Eng "}, True),
    (",".join(f"K{n}=v" for n in range(21)), True),
    (",".join(f"K{n}=v" for n in range(22)), False),
    ({f"K{n}": "v" for n in range(21)}, True),
    ({f"K{n}": "v" for n in range(22)}, False),
    ("K=" + "v" * 50, True),
    ("K=" + "v" * 51, False),
    ({"K": "v" * 50}, True),
    ({"K": "v" * 51}, False),
    ("k" * 51 + "=v", False),
    ("Env=Prod;rm", False),
    ('Env="Prod"', False),
    ("Env=Prod,", False),
    ("Env=  ", False),
    ("\tEnv=Prod", False),
    ("Env Name=Prod", False),
    ({"Env": "a,b"}, False),
    ({"Env": "a=b"}, False),
    ({"Env": ""}, False),
    ({"Env": "caf\u00e9"}, False),
]


@pytest.mark.parametrize(("tags", "accepted"), TAG_SAMPLES)
def test_the_contracts_tags_schema_accepts_what_the_handler_accepts(api_factory, tags, accepted):
    schema_accepts = jsonschema.Draft4Validator(_tags_schema()).is_valid(tags)
    assert schema_accepts == accepted
    api = api_factory(INSTALL_FLEET)
    response = api.post("/agent/install", {"instanceIds": [WEB1], "targetRegion": "us-west-2", "tags": tags})
    assert response.status_code == (202 if accepted else 400), response.json


@pytest.mark.parametrize("tags", ["aws:team=dr", "AWS:Team=dr", "Env=a,Env=b", {"aws:team": "dr"}, {"Env Name": "x"}])
def test_tags_the_schema_cannot_refuse_are_refused_by_the_handler_as_its_description_says(api_factory, tags):
    """A reserved prefix, a repeated key, an object's key (OpenAPI 3.0 has no propertyNames)."""
    assert jsonschema.Draft4Validator(_tags_schema()).is_valid(tags)
    api = api_factory(INSTALL_FLEET)
    response = api.post("/agent/install", {"instanceIds": [WEB1], "targetRegion": "us-west-2", "tags": tags})
    assert_error(response, 400, "tags")


def test_the_contracts_tag_limit_is_the_install_documents():
    assert _tags_schema()["oneOf"][1]["maxProperties"] == agent_install.MAX_TAGS == 21


def test_install_without_a_verified_caller_is_401_and_sends_nothing(api_factory):
    api = api_factory(INSTALL_FLEET, claims=None)
    response = api.post("/agent/install", {"instanceIds": [WEB1], "targetRegion": "us-west-2"})
    assert_error(response, 401, "Cognito ID token")
    assert sent(api, "ssm", "SendCommand") == []


TAGGED = {"INSTALL_INSTANCE_TAG_KEY": "dr:enabled", "INSTALL_INSTANCE_TAG_VALUE": "true"}
SSM_DENIED = {"count": 1, "mode": "before", "status": 400, "code": "AccessDeniedException"}


def test_install_refused_by_the_stacks_tag_condition_is_403_naming_the_tag(api_factory):
    api = api_factory(INSTALL_FLEET, env=TAGGED)
    api.emu.admin.faults(fail_next={"ssm:SendCommand": SSM_DENIED})
    response = api.post("/agent/install", {"instanceIds": [WEB1], "targetRegion": "us-west-2"})
    body = assert_error(response, 403, "only on instances tagged dr:enabled=true", "installInstanceTagKey")
    assert body["code"] == "AccessDeniedException"
    assert api.emu.client("dynamodb").scan(TableName=TABLE_NAME)["Items"] == []  # nothing recorded


def test_install_access_denied_without_a_tag_condition_stays_502(api_factory):
    api = api_factory(INSTALL_FLEET)
    api.emu.admin.faults(fail_next={"ssm:SendCommand": SSM_DENIED})
    response = api.post("/agent/install", {"instanceIds": [WEB1], "targetRegion": "us-west-2"})
    assert assert_error(response, 502, "AccessDeniedException")["code"] == "AccessDeniedException"


def test_install_is_answered_even_when_its_record_cannot_be_written(api_factory):
    api = api_factory(INSTALL_FLEET, create_table=False)  # configured, but the table does not exist
    response = api.post("/agent/install", {"instanceIds": [WEB1], "targetRegion": "us-west-2"})
    assert response.status_code == 202
    assert response.json["tracked"] is False
    assert "not recorded" in response.json["warnings"][0]
    assert len(sent(api, "ssm", "SendCommand")) == 1


# --- replication --------------------------------------------------------------------------


def test_replication_status_shapes_one_server_like_the_brief(api_factory):
    api = api_factory(SERVERS_FLEET)
    server_id = servers(api)["db-01.corp.example.com"]
    api.emu.world.reset_calls()
    response = api.get(f"/servers/{server_id}/replication-status")
    assert response.status_code == 200
    body = response.json
    assert (body["sourceServerId"], body["hostname"]) == (server_id, "db-01")
    assert body["dataReplicationState"] == "CONTINUOUS"
    assert [s["name"] for s in body["initializationSteps"]][:3] == [
        "WAIT",
        "CREATE_SECURITY_GROUP",
        "LAUNCH_REPLICATION_SERVER",
    ]
    assert len(body["initializationSteps"]) == 11
    assert body["overallProgress"] == 100.0
    (disk,) = body["replicatedDisks"]
    assert disk["totalStorageBytes"] == 20 * 1024**3
    assert disk["progressPercent"] == 100.0
    assert set(body["lifecycle"]) == {
        "addedToServiceDateTime",
        "firstByteDateTime",
        "elapsedReplicationDuration",
        "lastSeenByServiceDateTime",
    }
    assert body["error"] is None
    (call,) = sent(api, "drs", "DescribeSourceServers")
    assert call["params"]["filters"] == {"sourceServerIDs": [server_id]}


def test_replication_status_of_a_rescanning_server_reports_how_far_the_rescan_has_come(api_factory):
    fleet = {
        **SERVERS_FLEET,
        "source_servers": [*SERVERS_FLEET["source_servers"], {"hostname": "db-04", "state": "RESCAN"}],
    }
    api = api_factory(fleet)
    ids = servers(api)
    rescanning = api.get(f"/servers/{ids['db-04']}/replication-status").json
    continuous = api.get(f"/servers/{ids['db-01.corp.example.com']}/replication-status").json
    # The emulator's RESCAN server of the fleet has half of each disk rescanned, its initial sync long done.
    assert (rescanning["dataReplicationState"], rescanning["overallProgress"]) == ("RESCAN", 100.0)
    assert rescanning["rescanProgress"] == 50.0
    assert [d["rescanPercent"] for d in rescanning["replicatedDisks"]] == [50.0]
    assert continuous["rescanProgress"] is None
    assert [d["rescanPercent"] for d in continuous["replicatedDisks"]] == [None]


def test_replication_status_of_a_server_in_another_region_needs_that_region(api_factory):
    api = api_factory(SERVERS_FLEET)
    server_id = servers(api, "us-west-2")["app-01.corp.example.com"]
    assert_error(api.get(f"/servers/{server_id}/replication-status"), 404, "No source server", "?region=")
    found = api.get(f"/servers/{server_id}/replication-status", region="us-west-2")
    assert found.status_code == 200
    assert found.json["region"] == "us-west-2"


@pytest.mark.parametrize(
    ("path", "query", "status", "fragment"),
    [
        ("/servers/s-123/replication-status", {}, 400, "is not a DRS source server ID"),
        ("/servers/s-0123456789abcdef0/replication-status", {"region": "ap-south-1"}, 400, "not a region this API"),
        ("/replication/summary", {"regions": "us-east-1,,us-west-2"}, 400, "empty item"),
        ("/replication/summary", {"regions": "eu-central-1"}, 400, "not a region this API"),
        ("/replication/summary", {"includeJobs": "maybe"}, 400, "must be true or false"),
        ("/replication/summary", {"regions": ",".join(["us-east-1"] * 31)}, 400, "at most 30 values"),
    ],
)
def test_bad_replication_queries_are_400(api_factory, path, query, status, fragment):
    api = api_factory(SERVERS_FLEET)
    assert_error(api.get(path, **query), status, fragment)
    assert sent(api, "drs", "DescribeSourceServers") == []


def test_replication_summary_counts_states_and_regions_and_lists_alerts(api_factory):
    api = api_factory(SERVERS_FLEET)
    response = api.get("/replication/summary", regions="us-east-1,us-west-2")
    assert response.status_code == 200
    body = response.json
    assert body["regions"] == ["us-east-1", "us-west-2"]
    assert body["totalServers"] == 4
    assert body["byRegion"] == {"us-east-1": 3, "us-west-2": 1}
    assert body["byState"] == {"INITIAL_SYNC": 1, "CONTINUOUS": 2, "STALLED": 1}
    assert (body["ready"], body["syncing"], body["needsAttention"]) == (2, 1, 1)
    (alert,) = body["alerts"]
    assert (alert["hostname"], alert["state"]) == ("db-03", "STALLED")
    assert body["recentActivity"] == []
    # One sweep per region, never one call per server.
    assert len(sent(api, "drs", "DescribeSourceServers")) == 2


def test_replication_summary_includes_recent_jobs_on_request(api_factory):
    api = api_factory(SERVERS_FLEET)
    server_id = servers(api)["db-01.corp.example.com"]
    job = api.emu.client("drs").start_recovery(isDrill=True, sourceServers=[{"sourceServerID": server_id}])["job"]
    body = api.get("/replication/summary", includeJobs="true").json
    (activity,) = body["recentActivity"]
    assert (activity["jobId"], activity["initiatedBy"]) == (job["jobID"], "START_DRILL")
    assert activity["participatingServers"][0]["sourceServerId"] == server_id


def test_a_region_aws_refuses_makes_the_summary_502_naming_it(api_factory):
    api = api_factory(SERVERS_FLEET)
    denied = {"count": 1, "mode": "before", "status": 403, "code": "AccessDeniedException"}
    api.emu.admin.faults(fail_next={"drs:DescribeSourceServers": denied})
    body = assert_error(api.get("/replication/summary", regions="us-east-1,us-west-2"), 502, "us-east-1 failed")
    assert body["code"] == "IncompleteRead"
    assert [(e["region"], e["code"]) for e in body["details"]["errors"]] == [("us-east-1", "AccessDeniedException")]


def test_aws_throttling_that_outlasts_the_retries_is_429(api_factory):
    api = api_factory(SERVERS_FLEET)
    # Two attempts instead of the core's ten keep botocore's backoff short; the answer is the same.
    api.app._make_clients = lambda region: Clients(
        lambda service, name, config: api.emu.client(
            service, region=name, retries={"mode": "standard", "total_max_attempts": 2}
        ),
        region,
    )
    api.emu.admin.faults(throttle_next={"drs:DescribeSourceServers": 10})
    body = assert_error(api.get("/replication/summary"), 429, "throttling")
    assert body["code"] == "ThrottlingException"
    assert len(sent(api, "drs", "DescribeSourceServers")) == 2


# --- recovery instances, reverse replication, failback --------------------------------------


def test_recovery_instances_show_the_failback_state_its_label_and_the_next_step(api_factory):
    api = api_factory(FAILBACK_FLEET)
    aws_instance, onprem_instance = recover(api, "web-aws"), recover(api, "erp-onprem")
    response = api.get("/recovery-instances", region="us-east-1")
    assert response.status_code == 200
    found = {r["recoveryInstanceId"]: r for r in response.json["recoveryInstances"]}
    assert set(found) == {aws_instance, onprem_instance}
    aws, onprem = found[aws_instance], found[onprem_instance]
    assert (aws["sourceServerHostname"], aws["originEnvironment"], aws["originRegion"]) == (
        "web-aws",
        "AWS",
        "us-west-2",
    )
    assert aws["reversedDirectionLaunchState"] in ("FAILBACK_NOT_STARTED", "FAILBACK_LAUNCH_STATE_NOT_AVAILABLE", None)
    assert aws["reverseReplicationStatus"] == "Not started"
    assert aws["pendingAction"] == "Start reversed replication to us-west-2."
    assert aws["replicatingToSourceServer"] is None
    assert onprem["originEnvironment"] == "ON_PREMISES"
    assert (onprem["reversedDirectionLaunchState"], onprem["reversedDirectionLaunchStateLabel"]) == (
        "FAILBACK_NOT_STARTED",
        "Not started",
    )
    assert "Failback Client" in onprem["pendingAction"]
    assert aws["lastLaunchResult"] == onprem["lastLaunchResult"] == "Launch successful"
    only = api.get("/recovery-instances", sourceServerIds=servers(api)["web-aws"]).json["recoveryInstances"]
    assert [r["recoveryInstanceId"] for r in only] == [aws_instance]


@pytest.mark.parametrize(
    ("query", "fragment"),
    [
        ({"sourceServerIds": "s-0123456789abcdef0", "recoveryInstanceIds": "i-0123456789abcdef0"}, "not both"),
        ({"recoveryInstanceIds": "i-12"}, "is not a DRS recovery instance ID"),
        ({"sourceServerIds": "web-aws"}, "is not a DRS source server ID"),
        ({"region": "sa-east-1"}, "not a region this API"),
        ({"sourceServerIds": ",".join(f"s-{n:017d}" for n in range(201))}, "at most 200 values, got 201"),
    ],
)
def test_bad_recovery_instance_queries_are_400(api_factory, query, fragment):
    api = api_factory(FAILBACK_FLEET)
    assert_error(api.get("/recovery-instances", **query), 400, fragment)
    assert sent(api, "drs", "DescribeRecoveryInstances") == []


def test_reverse_replication_calls_reverse_replication_once_never_start_replication(api_factory):
    api = api_factory(FAILBACK_FLEET)
    instance = recover(api, "web-aws")
    response = api.post(f"/recovery-instances/{instance}/reverse-replication", {"targetRegion": "us-west-2"})
    assert response.status_code == 202, response.json
    body = response.json
    assert (body["reverseReplicationStatus"], body["changed"], body["targetRegion"]) == ("Initiated", True, "us-west-2")
    assert body["reversedDirectionSourceServerArn"].endswith(f":source-server/{body['targetSourceServerId']}")
    (call,) = sent(api, "drs", "ReverseReplication")
    assert call["params"] == {"recoveryInstanceID": instance}
    assert sent(api, "drs", "StartReplication") == []
    again = api.post(f"/recovery-instances/{instance}/reverse-replication")
    assert again.status_code == 200, again.json
    assert (again.json["reverseReplicationStatus"], again.json["changed"]) == ("AlreadyRunning", False)
    assert again.json["targetSourceServerId"] == body["targetSourceServerId"]
    assert len(sent(api, "drs", "ReverseReplication")) == 1


def test_reverse_replication_towards_another_region_than_the_origin_is_409(api_factory):
    api = api_factory(FAILBACK_FLEET)
    instance = recover(api, "web-aws")
    body = assert_error(
        api.post(f"/recovery-instances/{instance}/reverse-replication", {"targetRegion": "eu-west-1"}),
        409,
        "origin region us-west-2",
    )
    assert body["code"] == "Conflict"
    assert sent(api, "drs", "ReverseReplication") == []


def test_reverse_replication_of_an_on_premises_instance_is_409(api_factory):
    api = api_factory(FAILBACK_FLEET)
    instance = recover(api, "erp-onprem")
    assert_error(api.post(f"/recovery-instances/{instance}/reverse-replication"), 409, "Failback Client")
    assert sent(api, "drs", "ReverseReplication") == []


@pytest.mark.parametrize("route", ["reverse-replication", "failback"])
def test_unknown_recovery_instance_is_404_and_a_malformed_id_400(api_factory, route):
    api = api_factory(FAILBACK_FLEET)
    body = {"isDrill": True} if route == "failback" else {}
    assert_error(api.post(f"/recovery-instances/i-0fffffffffffffff0/{route}", body), 404)
    assert_error(api.post(f"/recovery-instances/web-aws/{route}", body), 400, "is not a DRS recovery instance ID")


@pytest.mark.parametrize(
    ("body", "fragment"),
    [
        ({}, "Missing required field(s): isDrill"),
        ({"isDrill": "yes"}, "isDrill must be true or false"),
        ({"isDrill": True, "pointInTimeSnapshotId": "pit-0123456789abcdef0"}, "Unknown field(s)"),
    ],
)
def test_failback_needs_an_explicit_drill_choice(api_factory, body, fragment):
    api = api_factory(FAILBACK_FLEET)
    instance = recover(api, "erp-onprem")
    assert_error(api.post(f"/recovery-instances/{instance}/failback", body), 400, fragment)


def test_failback_before_the_instance_is_ready_is_409_with_the_next_step(api_factory):
    api = api_factory(FAILBACK_FLEET)
    instance = recover(api, "erp-onprem")
    body = assert_error(api.post(f"/recovery-instances/{instance}/failback", {"isDrill": False}), 409, "not ready")
    assert "Failback Client" in body["error"]
    assert sent(api, "drs", "StartFailbackLaunch") == []


def test_on_premises_failback_has_no_drill_mode(api_factory):
    api = api_factory(FAILBACK_FLEET)
    instance = recover(api, "erp-onprem")
    assert_error(api.post(f"/recovery-instances/{instance}/failback", {"isDrill": True}), 409, "no drill mode")
    assert sent(api, "drs", "StartFailbackLaunch") == []


def test_on_premises_failback_launches_with_start_failback_launch(api_factory):
    api = api_factory(FAILBACK_FLEET)
    instance = recover(api, "erp-onprem")
    api.emu.admin.service("drs", "pair-failback-client", recoveryInstanceID=instance, region="us-east-1")
    api.emu.advance(600)
    listed = api.get("/recovery-instances").json["recoveryInstances"][0]
    assert listed["reversedDirectionLaunchState"] == "FAILBACK_READY_FOR_LAUNCH"
    assert listed["reverseReplicationStatus"] == "Ready"
    response = api.post(f"/recovery-instances/{instance}/failback", {"isDrill": False})
    assert response.status_code == 202, response.json
    body = response.json
    assert (body["path"], body["isDrill"], body["changed"]) == ("ON_PREMISES", False, True)
    (call,) = sent(api, "drs", "StartFailbackLaunch")
    assert call["params"]["recoveryInstanceIDs"] == [instance]
    assert body["jobId"].startswith("drsjob-")
    assert sent(api, "drs", "StartRecovery")[1:] == []  # only the test's own recovery


def test_aws_failback_recovers_the_reversed_server_in_the_origin_region(api_factory):
    api = api_factory(FAILBACK_FLEET)
    instance = recover(api, "web-aws")
    reversed_id = api.post(f"/recovery-instances/{instance}/reverse-replication").json["targetSourceServerId"]
    api.emu.advance(3600)
    listed = api.get("/recovery-instances").json["recoveryInstances"][0]
    assert listed["reverseReplicationStatus"] == "Ready", listed
    assert listed["replicatingToSourceServer"]["dataReplicationState"] == "CONTINUOUS"
    response = api.post(f"/recovery-instances/{instance}/failback", {"isDrill": False})
    assert response.status_code == 202, response.json
    body = response.json
    assert (body["path"], body["isDrill"], body["failbackRegion"]) == ("AWS", False, "us-west-2")
    launches = [c for c in sent(api, "drs", "StartRecovery") if c["region"] == "us-west-2"]
    assert [c["params"]["sourceServers"] for c in launches] == [[{"sourceServerID": reversed_id}]]
    assert launches[0]["params"]["isDrill"] is False
    assert sent(api, "drs", "StartFailbackLaunch") == []


def test_a_reverse_replication_rescanning_after_a_restart_shows_how_far_the_rescan_has_come(api_factory):
    # The reversed-direction server's agent runs on the recovery instance: stopped, it is lost;
    # started again, the server rescans its disks (emulator/README.md, "the source instance stops and starts").
    api = api_factory(FAILBACK_FLEET)
    instance = recover(api, "web-aws")
    assert api.post(f"/recovery-instances/{instance}/reverse-replication").status_code == 202
    api.emu.advance(3600)
    (item,) = api.emu.client("drs", region="us-east-1").describe_recovery_instances(filters={})["items"]

    def set_state(state):
        api.emu.admin.service(
            "ec2", "set-instance-state", region="us-east-1", instance_id=item["ec2InstanceID"], state=state
        )

    continuous = api.get("/recovery-instances").json["recoveryInstances"][0]["replicatingToSourceServer"]
    assert (continuous["dataReplicationState"], continuous["rescanPercent"]) == ("CONTINUOUS", None)
    set_state("stopped")
    api.emu.advance(400)  # longer than the agent-not-seen delay (300 s)
    set_state("running")
    api.emu.advance(2)  # its disk rescans at 1 GiB/s: 2 GiB done
    (listed,) = api.get("/recovery-instances").json["recoveryInstances"]
    rescanning = listed["replicatingToSourceServer"]
    assert rescanning["dataReplicationState"] == "RESCAN", listed
    assert rescanning["progressPercent"] == 100.0
    assert rescanning["rescanPercent"] == 10.0  # 2 GiB of its 20 GiB disk (the fleet default)
    assert listed["dataReplicationRescanProgress"] is None  # the instance's own replication: none, origin AWS


# --- routing ----------------------------------------------------------------------------------


def test_unknown_routes_are_404_from_api_gateway_in_the_contracts_error_body(api_factory):
    api = api_factory()
    for response in (api.get("/agents"), api.http.delete("/agent/install", headers=api.headers)):
        body = assert_error(response, 404, "No such route")
        assert body["code"] == "NotFound"
    assert api.adapter.events == []  # API Gateway answered; the handler was never called


def test_a_request_without_a_token_is_401_from_api_gateway_in_the_contracts_error_body(api_factory):
    api = api_factory(INSTALL_FLEET)
    response = api.http.post("/agent/install", json={"instanceIds": [WEB1], "targetRegion": "us-west-2"})
    assert assert_error(response, 401, "Cognito ID token")["code"] == "Unauthorized"
    assert api.adapter.events == []
    assert sent(api, "ssm", "SendCommand") == []


def test_handler_invoked_without_api_gateway_routing_answers_404_and_405(api_factory):
    api = api_factory()
    body = json.loads(api.app.handle(api.adapter.event("GET", "/agents"))["body"])
    assert body["code"] == "NotFound"
    assert "No route GET /agents" in body["error"]
    assert "POST /agent/install" in body["error"]
    response = api.app.handle(api.adapter.event("DELETE", "/agent/install"))
    assert response["statusCode"] == 405
    assert response["headers"]["Allow"] == "POST"
    assert "use POST" in json.loads(response["body"])["error"]


def test_list_limits_of_the_handler_are_the_contracts():
    document = contract()
    limits = {
        p["name"]: p["schema"].get("maxItems")
        for item in document["paths"].values()
        for operation in item.values()
        if isinstance(operation, dict)
        for p in operation.get("parameters", [])
        if isinstance(p, dict) and "schema" in p
    }
    for ref in document["components"].get("parameters", {}).values():
        limits[ref["name"]] = ref["schema"].get("maxItems")
    assert limits["regions"] == routes.MAX_REGIONS
    assert limits["sourceServerIds"] == limits["recoveryInstanceIds"] == routes.MAX_IDS


@pytest.mark.parametrize(
    ("error", "status", "code"),
    [
        (errors.InputError("isDrill: bad."), 400, "ValidationError"),
        (errors.NotFoundError("No recovery instance."), 404, "NotFound"),
        (errors.ConflictError("Not ready for failback."), 409, "Conflict"),
        (errors.WaitTimeout("Still launching after 600 s."), 504, "Ambiguous"),
        (errors.AmbiguousCallError("StartRecovery may have run."), 504, "Ambiguous"),
        # What is left is an operation AWS carried out and failed: not the caller's input.
        (
            errors.DrsOrchestrationError("1 of 1 source server(s) failed to launch in us-west-2."),
            502,
            "OperationFailed",
        ),
    ],
)
def test_core_errors_map_to_the_status_of_their_kind(api_factory, monkeypatch, error, status, code):
    def fail(*args, **kwargs):
        raise error

    monkeypatch.setattr(routes.failback, "launch_failback", fail)
    api = api_factory(FAILBACK_FLEET)
    body = assert_error(api.post("/recovery-instances/i-0aaaaaaaaaaaaaaa1/failback", {"isDrill": True}), status)
    assert (body["code"], body["error"]) == (code, error.message)


# --- CORS (corsAllowedOrigins) ------------------------------------------------------------------

UI, DEV_UI = "https://dr.example.com", "http://localhost:3000"
CORS = {"CORS_ALLOWED_ORIGINS": f"{UI},{DEV_UI}"}


def _from(api, origin):
    return {**api.headers, "Origin": origin}


@pytest.mark.parametrize("origin", [UI, DEV_UI])
def test_answers_name_an_allowed_origin_successes_and_errors_alike(api_factory, origin):
    api = api_factory(SERVERS_FLEET, env=CORS)
    ok = api.http.get("/replication/summary", headers=_from(api, origin))
    bad = api.http.get("/replication/summary", query_string={"includeJobs": "maybe"}, headers=_from(api, origin))
    unknown = api.http.get("/servers/s-1234567890abcdef0/replication-status", headers=_from(api, origin))
    assert (ok.status_code, bad.status_code, unknown.status_code) == (200, 400, 404)
    for response in (ok, bad, unknown):
        assert response.headers["Access-Control-Allow-Origin"] == origin
        assert response.headers["Vary"] == "Origin"
        assert response.headers["Access-Control-Expose-Headers"] == "Retry-After"


def test_answers_never_name_an_origin_that_is_not_allowed(api_factory):
    api = api_factory(SERVERS_FLEET, env=CORS)
    for headers in (_from(api, "https://evil.example.com"), _from(api, "https://dr.example.com.evil.net"), api.headers):
        response = api.http.get("/replication/summary", headers=headers)
        assert response.status_code == 200
        assert "Access-Control-Allow-Origin" not in response.headers
        assert "Access-Control-Expose-Headers" not in response.headers
        # The answer still depends on Origin: a cache must not give this one to an allowed origin.
        assert response.headers["Vary"] == "Origin"


def test_without_cors_origins_answers_carry_no_cors_header(api_factory):
    api = api_factory(SERVERS_FLEET)
    response = api.http.get("/replication/summary", headers=_from(api, UI))
    assert response.status_code == 200
    assert not [name for name, _ in response.headers.items() if name.startswith("Access-Control") or name == "Vary"]


def test_any_origin_gets_a_static_wildcard(api_factory):
    api = api_factory(SERVERS_FLEET, env={"CORS_ALLOWED_ORIGINS": "*"})
    for headers in (_from(api, "https://anything.example.org"), api.headers):
        response = api.http.get("/replication/summary", headers=headers)
        assert response.headers["Access-Control-Allow-Origin"] == "*"
        assert "Vary" not in response.headers


def test_the_origin_header_is_read_in_any_case_and_bugs_keep_the_header(api_factory, monkeypatch):
    """HTTP/2 clients send ``origin``; a 500 (a bug) must stay readable by the page too."""

    def broken(*args, **kwargs):
        raise RuntimeError("a bug")

    monkeypatch.setattr(routes.replication, "describe_replication", broken)
    api = api_factory(SERVERS_FLEET, env=CORS)
    event = api.adapter.event("GET", "/replication/summary", headers={**api.headers, "origin": DEV_UI})
    response = api.app.handle(event)
    assert response["statusCode"] == 500
    assert response["headers"]["Access-Control-Allow-Origin"] == DEV_UI
    assert response["headers"]["Content-Type"] == "application/json"
    # Not even an event: the answer still goes through the same headers.
    assert api.app.handle("not an event")["headers"] == {
        "Content-Type": "application/json",
        "Cache-Control": "no-store",
        "Vary": "Origin",
    }
