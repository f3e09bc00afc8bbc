"""The drill/recovery core against the emulator: choosing, planning, quotas, safe sending, cleanup.

Time is virtual: the core's ``sleep`` advances the emulator's clock. The emulator's call
log shows which DRS operations were sent; DescribeJobs shows which jobs exist.
"""

from __future__ import annotations

from datetime import datetime

import pytest

from ansible_collections.drs.orchestration.plugins.module_utils import failback, recovery
from ansible_collections.drs.orchestration.plugins.module_utils.aws import Clients, chunked
from ansible_collections.drs.orchestration.plugins.module_utils.errors import (
    AmbiguousCallError,
    ConflictError,
    DrsOrchestrationError,
    InputError,
    NotFoundError,
    WaitTimeout,
)
from ansible_collections.drs.orchestration.plugins.module_utils.jobs import describe_jobs
from ansible_collections.drs.orchestration.plugins.module_utils.timeutil import parse_datetime
from emulator.testing import shared_session
from tests.failback_fleets import RECOVERY, aws_fleet, last_seq, mutating, on_prem_fleet

REGION = "us-west-2"
TIMING = {"job_start_seconds": 10, "launch_seconds": 300, "terminate_seconds": 60}
MUTATING = ("StartRecovery", "TerminateRecoveryInstances")


def servers(count, **spec):
    return [{"tags": {"app": "pay"}, **spec} for _ in range(count)]


class Env:
    """An emulator, clients on it, virtual time, and what DRS did."""

    def __init__(self, factory, source_servers, timing=None):
        fleet = {"region": REGION, "timing": {**TIMING, **(timing or {})}, "source_servers": source_servers}
        self.emu = factory(fleet)
        self.clients = Clients.from_session(shared_session(), region=REGION, endpoint_url=self.emu.endpoint)
        self.drs = self.emu.client("drs", region=REGION)
        self.now = 0.0
        pages = self.drs.get_paginator("describe_source_servers").paginate(filters={})
        found = [s for page in pages for s in page["items"]]
        self.ids = [s["sourceServerID"] for s in sorted(found, key=lambda s: recovery.hostname(s))]
        self.emu.world.reset_calls()  # the call log shows what the core sent, from here on

    def clock(self):
        return self.now

    def sleep(self, seconds):
        self.now += seconds
        self.emu.advance(seconds)

    def launch(self, ids=None, **options):
        options.setdefault("poll_interval", 15)
        if "source_server_tags" not in options:
            ids = self.ids if ids is None else ids
        return recovery.launch_recovery(self.clients, REGION, ids, clock=self.clock, sleep=self.sleep, **options)

    def remove(self, **options):
        options.setdefault("poll_interval", 15)
        return recovery.remove_recovery(self.clients, REGION, clock=self.clock, sleep=self.sleep, **options)

    def sent(self, operation="StartRecovery"):
        return [c["params"] for c in self.emu.calls("drs", operation)]

    def jobs(self, **filters):
        return describe_jobs(self.clients, REGION, **filters)

    def foreign_job(self, ids, drill=True):
        """A job someone else started (not through the core)."""
        return self.drs.start_recovery(sourceServers=[{"sourceServerID": i} for i in ids], isDrill=drill)["job"]


def max_overlap(jobs):
    """The most jobs that were active at the same moment (from their creation and end times)."""
    spans = [(j["creation_time"], j["end_time"] or "9999") for j in jobs]
    return max(sum(1 for start, end in spans if start <= moment < end) for moment, _ in spans)


# --- Choosing and planning -------------------------------------------------------------------


def test_servers_are_chosen_by_tags_with_one_sweep(emulator_factory):
    env = Env(emulator_factory, servers(3) + [{"tags": {"app": "erp"}}])

    chosen = recovery.select_source_servers(env.clients, REGION, source_server_tags={"app": "pay"})

    assert len(chosen) == 3
    assert {s["tags"]["app"] for s in chosen} == {"pay"}
    assert env.sent("DescribeSourceServers") == [{"filters": {}}]


@pytest.mark.parametrize(
    ("ids", "tags", "error", "message"),
    [
        (["s-00000000000000000"], None, NotFoundError, "has no source server s-00000000000000000"),
        (None, {"app": "nope"}, NotFoundError, "No source server in us-west-2 has the tags app=nope"),
        (["server-1"], None, InputError, "'server-1' is not a DRS source server ID"),
        (None, None, InputError, "give source_server_ids or source_server_tags"),
    ],
)
def test_choosing_unknown_or_no_servers_fails_clearly(emulator_factory, ids, tags, error, message):
    env = Env(emulator_factory, servers(1))

    with pytest.raises(error, match=message):
        env.launch(ids, source_server_tags=tags) if tags else env.launch(ids or [])
    assert not any(env.sent(op) for op in MUTATING)


