#!/usr/bin/python

# Copyright: Contributors to drs.orchestration
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)

DOCUMENTATION = r"""
---
module: drs_replication_info
short_description: Replication status of DRS source servers across regions, optionally waiting for a state
version_added: 1.0.0
description:
  - Reports where every selected AWS Elastic Disaster Recovery (DRS) source server stands in one or more
    regions - data replication state, the 11 initiation steps, initial sync progress per disk, lag, ETA,
    lifecycle timestamps, errors - and a fleet summary with the servers that need attention.
  - Costs one paginated C(DescribeSourceServers) sweep per region whatever the fleet size (C(filters) is
    always sent; O(source_server_ids) is sent in chunks of 200, the API maximum). The other filters are
    applied to the results, never by one call per server.
  - With O(wait_for_states), polls (one sweep per region per poll) until every selected server is in one
    of those states, fails as soon as one enters O(fail_on_states), and on timeout fails with the last
    snapshot.
  - A region that cannot be read (DRS not initialized there, no permission) does not hide the others - the
    task fails, naming it in RV(errors), with the servers and summary of the regions that were read. When
    no region can be read, it fails with the AWS error.
  - Requested IDs whose source servers the other filters (O(hostnames), O(tags), O(replication_direction),
    the other ID list) leave out make the request contradict itself - it fails and names them.
  - Changes nothing; supports check mode (it runs the same read-only calls).
options:
  regions:
    description:
      - Regions to read. Several regions are read in one call.
      - Defaults to the module's region (O(region), C(AWS_REGION)).
    type: list
    elements: str
  source_server_ids:
    description:
      - Only these source servers (C(s-) IDs). Sent to DRS as the C(sourceServerIDs) filter, 200 per call.
      - Requested IDs that do not exist are listed in RV(missing); while waiting they fail the wait at once.
    type: list
    elements: str
  instance_ids:
    description:
      - Only source servers of these EC2 instances (the C(awsInstanceID) identification hint).
      - While waiting, instances without a source server yet are waited for (their agent may still be
        registering) and listed in RV(missing).
    type: list
    elements: str
  hostnames:
    description:
      - Only source servers whose hostname or FQDN matches one of these names or shell patterns (V(web-*)).
        Case-insensitive.
    type: list
    elements: str
  tags:
    description:
      - Only source servers carrying all these tags with these values.
    type: dict
  states:
    description:
      - Only source servers in these data replication states.
      - One of V(STOPPED), V(INITIATING), V(INITIAL_SYNC), V(BACKLOG), V(CREATING_SNAPSHOT), V(CONTINUOUS),
        V(PAUSED), V(RESCAN), V(STALLED), V(DISCONNECTED) (case-insensitive).
      - While waiting, the servers selected by the first poll stay selected when their state changes.
    type: list
    elements: str
  replication_direction:
    description:
      - Only source servers replicating in this direction (V(FAILBACK) are the reversed-direction servers
        created by reverse replication).
    type: str
    choices: [FAILOVER, FAILBACK]
  wait_for_states:
    description:
      - Wait until every selected source server is in one of these states (for example V([CONTINUOUS])).
      - Not set or empty means report once and return.
    type: list
    elements: str
  fail_on_states:
    description:
      - While waiting, fail as soon as a selected server is in one of these states.
      - Defaults to V([STALLED, DISCONNECTED]) (minus any state listed in O(wait_for_states)) when
        O(wait_for_states) is set; V([]) never fails early. Only valid with O(wait_for_states).
    type: list
    elements: str
  wait_timeout:
    description:
      - Seconds to wait for O(wait_for_states) before failing with the last snapshot.
      - Initial sync of a large server can take hours; the default is 4 hours.
    type: int
    default: 14400
  poll_interval:
    description:
      - Seconds between two polls while waiting. Fractions are allowed.
      - Each poll costs one C(DescribeSourceServers) sweep per region.
    type: float
    default: 60
  lag_threshold:
    description:
      - Seconds of replication lag above which a server needs attention.
    type: int
  stale_after:
    description:
      - Seconds since the agent was last seen by the service above which a server needs attention.
    type: int
  include_jobs:
    description:
      - Also return the recent DRS jobs (last 7 days, newest 50) of the regions in RV(jobs); when the
        request selects servers, only the jobs involving them.
    type: bool
    default: false
extends_documentation_fragment:
  - amazon.aws.common.modules
  - amazon.aws.region.modules
  - amazon.aws.boto3
author:
  - drs.orchestration contributors (!UNKNOWN)
notes:
  - Ages, lag and ETAs are computed against the service's clock (the C(Date) of its responses).
  - Throttled C(DescribeSourceServers) calls are retried by botocore (standard retry mode).
  - "Permissions: C(drs:DescribeSourceServers); with O(include_jobs), C(drs:DescribeJobs)."
seealso:
  - name: DescribeSourceServers API reference
    description: The source server fields this module normalises.
    link: https://docs.aws.amazon.com/drs/latest/APIReference/API_DescribeSourceServers.html
"""

