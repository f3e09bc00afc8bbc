"""EC2 DescribeInstances: the fleet's instances in EC2's own XML shape, filters, paging and errors."""

from __future__ import annotations

import urllib.error

import pytest
from botocore.exceptions import ClientError

from emulator.validate import StrictResponses
from tests.module_harness import emulator_args, run_module

WEB1, WEB2, WIN1, DB1 = "i-0ccccccccccccccc1", "i-0ccccccccccccccc2", "i-0ccccccccccccccc3", "i-0ccccccccccccccc4"
FLEET = {
    "instances": [
        {"instance_id": WEB1, "name": "web-01", "tags": {"app": "shop", "tier": "web"}},
        {"instance_id": WEB2, "name": "web-02", "tags": {"app": "shop", "tier": "web"}, "instance_type": "m5.large"},
        {
            "instance_id": WIN1,
            "name": "win-01",
            "platform": "Windows",
            "platform_name": "Microsoft Windows Server 2022 Datacenter",
            "disks": [{"device": "C:", "size_gib": 50}, {"device": "D:", "size_gib": 100}],
        },
        {"instance_id": DB1, "name": "db-01", "state": "stopped", "tags": {"app": "erp"}},
    ]
}


@pytest.fixture
def emu(emulator_factory):
    return emulator_factory(FLEET)


@pytest.fixture
def ec2(emu):
    client = emu.client("ec2", retries={"mode": "standard", "total_max_attempts": 1})
    client.strict = StrictResponses(client)
    return client


def instances(response) -> list[dict]:
    return [i for r in response["Reservations"] for i in r["Instances"]]


def found(ec2, **kwargs) -> list[str]:
    return [i["InstanceId"] for i in instances(ec2.describe_instances(**kwargs))]


def error_of(call) -> tuple[str, str]:
    with pytest.raises(ClientError) as error:
        call()
    return error.value.response["Error"]["Code"], error.value.response["Error"]["Message"]


def test_describe_instances_returns_one_reservation_per_fleet_instance(ec2):
    response = ec2.describe_instances()
    by_id = {i["InstanceId"]: i for i in instances(response)}

    assert list(by_id) == [WEB1, WEB2, WIN1, DB1]
    assert all(r["OwnerId"] == "123456789012" and r["ReservationId"].startswith("r-") for r in response["Reservations"])
    web = by_id[WEB1]
    assert web["State"] == {"Code": 16, "Name": "running"}
    assert web["InstanceType"] == "t3.medium"
    assert web["PrivateIpAddress"]
    assert web["PrivateDnsName"].endswith(".ec2.internal")
    assert web["Placement"]["AvailabilityZone"].startswith("us-east-1")
    assert {t["Key"]: t["Value"] for t in web["Tags"]} == {"Name": "web-01", "app": "shop", "tier": "web"}
    assert web["PlatformDetails"] == "Linux/UNIX"
    assert "Platform" not in web
    assert web["BlockDeviceMappings"][0]["DeviceName"] == "/dev/xvda"
    assert web["IamInstanceProfile"]["Arn"].startswith("arn:aws:iam::123456789012:instance-profile/")
    assert by_id[DB1]["State"] == {"Code": 80, "Name": "stopped"}
    assert by_id[DB1]["StateReason"]["Code"] == "Client.UserInitiatedShutdown"
    assert ec2.strict.seen == ["DescribeInstances"]


def test_windows_instances_carry_the_platform_and_ec2_device_names(ec2):
    (win,) = instances(ec2.describe_instances(InstanceIds=[WIN1]))

    # The botocore model's PlatformValues enum spells it "Windows" (README: real EC2 sends "windows").
    assert win["Platform"] == "Windows"
    assert win["PlatformDetails"] == "Windows"
    assert [m["DeviceName"] for m in win["BlockDeviceMappings"]] == ["/dev/sda1", "/dev/xvdb"]


