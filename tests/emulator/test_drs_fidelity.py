"""Every emulated DRS operation, success and error paths, through boto3 with strict response checks.

Each response body is validated against the botocore output shape (unknown members,
types, enums, limits, required members) and the model's string patterns; each error must
be one the operation declares in the model, or one every DRS operation can answer
(``validate.COMMON_ERRORS``: the API reference's Common Errors, ValidationException among
them), and arrive as that exception class.
"""

import botocore.exceptions
import pytest

EMULATED = {
    "DescribeSourceServers",
    "DescribeRecoveryInstances",
    "DescribeJobs",
    "DescribeJobLogItems",
    "DescribeRecoverySnapshots",
    "StartRecovery",
    "TerminateRecoveryInstances",
    "ReverseReplication",
    "StartFailbackLaunch",
    "StopFailback",
    "StartReplication",
    "StopReplication",
    "RetryDataReplication",
    "DisconnectSourceServer",
    "DisconnectRecoveryInstance",
    "TagResource",
    "UntagResource",
    "ListTagsForResource",
    "InitializeService",
}


@pytest.fixture
def world(emulator_factory, drs_timing, drs_clients):
    """Three continuously replicating servers (one from EC2 in us-west-2, two on-premises)."""
    fleet = {
        "timing": drs_timing,
        "drs_uninitialized_regions": ["eu-west-1"],
        "source_servers": [
            {"hostname": "web.example.com", "origin": "AWS", "origin_region": "us-west-2"},
            {"hostname": "db.corp.example.com"},
            {"hostname": "spare.corp.example.com"},
        ],
    }
    emu = emulator_factory(fleet)
    client = drs_clients.make(emu)
    servers = {
        s["sourceProperties"]["identificationHints"]["hostname"]: s for s in client.describe_source_servers()["items"]
    }
    return emu, client, servers


def finish(emu, client, job_id: str) -> dict:
    """Advance the clock until the job completes; returns it."""
    for _ in range(100):
        job = client.describe_jobs(filters={"jobIDs": [job_id]})["items"][0]
        if job["status"] == "COMPLETED":
            return job
        emu.advance(10)
    raise AssertionError(f"job {job_id} did not complete")


def recover(emu, client, server_id: str, drill: bool = False) -> dict:
    job = client.start_recovery(sourceServers=[{"sourceServerID": server_id}], isDrill=drill)["job"]
    finish(emu, client, job["jobID"])
    return client.describe_recovery_instances(filters={"sourceServerIDs": [server_id]})["items"][-1]


