"""Source servers that come into being without an API call: agent registrations and fleet entries.

Fleet ``source_servers:`` entries get a history: the emulator replays the real
lifecycle (registration, initiation steps, sync, snapshot, continuous, then any
stall or stop) at timestamps in the past, so every lifecycle member is as true as for a
server that went through it live. The replay runs as ordinary world events before the
emulator answers its first request.
"""

from __future__ import annotations

from datetime import datetime, timedelta

from ...fleet import FleetError
from ..ec2 import availability_zone
from .common import SOURCE_STEPS, stable_hex
from .models import GIB, SourceServer, disk_bytes, mac_address, machine_properties
from .replication import parse_fault

FLEET_STATES = (
    "INITIATING",
    "INITIAL_SYNC",
    "CREATING_SNAPSHOT",
    "CONTINUOUS",
    "STALLED",
    "DISCONNECTED",
    "STOPPED",
    "BACKLOG",
    "PAUSED",
    "RESCAN",
)
HELD_FOR = {  # how long ago a fleet server left continuous protection for its state
    "STALLED": timedelta(hours=1),
    "DISCONNECTED": timedelta(hours=2),
    "STOPPED": timedelta(hours=1),
    "BACKLOG": timedelta(minutes=10),
    "PAUSED": timedelta(minutes=10),
    "RESCAN": timedelta(minutes=10),
}
HELD_ERROR = {"STALLED": "UNSTABLE_NETWORK", "DISCONNECTED": "AGENT_NOT_SEEN"}
BASE_AGE = timedelta(days=3)  # fleet servers joined DRS about three days before the emulator started


def recommended_instance_type(cpus: float, ram_gib: float) -> str:
    """A plausible EC2 type for the machine's size (DRS recommends one per source server)."""
    for name, max_cpus, max_ram in (("t3.small", 2, 2), ("t3.medium", 2, 4), ("t3.large", 2, 8), ("m5.xlarge", 4, 16)):
        if cpus <= max_cpus and ram_gib <= max_ram:
            return name
    return "m5.2xlarge"


def registered_server(
    backend, server_id: str, instance: dict, source_region: str, source_account: str, tags: dict, at: datetime
) -> SourceServer:
    """The source server of an EC2 instance whose agent was installed (origin AWS)."""
    disks = disk_bytes(instance["disks"])
    platform = instance.get("platform_name") or instance.get("platform") or "Linux"
    os_name = f"{platform} {instance.get('platform_version') or ''}"
    machine = machine_properties(
        instance.get("hostname") or instance["instance_id"],
        instance["instance_id"],
        disks,
        instance.get("cpus") or 2,
        int(float(instance.get("ram_gib") or 4) * GIB),
        os_name.strip(),
        instance.get("private_ip"),
        mac_address(instance["instance_id"]),
        at,
    )
    cloud = {
        "originAccountID": source_account,
        "originRegion": source_region,
        "originAvailabilityZone": instance.get("availability_zone")
        or availability_zone(source_region, instance["instance_id"]),
    }
    rate = backend.timing("replication_bytes_per_second") * float(instance.get("disk_rate_factor") or 1.0)
    return SourceServer(
        backend, server_id, machine, disks, rate, at, tags, cloud=cloud, instance_type=instance.get("instance_type")
    )


