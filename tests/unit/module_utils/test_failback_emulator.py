"""The failback core against the emulator, on its virtual clock (injected clock and sleep).

Every transition of both failback paths, the errors real DRS gives, and the DRS
operations sent (from the emulator's call log): reverse replication is
``ReverseReplication`` and never ``StartReplication``; a call whose answer was lost is
reconciled, not sent twice.
"""

from __future__ import annotations

import pytest
from botocore.exceptions import ClientError

from ansible_collections.drs.orchestration.plugins.module_utils import failback as fb
from ansible_collections.drs.orchestration.plugins.module_utils import recovery_instances as ri
from ansible_collections.drs.orchestration.plugins.module_utils.aws import Clients
from ansible_collections.drs.orchestration.plugins.module_utils.errors import (
    ConflictError,
    InputError,
    NotFoundError,
    WaitFailed,
    WaitTimeout,
)
from ansible_collections.drs.orchestration.plugins.module_utils.recovery_instances import describe_recovery_instances
from emulator.testing import shared_session
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


class VirtualTime:
    """clock/sleep for the core that move the emulator's clock: waits are instant and exact."""

    def __init__(self, emu):
        self.emu = emu
        self.now = 0.0

    def clock(self):
        return self.now

    def sleep(self, seconds):
        self.now += seconds
        self.emu.advance(seconds)


def clients_of(emu, region=RECOVERY):
    """One ``Clients`` per emulator and region (building boto3 clients is the slow part of a call)."""
    cache = emu.__dict__.setdefault("_failback_clients", {})
    if region not in cache:
        cache[region] = Clients.from_session(shared_session(), region, emu.endpoint)
    return cache[region]


def ensure(emu, ids, state, time=None, **options):
    time = time or VirtualTime(emu)
    options.setdefault("poll_interval", 30)
    options.setdefault("wait_timeout", 7200)
    return fb.ensure_failback(
        clients_of(emu), RECOVERY, ids, state=state, clock=time.clock, sleep=time.sleep, **options
    )


def phases(result):
    return [(r["phase_before"], r["phase"], r["reached"]) for r in result["recovery_instances"]]


# --- Origin AWS: the whole cycle ----------------------------------------------------------------


def test_aws_origin_cycle_reverse_ready_drill_then_production_failback_and_re_protection(emulator_factory):
    emu = emulator_factory(aws_fleet())
    (rid,) = recover(emu)
    mark = last_seq(emu)

    reversed_ = ensure(emu, [rid], "reversed", wait=False)
    assert reversed_["changed"] is True
    assert phases(reversed_) == [("not_reversed", "reversing", True)]
    (op,) = mutating(emu, mark)
    assert op == ("ReverseReplication", RECOVERY, {"recoveryInstanceID": rid})
    server = reversed_["recovery_instances"][0]["reversed_direction_source_server"]
    assert server["region"] == ORIGIN
    assert server["replication_direction"] == "FAILBACK"

    ready = ensure(emu, [rid], "ready")
    assert ready["changed"] is False
    assert phases(ready) == [("reversing", "ready", True)]
    assert ready["recovery_instances"][0]["reverse_replication_status"] == "Ready"

    mark = last_seq(emu)
    drill = ensure(emu, [rid], "launched")
    assert phases(drill) == [("ready", "launched", True)]
    assert mutating(emu, mark) == [
        ("StartRecovery", ORIGIN, {"sourceServers": [{"sourceServerID": server["source_server_id"]}], "isDrill": True})
    ]
    assert drill["recovery_instances"][0]["failback_instance"]["is_drill"] is True

    mark = last_seq(emu)
    protected = ensure(emu, [rid], "protected", drill=False, confirm_production=True)
    assert phases(protected) == [("ready", "protected", True)]
    failback_instance = protected["recovery_instances"][0]["failback_instance"]
    assert failback_instance["region"] == ORIGIN
    assert failback_instance["re_protection_state"] == "CONTINUOUS"
    assert mutating(emu, mark) == [
        (
            "StartRecovery",
            ORIGIN,
            {"sourceServers": [{"sourceServerID": server["source_server_id"]}], "isDrill": False},
        ),
        ("ReverseReplication", ORIGIN, {"recoveryInstanceID": failback_instance["recovery_instance_id"]}),
    ]
    assert emu.count("drs", "StartReplication") == 0

    # The original source server replicates the failback instance again: protected.
    original = emu.client("drs", region=RECOVERY).describe_source_servers(filters={})["items"][0]
    assert original["dataReplicationInfo"]["dataReplicationState"] == "CONTINUOUS"
    assert original["sourceProperties"]["identificationHints"]["awsInstanceID"] == failback_instance["ec2_instance_id"]

    mark = last_seq(emu)
    again = ensure(emu, [rid], "protected", drill=False, confirm_production=True)
    assert again["changed"] is False
    assert phases(again) == [("protected", "protected", True)]
    assert mutating(emu, mark) == []
    for earlier in ("reversed", "ready"):
        assert ensure(emu, [rid], earlier)["changed"] is False
    assert mutating(emu, mark) == []


def test_waiting_for_ready_sends_reverse_replication_once_for_every_instance(emulator_factory):
    emu = emulator_factory(aws_fleet(3))
    ids = recover(emu)
    mark = last_seq(emu)

    result = ensure(emu, ids, "ready")

    assert result["reached"] is True
    assert [r["phase"] for r in result["recovery_instances"]] == ["ready"] * 3
    assert sorted(p["recoveryInstanceID"] for _, _, p in mutating(emu, mark)) == ids
    assert {op for op, _, _ in mutating(emu, mark)} == {"ReverseReplication"}
    # each poll round costs a fixed number of reads, whatever the number of instances
    polls = result["wait"]["polls"]
    reads = [c for c in emu.calls("drs") if c["seq"] > mark and c["operation"].startswith("Describe")]
    assert len(reads) <= 4 * polls + 4


def test_selecting_by_source_server_takes_its_production_recovery_instance_not_the_drill(emulator_factory):
    emu = emulator_factory(aws_fleet())
    drill_ids = recover(emu, drill=True)
    (rid,) = recover(emu)
    server = emu.client("drs", region=RECOVERY).describe_source_servers(filters={})["items"][0]["sourceServerID"]

    result = fb.ensure_failback(clients_of(emu), RECOVERY, source_server_ids=[server], state="reversed", wait=False)

    assert [r["recovery_instance_id"] for r in result["recovery_instances"]] == [rid]
    assert rid not in drill_ids


