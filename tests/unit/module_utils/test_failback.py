"""The failback core without AWS: request validation, the ladder of phases, planning, error messages.

Records are built with the recovery instance normalisation from items shaped like the
botocore model, so each phase is derived from what DRS would return.
"""

from __future__ import annotations

import pytest
from botocore.exceptions import ClientError
from test_recovery_instances import (
    ACCOUNT,
    NOW,
    ORIGIN_REGION,
    RECOVERY_REGION,
    iid,
    records_by_id,
    recovery_instance,
    reversed_server,
    server_arn,
    sid,
    source_server,
)

from ansible_collections.drs.orchestration.plugins.module_utils import failback as fb
from ansible_collections.drs.orchestration.plugins.module_utils.errors import (
    ConflictError,
    InputError,
    NotFoundError,
)
from ansible_collections.drs.orchestration.plugins.module_utils.recovery_instances import normalize_recovery_instance


def request(**options):
    base = {"region": RECOVERY_REGION, "state": "ready", "recovery_instance_ids": [iid(1)]}
    return fb.FailbackRequest.from_options(**{**base, **options})


# --- The request ------------------------------------------------------------------------------


def test_a_production_failback_launch_needs_an_explicit_confirmation():
    with pytest.raises(InputError, match="confirm_production: true"):
        request(state="launched", drill=False)
    assert request(state="launched", drill=False, confirm_production=True).drill is False


def test_drill_is_the_default_and_needs_no_confirmation():
    assert request(state="launched").drill is True


def test_protected_requires_a_production_failback():
    with pytest.raises(InputError, match="drill: false"):
        request(state="protected")


def test_states_before_the_launch_do_not_ask_for_confirmation():
    assert request(state="ready", drill=False).state == "ready"
    assert request(state="stopped", drill=False).state == "stopped"


@pytest.mark.parametrize(
    ("options", "message"),
    [
        ({"state": "failed_back"}, "state must be one of reversed, ready, launched, protected, stopped"),
        ({"recovery_instance_ids": None}, "give recovery_instance_ids, or source_server_ids"),
        ({"source_server_ids": [sid(1)]}, "but not both"),
        ({"recovery_instance_ids": ["s-1"]}, "not a DRS recovery instance ID"),
        ({"wait_timeout": -1}, "wait_timeout must be at least 0"),
        ({"poll_interval": 0}, "poll_interval must be greater than 0"),
        ({"tags": "a=b"}, "tags must be a mapping"),
        ({"region": "mars-1"}, "is not a region where DRS is available"),
    ],
)
def test_bad_options_are_refused_with_what_to_change(options, message):
    with pytest.raises(InputError, match=message):
        request(**options)


# --- The ladder: origin AWS ------------------------------------------------------------------------


def aws_record(reversed_item=None, source_state="CONTINUOUS", drill=False):
    source = source_server(
        1,
        instance=iid(500),
        state=source_state,
        **({"reversedDirectionSourceServerArn": server_arn(ORIGIN_REGION, 2)} if reversed_item else {}),
    )
    reversed_records = records_by_id(reversed_item, region=ORIGIN_REGION) if reversed_item else {}
    return normalize_recovery_instance(
        recovery_instance(1, drill=drill), RECOVERY_REGION, NOW, records_by_id(source), reversed_records
    )


def failback_instance(n, drill=False, ec2_state="RUNNING"):
    item = recovery_instance(n, source=2, drill=drill, ec2_state=ec2_state)
    return normalize_recovery_instance(item, ORIGIN_REGION, NOW)


def last_launch(kind, status, job="drsjob-0000000000000000b"):
    return {"lifeCycle": {"lastLaunch": {"initiated": {"type": kind, "jobID": job}, "status": status}}}


def test_an_instance_never_reversed_is_at_the_bottom_of_the_ladder():
    assert fb.assess_aws(aws_record(), {}, drill=True, own_jobs=set()).phase == "not_reversed"


@pytest.mark.parametrize(("state", "phase"), [("INITIATING", "reversing"), ("CONTINUOUS", "ready")])
def test_readiness_is_the_reversed_direction_servers_replication_state(state, phase):
    assert fb.assess_aws(aws_record(reversed_server(state)), {}, drill=True, own_jobs=set()).phase == phase


def test_stalled_reverse_replication_is_reported_as_a_problem():
    a = fb.assess_aws(aws_record(reversed_server("STALLED")), {}, drill=True, own_jobs=set())
    assert a.phase == "reversing"
    assert "STALLED" in a.problem


