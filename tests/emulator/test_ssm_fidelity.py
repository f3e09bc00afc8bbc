"""SSM answers every emulated operation -- and its errors -- in the shape the botocore model defines.

Every client here is wrapped in ``StrictResponses``: a raw response body with an unknown
member, a wrong type, an enum value outside the model or a missing required member
fails the call. An error must be one the operation declares in the model (or one every
SSM operation can answer, ``validate.COMMON_ERRORS``) and arrive as that exception class.
"""

from __future__ import annotations

import pytest

from emulator.validate import StrictResponses

WEB1, WIN1, OFFLINE, UNMANAGED = (
    "i-0aaaaaaaaaaaaaaa1",
    "i-0aaaaaaaaaaaaaaa2",
    "i-0aaaaaaaaaaaaaaa3",
    "i-0aaaaaaaaaaaaaaa4",
)
DRS_DOC = "AWSDisasterRecovery-InstallDRAgentOnInstance"
FLEET = {
    "timing": {"ssm_delivery_seconds": 5, "install_seconds": 60, "registration_seconds": 10},
    "instances": [
        {"instance_id": WEB1, "name": "web-01", "tags": {"app": "shop", "dr": "yes"}},
        {
            "instance_id": WIN1,
            "name": "win-01",
            "tags": {"app": "shop"},
            "platform": "Windows",
            "platform_name": "Microsoft Windows Server 2022 Datacenter",
            "platform_version": "10.0.20348",
        },
        {"instance_id": OFFLINE, "name": "db-01", "ssm": "ConnectionLost"},
        {"instance_id": UNMANAGED, "name": "legacy", "ssm": "unmanaged"},
    ],
}
OPERATIONS = {
    "SendCommand",
    "ListCommands",
    "ListCommandInvocations",
    "GetCommandInvocation",
    "CancelCommand",
    "DescribeInstanceInformation",
    "DescribeDocument",
}


@pytest.fixture
def emu(emulator_factory):
    return emulator_factory(FLEET)


@pytest.fixture
def ssm(emu):
    client = emu.client("ssm", retries={"mode": "standard", "total_max_attempts": 1})
    client.strict = StrictResponses(client)
    return client


def install(ssm, *ids, region="us-west-2", **extra):
    return ssm.send_command(
        InstanceIds=list(ids), DocumentName=DRS_DOC, Parameters={"Region": [region], "Tags": [""]}, **extra
    )["Command"]


def test_send_command_returns_the_pending_command_with_every_modeled_field(ssm):
    command = install(ssm, WEB1, WIN1, Comment="DRS agent", TimeoutSeconds=600, OutputS3BucketName="logs-bucket")

    assert command["Status"] == "Pending"
    assert command["StatusDetails"] == "Pending"
    assert command["DocumentName"] == DRS_DOC
    assert command["InstanceIds"] == [WEB1, WIN1]
    assert (command["TargetCount"], command["CompletedCount"], command["ErrorCount"]) == (2, 0, 0)
    assert command["DeliveryTimedOutCount"] == 0
    assert command["MaxConcurrency"] == "50"
    assert command["MaxErrors"] == "0"
    assert command["TimeoutSeconds"] == 600
    assert command["Parameters"] == {"Region": ["us-west-2"], "Tags": [""]}
    # ExpiresAfter = RequestedDateTime + delivery timeout + the document's execution timeout (3600).
    assert (command["ExpiresAfter"] - command["RequestedDateTime"]).total_seconds() == 600 + 3600
    assert ssm.strict.seen == ["SendCommand"]


def test_send_command_to_an_instance_ssm_does_not_manage_rejects_the_whole_call(ssm):
    with pytest.raises(ssm.exceptions.InvalidInstanceId) as error:
        install(ssm, WEB1, UNMANAGED)

    assert error.value.response["Error"]["Message"] == (
        f"Instances [[{UNMANAGED}]] not in a valid state for account 123456789012"
    )
    assert ssm.list_commands()["Commands"] == []