def source_server_of(emu):
    return emu.client("drs", region=RECOVERY).describe_source_servers(filters={})["items"][0]["sourceServerID"]


def test_a_second_disaster_fails_back_the_new_recovery_instance_once_and_protects_it(emulator_factory):
    emu = emulator_factory(aws_fleet())
    (first,) = recover(emu)
    production = {"drill": False, "confirm_production": True}
    cycle_1 = ensure(emu, [first], "protected", **production)
    reversed_server = cycle_1["recovery_instances"][0]["reversed_direction_source_server"]["source_server_id"]
    (second,) = recover_again(emu)  # the first recovery instance is kept (RUNNING)
    mark = last_seq(emu)

    # by source server, which of the two to fail back cannot be told: refused, naming both
    with pytest.raises(ConflictError, match=f"has 2: {'.*'.join(sorted([first, second]))}.*recovery_instance_ids"):
        ensure(emu, None, "protected", source_server_ids=[source_server_of(emu)], **production)
    assert mutating(emu, mark) == []
    cycle_2 = ensure(emu, [second], "protected", **production)

    # the named recovery instance, failed back once, protected again
    assert [r["recovery_instance_id"] for r in cycle_2["recovery_instances"]] == [second]
    assert phases(cycle_2) == [("not_reversed", "protected", True)]
    failback_instance = cycle_2["recovery_instances"][0]["failback_instance"]
    assert (
        failback_instance["recovery_instance_id"]
        != cycle_1["recovery_instances"][0]["failback_instance"]["recovery_instance_id"]
    )
    assert mutating(emu, mark) == [
        ("ReverseReplication", RECOVERY, {"recoveryInstanceID": second}),
        ("StartRecovery", ORIGIN, {"sourceServers": [{"sourceServerID": reversed_server}], "isDrill": False}),
        ("ReverseReplication", ORIGIN, {"recoveryInstanceID": failback_instance["recovery_instance_id"]}),
    ]
    mark = last_seq(emu)
    again = ensure(emu, [second], "protected", **production)
    assert (again["changed"], mutating(emu, mark)) == (False, [])


def test_a_second_cycle_production_failback_launch_is_planned_and_sent_alike(emulator_factory):
    # the reversed-direction server still has the first cycle's live failback instance
    emu = emulator_factory(aws_fleet())
    (first,) = recover(emu)
    production = {"drill": False, "confirm_production": True}
    ensure(emu, [first], "protected", **production)
    (second,) = recover_again(emu)
    ensure(emu, [second], "ready")

    plan = ensure(emu, [second], "launched", check_mode=True, **production)
    assert [(c["operation"], c["when"]) for c in plan["planned_calls"]] == [("StartRecovery", "now")]
    mark = last_seq(emu)
    launched = ensure(emu, [second], "launched", wait_timeout=1800, **production)
    assert phases(launched) == [("ready", "launched", True)]
    assert [op for op, _, _ in mutating(emu, mark)] == ["StartRecovery"]


def test_reverse_replication_never_takes_over_a_failback_in_progress_of_another_instance(emulator_factory):
    emu = emulator_factory(aws_fleet())
    (first,) = recover(emu)
    ensure(emu, [first], "ready")  # reverse replication of the first instance runs, no failback yet
    (second,) = recover_again(emu)
    mark = last_seq(emu)

    with pytest.raises(ConflictError, match=f"already replicates {first}, .*Fail back {first} instead") as refused:
        ensure(emu, [second], "ready")
    assert refused.value.message.startswith(f"Cannot fail back: {second}: its reversed-direction source server")
    assert "(CONTINUOUS) already replicates" in refused.value.message
    with pytest.raises(ConflictError, match=f"already replicates {first}"):
        fb.reverse_replication(clients_of(emu), RECOVERY, second)
    assert mutating(emu, mark) == []
    assert ensure(emu, [first], "ready")["recovery_instances"][0]["phase"] == "ready"


def second_disaster_with_first_reversed(emu):
    """First instance reversed (CONTINUOUS, no failback yet), then a second recovery: (first, second, server)."""
    (first,) = recover(emu)
    reversed_ = ensure(emu, [first], "ready")
    server = reversed_["recovery_instances"][0]["reversed_direction_source_server"]["source_server_id"]
    (second,) = recover_again(emu)
    return first, second, server


def test_a_disconnected_reversed_server_of_a_live_instance_is_not_taken_over(emulator_factory):
    # the first instance was stopped: the agent on it is no longer seen and its reversed server goes
    # DISCONNECTED. Its failback is interrupted, not over: the second instance must not take it over.
    emu = emulator_factory(aws_fleet())
    first, second, server = second_disaster_with_first_reversed(emu)
    emu.admin.service("ec2", "set-instance-state", region=RECOVERY, instance_id=first, state="stopped")
    emu.advance(600)  # DRS no longer hears from the agent on it: DISCONNECTED (AGENT_NOT_SEEN)
    mark = last_seq(emu)

    with pytest.raises(ConflictError) as refused:
        ensure(emu, [second], "ready")
    message = refused.value.message
    assert message.startswith(
        f"Cannot fail back: {second}: its reversed-direction source server {server} in {ORIGIN} (DISCONNECTED) "
        f"already replicates {first}, another recovery instance of source server {source_server_of(emu)} that is "
        "still STOPPED in EC2 and has not failed back"
    )
    assert "terminate it if it is abandoned" in message
    assert f"stop that replication first (state: stopped, recovery_instance_ids: [{first}])" in message
    # one DescribeRecoveryInstances of the recovery Region lists the first instance, besides the round's own read
    reads = [c for c in emu.calls("drs", "DescribeRecoveryInstances") if c["seq"] > mark and c["region"] == RECOVERY]
    assert len(reads) == 2
    for refuse in (
        lambda: ensure(emu, [second], "ready", check_mode=True),
        lambda: ensure(emu, [second], "reversed", wait=False),
        lambda: fb.reverse_replication(clients_of(emu), RECOVERY, second),
    ):
        with pytest.raises(ConflictError, match=f"\\(DISCONNECTED\\) already replicates {first}, "):
            refuse()
    assert mutating(emu, mark) == []


