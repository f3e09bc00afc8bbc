#!/usr/bin/python

# Copyright: Contributors to drs.orchestration
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)

DOCUMENTATION = r"""
---
module: drs_recovery_instance_info
short_description: DRS recovery instances with their failback progress and the next step to take
version_added: 1.0.0
description:
  - Lists AWS Elastic Disaster Recovery (DRS) recovery instances of one or more recovery Regions with
    what failback needs - origin (V(AWS) or V(ON_PREMISES)) and origin Region, drill flag, EC2 state, the
    failback state (the API value and the console label Not started / Synchronizing / Ready / Completed /
    Error), reverse-sync progress by bytes, the 18-step failback initiation, the reversed-direction source
    server (Region and ID from its ARN, its replication state), the source hostname, and the pending
    action an operator should take next.
  - For origin AWS, readiness is the reversed-direction source server's replication state (it is
    CONTINUOUS when failback can be launched), read in its own Region; for an on-premises origin it is
    the recovery instance's C(failback.state).
  - Costs, per Region read, one paginated C(DescribeRecoveryInstances), one C(DescribeSourceServers) sweep of
    the Region and one sweep per origin Region of reversed-direction servers - never one call per instance; and
    one C(DescribeJobs) by job ID when an origin-AWS instance with a reversed-direction server was launched
    before its source server's last launch (its launch time, see RV(recovery_instances[].launch_time)).
  - A failback cycle starts with the recovery instance's launch - a failback launched from the reversed-direction
    source server since then is this instance's, however often that server's replication was stopped and
    started again since; one from before is an earlier recovery instance's.
  - A Region that cannot be read (DRS not initialized there, no permission) does not hide the others - the task
    fails naming it in RV(errors), and its result still holds the recovery instances of the Regions that were read.
  - Changes nothing; supports check mode.
options:
  regions:
    description:
      - The recovery Regions to read; several are read in one task.
      - Not set reads the module's O(region) (or E(AWS_REGION)).
    type: list
    elements: str
  recovery_instance_ids:
    description:
      - Only these recovery instances (C(i-) IDs). Sent as the C(recoveryInstanceIDs) filter, 200 per call, to
        each Region read.
      - IDs no Region read has are listed in RV(missing).
    type: list
    elements: str
  source_server_ids:
    description:
      - Only the recovery instances of these source servers (C(s-) IDs of the recovery Regions).
      - Mutually exclusive with O(recovery_instance_ids).
    type: list
    elements: str
  origin_environment:
    description:
      - Only recovery instances of this origin.
    type: str
    choices: [AWS, ON_PREMISES]
  drill:
    description:
      - V(true) only drill instances, V(false) only instances launched by a recovery; not set returns both.
    type: bool
  include_terminated:
    description:
      - Also return instances whose EC2 instance is terminated or gone.
    type: bool
    default: true
  include_reversed:
    description:
      - Read the reversed-direction source servers in their Regions (their state drives readiness and the
        pending action for origin AWS). V(false) saves one sweep per origin Region; reversed AWS-origin
        instances then report RV(recovery_instances[].reverse_replication_status=Unknown) and no pending action.
    type: bool
    default: true
extends_documentation_fragment:
  - amazon.aws.common.modules
  - amazon.aws.region.modules
  - amazon.aws.boto3
author:
  - drs.orchestration contributors (!UNKNOWN)
notes:
  - The reversed-direction source server counts as this instance's only when its identification hint names
    this instance's EC2 instance (a server left over from an earlier failback cycle does not).
  - "Permissions: C(drs:DescribeRecoveryInstances), C(drs:DescribeSourceServers) in the recovery Region and
    the origin Regions, C(drs:DescribeJobs) in the recovery Region."
seealso:
  - module: drs.orchestration.drs_failback
  - name: DescribeRecoveryInstances API reference
    description: The recovery instance fields this module normalises.
    link: https://docs.aws.amazon.com/drs/latest/APIReference/API_DescribeRecoveryInstances.html
  - name: Performing a cross-Region failback
    description: The AWS-origin failback path (reversed-direction source server in the origin Region).
    link: https://docs.aws.amazon.com/drs/latest/userguide/failback-failover-region-region.html
"""

