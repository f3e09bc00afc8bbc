#!/usr/bin/python
# Copyright: Contributors to drs.orchestration
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)

DOCUMENTATION = r"""
---
module: drs_recovery
short_description: Launch AWS DRS drills or recoveries for source servers, or terminate drill instances
version_added: 1.0.0
description:
  - With O(state=present), makes sure the chosen source servers of AWS Elastic Disaster Recovery (DRS) have
    drill instances (the default) or, explicitly confirmed, production recovery instances. Jobs are started
    with C(StartRecovery), optionally from chosen point-in-time snapshots, and the module waits for them and
    reports each server's launch status and its recovery instance.
  - Idempotent and safe to re-run. A server already in a running launch job of the same kind is re-attached
    to that job (DRS runs one job per source server), so re-running after an interruption launches nothing
    twice. A server that already has a live instance of the requested kind from its current recovery cycle is
    left alone unless O(relaunch).
  - A recovery cycle ends with a failback. An instance launched before it does not count - a second disaster
    gets a new recovery (or drill) from the current data, and the server's entry names the older instance in
    C(earlier_cycle_instance_ids). An on-premises instance that was failed back (C(FAILBACK_COMPLETED)), or
    launched before such a failback began, is of an earlier cycle. For origin AWS, DRS shows no failback on the
    recovery instance; the failback ends with re-protection, which restarts the source server's replication - so
    an instance launched before the current replication start (C(dataReplicationInitiation.startDateTime)) of a
    server that names a reversed-direction source server is of an earlier cycle. Stopping and starting such a
    server's replication by hand looks the same to DRS - after that a re-run launches again. An instance counts
    from its launch (its launch job's creation), not from its point in time, so a recovery from an older
    snapshot is current.
  - A server in a running C(TERMINATE) job (the termination of its instances, for example the previous drill's,
    still running) is launched once that job completes - the module waits for it (also with O(wait=false)) and
    then plans again (DRS refuses a launch while it runs). In check mode its action is C(wait).
  - Respects the DRS quotas. Servers are split into jobs of at most O(servers_per_job) (100), and jobs are
    started in waves so the region never has more than O(max_concurrent_jobs) active jobs (the quota is 20)
    or more than 500 servers in active jobs, counting jobs started by anyone.
  - Servers that are not ready (replication not C(CONTINUOUS), no snapshot, busy in another job) are listed
    with the reason. The task then fails before launching anything, unless O(skip_not_ready).
  - C(StartRecovery) and C(TerminateRecoveryInstances) are retried only when throttled. When one fails without
    a usable answer, DRS is read first (the source server's last launch and the recent jobs) and the job the
    call created is re-attached; the call is sent again only when DRS shows none.
  - With O(state=absent), terminates drill instances (C(TerminateRecoveryInstances)) of the chosen source
    servers, or the given O(recovery_instance_ids), after checking that they are drill instances.
    Non-drill (production recovery) instances are never terminated unless O(terminate_non_drill).
    An instance whose source server is in a running job (a launch of that server, the termination of another
    of its instances) fails the task before any call - DRS runs one job per source server; an instance already
    in a running C(TERMINATE) job is re-attached to that job.
  - In check mode, reads DRS and returns the plan (jobs to re-attach to, new jobs with their servers, servers
    not ready) without sending anything.
options:
  state:
    description:
      - V(present) launches drill or recovery instances; V(absent) terminates them.
    type: str
    choices: [present, absent]
    default: present
  source_server_ids:
    description:
      - DRS source server IDs (C(s-...)) in O(region). Every ID must exist.
      - Mutually exclusive with O(source_server_tags) and O(recovery_instance_ids).
    type: list
    elements: str
  source_server_tags:
    description:
      - Choose the source servers of O(region) that carry all these tags (key and value must match).
      - One paginated C(DescribeSourceServers) sweep of the region is matched locally; at least one server
        must match.
    type: dict
  recovery_instance_ids:
    description:
      - With O(state=absent), the recovery instances to terminate, instead of choosing source servers.
      - IDs DRS no longer knows are reported in RV(already_absent).
    type: list
    elements: str
  drill:
    description:
      - V(true) launches (or, with O(state=absent), terminates) drill instances.
      - V(false) launches a production recovery; it requires O(confirm_production_recovery=true).
        With O(state=absent) it chooses the servers' recovery instances and requires O(terminate_non_drill=true).
    type: bool
    default: true
  confirm_production_recovery:
    description:
      - Confirms that O(drill=false) is meant; a production recovery is never started without it.
    type: bool
    default: false
  snapshot_ids:
    description:
      - Point-in-time snapshots to launch from, as a mapping of source server ID to recovery snapshot ID
        (C(pit-...)). Each is checked with C(DescribeRecoverySnapshots) before anything is launched.
      - Servers not listed launch from the latest data (DRS takes an on-demand snapshot).
    type: dict
  relaunch:
    description:
      - Launch a new instance even for servers that already have a live instance of the requested kind.
    type: bool
    default: false
  require_continuous:
    description:
      - Only servers whose data replication is C(CONTINUOUS) are ready.
      - V(false) also launches servers in other states (for example C(DISCONNECTED) during a disaster) that
        have at least one recovery snapshot; DRS then uses the latest snapshot. One
        C(DescribeRecoverySnapshots) call is made per such server.
    type: bool
    default: true
  skip_not_ready:
    description:
      - Launch the ready servers and only report the others in RV(not_ready), instead of failing.
    type: bool
    default: false
  job_tags:
    description:
      - Tags of the new jobs (C(StartRecovery) C(tags)).
    type: dict
  terminate_non_drill:
    description:
      - With O(state=absent), allow terminating recovery instances that are not drills.
    type: bool
    default: false
  servers_per_job:
    description:
      - At most this many servers per job, between 1 and 100.
    type: int
    default: 100
  max_concurrent_jobs:
    description:
      - Never more than this many active DRS jobs in the region, counting jobs started by others; between 1 and
        19 (the DRS quota is 20 concurrent jobs). Further jobs start as earlier ones complete.
    type: int
    default: 19
  wait:
    description:
      - Wait until every job is C(COMPLETED) and report the final launch status of each server.
      - With V(false), the module still waits for job slots when the quotas make it start jobs in waves, and for
        the running C(TERMINATE) job of a server to launch.
    type: bool
    default: true
  wait_timeout:
    description:
      - Seconds to wait in total (job slots and jobs). On timeout the task fails with the jobs started so far;
        running it again re-attaches to them.
    type: int
    default: 3600
  poll_interval:
    description:
      - Seconds between two status checks while waiting (fractions allowed).
      - Each check costs one C(DescribeJobs) call per 1000 jobs, whatever the fleet size.
    type: float
    default: 15
extends_documentation_fragment:
  - drs.orchestration.wait
  - amazon.aws.common.modules
  - amazon.aws.region.modules
  - amazon.aws.boto3
author:
  - drs.orchestration contributors (!UNKNOWN)
notes:
  - The module runs on the controller (C(hosts=localhost)) and covers the whole fleet in one task.
  - DRS quotas are described in the DRS user guide, U(https://docs.aws.amazon.com/drs/latest/userguide/limits-drs.html);
    the recovery API in U(https://docs.aws.amazon.com/drs/latest/APIReference/API_StartRecovery.html).
  - Drill instances keep running (and cost money) until they are terminated; see O(state=absent) and the
    C(drs.orchestration.drill) role.
"""

