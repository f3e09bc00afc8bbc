"""The agent-install core against the emulator: fleet scale, idempotence, failures, safe sending.

Time is virtual: the core's ``sleep`` advances the emulator's clock, so a 4-minute install
takes milliseconds and no test sleeps.
"""

from __future__ import annotations

import math
from datetime import timedelta

import pytest

from ansible_collections.drs.orchestration.plugins.module_utils import agent_install, timeutil
from ansible_collections.drs.orchestration.plugins.module_utils.agent_install import (
    InstallRequest,
    install_agents,
    install_status,
    plan_install,
    submit_install,
)
from ansible_collections.drs.orchestration.plugins.module_utils.aws import Clients
from ansible_collections.drs.orchestration.plugins.module_utils.errors import (
    ConflictError,
    DrsOrchestrationError,
    InputError,
    NotFoundError,
)
from emulator.testing import shared_session

MUTATING = ("SendCommand", "CancelCommand")
FAST = {"ssm_delivery_seconds": 5, "install_seconds": 60, "registration_seconds": 20}
# An organisation's install document for cross-account replication: it declares AccountId.
CROSS_ACCOUNT_DOCUMENT = {
    "name": "Org-InstallDRAgentCrossAccount",
    "installs_drs_agent": True,
    "parameters": [
        {"Name": "Region", "Type": "String"},
        {"Name": "AccountId", "Type": "String"},
        {"Name": "Tags", "Type": "String", "DefaultValue": ""},
    ],
}
# Fleet options: that document, and an access key of 210987654321, the account replicated into.
CROSS_ACCOUNT = {"documents": [CROSS_ACCOUNT_DOCUMENT], "accounts": {"AKIAOTHER0000000000": "210987654321"}}


def fleet(count=10, offline=0, fail=0, **extra):
    data = {
        "timing": dict(FAST, **extra.pop("timing", {})),
        "generate": {"count": count, "ssm_offline": offline, "install_fail": fail},
    }
    data.update(extra)
    return data


class Run:
    """An emulator, clients on it, and virtual time the core sleeps through."""

    def __init__(self, emu):
        self.emu = emu
        self.now = 0.0
        self.clients = Clients.from_session(shared_session(), region=emu.world.fleet.region, endpoint_url=emu.endpoint)

    def clock(self):
        return self.now

    def sleep(self, seconds):
        self.now += seconds
        self.emu.advance(seconds)

    def install(self, **options):
        options.setdefault("target_region", "us-west-2")
        options.setdefault("poll_interval", 10)
        if "instance_ids" not in options:
            options.setdefault("instance_filters", {"tag:dr:enabled": "true"})
        request = InstallRequest.from_options(**options)
        return install_agents(self.clients, request, clock=self.clock, sleep=self.sleep)

    def install_failing(self, **options):
        with pytest.raises(DrsOrchestrationError) as info:
            self.install(**options)
        return info.value

    def plan(self, **options):
        options.setdefault("target_region", "us-west-2")
        options.setdefault("instance_filters", {"tag:dr:enabled": "true"})
        return plan_install(self.clients, InstallRequest.from_options(**options), clock=self.clock, sleep=self.sleep)

    def sent(self):
        """SendCommand calls SSM executed (answered 200 or failed after running)."""
        return [c for c in self.emu.calls("ssm", "SendCommand") if c["status"] == 200 or c["error"] is None]

    def executed_commands(self):
        backend = self.emu.world.backend("ssm", self.emu.world.fleet.account_id, self.emu.world.fleet.region)
        return list(backend.commands.values())

    def ids(self):
        return [i["instance_id"] for i in self.emu.world.fleet.instances]


@pytest.fixture
def run(emulator_factory):
    def start(data=None, **kwargs):
        return Run(emulator_factory(data if data is not None else fleet(**kwargs)))

    return start


def by_id(result):
    return {i["instance_id"]: i for i in result["instances"]}


# -- fleet scale -------------------------------------------------------------------------


def test_fleet_is_sent_in_ceil_n_over_batch_size_commands(run):
    r = run(fleet(count=120))
    result = r.install(batch_size=50)
    sends = r.emu.calls("ssm", "SendCommand")
    assert len(sends) == math.ceil(120 / 50) == len(result["commands"])
    assert [len(c["params"]["InstanceIds"]) for c in sends] == [50, 50, 20]
    assert sorted(i for c in sends for i in c["params"]["InstanceIds"]) == sorted(r.ids())
    assert result["summary"]["installed"] == 120
    assert all(i["source_server_id"].startswith("s-") for i in result["instances"])
    assert result["changed"] is True
    assert result["overall_status"] == "Success"


def test_polling_costs_one_list_call_per_round_not_one_call_per_instance(run):
    r = run(fleet(count=100))
    r.install(batch_size=50)
    counts = r.emu.world.call_counts
    assert counts["ssm:GetCommandInvocation"] == 0
    # per-instance detail: one ListCommandInvocations page per finished command
    assert counts["ssm:ListCommandInvocations"] == 2
    rounds = counts["ssm:ListCommands"] - 1  # the first one looks up earlier installs
    assert 1 <= rounds <= 12
    # one DRS sweep per round while installed instances are not yet source servers, plus the skip sweep
    assert counts["drs:DescribeSourceServers"] <= rounds + 1


def test_tags_region_and_send_options_reach_send_command(run):
    r = run(fleet(count=3))
    r.install(
        tags={"Environment": "Production", "Owner": "Ops Team"},
        max_concurrency="2",
        max_errors="1",
        timeout_seconds=600,
        output_s3_bucket="my-ssm-output",
        output_s3_key_prefix="drs/",
        cloudwatch_log_group="/drs/agent",
    )
    params = r.emu.calls("ssm", "SendCommand")[0]["params"]
    assert params["Parameters"] == {"Region": ["us-west-2"], "Tags": ["Environment=Production,Owner=Ops Team"]}
    assert (params["MaxConcurrency"], params["MaxErrors"], params["TimeoutSeconds"]) == ("2", "1", 600)
    assert (params["OutputS3BucketName"], params["OutputS3KeyPrefix"]) == ("my-ssm-output", "drs/")
    assert params["CloudWatchOutputConfig"] == {"CloudWatchOutputEnabled": True, "CloudWatchLogGroupName": "/drs/agent"}
    assert params["Comment"].startswith("drs.orchestration agent install to us-west-2 run ")
    servers = r.emu.client("drs", region="us-west-2").describe_source_servers(filters={})["items"]
    assert {s["tags"].get("Owner") for s in servers} == {"Ops Team"}


