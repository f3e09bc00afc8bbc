#!/usr/bin/python

# Copyright: Contributors to drs.orchestration
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)

DOCUMENTATION = r"""
---
module: drs_failback
short_description: Fail DRS recovery instances back to their origin - reverse replication, launch, re-protect, stop
version_added: 1.0.0
description:
  - Moves AWS Elastic Disaster Recovery (DRS) recovery instances through failback, declaratively. Each
    instance is read from DRS and placed on one ladder of phases - C(not_reversed), C(reversing), C(ready),
    C(launching), C(launched), C(protecting), C(protected) - and the module sends only the calls that move
    it towards O(state). Asking for a state an instance has already reached (or passed) sends nothing and
    reports C(changed=false); an interrupted run picks up where DRS is and never sends a launch twice.
  - B(Origin AWS) (cross-Region, the recovered server was an EC2 instance) - C(ReverseReplication) on the
    recovery instance creates a reversed-direction source server in the origin Region; it is ready when
    that server is CONTINUOUS; the failback launch is C(StartRecovery) of that server in the origin Region
    (drill or production); O(state=protected) then sends C(ReverseReplication) on the failback instance
    so it replicates to the recovery Region again, and waits until that replication is CONTINUOUS.
  - B(Origin on premises) - the Failback Client, booted on the failback target and paired with the recovery
    instance, synchronises it (C(failback.state) FAILBACK_IN_PROGRESS then FAILBACK_READY_FOR_LAUNCH);
    no API call starts that, so the module waits for it. The launch is C(StartFailbackLaunch) (at most 200
    instances per call). It has no drill mode - it writes the data onto the machine running the Failback
    Client and reboots it - so it needs O(drill=false) and O(confirm_production=true).
    O(state=protected) sends nothing more - no API call re-protects an on-premises server - and waits until
    its source server replicates the failed-back server again (CONTINUOUS); while it does not,
    RV(recovery_instances[].pending_action) says what to check (the source server's state, StartReplication of
    a STOPPED one, the AWS Replication Agent on the failed-back server).
  - O(state=stopped) stops failback replication - C(StopReplication) of the reversed-direction source server
    for origin AWS, C(StopFailback) for an on-premises origin - when it runs.
  - In check mode nothing is sent; RV(planned_calls) lists every call with its operation, region and
    parameters, C(when=now) for the calls due now and, for the later ones, the event they wait for. What the
    run refuses before any call, check mode refuses too. With O(wait=true), an instance whose replication is in
    trouble (reverse or re-protection replication STALLED or DISCONNECTED or with an error, FAILBACK_ERROR) fails
    check mode with the message the run would give. A failed launch job ends a run only when that run started
    it, and check mode starts none - an earlier run's failed failback launch is planned again (C(when=now)).
options:
  recovery_instance_ids:
    description:
      - The recovery instances to fail back (C(i-) IDs in the module's region, the recovery Region).
    type: list
    elements: str
  source_server_ids:
    description:
      - Fail back the live, non-drill recovery instance of each of these source servers (C(s-) IDs in the
        recovery Region). A source server without one fails the module.
      - A source server with several (a recovery instance kept from an earlier disaster, or a second recovery
        from an older, clean snapshot) fails the module before any call, whatever O(state), naming each candidate
        with its EC2 state, launch job and its start time, and point in time; neither the latest launch nor the
        latest snapshot tells which one holds the data to fail back. Name it with O(recovery_instance_ids).
    type: list
    elements: str
  state:
    description:
      - V(reversed) - failback replication runs (origin AWS - C(ReverseReplication) sent; on premises - the
        Failback Client paired).
      - V(ready) - ready for failback launch (origin AWS - the reversed-direction source server is CONTINUOUS;
        on premises - FAILBACK_READY_FOR_LAUNCH).
      - V(launched) - failback launched and its job completed (a drill or a production failback, see O(drill)).
      - V(protected) - production failback launched and replicating to the recovery Region again (CONTINUOUS);
        needs O(drill=false).
      - V(stopped) - no failback replication runs for the instance.
      - For V(reversed) and V(ready), an instance that already has a live failback instance of this cycle, drill
        or production, is past them whatever O(drill) says - nothing is sent (after a production failback its
        reverse replication may be stopped or DISCONNECTED; it is never started again). V(launched) and
        V(protected) count only a failback instance of the kind O(drill) asks for.
      - A failback cycle starts with the recovery instance's launch - what was launched from the reversed-direction
        source server since then is its failback, however often that server's replication was stopped and started
        again. A production failback of the cycle is never launched twice - when DRS lists its failback instance
        terminated, or no longer lists it, the instance stays C(launched) with a C(problem) saying so (and
        O(state=protected) fails with it) instead of being launched again.
    type: str
    required: true
    choices: [reversed, ready, launched, protected, stopped]
  drill:
    description:
      - Launch the failback as a drill (V(true), the default; origin AWS only) or for real (V(false)).
      - A production failback moves the workload back; it also needs O(confirm_production=true).
    type: bool
    default: true
  confirm_production:
    description:
      - Required (V(true)) with O(drill=false) for O(state=launched) or O(state=protected). An explicit
        choice, so that a production failback never happens by default.
    type: bool
    default: false
  tags:
    description:
      - Tags for the failback launch jobs (C(StartRecovery) / C(StartFailbackLaunch)).
    type: dict
  wait:
    description:
      - Wait until every instance reached O(state), sending each next call as soon as DRS allows it.
      - With V(false), sends the calls possible now and returns; RV(recovery_instances[].reached) tells
        where each instance stands.
    type: bool
    default: true
  wait_timeout:
    description:
      - Seconds to wait before failing with the last observed state. Reverse replication of large disks
        takes hours; the default is 4 hours.
    type: int
    default: 14400
  poll_interval:
    description:
      - Seconds between two rounds of reads while waiting. Fractions are allowed.
      - A round costs a fixed number of calls (per Region involved), whatever the number of instances.
    type: float
    default: 30
extends_documentation_fragment:
  - amazon.aws.common.modules
  - amazon.aws.region.modules
  - amazon.aws.boto3
author:
  - drs.orchestration contributors (!UNKNOWN)
notes:
  - The module's region is the recovery Region (where the recovery instances are). Calls for origin AWS
    go to the origin Region read from the source server and the reversed-direction server's ARN; DRS must
    be initialized there.
  - Drill instances are never failed back (DRS reverses replication only for instances launched by a
    recovery); naming one fails the module before any call.
  - Mutating calls are not retried by botocore; a throttled call is sent again. A call whose answer was lost
    (connection closed, 5xx) is looked up in DRS at once and again 2 and 5 seconds later; only
    C(ReverseReplication) is then sent once more, when none of these reads shows reverse replication
    (C(StartRecovery) is reconciled by M(drs.orchestration.drs_recovery)'s core; C(StartFailbackLaunch),
    C(StopFailback), C(StopReplication) are never sent again - the module fails saying to check). A call whose
    answer arrived is not sent again in the run, even while DRS does not show its effect yet (the instance
    counts as reversing, launching or protecting meanwhile); a launch job of the run that ended without
    launching the instance ends the run as a problem.
  - C(ReverseReplication) is refused, before any call, when the reversed-direction source server already
    replicates another recovery instance of the same source server whose failback is not done (it would take
    that replication over; a production failback launched from it, its replication STOPPED, or that instance
    terminated or no longer listed by DRS means that failback is done - DISCONNECTED alone does not, the
    instance may only be stopped or unreachable). This applies with O(recovery_instance_ids) too.
  - An origin-AWS instance whose source server names a reversed-direction source server in another account
    than the recovery instance's (these credentials cannot read it) is refused for every O(state) - whether
    reverse replication runs is unknown. One of the same account that is not in its Region any more (deleted)
    means the instance is not reversed - C(ReverseReplication) is sent as for any instance not reversed, and
    RV(recovery_instances[].pending_action) says the server was deleted.
  - The production C(StartRecovery) goes through M(drs.orchestration.drs_recovery)'s core (re-attaches to a
    running job instead of starting a second one).
  - "Permissions: C(drs:DescribeRecoveryInstances), C(drs:DescribeSourceServers), C(drs:DescribeJobs),
    C(drs:ReverseReplication), C(drs:StartRecovery), C(drs:StartFailbackLaunch), C(drs:StopFailback),
    C(drs:StopReplication), and the permissions DRS needs to launch instances (see the DRS user guide)."
seealso:
  - module: drs.orchestration.drs_recovery_instance_info
  - module: drs.orchestration.drs_recovery
  - name: Performing a cross-Region failback
    description: The AWS-origin path - reverse replication, failback launch in the origin Region, re-protection.
    link: https://docs.aws.amazon.com/drs/latest/userguide/failback-failover-region-region.html
  - name: Failback to on-premises environment
    description: The Failback Client path.
    link: https://docs.aws.amazon.com/drs/latest/userguide/failback-performing-on-prem.html
  - name: ReverseReplication API reference
    description: Reverse replication of a recovery instance, and re-protection of a failback instance.
    link: https://docs.aws.amazon.com/drs/latest/APIReference/API_ReverseReplication.html
  - name: StartFailbackLaunch API reference
    description: The on-premises failback launch (at most 200 recovery instances per call).
    link: https://docs.aws.amazon.com/drs/latest/APIReference/API_StartFailbackLaunch.html
"""

