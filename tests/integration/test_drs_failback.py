"""drs_failback through the module (as Ansible runs it) and the failback playbook, against the emulator.

The emulator's call log proves which DRS operations each path sends: reverse replication
is ``ReverseReplication`` (never ``StartReplication``), the AWS-origin failback launch is
``StartRecovery`` in the origin Region, the on-premises one ``StartFailbackLaunch``; an
interrupted and re-run module or playbook sends none of them twice. Waits run on the
emulator's fast clock with sub-second polls; where a test must look before the clock moves
on, it starts the clock only after that look.
"""

from __future__ import annotations

from ansible_collections.drs.orchestration.plugins.modules import drs_failback
from tests.failback_fleets import (
    ORIGIN,
    RECOVERY,
    aws_fleet,
    last_seq,
    mutating,
    on_prem_fleet,
    recover,
    recover_again,
)
from tests.module_harness import REPO, emulator_args, run_module, run_playbook

# Virtual seconds per real second: a 0.1 s poll is a minute of DRS time, so a reverse replication
# (about 70 s on the FAST timings) or a failback launch job (45 s) is over after two or three polls.
SPEED = 600


def run(emu, check_mode=False, **options):
    args = {**emulator_args(emu, RECOVERY), "poll_interval": 0.1, "wait_timeout": 120, **options}
    return run_module(drs_failback, args, check_mode=check_mode)


def ok(result):
    assert result.get("failed") is not True, result.get("msg")
    return result


def only(result):
    (instance,) = result["recovery_instances"]
    return instance


# --- Every transition, origin AWS -------------------------------------------------------------------


def test_aws_origin_failback_cycle_sends_exactly_the_documented_calls(emulator_factory):
    emu = emulator_factory(aws_fleet(), speed=SPEED)
    (rid,) = recover(emu)

    mark = last_seq(emu)
    reversed_ = ok(run(emu, recovery_instance_ids=[rid], state="reversed", wait=False))
    assert reversed_["changed"] is True
    # the emulator's clock runs on while the module starts: replication may already be CONTINUOUS
    assert (only(reversed_)["phase_before"], only(reversed_)["reached"]) == ("not_reversed", True)
    assert only(reversed_)["phase"] in ("reversing", "ready")
    assert mutating(emu, mark) == [("ReverseReplication", RECOVERY, {"recoveryInstanceID": rid})]
    server = only(reversed_)["reversed_direction_source_server"]
    assert (server["region"], server["replication_direction"]) == (ORIGIN, "FAILBACK")

    ready = ok(run(emu, recovery_instance_ids=[rid], state="ready"))
    assert (ready["changed"], only(ready)["phase"], only(ready)["reverse_replication_status"]) == (
        False,
        "ready",
        "Ready",
    )

    mark = last_seq(emu)
    drill = ok(run(emu, recovery_instance_ids=[rid], state="launched"))
    assert drill["changed"] is True
    assert only(drill)["failback_instance"]["is_drill"] is True
    assert only(drill)["failback_instance"]["ec2_instance_state"] == "RUNNING"
    server_ref = {"sourceServers": [{"sourceServerID": server["source_server_id"]}]}
    assert mutating(emu, mark) == [("StartRecovery", ORIGIN, {**server_ref, "isDrill": True})]

    mark = last_seq(emu)
    protected = ok(run(emu, recovery_instance_ids=[rid], state="protected", drill=False, confirm_production=True))
    failback_instance = only(protected)["failback_instance"]
    assert (only(protected)["phase"], failback_instance["re_protection_state"]) == ("protected", "CONTINUOUS")
    assert mutating(emu, mark) == [
        ("StartRecovery", ORIGIN, {**server_ref, "isDrill": False}),
        ("ReverseReplication", ORIGIN, {"recoveryInstanceID": failback_instance["recovery_instance_id"]}),
    ]

    mark = last_seq(emu)
    for state, extra in (("protected", {"drill": False, "confirm_production": True}), ("launched", {}), ("ready", {})):
        again = ok(run(emu, recovery_instance_ids=[rid], state=state, **extra))
        assert again["changed"] is False, state
        assert again["reached"] is True
    assert mutating(emu, mark) == []
    assert emu.count("drs", "StartReplication") == 0


