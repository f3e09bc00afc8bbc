"""The dashboard's recovery instances / failback section, through playbooks/replication_status.yml.

A fleet of the emulator is failed over (two recoveries and a drill in us-west-2), one
AWS-origin instance is reversed until ready for failback and an on-premises one has its
Failback Client in the middle of the 18 initiation steps. The runbook then reads both
regions; the HTML section, the JSON artifact's ``recovery`` member, the recovery CSV and
the emulator's call log are checked as an operator (or AWX) would read them.
"""

from __future__ import annotations

import csv
import json
from html.parser import HTMLParser

from tests.failback_fleets import FAST, ORIGIN, RECOVERY, deny_once, launch
from tests.module_harness import REPO, run_playbook

PLAYBOOK = REPO / "playbooks" / "replication_status.yml"
FLEET = {
    "region": ORIGIN,
    "timing": FAST,
    "source_servers": [
        {"region": RECOVERY, "origin": "AWS", "origin_region": ORIGIN, "hostname": "web-01", "state": "CONTINUOUS"},
        {"region": RECOVERY, "origin": "AWS", "origin_region": ORIGIN, "hostname": "web-02", "state": "CONTINUOUS"},
        {"region": RECOVERY, "hostname": "db-01", "state": "CONTINUOUS"},
    ],
}


class RecoveryRows(HTMLParser):
    """Text and badges of each ``tr[data-recovery-instance]`` of the page, plus the summary cards."""

    def __init__(self):
        super().__init__()
        self.rows, self.badges, self.cards = {}, {}, {}
        self._row = self._badge = self._card = None
        self._in_value = False

    def handle_starttag(self, tag, attrs):
        attrs = dict(attrs)
        classes = (attrs.get("class") or "").split()
        if self._row:
            self.rows[self._row] += " "  # cells and line breaks separate words
        if tag == "tr" and "data-recovery-instance" in attrs:
            self._row = attrs["data-recovery-instance"]
            self.rows[self._row], self.badges[self._row] = "", []
        elif self._row and tag == "span" and "badge" in classes:
            self._badge = [classes, ""]
        elif "data-card" in attrs:
            self._card = attrs["data-card"]
        elif self._card and "value" in classes:
            self._in_value = True

    def handle_endtag(self, tag):
        if tag == "tr":
            self._row = None
        elif tag == "span" and self._badge is not None:
            self.badges[self._row].append((" ".join(self._badge[0]), self._badge[1]))
            self._badge = None
        elif tag == "div" and self._in_value:
            self._in_value, self._card = False, None

    def handle_data(self, data):
        if self._row:
            self.rows[self._row] += data
        if self._badge is not None:
            self._badge[1] += data
        if self._in_value:
            self.cards[self._card] = data.strip()


def parse(html):
    parser = RecoveryRows()
    parser.feed(html)
    return parser


def failed_over(emulator_factory):
    """web-01 ready for failback (reversed to us-east-1), web-02 a drill, db-01's Failback Client initiating."""
    emu = emulator_factory(FLEET)
    ids = launch(emu, ["web-01", "db-01"], drill=False) | {
        "web-02 drill": launch(emu, ["web-02"], drill=True)["web-02"]
    }
    reversed_arn = emu.client("drs", region=RECOVERY).reverse_replication(recoveryInstanceID=ids["web-01"])[
        "reversedDirectionSourceServerArn"
    ]
    emu.advance(3600)
    emu.admin.service("drs", "pair-failback-client", region=RECOVERY, recoveryInstanceID=ids["db-01"])
    emu.advance(22)
    return emu, ids, reversed_arn.rsplit("/", 1)[1]


