"""Benchmark: fleet replication status, this collection's sweep vs one call per server.

For 100, 1,000 and 3,000 source servers (emulator fleet ``source_servers``, 50 ms
injected latency on every call), measured in the same run on the same fleet:

* core   -- ``replication.describe_replication``: one paginated DescribeSourceServers
            sweep (``filters: {}``, 1,000 per page), client creation included; median of
            three runs;
* naive  -- the brief's per-server approach (Phase 2 ``get_replication_status``): one
            ``DescribeSourceServers(filters={'sourceServerIDs': [id]})`` per server,
            IDs handed to it for free.

API calls come from the emulator's call log. Then the dashboard of the 3,000-server
result is rendered through the role's real path: ``ansible-playbook`` runs
``drs_replication_info`` (registered) and ``drs_replication_report`` with ``result_var``,
and the report task's wall time is taken from timestamps around it (median of
``--render-runs``, 3 by default).

Targets at 3,000: core calls <= ceil(3000 / page size) + 1, >= 100x fewer calls and
>= 20x less wall time than naive, dashboard rendering < 2 s.

Run: ``.venv/bin/python bench/bench_replication_info.py [--sizes 100,1000,3000] [--latency-ms 50] [--render-runs 3]``
"""

from __future__ import annotations

import argparse
import json
import math
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path[:0] = [str(REPO), str(REPO / "build" / "collections")]

import boto3  # noqa: E402
from botocore.config import Config  # noqa: E402

from ansible_collections.drs.orchestration.plugins.module_utils import replication  # noqa: E402
from ansible_collections.drs.orchestration.plugins.module_utils.aws import Clients  # noqa: E402
from emulator.testing import ACCESS_KEY, SECRET_KEY, EmulatorAdmin, shared_session  # noqa: E402

REGION = "us-east-1"
STATE_MIX = {"CONTINUOUS": 0.9, "INITIAL_SYNC": 0.06, "STALLED": 0.02, "DISCONNECTED": 0.02}

RENDER_PLAYBOOK = """
- name: Render the replication dashboard the way the role does
  hosts: localhost
  connection: local
  gather_facts: false
  module_defaults:
    group/drs.orchestration.aws:
      region: {region}
      endpoint_url: {endpoint}
      access_key: {access_key}
      secret_key: {secret_key}
  tasks:
    - name: Read replication status
      drs.orchestration.drs_replication_info:
        include_jobs: true
      register: replication_report_status
    - name: Mark the start of rendering
      ansible.builtin.set_fact:
        bench_started: "{{{{ now(utc=true).timestamp() }}}}"
    - name: Write the replication dashboard, JSON and CSV
      drs.orchestration.drs_replication_report:
        result_var: replication_report_status
        dest: {dest}
      register: bench_report
    - name: Print the rendering figures
      ansible.builtin.debug:
        msg: "BENCH {{{{ {{'task_seconds': now(utc=true).timestamp() - (bench_started | float),
                          'render_seconds': bench_report.render_seconds,
                          'servers': bench_report.servers,
                          'html': bench_report.paths.html}} | to_json }}}}"
"""


def fleet(size: int, latency_ms: float) -> dict:
    return {
        "region": REGION,
        "faults": {"latency_ms": latency_ms},
        "generate": {"source_servers": size, "source_server_states": STATE_MIX, "seed": 7},
    }


# The emulator runs in its own process (as AWS runs elsewhere), so its serialisation does
# not compete with the client for this process's GIL. Its HTTP handler writes headers and
# body separately; without TCP_NODELAY every call on a kept-alive connection stalls ~40 ms
# (Nagle + delayed ACK), which would add ~48 ms to each per-server call and flatter the
# comparison, so the launcher turns it on: per call there is the injected latency and the
# real work only.
LAUNCHER = (
    "import sys; from emulator import server; server._Handler.disable_nagle_algorithm = True; "
    "from emulator.__main__ import main; sys.exit(main(sys.argv[1:]))"
)


