"""What the dashboard shows and the CSV/JSON artifacts, from a replication result (no AWS, no browser).

The recovery instances / failback section is fed records built by the recovery instance
core (``normalize_recovery_instance``) from items shaped like DescribeRecoveryInstances
and DescribeSourceServers responses, so the view is tested against the real record shape.
"""

from __future__ import annotations

import csv
import io
import json
import math

import pytest
from recovery_samples import (
    GIB,
    ORIGIN,
    RECOVERY,
    aws_ready_record,
    drill_record,
    failback_replication,
    initiating_record,
    on_premises_record,
)
from replication_samples import NOW, source_server, steps

from ansible_collections.drs.orchestration.plugins.module_utils import dashboard
from ansible_collections.drs.orchestration.plugins.module_utils.errors import InputError
from ansible_collections.drs.orchestration.plugins.module_utils.replication import normalize_source_server, summarize


def result_of(items, **extra):
    servers = [normalize_source_server(raw, region, NOW) for region, raw in items]
    return {
        "regions": sorted({r for r, _ in items}),
        "as_of": NOW.isoformat(),
        "servers": servers,
        "summary": summarize(servers),
        "missing": {"source_server_ids": [], "instance_ids": []},
        "jobs": [],
        **extra,
    }


@pytest.fixture
def fleet():
    return result_of(
        [
            ("us-east-1", source_server(1, "CONTINUOUS")),
            ("us-east-1", source_server(2, "CONTINUOUS")),
            ("us-east-1", source_server(3, "INITIATING", initiation_steps=steps(6))),
            ("us-west-2", source_server(4, "STALLED", error=("UNSTABLE_NETWORK", "reset"))),
            ("us-west-2", source_server(5, "INITIAL_SYNC", initiation_steps=steps(10, "FAILED"))),
        ]
    )


def test_cards_show_total_ready_syncing_and_attention(fleet):
    cards = {c["key"]: c["value"] for c in dashboard.build_view(fleet)["cards"]}
    assert cards == {"total": 5, "ready": 2, "syncing": 2, "attention": 2}


def test_donut_segments_cover_the_circle_in_state_order(fleet):
    chart = dashboard.build_view(fleet)["state_chart"]
    circumference = 2 * math.pi * dashboard.DONUT_RADIUS
    lengths = [float(s["dasharray"].split()[0]) for s in chart["segments"]]
    offsets = [-float(s["dashoffset"]) for s in chart["segments"]]
    assert [s["state"] for s in chart["segments"]] == ["INITIATING", "INITIAL_SYNC", "CONTINUOUS", "STALLED"]
    assert sum(lengths) == pytest.approx(circumference, abs=0.01)
    assert offsets == pytest.approx([0, lengths[0], sum(lengths[:2]), sum(lengths[:3])], abs=0.01)
    assert [s["percent"] for s in chart["segments"]] == [20.0, 20.0, 40.0, 20.0]


def test_a_single_state_fleet_is_a_full_ring():
    chart = dashboard.donut({"CONTINUOUS": 3}, 3)
    length, gap = (float(x) for x in chart["segments"][0]["dasharray"].split())
    assert length == pytest.approx(2 * math.pi * dashboard.DONUT_RADIUS, abs=0.01)
    assert gap == pytest.approx(0, abs=0.01)


def test_region_bars_scale_to_the_largest_region_and_stack_states(fleet):
    bars = dashboard.build_view(fleet)["region_chart"]
    ends = {row["region"]: float(row["end"]) for row in bars["rows"]}
    assert ends["us-east-1"] == pytest.approx(dashboard.BAR_WIDTH)
    assert ends["us-west-2"] == pytest.approx(dashboard.BAR_WIDTH * 2 / 3, abs=0.01)
    west = next(row for row in bars["rows"] if row["region"] == "us-west-2")
    assert [(p["state"], p["count"]) for p in west["parts"]] == [("INITIAL_SYNC", 1), ("STALLED", 1)]