def test_plan_classifies_each_server_and_batches_the_launches():
    def server(sid, state="CONTINUOUS"):
        return {"sourceServerID": sid, "dataReplicationInfo": {"dataReplicationState": state}}

    drill_job = {"job_id": "drsjob-a", "type": "LAUNCH", "initiated_by": "START_DRILL", "status": "STARTED"}
    terminate_job = {"job_id": "drsjob-t", "type": "TERMINATE", "initiated_by": "TERMINATE_RECOVERY_INSTANCES"}
    terminate_job["status"] = "STARTED"
    live = {"recovery_instance_id": "i-11111111", "is_drill": True, "ec2_instance_state": "RUNNING"}
    gone = {"recovery_instance_id": "i-22222222", "is_drill": True, "ec2_instance_state": "TERMINATED"}
    plan = recovery.plan_launch(
        [server("s-1"), server("s-2"), server("s-3"), server("s-4"), server("s-5"), server("s-6", "STALLED")]
        + [server(f"s-{n}") for n in range(7, 10)],
        {"s-1": drill_job, "s-2": terminate_job},
        {"s-3": [live], "s-4": [gone]},
        drill=True,
        servers_per_job=2,
    )

    actions = {e["source_server_id"]: e["action"] for e in plan["servers"]}
    assert actions == {
        "s-1": "reattach",
        "s-2": "wait",
        "s-3": "present",
        "s-4": "launch",
        "s-5": "launch",
        "s-6": "not_ready",
        "s-7": "launch",
        "s-8": "launch",
        "s-9": "launch",
    }
    assert plan["reattach"] == [{"job_id": "drsjob-a", "source_server_ids": ["s-1"]}]
    assert plan["new_jobs"] == [["s-4", "s-5"], ["s-7", "s-8"], ["s-9"]]
    assert plan["wait_for"] == ["drsjob-t"]
    reasons = {e["source_server_id"]: e.get("reason") for e in plan["servers"]}
    assert reasons["s-2"] == (
        "in job drsjob-t (TERMINATE, TERMINATE_RECOVERY_INSTANCES, STARTED): planned again once it completes"
    )
    assert reasons["s-6"] == "data replication is STALLED, not CONTINUOUS"


def test_instances_of_an_earlier_cycle_do_not_make_their_server_present():
    server = {"sourceServerID": "s-1", "dataReplicationInfo": {"dataReplicationState": "CONTINUOUS"}}
    old = {"recovery_instance_id": "i-11111111", "is_drill": False, "ec2_instance_state": "RUNNING"}
    plan = recovery.plan_launch([server], {}, {"s-1": [old]}, drill=False, earlier_cycle={"i-11111111"})
    assert plan["servers"][0]["action"] == "launch"
    assert plan["servers"][0]["earlier_cycle_instance_ids"] == ["i-11111111"]
    assert recovery.plan_launch([server], {}, {"s-1": [old]}, drill=False)["servers"][0]["action"] == "present"


def test_a_production_recovery_needs_a_confirmation():
    with pytest.raises(InputError, match="Set confirm_production_recovery: true"):
        recovery.check_production_confirmed(drill=False, confirmed=False)
    recovery.check_production_confirmed(drill=False, confirmed=True)
    recovery.check_production_confirmed(drill=True, confirmed=False)


# --- Launching ------------------------------------------------------------------------------


def test_a_drill_launches_waits_and_reports_each_server(emulator_factory):
    env = Env(emulator_factory, servers(2) + servers(1, origin="AWS", origin_region="us-east-1"))

    result = env.launch(tags={"change": "CHG1"})

    assert result["changed"] is True
    (sent,) = env.sent()
    assert sent["isDrill"] is True
    assert sent["tags"] == {"change": "CHG1"}
    assert sorted(s["sourceServerID"] for s in sent["sourceServers"]) == sorted(env.ids)
    assert [s["action"] for s in result["servers"]] == ["launch"] * 3
    assert {s["launch_status"] for s in result["servers"]} == {"LAUNCHED"}
    assert {s["ec2_instance_state"] for s in result["servers"]} == {"RUNNING"}
    assert sorted(i["source_server_id"] for i in result["recovery_instances"]) == sorted(env.ids)
    assert {i["is_drill"] for i in result["recovery_instances"]} == {True}
    assert {i["origin_environment"] for i in result["recovery_instances"]} == {"AWS", "ON_PREMISES"}
    assert result["jobs"][0]["status"] == "COMPLETED"
    assert result["failures"] == []


