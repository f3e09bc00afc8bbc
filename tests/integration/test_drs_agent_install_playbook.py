"""playbooks/install_agents.yml (and the agent_install role) with ansible-playbook, as AWX would run it.

Survey answers arrive as text: instance IDs separated by commas and new lines, tag
filters and source server tags as ``K=V,K=V``. The emulator runs on a fast clock.
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


def survey(emu, report, **answers):
    return {
        "target_region": "us-west-2",
        "poll_interval": 0.5,
        "wait_timeout": 120,
        "report_file": str(report),
        "drs_aws": {
            "region": "us-east-1",
            "endpoint_url": emu.endpoint,
            "access_key": ACCESS_KEY,
            "secret_key": SECRET_KEY,
        },
        **answers,
    }


def test_tag_filter_text_installs_the_tagged_fleet_and_reports_each_instance(emulator_factory, tmp_path):
    emu = emulator_factory(FLEET, speed=600)
    report = tmp_path / "result.json"
    answers = survey(
        emu,
        report,
        instance_tag_filters="dr:enabled=true, team=shop",
        source_server_tags="Env=Test,Owner=Ops Team",
        max_failures=1,
    )
    run = run_playbook(PLAYBOOK, answers)
    assert run.returncode == 0, run.stdout + run.stderr
    for stage in ("Precheck | Plan the install", "Install | Send the AWS Replication Agent", "Registration | Wait"):
        assert stage in run.stdout
    result = json.loads(report.read_text())
    outcomes = {i["name"]: i["outcome"] for i in result["instances"]}
    assert outcomes == {
        "app-0001": "rejected",
        **{f"app-000{n}": "installed" for n in range(2, 6)},
    }
    assert all(i["source_server_id"] for i in result["instances"] if i["outcome"] == "installed")
    params = emu.calls("ssm", "SendCommand")[0]["params"]
    assert params["Parameters"]["Tags"] == ["Env=Test,Owner=Ops Team"]
    assert len(emu.calls("ssm", "SendCommand")) == 1


def test_instance_id_text_and_a_second_run_change_nothing(emulator_factory, tmp_path):
    emu = emulator_factory(FLEET, speed=600)
    ids = [i["instance_id"] for i in emu.world.fleet.instances if i["name"] in ("app-0002", "app-0003")]
    # the wait for CONTINUOUS is not the subject here (the agent_install scenario covers it)
    answers = survey(emu, tmp_path / "r.json", instance_ids=f"{ids[0]},\n {ids[1]}", wait_for_continuous=False)
    first = run_playbook(PLAYBOOK, answers)
    assert first.returncode == 0, first.stdout + first.stderr
    second = run_playbook(PLAYBOOK, answers)
    assert second.returncode == 0, second.stdout + second.stderr
    recap = second.stdout.split("PLAY RECAP")[-1]
    assert "changed=0" in recap  # the report file is rewritten with the same content
    assert [c["params"]["InstanceIds"] for c in emu.calls("ssm", "SendCommand")] == [ids]


def test_precheck_stops_before_sending_when_too_many_instances_are_rejected(emulator_factory, tmp_path):
    emu = emulator_factory(FLEET, speed=600)
    run = run_playbook(PLAYBOOK, survey(emu, tmp_path / "r.json", instance_tag_filters="dr:enabled=true"))
    assert run.returncode != 0
    assert "cannot be installed (more than agent_install_max_failures" in run.stdout
    assert "Nothing was sent" in run.stdout
    assert emu.calls("ssm", "SendCommand") == []


def test_malformed_survey_answers_are_explained(emulator_factory, tmp_path):
    emu = emulator_factory(FLEET, speed=600)
    run = run_playbook(PLAYBOOK, survey(emu, tmp_path / "r.json", instance_tag_filters="dr:enabled"))
    assert run.returncode != 0
    assert "key=value pairs separated by commas" in run.stdout
    assert emu.calls("ssm") == []