def terminate_through_drs(emu, rid):
    emu.client("drs", region=RECOVERY).terminate_recovery_instances(recoveryInstanceIDs=[rid])
    emu.advance(120)


@pytest.mark.parametrize(
    ("terminate", "reversed_state"),
    [
        # EC2 TerminateInstances: DRS lists the instance TERMINATED; its reversed server does not show
        # DISCONNECTED yet
        pytest.param(
            lambda emu, rid: emu.admin.service(
                "ec2", "set-instance-state", region=RECOVERY, instance_id=rid, state="terminated"
            ),
            "CONTINUOUS",
            id="ec2-terminated-server-still-continuous",
        ),
        # an hour later EC2 no longer lists it (NOT_FOUND in DRS); DRS has long stopped hearing from the
        # agent that ran on it: its reversed server is DISCONNECTED (AGENT_NOT_SEEN)
        pytest.param(
            lambda emu, rid: (
                emu.admin.service("ec2", "set-instance-state", region=RECOVERY, instance_id=rid, state="terminated"),
                emu.advance(2 * 3600),
            ),
            "DISCONNECTED",
            id="ec2-terminated-and-gone",
        ),
        # TerminateRecoveryInstances: DRS no longer lists it, its reversed server is DISCONNECTED
        pytest.param(terminate_through_drs, "DISCONNECTED", id="terminated-through-drs"),
    ],
)
@pytest.mark.parametrize("by_source", [False, True], ids=["by-instance", "by-source-server"])
def test_the_reversed_server_of_a_terminated_instance_is_reversed_once_for_the_new_one(
    emulator_factory, terminate, reversed_state, by_source
):
    emu = emulator_factory(aws_fleet())
    first, second, server = second_disaster_with_first_reversed(emu)
    terminate(emu, first)
    origin = emu.client("drs", region=ORIGIN).describe_source_servers(filters={"sourceServerIDs": [server]})
    assert origin["items"][0]["dataReplicationInfo"]["dataReplicationState"] == reversed_state
    mark = last_seq(emu)

    if by_source:
        ready = ensure(emu, None, "ready", source_server_ids=[source_server_of(emu)])
    else:
        ready = ensure(emu, [second], "ready")

    assert [r["recovery_instance_id"] for r in ready["recovery_instances"]] == [second]
    assert phases(ready) == [("not_reversed", "ready", True)]
    assert ready["recovery_instances"][0]["reversed_direction_source_server"]["source_server_id"] == server
    assert mutating(emu, mark) == [("ReverseReplication", RECOVERY, {"recoveryInstanceID": second})]
    assert ensure(emu, [second], "ready")["changed"] is False
    assert len(mutating(emu, mark)) == 1


def test_a_recovery_from_an_older_snapshot_beside_one_from_the_latest_is_never_chosen_by_snapshot(emulator_factory):
    # ransomware: the first recovery used the latest (infected) data, the second an older, clean
    # snapshot. Picking by point in time would fail the infected one back over the origin.
    emu = emulator_factory(aws_fleet())
    drs = emu.client("drs", region=RECOVERY)
    server = source_server_of(emu)
    emu.advance(3 * 3600)
    (oldest, *_newer) = drs.describe_recovery_snapshots(sourceServerID=server, order="ASC")["items"]
    (infected,) = recover(emu)
    drs.start_recovery(sourceServers=[{"sourceServerID": server, "recoverySnapshotID": oldest["snapshotID"]}])
    emu.advance(600)
    (clean,) = [
        i["recoveryInstanceID"]
        for i in drs.describe_recovery_instances()["items"]
        if i["recoveryInstanceID"] != infected
    ]
    mark = last_seq(emu)

    for state, options in (("ready", {}), ("stopped", {}), ("launched", {"drill": False, "confirm_production": True})):
        with pytest.raises(ConflictError) as refused:
            ensure(emu, None, state, source_server_ids=[server], **options)
        message = refused.value.message
        assert f"source server {server} has 2: " in message
        assert {infected, clean} == {c["recovery_instance_id"] for c in refused.value.details["candidates"][server]}
        for rid in (infected, clean):
            assert f"{rid} (RUNNING, launched by job drsjob-" in message
        assert "Name the instance to fail back with recovery_instance_ids" in message
    assert mutating(emu, mark) == []
    # named, the clean one is the one reversed
    ensure(emu, [clean], "reversed", wait=False)
    assert mutating(emu, mark) == [("ReverseReplication", RECOVERY, {"recoveryInstanceID": clean})]


def hide_reversed_arn(emu, monkeypatch, reads):
    """The recovery Region's reads after ReverseReplication lack the reversed ARN ``reads`` times.

    Returns ``{"reads": n}``: how many reads it hid so far.
    """
    read = ri.source_servers_by_id
    hidden = {"reads": 0}

    def lagging(clients, region, ids):
        found = read(clients, region, ids)
        if region == RECOVERY and emu.count("drs", "ReverseReplication") and hidden["reads"] < reads:
            hidden["reads"] += 1
            for record in found.values():
                record["reversed_direction_source_server_arn"] = None
        return found

    monkeypatch.setattr(ri, "source_servers_by_id", lagging)
    return hidden


def test_reverse_replication_is_sent_once_per_run_while_drs_does_not_show_it_yet(emulator_factory, monkeypatch):
    emu = emulator_factory(aws_fleet())
    (rid,) = recover(emu)
    # the recovery Region's source server shows reversedDirectionSourceServerArn only on the
    # third read after ReverseReplication (DRS reads are eventually consistent)
    hidden = hide_reversed_arn(emu, monkeypatch, reads=2)
    mark = last_seq(emu)

    result = ensure(emu, [rid], "ready")

    assert hidden["reads"] == 2
    assert phases(result) == [("not_reversed", "ready", True)]
    assert mutating(emu, mark) == [("ReverseReplication", RECOVERY, {"recoveryInstanceID": rid})]
    assert len(result["calls"]) == 1