def test_send_command_checks_the_document_and_its_parameters(ssm):
    with pytest.raises(ssm.exceptions.InvalidDocument):
        ssm.send_command(InstanceIds=[WEB1], DocumentName="No-Such-Document")
    with pytest.raises(ssm.exceptions.InvalidDocumentVersion):
        ssm.send_command(
            InstanceIds=[WEB1], DocumentName=DRS_DOC, DocumentVersion="7", Parameters={"Region": ["us-west-2"]}
        )
    with pytest.raises(ssm.exceptions.InvalidParameters, match="'Regoin' is not defined"):
        ssm.send_command(InstanceIds=[WEB1], DocumentName=DRS_DOC, Parameters={"Regoin": ["us-west-2"]})
    with pytest.raises(ssm.exceptions.InvalidParameters, match="requires parameter.*Region"):
        ssm.send_command(InstanceIds=[WEB1], DocumentName=DRS_DOC, Parameters={"Tags": ["a=b"]})
    with pytest.raises(ssm.exceptions.InvalidParameters, match="not one of the allowed values"):
        install(ssm, WEB1, region="mars-north-1")
    with pytest.raises(ssm.exceptions.InvalidParameters, match="does not match the pattern"):
        ssm.send_command(InstanceIds=[WEB1], DocumentName=DRS_DOC, Parameters={"Region": ["us-west-2"], "Tags": ["x"]})
    with pytest.raises(ssm.exceptions.DuplicateInstanceId):
        install(ssm, WEB1, WEB1)
    assert ssm.list_commands()["Commands"] == []


def test_send_command_rejects_more_than_50_instance_ids_with_the_validation_message(ssm):
    ids = [f"i-{n:017x}" for n in range(51)]
    with pytest.raises(ssm.exceptions.ClientError) as error:
        install(ssm, *ids)

    assert error.value.response["Error"]["Code"] == "ValidationException"
    assert (
        "at 'instanceIds' failed to satisfy constraint: Member must have length less than or equal to 50"
        in (error.value.response["Error"]["Message"])
    )


def test_send_command_checks_notification_settings(ssm):
    topic = {"NotificationArn": "arn:aws:sns:us-east-1:123456789012:drs", "NotificationEvents": ["All"]}
    with pytest.raises(ssm.exceptions.InvalidRole):
        install(ssm, WEB1, NotificationConfig={**topic, "NotificationType": "Command"})
    with pytest.raises(ssm.exceptions.InvalidNotificationConfig):
        install(
            ssm,
            WEB1,
            ServiceRoleArn="arn:aws:iam::123456789012:role/ssm-notify",
            NotificationConfig={"NotificationArn": "not-an-arn", "NotificationType": "Command"},
        )

    command = install(
        ssm,
        WEB1,
        ServiceRoleArn="arn:aws:iam::123456789012:role/ssm-notify",
        NotificationConfig={**topic, "NotificationType": "Invocation"},
        CloudWatchOutputConfig={"CloudWatchLogGroupName": "/drs/install", "CloudWatchOutputEnabled": True},
    )
    assert command["NotificationConfig"]["NotificationType"] == "Invocation"
    assert command["ServiceRole"] == "arn:aws:iam::123456789012:role/ssm-notify"
    assert command["CloudWatchOutputConfig"]["CloudWatchOutputEnabled"] is True


def test_targets_resolve_tags_against_the_managed_instances_of_the_region(emu, ssm):
    command = ssm.send_command(
        Targets=[{"Key": "tag:app", "Values": ["shop"]}],
        DocumentName=DRS_DOC,
        Parameters={"Region": ["us-west-2"]},
    )["Command"]
    # Tags are resolved after SendCommand answers (ssm_target_resolution_seconds, 2 by default).
    assert (command["Status"], command["TargetCount"]) == ("Pending", 0)
    assert ssm.list_command_invocations(CommandId=command["CommandId"])["CommandInvocations"] == []
    emu.advance(2)
    invocations = ssm.list_command_invocations(CommandId=command["CommandId"])["CommandInvocations"]
    command = ssm.list_commands(CommandId=command["CommandId"])["Commands"][0]

    assert command["TargetCount"] == 2
    assert command["InstanceIds"] == []
    assert command["Targets"] == [{"Key": "tag:app", "Values": ["shop"]}]
    assert sorted(i["InstanceId"] for i in invocations) == [WEB1, WIN1]
    with pytest.raises(ssm.exceptions.InvalidInstanceId):
        ssm.send_command(
            Targets=[{"Key": "InstanceIds", "Values": [UNMANAGED]}],
            DocumentName=DRS_DOC,
            Parameters={"Region": ["us-west-2"]},
        )


