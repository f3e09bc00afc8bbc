"""Survey answers the playbooks check before any AWS call: numbers and true/false.

AWX surveys hand every answer over as text; a cast such as ``| int`` turns "1h" or ""
into 0 without a word (a zero wait timeout, a launch that is then never waited for).
Each playbook names the answers that are not what they must be and stops first.
install_agents.yml is covered with its other survey tests (test_drs_agent_install_playbook.py).
"""

from __future__ import annotations

import pytest

from emulator.testing import ACCESS_KEY, SECRET_KEY
from tests.module_harness import REPO, run_playbook

MESSAGE = "These answers must be whole numbers (seconds, counts), numbers (poll intervals) or true/false:"


@pytest.mark.parametrize(
    ("playbook", "answers", "named"),
    [
        (
            "drill.yml",
            {"drs_region": "us-west-2", "source_server_tags": "app=shop", "wait_timeout": "1h", "relaunch": "maybe"},
            "wait_timeout=1h, relaunch=maybe.",
        ),
        (
            "failback.yml",
            {"recovery_region": "us-west-2", "source_server_ids": "s-0123456789abcdef0", "poll_interval": "fast"},
            "poll_interval=fast.",
        ),
        (
            "replication_status.yml",
            {"drs_lag_threshold_seconds": "15m", "drs_include_jobs": "yes please"},
            "drs_lag_threshold_seconds=15m, drs_include_jobs=yes please.",
        ),
    ],
)
def test_malformed_numbers_and_true_false_answers_stop_the_play_before_any_call(
    emulator_factory, tmp_path, playbook, answers, named
):
    emu = emulator_factory({"region": "us-west-2"})
    connection = {
        "region": "us-west-2",
        "endpoint_url": emu.endpoint,
        "access_key": ACCESS_KEY,
        "secret_key": SECRET_KEY,
    }

    run = run_playbook(
        REPO / "playbooks" / playbook, {"drs_aws": connection, "drs_report_dir": str(tmp_path), **answers}
    )

    assert run.returncode != 0
    assert f"{MESSAGE} {named}" in run.stdout, run.stdout[-2000:]
    assert emu.calls() == []