def test_check_mode_fails_like_the_run_when_an_instance_has_a_problem(emulator_factory):
    emu = emulator_factory(aws_fleet())
    (rid,) = recover(emu)
    reversed_ = fb.reverse_replication(clients_of(emu), RECOVERY, rid)
    emu.admin.service(
        "drs",
        "set-fault",
        region=ORIGIN,
        sourceServerID=reversed_["reversed_direction_source_server_id"],
        fault="DISCONNECTED",
    )
    mark = last_seq(emu)

    with pytest.raises(WaitFailed) as planned:
        ensure(emu, [rid], "launched", check_mode=True)
    with pytest.raises(WaitFailed) as real:
        ensure(emu, [rid], "launched")

    assert planned.value.message == real.value.message
    assert planned.value.message.startswith(f"Failback cannot continue: {rid}: reversed replication of")
    assert "DISCONNECTED" in planned.value.message
    assert planned.value.details["recovery_instances"][0]["problem"]
    assert mutating(emu, mark) == []


def test_re_running_after_a_completed_production_failback_sends_nothing_whatever_the_drill_flag(emulator_factory):
    emu = emulator_factory(aws_fleet())
    (rid,) = recover(emu)
    protected = ensure(emu, [rid], "protected", drill=False, confirm_production=True)
    server = protected["recovery_instances"][0]["reversed_direction_source_server"]["source_server_id"]
    # the reverse replication of the recovery instance stops (here: its agent is no longer seen)
    emu.admin.service("drs", "set-fault", region=ORIGIN, sourceServerID=server, fault="DISCONNECTED")
    mark = last_seq(emu)

    for drill in (True, False):
        for state in ("reversed", "ready"):
            again = ensure(emu, [rid], state, drill=drill)
            assert (again["changed"], phases(again)) == (False, [("protected", "protected", True)]), (drill, state)
    assert ensure(emu, [rid], "protected", drill=False, confirm_production=True)["changed"] is False
    assert mutating(emu, mark) == []


@pytest.mark.parametrize("drill_after", [False, True], ids=["source-names-the-recovery", "source-drilled-since"])
def test_restarting_the_reversed_servers_replication_after_a_production_failback_launches_nothing_again(
    emulator_factory, drill_after
):
    emu = emulator_factory(aws_fleet())
    (rid,) = recover(emu)
    production = {"drill": False, "confirm_production": True}
    cycle = ensure(emu, [rid], "protected", **production)
    server = cycle["recovery_instances"][0]["reversed_direction_source_server"]["source_server_id"]
    failback_instance = cycle["recovery_instances"][0]["failback_instance"]["recovery_instance_id"]
    if drill_after:  # the source server's last launch is now a drill: the recovery's own launch job is read
        recover(emu, drill=True)
    ensure(emu, [rid], "stopped")
    # an operator restarts the reversed server's replication: its replication start moves past the failback
    emu.client("drs", region=ORIGIN).start_replication(sourceServerID=server)
    emu.advance(3600)
    mark = last_seq(emu)

    plan = ensure(emu, [rid], "protected", check_mode=True, **production)
    again = ensure(emu, [rid], "protected", **production)

    assert (plan["changed"], plan["planned_calls"]) == (False, [])
    assert (again["changed"], phases(again)) == (False, [("protected", "protected", True)])
    assert again["recovery_instances"][0]["failback_instance"]["recovery_instance_id"] == failback_instance
    assert ensure(emu, [rid], "launched", **production)["changed"] is False
    assert mutating(emu, mark) == []
    (record,) = describe_recovery_instances(clients_of(emu), RECOVERY, [rid])
    assert (record["reverse_replication_status"], record["pending_action"]) == ("Completed", None)
    origin = emu.client("drs", region=ORIGIN).describe_recovery_instances(filters={})["items"]
    assert [i["recoveryInstanceID"] for i in origin if not i["isDrill"]] == [failback_instance]


# --- Origin on premises -----------------------------------------------------------------------------


def test_on_premises_cycle_waits_for_the_failback_client_then_launches_once(emulator_factory):
    emu = emulator_factory(on_prem_fleet())
    (rid,) = recover(emu)

    before = ensure(emu, [rid], "ready", wait=False)
    assert before["changed"] is False
    assert phases(before) == [("not_reversed", "not_reversed", False)]
    assert before["recovery_instances"][0]["pending_action"].startswith("Boot the Failback Client")

    emu.admin.service("drs", "pair-failback-client", recoveryInstanceID=rid)
    ready = ensure(emu, [rid], "ready")
    assert phases(ready) == [("reversing", "ready", True)]
    assert ready["recovery_instances"][0]["failback_state"] == "FAILBACK_READY_FOR_LAUNCH"

    mark = last_seq(emu)
    launched = ensure(emu, [rid], "launched", drill=False, confirm_production=True)
    assert launched["changed"] is True
    assert launched["recovery_instances"][0]["failback_state"] == "FAILBACK_COMPLETED"
    assert mutating(emu, mark) == [("StartFailbackLaunch", RECOVERY, {"recoveryInstanceIDs": [rid]})]

    mark = last_seq(emu)
    assert ensure(emu, [rid], "launched", drill=False, confirm_production=True)["changed"] is False
    assert mutating(emu, mark) == []


def test_an_on_premises_protected_wait_sends_nothing_and_says_to_check_the_source_servers_replication(
    emulator_factory,
):
    emu = emulator_factory(on_prem_fleet())
    (rid,) = recover(emu)
    emu.admin.service("drs", "pair-failback-client", recoveryInstanceID=rid)
    server = emu.client("drs", region=RECOVERY).describe_source_servers(filters={})["items"][0]["sourceServerID"]
    emu.admin.service("drs", "set-fault", region=RECOVERY, sourceServerID=server, fault="DISCONNECTED")
    production = {"drill": False, "confirm_production": True}
    ensure(emu, [rid], "launched", **production)
    mark = last_seq(emu)

    with pytest.raises(WaitTimeout) as waited:
        ensure(emu, [rid], "protected", wait_timeout=600, **production)

    (instance,) = waited.value.details["recovery_instances"]
    assert (instance["phase"], instance["failback_state"]) == ("launched", "FAILBACK_COMPLETED")
    assert instance["pending_action"] == (
        f"Check source server {server} (DISCONNECTED): the AWS Replication Agent on the failed-back server must run "
        "and reach DRS for it to be protected again."
    )
    assert instance["pending_action"] in waited.value.message
    assert mutating(emu, mark) == []