def test_timeline_lists_initiating_servers_and_those_stopped_at_a_failed_step(fleet):
    initiating = dashboard.build_view(fleet)["initiating"]
    assert [(i["id"], i["done"], i["current"], i["failed"]) for i in initiating] == [
        ("s-00000000000000003", 6, "Create staging disks", None),
        ("s-00000000000000005", 10, None, "Start data transfer"),
    ]
    assert [s["css"] for s in initiating[0]["steps"]][5:8] == ["succeeded", "in-progress", "not-started"]


def test_rows_carry_badge_tone_progress_and_attention(fleet):
    rows = {r["id"]: r for r in dashboard.build_view(fleet)["rows"]}
    assert rows["s-00000000000000004"]["tone"] == "bad"
    assert rows["s-00000000000000004"]["attention"] is True
    assert rows["s-00000000000000004"]["error"] == "UNSTABLE_NETWORK"
    assert rows["s-00000000000000001"]["tone"] == "ok"
    assert rows["s-00000000000000001"]["attention"] is False
    assert rows["s-00000000000000003"]["steps"] == "6/11"


@pytest.mark.parametrize(
    ("given", "shown"), [("5;background:url(http://x)", 0.0), (250, 100.0), (-3, 0.0), (None, 0.0), (42.5, 42.5)]
)
def test_a_server_rows_progress_in_css_is_always_a_number_from_0_to_100(given, shown):
    server = normalize_source_server(source_server(1, "INITIAL_SYNC"), "us-east-1", NOW)
    server["progress_percent"] = given
    assert dashboard.server_row(server, attention=False)["progress"] == shown


def rescanning(n, total, rescanned):
    """A RESCAN source server item (initial sync done) with one disk ``rescanned`` of ``total`` bytes."""
    raw = source_server(n, "RESCAN", disks=[("/dev/xvda", total, total)])
    raw["dataReplicationInfo"]["replicatedDisks"][0]["rescannedStorageBytes"] = rescanned
    return raw


def test_a_rescanning_servers_bar_and_label_show_the_rescan_not_the_finished_initial_sync():
    result = result_of([("us-east-1", rescanning(1, 10 * GIB, 4 * GIB)), ("us-east-1", source_server(2, "CONTINUOUS"))])
    rows = {r["id"]: r for r in dashboard.build_view(result)["rows"]}
    rescan = rows["s-00000000000000001"]
    assert (rescan["progress"], rescan["progress_text"]) == (40.0, "Rescan 40.0%")
    continuous = rows["s-00000000000000002"]
    assert (continuous["progress"], continuous["progress_text"]) == (100.0, "100.0%")


def test_a_rescanning_server_without_rescan_figures_has_an_empty_bar_that_says_so():
    raw = rescanning(1, 10 * GIB, 0)
    del raw["dataReplicationInfo"]["replicatedDisks"][0]["rescannedStorageBytes"]
    row = dashboard.build_view(result_of([("us-east-1", raw)]))["rows"][0]
    assert (row["progress"], row["progress_text"]) == (0.0, "Rescan, progress not reported")


@pytest.mark.parametrize(
    ("given", "shown"), [("5;background:url(http://x)", 0.0), (250, 100.0), (-3, 0.0), (math.nan, 0.0), (42.5, 42.5)]
)
def test_a_rescan_progress_in_css_is_always_a_number_from_0_to_100(given, shown):
    server = normalize_source_server(rescanning(1, 100, 50), "us-east-1", NOW)
    server["rescan_percent"] = given
    row = dashboard.server_row(server, attention=False)
    assert row["progress"] == shown
    assert row["progress_text"] == f"Rescan {shown}%"


