"""Normalising DescribeSourceServers items and summarising a fleet (no AWS calls)."""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path

import botocore.session
import pytest
import yaml
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from replication_samples import NOW, STEP_NAMES, iso, source_server, steps

from ansible_collections.drs.orchestration.plugins.module_utils import records, replication
from ansible_collections.drs.orchestration.plugins.module_utils.replication import (
    normalize_source_server,
    summarize,
)

GIB = 2**30


REPO = Path(__file__).resolve().parents[3]


def enum(shape_name):
    model = botocore.session.get_session().get_service_model("drs")
    return model.shape_for(shape_name).enum


def test_vocabulary_is_the_botocore_models():
    assert list(replication.DATA_REPLICATION_STATES) == enum("DataReplicationState")
    assert [name for name, _ in replication.INITIATION_STEPS] == enum("DataReplicationInitiationStepName")
    assert sorted(replication.ERROR_LABELS) == sorted(enum("DataReplicationErrorString"))


def test_the_agent_install_role_accepts_exactly_the_model_replication_states():
    specs = yaml.safe_load((REPO / "roles" / "agent_install" / "meta" / "argument_specs.yml").read_text())
    options = specs["argument_specs"]["main"]["options"]
    for name in ("agent_install_continuous_states", "agent_install_continuous_fail_on_states"):
        assert options[name]["choices"] == enum("DataReplicationState"), name
    assert list(replication.REPLICATION_DIRECTIONS) == enum("ReplicationDirection")
    assert set(replication.STATE_LABELS) == set(enum("DataReplicationState"))


def test_record_of_a_server_in_initial_sync_has_every_documented_field():
    raw = source_server(
        7,
        state="INITIAL_SYNC",
        disks=[("/dev/xvda", 100 * GIB, 50 * GIB), ("/dev/xvdb", 300 * GIB, 30 * GIB)],
        lag=None,
        eta=NOW + timedelta(minutes=90),
        tags={"app": "billing"},
    )
    record = normalize_source_server(raw, "us-east-1", NOW)

    assert record["source_server_id"] == "s-00000000000000007"
    assert record["arn"].endswith(":source-server/s-00000000000000007")
    assert record["region"] == "us-east-1"
    assert record["hostname"] == "app-0007"
    assert record["fqdn"] == "app-0007.corp.example.com"
    assert record["instance_id"] == "i-00000000000000007"
    assert record["data_replication_state"] == "INITIAL_SYNC"
    assert record["state_label"] == "Initial sync"
    assert record["replication_direction"] == "FAILOVER"
    assert record["reversed_direction_source_server_arn"] is None
    assert record["recovery_instance_id"] is None
    assert record["last_launch_result"] == "NOT_STARTED"
    assert record["lag"] == {"iso": None, "seconds": None}
    assert record["eta"] == {"timestamp": "2025-12-15T15:30:00+00:00", "seconds_from_now": 5400.0}
    assert record["lifecycle"]["added"] == "2025-12-15T12:00:00+00:00"
    assert record["lifecycle"]["first_byte"] == "2025-12-15T12:30:00+00:00"
    assert record["lifecycle"]["elapsed_seconds"] == 7200
    assert record["lifecycle"]["last_seen"] == "2025-12-15T13:59:30+00:00"
    assert record["lifecycle"]["last_seen_seconds_ago"] == 30
    assert record["disks"] == [
        {
            "device": "/dev/xvda",
            "total_bytes": 100 * GIB,
            "replicated_bytes": 50 * GIB,
            "rescanned_bytes": 0,
            "backlogged_bytes": 0,
            "percent": 50.0,
            "rescan_percent": None,
            "volume_status": None,
        },
        {
            "device": "/dev/xvdb",
            "total_bytes": 300 * GIB,
            "replicated_bytes": 30 * GIB,
            "rescanned_bytes": 0,
            "backlogged_bytes": 0,
            "percent": 10.0,
            "rescan_percent": None,
            "volume_status": None,
        },
    ]
    # weighted by bytes: 80 of 400 GiB, not the mean of 50% and 10%
    assert record["progress_percent"] == 20.0
    assert record["rescan_percent"] is None  # not rescanning
    assert record["total_bytes"] == 400 * GIB
    assert record["replicated_bytes"] == 80 * GIB
    assert record["staging_area"]["status"] == "NOT_EXTENDED"
    assert record["staging_area"]["availability_zone"] == "us-east-1a"
    assert record["error"] is None
    assert record["origin"] == {"account_id": "123456789012", "region": "us-east-2", "availability_zone": "us-east-2a"}
    assert record["agent_version"] == "4.5.0"
    assert record["tags"] == {"app": "billing"}


