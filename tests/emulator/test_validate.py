"""The strict response validator (emulator/validate.py) rejects what the models do not allow.

The fidelity tests trust it to fail a call on any deviation; these feed it bad bodies and
error codes directly and check each is refused, and that what AWS does send passes.
"""

from __future__ import annotations

import json

import boto3
import pytest

from emulator.protocols import service_model
from emulator.services.drs.backend import DrsBackend
from emulator.validate import ShapeMismatch, StrictResponses, check_json_response, check_xml_response

JOB = {"jobID": "drsjob-0123456789abcdef0", "arn": "arn:aws:drs:us-east-1:123456789012:job/drsjob-0123456789abcdef0"}


def drs_op(name: str):
    return service_model("drs").operation_model(name)


@pytest.mark.parametrize(
    ("body", "problem"),
    [
        ({"items": [], "colour": "red"}, "unknown member 'colour'"),
        ({"items": "none"}, "expected list"),
        ({"items": [{**JOB, "status": "DONE"}]}, "'DONE' is not in enum"),
        ({"items": [{"arn": JOB["arn"]}]}, "required member 'jobID'"),
        ({"items": [{**JOB, "jobID": "job-1"}]}, "5 characters < min 24"),
        ({"items": [{**JOB, "jobID": "drsjob_0123456789abcdef0"}]}, "does not match the pattern"),
        ({"items": [{**JOB, "creationDateTime": 1714564800}]}, "expected string"),
        ({"items": [{**JOB, "tags": {"k": 1}}]}, "expected string"),
        ({"items": [], "nextToken": None}, "null is never sent"),
    ],
)
def test_a_json_body_that_breaks_the_output_shape_is_rejected(body, problem):
    with pytest.raises(ShapeMismatch, match=problem):
        check_json_response(drs_op("DescribeJobs"), json.dumps(body).encode())


def test_a_json_body_that_fits_the_output_shape_passes():
    body = {"items": [{**JOB, "status": "PENDING", "creationDateTime": "2024-05-01T12:00:00Z"}], "nextToken": "x"}

    assert check_json_response(drs_op("DescribeJobs"), json.dumps(body).encode()) == body


def test_an_xml_body_with_an_unknown_element_or_bad_scalar_is_rejected():
    op = service_model("ec2").operation_model("DescribeInstances")
    ns = "http://ec2.amazonaws.com/doc/2016-11-15/"

    def response(inner: str) -> bytes:
        body = f"<requestId>r</requestId>{inner}"
        return f'<DescribeInstancesResponse xmlns="{ns}">{body}</DescribeInstancesResponse>'.encode()

    check_xml_response(op, response("<reservationSet/>"))
    with pytest.raises(ShapeMismatch, match="unknown element <colour>"):
        check_xml_response(op, response("<colour>red</colour>"))
    item = "<reservationSet><item><instancesSet><item>{}</item></instancesSet></item></reservationSet>"
    with pytest.raises(ShapeMismatch, match="not an integer"):
        check_xml_response(op, response(item.format("<amiLaunchIndex>first</amiLaunchIndex>")))
    with pytest.raises(ShapeMismatch, match="not in enum"):
        check_xml_response(op, response(item.format("<instanceType>huge</instanceType>")))


def test_a_query_xml_string_outside_the_model_limits_is_rejected():
    op = service_model("sts").operation_model("GetCallerIdentity")
    ns = "https://sts.amazonaws.com/doc/2011-06-15/"

    def response(arn: str) -> bytes:
        result = f"<GetCallerIdentityResult><Arn>{arn}</Arn><Account>123456789012</Account></GetCallerIdentityResult>"
        return f'<GetCallerIdentityResponse xmlns="{ns}">{result}</GetCallerIdentityResponse>'.encode()

    check_xml_response(op, response("arn:aws:iam::123456789012:user/emulator"), ec2=False)
    with pytest.raises(ShapeMismatch, match="8 characters < min 20"):
        check_xml_response(op, response("arn:aws:"), ec2=False)


@pytest.fixture
def strict():
    """``StrictResponses`` hooks of offline clients: ``strict[service]._check`` is fed raw responses."""
    clients = {
        name: boto3.client(
            name,
            region_name="us-east-1",
            endpoint_url="http://127.0.0.1:9",
            aws_access_key_id="AKIAEMULATOR00000000",
            aws_secret_access_key="x",
        )
        for name in ("drs", "ssm", "ec2")
    }
    return {name: StrictResponses(client) for name, client in clients.items()}