def test_on_premises_wait_times_out_saying_to_boot_the_failback_client(emulator_factory):
    emu = emulator_factory(on_prem_fleet())
    (rid,) = recover(emu)
    with pytest.raises(WaitTimeout, match="Boot the Failback Client") as caught:
        ensure(emu, [rid], "ready", wait_timeout=120)
    assert caught.value.details["recovery_instances"][0]["phase"] == "not_reversed"


def test_stopping_an_on_premises_failback_sends_stop_failback_once(emulator_factory):
    emu = emulator_factory(on_prem_fleet())
    (rid,) = recover(emu)
    emu.admin.service("drs", "pair-failback-client", recoveryInstanceID=rid)
    mark = last_seq(emu)

    stopped = ensure(emu, [rid], "stopped")
    assert stopped["changed"] is True
    assert stopped["recovery_instances"][0]["failback_state"] == "FAILBACK_NOT_STARTED"
    assert ensure(emu, [rid], "stopped")["changed"] is False
    assert mutating(emu, mark) == [("StopFailback", RECOVERY, {"recoveryInstanceID": rid})]


def test_stopping_by_source_server_stops_its_recovery_instances_failback_replication(emulator_factory):
    emu = emulator_factory(aws_fleet())
    (rid,) = recover(emu)
    reversed_ = ensure(emu, [rid], "ready")
    reversed_server = reversed_["recovery_instances"][0]["reversed_direction_source_server"]["source_server_id"]
    mark = last_seq(emu)

    stopped = ensure(emu, None, "stopped", source_server_ids=[source_server_of(emu)])

    assert (stopped["changed"], stopped["reached"]) == (True, True)
    assert mutating(emu, mark) == [("StopReplication", ORIGIN, {"sourceServerID": reversed_server})]
    origin = emu.client("drs", region=ORIGIN).describe_source_servers(filters={"sourceServerIDs": [reversed_server]})
    assert origin["items"][0]["dataReplicationInfo"]["dataReplicationState"] == "STOPPED"

    premises = emulator_factory(on_prem_fleet())
    (on_prem_rid,) = recover(premises)
    premises.admin.service("drs", "pair-failback-client", recoveryInstanceID=on_prem_rid)
    mark = last_seq(premises)
    stopped = ensure(premises, None, "stopped", source_server_ids=[source_server_of(premises)])
    assert stopped["recovery_instances"][0]["failback_state"] == "FAILBACK_NOT_STARTED"
    assert mutating(premises, mark) == [("StopFailback", RECOVERY, {"recoveryInstanceID": on_prem_rid})]


def test_stopping_by_source_server_with_a_second_live_recovery_instance_is_refused_not_reported_done(
    emulator_factory,
):
    # before, the newer instance (not reversed) alone was selected: "stopped", while the first
    # instance's reverse replication went on
    emu = emulator_factory(aws_fleet())
    (first,) = recover(emu)
    ensure(emu, [first], "ready")
    (second,) = recover_again(emu)
    mark = last_seq(emu)

    with pytest.raises(ConflictError, match=f"has 2: {'.*'.join(sorted([first, second]))}"):
        ensure(emu, None, "stopped", source_server_ids=[source_server_of(emu)])

    assert mutating(emu, mark) == []
    assert ensure(emu, [first], "stopped")["changed"] is True
    assert [op for op, _, _ in mutating(emu, mark)] == ["StopReplication"]


def test_stopping_aws_reverse_replication_stops_the_reversed_direction_server(emulator_factory):
    emu = emulator_factory(aws_fleet())
    (rid,) = recover(emu)
    reversed_ = ensure(emu, [rid], "reversed", wait=False)
    server = reversed_["recovery_instances"][0]["reversed_direction_source_server"]["source_server_id"]
    mark = last_seq(emu)

    stopped = ensure(emu, [rid], "stopped")

    assert stopped["reached"] is True
    assert mutating(emu, mark) == [("StopReplication", ORIGIN, {"sourceServerID": server})]
    # reversing again resumes it with ReverseReplication, never StartReplication
    mark = last_seq(emu)
    assert ensure(emu, [rid], "reversed", wait=False)["changed"] is True
    assert [op for op, _, _ in mutating(emu, mark)] == ["ReverseReplication"]


# --- Lost answers are reconciled, never sent twice --------------------------------------------------


def test_a_lost_reverse_replication_answer_is_reconciled_not_sent_again(emulator_factory):
    emu = emulator_factory(aws_fleet())
    (rid,) = recover(emu)
    emu.admin.faults(fail_next={"drs:ReverseReplication": {"mode": "disconnect"}})

    result = ensure(emu, [rid], "reversed", wait=False)

    assert result["calls"][0]["result"] == {"reconciled": True}
    assert phases(result) == [("not_reversed", "reversing", True)]
    assert emu.count("drs", "ReverseReplication") == 1
    assert ensure(emu, [rid], "ready")["changed"] is False
    assert emu.count("drs", "ReverseReplication") == 1


def test_a_reverse_replication_that_failed_before_executing_is_sent_again(emulator_factory):
    emu = emulator_factory(aws_fleet())
    (rid,) = recover(emu)
    emu.admin.faults(fail_next={"drs:ReverseReplication": {"mode": "before", "status": 500}})

    result = ensure(emu, [rid], "reversed", wait=False)

    assert phases(result) == [("not_reversed", "reversing", True)]
    statuses = [c["status"] for c in emu.calls("drs", "ReverseReplication")]
    assert statuses == [500, 200]


def test_a_lost_start_failback_launch_answer_is_reconciled_and_the_rerun_launches_nothing(emulator_factory):
    emu = emulator_factory(on_prem_fleet())
    (rid,) = recover(emu)
    emu.admin.service("drs", "pair-failback-client", recoveryInstanceID=rid)
    ensure(emu, [rid], "ready")
    emu.admin.faults(fail_next={"drs:StartFailbackLaunch": {"mode": "disconnect"}})

    first = ensure(emu, [rid], "launched", drill=False, confirm_production=True, wait=False)
    assert first["calls"][0]["result"]["reconciled"] is True
    rerun = ensure(emu, [rid], "launched", drill=False, confirm_production=True)

    assert rerun["reached"] is True
    assert emu.count("drs", "StartFailbackLaunch") == 1