def test_a_running_failback_launch_of_the_requested_kind_is_launching():
    item = reversed_server("CONTINUOUS", **last_launch("DRILL", "IN_PROGRESS"))
    assert fb.assess_aws(aws_record(item), {}, drill=True, own_jobs=set()).phase == "launching"
    # a drill launch in progress does not count for a production request
    assert fb.assess_aws(aws_record(item), {}, drill=False, own_jobs=set()).phase == "ready"


def test_a_live_failback_instance_of_the_requested_kind_means_launched():
    record = aws_record(reversed_server("CONTINUOUS", **last_launch("DRILL", "LAUNCHED")))
    candidates = {sid(2): [failback_instance(70, drill=True)]}
    a = fb.assess_aws(record, candidates, drill=True, own_jobs=set())
    assert a.phase == "launched"
    assert a.failback_instance["recovery_instance_id"] == iid(70)
    assert fb.assess_aws(record, candidates, drill=False, own_jobs=set()).phase == "ready"


def test_a_terminated_failback_drill_instance_does_not_count():
    record = aws_record(reversed_server("CONTINUOUS", **last_launch("DRILL", "TERMINATED")))
    candidates = {sid(2): [failback_instance(70, drill=True, ec2_state="TERMINATED")]}
    assert fb.assess_aws(record, candidates, drill=True, own_jobs=set()).phase == "ready"


def test_a_launch_drs_reports_launched_before_listing_its_instance_is_not_sent_again():
    # the failback launch goes to the recovery core with relaunch (an earlier cycle's failback
    # instance must not stop it), so the ladder itself must not take "not listed yet" for "none"
    # for a launch the run follows (started, re-attached to or seen running)
    record = aws_record(reversed_server("CONTINUOUS", **last_launch("RECOVERY", "LAUNCHED")))
    a = fb.assess_aws(record, {}, drill=False, own_jobs=set(), followed={"drsjob-0000000000000000b"})
    assert (a.phase, a.job_id) == ("launching", "drsjob-0000000000000000b")
    assert a.pending.startswith("Wait for DRS to list the failback instance launched by job drsjob-0000000000000000b")
    assert Planner(state="launched", drill=False, confirm_production=True).next_calls({iid(1): a}) == []
    # listed but terminated since: the production failback happened, it is not launched again
    gone = {sid(2): [failback_instance(70, ec2_state="TERMINATED")]}
    terminated = fb.assess_aws(record, gone, drill=False, followed={"drsjob-0000000000000000b"}, own_jobs=set())
    assert terminated.phase == "launched"
    assert f"its failback instance {iid(70)} is TERMINATED" in terminated.problem


def test_an_earlier_runs_drill_launch_whose_instance_drs_no_longer_lists_does_not_hold_the_instance():
    # its failback instance was removed from DRS (DisconnectRecoveryInstance + DeleteRecoveryInstance)
    # while the reversed server's lastLaunch stays LAUNCHED: a new run launches the drill again instead
    # of waiting, run after run, for an instance DRS will never list
    record = aws_record(reversed_server("CONTINUOUS", **last_launch("DRILL", "LAUNCHED")))
    a = fb.assess_aws(record, {}, drill=True, own_jobs=set())
    assert (a.phase, a.problem) == ("ready", None)
    run = Planner(state="launched", drill=True)
    assert [c["operation"] for c in run.next_calls({iid(1): a})] == ["StartRecovery"]


def test_a_production_failback_of_this_cycle_is_never_launched_twice_even_when_drs_lists_no_instance_of_it():
    record = aws_record(reversed_server("CONTINUOUS", **last_launch("RECOVERY", "LAUNCHED")))
    for any_kind, drill in ((False, False), (True, True)):
        a = fb.assess_aws(record, {}, drill=drill, own_jobs=set(), any_kind=any_kind)
        assert a.phase == "launched"
        assert a.problem.startswith(
            f"a production failback of it was already launched from {sid(2)} in {ORIGIN_REGION} (DRS lists no "
            "failback instance of job drsjob-0000000000000000b (LAUNCHED)) and a production failback is never "
            "launched twice"
        )
    launched = Planner(state="launched", drill=False, confirm_production=True)
    a = fb.assess_aws(record, {}, drill=False, own_jobs=set())
    assert (launched.reached(a), launched.next_calls({iid(1): a}), launched.later_calls({iid(1): a})) == (
        True,
        [],
        [],
    )
    # re-protection needs that failback instance: the wait ends with the reason, nothing is sent
    protected = Planner(state="protected", drill=False, confirm_production=True)
    assert protected.next_calls({iid(1): a}) == []
    assert "never launched twice" in protected.failure({iid(1): a})


