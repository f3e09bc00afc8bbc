"""The fleet sweep, input validation and waiting, with the DRS API under a botocore Stubber.

Every expected request is declared with its exact parameters, so these tests prove which
calls the core sends (one paginated sweep per region, `filters` always present, ID
filters chunked by 200) and that nothing else is sent.
"""

from __future__ import annotations

from datetime import timedelta

import pytest
from replication_samples import NOW, StubbedDrs, instance_id, page, server_id, source_server, steps

from ansible_collections.drs.orchestration.plugins.module_utils.errors import (
    InputError,
    NotFoundError,
    WaitFailed,
    WaitTimeout,
)
from ansible_collections.drs.orchestration.plugins.module_utils.replication import (
    ReplicationQuery,
    describe_replication,
    run_query,
    wait_for_replication,
)


class FakeTime:
    def __init__(self):
        self.now = 0.0
        self.sleeps = []

    def clock(self):
        return self.now

    def sleep(self, seconds):
        self.sleeps.append(seconds)
        self.now += seconds


# --- the sweep ---------------------------------------------------------------------------


def test_unfiltered_sweep_sends_empty_filters_and_follows_every_page():
    drs = StubbedDrs()
    drs.expect("us-east-1", page([source_server(1), source_server(2)], next_token="t1"))
    drs.expect("us-east-1", page([source_server(3)]), next_token="t1")

    result = describe_replication(drs.clients, None)

    drs.assert_all_called()
    assert [s["source_server_id"] for s in result["servers"]] == [server_id(1), server_id(2), server_id(3)]
    assert result["regions"] == ["us-east-1"]
    assert result["as_of"] == "2025-12-15T14:00:00+00:00"
    assert result["summary"]["total"] == 3
    assert result["jobs"] == []
    assert result["missing"] == {"source_server_ids": [], "instance_ids": []}


def test_several_regions_are_swept_once_each_and_records_carry_their_region():
    drs = StubbedDrs(regions=("us-east-1", "us-west-2"))
    drs.expect("us-east-1", page([source_server(1)]))
    drs.expect("us-west-2", page([source_server(2, region="us-west-2"), source_server(3, region="us-west-2")]))

    result = describe_replication(drs.clients, ["us-east-1", "us-west-2"])

    drs.assert_all_called()
    assert [(s["region"], s["source_server_id"]) for s in result["servers"]] == [
        ("us-east-1", server_id(1)),
        ("us-west-2", server_id(2)),
        ("us-west-2", server_id(3)),
    ]
    assert result["summary"]["by_region"] == {"us-east-1": 1, "us-west-2": 2}


def test_a_region_without_servers_counts_zero_in_by_region():
    drs = StubbedDrs(regions=("us-east-1", "us-west-2"))
    drs.expect("us-east-1", page([source_server(1)]))
    drs.expect("us-west-2", page([]))

    result = describe_replication(drs.clients, ["us-east-1", "us-west-2"])

    assert result["summary"]["by_region"] == {"us-east-1": 1, "us-west-2": 0}
    assert result["errors"] == []


def test_source_server_ids_are_sent_in_chunks_of_two_hundred():
    ids = [server_id(n) for n in range(1, 451)]
    drs = StubbedDrs()
    drs.expect("us-east-1", page([source_server(1)]), filters={"sourceServerIDs": ids[:200]})
    drs.expect("us-east-1", page([source_server(250)]), filters={"sourceServerIDs": ids[200:400]})
    drs.expect("us-east-1", page([source_server(450)]), filters={"sourceServerIDs": ids[400:]})

    result = describe_replication(drs.clients, None, source_server_ids=ids)

    drs.assert_all_called()
    assert [s["source_server_id"] for s in result["servers"]] == [server_id(1), server_id(250), server_id(450)]
    assert len(result["missing"]["source_server_ids"]) == 447


