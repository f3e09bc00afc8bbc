"""playbooks/replication_status.yml and the replication_report role, run by ansible-playbook against the emulator:
the ways the runbook stops. Its whole successful run (two regions, survey answers) is the
replication Molecule scenario's."""

from __future__ import annotations

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
