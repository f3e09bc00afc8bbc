"""drs_agent_install through the module (as Ansible runs it) against the emulator.

The emulator runs a fast clock (600 virtual seconds per second) and the module polls
every 0.2 s, so a 1-minute install takes a fraction of a second. The call log proves
what was sent: every bad input ends in a clear message, never a traceback, and nothing
is sent twice.
"""

from __future__ import annotations

import random

import pytest

from ansible_collections.drs.orchestration.plugins.modules import drs_agent_install
from tests.module_harness import emulator_args, run_module

SPEED = 600
TIMING = {"ssm_delivery_seconds": 5, "install_seconds": 60, "registration_seconds": 20}


def fleet(count=6, offline=0, fail=0, timing=None, **extra):
    return {
        "timing": timing or TIMING,
        "generate": {"count": count, "ssm_offline": offline, "install_fail": fail},
        **extra,
    }


def run(emu, check_mode=False, **options):
    args = {**emulator_args(emu), "target_region": "us-west-2", "poll_interval": 0.2, "wait_timeout": 120}
    if "instance_ids" not in options:
        args["instance_filters"] = {"tag:dr:enabled": "true"}
    args.update(options)
    return run_module(drs_agent_install, args, check_mode=check_mode)


def ids(emu):
    return [i["instance_id"] for i in emu.world.fleet.instances]


def executed(emu):
    """Commands SSM created (a SendCommand that failed before running created none)."""
    backend = emu.world.backend("ssm", emu.world.fleet.account_id, emu.world.fleet.region)
    return list(backend.commands.values())


def assert_clean_failure(result, *fragments):
    assert result.get("failed") is True, result
    message = result["msg"]
    assert "Traceback" not in message
    assert "exception" not in result, result.get("exception")
    for fragment in fragments:
        assert fragment in message, message
    return message


@pytest.fixture
def emu(emulator_factory):
    return emulator_factory(fleet(count=6), speed=SPEED)


# -- the happy path ---------------------------------------------------------------------------


def test_installs_the_fleet_and_reports_each_source_server(emu):
    result = run(emu, tags={"Environment": "Production"})
    assert result.get("failed") is not True, result.get("msg")
    assert result["changed"] is True
    assert result["overall_status"] == "Success"
    assert result["summary"]["installed"] == 6
    assert result["summary"]["commands_sent"] == 1
    assert {i["outcome"] for i in result["instances"]} == {"installed"}
    assert all(i["source_server_id"].startswith("s-") for i in result["instances"])
    assert result["commands"][0]["status"] == "Success"
    assert result["quota"]["source"] == "default"


def test_second_run_is_idempotent(emu):
    first = run(emu)
    second = run(emu)
    assert first["changed"] is True
    assert second["changed"] is False
    assert second["summary"]["installed"] == 6
    assert second["summary"]["commands_sent"] == 0
    assert len(emu.calls("ssm", "SendCommand")) == 1


def test_check_mode_returns_the_plan_and_sends_nothing(emulator_factory):
    emu = emulator_factory(fleet(count=4, offline=1), speed=SPEED)
    plan = run(emu, check_mode=True)
    assert plan["changed"] is True
    assert [i["outcome"] for i in plan["instances"]].count("would_install") == 3
    assert [i["outcome"] for i in plan["instances"]].count("rejected") == 1
    assert plan["planned_batches"][0]["instance_ids"] == ids(emu)[1:]
    assert emu.calls("ssm", "SendCommand") == []
    real = run(emu, max_failures=1)
    assert real["changed"] is True
    again = run(emu, check_mode=True, max_failures=1)
    assert again["changed"] is False
    assert again["planned_batches"] == []


def test_partial_failure_names_each_instance_and_keeps_the_successes(emulator_factory):
    emu = emulator_factory(fleet(count=6, offline=1, fail=1), speed=SPEED)
    result = run(emu)
    message = assert_clean_failure(result, "2 instance(s) were not installed", "max_failures (0)")
    assert ids(emu)[0] in message
    assert "SSM agent is ConnectionLost" in message
    assert ids(emu)[1] in message
    assert "exit code 1" in message
    assert result["summary"]["installed"] == 4
    assert len([i for i in result["instances"] if i["source_server_id"]]) == 4


def test_max_failures_tolerates_them_and_warns_nothing_else(emulator_factory):
    emu = emulator_factory(fleet(count=6, offline=1, fail=1), speed=SPEED)
    result = run(emu, max_failures=2)
    assert result.get("failed") is not True, result.get("msg")
    assert (result["summary"]["installed"], result["summary"]["rejected"], result["summary"]["failed"]) == (4, 1, 1)


def test_quota_notice_becomes_a_task_warning(emulator_factory):
    data = fleet(count=6)
    data["generate"].update(source_servers=298, source_server_region="us-west-2")
    emu = emulator_factory(data, speed=SPEED)
    result = run(emu, check_mode=True)
    warnings = [w["event"]["msg"] if isinstance(w, dict) else w for w in result["warnings"]]
    assert any("above the quota of 300" in w for w in warnings)
    assert any("Could not read the DRS replicating source server quota" in w for w in warnings)


# -- bad input: a clear message, no traceback, nothing sent (twice) ------------------------------