# -- partial failure ---------------------------------------------------------------------------


def test_offline_and_failing_instances_are_reported_and_the_successes_kept(run):
    r = run(fleet(count=10, offline=2, fail=1))
    error = r.install_failing()
    ids = r.ids()
    result = error.details
    instances = by_id(result)
    for offline in ids[:2]:
        assert instances[offline]["outcome"] == "rejected"
        assert "SSM agent is ConnectionLost" in instances[offline]["reason"]
        assert "AmazonSSMManagedInstanceCore" in instances[offline]["remedy"]
    failed = instances[ids[2]]
    assert failed["outcome"] == "failed"
    assert failed["status"] == "Failed"
    assert "exit code 1" in failed["reason"]
    assert "could not reach" in failed["output"]
    assert failed["start_time"]
    assert failed["end_time"]
    assert result["summary"]["installed"] == 7
    assert all(instances[i]["source_server_id"] for i in ids[3:])
    for instance_id in ids[:3]:
        assert instance_id in error.message
    assert "max_failures (0)" in error.message
    sent_ids = [i for c in r.emu.calls("ssm", "SendCommand") for i in c["params"]["InstanceIds"]]
    assert not set(ids[:2]) & set(sent_ids)


def test_failures_within_max_failures_let_the_task_succeed(run):
    r = run(fleet(count=5, offline=1, fail=1))
    result = r.install(max_failures=2)
    assert (result["summary"]["installed"], result["summary"]["rejected"], result["summary"]["failed"]) == (3, 1, 1)
    assert result["overall_status"] == "Failed"


def test_max_errors_stops_the_command_and_each_outcome_is_named(run):
    data = fleet(count=6, fail=2, timing={"install_seconds": 60})
    r = run(data)
    result = r.install(max_concurrency="1", max_errors="0", max_failures=6)
    details = {i["status_details"] for i in result["instances"]}
    assert "Terminated" in details
    terminated = [i for i in result["instances"] if i["status_details"] == "Terminated"]
    assert all("max_errors" in i["reason"] for i in terminated)
    assert all(i["outcome"] == "failed" for i in terminated)


def test_a_rerun_sends_the_install_that_max_errors_kept_from_running_not_the_one_that_failed(run):
    r = run(fleet(count=6, fail=1, timing={"install_seconds": 60}))
    first = r.install(max_concurrency="1", max_errors="0", max_failures=6)
    terminated = sorted(i["instance_id"] for i in first["instances"] if i["status_details"] == "Terminated")
    (failed,) = [i["instance_id"] for i in first["instances"] if i["status_details"] == "Failed"]
    assert terminated  # SSM cancelled what had not started when the first failure reached max_errors 0

    again = r.install(max_concurrency="1", max_errors="0", max_failures=6)

    assert sorted(r.emu.calls("ssm", "SendCommand")[-1]["params"]["InstanceIds"]) == terminated
    assert {i for i in terminated if by_id(again)[i]["outcome"] == "installed"} == set(terminated)
    assert by_id(again)[failed]["outcome"] == "failed"
    assert "not retried" in by_id(again)[failed]["reason"]
    assert len(r.emu.calls("ssm", "SendCommand")) == 2


# -- idempotence -----------------------------------------------------------------------------


def test_second_run_changes_nothing_and_sends_nothing(run):
    r = run(fleet(count=8))
    first = r.install()
    second = r.install()
    assert first["changed"] is True
    assert second["changed"] is False
    # protected now; the install that protected them (last 24 h) is named
    assert second["summary"]["installed"] == 8
    assert all(i["command_id"] == first["commands"][0]["command_id"] for i in second["instances"])
    assert len(r.emu.calls("ssm", "SendCommand")) == 1
    assert {i["source_server_id"] for i in second["instances"]} == {i["source_server_id"] for i in first["instances"]}


def test_instances_protected_by_other_means_are_skipped(run):
    data = fleet(count=3)
    r = run(data)
    protected = r.ids()[0]
    r.emu.admin.reset(
        {
            **data,
            "source_servers": [
                {"hostname": "app-0001", "origin": "AWS", "instance_id": protected, "region": "us-west-2"}
            ],
        }
    )
    result = r.install()
    record = by_id(result)[protected]
    assert record["outcome"] == "skipped"
    assert record["source_server_id"].startswith("s-")
    assert "already protected" in record["reason"]
    assert r.emu.calls("ssm", "SendCommand")[0]["params"]["InstanceIds"] == r.ids()[1:]


def test_skip_protected_off_reinstalls_on_protected_instances(run):
    r = run(fleet(count=2))
    r.install()
    result = r.install(skip_protected=False)
    assert result["changed"] is True
    assert len(r.emu.calls("ssm", "SendCommand")) == 2
    reinstall = r.emu.calls("ssm", "SendCommand")[1]["params"]
    assert reinstall["InstanceIds"] == r.ids()
    assert reinstall["Comment"].startswith("drs.orchestration agent reinstall to us-west-2 run ")
    assert result["summary"]["installed"] == 2
    # its re-run (or the role's next stage) finds the reinstall done: nothing is sent again
    again = r.install(skip_protected=False)
    assert again["changed"] is False
    assert len(r.emu.calls("ssm", "SendCommand")) == 2
    assert {i["outcome"] for i in again["instances"]} == {"installed"}
    assert all(i["command_id"] == result["commands"][0]["command_id"] for i in again["instances"])


def test_the_stage_after_a_retry_reports_the_failure_without_sending_again(run):
    # the role: an Install stage with retry_failed, then a Registration stage that only waits
    r = run(fleet(count=3, fail=1))
    r.install(max_failures=1)
    r.install(max_failures=1, retry_failed=True, wait_for_registration=False)
    registered = r.install(max_failures=1, retry_failed=False)
    assert registered["changed"] is False
    assert len(r.emu.calls("ssm", "SendCommand")) == 2
    assert by_id(registered)[r.ids()[0]]["outcome"] == "failed"


