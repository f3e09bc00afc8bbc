"""Recovery instance records for the dashboard's tests (unit and browser).

DescribeRecoveryInstances items in the shapes DRS returns, turned into records by the
real ``normalize_recovery_instance``; the 18 failback initiation steps come from the
botocore model.
"""

from __future__ import annotations

import botocore.session
from replication_samples import ACCOUNT, NOW, source_server

from ansible_collections.drs.orchestration.plugins.module_utils.recovery_instances import normalize_recovery_instance
from ansible_collections.drs.orchestration.plugins.module_utils.replication import normalize_source_server

RECOVERY = "us-west-2"
ORIGIN = "us-east-1"
GIB = 2**30
FAILBACK_STEPS = list(
    botocore.session.get_session()
    .get_service_model("drs")
    .shape_for("RecoveryInstanceDataReplicationInitiationStepName")
    .enum
)


def recovery_item(n, origin="AWS", drill=False, failback_state="FAILBACK_NOT_STARTED", replication=None):
    """One DescribeRecoveryInstances item of source server ``n`` (recovery instance ``i-...n``)."""
    item = {
        "recoveryInstanceID": f"i-{n:017x}",
        "ec2InstanceID": f"i-{n:017x}",
        "ec2InstanceState": "RUNNING",
        "arn": f"arn:aws:drs:{RECOVERY}:{ACCOUNT}:recovery-instance/i-{n:017x}",
        "sourceServerID": f"s-{n:017x}",
        "isDrill": drill,
        "originEnvironment": origin,
        "failback": {"state": failback_state, "failbackToOriginalServer": True},
        "tags": {},
    }
    if replication is not None:
        item["dataReplicationInfo"] = replication
    return item


def failback_replication(state, done, total_bytes, replicated_bytes):
    """An on-premises failback replication: ``done`` of the 18 steps succeeded, the next one in progress."""
    statuses = ["SUCCEEDED"] * done + ["IN_PROGRESS"] + ["NOT_STARTED"] * (len(FAILBACK_STEPS) - done - 1)
    return {
        "dataReplicationState": state,
        "replicatedDisks": [
            {"deviceName": "/dev/sda", "totalStorageBytes": total_bytes, "replicatedStorageBytes": replicated_bytes}
        ],
        "dataReplicationInitiation": {
            "steps": [{"name": n, "status": s} for n, s in zip(FAILBACK_STEPS, statuses, strict=True)]
        },
    }


def aws_ready_record(n=1, hostname="web-01"):
    """An origin-AWS recovery instance whose reversed-direction source server in the origin Region is CONTINUOUS."""
    reversed_raw = source_server(90 + n, "CONTINUOUS", region=ORIGIN, hostname=hostname, direction="FAILBACK")
    reversed_raw["sourceProperties"]["identificationHints"]["awsInstanceID"] = f"i-{n:017x}"
    source_raw = source_server(n, "STOPPED", region=RECOVERY, hostname=hostname)
    source_raw["sourceCloudProperties"]["originRegion"] = ORIGIN
    source_raw["reversedDirectionSourceServerArn"] = reversed_raw["arn"]
    return normalize_recovery_instance(
        recovery_item(n),
        RECOVERY,
        NOW,
        source_servers={source_raw["sourceServerID"]: source_raw},
        reversed_servers={reversed_raw["sourceServerID"]: normalize_source_server(reversed_raw, ORIGIN, NOW)},
    )


def on_premises_record(n=2, hostname="db-01", **options):
    source_raw = source_server(n, "CONTINUOUS", region=RECOVERY, hostname=hostname, ec2=False)
    return normalize_recovery_instance(
        recovery_item(n, origin="ON_PREMISES", **options),
        RECOVERY,
        NOW,
        source_servers={source_raw["sourceServerID"]: source_raw},
    )


def initiating_record():
    return on_premises_record(
        failback_state="FAILBACK_IN_PROGRESS", replication=failback_replication("INITIATING", 4, 100 * GIB, 25 * GIB)
    )


def drill_record():
    source_raw = source_server(3, "CONTINUOUS", region=RECOVERY, hostname="web-03")
    return normalize_recovery_instance(
        recovery_item(3, drill=True), RECOVERY, NOW, source_servers={source_raw["sourceServerID"]: source_raw}
    )