def test_instance_hostname_tag_state_and_direction_filters_apply_to_one_sweep():
    items = [
        source_server(1, hostname="web-01", tags={"tier": "gold"}),
        source_server(2, hostname="web-02", tags={"tier": "silver"}),
        source_server(3, hostname="db-01", tags={"tier": "gold"}, state="INITIAL_SYNC"),
        source_server(4, hostname="WEB-03", tags={"tier": "gold"}, direction="FAILBACK"),
    ]

    def run(**filters):
        drs = StubbedDrs()
        drs.expect("us-east-1", page(items))
        result = describe_replication(drs.clients, None, **filters)
        drs.assert_all_called()
        return [s["hostname"] for s in result["servers"]]

    assert run(instance_ids=[instance_id(2), instance_id(3)]) == ["db-01", "web-02"]
    assert run(hostnames=["web-*"]) == ["web-01", "web-02", "WEB-03"]
    assert run(hostnames=["db-01.corp.example.com"]) == ["db-01"]
    assert run(tags={"tier": "gold"}) == ["db-01", "web-01", "WEB-03"]
    assert run(states=["initial_sync"]) == ["db-01"]
    assert run(replication_direction="FAILBACK") == ["WEB-03"]
    assert run(hostnames=["web-*"], tags={"tier": "gold"}, replication_direction="FAILOVER") == ["web-01"]


def test_unmatched_instance_ids_are_reported_missing():
    drs = StubbedDrs()
    drs.expect("us-east-1", page([source_server(1)]))
    result = describe_replication(drs.clients, None, instance_ids=[instance_id(1), instance_id(9)])
    assert result["missing"]["instance_ids"] == [instance_id(9)]


def test_ages_use_the_service_clock_from_the_date_header():
    drs = StubbedDrs()
    drs.expect("us-east-1", page([source_server(1, last_seen=NOW)], now=NOW + timedelta(minutes=10)))
    result = describe_replication(drs.clients, None, stale_after=300)
    assert result["servers"][0]["lifecycle"]["last_seen_seconds_ago"] == 600
    assert result["summary"]["needs_attention"][0]["reasons"] == ["NOT_SEEN"]


# --- bad input -------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("options", "message"),
    [
        ({"states": ["CONTINOUS"]}, "'CONTINOUS' is not a DRS data replication state. Did you mean CONTINUOUS?"),
        ({"wait_for_states": ["READY"]}, "wait_for_states: 'READY' is not a DRS data replication state."),
        ({"regions": []}, "regions is empty: name at least one region"),
        ({"regions": ["us-east-9"]}, "regions: 'us-east-9' is not a region where DRS is available."),
        ({"regions": None, "default_region": None}, "No region: set regions"),
        ({"wait_for_states": ["CONTINUOUS"], "wait_timeout": -1}, "wait_timeout must be at least 0, got -1."),
        ({"wait_for_states": ["CONTINUOUS"], "poll_interval": 0}, "poll_interval must be greater than 0 seconds"),
        ({"lag_threshold": -5}, "lag_threshold must be at least 0, got -5."),
        ({"stale_after": "soon"}, "stale_after must be a number of seconds, got 'soon'."),
        ({"fail_on_states": ["STALLED"]}, "fail_on_states only applies while waiting: set wait_for_states"),
        (
            {"wait_for_states": ["CONTINUOUS", "STALLED"], "fail_on_states": ["STALLED"]},
            "wait_for_states and fail_on_states both contain STALLED",
        ),
        (
            {"wait_for_states": ["CONTINUOUS"], "states": ["STALLED"]},
            "states selects only servers in STALLED, which fail_on_states would fail on at once",
        ),
        ({"source_server_ids": ["s-123"]}, "source_server_ids: 's-123' is not a DRS source server ID"),
        ({"instance_ids": ["web-01"]}, "instance_ids: 'web-01' is not an EC2 instance ID"),
        ({"replication_direction": "REVERSE"}, "replication_direction: 'REVERSE' must be one of FAILOVER, FAILBACK."),
        ({"tags": ["app=web"]}, "tags must be a mapping of tag key to value"),
        ({"tags": {"": "x"}}, "tags: [''] are not tag keys"),
        ({"hostnames": [""]}, "hostnames: [''] are not host names"),
    ],
)
def test_bad_options_end_in_a_message_that_says_what_to_fix(options, message):
    options = {"default_region": "us-east-1", **options}
    with pytest.raises(InputError) as err:
        ReplicationQuery.from_options(**options)
    assert message in err.value.message


def test_waiting_defaults_to_failing_on_stalled_and_disconnected_but_not_on_the_goal():
    query = ReplicationQuery.from_options(default_region="us-east-1", wait_for_states=["continuous"])
    assert query.wait_for_states == ("CONTINUOUS",)
    assert query.fail_on_states == ("STALLED", "DISCONNECTED")
    goal = ReplicationQuery.from_options(default_region="us-east-1", wait_for_states=["DISCONNECTED"])
    assert goal.fail_on_states == ("STALLED",)
    never = ReplicationQuery.from_options(default_region="us-east-1", wait_for_states=["CONTINUOUS"], fail_on_states=[])
    assert never.fail_on_states == ()


