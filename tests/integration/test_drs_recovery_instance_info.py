"""drs_recovery_instance_info through the module against the emulator.

What an operator reads for each recovery instance (origin, drill flag, failback state and
label, reverse-sync progress, the 18 failback steps, the reversed-direction server from its
ARN, hostname, pending action), and the fixed number of reads it costs.
"""

from __future__ import annotations

from ansible_collections.drs.orchestration.plugins.modules import drs_recovery_instance_info
from tests.failback_fleets import FAST, ORIGIN, RECOVERY, deny_once, launch
from tests.module_harness import emulator_args, run_module


def mixed_fleet():
    return {
        "region": ORIGIN,
        "timing": FAST,
        "source_servers": [
            {"region": RECOVERY, "origin": "AWS", "origin_region": ORIGIN, "hostname": "web-01", "state": "CONTINUOUS"},
            {"region": RECOVERY, "origin": "AWS", "origin_region": ORIGIN, "hostname": "web-02", "state": "CONTINUOUS"},
            {"region": RECOVERY, "hostname": "db-01", "state": "CONTINUOUS"},
        ],
    }


def run(emu, check_mode=False, **options):
    result = run_module(drs_recovery_instance_info, {**emulator_args(emu, RECOVERY), **options}, check_mode=check_mode)
    assert result.get("failed") is not True, result.get("msg")
    return result


def by_host(result):
    return {(r["source_hostname"], r["is_drill"]): r for r in result["recovery_instances"]}


def test_every_recovery_instance_comes_with_origin_drill_flag_failback_state_and_next_step(emulator_factory):
    emu = emulator_factory(mixed_fleet())
    production = launch(emu, ["web-01", "db-01"], drill=False)
    launch(emu, ["web-02"], drill=True)

    result = run(emu)

    assert result["changed"] is False
    records = by_host(result)
    assert set(records) == {("web-01", False), ("web-02", True), ("db-01", False)}
    web = records[("web-01", False)]
    assert web["recovery_instance_id"] == production["web-01"]
    assert (web["origin_environment"], web["origin_region"], web["ec2_instance_state"]) == ("AWS", ORIGIN, "RUNNING")
    assert web["failback"]["state"] == "FAILBACK_NOT_STARTED"
    assert web["reverse_replication_status"] == "Not started"
    assert web["pending_action"] == f"Start reversed replication to {ORIGIN}."
    db = records[("db-01", False)]
    assert (db["origin_environment"], db["origin_region"]) == ("ON_PREMISES", None)
    assert db["failback"]["label"] == "Not started"
    assert db["pending_action"].startswith("Boot the Failback Client")
    assert records[("web-02", True)]["pending_action"].startswith("Terminate the drill instance")
    assert result["summary"] == {
        "total": 3,
        "by_status": {"Not started": 3},
        "by_origin": {"AWS": 2, "ON_PREMISES": 1},
        "by_region": {RECOVERY: 3},
        "drills": 1,
        "pending_actions": 3,
    }


