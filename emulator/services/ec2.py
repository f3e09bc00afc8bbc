"""EC2: the instances of the fleet, DescribeInstances, and the instance records other services share.

One record per instance holds everything the emulator knows about it: the EC2 view
(state, type, tags, disks ...) and the fleet's behaviour knobs other services read
(``ssm`` ping status, ``install`` outcome, ``replication`` faults). SSM, DRS and the
admin API all change the same record, so "the instance vanished" or "its agent went
offline" is seen by every service at once.

Behaviour follows the EC2 API reference (DescribeInstances) and the botocore ``ec2``
model; see emulator/README.md for the sources and the assumptions made.
"""

from __future__ import annotations

import base64
import copy
import hashlib
import json
import re
from datetime import datetime

from ..errors import AwsError
from ..fleet import INSTANCE_DEFAULTS
from ..world import Backend

# EC2 instance state codes (EC2 API reference, InstanceState).
STATE_CODES = {
    "pending": 0,
    "running": 16,
    "shutting-down": 32,
    "terminated": 48,
    "stopping": 64,
    "stopped": 80,
}

# MaxResults bounds of DescribeInstances (EC2 API reference: "You cannot specify this
# parameter and the instance IDs parameter in the same request ... Valid range: 5-1000").
MAX_RESULTS_RANGE = (5, 1000)
# EC2 error codes (API reference): FilterLimitExceeded, too many filter values in one request.
FILTER_VALUES_MAX = 200

# States in which an instance's SSM agent does not ping (SSM reports ConnectionLost, or no
# longer lists the instance); ``ssm_changed_at`` records when pinging last started or stopped.
_AGENT_DOWN_STATES = ("stopping", "stopped", "shutting-down", "terminated")
_INSTANCE_ID = re.compile(r"^i-([0-9a-f]{8}|[0-9a-f]{17})$")
_PLATFORM_DETAILS = {"Windows": ("Windows", "RunInstances:0002"), "Linux": ("Linux/UNIX", "RunInstances")}
_MACOS_DETAILS = ("Linux/UNIX", "RunInstances")
_STATE_REASONS = {
    "stopped": ("Client.UserInitiatedShutdown", "Client.UserInitiatedShutdown: User initiated shutdown"),
    "stopping": ("Client.UserInitiatedShutdown", "Client.UserInitiatedShutdown: User initiated shutdown"),
    "shutting-down": ("Client.UserInitiatedShutdown", "Client.UserInitiatedShutdown: User initiated shutdown"),
    "terminated": ("Client.UserInitiatedShutdown", "Client.UserInitiatedShutdown: User initiated shutdown"),
}


def _digest(*parts: str, length: int = 17) -> str:
    """Stable hex derived from ``parts`` (ids that must not consume the world's random stream)."""
    return hashlib.sha256(":".join(parts).encode()).hexdigest()[:length]


def availability_zone(region: str, instance_id: str) -> str:
    """The Availability Zone of an instance (a, b or c), derived from its id as every record's is."""
    return f"{region}{'abc'[int(_digest(instance_id, length=6), 16) % 3]}"


def _wildcard(pattern: str) -> re.Pattern:
    """EC2 filter values accept ``*`` (any run) and ``?`` (one character); nothing else is special."""
    return re.compile("".join(".*" if c == "*" else "." if c == "?" else re.escape(c) for c in pattern), re.DOTALL)


