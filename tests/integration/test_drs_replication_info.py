"""drs_replication_info through the module (as Ansible runs it) against the emulator.

The emulator's call log proves the API use: one paginated DescribeSourceServers sweep
per region with ``filters`` always present, ID filters in chunks of 200, nothing per
server. Waits run on a fast virtual clock with sub-second polls.
"""

from __future__ import annotations

import pytest

from ansible_collections.drs.orchestration.plugins.modules import drs_replication_info
from tests.module_harness import emulator_args, run_module

# At speed 100 an initiation lasts seconds of real time: long enough for the module's
# first poll to see it, short enough for a quick test.
SPEED = 100
FAST = {
    "initiation_step_seconds": 30,
    "replication_bytes_per_second": 256 * 1024 * 1024,
    "snapshot_seconds": 30,
    "registration_seconds": 5,
}


def sweeps(emu):
    return [c["params"] for c in emu.calls("drs", "DescribeSourceServers")]


def run(emu, region="us-east-1", check_mode=False, **options):
    return run_module(drs_replication_info, {**emulator_args(emu, region), **options}, check_mode=check_mode)


def two_region_fleet():
    return {
        "region": "us-east-1",
        "source_servers": [
            {"hostname": "web-01.corp.example.com", "state": "CONTINUOUS", "tags": {"app": "shop"}},
            {"hostname": "web-02.corp.example.com", "state": "INITIAL_SYNC", "tags": {"app": "shop"}},
            {"hostname": "db-01.corp.example.com", "state": "STALLED", "tags": {"app": "erp"}},
            {"hostname": "ec2-app", "state": "CONTINUOUS", "origin": "AWS", "instance_id": "i-0123456789abcdef0"},
            {"hostname": "west-01", "state": "CONTINUOUS", "region": "us-west-2"},
            {"hostname": "west-02", "state": "DISCONNECTED", "region": "us-west-2"},
        ],
    }


def test_reports_every_server_of_two_regions_with_one_sweep_each(emulator_factory):
    emu = emulator_factory(two_region_fleet())

    result = run(emu, regions=["us-east-1", "us-west-2"])

    assert result["changed"] is False
    assert result.get("failed") is not True, result.get("msg")
    assert [(s["region"], s["hostname"]) for s in result["servers"]] == [
        ("us-east-1", "db-01"),
        ("us-east-1", "ec2-app"),
        ("us-east-1", "web-01"),
        ("us-east-1", "web-02"),
        ("us-west-2", "west-01"),
        ("us-west-2", "west-02"),
    ]
    summary = result["summary"]
    assert summary["total"] == 6
    assert summary["by_region"] == {"us-east-1": 4, "us-west-2": 2}
    assert summary["ready"] == 3
    assert summary["syncing"] == 1
    assert sorted(a["hostname"] for a in summary["needs_attention"]) == ["db-01", "west-02"]
    assert [c["region"] for c in emu.calls("drs", "DescribeSourceServers")] == ["us-east-1", "us-west-2"]
    assert sweeps(emu) == [{"filters": {}, "maxResults": 1000}] * 2
    assert emu.count("drs", "DescribeJobs") == 0


def test_records_carry_the_documented_fields(emulator_factory):
    emu = emulator_factory(two_region_fleet())
    servers = {s["hostname"]: s for s in run(emu)["servers"]}

    syncing = servers["web-02"]
    assert syncing["fqdn"] == "web-02.corp.example.com"
    assert syncing["data_replication_state"] == "INITIAL_SYNC"
    assert 0 < syncing["progress_percent"] < 100
    assert syncing["eta"]["seconds_from_now"] > 0
    assert syncing["lifecycle"]["first_byte"] is not None
    assert [s["status"] for s in syncing["initiation"]["steps"]] == ["SUCCEEDED"] * 11
    assert syncing["disks"][0]["total_bytes"] > syncing["disks"][0]["replicated_bytes"] > 0
    stalled = servers["db-01"]
    assert stalled["error"]["code"] == "UNSTABLE_NETWORK"
    assert servers["ec2-app"]["instance_id"] == "i-0123456789abcdef0"
    assert servers["ec2-app"]["origin"]["region"] == "us-east-1"
    assert servers["web-01"]["lag"]["seconds"] == 0
    assert servers["web-01"]["tags"] == {"app": "shop"}
    assert servers["web-01"]["arn"].endswith(servers["web-01"]["source_server_id"])


