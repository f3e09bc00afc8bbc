"""The replication dashboard, rendered by the role and opened in headless Chromium.

The result fed to the role is built by the core's own normalisation from items shaped
like DescribeSourceServers responses (several regions, every kind of state, a server in
the middle of its initiation, a stalled one with an error, a state newer than the model);
the recovery instances likewise from DescribeRecoveryInstances items (an origin-AWS
instance ready for failback, an on-premises failback in its initiation, a drill, and one
whose hostname is markup).
The role renders it through ``drs_replication_report``; Chromium (Debian's
``/usr/bin/chromium``, driven by Playwright) opens the file with every network request
refused, a screenshot is saved under ``build/test-artifacts/`` and the key elements are
asserted as a user would see them.
"""

from __future__ import annotations

import json
import sys
from datetime import timedelta
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(REPO / "tests" / "unit" / "module_utils"))

from recovery_samples import aws_ready_record, drill_record, initiating_record  # noqa: E402
from replication_samples import NOW, iso, source_server, steps  # noqa: E402

from ansible_collections.drs.orchestration.plugins.module_utils.replication import (  # noqa: E402
    normalize_source_server,
    summarize,
)
from tests.module_harness import run_playbook  # noqa: E402

CHROMIUM = "/usr/bin/chromium"
ARTIFACTS = REPO / "build" / "test-artifacts"
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
]

PLAYBOOK = """
- name: Render the dashboard from a given result
  hosts: localhost
  connection: local
  gather_facts: false
  tasks:
    - name: Run the role
      ansible.builtin.include_role:
        name: drs.orchestration.replication_report
      vars:
        replication_report_result: "{{ lookup('ansible.builtin.file', result_file) | from_json }}"
        replication_report_recovery: "{{ recovery }}"
        replication_report_dest: "{{ dest }}"
        replication_report_title: Replication of the test fleet
"""


def fleet_result():
    items = [
        ("us-east-1", source_server(1, "CONTINUOUS", hostname="web-01")),
        ("us-east-1", source_server(2, "CONTINUOUS", hostname="web-02", lag="PT2H")),
        (
            "us-east-1",
            source_server(
                3,
                "INITIAL_SYNC",
                hostname="db-01",
                disks=[("/dev/xvda", 100 * 2**30, 40 * 2**30)],
                lag=None,
                eta=NOW + timedelta(minutes=45),
            ),
        ),
        ("us-east-1", source_server(4, "INITIATING", hostname="app-04", initiation_steps=steps(4), disks=[])),
        (
            "us-west-2",
            source_server(5, "STALLED", hostname="batch-05", region="us-west-2", error=("UNSTABLE_NETWORK", "reset")),
        ),
        (
            "us-west-2",
            source_server(6, "DISCONNECTED", hostname="old-06", region="us-west-2", last_seen=NOW - timedelta(days=1)),
        ),
        ("us-west-2", source_server(7, "QUANTUM_SYNC", hostname="future-07", region="us-west-2")),
        ("eu-west-1", source_server(8, "CONTINUOUS", hostname="<b>tricky</b>", region="eu-west-1")),
    ]
    servers = [normalize_source_server(raw, region, NOW) for region, raw in items]
    jobs = [
        {
            "job_id": "drsjob-00000000000000001",
            "region": "us-east-1",
            "type": "LAUNCH",
            "initiated_by": "START_DRILL",
            "status": "COMPLETED",
            "creation_time": iso(NOW - timedelta(hours=3)),
            "end_time": iso(NOW - timedelta(hours=2)),
            "participating_servers": [
                {"source_server_id": servers[0]["source_server_id"], "launch_status": "LAUNCHED"}
            ],
        }
    ]
    return {
        "changed": False,
        "regions": ["us-east-1", "us-west-2", "eu-west-1"],
        "as_of": NOW.isoformat(),
        "servers": servers,
        "summary": summarize(servers, lag_threshold=900, stale_after=3600),
        "missing": {"source_server_ids": [], "instance_ids": []},
        "jobs": jobs,
    }


@pytest.fixture(scope="module")
def rendered(tmp_path_factory):
    tmp = tmp_path_factory.mktemp("dashboard")
    result = fleet_result()
    (tmp / "result.json").write_text(json.dumps(result))
    (tmp / "play.yml").write_text(PLAYBOOK)
    done = run_playbook(
        tmp / "play.yml",
        extra_vars={"result_file": str(tmp / "result.json"), "dest": str(tmp / "out"), "recovery": recovery_records()},
    )
    assert done.returncode == 0, done.stdout[-4000:] + done.stderr[-2000:]
    return result, tmp / "out"


