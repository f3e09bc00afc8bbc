"""Run Command invocations move through their statuses on the virtual clock as the SSM guide describes.

Timing in these fleets: 5 s from sending a command to the agent having it, 60 s to run
the install; the command's default delivery timeout is 3600 s and the install
document's execution timeout 3600 s, so an undelivered command expires after 7200 s.
"""

from __future__ import annotations

import pytest

from emulator.services.ssm_output import combined_output
from emulator.validate import StrictResponses

DRS_DOC = "AWSDisasterRecovery-InstallDRAgentOnInstance"
TIMING = {"ssm_delivery_seconds": 5, "install_seconds": 60, "registration_seconds": 10}


def ids(n: int) -> list[str]:
    return [f"i-0{k:016x}" for k in range(1, n + 1)]


def fleet(*specs: dict) -> dict:
    return {
        "timing": TIMING,
        "instances": [
            {"instance_id": iid, "name": f"host-{k}", **spec}
            for k, (iid, spec) in enumerate(zip(ids(len(specs)), specs, strict=True))
        ],
    }


@pytest.fixture
def make(emulator_factory):
    def start(*specs: dict):
        emu = emulator_factory(fleet(*specs))
        client = emu.client("ssm", retries={"mode": "standard", "total_max_attempts": 1})
        StrictResponses(client)
        return emu, client

    return start


def send(ssm, instance_ids, document=DRS_DOC, **extra):
    params = {"Region": ["us-west-2"]} if document == DRS_DOC else {"commands": ["true"]}
    return ssm.send_command(InstanceIds=instance_ids, DocumentName=document, Parameters=params, **extra)["Command"]


def statuses(ssm, command_id) -> dict[str, tuple[str, str]]:
    invocations = ssm.list_command_invocations(CommandId=command_id)["CommandInvocations"]
    return {i["InstanceId"]: (i["Status"], i["StatusDetails"]) for i in invocations}


def aggregate(ssm, command_id) -> dict:
    command = ssm.list_commands(CommandId=command_id)["Commands"][0]
    keys = ("Status", "StatusDetails", "TargetCount", "CompletedCount", "ErrorCount", "DeliveryTimedOutCount")
    return {k: command[k] for k in keys}


def command_status(ssm, command_id) -> tuple[str, str]:
    command = aggregate(ssm, command_id)
    return command["Status"], command["StatusDetails"]


def test_a_successful_install_goes_pending_in_progress_success_with_counts_at_each_step(make):
    emu, ssm = make({})
    (iid,) = ids(1)
    command = send(ssm, [iid])
    cid = command["CommandId"]

    assert statuses(ssm, cid) == {iid: ("Pending", "Pending")}
    assert aggregate(ssm, cid) == {
        "Status": "Pending",
        "StatusDetails": "Pending",
        "TargetCount": 1,
        "CompletedCount": 0,
        "ErrorCount": 0,
        "DeliveryTimedOutCount": 0,
    }
    emu.advance(5)
    assert statuses(ssm, cid) == {iid: ("InProgress", "InProgress")}
    assert aggregate(ssm, cid)["Status"] == "InProgress"
    emu.advance(59)
    assert statuses(ssm, cid) == {iid: ("InProgress", "InProgress")}
    emu.advance(1)
    assert statuses(ssm, cid) == {iid: ("Success", "Success")}
    assert aggregate(ssm, cid) == {
        "Status": "Success",
        "StatusDetails": "Success",
        "TargetCount": 1,
        "CompletedCount": 1,
        "ErrorCount": 0,
        "DeliveryTimedOutCount": 0,
    }