def test_re_running_the_failback_stages_after_a_completed_production_failback_changes_nothing(emulator_factory):
    emu = emulator_factory(aws_fleet(), speed=SPEED)
    (rid,) = recover(emu)
    production = {"drill": False, "confirm_production": True}
    ok(run(emu, recovery_instance_ids=[rid], state="protected", **production))
    # the operator stops the reverse replication of the recovery instance, now failed back
    ok(run(emu, recovery_instance_ids=[rid], state="stopped"))
    mark = last_seq(emu)

    # the failback role's stages (ready, then the launch state), with its drill choice or the module default
    for stage in (
        {"state": "ready", "drill": False},
        {"state": "ready"},
        {"state": "reversed"},
        {"state": "protected", **production},
    ):
        again = ok(run(emu, recovery_instance_ids=[rid], **stage))
        assert (again["changed"], again["reached"], only(again)["phase"]) == (False, True, "protected"), stage
    assert mutating(emu, mark) == []


def test_source_server_selection_fails_back_several_instances_with_one_reverse_call_each(emulator_factory):
    emu = emulator_factory(aws_fleet(3), speed=SPEED)
    ids = recover(emu)
    servers = [s["sourceServerID"] for s in emu.client("drs", region=RECOVERY).describe_source_servers()["items"]]
    mark = last_seq(emu)

    result = ok(run(emu, source_server_ids=servers, state="ready"))

    assert sorted(r["recovery_instance_id"] for r in result["recovery_instances"]) == ids
    assert result["summary"] == {"total": 3, "reached": 3, "by_phase": {"ready": 3}}
    assert sorted(p["recoveryInstanceID"] for _, _, p in mutating(emu, mark)) == ids


def test_source_server_selection_with_two_live_recovery_instances_fails_naming_both(emulator_factory):
    emu = emulator_factory(aws_fleet(), speed=SPEED)
    (first,) = recover(emu)
    (second,) = recover_again(emu)  # a second disaster: the first recovery instance is kept
    server = emu.client("drs", region=RECOVERY).describe_source_servers()["items"][0]["sourceServerID"]
    mark = last_seq(emu)

    for state in ("ready", "stopped"):
        result = run(emu, source_server_ids=[server], state=state)
        assert result["failed"] is True
        assert result["msg"].startswith(
            f"Cannot tell which recovery instance to fail back: source server {server} has 2"
        )
        assert "Name the instance to fail back with recovery_instance_ids" in result["msg"]
        assert sorted(c["recovery_instance_id"] for c in result["candidates"][server]) == sorted([first, second])
    assert mutating(emu, mark) == []


def test_stopping_reverse_replication_stops_the_reversed_server_once(emulator_factory):
    emu = emulator_factory(aws_fleet(), speed=SPEED)
    (rid,) = recover(emu)
    server = only(ok(run(emu, recovery_instance_ids=[rid], state="reversed", wait=False)))[
        "reversed_direction_source_server"
    ]["source_server_id"]
    mark = last_seq(emu)

    assert ok(run(emu, recovery_instance_ids=[rid], state="stopped"))["changed"] is True
    assert ok(run(emu, recovery_instance_ids=[rid], state="stopped"))["changed"] is False
    assert mutating(emu, mark) == [("StopReplication", ORIGIN, {"sourceServerID": server})]


# --- Every transition, origin on premises ----------------------------------------------------------


def test_on_premises_failback_waits_for_the_failback_client_then_launches_once(emulator_factory):
    emu = emulator_factory(on_prem_fleet(), speed=SPEED)
    (rid,) = recover(emu)

    unpaired = ok(run(emu, recovery_instance_ids=[rid], state="ready", wait=False))
    assert (unpaired["changed"], unpaired["reached"]) == (False, False)
    assert only(unpaired)["pending_action"].startswith("Boot the Failback Client")

    emu.admin.service("drs", "pair-failback-client", recoveryInstanceID=rid)
    ready = ok(run(emu, recovery_instance_ids=[rid], state="ready"))
    assert only(ready)["failback_state"] == "FAILBACK_READY_FOR_LAUNCH"

    mark = last_seq(emu)
    launched = ok(run(emu, recovery_instance_ids=[rid], state="launched", drill=False, confirm_production=True))
    assert (launched["changed"], only(launched)["failback_state"]) == (True, "FAILBACK_COMPLETED")
    assert mutating(emu, mark) == [("StartFailbackLaunch", RECOVERY, {"recoveryInstanceIDs": [rid]})]

    mark = last_seq(emu)
    assert (
        ok(run(emu, recovery_instance_ids=[rid], state="launched", drill=False, confirm_production=True))["changed"]
        is False
    )
    assert mutating(emu, mark) == []


