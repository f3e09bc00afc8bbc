"""SSM plumbing: every documented status maps to an outcome, sending is safe, prechecks tolerate refusals."""

from __future__ import annotations

from datetime import UTC, datetime

import boto3
import botocore.session
import pytest
from botocore.exceptions import ClientError, ConnectionClosedError
from botocore.stub import ANY, Stubber

from ansible_collections.drs.orchestration.plugins.module_utils import ssm
from ansible_collections.drs.orchestration.plugins.module_utils.errors import AmbiguousCallError

MARKER = "drs.orchestration agent install to us-west-2 run abcd1234 batch 1/1"
COMMAND_ID = "11111111-2222-4333-8444-555555555555"
NOW = datetime(2025, 1, 1, 12, 0, tzinfo=UTC)


def ssm_client():
    return boto3.client("ssm", region_name="us-east-1", aws_access_key_id="k", aws_secret_access_key="s")


def command(comment=MARKER, status="Pending", **extra):
    return {
        "CommandId": extra.pop("CommandId", COMMAND_ID),
        "DocumentName": "AWSDisasterRecovery-InstallDRAgentOnInstance",
        "Comment": comment,
        "Status": status,
        "InstanceIds": ["i-0123456789abcdef0"],
        "RequestedDateTime": NOW,
        "Parameters": {"Region": ["us-west-2"]},
        **extra,
    }


def client_error(code, status=400):
    return ClientError({"Error": {"Code": code, "Message": code}, "ResponseMetadata": {"HTTPStatusCode": status}}, "X")


class Writer:
    """A SendCommand that raises the given errors in order, then accepts."""

    def __init__(self, *errors):
        self.errors = list(errors)
        self.sent = []

    def send_command(self, **params):
        self.sent.append(params)
        if self.errors:
            raise self.errors.pop(0)
        return {"Command": command(comment=params["Comment"]), "ResponseMetadata": {}}


# -- statuses -------------------------------------------------------------------------


def documented_invocation_values():
    model = botocore.session.get_session().get_service_model("ssm")
    statuses = model.shape_for("CommandInvocationStatus").enum
    # StatusDetails values listed in the model's documentation and ListCommandInvocations' Status filter.
    details = [
        "Pending",
        "In Progress",
        "Delayed",
        "Success",
        "Delivery Timed Out",
        "Execution Timed Out",
        "Failed",
        "Cancelled",
        "Undeliverable",
        "Terminated",
        "DeliveryTimedOut",
        "ExecutionTimedOut",
        "InvalidPlatform",
        "AccessDenied",
        "TimedOut",
    ]
    return statuses, details


def test_every_documented_invocation_status_and_detail_has_an_outcome():
    statuses, details = documented_invocation_values()
    for status in statuses:
        assert ssm.invocation_state(status)["group"] != "Unknown", status
    for detail in details:
        state = ssm.invocation_state("Failed", detail)
        assert state["group"] != "Unknown", detail
        assert state["reason"], detail


def test_every_documented_command_status_detail_has_an_outcome():
    model = botocore.session.get_session().get_service_model("ssm")
    for status in model.shape_for("CommandStatus").enum:
        assert ssm.overall_status([], status) != "Unknown"
    for detail in ("Incomplete", "Rate Exceeded", "LimitExceeded", "No Instances In Tag", "NoInstancesInTag"):
        assert ssm.overall_status([], "Failed", detail) == "Failed", detail


@pytest.mark.parametrize(
    ("status", "details", "group", "terminal"),
    [
        ("Pending", "Pending", "Pending", False),
        ("Delayed", "Delayed", "Pending", False),
        ("InProgress", "InProgress", "InProgress", False),
        ("Cancelling", "Cancelling", "InProgress", False),
        ("Success", "Success", "Success", True),
        ("TimedOut", "DeliveryTimedOut", "Failed", True),
        ("TimedOut", "Execution Timed Out", "Failed", True),
        ("Failed", "Undeliverable", "Failed", True),
        ("Failed", "InvalidPlatform", "Failed", True),
        ("Cancelled", "Terminated", "Failed", True),
        ("Cancelled", "Cancelled", "Cancelled", True),
    ],
)
def test_invocation_state_reads_status_details_first(status, details, group, terminal):
    state = ssm.invocation_state(status, details)
    assert (state["group"], state["terminal"]) == (group, terminal)