def test_running_again_launches_nothing(emulator_factory):
    env = Env(emulator_factory, servers(2))
    first = env.launch()

    again = env.launch()

    assert again["changed"] is False
    assert [s["action"] for s in again["servers"]] == ["present", "present"]
    assert len(env.sent()) == 1
    assert {i["recovery_instance_id"] for i in again["recovery_instances"]} == {
        i["recovery_instance_id"] for i in first["recovery_instances"]
    }


def test_relaunch_starts_a_new_drill_over_existing_instances(emulator_factory):
    env = Env(emulator_factory, servers(2))
    env.launch()

    result = env.launch(relaunch=True)

    assert result["changed"] is True
    assert len(env.sent()) == 2
    assert [s["action"] for s in result["servers"]] == ["launch", "launch"]


def test_check_mode_shows_the_jobs_and_sends_nothing(emulator_factory):
    env = Env(emulator_factory, servers(250))

    result = env.launch(check_mode=True)

    assert result["changed"] is True
    assert [len(batch) for batch in result["plan"]["new_jobs"]] == [100, 100, 50]
    assert sorted(sum(result["plan"]["new_jobs"], [])) == sorted(env.ids)
    assert result["jobs"] == []
    assert not any(env.sent(op) for op in MUTATING)


def test_a_production_recovery_starts_a_recovery_job(emulator_factory):
    env = Env(emulator_factory, servers(1))

    result = env.launch(drill=False)

    assert env.sent()[0]["isDrill"] is False
    assert result["jobs"][0]["initiated_by"] == "START_RECOVERY"
    assert result["recovery_instances"][0]["is_drill"] is False


def test_servers_not_ready_stop_the_run_before_anything_is_sent(emulator_factory):
    env = Env(emulator_factory, servers(2) + servers(1, state="INITIAL_SYNC", hostname="late-01"))

    with pytest.raises(ConflictError) as info:
        env.launch()

    assert "1 of 3 source server(s) are not ready" in info.value.message
    assert "(late-01): data replication is INITIAL_SYNC, not CONTINUOUS" in info.value.message
    assert "skip_not_ready: true" in info.value.message
    assert [e["hostname"] for e in info.value.details["not_ready"]] == ["late-01"]
    assert env.sent() == []


def test_skip_not_ready_launches_the_others_and_reports_the_rest(emulator_factory):
    env = Env(emulator_factory, servers(2) + servers(1, state="INITIAL_SYNC", hostname="late-01"))

    result = env.launch(skip_not_ready=True, wait=False)

    assert len(env.sent()[0]["sourceServers"]) == 2
    assert [e["hostname"] for e in result["not_ready"]] == ["late-01"]


def test_a_disconnected_server_launches_from_its_last_snapshot_when_allowed(emulator_factory):
    env = Env(
        emulator_factory,
        [{"hostname": "cut-off", "state": "DISCONNECTED"}, {"hostname": "new", "state": "INITIAL_SYNC"}],
    )

    with pytest.raises(ConflictError):
        env.launch()
    result = env.launch(require_continuous=False, skip_not_ready=True)

    by_host = {s["hostname"]: s for s in result["servers"]}
    assert by_host["cut-off"]["launch_status"] == "LAUNCHED"
    assert by_host["new"]["reason"] == "data replication is INITIAL_SYNC and it has no snapshot"
    snapshot_checks = env.sent("DescribeRecoverySnapshots")
    assert [c["order"] for c in snapshot_checks] == ["DESC", "DESC"]


def test_a_chosen_snapshot_is_checked_and_launched_from(emulator_factory):
    env = Env(emulator_factory, servers(2))
    server = env.ids[0]
    snapshots = env.drs.describe_recovery_snapshots(sourceServerID=server, order="ASC")["items"]
    chosen = snapshots[0]

    result = env.launch(snapshot_ids={server: chosen["snapshotID"]})

    requested = {s["sourceServerID"]: s.get("recoverySnapshotID") for s in env.sent()[0]["sourceServers"]}
    assert requested == {server: chosen["snapshotID"], env.ids[1]: None}
    instance = next(i for i in result["recovery_instances"] if i["source_server_id"] == server)
    assert datetime.fromisoformat(instance["point_in_time_snapshot_time"]) == datetime.fromisoformat(
        chosen["expectedTimestamp"].replace("Z", "+00:00")
    )


