"""Replication lifecycle of DRS source servers on the virtual clock."""

from datetime import timedelta

import pytest

from emulator.fleet import FleetError
from emulator.services.drs.common import SOURCE_STEPS
from tests.emulator.drs_times import duration_seconds, when

ACCOUNT = "123456789012"
GIB = 1024**3


@pytest.fixture
def setup(emulator_factory, drs_timing, drs_clients):
    """One EC2 instance (two disks) whose agent the tests register in us-east-1."""

    def make(replication=None, rate_factor=1.0, timing=None):
        instance = {
            "instance_id": "i-0abc0abc0abc0abc0",
            "name": "app-1",
            "disks": [{"device": "/dev/xvda", "size_gib": 8}, {"device": "/dev/xvdb", "size_gib": 16}],
            "replication": replication,
            "disk_rate_factor": rate_factor,
            "tags": {"app": "shop"},
        }
        emu = emulator_factory({"timing": {**drs_timing, **(timing or {})}, "instances": [instance]})
        return emu, drs_clients.make(emu)

    return make


def register(emu, instance_id="i-0abc0abc0abc0abc0", tags=None) -> str:
    with emu.world.lock:
        record = emu.world.backend("ec2", ACCOUNT, "us-east-1").get_instance(instance_id)
        drs = emu.world.backend("drs", ACCOUNT, "us-east-1")
        return drs.register_agent(record, source_region="us-east-1", source_account=ACCOUNT, tags=tags or {})


def server(client, server_id: str) -> dict:
    return client.describe_source_servers(filters={"sourceServerIDs": [server_id]})["items"][0]


def state(client, server_id: str) -> str:
    return server(client, server_id)["dataReplicationInfo"]["dataReplicationState"]


def until(emu, client, server_id: str, wanted: str, step: float = 5, limit: int = 500) -> dict:
    for _ in range(limit):
        items = client.describe_source_servers(filters={"sourceServerIDs": [server_id]})["items"]
        if items and items[0]["dataReplicationInfo"]["dataReplicationState"] == wanted:
            return items[0]
        emu.advance(step)
    raise AssertionError(f"{server_id} never reached {wanted}")


def test_a_registered_agent_becomes_a_source_server_after_registration_seconds(setup):
    emu, client = setup()
    server_id = register(emu, tags={"Owner": "ops"})
    assert client.describe_source_servers()["items"] == []
    emu.advance(5)
    item = server(client, server_id)
    assert item["sourceProperties"]["identificationHints"]["awsInstanceID"] == "i-0abc0abc0abc0abc0"
    assert item["sourceProperties"]["identificationHints"]["fqdn"].endswith(".ec2.internal")
    assert [d["bytes"] for d in item["sourceProperties"]["disks"]] == [8 * GIB, 16 * GIB]
    assert item["sourceCloudProperties"] == {
        "originAccountID": ACCOUNT,
        "originRegion": "us-east-1",
        "originAvailabilityZone": "us-east-1a",
    }
    assert item["replicationDirection"] == "FAILOVER"
    assert item["tags"] == {"Owner": "ops"}
    assert item["agentVersion"]
    assert item["dataReplicationInfo"]["dataReplicationState"] == "INITIATING"


def test_installing_the_agent_through_ssm_registers_the_instance_with_drs(setup):
    emu, client = setup()
    ssm = emu.client("ssm")
    ssm.send_command(
        InstanceIds=["i-0abc0abc0abc0abc0"],
        DocumentName="AWSDisasterRecovery-InstallDRAgentOnInstance",
        Parameters={"Region": ["us-east-1"], "Tags": ["Owner=ops"]},
    )
    emu.advance(600)
    items = client.describe_source_servers(filters={"hardwareId": "i-0abc0abc0abc0abc0"})["items"]
    assert len(items) == 1
    assert items[0]["tags"] == {"Owner": "ops"}