def test_a_failed_launch_this_run_started_is_a_problem_an_older_one_is_retried():
    record = aws_record(reversed_server("CONTINUOUS", **last_launch("RECOVERY", "FAILED", "drsjob-0000000000000000c")))
    assert fb.assess_aws(record, {}, drill=False, own_jobs=set()).problem is None
    failed = fb.assess_aws(record, {}, drill=False, own_jobs={"drsjob-0000000000000000c"})
    assert "FAILED" in failed.problem


def reprotected(state):
    """A production failback instance whose re-protection replicates into the original source server."""
    launched = reversed_server("CONTINUOUS", recoveryInstanceId=iid(70), **last_launch("RECOVERY", "LAUNCHED"))
    record = aws_record(launched)
    failback = failback_instance(70)
    original = records_by_id(source_server(1, instance=iid(70), state=state))[sid(1)]
    failback["reversed_direction_source_server"] = fb.reversed_server_view(original["arn"], original, iid(70))
    return fb.assess_aws(record, {sid(2): [failback]}, drill=False, own_jobs=set())


def test_re_protection_climbs_to_protected_when_the_original_server_is_continuous():
    assert reprotected("INITIAL_SYNC").phase == "protecting"
    assert reprotected("CONTINUOUS").phase == "protected"


def test_before_the_launch_a_failback_instance_of_either_kind_counts():
    # After a production failback the reverse replication may be stopped or DISCONNECTED; asking
    # for ready (the failback role's first stage, drill or not) must see the failback, not reverse again.
    launched = reversed_server("DISCONNECTED", recoveryInstanceId=iid(70), **last_launch("RECOVERY", "LAUNCHED"))
    record = aws_record(launched)
    failback = failback_instance(70)
    original = records_by_id(source_server(1, instance=iid(70), state="CONTINUOUS"))[sid(1)]
    failback["reversed_direction_source_server"] = fb.reversed_server_view(original["arn"], original, iid(70))
    candidates = {sid(2): [failback]}
    for drill in (True, False):
        a = fb.assess_aws(record, candidates, drill=drill, own_jobs=set(), any_kind=True)
        assert (a.phase, a.problem, a.failback_instance["recovery_instance_id"]) == ("protected", None, iid(70))
    # a launch state counts only the requested kind: a drill failback is still to launch
    assert fb.assess_aws(record, candidates, drill=True, own_jobs=set()).phase == "reversing"
    # and for the states before the launch a drill failback instance counts too
    drilled = aws_record(reversed_server("STOPPED", **last_launch("DRILL", "LAUNCHED")))
    drill_candidates = {sid(2): [failback_instance(71, drill=True)]}
    assert fb.assess_aws(drilled, drill_candidates, drill=False, own_jobs=set(), any_kind=True).phase == "launched"


# --- The ladder: origin on premises -----------------------------------------------------------------


def on_prem(state, source_state="CONTINUOUS", job_id=None, replication=None):
    failback = {"state": state, **({"failbackJobID": job_id} if job_id else {})}
    item = recovery_instance(1, origin="ON_PREMISES", failback=failback, replication=replication)
    sources = records_by_id(source_server(1, state=source_state))
    return normalize_recovery_instance(item, RECOVERY_REGION, NOW, sources)


@pytest.mark.parametrize(
    ("state", "phase"),
    [
        ("FAILBACK_NOT_STARTED", "not_reversed"),
        ("FAILBACK_LAUNCH_STATE_NOT_AVAILABLE", "not_reversed"),
        ("FAILBACK_IN_PROGRESS", "reversing"),
        ("FAILBACK_NOT_READY_FOR_LAUNCH", "reversing"),
        ("FAILBACK_READY_FOR_LAUNCH", "ready"),
        ("FAILBACK_COMPLETED", "protected"),
    ],
)
def test_on_premises_phase_follows_the_failback_state(state, phase):
    assert fb.assess_on_premises(on_prem(state), {}, set()).phase == phase


def test_a_completed_failback_is_protected_only_once_its_source_server_replicates_again():
    assert fb.assess_on_premises(on_prem("FAILBACK_COMPLETED", "INITIAL_SYNC"), {}, set()).phase == "protecting"
    assert fb.assess_on_premises(on_prem("FAILBACK_COMPLETED", "DISCONNECTED"), {}, set()).phase == "launched"