@pytest.mark.parametrize(
    ("options", "fragments"),
    [
        ({"instance_ids": ["i-12345"]}, ["'i-12345' is not an EC2 instance ID like i-0123456789abcdef0"]),
        ({"instance_ids": []}, ["instance_ids", "instance_filters"]),
        ({"batch_size": 0}, ["batch_size must be between 1 and 50, got 0"]),
        ({"batch_size": 51}, ["batch_size must be between 1 and 50, got 51"]),
        ({"target_region": "mars-north-1"}, ["'mars-north-1' is not a region where DRS is available"]),
        ({"tags": {"App": "web,db"}}, ["tags:", "','", "K=V,K=V"]),
        ({"tags": {"App=x": "web"}}, ["tags:", "'='"]),
        ({"account_id": "210987654321"}, ["account_id needs an SSM document with a 'AccountId' parameter"]),
        ({"account_id": "12345"}, ["'12345' is not a 12-digit AWS account ID"]),
        ({"document_name": "Org-NoSuchDocument"}, ["'Org-NoSuchDocument'", "not found"]),
        ({"instance_filters": {"tag:dr:enabled": "nope"}}, ["matched no instance in us-east-1"]),
        ({"max_concurrency": "0"}, ["max_concurrency '0' must be a number of instances"]),
        ({"max_errors": "ten"}, ["max_errors 'ten' must be a number of errors"]),
        ({"timeout_seconds": 10}, ["timeout_seconds must be between 30 and 2592000"]),
        ({"document_version": "latest"}, ["version number, $LATEST or $DEFAULT"]),
        ({"poll_interval": 0}, ["poll_interval must be a number of seconds above 0"]),
        ({"output_s3_key_prefix": "logs/"}, ["output_s3_bucket"]),
        ({"endpoint_url": "no scheme here"}, ["Cannot build the AWS", "client: Invalid endpoint: no scheme here"]),
        ({"profile": "ops"}, ["Passing both a profile and access tokens is not supported"]),
        ({"tracking_table": "no-such-table"}, ["tracking_table 'no-such-table' does not exist", "Nothing was sent"]),
    ],
)
def test_bad_input_is_refused_before_anything_is_sent(emu, options, fragments):
    result = run(emu, **options)
    assert_clean_failure(result, *fragments)
    assert emu.calls("ssm", "SendCommand") == []


def test_drs_not_initialized_in_the_target_region(emulator_factory):
    emu = emulator_factory(fleet(count=2, drs_uninitialized_regions=["us-west-2"]), speed=SPEED)
    assert_clean_failure(run(emu), "DRS is not initialized in us-west-2", "InitializeService")
    assert emu.calls("ssm", "SendCommand") == []


def test_terminated_and_unknown_instances_are_rejected_not_sent(emu):
    gone = ids(emu)[0]
    emu.admin.service("ec2", "set-instance-state", instance_id=gone, state="terminated")
    result = run(emu, instance_ids=[gone, ids(emu)[1], "i-0000000000000dead"])
    assert_clean_failure(result, gone, "the instance is terminated", "i-0000000000000dead", "not found in us-east-1")
    assert result["summary"]["installed"] == 1
    assert [c["params"]["InstanceIds"] for c in emu.calls("ssm", "SendCommand")] == [[ids(emu)[1]]]


def test_throttling_storm_ends_in_a_clear_message_and_nothing_runs(emu, monkeypatch):
    monkeypatch.setattr(random, "uniform", lambda low, high: 0.0)  # no real back-off sleeping in the test
    emu.admin.faults(throttle_next={"ssm:SendCommand": 1000})
    result = run(emu)
    assert_clean_failure(result, "kept throttling SendCommand", "Re-run the task later")
    assert executed(emu) == []
    emu.admin.clear_faults()
    again = run(emu)
    assert again["summary"]["installed"] == 6
    assert len(executed(emu)) == 1


@pytest.mark.parametrize("mode", ["after", "disconnect"])
def test_ambiguous_send_failure_is_reconciled_not_sent_twice(emu, mode):
    emu.admin.faults(fail_next={"ssm:SendCommand": {"mode": mode, "status": 500, "code": "InternalServerError"}})
    result = run(emu)
    assert result.get("failed") is not True, result.get("msg")
    assert result["commands"][0]["reconciled"] is True
    assert len(executed(emu)) == 1
    assert len(emu.calls("ssm", "SendCommand")) == 1


def test_interrupted_install_is_reattached_by_the_next_run(emulator_factory):
    # 3000 virtual seconds = 5 s here: the install is still running when the second run starts
    emu = emulator_factory(fleet(count=6, timing={**TIMING, "install_seconds": 3000}), speed=SPEED)
    first = run(emu, wait=False)
    assert first["summary"]["in_progress"] == 6
    second = run(emu)
    assert second["changed"] is False
    assert second["summary"]["installed"] == 6
    assert second["summary"]["reattached"] == 6
    assert len(emu.calls("ssm", "SendCommand")) == 1


def test_read_failure_after_sending_fails_cleanly_with_the_result_and_the_rerun_sends_nothing(emu):
    # a fresh fleet has no earlier commands: the first ListCommandInvocations is the finished command's
    emu.admin.faults(
        fail_next={"ssm:ListCommandInvocations": {"mode": "before", "status": 400, "code": "AccessDeniedException"}}
    )
    result = run(emu)
    message = assert_clean_failure(result, "ListCommandInvocations failed", "AccessDeniedException", "re-attaches")
    assert result["commands"][0]["command_id"] in message
    assert len(result["instances"]) == 6
    again = run(emu)
    assert again.get("failed") is not True, again.get("msg")
    assert again["summary"]["installed"] == 6
    assert len(emu.calls("ssm", "SendCommand")) == 1