EXAMPLES = r"""
- name: Fleet replication status in two regions
  drs.orchestration.drs_replication_info:
    regions: [us-east-1, us-west-2]
  register: replication

- name: Servers that need attention (lag over 15 minutes, agent unseen for an hour)
  drs.orchestration.drs_replication_info:
    lag_threshold: 900
    stale_after: 3600
  register: replication

- name: Show them
  ansible.builtin.debug:
    var: replication.summary.needs_attention

- name: Wait until the newly installed instances are protected
  drs.orchestration.drs_replication_info:
    region: us-west-2
    instance_ids: "{{ installed_instance_ids }}"
    wait_for_states: [CONTINUOUS]
    wait_timeout: 21600
    poll_interval: 120

- name: Reversed-direction servers of a failback, in the origin region
  drs.orchestration.drs_replication_info:
    region: us-east-1
    replication_direction: FAILBACK
    tags:
      app: billing
"""

RETURN = r"""
regions:
  description: The regions read.
  returned: always
  type: list
  elements: str
  sample: [us-east-1]
as_of:
  description: The service's time of the (last) sweep, ISO 8601 UTC.
  returned: always
  type: str
  sample: "2025-12-15T14:30:00+00:00"
servers:
  description: One record per selected source server, sorted by region and hostname.
  returned: always
  type: list
  elements: dict
  contains:
    source_server_id:
      description: The source server ID.
      type: str
      sample: s-1234567890abcdef0
    arn:
      description: The source server ARN.
      type: str
      sample: arn:aws:drs:us-east-1:123456789012:source-server/s-1234567890abcdef0
    region:
      description: The region it replicates to.
      type: str
      sample: us-east-1
    hostname:
      description: Hostname reported by the agent (identification hints).
      type: str
      sample: web-01
    fqdn:
      description: Fully qualified domain name reported by the agent.
      type: str
      sample: web-01.corp.example.com
    instance_id:
      description: EC2 instance ID of an EC2 source (identification hint C(awsInstanceID)).
      type: str
      sample: i-0123456789abcdef0
    data_replication_state:
      description: The DRS C(dataReplicationState), as AWS returns it (a value newer than this module is kept).
      type: str
      sample: INITIAL_SYNC
    state_label:
      description: A readable label of the state.
      type: str
      sample: Initial sync
    replication_direction:
      description: V(FAILOVER) or V(FAILBACK).
      type: str
      sample: FAILOVER
    reversed_direction_source_server_arn:
      description: The linked source server of the other direction, after reverse replication.
      type: str
      sample: null
    recovery_instance_id:
      description: The recovery instance launched for this server, if any.
      type: str
      sample: null
    last_launch_result:
      description: Result of the last recovery or drill launch.
      type: str
      sample: NOT_STARTED
    lag:
      description:
        - Replication lag as ISO 8601 duration (C(iso)) and seconds (C(seconds)); both null when not reported.
        - A value DRS sends in a form that cannot be read stays in C(iso) as sent, with C(seconds) null.
      type: dict
      sample: {iso: PT0S, seconds: 0.0}
    eta:
      description: Estimated end of initial sync (C(timestamp)) and seconds from now (C(seconds_from_now)).
      type: dict
      sample: {timestamp: "2025-12-15T14:30:00+00:00", seconds_from_now: 5400.0}
    lifecycle:
      description:
        - C(added), C(first_byte), C(last_seen) (ISO 8601), C(elapsed_seconds), C(last_seen_seconds_ago),
          C(last_launch) (C(type), C(job_id), C(initiated), C(status)) or null.
      type: dict
    initiation:
      description:
        - The 11 initiation C(steps) in execution order (C(index), C(name), C(label), C(status); status is
          null for a step AWS did not report), C(current_step), C(failed_step), C(done) (succeeded or
          skipped), C(total), C(started), C(next_attempt).
      type: dict
    disks:
      description:
        - Per replicated disk - C(device), C(total_bytes), C(replicated_bytes), C(rescanned_bytes),
          C(backlogged_bytes), C(percent) (replicated of total, 0-100), C(rescan_percent), C(volume_status).
        - C(rescan_percent) is rescanned of total, 0-100, while the server is in V(RESCAN); null in every other
          state and when the disk reports no size or no rescanned byte count.
      type: list
      elements: dict
    total_bytes:
      description: Sum of the disks' sizes.
      type: int
    replicated_bytes:
      description: Sum of the bytes replicated (capped per disk at its size).
      type: int
    backlogged_bytes:
      description: Sum of the backlogged bytes.
      type: int
    progress_percent:
      description: Initial sync progress weighted by bytes, 0-100, one decimal (100 only when every byte is replicated,
        and for CONTINUOUS without byte counts).
      type: float
      sample: 42.5
    rescan_percent:
      description:
        - How far the rescan of a server in V(RESCAN) has come (after its agent was stopped or disconnected, DRS
          rescans the disks), weighted by bytes, 0-100, one decimal (100 only when every byte is rescanned).
        - C(progress_percent) stays at the finished initial sync (100) meanwhile.
        - Read from C(rescannedStorageBytes) as the bytes rescanned so far (an assumption - the API reference
          calls it "the amount of data to be rescanned"); rescanned bytes are capped per disk at its size, and a
          disk that reports no rescanned count counts as not rescanned yet.
        - Null when the server is not in V(RESCAN), or no disk reports both its size and a rescanned byte count.
      type: float
      sample: 40.0
    staging_area:
      description: C(status), C(staging_account_id), C(staging_source_server_arn), C(error_message),
        C(availability_zone), C(outpost_arn).
      type: dict
    error:
      description: The replication error, C(code), C(raw) and a readable C(label); null when none.
      type: dict
      sample: {code: UNSTABLE_NETWORK, raw: "connection reset", label: Unstable network}
    origin:
      description: For EC2 sources, C(account_id), C(region), C(availability_zone) of the source; else null.
      type: dict
    os:
      description: Operating system reported by the agent.
      type: str
    agent_version:
      description: AWS Replication Agent version.
      type: str
      sample: 4.5.0
    tags:
      description: The source server's tags.
      type: dict
summary:
  description: Fleet figures over the selected servers.
  returned: always
  type: dict
  contains:
    total:
      description: Number of servers.
      type: int
      sample: 20
    by_state:
      description: Servers per data replication state (V(UNKNOWN) when AWS reported none).
      type: dict
      sample: {INITIAL_SYNC: 3, CONTINUOUS: 16, STALLED: 1}
    by_region:
      description: Servers per region.
      type: dict
      sample: {us-east-1: 20}
    by_region_state:
      description: Servers per state within each region.
      type: dict
    ready:
      description: Servers in CONTINUOUS.
      type: int
      sample: 16
    ready_percent:
      description: Share of servers in CONTINUOUS, 0-100.
      type: float
      sample: 80.0
    syncing:
      description: Servers on their way to CONTINUOUS (INITIATING, INITIAL_SYNC, BACKLOG, CREATING_SNAPSHOT, RESCAN).
      type: int
      sample: 3
    needs_attention_count:
      description: Number of entries in C(needs_attention).
      type: int
      sample: 1
    needs_attention:
      description:
        - Servers an operator should look at - C(source_server_id), C(hostname), C(region), C(state),
          C(reason) (text) and C(reasons) (codes - the state STALLED or DISCONNECTED, the replication error
          code, INITIATION_FAILED, LAG over O(lag_threshold), NOT_SEEN after O(stale_after)).
      type: list
      elements: dict
    total_bytes:
      description: Bytes to replicate over all servers.
      type: int
    replicated_bytes:
      description: Bytes replicated over all servers.
      type: int
    lag_threshold:
      description: The lag threshold applied (seconds) or null.
      type: int
    stale_after:
      description: The last-seen threshold applied (seconds) or null.
      type: int
missing:
  description: Requested C(source_server_ids) and C(instance_ids) that no source server matched.
  returned: always
  type: dict
  sample: {source_server_ids: [], instance_ids: [i-0123456789abcdef0]}
jobs:
  description:
    - With O(include_jobs), recent DRS jobs (newest first) with their C(region); the record fields are
      those of M(drs.orchestration.drs_job_info). Empty otherwise.
  returned: always
  type: list
  elements: dict
errors:
  description:
    - What could not be read - C(region), C(operation) (C(DescribeSourceServers) or C(DescribeJobs)), the AWS
      error C(code) and C(message). Empty on success.
    - When it is not empty the task fails, naming each entry, and the result still holds everything that
      was read (the servers and summary of the other regions).
  returned: always
  type: list
  elements: dict
  sample: [{region: eu-west-1, operation: DescribeSourceServers, code: UninitializedAccountException,
            message: Account not initialized}]
wait:
  description: With O(wait_for_states) - C(polls), C(elapsed_seconds) and C(reached).
  returned: when waiting
  type: dict
  sample: {polls: 12, elapsed_seconds: 660.2, reached: true}
"""

