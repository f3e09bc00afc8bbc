"""The fleet file: what exists when the emulator starts, how long things take, what breaks.

YAML (or JSON) with these top-level keys, all optional::

    account_id: "123456789012"       # default account
    accounts: {AKIAOTHER: "210987654321"}   # access key id -> account (cross-account tests)
    region: us-east-1                # region of the EC2 instances below
    drs_uninitialized_regions: []    # DRS answers UninitializedAccountException there
    timing: {...}                    # virtual seconds, see TIMING_DEFAULTS
    faults: {...}                    # call-level faults, see emulator/faults.py
    documents: [...]                 # extra SSM documents, see emulator/services/ssm.py
    instances: [...]                 # EC2 instances (SSM managed or not), see INSTANCE_DEFAULTS
    source_servers: [...]            # DRS source servers that already exist (e.g. on-premises)
    generate: {...}                  # add N generated instances / source servers, see generate()

Unknown keys are rejected with the path of the offending key, so a typo never silently
changes a test.
"""

from __future__ import annotations

import copy
import json
import random
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

from . import DEFAULT_ACCOUNT_ID, DEFAULT_REGION

# Virtual durations. Defaults are in the range the DRS and SSM guides describe for a
# small Linux server (agent install: minutes; initiation: ~10-20 minutes; sync at
# network speed); tests override them to keep scenarios short.
TIMING_DEFAULTS: dict[str, float] = {
    "ssm_delivery_seconds": 5,  # Pending -> InProgress
    "ssm_target_resolution_seconds": 2,  # SendCommand by tag -> its invocations are listed
    "terminated_visible_seconds": 3600,  # EC2: a terminated instance stays listed this long
    "install_seconds": 240,  # InProgress -> Success/Failed
    "registration_seconds": 20,  # install Success -> source server visible in DRS
    "initiation_step_seconds": 30,  # each of the 11 initiation steps
    "replication_bytes_per_second": 50 * 1024 * 1024,  # initial sync rate per disk
    "snapshot_seconds": 60,  # CREATING_SNAPSHOT -> CONTINUOUS
    "continuous_lag_seconds": 0,  # lag reported while CONTINUOUS
    "agent_heartbeat_seconds": 60,  # lastSeenByServiceDateTime cadence
    "job_start_seconds": 10,  # job PENDING -> STARTED
    "launch_seconds": 300,  # STARTED -> COMPLETED (recovery instance launched)
    "terminate_seconds": 60,  # TerminateRecoveryInstances job
    "failback_client_step_seconds": 15,  # each of the 18 failback initiation steps
    "snapshot_interval_seconds": 600,  # recovery snapshots while CONTINUOUS
    "snapshot_retention_seconds": 7 * 86400,  # DRS: recovery snapshots older than this are gone
    "initiation_retry_seconds": 600,  # DRS: failed initiation step -> next automatic attempt
    "agent_not_seen_seconds": 300,  # DRS: source machine stopped -> DISCONNECTED (AGENT_NOT_SEEN)
}

INSTANCE_DEFAULTS: dict[str, Any] = {
    "instance_id": None,  # generated when absent
    "name": None,  # Name tag; also the hostname stem
    "hostname": None,
    "private_ip": None,
    "instance_type": "t3.medium",
    "state": "running",  # EC2 instance-state-name
    "tags": {},
    "platform": "Linux",  # SSM PlatformType: Linux | Windows | MacOS
    "platform_name": "Amazon Linux",
    "platform_version": "2023",
    "ssm": "Online",  # SSM PingStatus: Online | ConnectionLost | Inactive; "unmanaged" = not in SSM
    "disks": [{"device": "/dev/xvda", "size_gib": 8}],
    "install": "success",  # success | fail | hang | timeout | access_denied
    "replication": None,  # {fault: STALLED|DISCONNECTED|FAILED_STEP, error, at, after_seconds}: docs/emulator-drs.md
    "disk_rate_factor": 1.0,  # < 1 = slow disks
    "cpus": 2,
    "ram_gib": 4,
}

# Allowed values of the instance fields other services branch on (EC2 instance-state-name,
# SSM PlatformType / PingStatus, the Run Command outcome); a typo fails the fleet load.
INSTANCE_CHOICES: dict[str, tuple[str, ...]] = {
    "state": ("pending", "running", "shutting-down", "terminated", "stopping", "stopped"),
    "platform": ("Linux", "Windows", "MacOS"),
    "ssm": ("Online", "ConnectionLost", "Inactive", "unmanaged"),
    "install": ("success", "fail", "hang", "timeout", "access_denied"),
}


