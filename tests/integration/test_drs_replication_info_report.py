"""playbooks/replication_status.yml and the replication_report role, run by ansible-playbook against the emulator."""

from __future__ import annotations

import csv
import json

from tests.module_harness import REPO, run_playbook

PLAYBOOK = REPO / "playbooks" / "replication_status.yml"
FLEET = {
    "region": "us-east-1",
    "source_servers": [
        {"hostname": "web-01", "state": "CONTINUOUS", "tags": {"app": "shop"}},
        {"hostname": "web-02", "state": "INITIATING", "tags": {"app": "shop"}},
        {"hostname": "db-01", "state": "STALLED", "tags": {"app": "erp"}},
        {"hostname": "west-01", "state": "CONTINUOUS", "region": "us-west-2"},
    ],
}


def test_runbook_writes_dashboard_json_and_csv_for_two_regions(emulator_factory, tmp_path):
    emu = emulator_factory(FLEET)

    done = run_playbook(
        PLAYBOOK, {"drs_regions": "us-east-1, us-west-2", "drs_report_dir": str(tmp_path)}, env=emu.env()
    )

    assert done.returncode == 0, done.stdout[-3000:]
    assert f"Dashboard: {tmp_path}/replication.html" in done.stdout
    assert "4 servers, 2 ready, 1 syncing, 1 need attention." in done.stdout
    html = (tmp_path / "replication.html").read_text()
    assert "db-01" in html
    assert "<script" not in html
    data = json.loads((tmp_path / "replication.json").read_text())
    assert data["regions"] == ["us-east-1", "us-west-2"]
    assert data["summary"]["needs_attention"][0]["hostname"] == "db-01"
    rows = list(csv.DictReader((tmp_path / "replication.csv").open()))
    assert sorted(r["hostname"] for r in rows) == ["db-01", "web-01", "web-02", "west-01"]
    assert {r["hostname"]: r["needs_attention"] for r in rows}["db-01"] == "yes"
    assert [c["region"] for c in emu.calls("drs", "DescribeSourceServers")] == ["us-east-1", "us-west-2"]
    assert emu.count("drs", "DescribeJobs") == 2


def test_a_failed_wait_still_writes_the_dashboard_then_fails(emulator_factory, tmp_path):
    emu = emulator_factory(FLEET)

    done = run_playbook(
        PLAYBOOK,
        {"drs_wait_for_continuous": True, "drs_poll_interval_seconds": 0.2, "drs_report_dir": str(tmp_path)},
        env=emu.env(),
    )

    assert done.returncode != 0
    assert "reached a state that ends the wait" in done.stdout
    assert f"Dashboard of what was read: {tmp_path}/replication.html" in done.stdout
    html = (tmp_path / "replication.html").read_text()
    assert "The wait did not succeed" in html
    assert "db-01" in html


def test_bad_input_stops_the_runbook_with_the_modules_message(emulator_factory, tmp_path):
    emu = emulator_factory(FLEET)

    done = run_playbook(PLAYBOOK, {"drs_states": "GREEN", "drs_report_dir": str(tmp_path)}, env=emu.env())

    assert done.returncode != 0
    assert "states: 'GREEN' is not a DRS data replication state." in done.stdout
    assert not (tmp_path / "replication.html").exists()
    assert emu.calls("drs") == []