EXAMPLES = r"""
- name: Every recovery instance of the recovery region with its next step
  drs.orchestration.drs_recovery_instance_info:
    region: us-west-2
  register: recovery

- name: What operators should do next
  ansible.builtin.debug:
    msg: "{{ item.source_hostname }} ({{ item.recovery_instance_id }}): {{ item.pending_action }}"
  loop: "{{ recovery.recovery_instances | selectattr('pending_action') | list }}"
  loop_control:
    label: "{{ item.recovery_instance_id }}"

- name: Recovery instances of two recovery Regions, in one task
  drs.orchestration.drs_recovery_instance_info:
    regions: [us-west-2, us-east-2]
  register: recovery

- name: Production recovery instances of two source servers
  drs.orchestration.drs_recovery_instance_info:
    region: us-west-2
    source_server_ids: [s-1234567890abcdef0, s-0fedcba0987654321]
    drill: false
"""

RETURN = r"""
regions:
  description: The Regions read (or asked for, when one could not be read - see RV(errors)).
  returned: always
  type: list
  elements: str
  sample: [us-west-2]
recovery_instances:
  description: One record per recovery instance, sorted by source hostname, then Region.
  returned: always
  type: list
  elements: dict
  contains:
    recovery_instance_id:
      description: The recovery instance ID (the EC2 instance ID in DRS).
      type: str
      sample: i-0123456789abcdef0
    ec2_instance_id:
      description: The EC2 instance ID.
      type: str
      sample: i-0123456789abcdef0
    ec2_instance_state:
      description: C(ec2InstanceState) (V(PENDING), V(RUNNING), V(STOPPED), V(TERMINATED), V(NOT_FOUND) ...).
      type: str
      sample: RUNNING
    region:
      description: The region the instance runs in (the recovery Region).
      type: str
      sample: us-west-2
    source_server_id:
      description: The source server it was launched from.
      type: str
      sample: s-1234567890abcdef0
    source_hostname:
      description: Hostname from the source server's identification hints (else its FQDN, else the instance's own).
      type: str
      sample: web-01
    origin_environment:
      description: V(AWS) or V(ON_PREMISES).
      type: str
      sample: AWS
    origin_region:
      description: For origin AWS, the Region of the original EC2 instance (where failback goes).
      type: str
      sample: us-east-1
    is_drill:
      description: Whether a drill launched it.
      type: bool
      sample: false
    job_id:
      description: The job that launched it.
      type: str
    point_in_time:
      description: The recovery snapshot time it was launched from (ISO 8601).
      type: str
    launch_time:
      description:
        - When it was launched - the creation of its launch job (ISO 8601), from its source server's last launch
          when that names the job, else read with C(DescribeJobs) for origin-AWS instances whose failback cycle it
          decides. Null when not known; its C(point_in_time) then stands for it.
      type: str
      sample: "2024-05-01T12:00:00+00:00"
    launch_status:
      description:
        - The status of the launch that created it (C(LaunchStatus) - C(PENDING), C(IN_PROGRESS),
          C(LAUNCHED), C(FAILED), C(TERMINATED)), from its source server's last launch when that names its job.
          Null when not known (the source server was launched again since).
      type: str
      sample: LAUNCHED
    failback:
      description:
        - C(state) (the C(FailbackState) API value), C(label) (Not started / Synchronizing / Ready / Completed /
          Error), C(failback_to_original_server) (boolean), C(launch_type), C(client_id), C(client_last_seen),
          C(agent_last_seen), C(initiation_time), C(job_id), C(first_byte), C(elapsed_replication_seconds).
      type: dict
      sample: {state: FAILBACK_IN_PROGRESS, label: Synchronizing, failback_to_original_server: true}
    replication:
      description:
        - Failback data replication of the instance (Failback Client path) - C(state)
          (C(RecoveryInstanceDataReplicationState)), C(label), C(progress_percent) (by bytes), C(rescan_percent)
          (in V(RESCAN) only, as in M(drs.orchestration.drs_replication_info)), C(total_bytes),
          C(replicated_bytes), C(backlogged_bytes), C(disks), C(lag) (C(iso), C(seconds)), C(eta),
          C(initiation) (the 18 C(steps) in model order with C(label) and C(status), C(current_step),
          C(failed_step), C(done), C(total)), C(error).
      type: dict
    reversed_direction_source_server:
      description:
        - For origin AWS after reverse replication - C(arn), C(region), C(account_id), C(source_server_id) (from
          the ARN), C(found), C(data_replication_state), C(state_label), C(progress_percent), C(rescan_percent)
          (in V(RESCAN) only), C(lag_seconds),
          C(error), C(recovery_instance_id) (failback instance launched from it), C(last_launch),
          C(belongs_to_this_instance), C(replicating_this_instance), C(region_read), C(missing). Null when there is
          none.
        - C(found) is false when the server is not known; the replication members are then null.
          C(region_read) says whether its Region was read (false with O(include_reversed=false)).
          C(missing) is true when its Region was read, the ARN names the recovery instance's own account and the
          server is not there - it was deleted, so the instance is not reversed any more (C(Not started)).
      type: dict
    reverse_replication_status:
      description:
        - The console label for either origin (origin AWS - derived from the reversed-direction server).
        - A failback instance (launched in the origin Region from a reversed-direction server) is C(Completed), or
          C(Error) while the replication that re-protects it is in trouble; it is never C(Ready).
        - C(Unknown) (origin AWS) when the source server names a reversed-direction source server of which
          nothing is known - not read (O(include_reversed=false)), or its ARN names another account than the
          recovery instance's, which these credentials cannot read - so whether reverse replication runs cannot be
          told; RV(recovery_instances[].pending_action) is then null. A server of the same account that its
          Region's read did not find (C(missing)) is deleted, not unknown.
      type: str
      sample: Synchronizing
    pending_action:
      description:
        - What an operator should do next; null when nothing is pending.
        - After an on-premises failback (C(FAILBACK_COMPLETED)) - what keeps its source server from replicating the
          failed-back server again (CONTINUOUS); no API call of this collection re-protects it.
      type: str
      sample: Launch for failback in us-east-1 (source server s-0fedcba0987654321).
    tags:
      description: The recovery instance's tags.
      type: dict
missing:
  description: Requested O(recovery_instance_ids) that no Region read has.
  returned: always
  type: list
  elements: str
  sample: []
summary:
  description:
    - C(total), C(by_status) (per console label), C(by_origin), C(by_region), C(drills), C(pending_actions).
  returned: always
  type: dict
  sample:
    total: 3
    by_status: {Ready: 1, Synchronizing: 2}
    by_origin: {AWS: 3}
    by_region: {us-west-2: 3}
    drills: 0
    pending_actions: 3
errors:
  description:
    - The Regions that could not be read - C(region), C(operation), C(code), C(message) (AWS's answer). When it
      is not empty the task failed, and the other members hold what was read.
  returned: always
  type: list
  elements: dict
  sample: []
"""

