"""Failback as AWS documents it: reversed replication for EC2 origins, the Failback Client on premises."""

import re
import urllib.error

import pytest

from emulator.services.drs.common import FAILBACK_STEPS


@pytest.fixture
def drs(emulator_factory, drs_timing, drs_clients):
    """An EC2 server of us-west-2 and an on-premises server, both protected in us-east-1."""
    fleet = {
        "timing": drs_timing,
        "source_servers": [
            {"hostname": "web.example.com", "origin": "AWS", "origin_region": "us-west-2"},
            {"hostname": "erp.corp.example.com"},
        ],
    }
    emu = emulator_factory(fleet)
    east = drs_clients.make(emu, region="us-east-1")
    west = drs_clients.make(emu, region="us-west-2")
    ids = {
        s["sourceProperties"]["identificationHints"]["hostname"]: s["sourceServerID"]
        for s in east.describe_source_servers()["items"]
    }
    return emu, east, west, ids


def server(client, server_id: str) -> dict:
    return client.describe_source_servers(filters={"sourceServerIDs": [server_id]})["items"][0]


def instance(client, instance_id: str) -> dict:
    return client.describe_recovery_instances(filters={"recoveryInstanceIDs": [instance_id]})["items"][0]


def recover(emu, client, server_id: str, drill: bool = False) -> dict:
    """Launch a recovery (or drill) instance and wait for the job; returns the job."""
    job = client.start_recovery(sourceServers=[{"sourceServerID": server_id}], isDrill=drill)["job"]
    emu.advance(110)
    return client.describe_jobs(filters={"jobIDs": [job["jobID"]]})["items"][0]


def until_state(emu, client, server_id: str, wanted: str, limit: int = 200) -> dict:
    for _ in range(limit):
        item = server(client, server_id)
        if item["dataReplicationInfo"]["dataReplicationState"] == wanted:
            return item
        emu.advance(5)
    raise AssertionError(f"{server_id} never reached {wanted}")


def arn_id(arn: str) -> str:
    return arn.rsplit("/", 1)[1]


def test_the_cross_region_failback_cycle(drs):
    emu, east, west, ids = drs
    original = ids["web"]
    recovered = recover(emu, east, original)["participatingServers"][0]["recoveryInstanceID"]

    # 1. Start reversed replication in the recovery Region.
    reversed_arn = east.reverse_replication(recoveryInstanceID=recovered)["reversedDirectionSourceServerArn"]
    assert re.fullmatch(r"arn:aws:drs:us-west-2:123456789012:source-server/s-[0-9a-f]{17}", reversed_arn)
    back = server(west, arn_id(reversed_arn))
    assert back["replicationDirection"] == "FAILBACK"
    assert back["reversedDirectionSourceServerArn"] == server(east, original)["arn"]
    assert server(east, original)["reversedDirectionSourceServerArn"] == reversed_arn
    assert back["sourceCloudProperties"]["originRegion"] == "us-east-1"
    recovered_ec2 = emu.client("ec2").describe_instances(InstanceIds=[recovered])["Reservations"][0]["Instances"][0]
    recovered_zone = recovered_ec2["Placement"]["AvailabilityZone"]
    assert back["sourceCloudProperties"]["originAvailabilityZone"] == recovered_zone
    assert back["sourceProperties"]["identificationHints"]["awsInstanceID"] == recovered
    assert back["dataReplicationInfo"]["dataReplicationState"] == "INITIATING"

    # Failing back before the reversed server is healthy fails like any unready recovery.
    early = recover(emu, west, arn_id(reversed_arn))
    assert early["participatingServers"][0]["launchStatus"] == "FAILED"

    until_state(emu, west, arn_id(reversed_arn), "CONTINUOUS")
    again = east.reverse_replication(recoveryInstanceID=recovered)["reversedDirectionSourceServerArn"]
    assert again == reversed_arn  # the same reversed server; replication is not restarted
    assert server(west, arn_id(reversed_arn))["dataReplicationInfo"]["dataReplicationState"] == "CONTINUOUS"
    assert instance(east, recovered)["failback"]["state"] == "FAILBACK_NOT_STARTED"  # not part of this path

    # 2. Fail back: recover the reversed server in the origin Region.
    failback_job = recover(emu, west, arn_id(reversed_arn))
    failback_instance = failback_job["participatingServers"][0]["recoveryInstanceID"]
    assert failback_job["participatingServers"][0]["launchStatus"] == "LAUNCHED"
    launched = instance(west, failback_instance)
    assert launched["originEnvironment"] == "AWS"
    assert launched["originAvailabilityZone"] == recovered_zone
    ec2 = emu.client("ec2", region="us-west-2").describe_instances(InstanceIds=[failback_instance])
    assert ec2["Reservations"][0]["Instances"][0]["State"]["Name"] == "running"

    # 3. Re-protect: reverse the failback instance; the original server replicates again.
    protected_arn = west.reverse_replication(recoveryInstanceID=failback_instance)["reversedDirectionSourceServerArn"]
    assert protected_arn == server(east, original)["arn"]
    restarted = server(east, original)
    assert restarted["dataReplicationInfo"]["dataReplicationState"] == "INITIATING"
    assert restarted["replicationDirection"] == "FAILOVER"
    assert restarted["sourceProperties"]["identificationHints"]["awsInstanceID"] == failback_instance
    assert restarted["sourceCloudProperties"]["originRegion"] == "us-west-2"
    until_state(emu, east, original, "CONTINUOUS")