EXAMPLES = r"""
- name: Drill every server of the payments tier and wait for the drill instances
  drs.orchestration.drs_recovery:
    region: us-west-2
    source_server_tags:
      app: payments
    job_tags:
      change: CHG0042

- name: Plan a drill (check mode shows which jobs with which servers, sends nothing)
  drs.orchestration.drs_recovery:
    region: us-west-2
    source_server_ids: [s-0123456789abcdef0, s-0123456789abcdef1]
  check_mode: true

- name: Recover from a snapshot taken before the incident (production recovery)
  drs.orchestration.drs_recovery:
    region: us-west-2
    source_server_ids: [s-0123456789abcdef0]
    drill: false
    confirm_production_recovery: true
    require_continuous: false
    snapshot_ids:
      s-0123456789abcdef0: pit-0123456789abcdef0

- name: Terminate the drill instances of the payments tier
  drs.orchestration.drs_recovery:
    region: us-west-2
    state: absent
    source_server_tags:
      app: payments
"""

RETURN = r"""
changed:
  description: Whether a job was started (in check mode, whether one would be).
  returned: always
  type: bool
  sample: true
drill:
  description: Whether the run was about drill instances.
  returned: always
  type: bool
  sample: true
plan:
  description: The jobs of the run. With O(state=present), C(new_jobs) lists the source server IDs of each new job.
  returned: always
  type: dict
  contains:
    reattach:
      description: Running jobs that already cover some of the servers (or instances), re-attached to.
      type: list
      elements: dict
      sample: [{"job_id": "drsjob-0123456789abcdef0", "source_server_ids": ["s-0123456789abcdef0"]}]
    new_jobs:
      description: One list of IDs per job to start, in start order.
      type: list
      elements: list
      sample: [["s-0123456789abcdef0", "s-0123456789abcdef1"]]
  sample: {"reattach": [], "new_jobs": [["s-0123456789abcdef0"]]}
jobs:
  description: The jobs started or re-attached to, as DRS last reported them (see M(drs.orchestration.drs_job_info)).
  returned: always
  type: list
  elements: dict
  sample:
    - job_id: drsjob-0123456789abcdef0
      arn: arn:aws:drs:us-west-2:123456789012:job/drsjob-0123456789abcdef0
      type: LAUNCH
      initiated_by: START_DRILL
      status: COMPLETED
      creation_time: "2024-05-01T12:00:00+00:00"
      end_time: "2024-05-01T12:05:10+00:00"
      tags: {}
      participating_servers:
        - source_server_id: s-0123456789abcdef0
          recovery_instance_id: i-0123456789abcdef0
          launch_status: LAUNCHED
servers:
  description:
    - One entry per chosen source server (O(state=present)), in the order chosen.
    - C(action) is C(launch) (in a new job), C(reattach) (in a job that was already running), C(present)
      (already had a live instance of the kind from its current recovery cycle) or C(not_ready) (with C(reason));
      in check mode also C(wait) (in a running C(TERMINATE) job, with C(job_id) and C(reason); the run waits for
      it, then plans again).
    - C(earlier_cycle_instance_ids) (with C(launch)) - the server's live instances of the kind from an earlier
      recovery cycle, which did not make it C(present).
  returned: when O(state=present)
  type: list
  elements: dict
  sample:
    - source_server_id: s-0123456789abcdef0
      hostname: web-01
      replication_state: CONTINUOUS
      action: launch
      job_id: drsjob-0123456789abcdef0
      launch_status: LAUNCHED
      recovery_instance_id: i-0123456789abcdef0
      ec2_instance_state: RUNNING
recovery_instances:
  description: The recovery instances of the servers (O(state=present)) or those to terminate (O(state=absent)).
  returned: always
  type: list
  elements: dict
  sample:
    - recovery_instance_id: i-0123456789abcdef0
      ec2_instance_id: i-0123456789abcdef0
      ec2_instance_state: RUNNING
      source_server_id: s-0123456789abcdef0
      is_drill: true
      job_id: drsjob-0123456789abcdef0
      origin_environment: ON_PREMISES
      point_in_time_snapshot_time: "2024-05-01T12:00:40+00:00"
not_ready:
  description: Servers that were not launched because they are not ready, each with C(reason).
  returned: when O(state=present)
  type: list
  elements: dict
  sample: [{"source_server_id": "s-0123456789abcdef1", "hostname": "db-01", "replication_state": "INITIAL_SYNC",
            "action": "not_ready", "reason": "data replication is INITIAL_SYNC, not CONTINUOUS"}]
failures:
  description: Servers whose launch failed (with C(reason) from the job log), or instances not terminated.
  returned: always
  type: list
  elements: dict
  sample: []
terminated:
  description: Recovery instance IDs terminated and removed from DRS (O(state=absent), after waiting).
  returned: when O(state=absent)
  type: list
  elements: str
  sample: ["i-0123456789abcdef0"]
already_absent:
  description: Given recovery instance IDs that DRS does not know (already terminated).
  returned: when O(state=absent)
  type: list
  elements: str
  sample: []
"""

