"""playbooks/drill.yml run by ansible-playbook against the emulator: answers it refuses.

The variables are given as an AWX survey gives them: text. A whole drill from survey
answers (launch, verify, terminate, report file) is the drill Molecule scenario's
(extensions/molecule/drill).
"""

from __future__ import annotations

from emulator.testing import ACCESS_KEY, SECRET_KEY
from tests.module_harness import REPO, run_playbook

PLAYBOOK = REPO / "playbooks" / "drill.yml"
REGION = "us-west-2"


def fleet():
    return {
        "region": REGION,
        "source_servers": [
            {"hostname": "web-01", "tags": {"app": "shop"}},
            {"hostname": "api-01", "tags": {"app": "shop"}, "origin": "AWS", "origin_region": "us-east-1"},
            {"hostname": "erp-01", "tags": {"app": "erp"}},
        ],
    }


def survey(emu, **answers):
    connection = {"endpoint_url": emu.endpoint, "access_key": ACCESS_KEY, "secret_key": SECRET_KEY}
    return {"drs_aws": connection, "drs_region": REGION, "poll_interval": "0.2", **answers}


def test_survey_answers_naming_servers_two_ways_are_refused(emulator_factory):
    emu = emulator_factory(fleet())

    run = run_playbook(PLAYBOOK, survey(emu, source_server_tags="app=shop", source_server_ids="s-0123456789abcdef0"))

    assert run.returncode != 0
    assert "either source_server_ids or source_server_tags" in run.stdout
    assert emu.calls("drs") == []