def test_reverse_replication_refuses_drills_and_on_premises_origins(drs):
    emu, east, _, ids = drs
    drill = recover(emu, east, ids["web"], drill=True)["participatingServers"][0]["recoveryInstanceID"]
    with pytest.raises(east.exceptions.ValidationException, match="drill"):
        east.reverse_replication(recoveryInstanceID=drill)
    onprem = recover(emu, east, ids["erp"])["participatingServers"][0]["recoveryInstanceID"]
    with pytest.raises(east.exceptions.ValidationException, match="originated in EC2"):
        east.reverse_replication(recoveryInstanceID=onprem)


def test_reverse_replication_is_refused_while_a_job_holds_the_instance(drs):
    emu, east, west, ids = drs
    job = east.start_recovery(sourceServers=[{"sourceServerID": ids["web"]}])["job"]
    emu.advance(80)  # STARTED at 10 s, instance booting from 60 s: its EC2 instance is still pending
    launching = east.describe_jobs(filters={"jobIDs": [job["jobID"]]})["items"][0]
    assert launching["status"] == "STARTED"
    recovered = launching["participatingServers"][0]["recoveryInstanceID"]
    assert instance(east, recovered)["ec2InstanceState"] == "PENDING"

    with pytest.raises(east.exceptions.ConflictException) as refused:
        east.reverse_replication(recoveryInstanceID=recovered)
    assert refused.value.response["resourceId"] == recovered
    assert refused.value.response["resourceType"] == "RECOVERY_INSTANCE"
    assert job["jobID"] in refused.value.response["Error"]["Message"]
    assert west.describe_source_servers()["items"] == []  # nothing was created in the origin Region

    emu.advance(30)  # the instance runs at 110 s and the job completes
    assert east.reverse_replication(recoveryInstanceID=recovered)["reversedDirectionSourceServerArn"]


def test_reverse_replication_into_an_uninitialized_origin_region_is_refused(emulator_factory, drs_timing, drs_clients):
    fleet = {
        "timing": drs_timing,
        "drs_uninitialized_regions": ["us-west-2"],
        "source_servers": [{"origin": "AWS", "origin_region": "us-west-2"}],
    }
    emu = emulator_factory(fleet)
    east = drs_clients.make(emu)
    server_id = east.describe_source_servers()["items"][0]["sourceServerID"]
    recovered = recover(emu, east, server_id)["participatingServers"][0]["recoveryInstanceID"]
    with pytest.raises(east.exceptions.UninitializedAccountException, match="us-west-2"):
        east.reverse_replication(recoveryInstanceID=recovered)
    drs_clients.make(emu, region="us-west-2").initialize_service()
    assert east.reverse_replication(recoveryInstanceID=recovered)["reversedDirectionSourceServerArn"]


def test_terminating_the_recovery_instance_disconnects_its_reversed_replication(drs):
    emu, east, west, ids = drs
    recovered = recover(emu, east, ids["web"])["participatingServers"][0]["recoveryInstanceID"]
    reversed_id = arn_id(east.reverse_replication(recoveryInstanceID=recovered)["reversedDirectionSourceServerArn"])
    until_state(emu, west, reversed_id, "CONTINUOUS")
    east.terminate_recovery_instances(recoveryInstanceIDs=[recovered])
    emu.advance(40)
    info = server(west, reversed_id)["dataReplicationInfo"]
    assert info["dataReplicationState"] == "DISCONNECTED"
    assert info["dataReplicationError"]["error"] == "AGENT_NOT_SEEN"