EXAMPLES = r"""
- name: Start reverse replication now, do not wait
  drs.orchestration.drs_failback:
    region: us-west-2
    recovery_instance_ids: [i-0123456789abcdef0]
    state: reversed
    wait: false

- name: Wait until the recovery instances of two servers are ready for failback
  drs.orchestration.drs_failback:
    region: us-west-2
    source_server_ids: [s-1234567890abcdef0, s-0fedcba0987654321]
    state: ready
    wait_timeout: 28800
    poll_interval: 120

- name: Failback drill (origin AWS) - launch drill instances in the origin region
  drs.orchestration.drs_failback:
    region: us-west-2
    recovery_instance_ids: [i-0123456789abcdef0]
    state: launched
    drill: true

- name: Production failback, then protect the failback instances again
  drs.orchestration.drs_failback:
    region: us-west-2
    recovery_instance_ids: [i-0123456789abcdef0]
    state: protected
    drill: false
    confirm_production: true
    tags:
      change: CHG0012345

- name: What would be called (nothing is sent)
  drs.orchestration.drs_failback:
    region: us-west-2
    recovery_instance_ids: [i-0123456789abcdef0]
    state: protected
    drill: false
    confirm_production: true
  check_mode: true
  register: plan

- name: Stop failback replication
  drs.orchestration.drs_failback:
    region: us-west-2
    recovery_instance_ids: [i-0123456789abcdef0]
    state: stopped
"""