def test_initiation_lists_eleven_steps_in_model_order_with_current_step_and_count():
    raw = source_server(state="INITIATING", initiation_steps=list(reversed(steps(4))))
    initiation = normalize_source_server(raw, "us-east-1", NOW)["initiation"]

    assert [s["name"] for s in initiation["steps"]] == STEP_NAMES
    assert [s["index"] for s in initiation["steps"]] == list(range(1, 12))
    assert initiation["steps"][4] == {
        "index": 5,
        "name": "AUTHENTICATE_WITH_SERVICE",
        "label": "Authenticate with service",
        "status": "IN_PROGRESS",
    }
    assert initiation["current_step"] == "AUTHENTICATE_WITH_SERVICE"
    assert initiation["failed_step"] is None
    assert (initiation["done"], initiation["total"]) == (4, 11)
    assert initiation["started"] == "2025-12-15T12:00:00+00:00"


def test_failed_initiation_step_and_error_are_reported():
    raw = source_server(
        state="INITIATING",
        initiation_steps=steps(2, "FAILED"),
        error=("FAILED_TO_LAUNCH_REPLICATION_SERVER", "InsufficientInstanceCapacity"),
    )
    record = normalize_source_server(raw, "us-east-1", NOW)

    assert record["initiation"]["failed_step"] == "LAUNCH_REPLICATION_SERVER"
    assert record["initiation"]["current_step"] is None
    assert record["error"] == {
        "code": "FAILED_TO_LAUNCH_REPLICATION_SERVER",
        "raw": "InsufficientInstanceCapacity",
        "label": "Failed to launch the replication server",
    }


def test_steps_aws_did_not_report_have_no_status():
    raw = source_server(initiation_steps=[{"name": "WAIT", "status": "SUCCEEDED"}])
    initiation = normalize_source_server(raw, "us-east-1", NOW)["initiation"]
    assert len(initiation["steps"]) == 11
    assert [s["status"] for s in initiation["steps"]] == ["SUCCEEDED"] + [None] * 10
    assert initiation["done"] == 1


def test_an_empty_item_gives_a_complete_record_of_unknowns():
    record = normalize_source_server({}, "eu-west-1", NOW)
    assert record["source_server_id"] is None
    assert record["data_replication_state"] is None
    assert record["state_label"] == "Unknown"
    assert record["disks"] == []
    assert record["progress_percent"] == 0.0
    assert record["lag"] == {"iso": None, "seconds": None}
    assert record["eta"] == {"timestamp": None, "seconds_from_now": None}
    assert record["lifecycle"]["added"] is None
    assert record["lifecycle"]["last_seen_seconds_ago"] is None
    assert record["lifecycle"]["last_launch"] is None
    assert len(record["initiation"]["steps"]) == 11
    assert record["error"] is None
    assert record["origin"] is None
    assert record["tags"] == {}