def test_csv_and_json_carry_the_rescan_percent():
    result = result_of([("us-east-1", rescanning(1, 10 * GIB, 4 * GIB)), ("us-east-1", source_server(2))])
    rows = list(csv.DictReader(io.StringIO(dashboard.csv_text(result))))
    assert [(r["progress_percent"], r["rescan_percent"]) for r in rows] == [("100.0", "40.0"), ("100.0", "")]
    servers = json.loads(dashboard.json_text(result))["servers"]
    assert [s["rescan_percent"] for s in servers] == [40.0, None]
    assert [d["rescan_percent"] for d in servers[0]["disks"]] == [40.0]


def test_a_failed_wait_shows_its_message():
    failed = result_of([("us-east-1", source_server(1, "STALLED"))], failed=True, msg="1 of 1 source servers ...")
    assert dashboard.build_view(failed)["failure"] == "1 of 1 source servers ..."
    assert dashboard.build_view(failed)["failure_title"] == "Not everything could be read"
    failed["wait"] = {"polls": 3, "elapsed_seconds": 2.0, "reached": False}
    assert dashboard.build_view(failed)["failure_title"] == "The wait did not succeed"
    # a region that could not be read while waiting: the read is the news, not the wait
    failed["errors"] = [{"region": "us-west-2", "operation": "DescribeSourceServers", "code": "X", "message": "no"}]
    assert dashboard.build_view(failed)["failure_title"] == "Not everything could be read"
    assert dashboard.build_view(result_of([]))["failure"] is None


def test_csv_has_a_row_per_server_and_neutralises_formulas():
    result = result_of([("us-east-1", source_server(1, hostname="=HYPERLINK(1)")), ("us-east-1", source_server(2))])
    rows = list(csv.DictReader(io.StringIO(dashboard.csv_text(result))))
    assert [r["source_server_id"] for r in rows] == ["s-00000000000000001", "s-00000000000000002"]
    assert rows[0]["hostname"] == "'=HYPERLINK(1)"
    assert rows[1]["data_replication_state"] == "CONTINUOUS"
    assert rows[1]["progress_percent"] == "100.0"
    assert list(rows[0]) == list(dashboard.CSV_COLUMNS)


def test_json_artifact_is_the_results_data_without_ansible_keys(fleet):
    fleet.update(changed=False, invocation={"module_args": {}})
    data = json.loads(dashboard.json_text(fleet))
    assert set(data) == {"regions", "as_of", "summary", "servers", "missing", "jobs"}
    assert data["summary"] == fleet["summary"]


# --- recovery instances and failback -------------------------------------------------------------


def row_of(record):
    return dashboard.recovery_row(record)


def test_an_aws_origin_instance_ready_for_failback_shows_its_reversed_server_and_launch_step():
    record = aws_ready_record()
    row = row_of(record)
    reversed_id = f"s-{91:017x}"
    assert (row["status"], row["status_tone"], row["failback_state"]) == ("Ready", "ok", "FAILBACK_NOT_STARTED")
    assert row["origin"] == {"label": "AWS", "detail": ORIGIN}
    assert (row["kind"], row["ec2_state"], row["ec2_tone"]) == ("Recovery", "RUNNING", "ok")
    assert row["reversed"] == {
        "region": ORIGIN,
        "id": reversed_id,
        "state": "Continuous (ready)",
        "earlier_cycle": False,
    }
    assert row["progress"] == {"percent": 100.0, "label": "Continuous (ready)", "bytes": ""}
    assert row["initiation"] is None
    assert row["pending_action"] == f"Launch for failback in {ORIGIN} (source server {reversed_id})."
    assert (row["hostname"], row["source_server_id"], row["region"]) == ("web-01", f"s-{1:017x}", RECOVERY)


