"""DescribeSourceServers items shaped like the botocore model (drs 2020-02-26), for unit tests.

`source_server(...)` builds one item the way DRS returns it (camelCase members, ISO
strings for times, ISO 8601 durations); `stubbed_clients(...)` gives the core a
``Clients`` whose DRS readers are botocore clients under a Stubber, so tests assert the
exact requests sent.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from email.utils import format_datetime

import boto3
from botocore.config import Config
from botocore.stub import Stubber

from ansible_collections.drs.orchestration.plugins.module_utils.aws import Clients

NOW = datetime(2025, 12, 15, 14, 0, 0, tzinfo=UTC)
ACCOUNT = "123456789012"
STEP_NAMES = [
    "WAIT",
    "CREATE_SECURITY_GROUP",
    "LAUNCH_REPLICATION_SERVER",
    "BOOT_REPLICATION_SERVER",
    "AUTHENTICATE_WITH_SERVICE",
    "DOWNLOAD_REPLICATION_SOFTWARE",
    "CREATE_STAGING_DISKS",
    "ATTACH_STAGING_DISKS",
    "PAIR_REPLICATION_SERVER_WITH_AGENT",
    "CONNECT_AGENT_TO_REPLICATION_SERVER",
    "START_DATA_TRANSFER",
]


def iso(at: datetime) -> str:
    return at.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def server_id(n: int) -> str:
    return f"s-{n:017x}"


def instance_id(n: int) -> str:
    return f"i-{n:017x}"


def steps(done: int, status_of_next: str | None = "IN_PROGRESS") -> list[dict]:
    """The 11 steps: ``done`` SUCCEEDED, then one ``status_of_next``, the rest NOT_STARTED."""
    out = []
    for i, name in enumerate(STEP_NAMES):
        if i < done:
            status = "SUCCEEDED"
        elif i == done and status_of_next:
            status = status_of_next
        else:
            status = "NOT_STARTED"
        out.append({"name": name, "status": status})
    return out


def source_server(
    n: int = 1,
    state: str = "CONTINUOUS",
    region: str = "us-east-1",
    hostname: str | None = None,
    ec2: bool = True,
    disks: list[tuple[str, int, int]] | None = None,
    lag: str | None = "PT0S",
    eta: datetime | None = None,
    initiation_steps: list[dict] | None = None,
    error: tuple[str, str] | None = None,
    last_seen: datetime | None = None,
    tags: dict | None = None,
    direction: str = "FAILOVER",
) -> dict:
    """One DescribeSourceServers item. ``disks`` are ``(device, total, replicated)``."""
    sid = server_id(n)
    hostname = hostname or f"app-{n:04d}"
    disks = disks if disks is not None else [("/dev/xvda", 8 * 2**30, 8 * 2**30)]
    info = {
        "dataReplicationState": state,
        "replicatedDisks": [
            {
                "deviceName": device,
                "totalStorageBytes": total,
                "replicatedStorageBytes": replicated,
                "rescannedStorageBytes": 0,
                "backloggedStorageBytes": 0,
            }
            for device, total, replicated in disks
        ],
        "dataReplicationInitiation": {
            "startDateTime": iso(NOW - timedelta(hours=2)),
            "steps": initiation_steps if initiation_steps is not None else steps(11),
        },
        "stagingAvailabilityZone": f"{region}a",
    }
    if lag is not None:
        info["lagDuration"] = lag
    if eta is not None:
        info["etaDateTime"] = iso(eta)
    if error:
        info["dataReplicationError"] = {"error": error[0], "rawError": error[1]}
    hints = {"hostname": hostname, "fqdn": f"{hostname}.corp.example.com"}
    item = {
        "sourceServerID": sid,
        "arn": f"arn:aws:drs:{region}:{ACCOUNT}:source-server/{sid}",
        "tags": dict(tags or {}),
        "lastLaunchResult": "NOT_STARTED",
        "dataReplicationInfo": info,
        "lifeCycle": {
            "addedToServiceDateTime": iso(NOW - timedelta(hours=2)),
            "firstByteDateTime": iso(NOW - timedelta(hours=1, minutes=30)),
            "elapsedReplicationDuration": "PT2H",
            "lastSeenByServiceDateTime": iso(last_seen or NOW - timedelta(seconds=30)),
        },
        "sourceProperties": {
            "identificationHints": hints,
            "os": {"fullString": "Amazon Linux 2023"},
            "disks": [{"deviceName": device, "bytes": total} for device, total, _ in disks],
        },
        "stagingArea": {"status": "NOT_EXTENDED"},
        "replicationDirection": direction,
        "agentVersion": "4.5.0",
    }
    if ec2:
        hints["awsInstanceID"] = instance_id(n)
        item["sourceCloudProperties"] = {
            "originAccountID": ACCOUNT,
            "originRegion": "us-east-2",
            "originAvailabilityZone": "us-east-2a",
        }
    return item


def page(items: list[dict], next_token: str | None = None, now: datetime = NOW) -> dict:
    """A DescribeSourceServers response with the service's Date header."""
    response = {"items": items, "ResponseMetadata": {"HTTPHeaders": {"date": format_datetime(now, usegmt=True)}}}
    if next_token:
        response["nextToken"] = next_token
    return response


class StubbedDrs:
    """``Clients`` whose DRS reader per region is a stubbed botocore client."""

    def __init__(self, regions=("us-east-1",)):
        self.clients_by_region = {}
        self.stubbers = {}
        for region in regions:
            client = boto3.client(
                "drs",
                region_name=region,
                aws_access_key_id="AKIDEXAMPLE",
                aws_secret_access_key="secret",
                config=Config(retries={"mode": "standard", "max_attempts": 1}),
            )
            self.clients_by_region[region] = client
            self.stubbers[region] = Stubber(client)
            self.stubbers[region].activate()

        def make(service, region, config):
            assert service == "drs", f"unexpected client for {service}"
            return self.clients_by_region[region]

        self.clients = Clients(make, region=regions[0])

    def expect(self, region, response, filters=None, next_token=None, max_results=1000):
        params = {"filters": filters if filters is not None else {}, "maxResults": max_results}
        if next_token:
            params["nextToken"] = next_token
        self.stubbers[region].add_response("describe_source_servers", response, params)

    def assert_all_called(self):
        for stubber in self.stubbers.values():
            stubber.assert_no_pending_responses()