def test_a_reinstall_reuses_the_source_server(setup):
    emu, client = setup()
    first = register(emu)
    assert register(emu, tags={"second": "yes"}) == first  # still registering
    emu.advance(5)
    assert register(emu) == first  # registered
    assert [s["sourceServerID"] for s in client.describe_source_servers()["items"]] == [first]
    assert server(client, first)["tags"] == {"second": "yes"}


def test_initiation_walks_the_eleven_steps_in_model_order(setup):
    emu, client = setup()
    server_id = register(emu)
    emu.advance(5)
    started = when(server(client, server_id)["dataReplicationInfo"]["dataReplicationInitiation"]["startDateTime"])
    seen = []
    for _ in range(len(SOURCE_STEPS)):
        steps = server(client, server_id)["dataReplicationInfo"]["dataReplicationInitiation"]["steps"]
        statuses = [s["status"] for s in steps]
        current = statuses.index("IN_PROGRESS")
        assert statuses[:current] == ["SUCCEEDED"] * current
        assert statuses[current + 1 :] == ["NOT_STARTED"] * (len(statuses) - current - 1)
        seen.append(steps[current]["name"])
        emu.advance(10)
    assert seen == list(SOURCE_STEPS)
    item = server(client, server_id)
    assert item["dataReplicationInfo"]["dataReplicationState"] == "INITIAL_SYNC"
    assert when(item["lifeCycle"]["firstByteDateTime"]) == started + timedelta(seconds=10 * len(SOURCE_STEPS))


def test_initial_sync_grows_per_disk_to_the_total_then_snapshot_then_continuous(setup):
    emu, client = setup(rate_factor=0.5)  # 512 MiB/s per disk: 16 s for 8 GiB, 32 s for 16 GiB
    server_id = register(emu)
    emu.advance(5 + 110)
    item = server(client, server_id)
    first_byte = when(item["lifeCycle"]["firstByteDateTime"])
    assert when(item["dataReplicationInfo"]["etaDateTime"]) == first_byte + timedelta(seconds=32)
    previous = [0, 0]
    for _ in range(8):  # 0 s, 4 s ... 28 s into the sync
        info = server(client, server_id)["dataReplicationInfo"]
        assert info["dataReplicationState"] == "INITIAL_SYNC"
        done = [d["replicatedStorageBytes"] for d in info["replicatedDisks"]]
        totals = [d["totalStorageBytes"] for d in info["replicatedDisks"]]
        assert all(now >= before for now, before in zip(done, previous, strict=True))
        assert all(d <= t for d, t in zip(done, totals, strict=True))
        previous = done
        emu.advance(4)
    assert previous[0] == 8 * GIB  # the small disk finished first and stays capped
    assert previous[1] < 16 * GIB
    assert state(client, server_id) == "CREATING_SNAPSHOT"
    emu.advance(20)
    item = server(client, server_id)
    info = item["dataReplicationInfo"]
    assert info["dataReplicationState"] == "CONTINUOUS"
    assert info["lagDuration"] == "PT0S"
    assert "etaDateTime" not in info
    assert [d["replicatedStorageBytes"] for d in info["replicatedDisks"]] == [8 * GIB, 16 * GIB]
    cycle = item["lifeCycle"]
    added, first, seen = (
        when(cycle[k]) for k in ("addedToServiceDateTime", "firstByteDateTime", "lastSeenByServiceDateTime")
    )
    assert added <= first <= seen <= emu.world.now()
    assert duration_seconds(cycle["elapsedReplicationDuration"]) == int((emu.world.now() - added).total_seconds())