def test_get_command_invocation_needs_an_existing_invocation_and_step(emu, ssm):
    command = install(ssm, WEB1)
    with pytest.raises(ssm.exceptions.InvocationDoesNotExist):
        ssm.get_command_invocation(CommandId=command["CommandId"], InstanceId=WIN1)
    with pytest.raises(ssm.exceptions.InvalidPluginName):
        ssm.get_command_invocation(CommandId=command["CommandId"], InstanceId=WEB1, PluginName="NoSuchStep")

    emu.advance(5 + 60)
    step = ssm.get_command_invocation(CommandId=command["CommandId"], InstanceId=WEB1, PluginName="InstallLinuxAgent")

    assert (step["Status"], step["ResponseCode"], step["PluginName"]) == ("Success", 0, "InstallLinuxAgent")
    assert step["StandardOutputContent"] == "/usr/bin/python3\n"
    assert step["ExecutionElapsedTime"] == "PT60.000S"
    # "If the document contains more than one step, you must specify the name of the step" (the model).
    with pytest.raises(ssm.exceptions.InvalidPluginName):
        ssm.get_command_invocation(CommandId=command["CommandId"], InstanceId=WEB1)


def test_get_command_invocation_of_a_single_step_document_needs_no_plugin_name(emu, ssm):
    command = ssm.send_command(
        InstanceIds=[WEB1], DocumentName="AWS-RunShellScript", Parameters={"commands": ["true"]}
    )["Command"]
    emu.advance(5 + 60)

    result = ssm.get_command_invocation(CommandId=command["CommandId"], InstanceId=WEB1)

    assert (result["Status"], result["PluginName"]) == ("Success", "aws:runShellScript")


def test_list_invocations_with_details_reports_both_steps_of_the_install_document(emu, ssm):
    command = install(ssm, WEB1)
    emu.advance(5 + 60)

    invocation = ssm.list_command_invocations(CommandId=command["CommandId"], Details=True)["CommandInvocations"][0]
    plugins = {p["Name"]: p for p in invocation["CommandPlugins"]}

    assert invocation["InstanceName"] == "web-01"
    assert set(plugins) == {"InstallWindowsAgent", "InstallLinuxAgent"}
    assert plugins["InstallWindowsAgent"]["Output"].startswith(
        "Step execution skipped due to unsatisfied preconditions"
    )
    assert plugins["InstallLinuxAgent"]["Status"] == "Success"
    assert "----------ERROR-------" in plugins["InstallLinuxAgent"]["Output"]  # curl's progress meter on stderr
    assert ssm.list_command_invocations(CommandId=command["CommandId"])["CommandInvocations"][0]["CommandPlugins"] == []


def test_list_commands_filters_and_pages_newest_first(emu, ssm):
    ids = []
    for _ in range(3):
        ids.append(install(ssm, WEB1)["CommandId"])
        emu.advance(3)  # commands at t=0, 3, 6; now t=9: the first two delivered (5 s), the last not

    first = ssm.list_commands(MaxResults=2)
    second = ssm.list_commands(MaxResults=2, NextToken=first["NextToken"])

    assert [c["CommandId"] for c in first["Commands"] + second["Commands"]] == ids[::-1]
    assert "NextToken" not in second
    assert len(ssm.list_commands(Filters=[{"key": "DocumentName", "value": DRS_DOC}])["Commands"]) == 3
    assert [c["CommandId"] for c in ssm.list_commands(Filters=[{"key": "Status", "value": "Pending"}])["Commands"]] == [
        ids[2]
    ]
    assert len(ssm.list_commands(Filters=[{"key": "Status", "value": "InProgress"}])["Commands"]) == 2
    assert len(ssm.list_commands(Filters=[{"key": "ExecutionStage", "value": "Executing"}])["Commands"]) == 3
    assert ssm.list_commands(InstanceId=WIN1)["Commands"] == []
    assert ssm.list_commands(CommandId="00000000-0000-4000-8000-000000000000")["Commands"] == []
    with pytest.raises(ssm.exceptions.InvalidNextToken):
        ssm.list_commands(NextToken="garbage")
    # A bad filter value is an InvalidFilterKey: the only filter error ListCommands and
    # ListCommandInvocations declare (InvalidFilterValue is not theirs).
    with pytest.raises(ssm.exceptions.InvalidFilterKey):
        ssm.list_commands(Filters=[{"key": "InvokedAfter", "value": "yesterday"}])
    with pytest.raises(ssm.exceptions.InvalidFilterKey):
        ssm.list_commands(Filters=[{"key": "ExecutionStage", "value": "Sometimes"}])
    with pytest.raises(ssm.exceptions.InvalidFilterKey):
        ssm.list_command_invocations(Filters=[{"key": "InvokedBefore", "value": "tomorrow"}])
    with pytest.raises(ssm.exceptions.InvalidFilterKey):
        ssm.list_command_invocations(Filters=[{"key": "ExecutionStage", "value": "Complete"}])