class Ec2Backend(Backend):
    """EC2 instances of one account and region."""

    service = "ec2"

    def __init__(self, world, account_id: str, region: str):
        super().__init__(world, account_id, region)
        self._instances: dict[str, dict] = {}

    @classmethod
    def load_fleet(cls, world, fleet) -> None:
        backend = world.backend(cls.service, fleet.account_id, fleet.region)
        for spec in fleet.instances:
            backend.add_instance(spec)

    # Interface for other services ------------------------------------------------
    def add_instance(self, spec: dict) -> dict:
        """Create an instance from ``spec`` (keys of fleet INSTANCE_DEFAULTS); returns the stored record.

        ``instance_id`` is generated when absent; name, hostname and private IP are
        derived when absent. DRS calls this to launch recovery instances.
        """
        unknown = set(spec) - set(INSTANCE_DEFAULTS)
        if unknown:
            raise ValueError(
                f"instance spec has unknown keys {sorted(unknown)}; known keys: {sorted(INSTANCE_DEFAULTS)}"
            )
        record = copy.deepcopy(INSTANCE_DEFAULTS)
        record.update(copy.deepcopy(spec))
        if record["state"] not in STATE_CODES:
            raise ValueError(f"instance state {record['state']!r} is not one of {sorted(STATE_CODES)}")
        instance_id = record["instance_id"] or self.world.hex_id("i-")
        if not _INSTANCE_ID.match(instance_id):
            raise ValueError(f"instance_id {instance_id!r} is not an EC2 instance id (i- and 8 or 17 hex digits)")
        if instance_id in self._instances:
            raise ValueError(f"instance {instance_id} already exists in {self.account_id}/{self.region}")
        record["instance_id"] = instance_id
        self._complete(record)
        self._instances[instance_id] = record
        if record["state"] == "terminated":
            self._schedule_vanish(instance_id)
        return record

    def get_instance(self, instance_id: str) -> dict | None:
        """The record of a visible instance (terminated ones stay visible for about an hour)."""
        return self._instances.get(instance_id)

    def instances(self) -> list[dict]:
        """Every visible instance record, in creation order."""
        return list(self._instances.values())

    def set_instance_state(self, instance_id: str, state: str) -> None:
        """Move an instance to ``state`` (an EC2 instance-state-name); terminated ones vanish later."""
        record = self._instances.get(instance_id)
        if record is None:
            raise ValueError(f"instance {instance_id} does not exist in {self.account_id}/{self.region}")
        if state not in STATE_CODES:
            raise ValueError(f"instance state {state!r} is not one of {sorted(STATE_CODES)}")
        previous = record["state"]
        record["state"] = state
        record["state_changed_at"] = self.now()
        if record["ssm"] == "Online" and (previous in _AGENT_DOWN_STATES) != (state in _AGENT_DOWN_STATES):
            record["ssm_changed_at"] = self.now()  # the agent stops (or resumes) pinging now
        if state == "terminated" and previous != "terminated":
            self._schedule_vanish(instance_id)
        if state != previous:  # the software on it (DRS's replication agent) stops or runs again
            self.world.instance_state_changed(self.account_id, self.region, instance_id, state)

    def _schedule_vanish(self, instance_id: str) -> None:
        record = self._instances[instance_id]

        def vanish(_at: datetime) -> None:
            if self._instances.get(instance_id) is record and record["state"] == "terminated":
                del self._instances[instance_id]

        # "Terminated instances remain visible after termination (for approximately one hour)"
        # -- Amazon EC2 User Guide; fleet timing ``terminated_visible_seconds`` (3600).
        self.world.schedule(self.world.fleet.timing["terminated_visible_seconds"], vanish)

    def _complete(self, record: dict) -> None:
        """Fill the EC2-side facts a fleet entry does not carry, deterministically from the id."""
        iid = record["instance_id"]
        n = int(_digest(iid, length=6), 16)
        if not record["private_ip"]:
            record["private_ip"] = f"10.{(n >> 16) & 255}.{(n >> 8) & 255}.{max(4, n & 255)}"
        if not record["name"]:
            record["name"] = iid
        dns_suffix = "ec2.internal" if self.region == "us-east-1" else f"{self.region}.compute.internal"
        private_dns = f"ip-{record['private_ip'].replace('.', '-')}.{dns_suffix}"
        if not record["hostname"]:
            record["hostname"] = private_dns
        record["tags"] = {"Name": record["name"], **{str(k): str(v) for k, v in (record["tags"] or {}).items()}}
        record.update(
            private_dns_name=private_dns,
            availability_zone=availability_zone(self.region, iid),
            launch_time=self.now().replace(microsecond=0),
            state_changed_at=self.now(),
            ssm_changed_at=self.now(),
            image_id="ami-" + _digest("ami", record["platform"], record["platform_name"]),
            reservation_id="r-" + _digest("r", iid),
            subnet_id="subnet-" + _digest("subnet", self.account_id, self.region, str(n % 3)),
            vpc_id="vpc-" + _digest("vpc", self.account_id, self.region),
            security_group_id="sg-" + _digest("sg", self.account_id, self.region),
        )

    # DescribeInstances ---------------------------------------------------------
    def describe_instances(self, params: dict) -> dict:
        if params.get("DryRun"):
            raise AwsError("DryRunOperation", "Request would have succeeded, but DryRun flag is set.", 412)
        ids = params.get("InstanceIds") or []
        max_results = params.get("MaxResults")
        if ids and max_results is not None:
            raise AwsError(
                "InvalidParameterCombination", "The parameter instancesSet cannot be used with the parameter maxResults"
            )
        if max_results is not None:
            self._check_max_results(max_results)
        values = sum(len(flt.get("Values") or ()) for flt in params.get("Filters") or [])
        if values > FILTER_VALUES_MAX:
            raise AwsError(
                "FilterLimitExceeded",
                f"The maximum number of filter values specified on a single call is {FILTER_VALUES_MAX}",
            )
        matches = self._by_ids(ids) if ids else self.instances()
        for flt in params.get("Filters") or []:
            matches = self._filter(matches, flt)
        start = self._offset(params.get("NextToken"))
        end = start + max_results if max_results is not None else len(matches)
        page = matches[start:end]
        out: dict = {"Reservations": [self._reservation(r) for r in page]}
        if end < len(matches):
            out["NextToken"] = base64.urlsafe_b64encode(json.dumps({"offset": end}).encode()).decode()
        return out

    @staticmethod
    def _check_max_results(value: int) -> None:
        low, high = MAX_RESULTS_RANGE
        if value < low:
            raise AwsError(
                "InvalidParameterValue",
                f"Value ( {value} ) for parameter maxResults is invalid. Expecting a value greater than {low - 1}.",
            )
        if value > high:
            raise AwsError(
                "InvalidParameterValue",
                f"Value ( {value} ) for parameter maxResults is invalid. Expecting a value less than {high + 1}.",
            )

    @staticmethod
    def _offset(token: str | None) -> int:
        if not token:
            return 0
        try:
            offset = json.loads(base64.urlsafe_b64decode(token.encode()))["offset"]
        except (ValueError, KeyError, TypeError) as exc:
            raise AwsError(
                "InvalidPaginationToken", "The specified pagination token is not valid or is expired."
            ) from exc
        if not isinstance(offset, int) or offset < 0:
            raise AwsError("InvalidPaginationToken", "The specified pagination token is not valid or is expired.")
        return offset

    def _by_ids(self, ids: list[str]) -> list[dict]:
        malformed = [i for i in ids if not _INSTANCE_ID.match(i)]
        if malformed:
            raise AwsError("InvalidInstanceID.Malformed", f'Invalid id: "{malformed[0]}"')
        missing = [i for i in ids if i not in self._instances]
        if len(missing) == 1:
            raise AwsError("InvalidInstanceID.NotFound", f"The instance ID '{missing[0]}' does not exist")
        if missing:
            raise AwsError("InvalidInstanceID.NotFound", f"The instance IDs '{', '.join(missing)}' do not exist")
        return [self._instances[i] for i in dict.fromkeys(ids)]

    def _filter(self, records: list[dict], flt: dict) -> list[dict]:
        name = flt.get("Name") or ""
        patterns = [_wildcard(v) for v in flt.get("Values") or []]
        field = self._filter_field(name)
        return [r for r in records if any(p.fullmatch(v) for v in field(r) for p in patterns)]

    @staticmethod
    def _filter_field(name: str):
        """The values of a record that filter ``name`` compares; unknown names are EC2's InvalidParameterValue."""
        if name.startswith("tag:"):
            key = name[4:]
            return lambda r: [r["tags"][key]] if key in r["tags"] else []
        fields = {
            "instance-id": lambda r: [r["instance_id"]],
            "instance-state-name": lambda r: [r["state"]],
            "instance-state-code": lambda r: [str(STATE_CODES[r["state"]])],
            "instance-type": lambda r: [r["instance_type"]],
            "tag-key": lambda r: list(r["tags"]),
            "tag-value": lambda r: list(r["tags"].values()),
            "private-ip-address": lambda r: [r["private_ip"]],
            "private-dns-name": lambda r: [r["private_dns_name"]],
            "availability-zone": lambda r: [r["availability_zone"]],
            "platform": lambda r: ["windows"] if r["platform"] == "Windows" else [],
            "vpc-id": lambda r: [r["vpc_id"]],
            "subnet-id": lambda r: [r["subnet_id"]],
            "image-id": lambda r: [r["image_id"]],
            "reservation-id": lambda r: [r["reservation_id"]],
        }
        if name not in fields:
            raise AwsError("InvalidParameterValue", f"The filter '{name}' is invalid")
        return fields[name]

    # Rendering -------------------------------------------------------------------
    def _reservation(self, record: dict) -> dict:
        return {
            "ReservationId": record["reservation_id"],
            "OwnerId": self.account_id,
            "Groups": [],
            "Instances": [self._instance(record)],
        }

    def _instance(self, r: dict) -> dict:
        state = r["state"]
        windows = r["platform"] == "Windows"
        details, usage = _PLATFORM_DETAILS.get(r["platform"], _MACOS_DETAILS)
        running = state in ("pending", "running", "stopping", "shutting-down")
        out = {
            "AmiLaunchIndex": 0,
            "ImageId": r["image_id"],
            "InstanceId": r["instance_id"],
            "InstanceType": r["instance_type"],
            "LaunchTime": r["launch_time"],
            "Monitoring": {"State": "disabled"},
            "Placement": {"AvailabilityZone": r["availability_zone"], "GroupName": "", "Tenancy": "default"},
            "PrivateDnsName": r["private_dns_name"] if state != "terminated" else "",
            "ProductCodes": [],
            "PublicDnsName": "",
            "State": {"Code": STATE_CODES[state], "Name": state},
            "StateTransitionReason": self._transition_reason(r),
            "Architecture": "x86_64",
            "BlockDeviceMappings": self._block_devices(r) if state != "terminated" else [],
            "ClientToken": "",
            "EbsOptimized": False,
            "EnaSupport": True,
            "Hypervisor": "xen",
            "NetworkInterfaces": [],
            "RootDeviceName": self._device_names(r)[0],
            "RootDeviceType": "ebs",
            "SecurityGroups": []
            if state == "terminated"
            else [{"GroupId": r["security_group_id"], "GroupName": "default"}],
            "Tags": [{"Key": k, "Value": v} for k, v in r["tags"].items()],
            "VirtualizationType": "hvm",
            "CpuOptions": {"CoreCount": max(1, int(r["cpus"]) // 2), "ThreadsPerCore": 2 if int(r["cpus"]) > 1 else 1},
            "CapacityReservationSpecification": {"CapacityReservationPreference": "open"},
            "HibernationOptions": {"Configured": False},
            "MetadataOptions": {
                "State": "applied",
                "HttpTokens": "required",
                "HttpPutResponseHopLimit": 2,
                "HttpEndpoint": "enabled",
                "HttpProtocolIpv6": "disabled",
                "InstanceMetadataTags": "disabled",
            },
            "EnclaveOptions": {"Enabled": False},
            "BootMode": "uefi-preferred",
            "PlatformDetails": details,
            "UsageOperation": usage,
            "UsageOperationUpdateTime": r["launch_time"],
            "PrivateDnsNameOptions": {
                "HostnameType": "ip-name",
                "EnableResourceNameDnsARecord": False,
                "EnableResourceNameDnsAAAARecord": False,
            },
            "MaintenanceOptions": {"AutoRecovery": "default"},
            "CurrentInstanceBootMode": "legacy-bios",
        }
        if state != "terminated":
            out.update(
                SubnetId=r["subnet_id"], VpcId=r["vpc_id"], PrivateIpAddress=r["private_ip"], SourceDestCheck=True
            )
        if running or state == "stopped":
            out["IamInstanceProfile"] = {
                "Arn": f"arn:aws:iam::{self.account_id}:instance-profile/AmazonSSMRoleForInstancesQuickSetup",
                "Id": "AIPA" + _digest("profile", self.account_id, length=17).upper(),
            }
        if windows:
            out["Platform"] = "Windows"
        if state in _STATE_REASONS:
            code, message = _STATE_REASONS[state]
            out["StateReason"] = {"Code": code, "Message": message}
        return out

    @staticmethod
    def _transition_reason(r: dict) -> str:
        if r["state"] in ("pending", "running"):
            return ""
        when = r["state_changed_at"].strftime("%Y-%m-%d %H:%M:%S GMT")
        return f"User initiated ({when})"

    @staticmethod
    def _device_names(r: dict) -> list[str]:
        """EC2 device names for the fleet disks (fleet names like ``C:`` are the guest's view)."""
        root = "/dev/sda1" if r["platform"] == "Windows" else "/dev/xvda"
        names = []
        for i, disk in enumerate(r["disks"] or [{}]):
            device = str(disk.get("device") or "")
            if device.startswith("/dev/"):
                names.append(device)
            else:
                names.append(root if i == 0 else f"/dev/xvd{'bcdefghijklmnopqrstuvwxyz'[(i - 1) % 25]}")
        return names

    def _block_devices(self, r: dict) -> list[dict]:
        return [
            {
                "DeviceName": name,
                "Ebs": {
                    "AttachTime": r["launch_time"],
                    "DeleteOnTermination": i == 0,
                    "Status": "attached",
                    "VolumeId": "vol-" + _digest("vol", r["instance_id"], str(i)),
                },
            }
            for i, name in enumerate(self._device_names(r))
        ]

    # Admin -----------------------------------------------------------------------
    def admin_add_instance(self, body: dict) -> dict:
        """POST /_emulator/ec2/add-instance {spec keys}: create an instance now."""
        record = self.add_instance(body)
        return {"instance_id": record["instance_id"]}

    def admin_set_instance_state(self, body: dict) -> dict:
        """POST /_emulator/ec2/set-instance-state {instance_id, state}."""
        self.set_instance_state(_required(body, "instance_id"), _required(body, "state"))
        return {"instance_id": body["instance_id"], "state": body["state"]}

    def admin_remove_instance(self, body: dict) -> dict:
        """POST /_emulator/ec2/remove-instance {instance_id}: the instance vanishes at once (EC2 and SSM)."""
        instance_id = _required(body, "instance_id")
        if self._instances.pop(instance_id, None) is None:
            raise ValueError(f"instance {instance_id} does not exist in {self.account_id}/{self.region}")
        self.world.instance_state_changed(self.account_id, self.region, instance_id, "terminated")  # machine gone
        return {"instance_id": instance_id, "removed": True}


def _required(body: dict, key: str) -> str:
    value = body.get(key)
    if not isinstance(value, str) or not value:
        raise ValueError(f"'{key}' is required (a non-empty string)")
    return value


Backend_ = Ec2Backend