@pytest.mark.parametrize(
    ("snapshot_ids", "error", "message"),
    [
        ({0: "pit-00000000000000000"}, NotFoundError, "pit-00000000000000000 is not a recovery snapshot of"),
        ({0: "snap-1"}, InputError, "'snap-1' is not a DRS recovery snapshot ID"),
        ({"s-00000000000000000": "pit-00000000000000000"}, InputError, "not among the selected source servers"),
    ],
)
def test_a_wrong_snapshot_fails_before_launching(emulator_factory, snapshot_ids, error, message):
    env = Env(emulator_factory, servers(1))
    snapshot_ids = {env.ids[0] if key == 0 else key: value for key, value in snapshot_ids.items()}

    with pytest.raises(error, match=message):
        env.launch(snapshot_ids=snapshot_ids)
    assert env.sent() == []


def test_a_failed_launch_is_reported_with_the_reason_from_the_job_log(emulator_factory):
    # The oldest snapshot expires while the job is pending: DRS cannot launch from it.
    env = Env(emulator_factory, servers(2), timing={"snapshot_retention_seconds": 3600, "job_start_seconds": 900})
    server = env.ids[0]
    oldest = env.drs.describe_recovery_snapshots(sourceServerID=server, order="ASC")["items"][0]

    with pytest.raises(DrsOrchestrationError) as info:
        env.launch(snapshot_ids={server: oldest["snapshotID"]})

    assert f"1 of 2 source server(s) failed to launch in {REGION}: {server}: USING_PREVIOUS_SNAPSHOT_FAILED" in (
        info.value.message
    )
    assert [f["source_server_id"] for f in info.value.details["failures"]] == [server]
    launched = [s for s in info.value.details["servers"] if s["launch_status"] == "LAUNCHED"]
    assert [s["source_server_id"] for s in launched] == [env.ids[1]]


# --- Quotas ---------------------------------------------------------------------------------


def test_250_servers_go_into_3_jobs_at_once(emulator_factory):
    env = Env(emulator_factory, servers(250))

    result = env.launch()

    assert [len(c["sourceServers"]) for c in env.sent()] == [100, 100, 50]
    assert len(result["jobs"]) == 3
    assert sum(s["launch_status"] == "LAUNCHED" for s in result["servers"]) == 250


def test_jobs_wait_for_a_slot_and_never_reach_the_concurrent_job_quota(emulator_factory):
    env = Env(emulator_factory, servers(250) + [{"tags": {"app": "other"}} for _ in range(17)])
    others = [s["sourceServerID"] for s in recovery.select_source_servers(env.clients, REGION, None, {"app": "other"})]
    foreign = {env.foreign_job([sid])["jobID"] for sid in others}  # 17 single-server jobs of someone else

    result = env.launch(source_server_tags={"app": "pay"})

    every_job = env.jobs()
    ours = [j for j in every_job if j["job_id"] not in foreign]
    assert sorted(len(j["participating_servers"]) for j in ours) == [50, 100, 100]
    assert {j["job_id"] for j in ours} == {j["job_id"] for j in result["jobs"]}
    assert max_overlap(every_job) == 19  # 17 + 2 of ours; the third waited
    first_foreign_end = min(j["end_time"] for j in every_job if j["job_id"] in foreign)
    assert max(j["creation_time"] for j in ours) >= first_foreign_end
    assert not [c for c in env.emu.calls("drs", "StartRecovery") if c["error"]]


def test_jobs_wait_while_500_servers_are_in_active_jobs(emulator_factory):
    env = Env(emulator_factory, servers(100) + [{"tags": {"app": "other"}} for _ in range(450)])
    others = [s["sourceServerID"] for s in recovery.select_source_servers(env.clients, REGION, None, {"app": "other"})]
    foreign = {env.foreign_job(batch)["jobID"] for batch in chunked(others, 90)}

    # each poll reads those 450 servers' jobs: one a minute finds the slot and the end of our job as surely
    result = env.launch(source_server_tags={"app": "pay"}, poll_interval=60)

    (ours,) = result["jobs"]
    ended = max(j["end_time"] for j in env.jobs(job_ids=list(foreign)))
    assert ours["creation_time"] >= ended
    assert not [c for c in env.emu.calls("drs", "StartRecovery") if c["error"]]


def test_max_concurrent_jobs_below_the_quota_is_respected(emulator_factory):
    env = Env(emulator_factory, servers(30))

    env.launch(servers_per_job=5, max_concurrent_jobs=2)

    every_job = env.jobs()
    assert len(every_job) == 6
    assert max_overlap(every_job) == 2