def test_a_running_failback_job_means_launching():
    job = {"job_id": "drsjob-0000000000000000d", "status": "STARTED", "participating_servers": []}
    record = on_prem("FAILBACK_READY_FOR_LAUNCH", job_id=job["job_id"])
    assert fb.assess_on_premises(record, {job["job_id"]: job}, set()).phase == "launching"


def test_a_ready_instance_whose_launch_job_already_completed_is_not_launched_again():
    # DescribeRecoveryInstances answered before the job ended, DescribeJobs after: the
    # instance still shows READY, its job LAUNCHED it. Launching again would be a second launch.
    record = on_prem("FAILBACK_READY_FOR_LAUNCH", job_id="drsjob-0000000000000000d")
    rid = record["recovery_instance_id"]
    done = {
        "job_id": "drsjob-0000000000000000d",
        "status": "COMPLETED",
        "participating_servers": [{"recovery_instance_id": rid, "launch_status": "LAUNCHED"}],
    }
    assert fb.assess_on_premises(record, {done["job_id"]: done}, set()).phase == "launching"
    failed = {**done, "participating_servers": [{"recovery_instance_id": rid, "launch_status": "FAILED"}]}
    assert fb.assess_on_premises(record, {failed["job_id"]: failed}, set()).phase == "ready"


def test_a_failback_job_of_an_earlier_pairing_does_not_block_the_next_failback():
    # failbackJobID still names the job that launched the first failback; the Failback Client was
    # paired again since (failbackInitiationTime): the instance is ready, not launching.
    failback = {
        "state": "FAILBACK_READY_FOR_LAUNCH",
        "failbackJobID": "drsjob-0000000000000000d",
        "failbackInitiationTime": "2025-12-15T12:00:00Z",
    }
    item = recovery_instance(1, origin="ON_PREMISES", failback=failback)
    record = normalize_recovery_instance(item, RECOVERY_REGION, NOW, records_by_id(source_server(1)))
    old = {
        "job_id": "drsjob-0000000000000000d",
        "status": "COMPLETED",
        "end_time": "2025-12-14T09:00:00+00:00",
        "participating_servers": [{"recovery_instance_id": iid(1), "launch_status": "LAUNCHED"}],
    }
    assessment = fb.assess_on_premises(record, {old["job_id"]: old}, set())
    assert (assessment.phase, assessment.job_id) == ("ready", None)
    run = Planner(state="launched", drill=False, confirm_production=True)
    assert [c["operation"] for c in run.next_calls({iid(1): assessment})] == ["StartFailbackLaunch"]
    # the same job ending after this pairing began is this failback's launch
    recent = {**old, "end_time": "2025-12-15T13:00:00+00:00"}
    assert fb.assess_on_premises(record, {old["job_id"]: recent}, set()).phase == "launching"


def test_failback_error_stops_the_run():
    a = fb.assess_on_premises(on_prem("FAILBACK_ERROR"), {}, set())
    assert "FAILBACK_ERROR" in a.problem


# --- Planning ------------------------------------------------------------------------------------------


class Planner(fb.FailbackRun):
    """A run whose observations are given, to look at the plan alone."""

    def __init__(self, **options):
        super().__init__(clients=None, request=request(**options))


def test_plan_reverses_an_aws_instance_now_and_launches_after_continuous():
    run = Planner(state="launched")
    assessments = {iid(1): fb.assess_aws(aws_record(), {}, drill=True, own_jobs=set())}
    now = run.next_calls(assessments)
    assert [(c["operation"], c["region"], c["parameters"]) for c in now] == [
        ("ReverseReplication", RECOVERY_REGION, {"recoveryInstanceID": iid(1)})
    ]
    later = run.later_calls(assessments)
    assert [(c["operation"], c["region"], c["parameters"]["isDrill"]) for c in later] == [
        ("StartRecovery", ORIGIN_REGION, True)
    ]
    assert later[0]["when"].startswith("after <reversed-direction source server of")


