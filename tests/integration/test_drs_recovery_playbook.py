"""playbooks/drill.yml (and the drill role) run by ansible-playbook against the emulator.

The variables are given as an AWX survey gives them: text. The emulator's clock runs
600 times faster than real time, so the drill jobs take well under a second.
"""

from __future__ import annotations

import json

from emulator.testing import ACCESS_KEY, SECRET_KEY
from tests.module_harness import REPO, run_playbook

PLAYBOOK = REPO / "playbooks" / "drill.yml"
REGION = "us-west-2"


def fleet():
    return {
        "region": REGION,
        "timing": {"job_start_seconds": 10, "launch_seconds": 300, "terminate_seconds": 60},
        "source_servers": [
            {"hostname": "web-01", "tags": {"app": "shop"}},
            {"hostname": "api-01", "tags": {"app": "shop"}, "origin": "AWS", "origin_region": "us-east-1"},
            {"hostname": "erp-01", "tags": {"app": "erp"}},
        ],
    }


def survey(emu, **answers):
    connection = {"endpoint_url": emu.endpoint, "access_key": ACCESS_KEY, "secret_key": SECRET_KEY}
    return {"drs_aws": connection, "drs_region": REGION, "poll_interval": "0.2", **answers}


def test_a_drill_from_survey_answers_launches_verifies_and_terminates(emulator_factory, tmp_path):
    emu = emulator_factory(fleet(), speed=600)
    report = tmp_path / "drill.json"

    run = run_playbook(
        PLAYBOOK,
        survey(
            emu,
            source_server_tags="app=shop",
            change_ticket="CHG7",
            terminate_after_verify="true",
            report_file=str(report),
        ),
    )

    assert run.returncode == 0, run.stdout + run.stderr
    result = json.loads(report.read_text())
    launched = result["launch"]["recovery_instances"]
    assert len(launched) == 2
    assert set(result["instance_states"].values()) == {"running"}
    assert sorted(result["terminated"]) == sorted(i["recovery_instance_id"] for i in launched)
    (start,) = emu.calls("drs", "StartRecovery")
    assert start["params"]["isDrill"] is True
    assert start["params"]["tags"] == {"change": "CHG7"}
    assert len(start["params"]["sourceServers"]) == 2
    assert len(emu.calls("drs", "TerminateRecoveryInstances")) == 1
    assert emu.count("ec2", "DescribeInstances") >= 1
    assert "Drill instances running in EC2: 2 of 2" in run.stdout


def test_survey_answers_naming_servers_two_ways_are_refused(emulator_factory):
    emu = emulator_factory(fleet())

    run = run_playbook(PLAYBOOK, survey(emu, source_server_tags="app=shop", source_server_ids="s-0123456789abcdef0"))

    assert run.returncode != 0
    assert "either source_server_ids or source_server_tags" in run.stdout
    assert emu.calls("drs") == []
