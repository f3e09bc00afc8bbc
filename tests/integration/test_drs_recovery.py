"""drs_recovery through the module (as Ansible runs it) against the emulator.

Every transition: drill launched -> re-run unchanged -> terminated -> re-run unchanged;
production recovery only when confirmed; check mode; interruptions (lost answer, killed
run) never launch twice; the errors DRS gives surface as clear messages. The emulator's
call log shows the exact DRS operations sent. The emulator's clock runs 600 times
faster than real time and the module polls every 0.2 s, so a 5-minute launch takes
about half a second.
"""

from __future__ import annotations

import pytest

from ansible_collections.drs.orchestration.plugins.modules import drs_recovery
from tests.module_harness import emulator_args, run_module

REGION = "us-west-2"
TIMING = {"job_start_seconds": 10, "launch_seconds": 300, "terminate_seconds": 60}
MUTATING = {"StartRecovery", "TerminateRecoveryInstances", "StartFailbackLaunch", "ReverseReplication"}


def fleet():
    return {
        "region": REGION,
        "timing": TIMING,
        "source_servers": [
            {"hostname": "web-01", "tags": {"app": "shop"}},
            {"hostname": "web-02", "tags": {"app": "shop"}, "origin": "AWS", "origin_region": "us-east-1"},
            {"hostname": "db-01", "tags": {"app": "erp"}},
        ],
    }


@pytest.fixture
def emu(emulator_factory):
    return emulator_factory(fleet(), speed=600)


def run(emu, check_mode=False, **options):
    options.setdefault("poll_interval", 0.2)
    options.setdefault("wait_timeout", 120)
    return run_module(drs_recovery, {**emulator_args(emu, REGION), **options}, check_mode=check_mode)


def ops(emu, since=0):
    """The DRS operations sent (in order), from call number ``since`` on."""
    return [c["operation"] for c in emu.calls("drs")[since:]]


def mutating(emu):
    return [c for c in emu.calls("drs") if c["operation"] in MUTATING]


def shop_ids(emu):
    drs = emu.client("drs", region=REGION)
    return sorted(
        s["sourceServerID"] for s in drs.describe_source_servers(filters={})["items"] if s["tags"]["app"] == "shop"
    )


def all_jobs(emu):
    return emu.client("drs", region=REGION).describe_jobs(filters={})["items"]


def test_drill_lifecycle_launch_rerun_terminate_rerun(emu):
    launched = run(emu, source_server_tags={"app": "shop"})

    assert launched.get("failed") is not True, launched.get("msg")
    assert launched["changed"] is True
    assert sorted(s["hostname"] for s in launched["servers"]) == ["web-01", "web-02"]
    assert {s["launch_status"] for s in launched["servers"]} == {"LAUNCHED"}
    assert {i["ec2_instance_state"] for i in launched["recovery_instances"]} == {"RUNNING"}
    assert {i["is_drill"] for i in launched["recovery_instances"]} == {True}
    sent = ops(emu)
    assert sent[:3] == ["DescribeSourceServers", "DescribeJobs", "DescribeRecoveryInstances"]
    assert [op for op in sent if op in MUTATING] == ["StartRecovery"]
    assert set(sent) == {"DescribeSourceServers", "DescribeJobs", "DescribeRecoveryInstances", "StartRecovery"}
    assert mutating(emu)[0]["params"]["isDrill"] is True

    again = run(emu, source_server_tags={"app": "shop"})

    assert again["changed"] is False
    assert [s["action"] for s in again["servers"]] == ["present", "present"]
    assert len(mutating(emu)) == 1

    mark = len(emu.calls("drs"))
    removed = run(emu, state="absent", source_server_tags={"app": "shop"})

    assert removed["changed"] is True
    assert sorted(removed["terminated"]) == sorted(i["recovery_instance_id"] for i in launched["recovery_instances"])
    assert [op for op in ops(emu, mark) if op in MUTATING] == ["TerminateRecoveryInstances"]

    removed_again = run(emu, state="absent", source_server_tags={"app": "shop"})

    assert removed_again["changed"] is False
    assert len(mutating(emu)) == 2


def test_check_mode_shows_the_plan_and_sends_nothing(emu):
    result = run(emu, check_mode=True, source_server_tags={"app": "shop"})

    assert result["changed"] is True
    assert [sorted(job) for job in result["plan"]["new_jobs"]] == [shop_ids(emu)]
    assert {s["action"] for s in result["servers"]} == {"launch"}
    assert mutating(emu) == []