from ansible_collections.amazon.aws.plugins.module_utils.botocore import get_aws_connection_info
from ansible_collections.amazon.aws.plugins.module_utils.modules import AnsibleAWSModule

from ansible_collections.drs.orchestration.plugins.module_utils.recovery_instances import recovery_instance_info
from ansible_collections.drs.orchestration.plugins.module_utils.runner import core_options, run_core


def main():
    argument_spec = {
        "regions": {"type": "list", "elements": "str"},
        "recovery_instance_ids": {"type": "list", "elements": "str"},
        "source_server_ids": {"type": "list", "elements": "str"},
        "origin_environment": {"type": "str", "choices": ["AWS", "ON_PREMISES"]},
        "drill": {"type": "bool"},
        "include_terminated": {"type": "bool", "default": True},
        "include_reversed": {"type": "bool", "default": True},
    }
    module = AnsibleAWSModule(
        argument_spec=argument_spec,
        supports_check_mode=True,
        mutually_exclusive=[("recovery_instance_ids", "source_server_ids")],
    )

    def action(clients):
        return recovery_instance_info(clients, **core_options(module, argument_spec))

    result = run_core(module, get_aws_connection_info(module), action, "reading DRS recovery instances")
    module.exit_json(changed=False, **result)


if __name__ == "__main__":
    main()