def test_delivery_failures_point_at_ssm_connectivity():
    assert ssm.invocation_state("TimedOut", "DeliveryTimedOut")["remedy"] == ssm.SSM_REMEDY
    assert "AmazonSSMManagedInstanceCore" in ssm.SSM_REMEDY
    assert "443" in ssm.SSM_REMEDY


def test_undocumented_status_is_reported_as_such():
    state = ssm.invocation_state("Exploded", "Kaboom")
    assert state["group"] == "Unknown"
    assert "undocumented" in state["reason"]


@pytest.mark.parametrize(
    ("groups", "expected"),
    [
        (["Success", "Success"], "Success"),
        (["Success", "Failed"], "Failed"),
        (["Success", "Cancelled"], "Cancelled"),
        (["Failed", "Cancelled"], "Failed"),
        (["Pending", "Pending"], "Pending"),
        (["Pending", "Success"], "InProgress"),
        (["InProgress", "Failed"], "InProgress"),
    ],
)
def test_overall_status_waits_for_unfinished_then_reports_the_worst(groups, expected):
    assert ssm.overall_status(groups) == expected


def test_output_keeps_the_end_where_errors_are():
    text = "x" * 3000 + "ERROR: cannot reach drs.us-west-2.amazonaws.com"
    out = ssm.truncate_output(text, limit=100)
    assert out.startswith("[...]")
    assert out.endswith("amazonaws.com")
    assert len(out) == 105


def test_invocation_summary_reports_times_exit_code_and_output():
    invocation = {
        "InstanceId": "i-0123456789abcdef0",
        "CommandId": COMMAND_ID,
        "Status": "Failed",
        "StatusDetails": "Failed",
        "RequestedDateTime": NOW,
        "CommandPlugins": [
            {
                "Name": "install",
                "Status": "Failed",
                "ResponseCode": 1,
                "ResponseStartDateTime": NOW,
                "ResponseFinishDateTime": NOW,
                "Output": "installer failed",
                "StandardOutputUrl": "https://s3.amazonaws.com/bucket/out",
            }
        ],
    }
    summary = ssm.invocation_summary(invocation)
    assert summary["state"] == "Failed"
    assert summary["response_code"] == 1
    assert summary["output"] == "installer failed"
    assert summary["output_url"].endswith("/out")
    assert summary["start_time"] == summary["end_time"] == "2025-01-01T12:00:00+00:00"


# -- sending ----------------------------------------------------------------------------


def test_throttled_send_is_retried_and_sent_once_accepted():
    writer = Writer(client_error("ThrottlingException"), client_error("ThrottlingException"))
    found, reconciled = ssm.send_command(
        writer, ssm_client(), {"DocumentName": "d"}, MARKER, ssm.ServiceClock(), sleep=lambda s: None
    )
    assert len(writer.sent) == 3
    assert found["Comment"] == MARKER
    assert not reconciled


def test_ambiguous_send_that_ran_is_found_by_its_marker_not_sent_again():
    reader = ssm_client()
    with Stubber(reader) as stub:
        stub.add_response(
            "list_commands",
            {"Commands": [command(comment="someone else", CommandId="9" * 8 + COMMAND_ID[8:]), command()]},
            {"Filters": ANY, "MaxResults": 50},
        )
        writer = Writer(client_error("InternalServerError", status=500))
        found, reconciled = ssm.send_command(
            writer, reader, {"DocumentName": "d"}, MARKER, ssm.ServiceClock(), sleep=lambda s: None
        )
    assert len(writer.sent) == 1
    assert reconciled
    assert found["CommandId"] == COMMAND_ID


