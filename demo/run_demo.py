"""Demo: protect a sample fleet with DRS, against the local emulator.

    .venv/bin/python demo/run_demo.py [--fleet demo/fleet.yml] [--speed 120] [--lifecycle]

1. starts the emulator (``python -m emulator``) with the sample fleet on a free port of
   127.0.0.1, its clock running ``--speed`` times faster than real time;
2. runs ``playbooks/install_agents.yml`` against it (instances tagged dr:enabled=true,
   replicating to us-west-2) -- the same playbook an AWX job template runs: precheck,
   install, registration, then the wait until every server replicates continuously
   (a stalled server is reported, not waited for);
3. prints the outcome of every instance;
4. runs ``playbooks/replication_status.yml``: the HTML dashboard (plus JSON and CSV) is
   written to build/demo/ and its path printed;
5. with ``--lifecycle`` (``make demo-lifecycle``), takes three of the servers that now
   replicate continuously through the rest of the DRS lifecycle, each step one of the
   collection's playbooks: a drill (``playbooks/drill.yml``: launch, verify, terminate),
   a production recovery (``demo/recover.yml``), then failback to us-east-1 and
   re-protection (``playbooks/failback.yml`` with ``failback_state=protected``), and
   writes the dashboard again over both Regions;
6. stops the emulator.

Nothing leaves this machine: the emulator listens on 127.0.0.1 only and the playbook's
``drs_aws.endpoint_url`` points every AWS call at it.
"""

from __future__ import annotations

import argparse
import json
import os
import re
import subprocess
import sys
import tempfile
import time
import urllib.request
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
PLAYBOOK = REPO / "playbooks" / "install_agents.yml"
STATUS_PLAYBOOK = REPO / "playbooks" / "replication_status.yml"
DRILL_PLAYBOOK = REPO / "playbooks" / "drill.yml"
FAILBACK_PLAYBOOK = REPO / "playbooks" / "failback.yml"
RECOVER_PLAYBOOK = REPO / "demo" / "recover.yml"
REPORT_DIR = REPO / "build" / "demo"
COLLECTIONS = REPO / "build" / "collections"
LINK = COLLECTIONS / "ansible_collections" / "drs" / "orchestration"
ACCESS_KEY = "AKIAEMULATOR00000000"
SECRET_KEY = "emulator-secret"
LISTENING = re.compile(r"listening on (http://127\.0\.0\.1:\d+)")


