"""Drills, recoveries and terminations: jobs on the virtual clock."""

from datetime import timedelta

import pytest

from tests.emulator.drs_times import when

ACCOUNT = "123456789012"


@pytest.fixture
def drs(emulator_factory, drs_timing, drs_clients):
    """Two continuously replicating servers (on-premises and from EC2) and one still initiating."""
    fleet = {
        "timing": drs_timing,
        "source_servers": [
            {"hostname": "onprem.corp.example.com", "tags": {"app": "erp"}},
            {"hostname": "ec2.example.com", "origin": "AWS", "origin_region": "us-west-2"},
            {"hostname": "new.corp.example.com", "state": "INITIATING"},
        ],
    }
    emu = emulator_factory(fleet)
    client = drs_clients.make(emu)
    ids = {
        s["sourceProperties"]["identificationHints"]["hostname"]: s["sourceServerID"]
        for s in client.describe_source_servers()["items"]
    }
    return emu, client, ids


def job(client, job_id: str) -> dict:
    return client.describe_jobs(filters={"jobIDs": [job_id]})["items"][0]


def log_events(client, job_id: str) -> list[str]:
    return [item["event"] for item in client.describe_job_log_items(jobID=job_id)["items"]]


def server(client, server_id: str) -> dict:
    return client.describe_source_servers(filters={"sourceServerIDs": [server_id]})["items"][0]


def test_a_drill_runs_pending_started_completed_and_launches_a_drill_instance(drs):
    emu, client, ids = drs
    started = client.start_recovery(sourceServers=[{"sourceServerID": ids["onprem"]}], isDrill=True, tags={"k": "v"})
    job_id = started["job"]["jobID"]
    assert started["job"]["status"] == "PENDING"
    assert started["job"]["initiatedBy"] == "START_DRILL"
    assert started["job"]["type"] == "LAUNCH"
    assert started["job"]["tags"] == {"k": "v"}
    assert started["job"]["participatingServers"] == [{"sourceServerID": ids["onprem"], "launchStatus": "PENDING"}]
    assert server(client, ids["onprem"])["lastLaunchResult"] == "PENDING"

    emu.advance(10)
    running = job(client, job_id)
    assert running["status"] == "STARTED"
    assert running["participatingServers"][0]["launchStatus"] == "IN_PROGRESS"
    assert server(client, ids["onprem"])["lifeCycle"]["lastLaunch"]["status"] == "IN_PROGRESS"

    emu.advance(100)
    done = job(client, job_id)
    assert done["status"] == "COMPLETED"
    assert when(done["endDateTime"]) - when(done["creationDateTime"]) == timedelta(seconds=110)
    participant = done["participatingServers"][0]
    assert participant["launchStatus"] == "LAUNCHED"
    assert log_events(client, job_id) == [
        "JOB_START",
        "SNAPSHOT_START",
        "SNAPSHOT_END",
        "CONVERSION_START",
        "CONVERSION_END",
        "LAUNCH_START",
        "JOB_END",
    ]

    instance = client.describe_recovery_instances()["items"][0]
    assert instance["recoveryInstanceID"] == instance["ec2InstanceID"] == participant["recoveryInstanceID"]
    assert instance["ec2InstanceState"] == "RUNNING"
    assert instance["isDrill"] is True
    assert instance["jobID"] == job_id
    assert instance["sourceServerID"] == ids["onprem"]
    assert instance["originEnvironment"] == "ON_PREMISES"
    assert instance["arn"].endswith(f":recovery-instance/{instance['recoveryInstanceID']}")
    assert when(instance["pointInTimeSnapshotDateTime"]) == when(done["creationDateTime"]) + timedelta(seconds=10)
    assert instance["recoveryInstanceProperties"]["identificationHints"]["fqdn"] == "onprem.corp.example.com"
    assert instance["failback"]["state"] == "FAILBACK_NOT_STARTED"

    ec2 = emu.client("ec2").describe_instances(InstanceIds=[instance["ec2InstanceID"]])
    assert ec2["Reservations"][0]["Instances"][0]["State"]["Name"] == "running"

    source = server(client, ids["onprem"])
    assert source["lastLaunchResult"] == "SUCCEEDED"
    assert source["recoveryInstanceId"] == instance["recoveryInstanceID"]
    assert source["lifeCycle"]["lastLaunch"] == {
        "initiated": {"apiCallDateTime": done["creationDateTime"], "jobID": job_id, "type": "DRILL"},
        "status": "LAUNCHED",
    }


def test_a_recovery_of_an_ec2_source_reports_origin_aws_and_its_availability_zone(drs):
    emu, client, ids = drs
    job_id = client.start_recovery(sourceServers=[{"sourceServerID": ids["ec2"]}])["job"]["jobID"]
    assert job(client, job_id)["initiatedBy"] == "START_RECOVERY"
    emu.advance(110)
    instance = client.describe_recovery_instances()["items"][0]
    assert instance["isDrill"] is False
    assert instance["originEnvironment"] == "AWS"
    origin = server(client, ids["ec2"])["sourceCloudProperties"]
    assert origin["originRegion"] == "us-west-2"
    assert instance["originAvailabilityZone"] == origin["originAvailabilityZone"] == "us-west-2b"  # EC2 puts it in b
    assert server(client, ids["ec2"])["lifeCycle"]["lastLaunch"]["initiated"]["type"] == "RECOVERY"