def test_plan_launches_ready_aws_instances_on_the_reversed_server_in_the_origin_region():
    run = Planner(state="protected", drill=False, confirm_production=True, tags={"change": "CHG1"})
    assessments = {iid(1): fb.assess_aws(aws_record(reversed_server("CONTINUOUS")), {}, drill=False, own_jobs=set())}
    (call,) = run.next_calls(assessments)
    assert call["operation"] == "StartRecovery"
    assert call["region"] == ORIGIN_REGION
    assert call["parameters"] == {
        "sourceServers": [{"sourceServerID": sid(2)}],
        "isDrill": False,
        "tags": {"change": "CHG1"},
    }
    (later,) = run.later_calls(assessments)
    assert (later["operation"], later["region"]) == ("ReverseReplication", ORIGIN_REGION)


def test_ready_on_premises_instances_share_start_failback_launch_calls_of_at_most_200():
    run = Planner(state="launched", drill=False, confirm_production=True)
    assessments = {}
    for n in range(1, 251):
        record = on_prem("FAILBACK_READY_FOR_LAUNCH")
        record["recovery_instance_id"] = iid(n)
        assessments[iid(n)] = fb.assess_on_premises(record, {}, set())
    calls = run.next_calls(assessments)
    assert [c["operation"] for c in calls] == ["StartFailbackLaunch", "StartFailbackLaunch"]
    assert [len(c["parameters"]["recoveryInstanceIDs"]) for c in calls] == [200, 50]


def test_an_instance_already_at_the_requested_state_gets_no_call():
    run = Planner(state="reversed")
    assessments = {iid(1): fb.assess_aws(aws_record(reversed_server("INITIATING")), {}, drill=True, own_jobs=set())}
    assert run.next_calls(assessments) == []
    assert run.later_calls(assessments) == []


def test_stopping_targets_the_reversed_server_for_aws_and_stop_failback_on_premises():
    run = Planner(state="stopped", recovery_instance_ids=[iid(1)])
    aws = {iid(1): fb.assess_aws(aws_record(reversed_server("CONTINUOUS")), {}, drill=True, own_jobs=set())}
    assert [(c["operation"], c["region"], c["parameters"]) for c in run.next_calls(aws)] == [
        ("StopReplication", ORIGIN_REGION, {"sourceServerID": sid(2)})
    ]
    premises = {iid(1): fb.assess_on_premises(on_prem("FAILBACK_IN_PROGRESS"), {}, set())}
    assert [c["operation"] for c in run.next_calls(premises)] == ["StopFailback"]
    idle = {iid(1): fb.assess_on_premises(on_prem("FAILBACK_NOT_STARTED"), {}, set())}
    assert run.next_calls(idle) == []


OTHER_ACCOUNT = "210987654321"


def unread_reversed_record(account=ACCOUNT, regions=(ORIGIN_REGION,)):
    """The source server names a reversed-direction server (of ``account``) the read of ``regions`` did not find."""
    arn = f"arn:aws:drs:{ORIGIN_REGION}:{account}:source-server/{sid(2)}"
    source = source_server(1, instance=iid(500), reversedDirectionSourceServerArn=arn)
    return normalize_recovery_instance(recovery_instance(1), RECOVERY_REGION, NOW, records_by_id(source), {}, regions)


@pytest.mark.parametrize("state", ["reversed", "ready", "stopped"])
@pytest.mark.parametrize(
    ("record", "why"),
    [
        pytest.param(
            unread_reversed_record(OTHER_ACCOUNT),
            f"which belongs to account {OTHER_ACCOUNT}, not to account {ACCOUNT} of {iid(1)}",
            id="another-account",
        ),
        pytest.param(
            unread_reversed_record(regions=()),
            f"which was not read \\(the source servers of {ORIGIN_REGION} were not read\\)",
            id="region-not-read",
        ),
    ],
)
def test_a_reversed_direction_server_nothing_is_known_of_is_refused_not_reversed_again(state, record, why):
    run = Planner(state=state)
    assessments = {iid(1): fb.assess_aws(record, {}, drill=True, own_jobs=set(), any_kind=True)}
    assert record["reverse_replication_status"] == "Unknown"
    with pytest.raises(ConflictError, match=f"names the reversed-direction source server arn:.*{sid(2)}, {why}"):
        run.check_eligible(assessments)
    if state != "stopped":  # and never planned, should a later round see it so
        with pytest.raises(ConflictError, match=f"Whether reverse replication already runs for {iid(1)} is unknown"):
            run.next_calls(assessments)