def test_stopping_an_on_premises_failback_sends_stop_failback(emulator_factory):
    emu = emulator_factory(on_prem_fleet(), speed=SPEED)
    (rid,) = recover(emu)
    emu.admin.service("drs", "pair-failback-client", recoveryInstanceID=rid)
    mark = last_seq(emu)

    stopped = ok(run(emu, recovery_instance_ids=[rid], state="stopped"))

    assert only(stopped)["failback_state"] == "FAILBACK_NOT_STARTED"
    assert mutating(emu, mark) == [("StopFailback", RECOVERY, {"recoveryInstanceID": rid})]


# --- Check mode -------------------------------------------------------------------------------------


def test_check_mode_shows_every_call_with_region_and_parameters_and_sends_none(emulator_factory):
    emu = emulator_factory(aws_fleet(), speed=SPEED)
    (rid,) = recover(emu)
    mark = last_seq(emu)

    plan = ok(
        run(emu, check_mode=True, recovery_instance_ids=[rid], state="protected", drill=False, confirm_production=True)
    )

    assert plan["changed"] is True
    assert [(c["operation"], c["region"], c["parameters"], c["when"]) for c in plan["planned_calls"]] == [
        ("ReverseReplication", RECOVERY, {"recoveryInstanceID": rid}, "now"),
        (
            "StartRecovery",
            ORIGIN,
            {"sourceServers": [{"sourceServerID": f"<reversed-direction source server of {rid}>"}], "isDrill": False},
            f"after <reversed-direction source server of {rid}> is CONTINUOUS",
        ),
        (
            "ReverseReplication",
            ORIGIN,
            {"recoveryInstanceID": f"<failback instance launched from <reversed-direction source server of {rid}>>"},
            "after the failback launch job completes",
        ),
    ]
    assert plan["calls"] == []
    assert mutating(emu, mark) == []


def test_check_mode_of_a_reached_state_plans_nothing(emulator_factory):
    emu = emulator_factory(aws_fleet(), speed=SPEED)
    (rid,) = recover(emu)
    ok(run(emu, recovery_instance_ids=[rid], state="ready"))
    mark = last_seq(emu)

    plan = ok(run(emu, check_mode=True, recovery_instance_ids=[rid], state="ready"))

    assert (plan["changed"], plan["planned_calls"]) == (False, [])
    launch = ok(run(emu, check_mode=True, recovery_instance_ids=[rid], state="launched"))
    server = only(launch)["reversed_direction_source_server"]["source_server_id"]
    assert [(c["operation"], c["region"], c["parameters"], c["when"]) for c in launch["planned_calls"]] == [
        ("StartRecovery", ORIGIN, {"sourceServers": [{"sourceServerID": server}], "isDrill": True}, "now")
    ]
    assert mutating(emu, mark) == []


# --- The errors real DRS gives, each a clear message --------------------------------------------------


def test_unknown_recovery_instances_fail_with_their_ids(emulator_factory):
    emu = emulator_factory(aws_fleet(), speed=SPEED)
    result = run(emu, recovery_instance_ids=["i-0123456789abcdef0"], state="reversed")
    assert result["failed"] is True
    assert "does not know recovery instance(s) i-0123456789abcdef0" in result["msg"]
    assert mutating(emu) == []


def test_a_source_server_without_a_recovery_instance_is_named(emulator_factory):
    emu = emulator_factory(aws_fleet(), speed=SPEED)
    server = emu.client("drs", region=RECOVERY).describe_source_servers()["items"][0]["sourceServerID"]
    result = run(emu, source_server_ids=[server], state="ready")
    assert result["failed"] is True
    assert f"No live non-drill recovery instance in {RECOVERY} for source server(s) {server}" in result["msg"]


def test_reverse_replication_of_a_drill_instance_is_refused_before_any_call(emulator_factory):
    emu = emulator_factory(aws_fleet(), speed=SPEED)
    (rid,) = recover(emu, drill=True)
    mark = last_seq(emu)
    result = run(emu, recovery_instance_ids=[rid], state="reversed")
    assert result["failed"] is True
    assert f"{rid} is a drill instance" in result["msg"]
    assert "drill: false" in result["msg"]
    assert mutating(emu, mark) == []


def test_a_production_failback_without_confirmation_is_refused_before_any_call(emulator_factory):
    emu = emulator_factory(aws_fleet(), speed=SPEED)
    (rid,) = recover(emu)
    mark = last_seq(emu)
    result = run(emu, recovery_instance_ids=[rid], state="launched", drill=False)
    assert result["failed"] is True
    assert "PRODUCTION failback" in result["msg"]
    assert "confirm_production: true" in result["msg"]
    assert mutating(emu, mark) == []