def test_earlier_failure_is_reported_not_retried_unless_asked(run):
    r = run(fleet(count=4, fail=1))
    r.install(max_failures=1)
    again = r.install(max_failures=1)
    failed = by_id(again)[r.ids()[0]]
    assert again["changed"] is False
    assert failed["outcome"] == "failed"
    assert "retry_failed" in failed["reason"]
    assert len(r.emu.calls("ssm", "SendCommand")) == 1
    r.emu.admin.service("ssm", "set-install-outcome", instance_id=r.ids()[0], outcome="success")
    retried = r.install(retry_failed=True)
    assert retried["changed"] is True
    assert r.emu.calls("ssm", "SendCommand")[-1]["params"]["InstanceIds"] == [r.ids()[0]]
    assert by_id(retried)[r.ids()[0]]["outcome"] == "installed"


def test_interrupted_run_is_reattached_not_sent_again(run):
    r = run(fleet(count=6))
    first = r.install(wait=False)
    assert first["summary"]["in_progress"] == 6
    assert first["overall_status"] in ("Pending", "InProgress")
    second = r.install()
    assert len(r.emu.calls("ssm", "SendCommand")) == 1
    assert second["changed"] is False
    assert second["summary"]["installed"] == 6
    assert all(i["reattached"] for i in second["instances"])
    assert second["commands"][0]["command_id"] == first["commands"][0]["command_id"]
    assert second["commands"][0]["reattached"] is True


def send_by_tag(r, region="us-west-2"):
    """An install someone sent from the console by tag (Targets, no InstanceIds)."""
    ssm = r.emu.client("ssm")
    return ssm.send_command(
        DocumentName="AWSDisasterRecovery-InstallDRAgentOnInstance",
        Targets=[{"Key": "tag:dr:enabled", "Values": ["true"]}],
        Parameters={"Region": [region]},
    )["Command"]["CommandId"]


def test_install_sent_by_tag_and_still_running_is_reattached_not_sent_again(run):
    r = run(fleet(count=4))
    command_id = send_by_tag(r)
    r.sleep(5)  # SSM has resolved the tags (ssm_target_resolution_seconds: 2)
    result = r.install()
    assert len(r.emu.calls("ssm", "SendCommand")) == 1  # only the console's
    assert result["changed"] is False
    assert result["summary"]["installed"] == 4
    assert [c["command_id"] for c in result["commands"]] == [command_id]
    assert all(i["reattached"] and i["command_id"] == command_id for i in result["instances"])
    assert not [n for n in result["notices"] if "still lists only" in n]


def test_install_sent_by_tag_moments_ago_is_waited_for_until_ssm_lists_its_instances(run):
    r = run(fleet(count=4))
    command_id = send_by_tag(r)  # SSM lists its instances 2 s later
    result = r.plan(poll_interval=10)  # check mode: it waits all the same (reading only)
    assert len(r.emu.calls("ssm", "SendCommand")) == 1  # only the console's
    assert {i["outcome"] for i in result["instances"]} == {"in_progress"}
    assert {i["command_id"] for i in result["instances"]} == {command_id}
    assert r.now == 2  # one poll interval of 2 s (poll_interval 10 is longer)
    assert not [n for n in result["notices"] if "still lists only" in n]


def test_installs_sent_by_tag_that_ssm_does_not_resolve_in_time_are_reported_after_one_wait(run):
    r = run(fleet(count=2, timing={"ssm_target_resolution_seconds": 600}))
    first, second = send_by_tag(r), send_by_tag(r)
    result = r.install(wait=False)
    assert r.now == agent_install.TARGETS_RESOLUTION_SECONDS  # one wait for both, not one each
    notices = [n for n in result["notices"] if "still lists only" in n]
    assert [n.split()[2] for n in notices] == sorted([first, second])
    assert all("0 of its targets after 60s" in n and "run again once it lists them all" in n for n in notices)


def test_failed_install_sent_by_tag_is_reported_not_retried(run):
    r = run(fleet(count=3))
    victim = r.ids()[0]
    r.emu.admin.service("ssm", "set-install-outcome", instance_id=victim, outcome="fail")
    send_by_tag(r)
    r.sleep(600)
    result = r.install(max_failures=1)
    assert len(r.emu.calls("ssm", "SendCommand")) == 1
    record = by_id(result)[victim]
    assert record["outcome"] == "failed"
    assert "an earlier install" in record["reason"]
    assert record["output"]  # read with Details ...
    assert r.emu.world.call_counts["ssm:ListCommandInvocations"] == 1  # ... once
    assert result["summary"]["installed"] == 2


@pytest.mark.parametrize(
    ("status", "target_count", "listed", "unresolved"),
    [
        ("Pending", 0, 0, True),  # SSM has not resolved the tags yet
        ("InProgress", 5, 3, True),
        ("InProgress", 5, 5, False),
        ("Success", 0, 0, False),  # finished: what it lists is all it ran on
    ],
)
def test_a_running_command_sent_by_tag_is_unresolved_until_it_lists_all_its_targets(
    status, target_count, listed, unresolved
):
    command = {"Status": status, "TargetCount": target_count, "Targets": [{"Key": "tag:a", "Values": ["b"]}]}
    assert agent_install.targets_unresolved(command, [{}] * listed) is unresolved


def test_install_sent_by_tag_for_another_target_region_is_not_reattached(run):
    r = run(fleet(count=2))
    send_by_tag(r, region="eu-west-1")
    r.sleep(1)
    result = r.install()
    assert len(r.emu.calls("ssm", "SendCommand")) == 2
    assert result["summary"]["reattached"] == 0
    assert r.emu.world.call_counts["ssm:ListCommandInvocations"] == 1  # our own command's, not the other's


def test_install_in_flight_for_another_target_region_is_not_reattached(run):
    r = run(fleet(count=2))
    r.install(wait=False, target_region="eu-west-1")
    result = r.install(target_region="us-west-2")
    assert len(r.emu.calls("ssm", "SendCommand")) == 2
    assert result["summary"]["reattached"] == 0


def test_success_not_yet_registered_is_waited_for_not_reinstalled(run):
    r = run(fleet(count=3, timing={"registration_seconds": 600}))
    error = r.install_failing(wait_timeout=120)
    assert all("no source server appeared" in i["reason"] for i in error.details["instances"])
    result = r.install(wait_timeout=1200)
    assert len(r.emu.calls("ssm", "SendCommand")) == 1
    assert result["summary"]["installed"] == 3
    assert all(i["source_server_id"] for i in result["instances"])