def test_a_fleet_source_server_of_an_ec2_instance_reports_the_instances_availability_zone(emulator_factory, drs_timing):
    instance_id = "i-0abcdef0123456785"
    emu = emulator_factory(
        {
            "timing": drs_timing,
            "instances": [{"instance_id": instance_id}],
            "source_servers": [{"hostname": "app.example.com", "origin": "AWS", "instance_id": instance_id}],
        }
    )
    ec2 = emu.client("ec2").describe_instances(InstanceIds=[instance_id])["Reservations"][0]["Instances"][0]

    (item,) = emu.client("drs").describe_source_servers()["items"]

    assert ec2["Placement"]["AvailabilityZone"] == "us-east-1c"
    assert item["sourceCloudProperties"]["originAvailabilityZone"] == "us-east-1c"


def test_a_server_not_ready_for_recovery_fails_its_launch_with_a_log_item(drs):
    emu, client, ids = drs
    job_id = client.start_recovery(
        sourceServers=[{"sourceServerID": ids["new"]}, {"sourceServerID": ids["onprem"]}], isDrill=True
    )["job"]["jobID"]
    emu.advance(10)
    statuses = {p["sourceServerID"]: p["launchStatus"] for p in job(client, job_id)["participatingServers"]}
    assert statuses == {ids["new"]: "FAILED", ids["onprem"]: "IN_PROGRESS"}
    failure = [i for i in client.describe_job_log_items(jobID=job_id)["items"] if i["event"] == "SNAPSHOT_FAIL"]
    assert failure[0]["eventData"]["sourceServerID"] == ids["new"]
    assert "not ready for recovery" in failure[0]["eventData"]["rawError"]
    assert server(client, ids["new"])["lastLaunchResult"] == "FAILED"
    emu.advance(100)
    assert job(client, job_id)["status"] == "COMPLETED"
    assert len(client.describe_recovery_instances()["items"]) == 1


def test_recovery_from_a_chosen_point_in_time_snapshot(drs):
    emu, client, ids = drs
    snapshot = client.describe_recovery_snapshots(sourceServerID=ids["onprem"], order="DESC")["items"][3]
    job_id = client.start_recovery(
        sourceServers=[{"sourceServerID": ids["onprem"], "recoverySnapshotID": snapshot["snapshotID"]}]
    )["job"]["jobID"]
    emu.advance(110)
    assert "USING_PREVIOUS_SNAPSHOT" in log_events(client, job_id)
    instance = client.describe_recovery_instances()["items"][0]
    assert instance["pointInTimeSnapshotDateTime"] == snapshot["timestamp"]


def test_an_unknown_recovery_snapshot_fails_the_launch(drs):
    emu, client, ids = drs
    job_id = client.start_recovery(
        sourceServers=[{"sourceServerID": ids["onprem"], "recoverySnapshotID": "pit-00000000000000000"}]
    )["job"]["jobID"]
    emu.advance(10)
    assert job(client, job_id)["status"] == "COMPLETED"
    assert job(client, job_id)["participatingServers"][0]["launchStatus"] == "FAILED"
    assert "USING_PREVIOUS_SNAPSHOT_FAILED" in log_events(client, job_id)


def test_a_stalled_server_launches_from_its_latest_snapshot(drs):
    emu, client, ids = drs
    emu.admin.service("drs", "set-fault", sourceServerID=ids["onprem"], fault="STALLED")
    latest = client.describe_recovery_snapshots(sourceServerID=ids["onprem"], order="DESC")["items"][0]
    emu.advance(300)
    job_id = client.start_recovery(sourceServers=[{"sourceServerID": ids["onprem"]}], isDrill=True)["job"]["jobID"]
    emu.advance(110)
    assert "USING_PREVIOUS_SNAPSHOT" in log_events(client, job_id)
    assert client.describe_recovery_instances()["items"][0]["pointInTimeSnapshotDateTime"] == latest["timestamp"]


def test_one_job_per_source_server_at_a_time(drs):
    emu, client, ids = drs
    first = client.start_recovery(sourceServers=[{"sourceServerID": ids["onprem"]}], isDrill=True)["job"]
    with pytest.raises(client.exceptions.ConflictException) as error:
        client.start_recovery(sourceServers=[{"sourceServerID": ids["ec2"]}, {"sourceServerID": ids["onprem"]}])
    assert error.value.response["resourceId"] == ids["onprem"]
    assert first["jobID"] in error.value.response["Error"]["Message"]
    assert len(client.describe_jobs()["items"]) == 1  # nothing was started for the other server either
    emu.advance(110)
    assert (
        client.start_recovery(sourceServers=[{"sourceServerID": ids["onprem"]}], isDrill=True)["job"]["status"]
        == "PENDING"
    )