def test_a_production_recovery_needs_the_confirmation(emu):
    refused = run(emu, source_server_ids=shop_ids(emu), drill=False)

    assert refused["failed"] is True
    assert "Set confirm_production_recovery: true to confirm" in refused["msg"]
    assert mutating(emu) == []

    recovered = run(emu, source_server_ids=shop_ids(emu), drill=False, confirm_production_recovery=True)

    assert recovered["changed"] is True
    assert mutating(emu)[0]["params"]["isDrill"] is False
    assert {i["is_drill"] for i in recovered["recovery_instances"]} == {False}
    kept = run(emu, state="absent", source_server_ids=shop_ids(emu), drill=False)
    assert kept["failed"] is True
    assert "terminate_non_drill: true" in kept["msg"]


def test_a_lost_start_recovery_answer_then_a_rerun_makes_one_job(emu):
    # StartRecovery executes but the connection closes before the answer arrives.
    emu.admin.faults(fail_next={"drs:StartRecovery": {"mode": "disconnect"}})

    first = run(emu, source_server_tags={"app": "shop"})
    second = run(emu, source_server_tags={"app": "shop"})

    assert first.get("failed") is not True, first.get("msg")
    assert first["changed"] is True
    assert {s["launch_status"] for s in first["servers"]} == {"LAUNCHED"}
    assert second["changed"] is False
    assert [c["error"] for c in mutating(emu)] == ["Disconnect"]  # sent once, never again
    assert len(all_jobs(emu)) == 1


def test_a_killed_run_is_resumed_by_the_next_one(emu):
    emu.admin.set_speed(0)  # the job is still running when the next run starts
    started = run(emu, source_server_tags={"app": "shop"}, wait=False)  # the playbook stops after starting
    emu.admin.set_speed(60)  # slow enough that the job still runs when the next run reads DRS

    resumed = run(emu, source_server_tags={"app": "shop"})

    assert started["changed"] is True
    assert resumed["changed"] is False
    assert [s["action"] for s in resumed["servers"]] == ["reattach", "reattach"]
    assert {s["launch_status"] for s in resumed["servers"]} == {"LAUNCHED"}
    assert len(mutating(emu)) == 1
    assert len(all_jobs(emu)) == 1


def test_a_server_in_a_running_recovery_job_is_reported_not_drilled(emu):
    emu.admin.set_speed(0)  # the other job keeps running during the module run
    drs = emu.client("drs", region=REGION)
    server = shop_ids(emu)[0]
    job = drs.start_recovery(sourceServers=[{"sourceServerID": server}], isDrill=False)["job"]

    result = run(emu, source_server_ids=[server])

    assert result["failed"] is True
    assert f"{server} (" in result["msg"]
    assert f"in job {job['jobID']} (LAUNCH, START_RECOVERY, " in result["msg"]
    assert "Nothing was launched" in result["msg"]
    assert len(mutating(emu)) == 1  # only the other job's StartRecovery


def test_terminating_while_the_launch_job_runs_is_refused_clearly(emu):
    emu.admin.set_speed(0)  # the launch job keeps running during the module run
    drs = emu.client("drs", region=REGION)
    server = shop_ids(emu)[0]
    drs.start_recovery(sourceServers=[{"sourceServerID": server}], isDrill=True)
    emu.advance(200)  # the recovery instance exists; the job has not completed
    (instance,) = drs.describe_recovery_instances(filters={})["items"]

    result = run(emu, state="absent", recovery_instance_ids=[instance["recoveryInstanceID"]])

    assert result["failed"] is True
    assert f"Cannot terminate now: {instance['recoveryInstanceID']} in drsjob-" in result["msg"]
    assert "Wait for the job(s) to finish" in result["msg"]
    assert "TerminateRecoveryInstances" not in ops(emu)