def test_invoked_after_and_before_select_by_request_time(emu, ssm):
    early = install(ssm, WEB1)
    emu.advance(3600)
    late = install(ssm, WEB1)
    boundary = (early["RequestedDateTime"] + (late["RequestedDateTime"] - early["RequestedDateTime"]) / 2).strftime(
        "%Y-%m-%dT%H:%M:%SZ"
    )

    after = ssm.list_commands(Filters=[{"key": "InvokedAfter", "value": boundary}])["Commands"]
    before = ssm.list_command_invocations(Filters=[{"key": "InvokedBefore", "value": boundary}])["CommandInvocations"]

    assert [c["CommandId"] for c in after] == [late["CommandId"]]
    assert [i["CommandId"] for i in before] == [early["CommandId"]]


def test_cancel_command_needs_a_known_command(ssm):
    with pytest.raises(ssm.exceptions.InvalidCommandId):
        ssm.cancel_command(CommandId="00000000-0000-4000-8000-000000000000")
    command = install(ssm, WEB1)
    with pytest.raises(ssm.exceptions.InvalidInstanceId):
        ssm.cancel_command(CommandId=command["CommandId"], InstanceIds=[WIN1])


def test_describe_instance_information_lists_managed_instances_with_their_agent_facts(ssm):
    listing = ssm.describe_instance_information()["InstanceInformationList"]
    by_id = {i["InstanceId"]: i for i in listing}

    assert set(by_id) == {WEB1, WIN1, OFFLINE}  # the unmanaged instance is not there
    assert by_id[WEB1]["PingStatus"] == "Online"
    assert by_id[OFFLINE]["PingStatus"] == "ConnectionLost"
    assert by_id[WIN1]["PlatformType"] == "Windows"
    assert by_id[WEB1]["ResourceType"] == "EC2Instance"
    assert by_id[WEB1]["ComputerName"].endswith(".ec2.internal")
    assert by_id[WEB1]["AgentVersion"]


def test_describe_instance_information_filters_and_pages(ssm):
    offline = ssm.describe_instance_information(Filters=[{"Key": "PingStatus", "Values": ["ConnectionLost"]}])
    windows = ssm.describe_instance_information(
        InstanceInformationFilterList=[{"key": "PlatformTypes", "valueSet": ["Windows"]}]
    )
    tagged = ssm.describe_instance_information(Filters=[{"Key": "tag:app", "Values": ["shop"]}])
    page = ssm.describe_instance_information(MaxResults=5)

    assert [i["InstanceId"] for i in offline["InstanceInformationList"]] == [OFFLINE]
    assert [i["InstanceId"] for i in windows["InstanceInformationList"]] == [WIN1]
    assert sorted(i["InstanceId"] for i in tagged["InstanceInformationList"]) == [WEB1, WIN1]
    assert len(page["InstanceInformationList"]) == 3
    assert "NextToken" not in page
    with pytest.raises(ssm.exceptions.InvalidInstanceInformationFilterValue):
        ssm.describe_instance_information(Filters=[{"Key": "PingStatus", "Values": ["Sleeping"]}])
    with pytest.raises(ssm.exceptions.InvalidFilterKey):
        ssm.describe_instance_information(Filters=[{"Key": "Colour", "Values": ["blue"]}])


def test_describe_instance_information_refuses_the_filter_combinations_the_model_forbids(ssm):
    # "Attempting to use InstanceInformationFilterList and Filters leads to an exception error."
    with pytest.raises(ssm.exceptions.InvalidFilterKey):
        ssm.describe_instance_information(
            InstanceInformationFilterList=[{"key": "PingStatus", "valueSet": ["Online"]}],
            Filters=[{"Key": "PingStatus", "Values": ["Online"]}],
        )
    # "Tag filters can't be combined with other filter types."
    with pytest.raises(ssm.exceptions.InvalidFilterKey):
        ssm.describe_instance_information(
            Filters=[{"Key": "tag:app", "Values": ["shop"]}, {"Key": "PingStatus", "Values": ["Online"]}]
        )
    both_tags = ssm.describe_instance_information(
        Filters=[{"Key": "tag:app", "Values": ["shop"]}, {"Key": "tag-key", "Values": ["dr"]}]
    )
    assert [i["InstanceId"] for i in both_tags["InstanceInformationList"]] == [WEB1]


