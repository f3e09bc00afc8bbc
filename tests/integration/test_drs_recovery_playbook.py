"""playbooks/drill.yml run by ansible-playbook against the emulator: answers it refuses, a re-run after an interruption.

The variables are given as an AWX survey gives them: text. A whole drill from survey
answers (launch, verify, terminate, report file) is the drill Molecule scenario's
(extensions/molecule/drill).
"""

from __future__ import annotations

import time
from concurrent.futures import ThreadPoolExecutor

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


def wait_for_calls(emu, operation, since, count, done, timeout=120):
    """Wait until the emulator logged ``count`` DRS ``operation`` calls after call ``since``, or ``done()``."""
    deadline = time.monotonic() + timeout
    while not done():
        seen = [c for c in emu.calls("drs", operation) if c["seq"] > since]
        if len(seen) >= count:
            return
        assert time.monotonic() < deadline, f"{len(seen)} {operation} call(s) after {timeout}s, waited for {count}"
        time.sleep(0.05)


def test_drill_interrupted_while_its_job_runs_is_resumed_by_the_rerun_without_a_second_launch(emulator_factory):
    # Lost answers and killed module runs are covered through the module (test_drs_recovery.py);
    # here the whole playbook gives up after the launch and the operator runs it again.
    emu = emulator_factory({**fleet(), "timing": {"launch_seconds": 1200}})  # clock stopped
    answers = survey(emu, source_server_tags="app=shop", terminate_after_verify="true")

    first = run_playbook(PLAYBOOK, {**answers, "wait_timeout": "0"})
    assert first.returncode != 0
    assert "Timed out" in first.stdout, first.stdout[-3000:]
    emu.advance(300)  # the launch job (10 s pending, then 1,200 s) is converting; the clock stays stopped
    mark = emu.calls()[-1]["seq"]

    with ThreadPoolExecutor(max_workers=1) as pool:
        running = pool.submit(run_playbook, PLAYBOOK, answers)
        # The rerun reads the jobs, finds the launch job running and re-attaches; its next DescribeJobs is
        # the first poll of its wait. Only then does the clock move on: the job cannot end before that look.
        wait_for_calls(emu, "DescribeJobs", since=mark, count=2, done=running.done)
        emu.advance(1000)  # past the launch job's end
        emu.admin.set_speed(600)  # the termination job (70 s) completes in a few polls
        rerun = running.result()

    assert rerun.returncode == 0, rerun.stdout[-3000:]
    assert "0 launched now, 2 re-attached to running jobs" in rerun.stdout
    drs = emu.client("drs", region=REGION)
    jobs = drs.describe_jobs(filters={})["items"]
    assert sorted(j["type"] for j in jobs) == ["LAUNCH", "TERMINATE"]
    (launch,) = [j for j in jobs if j["type"] == "LAUNCH"]
    assert launch["initiatedBy"] == "START_DRILL"
    assert len(launch["participatingServers"]) == 2
    assert [c["status"] for c in emu.calls("drs", "StartRecovery")] == [202]
    assert len(emu.calls("drs", "TerminateRecoveryInstances")) == 1
    assert drs.describe_recovery_instances(filters={})["items"] == []