def test_check_mode_reports_the_same_and_changes_nothing(emulator_factory):
    emu = emulator_factory(two_region_fleet())
    normal = run(emu)
    checked = run(emu, check_mode=True)
    assert checked["changed"] is False
    assert checked["summary"] == normal["summary"]
    assert {c["operation"] for c in emu.calls("drs")} == {"DescribeSourceServers"}


def test_client_side_filters_select_without_more_calls(emulator_factory):
    emu = emulator_factory(two_region_fleet())

    by_tag = run(emu, tags={"app": "shop"})
    by_host = run(emu, hostnames=["web-*", "DB-01.corp.example.com"])
    by_state = run(emu, states=["stalled", "initial_sync"])
    by_instance = run(emu, instance_ids=["i-0123456789abcdef0", "i-0fedcba9876543210"])

    assert [s["hostname"] for s in by_tag["servers"]] == ["web-01", "web-02"]
    assert [s["hostname"] for s in by_host["servers"]] == ["db-01", "web-01", "web-02"]
    assert [s["hostname"] for s in by_state["servers"]] == ["db-01", "web-02"]
    assert [s["hostname"] for s in by_instance["servers"]] == ["ec2-app"]
    assert by_instance["missing"]["instance_ids"] == ["i-0fedcba9876543210"]
    assert sweeps(emu) == [{"filters": {}, "maxResults": 1000}] * 4


def test_a_large_fleet_is_read_in_pages_and_ids_in_chunks_of_200(emulator_factory):
    emu = emulator_factory({"generate": {"source_servers": 2100, "seed": 3}})

    everything = run(emu)
    assert everything["summary"]["total"] == 2100
    assert len(sweeps(emu)) == 3  # 1000 + 1000 + 100

    ids = [s["source_server_id"] for s in everything["servers"]][:450]
    emu.world.reset_calls()
    chosen = run(emu, source_server_ids=ids)
    assert sorted(s["source_server_id"] for s in chosen["servers"]) == sorted(ids)
    assert [len(p["filters"]["sourceServerIDs"]) for p in sweeps(emu)] == [200, 200, 50]


def test_throttled_sweeps_are_retried(emulator_factory):
    emu = emulator_factory(two_region_fleet())
    emu.admin.faults(throttle_next={"drs:DescribeSourceServers": 2})

    result = run(emu)

    assert result["summary"]["total"] == 4
    statuses = [c["status"] for c in emu.calls("drs", "DescribeSourceServers")]
    assert statuses == [429, 429, 200]


def test_a_region_that_cannot_be_read_fails_the_task_but_keeps_the_others(emulator_factory):
    emu = emulator_factory({**two_region_fleet(), "drs_uninitialized_regions": ["eu-west-1"]})

    result = run(emu, regions=["us-east-1", "eu-west-1"])

    assert result["failed"] is True
    assert result["msg"].startswith(
        "Not everything could be read: DescribeSourceServers in eu-west-1 failed (UninitializedAccountException"
    )
    assert "What was read: 4 servers in us-east-1." in result["msg"]
    assert [(e["region"], e["operation"], e["code"]) for e in result["errors"]] == [
        ("eu-west-1", "DescribeSourceServers", "UninitializedAccountException")
    ]
    assert result["summary"]["total"] == 4
    assert result["summary"]["by_region"] == {"us-east-1": 4}


def test_no_readable_region_fails_with_the_aws_error(emulator_factory):
    emu = emulator_factory({**two_region_fleet(), "drs_uninitialized_regions": ["eu-west-1"]})

    result = run(emu, regions=["eu-west-1"])

    assert result["failed"] is True
    assert "AWS error while reading DRS replication status" in result["msg"]
    assert "servers" not in result


def test_jobs_that_cannot_be_read_fail_the_task_with_the_servers_kept(emulator_factory):
    emu = emulator_factory(two_region_fleet())
    denied = {"count": 1, "mode": "before", "status": 403, "code": "AccessDeniedException"}
    emu.admin.faults(fail_next={"drs:DescribeJobs": denied})

    result = run(emu, regions=["us-east-1", "us-west-2"], include_jobs=True)

    assert result["failed"] is True
    assert "DescribeJobs in us-east-1 failed (AccessDeniedException" in result["msg"]
    assert [(e["region"], e["operation"]) for e in result["errors"]] == [("us-east-1", "DescribeJobs")]
    assert result["summary"]["total"] == 6
    assert emu.count("drs", "DescribeJobs") == 2  # us-west-2's jobs were still read