def test_bad_input_sends_nothing():
    drs = StubbedDrs()
    with pytest.raises(InputError):
        describe_replication(drs.clients, ["us-east-1"], states=["GREEN"])
    drs.assert_all_called()  # nothing was expected, nothing was consumed: no call went out


# --- waiting ---------------------------------------------------------------------------------


def test_wait_polls_until_every_selected_server_is_continuous():
    drs = StubbedDrs()
    drs.expect("us-east-1", page([source_server(1, "INITIATING", initiation_steps=steps(6)), source_server(2)]))
    drs.expect("us-east-1", page([source_server(1, "INITIAL_SYNC", disks=[("/dev/xvda", 10, 5)]), source_server(2)]))
    drs.expect("us-east-1", page([source_server(1), source_server(2)]))
    t = FakeTime()

    result = wait_for_replication(drs.clients, poll_interval=30, wait_timeout=600, clock=t.clock, sleep=t.sleep)

    drs.assert_all_called()
    assert t.sleeps == [30, 30]
    assert result["wait"] == {"polls": 3, "elapsed_seconds": 60.0, "reached": True}
    assert result["summary"]["ready"] == 2


def test_wait_fails_fast_naming_the_stalled_server_and_its_error():
    drs = StubbedDrs()
    drs.expect("us-east-1", page([source_server(1, "INITIAL_SYNC"), source_server(2)]))
    drs.expect("us-east-1", page([source_server(1, "STALLED", error=("UNSTABLE_NETWORK", "reset")), source_server(2)]))
    t = FakeTime()

    with pytest.raises(WaitFailed) as err:
        wait_for_replication(drs.clients, poll_interval=30, wait_timeout=3600, clock=t.clock, sleep=t.sleep)

    drs.assert_all_called()
    message = err.value.message
    assert "1 of 2 source servers reached a state that ends the wait (fail_on_states: STALLED, DISCONNECTED)" in message
    assert f"{server_id(1)} (app-0001, us-east-1) STALLED error UNSTABLE_NETWORK" in message
    details = err.value.details
    assert details["summary"]["by_state"] == {"CONTINUOUS": 1, "STALLED": 1}
    assert details["wait"]["reached"] is False
    assert len(details["servers"]) == 2


def test_wait_times_out_with_the_last_snapshot_and_what_is_pending():
    drs = StubbedDrs()
    syncing = page([source_server(1, "INITIAL_SYNC", disks=[("/dev/xvda", 100, 42)]), source_server(2)])
    for _ in range(3):
        drs.expect("us-east-1", syncing)
    t = FakeTime()

    with pytest.raises(WaitTimeout) as err:
        wait_for_replication(drs.clients, poll_interval=60, wait_timeout=120, clock=t.clock, sleep=t.sleep)

    drs.assert_all_called()
    assert err.value.message.startswith("Timed out after 120s waiting for the source servers to reach CONTINUOUS")
    assert f"1 of 2 not there yet: {server_id(1)} (app-0001, us-east-1) INITIAL_SYNC 42.0%" in err.value.message
    assert err.value.details["servers"][0]["progress_percent"] == 42.0
    assert err.value.details["wait"]["polls"] == 3


def test_a_wait_that_times_out_on_a_rescanning_server_says_how_far_the_rescan_is():
    rescan = source_server(1, "RESCAN", disks=[("/dev/xvda", 100, 100)])
    rescan["dataReplicationInfo"]["replicatedDisks"][0]["rescannedStorageBytes"] = 40
    drs = StubbedDrs()
    for _ in range(2):
        drs.expect("us-east-1", page([rescan, source_server(2)]))
    t = FakeTime()

    with pytest.raises(WaitTimeout) as err:
        wait_for_replication(drs.clients, poll_interval=60, wait_timeout=60, clock=t.clock, sleep=t.sleep)

    drs.assert_all_called()
    # not the initial sync's 100%, which is done and says nothing about when the server is back
    assert f"1 of 2 not there yet: {server_id(1)} (app-0001, us-east-1) RESCAN 40.0%" in err.value.message
    assert err.value.details["servers"][0]["rescan_percent"] == 40.0


