"""The jobs core against the emulator: reading every page, filtering, waiting, busy servers.

Time is virtual: ``sleep`` advances the emulator's clock, so waits take milliseconds.
"""

from __future__ import annotations

from datetime import timedelta

import pytest

from ansible_collections.drs.orchestration.plugins.module_utils import jobs
from ansible_collections.drs.orchestration.plugins.module_utils.aws import Clients
from ansible_collections.drs.orchestration.plugins.module_utils.errors import InputError, NotFoundError, WaitTimeout
from emulator.testing import shared_session

REGION = "us-west-2"
TIMING = {"job_start_seconds": 10, "launch_seconds": 300, "terminate_seconds": 60}


class Env:
    """An emulator with ``count`` CONTINUOUS source servers, clients, and virtual time."""

    def __init__(self, factory, count=3):
        fleet = {"region": REGION, "timing": TIMING, "source_servers": [{"tags": {"n": str(i)}} for i in range(count)]}
        self.emu = factory(fleet)
        self.clients = Clients.from_session(shared_session(), region=REGION, endpoint_url=self.emu.endpoint)
        self.drs = self.emu.client("drs", region=REGION)
        self.now = 0.0
        pages = self.drs.get_paginator("describe_source_servers").paginate(filters={})
        self.server_ids = sorted(s["sourceServerID"] for page in pages for s in page["items"])

    def clock(self):
        return self.now

    def sleep(self, seconds):
        self.now += seconds
        self.emu.advance(seconds)

    def start(self, server_ids, drill=True):
        servers = [{"sourceServerID": s} for s in server_ids]
        return self.drs.start_recovery(sourceServers=servers, isDrill=drill)["job"]["jobID"]


@pytest.fixture
def env(emulator_factory):
    return Env(emulator_factory)


def test_a_job_reads_as_snake_case_with_its_servers(env):
    job_id = env.start(env.server_ids[:2])

    (job,) = jobs.describe_jobs(env.clients, REGION, job_ids=[job_id])

    assert job["job_id"] == job_id
    assert (job["type"], job["initiated_by"], job["status"]) == ("LAUNCH", "START_DRILL", "PENDING")
    assert job["arn"].endswith(f":job/{job_id}")
    assert job["creation_time"]
    assert job["end_time"] is None
    assert sorted(s["source_server_id"] for s in job["participating_servers"]) == env.server_ids[:2]
    assert {s["launch_status"] for s in job["participating_servers"]} == {"PENDING"}


def test_every_page_of_jobs_is_read(emulator_factory):
    env = Env(emulator_factory, count=130)
    started = []
    for index, server_id in enumerate(env.server_ids):
        started.append(env.start([server_id]))
        if index % 15 == 14:
            env.sleep(400)  # let them complete: at most 20 jobs run at once

    found = jobs.describe_jobs(env.clients, REGION)

    assert sorted(j["job_id"] for j in found) == sorted(started)
    assert len(env.emu.calls("drs", "DescribeJobs")) > 1  # more than one page (the page size is 100)
    assert [j["creation_time"] for j in found] == sorted((j["creation_time"] for j in found), reverse=True)


def test_type_initiator_and_date_filters_narrow_the_jobs(env):
    drill = env.start(env.server_ids[:1])
    env.sleep(400)
    recovery = env.start(env.server_ids[1:2], drill=False)
    (recovery_job,) = jobs.describe_jobs(env.clients, REGION, job_ids=[recovery])

    assert [j["job_id"] for j in jobs.describe_jobs(env.clients, REGION, initiated_by="START_DRILL")] == [drill]
    assert [j["job_id"] for j in jobs.describe_jobs(env.clients, REGION, initiated_by=["START_RECOVERY"])] == [recovery]
    assert jobs.describe_jobs(env.clients, REGION, job_type="TERMINATE") == []
    since = jobs.describe_jobs(env.clients, REGION, from_date=recovery_job["creation_time"])
    assert [j["job_id"] for j in since] == [recovery]
    sent = env.emu.calls("drs", "DescribeJobs")[-1]["params"]
    assert sent["filters"]["fromDate"].endswith("Z")


def test_unknown_job_ids_are_absent_from_the_answer(env):
    job_id = env.start(env.server_ids[:1])

    found = jobs.describe_jobs(env.clients, REGION, job_ids=[job_id, "drsjob-00000000000000000"])

    assert [j["job_id"] for j in found] == [job_id]