def test_an_on_premises_failback_drill_is_refused_because_start_failback_launch_has_none(emulator_factory):
    emu = emulator_factory(on_prem_fleet(), speed=SPEED)
    (rid,) = recover(emu)
    result = run(emu, recovery_instance_ids=[rid], state="launched")
    assert result["failed"] is True
    assert "StartFailbackLaunch has no drill mode" in result["msg"]


def test_failback_launch_before_ready_is_not_sent_and_says_what_is_pending(emulator_factory):
    emu = emulator_factory(on_prem_fleet(), speed=SPEED)
    (rid,) = recover(emu)
    result = ok(
        run(emu, recovery_instance_ids=[rid], state="launched", drill=False, confirm_production=True, wait=False)
    )
    assert (result["changed"], result["reached"]) == (False, False)
    assert only(result)["phase"] == "not_reversed"
    assert "Failback Client" in only(result)["pending_action"]
    assert emu.count("drs", "StartFailbackLaunch") == 0
    timed_out = run(
        emu, recovery_instance_ids=[rid], state="launched", drill=False, confirm_production=True, wait_timeout=1
    )
    assert timed_out["failed"] is True
    assert "Timed out after 1s waiting for recovery instances to be launched" in timed_out["msg"]
    assert "Boot the Failback Client" in timed_out["msg"]
    assert only(timed_out)["phase"] == "not_reversed"


def test_a_conflict_while_a_job_runs_is_reported_with_drs_reason_and_the_remedy(emulator_factory):
    emu = emulator_factory(on_prem_fleet(), speed=0)
    (rid,) = recover(emu)
    emu.admin.service("drs", "pair-failback-client", recoveryInstanceID=rid)
    emu.advance(3600)
    drs = emu.client("drs", region=RECOVERY)
    server = drs.describe_source_servers()["items"][0]["sourceServerID"]
    drs.start_recovery(sourceServers=[{"sourceServerID": server}], isDrill=True)  # runs while the clock is frozen

    result = run(emu, recovery_instance_ids=[rid], state="launched", drill=False, confirm_production=True, wait=False)

    assert result["failed"] is True
    assert result["msg"].startswith(f"DRS refused StartFailbackLaunch for recovery instance(s) {rid} in {RECOVERY}:")
    assert "no job running" in result["msg"]
    assert result["aws_error_code"] == "ConflictException"


def test_stalled_reverse_replication_fails_the_wait_with_its_error(emulator_factory):
    emu = emulator_factory(aws_fleet(), speed=0)  # the clock stands still until the fault is in place
    (rid,) = recover(emu)
    reversed_ = ok(run(emu, recovery_instance_ids=[rid], state="reversed", wait=False))
    server = only(reversed_)["reversed_direction_source_server"]["source_server_id"]
    emu.admin.service(
        "drs", "set-fault", region=ORIGIN, sourceServerID=server, fault="STALLED", error="UNSTABLE_NETWORK"
    )
    emu.admin.set_speed(SPEED)

    result = run(emu, recovery_instance_ids=[rid], state="ready")

    assert result["failed"] is True
    assert "Failback cannot continue" in result["msg"]
    assert "STALLED, error UNSTABLE_NETWORK" in result["msg"]


# --- Interrupted and re-run: no duplicate StartRecovery, ReverseReplication, StartFailbackLaunch --------


def test_lost_answers_are_reconciled_and_a_rerun_sends_nothing_twice_aws(emulator_factory):
    emu = emulator_factory(aws_fleet(), speed=SPEED)
    (rid,) = recover(emu)
    emu.admin.faults(
        fail_next={
            "drs:ReverseReplication": {"mode": "disconnect", "count": 2},
            "drs:StartRecovery": {"mode": "disconnect"},
        }
    )
    mark = last_seq(emu)

    first = ok(run(emu, recovery_instance_ids=[rid], state="protected", drill=False, confirm_production=True))
    rerun = ok(run(emu, recovery_instance_ids=[rid], state="protected", drill=False, confirm_production=True))

    assert only(first)["phase"] == "protected"
    assert rerun["changed"] is False
    sent = [(op, region) for op, region, _ in mutating(emu, mark)]
    assert sent == [("ReverseReplication", RECOVERY), ("StartRecovery", ORIGIN), ("ReverseReplication", ORIGIN)]
    disconnected = [c["operation"] for c in emu.calls("drs") if c["seq"] > mark and c["error"] == "Disconnect"]
    assert sorted(disconnected) == ["ReverseReplication", "ReverseReplication", "StartRecovery"]