def test_values_newer_than_the_model_are_kept_with_readable_labels():
    raw = source_server(
        state="QUANTUM_SYNC",
        initiation_steps=[*steps(11), {"name": "VERIFY_ENTANGLEMENT", "status": "WARMING_UP"}],
        error=("NEW_FAILURE_KIND", "something new"),
        direction="SIDEWAYS",
    )
    record = normalize_source_server(raw, "us-east-1", NOW)

    assert record["data_replication_state"] == "QUANTUM_SYNC"
    assert record["state_label"] == "Quantum sync"
    assert record["replication_direction"] == "SIDEWAYS"
    assert record["initiation"]["steps"][-1] == {
        "index": 12,
        "name": "VERIFY_ENTANGLEMENT",
        "label": "Verify entanglement",
        "status": "WARMING_UP",
    }
    assert record["initiation"]["total"] == 12
    assert record["error"]["label"] == "New failure kind"
    assert summarize([record])["by_state"] == {"QUANTUM_SYNC": 1}


def test_zero_byte_and_overfull_disks_stay_within_zero_and_hundred_percent():
    raw = source_server(state="INITIAL_SYNC", disks=[("/dev/empty", 0, 0), ("/dev/odd", 10, 25)])
    record = normalize_source_server(raw, "us-east-1", NOW)
    assert [d["percent"] for d in record["disks"]] == [0.0, 100.0]
    assert record["progress_percent"] == 100.0
    assert record["replicated_bytes"] == 10


def test_a_disk_not_quite_synced_never_shows_100_percent():
    raw = source_server(state="INITIAL_SYNC", disks=[("/dev/xvda", 10000, 9996)])
    record = normalize_source_server(raw, "us-east-1", NOW)
    assert record["disks"][0]["percent"] == 99.9
    assert record["progress_percent"] == 99.9


def test_continuous_without_byte_counts_is_fully_synced_and_initiating_is_not():
    continuous = normalize_source_server(source_server(state="CONTINUOUS", disks=[]), "us-east-1", NOW)
    initiating = normalize_source_server(source_server(state="INITIATING", disks=[]), "us-east-1", NOW)
    assert continuous["progress_percent"] == 100.0
    assert initiating["progress_percent"] == 0.0


def test_lag_reads_iso_durations_and_datetimes():
    as_duration = normalize_source_server(source_server(lag="PT1H2M3S"), "us-east-1", NOW)["lag"]
    # ERRATA row 12: on recovery instances the model types lagDuration as a date-time string.
    as_datetime = normalize_source_server(source_server(lag=iso(NOW - timedelta(minutes=5))), "us-east-1", NOW)["lag"]
    # Neither form (months have no fixed length; "soon" is no duration): kept as sent, no seconds.
    months = normalize_source_server(source_server(lag="P1M"), "us-east-1", NOW)["lag"]
    garbage = normalize_source_server(source_server(lag="soon"), "us-east-1", NOW)["lag"]
    absent = normalize_source_server(source_server(lag=None), "us-east-1", NOW)["lag"]
    assert as_duration == {"iso": "PT1H2M3S", "seconds": 3723}
    assert as_datetime == {"iso": "PT5M", "seconds": 300.0}
    assert months == {"iso": "P1M", "seconds": None}
    assert garbage == {"iso": "soon", "seconds": None}
    assert absent == {"iso": None, "seconds": None}


def test_eta_in_the_past_is_due_now_not_negative():
    raw = source_server(state="INITIAL_SYNC", eta=NOW - timedelta(minutes=3))
    assert normalize_source_server(raw, "us-east-1", NOW)["eta"]["seconds_from_now"] == 0.0


def test_last_launch_is_reported_when_the_server_was_recovered():
    raw = source_server()
    raw["lifeCycle"]["lastLaunch"] = {
        "initiated": {"apiCallDateTime": iso(NOW), "jobID": "drsjob-12345678901234567", "type": "DRILL"},
        "status": "LAUNCHED",
    }
    raw["recoveryInstanceId"] = "i-0fedcba9876543210"
    record = normalize_source_server(raw, "us-east-1", NOW)
    assert record["lifecycle"]["last_launch"] == {
        "type": "DRILL",
        "job_id": "drsjob-12345678901234567",
        "initiated": "2025-12-15T14:00:00+00:00",
        "status": "LAUNCHED",
    }
    assert record["recovery_instance_id"] == "i-0fedcba9876543210"