def test_wait_timeout_names_the_running_command_and_the_rerun_picks_it_up(run):
    r = run(fleet(count=2, timing={"install_seconds": 900}))
    error = r.install_failing(wait_timeout=60)
    command_id = error.details["commands"][0]["command_id"]
    assert "still" in error.details["instances"][0]["reason"]
    assert command_id in error.details["instances"][0]["reason"]
    assert "re-attaches" in error.details["instances"][0]["remedy"]
    result = r.install(wait_timeout=3600)
    assert len(r.emu.calls("ssm", "SendCommand")) == 1
    assert result["summary"]["installed"] == 2


def test_instance_ssm_denied_in_a_successful_command_is_remembered_as_failed(run):
    # AccessDenied (like Undeliverable and InvalidPlatform) does not count towards the command's status:
    # the command ends Success although the instance was never installed.
    r = run(fleet(count=3))
    victim = r.ids()[0]
    r.emu.admin.service("ssm", "set-install-outcome", instance_id=victim, outcome="access_denied")
    first = r.install(max_failures=1)
    assert first["commands"][0]["status"] == "Success"
    assert by_id(first)[victim]["status_details"] == "AccessDenied"
    again = r.install(max_failures=1, wait_timeout=300)
    record = by_id(again)[victim]
    assert again["changed"] is False
    assert record["outcome"] == "failed"
    assert record["status_details"] == "AccessDenied"
    assert "an earlier install" in record["reason"]
    assert "retry_failed" in record["reason"]
    assert len(r.emu.calls("ssm", "SendCommand")) == 1
    r.emu.admin.service("ssm", "set-install-outcome", instance_id=victim, outcome="success")
    retried = r.install(retry_failed=True)
    assert r.emu.calls("ssm", "SendCommand")[-1]["params"]["InstanceIds"] == [victim]
    assert by_id(retried)[victim]["outcome"] == "installed"


def test_earlier_installs_cost_one_invocation_read_per_finished_command(run):
    r = run(fleet(count=120))
    r.install(batch_size=50)
    before = r.emu.world.call_counts["ssm:ListCommandInvocations"]
    r.install(batch_size=50)
    assert r.emu.world.call_counts["ssm:ListCommandInvocations"] - before == 3


def seed_source_server(r, data, instance_id, **server):
    r.emu.admin.reset(
        {
            **data,
            "source_servers": [
                {"hostname": "app-0001", "origin": "AWS", "instance_id": instance_id, "region": "us-west-2", **server}
            ],
        }
    )


def seed_disconnected_server(r, data, instance_id):
    """A source server someone disconnected (DisconnectSourceServer: its agent uninstalls itself)."""
    seed_source_server(r, data, instance_id, state="CONTINUOUS")
    drs = r.emu.client("drs", region="us-west-2")
    (server,) = drs.describe_source_servers(filters={})["items"]
    drs.disconnect_source_server(sourceServerID=server["sourceServerID"])
    return server["sourceServerID"]


def test_disconnected_source_server_does_not_protect_its_instance(run):
    data = fleet(count=2)
    r = run(data)
    victim = r.ids()[0]
    seed_disconnected_server(r, data, victim)
    plan = r.plan()
    planned = by_id(plan)[victim]
    assert planned["outcome"] == "would_install"
    assert "disconnected from DRS" in planned["reason"]
    assert "not protected" in planned["reason"]
    result = r.install()
    record = by_id(result)[victim]
    assert r.emu.calls("ssm", "SendCommand")[0]["params"]["InstanceIds"] == r.ids()
    assert record["outcome"] == "installed"
    assert "reinstalled: it was disconnected from DRS" in record["reason"]
    server = r.emu.client("drs", region="us-west-2").describe_source_servers(
        filters={"sourceServerIDs": [record["source_server_id"]]}
    )["items"][0]
    assert server["dataReplicationInfo"]["dataReplicationState"] != "DISCONNECTED"


def test_instance_disconnected_after_its_install_is_installed_again(run):
    r = run(fleet(count=2))
    first = r.install()
    victim = r.ids()[0]
    r.sleep(600)
    drs = r.emu.client("drs", region="us-west-2")
    drs.disconnect_source_server(sourceServerID=by_id(first)[victim]["source_server_id"])
    again = r.install()
    assert again["changed"] is True
    assert r.emu.calls("ssm", "SendCommand")[-1]["params"]["InstanceIds"] == [victim]
    assert by_id(again)[victim]["outcome"] == "installed"
    assert by_id(again)[r.ids()[1]]["outcome"] == "installed"  # protected, by the first install


def test_a_server_disconnected_because_its_agent_is_not_seen_stays_protected(run):
    data = fleet(count=2)
    r = run(data)
    victim = r.ids()[0]
    seed_source_server(r, data, victim, state="DISCONNECTED")  # the agent went quiet: its disks keep their sizes

    result = r.install()

    record = by_id(result)[victim]
    assert r.emu.calls("ssm", "SendCommand")[0]["params"]["InstanceIds"] == [r.ids()[1]]
    assert (record["outcome"], record["replication_state"]) == ("skipped", "DISCONNECTED")
    assert "reinstalling would restart replication" in record["reason"]
    assert record["remedy"].startswith("Start the instance or restore its outbound HTTPS")


def test_an_installed_instance_that_was_stopped_is_not_reinstalled_and_says_to_start_it(run):
    r = run(fleet(count=2))
    r.install()
    victim = r.ids()[0]
    r.emu.admin.service("ec2", "set-instance-state", instance_id=victim, state="stopped")
    r.sleep(3600)  # DRS no longer sees its agent: DISCONNECTED (AGENT_NOT_SEEN), its data kept

    result = r.install()

    record = by_id(result)[victim]
    assert len(r.emu.calls("ssm", "SendCommand")) == 1
    assert result["changed"] is False
    # the install of the first run put it under DRS; it is paused, not lost, and not a failure
    assert (record["outcome"], record["replication_state"]) == ("installed", "DISCONNECTED")
    assert "DRS does not hear from its agent" in record["reason"]
    assert "(the instance is stopped)" in record["reason"]
    assert record["remedy"].startswith("Start the instance")
    assert by_id(result)[r.ids()[1]]["outcome"] == "installed"
    assert result["not_running"] == [victim]


