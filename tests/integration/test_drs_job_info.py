"""drs_job_info through the module against the emulator: filters, log items, unknown IDs, bad input."""

from __future__ import annotations

import os
import time
from datetime import UTC, datetime, timedelta

import pytest
import yaml
from ansible.parsing.dataloader import DataLoader
from ansible.template import Templar, trust_as_template

from ansible_collections.drs.orchestration.plugins.modules import drs_job_info
from tests.module_harness import emulator_args, run_module

REGION = "us-west-2"


@pytest.fixture
def emu(emulator_factory):
    fleet = {
        "region": REGION,
        "timing": {"job_start_seconds": 10, "launch_seconds": 300, "terminate_seconds": 60},
        "source_servers": [{"hostname": "web-01"}, {"hostname": "web-02"}],
    }
    return emulator_factory(fleet)


def run(emu, check_mode=False, **options):
    return run_module(drs_job_info, {**emulator_args(emu, REGION), **options}, check_mode=check_mode)


@pytest.fixture
def history(emu):
    """A completed drill of both servers, then the termination of its instances (still running)."""
    drs = emu.client("drs", region=REGION)
    ids = [s["sourceServerID"] for s in drs.describe_source_servers(filters={})["items"]]
    drill = drs.start_recovery(sourceServers=[{"sourceServerID": i} for i in ids], isDrill=True)["job"]
    emu.advance(400)
    instances = [i["recoveryInstanceID"] for i in drs.describe_recovery_instances(filters={})["items"]]
    terminate = drs.terminate_recovery_instances(recoveryInstanceIDs=instances)["job"]
    emu.world.reset_calls()
    return {"drill": drill, "terminate": terminate, "server_ids": ids}


def test_jobs_are_listed_latest_first_with_their_servers(emu, history):
    result = run(emu)

    assert result["changed"] is False
    assert [j["job_id"] for j in result["jobs"]] == [history["terminate"]["jobID"], history["drill"]["jobID"]]
    drill = result["jobs"][1]
    assert (drill["type"], drill["initiated_by"], drill["status"]) == ("LAUNCH", "START_DRILL", "COMPLETED")
    assert sorted(s["source_server_id"] for s in drill["participating_servers"]) == sorted(history["server_ids"])
    assert {s["launch_status"] for s in drill["participating_servers"]} == {"LAUNCHED"}
    assert "log_items" not in drill
    assert [c["operation"] for c in emu.calls("drs")] == ["DescribeJobs"]


def test_filters_by_type_and_initiator(emu, history):
    terminations = run(emu, job_type=["TERMINATE"])
    drills = run(emu, initiated_by=["START_DRILL"], check_mode=True)

    assert [j["job_id"] for j in terminations["jobs"]] == [history["terminate"]["jobID"]]
    assert [j["job_id"] for j in drills["jobs"]] == [history["drill"]["jobID"]]


def test_date_range_goes_to_describe_jobs(emu, history):
    result = run(emu, from_date="2000-01-01T00:00:00Z", to_date="2000-01-02T00:00:00Z")

    assert result["jobs"] == []
    (call,) = emu.calls("drs", "DescribeJobs")
    assert call["params"]["filters"] == {"fromDate": "2000-01-01T00:00:00Z", "toDate": "2000-01-02T00:00:00Z"}


def test_log_items_on_request_and_unknown_ids_reported(emu, history):
    drill_id = history["drill"]["jobID"]

    result = run(emu, job_ids=[drill_id, "drsjob-00000000000000000"], include_log_items=True)

    (job,) = result["jobs"]
    events = [i["event"] for i in job["log_items"]]
    assert events[0] == "JOB_START"
    assert events[-1] == "JOB_END"
    assert events.count("LAUNCH_START") == 2
    assert result["missing_job_ids"] == ["drsjob-00000000000000000"]
    assert [c["params"] for c in emu.calls("drs", "DescribeJobLogItems")] == [{"jobID": drill_id}]


@pytest.mark.parametrize(
    ("options", "message"),
    [
        ({"job_ids": ["42"]}, "job_ids: '42' is not a DRS job ID like drsjob-"),
        ({"from_date": "last week"}, "from_date: 'last week' is not a date-time"),
        ({"job_type": ["RESTORE"]}, "value of job_type must be one or more of"),
        ({"region": "mars-1"}, "region: 'mars-1' is not a region where DRS is available"),
    ],
)
def test_bad_input_fails_with_what_to_fix(emu, options, message):
    result = run(emu, **options)

    assert result["failed"] is True
    assert message in result["msg"]
    assert emu.calls("drs") == []


def dst_started_today():
    """A POSIX TZ (UTC-5, UTC-4 in summer time) whose summer time began at local midnight today."""
    today = (datetime.now(UTC) - timedelta(hours=5)).timetuple().tm_yday - 1  # zero-based day of the year
    return f"XST5XDT,{today}/0,{(today + 2) % 365}/0"


@pytest.mark.parametrize("zone", ["UTC", "Asia/Kolkata", "America/New_York", "summer time since midnight"])
def test_the_examples_day_ago_is_utc_whatever_the_controllers_time_zone(zone):
    example = yaml.safe_load(drs_job_info.EXAMPLES)[0]["drs.orchestration.drs_job_info"]["from_date"]
    saved = os.environ.get("TZ")
    os.environ["TZ"] = dst_started_today() if " " in zone else zone
    time.tzset()
    try:
        rendered = Templar(loader=DataLoader()).template(trust_as_template(example))
    finally:
        if saved is None:
            del os.environ["TZ"]
        else:
            os.environ["TZ"] = saved
        time.tzset()
    expected = datetime.now(UTC) - timedelta(days=1)
    assert abs(datetime.strptime(rendered, "%Y-%m-%dT%H:%M:%SZ").replace(tzinfo=UTC) - expected) < timedelta(seconds=60)