# --- summary ---------------------------------------------------------------------------


def fleet():
    items = [
        source_server(1, "CONTINUOUS"),
        source_server(2, "CONTINUOUS", lag="PT2H"),
        source_server(3, "INITIAL_SYNC", disks=[("/dev/xvda", 100, 40)]),
        source_server(4, "INITIATING", initiation_steps=steps(3)),
        source_server(5, "STALLED", error=("UNSTABLE_NETWORK", "connection reset")),
        source_server(6, "DISCONNECTED", last_seen=NOW - timedelta(hours=5), error=("AGENT_NOT_SEEN", "")),
        source_server(7, "STOPPED"),
    ]
    records = [normalize_source_server(raw, "us-east-1", NOW) for raw in items]
    records.append(normalize_source_server(source_server(8, "CONTINUOUS", region="us-west-2"), "us-west-2", NOW))
    return records


def test_summary_counts_states_regions_ready_and_syncing():
    summary = summarize(fleet())
    assert summary["total"] == 8
    assert summary["by_state"] == {
        "STOPPED": 1,
        "INITIATING": 1,
        "INITIAL_SYNC": 1,
        "CONTINUOUS": 3,
        "STALLED": 1,
        "DISCONNECTED": 1,
    }
    model_order = ["STOPPED", "INITIATING", "INITIAL_SYNC", "CONTINUOUS", "STALLED", "DISCONNECTED"]
    assert list(summary["by_state"]) == model_order
    assert summary["by_region"] == {"us-east-1": 7, "us-west-2": 1}
    assert summary["by_region_state"]["us-west-2"] == {"CONTINUOUS": 1}
    assert summary["ready"] == 3
    assert summary["ready_percent"] == 37.5
    assert summary["syncing"] == 2


def test_needs_attention_lists_stalled_disconnected_and_errors_by_default():
    attention = {a["source_server_id"]: a for a in summarize(fleet())["needs_attention"]}
    assert sorted(attention) == ["s-00000000000000005", "s-00000000000000006"]
    stalled = attention["s-00000000000000005"]
    assert stalled["hostname"] == "app-0005"
    assert stalled["region"] == "us-east-1"
    assert stalled["reasons"] == ["STALLED", "UNSTABLE_NETWORK"]
    assert "replication stalled" in stalled["reason"]
    assert "UNSTABLE_NETWORK" in stalled["reason"]


def test_lag_threshold_and_stale_after_add_their_servers():
    attention = {
        a["source_server_id"]: a["reasons"]
        for a in summarize(fleet(), lag_threshold=3600, stale_after=3600)["needs_attention"]
    }
    assert attention["s-00000000000000002"] == ["LAG"]
    assert attention["s-00000000000000006"] == ["DISCONNECTED", "AGENT_NOT_SEEN", "NOT_SEEN"]
    assert "s-00000000000000001" not in attention


def test_summary_recomputes_last_seen_age_against_a_later_now():
    records = [normalize_source_server(source_server(1), "us-east-1", NOW)]
    assert summarize(records, stale_after=600)["needs_attention"] == []
    later = summarize(records, stale_after=600, now=NOW + timedelta(hours=1))
    assert later["needs_attention"][0]["reasons"] == ["NOT_SEEN"]


def test_initiation_failure_without_error_code_still_needs_attention():
    record = normalize_source_server(source_server(state="INITIATING", initiation_steps=steps(5, "FAILED")), "r", NOW)
    assert summarize([record])["needs_attention"][0]["reasons"] == ["INITIATION_FAILED"]


