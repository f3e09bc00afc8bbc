"""Benchmark: installing the agent on 1,000 instances, this collection's core vs the naive loop.

One emulator, 1,000 SSM-managed instances, 20 ms injected latency on every call, the
install simulated (``--install-seconds`` of virtual time per instance). Measured in the
same run, on the same fleet (the emulator is reset in between):

* core  -- ``agent_install.install_agents`` with its defaults (precheck, skip protected,
           batches of 50, wait for every command, then for every source server);
* naive -- what public tools do: one SendCommand per instance, then every poll round one
           GetCommandInvocation per instance still running (no precheck, no registration).

Both poll every ``--poll-interval`` virtual seconds; sleeping advances the emulator's
clock instead of waiting, so wall time is the cost of the API calls themselves. API
calls come from the emulator's call log.

Targets: exactly ceil(1000 / 50) = 20 SendCommand calls for the core, at least 50x
fewer API calls and at least 10x less wall time than the naive loop.

Run: ``.venv/bin/python bench/bench_agent_install.py [--instances 1000] [--latency-ms 20]``
"""

from __future__ import annotations

import argparse
import math
import sys
import time
from collections import Counter
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path[:0] = [str(REPO), str(REPO / "build" / "collections")]

from botocore.exceptions import ClientError  # noqa: E402

from ansible_collections.drs.orchestration.plugins.module_utils.agent_install import (  # noqa: E402
    DEFAULT_DOCUMENT,
    InstallRequest,
    install_agents,
)
from ansible_collections.drs.orchestration.plugins.module_utils.aws import Clients  # noqa: E402
from emulator.testing import Emulator, shared_session  # noqa: E402

TARGET_REGION = "us-west-2"
TERMINAL = {"Success", "Cancelled", "TimedOut", "Failed"}


class VirtualTime:
    """The clock both approaches wait on: sleeping advances the emulator, not the wall clock."""

    def __init__(self, emu: Emulator):
        self.emu = emu
        self.now = 0.0

    def clock(self) -> float:
        return self.now

    def sleep(self, seconds: float) -> None:
        self.now += seconds
        self.emu.advance(seconds)


def fleet(args) -> dict:
    return {
        "region": "us-east-1",
        "timing": {
            "ssm_delivery_seconds": 5,
            "install_seconds": args.install_seconds,
            "registration_seconds": 20,
        },
        "faults": {"latency_ms": args.latency_ms},
        "generate": {"count": args.instances, "tags": {"dr:enabled": "true"}},
    }


def run_core(emu: Emulator, args) -> dict:
    clients = Clients.from_session(shared_session(), region="us-east-1", endpoint_url=emu.endpoint)
    request = InstallRequest.from_options(
        instance_filters={"tag:dr:enabled": "true"},
        target_region=TARGET_REGION,
        poll_interval=args.poll_interval,
        wait_timeout=24 * 3600,
    )
    # Build the clients before the clock starts, as the naive loop does (botocore loads its models).
    clients.reader("ssm"), clients.writer("ssm"), clients.reader("ec2"), clients.reader("drs", TARGET_REGION)
    vt = VirtualTime(emu)
    started = time.perf_counter()
    result = install_agents(clients, request, clock=vt.clock, sleep=vt.sleep)
    return {
        "wall": time.perf_counter() - started,
        "virtual": vt.now,
        "installed": result["summary"]["installed"],
        "registered": sum(1 for i in result["instances"] if i["source_server_id"]),
    }