def test_a_protected_instance_stopped_moments_ago_is_skipped_not_failed(run):
    data = fleet(count=2)
    r = run(data)
    victim = r.ids()[0]
    seed_source_server(r, data, victim, state="CONTINUOUS")  # protected by other means
    r.emu.admin.service("ec2", "set-instance-state", instance_id=victim, state="stopped")

    result = r.install()

    record = by_id(result)[victim]
    assert r.emu.calls("ssm", "SendCommand")[0]["params"]["InstanceIds"] == [r.ids()[1]]
    assert (record["outcome"], record["replication_state"]) == ("skipped", "CONTINUOUS")
    assert record["reason"].endswith("; the instance is stopped: DRS replicates its writes again once it runs")
    assert record["remedy"] is None
    assert result["not_running"] == [victim]


def test_a_stopped_instance_without_a_source_server_is_rejected(run):
    r = run(fleet(count=2))
    victim = r.ids()[0]
    r.emu.admin.service("ec2", "set-instance-state", instance_id=victim, state="stopped")

    error = r.install_failing()

    record = {i["instance_id"]: i for i in error.details["instances"]}[victim]
    assert (record["outcome"], record["reason"]) == ("rejected", "the instance is stopped")
    assert r.emu.calls("ssm", "SendCommand")[0]["params"]["InstanceIds"] == [r.ids()[1]]


def test_reinstall_on_a_disconnected_server_is_waited_for_not_sent_twice(run):
    data = fleet(count=1, timing={"registration_seconds": 600})
    r = run(data)
    seed_disconnected_server(r, data, r.ids()[0])
    r.install(wait=False)
    r.sleep(120)  # the install succeeded; the agent has not re-registered yet
    result = r.install(wait_timeout=1800)
    assert len(r.emu.calls("ssm", "SendCommand")) == 1
    assert result["changed"] is False
    assert result["summary"]["installed"] == 1


def test_only_a_disconnected_server_whose_disks_were_zeroed_is_not_protection():
    def server(instance_id, state="CONTINUOUS", disk_bytes=(8 * 2**30,)):
        return {
            "sourceServerID": "s-" + instance_id[2:].ljust(17, "0"),
            "sourceProperties": {"identificationHints": {"awsInstanceID": instance_id}},
            "dataReplicationInfo": {
                "dataReplicationState": state,
                "replicatedDisks": [{"deviceName": "/dev/xvda", "totalStorageBytes": n} for n in disk_bytes],
            },
        }

    servers = [
        server("i-00000000000000001"),
        server("i-00000000000000002", state="DISCONNECTED", disk_bytes=(0, 0)),  # DisconnectSourceServer
        server("i-00000000000000003", state="DISCONNECTED", disk_bytes=()),
        server("i-00000000000000004", state="DISCONNECTED"),  # agent not seen: still installed
        server("i-00000000000000005", state="STOPPED"),
    ]
    stale = {}
    protected = agent_install._Run._protected(servers, stale)
    assert sorted(protected) == ["i-00000000000000001", "i-00000000000000004", "i-00000000000000005"]
    assert sorted(stale) == ["i-00000000000000002", "i-00000000000000003"]


def test_cross_account_rerun_after_a_day_sends_nothing_and_skip_protected_off_reinstalls(run):
    r = run(fleet(count=2, **CROSS_ACCOUNT))
    options = {"account_id": "210987654321", "document_name": "Org-InstallDRAgentCrossAccount"}
    r.install(**options)
    r.sleep(25 * 3600)
    again = r.install(**options)
    assert again["changed"] is False
    assert again["summary"]["installed"] == 2
    assert len(r.emu.calls("ssm", "SendCommand")) == 1
    assert again["source_servers_visible"] is False
    forced = r.install(skip_protected=False, **options)
    assert forced["changed"] is True
    assert len(r.emu.calls("ssm", "SendCommand")) == 2
    # the reinstall's re-run (the role's next stage, or after an interruption) sends nothing
    rerun = r.install(skip_protected=False, **options)
    assert rerun["changed"] is False
    assert len(r.emu.calls("ssm", "SendCommand")) == 2


def test_cross_account_failures_older_than_a_day_do_not_block_a_new_install(run):
    r = run(fleet(count=3, fail=1, **CROSS_ACCOUNT))
    options = {"account_id": "210987654321", "document_name": "Org-InstallDRAgentCrossAccount", "max_failures": 1}
    first = r.install(**options)
    (failed,) = [i["instance_id"] for i in first["instances"] if i["outcome"] == "failed"]
    again = r.install(**options)  # within the day: the failure is reported, not retried
    assert by_id(again)[failed]["outcome"] == "failed"
    assert len(r.emu.calls("ssm", "SendCommand")) == 1
    r.sleep(25 * 3600)
    later = r.install(**options)  # the successes are still remembered (30 days), the failure no longer
    assert r.emu.calls("ssm", "SendCommand")[-1]["params"]["InstanceIds"] == [failed]
    assert len(r.emu.calls("ssm", "SendCommand")) == 2
    assert sorted(i["outcome"] for i in later["instances"]).count("installed") == 2


# -- check mode ----------------------------------------------------------------------------------


def test_check_mode_returns_the_plan_and_sends_nothing(run):
    r = run(fleet(count=60, offline=1))
    r.install(instance_ids=r.ids()[50:55])
    plan = r.plan(batch_size=25)
    outcomes = [i["outcome"] for i in plan["instances"]]
    assert outcomes.count("rejected") == 1
    assert outcomes.count("installed") == 5
    assert outcomes.count("would_install") == 54
    assert [len(b["instance_ids"]) for b in plan["planned_batches"]] == [25, 25, 4]
    assert plan["changed"] is True
    assert len(r.emu.calls("ssm", "SendCommand")) == 1  # the setup's only
    installed = [i for i in plan["instances"] if i["outcome"] == "installed"]
    assert all("installed by command" in i["reason"] and i["source_server_id"] for i in installed)


def test_unfinished_run_is_pending_or_in_progress_whatever_was_rejected(run):
    r = run(fleet(count=4, offline=1))
    plan = r.plan()
    assert plan["overall_status"] == "Pending"
    sent = r.install(wait=False, max_failures=1)
    assert sent["summary"]["rejected"] == 1
    assert sent["overall_status"] in ("Pending", "InProgress")
    done = r.install(max_failures=1)
    assert done["overall_status"] == "Failed"


def test_check_mode_of_a_protected_fleet_reports_no_change(run):
    r = run(fleet(count=3))
    r.install()
    plan = r.plan()
    assert plan["changed"] is False
    assert plan["planned_batches"] == []