def json_error(code: str, body: dict, status: int = 400) -> dict:
    return {"status_code": status, "headers": {"x-amzn-ErrorType": code}, "body": json.dumps(body).encode()}


def feed(strict: StrictResponses, operation: str, response: dict) -> None:
    strict._check(operation_model=strict.model.operation_model(operation), response_dict=response)


@pytest.mark.parametrize(
    ("service", "operation", "code", "body"),
    [
        # ConflictException is a DRS exception, but DescribeSourceServers does not declare it.
        ("drs", "DescribeSourceServers", "ConflictException", {"message": "m", "resourceId": "s", "resourceType": "t"}),
        # InvalidFilterValue is an SSM exception, but not one of ListCommands.
        ("ssm", "ListCommands", "InvalidFilterValue", {"__type": "InvalidFilterValue", "Message": "m"}),
        ("ssm", "SendCommand", "NoSuchError", {"__type": "NoSuchError", "Message": "m"}),
    ],
)
def test_an_error_the_operation_does_not_declare_and_that_is_not_common_is_rejected(
    strict, service, operation, code, body
):
    with pytest.raises(ShapeMismatch, match=f"error '{code}' is neither declared by {operation}"):
        feed(strict[service], operation, json_error(code, body))


def test_an_xml_error_code_ec2_does_not_document_is_rejected(strict):
    body = b"<Response><Errors><Error><Code>NoSuchThing</Code><Message>m</Message></Error></Errors></Response>"
    with pytest.raises(ShapeMismatch, match="'NoSuchThing' is neither declared"):
        feed(strict["ec2"], "DescribeInstances", {"status_code": 400, "headers": {}, "body": body})


def test_declared_common_and_emulator_errors_pass_with_well_formed_bodies(strict):
    drs, ssm, ec2 = strict["drs"], strict["ssm"], strict["ec2"]
    feed(drs, "DescribeSourceServers", json_error("ValidationException", {"message": "m"}))  # declared
    feed(drs, "DescribeRecoveryInstances", json_error("ValidationException", {"message": "m"}))  # common
    feed(ssm, "ListCommands", json_error("InvalidFilterKey", {"__type": "InvalidFilterKey"}))  # declared
    feed(ssm, "SendCommand", json_error("ThrottlingException", {"__type": "ThrottlingException", "Message": "m"}))
    feed(drs, "DescribeLaunchConfigurationTemplates", json_error("NotImplemented", {"message": "m"}, 501))
    not_found = b"<Response><Errors><Error><Code>InvalidInstanceID.NotFound</Code></Error></Errors></Response>"
    feed(ec2, "DescribeInstances", {"status_code": 400, "headers": {}, "body": not_found})

    assert drs.seen == [
        "DescribeSourceServers!ValidationException",
        "DescribeRecoveryInstances!ValidationException",
        "DescribeLaunchConfigurationTemplates!NotImplemented",
    ]
    assert ssm.seen == ["ListCommands!InvalidFilterKey", "SendCommand!ThrottlingException"]
    assert ec2.seen == ["DescribeInstances!InvalidInstanceID.NotFound"]


def test_a_declared_error_whose_body_breaks_the_exception_shape_is_rejected(strict):
    with pytest.raises(ShapeMismatch, match="unknown member 'colour'"):
        feed(strict["drs"], "StartReplication", json_error("ConflictException", {"message": "m", "colour": "red"}))
    with pytest.raises(ShapeMismatch, match="'SOMETIMES' is not in enum"):
        feed(strict["drs"], "DescribeJobs", json_error("ValidationException", {"message": "m", "reason": "SOMETIMES"}))


def test_the_hook_fails_a_real_call_that_answers_an_undeclared_error(emulator_factory, monkeypatch):
    def conflict(self, params):
        from emulator.errors import AwsError

        raise AwsError("ConflictException", "not an error DescribeSourceServers has", resourceId="x", resourceType="y")

    monkeypatch.setattr(DrsBackend, "describe_source_servers", conflict)
    emu = emulator_factory({})
    client = emu.client("drs", retries={"mode": "standard", "total_max_attempts": 1})
    StrictResponses(client)

    with pytest.raises(ShapeMismatch, match="'ConflictException' is neither declared by DescribeSourceServers"):
        client.describe_source_servers()