@pytest.mark.parametrize(
    ("options", "message"),
    [
        ({"servers_per_job": 101}, "servers_per_job must be between 1 and 100, got 101"),
        ({"max_concurrent_jobs": 20}, "max_concurrent_jobs must be between 1 and 19, got 20"),
    ],
)
def test_limits_above_the_quotas_are_refused(emulator_factory, options, message):
    env = Env(emulator_factory, servers(1))

    with pytest.raises(InputError, match=message):
        env.launch(**options)


# --- A second disaster: instances of an earlier recovery cycle -------------------------------------


class Cycle:
    """A failback fleet (tests.failback_fleets) on virtual time, driven by the recovery and failback cores."""

    def __init__(self, factory, fleet):
        self.emu = factory(fleet)
        self.clients = Clients.from_session(shared_session(), region=RECOVERY, endpoint_url=self.emu.endpoint)
        self.drs = self.emu.client("drs", region=RECOVERY)
        self.now = 0.0
        (self.server,) = [s["sourceServerID"] for s in self.drs.describe_source_servers(filters={})["items"]]

    def clock(self):
        return self.now

    def sleep(self, seconds):
        self.now += seconds
        self.emu.advance(seconds)

    def recover(self, **options):
        """drs_recovery drill: false for the source server."""
        return recovery.launch_recovery(
            self.clients, RECOVERY, [self.server], drill=False, clock=self.clock, sleep=self.sleep, **options
        )

    def fail_back(self, rid):
        return failback.ensure_failback(
            self.clients,
            RECOVERY,
            [rid],
            state="protected",
            drill=False,
            confirm_production=True,
            poll_interval=30,
            clock=self.clock,
            sleep=self.sleep,
        )


def test_after_a_failback_a_second_production_recovery_launches_and_a_rerun_launches_nothing(emulator_factory):
    cycle = Cycle(emulator_factory, aws_fleet())
    first = cycle.recover()["recovery_instances"][0]["recovery_instance_id"]
    assert cycle.fail_back(first)["reached"] is True  # failed back and re-protected; the first instance still runs
    mark = last_seq(cycle.emu)

    plan = cycle.recover(check_mode=True)
    second = cycle.recover()
    again = cycle.recover()

    assert (plan["changed"], [e["action"] for e in plan["servers"]]) == (True, ["launch"])
    (entry,) = second["servers"]
    assert (second["changed"], entry["action"], entry["earlier_cycle_instance_ids"]) == (True, "launch", [first])
    assert entry["recovery_instance_id"] != first
    assert (again["changed"], [(e["action"], e["recovery_instance_id"]) for e in again["servers"]]) == (
        False,
        [("present", entry["recovery_instance_id"])],
    )
    assert mutating(cycle.emu, mark) == [
        ("StartRecovery", RECOVERY, {"sourceServers": [{"sourceServerID": cycle.server}], "isDrill": False})
    ]


def test_after_an_on_premises_failback_a_second_production_recovery_launches(emulator_factory):
    cycle = Cycle(emulator_factory, on_prem_fleet())
    first = cycle.recover()["recovery_instances"][0]["recovery_instance_id"]
    cycle.emu.admin.service("drs", "pair-failback-client", recoveryInstanceID=first)
    launched = failback.ensure_failback(
        cycle.clients, RECOVERY, [first], state="launched", drill=False, confirm_production=True,
        poll_interval=30, clock=cycle.clock, sleep=cycle.sleep,
    )  # fmt: skip
    assert launched["recovery_instances"][0]["failback_state"] == "FAILBACK_COMPLETED"
    mark = last_seq(cycle.emu)

    second = cycle.recover()
    again = cycle.recover()

    assert [(e["action"], e["earlier_cycle_instance_ids"]) for e in second["servers"]] == [("launch", [first])]
    assert [e["action"] for e in again["servers"]] == ["present"]
    assert [op for op, _, _ in mutating(cycle.emu, mark)] == ["StartRecovery"]


@pytest.mark.parametrize("fleet", [aws_fleet, on_prem_fleet], ids=["aws", "on-premises"])
def test_a_replication_restarted_by_hand_without_a_failback_keeps_the_recovery_instance_present(
    emulator_factory, fleet
):
    cycle = Cycle(emulator_factory, fleet())
    first = cycle.recover()["recovery_instances"][0]["recovery_instance_id"]
    cycle.drs.stop_replication(sourceServerID=cycle.server)
    cycle.drs.start_replication(sourceServerID=cycle.server)
    cycle.sleep(3600)
    mark = last_seq(cycle.emu)

    again = cycle.recover()

    assert [(e["action"], e["recovery_instance_id"]) for e in again["servers"]] == [("present", first)]
    assert mutating(cycle.emu, mark) == []


