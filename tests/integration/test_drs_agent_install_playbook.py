"""playbooks/install_agents.yml (and the agent_install role) with ansible-playbook, as AWX would run it.

Survey answers arrive as text: instance IDs separated by commas and new lines, tag
filters and source server tags as ``K=V,K=V``. The emulator runs on a fast clock.
The whole install of a tagged fleet, its re-runs and the report file are the
agent_install Molecule scenario's (extensions/molecule/agent_install); these are the
ways a run stops before sending anything, and a re-run over a fleet with a stopped member.
"""

from __future__ import annotations

import json

from emulator.testing import ACCESS_KEY, SECRET_KEY
from tests.module_harness import REPO, run_playbook

PLAYBOOK = REPO / "playbooks" / "install_agents.yml"
FLEET = {
    "timing": {"ssm_delivery_seconds": 5, "install_seconds": 60, "registration_seconds": 20},
    "generate": {"count": 5, "ssm_offline": 1, "tags": {"dr:enabled": "true", "team": "shop"}},
    "instances": [{"name": "other", "tags": {"team": "dev"}}],
}


def survey(emu, **answers):
    return {
        "target_region": "us-west-2",
        "poll_interval": 0.5,
        "wait_timeout": 120,
        "drs_aws": {
            "region": "us-east-1",
            "endpoint_url": emu.endpoint,
            "access_key": ACCESS_KEY,
            "secret_key": SECRET_KEY,
        },
        **answers,
    }


def test_instance_id_text_is_read_and_the_precheck_stops_before_sending(emulator_factory, tmp_path):
    emu = emulator_factory(FLEET, speed=600)
    by_name = {i["name"]: i["instance_id"] for i in emu.world.fleet.instances}
    offline, healthy = by_name["app-0001"], by_name["app-0002"]
    report = tmp_path / "result.json"
    run = run_playbook(PLAYBOOK, survey(emu, instance_ids=f"{offline},\n {healthy}", report_file=str(report)))
    assert run.returncode != 0
    assert f"1 instance(s) cannot be installed (more than agent_install_max_failures = 0): {offline}." in run.stdout
    assert "Nothing was sent" in run.stdout
    # the stopped run still writes its report: the plan's outcome of each instance
    outcomes = {i["instance_id"]: i["outcome"] for i in json.loads(report.read_text())["instances"]}
    assert outcomes == {offline: "rejected", healthy: "would_install"}
    (describe,) = emu.calls("ec2", "DescribeInstances")
    assert describe["params"]["Filters"] == [{"Name": "instance-id", "Values": [offline, healthy]}]
    assert emu.calls("ssm", "SendCommand") == []


def test_malformed_survey_answers_are_explained(emulator_factory):
    emu = emulator_factory(FLEET, speed=600)
    run = run_playbook(PLAYBOOK, survey(emu, instance_tag_filters="dr:enabled"))
    assert run.returncode != 0
    assert "key=value pairs separated by commas" in run.stdout
    assert emu.calls("ssm") == []


def test_tag_filter_text_with_spaces_and_source_region_answer(emulator_factory):
    emu = emulator_factory(FLEET, speed=600)
    answers = survey(emu, instance_tag_filters=" team = shop ", source_region="us-east-1")
    del answers["drs_aws"]["region"]  # an AWX AWS credential sets the keys, not the region
    run = run_playbook(PLAYBOOK, answers)
    assert run.returncode != 0
    assert "1 instance(s) cannot be installed" in run.stdout  # the precheck ran: filters and region worked
    (describe,) = emu.calls("ec2", "DescribeInstances")
    assert describe["region"] == "us-east-1"
    assert {"Name": "tag:team", "Values": ["shop"]} in describe["params"]["Filters"]
    assert emu.calls("ssm", "SendCommand") == []


def test_numbers_and_true_false_answers_are_checked_before_any_call(emulator_factory):
    emu = emulator_factory(FLEET, speed=600)
    answers = survey(
        emu,
        instance_tag_filters="team=shop",
        wait_timeout="1h",
        poll_interval="",
        retry_failed="treu",
        instance_filters="instance-state-name=running",
    )
    run = run_playbook(PLAYBOOK, answers)
    assert run.returncode != 0
    assert "wait_timeout=1h, poll_interval=, retry_failed=treu." in run.stdout
    assert "instance_filters must be a mapping of EC2 filter names to values" in run.stdout
    assert emu.calls() == []


def test_a_protected_instance_that_is_stopped_is_named_and_not_waited_for(emulator_factory):
    emu = emulator_factory(
        {"timing": FLEET["timing"], "generate": {"count": 2, "tags": {"dr:enabled": "true"}}}, speed=600
    )
    first, stopped = (i["instance_id"] for i in emu.world.fleet.instances)
    emu.client("ssm").send_command(
        DocumentName="AWSDisasterRecovery-InstallDRAgentOnInstance",
        InstanceIds=[first, stopped],
        Parameters={"Region": ["us-west-2"]},
    )
    emu.advance(6 * 3600)  # both replicate continuously
    emu.admin.service("ec2", "set-instance-state", instance_id=stopped, state="stopped")
    emu.advance(900)  # DRS no longer sees its agent: DISCONNECTED

    run = run_playbook(PLAYBOOK, survey(emu, instance_tag_filters="dr:enabled=true"))

    assert run.returncode == 0, run.stdout[-3000:]
    assert f"Not waited for, not running (DRS replicates them again once they run): {stopped}" in run.stdout
    assert "'CONTINUOUS': 1" in run.stdout  # the running one was waited for
    assert len(emu.calls("ssm", "SendCommand")) == 1  # the first install only