def recovery_records():
    tricky = drill_record()
    tricky.update(recovery_instance_id="i-0000000000000abcd", source_hostname="<i>tricky</i>")
    return [aws_ready_record(), initiating_record(), drill_record(), tricky]


@pytest.fixture(scope="module")
def page(rendered, tmp_path_factory):
    if not Path(CHROMIUM).exists():
        pytest.fail(f"{CHROMIUM} is missing: install Debian's chromium (apt-get install -y chromium)")
    from playwright.sync_api import sync_playwright

    result, out = rendered
    requests = []
    with sync_playwright() as playwright:
        context = playwright.chromium.launch_persistent_context(
            str(tmp_path_factory.mktemp("chromium-profile")),
            executable_path=CHROMIUM,
            headless=True,
            args=CHROMIUM_ARGS,
            viewport={"width": 1400, "height": 1000},
        )
        context.route(
            "**/*", lambda route: route.continue_() if route.request.url.startswith("file:") else route.abort()
        )
        browser_page = context.new_page()
        browser_page.on("request", lambda request: requests.append(request.url))
        browser_page.goto((out / "replication.html").as_uri())
        ARTIFACTS.mkdir(parents=True, exist_ok=True)
        shot = ARTIFACTS / "replication-dashboard.png"
        browser_page.screenshot(path=str(shot), full_page=True)
        print(f"\ndashboard screenshot: {shot}")
        yield browser_page, result, requests, out
        context.close()


def test_the_artifacts_are_written_next_to_each_other(rendered):
    result, out = rendered
    assert sorted(p.name for p in out.iterdir()) == [
        "replication-recovery.csv",
        "replication.csv",
        "replication.html",
        "replication.json",
    ]
    data = json.loads((out / "replication.json").read_text())
    assert data["summary"] == result["summary"]
    assert len(data["recovery"]["recovery_instances"]) == 4
    lines = (out / "replication.csv").read_text().splitlines()
    assert len(lines) == 1 + len(result["servers"])
    assert lines[0].startswith("source_server_id,hostname,fqdn,region")
    assert len((out / "replication-recovery.csv").read_text().splitlines()) == 1 + 4


def test_the_page_loads_nothing_from_anywhere(page):
    browser_page, _, requests, out = page
    assert requests == [(out / "replication.html").as_uri()]
    assert browser_page.locator("script").count() == 0
    assert browser_page.locator("link[rel=stylesheet], img, iframe, object").count() == 0


def test_summary_cards_show_the_fleet_figures(page):
    browser_page, result, _, _ = page
    summary = result["summary"]

    def card(key):
        return browser_page.locator(f"[data-card={key}] .value").inner_text()

    assert browser_page.locator("#title").inner_text() == "Replication of the test fleet"
    assert card("total") == "8"
    assert card("ready") == str(summary["ready"]) == "3"
    assert card("syncing") == str(summary["syncing"]) == "2"
    assert card("attention") == str(summary["needs_attention_count"])
    assert browser_page.get_by_text("Continuous (ready)").first.is_visible()


def test_charts_are_inline_svg_with_a_slice_per_state_and_a_bar_per_region(page):
    browser_page, result, _, _ = page
    slices = browser_page.locator("#state-distribution svg circle.segment")
    assert slices.count() == len(result["summary"]["by_state"])
    assert sorted(slices.evaluate_all("els => els.map(e => e.dataset.state)")) == sorted(result["summary"]["by_state"])
    regions = browser_page.locator("#servers-by-region svg g[data-region]")
    assert regions.evaluate_all("els => els.map(e => e.dataset.region)") == ["eu-west-1", "us-east-1", "us-west-2"]
    assert browser_page.locator("#state-distribution svg").bounding_box()["width"] > 100


def test_server_table_has_a_badge_progress_bar_lag_and_eta_per_server(page):
    browser_page, _, _, _ = page
    rows = browser_page.locator("#servers tbody tr.server")
    assert rows.count() == 8
    db = browser_page.locator("#servers tbody tr", has_text="db-01")
    assert db.locator(".badge").inner_text() == "Initial sync"
    assert db.locator("[role=progressbar]").get_attribute("aria-valuenow") == "40.0"
    assert "45m 00s" in db.inner_text()
    web02 = browser_page.locator("#servers tbody tr", has_text="web-02")
    assert "2h 00m" in web02.inner_text()
    stalled = browser_page.locator("#servers tbody tr", has_text="batch-05")
    assert stalled.locator(".badge").inner_text() == "Stalled"
    assert "attention" in stalled.get_attribute("class")
    assert "UNSTABLE_NETWORK" in stalled.inner_text()
    assert (
        browser_page.locator("#servers tbody tr", has_text="future-07").locator(".badge").inner_text() == "Quantum sync"
    )