def test_a_failing_install_reports_failed_with_the_installer_output(make):
    emu, ssm = make({"install": "fail"})
    (iid,) = ids(1)
    cid = send(ssm, [iid])["CommandId"]
    emu.advance(65)

    result = ssm.get_command_invocation(CommandId=cid, InstanceId=iid, PluginName="InstallLinuxAgent")

    assert (result["Status"], result["StatusDetails"], result["ResponseCode"]) == ("Failed", "Failed", 1)
    assert (
        "Command '['./aws-replication-installer-init', '--no-prompt', '--region', 'us-west-2']' "
        "returned non-zero exit status 1." in result["StandardOutputContent"]
    )
    assert "Failed to install the AWS Replication Agent" in result["StandardErrorContent"]
    assert result["StandardErrorContent"].endswith("failed to run commands: exit status 1")
    assert aggregate(ssm, cid) == {
        "Status": "Failed",
        "StatusDetails": "Failed",
        "TargetCount": 1,
        "CompletedCount": 1,
        "ErrorCount": 1,
        "DeliveryTimedOutCount": 0,
    }


def test_a_failing_windows_install_reports_the_powershell_error(make):
    emu, ssm = make(
        {"install": "fail", "platform": "Windows", "platform_name": "Microsoft Windows Server 2019 Datacenter"}
    )
    (iid,) = ids(1)
    cid = send(ssm, [iid])["CommandId"]
    emu.advance(65)

    result = ssm.get_command_invocation(CommandId=cid, InstanceId=iid, PluginName="InstallWindowsAgent")
    skipped = ssm.get_command_invocation(CommandId=cid, InstanceId=iid, PluginName="InstallLinuxAgent")

    assert (result["Status"], result["ResponseCode"]) == ("Failed", 1)
    assert ": Installation failed" in result["StandardErrorContent"]
    assert "WriteErrorException" in result["StandardErrorContent"]
    assert skipped["Status"] == "Success"
    assert "unsatisfied preconditions" in skipped["StandardOutputContent"]


def test_an_offline_agent_never_gets_the_command_and_it_ends_delivery_timed_out(make):
    emu, ssm = make({"ssm": "ConnectionLost"})
    (iid,) = ids(1)
    command = send(ssm, [iid])
    cid = command["CommandId"]

    emu.advance(7199)
    assert statuses(ssm, cid) == {iid: ("Pending", "Pending")}
    assert aggregate(ssm, cid)["Status"] == "Pending"
    emu.advance(1)
    assert statuses(ssm, cid) == {iid: ("TimedOut", "DeliveryTimedOut")}
    assert aggregate(ssm, cid) == {
        "Status": "TimedOut",
        "StatusDetails": "DeliveryTimedOut",
        "TargetCount": 1,
        "CompletedCount": 1,
        "ErrorCount": 0,
        "DeliveryTimedOutCount": 1,
    }


def test_an_agent_that_comes_back_online_picks_the_command_up(make):
    emu, ssm = make({"ssm": "ConnectionLost"})
    (iid,) = ids(1)
    cid = send(ssm, [iid])["CommandId"]
    emu.advance(600)

    emu.admin.service("ssm", "set-ping-status", instance_id=iid, status="Online")
    emu.advance(5)
    assert statuses(ssm, cid) == {iid: ("InProgress", "InProgress")}
    emu.advance(60)
    assert statuses(ssm, cid) == {iid: ("Success", "Success")}


def test_a_result_finished_while_the_agent_was_offline_is_reported_when_it_reconnects(make):
    emu, ssm = make({})
    (iid,) = ids(1)
    cid = send(ssm, [iid])["CommandId"]
    emu.advance(10)
    emu.admin.service("ssm", "set-ping-status", instance_id=iid, status="ConnectionLost")
    emu.advance(300)
    assert statuses(ssm, cid) == {iid: ("InProgress", "InProgress")}

    emu.admin.service("ssm", "set-ping-status", instance_id=iid, status="Online")
    emu.advance(1)
    assert statuses(ssm, cid) == {iid: ("Success", "Success")}