def test_a_recovery_from_an_older_snapshot_counts_from_its_launch_not_its_point_in_time(emulator_factory):
    # the server was failed back once (its replication restarted with re-protection); the second disaster is
    # recovered from a snapshot older than that restart: a re-run must not take it for an earlier cycle's
    cycle = Cycle(emulator_factory, aws_fleet())
    first = cycle.recover()["recovery_instances"][0]["recovery_instance_id"]
    cycle.fail_back(first)
    snapshots = cycle.drs.describe_recovery_snapshots(sourceServerID=cycle.server, order="ASC")["items"]
    options = {"snapshot_ids": {cycle.server: snapshots[0]["snapshotID"]}}
    second = cycle.recover(**options)["recovery_instances"][0]
    started = cycle.drs.describe_source_servers(filters={})["items"][0]["dataReplicationInfo"]
    restarted = parse_datetime(started["dataReplicationInitiation"]["startDateTime"])
    assert parse_datetime(second["point_in_time_snapshot_time"]) < restarted
    mark = last_seq(cycle.emu)

    again = cycle.recover(**options)

    assert [(e["action"], e["recovery_instance_id"]) for e in again["servers"]] == [
        ("present", second["recovery_instance_id"])
    ]
    assert mutating(cycle.emu, mark) == []


# --- Interruptions, lost answers, races ---------------------------------------------------------


def test_a_drill_launched_while_its_instances_are_being_terminated_waits_for_that_job_then_launches(
    emulator_factory,
):
    # the drill role run again while the TERMINATE job of its previous run still runs
    env = Env(emulator_factory, servers(2))
    ids = [i["recovery_instance_id"] for i in env.launch()["recovery_instances"]]
    (terminating,) = env.remove(recovery_instance_ids=ids, wait=False)["jobs"]

    plan = env.launch(check_mode=True)
    result = env.launch()

    assert plan["changed"] is True
    assert [(e["action"], e["job_id"]) for e in plan["servers"]] == [("wait", terminating["job_id"])] * 2
    assert [e["action"] for e in result["servers"]] == ["launch", "launch"]
    assert {e["launch_status"] for e in result["servers"]} == {"LAUNCHED"}
    assert not {i["recovery_instance_id"] for i in result["recovery_instances"]} & set(ids)
    (terminated,) = env.jobs(job_type="TERMINATE")
    (launched,) = [j for j in env.jobs(job_type="LAUNCH") if j["job_id"] == result["jobs"][0]["job_id"]]
    assert terminated["end_time"] <= launched["creation_time"]  # DRS took the launch: no ConflictException
    assert len(env.sent()) == 2
    assert [c["error"] for c in env.emu.calls("drs", "StartRecovery")] == [None, None]


def test_a_termination_that_outlasts_the_wait_timeout_fails_saying_nothing_was_launched(emulator_factory):
    env = Env(emulator_factory, servers(1))
    ids = [i["recovery_instance_id"] for i in env.launch()["recovery_instances"]]
    env.remove(recovery_instance_ids=ids, wait=False)

    with pytest.raises(WaitTimeout, match="are in these TERMINATE job.* Nothing was launched; run again later."):
        env.launch(wait_timeout=5)
    assert len(env.sent()) == 1


def test_terminating_a_drill_while_a_job_runs_for_its_source_server_is_refused_before_any_call(emulator_factory):
    env = Env(emulator_factory, servers(1))
    (drill,) = [i["recovery_instance_id"] for i in env.launch()["recovery_instances"]]
    job = env.foreign_job(env.ids, drill=False)  # someone's recovery of the same source server

    with pytest.raises(ConflictError) as refused:
        env.remove(recovery_instance_ids=[drill])

    assert refused.value.message == (
        f"Cannot terminate now: {drill} (its source server {env.ids[0]} is in {job['jobID']} (LAUNCH, "
        "START_RECOVERY, PENDING)). Wait for the job(s) to finish (drs_job_info), then run again."
    )
    assert env.sent("TerminateRecoveryInstances") == []


def test_a_run_interrupted_after_starting_is_resumed_without_a_second_job(emulator_factory):
    env = Env(emulator_factory, servers(3))
    started = env.launch(wait=False)  # the playbook stops here (killed, timed out ...)

    resumed = env.launch()

    assert len(env.sent()) == 1
    assert resumed["changed"] is False
    assert [s["action"] for s in resumed["servers"]] == ["reattach"] * 3
    assert [j["job_id"] for j in resumed["jobs"]] == [j["job_id"] for j in started["jobs"]]
    assert {s["launch_status"] for s in resumed["servers"]} == {"LAUNCHED"}


