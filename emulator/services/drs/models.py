"""DRS resources -- source servers, recovery instances, jobs -- and how each renders.

Rendering is kept cheap for 3,000-server fleets: what only transitions or API calls
change is built (and JSON-encoded) once and cached; only time-dependent members (bytes,
lag, elapsed time, last seen) are computed per read, and listings splice the cached JSON
(``RawJson``). Rendered structures are serialised by the protocol layer after the world
lock is released, so nothing rendered is ever mutated afterwards: mutable members are
copied, cached parts are replaced rather than changed.
"""

from __future__ import annotations

import json
import math
from datetime import datetime, timedelta

from ...clock import iso_duration
from ...protocols import RawJson
from .common import AGENT_VERSION, FAILBACK_STEPS, arn, drs_time, stable_hex
from .replication import Replication

GIB = 1024**3
STAGING_NOT_EXTENDED = {"status": "NOT_EXTENDED"}


def raw_error(code: str) -> str:
    """The human text DRS puts beside an error code."""
    return code.replace("_", " ").capitalize()


def disk_bytes(disks: list[dict]) -> list[tuple[str, int]]:
    """Fleet/EC2 disks [{device, size_gib}] as (device, bytes)."""
    return [(str(d["device"]), int(float(d["size_gib"]) * GIB)) for d in disks]


def mac_address(*seed: object) -> str:
    digits = stable_hex("mac", *seed, length=10)
    return "0a:" + ":".join(digits[i : i + 2] for i in range(0, 10, 2))


def heartbeat(anchor: datetime, until: datetime, beat: float) -> datetime:
    """The last periodic heartbeat at or before ``until`` of an agent alive since ``anchor``."""
    if beat <= 0 or until <= anchor:
        return min(anchor, until)
    return anchor + timedelta(seconds=math.floor((until - anchor).total_seconds() / beat) * beat)


def machine_properties(
    hostname: str,
    aws_instance_id: str | None,
    disks: list[tuple[str, int]],
    cpus: int,
    ram_bytes: int,
    os_name: str,
    private_ip: str | None,
    mac: str,
    updated: datetime,
) -> dict:
    """The members SourceProperties and RecoveryInstanceProperties share."""
    hints = {"hostname": hostname.split(".")[0], "fqdn": hostname}
    if aws_instance_id:
        hints["awsInstanceID"] = aws_instance_id
    return {
        "lastUpdatedDateTime": drs_time(updated),
        "identificationHints": hints,
        "networkInterfaces": [{"macAddress": mac, "ips": [private_ip] if private_ip else [], "isPrimary": True}],
        "cpus": [{"cores": int(cpus), "modelName": "Intel(R) Xeon(R) Platinum 8259CL CPU @ 2.50GHz"}],
        "ramBytes": int(ram_bytes),
        "os": {"fullString": os_name},
    }