def test_a_deleted_reversed_direction_server_of_the_same_account_is_reversed_again():
    # its Region was read with these credentials, the ARN names the instance's own account, and DRS
    # does not have the server: it is gone, so the instance is simply not reversed (not Unknown)
    record = unread_reversed_record()
    assert record["reverse_replication_status"] == "Not started"
    assert record["pending_action"] == (
        f"Start reversed replication to {ORIGIN_REGION}: the reversed-direction source server {sid(2)} that source "
        f"server {sid(1)} names is no longer in {ORIGIN_REGION} (deleted)."
    )
    for state in ("reversed", "ready"):
        run = Planner(state=state)
        assessments = {iid(1): fb.assess_aws(record, {}, drill=True, own_jobs=set(), any_kind=True)}
        run.check_eligible(assessments)
        assert [(c["operation"], c["parameters"]) for c in run.next_calls(assessments)] == [
            ("ReverseReplication", {"recoveryInstanceID": iid(1)})
        ]
        assert run.instance_result(assessments[iid(1)])["pending_action"].endswith("(deleted).")
    stop = Planner(state="stopped")
    assessments = {iid(1): fb.assess_aws(record, {}, drill=True, own_jobs=set())}
    stop.check_eligible(assessments)
    assert stop.next_calls(assessments) == []


def taken_record(state="CONTINUOUS", **extra):
    """Instance 1, whose source server's reversed-direction server replicates instance 999 of the same server."""
    return aws_record(reversed_server(state, instance=iid(999), **extra))


def siblings(*ec2_states):
    """What DescribeRecoveryInstances lists for source server 1: instance 1, and 999 when given its EC2 state."""
    items = [recovery_instance(1)] + [recovery_instance(999, ec2_state=state) for state in ec2_states]
    listed = {}
    for item in items:
        record = normalize_recovery_instance(item, RECOVERY_REGION, NOW)
        listed[record["recovery_instance_id"]] = listed[record["ec2_instance_id"]] = record
    return listed


def assessed(record, listed):
    assessment = fb.assess_aws(record, {}, drill=True, own_jobs=set())
    assessment.siblings = listed
    return {iid(1): assessment}


def test_reverse_replication_that_would_take_over_another_instances_failback_is_refused():
    run = Planner(state="ready")
    assessments = assessed(taken_record(), siblings("RUNNING"))
    assert assessments[iid(1)].phase == "not_reversed"
    with pytest.raises(ConflictError) as refused:
        run.check_eligible(assessments)
    assert refused.value.message.startswith(
        f"Cannot fail back: {iid(1)}: its reversed-direction source server {sid(2)} in {ORIGIN_REGION} (CONTINUOUS) "
        f"already replicates {iid(999)}, another recovery instance of source server {sid(1)} that is still RUNNING "
        f"in EC2 and has not failed back; ReverseReplication of {iid(1)} would take that replication over. "
        f"Fail back {iid(999)} instead, or stop its reverse replication first (state: stopped, recovery_instance_ids: "
        f"[{iid(999)}]), or terminate it if it is abandoned"
    )
    with pytest.raises(ConflictError, match=f"Fail back {iid(999)} instead"):
        run.next_calls(assessments)
    # without the listing (not read), the other instance counts as live
    with pytest.raises(ConflictError, match=f"already replicates {iid(999)}, .* that is not known to be gone"):
        run.check_eligible(assessed(taken_record(), None))


@pytest.mark.parametrize("ec2_state", ["RUNNING", "STOPPED"])
def test_a_disconnected_reversed_server_of_a_live_instance_is_not_taken_over(ec2_state):
    # its agent is not seen (the instance stopped or unreachable): that failback is interrupted, not over
    run = Planner(state="ready")
    assessments = assessed(taken_record("DISCONNECTED"), siblings(ec2_state))
    with pytest.raises(ConflictError) as refused:
        run.check_eligible(assessments)
    message = refused.value.message
    assert (
        f"source server {sid(2)} in {ORIGIN_REGION} (DISCONNECTED) already replicates {iid(999)}, another recovery "
        f"instance of source server {sid(1)} that is still {ec2_state} in EC2 and has not failed back" in message
    )
    assert f"DISCONNECTED means that the agent on {iid(999)} is not seen" in message
    assert (
        f"terminate it if it is abandoned (drs_recovery with state: absent, recovery_instance_ids: [{iid(999)}] and "
        "terminate_non_drill: true)" in message
    )
    assert f"stop that replication first (state: stopped, recovery_instance_ids: [{iid(999)}])" in message
    with pytest.raises(ConflictError, match=f"DISCONNECTED means that the agent on {iid(999)} is not seen"):
        run.next_calls(assessments)