@pytest.mark.parametrize(
    ("options", "message"),
    [
        ({"source_server_ids": ["s-00000000000000000"]}, "DRS in us-west-2 has no source server s-00000000000000000"),
        ({"source_server_ids": ["web-01"]}, "'web-01' is not a DRS source server ID"),
        ({"source_server_tags": {"app": "none"}}, "No source server in us-west-2 has the tags app=none"),
        ({"source_server_tags": {"app": "shop"}, "servers_per_job": 150}, "servers_per_job must be between 1 and 100"),
        (
            {"source_server_tags": {"app": "shop"}, "snapshot_ids": {"s-00000000000000000": "pit-00000000000000000"}},
            "not among the selected source servers",
        ),
        ({"recovery_instance_ids": ["i-0123456789abcdef0"]}, "recovery_instance_ids only applies to state: absent"),
        ({"source_server_ids": ["s-00000000000000000"], "source_server_tags": {"a": "b"}}, "mutually exclusive"),
    ],
)
def test_bad_input_fails_with_what_to_fix(emu, options, message):
    result = run(emu, **options)

    assert result["failed"] is True
    assert message in result["msg"]
    assert "Traceback" not in result.get("module_stderr", "")
    assert mutating(emu) == []


def test_unknown_recovery_instances_are_already_absent(emu):
    result = run(emu, state="absent", recovery_instance_ids=["i-0123456789abcdef0"])

    assert result["changed"] is False
    assert result["already_absent"] == ["i-0123456789abcdef0"]
    assert mutating(emu) == []


def test_throttled_start_recovery_is_retried_and_launches_once(emu):
    emu.admin.faults(throttle_next={"drs:StartRecovery": 2})

    result = run(emu, source_server_tags={"app": "erp"})

    assert result["changed"] is True
    assert [c["error"] for c in mutating(emu)] == ["ThrottlingException", "ThrottlingException", None]
    assert len(all_jobs(emu)) == 1


def test_a_recovery_while_the_source_instances_are_down_launches_from_their_latest_snapshots(emulator_factory):
    # The disaster itself: EC2 instances protected through the agent install stop; DRS no
    # longer sees their agents. Only CONTINUOUS servers count by default, and the refusal says
    # how to launch servers that are down; require_continuous: false launches them.
    emu = emulator_factory({"region": "us-east-1", "timing": TIMING, "generate": {"count": 2}}, speed=600)
    instances = [i["instance_id"] for i in emu.world.fleet.instances]
    emu.client("ssm", region="us-east-1").send_command(
        DocumentName="AWSDisasterRecovery-InstallDRAgentOnInstance",
        InstanceIds=instances,
        Parameters={"Region": [REGION]},
    )
    emu.advance(6 * 3600)  # installed, replicated, CONTINUOUS, snapshots taken
    drs = emu.client("drs", region=REGION)
    servers = sorted(s["sourceServerID"] for s in drs.describe_source_servers(filters={})["items"])
    assert len(servers) == 2
    for instance_id in instances:
        emu.admin.service("ec2", "set-instance-state", instance_id=instance_id, state="stopped")
    emu.advance(900)
    states = {
        s["dataReplicationInfo"]["dataReplicationState"] for s in drs.describe_source_servers(filters={})["items"]
    }
    assert states == {"DISCONNECTED"}
    production = {"source_server_ids": servers, "drill": False, "confirm_production_recovery": True}

    refused = run(emu, **production)

    assert refused["failed"] is True
    assert "data replication is DISCONNECTED, not CONTINUOUS" in refused["msg"]
    assert "require_continuous: false launches it from its latest recovery snapshot, if it has one" in refused["msg"]
    assert mutating(emu) == []

    recovered = run(emu, require_continuous=False, **production)

    assert recovered.get("failed") is not True, recovered.get("msg")
    assert recovered["changed"] is True
    assert {s["launch_status"] for s in recovered["servers"]} == {"LAUNCHED"}
    assert [c["operation"] for c in mutating(emu)] == ["StartRecovery"]
    assert len(emu.calls("drs", "DescribeRecoverySnapshots")) == 2  # one per server that is down
    assert {i["is_drill"] for i in recovered["recovery_instances"]} == {False}


def test_servers_still_syncing_get_no_advice_about_servers_that_are_down(emulator_factory):
    emu = emulator_factory({"region": REGION, "source_servers": [{"hostname": "new-01", "state": "INITIAL_SYNC"}]})

    (server,) = emu.client("drs", region=REGION).describe_source_servers(filters={})["items"]

    refused = run(emu, source_server_ids=[server["sourceServerID"]])

    assert "data replication is INITIAL_SYNC, not CONTINUOUS" in refused["msg"]
    assert "require_continuous" not in refused["msg"]
    assert mutating(emu) == []