class SourceServer:
    """A server replicating into this region (FAILOVER) or back to its origin (FAILBACK)."""

    def __init__(
        self,
        backend,
        server_id: str,
        machine: dict,
        disks: list[tuple[str, int]],
        rate: float,
        added: datetime,
        tags: dict[str, str],
        cloud: dict | None = None,
        direction: str = "FAILOVER",
        instance_type: str | None = None,
    ):
        self.backend = backend
        self.id = server_id
        self.arn = arn(backend.region, backend.account_id, "source-server", server_id)
        self.added = added
        self.tags = dict(tags)
        self.cloud = cloud  # SourceCloudProperties for an origin in AWS, else None
        self.direction = direction
        self.disks = disks
        self.machine = machine
        self.instance_type = instance_type
        self.recovery_instance_id: str | None = None
        self.last_launch: dict | None = None
        self.last_launch_result = "NOT_STARTED"
        self.reversed_arn: str | None = None
        # (account, region, instance id) of the recovery instance a reversed server replicates from
        self.replicating_from: tuple[str, str, str] | None = None
        self.replication = Replication(backend.world, disks, rate)
        self._cache: dict = {}  # rendering caches, see render()
        self._build_static()

    # Identity --------------------------------------------------------------------------
    @property
    def aws_instance_id(self) -> str | None:
        return self.machine["identificationHints"].get("awsInstanceID")

    @property
    def hostname(self) -> str:
        return self.machine["identificationHints"]["fqdn"]

    @property
    def origin_environment(self) -> str:
        return "AWS" if self.cloud else "ON_PREMISES"

    def hardware_ids(self) -> set[str]:
        """What the hardwareId filter matches: EC2 instance id, VMware UUID or a MAC address."""
        hints = self.machine["identificationHints"]
        ids = {hints.get("awsInstanceID"), hints.get("vmWareUuid")}
        ids.update(nic["macAddress"] for nic in self.machine["networkInterfaces"])
        return {i for i in ids if i}

    def replace_source(self, machine: dict, cloud: dict | None) -> None:
        """Replicate from another machine (re-protection after a failback)."""
        self.machine = machine
        self.cloud = cloud
        self.replication.forget_machine()
        self._build_static()

    def _build_static(self) -> None:
        props = dict(self.machine)
        props["disks"] = [{"deviceName": device, "bytes": size} for device, size in self.disks]
        if self.instance_type:
            props["recommendedInstanceType"] = self.instance_type
        props["supportsNitroInstances"] = True
        props["architecture"] = "x86_64"
        self.source_properties = props

    # Rendering ----------------------------------------------------------------------------
    def render(self, now: datetime) -> dict:
        """The SourceServer structure at ``now``."""
        return {
            **self._head()[1],
            "dataReplicationInfo": self._replication_info(now),
            "lifeCycle": self._life_cycle(now),
        }

    def render_json(self, now: datetime) -> RawJson:
        """The same structure as JSON text spliced from cached encodings (for large listings)."""
        head = self._head()
        info = self._replication_info(now)
        cycle = self._cycle_fixed()
        elapsed, seen = self._cycle_live(now)
        key = (elapsed, seen)
        cached = self._cache.get("json")
        if cached is not None and cached[0] is head and cached[1] is info and cached[2] is cycle and cached[3] == key:
            return cached[4]
        live = f',"elapsedReplicationDuration":"{elapsed}"'
        if seen is not None:
            live += f',"lastSeenByServiceDateTime":"{seen}"'
        text = f'{head[2]},"dataReplicationInfo":{self._encoded(info)},"lifeCycle":{cycle[2]}{live}}}}}'
        raw = RawJson(text)
        self._cache["json"] = (head, info, cycle, key, raw)
        return raw

    def _head(self) -> tuple:
        """(key, members that only API calls change, their JSON without the closing brace)."""
        key = (
            self.last_launch_result,
            self.recovery_instance_id,
            self.reversed_arn,
            self.direction,
            id(self.cloud),  # cloud and source properties are replaced, never changed in place;
            id(self.source_properties),  # the cached head holds them, so their ids stay theirs
            tuple(self.tags.items()),
        )
        cached = self._cache.get("head")
        if cached is not None and cached[0] == key:
            return cached
        head = {
            "sourceServerID": self.id,
            "arn": self.arn,
            "tags": dict(self.tags),
            "lastLaunchResult": self.last_launch_result,
            "sourceProperties": self.source_properties,
            "stagingArea": STAGING_NOT_EXTENDED,
            "replicationDirection": self.direction,
            "agentVersion": AGENT_VERSION,
        }
        if self.cloud:
            head["sourceCloudProperties"] = self.cloud
        if self.recovery_instance_id:
            head["recoveryInstanceId"] = self.recovery_instance_id
        if self.reversed_arn:
            head["reversedDirectionSourceServerArn"] = self.reversed_arn
        cached = self._cache["head"] = (key, head, json.dumps(head, separators=(",", ":"))[:-1])
        return cached

    def _encoded(self, info: dict) -> str:
        """JSON of the replication info, re-encoded only when it is a new object."""
        cached = self._cache.get("info-json")
        if cached is None or cached[0] is not info:
            cached = self._cache["info-json"] = (info, json.dumps(info, separators=(",", ":")))
        return cached[1]

    def _replication_info(self, now: datetime) -> dict:
        """DataReplicationInfo: what only transitions change is cached; bytes and lag are added per read."""
        rep = self.replication
        cached = self._cache.get("info")
        if cached is None or cached[0] != rep.version:
            info: dict = {
                "dataReplicationState": rep.state,
                "replicatedDisks": self._replicated_disks(now),
                "stagingAvailabilityZone": f"{self.backend.region}a",
            }
            if rep.steps is not None:
                initiation = {
                    "startDateTime": drs_time(rep.initiation_start),
                    "steps": [{"name": n, "status": s} for n, s in zip(rep.step_names, rep.steps, strict=True)],
                }
                if rep.next_attempt is not None and rep.state == "STALLED":
                    initiation["nextAttemptDateTime"] = drs_time(rep.next_attempt)
                info["dataReplicationInitiation"] = initiation
            if rep.error:
                info["dataReplicationError"] = {"error": rep.error, "rawError": raw_error(rep.error)}
            lag = rep.lag_seconds(now)
            if lag is not None:
                info["lagDuration"] = iso_duration(lag)
            if rep.sync_end is not None:
                info["etaDateTime"] = drs_time(rep.sync_end)
            cached = self._cache["info"] = (rep.version, info)
        if not rep.moving:
            return cached[1]
        info = dict(cached[1])
        if rep.progress_at is not None or rep.rescan_start is not None:
            info["replicatedDisks"] = self._replicated_disks(now)
        lag = rep.lag_seconds(now)
        if lag is not None:
            info["lagDuration"] = iso_duration(lag)
        return info

    def _replicated_disks(self, now: datetime) -> list[dict]:
        rep = self.replication
        done = rep.replicated_bytes(now)
        disks = []
        for (device, total), replicated, rescanned in zip(self.disks, done, rep.rescanned_bytes(now), strict=True):
            disks.append(
                {
                    "deviceName": device,
                    "totalStorageBytes": 0 if rep.zeroed else total,
                    "replicatedStorageBytes": int(replicated),
                    "rescannedStorageBytes": rescanned,
                    "backloggedStorageBytes": total // 50 if rep.state == "BACKLOG" else 0,
                    "volumeStatus": "REGULAR",
                }
            )
        return disks

    def _life_cycle(self, now: datetime) -> dict:
        """LifeCycle at ``now``."""
        elapsed, seen = self._cycle_live(now)
        cycle = {**self._cycle_fixed()[1], "elapsedReplicationDuration": elapsed}
        if seen is not None:
            cycle["lastSeenByServiceDateTime"] = seen
        return cycle

    def _cycle_fixed(self) -> tuple:
        """(key, LifeCycle members only transitions and launches change, their JSON without the closing brace)."""
        rep = self.replication
        key = (rep.version, id(self.added), id(self.last_launch))
        cached = self._cache.get("cycle")
        if cached is not None and cached[0] == key:
            return cached
        cycle = {"addedToServiceDateTime": drs_time(self.added)}
        if rep.first_byte is not None:
            cycle["firstByteDateTime"] = drs_time(rep.first_byte)
        if self.last_launch:
            launch = self.last_launch
            initiated = {"apiCallDateTime": drs_time(launch["at"]), "jobID": launch["job"], "type": launch["type"]}
            cycle["lastLaunch"] = {"initiated": initiated, "status": launch["status"]}
        # holding added and last_launch keeps their ids in the key from being reused meanwhile
        cached = self._cache["cycle"] = (
            key,
            cycle,
            json.dumps(cycle, separators=(",", ":"))[:-1],
            self.added,
            self.last_launch,
        )
        return cached

    def _cycle_live(self, now: datetime) -> tuple[str, str | None]:
        """(elapsedReplicationDuration, lastSeenByServiceDateTime) at ``now``; they change by the second."""
        rep = self.replication
        elapsed = int(rep.elapsed_seconds(self.added, now))
        seen = rep.last_seen(now)
        cached = self._cache.get("live")
        if cached is None or cached[0] != elapsed or cached[1] != seen:
            cached = self._cache["live"] = (elapsed, seen, iso_duration(elapsed), drs_time(seen))
        return cached[2], cached[3]

    def snapshots(self, now: datetime) -> list[tuple[datetime, dict]]:
        """Recovery snapshots as (time, RecoverySnapshot), oldest first, from the continuous periods."""
        return [(t, self.snapshot_at(t)) for t in self.replication.snapshot_times(now)]

    def snapshot_at(self, when: datetime) -> dict:
        stamp = int(when.timestamp())
        return {
            "snapshotID": "pit-" + stable_hex(self.id, stamp),
            "sourceServerID": self.id,
            "expectedTimestamp": drs_time(when),
            "timestamp": drs_time(when),
            "ebsSnapshots": ["snap-" + stable_hex(self.id, stamp, i) for i in range(len(self.disks))],
        }