from ansible_collections.amazon.aws.plugins.module_utils.botocore import get_aws_connection_info
from ansible_collections.amazon.aws.plugins.module_utils.modules import AnsibleAWSModule

from ansible_collections.drs.orchestration.plugins.module_utils.replication import ReplicationQuery, run_query
from ansible_collections.drs.orchestration.plugins.module_utils.runner import core_options, run_core


def main():
    argument_spec = {
        "regions": {"type": "list", "elements": "str"},
        "source_server_ids": {"type": "list", "elements": "str"},
        "instance_ids": {"type": "list", "elements": "str"},
        "hostnames": {"type": "list", "elements": "str"},
        "tags": {"type": "dict"},
        "states": {"type": "list", "elements": "str"},
        "replication_direction": {"type": "str", "choices": ["FAILOVER", "FAILBACK"]},
        "wait_for_states": {"type": "list", "elements": "str"},
        "fail_on_states": {"type": "list", "elements": "str"},
        "wait_timeout": {"type": "int", "default": 14400},
        "poll_interval": {"type": "float", "default": 60},
        "lag_threshold": {"type": "int"},
        "stale_after": {"type": "int"},
        "include_jobs": {"type": "bool", "default": False},
    }
    module = AnsibleAWSModule(argument_spec=argument_spec, supports_check_mode=True)

    def action(clients):
        query = ReplicationQuery.from_options(default_region=clients.region, **core_options(module, argument_spec))
        return run_query(clients, query)

    result = run_core(module, get_aws_connection_info(module), action, "reading DRS replication status")
    module.exit_json(changed=False, **result)


if __name__ == "__main__":
    main()