# -- sending safely -------------------------------------------------------------------------------


@pytest.mark.parametrize("mode", ["after", "disconnect"])
def test_send_that_ran_but_lost_its_answer_is_reconciled_not_resent(run, mode):
    r = run(fleet(count=4))
    r.emu.admin.faults(fail_next={"ssm:SendCommand": {"mode": mode, "status": 500, "code": "InternalServerError"}})
    result = r.install()
    assert len(r.executed_commands()) == 1
    assert result["commands"][0]["reconciled"] is True
    assert result["summary"]["installed"] == 4


def test_send_that_failed_before_running_is_sent_once_more(run):
    r = run(fleet(count=4))
    r.emu.admin.faults(fail_next={"ssm:SendCommand": {"mode": "before", "status": 503, "code": "ServiceUnavailable"}})
    result = r.install()
    assert len(r.executed_commands()) == 1
    assert len(r.emu.calls("ssm", "SendCommand")) == 2
    assert result["summary"]["installed"] == 4


def test_throttled_send_is_retried_until_accepted_and_runs_once(run):
    r = run(fleet(count=4))
    r.emu.admin.faults(throttle_next={"ssm:SendCommand": 3})
    result = r.install()
    assert len(r.emu.calls("ssm", "SendCommand")) == 4
    assert len(r.executed_commands()) == 1
    assert result["summary"]["installed"] == 4


def test_throttling_storm_stops_with_a_clear_message_and_sends_nothing_twice(run):
    r = run(fleet(count=60))
    r.emu.admin.faults(throttle_next={"ssm:SendCommand": 1000})
    error = r.install_failing(batch_size=50)
    assert "kept throttling SendCommand" in error.message
    assert "batch 1 of 2" in error.message
    assert "Re-run the task later" in error.message
    assert r.executed_commands() == []
    r.emu.admin.clear_faults()
    result = r.install(batch_size=50)
    assert len(r.executed_commands()) == 2
    assert result["summary"]["installed"] == 60


class VanishOnSend:
    """Terminates an instance just before the first SendCommand reaches SSM (after the precheck)."""

    def __init__(self, clients, emu, instance_id):
        self.clients, self.emu, self.instance_id = clients, emu, instance_id
        self.region = clients.region

    def reader(self, service, region=None):
        return self.clients.reader(service, region)

    def writer(self, service, region=None):
        client = self.clients.writer(service, region)
        if service != "ssm":
            return client
        outer = self

        class Proxy:
            def send_command(self, **params):
                if outer.instance_id:
                    outer.emu.admin.service(
                        "ec2", "set-instance-state", instance_id=outer.instance_id, state="terminated"
                    )
                    outer.instance_id = None
                return client.send_command(**params)

        return Proxy()


def stopped_install(r, clients):
    """Install the tagged fleet through ``clients``; the run must stop: its result."""
    request = InstallRequest.from_options(instance_filters={"tag:dr:enabled": "true"}, target_region="us-west-2")
    with pytest.raises(DrsOrchestrationError) as info:
        install_agents(clients, request, clock=r.clock, sleep=r.sleep)
    return info.value.details


def test_instance_vanished_between_precheck_and_send_does_not_sink_its_batch(run):
    r = run(fleet(count=5))
    gone = r.ids()[2]
    result = stopped_install(r, VanishOnSend(r.clients, r.emu, gone))
    vanished = by_id(result)[gone]
    assert vanished["outcome"] == "rejected"
    assert "vanished" in vanished["reason"]
    assert result["summary"]["installed"] == 4
    executed = r.executed_commands()
    assert len(executed) == 1
    assert gone not in [i.instance_id for i in executed[0].invocations]


class StaleSsmView(VanishOnSend):
    """VanishOnSend, and SSM still shows the vanished instance Online (PingStatus lags behind EC2)."""

    def reader(self, service, region=None):
        client = self.clients.reader(service, region)
        if service != "ssm":
            return client
        return _StaleInstanceInformation(client)


class _StaleInstanceInformation:
    def __init__(self, client):
        self.client = client
        self.seen = {}

    def __getattr__(self, name):
        return getattr(self.client, name)

    def get_paginator(self, operation):
        paginator = self.client.get_paginator(operation)
        if operation != "describe_instance_information":
            return paginator
        seen = self.seen

        class Stale:
            def paginate(self, **kwargs):
                wanted = [v for f in kwargs["Filters"] for v in f["Values"]]
                found = set()
                for page in paginator.paginate(**kwargs):
                    for info in page["InstanceInformationList"]:
                        seen[info["InstanceId"]] = info
                        found.add(info["InstanceId"])
                    yield page
                yield {"InstanceInformationList": [seen[i] for i in wanted if i not in found and i in seen]}

        return Stale()


def test_vanished_instance_still_online_in_ssm_is_judged_by_its_ec2_state(run):
    r = run(fleet(count=5))
    gone = r.ids()[2]
    result = stopped_install(r, StaleSsmView(r.clients, r.emu, gone))
    vanished = by_id(result)[gone]
    assert vanished["outcome"] == "rejected"
    assert "the instance is terminated" in vanished["reason"]
    assert result["summary"]["installed"] == 4
    assert len(r.executed_commands()) == 1


def test_read_failure_after_sending_keeps_the_result_and_the_rerun_sends_nothing(run):
    r = run(fleet(count=60))
    armed = []

    def sleep(seconds):
        r.sleep(seconds)
        if not armed:
            armed.append(True)
            r.emu.admin.faults(
                fail_next={"ssm:ListCommands": {"mode": "before", "status": 400, "code": "AccessDeniedException"}}
            )

    request = InstallRequest.from_options(
        instance_filters={"tag:dr:enabled": "true"}, target_region="us-west-2", poll_interval=10
    )
    with pytest.raises(DrsOrchestrationError) as info:
        install_agents(r.clients, request, clock=r.clock, sleep=sleep)
    error = info.value
    assert "ListCommands failed (AccessDeniedException" in error.message
    assert "re-attaches" in error.message
    sent = [c["command_id"] for c in error.details["commands"]]
    assert len(sent) == 2
    assert all(command_id in error.message for command_id in sent)
    assert error.details["summary"]["in_progress"] == 60
    result = r.install()
    assert len(r.emu.calls("ssm", "SendCommand")) == 2
    assert result["summary"]["installed"] == 60


