"""What DRS jobs do on the virtual clock: launches (drill, recovery, failback) and terminations.

Every job is PENDING for ``job_start_seconds``, then STARTED. A launch then spends the
first tenth of ``launch_seconds`` on the point-in-time snapshot, up to half of it on
conversion, and the rest booting the instance; a termination takes
``terminate_seconds``. The job is COMPLETED when its last server is done. Each phase
writes the job log items DRS documents (``JobLogEvent``).
"""

from __future__ import annotations

from datetime import datetime, timedelta

from .common import stable_hex
from .models import GIB, Job, RecoveryInstance, SourceServer

SNAPSHOT_SHARE = 0.1
CONVERSION_SHARE = 0.5

EC2_STATES = {
    "pending": "PENDING",
    "running": "RUNNING",
    "stopping": "STOPPING",
    "stopped": "STOPPED",
    "shutting-down": "SHUTTING-DOWN",
    "terminated": "TERMINATED",
}


def _later(start: datetime, secs: float) -> datetime:
    return start + timedelta(seconds=secs)


class JobRunner:
    """Runs the jobs of one DRS backend (one account and region)."""

    def __init__(self, backend):
        self.backend = backend
        self.world = backend.world

    def _finish_server(self, job: Job, index: int, status: str, at: datetime) -> None:
        job.set_server(index, launchStatus=status)
        self.backend.release(job.servers[index]["sourceServerID"], job.id)
        if all(p["launchStatus"] in ("LAUNCHED", "FAILED", "TERMINATED") for p in job.servers):
            self._complete(job, at)

    def _complete(self, job: Job, at: datetime) -> None:
        if job.status == "COMPLETED":
            return
        job.status = "COMPLETED"
        job.ended = at
        job.add_log(at, "JOB_END")
        self.backend.job_done(job)

    def _start(self, job: Job, at: datetime) -> None:
        job.status = "STARTED"
        job.add_log(at, "JOB_START")
        if not job.servers:
            self._complete(job, at)

    # Drill / recovery ----------------------------------------------------------------
    def launch(self, job: Job, snapshot_ids: list[str | None], is_drill: bool) -> None:
        start = _later(job.created, self.backend.timing("job_start_seconds"))
        self.world.schedule(start, lambda at: self._launch_start(job, snapshot_ids, is_drill, at))

    def _launch_start(self, job: Job, snapshot_ids: list[str | None], is_drill: bool, at: datetime) -> None:
        self._start(job, at)
        duration = self.backend.timing("launch_seconds")
        for index, snapshot_id in enumerate(snapshot_ids):
            server = self.backend.servers[job.servers[index]["sourceServerID"]]
            job.set_server(index, launchStatus="IN_PROGRESS")
            self._set_last_launch(server, job, "IN_PROGRESS")
            pit, on_demand = self._point_in_time(job, server, snapshot_id, at)
            if pit is None:
                self._launch_failed(job, index, server, at)
                continue
            self.world.schedule(
                _later(at, duration * SNAPSHOT_SHARE), lambda t, s=server, o=on_demand: self._converting(job, s, o, t)
            )
            self.world.schedule(
                _later(at, duration * CONVERSION_SHARE),
                lambda t, i=index, s=server, p=pit: self._boot(job, i, s, p, is_drill, t),
            )

    def _point_in_time(
        self, job: Job, server: SourceServer, snapshot_id: str | None, at: datetime
    ) -> tuple[datetime | None, bool]:
        """(point in time the instance launches from or None, whether an on-demand snapshot is taken).

        Without a recoverySnapshotID DRS takes an on-demand snapshot of a continuously
        replicating server, falls back to the latest existing snapshot otherwise, and fails
        the server when there is none. Each choice is logged as DRS logs it.
        """
        rep = server.replication
        if snapshot_id:
            match = [t for t, snap in server.snapshots(at) if snap["snapshotID"] == snapshot_id]
            if match:
                job.add_log(at, "USING_PREVIOUS_SNAPSHOT", sourceServerID=server.id)
                return match[0], False
            job.add_log(
                at,
                "USING_PREVIOUS_SNAPSHOT_FAILED",
                sourceServerID=server.id,
                rawError=f"Recovery snapshot {snapshot_id} does not exist for source server {server.id}",
            )
            return None, False
        job.add_log(at, "SNAPSHOT_START", sourceServerID=server.id)
        if rep.state == "CONTINUOUS":
            return at, True
        taken = rep.snapshot_times(at)
        if taken:
            job.add_log(at, "USING_PREVIOUS_SNAPSHOT", sourceServerID=server.id)
            return taken[-1], False
        job.add_log(
            at,
            "SNAPSHOT_FAIL",
            sourceServerID=server.id,
            rawError=(
                f"Source server {server.id} is not ready for recovery: data replication state is "
                f"{rep.state} and no point-in-time snapshot exists"
            ),
        )
        return None, False

    def _converting(self, job: Job, server: SourceServer, on_demand: bool, at: datetime) -> None:
        if on_demand:
            job.add_log(at, "SNAPSHOT_END", sourceServerID=server.id)
        job.add_log(
            at, "CONVERSION_START", sourceServerID=server.id, conversionServerID=self._conversion_server(job, server)
        )

    @staticmethod
    def _conversion_server(job: Job, server: SourceServer) -> str:
        return "i-" + stable_hex("conversion", job.id, server.id)

    def _boot(self, job: Job, index: int, server: SourceServer, pit: datetime, is_drill: bool, at: datetime) -> None:
        job.add_log(
            at, "CONVERSION_END", sourceServerID=server.id, conversionServerID=self._conversion_server(job, server)
        )
        ec2 = self.backend.peer("ec2")
        record = ec2.add_instance(self._instance_spec(server, job))
        instance = RecoveryInstance(self.backend, record["instance_id"], server, job.id, is_drill, pit)
        self.backend.add_recovery_instance(instance)
        job.set_server(index, recoveryInstanceID=instance.id)
        job.add_log(at, "LAUNCH_START", sourceServerID=server.id, targetInstanceID=instance.id)
        remaining = self.backend.timing("launch_seconds") * (1 - CONVERSION_SHARE)
        self.world.schedule(_later(at, remaining), lambda t: self._launched(job, index, server, instance, t))

    @staticmethod
    def _instance_spec(server: SourceServer, job: Job) -> dict:
        """The EC2 instance DRS launches from the source server's launch settings."""
        os_name = server.machine["os"]["fullString"]
        windows = "windows" in os_name.lower()
        return {
            "instance_id": None,
            "name": server.machine["identificationHints"]["hostname"],
            "hostname": server.hostname,
            "private_ip": None,
            "instance_type": server.instance_type or "t3.medium",
            "state": "pending",
            "tags": {
                "Name": server.machine["identificationHints"]["hostname"],
                "AWSElasticDisasterRecoverySourceServerID": server.id,
                "AWSElasticDisasterRecoveryJobID": job.id,
            },
            "platform": "Windows" if windows else "Linux",
            "platform_name": os_name,
            "platform_version": "",
            "ssm": "unmanaged",
            "disks": [{"device": device, "size_gib": size / GIB} for device, size in server.disks],
            "install": "success",
            "replication": None,
            "disk_rate_factor": 1.0,
            "cpus": server.machine["cpus"][0]["cores"],
            "ram_gib": server.machine["ramBytes"] / GIB,
        }

    def _set_ec2_state(self, instance_id: str, state: str) -> None:
        """Change the EC2 instance's state, unless it has vanished from EC2 meanwhile."""
        ec2 = self.backend.peer("ec2")
        if ec2.get_instance(instance_id) is not None:
            ec2.set_instance_state(instance_id, state)

    def _launched(self, job: Job, index: int, server: SourceServer, instance: RecoveryInstance, at: datetime) -> None:
        self._set_ec2_state(instance.id, "running")
        instance.launched = at
        server.recovery_instance_id = instance.id
        server.last_launch_result = "SUCCEEDED"
        self._set_last_launch(server, job, "LAUNCHED")
        self._finish_server(job, index, "LAUNCHED", at)

    def _launch_failed(self, job: Job, index: int, server: SourceServer, at: datetime) -> None:
        server.last_launch_result = "FAILED"
        self._set_last_launch(server, job, "FAILED")
        self._finish_server(job, index, "FAILED", at)

    @staticmethod
    def _set_last_launch(server: SourceServer, job: Job, status: str) -> None:
        if server.last_launch and server.last_launch["job"] == job.id:
            server.last_launch = {**server.last_launch, "status": status}

    # Termination -------------------------------------------------------------------------
    def terminate(self, job: Job) -> None:
        start = _later(job.created, self.backend.timing("job_start_seconds"))
        self.world.schedule(start, lambda at: self._terminate_start(job, at))

    def _terminate_start(self, job: Job, at: datetime) -> None:
        self._start(job, at)
        for index, entry in enumerate(job.servers):
            job.set_server(index, launchStatus="IN_PROGRESS")
            job.add_log(
                at,
                "CLEANUP_START",
                sourceServerID=entry["sourceServerID"],
                targetInstanceID=entry["recoveryInstanceID"],
            )
        end = _later(at, self.backend.timing("terminate_seconds"))
        self.world.schedule(end, lambda t: self._terminated(job, t))

    def _terminated(self, job: Job, at: datetime) -> None:
        for index, entry in enumerate(job.servers):
            instance_id = entry["recoveryInstanceID"]
            self._set_ec2_state(instance_id, "terminated")
            self.backend.remove_recovery_instance(instance_id, at)
            job.add_log(at, "CLEANUP_END", sourceServerID=entry["sourceServerID"], targetInstanceID=instance_id)
            self._finish_server(job, index, "TERMINATED", at)

    # Failback launch (on-premises origin) ------------------------------------------------
    def failback(self, job: Job) -> None:
        start = _later(job.created, self.backend.timing("job_start_seconds"))
        self.world.schedule(start, lambda at: self._failback_start(job, at))

    def _failback_start(self, job: Job, at: datetime) -> None:
        self._start(job, at)
        duration = self.backend.timing("launch_seconds")
        for index, entry in enumerate(job.servers):
            job.set_server(index, launchStatus="IN_PROGRESS")
            job.add_log(at, "CONVERSION_START", sourceServerID=entry["sourceServerID"])
            self.world.schedule(
                _later(at, duration * CONVERSION_SHARE), lambda t, e=entry: self._failback_boot(job, e, t)
            )
            self.world.schedule(_later(at, duration), lambda t, i=index: self._failback_done(job, i, t))

    def _failback_boot(self, job: Job, entry: dict, at: datetime) -> None:
        job.add_log(at, "CONVERSION_END", sourceServerID=entry["sourceServerID"])
        job.add_log(at, "LAUNCH_START", sourceServerID=entry["sourceServerID"])

    def _failback_done(self, job: Job, index: int, at: datetime) -> None:
        entry = job.servers[index]
        instance = self.backend.recovery_instances.get(entry["recoveryInstanceID"])
        if instance is None or instance.failback_state != "FAILBACK_READY_FOR_LAUNCH":
            job.add_log(
                at,
                "LAUNCH_FAILED",
                sourceServerID=entry["sourceServerID"],
                rawError=f"Recovery instance {entry['recoveryInstanceID']} is no longer ready for failback",
            )
            self._finish_server(job, index, "FAILED", at)
            return
        instance.failback_state = "FAILBACK_COMPLETED"
        self._finish_server(job, index, "LAUNCHED", at)


def ec2_state(record: dict | None) -> str:
    """EC2InstanceState of a recovery instance from the EC2 record (NOT_FOUND once it is gone)."""
    if record is None:
        return "NOT_FOUND"
    return EC2_STATES.get(str(record.get("state", "")).lower(), "NOT_FOUND")
