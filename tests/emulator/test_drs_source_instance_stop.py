"""DRS replication of a source server whose EC2 instance stops, starts again or is terminated."""

from datetime import datetime

import pytest

from tests.emulator.drs_times import duration_seconds, when

ACCOUNT = "123456789012"
GIB = 1024**3
APP = "i-0abc0abc0abc0abc0"  # two disks: 8 and 16 GiB
OTHER = "i-0def0def0def0def0"
NOT_SEEN = 300  # agent_not_seen_seconds (the default)


@pytest.fixture
def drs(emulator_factory, drs_timing, drs_clients):
    """Two EC2 instances with source servers replicating into us-east-1, both CONTINUOUS."""
    disks = [{"device": "/dev/xvda", "size_gib": 8}, {"device": "/dev/xvdb", "size_gib": 16}]
    emu = emulator_factory(
        {
            "timing": drs_timing,
            "instances": [
                {"instance_id": APP, "name": "app-1", "disks": disks},
                {"instance_id": OTHER, "name": "app-2"},
            ],
        }
    )
    client = drs_clients.make(emu)
    ids = {instance_id: register(emu, instance_id) for instance_id in (APP, OTHER)}
    emu.advance(5 + 11 * 10 + 16 + 20)  # registration, initiation, sync of the 16 GiB disk, snapshot
    for server_id in ids.values():
        assert state(client, server_id) == "CONTINUOUS"
    return emu, client, ids


def register(emu, instance_id: str) -> str:
    with emu.world.lock:
        record = emu.world.backend("ec2", ACCOUNT, "us-east-1").get_instance(instance_id)
        drs = emu.world.backend("drs", ACCOUNT, "us-east-1")
        return drs.register_agent(record, source_region="us-east-1", source_account=ACCOUNT, tags={})


def server(client, server_id: str) -> dict:
    return client.describe_source_servers(filters={"sourceServerIDs": [server_id]})["items"][0]


def state(client, server_id: str) -> str:
    return server(client, server_id)["dataReplicationInfo"]["dataReplicationState"]


def last_seen(item: dict) -> datetime:
    return when(item["lifeCycle"]["lastSeenByServiceDateTime"])


def set_state(emu, instance_id: str, instance_state: str) -> datetime:
    """Change the instance's EC2 state; returns when, in whole seconds (as DRS renders times)."""
    emu.admin.service("ec2", "set-instance-state", instance_id=instance_id, state=instance_state)
    return emu.world.now().replace(microsecond=0)


def test_a_stopped_instance_stops_heartbeats_and_data_and_is_disconnected_with_growing_lag(drs):
    emu, client, ids = drs
    emu.advance(125)  # heartbeats keep coming while it runs
    other_seen = last_seen(server(client, ids[OTHER]))
    stopped_at = set_state(emu, APP, "stopped")
    item = server(client, ids[APP])
    seen = last_seen(item)
    assert seen <= stopped_at
    snapshots = len(client.describe_recovery_snapshots(sourceServerID=ids[APP])["items"])

    emu.advance(NOT_SEEN - 1)  # DRS has not noticed yet
    item = server(client, ids[APP])
    assert item["dataReplicationInfo"]["dataReplicationState"] == "CONTINUOUS"
    assert last_seen(item) == seen

    emu.advance(1)
    info = server(client, ids[APP])["dataReplicationInfo"]
    assert info["dataReplicationState"] == "DISCONNECTED"
    assert info["dataReplicationError"] == {"error": "AGENT_NOT_SEEN", "rawError": "Agent not seen"}
    assert duration_seconds(info["lagDuration"]) == NOT_SEEN  # lag counts from when data last flowed: the stop
    assert [d["totalStorageBytes"] for d in info["replicatedDisks"]] == [8 * GIB, 16 * GIB]  # disks kept

    emu.advance(3600)
    item = server(client, ids[APP])
    info = item["dataReplicationInfo"]
    assert info["dataReplicationState"] == "DISCONNECTED"
    assert duration_seconds(info["lagDuration"]) == NOT_SEEN + 3600
    assert last_seen(item) == seen  # no heartbeat from a stopped machine
    assert [d["replicatedStorageBytes"] for d in info["replicatedDisks"]] == [8 * GIB, 16 * GIB]
    # no point-in-time snapshot is taken without replication; the earlier ones remain
    assert len(client.describe_recovery_snapshots(sourceServerID=ids[APP])["items"]) == snapshots

    # the server of the other instance, still running, is unaffected
    other = server(client, ids[OTHER])
    assert other["dataReplicationInfo"]["dataReplicationState"] == "CONTINUOUS"
    assert other["dataReplicationInfo"]["lagDuration"] == "PT0S"
    assert "dataReplicationError" not in other["dataReplicationInfo"]
    assert last_seen(other) > other_seen  # its heartbeats go on


