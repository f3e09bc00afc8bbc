"""The DRS backend of one account and region: operations, agent registration, admin actions.

Operations follow the botocore model ``drs/2020-02-26`` and the AWS DRS user guide and
API reference; docs/emulator-drs.md lists each behaviour with its source and the
assumptions made where AWS documents nothing.
"""

from __future__ import annotations

from datetime import datetime

from ...errors import AwsError, ValidationError
from ...world import Backend
from ..ec2 import availability_zone
from .common import (
    MAX_CONCURRENT_JOBS,
    MAX_SERVERS_IN_ACTIVE_JOBS,
    conflict,
    drs_time,
    not_found,
    paginate,
    parse_drs_time,
    split_arn,
    whole_seconds,
)
from .jobs import JobRunner, ec2_state
from .models import Job, RecoveryInstance, SourceServer, mac_address, machine_properties
from .replication import parse_fault
from .seed import FleetLoader, registered_server

MACHINE_DOWN_STATES = ("stopping", "stopped", "shutting-down", "terminated")  # EC2 states the agent does not run in
MAX_TAGS = 50  # per resource: the limit AWS services document for tags (DRS documents none)


class DrsBackend(Backend):
    service = "drs"

    def __init__(self, world, account_id: str, region: str):
        super().__init__(world, account_id, region)
        self.initialized = region not in world.fleet.drs_uninitialized_regions
        self.servers: dict[str, SourceServer] = {}  # insertion order is the listing order
        self.server_seq: dict[str, int] = {}
        self._by_instance: dict[str, str] = {}  # awsInstanceID -> source server id (also while registering)
        self.recovery_instances: dict[str, RecoveryInstance] = {}
        self._instance_seq: dict[str, int] = {}
        self.jobs: dict[str, Job] = {}
        self._active_jobs: dict[str, Job] = {}
        self._busy: dict[str, str] = {}  # source server id -> id of its PENDING/STARTED job
        self._pending_tags: dict[str, dict] = {}  # registering source server id -> tags of its installs
        self._seq = 0
        self.runner = JobRunner(self)

    # Helpers ----------------------------------------------------------------------------
    def timing(self, key: str) -> float:
        return float(self.world.fleet.timing[key])

    def _next_seq(self) -> int:
        self._seq += 1
        return self._seq

    def _require_initialized(self) -> None:
        if not self.initialized:
            raise AwsError(
                "UninitializedAccountException",
                f"Elastic Disaster Recovery is not initialized for account {self.account_id} in {self.region}; "
                "call InitializeService in this Region first",
            )

    def _server(self, server_id: str) -> SourceServer:
        server = self.servers.get(server_id)
        if server is None:
            raise not_found("SOURCE_SERVER", server_id)
        return server

    def _instance(self, instance_id: str) -> RecoveryInstance:
        instance = self.recovery_instances.get(instance_id)
        if instance is None:
            raise not_found("RECOVERY_INSTANCE", instance_id)
        return instance

    def add_server(self, server: SourceServer) -> None:
        self.servers[server.id] = server
        self.server_seq[server.id] = self._next_seq()
        if server.aws_instance_id:
            self._by_instance[server.aws_instance_id] = server.id

    def add_recovery_instance(self, instance: RecoveryInstance) -> None:
        self.recovery_instances[instance.id] = instance
        self._instance_seq[instance.id] = self._next_seq()

    def remove_recovery_instance(self, instance_id: str, at: datetime) -> None:
        """A terminated recovery instance leaves DRS; what replicated from it loses its agent."""
        instance = self.recovery_instances.pop(instance_id, None)
        if instance is None:
            return
        server = self.servers.get(instance.source_server_id)
        if server is not None:
            if server.recovery_instance_id == instance_id:
                server.recovery_instance_id = None
            if server.last_launch and server.last_launch["job"] == instance.job_id:
                server.last_launch = {**server.last_launch, "status": "TERMINATED"}
        target = self.resolve_server(instance.reversed_target) if instance.reversed_target else None
        replicating = target is not None and target.replicating_from == (self.account_id, self.region, instance_id)
        if replicating and target.replication.state not in ("STOPPED", "DISCONNECTED"):
            target.replication.hold("DISCONNECTED", at, error="AGENT_NOT_SEEN")

    def resolve_server(self, server_arn: str) -> SourceServer | None:
        parts = split_arn(server_arn)
        if parts is None or parts[2] != "source-server":
            return None
        region, account, _, server_id = parts
        return self.world.backend("drs", account, region).servers.get(server_id)

    def ec2_state(self, instance_id: str) -> str:
        return ec2_state(self.peer("ec2").get_instance(instance_id))

    def on_instance_state(self, account_id: str, region: str, instance_id: str, state: str, at: datetime) -> None:
        """World hook: an EC2 instance changed state; the agent of the source server replicating it goes or returns.

        Looked up by awsInstanceID (``_by_instance``), so a state change costs a dictionary
        read per DRS backend whatever the number of servers. Servers whose origin is that
        instance's account and Region: a source instance (FAILOVER), or a recovery instance a
        reversed-direction server replicates from (FAILBACK); ``pending`` changes nothing (the
        agent starts once the instance runs).
        """
        server = self.servers.get(self._by_instance.get(instance_id, ""))
        if server is None or server.aws_instance_id != instance_id:
            return
        cloud = server.cloud or {}
        if (cloud.get("originAccountID"), cloud.get("originRegion")) != (account_id, region):
            return
        if state == "running":
            server.replication.machine_up(at)
        elif state in MACHINE_DOWN_STATES:
            server.replication.machine_down(at)

    # Jobs -----------------------------------------------------------------------------
    def _claim(self, server_ids: list[str]) -> None:
        """One job per source server; the account's concurrent-job quotas (DRS user guide)."""
        for server_id in server_ids:
            if server_id in self._busy:
                raise conflict(
                    f"Source server {server_id} already participates in job {self._busy[server_id]}, "
                    "which is not completed; wait for it to complete",
                    server_id,
                    "SOURCE_SERVER",
                )
        if len(self._active_jobs) >= MAX_CONCURRENT_JOBS:
            raise AwsError(
                "ServiceQuotaExceededException",
                f"At most {MAX_CONCURRENT_JOBS} jobs can run at the same time; {len(self._active_jobs)} are running",
                serviceCode="drs",
                resourceType="JOB",
            )
        busy = sum(len(job.servers) for job in self._active_jobs.values())
        adding = len(server_ids)
        if busy + adding > MAX_SERVERS_IN_ACTIVE_JOBS:
            raise AwsError(
                "ServiceQuotaExceededException",
                f"At most {MAX_SERVERS_IN_ACTIVE_JOBS} source servers can be in running jobs; "
                f"{busy} are, and this job adds {adding}",
                serviceCode="drs",
                resourceType="SOURCE_SERVER",
            )

    def _new_job(self, job_type: str, initiated_by: str, tags: dict, participants: list[dict]) -> Job:
        job = Job(self, self.world.hex_id("drsjob-"), self._next_seq(), job_type, initiated_by, tags)
        job.servers = participants
        self.jobs[job.id] = job
        self._active_jobs[job.id] = job
        for entry in participants:
            self._busy[entry["sourceServerID"]] = job.id
        return job

    def release(self, server_id: str, job_id: str) -> None:
        if self._busy.get(server_id) == job_id:
            del self._busy[server_id]

    def job_done(self, job: Job) -> None:
        self._active_jobs.pop(job.id, None)
        for entry in job.servers:
            self.release(entry["sourceServerID"], job.id)

    # Agent registration (called by the SSM backend when an agent install succeeds) --------
    def register_agent(self, instance: dict, source_region: str, source_account: str, tags: dict[str, str]) -> str:
        """Register an installed agent; returns the (future) source server id at once.

        The source server appears ``registration_seconds`` later. A reinstall on an
        instance that already has a source server here reuses it, and restarts the
        initiation of a server that is not replicating (stalled, stopped, disconnected).
        """
        instance_id = instance["instance_id"]
        existing = self._by_instance.get(instance_id)
        if existing is not None:
            server = self.servers.get(existing)
            if server is not None:
                server.tags.update(tags)
                if server.replication.state in ("DISCONNECTED", "STOPPED", "STALLED"):
                    self.world.schedule(self.timing("registration_seconds"), server.replication.start)
            else:
                self._pending_tags[existing].update(tags)
            return existing
        server_id = self.world.hex_id("s-")
        self._by_instance[instance_id] = server_id
        self._pending_tags[server_id] = dict(tags)
        record = dict(instance)
        self.world.schedule(
            self.timing("registration_seconds"),
            lambda at: self._registered(server_id, record, source_region, source_account, at),
        )
        return server_id

    def _registered(
        self, server_id: str, instance: dict, source_region: str, source_account: str, at: datetime
    ) -> None:
        tags = self._pending_tags.pop(server_id, {})
        server = registered_server(self, server_id, instance, source_region, source_account, tags, at)
        self.add_server(server)
        server.replication.set_fault(parse_fault(instance.get("replication")), at)
        server.replication.start(at)
        # The install ran, then the instance stopped (or went) before the server registered:
        # its agent sends nothing until the instance runs again.
        machine = self.world.backend("ec2", source_account, source_region).get_instance(instance.get("instance_id"))
        if machine is None or machine["state"] in MACHINE_DOWN_STATES:
            server.replication.machine_down(at)

    # Describe operations -----------------------------------------------------------------
    def describe_source_servers(self, params: dict) -> dict:
        self._require_initialized()
        filters = params.get("filters") or {}
        ids = filters.get("sourceServerIDs")
        if ids:
            wanted = set(ids)
            servers = [self.servers[i] for i in sorted(wanted & self.servers.keys(), key=self.server_seq.__getitem__)]
        else:
            servers = list(self.servers.values())
        if filters.get("hardwareId"):
            servers = [s for s in servers if filters["hardwareId"] in s.hardware_ids()]
        if filters.get("stagingAccountIDs"):
            servers = []  # no emulated server is extended from a staging account
        page = paginate("DescribeSourceServers", params, servers, key=lambda s: self.server_seq[s.id])
        now = self.now()
        page["items"] = [server.render_json(now) for server in page["items"]]  # pages of 1,000 stay cheap
        return page

    def describe_recovery_instances(self, params: dict) -> dict:
        self._require_initialized()
        filters = params.get("filters") or {}
        instances = list(self.recovery_instances.values())
        if filters.get("recoveryInstanceIDs"):
            wanted = set(filters["recoveryInstanceIDs"])
            instances = [i for i in instances if i.id in wanted]
        if filters.get("sourceServerIDs"):
            wanted = set(filters["sourceServerIDs"])
            instances = [i for i in instances if i.source_server_id in wanted]
        page = paginate("DescribeRecoveryInstances", params, instances, key=lambda i: self._instance_seq[i.id])
        now = self.now()
        page["items"] = [i.render(now, self.ec2_state(i.id)) for i in page["items"]]
        return page

    def describe_jobs(self, params: dict) -> dict:
        self._require_initialized()
        filters = params.get("filters") or {}
        jobs = list(self.jobs.values())
        if filters.get("jobIDs"):
            wanted = set(filters["jobIDs"])
            jobs = [j for j in jobs if j.id in wanted]
        if filters.get("fromDate"):
            since = parse_drs_time(filters["fromDate"], "filters.fromDate")
            jobs = [j for j in jobs if whole_seconds(j.created) >= since]
        if filters.get("toDate"):
            until = parse_drs_time(filters["toDate"], "filters.toDate")
            jobs = [j for j in jobs if whole_seconds(j.created) <= until]
        jobs.sort(key=lambda j: -j.seq)  # "sorted by creationDataTime - latest date first"
        page = paginate("DescribeJobs", params, jobs, key=lambda j: -j.seq)
        page["items"] = [job.render() for job in page["items"]]
        return page

    def describe_job_log_items(self, params: dict) -> dict:
        self._require_initialized()
        job = self.jobs.get(params["jobID"])
        entries = list(enumerate(job.log)) if job else []
        page = paginate("DescribeJobLogItems", params, entries, key=lambda e: e[0])
        page["items"] = [item for _, item in page["items"]]
        return page

    def describe_recovery_snapshots(self, params: dict) -> dict:
        self._require_initialized()
        server = self.servers.get(params["sourceServerID"])
        snapshots = server.snapshots(self.now()) if server else []
        filters = params.get("filters") or {}
        if filters.get("fromDateTime"):
            since = parse_drs_time(filters["fromDateTime"], "filters.fromDateTime")
            snapshots = [s for s in snapshots if whole_seconds(s[0]) >= since]
        if filters.get("toDateTime"):
            until = parse_drs_time(filters["toDateTime"], "filters.toDateTime")
            snapshots = [s for s in snapshots if whole_seconds(s[0]) <= until]
        descending = params.get("order") == "DESC"
        if descending:
            snapshots.reverse()
        sign = -1 if descending else 1
        page = paginate("DescribeRecoverySnapshots", params, snapshots, key=lambda s: sign * s[0].timestamp())
        page["items"] = [snap for _, snap in page["items"]]
        return page

    # Recovery ------------------------------------------------------------------------------
    def start_recovery(self, params: dict) -> dict:
        self._require_initialized()
        is_drill = bool(params.get("isDrill", False))
        requests = _unique(params["sourceServers"], key=lambda r: r["sourceServerID"])
        known = [r for r in requests if r["sourceServerID"] in self.servers]
        self._claim([r["sourceServerID"] for r in known])
        participants = [{"sourceServerID": r["sourceServerID"], "launchStatus": "PENDING"} for r in known]
        job = self._new_job(
            "LAUNCH", "START_DRILL" if is_drill else "START_RECOVERY", params.get("tags") or {}, participants
        )
        now = self.now()
        for request in requests:
            server = self.servers.get(request["sourceServerID"])
            if server is None:
                job.add_log(
                    now,
                    "SERVER_SKIPPED",
                    sourceServerID=request["sourceServerID"],
                    rawError=f"Source server {request['sourceServerID']} does not exist in {self.region}",
                )
                continue
            server.last_launch = {
                "at": now,
                "job": job.id,
                "type": "DRILL" if is_drill else "RECOVERY",
                "status": "PENDING",
            }
            server.last_launch_result = "PENDING"
        self.runner.launch(job, [r.get("recoverySnapshotID") for r in known], is_drill)
        return {"job": job.render()}

    def terminate_recovery_instances(self, params: dict) -> dict:
        self._require_initialized()
        ids = _unique(params["recoveryInstanceIDs"], key=lambda i: i)
        known = [self.recovery_instances[i] for i in ids if i in self.recovery_instances]
        self._claim([i.source_server_id for i in known])
        participants = [
            {"sourceServerID": i.source_server_id, "recoveryInstanceID": i.id, "launchStatus": "PENDING"} for i in known
        ]
        job = self._new_job("TERMINATE", "TERMINATE_RECOVERY_INSTANCES", {}, participants)
        for instance_id in ids:
            if instance_id not in self.recovery_instances:
                job.add_log(
                    self.now(),
                    "SERVER_SKIPPED",
                    rawError=f"Recovery instance {instance_id} does not exist in {self.region}",
                )
        self.runner.terminate(job)
        return {"job": job.render()}

    # Failback --------------------------------------------------------------------------------
    def reverse_replication(self, params: dict) -> dict:
        """Replicate a recovery instance back to its origin Region (or re-protect a failback instance).

        AWS: "applies only to protected instances that originated in EC2. For recovery
        instances on target region - starts replication back to origin region. For
        failback instances on origin region - starts replication to target region".
        """
        self._require_initialized()
        instance = self._instance(params["recoveryInstanceID"])
        if instance.is_drill:
            raise ValidationError(
                f"Recovery instance {instance.id} was launched by a drill; reverse replication applies to recovery "
                "instances launched by a recovery"
            )
        server = self._server(instance.source_server_id)
        if instance.origin_environment != "AWS" or not server.cloud:
            raise ValidationError(
                f"Recovery instance {instance.id} did not originate in EC2; reverse replication applies only to "
                "instances that originated in EC2 (fail back on-premises servers with the Failback Client)"
            )
        self._refuse_while_in_job(instance)
        now = self.now()
        source = (self.account_id, self.region, instance.id)
        target = self.resolve_server(server.reversed_arn) if server.reversed_arn else None
        if target is None:
            target = self._create_reversed(server, instance, now)
        elif target.replicating_from != source or target.replication.state in ("STOPPED", "DISCONNECTED"):
            target.replace_source(self._machine_of(instance, now), self._cloud_here(instance))
            target.backend._by_instance[instance.id] = target.id
            target.replicating_from = source
            target.replication.start(now)
        instance.reversed_target = target.arn
        return {"reversedDirectionSourceServerArn": target.arn}

    def _cloud_here(self, instance: RecoveryInstance) -> dict:
        """``sourceCloudProperties`` of a server replicating from ``instance``, an EC2 instance of this Region."""
        record = self.peer("ec2").get_instance(instance.id)
        zone = record["availability_zone"] if record else availability_zone(self.region, instance.id)
        return {"originAccountID": self.account_id, "originRegion": self.region, "originAvailabilityZone": zone}

    def _machine_of(self, instance: RecoveryInstance, now: datetime) -> dict:
        props = instance.properties
        return machine_properties(
            instance.hostname,
            instance.id,
            instance.disks,
            props["cpus"][0]["cores"],
            props["ramBytes"],
            props["os"]["fullString"],
            None,
            mac_address(instance.id),
            now,
        )

    def _create_reversed(self, server: SourceServer, instance: RecoveryInstance, now: datetime) -> SourceServer:
        origin = self.world.backend("drs", server.cloud["originAccountID"], server.cloud["originRegion"])
        origin._require_initialized()
        target = SourceServer(
            origin,
            self.world.hex_id("s-"),
            self._machine_of(instance, now),
            instance.disks,
            self.timing("replication_bytes_per_second"),
            now,
            {},
            cloud=self._cloud_here(instance),
            direction="FAILBACK" if server.direction == "FAILOVER" else "FAILOVER",
            instance_type=server.instance_type,
        )
        target.replicating_from = (self.account_id, self.region, instance.id)
        target.reversed_arn = server.arn
        server.reversed_arn = target.arn
        origin.add_server(target)
        target.replication.start(now)
        return target

    def start_failback_launch(self, params: dict) -> dict:
        self._require_initialized()
        ids = _unique(params["recoveryInstanceIDs"], key=lambda i: i)
        instances = []
        for instance_id in ids:
            instance = self.recovery_instances.get(instance_id)
            if instance is None:
                raise ValidationError(f"Recovery instance {instance_id} does not exist in {self.region}")
            if instance.origin_environment != "ON_PREMISES":
                raise ValidationError(
                    f"Recovery instance {instance_id} originated in EC2: fail it back with ReverseReplication and "
                    "StartRecovery in its origin Region"
                )
            if instance.failback_state != "FAILBACK_READY_FOR_LAUNCH":
                raise conflict(
                    f"Recovery instance {instance_id} is not ready for failback launch (failback state "
                    f"{instance.failback_state}); wait for FAILBACK_READY_FOR_LAUNCH",
                    instance_id,
                    "RECOVERY_INSTANCE",
                )
            instances.append(instance)
        self._claim([i.source_server_id for i in instances])
        participants = [
            {"sourceServerID": i.source_server_id, "recoveryInstanceID": i.id, "launchStatus": "PENDING"}
            for i in instances
        ]
        job = self._new_job("LAUNCH", "FAILBACK", params.get("tags") or {}, participants)
        for instance in instances:
            instance.failback["failbackJobID"] = job.id
        self.runner.failback(job)
        return {"job": job.render()}

    def stop_failback(self, params: dict) -> dict:
        """Back to FAILBACK_NOT_STARTED ("This changes the Failback State ... back to FAILBACK_NOT_STARTED")."""
        self._require_initialized()
        instance = self._instance(params["recoveryInstanceID"])
        if instance.failback_state != "FAILBACK_NOT_STARTED":
            instance.failback = {}
            instance.replication.reset(self.now())
        return {}

    def _refuse_while_in_job(self, instance):
        """ConflictException while the instance's source server takes part in a PENDING or STARTED job."""
        if instance.source_server_id in self._busy:
            raise conflict(
                f"Recovery instance {instance.id} takes part in job {self._busy[instance.source_server_id]}; "
                "wait for it to complete",
                instance.id,
                "RECOVERY_INSTANCE",
            )

    def disconnect_recovery_instance(self, params: dict) -> dict:
        self._require_initialized()
        instance = self._instance(params["recoveryInstanceID"])
        self._refuse_while_in_job(instance)
        now = self.now()
        paired = "failbackClientID" in instance.failback
        instance.replication.disconnect(now)
        instance.failback_state = "FAILBACK_NOT_READY_FOR_LAUNCH" if paired else "FAILBACK_NOT_STARTED"
        target = self.resolve_server(instance.reversed_target) if instance.reversed_target else None
        if target is not None and target.replicating_from == (self.account_id, self.region, instance.id):
            target.replication.disconnect(now)
        return {}

    # Replication -------------------------------------------------------------------------
    def start_replication(self, params: dict) -> dict:
        """AWS: "Starts replication for a stopped Source Server"; any other state is a conflict."""
        self._require_initialized()
        server = self._server(params["sourceServerID"])
        if server.replication.state != "STOPPED":
            raise conflict(
                f"Source server {server.id} is in data replication state {server.replication.state}; "
                "StartReplication starts a STOPPED source server",
                server.id,
                "SOURCE_SERVER",
            )
        server.replication.start(self.now())
        return {"sourceServer": server.render(self.now())}

    def stop_replication(self, params: dict) -> dict:
        self._require_initialized()
        server = self._server(params["sourceServerID"])
        if server.replication.state in ("STOPPED", "DISCONNECTED"):
            raise conflict(
                f"Source server {server.id} is {server.replication.state}; there is no replication to stop",
                server.id,
                "SOURCE_SERVER",
            )
        server.replication.stop(self.now())
        return {"sourceServer": server.render(self.now())}

    def retry_data_replication(self, params: dict) -> dict:
        """AWS: it works "only if the Source Server is stalled or is in a DISCONNECTED or STOPPED state"."""
        self._require_initialized()
        server = self._server(params["sourceServerID"])
        if server.replication.state not in ("STALLED", "DISCONNECTED", "STOPPED"):
            raise ValidationError(
                f"Source server {server.id} is in data replication state {server.replication.state}; "
                "RetryDataReplication works only for STALLED, DISCONNECTED or STOPPED source servers"
            )
        # The initiation begins "upon next Handshake". After DisconnectSourceServer the agent was
        # told to uninstall itself: no handshake comes, the call changes nothing (installing the
        # agent again is what brings the server back).
        if not server.replication.zeroed:
            server.replication.start(self.now())
        return server.render(self.now())

    def disconnect_source_server(self, params: dict) -> dict:
        """AWS: "You cannot disconnect a Source Server if it has a Recovery Instance"."""
        self._require_initialized()
        server = self._server(params["sourceServerID"])
        owned = [i.id for i in self.recovery_instances.values() if i.source_server_id == server.id]
        if owned:
            raise conflict(
                f"Source server {server.id} has recovery instances {owned}; terminate them before disconnecting",
                server.id,
                "SOURCE_SERVER",
            )
        if server.id in self._busy:
            raise conflict(
                f"Source server {server.id} takes part in job {self._busy[server.id]}; wait for it to complete",
                server.id,
                "SOURCE_SERVER",
            )
        if server.replication.state != "DISCONNECTED" or not server.replication.zeroed:
            server.replication.disconnect(self.now())
        return server.render(self.now())

    def initialize_service(self, params: dict) -> dict:
        self.initialized = True
        return {}

    # Tags --------------------------------------------------------------------------------------
    def _tagged(self, resource_arn: str):
        parts = split_arn(resource_arn)
        if parts is None:
            raise ValidationError(f"{resource_arn} is not the ARN of an Elastic Disaster Recovery resource")
        region, account, kind, resource_id = parts
        tables = {
            "source-server": (self.servers, "SOURCE_SERVER"),
            "recovery-instance": (self.recovery_instances, "RECOVERY_INSTANCE"),
            "job": (self.jobs, "JOB"),
        }
        table, resource_type = tables.get(kind, ({}, kind.replace("-", "_").upper()))
        if region != self.region or account != self.account_id or resource_id not in table:
            raise AwsError(
                "ResourceNotFoundException",
                f"Resource {resource_arn} not found",
                resourceId=resource_arn,
                resourceType=resource_type,
            )
        return table[resource_id]

    def tag_resource(self, params: dict) -> dict:
        resource = self._tagged(params["resourceArn"])
        tags = params["tags"]
        reserved = sorted(k for k in tags if k.lower().startswith("aws:"))
        if reserved:
            raise ValidationError(f"Tag keys {reserved} use the reserved prefix 'aws:'")
        merged = {**resource.tags, **tags}
        if len(merged) > MAX_TAGS:
            raise ValidationError(
                f"A resource can have at most {MAX_TAGS} tags; this request would leave {len(merged)}"
            )
        resource.tags = merged
        return {}

    def untag_resource(self, params: dict) -> dict:
        resource = self._tagged(params["resourceArn"])
        resource.tags = {k: v for k, v in resource.tags.items() if k not in set(params["tagKeys"])}
        return {}

    def list_tags_for_resource(self, params: dict) -> dict:
        return {"tags": dict(self._tagged(params["resourceArn"]).tags)}

    # Admin actions (POST /_emulator/drs/<action>) --------------------------------------------
    def admin_set_fault(self, body: dict) -> dict:
        """Put a source server into STALLED/DISCONNECTED now, or when it reaches ``at``."""
        server = self._server(_required(body, "sourceServerID"))
        spec = {k: body[k] for k in ("fault", "error", "at", "after_seconds") if k in body}
        server.replication.set_fault(parse_fault(spec), self.now())
        self.world.run_due_events()  # a fault without 'at' strikes now
        return self._admin_view(server)

    def admin_clear_fault(self, body: dict) -> dict:
        """Remove a source server's fault; a server it holds resumes where it stopped."""
        server = self._server(_required(body, "sourceServerID"))
        server.replication.clear_fault(self.now())
        return self._admin_view(server)

    def admin_pair_failback_client(self, body: dict) -> dict:
        """The Failback Client booted on the origin machine and paired with this recovery instance."""
        instance = self._instance(_required(body, "recoveryInstanceID"))
        if instance.origin_environment != "ON_PREMISES":
            raise ValueError(
                f"recovery instance {instance.id} originated in EC2; the Failback Client is for on-premises origins "
                "(use ReverseReplication)"
            )
        if instance.failback_state != "FAILBACK_NOT_STARTED":
            raise ValueError(
                f"recovery instance {instance.id} is already paired (failback state {instance.failback_state})"
            )
        if self.ec2_state(instance.id) != "RUNNING":
            raise ValueError(
                f"recovery instance {instance.id} is not running; the Failback Client pairs with a running one"
            )
        launch_type = str(body.get("failbackLaunchType", "RECOVERY"))
        if launch_type not in ("RECOVERY", "DRILL"):
            raise ValueError(f"failbackLaunchType must be RECOVERY or DRILL, got {launch_type!r}")
        to_original = body.get("failbackToOriginalServer", True)
        if not isinstance(to_original, bool):
            raise ValueError(f"failbackToOriginalServer must be true or false, got {to_original!r}")
        now = self.now()
        instance.failback = {
            "failbackClientID": self.world.uuid(),
            "failbackInitiationTime": drs_time(now),
            "failbackToOriginalServer": to_original,
            "failbackLaunchType": launch_type,
        }
        instance.replication.start(now)
        return {"recoveryInstanceID": instance.id, "failbackState": instance.failback_state}

    def _admin_view(self, server: SourceServer) -> dict:
        rep = server.replication
        return {"sourceServerID": server.id, "dataReplicationState": rep.state, "error": rep.error, "fault": rep.fault}

    # Fleet -------------------------------------------------------------------------------------
    @classmethod
    def load_fleet(cls, world, fleet) -> None:
        FleetLoader(world, fleet).load()


def _unique(items: list, key) -> list:
    """The request's items, first occurrence of each key kept (repeats name the same resource)."""
    seen: set = set()
    unique = []
    for item in items:
        if key(item) not in seen:
            seen.add(key(item))
            unique.append(item)
    return unique


def _required(body: dict, name: str) -> str:
    value = body.get(name)
    if not isinstance(value, str) or not value:
        raise ValueError(f"the admin action needs {name!r} (a string) in its JSON body")
    return value