def test_a_server_without_state_is_counted_as_unknown():
    assert summarize([normalize_source_server({}, "us-east-1", NOW)])["by_state"] == {"UNKNOWN": 1}


# --- properties: whatever DRS sends, the record holds ---------------------------------

byte_values = st.one_of(
    st.none(),
    st.integers(min_value=-(2**40), max_value=2**50),
    st.floats(allow_nan=True, allow_infinity=True),
    st.text(max_size=5),
    st.booleans(),
)
disk = st.fixed_dictionaries(
    {},
    optional={
        "deviceName": st.one_of(st.none(), st.text(max_size=10)),
        "totalStorageBytes": byte_values,
        "replicatedStorageBytes": byte_values,
        "rescannedStorageBytes": byte_values,
        "backloggedStorageBytes": byte_values,
    },
)
timestamps = st.one_of(
    st.none(),
    st.datetimes().map(lambda d: d.strftime("%Y-%m-%dT%H:%M:%SZ")),
    st.text(max_size=12),
    st.integers(),
)
states = st.one_of(st.sampled_from(replication.DATA_REPLICATION_STATES), st.text(max_size=12), st.none())
step = st.fixed_dictionaries(
    {},
    optional={
        "name": st.one_of(st.sampled_from(STEP_NAMES), st.text(max_size=12)),
        "status": st.one_of(
            st.sampled_from(["NOT_STARTED", "IN_PROGRESS", "SUCCEEDED", "FAILED", "SKIPPED"]), st.text(max_size=8)
        ),
    },
)
raw_servers = st.fixed_dictionaries(
    {},
    optional={
        "sourceServerID": st.one_of(st.none(), st.text(max_size=19)),
        "tags": st.one_of(st.none(), st.dictionaries(st.text(max_size=5), st.text(max_size=5), max_size=3)),
        "dataReplicationInfo": st.one_of(
            st.none(),
            st.fixed_dictionaries(
                {},
                optional={
                    "dataReplicationState": states,
                    "replicatedDisks": st.one_of(st.none(), st.lists(disk, max_size=4)),
                    "lagDuration": st.one_of(st.none(), st.text(max_size=12), timestamps),
                    "etaDateTime": timestamps,
                    "dataReplicationInitiation": st.fixed_dictionaries(
                        {}, optional={"steps": st.lists(step, max_size=14), "startDateTime": timestamps}
                    ),
                    "dataReplicationError": st.fixed_dictionaries(
                        {}, optional={"error": st.text(max_size=10), "rawError": st.text(max_size=10)}
                    ),
                },
            ),
        ),
        "lifeCycle": st.one_of(
            st.none(),
            st.fixed_dictionaries(
                {},
                optional={
                    "addedToServiceDateTime": timestamps,
                    "firstByteDateTime": timestamps,
                    "lastSeenByServiceDateTime": timestamps,
                    "elapsedReplicationDuration": st.one_of(st.none(), st.text(max_size=10)),
                    "lastLaunch": st.one_of(st.none(), st.just({}), st.just({"status": "LAUNCHED"})),
                },
            ),
        ),
        "sourceProperties": st.one_of(
            st.none(),
            st.just({}),
            st.fixed_dictionaries({"identificationHints": st.dictionaries(st.text(max_size=8), st.text(max_size=8))}),
        ),
    },
)