def test_a_failback_launch_already_running_is_waited_for_not_sent_again(emulator_factory):
    emu = emulator_factory(on_prem_fleet())
    (rid,) = recover(emu)
    emu.admin.service("drs", "pair-failback-client", recoveryInstanceID=rid)
    ensure(emu, [rid], "ready")
    emu.client("drs", region=RECOVERY).start_failback_launch(recoveryInstanceIDs=[rid])  # an earlier run's launch

    result = ensure(emu, [rid], "launched", drill=False, confirm_production=True)

    assert phases(result) == [("launching", "protected", True)]
    assert result["changed"] is False
    assert emu.count("drs", "StartFailbackLaunch") == 1


def test_a_running_failback_job_drs_does_not_point_to_is_found_and_re_attached(emulator_factory, monkeypatch):
    emu = emulator_factory(on_prem_fleet())
    (rid,) = recover(emu)
    emu.admin.service("drs", "pair-failback-client", recoveryInstanceID=rid)
    ensure(emu, [rid], "ready")
    job = emu.client("drs", region=RECOVERY).start_failback_launch(recoveryInstanceIDs=[rid])["job"]["jobID"]
    # as if DRS did not (yet) report failback.failbackJobID: the instance looks ready to launch
    monkeypatch.setattr(fb.FailbackRun, "_failback_jobs", lambda self, records: {})

    result = ensure(emu, [rid], "launched", drill=False, confirm_production=True, wait=False)

    assert result["changed"] is False
    assert result["calls"] == []
    assert [c["result"]["job_ids"] for c in result["reattached"]] == [[job]]
    assert emu.count("drs", "StartFailbackLaunch") == 1


def test_a_lost_failback_start_recovery_answer_launches_one_job(emulator_factory):
    emu = emulator_factory(aws_fleet())
    (rid,) = recover(emu)
    ensure(emu, [rid], "ready")
    emu.admin.faults(fail_next={"drs:StartRecovery": {"mode": "disconnect"}})
    mark = last_seq(emu)

    ensure(emu, [rid], "launched", wait=False)
    rerun = ensure(emu, [rid], "launched")

    assert rerun["reached"] is True
    assert [op for op, _, _ in mutating(emu, mark)] == ["StartRecovery"]


# --- The errors real DRS gives ---------------------------------------------------------------------


def test_unknown_recovery_instances_are_named(emulator_factory):
    emu = emulator_factory(aws_fleet())
    with pytest.raises(NotFoundError, match="i-0123456789abcdef0"):
        ensure(emu, ["i-0123456789abcdef0"], "reversed", wait=False)
    assert mutating(emu) == []


def test_a_drill_instance_is_refused_before_any_call_and_drs_refuses_it_too(emulator_factory):
    emu = emulator_factory(aws_fleet())
    (rid,) = recover(emu, drill=True)
    mark = last_seq(emu)
    with pytest.raises(ConflictError, match=f"{rid} is a drill instance"):
        ensure(emu, [rid], "reversed", wait=False)
    with pytest.raises(ConflictError, match="is a drill instance"):
        fb.reverse_replication(clients_of(emu), RECOVERY, rid)
    assert mutating(emu, mark) == []
    # what DRS itself answers, as the core reports it
    with pytest.raises(InputError, match=f"DRS refused ReverseReplication for recovery instance {rid} in {RECOVERY}"):
        fb.reverse_call(clients_of(emu), RECOVERY, rid, reconcile=lambda: False)


def test_reverse_replication_of_an_on_premises_instance_points_to_the_failback_client(emulator_factory):
    emu = emulator_factory(on_prem_fleet())
    (rid,) = recover(emu)
    with pytest.raises(ConflictError, match="Failback Client"):
        fb.reverse_replication(clients_of(emu), RECOVERY, rid)
    assert mutating(emu, last_seq(emu)) == []
    with pytest.raises(InputError, match="DRS refused ReverseReplication"):
        fb.reverse_call(clients_of(emu), RECOVERY, rid, reconcile=lambda: False)


def test_failback_launch_before_ready_is_refused_with_the_next_step(emulator_factory):
    emu = emulator_factory(on_prem_fleet())
    (rid,) = recover(emu)
    emu.admin.service("drs", "pair-failback-client", recoveryInstanceID=rid)
    with pytest.raises(ConflictError, match=f"{rid} is not ready for failback launch: it is reversing"):
        fb.launch_failback(clients_of(emu), RECOVERY, rid, drill=False, confirm_production=True)
    assert emu.count("drs", "StartFailbackLaunch") == 0
    # DRS refuses it the same way; the core's message says what to do
    with pytest.raises(ClientError) as raw:
        emu.client("drs", region=RECOVERY).start_failback_launch(recoveryInstanceIDs=[rid])
    mapped = fb.drs_error(raw.value, "StartFailbackLaunch", RECOVERY, f"recovery instance {rid}")
    assert isinstance(mapped, ConflictError)
    assert "FAILBACK_READY_FOR_LAUNCH" in mapped.message


def test_aws_failback_launch_before_the_reversed_server_is_continuous_is_refused(emulator_factory):
    emu = emulator_factory(aws_fleet())
    (rid,) = recover(emu)
    fb.reverse_replication(clients_of(emu), RECOVERY, rid)
    with pytest.raises(ConflictError, match="not ready for failback launch: it is reversing.*Wait for reversed"):
        fb.launch_failback(clients_of(emu), RECOVERY, rid, drill=True)
    assert emu.count("drs", "StartRecovery") == 1  # the original recovery only


def test_launching_one_failback_reports_its_job_and_a_second_request_sends_nothing(emulator_factory):
    emu = emulator_factory(aws_fleet())
    (rid,) = recover(emu)
    ensure(emu, [rid], "ready")
    mark = last_seq(emu)

    first = fb.launch_failback(clients_of(emu), RECOVERY, rid, drill=True)
    second = fb.launch_failback(clients_of(emu), RECOVERY, rid, drill=True)

    assert first["changed"] is True
    (job,) = first["job_ids"]
    assert first["recovery_instances"][0]["phase"] == "launching"
    assert first["recovery_instances"][0]["job_id"] == job
    assert second["changed"] is False
    assert [op for op, _, _ in mutating(emu, mark)] == ["StartRecovery"]
    with pytest.raises(InputError, match="confirm_production"):
        fb.launch_failback(clients_of(emu), RECOVERY, rid, drill=False)