def test_every_emulated_operation_validates_against_the_model(world, drs_clients, emulator_factory):
    emu, client, servers = world
    web, db, spare = servers["web"], servers["db"], servers["spare"]
    errors = client.exceptions

    # Describe* and snapshots
    assert {s["sourceServerID"] for s in client.describe_source_servers(filters={})["items"]} == {
        web["sourceServerID"],
        db["sourceServerID"],
        spare["sourceServerID"],
    }
    snapshots = client.describe_recovery_snapshots(sourceServerID=web["sourceServerID"], order="DESC")["items"]
    assert snapshots

    # Recovery, job log, recovery instances
    instance = recover(emu, client, web["sourceServerID"])
    job_id = instance["jobID"]
    assert client.describe_job_log_items(jobID=job_id)["items"]

    # Errors of the recovery path
    with pytest.raises(errors.ValidationException):
        client.describe_source_servers(filters={"sourceServerIDs": [web["sourceServerID"]] * 201})
    busy = client.start_recovery(sourceServers=[{"sourceServerID": db["sourceServerID"]}], isDrill=True)["job"]
    with pytest.raises(errors.ConflictException) as conflict:
        client.start_recovery(sourceServers=[{"sourceServerID": db["sourceServerID"]}])
    assert conflict.value.response["resourceId"] == db["sourceServerID"]
    drill = client.describe_recovery_instances(filters={"sourceServerIDs": [db["sourceServerID"]]})
    assert drill["items"] == []  # still PENDING: no instance yet
    finish(emu, client, busy["jobID"])
    drill_instance = client.describe_recovery_instances(filters={"sourceServerIDs": [db["sourceServerID"]]})["items"][0]

    # Reverse replication (origin AWS) and its errors
    reversed_arn = client.reverse_replication(recoveryInstanceID=instance["recoveryInstanceID"])[
        "reversedDirectionSourceServerArn"
    ]
    assert ":us-west-2:" in reversed_arn
    with pytest.raises(errors.ResourceNotFoundException):
        client.reverse_replication(recoveryInstanceID="i-0000000000000000f")
    with pytest.raises(errors.ValidationException):
        client.reverse_replication(recoveryInstanceID=drill_instance["recoveryInstanceID"])

    # Failback client path (on-premises origin) and its errors
    with pytest.raises(errors.ConflictException):
        client.start_failback_launch(recoveryInstanceIDs=[drill_instance["recoveryInstanceID"]])
    with pytest.raises(errors.ValidationException):
        client.start_failback_launch(recoveryInstanceIDs=["i-0000000000000000f"])
    emu.admin.service("drs", "pair-failback-client", recoveryInstanceID=drill_instance["recoveryInstanceID"])
    emu.advance(300)
    failback = client.start_failback_launch(recoveryInstanceIDs=[drill_instance["recoveryInstanceID"]], tags={"k": "v"})
    with pytest.raises(errors.ConflictException):
        client.disconnect_recovery_instance(recoveryInstanceID=drill_instance["recoveryInstanceID"])
    finish(emu, client, failback["job"]["jobID"])
    client.stop_failback(recoveryInstanceID=drill_instance["recoveryInstanceID"])
    with pytest.raises(errors.ResourceNotFoundException):
        client.stop_failback(recoveryInstanceID="i-0000000000000000f")
    client.disconnect_recovery_instance(recoveryInstanceID=drill_instance["recoveryInstanceID"])
    with pytest.raises(errors.ResourceNotFoundException):
        client.disconnect_recovery_instance(recoveryInstanceID="i-0000000000000000f")

    # Replication control and its errors
    with pytest.raises(errors.ConflictException):
        client.start_replication(sourceServerID=spare["sourceServerID"])
    with pytest.raises(errors.ValidationException):
        client.retry_data_replication(sourceServerID=spare["sourceServerID"])
    assert (
        client.stop_replication(sourceServerID=spare["sourceServerID"])["sourceServer"]["dataReplicationInfo"][
            "dataReplicationState"
        ]
        == "STOPPED"
    )
    with pytest.raises(errors.ConflictException):
        client.stop_replication(sourceServerID=spare["sourceServerID"])
    assert (
        client.start_replication(sourceServerID=spare["sourceServerID"])["sourceServer"]["dataReplicationInfo"][
            "dataReplicationState"
        ]
        == "INITIATING"
    )
    client.stop_replication(sourceServerID=spare["sourceServerID"])
    assert (
        client.retry_data_replication(sourceServerID=spare["sourceServerID"])["dataReplicationInfo"][
            "dataReplicationState"
        ]
        == "INITIATING"
    )
    for call in (client.start_replication, client.stop_replication, client.retry_data_replication):
        with pytest.raises(errors.ResourceNotFoundException):
            call(sourceServerID="s-0000000000000000f")
    with pytest.raises(errors.ConflictException):
        client.disconnect_source_server(sourceServerID=web["sourceServerID"])  # it has a recovery instance
    with pytest.raises(errors.ResourceNotFoundException):
        client.disconnect_source_server(sourceServerID="s-0000000000000000f")
    disconnected = client.disconnect_source_server(sourceServerID=spare["sourceServerID"])
    assert disconnected["dataReplicationInfo"]["dataReplicationState"] == "DISCONNECTED"

    # Termination and its conflict
    terminate = client.terminate_recovery_instances(recoveryInstanceIDs=[instance["recoveryInstanceID"]])["job"]
    assert terminate["type"] == "TERMINATE"
    with pytest.raises(errors.ConflictException):
        client.terminate_recovery_instances(recoveryInstanceIDs=[instance["recoveryInstanceID"]])
    finish(emu, client, terminate["jobID"])

    # Tags on source servers, recovery instances and jobs
    for resource_arn in (db["arn"], drill_instance["arn"], busy["arn"]):
        client.tag_resource(resourceArn=resource_arn, tags={"team": "dr", "env": "test"})
        client.untag_resource(resourceArn=resource_arn, tagKeys=["env"])
        assert client.list_tags_for_resource(resourceArn=resource_arn)["tags"] == {"team": "dr"}
    missing = db["arn"].replace(db["sourceServerID"], "s-0000000000000000f")
    with pytest.raises(errors.ResourceNotFoundException) as not_found:
        client.tag_resource(resourceArn=missing, tags={"a": "b"})
    # The same resourceType spelling as every other not-found and conflict error.
    assert (not_found.value.response["resourceId"], not_found.value.response["resourceType"]) == (
        missing,
        "SOURCE_SERVER",
    )
    missing_job = busy["arn"].replace(busy["jobID"], "drsjob-0000000000000000f")
    with pytest.raises(errors.ResourceNotFoundException) as not_found:
        client.list_tags_for_resource(resourceArn=missing_job)
    assert not_found.value.response["resourceType"] == "JOB"
    with pytest.raises(errors.ResourceNotFoundException):
        client.untag_resource(resourceArn=missing, tagKeys=["a"])
    with pytest.raises(errors.ResourceNotFoundException):
        client.list_tags_for_resource(resourceArn=missing)
    with pytest.raises(errors.ValidationException):
        client.tag_resource(resourceArn="arn:aws:ec2:us-east-1:123456789012:instance/i-1", tags={"a": "b"})
    with pytest.raises(errors.ValidationException):
        client.tag_resource(resourceArn=db["arn"], tags={"aws:reserved": "x"})

    # Pagination tokens that were not issued by the operation
    token = client.describe_source_servers(maxResults=1)["nextToken"]
    for call, kwargs in (
        (client.describe_recovery_instances, {}),
        (client.describe_jobs, {}),
        (client.describe_job_log_items, {"jobID": job_id}),
        (client.describe_recovery_snapshots, {"sourceServerID": db["sourceServerID"]}),
    ):
        with pytest.raises(errors.ValidationException):
            call(nextToken=token, **kwargs)

    # A Region where DRS is not initialized
    eu = drs_clients.make(emu, region="eu-west-1")
    for call, kwargs in (
        (eu.describe_source_servers, {}),
        (eu.describe_recovery_instances, {}),
        (eu.describe_jobs, {}),
        (eu.start_recovery, {"sourceServers": [{"sourceServerID": db["sourceServerID"]}]}),
    ):
        with pytest.raises(eu.exceptions.UninitializedAccountException):
            call(**kwargs)
    eu.initialize_service()
    assert eu.describe_source_servers()["items"] == []

    validated = {entry.split("!")[0] for entry in drs_clients.seen}
    assert validated == EMULATED
    assert not emu.server.errors