@pytest.mark.parametrize(
    ("record", "listed"),
    [
        pytest.param(taken_record(**last_launch("RECOVERY", "LAUNCHED")), siblings("RUNNING"), id="production-launch"),
        pytest.param(taken_record("STOPPED"), siblings("RUNNING"), id="stopped"),
        pytest.param(taken_record("CONTINUOUS"), siblings("TERMINATED"), id="terminated-still-continuous"),
        pytest.param(taken_record("INITIAL_SYNC"), siblings("SHUTTING-DOWN"), id="shutting-down"),
        pytest.param(taken_record("DISCONNECTED"), siblings("TERMINATED"), id="terminated-disconnected"),
        pytest.param(taken_record("CONTINUOUS"), siblings(), id="no-longer-listed-still-continuous"),
        pytest.param(taken_record("DISCONNECTED"), siblings(), id="no-longer-listed-disconnected"),
    ],
)
def test_a_reversed_server_whose_instance_is_done_is_reversed_for_the_new_instance(record, listed):
    run = Planner(state="ready")
    assessments = assessed(record, listed)
    run.check_eligible(assessments)
    assert [c["parameters"] for c in run.next_calls(assessments)] == [{"recoveryInstanceID": iid(1)}]


class Selector(Planner):
    """A run selecting by source server, with the launch times DescribeJobs would give."""

    def __init__(self, launch_times=None, **options):
        super().__init__(recovery_instance_ids=None, source_server_ids=[sid(1), sid(3)], **options)
        self.times = launch_times or {}

    def _launch_times(self, job_ids):
        return {j: t for j, t in self.times.items() if j in job_ids}


def test_by_source_server_its_one_live_production_recovery_instance_is_failed_back():
    def item(n, source, **options):
        return {**recovery_instance(n, source=source, **options), "jobID": f"drsjob-{n:017x}"}

    sources = records_by_id(source_server(1, instance=iid(500)), source_server(3, instance=iid(501)))
    records = {
        i["recoveryInstanceID"]: normalize_recovery_instance(i, RECOVERY_REGION, NOW, sources)
        for i in (
            item(1, 1),
            item(2, 1, drill=True),
            item(3, 1, ec2_state="TERMINATED"),
            item(4, 3),
        )
    }
    for state in ("ready", "stopped"):
        assert Selector(state=state)._select(records) == [iid(1), iid(4)]


def test_by_source_server_several_live_production_recovery_instances_are_refused_naming_them():
    # a second recovery, from an OLDER point in time (the latest data was infected), kept beside the
    # first: neither the latest snapshot nor the latest launch says which one holds the data to fail back
    first = {**recovery_instance(1), "pointInTimeSnapshotDateTime": "2025-12-15T13:00:00Z"}
    second = {
        **recovery_instance(2),
        "jobID": "drsjob-0000000000000000c",
        "pointInTimeSnapshotDateTime": "2025-12-10T08:00:00Z",
        "ec2InstanceState": "STOPPED",
    }
    sources = records_by_id(source_server(1, instance=iid(500)), source_server(3))
    records = {
        i["recoveryInstanceID"]: normalize_recovery_instance(i, RECOVERY_REGION, NOW, sources)
        for i in (first, second, recovery_instance(3, source=3))
    }
    times = {"drsjob-0000000000000000a": "2025-12-15T13:05:00Z", "drsjob-0000000000000000c": "2025-12-15T13:40:00Z"}
    for state in ("ready", "launched", "stopped"):
        options = {"drill": False, "confirm_production": True} if state == "launched" else {}
        with pytest.raises(ConflictError) as refused:
            Selector(times, state=state, **options)._select(records)
        message = refused.value.message
        assert message.startswith(
            f"Cannot tell which recovery instance to fail back: source server {sid(1)} has 2: "
            f"{iid(1)} (RUNNING, launched by job drsjob-0000000000000000a started 2025-12-15T13:05:00Z, point in "
            f"time 2025-12-15T13:00:00+00:00), {iid(2)} (STOPPED, launched by job drsjob-0000000000000000c started "
            "2025-12-15T13:40:00Z, point in time 2025-12-10T08:00:00+00:00)"
        )
        assert "Name the instance to fail back with recovery_instance_ids" in message
        assert sid(3) not in message
        assert [c["recovery_instance_id"] for c in refused.value.details["candidates"][sid(1)]] == [iid(1), iid(2)]
    # launch times DRS cannot give are left out
    with pytest.raises(ConflictError, match=f"{iid(1)} \\(RUNNING, launched by job drsjob-0000000000000000a, point"):
        Selector(state="ready")._select(records)