RETURN = r"""
state:
  description: The requested state.
  returned: always
  type: str
  sample: ready
drill:
  description: Whether failback launches are drills.
  returned: always
  type: bool
  sample: true
region:
  description: The recovery Region.
  returned: always
  type: str
  sample: us-west-2
reached:
  description: Whether every instance reached O(state).
  returned: always
  type: bool
  sample: true
recovery_instances:
  description: One entry per recovery instance, sorted by source hostname.
  returned: always
  type: list
  elements: dict
  contains:
    recovery_instance_id:
      description: The recovery instance.
      type: str
      sample: i-0123456789abcdef0
    ec2_instance_state:
      description: Its EC2 state.
      type: str
      sample: RUNNING
    source_server_id:
      description: Its source server.
      type: str
    source_hostname:
      description: Hostname from the source server's identification hints.
      type: str
      sample: web-01
    origin_environment:
      description: V(AWS) or V(ON_PREMISES).
      type: str
    origin_region:
      description: For origin AWS, the Region failback goes to.
      type: str
      sample: us-east-1
    is_drill:
      description: Whether it is a drill instance.
      type: bool
    phase_before:
      description: Its phase when the module started.
      type: str
      sample: not_reversed
    phase:
      description: >-
        Its phase at the end - V(not_reversed), V(reversing), V(ready), V(launching), V(launched),
        V(protecting) or V(protected).
      type: str
      sample: ready
    reached:
      description: Whether it reached O(state).
      type: bool
    problem:
      description: >-
        What stops it (STALLED replication, a launch job this run started that failed or ended without
        launching it, FAILBACK_ERROR, a production failback of this cycle whose failback instance DRS lists
        terminated or no longer lists - it is never launched again ...), else null.
      type: str
    job_id:
      description: The failback launch job running or last started, when known.
      type: str
    failback_state:
      description: The recovery instance's C(failback.state) (API value).
      type: str
      sample: FAILBACK_NOT_STARTED
    failback_label:
      description: Console label of C(failback_state).
      type: str
    reverse_replication_status:
      description: >-
        Not started / Synchronizing / Ready / Completed / Error, for either origin; Unknown when the
        reversed-direction source server is in another account than the recovery instance, so these credentials
        cannot read it (the module then refuses to act).
      type: str
      sample: Ready
    replication_state:
      description: Failback data replication state of the instance (Failback Client path).
      type: str
    replication_progress_percent:
      description: Its progress by bytes (0-100).
      type: float
    reversed_direction_source_server:
      description: >-
        Origin AWS - C(arn), C(region), C(account_id), C(source_server_id), C(found), C(missing) (read in its
        Region, same account, not there - deleted), C(data_replication_state), C(state_label),
        C(replication_direction), C(progress_percent), C(rescan_percent) (in V(RESCAN) only), C(lag_seconds),
        C(error), C(replicating_this_instance); null before reverse replication.
      type: dict
    failback_instance:
      description: >-
        Origin AWS - the failback instance launched in the origin Region - C(recovery_instance_id),
        C(ec2_instance_id), C(ec2_instance_state), C(region), C(is_drill), C(job_id), C(re_protection_state);
        null before the launch.
      type: dict
    pending_action:
      description: >-
        What an operator should do next when O(state) is not reached, else null. While DRS does not show yet
        what this run sent, it says so.
      type: str
    actions:
      description: The calls sent for this instance (same entries as RV(calls)).
      type: list
      elements: dict
calls:
  description: >-
    Every mutating call sent - C(operation), C(region), C(parameters), C(recovery_instance_ids) it was for,
    C(when), C(result) (reversed-direction server ARN, job IDs, C(reconciled) when a lost answer was
    reconciled by reading DRS).
  returned: always
  type: list
  elements: dict
  sample:
    - operation: ReverseReplication
      region: us-west-2
      parameters: {recoveryInstanceID: i-0123456789abcdef0}
      recovery_instance_ids: [i-0123456789abcdef0]
      when: now
      result:
        reversed_direction_source_server_arn: arn:aws:drs:us-east-1:123456789012:source-server/s-0fedcba0987654321
reattached:
  description: >-
    Failback launches that were due but found already running (started by an earlier, interrupted run): not
    sent again; C(result.job_ids) names the running jobs.
  returned: always
  type: list
  elements: dict
  sample: []
planned_calls:
  description: >-
    Check mode - the calls that would be sent, C(when=now) for those due now, otherwise the event they wait
    for (placeholders name IDs DRS has not created yet). Empty outside check mode.
  returned: always
  type: list
  elements: dict
  sample:
    - operation: ReverseReplication
      region: us-west-2
      parameters: {recoveryInstanceID: i-0123456789abcdef0}
      recovery_instance_ids: [i-0123456789abcdef0]
      when: now
    - operation: StartRecovery
      region: us-east-1
      parameters:
        sourceServers: [{sourceServerID: "<reversed-direction source server of i-0123456789abcdef0>"}]
        isDrill: false
      recovery_instance_ids: [i-0123456789abcdef0]
      when: after <reversed-direction source server of i-0123456789abcdef0> is CONTINUOUS
summary:
  description: C(total), C(reached), C(by_phase).
  returned: always
  type: dict
  sample: {total: 2, reached: 2, by_phase: {ready: 2}}
wait:
  description: C(polls) and C(elapsed_seconds) of the wait.
  returned: when O(wait=true) and not in check mode
  type: dict
  sample: {polls: 14, elapsed_seconds: 1690.4}
"""