def test_runbook_shows_each_recovery_instance_with_failback_status_progress_and_next_step(emulator_factory, tmp_path):
    emu, ids, reversed_id = failed_over(emulator_factory)
    before = emu.count("drs", "DescribeRecoveryInstances")

    done = run_playbook(
        PLAYBOOK, {"drs_regions": f"{RECOVERY},{ORIGIN}", "drs_report_dir": str(tmp_path)}, env=emu.env()
    )

    assert done.returncode == 0, done.stdout[-3000:]
    assert "3 recovery instances, 1 drills, 1 ready for failback, 0 in error, 3 with an action pending." in done.stdout
    # one read per reported region, in the order given
    reads = emu.calls("drs", "DescribeRecoveryInstances")[before:]
    assert [c["region"] for c in reads] == [RECOVERY, ORIGIN]

    page = parse((tmp_path / "replication.html").read_text())
    assert set(page.rows) == set(ids.values())
    assert page.cards["recovery_total"] == "3"
    assert page.cards["recovery_drills"] == "1"
    assert page.cards["ready_for_failback"] == "1"
    assert page.cards["failback_error"] == "0"
    web = " ".join(page.rows[ids["web-01"]].split())
    assert ("badge failback ok", "Ready") in page.badges[ids["web-01"]]
    assert f"Launch for failback in {ORIGIN} (source server {reversed_id})." in web
    assert f"{reversed_id} {ORIGIN} · Continuous (ready)" in web
    assert "100.0% Continuous (ready)" in web
    assert ("badge kind sync", "Recovery") in page.badges[ids["web-01"]]
    assert f"AWS {ORIGIN}" in web
    db = " ".join(page.rows[ids["db-01"]].split())
    assert ("badge failback sync", "Synchronizing") in page.badges[ids["db-01"]]
    assert "On-premises" in db
    assert "FAILBACK_IN_PROGRESS" in db
    assert "Wait for failback replication (INITIATING step" in db
    drill = " ".join(page.rows[ids["web-02 drill"]].split())
    assert ("badge kind other", "Drill") in page.badges[ids["web-02 drill"]]
    assert "Terminate the drill instance" in drill

    data = json.loads((tmp_path / "replication.json").read_text())
    assert set(data) >= {"regions", "as_of", "summary", "servers", "missing", "jobs", "recovery"}
    records = {r["recovery_instance_id"]: r for r in data["recovery"]["recovery_instances"]}
    assert set(records) == set(ids.values())
    assert records[ids["web-01"]]["reverse_replication_status"] == "Ready"
    assert records[ids["web-01"]]["reversed_direction_source_server"]["source_server_id"] == reversed_id
    assert records[ids["db-01"]]["failback"]["label"] == "Synchronizing"
    initiation = records[ids["db-01"]]["replication"]["initiation"]
    step = next(s for s in initiation["steps"] if s["name"] == initiation["current_step"])
    assert f"Step {step['index']} of 18: {step['label']}" in db
    assert data["recovery"]["summary"] | {"by_status": None} == {
        "total": 3,
        "drills": 1,
        "ready_for_failback": 1,
        "in_error": 0,
        "pending_actions": 3,
        "by_status": None,
    }
    assert data["recovery"]["errors"] == []

    rows = {r["recovery_instance_id"]: r for r in csv.DictReader((tmp_path / "replication-recovery.csv").open())}
    assert rows[ids["web-01"]]["failback_status"] == "Ready"
    assert rows[ids["web-01"]]["reversed_source_server_id"] == reversed_id
    assert rows[ids["web-02 drill"]]["is_drill"] == "yes"
    assert rows[ids["db-01"]]["initiation_total"] == "18"


def test_a_region_that_cannot_be_read_is_named_and_the_rest_is_still_reported(emulator_factory, tmp_path):
    emu, ids, _ = failed_over(emulator_factory)
    deny_once(emu, "drs:DescribeRecoveryInstances")

    done = run_playbook(
        PLAYBOOK, {"drs_regions": f"{ORIGIN},{RECOVERY}", "drs_report_dir": str(tmp_path)}, env=emu.env()
    )

    assert done.returncode == 0, done.stdout[-3000:]
    assert f"Recovery instances not read in {ORIGIN}: " in done.stdout
    html = (tmp_path / "replication.html").read_text()
    assert f'<p class="alert-line" data-region="{ORIGIN}">' in html
    assert set(parse(html).rows) == set(ids.values())
    errors = json.loads((tmp_path / "replication.json").read_text())["recovery"]["errors"]
    assert [e["region"] for e in errors] == [ORIGIN]
    assert "AccessDenied" in errors[0]["message"]


def test_the_section_can_be_turned_off_and_then_nothing_is_read(emulator_factory, tmp_path):
    emu, _, _ = failed_over(emulator_factory)
    before = emu.count("drs", "DescribeRecoveryInstances")

    done = run_playbook(
        PLAYBOOK,
        {"drs_regions": RECOVERY, "drs_include_recovery_instances": False, "drs_report_dir": str(tmp_path)},
        env=emu.env(),
    )

    assert done.returncode == 0, done.stdout[-3000:]
    assert emu.count("drs", "DescribeRecoveryInstances") == before
    assert 'id="recovery-instances"' not in (tmp_path / "replication.html").read_text()
    assert "recovery" not in json.loads((tmp_path / "replication.json").read_text())
    assert sorted(p.name for p in tmp_path.iterdir()) == ["replication.csv", "replication.html", "replication.json"]


RENDER_ONLY = """
- name: Render a given replication result
  hosts: localhost
  connection: local
  gather_facts: false
  tasks:
    - name: Run the role without reading replication status
      ansible.builtin.include_role:
        name: drs.orchestration.replication_report
      vars:
        replication_report_result:
          regions: [us-west-2]
          as_of: ""
          servers: []
          summary: {total: 0, ready: 0, syncing: 0, needs_attention_count: 0}
        replication_report_include_recovery_instances: "{{ include }}"
        replication_report_dest: "{{ dest }}"
"""


def test_render_only_mode_reads_recovery_instances_only_when_asked(emulator_factory, tmp_path):
    emu, ids, _ = failed_over(emulator_factory)
    playbook = tmp_path / "render.yml"
    playbook.write_text(RENDER_ONLY)
    env = emu.env() | {"AWS_REGION": RECOVERY, "AWS_DEFAULT_REGION": RECOVERY}
    before = len(emu.calls())

    unset = run_playbook(playbook, {"include": None, "dest": str(tmp_path / "unset")}, env=env)
    assert unset.returncode == 0, unset.stdout[-3000:]
    assert len(emu.calls()) == before
    assert 'id="recovery-instances"' not in (tmp_path / "unset" / "replication.html").read_text()

    asked = run_playbook(playbook, {"include": True, "dest": str(tmp_path / "asked")}, env=env)
    assert asked.returncode == 0, asked.stdout[-3000:]
    assert [c["region"] for c in emu.calls("drs", "DescribeRecoveryInstances")][-1:] == [RECOVERY]
    assert set(parse((tmp_path / "asked" / "replication.html").read_text()).rows) == set(ids.values())
