"""drs_replication_info reports how far a rescan has come, through the module against the emulator.

The emulator's source server follows its EC2 instance: stopped, its agent is lost
(DISCONNECTED after ``agent_not_seen_seconds``); running again, the server is in RESCAN and
``rescannedStorageBytes`` grows on every disk at the replication rate until it is
CONTINUOUS again (emulator/README.md, "DRS: the source instance stops and starts").
"""

from __future__ import annotations

import re

import jinja2
from jinja2.sandbox import ImmutableSandboxedEnvironment

from ansible_collections.drs.orchestration.plugins.module_utils import dashboard
from ansible_collections.drs.orchestration.plugins.modules import drs_replication_info
from tests.module_harness import REPO, emulator_args, run_module

INSTANCE = "i-0abc0abc0abc0abc0"
DISKS = [{"device": "/dev/xvda", "size_gib": 8}, {"device": "/dev/xvdb", "size_gib": 16}]
NOT_SEEN = 300  # agent_not_seen_seconds (the default)


def fleet():
    """One EC2 instance and its CONTINUOUS source server; 1 GiB/s: the 16 GiB disk rescans in 16 s."""
    return {
        "timing": {"replication_bytes_per_second": 1024**3},
        "instances": [{"instance_id": INSTANCE, "name": "app-1", "disks": DISKS}],
        "source_servers": [
            {"hostname": "app-1", "origin": "AWS", "instance_id": INSTANCE, "state": "CONTINUOUS", "disks": DISKS},
            {"hostname": "app-2", "state": "CONTINUOUS"},
        ],
    }


def render(result):
    """The role's dashboard template, rendered as drs_replication_report renders it (sandboxed, autoescaping)."""
    loader = jinja2.FileSystemLoader(str(REPO / "roles" / "replication_report" / "templates"))
    env = ImmutableSandboxedEnvironment(loader=loader, autoescape=True, trim_blocks=True, lstrip_blocks=True)
    return env.get_template("dashboard.html.j2").render(view=dashboard.build_view(result))


def progress_cell(html, hostname):
    row = re.search(rf'<tr class="server[^"]*" data-state="\w+">\s*<td>{hostname}<.*?</tr>', html, re.S).group(0)
    return " ".join(re.search(r'<td class="progress">(.*?)</td>', row, re.S).group(1).split())


def servers(emu):
    result = run_module(drs_replication_info, emulator_args(emu))
    assert result.get("failed") is not True, result.get("msg")
    return result, {s["hostname"]: s for s in result["servers"]}


def set_instance_state(emu, state):
    emu.admin.service("ec2", "set-instance-state", instance_id=INSTANCE, state=state)


def test_a_restarted_source_instance_shows_its_rescan_growing_then_continuous(emulator_factory):
    emu = emulator_factory(fleet())
    set_instance_state(emu, "stopped")
    emu.advance(NOT_SEEN + 60)
    _result, by_host = servers(emu)
    assert by_host["app-1"]["data_replication_state"] == "DISCONNECTED"
    assert by_host["app-1"]["rescan_percent"] is None

    set_instance_state(emu, "running")
    emu.advance(4)
    result, by_host = servers(emu)
    app = by_host["app-1"]
    assert app["data_replication_state"] == "RESCAN"
    assert app["progress_percent"] == 100.0  # the initial sync, long done
    assert [d["rescan_percent"] for d in app["disks"]] == [50.0, 25.0]  # 4 GiB of 8 and of 16
    assert app["rescan_percent"] == 33.3  # 8 of 24 GiB
    assert by_host["app-2"]["rescan_percent"] is None  # CONTINUOUS: no rescan
    html = render(result)
    cell = progress_cell(html, "app-1")
    assert 'aria-valuenow="33.3"' in cell
    assert 'style="width: 33.3%"' in cell
    assert cell.endswith("</span></span> Rescan 33.3%")
    assert progress_cell(html, "app-2").endswith("</span></span> 100.0%")

    emu.advance(6)  # the 8 GiB disk is done, the 16 GiB one at 10
    _result, by_host = servers(emu)
    app = by_host["app-1"]
    assert [d["rescan_percent"] for d in app["disks"]] == [100.0, 62.5]
    assert app["rescan_percent"] == 75.0

    emu.advance(6)
    _result, by_host = servers(emu)
    assert by_host["app-1"]["data_replication_state"] == "CONTINUOUS"
    assert by_host["app-1"]["rescan_percent"] is None
    assert [d["rescan_percent"] for d in by_host["app-1"]["disks"]] == [None, None]