def test_last_seen_advances_with_heartbeats_and_freezes_when_disconnected(setup):
    emu, client = setup()
    server_id = register(emu)
    until(emu, client, server_id, "CONTINUOUS")
    seen = when(server(client, server_id)["lifeCycle"]["lastSeenByServiceDateTime"])
    emu.advance(180)
    later = when(server(client, server_id)["lifeCycle"]["lastSeenByServiceDateTime"])
    assert timedelta(seconds=120) <= later - seen <= timedelta(seconds=240)
    assert later <= emu.world.now()
    emu.admin.service("drs", "set-fault", sourceServerID=server_id, fault="DISCONNECTED")
    frozen = server(client, server_id)
    emu.advance(600)
    item = server(client, server_id)
    assert item["dataReplicationInfo"]["dataReplicationState"] == "DISCONNECTED"
    assert item["dataReplicationInfo"]["dataReplicationError"]["error"] == "AGENT_NOT_SEEN"
    assert item["lifeCycle"]["lastSeenByServiceDateTime"] == frozen["lifeCycle"]["lastSeenByServiceDateTime"]


def test_a_failed_step_stalls_with_the_matching_error_and_retries_until_cleared(setup):
    emu, client = setup(replication={"fault": "FAILED_STEP", "at": "LAUNCH_REPLICATION_SERVER"})
    server_id = register(emu)
    emu.advance(5 + 30)
    info = server(client, server_id)["dataReplicationInfo"]
    assert info["dataReplicationState"] == "STALLED"
    assert info["dataReplicationError"]["error"] == "FAILED_TO_LAUNCH_REPLICATION_SERVER"
    statuses = {s["name"]: s["status"] for s in info["dataReplicationInitiation"]["steps"]}
    assert statuses["LAUNCH_REPLICATION_SERVER"] == "FAILED"
    assert statuses["CREATE_SECURITY_GROUP"] == "SUCCEEDED"
    assert statuses["BOOT_REPLICATION_SERVER"] == "NOT_STARTED"
    next_attempt = when(info["dataReplicationInitiation"]["nextAttemptDateTime"])
    assert next_attempt == when(info["dataReplicationInitiation"]["startDateTime"]) + timedelta(seconds=330)

    emu.advance(300 + 30)  # the automatic attempt fails again: the fault is still there
    again = server(client, server_id)["dataReplicationInfo"]
    assert again["dataReplicationState"] == "STALLED"
    assert when(again["dataReplicationInitiation"]["startDateTime"]) == next_attempt

    emu.admin.service("drs", "clear-fault", sourceServerID=server_id)
    retried = client.retry_data_replication(sourceServerID=server_id)
    assert retried["dataReplicationInfo"]["dataReplicationState"] == "INITIATING"
    assert "dataReplicationError" not in retried["dataReplicationInfo"]
    until(emu, client, server_id, "CONTINUOUS")


def test_a_stall_during_sync_freezes_bytes_then_resumes_where_it_stopped(setup):
    emu, client = setup(replication={"fault": "STALLED", "at": "INITIAL_SYNC", "after_seconds": 4})
    server_id = register(emu)
    emu.advance(5 + 110 + 10)
    info = server(client, server_id)["dataReplicationInfo"]
    assert info["dataReplicationState"] == "STALLED"
    assert info["dataReplicationError"]["error"] == "UNSTABLE_NETWORK"
    assert "etaDateTime" not in info
    frozen = [d["replicatedStorageBytes"] for d in info["replicatedDisks"]]
    assert frozen == [4 * GIB, 4 * GIB]
    emu.advance(100)
    assert [
        d["replicatedStorageBytes"] for d in server(client, server_id)["dataReplicationInfo"]["replicatedDisks"]
    ] == frozen
    emu.admin.service("drs", "clear-fault", sourceServerID=server_id)
    info = server(client, server_id)["dataReplicationInfo"]
    assert info["dataReplicationState"] == "INITIAL_SYNC"
    emu.advance(6)
    done = [d["replicatedStorageBytes"] for d in server(client, server_id)["dataReplicationInfo"]["replicatedDisks"]]
    assert done == [8 * GIB, 10 * GIB]


