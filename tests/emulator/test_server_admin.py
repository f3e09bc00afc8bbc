"""The admin API: health, clock, call log, reset, fleet, service actions -- and scoping by Region and account."""

from __future__ import annotations

import time
import urllib.error
from datetime import datetime

import pytest

DRS_DOC = "AWSDisasterRecovery-InstallDRAgentOnInstance"
IID = "i-0fffffffffffffff1"
OTHER_KEY = "AKIAOTHERACCOUNT0000"
FLEET = {
    "accounts": {OTHER_KEY: "210987654321"},
    "timing": {"ssm_delivery_seconds": 5, "install_seconds": 60},
    "instances": [{"instance_id": IID, "name": "web-01"}],
}


@pytest.fixture
def emu(emulator_factory):
    return emulator_factory(FLEET)


def install(ssm, region="us-west-2"):
    return ssm.send_command(InstanceIds=[IID], DocumentName=DRS_DOC, Parameters={"Region": [region]})["Command"]


def admin_error(call) -> tuple[int, str]:
    with pytest.raises(urllib.error.HTTPError) as error:
        call()
    return error.value.code, error.value.read().decode()


def test_health_lists_the_emulated_services(emu):
    health = emu.admin.health()

    assert health["ok"] is True
    assert health["services"] == ["drs", "dynamodb", "ec2", "ssm", "sts"]


def test_advancing_the_clock_moves_virtual_time_and_runs_due_events(emu):
    ssm = emu.client("ssm")
    command = install(ssm)
    before = datetime.fromisoformat(emu.admin.clock()["now"])

    after = datetime.fromisoformat(emu.admin.advance(65)["now"])

    assert (after - before).total_seconds() == pytest.approx(65, abs=1)
    assert ssm.list_commands(CommandId=command["CommandId"])["Commands"][0]["Status"] == "Success"


def test_a_frozen_clock_stands_still_and_a_fast_one_runs(emu):
    frozen = [emu.admin.clock()["now"] for _ in range(3)]
    assert len(set(frozen)) == 1

    emu.admin.set_speed(3600)
    start_real = time.monotonic()
    first = datetime.fromisoformat(emu.admin.clock()["now"])
    second = datetime.fromisoformat(emu.admin.clock()["now"])
    elapsed_real = time.monotonic() - start_real

    assert emu.admin.clock()["speed"] == 3600
    assert 0 < (second - first).total_seconds() <= 3600 * elapsed_real + 1


def test_the_call_log_keeps_order_operation_params_and_outcome(emu):
    ssm = emu.client("ssm")
    ssm.describe_instance_information()
    install(ssm)
    with pytest.raises(ssm.exceptions.InvalidDocument):
        ssm.send_command(InstanceIds=[IID], DocumentName="Missing-Doc")

    calls = emu.admin.calls()
    mine = [(c["service"], c["operation"], c["status"], c["error"]) for c in calls]

    assert mine == [
        ("ssm", "DescribeInstanceInformation", 200, None),
        ("ssm", "SendCommand", 200, None),
        ("ssm", "SendCommand", 400, "InvalidDocument"),
    ]
    assert [c["seq"] for c in calls] == sorted(c["seq"] for c in calls)
    assert calls[1]["params"]["InstanceIds"] == [IID]
    assert calls[1]["account_id"] == "123456789012"
    assert calls[1]["region"] == "us-east-1"
    assert emu.admin.counts() == {"ssm:DescribeInstanceInformation": 1, "ssm:SendCommand": 2}
    assert emu.count("ssm", "SendCommand") == 2
    assert [c["operation"] for c in emu.admin.calls(since=calls[1]["seq"])] == ["SendCommand"]


def test_clearing_the_call_log(emu):
    emu.client("sts").get_caller_identity()

    emu.admin.reset_calls()

    assert emu.admin.calls() == []
    assert emu.admin.counts() == {}


def test_reset_drops_state_and_reloads_the_fleet(emu):
    ssm = emu.client("ssm")
    install(ssm)
    emu.admin.service("ec2", "remove-instance", instance_id=IID)

    emu.admin.reset()

    assert ssm.list_commands()["Commands"] == []
    assert [i["InstanceId"] for i in ssm.describe_instance_information()["InstanceInformationList"]] == [IID]
    assert emu.admin.counts() == {"ssm:ListCommands": 1, "ssm:DescribeInstanceInformation": 1}


def test_reset_with_a_new_fleet_replaces_it(emu):
    emu.admin.reset({"instances": [{"instance_id": "i-01111111111111111", "name": "new"}]})

    assert emu.admin._call("GET", "fleet")["instances"][0]["instance_id"] == "i-01111111111111111"
    listing = emu.client("ssm").describe_instance_information()["InstanceInformationList"]
    assert [i["InstanceId"] for i in listing] == ["i-01111111111111111"]


def test_reset_with_a_bad_fleet_is_a_clear_400(emu):
    status, body = admin_error(lambda: emu.admin.reset({"instances": [{"instnace_id": "i-1"}]}))

    assert status == 400
    assert "instances[0] has unknown keys ['instnace_id']" in body


def test_service_admin_actions_validate_their_input(emu):
    assert admin_error(lambda: emu.admin.service("ssm", "set-ping-status", instance_id=IID, status="Asleep"))[0] == 400
    assert (
        "is not an instance"
        in admin_error(
            lambda: emu.admin.service("ssm", "set-install-outcome", instance_id="i-09999999999999999", outcome="fail")
        )[1]
    )
    assert "must match" in admin_error(lambda: emu.admin.service("ssm", "register-document", name="x"))[1]
    assert admin_error(lambda: emu.admin.service("ssm", "no-such-action"))[0] == 404


def test_admin_actions_reach_the_backend_of_the_named_account_and_region(emu):
    emu.admin.service("ec2", "add-instance", region="eu-west-1", instance_id="i-02222222222222222", name="eu-1")

    eu = emu.client("ec2", region="eu-west-1").describe_instances()["Reservations"]
    us = emu.client("ec2").describe_instances()["Reservations"]
    assert [r["Instances"][0]["InstanceId"] for r in eu] == ["i-02222222222222222"]
    assert [r["Instances"][0]["InstanceId"] for r in us] == [IID]


def test_ssm_state_in_one_region_is_invisible_in_another(emu):
    emu.admin.service("ec2", "add-instance", region="eu-west-1", instance_id="i-03333333333333333")
    eu = emu.client("ssm", region="eu-west-1")
    eu.send_command(InstanceIds=["i-03333333333333333"], DocumentName=DRS_DOC, Parameters={"Region": ["us-west-2"]})

    assert len(eu.list_commands()["Commands"]) == 1
    assert emu.client("ssm").list_commands()["Commands"] == []
    with pytest.raises(eu.exceptions.InvalidInstanceId):
        install(emu.client("ssm", region="eu-west-1"))  # IID lives in us-east-1


def test_another_access_key_is_another_account_with_its_own_ssm(emu):
    other = emu.client("ssm", access_key=OTHER_KEY)

    assert other.describe_instance_information()["InstanceInformationList"] == []
    with pytest.raises(other.exceptions.InvalidInstanceId) as error:
        install(other)
    assert "for account 210987654321" in error.value.response["Error"]["Message"]


def test_an_unemulated_service_answers_not_implemented(emu):
    iam = emu.client("iam")

    with pytest.raises(iam.exceptions.ClientError) as error:
        iam.list_account_aliases()

    assert error.value.response["Error"]["Code"] == "NotImplemented"
    assert "'iam' is not emulated" in error.value.response["Error"]["Message"]