from ansible_collections.amazon.aws.plugins.module_utils.botocore import get_aws_connection_info
from ansible_collections.amazon.aws.plugins.module_utils.modules import AnsibleAWSModule

from ansible_collections.drs.orchestration.plugins.module_utils.failback import STATES, ensure_failback
from ansible_collections.drs.orchestration.plugins.module_utils.runner import run_core, wait_options


def main():
    argument_spec = {
        "recovery_instance_ids": {"type": "list", "elements": "str"},
        "source_server_ids": {"type": "list", "elements": "str"},
        "state": {"type": "str", "required": True, "choices": list(STATES)},
        "drill": {"type": "bool", "default": True},
        "confirm_production": {"type": "bool", "default": False},
        "tags": {"type": "dict"},
        "wait": {"type": "bool", "default": True},
        "wait_timeout": {"type": "int", "default": 14400},
        "poll_interval": {"type": "float", "default": 30},
    }
    module = AnsibleAWSModule(
        argument_spec=argument_spec,
        supports_check_mode=True,
        mutually_exclusive=[("recovery_instance_ids", "source_server_ids")],
        required_one_of=[("recovery_instance_ids", "source_server_ids")],
    )
    params = module.params

    def action(clients):
        return ensure_failback(
            clients,
            clients.region,
            recovery_instance_ids=params["recovery_instance_ids"],
            source_server_ids=params["source_server_ids"],
            state=params["state"],
            drill=params["drill"],
            confirm_production=params["confirm_production"],
            tags=params["tags"],
            **wait_options(module),
        )

    result = run_core(module, get_aws_connection_info(module), action, "failing back DRS recovery instances")
    module.exit_json(**result)


if __name__ == "__main__":
    main()