def test_a_job_running_for_the_source_server_makes_drs_refuse_the_launch_with_a_clear_message(emulator_factory):
    emu = emulator_factory(on_prem_fleet())
    (rid,) = recover(emu)
    emu.admin.service("drs", "pair-failback-client", recoveryInstanceID=rid)
    ensure(emu, [rid], "ready")
    drs = emu.client("drs", region=RECOVERY)
    server = drs.describe_source_servers(filters={})["items"][0]["sourceServerID"]
    drs.start_recovery(sourceServers=[{"sourceServerID": server}], isDrill=True)  # a drill job now runs

    with pytest.raises(ConflictError) as refused:
        ensure(emu, [rid], "launched", drill=False, confirm_production=True, wait=False)
    message = refused.value.message
    assert message.startswith(f"DRS refused StartFailbackLaunch for recovery instance(s) {rid} in {RECOVERY}: ")
    assert "drsjob-" in message  # DRS names the running job
    assert "no job running" in message  # and what to do
    assert refused.value.details["aws_error_code"] == "ConflictException"


def test_a_failback_launch_refused_for_a_busy_reversed_server_says_what_to_do_without_skip_not_ready(
    emulator_factory,
):
    emu = emulator_factory(aws_fleet())
    (rid,) = recover(emu)
    server = ensure(emu, [rid], "ready")["recovery_instances"][0]["reversed_direction_source_server"]
    emu.client("drs", region=ORIGIN).start_recovery(  # a drill of the reversed server now runs
        sourceServers=[{"sourceServerID": server["source_server_id"]}], isDrill=True
    )
    mark = last_seq(emu)

    with pytest.raises(ConflictError) as refused:
        ensure(emu, [rid], "launched", drill=False, confirm_production=True, wait=False)

    message = refused.value.message
    assert f"{server['source_server_id']} (web-01): in job drsjob-" in message
    assert "(LAUNCH, START_DRILL, " in message
    assert message.endswith(
        "Nothing was launched. These are the reversed-direction source servers to fail back from: wait until their "
        f"job ends (drs_job_info) or their replication is CONTINUOUS again (drs_replication_info in {ORIGIN}), then "
        "run the failback again; it sends only what is still needed."
    )
    assert "skip_not_ready" not in message  # drs_failback has no such option
    assert mutating(emu, mark) == []


def test_reverse_replication_reports_the_existing_reversed_server_without_a_second_call(emulator_factory):
    emu = emulator_factory(aws_fleet())
    (rid,) = recover(emu)
    first = fb.reverse_replication(clients_of(emu), RECOVERY, rid)
    second = fb.reverse_replication(clients_of(emu), RECOVERY, rid)
    assert first["changed"] is True
    assert first["reversed_direction_region"] == ORIGIN
    assert second["changed"] is False
    assert (
        second["reversed_direction_source_server"]["source_server_id"] == first["reversed_direction_source_server_id"]
    )
    assert emu.count("drs", "ReverseReplication") == 1


def test_stalled_reverse_replication_ends_the_wait_with_the_error(emulator_factory):
    emu = emulator_factory(aws_fleet())
    (rid,) = recover(emu)
    result = fb.reverse_replication(clients_of(emu), RECOVERY, rid)
    origin = emu.client("drs", region=ORIGIN)
    emu.admin.service(
        "drs",
        "set-fault",
        region=ORIGIN,
        sourceServerID=result["reversed_direction_source_server_id"],
        fault="STALLED",
        error="UNSTABLE_NETWORK",
    )
    assert (
        origin.describe_source_servers(filters={})["items"][0]["dataReplicationInfo"]["dataReplicationState"]
        == "STALLED"
    )
    with pytest.raises(WaitFailed, match="UNSTABLE_NETWORK"):
        ensure(emu, [rid], "ready")


# --- Check mode -------------------------------------------------------------------------------------


def test_check_mode_lists_the_exact_calls_and_sends_none(emulator_factory):
    emu = emulator_factory(aws_fleet())
    (rid,) = recover(emu)
    mark = last_seq(emu)

    plan = ensure(emu, [rid], "protected", drill=False, confirm_production=True, check_mode=True)

    assert plan["changed"] is True
    assert [(c["operation"], c["region"], c["when"] == "now") for c in plan["planned_calls"]] == [
        ("ReverseReplication", RECOVERY, True),
        ("StartRecovery", ORIGIN, False),
        ("ReverseReplication", ORIGIN, False),
    ]
    assert plan["planned_calls"][0]["parameters"] == {"recoveryInstanceID": rid}
    assert plan["planned_calls"][1]["parameters"]["isDrill"] is False
    assert mutating(emu, mark) == []
    records = describe_recovery_instances(clients_of(emu), RECOVERY, [rid])
    assert records[0]["reversed_direction_source_server"] is None


# --- What an earlier run or an operator left behind -------------------------------------------------


def test_a_failback_instance_removed_from_drs_since_an_earlier_run_is_launched_again(emulator_factory):
    emu = emulator_factory(aws_fleet())
    (rid,) = recover(emu)
    first = ensure(emu, [rid], "launched")  # a drill failback
    removed = first["recovery_instances"][0]["failback_instance"]["recovery_instance_id"]
    # DisconnectRecoveryInstance + DeleteRecoveryInstance (DeleteRecoveryInstance is not emulated): the
    # instance leaves DRS while the reversed-direction server's lastLaunch stays LAUNCHED
    with emu.world.lock:
        emu.world.backend("drs", emu.world.fleet.account_id, ORIGIN).recovery_instances.pop(removed)
    mark = last_seq(emu)

    again = ensure(emu, [rid], "launched", wait_timeout=3600)

    assert phases(again) == [("ready", "launched", True)]
    assert again["recovery_instances"][0]["failback_instance"]["recovery_instance_id"] != removed
    assert [op for op, _, _ in mutating(emu, mark)] == ["StartRecovery"]