def test_an_on_premises_failback_still_initiating_shows_progress_by_bytes_and_its_current_step():
    row = row_of(initiating_record())
    assert (row["status"], row["status_tone"]) == ("Synchronizing", "sync")
    assert row["origin"] == {"label": "On-premises", "detail": ""}
    assert row["progress"] == {"percent": 25.0, "label": "Initiating", "bytes": "25.0 GiB of 100.0 GiB"}
    assert row["initiation"] == {
        "done": 4,
        "total": 18,
        "current": "Configure replication software",
        "current_index": 5,
        "failed": None,
        "failed_index": None,
    }
    assert row["reversed"] is None
    assert row["pending_action"].startswith("Wait for failback replication (INITIATING step")


def test_a_failback_stopped_at_a_failed_step_says_where_and_counts_as_attention():
    replication = failback_replication("INITIATING", 2, 0, 0)
    replication["dataReplicationInitiation"]["steps"][2]["status"] = "FAILED"
    record = on_premises_record(failback_state="FAILBACK_ERROR", replication=replication)
    row = row_of(record)
    assert (row["status"], row["status_tone"], row["attention"]) == ("Error", "bad", True)
    assert row["progress"]["label"] == "Initiating"
    assert (row["initiation"]["failed_index"], row["initiation"]["failed"]) == (
        3,
        "Establish recovery instance communication",
    )
    assert dashboard.recovery_summary([record])["in_error"] == 1


def test_nothing_replicating_back_yet_has_no_progress_bar_and_says_what_to_start():
    row = row_of(on_premises_record())
    assert row["status"] == "Not started"
    assert row["progress"] is None
    assert row["initiation"] is None
    assert row["pending_action"].startswith("Boot the Failback Client")


def test_a_drill_instance_is_labelled_drill_and_its_next_step_is_to_terminate_it():
    row = row_of(drill_record())
    assert (row["kind"], row["kind_tone"]) == ("Drill", "other")
    assert row["pending_action"].startswith("Terminate the drill instance")


def test_a_record_missing_every_member_shows_dashes_not_an_error():
    row = row_of({})
    assert (row["id"], row["hostname"], row["kind"], row["ec2_state"], row["status"]) == ("—", "—", "—", "—", "Unknown")
    assert row["origin"] == {"label": "—", "detail": ""}
    assert (row["progress"], row["initiation"], row["reversed"], row["pending_action"]) == (None, None, None, "")


@pytest.mark.parametrize(
    ("given", "shown"), [("100%; background: url(//x)", 0.0), (250, 100.0), (-3, 0.0), (42.5, 42.5)]
)
def test_progress_that_ends_up_in_css_is_always_a_number_from_0_to_100(given, shown):
    record = initiating_record()
    record["replication"]["progress_percent"] = given
    assert row_of(record)["progress"]["percent"] == shown


def test_summary_counts_drills_ready_errors_and_pending_actions():
    records = [aws_ready_record(), initiating_record(), drill_record()]
    summary = dashboard.recovery_summary(records)
    assert summary == {
        "total": 3,
        "drills": 1,
        "ready_for_failback": 1,
        "in_error": 0,
        "pending_actions": 3,
        "by_status": {"Ready": 1, "Synchronizing": 1, "Not started": 1},
    }
    cards = {c["key"]: c["value"] for c in dashboard.recovery_view(dashboard.recovery_data(records))["cards"]}
    assert cards == {
        "recovery_total": 3,
        "recovery_drills": 1,
        "ready_for_failback": 1,
        "failback_error": 0,
        "pending_actions": 3,
    }


def test_a_looped_read_combines_regions_and_names_the_region_that_failed():
    west = {
        "recovery_instances": [initiating_record(), aws_ready_record()],
        "ansible_loop_var": "region_name",
        "region_name": RECOVERY,
    }
    east = {
        "failed": True,
        "msg": "AccessDeniedException: not allowed",
        "ansible_loop_var": "region_name",
        "region_name": ORIGIN,
    }
    data = dashboard.recovery_data({"failed": True, "msg": "One or more items failed", "results": [west, east]})
    assert [r["source_hostname"] for r in data["recovery_instances"]] == ["db-01", "web-01"]
    assert data["errors"] == [{"region": ORIGIN, "message": "AccessDeniedException: not allowed"}]
    assert dashboard.recovery_data(data) == data