def test_reverse_replication_follows_the_ec2_state_of_the_recovery_instance(drs):
    # the agent replicating back runs on the recovery instance: stopped, DRS stops hearing from it
    emu, east, west, ids = drs
    recovered = recover(emu, east, ids["web"])["participatingServers"][0]["recoveryInstanceID"]
    reversed_id = arn_id(east.reverse_replication(recoveryInstanceID=recovered)["reversedDirectionSourceServerArn"])
    until_state(emu, west, reversed_id, "CONTINUOUS")
    emu.admin.service("ec2", "set-instance-state", region="us-east-1", instance_id=recovered, state="stopped")
    emu.advance(600)
    info = server(west, reversed_id)["dataReplicationInfo"]
    assert (info["dataReplicationState"], info["dataReplicationError"]["error"]) == ("DISCONNECTED", "AGENT_NOT_SEEN")
    emu.admin.service("ec2", "set-instance-state", region="us-east-1", instance_id=recovered, state="running")
    until_state(emu, west, reversed_id, "CONTINUOUS")


def test_the_on_premises_failback_cycle(drs):
    emu, east, _, ids = drs
    recovered = recover(emu, east, ids["erp"])["participatingServers"][0]["recoveryInstanceID"]
    with pytest.raises(east.exceptions.ConflictException, match="not ready"):
        east.start_failback_launch(recoveryInstanceIDs=[recovered])

    paired = emu.admin.service("drs", "pair-failback-client", recoveryInstanceID=recovered)
    assert paired["failbackState"] == "FAILBACK_IN_PROGRESS"
    first = instance(east, recovered)
    assert first["failback"]["failbackToOriginalServer"] is True
    assert first["failback"]["failbackLaunchType"] == "RECOVERY"
    assert first["failback"]["failbackClientID"]
    assert first["dataReplicationInfo"]["dataReplicationState"] == "INITIATING"

    walked = []
    for _ in range(len(FAILBACK_STEPS)):
        steps = instance(east, recovered)["dataReplicationInfo"]["dataReplicationInitiation"]["steps"]
        walked.append(next(s["name"] for s in steps if s["status"] == "IN_PROGRESS"))
        assert instance(east, recovered)["failback"]["state"] == "FAILBACK_IN_PROGRESS"
        emu.advance(5)
    assert walked == list(FAILBACK_STEPS)
    syncing = instance(east, recovered)
    assert syncing["dataReplicationInfo"]["dataReplicationState"] == "INITIAL_SYNC"
    assert syncing["failback"]["firstByteDateTime"]
    emu.advance(30)
    ready = instance(east, recovered)
    assert ready["failback"]["state"] == "FAILBACK_READY_FOR_LAUNCH"
    assert ready["dataReplicationInfo"]["dataReplicationState"] == "CONTINUOUS"
    # lagDuration of a recovery instance is an ISO 8601 date-time in the model (ERRATA row 12)
    assert re.fullmatch(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ", ready["dataReplicationInfo"]["lagDuration"])

    job = east.start_failback_launch(recoveryInstanceIDs=[recovered], tags={"change": "CHG1"})["job"]
    assert job["initiatedBy"] == "FAILBACK"
    assert job["type"] == "LAUNCH"
    assert job["participatingServers"] == [
        {"sourceServerID": ids["erp"], "recoveryInstanceID": recovered, "launchStatus": "PENDING"}
    ]
    assert instance(east, recovered)["failback"]["failbackJobID"] == job["jobID"]
    emu.advance(110)
    done = east.describe_jobs(filters={"jobIDs": [job["jobID"]]})["items"][0]
    assert done["status"] == "COMPLETED"
    assert done["participatingServers"][0]["launchStatus"] == "LAUNCHED"
    assert instance(east, recovered)["failback"]["state"] == "FAILBACK_COMPLETED"
    events = [i["event"] for i in east.describe_job_log_items(jobID=job["jobID"])["items"]]
    assert events == ["JOB_START", "CONVERSION_START", "CONVERSION_END", "LAUNCH_START", "JOB_END"]


def test_stop_failback_returns_to_not_started_and_stops_the_sync(drs):
    emu, east, _, ids = drs
    recovered = recover(emu, east, ids["erp"])["participatingServers"][0]["recoveryInstanceID"]
    emu.admin.service("drs", "pair-failback-client", recoveryInstanceID=recovered, failbackToOriginalServer=False)
    emu.advance(30)
    east.stop_failback(recoveryInstanceID=recovered)
    emu.advance(300)
    stopped = instance(east, recovered)
    assert stopped["failback"]["state"] == "FAILBACK_NOT_STARTED"
    assert stopped["dataReplicationInfo"]["dataReplicationState"] == "NOT_STARTED"
    assert "failbackClientID" not in stopped["failback"]
    with pytest.raises(east.exceptions.ConflictException):
        east.start_failback_launch(recoveryInstanceIDs=[recovered])


def test_start_failback_launch_refuses_instances_from_ec2(drs):
    emu, east, _, ids = drs
    recovered = recover(emu, east, ids["web"])["participatingServers"][0]["recoveryInstanceID"]
    with pytest.raises(east.exceptions.ValidationException, match="ReverseReplication"):
        east.start_failback_launch(recoveryInstanceIDs=[recovered])


def test_disconnecting_a_paired_recovery_instance_makes_it_not_ready(drs):
    emu, east, _, ids = drs
    recovered = recover(emu, east, ids["erp"])["participatingServers"][0]["recoveryInstanceID"]
    emu.admin.service("drs", "pair-failback-client", recoveryInstanceID=recovered)
    emu.advance(200)
    east.disconnect_recovery_instance(recoveryInstanceID=recovered)
    item = instance(east, recovered)
    assert item["dataReplicationInfo"]["dataReplicationState"] == "DISCONNECTED"
    assert [d["totalStorageBytes"] for d in item["dataReplicationInfo"]["replicatedDisks"]] == [0]
    assert "lagDuration" not in item["dataReplicationInfo"]
    assert item["failback"]["state"] == "FAILBACK_NOT_READY_FOR_LAUNCH"


@pytest.mark.parametrize(
    ("body", "message"),
    [
        ({}, "recoveryInstanceID"),
        ({"recoveryInstanceID": "i-0000000000000000f"}, "not found"),
        ({"failbackLaunchType": "TEST"}, "failbackLaunchType"),
        ({"failbackToOriginalServer": "yes"}, "failbackToOriginalServer"),
    ],
)
def test_pair_failback_client_says_what_is_wrong(drs, body, message):
    emu, east, _, ids = drs
    recovered = recover(emu, east, ids["erp"])["participatingServers"][0]["recoveryInstanceID"]
    body = {"recoveryInstanceID": recovered, **body} if body and "recoveryInstanceID" not in body else body
    with pytest.raises(urllib.error.HTTPError) as error:
        emu.admin.service("drs", "pair-failback-client", **body)
    assert message in error.value.read().decode()


def test_the_failback_client_pairs_only_with_on_premises_recovery_instances(drs):
    emu, east, _, ids = drs
    recovered = recover(emu, east, ids["web"])["participatingServers"][0]["recoveryInstanceID"]
    with pytest.raises(urllib.error.HTTPError) as error:
        emu.admin.service("drs", "pair-failback-client", recoveryInstanceID=recovered)
    assert error.value.code == 400
    assert "ReverseReplication" in error.value.read().decode()


def test_reverse_replication_goes_back_to_the_origin_account(emulator_factory, drs_timing, drs_clients):
    """An instance of account A replicated into account B (cross-account install) reverses into A."""
    fleet = {
        "timing": drs_timing,
        "accounts": {"AKIAACCOUNTB00000000": "210987654321"},
        "region": "us-west-2",
        "instances": [{"instance_id": "i-0aaa0aaa0aaa0aaa0"}],
    }
    emu = emulator_factory(fleet)
    with emu.world.lock:
        record = emu.world.backend("ec2", "123456789012", "us-west-2").get_instance("i-0aaa0aaa0aaa0aaa0")
        target = emu.world.backend("drs", "210987654321", "us-east-1")
        server_id = target.register_agent(record, source_region="us-west-2", source_account="123456789012", tags={})
    account_b = drs_clients.make(emu, region="us-east-1", access_key="AKIAACCOUNTB00000000")
    for _ in range(100):
        items = account_b.describe_source_servers()["items"]
        if items and items[0]["dataReplicationInfo"]["dataReplicationState"] == "CONTINUOUS":
            break
        emu.advance(10)
    assert items[0]["sourceCloudProperties"]["originAccountID"] == "123456789012"
    recovered = recover(emu, account_b, server_id)["participatingServers"][0]["recoveryInstanceID"]
    reversed_arn = account_b.reverse_replication(recoveryInstanceID=recovered)["reversedDirectionSourceServerArn"]
    assert reversed_arn.startswith("arn:aws:drs:us-west-2:123456789012:source-server/")
    account_a = drs_clients.make(emu, region="us-west-2")
    back = server(account_a, arn_id(reversed_arn))
    assert back["sourceCloudProperties"]["originAccountID"] == "210987654321"
    assert back["replicationDirection"] == "FAILBACK"