def test_set_fault_stalls_a_continuous_server_with_the_chosen_error_and_lag_grows(setup):
    emu, client = setup()
    server_id = register(emu)
    until(emu, client, server_id, "CONTINUOUS")
    view = emu.admin.service("drs", "set-fault", sourceServerID=server_id, fault="STALLED", error="NOT_CONVERGING")
    assert view["dataReplicationState"] == "STALLED"
    emu.advance(125)
    info = server(client, server_id)["dataReplicationInfo"]
    assert info["dataReplicationError"] == {"error": "NOT_CONVERGING", "rawError": "Not converging"}
    assert info["lagDuration"] == "PT2M5S"
    emu.admin.service("drs", "clear-fault", sourceServerID=server_id)
    info = server(client, server_id)["dataReplicationInfo"]
    assert info["dataReplicationState"] == "CONTINUOUS"
    assert info["lagDuration"] == "PT0S"


def test_set_fault_rejects_what_drs_cannot_report(setup):
    emu, client = setup()
    server_id = register(emu)
    emu.advance(5)
    import urllib.error

    with pytest.raises(urllib.error.HTTPError) as error:
        emu.admin.service("drs", "set-fault", sourceServerID=server_id, fault="STALLED", error="DISK_ON_FIRE")
    assert error.value.code == 400
    assert "DISK_ON_FIRE" in error.value.read().decode()
    with pytest.raises(urllib.error.HTTPError) as error:
        emu.admin.service("drs", "set-fault", sourceServerID="s-0000000000000000f", fault="STALLED")
    assert error.value.code == 404


def test_stop_and_start_replication(setup):
    emu, client = setup()
    server_id = register(emu)
    until(emu, client, server_id, "CONTINUOUS")
    emu.advance(1300)
    assert len(client.describe_recovery_snapshots(sourceServerID=server_id)["items"]) == 3
    stopped = client.stop_replication(sourceServerID=server_id)["sourceServer"]
    assert stopped["dataReplicationInfo"]["dataReplicationState"] == "STOPPED"
    assert "lagDuration" not in stopped["dataReplicationInfo"]
    assert (
        client.describe_recovery_snapshots(sourceServerID=server_id)["items"] == []
    )  # "delete its existing snapshots"
    elapsed = stopped["lifeCycle"]["elapsedReplicationDuration"]
    emu.advance(600)
    assert server(client, server_id)["lifeCycle"]["elapsedReplicationDuration"] == elapsed
    client.start_replication(sourceServerID=server_id)
    until(emu, client, server_id, "CONTINUOUS")


def test_disconnect_source_server_zeroes_totals_drops_lag_and_freezes_last_seen(setup):
    emu, client = setup()
    server_id = register(emu)
    until(emu, client, server_id, "CONTINUOUS")
    item = client.disconnect_source_server(sourceServerID=server_id)
    info = item["dataReplicationInfo"]
    assert info["dataReplicationState"] == "DISCONNECTED"
    assert [d["totalStorageBytes"] for d in info["replicatedDisks"]] == [0, 0]
    assert "lagDuration" not in info
    emu.advance(600)
    assert (
        server(client, server_id)["lifeCycle"]["lastSeenByServiceDateTime"]
        == item["lifeCycle"]["lastSeenByServiceDateTime"]
    )
    # RetryDataReplication begins "upon next Handshake": the uninstalled agent makes none
    retried = client.retry_data_replication(sourceServerID=server_id)
    assert retried["dataReplicationInfo"]["dataReplicationState"] == "DISCONNECTED"
    emu.advance(3600)
    assert state(client, server_id) == "DISCONNECTED"
    assert register(emu) == server_id  # the agent installed again: the same server replicates again
    until(emu, client, server_id, "CONTINUOUS")