def test_started_again_the_agent_reconnects_rescans_then_is_continuous(drs):
    emu, client, ids = drs
    set_state(emu, APP, "stopped")
    emu.advance(NOT_SEEN + 100)
    set_state(emu, APP, "pending")  # booting: the agent does not run yet
    emu.advance(30)
    assert state(client, ids[APP]) == "DISCONNECTED"
    started_at = set_state(emu, APP, "running")

    item = server(client, ids[APP])
    info = item["dataReplicationInfo"]
    assert info["dataReplicationState"] == "RESCAN"
    assert "dataReplicationError" not in info
    assert last_seen(item) == started_at  # the agent is seen again
    assert duration_seconds(info["lagDuration"]) == NOT_SEEN + 130  # still out of continuous protection
    assert (when(info["etaDateTime"]) - started_at).total_seconds() == 16  # the 16 GiB disk at 1 GiB/s

    emu.advance(4)
    disks = server(client, ids[APP])["dataReplicationInfo"]["replicatedDisks"]
    assert [d["rescannedStorageBytes"] for d in disks] == [4 * GIB, 4 * GIB]  # rescanning at the replication rate

    emu.advance(12)
    item = server(client, ids[APP])
    info = item["dataReplicationInfo"]
    assert info["dataReplicationState"] == "CONTINUOUS"
    assert info["lagDuration"] == "PT0S"
    assert [d["rescannedStorageBytes"] for d in info["replicatedDisks"]] == [0, 0]
    emu.advance(600)
    assert last_seen(server(client, ids[APP])) > last_seen(item)  # heartbeats again
    # continuous protection again: a new point-in-time snapshot
    newest = client.describe_recovery_snapshots(sourceServerID=ids[APP], order="DESC")["items"][0]
    assert when(newest["timestamp"]) > started_at


def test_a_quick_restart_rescans_without_ever_showing_disconnected(drs):
    emu, client, ids = drs
    set_state(emu, APP, "stopped")
    emu.advance(60)
    assert state(client, ids[APP]) == "CONTINUOUS"  # not noticed yet
    set_state(emu, APP, "running")
    assert state(client, ids[APP]) == "RESCAN"
    emu.advance(NOT_SEEN)  # the not-seen deadline of the stop has no effect any more
    assert state(client, ids[APP]) == "CONTINUOUS"


def test_a_server_stopped_during_initial_sync_resumes_the_sync_from_its_bytes(
    emulator_factory, drs_timing, drs_clients
):
    emu = emulator_factory(
        {"timing": drs_timing, "instances": [{"instance_id": APP, "disks": [{"device": "/dev/xvda", "size_gib": 16}]}]}
    )
    client = drs_clients.make(emu)
    server_id = register(emu, APP)
    emu.advance(5 + 11 * 10 + 4)  # 4 s into the sync
    set_state(emu, APP, "stopped")
    emu.advance(NOT_SEEN + 50)
    info = server(client, server_id)["dataReplicationInfo"]
    assert info["dataReplicationState"] == "DISCONNECTED"
    assert "lagDuration" not in info  # never continuous: no lag yet
    assert [d["replicatedStorageBytes"] for d in info["replicatedDisks"]] == [4 * GIB]
    set_state(emu, APP, "running")
    info = server(client, server_id)["dataReplicationInfo"]
    assert info["dataReplicationState"] == "INITIAL_SYNC"
    emu.advance(6)
    assert [
        d["replicatedStorageBytes"] for d in server(client, server_id)["dataReplicationInfo"]["replicatedDisks"]
    ] == [10 * GIB]
    emu.advance(6 + 20)
    assert state(client, server_id) == "CONTINUOUS"