@pytest.mark.parametrize("mode", ["disconnect", "after"])
def test_a_lost_answer_is_reconciled_not_sent_again(emulator_factory, mode):
    env = Env(emulator_factory, servers(3))
    env.emu.admin.faults(fail_next={"drs:StartRecovery": {"mode": mode}})

    result = env.launch()

    assert len(env.sent()) == 1
    assert len(env.jobs()) == 1
    assert result["changed"] is True
    assert {s["launch_status"] for s in result["servers"]} == {"LAUNCHED"}
    # The source servers' last launch pointed at the job, which was then read by its ID.
    assert set(env.sent("DescribeSourceServers")[-1]["filters"]["sourceServerIDs"]) == set(env.ids)
    assert any(c.get("filters", {}).get("jobIDs") == [result["jobs"][0]["job_id"]] for c in env.sent("DescribeJobs"))


def test_without_a_launch_pointer_the_recent_jobs_find_the_lost_job(emulator_factory, monkeypatch):
    env = Env(emulator_factory, servers(2))
    monkeypatch.setattr(recovery, "last_launch_job_id", lambda server: None)
    env.emu.admin.faults(fail_next={"drs:StartRecovery": {"mode": "disconnect"}})

    result = env.launch()

    assert len(env.sent()) == 1
    assert len(env.jobs()) == 1
    assert {s["launch_status"] for s in result["servers"]} == {"LAUNCHED"}


def test_a_call_that_did_not_execute_is_sent_again_after_looking(emulator_factory):
    env = Env(emulator_factory, servers(2))
    env.emu.admin.faults(fail_next={"drs:StartRecovery": {"mode": "before"}})

    result = env.launch()

    assert len(env.sent()) == 2  # the first failed before executing: DRS showed no job
    assert len(env.jobs()) == 1
    assert {s["launch_status"] for s in result["servers"]} == {"LAUNCHED"}


def test_a_call_that_never_executes_ends_with_an_ambiguous_error(emulator_factory):
    env = Env(emulator_factory, servers(1))
    env.emu.admin.faults(fail_next={"drs:StartRecovery": {"mode": "before", "count": 2}})

    with pytest.raises(AmbiguousCallError, match="failed twice without a usable answer"):
        env.launch()
    assert env.jobs() == []


def test_throttled_launches_are_sent_again(emulator_factory):
    env = Env(emulator_factory, servers(2))
    env.emu.admin.faults(throttle_next={"drs:StartRecovery": 2})

    result = env.launch()

    assert len(env.emu.calls("drs", "StartRecovery")) == 3
    assert len(env.jobs()) == 1
    assert result["changed"] is True


class Racing:
    """A writer client whose StartRecovery loses a race: someone starts a job for the servers first."""

    def __init__(self, env, drill):
        self.real = env.clients.writer("drs", REGION)
        self.env = env
        self.drill = drill

    def start_recovery(self, **params):
        self.env.foreign_job([s["sourceServerID"] for s in params["sourceServers"]], drill=self.drill)
        return self.real.start_recovery(**params)


def test_losing_a_race_to_the_same_drill_reattaches_to_it(emulator_factory, monkeypatch):
    env = Env(emulator_factory, servers(2))
    racing = Racing(env, drill=True)
    monkeypatch.setattr(env.clients, "writer", lambda service, region=None: racing)

    result = env.launch()

    assert [c["error"] for c in env.emu.calls("drs", "StartRecovery")] == [None, "ConflictException"]
    assert len(env.jobs()) == 1
    assert result["changed"] is False  # the job is someone else's
    assert {s["launch_status"] for s in result["servers"]} == {"LAUNCHED"}


def test_losing_a_race_to_another_kind_of_job_fails_with_drs_message(emulator_factory, monkeypatch):
    env = Env(emulator_factory, servers(1))
    racing = Racing(env, drill=False)
    monkeypatch.setattr(env.clients, "writer", lambda service, region=None: racing)

    with pytest.raises(ConflictError) as info:
        env.launch()

    (job,) = env.jobs()
    assert f"refused a drill job for 1 source server(s) ({env.ids[0]})" in info.value.message
    assert "already participates in job" in info.value.message  # DRS's own words
    assert f"{job['job_id']} (LAUNCH, START_RECOVERY, PENDING)" in info.value.message
    assert "Wait for those jobs to finish" in info.value.message