def test_recovery_snapshots_every_interval_while_continuous_filtered_and_ordered(setup):
    emu, client = setup()
    server_id = register(emu)
    item = until(emu, client, server_id, "CONTINUOUS", step=1)
    emu.advance(3 * 600 + 30)
    snapshots = client.describe_recovery_snapshots(sourceServerID=server_id)["items"]
    times = [when(s["expectedTimestamp"]) for s in snapshots]
    assert len(times) == 4
    assert [b - a for a, b in zip(times, times[1:], strict=False)] == [timedelta(seconds=600)] * 3
    assert all(len(s["ebsSnapshots"]) == 2 for s in snapshots)
    assert times[0] >= when(item["lifeCycle"]["firstByteDateTime"])
    newest_first = client.describe_recovery_snapshots(sourceServerID=server_id, order="DESC")["items"]
    assert [s["snapshotID"] for s in newest_first] == [s["snapshotID"] for s in reversed(snapshots)]
    window = client.describe_recovery_snapshots(
        sourceServerID=server_id,
        filters={"fromDateTime": snapshots[1]["timestamp"], "toDateTime": snapshots[2]["timestamp"]},
    )["items"]
    assert [s["snapshotID"] for s in window] == [snapshots[1]["snapshotID"], snapshots[2]["snapshotID"]]
    assert client.describe_recovery_snapshots(sourceServerID="s-0000000000000000f")["items"] == []


@pytest.mark.parametrize(
    ("fleet_state", "error"),
    [
        ("CONTINUOUS", None),
        ("STALLED", "UNSTABLE_NETWORK"),
        ("DISCONNECTED", "AGENT_NOT_SEEN"),
        ("STOPPED", None),
        ("BACKLOG", None),
        ("PAUSED", None),
        ("RESCAN", None),
        ("INITIATING", None),
        ("INITIAL_SYNC", None),
        ("CREATING_SNAPSHOT", None),
    ],
)
def test_fleet_source_servers_start_in_their_state_with_a_consistent_history(
    emulator_factory, drs_timing, drs_clients, fleet_state, error
):
    emu = emulator_factory({"timing": drs_timing, "source_servers": [{"state": fleet_state}]})
    client = drs_clients.make(emu)
    item = client.describe_source_servers()["items"][0]
    info = item["dataReplicationInfo"]
    assert info["dataReplicationState"] == fleet_state
    assert info.get("dataReplicationError", {}).get("error") == error
    cycle = item["lifeCycle"]
    added = when(cycle["addedToServiceDateTime"])
    assert added <= emu.world.now()
    if "firstByteDateTime" in cycle:
        assert added <= when(cycle["firstByteDateTime"]) <= when(cycle["lastSeenByServiceDateTime"]) <= emu.world.now()
    if fleet_state in ("CONTINUOUS", "STALLED", "BACKLOG"):
        assert emu.world.now() - added > timedelta(days=2)  # looks like a server that has been there for days
        assert client.describe_recovery_snapshots(sourceServerID=item["sourceServerID"])["items"]


def test_fleet_source_servers_progress_from_where_they_start(emulator_factory, drs_timing, drs_clients):
    emu = emulator_factory({"timing": drs_timing, "source_servers": [{"state": "INITIAL_SYNC"}]})
    client = drs_clients.make(emu)
    server_id = client.describe_source_servers()["items"][0]["sourceServerID"]
    until(emu, client, server_id, "CONTINUOUS")


def test_clear_fault_brings_a_fleet_held_server_back_to_continuous(emulator_factory, drs_timing, drs_clients):
    emu = emulator_factory({"timing": drs_timing, "source_servers": [{"state": "BACKLOG"}]})
    client = drs_clients.make(emu)
    item = client.describe_source_servers()["items"][0]
    assert item["dataReplicationInfo"]["replicatedDisks"][0]["backloggedStorageBytes"] > 0
    assert duration_seconds(item["dataReplicationInfo"]["lagDuration"]) == 600
    emu.admin.service("drs", "clear-fault", sourceServerID=item["sourceServerID"])
    assert state(client, item["sourceServerID"]) == "CONTINUOUS"