def test_describe_document_gives_the_install_document_parameters_and_platforms(ssm):
    document = ssm.describe_document(Name=DRS_DOC)["Document"]
    params = {p["Name"]: p for p in document["Parameters"]}

    assert document["PlatformTypes"] == ["Windows", "Linux"]
    assert document["DocumentType"] == "Command"
    assert document["Owner"] == "Amazon"
    assert params["Region"] == {
        "Name": "Region",
        "Type": "String",
        "Description": "(Required) AWS Region into which you are replicating.",
    }
    assert params["Tags"]["DefaultValue"] == ""
    with pytest.raises(ssm.exceptions.InvalidDocument):
        ssm.describe_document(Name="No-Such-Document")


def test_a_registered_custom_document_is_described_and_validated(emu, ssm):
    emu.admin.service(
        "ssm",
        "register-document",
        name="DRS-InstallAgentCrossAccount",
        installs_drs_agent=True,
        parameters=[
            {"Name": "Region", "Type": "String", "Description": "Target Region"},
            {"Name": "AccountId", "Type": "String", "Description": "Target account", "DefaultValue": ""},
        ],
    )

    document = ssm.describe_document(Name="DRS-InstallAgentCrossAccount")["Document"]
    assert [p["Name"] for p in document["Parameters"]] == ["Region", "AccountId"]
    assert document["Owner"] == "123456789012"
    with pytest.raises(ssm.exceptions.InvalidParameters):
        ssm.send_command(InstanceIds=[WEB1], DocumentName="DRS-InstallAgentCrossAccount", Parameters={"Tags": ["a=b"]})


def test_every_emulated_ssm_operation_and_error_is_covered_by_strict_validation(emu, ssm):
    command = install(ssm, WEB1, WIN1, OFFLINE)
    emu.advance(5)
    ssm.list_commands(CommandId=command["CommandId"])
    ssm.list_command_invocations(CommandId=command["CommandId"], Details=True)
    ssm.get_command_invocation(CommandId=command["CommandId"], InstanceId=WEB1, PluginName="InstallLinuxAgent")
    ssm.describe_instance_information(MaxResults=5)
    ssm.describe_document(Name=DRS_DOC)
    ssm.cancel_command(CommandId=command["CommandId"])
    emu.advance(5)
    ssm.list_command_invocations(CommandId=command["CommandId"], Details=True)
    failures = [
        lambda: install(ssm, UNMANAGED),
        lambda: ssm.send_command(InstanceIds=[WEB1], DocumentName="Nope-Document"),
        lambda: ssm.send_command(InstanceIds=[WEB1], DocumentName=DRS_DOC),
        lambda: ssm.get_command_invocation(CommandId=command["CommandId"], InstanceId=UNMANAGED),
        lambda: ssm.cancel_command(CommandId="00000000-0000-4000-8000-000000000000"),
        lambda: ssm.describe_instance_information(Filters=[{"Key": "Colour", "Values": ["x"]}]),
        lambda: ssm.get_command_invocation(CommandId=command["CommandId"], InstanceId=WEB1),
        lambda: ssm.list_commands(Filters=[{"key": "InvokedAfter", "value": "yesterday"}]),
        lambda: install(ssm, *[f"i-{n:017x}" for n in range(51)]),
    ]
    for call in failures:
        with pytest.raises(ssm.exceptions.ClientError):
            call()

    operations = {op for op in ssm.strict.seen if "!" not in op}
    errors = {op for op in ssm.strict.seen if "!" in op}
    assert operations == OPERATIONS
    assert errors == {
        "SendCommand!InvalidInstanceId",
        "SendCommand!InvalidDocument",
        "SendCommand!InvalidParameters",
        "GetCommandInvocation!InvocationDoesNotExist",
        "CancelCommand!InvalidCommandId",
        "DescribeInstanceInformation!InvalidFilterKey",
        "GetCommandInvocation!InvalidPluginName",
        "ListCommands!InvalidFilterKey",
        "SendCommand!ValidationException",  # a model constraint: one of the common errors
    }