class RecoveryInstance:
    """An EC2 instance DRS launched for a source server (drill, recovery or failback)."""

    def __init__(self, backend, instance_id: str, server: SourceServer, job_id: str, is_drill: bool, pit: datetime):
        now = backend.now()
        self.backend = backend
        self.id = instance_id
        self.arn = arn(backend.region, backend.account_id, "recovery-instance", instance_id)
        self.source_server_id = server.id
        self.job_id = job_id
        self.is_drill = is_drill
        self.pit = pit
        self.launched = now
        self.origin_environment = server.origin_environment
        self.origin_az = server.cloud["originAvailabilityZone"] if server.cloud else None
        self.tags: dict[str, str] = {}
        self.disks = server.disks
        self.hostname = server.hostname
        self.properties = machine_properties(
            server.hostname,
            instance_id,
            server.disks,
            server.machine["cpus"][0]["cores"],
            server.machine["ramBytes"],
            server.machine["os"]["fullString"],
            None,
            mac_address(instance_id),
            now,
        )
        # EbsVolumeID: the model's max length (19) admits only the 8-digit form of its pattern
        self.properties["disks"] = [
            {"internalDeviceName": dev, "bytes": size, "ebsVolumeID": "vol-" + stable_hex(instance_id, dev, length=8)}
            for dev, size in server.disks
        ]
        self.failback_state = "FAILBACK_NOT_STARTED"
        self.failback: dict = {}
        self.replication = Replication(
            backend.world,
            server.disks,
            backend.timing("replication_bytes_per_second"),
            steps=FAILBACK_STEPS,
            step_timing_key="failback_client_step_seconds",
            snapshot_phase=False,
            on_change=self._failback_progress,
        )
        self.reversed_target: str | None = None  # ARN of the source server replicating from this instance

    def _failback_progress(self, state: str, at: datetime) -> None:
        """The failback state follows the failback replication (on-premises origin only)."""
        if state == "NOT_STARTED":
            self.failback_state = "FAILBACK_NOT_STARTED"
        elif state == "CONTINUOUS":
            self.failback_state = "FAILBACK_READY_FOR_LAUNCH"
        elif state in ("STALLED", "DISCONNECTED"):
            self.failback_state = "FAILBACK_ERROR"
        else:
            self.failback_state = "FAILBACK_IN_PROGRESS"

    def render(self, now: datetime, ec2_state: str) -> dict:
        item = {
            "ec2InstanceID": self.id,
            "ec2InstanceState": ec2_state,
            "jobID": self.job_id,
            "recoveryInstanceID": self.id,
            "sourceServerID": self.source_server_id,
            "arn": self.arn,
            "tags": dict(self.tags),
            "failback": self._failback(now, ec2_state),
            "dataReplicationInfo": self._replication_info(now),
            "recoveryInstanceProperties": self.properties,
            "pointInTimeSnapshotDateTime": drs_time(self.pit),
            "isDrill": self.is_drill,
            "originEnvironment": self.origin_environment,
            "agentVersion": AGENT_VERSION,
        }
        if self.origin_az:
            item["originAvailabilityZone"] = self.origin_az
        return item

    def _failback(self, now: datetime, ec2_state: str) -> dict:
        rep = self.replication
        failback = {"state": self.failback_state, **self.failback}
        if ec2_state == "RUNNING":
            beat = self.backend.timing("agent_heartbeat_seconds")
            failback["agentLastSeenByServiceDateTime"] = drs_time(heartbeat(self.launched, now, beat))
        seen = rep.last_seen(now)
        if seen is not None and "failbackClientID" in self.failback:
            failback["failbackClientLastSeenByServiceDateTime"] = drs_time(seen)
        if rep.first_byte is not None:
            failback["firstByteDateTime"] = drs_time(rep.first_byte)
            # The model types this "duration" as an ISO 8601 date-time (ERRATA row 12's sibling):
            # the emulator renders the instant the failback replication started.
            failback["elapsedReplicationDuration"] = drs_time(rep.initiation_start)
        return failback

    def _replication_info(self, now: datetime) -> dict:
        rep = self.replication
        done = rep.replicated_bytes(now)
        info: dict = {
            "dataReplicationState": rep.state,
            "replicatedDisks": [
                {
                    "deviceName": device,
                    "totalStorageBytes": 0 if rep.zeroed else total,
                    "replicatedStorageBytes": int(replicated),
                    "rescannedStorageBytes": 0,
                    "backloggedStorageBytes": 0,
                }
                for (device, total), replicated in zip(self.disks, done, strict=True)
            ],
        }
        if rep.steps is not None:
            info["dataReplicationInitiation"] = {
                "startDateTime": drs_time(rep.initiation_start),
                "steps": [{"name": n, "status": s} for n, s in zip(rep.step_names, rep.steps, strict=True)],
            }
        if rep.error:
            info["dataReplicationError"] = {"error": rep.error, "rawError": raw_error(rep.error)}
        lag = rep.lag_seconds(now)
        if lag is not None:
            # The model types a recovery instance's lagDuration as a date-time string (ERRATA
            # row 12): the emulator renders the point in time the replicated data is current to.
            info["lagDuration"] = drs_time(now - timedelta(seconds=lag))
        if rep.sync_end is not None:
            info["etaDateTime"] = drs_time(rep.sync_end)
        return info