@pytest.mark.parametrize(
    ("entry", "message"),
    [
        ({"state": "SLEEPING"}, "source_servers[0].state"),
        ({"origin": "MARS"}, "source_servers[0].origin"),
        ({"disks": [{"device": "/dev/sda"}]}, "source_servers[0].disks[0]"),
        ({"replication": {"fault": "STALLED", "at": "NAPPING"}}, "source_servers[0].replication"),
        ({"replication": {"fault": "FAILED_STEP"}}, "needs 'at'"),
    ],
)
def test_a_bad_fleet_source_server_is_refused_with_where_and_what(emulator_factory, entry, message):
    with pytest.raises(FleetError, match=message.replace("[", r"\[").replace("]", r"\]")):
        emulator_factory({"source_servers": [entry]})


def test_a_bad_instance_replication_fault_is_refused_at_load(emulator_factory):
    with pytest.raises(FleetError, match=r"instances\[0\]\.replication"):
        emulator_factory({"instances": [{"replication": {"fault": "EXPLODED"}}]})


def test_an_admin_reset_rebuilds_drs_from_the_new_fleet(emulator_factory, drs_timing, drs_clients):
    emu = emulator_factory({"timing": drs_timing, "source_servers": [{"hostname": "old.example.com"}]})
    client = drs_clients.make(emu)
    client.start_recovery(
        sourceServers=[{"sourceServerID": client.describe_source_servers()["items"][0]["sourceServerID"]}]
    )
    emu.admin.reset(
        {"timing": drs_timing, "source_servers": [{"hostname": "new1.example.com"}, {"hostname": "new2.example.com"}]}
    )
    hosts = [s["sourceProperties"]["identificationHints"]["fqdn"] for s in client.describe_source_servers()["items"]]
    assert hosts == ["new1.example.com", "new2.example.com"]
    assert client.describe_jobs()["items"] == []


def test_snapshots_follow_the_default_point_in_time_policy(emulator_factory, drs_timing, drs_clients):
    """Every 10 minutes for the last hour, hourly for a day, daily for the retention (DRS PIT policy)."""
    emu = emulator_factory({"timing": {**drs_timing, "snapshot_retention_seconds": 2 * 86400}, "source_servers": [{}]})
    client = drs_clients.make(emu)
    server_id = client.describe_source_servers()["items"][0]["sourceServerID"]
    now = emu.world.now()
    times = [
        when(s["expectedTimestamp"])
        for s in client.describe_recovery_snapshots(sourceServerID=server_id, maxResults=1000)["items"]
    ]
    last_hour = [t for t in times if now - t <= timedelta(hours=1)]
    last_day = [t for t in times if timedelta(hours=1) < now - t <= timedelta(days=1)]
    older = [t for t in times if now - t > timedelta(days=1)]
    assert len(last_hour) in (6, 7)
    assert [b - a for a, b in zip(last_hour, last_hour[1:], strict=False)] == [timedelta(minutes=10)] * (
        len(last_hour) - 1
    )
    assert len({t.replace(minute=0, second=0, microsecond=0) for t in last_day}) == len(last_day) >= 22
    assert len({t.date() for t in older}) == len(older) >= 1
    assert min(times) >= now - timedelta(days=2)


def test_reinstalling_the_agent_restarts_a_stalled_initiation(setup):
    emu, client = setup(replication={"fault": "FAILED_STEP", "at": "WAIT", "error": "AGENT_NOT_SEEN"})
    server_id = register(emu)
    emu.advance(5 + 10)
    assert state(client, server_id) == "STALLED"
    emu.admin.service("drs", "clear-fault", sourceServerID=server_id)
    assert register(emu) == server_id
    emu.advance(5)
    info = server(client, server_id)["dataReplicationInfo"]
    assert info["dataReplicationState"] == "INITIATING"
    assert info["dataReplicationInitiation"]["steps"][0] == {"name": "WAIT", "status": "IN_PROGRESS"}