def test_only_ids_drs_does_not_know_are_missing_not_those_the_filters_leave_out(env):
    drill = env.start(env.server_ids[:1])
    unknown = "drsjob-00000000000000000"

    found = jobs.job_info(env.clients, REGION, job_ids=[unknown, drill], initiated_by="START_RECOVERY")

    assert found == {"jobs": [], "missing_job_ids": [unknown]}


def test_log_items_are_read_page_by_page(emulator_factory):
    env = Env(emulator_factory, count=40)
    job_id = env.start(env.server_ids)
    env.sleep(400)

    (job,) = jobs.describe_jobs(env.clients, REGION, job_ids=[job_id], include_log_items=True)

    events = [i["event"] for i in job["log_items"]]
    assert events[0] == "JOB_START"
    assert events[-1] == "JOB_END"
    assert events.count("LAUNCH_START") == 40
    assert len(events) > 100
    assert len(env.emu.calls("drs", "DescribeJobLogItems")) > 1
    launch = next(i for i in job["log_items"] if i["event"] == "LAUNCH_START")
    assert launch["event_data"]["source_server_id"] in env.server_ids
    assert launch["event_data"]["target_instance_id"].startswith("i-")


@pytest.mark.parametrize(
    ("options", "message"),
    [
        ({"job_ids": ["job-1"]}, "not a DRS job ID"),
        ({"from_date": "yesterday"}, "from_date: 'yesterday' is not a date-time"),
        ({"from_date": "2024-05-02T00:00:00Z", "to_date": "2024-05-01T00:00:00Z"}, "is after to_date"),
        ({"job_type": "RESTORE"}, "job_type: 'RESTORE' not one of LAUNCH"),
        ({"initiated_by": ["DRILL"]}, "initiated_by: 'DRILL' not one of"),
    ],
)
def test_bad_filters_are_refused_with_the_fix(env, options, message):
    with pytest.raises(InputError, match=message):
        jobs.describe_jobs(env.clients, REGION, **options)
    assert env.emu.count("drs", "DescribeJobs") == 0


def test_waiting_ends_when_every_job_completed(env):
    first = env.start(env.server_ids[:1])
    second = env.start(env.server_ids[1:3])

    done = jobs.wait_for_jobs(env.clients, REGION, [first, second], 3600, 30, clock=env.clock, sleep=env.sleep)

    assert [j["job_id"] for j in done] == [first, second]
    assert {j["status"] for j in done} == {"COMPLETED"}
    assert {s["launch_status"] for j in done for s in j["participating_servers"]} == {"LAUNCHED"}
    assert 300 <= env.now <= 360  # job start + launch, polled every 30 s
    polls = env.emu.count("drs", "DescribeJobs")
    assert polls == env.now / 30 + 1  # one call per poll round for both jobs


def test_waiting_times_out_with_where_each_job_stands(env):
    job_id = env.start(env.server_ids[:2])

    with pytest.raises(WaitTimeout) as info:
        jobs.wait_for_jobs(env.clients, REGION, [job_id], 60, 20, clock=env.clock, sleep=env.sleep)

    assert f"{job_id} STARTED (2 servers: 2 IN_PROGRESS)" in info.value.message
    assert info.value.details["last"][0]["status"] == "STARTED"


def test_waiting_for_an_unknown_job_fails_at_once(env):
    with pytest.raises(NotFoundError, match="does not know job.*drsjob-00000000000000000"):
        jobs.wait_for_jobs(env.clients, REGION, ["drsjob-00000000000000000"], 3600, 30, env.clock, env.sleep)
    assert env.now == 0


def test_busy_servers_map_to_their_running_job(env):
    env.start(env.server_ids[2:3])
    env.sleep(400)  # that job completed: its server is free again
    pair = env.start(env.server_ids[:2])
    single = env.start(env.server_ids[2:3])

    busy = jobs.active_jobs_by_server(env.clients, REGION)

    assert {s: j["job_id"] for s, j in busy.items()} == {
        env.server_ids[0]: pair,
        env.server_ids[1]: pair,
        env.server_ids[2]: single,
    }


def test_active_jobs_only_look_back_a_bounded_window(env):
    env.start(env.server_ids[:1])

    jobs.active_jobs(env.clients, REGION)

    (call,) = env.emu.calls("drs", "DescribeJobs")
    since = jobs.parse_datetime(call["params"]["filters"]["fromDate"])
    assert jobs.utcnow() - since <= jobs.ACTIVE_JOB_LOOKBACK + timedelta(minutes=1)