@settings(max_examples=300, suppress_health_check=[HealthCheck.too_slow])
@given(raw=raw_servers)
def test_any_shaped_item_normalises_without_raising_and_percents_stay_in_range(raw):
    record = normalize_source_server(raw, "us-east-1", NOW)
    assert 0.0 <= record["progress_percent"] <= 100.0
    assert record["rescan_percent"] is None or 0.0 <= record["rescan_percent"] <= 100.0
    for d in record["disks"]:
        assert 0.0 <= d["percent"] <= 100.0
        assert d["rescan_percent"] is None or 0.0 <= d["rescan_percent"] <= 100.0
        assert d["total_bytes"] >= 0
        assert d["replicated_bytes"] >= 0
    assert record["replicated_bytes"] <= record["total_bytes"] or record["total_bytes"] == 0
    names = [s["name"] for s in record["initiation"]["steps"]]
    assert names[:11] == STEP_NAMES
    assert record["initiation"]["done"] <= record["initiation"]["total"]
    eta = record["eta"]["seconds_from_now"]
    assert eta is None or eta >= 0
    summary = summarize([record], lag_threshold=0, stale_after=0)
    assert summary["total"] == 1
    assert sum(summary["by_state"].values()) == 1


@given(
    disks=st.lists(
        st.tuples(st.integers(min_value=0, max_value=2**44), st.integers(min_value=0, max_value=2**45)), max_size=6
    )
)
def test_progress_is_the_byte_weighted_share_of_what_is_replicated(disks):
    raw = source_server(state="INITIAL_SYNC", disks=[(f"/dev/d{i}", t, r) for i, (t, r) in enumerate(disks)])
    record = normalize_source_server(raw, "us-east-1", NOW)
    total = sum(t for t, _ in disks)
    done = sum(min(t, r) for t, r in disks)
    expected = round(100.0 * done / total, 1) if total else 0.0
    if done < total:
        expected = min(expected, 99.9)  # not complete: never shown as 100
    assert record["progress_percent"] == pytest.approx(expected)


# --- rescan progress -----------------------------------------------------------------------


def rescanning(disks, state="RESCAN"):
    """A source server item whose disks are ``(device, total, rescanned)``: initial sync long done."""
    raw = source_server(3, state, disks=[(device, total, total) for device, total, _ in disks])
    for item, (_device, _total, rescanned) in zip(raw["dataReplicationInfo"]["replicatedDisks"], disks, strict=True):
        item["rescannedStorageBytes"] = rescanned
    return raw


def test_a_rescanning_server_reports_rescan_progress_by_bytes_next_to_its_finished_initial_sync():
    # what the emulator shows 4 s into the rescan of an 8 and a 16 GiB disk at 1 GiB/s
    raw = rescanning([("/dev/xvda", 8 * GIB, 4 * GIB), ("/dev/xvdb", 16 * GIB, 4 * GIB)])
    record = normalize_source_server(raw, "us-east-1", NOW)

    assert [d["rescan_percent"] for d in record["disks"]] == [50.0, 25.0]
    assert record["rescan_percent"] == 33.3  # 8 of 24 GiB, not the mean of 50% and 25%
    assert record["progress_percent"] == 100.0  # the initial sync is done; it says nothing about the rescan


def test_rescan_progress_is_only_reported_for_a_server_in_rescan():
    for state in ("CONTINUOUS", "INITIAL_SYNC", "BACKLOG", "DISCONNECTED", "NEW_STATE", None):
        record = normalize_source_server(rescanning([("/dev/xvda", 8 * GIB, 4 * GIB)], state), "us-east-1", NOW)
        assert record["rescan_percent"] is None, state
        assert record["disks"][0]["rescan_percent"] is None, state
        assert record["disks"][0]["rescanned_bytes"] == 4 * GIB, state  # the raw count is still there


def test_rescan_progress_is_none_when_drs_reports_nothing_to_compute_it_from():
    no_member = rescanning([("/dev/xvda", 8 * GIB, 0)])
    del no_member["dataReplicationInfo"]["replicatedDisks"][0]["rescannedStorageBytes"]
    unreadable = rescanning([("/dev/xvda", 8 * GIB, "lots")])
    no_size = rescanning([("/dev/xvda", 0, 4 * GIB)])
    no_disks = rescanning([])
    for raw in (no_member, unreadable, no_size, no_disks):
        assert normalize_source_server(raw, "us-east-1", NOW)["rescan_percent"] is None