def _check_choices(index: int, inst: dict) -> None:
    for key, allowed in INSTANCE_CHOICES.items():
        if inst[key] not in allowed:
            raise FleetError(f"instances[{index}].{key} is {inst[key]!r}; allowed: {', '.join(allowed)}")


SOURCE_SERVER_DEFAULTS: dict[str, Any] = {
    "region": None,  # default: the fleet region
    "hostname": None,
    "origin": "ON_PREMISES",  # ON_PREMISES | AWS
    "instance_id": None,  # the EC2 instance for origin AWS
    "origin_region": None,  # for origin AWS
    "state": "CONTINUOUS",  # the replication state it starts in
    "tags": {},
    "os": "Linux",
    "disks": [{"device": "/dev/sda", "size_gib": 20}],
    "replication": None,  # a replication fault, as for instances
    "disk_rate_factor": 1.0,
    "cpus": 2,  # DRS: sourceProperties.cpus / ramBytes
    "ram_gib": 4,
}

GENERATE_DEFAULTS: dict[str, Any] = {
    "count": 0,  # EC2 instances to generate
    "name_prefix": "app",
    "tags": {"dr:enabled": "true"},
    "ssm_offline": 0,  # how many of them have their SSM agent offline
    "install_fail": 0,  # how many fail the install
    "windows": 0,  # how many are Windows
    "source_servers": 0,  # pre-existing source servers (no EC2) to generate
    "source_server_region": None,
    "source_server_states": {"CONTINUOUS": 1.0},  # state mix by fraction
    "seed": 0,
}

TOP_LEVEL = {
    "account_id",
    "accounts",
    "region",
    "drs_uninitialized_regions",
    "timing",
    "faults",
    "documents",
    "instances",
    "source_servers",
    "generate",
}


class FleetError(ValueError):
    """A fleet file that does not describe a fleet; the message says where and what to fix."""


def _merge_defaults(kind: str, index: int, item: dict, defaults: dict) -> dict:
    if not isinstance(item, dict):
        raise FleetError(f"{kind}[{index}] must be a mapping, got {type(item).__name__}")
    unknown = set(item) - set(defaults)
    if unknown:
        raise FleetError(f"{kind}[{index}] has unknown keys {sorted(unknown)}; known keys: {sorted(defaults)}")
    merged = copy.deepcopy(defaults)
    merged.update(copy.deepcopy(item))
    return merged


