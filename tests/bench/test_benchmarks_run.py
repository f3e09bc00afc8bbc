"""The benchmarks under bench/ still run: a small fleet, no injected latency.

They are not part of ``make test`` at full size (the baselines alone take minutes),
and a benchmark nobody runs breaks silently when the emulator learns more of AWS (the
naive agent install stopped working when GetCommandInvocation started to require
PluginName for a multi-step document). This runs each of them quickly and checks
that both approaches did the same work and the figures they print add up. The
targets (ratios, the 2 s and 50 ms limits) are sized for the full fleets: they are
checked by running the benchmarks as bench/README.md says, and quoted from those runs;
here a time limit is asserted only where the small run meets it many times over (the
100-server summary and the 60-server dashboard take a tenth of their 2 s).
"""

from __future__ import annotations

import re
import subprocess
import sys

from tests.module_harness import REPO


def run_bench(script, *args):
    done = subprocess.run(
        [sys.executable, str(REPO / "bench" / script), *args],
        capture_output=True,
        text=True,
        cwd=REPO,
        timeout=300,
    )
    assert "Traceback" not in done.stderr + done.stdout, done.stderr[-3000:] + done.stdout[-3000:]
    return done


def test_agent_install_benchmark_installs_every_instance_both_ways():
    done = run_bench("bench_agent_install.py", "--instances", "60", "--latency-ms", "0")
    assert "[ok] core SendCommand calls = 2 (target exactly 2)" in done.stdout
    assert "[ok] every instance installed by both (60 / 60)" in done.stdout
    assert "outcome: 60 installed, 60 registered as source servers" in done.stdout


def test_emulator_pages_benchmark_walks_every_page():
    done = run_bench("bench_emulator_pages.py", "--servers", "200")
    assert done.returncode == 0, done.stdout
    assert "DescribeSourceServers over 200 servers" in done.stdout


def test_api_summary_benchmark_answers_from_one_sweep_and_counts_every_server():
    servers, latency = 100, 0.002
    done = run_bench("bench_api_summary.py", "--servers", str(servers), "--latency-ms", "2", "--repeat", "2")
    assert done.returncode == 0, done.stdout
    out = done.stdout
    api = re.search(r"^\s+api\s+(\d+)\s+([\d.]+)\s+\(median of 2: ([\d.]+), ([\d.]+); cpu ([\d.]+) s\)$", out, re.M)
    naive = re.search(r"^\s+naive\s+(\d+)\s+([\d.]+)$", out, re.M)
    assert api, out
    assert naive, out
    api_calls, api_seconds = int(api[1]), float(api[2])
    naive_calls, naive_seconds = int(naive[1]), float(naive[2])
    # One DescribeSourceServers page holds them all; the naive way asks once per server.
    assert (api_calls, naive_calls) == (1, servers), out
    assert f"ratio: {servers}x fewer calls" in out
    # Each replayed call waited the injected latency; the median lies between the two runs.
    runs = sorted((float(api[3]), float(api[4])))
    assert latency <= runs[0] <= api_seconds <= runs[1] < 2.0, out
    assert naive_seconds >= naive_calls * latency, out
    assert naive_seconds > api_seconds, out
    summary = re.search(
        r"^summary: total (\d+), ready (\d+), syncing (\d+), needs attention (\d+), body (\d+) bytes$", out, re.M
    )
    assert summary, out
    total, ready, syncing, attention, body = map(int, summary.groups())
    assert total == ready + syncing + attention == servers, out
    assert ready > syncing + attention, out  # the fleet's state mix is 85 % CONTINUOUS
    assert body > 100, out
    assert f"PASS: {api_seconds:.3f} s against the 2 s dashboard target" in out


def test_replication_info_benchmark_sweeps_once_and_renders_the_dashboard_through_ansible():
    servers = 60
    done = run_bench("bench_replication_info.py", "--sizes", str(servers), "--latency-ms", "0", "--render-runs", "1")
    out = done.stdout
    row = re.search(rf"^\s+{servers}\s+(\d+)\s+[\d.]+\s+(\d+)\s+[\d.]+\s+(\d+)\s+[\d.]+$", out, re.M)
    assert row, out
    # One page holds them all; the brief's way asks once per server.
    assert (int(row[1]), int(row[2]), int(row[3])) == (1, servers, servers), out
    assert f"[ok] calls at {servers} <= ceil(N/page)+1 = 2" in out
    rendered = re.search(
        r"^dashboard of (\d+) servers through ansible-playbook, run 1: report task ([\d.]+) s", out, re.M
    )
    assert rendered, out + done.stderr[-3000:]
    assert int(rendered[1]) == servers
    assert "[ok] dashboard rendering < 2 s (median of 1 runs)" in out