def test_a_rescan_just_started_is_zero_and_one_overshooting_disk_counts_its_size_only():
    started = normalize_source_server(rescanning([("/dev/xvda", 8 * GIB, 0)]), "us-east-1", NOW)
    assert started["rescan_percent"] == 0.0
    overshoot = rescanning([("/dev/xvda", 8 * GIB, 80 * GIB), ("/dev/xvdb", 8 * GIB, 0)])
    record = normalize_source_server(overshoot, "us-east-1", NOW)
    assert [d["rescan_percent"] for d in record["disks"]] == [100.0, 0.0]
    assert record["rescan_percent"] == 50.0
    nearly = normalize_source_server(rescanning([("/dev/xvda", 10000, 9999)]), "us-east-1", NOW)
    assert nearly["rescan_percent"] == 99.9  # 100 only when every byte is rescanned


def test_a_disk_that_reports_no_rescanned_bytes_counts_as_not_rescanned_yet():
    raw = rescanning([("/dev/xvda", 8 * GIB, 8 * GIB), ("/dev/xvdb", 8 * GIB, 0)])
    del raw["dataReplicationInfo"]["replicatedDisks"][1]["rescannedStorageBytes"]
    record = normalize_source_server(raw, "us-east-1", NOW)
    assert [d["rescan_percent"] for d in record["disks"]] == [100.0, None]
    assert record["rescan_percent"] == 50.0  # never more than what is known to be rescanned


@settings(max_examples=300, suppress_health_check=[HealthCheck.too_slow])
@given(disks=st.lists(disk, max_size=6))
def test_rescan_percent_stays_within_0_and_100_whatever_the_disks_report(disks):
    raw = {"dataReplicationInfo": {"dataReplicationState": "RESCAN", "replicatedDisks": disks}}
    record = normalize_source_server(raw, "us-east-1", NOW)
    values = [record["rescan_percent"]] + [d["rescan_percent"] for d in record["disks"]]
    assert all(v is None or (isinstance(v, float) and 0.0 <= v <= 100.0) for v in values)
    assert record["rescan_percent"] is None or any(d["rescan_percent"] is not None for d in record["disks"])


@given(
    disks=st.lists(
        st.tuples(st.integers(min_value=1, max_value=2**44), st.integers(min_value=0, max_value=2**45)),
        min_size=1,
        max_size=6,
    )
)
def test_rescan_percent_is_the_byte_weighted_share_of_what_is_rescanned(disks):
    raw = rescanning([(f"/dev/d{i}", total, rescanned) for i, (total, rescanned) in enumerate(disks)])
    record = normalize_source_server(raw, "us-east-1", NOW)
    total = sum(t for t, _ in disks)
    done = sum(min(t, r) for t, r in disks)
    expected = round(100.0 * done / total, 1)
    if done < total:
        expected = min(expected, 99.9)
    assert record["rescan_percent"] == pytest.approx(expected)


def where(record):
    return records.progress_text(
        record["data_replication_state"],
        record["progress_percent"],
        record["initiation"]["current_step"],
        record["rescan_percent"],
    )


def test_progress_text_says_how_far_the_rescan_is_for_a_rescanning_server():
    rescan = normalize_source_server(rescanning([("/dev/xvda", 8 * GIB, 2 * GIB)]), "us-east-1", NOW)
    assert where(rescan) == "RESCAN 25.0%"
    rescan["rescan_percent"] = None
    assert where(rescan) == "RESCAN"
    syncing = normalize_source_server(
        source_server(4, "INITIAL_SYNC", disks=[("/dev/xvda", 100, 42)]), "us-east-1", NOW
    )
    assert where(syncing) == "INITIAL_SYNC 42.0%"
    initiating = normalize_source_server(source_server(5, "INITIATING", initiation_steps=steps(4)), "us-east-1", NOW)
    assert where(initiating) == "INITIATING step AUTHENTICATE_WITH_SERVICE"