def test_failed_invocation_read_keeps_the_result(run):
    r = run(fleet(count=3))
    r.emu.admin.faults(
        fail_next={"ssm:ListCommandInvocations": {"mode": "before", "status": 400, "code": "AccessDeniedException"}}
    )
    error = r.install_failing()
    assert "ListCommandInvocations failed" in error.message
    assert error.details["commands"][0]["command_id"] in error.message
    assert r.install()["summary"]["installed"] == 3
    assert len(r.emu.calls("ssm", "SendCommand")) == 1


def test_region_the_aws_document_does_not_list_is_explained_and_nothing_sent(run):
    r = run(fleet(count=2))
    error = r.install_failing(target_region="mx-central-1")
    assert "InvalidParameters" in error.message
    assert "Region parameter" in error.message
    assert "mx-central-1" in error.message
    assert r.executed_commands() == []


def test_instance_terminated_during_the_install_is_reported_failed(run):
    r = run(fleet(count=3, timing={"install_seconds": 300}))
    victim = r.ids()[1]
    terminated = []

    def sleep(seconds):
        r.sleep(seconds)
        if not terminated:
            r.emu.admin.service("ec2", "set-instance-state", instance_id=victim, state="terminated")
            terminated.append(victim)

    request = InstallRequest.from_options(
        instance_filters={"tag:dr:enabled": "true"},
        target_region="us-west-2",
        poll_interval=60,
        timeout_seconds=60,
        wait_timeout=7200,
    )
    with pytest.raises(DrsOrchestrationError) as info:
        install_agents(r.clients, request, clock=r.clock, sleep=sleep)
    record = by_id(info.value.details)[victim]
    assert record["outcome"] == "failed"
    assert record["status_details"] in ("DeliveryTimedOut", "Undeliverable", "Failed")
    assert victim in info.value.message
    assert info.value.details["summary"]["installed"] == 2


# -- input checked against AWS --------------------------------------------------------------------


def test_unknown_instance_ids_are_rejected_with_the_region_named(run):
    r = run(fleet(count=1))
    error = r.install_failing(instance_ids=[r.ids()[0], "i-0000000000000dead"])
    record = by_id(error.details)["i-0000000000000dead"]
    assert record["outcome"] == "rejected"
    assert "not found in us-east-1" in record["reason"]
    assert error.details["summary"]["installed"] == 1


def test_instance_ids_and_filters_never_pass_ec2s_200_filter_values_in_one_call(run):
    # instance_ids travel as an instance-id filter beside instance_filters: the chunks leave room for them
    r = run(fleet(count=200))
    result = r.plan(instance_ids=r.ids(), instance_filters={"tag:dr:enabled": "true"})
    assert result["summary"]["would_install"] == 200
    calls = r.emu.calls("ec2", "DescribeInstances")
    assert [sum(len(f["Values"]) for f in c["params"]["Filters"]) for c in calls] == [200, 2]
    assert all(c["status"] == 200 for c in calls)


def test_filters_matching_nothing_fail_before_sending(run):
    r = run(fleet(count=2))
    with pytest.raises(InputError, match="matched no instance in us-east-1"):
        r.install(instance_filters={"tag:dr:enabled": "yes"})
    assert r.emu.calls("ssm", "SendCommand") == []


def test_unknown_document_is_an_input_error(run):
    r = run(fleet(count=1))
    with pytest.raises(InputError, match="'My-Missing-Doc'.*not found"):
        r.install(document_name="My-Missing-Doc")


def test_account_id_needs_a_document_that_declares_it(run):
    r = run(fleet(count=2))
    with pytest.raises(InputError, match="AccountId") as info:
        r.install(account_id="210987654321")
    assert "declares only Region, Tags" in info.value.message
    assert r.emu.calls("ssm", "SendCommand") == []


def test_account_id_with_a_capable_document_is_sent_and_registration_is_not_awaited(run):
    r = run(fleet(count=2, **CROSS_ACCOUNT))
    result = r.install(account_id="210987654321", document_name="Org-InstallDRAgentCrossAccount")
    params = r.emu.calls("ssm", "SendCommand")[0]["params"]
    assert params["Parameters"]["AccountId"] == ["210987654321"]
    assert result["summary"]["installed"] == 2
    assert any("210987654321" in n and "cannot see" in n for n in result["notices"])


def test_drs_not_initialized_in_the_target_region_is_explained(run):
    r = run(fleet(count=1, drs_uninitialized_regions=["us-west-2"]))
    with pytest.raises(ConflictError, match="DRS is not initialized in us-west-2"):
        r.install()


def test_quota_warning_when_the_install_passes_300_replicating_servers(run):
    data = fleet(count=10)
    data["generate"].update(source_servers=295, source_server_region="us-west-2")
    r = run(data)
    result = r.plan()
    assert result["quota"] == {"value": 300, "source": "default", "replicating": 295, "projected": 305}
    notices = " ".join(result["notices"])
    assert "Could not read the DRS replicating source server quota" in notices
    assert "to 305, above the quota of 300" in notices


def test_a_reinstall_on_replicating_servers_adds_nothing_to_the_quota_count(run):
    r = run(fleet(count=4))
    r.install()
    result = r.plan(skip_protected=False)
    assert result["summary"]["would_install"] == 4
    assert result["quota"]["replicating"] == 4
    assert result["quota"]["projected"] == 4


def test_no_quota_lookup_below_the_default(run):
    r = run(fleet(count=3))
    result = r.plan()
    assert result["notices"] == []
    assert r.emu.calls("service-quotas") == []


# -- tracking table ---------------------------------------------------------------------------------


def create_tracking_table(r, name="agent-installs"):
    ddb = r.emu.client("dynamodb")
    ddb.create_table(
        TableName=name,
        BillingMode="PAY_PER_REQUEST",
        AttributeDefinitions=[{"AttributeName": "CommandId", "AttributeType": "S"}],
        KeySchema=[{"AttributeName": "CommandId", "KeyType": "HASH"}],
    )
    return ddb


def test_missing_tracking_table_fails_before_anything_is_sent(run):
    r = run(fleet(count=60))
    with pytest.raises(InputError, match="tracking_table 'no-such-table' does not exist in us-east-1"):
        r.plan(tracking_table="no-such-table")
    with pytest.raises(InputError, match="Nothing was sent"):
        r.install(batch_size=50, tracking_table="no-such-table")
    assert r.emu.calls("ssm", "SendCommand") == []