def test_a_launch_this_run_sent_that_ended_without_launching_the_instance_no_longer_holds_it():
    # DRS still shows the instance ready (failback.failbackJobID or lastLaunch not updated yet)
    run = Planner(state="launched", drill=False, confirm_production=True)
    job = "drsjob-0000000000000000e"
    run.launch_sent[iid(1)] = {"region": RECOVERY_REGION, "job_ids": [job]}

    def remembered(status, launch_status):
        a = fb.assess_on_premises(on_prem("FAILBACK_READY_FOR_LAUNCH"), {}, set())
        servers = [{"source_server_id": sid(1), "recovery_instance_id": iid(1), "launch_status": launch_status}]
        return run._remembered(a, {job: {"job_id": job, "status": status, "participating_servers": servers}})

    for status, launch_status in (("PENDING", "PENDING"), ("STARTED", "IN_PROGRESS"), ("COMPLETED", "LAUNCHED")):
        assert remembered(status, launch_status).phase == "launching"
    failed = remembered("COMPLETED", "FAILED")
    assert (failed.phase, failed.job_id) == ("ready", job)
    assert failed.problem.startswith(f"failback launch job {job} this run started ended (COMPLETED) without launching")
    assert run.failure({iid(1): failed}).startswith(f"Failback cannot continue: {iid(1)}: failback launch job {job}")
    # a job DescribeJobs does not show yet still holds it
    a = fb.assess_on_premises(on_prem("FAILBACK_READY_FOR_LAUNCH"), {}, set())
    assert run._remembered(a, {}).phase == "launching"

    # origin AWS: the job's participating server is the reversed-direction server
    run.launch_sent[iid(1)] = {"region": ORIGIN_REGION, "job_ids": [job]}
    record = aws_record(reversed_server("CONTINUOUS"))
    servers = [{"source_server_id": sid(2), "recovery_instance_id": None, "launch_status": "FAILED"}]
    jobs = {job: {"job_id": job, "status": "COMPLETED", "participating_servers": servers}}
    a = run._remembered(fb.assess_aws(record, {}, drill=False, own_jobs=set()), jobs)
    assert (a.phase, a.job_id) == ("ready", job)
    assert "(launch status FAILED" in a.problem


def test_drill_instances_are_refused_before_any_call():
    run = Planner(state="reversed")
    assessments = {iid(1): fb.assess_aws(aws_record(drill=True), {}, drill=True, own_jobs=set())}
    with pytest.raises(ConflictError, match="is a drill instance"):
        run.check_eligible(assessments)


def test_an_on_premises_failback_drill_is_refused_because_the_api_has_no_drill_mode():
    run = Planner(state="launched")
    assessments = {iid(1): fb.assess_on_premises(on_prem("FAILBACK_READY_FOR_LAUNCH"), {}, set())}
    with pytest.raises(ConflictError, match="StartFailbackLaunch has no drill mode"):
        run.check_eligible(assessments)


# --- DRS errors become messages ---------------------------------------------------------------------


def client_error(code, message, status=400):
    return ClientError(
        {"Error": {"Code": code, "Message": message}, "ResponseMetadata": {"HTTPStatusCode": status}}, "Op"
    )


@pytest.mark.parametrize(
    ("code", "error", "hint"),
    [
        ("ConflictException", ConflictError, "FAILBACK_READY_FOR_LAUNCH with no job running"),
        ("ResourceNotFoundException", NotFoundError, "Check the ID and the region"),
        ("ValidationException", InputError, "DRS refused StartFailbackLaunch"),
        ("UninitializedAccountException", ConflictError, "Initialize Elastic Disaster Recovery in us-east-1"),
        ("ServiceQuotaExceededException", ConflictError, "Wait for running jobs to finish"),
    ],
)
def test_drs_errors_become_messages_that_say_what_to_do(code, error, hint):
    mapped = fb.drs_error(client_error(code, "it said no"), "StartFailbackLaunch", "us-east-1", "recovery instance x")
    assert isinstance(mapped, error)
    assert "it said no" in mapped.message
    assert hint in mapped.message


def test_an_unexpected_error_code_is_left_to_the_caller():
    assert fb.drs_error(client_error("AccessDeniedException", "no"), "StopFailback", "us-east-1", "x") is None