def test_a_failed_multi_region_read_keeps_its_records_and_names_the_region_with_the_aws_error():
    result = {
        "failed": True,
        "msg": "Recovery instances could not be read in us-east-1 (...)",
        "regions": [RECOVERY, ORIGIN],
        "recovery_instances": [initiating_record(), aws_ready_record()],
        "errors": [
            {
                "region": ORIGIN,
                "operation": "DescribeRecoveryInstances",
                "code": "AccessDeniedException",
                "message": "no",
            }
        ],
    }
    data = dashboard.recovery_data(result)
    assert [r["source_hostname"] for r in data["recovery_instances"]] == ["db-01", "web-01"]
    assert data["errors"] == [
        {"region": ORIGIN, "message": "DescribeRecoveryInstances failed (AccessDeniedException: no)"}
    ]
    assert dashboard.recovery_data(data) == data


def test_the_same_instance_given_twice_is_shown_once_and_rows_sort_by_hostname():
    ready, drill = aws_ready_record(), drill_record()
    data = dashboard.recovery_data({"recovery_instances": [drill, ready, ready], "missing": [], "summary": {}})
    assert [r["source_hostname"] for r in data["recovery_instances"]] == ["web-01", "web-03"]
    assert data["summary"]["total"] == 2


@pytest.mark.parametrize(
    ("given", "message"),
    [
        ("i-0123", "not a str"),
        (["i-0123"], "must be a mapping, got str"),
        ({"servers": []}, "no 'recovery_instances' list"),
    ],
)
def test_recovery_data_that_is_not_records_is_rejected_with_what_to_pass(given, message):
    with pytest.raises(InputError, match="^recovery: ") as caught:
        dashboard.recovery_data(given)
    assert message in caught.value.message


def test_no_recovery_data_means_no_section_and_an_empty_read_an_empty_section(fleet):
    assert dashboard.build_view(fleet)["recovery"] is None
    empty = dashboard.build_view(fleet, recovery={"recovery_instances": [], "missing": [], "summary": {}})["recovery"]
    assert empty["rows"] == []
    assert {c["key"]: c["value"] for c in empty["cards"]}["recovery_total"] == 0


def test_json_artifact_carries_the_recovery_records_only_when_there_are_some(fleet):
    assert "recovery" not in json.loads(dashboard.json_text(fleet))
    recovery = dashboard.recovery_data([aws_ready_record()])
    data = json.loads(dashboard.json_text(fleet, recovery))
    assert set(data) == {"regions", "as_of", "summary", "servers", "missing", "jobs", "recovery"}
    assert data["recovery"]["recovery_instances"][0]["reverse_replication_status"] == "Ready"
    assert data["recovery"]["summary"]["ready_for_failback"] == 1


def test_recovery_csv_has_a_row_per_instance_and_neutralises_formulas():
    tricky = initiating_record()
    tricky["source_hostname"] = "=cmd()"
    rows = list(
        csv.DictReader(io.StringIO(dashboard.recovery_csv_text(dashboard.recovery_data([aws_ready_record(), tricky]))))
    )
    assert list(rows[0]) == list(dashboard.RECOVERY_CSV_COLUMNS)
    by_host = {r["source_hostname"]: r for r in rows}
    assert set(by_host) == {"'=cmd()", "web-01"}
    assert by_host["web-01"]["failback_status"] == "Ready"
    assert by_host["web-01"]["reversed_source_server_region"] == ORIGIN
    assert by_host["web-01"]["is_drill"] == "no"
    initiating = by_host["'=cmd()"]
    assert (initiating["reverse_progress_percent"], initiating["reverse_replicated_bytes"]) == ("25.0", str(25 * GIB))
    assert initiating["current_step"] == "CONFIGURE_REPLICATION_SOFTWARE"