def test_a_region_that_cannot_be_read_ends_a_wait_with_what_was_read(emulator_factory):
    emu = emulator_factory(two_region_fleet())
    denied = {"count": 1, "mode": "before", "status": 403, "code": "AccessDeniedException"}
    emu.admin.faults(fail_next={"drs:DescribeSourceServers": denied})

    result = run(
        emu, regions=["us-east-1", "us-west-2"], wait_for_states=["CONTINUOUS"], fail_on_states=[], poll_interval=0.2
    )

    assert result["failed"] is True
    assert result["msg"].startswith("Not everything could be read: DescribeSourceServers in us-east-1 failed")
    assert (result["wait"]["polls"], result["wait"]["reached"]) == (1, False)
    assert [s["hostname"] for s in result["servers"]] == ["west-01", "west-02"]
    assert len(sweeps(emu)) == 2  # no further poll once a region is unreadable


@pytest.mark.parametrize(
    ("options", "named"),
    [
        ({"hostnames": ["web-*"]}, "hostnames ['web-*'] leave out"),
        ({"tags": {"app": "shop"}}, "tags {'app': 'shop'} leave out"),
        ({"replication_direction": "FAILBACK"}, "replication_direction FAILBACK leave out"),
    ],
)
def test_an_id_the_other_filters_leave_out_is_a_contradiction(emulator_factory, options, named):
    emu = emulator_factory(two_region_fleet())
    db = next(s for s in run(emu)["servers"] if s["hostname"] == "db-01")

    by_server = run(emu, source_server_ids=[db["source_server_id"]], **options)
    waiting = run(emu, source_server_ids=[db["source_server_id"]], wait_for_states=["CONTINUOUS"], **options)

    for result in (by_server, waiting):
        assert result["failed"] is True
        assert result["msg"].startswith(
            f"The filters contradict each other: {db['source_server_id']} (db-01, us-east-1), which "
        )
        assert named in result["msg"]


def test_an_instance_id_with_one_of_its_servers_selected_is_no_contradiction(emulator_factory):
    emu = emulator_factory(two_region_fleet())

    result = run(emu, instance_ids=["i-0123456789abcdef0"], hostnames=["ec2-*"])

    assert [s["hostname"] for s in result["servers"]] == ["ec2-app"]
    assert result["missing"] == {"source_server_ids": [], "instance_ids": []}


def test_recent_jobs_of_the_selection_are_included_on_request(emulator_factory):
    emu = emulator_factory(two_region_fleet())
    servers = {s["hostname"]: s["source_server_id"] for s in run(emu)["servers"]}
    emu.client("drs").start_recovery(isDrill=True, sourceServers=[{"sourceServerID": servers["web-01"]}])

    shop = run(emu, tags={"app": "shop"}, include_jobs=True)
    erp = run(emu, tags={"app": "erp"}, include_jobs=True)

    assert [j["participating_servers"][0]["source_server_id"] for j in shop["jobs"]] == [servers["web-01"]]
    assert shop["jobs"][0]["initiated_by"] == "START_DRILL"
    assert shop["jobs"][0]["region"] == "us-east-1"
    assert erp["jobs"] == []


# --- waiting -------------------------------------------------------------------------


def test_waits_until_new_servers_are_continuous(emulator_factory):
    emu = emulator_factory(
        {
            "timing": FAST,
            "source_servers": [
                {"hostname": "new-01", "state": "INITIATING"},
                {"hostname": "new-02", "state": "INITIAL_SYNC"},
                {"hostname": "old-01", "state": "CONTINUOUS"},
            ],
        },
        speed=SPEED,
    )

    result = run(emu, wait_for_states=["CONTINUOUS"], poll_interval=0.5, wait_timeout=600)

    assert result.get("failed") is not True, result.get("msg")
    assert result["wait"]["reached"] is True
    assert result["wait"]["polls"] >= 2
    assert result["summary"]["ready"] == 3
    assert {s["data_replication_state"] for s in result["servers"]} == {"CONTINUOUS"}
    assert len(sweeps(emu)) == result["wait"]["polls"]