def test_a_terminated_instance_leaves_its_server_disconnected_for_good(drs):
    emu, client, ids = drs
    terminated_at = set_state(emu, APP, "terminated")
    emu.advance(NOT_SEEN + 7200)  # EC2 no longer lists it
    assert (
        emu.client("ec2").describe_instances(Filters=[{"Name": "instance-id", "Values": [APP]}])["Reservations"] == []
    )
    item = server(client, ids[APP])
    info = item["dataReplicationInfo"]
    assert info["dataReplicationState"] == "DISCONNECTED"
    assert info["dataReplicationError"]["error"] == "AGENT_NOT_SEEN"
    assert duration_seconds(info["lagDuration"]) == NOT_SEEN + 7200
    assert last_seen(item) <= terminated_at
    assert client.describe_recovery_snapshots(sourceServerID=ids[APP])["items"]  # still recoverable
    assert state(client, ids[OTHER]) == "CONTINUOUS"


def test_a_stopped_replication_keeps_its_state_and_only_loses_the_agent(drs):
    emu, client, ids = drs
    client.stop_replication(sourceServerID=ids[APP])
    emu.advance(120)
    stopped_at = set_state(emu, APP, "stopped")
    emu.advance(NOT_SEEN + 600)
    item = server(client, ids[APP])
    assert item["dataReplicationInfo"]["dataReplicationState"] == "STOPPED"
    assert last_seen(item) <= stopped_at
    started_at = set_state(emu, APP, "running")
    item = server(client, ids[APP])
    assert item["dataReplicationInfo"]["dataReplicationState"] == "STOPPED"
    assert last_seen(item) == started_at


def test_a_fault_holding_the_server_is_back_in_force_when_the_instance_runs_again(drs):
    emu, client, ids = drs
    emu.admin.service("drs", "set-fault", sourceServerID=ids[APP], fault="STALLED", error="NOT_CONVERGING")
    set_state(emu, APP, "stopped")
    emu.advance(NOT_SEEN)
    assert state(client, ids[APP]) == "DISCONNECTED"
    set_state(emu, APP, "running")
    info = server(client, ids[APP])["dataReplicationInfo"]
    assert info["dataReplicationState"] == "STALLED"
    assert info["dataReplicationError"]["error"] == "NOT_CONVERGING"
    emu.admin.service("drs", "clear-fault", sourceServerID=ids[APP])
    assert state(client, ids[APP]) == "CONTINUOUS"


def test_clearing_a_fault_while_the_instance_is_stopped_does_not_bring_the_agent_back(drs):
    emu, client, ids = drs
    emu.admin.service("drs", "set-fault", sourceServerID=ids[APP], fault="STALLED")
    seen = last_seen(server(client, ids[APP]))
    set_state(emu, APP, "stopped")
    emu.advance(NOT_SEEN)
    emu.admin.service("drs", "clear-fault", sourceServerID=ids[APP])
    emu.advance(600)
    item = server(client, ids[APP])
    assert item["dataReplicationInfo"]["dataReplicationState"] == "DISCONNECTED"
    assert last_seen(item) == seen
    set_state(emu, APP, "running")
    assert state(client, ids[APP]) == "RESCAN"