def test_filters_select_by_id_tag_state_and_type_with_wildcards(ec2):
    assert found(ec2, Filters=[{"Name": "tag:app", "Values": ["shop"]}]) == [WEB1, WEB2]
    assert found(ec2, Filters=[{"Name": "tag:Name", "Values": ["web-*"]}]) == [WEB1, WEB2]
    assert found(ec2, Filters=[{"Name": "tag-key", "Values": ["tier"]}]) == [WEB1, WEB2]
    assert found(ec2, Filters=[{"Name": "tag-value", "Values": ["erp"]}]) == [DB1]
    assert found(ec2, Filters=[{"Name": "instance-state-name", "Values": ["stopped"]}]) == [DB1]
    assert found(ec2, Filters=[{"Name": "instance-id", "Values": [WEB2, DB1]}]) == [WEB2, DB1]
    assert found(ec2, Filters=[{"Name": "instance-type", "Values": ["m5.*"]}]) == [WEB2]
    assert found(ec2, Filters=[{"Name": "platform", "Values": ["windows"]}]) == [WIN1]
    both = [{"Name": "tag:app", "Values": ["shop"]}, {"Name": "instance-type", "Values": ["t3.medium"]}]
    assert found(ec2, Filters=both) == [WEB1]
    assert found(ec2, InstanceIds=[WEB1, WEB2], Filters=[{"Name": "instance-type", "Values": ["m5.large"]}]) == [WEB2]


def test_unknown_filter_names_are_rejected(ec2):
    assert error_of(lambda: ec2.describe_instances(Filters=[{"Name": "colour", "Values": ["x"]}])) == (
        "InvalidParameterValue",
        "The filter 'colour' is invalid",
    )


def test_unknown_instance_ids_fail_with_ec2s_not_found_error(ec2):
    missing = "i-0ddddddddddddddd1"

    assert error_of(lambda: ec2.describe_instances(InstanceIds=[WEB1, missing])) == (
        "InvalidInstanceID.NotFound",
        f"The instance ID '{missing}' does not exist",
    )
    code, message = error_of(lambda: ec2.describe_instances(InstanceIds=[missing, "i-0ddddddddddddddd2"]))
    assert (code, message) == (
        "InvalidInstanceID.NotFound",
        f"The instance IDs '{missing}, i-0ddddddddddddddd2' do not exist",
    )
    assert error_of(lambda: ec2.describe_instances(InstanceIds=["web-01"])) == (
        "InvalidInstanceID.Malformed",
        'Invalid id: "web-01"',
    )
    assert "DescribeInstances!InvalidInstanceID.NotFound" in ec2.strict.seen


def test_max_results_pages_with_next_token_and_cannot_be_combined_with_ids(ec2):
    first = ec2.describe_instances(MaxResults=5, Filters=[{"Name": "instance-state-name", "Values": ["running"]}])
    assert len(instances(first)) == 3
    assert "NextToken" not in first

    paginator = ec2.get_paginator("describe_instances")
    pages = list(paginator.paginate(PaginationConfig={"PageSize": 5}))
    assert [i["InstanceId"] for p in pages for i in instances(p)] == [WEB1, WEB2, WIN1, DB1]

    assert error_of(lambda: ec2.describe_instances(InstanceIds=[WEB1], MaxResults=5)) == (
        "InvalidParameterCombination",
        "The parameter instancesSet cannot be used with the parameter maxResults",
    )
    assert error_of(lambda: ec2.describe_instances(MaxResults=3))[0] == "InvalidParameterValue"
    assert error_of(lambda: ec2.describe_instances(MaxResults=1001))[0] == "InvalidParameterValue"
    assert error_of(lambda: ec2.describe_instances(NextToken="garbage"))[0] == "InvalidPaginationToken"


def test_more_than_200_filter_values_in_one_call_are_refused(ec2):
    names = [f"web-{n:03d}" for n in range(199)]
    at_the_limit = [{"Name": "tag:Name", "Values": names}, {"Name": "tag:app", "Values": ["shop"]}]
    assert found(ec2, Filters=at_the_limit) == []  # 200 values: accepted (no instance is named so)
    assert error_of(
        lambda: ec2.describe_instances(Filters=[*at_the_limit, {"Name": "tag-key", "Values": ["app"]}])
    ) == (
        "FilterLimitExceeded",
        "The maximum number of filter values specified on a single call is 200",
    )