class Job:
    """A DRS job: LAUNCH (drill, recovery, failback) or TERMINATE."""

    def __init__(self, backend, job_id: str, seq: int, job_type: str, initiated_by: str, tags: dict[str, str]):
        self.id = job_id
        self.seq = seq
        self.arn = arn(backend.region, backend.account_id, "job", job_id)
        self.type = job_type
        self.initiated_by = initiated_by
        self.created = backend.now()
        self.ended: datetime | None = None
        self.status = "PENDING"
        self.tags = dict(tags)
        self.servers: list[dict] = []  # ParticipatingServer dicts (replaced, never mutated, once rendered)
        self.log: list[dict] = []

    def add_log(self, at: datetime, event: str, **data) -> None:
        item = {"logDateTime": drs_time(at), "event": event}
        if data:
            item["eventData"] = data
        self.log.append(item)

    def set_server(self, index: int, **changes) -> None:
        self.servers[index] = {**self.servers[index], **changes}

    def render(self) -> dict:
        item = {
            "jobID": self.id,
            "arn": self.arn,
            "type": self.type,
            "initiatedBy": self.initiated_by,
            "creationDateTime": drs_time(self.created),
            "status": self.status,
            "participatingServers": list(self.servers),
            "tags": dict(self.tags),
        }
        if self.ended is not None:
            item["endDateTime"] = drs_time(self.ended)
        return item