def test_a_server_that_stalls_while_waiting_fails_the_wait_at_once(emulator_factory):
    emu = emulator_factory(
        {
            "timing": FAST,
            "source_servers": [
                {"hostname": "good", "state": "INITIATING"},
                {
                    "hostname": "flaky",
                    "state": "INITIATING",
                    "replication": {"fault": "STALLED", "error": "NOT_CONVERGING", "at": "INITIAL_SYNC"},
                },
            ],
        },
        speed=SPEED,
    )

    result = run(emu, wait_for_states=["CONTINUOUS"], poll_interval=0.5, wait_timeout=600)

    assert result["failed"] is True
    assert "reached a state that ends the wait (fail_on_states: STALLED, DISCONNECTED)" in result["msg"]
    assert "(flaky, us-east-1) STALLED error NOT_CONVERGING" in result["msg"]
    assert "Traceback" not in result["msg"]
    assert result["wait"]["reached"] is False
    assert result["summary"]["needs_attention"][0]["hostname"] == "flaky"
    assert {s["hostname"] for s in result["servers"]} == {"good", "flaky"}


def test_a_wait_that_runs_out_of_time_fails_with_the_last_snapshot(emulator_factory):
    emu = emulator_factory({"source_servers": [{"hostname": "slow", "state": "INITIAL_SYNC"}]}, speed=0)

    result = run(emu, wait_for_states=["CONTINUOUS"], poll_interval=0.2, wait_timeout=1)

    assert result["failed"] is True
    assert result["msg"].startswith("Timed out after 1s waiting for the source servers to reach CONTINUOUS")
    assert "(slow, us-east-1) INITIAL_SYNC" in result["msg"]
    assert result["servers"][0]["data_replication_state"] == "INITIAL_SYNC"
    assert result["wait"]["elapsed_seconds"] >= 1
    assert result["wait"]["polls"] == len(sweeps(emu)) >= 1


def test_settling_wait_reports_broken_servers_instead_of_failing(emulator_factory):
    emu = emulator_factory(two_region_fleet(), speed=0)

    result = run(
        emu,
        regions=["us-east-1"],
        states=["CONTINUOUS", "STALLED"],
        wait_for_states=["CONTINUOUS", "STALLED", "DISCONNECTED"],
        fail_on_states=[],
        poll_interval=0.2,
    )

    assert result.get("failed") is not True, result.get("msg")
    assert result["summary"]["by_state"] == {"CONTINUOUS": 2, "STALLED": 1}


# --- bad input -------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("options", "message"),
    [
        (
            {"states": ["CONTINOUS"]},
            "states: 'CONTINOUS' is not a DRS data replication state. Did you mean CONTINUOUS?",
        ),
        ({"regions": []}, "regions is empty: name at least one region"),
        ({"regions": ["mars-north-1"]}, "regions: 'mars-north-1' is not a region where DRS is available."),
        ({"wait_for_states": ["CONTINUOUS"], "wait_timeout": -30}, "wait_timeout must be at least 0, got -30."),
        ({"fail_on_states": ["STALLED"]}, "fail_on_states only applies while waiting"),
        (
            {"wait_for_states": ["STALLED"], "fail_on_states": ["STALLED"]},
            "wait_for_states and fail_on_states both contain STALLED",
        ),
        ({"source_server_ids": ["s-short"]}, "source_server_ids: 's-short' is not a DRS source server ID"),
        ({"replication_direction": "SIDEWAYS"}, "value of replication_direction must be one of: FAILOVER, FAILBACK"),
    ],
)
def test_bad_input_fails_with_a_clear_message_and_sends_nothing(emulator_factory, options, message):
    emu = emulator_factory(two_region_fleet())
    result = run(emu, **options)
    assert result["failed"] is True
    assert message in result["msg"]
    assert "Traceback" not in result["msg"]
    assert emu.calls("drs") == []


def test_waiting_for_unknown_source_servers_fails_at_once(emulator_factory):
    emu = emulator_factory(two_region_fleet())
    result = run(emu, source_server_ids=["s-0000000000000dead"], wait_for_states=["CONTINUOUS"], poll_interval=0.2)
    assert result["failed"] is True
    assert result["msg"].startswith("No source server s-0000000000000dead in us-east-1.")
    assert len(sweeps(emu)) == 1