def run_naive(emu: Emulator, args) -> dict:
    ssm = emu.client("ssm")
    ec2 = emu.client("ec2")
    vt = VirtualTime(emu)
    started = time.perf_counter()
    # The install document has one step per platform, and SSM refuses GetCommandInvocation
    # without PluginName for a document with several steps: a working naive tool names the
    # step of each instance's platform (EC2 reports Platform "windows" only for Windows).
    steps = {
        i["InstanceId"]: "InstallWindowsAgent" if i.get("Platform") == "windows" else "InstallLinuxAgent"
        for page in ec2.get_paginator("describe_instances").paginate(
            Filters=[{"Name": "tag:dr:enabled", "Values": ["true"]}]
        )
        for r in page["Reservations"]
        for i in r["Instances"]
    }
    ids = list(steps)
    running = {}
    for instance_id in ids:
        command = ssm.send_command(
            InstanceIds=[instance_id], DocumentName=DEFAULT_DOCUMENT, Parameters={"Region": [TARGET_REGION]}
        )["Command"]
        running[instance_id] = command["CommandId"]
    succeeded = 0
    while running:
        vt.sleep(args.poll_interval)
        for instance_id, command_id in list(running.items()):
            try:
                invocation = ssm.get_command_invocation(
                    CommandId=command_id, InstanceId=instance_id, PluginName=steps[instance_id]
                )
            except ClientError as exc:
                if exc.response["Error"]["Code"] == "InvocationDoesNotExist":
                    continue  # not visible yet: poll again next round
                raise
            if invocation["Status"] in TERMINAL:
                succeeded += invocation["Status"] == "Success"
                del running[instance_id]
    return {"wall": time.perf_counter() - started, "virtual": vt.now, "installed": succeeded, "registered": None}


def calls(emu: Emulator) -> Counter:
    return Counter({key: n for key, n in emu.world.call_counts.items() if n})


def table(name: str, counts: Counter, figures: dict) -> None:
    print(f"\n{name}")
    for key, n in sorted(counts.items(), key=lambda kv: (-kv[1], kv[0])):
        print(f"  {key:<40} {n:>7}")
    print(f"  {'total API calls':<40} {sum(counts.values()):>7}")
    print(f"  {'wall time':<40} {figures['wall']:>6.1f}s")
    print(f"  {'virtual time until done':<40} {figures['virtual']:>6.0f}s")
    registered = "" if figures["registered"] is None else f", {figures['registered']} registered as source servers"
    print(f"  outcome: {figures['installed']} installed{registered}")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--instances", type=int, default=1000)
    parser.add_argument("--latency-ms", type=float, default=20, help="injected latency per API call (default 20)")
    parser.add_argument(
        "--install-seconds", type=float, default=120, help="simulated install duration, virtual (default 120)"
    )
    parser.add_argument("--poll-interval", type=float, default=30, help="virtual seconds between polls (default 30)")
    args = parser.parse_args(argv)

    print(
        f"{args.instances} instances, {args.latency_ms:g} ms latency per call, install {args.install_seconds:g} s "
        f"(virtual), poll every {args.poll_interval:g} s (virtual)"
    )
    with Emulator(fleet(args)) as emu:
        core = run_core(emu, args)
        core_calls = calls(emu)
        emu.admin.reset(fleet(args))
        naive = run_naive(emu, args)
        naive_calls = calls(emu)

    table("core (drs_agent_install)", core_calls, core)
    table("naive (one SendCommand per instance, GetCommandInvocation per instance per round)", naive_calls, naive)

    sends = core_calls["ssm:SendCommand"]
    expected = math.ceil(args.instances / 50)
    call_ratio = sum(naive_calls.values()) / sum(core_calls.values())
    wall_ratio = naive["wall"] / core["wall"]
    checks = [
        (f"core SendCommand calls = {sends} (target exactly {expected})", sends == expected),
        (f"API calls: naive / core = {call_ratio:.1f}x (target >= 50x)", call_ratio >= 50),
        (f"wall time: naive / core = {wall_ratio:.1f}x (target >= 10x)", wall_ratio >= 10),
        (
            f"every instance installed by both ({core['installed']} / {naive['installed']})",
            core["installed"] == naive["installed"] == args.instances,
        ),
    ]
    print()
    for text, ok in checks:
        print(f"  [{'ok' if ok else 'MISSED'}] {text}")
    return 0 if all(ok for _, ok in checks) else 1


if __name__ == "__main__":
    sys.exit(main())