def test_a_server_busy_in_another_kind_of_job_is_not_ready(emulator_factory):
    env = Env(emulator_factory, servers(1))
    job = env.foreign_job(env.ids, drill=False)

    with pytest.raises(ConflictError, match=f"in job {job['jobID']} \\(LAUNCH, START_RECOVERY, PENDING\\)"):
        env.launch()
    assert len(env.sent()) == 1


# --- Terminating ------------------------------------------------------------------------------


def test_drill_instances_are_terminated_and_gone(emulator_factory):
    env = Env(emulator_factory, servers(3))
    launched = env.launch()
    instance_ids = sorted(i["recovery_instance_id"] for i in launched["recovery_instances"])

    result = env.remove(source_server_tags={"app": "pay"})

    assert result["changed"] is True
    assert sorted(result["terminated"]) == instance_ids
    (sent,) = env.sent("TerminateRecoveryInstances")
    assert sorted(sent["recoveryInstanceIDs"]) == instance_ids
    assert env.drs.describe_recovery_instances(filters={})["items"] == []
    again = env.remove(source_server_tags={"app": "pay"})
    assert again["changed"] is False
    assert len(env.sent("TerminateRecoveryInstances")) == 1


def test_terminating_by_id_reports_ids_already_gone(emulator_factory):
    env = Env(emulator_factory, servers(1))
    (instance,) = env.launch()["recovery_instances"]
    env.remove(recovery_instance_ids=[instance["recovery_instance_id"]])

    again = env.remove(recovery_instance_ids=[instance["recovery_instance_id"]])

    assert again["changed"] is False
    assert again["already_absent"] == [instance["recovery_instance_id"]]


def test_production_recovery_instances_are_never_terminated_by_default(emulator_factory):
    env = Env(emulator_factory, servers(1))
    (instance,) = env.launch(drill=False)["recovery_instances"]
    rid = instance["recovery_instance_id"]

    with pytest.raises(InputError, match=f"Refusing to terminate {rid}: not drill instances"):
        env.remove(recovery_instance_ids=[rid])
    with pytest.raises(InputError, match="Set terminate_non_drill: true to confirm"):
        env.remove(source_server_ids=env.ids, drill=False)
    drill_only = env.remove(source_server_ids=env.ids)  # the servers have no drill instance: nothing to do
    assert drill_only["changed"] is False
    assert env.sent("TerminateRecoveryInstances") == []

    result = env.remove(recovery_instance_ids=[rid], terminate_non_drill=True)

    assert result["terminated"] == [rid]


def test_terminate_check_mode_sends_nothing(emulator_factory):
    env = Env(emulator_factory, servers(2))
    env.launch()

    result = env.remove(source_server_tags={"app": "pay"}, check_mode=True)

    assert result["changed"] is True
    assert len(result["plan"]["new_jobs"][0]) == 2
    assert env.sent("TerminateRecoveryInstances") == []


def test_terminating_reattaches_to_a_running_termination(emulator_factory):
    env = Env(emulator_factory, servers(2))
    ids = [i["recovery_instance_id"] for i in env.launch()["recovery_instances"]]
    env.remove(recovery_instance_ids=ids, wait=False)

    result = env.remove(recovery_instance_ids=ids)

    assert len(env.sent("TerminateRecoveryInstances")) == 1
    assert result["changed"] is False
    assert sorted(result["terminated"]) == sorted(ids)


def test_terminating_an_instance_still_being_launched_is_a_conflict(emulator_factory):
    env = Env(emulator_factory, servers(1))
    env.launch(wait=False)
    env.sleep(200)  # the instance exists, the launch job still runs
    (instance,) = env.drs.describe_recovery_instances(filters={})["items"]

    with pytest.raises(ConflictError, match=f"{instance['recoveryInstanceID']} in drsjob-.*LAUNCH"):
        env.remove(recovery_instance_ids=[instance["recoveryInstanceID"]])
    assert env.sent("TerminateRecoveryInstances") == []


def test_a_lost_terminate_answer_is_reconciled(emulator_factory):
    env = Env(emulator_factory, servers(2))
    ids = [i["recovery_instance_id"] for i in env.launch()["recovery_instances"]]
    env.emu.admin.faults(fail_next={"drs:TerminateRecoveryInstances": {"mode": "disconnect"}})

    result = env.remove(recovery_instance_ids=ids)

    assert len(env.sent("TerminateRecoveryInstances")) == 1
    assert sorted(result["terminated"]) == sorted(ids)