def test_tracking_table_with_another_key_is_refused_before_sending(run):
    r = run(fleet(count=2))
    r.emu.client("dynamodb").create_table(
        TableName="other",
        BillingMode="PAY_PER_REQUEST",
        AttributeDefinitions=[{"AttributeName": "id", "AttributeType": "S"}],
        KeySchema=[{"AttributeName": "id", "KeyType": "HASH"}],
    )
    with pytest.raises(InputError, match="hash key must be CommandId"):
        r.install(tracking_table="other")
    assert r.emu.calls("ssm", "SendCommand") == []


def test_tracking_write_failure_is_a_notice_not_a_lost_run(run):
    r = run(fleet(count=60))
    create_tracking_table(r)
    r.emu.admin.faults(
        fail_next={"dynamodb:PutItem": {"mode": "before", "status": 400, "code": "AccessDeniedException"}}
    )
    result = r.install(batch_size=50, tracking_table="agent-installs")
    assert len(r.executed_commands()) == 2
    assert result["summary"]["installed"] == 60
    first = result["commands"][0]["command_id"]
    assert any(first in n and "AccessDeniedException" in n and "not affected" in n for n in result["notices"])


def test_tracking_table_gets_one_record_per_command_and_its_final_status(run):
    r = run(fleet(count=60, fail=1))
    ddb = create_tracking_table(r)
    result = r.install(batch_size=50, tracking_table="agent-installs", max_failures=1)
    r.install(batch_size=50, tracking_table="agent-installs", max_failures=1)  # a re-run adds nothing
    items = {i["CommandId"]["S"]: i for i in ddb.scan(TableName="agent-installs")["Items"]}
    assert set(items) == {c["command_id"] for c in result["commands"]}
    statuses = sorted(i["Status"]["S"] for i in items.values())
    assert statuses == ["Failed", "Success"]
    for item in items.values():
        assert item["TargetRegion"]["S"] == "us-west-2"
        assert item["CommandRegion"]["S"] == "us-east-1"  # where the instances are, and SSM ran the command
        assert item["CreatedBy"]["S"].startswith("arn:aws:iam::")
        assert int(item["TTL"]["N"]) > 0
        assert item["CreatedAt"]["S"]


def test_a_run_that_did_not_wait_leaves_the_record_to_the_run_that_finds_the_command_finished(run):
    r = run(fleet(count=3, fail=1))
    ddb = create_tracking_table(r)
    first = r.install(tracking_table="agent-installs", wait=False)
    (command_id,) = [c["command_id"] for c in first["commands"]]
    record = ddb.get_item(TableName="agent-installs", Key={"CommandId": {"S": command_id}})["Item"]
    assert record["Status"]["S"] == "Pending"
    r.sleep(600)
    checked = r.plan(tracking_table="agent-installs")  # check mode writes nothing
    assert checked["changed"] is False
    record = ddb.get_item(TableName="agent-installs", Key={"CommandId": {"S": command_id}})["Item"]
    assert record["Status"]["S"] == "Pending"

    r.install(tracking_table="agent-installs", max_failures=1)

    record = ddb.get_item(TableName="agent-installs", Key={"CommandId": {"S": command_id}})["Item"]
    assert record["Status"]["S"] == "Failed"
    assert record["Summary"]["M"] == {"Success": {"N": "2"}, "Failed": {"N": "1"}}
    assert len(r.emu.calls("ssm", "SendCommand")) == 1
    updates = len(r.emu.calls("dynamodb", "UpdateItem"))
    r.install(tracking_table="agent-installs", max_failures=1)  # a finished record is left alone
    assert ddb.get_item(TableName="agent-installs", Key={"CommandId": {"S": command_id}})["Item"] == record
    assert len(r.emu.calls("dynamodb", "UpdateItem")) == updates + 1  # tried, refused by its condition


# -- REST API faces --------------------------------------------------------------------------------


def test_submit_install_sends_one_command_and_status_reports_each_instance(run):
    r = run(fleet(count=3, fail=1))
    submitted = submit_install(r.clients, r.ids(), "us-west-2", tags={"App": "web"})
    assert submitted["status"] == "Pending"
    assert submitted["instance_ids"] == r.ids()
    assert submitted["document_name"] == "AWSDisasterRecovery-InstallDRAgentOnInstance"
    running = install_status(r.clients, submitted["command_id"])
    assert running["overall_status"] in ("Pending", "InProgress")
    r.sleep(600)
    done = install_status(r.clients, submitted["command_id"])
    assert done["overall_status"] == "Failed"
    states = {i["instance_id"]: i["state"] for i in done["instances"]}
    assert states == {r.ids()[0]: "Failed", r.ids()[1]: "Success", r.ids()[2]: "Success"}
    assert len(r.emu.calls("ssm", "SendCommand")) == 1


def test_submit_install_reconciles_even_when_the_controller_clock_runs_ahead(run, monkeypatch):
    r = run(fleet(count=2))
    ahead = timeutil.utcnow() + timedelta(minutes=10)
    monkeypatch.setattr(timeutil, "utcnow", lambda: ahead)
    r.emu.admin.faults(fail_next={"ssm:SendCommand": {"mode": "after", "status": 500, "code": "InternalServerError"}})
    submitted = submit_install(r.clients, r.ids(), "us-west-2")
    assert len(r.executed_commands()) == 1
    assert submitted["command_id"] == r.executed_commands()[0].command_id


def test_submit_install_keeps_the_50_instance_limit(run):
    r = run(fleet(count=1))
    ids = [f"i-{n:017x}" for n in range(51)]
    with pytest.raises(InputError, match="at most 50 instances per request"):
        submit_install(r.clients, ids, "us-west-2")


def test_submit_install_refusal_is_an_input_error(run):
    r = run(fleet(count=1, offline=0))
    with pytest.raises(InputError, match="InvalidInstanceId"):
        submit_install(r.clients, ["i-0000000000000dead"], "us-west-2")


def test_status_of_an_unknown_command_is_not_found(run):
    r = run(fleet(count=1))
    with pytest.raises(NotFoundError, match="No SSM command"):
        install_status(r.clients, "11111111-2222-4333-8444-555555555555")
    with pytest.raises(InputError, match="not an SSM command ID"):
        install_status(r.clients, "cmd-123")
