"""What the dashboard shows and the CSV/JSON artifacts, from a replication result (no AWS, no browser)."""

from __future__ import annotations

import csv
import io
import json
import math

import pytest
from replication_samples import NOW, source_server, steps

from ansible_collections.drs.orchestration.plugins.module_utils import dashboard
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


def test_a_failed_wait_shows_its_message():
    failed = result_of([("us-east-1", source_server(1, "STALLED"))], failed=True, msg="1 of 1 source servers ...")
    assert dashboard.build_view(failed)["failure"] == "1 of 1 source servers ..."
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