def test_retry_while_stopped_waits_for_the_agent_is_not_seen_then_initiates_once_it_runs(drs):
    emu, client, ids = drs
    set_state(emu, APP, "stopped")
    emu.advance(NOT_SEEN)
    client.retry_data_replication(sourceServerID=ids[APP])
    emu.advance(NOT_SEEN - 1)
    info = server(client, ids[APP])["dataReplicationInfo"]
    assert info["dataReplicationState"] == "INITIATING"
    steps = info["dataReplicationInitiation"]["steps"]
    assert steps[0] == {"name": "WAIT", "status": "IN_PROGRESS"}  # "upon next Handshake"
    assert {s["status"] for s in steps[1:]} == {"NOT_STARTED"}
    emu.advance(1)  # no handshake comes: the agent is not seen, as for any machine that is down
    info = server(client, ids[APP])["dataReplicationInfo"]
    assert (info["dataReplicationState"], info["dataReplicationError"]["error"]) == ("DISCONNECTED", "AGENT_NOT_SEEN")
    set_state(emu, APP, "running")
    emu.advance(11 * 10 + 16 + 20)
    assert state(client, ids[APP]) == "CONTINUOUS"


def test_the_not_seen_delay_is_a_fleet_timing(emulator_factory, drs_timing, drs_clients):
    emu = emulator_factory({"timing": {**drs_timing, "agent_not_seen_seconds": 0}, "instances": [{"instance_id": APP}]})
    client = drs_clients.make(emu)
    server_id = register(emu, APP)
    emu.advance(5 + 11 * 10 + 8 + 20)
    assert state(client, server_id) == "CONTINUOUS"
    set_state(emu, APP, "stopped")
    assert state(client, server_id) == "DISCONNECTED"


def test_a_disconnected_fault_keeps_a_growing_lag_unlike_disconnect_source_server(drs):
    emu, client, ids = drs
    emu.admin.service("drs", "set-fault", sourceServerID=ids[APP], fault="DISCONNECTED")
    emu.advance(90)
    info = server(client, ids[APP])["dataReplicationInfo"]
    assert info["dataReplicationState"] == "DISCONNECTED"
    assert info["lagDuration"] == "PT1M30S"
    client.disconnect_source_server(sourceServerID=ids[OTHER])
    assert "lagDuration" not in server(client, ids[OTHER])["dataReplicationInfo"]  # "will be nullified"


def test_a_fleet_disconnected_server_shows_the_lag_since_it_left_continuous_protection(
    emulator_factory, drs_timing, drs_clients
):
    emu = emulator_factory({"timing": drs_timing, "source_servers": [{"state": "DISCONNECTED"}]})
    info = drs_clients.make(emu).describe_source_servers()["items"][0]["dataReplicationInfo"]
    assert duration_seconds(info["lagDuration"]) == 7200  # continuous until 2 h ago


def test_a_fault_that_falls_due_while_the_instance_is_stopped_strikes_once_it_runs(drs):
    emu, client, ids = drs
    set_state(emu, APP, "stopped")
    emu.admin.service("drs", "set-fault", sourceServerID=ids[APP], fault="STALLED", after_seconds=NOT_SEEN + 60)
    emu.advance(NOT_SEEN + 120)
    assert state(client, ids[APP]) == "DISCONNECTED"
    set_state(emu, APP, "running")
    info = server(client, ids[APP])["dataReplicationInfo"]
    assert info["dataReplicationState"] == "STALLED"
    assert info["dataReplicationError"]["error"] == "UNSTABLE_NETWORK"


def test_an_instance_stopped_before_its_server_registers_sends_nothing(emulator_factory, drs_timing, drs_clients):
    emu = emulator_factory({"timing": drs_timing, "instances": [{"instance_id": APP}]})
    client = drs_clients.make(emu)
    server_id = register(emu, APP)  # the install ran; DRS registers the server a few seconds later
    set_state(emu, APP, "stopped")
    emu.advance(3600)
    item = server(client, server_id)
    info = item["dataReplicationInfo"]
    assert (info["dataReplicationState"], info["dataReplicationError"]["error"]) == ("DISCONNECTED", "AGENT_NOT_SEEN")
    assert {d["replicatedStorageBytes"] for d in info["replicatedDisks"]} == {0}
    assert client.describe_recovery_snapshots(sourceServerID=server_id)["items"] == []
    set_state(emu, APP, "running")
    emu.advance(11 * 10 + 8 + 20)
    assert state(client, server_id) == "CONTINUOUS"
