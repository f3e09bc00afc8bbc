"""A successful agent install through SSM registers the instance with DRS in the document's Region.

The chain SendCommand -> install -> DRS source server runs on the virtual clock: the
source server appears ``registration_seconds`` after the install succeeded, in the
Region (and account) the document's parameters name -- nowhere else.
"""

from __future__ import annotations

import pytest

DRS_DOC = "AWSDisasterRecovery-InstallDRAgentOnInstance"
IID = "i-0bbbbbbbbbbbbbbb1"
TARGET_KEY = "AKIATARGETACCOUNT000"
TARGET_ACCOUNT = "210987654321"
CROSS_ACCOUNT_DOC = {
    "name": "DRS-InstallAgentCrossAccount",
    "installs_drs_agent": True,
    "parameters": [
        {"Name": "Region", "Type": "String", "Description": "Region to replicate into"},
        {"Name": "AccountId", "Type": "String", "Description": "Account to replicate into", "DefaultValue": ""},
    ],
}


@pytest.fixture
def emu(emulator_factory):
    return emulator_factory(
        {
            "timing": {"ssm_delivery_seconds": 5, "install_seconds": 60, "registration_seconds": 20},
            "accounts": {TARGET_KEY: TARGET_ACCOUNT},
            "drs_uninitialized_regions": ["eu-west-1"],
            "documents": [CROSS_ACCOUNT_DOC],
            "instances": [{"instance_id": IID, "name": "web-01", "hostname": "web-01.example.internal"}],
        }
    )


def source_servers(emu, region, access_key=None):
    kwargs = {"access_key": access_key} if access_key else {}
    drs = emu.client("drs", region=region, **kwargs)
    return drs.describe_source_servers(filters={})["items"]


def instance_ids(servers):
    return [s["sourceProperties"]["identificationHints"].get("awsInstanceID") for s in servers]


def invocation(ssm, command_id):
    return ssm.get_command_invocation(CommandId=command_id, InstanceId=IID, PluginName="InstallLinuxAgent")


def test_the_source_server_appears_in_the_target_region_after_registration(emu):
    ssm = emu.client("ssm")
    ssm.send_command(
        InstanceIds=[IID], DocumentName=DRS_DOC, Parameters={"Region": ["us-west-2"], "Tags": ["Env=prod,App=web"]}
    )

    emu.advance(5 + 60 + 19)
    assert source_servers(emu, "us-west-2") == []
    emu.advance(1)
    servers = source_servers(emu, "us-west-2")

    assert instance_ids(servers) == [IID]
    assert servers[0]["tags"]["Env"] == "prod"
    assert servers[0]["tags"]["App"] == "web"
    assert source_servers(emu, "us-east-1") == []


def test_a_failed_install_registers_nothing(emu):
    ssm = emu.client("ssm")
    emu.admin.service("ssm", "set-install-outcome", instance_id=IID, outcome="fail")
    ssm.send_command(InstanceIds=[IID], DocumentName=DRS_DOC, Parameters={"Region": ["us-west-2"]})

    emu.advance(600)

    assert source_servers(emu, "us-west-2") == []


def test_a_cross_account_document_registers_the_server_in_the_named_account(emu):
    ssm = emu.client("ssm")
    ssm.send_command(
        InstanceIds=[IID],
        DocumentName="DRS-InstallAgentCrossAccount",
        Parameters={"Region": ["us-west-2"], "AccountId": [TARGET_ACCOUNT]},
    )
    emu.advance(5 + 60 + 20)

    assert instance_ids(source_servers(emu, "us-west-2", access_key=TARGET_KEY)) == [IID]
    assert source_servers(emu, "us-west-2") == []


def test_installing_into_a_region_where_drs_is_not_initialized_fails_with_the_installer_error(emu):
    ssm = emu.client("ssm")
    command_id = ssm.send_command(InstanceIds=[IID], DocumentName=DRS_DOC, Parameters={"Region": ["eu-west-1"]})[
        "Command"
    ]["CommandId"]
    emu.advance(5 + 60)

    result = invocation(ssm, command_id)

    assert result["Status"] == "Failed"
    assert "not initialized in eu-west-1" in result["StandardErrorContent"]


def test_a_region_without_drs_makes_the_installer_download_fail(emu):
    ssm = emu.client("ssm")
    command_id = ssm.send_command(
        InstanceIds=[IID], DocumentName="DRS-InstallAgentCrossAccount", Parameters={"Region": ["xx-nowhere-1"]}
    )["Command"]["CommandId"]
    emu.advance(5 + 60)

    result = invocation(ssm, command_id)

    assert (result["Status"], result["ResponseCode"]) == ("Failed", 1)
    assert (
        "curl: (6) Could not resolve host: aws-elastic-disaster-recovery-hashes-xx-nowhere-1"
        in (result["StandardErrorContent"])
    )
    assert "No such file or directory: './aws-replication-installer-init'" in result["StandardOutputContent"]


def test_an_install_succeeds_once_drs_is_initialized_in_the_target_region(emu):
    emu.client("drs", region="eu-west-1").initialize_service()
    ssm = emu.client("ssm")
    command_id = ssm.send_command(InstanceIds=[IID], DocumentName=DRS_DOC, Parameters={"Region": ["eu-west-1"]})[
        "Command"
    ]["CommandId"]
    emu.advance(5 + 60 + 20)

    assert invocation(ssm, command_id)["Status"] == "Success"
    assert instance_ids(source_servers(emu, "eu-west-1")) == [IID]


def test_initializing_drs_in_one_account_does_not_initialize_it_in_another(emu):
    emu.client("drs", region="eu-west-1").initialize_service()
    ssm = emu.client("ssm")
    command_id = ssm.send_command(
        InstanceIds=[IID],
        DocumentName="DRS-InstallAgentCrossAccount",
        Parameters={"Region": ["eu-west-1"], "AccountId": [TARGET_ACCOUNT]},
    )["Command"]["CommandId"]
    emu.advance(5 + 60)

    result = invocation(ssm, command_id)

    assert result["Status"] == "Failed"
    assert "not initialized in eu-west-1" in result["StandardErrorContent"]


def test_the_source_server_records_the_instances_own_availability_zone(emu):
    other = "i-0abcdef0123456783"  # EC2 places it in us-east-1b
    emu.admin.service("ec2", "add-instance", instance_id=other)
    zone = emu.client("ec2").describe_instances(InstanceIds=[other])["Reservations"][0]["Instances"][0]["Placement"]
    assert zone["AvailabilityZone"] == "us-east-1b"
    emu.client("ssm").send_command(InstanceIds=[other], DocumentName=DRS_DOC, Parameters={"Region": ["us-west-2"]})
    emu.advance(5 + 60 + 20)

    (registered,) = source_servers(emu, "us-west-2")
    assert registered["sourceCloudProperties"] == {
        "originAccountID": "123456789012",
        "originRegion": "us-east-1",
        "originAvailabilityZone": "us-east-1b",
    }