def start_emulator(fleet: Path, speed: float) -> tuple[subprocess.Popen, str]:
    """``python -m emulator`` on a free loopback port; returns the process and its endpoint."""
    process = subprocess.Popen(
        [sys.executable, "-m", "emulator", "--fleet", str(fleet), "--port", "0", "--speed", str(speed)],
        cwd=REPO,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    line = process.stdout.readline()
    match = LISTENING.search(line)
    if not match:
        process.kill()
        raise SystemExit(f"the emulator did not start: {line.strip() or process.stdout.read()}")
    endpoint = match.group(1)
    opener = urllib.request.build_opener(urllib.request.ProxyHandler({}))
    deadline = time.monotonic() + 30
    while True:
        try:
            with opener.open(f"{endpoint}/_emulator/health", timeout=5) as answer:
                if json.loads(answer.read()).get("ok"):
                    return process, endpoint
        except OSError:
            if time.monotonic() > deadline:
                process.kill()
                raise SystemExit(f"the emulator at {endpoint} does not answer") from None
        time.sleep(0.2)


def connection(endpoint: str, region: str) -> dict:
    return {"region": region, "endpoint_url": endpoint, "access_key": ACCESS_KEY, "secret_key": SECRET_KEY}


def ansible_playbook(playbook: Path, extra_vars: dict) -> int:
    env = {
        **os.environ,
        "ANSIBLE_COLLECTIONS_PATH": str(COLLECTIONS),
        "ANSIBLE_PYTHON_INTERPRETER": sys.executable,
        "ANSIBLE_LOCALHOST_WARNING": "false",
        "ANSIBLE_INVENTORY_UNPARSED_WARNING": "false",
        "NO_PROXY": "127.0.0.1,localhost",
    }
    binary = Path(sys.executable).with_name("ansible-playbook")
    command = [str(binary), str(playbook), "-i", "localhost,", "-c", "local", "-e", json.dumps(extra_vars)]
    shown = " ".join(f"-e {k}={v}" for k, v in extra_vars.items() if isinstance(v, str) and k != "report_file")
    print(f"\n$ ansible-playbook {playbook.relative_to(REPO)} {shown} ...\n", flush=True)
    return subprocess.run(command, cwd=REPO, env=env).returncode


def install(endpoint: str, report: Path, max_failures: int) -> int:
    return ansible_playbook(
        PLAYBOOK,
        {
            "target_region": "us-west-2",
            "instance_tag_filters": "dr:enabled=true",
            "source_server_tags": "Environment=Demo,ManagedBy=drs.orchestration",
            "max_failures": max_failures,
            "poll_interval": 1,
            "wait_timeout": 300,
            # Wait until every server settled; a stalled one is reported on the dashboard.
            "continuous_fail_on": "",
            "continuous_poll_interval": 1,
            "continuous_timeout": 600,
            "report_file": str(report),
            "drs_aws": connection(endpoint, "us-east-1"),
        },
    )


def dashboard(endpoint: str) -> int:
    return ansible_playbook(
        STATUS_PLAYBOOK,
        {
            "drs_regions": "us-west-2",
            "drs_report_dir": str(REPORT_DIR),
            "drs_poll_interval_seconds": 1,
            "drs_aws": connection(endpoint, "us-west-2"),
        },
    )


def lifecycle(endpoint: str, speed: float) -> int:
    """Drill, recover and fail back three servers that replicate continuously."""
    chosen = continuous_servers(REPORT_DIR / "replication.json", count=3)
    if not chosen:
        print("\nNo source server replicates continuously: nothing to drill or recover.")
        return 1
    print(f"\nLifecycle for {', '.join(chosen)} (the emulator's clock now runs x{speed:g})", flush=True)
    set_clock_speed(endpoint, speed)
    west = connection(endpoint, "us-west-2")
    ids = ",".join(chosen)
    steps = [
        (
            DRILL_PLAYBOOK,
            {"drs_region": "us-west-2", "source_server_ids": ids, "terminate_after_verify": True, "poll_interval": 1}
            | {"drs_aws": west},
        ),
        (RECOVER_PLAYBOOK, {"source_server_ids": chosen, "drs_aws": west}),
        (
            FAILBACK_PLAYBOOK,
            {
                "recovery_region": "us-west-2",
                "source_server_ids": ids,
                "failback_state": "protected",
                "drill": False,
                "confirm_production": True,
                "approval": False,
                "poll_interval": 1,
                "wait_timeout": 1800,
                "drs_aws": west,
            },
        ),
        (
            STATUS_PLAYBOOK,
            {
                "drs_regions": "us-west-2,us-east-1",
                "drs_report_dir": str(REPORT_DIR),
                "drs_poll_interval_seconds": 1,
                "drs_aws": west,
            },
        ),
    ]
    for playbook, extra_vars in steps:
        rc = ansible_playbook(playbook, extra_vars)
        if rc != 0:
            return rc
    return 0


def continuous_servers(report: Path, count: int) -> list[str]:
    """The first ``count`` source servers (by hostname) the dashboard's JSON shows CONTINUOUS."""
    servers = json.loads(report.read_text())["servers"]
    ready = sorted(
        (s for s in servers if s["data_replication_state"] == "CONTINUOUS"), key=lambda s: s.get("hostname") or ""
    )
    return [s["source_server_id"] for s in ready[:count]]


def set_clock_speed(endpoint: str, speed: float) -> None:
    request = urllib.request.Request(
        f"{endpoint}/_emulator/clock",
        data=json.dumps({"speed": speed}).encode(),
        headers={"Content-Type": "application/json"},
        method="POST",
    )
    with urllib.request.build_opener(urllib.request.ProxyHandler({})).open(request, timeout=10):
        pass


def print_summary(report: Path) -> None:
    result = json.loads(report.read_text())
    rows = [("instance", "name", "outcome", "source server", "reason")]
    for item in result["instances"]:
        rows.append(
            (
                item["instance_id"],
                item.get("name") or "",
                item["outcome"],
                item.get("source_server_id") or "",
                (item.get("reason") or "")[:90],
            )
        )
    widths = [max(len(row[i]) for row in rows) for i in range(4)]
    print("\nPer-instance summary")
    for row in rows:
        print("  " + "  ".join(cell.ljust(widths[i]) for i, cell in enumerate(row[:4])) + "  " + row[4])
    summary = result["summary"]
    commands = {item["command_id"] for item in result["instances"] if item.get("command_id")}
    print(
        f"\n{summary['total']} instances: {summary['installed']} installed, {summary['skipped']} already protected, "
        f"{summary['rejected']} rejected by the precheck, {summary['failed']} failed; "
        f"{len(commands)} install command(s); overall status {result['overall_status']}."
    )


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--fleet", type=Path, default=REPO / "demo" / "fleet.yml", help="fleet file for the emulator")
    parser.add_argument("--speed", type=float, default=120, help="virtual seconds per real second (default 120)")
    parser.add_argument(
        "--max-failures", type=int, default=5, help="instances allowed to fail or be rejected (default 5, the sample's)"
    )
    parser.add_argument(
        "--lifecycle",
        action="store_true",
        help="then drill, recover, fail back and re-protect three servers (make demo-lifecycle)",
    )
    parser.add_argument(
        "--lifecycle-speed",
        type=float,
        default=600,
        help="virtual seconds per real second during the lifecycle (default 600: reverse sync takes AWS minutes)",
    )
    args = parser.parse_args(argv)
    if not LINK.exists():
        LINK.parent.mkdir(parents=True, exist_ok=True)
        LINK.symlink_to(REPO, target_is_directory=True)
    process, endpoint = start_emulator(args.fleet, args.speed)
    print(f"emulator: {endpoint} (fleet {args.fleet.name}, clock x{args.speed:g})", flush=True)
    try:
        with tempfile.TemporaryDirectory() as tmp:
            report = Path(tmp) / "install_result.json"
            rc = install(endpoint, report, args.max_failures)
            if report.exists():
                print_summary(report)
            else:
                print("\nThe playbook stopped before writing its report; see the task output above.")
            if rc == 0:
                rc = dashboard(endpoint)
            if rc == 0 and args.lifecycle:
                rc = lifecycle(endpoint, args.lifecycle_speed)
            if rc == 0:
                print(f"\nDashboard: {REPORT_DIR / 'replication.html'} (JSON and CSV beside it)")
    finally:
        process.terminate()
        try:
            process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            process.kill()
        print("emulator stopped.")
    return rc


if __name__ == "__main__":
    sys.exit(main())