def test_reversed_direction_server_region_and_id_come_from_its_arn_and_readiness_from_its_state(emulator_factory):
    emu = emulator_factory(mixed_fleet())
    rid = launch(emu, ["web-01"], drill=False)["web-01"]
    arn = emu.client("drs", region=RECOVERY).reverse_replication(recoveryInstanceID=rid)[
        "reversedDirectionSourceServerArn"
    ]
    emu.advance(10)

    syncing = run(emu, recovery_instance_ids=[rid])["recovery_instances"][0]
    view = syncing["reversed_direction_source_server"]
    assert (view["arn"], view["region"], view["source_server_id"]) == (arn, ORIGIN, arn.rsplit("/", 1)[1])
    assert view["replication_direction"] == "FAILBACK"
    assert view["replicating_this_instance"] is True
    assert syncing["reverse_replication_status"] == "Synchronizing"
    assert syncing["pending_action"].startswith(f"Wait for reversed replication to {ORIGIN}")

    emu.advance(3600)
    ready = run(emu, recovery_instance_ids=[rid])["recovery_instances"][0]
    assert ready["reversed_direction_source_server"]["data_replication_state"] == "CONTINUOUS"
    assert ready["reverse_replication_status"] == "Ready"
    assert ready["pending_action"] == f"Launch for failback in {ORIGIN} (source server {view['source_server_id']})."

    # without reading the reversed-direction server nothing is known about it: no guess, no next step
    unread = run(emu, recovery_instance_ids=[rid], include_reversed=False)
    record = unread["recovery_instances"][0]
    assert (record["reversed_direction_source_server"]["arn"], record["reversed_direction_source_server"]["found"]) == (
        arn,
        False,
    )
    assert (record["reverse_replication_status"], record["pending_action"]) == ("Unknown", None)
    assert unread["summary"]["by_status"] == {"Unknown": 1}

    # deleted in the origin Region (DisconnectSourceServer, then DeleteSourceServer - not emulated):
    # read and not there, same account - not reversed any more, and the next step says why
    emu.client("drs", region=ORIGIN).disconnect_source_server(sourceServerID=view["source_server_id"])
    with emu.world.lock:
        emu.world.backend("drs", emu.world.fleet.account_id, ORIGIN).servers.pop(view["source_server_id"])
    gone = run(emu, recovery_instance_ids=[rid])["recovery_instances"][0]
    assert (gone["reversed_direction_source_server"]["found"], gone["reversed_direction_source_server"]["missing"]) == (
        False,
        True,
    )
    assert gone["reverse_replication_status"] == "Not started"
    assert gone["pending_action"] == (
        f"Start reversed replication to {ORIGIN}: the reversed-direction source server {view['source_server_id']} "
        f"that source server {gone['source_server_id']} names is no longer in {ORIGIN} (deleted)."
    )


def test_on_premises_failback_shows_the_eighteen_steps_and_progress_by_bytes(emulator_factory):
    emu = emulator_factory(mixed_fleet())
    rid = launch(emu, ["db-01"], drill=False)["db-01"]
    emu.admin.service("drs", "pair-failback-client", region=RECOVERY, recoveryInstanceID=rid)
    emu.advance(22)

    record = run(emu, recovery_instance_ids=[rid])["recovery_instances"][0]

    initiation = record["replication"]["initiation"]
    assert initiation["total"] == 18
    assert initiation["steps"][0]["name"] == "LINK_FAILBACK_CLIENT_WITH_RECOVERY_INSTANCE"
    assert initiation["steps"][-1]["name"] == "START_DATA_TRANSFER"
    assert 0 < initiation["done"] < 18
    assert initiation["current_step"] == initiation["steps"][initiation["done"]]["name"]
    assert record["failback"]["state"] == "FAILBACK_IN_PROGRESS"
    assert record["failback"]["label"] == "Synchronizing"
    assert record["failback"]["failback_to_original_server"] is True
    assert record["pending_action"].startswith("Wait for failback replication (INITIATING step")

    emu.advance(3600)
    ready = run(emu, recovery_instance_ids=[rid])["recovery_instances"][0]
    assert ready["failback"]["state"] == "FAILBACK_READY_FOR_LAUNCH"
    assert ready["failback"]["label"] == "Ready"
    assert ready["replication"]["progress_percent"] == 100.0
    assert ready["pending_action"].startswith("Launch failback (StartFailbackLaunch)")


def test_filters_select_by_origin_and_drill_and_unknown_ids_are_listed(emulator_factory):
    emu = emulator_factory(mixed_fleet())
    production = launch(emu, ["web-01", "db-01"], drill=False)
    launch(emu, ["web-02"], drill=True)

    aws_recoveries = run(emu, origin_environment="AWS", drill=False)
    assert [r["recovery_instance_id"] for r in aws_recoveries["recovery_instances"]] == [production["web-01"]]
    unknown = "i-0123456789abcdef0"
    listed = run(emu, recovery_instance_ids=[production["web-01"], unknown])
    assert listed["missing"] == [unknown]
    assert [r["recovery_instance_id"] for r in listed["recovery_instances"]] == [production["web-01"]]