def test_a_hanging_install_times_out_at_the_execution_timeout(make):
    emu, ssm = make({"install": "hang"})
    (iid,) = ids(1)
    cid = send(ssm, [iid])["CommandId"]

    emu.advance(5 + 3599)
    assert statuses(ssm, cid) == {iid: ("InProgress", "InProgress")}
    emu.advance(1)
    result = ssm.get_command_invocation(CommandId=cid, InstanceId=iid, PluginName="InstallLinuxAgent")

    assert (result["Status"], result["StatusDetails"], result["ResponseCode"]) == ("TimedOut", "ExecutionTimedOut", 137)
    assert aggregate(ssm, cid) == {
        "Status": "TimedOut",
        "StatusDetails": "ExecutionTimedOut",
        "TargetCount": 1,
        "CompletedCount": 1,
        "ErrorCount": 1,
        "DeliveryTimedOutCount": 0,
    }


def test_a_command_the_agent_never_acknowledges_ends_delivery_timed_out(make):
    emu, ssm = make({"install": "timeout"})
    (iid,) = ids(1)
    cid = send(ssm, [iid], TimeoutSeconds=60)["CommandId"]

    emu.advance(60 + 3600 - 1)
    assert statuses(ssm, cid) == {iid: ("Pending", "Pending")}
    emu.advance(1)
    assert statuses(ssm, cid) == {iid: ("TimedOut", "DeliveryTimedOut")}


def test_max_concurrency_one_runs_the_targets_one_after_another(make):
    emu, ssm = make({}, {}, {})
    a, b, c = ids(3)
    cid = send(ssm, [a, b, c], MaxConcurrency="1")["CommandId"]
    seen_in_progress = []
    for _ in range(3 * 13 + 2):
        running = [i for i, (status, _) in statuses(ssm, cid).items() if status == "InProgress"]
        seen_in_progress.append(len(running))
        emu.advance(5)

    assert max(seen_in_progress) == 1
    assert statuses(ssm, cid) == {a: ("Success", "Success"), b: ("Success", "Success"), c: ("Success", "Success")}


def test_targets_are_sent_in_growing_waves(make):
    emu, ssm = make(*[{}] * 7)
    cid = send(ssm, ids(7))["CommandId"]

    def sent():
        return sum(1 for status, _ in statuses(ssm, cid).values() if status != "Pending")

    emu.advance(5)
    assert sent() == 1  # the first target, acknowledged after 5 s
    emu.advance(5)
    assert sent() == 3  # then two more
    emu.advance(5)
    assert sent() == 7  # then four more


def send_by_tag(ssm, key="tag:app", values=("shop",)):
    return ssm.send_command(
        Targets=[{"Key": key, "Values": list(values)}], DocumentName=DRS_DOC, Parameters={"Region": ["us-west-2"]}
    )["Command"]["CommandId"]


def test_a_command_sent_by_tag_lists_its_targets_once_they_are_resolved(make):
    emu, ssm = make({"tags": {"app": "shop"}}, {"tags": {"app": "shop"}}, {})
    a, b, _ = ids(3)
    cid = send_by_tag(ssm)

    emu.advance(1)
    assert aggregate(ssm, cid) == {
        "Status": "Pending",
        "StatusDetails": "Pending",
        "TargetCount": 0,
        "CompletedCount": 0,
        "ErrorCount": 0,
        "DeliveryTimedOutCount": 0,
    }
    assert statuses(ssm, cid) == {}
    emu.advance(1)
    assert statuses(ssm, cid) == {a: ("Pending", "Pending"), b: ("Pending", "Pending")}
    assert aggregate(ssm, cid)["TargetCount"] == 2
    emu.advance(5 + 5 + 60)
    assert command_status(ssm, cid) == ("Success", "Success")


def test_a_command_sent_by_tag_sends_its_waves_from_when_its_targets_are_resolved(emulator_factory):
    slow_tags = {**TIMING, "ssm_target_resolution_seconds": 12}  # longer than two delivery waves
    emu = emulator_factory({**fleet(*[{"tags": {"app": "shop"}}] * 7), "timing": slow_tags})
    ssm = emu.client("ssm")
    cid = send_by_tag(ssm)

    def sent():
        return sum(1 for status, _ in statuses(ssm, cid).values() if status != "Pending")

    emu.advance(12 + 5)
    assert sent() == 1  # the first target, not three waves' worth at once
    emu.advance(5)
    assert sent() == 3