def test_an_unknown_source_server_is_skipped_with_a_log_item(drs):
    emu, client, ids = drs
    started = client.start_recovery(
        sourceServers=[{"sourceServerID": "s-0000000000000000f"}, {"sourceServerID": ids["onprem"]}], isDrill=True
    )["job"]
    assert [p["sourceServerID"] for p in started["participatingServers"]] == [ids["onprem"]]
    skipped = client.describe_job_log_items(jobID=started["jobID"])["items"][0]
    assert skipped["event"] == "SERVER_SKIPPED"
    assert skipped["eventData"]["sourceServerID"] == "s-0000000000000000f"


def test_a_new_drill_keeps_the_previous_drill_instance(drs):
    emu, client, ids = drs
    for _ in range(2):
        client.start_recovery(sourceServers=[{"sourceServerID": ids["onprem"]}], isDrill=True)
        emu.advance(110)
    instances = client.describe_recovery_instances(filters={"sourceServerIDs": [ids["onprem"]]})["items"]
    assert len(instances) == 2
    assert all(i["ec2InstanceState"] == "RUNNING" for i in instances)
    assert server(client, ids["onprem"])["recoveryInstanceId"] == instances[-1]["recoveryInstanceID"]


def test_terminate_recovery_instances_terminates_ec2_and_forgets_the_instance(drs):
    emu, client, ids = drs
    client.start_recovery(sourceServers=[{"sourceServerID": ids["onprem"]}], isDrill=True)
    emu.advance(110)
    instance_id = client.describe_recovery_instances()["items"][0]["recoveryInstanceID"]
    started = client.terminate_recovery_instances(recoveryInstanceIDs=[instance_id, "i-0000000000000000f"])["job"]
    assert started["initiatedBy"] == "TERMINATE_RECOVERY_INSTANCES"
    assert started["participatingServers"] == [
        {"sourceServerID": ids["onprem"], "recoveryInstanceID": instance_id, "launchStatus": "PENDING"}
    ]
    emu.advance(10)
    assert job(client, started["jobID"])["participatingServers"][0]["launchStatus"] == "IN_PROGRESS"
    emu.advance(30)
    done = job(client, started["jobID"])
    assert done["status"] == "COMPLETED"
    assert done["participatingServers"][0]["launchStatus"] == "TERMINATED"
    assert log_events(client, started["jobID"]) == [
        "SERVER_SKIPPED",
        "JOB_START",
        "CLEANUP_START",
        "CLEANUP_END",
        "JOB_END",
    ]
    assert client.describe_recovery_instances()["items"] == []
    ec2 = emu.client("ec2").describe_instances(InstanceIds=[instance_id])
    assert ec2["Reservations"][0]["Instances"][0]["State"]["Name"] == "terminated"
    source = server(client, ids["onprem"])
    assert "recoveryInstanceId" not in source
    assert source["lifeCycle"]["lastLaunch"]["status"] == "TERMINATED"


def test_a_recovery_instance_stopped_in_ec2_shows_its_ec2_state(drs):
    emu, client, ids = drs
    client.start_recovery(sourceServers=[{"sourceServerID": ids["onprem"]}], isDrill=True)
    emu.advance(60)
    assert client.describe_recovery_instances()["items"][0]["ec2InstanceState"] == "PENDING"
    emu.advance(50)
    instance_id = client.describe_recovery_instances()["items"][0]["recoveryInstanceID"]
    with emu.world.lock:  # someone stops it in EC2 (the EC2 emulation has no StopInstances call)
        emu.world.backend("ec2", ACCOUNT, "us-east-1").set_instance_state(instance_id, "stopped")
    assert client.describe_recovery_instances()["items"][0]["ec2InstanceState"] == "STOPPED"


def test_describe_jobs_lists_newest_first_and_filters_by_creation_date(drs):
    emu, client, ids = drs
    first = client.start_recovery(sourceServers=[{"sourceServerID": ids["onprem"]}], isDrill=True)["job"]
    emu.advance(3600)
    second = client.start_recovery(sourceServers=[{"sourceServerID": ids["ec2"]}], isDrill=True)["job"]
    assert [j["jobID"] for j in client.describe_jobs()["items"]] == [second["jobID"], first["jobID"]]
    later = client.describe_jobs(filters={"fromDate": second["creationDateTime"]})["items"]
    assert [j["jobID"] for j in later] == [second["jobID"]]
    earlier = client.describe_jobs(filters={"toDate": first["creationDateTime"]})["items"]
    assert [j["jobID"] for j in earlier] == [first["jobID"]]


def test_a_source_server_in_a_running_job_cannot_be_disconnected(drs):
    emu, client, ids = drs
    client.start_recovery(sourceServers=[{"sourceServerID": ids["new"]}], isDrill=True)
    with pytest.raises(client.exceptions.ConflictException, match="job"):
        client.disconnect_source_server(sourceServerID=ids["new"])
    emu.advance(10)  # the drill fails (not ready) and the job completes
    assert client.disconnect_source_server(sourceServerID=ids["new"])["dataReplicationInfo"][
        "dataReplicationState"
    ] == ("DISCONNECTED")
