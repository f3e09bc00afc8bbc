"""Fleets and emulator helpers shared by the failback and recovery instance tests.

Source servers replicate to ``RECOVERY``; the AWS-origin ones came from ``ORIGIN``. The
fleets run on ``FAST`` timings so a recovery, a reverse replication or a failback takes
virtual minutes. ``recover`` launches a recovery (or drill) of every source server
(``recover_again`` too, returning only the new instances, as in a second disaster) and
``launch`` one of chosen hostnames;
``mutating`` reads back, from the emulator's call log, the DRS calls that change
something, so a test asserts exactly what was sent.
"""

from __future__ import annotations

RECOVERY = "us-west-2"
ORIGIN = "us-east-1"
FAST = {
    "initiation_step_seconds": 5,
    "snapshot_seconds": 10,
    "job_start_seconds": 5,
    "launch_seconds": 30,
    "terminate_seconds": 10,
    "failback_client_step_seconds": 5,
    "replication_bytes_per_second": 1024**3,
}
MUTATING = (
    "ReverseReplication",
    "StartReplication",
    "StartRecovery",
    "StartFailbackLaunch",
    "StopFailback",
    "StopReplication",
    "TerminateRecoveryInstances",
)


def aws_fleet(count=1):
    """``count`` CONTINUOUS source servers (web-01, ...) in RECOVERY that came from EC2 in ORIGIN."""
    servers = [
        {
            "region": RECOVERY,
            "origin": "AWS",
            "origin_region": ORIGIN,
            "hostname": f"web-{n:02d}",
            "state": "CONTINUOUS",
        }
        for n in range(1, count + 1)
    ]
    return {"region": ORIGIN, "timing": FAST, "source_servers": servers}


def on_prem_fleet(count=1):
    """``count`` CONTINUOUS on-premises source servers (db-01, ...) in RECOVERY."""
    servers = [{"region": RECOVERY, "hostname": f"db-{n:02d}", "state": "CONTINUOUS"} for n in range(1, count + 1)]
    return {"region": RECOVERY, "timing": FAST, "source_servers": servers}


def recover(emu, drill=False):
    """Launch a recovery (or drill) of every source server of the recovery Region; their recovery instance IDs."""
    drs = emu.client("drs", region=RECOVERY)
    servers = [s["sourceServerID"] for s in drs.describe_source_servers(filters={})["items"]]
    drs.start_recovery(sourceServers=[{"sourceServerID": s} for s in servers], isDrill=drill)
    emu.advance(600)
    items = drs.describe_recovery_instances(filters={"sourceServerIDs": servers})["items"]
    return sorted(i["recoveryInstanceID"] for i in items if i["isDrill"] == drill)


def recover_again(emu, drill=False):
    """Another recovery (or drill) of every source server, as in a second disaster: the instances it launched."""
    drs = emu.client("drs", region=RECOVERY)
    before = {i["recoveryInstanceID"] for i in drs.describe_recovery_instances(filters={})["items"]}
    return [i for i in recover(emu, drill) if i not in before]


def mutating(emu, since=0):
    """(operation, region, params) of every mutating DRS call sent after call ``since``, in order."""
    return [
        (c["operation"], c["region"], c.get("params"))
        for c in emu.calls("drs")
        if c["seq"] > since and c["operation"] in MUTATING
    ]


def deny_once(emu, operation):
    """The next call of ``operation`` (``"drs:DescribeRecoveryInstances"``) is refused: 403 AccessDeniedException."""
    emu.admin.faults(
        fail_next={operation: {"count": 1, "mode": "before", "status": 403, "code": "AccessDeniedException"}}
    )


def last_seq(emu):
    """The sequence number of the last call the emulator logged (0 before any): a mark for :func:`mutating`."""
    calls = emu.calls()
    return calls[-1]["seq"] if calls else 0


def launch(emu, hostnames, drill):
    """Recovery (or drill) instances of these hostnames in the recovery Region: {hostname: recovery instance ID}."""
    drs = emu.client("drs", region=RECOVERY)
    servers = {
        s["sourceProperties"]["identificationHints"]["hostname"]: s["sourceServerID"]
        for s in drs.describe_source_servers(filters={})["items"]
    }
    drs.start_recovery(sourceServers=[{"sourceServerID": servers[h]} for h in hostnames], isDrill=drill)
    emu.advance(600)
    items = drs.describe_recovery_instances(filters={})["items"]
    return {
        h: next(i["recoveryInstanceID"] for i in items if i["sourceServerID"] == servers[h] and i["isDrill"] == drill)
        for h in hostnames
    }