def test_a_failback_launch_job_of_this_run_that_failed_ends_the_wait_while_drs_shows_the_instance_ready(
    emulator_factory,
):
    emu = emulator_factory(on_prem_fleet())
    (rid,) = recover(emu)
    drs = emu.client("drs", region=RECOVERY)
    emu.admin.service("drs", "pair-failback-client", recoveryInstanceID=rid)
    ensure(emu, [rid], "ready")

    class Interrupted(VirtualTime):
        """While the launch job runs, an operator stops the failback and pairs the Failback Client again."""

        def sleep(self, seconds):
            if not self.now:
                drs.stop_failback(recoveryInstanceID=rid)  # clears failback.failbackJobID
                emu.admin.service("drs", "pair-failback-client", recoveryInstanceID=rid)
            super().sleep(seconds)

    mark = last_seq(emu)
    with pytest.raises(WaitFailed) as failed:
        ensure(emu, [rid], "launched", time=Interrupted(emu), drill=False, confirm_production=True, wait_timeout=3600)

    (instance,) = failed.value.details["recovery_instances"]
    job = instance["job_id"]
    assert failed.value.message.startswith(
        f"Failback cannot continue: {rid}: failback launch job {job} this run started ended (COMPLETED) without "
        "launching it (launch status FAILED"
    )
    assert (instance["phase"], instance["failback_state"]) == ("ready", "FAILBACK_READY_FOR_LAUNCH")
    # the module's launch, once (StopFailback is the operator's)
    assert mutating(emu, mark) == [
        ("StartFailbackLaunch", RECOVERY, {"recoveryInstanceIDs": [rid]}),
        ("StopFailback", RECOVERY, {"recoveryInstanceID": rid}),
    ]
    assert [c["result"]["job_ids"] for c in failed.value.details["calls"]] == [[job]]
    assert failed.value.details["wait"]["elapsed_seconds"] < 3600


def test_a_deleted_reversed_direction_server_of_the_same_account_is_reversed_again(emulator_factory):
    emu = emulator_factory(aws_fleet())
    (rid,) = recover(emu)
    first = ensure(emu, [rid], "reversed", wait=False)
    deleted = first["recovery_instances"][0]["reversed_direction_source_server"]["source_server_id"]
    # DisconnectSourceServer + DeleteSourceServer in the origin Region (DeleteSourceServer is not
    # emulated): the recovery Region's source server still names it
    emu.client("drs", region=ORIGIN).disconnect_source_server(sourceServerID=deleted)
    with emu.world.lock:
        emu.world.backend("drs", emu.world.fleet.account_id, ORIGIN).servers.pop(deleted)
    (record,) = describe_recovery_instances(clients_of(emu), RECOVERY, [rid])
    assert (record["reverse_replication_status"], record["reversed_direction_source_server"]["missing"]) == (
        "Not started",
        True,
    )
    assert record["pending_action"].endswith(
        f"{deleted} that source server {record['source_server_id']} names is no longer in {ORIGIN} (deleted)."
    )
    mark = last_seq(emu)

    ready = ensure(emu, [rid], "ready")

    assert phases(ready) == [("not_reversed", "ready", True)]
    assert mutating(emu, mark) == [("ReverseReplication", RECOVERY, {"recoveryInstanceID": rid})]
    assert ready["recovery_instances"][0]["reversed_direction_source_server"]["source_server_id"] != deleted


def test_a_reversed_direction_server_in_another_account_is_unknown_and_refused_naming_both_accounts(emulator_factory):
    # an EC2 instance of account A (origin) replicates into account B (recovery); B recovers and
    # reverses: the reversed-direction server lives in account A, which B's credentials cannot read
    origin_account, recovery_account, key = "123456789012", "210987654321", "AKIAACCOUNTB00000000"
    emu = emulator_factory(
        {"timing": aws_fleet()["timing"], "accounts": {key: recovery_account}, "region": ORIGIN, "instances": [{}]}
    )
    with emu.world.lock:
        (instance,) = emu.world.backend("ec2", origin_account, ORIGIN).instances()
        emu.world.backend("drs", recovery_account, RECOVERY).register_agent(
            instance, source_region=ORIGIN, source_account=origin_account, tags={}
        )
    clients = Clients.from_session(shared_session(key), RECOVERY, emu.endpoint)
    drs = clients.reader("drs", RECOVERY)
    emu.advance(3600)
    (server,) = drs.describe_source_servers()["items"]
    drs.start_recovery(sourceServers=[{"sourceServerID": server["sourceServerID"]}], isDrill=False)
    emu.advance(600)
    (rid,) = [i["recoveryInstanceID"] for i in drs.describe_recovery_instances()["items"]]
    arn = clients.writer("drs", RECOVERY).reverse_replication(recoveryInstanceID=rid)[
        "reversedDirectionSourceServerArn"
    ]
    assert f":{origin_account}:" in arn
    mark = last_seq(emu)

    (record,) = describe_recovery_instances(clients, RECOVERY, [rid])
    assert (record["reverse_replication_status"], record["pending_action"]) == ("Unknown", None)
    for state in ("ready", "stopped"):
        with pytest.raises(ConflictError) as refused:
            fb.ensure_failback(clients, RECOVERY, [rid], state=state, wait=False)
        assert (
            f"names the reversed-direction source server {arn}, which belongs to account {origin_account}, not to "
            f"account {recovery_account} of {rid}" in refused.value.message
        )
    assert mutating(emu, mark) == []


def test_a_lost_reverse_replication_answer_drs_shows_late_is_looked_up_again_not_sent_twice(
    emulator_factory, monkeypatch
):
    emu = emulator_factory(aws_fleet())
    (rid,) = recover(emu)
    # reversedDirectionSourceServerArn shows only on the second read after ReverseReplication
    hidden = hide_reversed_arn(emu, monkeypatch, reads=1)
    emu.admin.faults(fail_next={"drs:ReverseReplication": {"mode": "disconnect"}})

    result = ensure(emu, [rid], "reversed", wait=False)

    assert hidden["reads"] == 1
    assert result["calls"][0]["result"] == {"reconciled": True}
    assert emu.count("drs", "ReverseReplication") == 1