def test_reads_cost_the_same_few_calls_for_any_number_of_instances(emulator_factory):
    emu = emulator_factory(mixed_fleet())
    ids = launch(emu, ["web-01", "web-02", "db-01"], drill=False)
    drs = emu.client("drs", region=RECOVERY)
    for hostname in ("web-01", "web-02"):
        drs.reverse_replication(recoveryInstanceID=ids[hostname])
    before = {op: emu.count("drs", op) for op in ("DescribeRecoveryInstances", "DescribeSourceServers")}

    result = run(emu)

    assert len(result["recovery_instances"]) == 3
    assert emu.count("drs", "DescribeRecoveryInstances") - before["DescribeRecoveryInstances"] == 1
    # one sweep of the recovery Region, one of the origin Region for both reversed-direction servers
    sweeps = emu.calls("drs", "DescribeSourceServers")[-2:]
    assert emu.count("drs", "DescribeSourceServers") - before["DescribeSourceServers"] == 2
    assert sorted(c["region"] for c in sweeps) == [ORIGIN, RECOVERY]


def test_check_mode_reads_the_same_and_changes_nothing(emulator_factory):
    emu = emulator_factory(mixed_fleet())
    launch(emu, ["web-01"], drill=False)
    normal = run(emu)
    checked = run(emu, check_mode=True)
    assert checked["changed"] is False
    assert [r["recovery_instance_id"] for r in checked["recovery_instances"]] == [
        r["recovery_instance_id"] for r in normal["recovery_instances"]
    ]


def two_recovery_regions(emulator_factory):
    """db-01 (on premises) recovered in the recovery Region, app-01 (on premises) in the origin Region."""
    fleet = mixed_fleet()
    fleet["source_servers"].append({"region": ORIGIN, "hostname": "app-01", "state": "CONTINUOUS"})
    emu = emulator_factory(fleet)
    in_recovery = launch(emu, ["db-01"], drill=False)["db-01"]
    drs = emu.client("drs", region=ORIGIN)
    (app,) = drs.describe_source_servers(filters={})["items"]
    drs.start_recovery(sourceServers=[{"sourceServerID": app["sourceServerID"]}], isDrill=True)
    emu.advance(600)
    (in_origin,) = [i["recoveryInstanceID"] for i in drs.describe_recovery_instances(filters={})["items"]]
    return emu, in_recovery, in_origin


def test_several_regions_are_read_in_one_task(emulator_factory):
    emu, in_recovery, in_origin = two_recovery_regions(emulator_factory)

    result = run(emu, regions=[RECOVERY, ORIGIN])

    assert result["regions"] == [RECOVERY, ORIGIN]
    found = {r["recovery_instance_id"]: r["region"] for r in result["recovery_instances"]}
    assert found == {in_recovery: RECOVERY, in_origin: ORIGIN}
    assert result["summary"]["by_region"] == {RECOVERY: 1, ORIGIN: 1}
    assert result["summary"]["drills"] == 1
    assert result["errors"] == []
    # without regions: the module's region only
    assert [r["recovery_instance_id"] for r in run(emu)["recovery_instances"]] == [in_recovery]


def test_a_region_that_cannot_be_read_fails_the_task_but_keeps_the_others(emulator_factory):
    emu, _, in_origin = two_recovery_regions(emulator_factory)
    deny_once(emu, "drs:DescribeRecoveryInstances")

    result = run_module(drs_recovery_instance_info, {**emulator_args(emu, RECOVERY), "regions": [RECOVERY, ORIGIN]})

    assert result["failed"] is True
    assert f"could not be read in {RECOVERY} (DescribeRecoveryInstances: AccessDeniedException" in result["msg"]
    assert f"What was read: 1 recovery instance in {ORIGIN}." in result["msg"]
    assert [r["recovery_instance_id"] for r in result["recovery_instances"]] == [in_origin]
    assert [(e["region"], e["operation"], e["code"]) for e in result["errors"]] == [
        (RECOVERY, "DescribeRecoveryInstances", "AccessDeniedException")
    ]


def test_a_region_without_drs_is_refused_before_any_call(emulator_factory):
    emu = emulator_factory(mixed_fleet())
    before = len(emu.calls("drs"))

    result = run_module(drs_recovery_instance_info, {**emulator_args(emu, RECOVERY), "regions": [RECOVERY, "mars-1"]})

    assert result["failed"] is True
    assert "regions: 'mars-1' is not a region where DRS is available" in result["msg"]
    assert len(emu.calls("drs")) == before