class EmulatorProcess:
    """``python -m emulator`` on a free loopback port, stopped by its PID."""

    def __init__(self, fleet_spec: dict, workdir: Path):
        path = workdir / "fleet.json"
        path.write_text(json.dumps(fleet_spec))
        self.process = subprocess.Popen(
            [sys.executable, "-c", LAUNCHER, "--fleet", str(path), "--port", "0", "--speed", "0"],
            cwd=REPO,
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            text=True,
        )
        line = self.process.stdout.readline()
        if "listening on " not in line:
            self.stop()
            raise SystemExit(f"the emulator did not start: {line}{self.process.stdout.read()}")
        self.endpoint = line.split("listening on ", 1)[1].split()[0]
        self.admin = EmulatorAdmin(self.endpoint)

    def count(self, operation: str) -> int:
        return self.admin.counts().get(f"drs:{operation}", 0)

    def client(self):
        return boto3.client(
            "drs",
            region_name=REGION,
            endpoint_url=self.endpoint,
            aws_access_key_id=ACCESS_KEY,
            aws_secret_access_key=SECRET_KEY,
            config=Config(retries={"mode": "standard", "max_attempts": 10}, proxies={}),
        )

    def stop(self) -> None:
        self.process.terminate()
        self.process.wait(timeout=30)


def clients_for(emu) -> Clients:
    return Clients.from_session(shared_session(), region=REGION, endpoint_url=emu.endpoint)


def measure(emu, action) -> tuple[object, int, float]:
    emu.admin.reset_calls()
    started = time.perf_counter()
    value = action()
    return value, emu.count("DescribeSourceServers"), time.perf_counter() - started


def naive(emu, ids: list[str]) -> int:
    """The brief's Phase 2 handler, once per server."""
    client = emu.client()
    found = 0
    for source_server_id in ids:
        response = client.describe_source_servers(filters={"sourceServerIDs": [source_server_id]})
        found += len(response.get("items") or ())
    return found


def render_through_ansible(emu) -> dict:
    with tempfile.TemporaryDirectory(prefix="bench-replication-") as tmp:
        playbook = Path(tmp) / "render.yml"
        playbook.write_text(
            RENDER_PLAYBOOK.format(
                region=REGION,
                endpoint=emu.endpoint,
                access_key=ACCESS_KEY,
                secret_key=SECRET_KEY,
                dest=Path(tmp) / "report",
            )
        )
        env = {
            **os.environ,
            "ANSIBLE_COLLECTIONS_PATH": str(REPO / "build" / "collections"),
            "ANSIBLE_PYTHON_INTERPRETER": sys.executable,
            "ANSIBLE_NOCOLOR": "1",
            "NO_PROXY": "127.0.0.1,localhost",
        }
        ansible_playbook = Path(sys.executable).with_name("ansible-playbook")
        done = subprocess.run(
            [str(ansible_playbook), str(playbook), "-i", "localhost,", "-c", "local"],
            capture_output=True,
            text=True,
            env=env,
            check=False,
        )
        for line in done.stdout.splitlines():
            if '"msg": "BENCH ' in line:
                return json.loads(json.loads("{" + line.strip().rstrip(",") + "}")["msg"][len("BENCH ") :])
        raise SystemExit(f"the rendering playbook failed:\n{done.stdout[-3000:]}\n{done.stderr[-3000:]}")


def run(size: int, latency_ms: float, render_runs: int, show) -> dict:
    with tempfile.TemporaryDirectory(prefix="bench-replication-") as tmp:
        emu = EmulatorProcess(fleet(size, latency_ms), Path(tmp))
        try:
            return compare(emu, size, render_runs, show)
        finally:
            emu.stop()