def test_a_command_sent_by_instance_ids_in_targets_lists_them_at_once(make):
    emu, ssm = make({}, {})
    a, b = ids(2)
    cid = send_by_tag(ssm, key="InstanceIds", values=(a, b))

    assert aggregate(ssm, cid)["TargetCount"] == 2
    assert set(statuses(ssm, cid)) == {a, b}


def test_a_tag_no_instance_carries_fails_no_instances_in_tag_once_resolved(make):
    emu, ssm = make({})
    cid = send_by_tag(ssm, values=("nothing-has-this",))

    assert command_status(ssm, cid) == ("Pending", "Pending")
    emu.advance(2)
    assert command_status(ssm, cid) == ("Failed", "NoInstancesInTag")


def test_a_command_cancelled_while_its_tags_resolve_reaches_no_instance(make):
    emu, ssm = make({"tags": {"app": "shop"}})
    cid = send_by_tag(ssm)
    ssm.cancel_command(CommandId=cid)

    emu.advance(2 + 5 + 60)
    assert command_status(ssm, cid) == ("Cancelled", "Cancelled")
    assert statuses(ssm, cid) == {}
    servers = emu.client("drs", region="us-west-2").describe_source_servers(filters={})["items"]
    assert servers == []  # nothing ran, so no agent registered


def test_exceeding_max_errors_stops_sending_and_terminates_the_rest(make):
    emu, ssm = make({"install": "fail"}, {}, {})
    a, b, c = ids(3)
    cid = send(ssm, [a, b, c], MaxConcurrency="1", MaxErrors="0")["CommandId"]
    emu.advance(65)

    assert statuses(ssm, cid) == {
        a: ("Failed", "Failed"),
        b: ("Cancelled", "Terminated"),
        c: ("Cancelled", "Terminated"),
    }
    assert aggregate(ssm, cid) == {
        "Status": "Failed",
        "StatusDetails": "Failed",
        "TargetCount": 3,
        "CompletedCount": 3,
        "ErrorCount": 1,
        "DeliveryTimedOutCount": 0,
    }


def test_errors_within_max_errors_leave_the_command_incomplete(make):
    emu, ssm = make({"install": "fail"}, {}, {})
    a, b, c = ids(3)
    cid = send(ssm, [a, b, c], MaxErrors="1")["CommandId"]
    emu.advance(200)

    assert statuses(ssm, cid) == {a: ("Failed", "Failed"), b: ("Success", "Success"), c: ("Success", "Success")}
    assert aggregate(ssm, cid)["StatusDetails"] == "Incomplete"
    assert aggregate(ssm, cid)["ErrorCount"] == 1


def test_access_denied_does_not_count_against_max_errors(make):
    emu, ssm = make({"install": "access_denied"}, {})
    a, b = ids(2)
    cid = send(ssm, [a, b])["CommandId"]
    emu.advance(200)

    assert statuses(ssm, cid) == {a: ("Failed", "AccessDenied"), b: ("Success", "Success")}
    # "4 of which return AccessDenied and 1 Success -> the parent command's status is Success"
    assert aggregate(ssm, cid)["Status"] == "Success"


def test_cancel_command_moves_through_cancelling_to_cancelled(make):
    emu, ssm = make({}, {})
    a, b = ids(2)
    cid = send(ssm, [a, b])["CommandId"]
    emu.advance(5)

    ssm.cancel_command(CommandId=cid)
    assert statuses(ssm, cid) == {a: ("Cancelling", "Cancelling"), b: ("Cancelling", "Cancelling")}
    assert aggregate(ssm, cid)["Status"] == "Cancelling"
    emu.advance(5)
    assert statuses(ssm, cid) == {a: ("Cancelled", "Cancelled"), b: ("Cancelled", "Cancelled")}
    assert aggregate(ssm, cid)["Status"] == "Cancelled"
    emu.advance(120)  # the install that was running must not come back as Success
    assert statuses(ssm, cid)[a] == ("Cancelled", "Cancelled")