def test_hostnames_are_escaped_not_interpreted(page):
    browser_page, _, _, _ = page
    assert browser_page.locator("#servers b").count() == 0
    assert browser_page.locator("#servers tbody tr", has_text="<b>tricky</b>").count() == 1


def test_initiation_timeline_shows_the_eleven_steps_of_the_initiating_server(page):
    browser_page, _, _, _ = page
    block = browser_page.locator("#initiation .initiating", has_text="app-04")
    assert block.locator("li.step").count() == 11
    assert block.locator("li.step.succeeded").count() == 4
    assert block.locator("li.step.in-progress").inner_text() == "5. Authenticate with service"
    assert "4 of 11 steps done" in block.inner_text()


def test_attention_list_names_each_server_and_reason(page):
    browser_page, result, _, _ = page
    table = browser_page.locator("#needs-attention table")
    assert table.locator("tbody tr").count() == len(result["summary"]["needs_attention"]) == 3
    text = table.inner_text()
    assert "batch-05" in text
    assert "error UNSTABLE_NETWORK" in text
    assert "old-06" in text
    assert "lag 2h 00m over the 15m 00s threshold" in text
    assert "agent not seen for 1d 0h" in text


def test_recent_jobs_are_shown(page):
    browser_page, _, _, _ = page
    assert "drsjob-00000000000000001" in browser_page.locator("#recent-jobs").inner_text()


def recovery_row(browser_page, hostname):
    return browser_page.locator("#recovery-instances tbody tr.recovery", has_text=hostname)


def test_recovery_section_cards_count_instances_drills_ready_errors_and_pending_actions(page):
    browser_page, _, _, _ = page
    section = browser_page.locator("#recovery-instances")
    assert section.locator("h2").inner_text() == "Recovery instances and failback (4)"

    def card(key):
        return section.locator(f"[data-card={key}] .value").inner_text()

    assert [card(k) for k in ("recovery_total", "recovery_drills", "ready_for_failback", "failback_error")] == [
        "4",
        "2",
        "1",
        "0",
    ]
    assert card("pending_actions") == "4"
    assert section.locator("tbody tr.recovery").count() == 4


def test_an_instance_ready_for_failback_shows_a_green_ready_badge_its_reversed_server_and_next_step(page):
    browser_page, _, _, _ = page
    row = recovery_row(browser_page, "web-01")
    badge = row.locator(".badge.failback")
    assert badge.inner_text() == "Ready"
    assert badge.evaluate("e => getComputedStyle(e).backgroundColor") == "rgb(29, 129, 2)"
    reversed_id = f"s-{91:017x}"
    assert reversed_id in row.locator("td.reversed").inner_text()
    assert "us-east-1" in row.locator("td.reversed").inner_text()
    assert row.locator("td.origin").inner_text().split() == ["AWS", "us-east-1"]
    assert row.locator("td.pending").inner_text() == f"Launch for failback in us-east-1 (source server {reversed_id})."
    assert row.locator(".badge.kind").inner_text() == "Recovery"
    assert row.locator(".badge.ec2").inner_text() == "RUNNING"


def test_an_on_premises_failback_shows_a_progress_bar_by_bytes_and_its_initiation_step(page):
    browser_page, _, _, _ = page
    row = recovery_row(browser_page, "db-01")
    assert row.locator(".badge.failback").inner_text() == "Synchronizing"
    bar = row.locator("td.reverse [role=progressbar]")
    assert bar.get_attribute("aria-valuenow") == "25.0"
    filled = bar.locator("span").bounding_box()["width"] / bar.bounding_box()["width"]
    assert filled == pytest.approx(0.25, abs=0.02)
    assert "25.0 GiB of 100.0 GiB" in row.locator("td.reverse").inner_text()
    assert row.locator(".failback-step").inner_text() == "Step 5 of 18: Configure replication software"
    assert "On-premises" in row.locator("td.origin").inner_text()


def test_drills_are_labelled_and_recovery_hostnames_are_escaped(page):
    browser_page, _, _, _ = page
    assert recovery_row(browser_page, "web-03").first.locator(".badge.kind").inner_text() == "Drill"
    assert browser_page.locator("#recovery-instances i").count() == 0
    tricky = recovery_row(browser_page, "<i>tricky</i>")
    assert tricky.count() == 1
    assert tricky.locator("td.pending").inner_text().startswith("Terminate the drill instance")