def compare(emu, size: int, render_runs: int, show) -> dict:
    """Core and per-server on the same fleet, then (optionally) the dashboard through Ansible."""
    pages = (
        emu.client().get_paginator("describe_source_servers").paginate(filters={}, PaginationConfig={"PageSize": 1000})
    )
    ids = [s["sourceServerID"] for s in pages.build_full_result()["items"]]
    # The core is CPU-bound (botocore parses every item): the median of three runs evens
    # out noise from other processes; the per-server run is dominated by its latency.
    core_runs = [measure(emu, lambda: replication.describe_replication(clients_for(emu), [REGION])) for _ in range(3)]
    result, core_calls, _ = core_runs[-1]
    core_seconds = statistics.median(run[2] for run in core_runs)
    found, naive_calls, naive_seconds = measure(emu, lambda: naive(emu, ids))
    assert result["summary"]["total"] == size == found, (result["summary"]["total"], size, found)
    row = {
        "servers": size,
        "core_calls": core_calls,
        "core_seconds": core_seconds,
        "naive_calls": naive_calls,
        "naive_seconds": naive_seconds,
        "call_limit": math.ceil(size / replication.PAGE_SIZE) + 1,
    }
    show(row)
    if render_runs:
        emu.admin.faults(latency_ms=0)
        renders = [render_through_ansible(emu) for _ in range(render_runs)]
        row["renders"] = renders
        row["render"] = sorted(renders, key=lambda r: r["task_seconds"])[render_runs // 2]  # the median run
    return row


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--sizes", default="100,1000,3000")
    parser.add_argument("--latency-ms", type=float, default=50.0)
    parser.add_argument(
        "--render-runs", type=int, default=3, help="dashboard renderings of the largest fleet, median taken (default 3)"
    )
    args = parser.parse_args(argv)
    if args.render_runs < 1:
        parser.error("--render-runs must be at least 1")
    sizes = [int(s) for s in args.sizes.split(",")]
    largest = max(sizes)
    print(
        f"drs_replication_info: {args.latency_ms:.0f} ms injected latency per call, page size {replication.PAGE_SIZE}"
    )
    header = ("servers", "core calls", "core s", "naive calls", "naive s", "calls x", "time x")
    widths = (8, 11, 8, 12, 9, 8, 8)
    print(" ".join(f"{name:>{width}}" for name, width in zip(header, widths, strict=True)))

    def show(row):
        print(
            f"{row['servers']:>8} {row['core_calls']:>11} {row['core_seconds']:>8.2f} {row['naive_calls']:>12}"
            f" {row['naive_seconds']:>9.2f} {row['naive_calls'] / row['core_calls']:>8.0f}"
            f" {row['naive_seconds'] / row['core_seconds']:>8.1f}",
            flush=True,
        )

    rows = [run(size, args.latency_ms, args.render_runs if size == largest else 0, show) for size in sizes]
    top = rows[-1]
    render = top["render"]
    for n, rendered in enumerate(top["renders"], start=1):
        print(
            f"dashboard of {rendered['servers']} servers through ansible-playbook, run {n}: report task"
            f" {rendered['task_seconds']:.2f} s (view + HTML + JSON + CSV {rendered['render_seconds']:.2f} s)"
        )
    print(f"load average while measuring: {os.getloadavg()[0]:.1f} on {os.cpu_count()} CPUs")
    checks = {
        f"calls at {top['servers']} <= ceil(N/page)+1 = {top['call_limit']}": top["core_calls"] <= top["call_limit"],
        ">= 100x fewer calls than per-server": top["naive_calls"] >= 100 * top["core_calls"],
        ">= 20x less wall time than per-server": top["naive_seconds"] >= 20 * top["core_seconds"],
        f"dashboard rendering < 2 s (median of {args.render_runs} runs)": render["task_seconds"] < 2.0,
    }
    for name, ok in checks.items():
        print(f"  [{'ok' if ok else 'MISSED'}] {name}")
    return 0 if all(checks.values()) else 1


if __name__ == "__main__":
    sys.exit(main())