class FleetLoader:
    """Builds the DRS state a fleet file describes (``load_fleet``)."""

    def __init__(self, world, fleet):
        self.world = world
        self.fleet = fleet
        self.now = world.now()

    def load(self) -> None:
        for index, instance in enumerate(self.fleet.instances):
            self._fault(f"instances[{index}].replication", instance.get("replication"))
        for index, spec in enumerate(self.fleet.source_servers):
            self._add(index, spec)
        self.world.run_due_events()  # replay the histories now rather than on the first request

    @staticmethod
    def _fault(where: str, spec) -> dict | None:
        try:
            return parse_fault(spec)
        except ValueError as exc:
            raise FleetError(f"{where}: {exc}") from exc

    def _add(self, index: int, spec: dict) -> None:
        where = f"source_servers[{index}]"
        state = str(spec["state"]).upper()
        if state not in FLEET_STATES:
            raise FleetError(f"{where}.state {spec['state']!r} is not one of {list(FLEET_STATES)}")
        origin = str(spec["origin"]).upper()
        if origin not in ("ON_PREMISES", "AWS"):
            raise FleetError(f"{where}.origin must be ON_PREMISES or AWS, got {spec['origin']!r}")
        disks = self._disks(where, spec["disks"])
        fault = self._fault(f"{where}.replication", spec["replication"])
        backend = self.world.backend("drs", self.fleet.account_id, spec["region"])
        server = self._server(backend, index, spec, origin, disks)
        backend.add_server(server)
        self._replay(server, state, index)
        server.replication.set_fault(fault, self.now)

    @staticmethod
    def _disks(where: str, disks) -> list[tuple[str, int]]:
        if not isinstance(disks, list) or not disks:
            raise FleetError(f"{where}.disks must be a non-empty list of {{device, size_gib}}")
        for n, disk in enumerate(disks):
            if not isinstance(disk, dict) or set(disk) != {"device", "size_gib"}:
                raise FleetError(f"{where}.disks[{n}] must have exactly the keys device and size_gib")
            if not isinstance(disk["size_gib"], int | float) or disk["size_gib"] <= 0:
                raise FleetError(f"{where}.disks[{n}].size_gib must be a number > 0")
        return disk_bytes(disks)

    def _server(self, backend, index: int, spec: dict, origin: str, disks: list[tuple[str, int]]) -> SourceServer:
        cloud = None
        instance_id = None
        if origin == "AWS":
            instance_id = spec["instance_id"] or "i-" + stable_hex("fleet-instance", index, spec["hostname"])
            origin_region = spec["origin_region"] or self.fleet.region
            cloud = {
                "originAccountID": self.fleet.account_id,
                "originRegion": origin_region,
                "originAvailabilityZone": availability_zone(origin_region, instance_id),
            }
        machine = machine_properties(
            spec["hostname"],
            instance_id,
            disks,
            spec["cpus"],
            int(float(spec["ram_gib"]) * GIB),
            str(spec["os"]),
            f"192.168.{(index >> 8) & 255}.{index & 255}",
            mac_address(spec["hostname"], index),
            self.now,
        )
        rate = backend.timing("replication_bytes_per_second") * float(spec["disk_rate_factor"])
        server = SourceServer(
            backend,
            self.world.hex_id("s-"),
            machine,
            disks,
            rate,
            self.now,
            {str(k): str(v) for k, v in spec["tags"].items()},
            cloud=cloud,
            instance_type=recommended_instance_type(spec["cpus"], spec["ram_gib"]),
        )
        return server

    def _replay(self, server: SourceServer, state: str, index: int) -> None:
        """Start the server's lifecycle in the past so that it is in ``state`` now."""
        timing = self.fleet.timing
        initiation = len(SOURCE_STEPS) * timing["initiation_step_seconds"]
        largest = max(size for _, size in server.disks)
        sync = largest / server.replication.rate if server.replication.rate > 0 else 0.0
        snapshot = timing["snapshot_seconds"]
        ready = initiation + sync + snapshot
        ago = {
            "INITIATING": initiation / 2,
            "INITIAL_SYNC": initiation + sync / 2,
            "CREATING_SNAPSHOT": initiation + sync + snapshot / 2,
        }.get(state)
        if ago is None:  # continuous protection reached long ago
            jitter = (index * 7919) % 86400
            ago = max((BASE_AGE + timedelta(seconds=jitter)).total_seconds(), ready + 2 * 86400)
        added = self.now - timedelta(seconds=ago)
        server.added = added
        rep = server.replication
        rep.start(added)
        if state in HELD_FOR:
            at = self.now - HELD_FOR[state]
            if state == "STOPPED":
                self.world.schedule(at, rep.stop)
            else:
                self.world.schedule(at, lambda t: rep.hold(state, t, error=HELD_ERROR.get(state)))