@dataclass
class Fleet:
    account_id: str = DEFAULT_ACCOUNT_ID
    accounts: dict[str, str] = field(default_factory=dict)
    region: str = DEFAULT_REGION
    drs_uninitialized_regions: list[str] = field(default_factory=list)
    timing: dict[str, float] = field(default_factory=lambda: dict(TIMING_DEFAULTS))
    faults: dict = field(default_factory=dict)
    documents: list[dict] = field(default_factory=list)
    instances: list[dict] = field(default_factory=list)
    source_servers: list[dict] = field(default_factory=list)

    @classmethod
    def empty(cls) -> Fleet:
        return cls()

    @classmethod
    def from_dict(cls, data: dict | None) -> Fleet:
        data = dict(data or {})
        unknown = set(data) - TOP_LEVEL
        if unknown:
            raise FleetError(f"unknown top-level keys {sorted(unknown)}; known keys: {sorted(TOP_LEVEL)}")
        timing = dict(TIMING_DEFAULTS)
        for key, value in (data.get("timing") or {}).items():
            if key not in TIMING_DEFAULTS:
                raise FleetError(f"timing.{key} is unknown; known: {sorted(TIMING_DEFAULTS)}")
            if not isinstance(value, int | float) or value < 0:
                raise FleetError(f"timing.{key} must be a number >= 0, got {value!r}")
            timing[key] = float(value)
        fleet = cls(
            account_id=str(data.get("account_id") or DEFAULT_ACCOUNT_ID),
            accounts={str(k): str(v) for k, v in (data.get("accounts") or {}).items()},
            region=str(data.get("region") or DEFAULT_REGION),
            drs_uninitialized_regions=list(data.get("drs_uninitialized_regions") or []),
            timing=timing,
            faults=dict(data.get("faults") or {}),
            documents=list(data.get("documents") or []),
            instances=[
                _merge_defaults("instances", i, item, INSTANCE_DEFAULTS)
                for i, item in enumerate(data.get("instances") or [])
            ],
            source_servers=[
                _merge_defaults("source_servers", i, item, SOURCE_SERVER_DEFAULTS)
                for i, item in enumerate(data.get("source_servers") or [])
            ],
        )
        if data.get("generate"):
            gen = _merge_defaults("generate", 0, data["generate"], GENERATE_DEFAULTS)
            fleet.extend(generate(**gen))
        fleet._complete()
        return fleet

    @classmethod
    def load(cls, path: str | Path) -> Fleet:
        text = Path(path).read_text(encoding="utf-8")
        try:
            data = yaml.safe_load(text) if str(path).endswith((".yml", ".yaml")) else json.loads(text)
        except (yaml.YAMLError, json.JSONDecodeError) as exc:
            raise FleetError(f"{path}: not valid YAML/JSON: {exc}") from exc
        return cls.from_dict(data)

    def extend(self, generated: dict) -> None:
        self.instances.extend(
            _merge_defaults("generate.instances", i, item, INSTANCE_DEFAULTS)
            for i, item in enumerate(generated.get("instances", []))
        )
        self.source_servers.extend(
            _merge_defaults("generate.source_servers", i, item, SOURCE_SERVER_DEFAULTS)
            for i, item in enumerate(generated.get("source_servers", []))
        )

    def _complete(self) -> None:
        """Fill generated ids, hostnames and IPs deterministically."""
        rng = random.Random(f"{self.account_id}:{self.region}:{len(self.instances)}")
        seen = set()
        for n, inst in enumerate(self.instances, start=1):
            _check_choices(n - 1, inst)
            if not inst["instance_id"]:
                inst["instance_id"] = "i-" + "".join(rng.choice("0123456789abcdef") for _ in range(17))
            if inst["instance_id"] in seen:
                raise FleetError(f"instances: duplicate instance_id {inst['instance_id']}")
            seen.add(inst["instance_id"])
            if not inst["private_ip"]:
                inst["private_ip"] = f"10.{(n >> 16) & 255}.{(n >> 8) & 255}.{n & 255}"
            if not inst["name"]:
                inst["name"] = f"server-{n:04d}"
            if not inst["hostname"]:
                inst["hostname"] = f"ip-{inst['private_ip'].replace('.', '-')}.ec2.internal"
            inst["tags"] = {"Name": inst["name"], **{str(k): str(v) for k, v in inst["tags"].items()}}
        for n, server in enumerate(self.source_servers, start=1):
            server["region"] = server["region"] or self.region
            server["hostname"] = server["hostname"] or f"onprem-{n:04d}.corp.example.com"

    def to_dict(self) -> dict:
        return {
            "account_id": self.account_id,
            "accounts": self.accounts,
            "region": self.region,
            "drs_uninitialized_regions": self.drs_uninitialized_regions,
            "timing": self.timing,
            "faults": self.faults,
            "documents": self.documents,
            "instances": self.instances,
            "source_servers": self.source_servers,
        }


def generate(
    count: int = 0,
    name_prefix: str = "app",
    tags: dict | None = None,
    ssm_offline: int = 0,
    install_fail: int = 0,
    windows: int = 0,
    source_servers: int = 0,
    source_server_region: str | None = None,
    source_server_states: dict | None = None,
    seed: int = 0,
) -> dict:
    """Deterministic N-instance fleets for benchmarks and scale tests.

    The first ``ssm_offline`` instances have their SSM agent offline, the next
    ``install_fail`` fail the install, the last ``windows`` run Windows.
    """
    rng = random.Random(seed)
    tags = dict(tags if tags is not None else GENERATE_DEFAULTS["tags"])
    instances = []
    for n in range(count):
        inst = {
            "instance_id": "i-" + "".join(rng.choice("0123456789abcdef") for _ in range(17)),
            "name": f"{name_prefix}-{n + 1:04d}",
            "tags": dict(tags),
            "disks": [{"device": "/dev/xvda", "size_gib": rng.choice([8, 16, 30])}],
        }
        if n < ssm_offline:
            inst["ssm"] = "ConnectionLost"
        elif n < ssm_offline + install_fail:
            inst["install"] = "fail"
        if n >= count - windows:
            inst.update(platform="Windows", platform_name="Microsoft Windows Server 2022 Datacenter")
            inst["platform_version"] = "10.0.20348"
            inst["disks"] = [{"device": "C:", "size_gib": 50}]
        instances.append(inst)
    states = source_server_states or {"CONTINUOUS": 1.0}
    total = sum(states.values()) or 1.0
    servers = []
    names = list(states)
    weights = [states[s] / total for s in names]
    for n in range(source_servers):
        server = {
            "hostname": f"{name_prefix}-onprem-{n + 1:05d}.corp.example.com",
            "state": rng.choices(names, weights)[0],
            "tags": dict(tags),
            "disks": [{"device": "/dev/sda", "size_gib": rng.choice([20, 50, 100])}],
        }
        if source_server_region:
            server["region"] = source_server_region
        servers.append(server)
    return {"instances": instances, "source_servers": servers}
