"""The benchmarks under bench/ still run: a small fleet, no injected latency.

They are not part of ``make test`` at full size (the baselines alone take minutes),
and a benchmark nobody runs breaks silently when the emulator learns more of AWS (the
naive agent install stopped working when GetCommandInvocation started to require
PluginName for a multi-step document). This runs the two that depend most on the
emulator's behaviour quickly and checks that both approaches did the same work and the
figures were printed (bench_api_summary and bench_replication_info cost more CPU than
make test's five minutes allow). The targets (ratios, the 2 s and 50 ms limits) are
sized for the full fleets: they are checked by running the benchmarks as
bench/README.md says, and quoted from those runs.
"""

from __future__ import annotations

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