def test_cancelling_one_instance_leaves_the_others_running(make):
    emu, ssm = make({}, {})
    a, b = ids(2)
    cid = send(ssm, [a, b])["CommandId"]
    emu.advance(10)

    ssm.cancel_command(CommandId=cid, InstanceIds=[b])
    emu.advance(100)

    assert statuses(ssm, cid) == {a: ("Success", "Success"), b: ("Cancelled", "Cancelled")}


def test_cancelling_a_finished_command_changes_nothing(make):
    emu, ssm = make({})
    cid = send(ssm, ids(1))["CommandId"]
    emu.advance(100)

    ssm.cancel_command(CommandId=cid)

    assert aggregate(ssm, cid)["Status"] == "Success"


def test_an_instance_that_vanishes_before_the_command_reaches_it_is_undeliverable(make):
    emu, ssm = make({}, {})
    a, b = ids(2)
    cid = send(ssm, [a, b], MaxConcurrency="1")["CommandId"]
    emu.admin.service("ec2", "remove-instance", instance_id=b)
    emu.advance(200)

    assert statuses(ssm, cid) == {a: ("Success", "Success"), b: ("Failed", "Undeliverable")}
    assert [i["InstanceId"] for i in ssm.describe_instance_information()["InstanceInformationList"]] == [a]
    with pytest.raises(ssm.exceptions.InvalidInstanceId):
        send(ssm, [b])


def test_an_instance_that_vanishes_mid_run_never_reports_and_the_command_expires(make):
    emu, ssm = make({})
    (a,) = ids(1)
    cid = send(ssm, [a])["CommandId"]
    emu.advance(10)
    emu.admin.service("ec2", "remove-instance", instance_id=a)

    emu.advance(1000)
    assert statuses(ssm, cid) == {a: ("InProgress", "InProgress")}
    emu.advance(7200)
    assert statuses(ssm, cid) == {a: ("TimedOut", "DeliveryTimedOut")}


def test_a_run_shell_script_command_on_windows_is_an_invalid_platform(make):
    emu, ssm = make({"platform": "Windows", "platform_name": "Windows"}, {})
    a, b = ids(2)
    cid = send(ssm, [a, b], document="AWS-RunShellScript")["CommandId"]
    emu.advance(100)

    assert statuses(ssm, cid) == {a: ("Failed", "InvalidPlatform"), b: ("Success", "Success")}
    assert aggregate(ssm, cid)["Status"] == "Success"


def test_a_command_whose_every_invocation_is_undeliverable_or_invalid_platform_is_failed(make):
    """The guide's command-level details have no Undeliverable or Invalid Platform: the command is Failed."""
    emu, ssm = make({}, {"platform": "Windows", "platform_name": "Windows"})
    a, b = ids(2)
    undeliverable = send(ssm, [a], MaxConcurrency="1")["CommandId"]
    emu.admin.service("ec2", "remove-instance", instance_id=a)
    invalid = send(ssm, [b], document="AWS-RunShellScript")["CommandId"]
    emu.advance(200)

    assert statuses(ssm, undeliverable) == {a: ("Failed", "Undeliverable")}
    assert command_status(ssm, undeliverable) == ("Failed", "Failed")
    assert statuses(ssm, invalid) == {b: ("Failed", "InvalidPlatform")}
    assert command_status(ssm, invalid) == ("Failed", "Failed")


def test_a_command_whose_every_invocation_is_access_denied_reports_access_denied(make):
    emu, ssm = make({"install": "access_denied"})
    cid = send(ssm, ids(1))["CommandId"]
    emu.advance(200)

    assert command_status(ssm, cid) == ("Failed", "AccessDenied")