from ansible_collections.amazon.aws.plugins.module_utils.botocore import get_aws_connection_info
from ansible_collections.amazon.aws.plugins.module_utils.modules import AnsibleAWSModule

from ansible_collections.drs.orchestration.plugins.module_utils.recovery import (
    check_production_confirmed,
    launch_recovery,
    remove_recovery,
)
from ansible_collections.drs.orchestration.plugins.module_utils.runner import run_core, wait_options
from ansible_collections.drs.orchestration.plugins.module_utils.validation import check_range, check_region


def _present(module, clients):
    p = module.params
    check_production_confirmed(p["drill"], p["confirm_production_recovery"])
    return launch_recovery(
        clients,
        module.region,
        p["source_server_ids"],
        drill=p["drill"],
        snapshot_ids=p["snapshot_ids"],
        tags=p["job_tags"],
        source_server_tags=p["source_server_tags"],
        relaunch=p["relaunch"],
        require_continuous=p["require_continuous"],
        skip_not_ready=p["skip_not_ready"],
        servers_per_job=p["servers_per_job"],
        max_concurrent_jobs=p["max_concurrent_jobs"],
        **wait_options(module),
    )


def _absent(module, clients):
    p = module.params
    return remove_recovery(
        clients,
        module.region,
        source_server_ids=p["source_server_ids"],
        source_server_tags=p["source_server_tags"],
        recovery_instance_ids=p["recovery_instance_ids"],
        drill=p["drill"],
        terminate_non_drill=p["terminate_non_drill"],
        servers_per_job=p["servers_per_job"],
        max_concurrent_jobs=p["max_concurrent_jobs"],
        **wait_options(module),
    )