def test_wait_keeps_waiting_for_instances_whose_agent_has_not_registered_yet():
    drs = StubbedDrs()
    drs.expect("us-east-1", page([source_server(1)]))
    drs.expect("us-east-1", page([source_server(1), source_server(2, "INITIATING", initiation_steps=steps(0))]))
    drs.expect("us-east-1", page([source_server(1), source_server(2)]))
    t = FakeTime()

    result = wait_for_replication(
        drs.clients, instance_ids=[instance_id(1), instance_id(2)], poll_interval=10, clock=t.clock, sleep=t.sleep
    )

    drs.assert_all_called()
    assert result["wait"]["polls"] == 3
    assert [s["instance_id"] for s in result["servers"]] == [instance_id(1), instance_id(2)]
    assert result["missing"]["instance_ids"] == []


def test_wait_on_unknown_source_server_ids_fails_at_once():
    drs = StubbedDrs()
    drs.expect("us-east-1", page([]), filters={"sourceServerIDs": [server_id(9)]})
    with pytest.raises(NotFoundError, match=r"No source server s-00000000000000009 in us-east-1"):
        wait_for_replication(drs.clients, source_server_ids=[server_id(9)], clock=FakeTime().clock)
    drs.assert_all_called()


def test_wait_on_an_empty_selection_fails_instead_of_succeeding_on_nothing():
    drs = StubbedDrs()
    drs.expect("us-east-1", page([source_server(1)]))
    with pytest.raises(NotFoundError, match="matches the selection: nothing to wait for"):
        wait_for_replication(drs.clients, tags={"app": "none"}, clock=FakeTime().clock)


def test_servers_selected_by_state_stay_selected_while_their_state_changes():
    drs = StubbedDrs()
    drs.expect("us-east-1", page([source_server(1, "INITIAL_SYNC"), source_server(2, "INITIATING")]))
    drs.expect("us-east-1", page([source_server(1), source_server(2, "INITIATING")]))
    t = FakeTime()

    query = ReplicationQuery.from_options(
        default_region="us-east-1", states=["INITIAL_SYNC"], wait_for_states=["CONTINUOUS"], poll_interval=5
    )
    result = run_query(drs.clients, query, clock=t.clock, sleep=t.sleep)

    drs.assert_all_called()
    assert [s["source_server_id"] for s in result["servers"]] == [server_id(1)]
    assert result["wait"]["polls"] == 2


def test_zero_timeout_polls_once():
    drs = StubbedDrs()
    drs.expect("us-east-1", page([source_server(1, "INITIAL_SYNC")]))
    with pytest.raises(WaitTimeout):
        wait_for_replication(drs.clients, wait_timeout=0, clock=FakeTime().clock, sleep=FakeTime().sleep)
    drs.assert_all_called()


def job(n, servers, created):
    return {
        "jobID": f"drsjob-{n:017d}",
        "type": "LAUNCH",
        "initiatedBy": "START_DRILL",
        "status": "COMPLETED",
        "creationDateTime": created,
        "participatingServers": [{"sourceServerID": s, "launchStatus": "LAUNCHED"} for s in servers],
    }


def test_recent_jobs_of_the_selected_servers_come_newest_first_from_a_seven_day_window():
    drs = StubbedDrs()
    drs.expect("us-east-1", page([source_server(1, hostname="web-01"), source_server(2, hostname="db-01")]))
    jobs = [
        job(1, [server_id(1)], "2025-12-10T10:00:00Z"),
        job(2, [server_id(2)], "2025-12-14T10:00:00Z"),
        job(3, [server_id(1), server_id(2)], "2025-12-15T10:00:00Z"),
    ]
    drs.stubbers["us-east-1"].add_response(
        "describe_jobs", {"items": jobs}, {"filters": {"fromDate": "2025-12-08T14:00:00Z"}}
    )

    result = describe_replication(drs.clients, None, hostnames=["web-*"], include_jobs=True)

    drs.assert_all_called()
    assert [j["job_id"] for j in result["jobs"]] == ["drsjob-00000000000000003", "drsjob-00000000000000001"]
    assert result["jobs"][0]["region"] == "us-east-1"
    assert result["jobs"][0]["participating_servers"][0]["launch_status"] == "LAUNCHED"