def test_the_execution_timeout_parameter_of_run_shell_script_bounds_a_hanging_run(make):
    emu, ssm = make({"install": "hang"})
    (a,) = ids(1)
    command = ssm.send_command(
        InstanceIds=[a],
        DocumentName="AWS-RunShellScript",
        Parameters={"commands": ["sleep 1d"], "executionTimeout": ["120"]},
    )["Command"]
    emu.advance(5 + 120)

    assert statuses(ssm, command["CommandId"]) == {a: ("TimedOut", "ExecutionTimedOut")}
    assert (command["ExpiresAfter"] - command["RequestedDateTime"]).total_seconds() == 3600 + 120


def test_set_install_outcome_changes_how_the_next_run_ends(make):
    emu, ssm = make({})
    (a,) = ids(1)
    emu.admin.service("ssm", "set-install-outcome", instance_id=a, outcome="fail")
    cid = send(ssm, [a])["CommandId"]
    emu.advance(100)

    assert statuses(ssm, cid) == {a: ("Failed", "Failed")}


def test_a_stopped_instance_shows_connection_lost_and_does_not_run_commands(make):
    emu, ssm = make({"state": "stopped"})
    (a,) = ids(1)
    info = ssm.describe_instance_information()["InstanceInformationList"]
    cid = send(ssm, [a])["CommandId"]
    emu.advance(600)

    assert info[0]["PingStatus"] == "ConnectionLost"
    assert statuses(ssm, cid) == {a: ("Pending", "Pending")}


def test_an_instance_that_stops_reports_its_last_ping_at_the_stop(make):
    emu, ssm = make({})
    (a,) = ids(1)

    def ping():
        (info,) = ssm.describe_instance_information()["InstanceInformationList"]
        return info["PingStatus"], info["LastPingDateTime"]

    emu.advance(300)
    _, online_at = ping()
    emu.admin.service("ec2", "set-instance-state", instance_id=a, state="stopped")
    emu.advance(600)

    assert ping() == ("ConnectionLost", online_at)  # the agent's last ping was when the instance stopped
    emu.admin.service("ec2", "set-instance-state", instance_id=a, state="stopping")  # still down: unchanged
    assert ping() == ("ConnectionLost", online_at)
    emu.admin.service("ec2", "set-instance-state", instance_id=a, state="running")
    emu.advance(60)
    status, pinged = ping()
    assert status == "Online"
    assert (pinged - online_at).total_seconds() == 660


def test_an_offline_agent_keeps_its_last_ping_when_its_instance_stops(make):
    emu, ssm = make({})
    (a,) = ids(1)
    emu.advance(100)
    emu.admin.service("ssm", "set-ping-status", instance_id=a, status="ConnectionLost")
    lost_at = ssm.describe_instance_information()["InstanceInformationList"][0]["LastPingDateTime"]
    emu.advance(100)
    emu.admin.service("ec2", "set-instance-state", instance_id=a, state="stopped")

    assert ssm.describe_instance_information()["InstanceInformationList"][0]["LastPingDateTime"] == lost_at


def test_plugin_output_is_truncated_like_the_agent_does():
    long = "x" * 5000

    assert combined_output("ok", "") == "ok"
    assert combined_output("", "bad") == "\n----------ERROR-------\nbad"
    only_out = combined_output(long, "")
    assert len(only_out) == 2500
    assert only_out.endswith("\n---Output truncated---")
    both = combined_output(long, long)
    assert len(both) == 2500
    assert "\n---Output truncated---\n----------ERROR-------\n" in both
    assert both.endswith("\n---Error truncated----")
    short_out = combined_output("short", long)
    assert short_out.startswith("short\n----------ERROR-------\n")
    assert len(short_out) == 2500


def test_fleet_instance_values_are_checked_with_a_clear_error(emulator_factory):
    with pytest.raises(ValueError, match=r"instances\[0\]\.install is 'explode'; allowed: success, fail, hang"):
        emulator_factory({"instances": [{"install": "explode"}]})