def test_lost_answer_with_no_command_found_is_sent_again_with_the_same_marker():
    reader = ssm_client()
    with Stubber(reader) as stub:
        stub.add_response("list_commands", {"Commands": []})
        stub.add_response("list_commands", {"Commands": []})
        writer = Writer(ConnectionClosedError(endpoint_url="http://127.0.0.1"))
        found, reconciled = ssm.send_command(
            writer, reader, {"DocumentName": "d"}, MARKER, ssm.ServiceClock(), sleep=lambda s: None
        )
    assert [p["Comment"] for p in writer.sent] == [MARKER, MARKER]
    assert not reconciled
    assert found["Comment"] == MARKER


def test_reconcile_uses_the_services_clock_for_invoked_after():
    clock = ssm.ServiceClock()
    clock.observe({"ResponseMetadata": {"HTTPHeaders": {"date": "Wed, 01 Jan 2025 12:00:00 GMT"}}})
    reader = ssm_client()
    with Stubber(reader) as stub:
        stub.add_response(
            "list_commands",
            {"Commands": [command()]},
            {
                "Filters": [
                    {"key": "DocumentName", "value": "d"},
                    {"key": "InvokedAfter", "value": "2025-01-01T11:58:00Z"},
                ],
                "MaxResults": 50,
            },
        )
        ssm.send_command(
            Writer(client_error("ServiceUnavailable", status=503)),
            reader,
            {"DocumentName": "d"},
            MARKER,
            clock,
            sleep=lambda s: None,
        )


def test_refused_send_is_not_retried():
    writer = Writer(client_error("InvalidDocument"))
    with pytest.raises(ClientError):
        ssm.send_command(writer, ssm_client(), {"DocumentName": "d"}, MARKER, ssm.ServiceClock(), sleep=lambda s: None)
    assert len(writer.sent) == 1


def test_failed_lookup_after_ambiguous_send_raises_ambiguous_call_error():
    reader = ssm_client()
    with Stubber(reader) as stub:
        stub.add_client_error("list_commands", "AccessDeniedException", http_status_code=400)
        with pytest.raises(AmbiguousCallError, match="Re-run the task"):
            ssm.send_command(
                Writer(client_error("InternalServerError", status=500)),
                reader,
                {"DocumentName": "d"},
                MARKER,
                ssm.ServiceClock(),
                sleep=lambda s: None,
            )


def test_endless_ambiguity_gives_up_with_a_clear_message():
    reader = ssm_client()
    errors = [client_error("InternalServerError", status=500) for _ in range(3)]
    with Stubber(reader) as stub:
        for _ in range(6):
            stub.add_response("list_commands", {"Commands": []})
        with pytest.raises(AmbiguousCallError, match="failed 3 times"):
            ssm.send_command(
                Writer(*errors), reader, {"DocumentName": "d"}, MARKER, ssm.ServiceClock(), sleep=lambda s: None
            )


# -- precheck ------------------------------------------------------------------------------


def test_precheck_reads_in_chunks_and_isolates_ids_ssm_refuses():
    ids = [f"i-{n:017x}" for n in range(1, 5)]
    reader = ssm_client()
    online = {"PingStatus": "Online", "PlatformType": "Linux"}
    with Stubber(reader) as stub:
        stub.add_client_error("describe_instance_information", "InvalidInstanceId")  # ids[0:4] refused
        # split in halves, last half first
        stub.add_response(
            "describe_instance_information",
            {"InstanceInformationList": [{"InstanceId": ids[2], **online}, {"InstanceId": ids[3], **online}]},
        )
        stub.add_client_error("describe_instance_information", "InvalidInstanceId")  # ids[0:2]
        stub.add_response("describe_instance_information", {"InstanceInformationList": []})  # ids[1]
        stub.add_client_error("describe_instance_information", "InvalidInstanceId")  # ids[0]
        found = ssm.instance_information(reader, ids)
    assert sorted(found) == ids[2:]


def test_get_command_returns_none_for_an_unknown_id():
    reader = ssm_client()
    with Stubber(reader) as stub:
        stub.add_client_error("list_commands", "InvalidCommandId")
        assert ssm.get_command(reader, COMMAND_ID) is None