def main():
    argument_spec = {
        "state": {"type": "str", "choices": ["present", "absent"], "default": "present"},
        "source_server_ids": {"type": "list", "elements": "str"},
        "source_server_tags": {"type": "dict"},
        "recovery_instance_ids": {"type": "list", "elements": "str"},
        "drill": {"type": "bool", "default": True},
        "confirm_production_recovery": {"type": "bool", "default": False},
        "snapshot_ids": {"type": "dict"},
        "relaunch": {"type": "bool", "default": False},
        "require_continuous": {"type": "bool", "default": True},
        "skip_not_ready": {"type": "bool", "default": False},
        "job_tags": {"type": "dict"},
        "terminate_non_drill": {"type": "bool", "default": False},
        "servers_per_job": {"type": "int", "default": 100},
        "max_concurrent_jobs": {"type": "int", "default": 19},
        "wait": {"type": "bool", "default": True},
        "wait_timeout": {"type": "int", "default": 3600},
        "poll_interval": {"type": "float", "default": 15},
    }
    module = AnsibleAWSModule(
        argument_spec=argument_spec,
        supports_check_mode=True,
        mutually_exclusive=[("source_server_ids", "source_server_tags", "recovery_instance_ids")],
        required_one_of=[("source_server_ids", "source_server_tags", "recovery_instance_ids")],
    )

    def action(clients):
        p = module.params
        check_region(module.region, "region")
        check_range(p["wait_timeout"], "wait_timeout", 0)
        check_range(p["poll_interval"], "poll_interval", 0.1)
        if p["state"] == "present":
            if p["recovery_instance_ids"]:
                module.fail_json(msg="recovery_instance_ids only applies to state: absent; choose source servers.")
            return _present(module, clients)
        return _absent(module, clients)

    what = "launching DRS recovery jobs" if module.params["state"] == "present" else "terminating recovery instances"
    module.exit_json(**run_core(module, get_aws_connection_info(module), action, what))


if __name__ == "__main__":
    main()
