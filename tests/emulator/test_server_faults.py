"""Call-level faults: throttling per service, injected failures before/after execution, disconnects, latency."""

from __future__ import annotations

import time

import pytest
from botocore.exceptions import ClientError, ConnectionClosedError

from emulator.validate import StrictResponses

DRS_DOC = "AWSDisasterRecovery-InstallDRAgentOnInstance"
IID = "i-0eeeeeeeeeeeeeee1"
NO_RETRY = {"mode": "standard", "total_max_attempts": 1}


@pytest.fixture
def emu(emulator_factory):
    return emulator_factory({"instances": [{"instance_id": IID}]})


def send(ssm):
    return ssm.send_command(InstanceIds=[IID], DocumentName=DRS_DOC, Parameters={"Region": ["us-west-2"]})


def commands(emu):
    return emu.client("ssm").list_commands()["Commands"]


def error_of(call) -> dict:
    with pytest.raises(ClientError) as error:
        call()
    return {
        "code": error.value.response["Error"]["Code"],
        "status": error.value.response["ResponseMetadata"]["HTTPStatusCode"],
    }


@pytest.mark.parametrize(
    ("service", "operation", "call", "code", "status"),
    [
        ("ssm", "ListCommands", lambda c: c.list_commands(), "ThrottlingException", 400),
        ("ec2", "DescribeInstances", lambda c: c.describe_instances(), "RequestLimitExceeded", 503),
        ("drs", "DescribeJobs", lambda c: c.describe_jobs(filters={}), "ThrottlingException", 429),
        ("sts", "GetCallerIdentity", lambda c: c.get_caller_identity(), "Throttling", 400),
    ],
)
def test_each_service_throttles_in_its_own_words_and_the_retryer_recovers(emu, service, operation, call, code, status):
    emu.admin.faults(throttle_next={f"{service}:{operation}": 1})
    assert error_of(lambda: call(emu.client(service, retries=NO_RETRY))) == {"code": code, "status": status}

    emu.admin.faults(throttle_next={f"{service}:{operation}": 2})
    call(emu.client(service, retries={"mode": "standard", "max_attempts": 3}))

    outcomes = [c["error"] for c in emu.calls(service, operation)]
    assert outcomes == [code, code, code, None]


def test_fail_next_before_does_not_execute_the_call(emu):
    emu.admin.faults(fail_next={"ssm:SendCommand": {"mode": "before", "status": 500, "code": "InternalServerError"}})

    assert error_of(lambda: send(emu.client("ssm", retries=NO_RETRY))) == {"code": "InternalServerError", "status": 500}
    assert commands(emu) == []


def test_fail_next_after_executes_the_call_then_answers_the_error(emu):
    emu.admin.faults(fail_next={"ssm:SendCommand": {"mode": "after", "status": 500, "code": "InternalServerError"}})

    assert error_of(lambda: send(emu.client("ssm", retries=NO_RETRY))) == {"code": "InternalServerError", "status": 500}
    (command,) = commands(emu)  # the client saw an error, yet the command exists
    assert command["InstanceIds"] == [IID]


def test_a_retried_after_failure_runs_the_command_twice(emu):
    """What an ambiguous failure does to a naive retry: the emulator makes it visible."""
    emu.admin.faults(fail_next={"ssm:SendCommand": {"mode": "after", "status": 500, "code": "InternalServerError"}})

    send(emu.client("ssm", retries={"mode": "standard", "max_attempts": 3}))

    assert len(commands(emu)) == 2


@pytest.mark.parametrize(
    ("service", "operation", "call", "code"),
    [
        ("drs", "DescribeJobs", lambda c: c.describe_jobs(filters={}), "InternalServerException"),
        ("ssm", "ListCommands", lambda c: c.list_commands(), "InternalServerError"),
        ("ec2", "DescribeInstances", lambda c: c.describe_instances(), "InternalError"),
        ("sts", "GetCallerIdentity", lambda c: c.get_caller_identity(), "InternalFailure"),
        ("dynamodb", "ListTables", lambda c: c.list_tables(), "InternalServerError"),
    ],
)
def test_an_injected_failure_defaults_to_the_services_own_internal_error(emu, service, operation, call, code):
    emu.admin.faults(fail_next={f"{service}:{operation}": {}})
    client = emu.client(service, retries=NO_RETRY)
    strict = StrictResponses(client)  # the code must be one the operation declares or a common one

    assert error_of(lambda: call(client)) == {"code": code, "status": 500}
    assert strict.seen == [f"{operation}!{code}"]


def test_fail_next_disconnect_executes_the_call_and_closes_the_connection(emu):
    emu.admin.faults(fail_next={"ssm:SendCommand": {"mode": "disconnect"}})

    with pytest.raises(ConnectionClosedError):
        send(emu.client("ssm", retries=NO_RETRY))
    assert len(commands(emu)) == 1
    assert emu.calls("ssm", "SendCommand")[-1]["error"] == "Disconnect"


def test_fail_next_counts_down_then_calls_succeed_again(emu):
    emu.admin.faults(fail_next={"ec2:DescribeInstances": {"count": 2, "status": 503, "code": "Unavailable"}})
    ec2 = emu.client("ec2", retries=NO_RETRY)

    assert error_of(ec2.describe_instances)["code"] == "Unavailable"
    assert error_of(ec2.describe_instances)["code"] == "Unavailable"
    assert ec2.describe_instances()["Reservations"]


def test_latency_slows_the_named_operation_only(emu):
    emu.admin.faults(latency_ms_by_operation={"ssm:DescribeInstanceInformation": 300})
    ssm = emu.client("ssm")

    start = time.monotonic()
    ssm.describe_instance_information()
    slow = time.monotonic() - start
    start = time.monotonic()
    ssm.list_commands()
    fast = time.monotonic() - start

    assert slow >= 0.3
    assert fast < 0.3


def test_clearing_faults_restores_normal_answers(emu):
    emu.admin.faults(throttle_rate=1.0)
    assert error_of(lambda: emu.client("ssm", retries=NO_RETRY).list_commands())["code"] == "ThrottlingException"

    emu.admin.clear_faults()

    assert emu.client("ssm", retries=NO_RETRY).list_commands()["Commands"] == []


def test_fleet_faults_apply_from_the_start(emulator_factory):
    emu = emulator_factory({"faults": {"throttle_next": {"ec2:DescribeInstances": 1}}})

    assert error_of(lambda: emu.client("ec2", retries=NO_RETRY).describe_instances())["code"] == "RequestLimitExceeded"