def test_lost_answer_of_start_failback_launch_is_reconciled_and_a_rerun_launches_nothing(emulator_factory):
    emu = emulator_factory(on_prem_fleet(), speed=SPEED)
    (rid,) = recover(emu)
    emu.admin.service("drs", "pair-failback-client", recoveryInstanceID=rid)
    ok(run(emu, recovery_instance_ids=[rid], state="ready"))
    emu.admin.faults(fail_next={"drs:StartFailbackLaunch": {"mode": "disconnect"}})

    first = ok(run(emu, recovery_instance_ids=[rid], state="launched", drill=False, confirm_production=True))
    rerun = ok(run(emu, recovery_instance_ids=[rid], state="launched", drill=False, confirm_production=True))

    assert first["calls"][0]["result"]["reconciled"] is True
    assert rerun["changed"] is False
    assert emu.count("drs", "StartFailbackLaunch") == 1


def playbook_vars(rid, **extra):
    return {
        "recovery_region": RECOVERY,
        "recovery_instance_ids": rid,
        "approval": False,
        "poll_interval": 0.1,
        "wait_timeout": 120,
        **extra,
    }


def test_failback_playbook_interrupted_and_rerun_sends_each_call_once(emulator_factory):
    # Lost answers of the same calls are the module's business and are covered through it
    # (test_lost_answers_are_reconciled_and_a_rerun_sends_nothing_twice_aws).
    emu = emulator_factory(aws_fleet(), speed=0)
    (rid,) = recover(emu)
    mark = last_seq(emu)
    production = {"failback_state": "protected", "drill": False, "confirm_production": True}
    # the first run gives up after one look, with reverse replication sent and nothing ready yet
    # (the clock stands still until the re-run: however slow the machine, nothing is ready at that look)
    playbook = REPO / "playbooks" / "failback.yml"
    first = run_playbook(playbook, playbook_vars(rid, wait_timeout=0, **production), emu.env())
    assert first.returncode != 0
    assert "Timed out" in first.stdout
    assert [op for op, _, _ in mutating(emu, mark)] == ["ReverseReplication"]
    emu.admin.set_speed(SPEED)

    rerun = run_playbook(playbook, playbook_vars(rid, **production), emu.env())

    assert rerun.returncode == 0, rerun.stdout[-3000:]
    assert "protected, failback instance" in rerun.stdout
    sent = [(op, region) for op, region, _ in mutating(emu, mark)]
    assert sent == [("ReverseReplication", RECOVERY), ("StartRecovery", ORIGIN), ("ReverseReplication", ORIGIN)]


def test_failback_playbook_stops_before_the_launch_without_approval_when_not_interactive(emulator_factory):
    emu = emulator_factory(aws_fleet(), speed=SPEED)
    (rid,) = recover(emu)
    result = run_playbook(
        REPO / "playbooks" / "failback.yml", playbook_vars(rid, approval=True, failback_state="launched"), emu.env()
    )
    assert result.returncode != 0
    assert "The failback launch was not approved" in result.stdout
    assert [op for op, _, _ in mutating(emu)] == ["StartRecovery", "ReverseReplication"]  # recovery, then reverse only


def test_failback_playbook_rerun_after_a_completed_failback_asks_no_approval_and_sends_nothing(emulator_factory):
    # approval on, not interactive (no AWX): a re-run that launches nothing must not stop at the question
    emu = emulator_factory(aws_fleet(), speed=SPEED)
    (rid,) = recover(emu)
    production = {"drill": False, "confirm_production": True}
    ok(run(emu, recovery_instance_ids=[rid], state="protected", **production))
    mark = last_seq(emu)

    result = run_playbook(
        REPO / "playbooks" / "failback.yml",
        playbook_vars(rid, approval=True, failback_state="protected", **production),
        emu.env(),
    )

    assert result.returncode == 0, result.stdout[-3000:]
    assert "not approved" not in result.stdout
    assert "protected, failback instance" in result.stdout
    assert mutating(emu, mark) == []


def test_failback_playbook_asks_before_a_production_launch_after_a_failback_drill(emulator_factory):
    # the ready stage counts the drill's failback instance as launched; the production launch is still to come
    emu = emulator_factory(aws_fleet(), speed=SPEED)
    (rid,) = recover(emu)
    ok(run(emu, recovery_instance_ids=[rid], state="launched"))  # a failback drill
    mark = last_seq(emu)

    result = run_playbook(
        REPO / "playbooks" / "failback.yml",
        playbook_vars(rid, approval=True, failback_state="launched", drill=False, confirm_production=True),
        emu.env(),
    )

    assert result.returncode != 0
    assert "The failback launch was not approved" in result.stdout
    assert mutating(emu, mark) == []