def test_an_operation_drs_has_but_the_emulator_does_not_answers_not_implemented(world):
    _, client, _ = world
    with pytest.raises(botocore.exceptions.ClientError) as error:
        client.describe_launch_configuration_templates()
    assert error.value.response["Error"]["Code"] == "NotImplemented"
    assert error.value.response["ResponseMetadata"]["HTTPStatusCode"] == 501


def test_throttling_arrives_as_the_modeled_exception(world, drs_clients):
    emu, _, _ = world
    client = drs_clients.make(emu, retries={"mode": "standard", "total_max_attempts": 1})
    emu.admin.faults(throttle_next={"drs:DescribeJobs": 1})
    with pytest.raises(client.exceptions.ThrottlingException) as error:
        client.describe_jobs()
    # retryAfterSeconds is bound to the Retry-After header in the model; 429 as modeled.
    assert error.value.response["ResponseMetadata"]["HTTPStatusCode"] == 429
    assert error.value.response["ResponseMetadata"]["HTTPHeaders"]["retry-after"] == "1"
    assert error.value.response["retryAfterSeconds"] == "1"
    assert client.describe_jobs()["items"] == []


def test_start_recovery_over_the_concurrent_job_quota_is_service_quota_exceeded(
    emulator_factory, drs_timing, drs_clients
):
    fleet = {"timing": drs_timing, "generate": {"source_servers": 21}}
    emu = emulator_factory(fleet)
    client = drs_clients.make(emu)
    ids = [s["sourceServerID"] for s in client.describe_source_servers()["items"]]
    for server_id in ids[:20]:
        client.start_recovery(sourceServers=[{"sourceServerID": server_id}], isDrill=True)
    with pytest.raises(client.exceptions.ServiceQuotaExceededException) as error:
        client.start_recovery(sourceServers=[{"sourceServerID": ids[20]}], isDrill=True)
    assert "20" in error.value.response["Error"]["Message"]
    emu.advance(200)  # the 20 drills complete and free the quota
    assert (
        client.start_recovery(sourceServers=[{"sourceServerID": ids[20]}], isDrill=True)["job"]["status"] == "PENDING"
    )


def test_more_than_500_servers_in_running_jobs_is_service_quota_exceeded(emulator_factory, drs_timing, drs_clients):
    emu = emulator_factory({"timing": drs_timing, "generate": {"source_servers": 600}})
    client = drs_clients.make(emu)
    ids = [s["sourceServerID"] for s in client.describe_source_servers(maxResults=1000)["items"]]
    for start in range(0, 500, 200):
        batch = ids[start : min(start + 200, 500)]
        client.start_recovery(sourceServers=[{"sourceServerID": i} for i in batch], isDrill=True)
    with pytest.raises(client.exceptions.ServiceQuotaExceededException):
        client.start_recovery(sourceServers=[{"sourceServerID": ids[500]}], isDrill=True)


def test_start_recovery_with_more_than_200_servers_is_rejected_by_model_validation(world):
    _, client, servers = world
    requests = [{"sourceServerID": servers["db"]["sourceServerID"]}] * 201
    with pytest.raises(client.exceptions.ValidationException) as error:
        client.start_recovery(sourceServers=requests)
    assert "less than or equal to 200" in error.value.response["Error"]["Message"]