def test_pages_split_a_larger_fleet(emulator_factory):
    emu = emulator_factory({"generate": {"count": 12, "seed": 3}})
    ec2 = emu.client("ec2")
    StrictResponses(ec2)

    first = ec2.describe_instances(MaxResults=5)
    second = ec2.describe_instances(MaxResults=5, NextToken=first["NextToken"])
    third = ec2.describe_instances(MaxResults=5, NextToken=second["NextToken"])

    assert [len(instances(p)) for p in (first, second, third)] == [5, 5, 2]
    assert "NextToken" not in third
    assert len({i["InstanceId"] for p in (first, second, third) for i in instances(p)}) == 12


def test_dry_run_answers_dry_run_operation(ec2):
    assert error_of(lambda: ec2.describe_instances(DryRun=True))[0] == "DryRunOperation"


def test_terminated_instances_stay_visible_for_an_hour_then_vanish(emu, ec2):
    emu.admin.service("ec2", "set-instance-state", instance_id=WEB1, state="terminated")

    (gone,) = instances(ec2.describe_instances(InstanceIds=[WEB1]))
    assert gone["State"] == {"Code": 48, "Name": "terminated"}
    assert gone["StateTransitionReason"].startswith("User initiated (")
    emu.advance(3599)
    assert found(ec2, InstanceIds=[WEB1]) == [WEB1]
    emu.advance(1)
    assert error_of(lambda: ec2.describe_instances(InstanceIds=[WEB1]))[0] == "InvalidInstanceID.NotFound"
    assert WEB1 not in found(ec2)


def test_remove_instance_makes_it_vanish_at_once(emu, ec2):
    emu.admin.service("ec2", "remove-instance", instance_id=WEB2)

    assert found(ec2) == [WEB1, WIN1, DB1]


def test_add_instance_creates_a_running_instance_with_a_generated_id(emu, ec2):
    created = emu.admin.service("ec2", "add-instance", name="new-01", tags={"app": "shop"})

    (instance,) = instances(ec2.describe_instances(InstanceIds=[created["instance_id"]]))
    assert instance["State"]["Name"] == "running"
    assert {t["Key"]: t["Value"] for t in instance["Tags"]} == {"Name": "new-01", "app": "shop"}


def test_admin_errors_say_what_to_fix(emu):
    with pytest.raises(urllib.error.HTTPError) as error:
        emu.admin.service("ec2", "set-instance-state", instance_id=WEB1, state="sleeping")
    assert error.value.code == 400
    assert "instance state 'sleeping' is not one of" in error.value.read().decode()
    with pytest.raises(urllib.error.HTTPError) as error:
        emu.admin.service("ec2", "add-instance", name="x", colour="red")
    assert "unknown keys ['colour']" in error.value.read().decode()


def test_instances_are_scoped_to_their_region_and_account(emulator_factory):
    emu = emulator_factory({"accounts": {"AKIAOTHERACCOUNT0000": "210987654321"}, **FLEET})

    assert instances(emu.client("ec2", region="eu-west-1").describe_instances()) == []
    assert instances(emu.client("ec2", access_key="AKIAOTHERACCOUNT0000").describe_instances()) == []
    assert len(instances(emu.client("ec2").describe_instances())) == 4


def test_amazon_aws_ec2_instance_info_reads_the_fleet_through_the_emulator(emu):
    from ansible_collections.amazon.aws.plugins.modules import ec2_instance_info

    result = run_module(ec2_instance_info, {**emulator_args(emu, "us-east-1"), "filters": {"tag:app": "shop"}})

    assert result.get("failed") is not True, result.get("msg")
    assert [i["instance_id"] for i in result["instances"]] == [WEB1, WEB2]
    assert emu.count("ec2", "DescribeInstances") == 1
