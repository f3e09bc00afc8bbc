#!/usr/bin/python

# Copyright: Contributors to drs.orchestration
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)

DOCUMENTATION = r"""
---
module: drs_agent_install
short_description: Install the AWS Replication Agent on a fleet of EC2 instances through SSM Run Command
version_added: 1.0.0
description:
  - Puts EC2 instances under AWS Elastic Disaster Recovery (DRS) by running the SSM document
    C(AWSDisasterRecovery-InstallDRAgentOnInstance) (or O(document_name)) on them, any number at a time.
  - Idempotent. Instances that are already DRS source servers in O(target_region) (matched on
    C(identificationHints.awsInstanceID), failover direction) are not sent anything - reported as C(installed)
    when an install from this document in the last 24 hours put them there, C(skipped) otherwise; the task
    then reports C(changed=false). An install already running for the same instance and target region is
    re-attached, not sent again, so re-running after an interruption never installs twice; that includes
    installs sent by others with C(Targets) (tags), whose instances are read from their invocations once SSM
    has resolved the tags (a run that finds some still resolving waits up to 60 seconds in all for them, in
    check mode too, then warns that it may install twice). An install that
    failed in the last 24 hours is reported and not retried unless O(retry_failed); each instance's own
    result is read (an SSM command can end C(Success) while some of its instances were C(AccessDenied),
    C(Undeliverable) or C(InvalidPlatform)).
  - A source server disconnected from DRS (C(DisconnectSourceServer) uninstalls the agent and zeroes its
    disks' sizes) does not protect its instance - the agent is installed again, the reason says why, and the
    wait is for the server to replicate again. A server C(DISCONNECTED) because its agent is not seen (disk
    sizes kept) is still protected - it is skipped with a remedy, since reinstalling would restart
    replication. So is (with O(skip_protected)) a protected instance that is stopped (or stopping, pending) -
    nothing can be installed on it and nothing needs to be, so it is not a failure; the reason says it is
    stopped.
  - With O(precheck), instances whose SSM agent is not C(Online), that are not managed by SSM, or whose
    platform the document does not support are not sent a command; each is reported with the reason
    and the remedy.
  - Scales to hundreds of instances. It sends ceil(N / O(batch_size)) C(SendCommand) calls, each poll
    round costs one C(ListCommands) sweep for all commands (plus one C(DescribeSourceServers) sweep while
    installed instances are not yet source servers), and per-instance detail is read once per finished
    command (C(ListCommandInvocations) with details). C(SendCommand) is retried only when throttled; after
    an ambiguous failure the command is looked up by its unique comment before anything is sent again.
  - Warns when the install would push the replicating source servers of O(target_region) past the DRS
    quota (300 by default; the live value is read from Service Quotas when permitted).
  - Partial failures are reported per instance. The task fails only when more instances than
    O(max_failures) failed or were rejected by the precheck, naming each with its reason; the result
    still lists the successes.
  - In check mode, returns the plan (which instances would be installed, skipped and why, or rejected by
    the precheck) and sends nothing.
options:
  instance_ids:
    description:
      - EC2 instance IDs to install the agent on, in the module's region (O(region)).
      - With O(instance_filters) too, an instance must match both (as in EC2 C(DescribeInstances)).
    type: list
    elements: str
  instance_filters:
    description:
      - >-
        EC2 C(DescribeInstances) filters that select the instances, for example C({"tag:dr:enabled": "true"}).
      - Values may be strings or lists of strings. Terminated instances are ignored; stopped ones are
        reported as rejected, unless they are protected already and O(skip_protected) is on (then skipped).
      - EC2 takes at most 200 filter values in one request, all filters counted together; with O(instance_ids),
        which are looked up in chunks beside these filters, at most 199. More is refused before any call.
      - See U(https://docs.aws.amazon.com/AWSEC2/latest/APIReference/API_DescribeInstances.html) for the filter names.
    type: dict
  target_region:
    description:
      - The region DRS replicates the instances to (the document's C(Region) parameter).
      - Must be a region where DRS is available (botocore endpoint data), and DRS must be initialized there.
    type: str
    required: true
  tags:
    description:
      - Tags for the DRS source servers, passed to the document's C(Tags) parameter as one C(K=V,K=V) string.
      - >-
        The limits of the AWS document's C(Tags) parameter apply - at most 21 tags, keys and values of 1 to 50
        characters from C(A-Z a-z 0-9 _ . : + / @ -), values may also contain spaces. C(,) C(=) quotes and other
        characters are refused because they would corrupt that string. Keys may not start with C(aws:).
    type: dict
  account_id:
    description:
      - Replicate into another AWS account (12 digits), passed as the document's C(AccountId) parameter.
      - The document must declare an C(AccountId) parameter (checked with C(DescribeDocument)); the task fails
        with a clear message otherwise. The instances need an instance profile with
        C(AWSElasticDisasterRecoveryEc2InstancePolicy), and this account must be a trusted account there.
      - Source servers then register in that account, which these credentials cannot see, so O(skip_protected)
        and O(wait_for_registration) only cover this account (a warning says so). Earlier installs are then
        looked up over SSM's whole command history (30 days) instead of 24 hours, so a re-run within 30 days
        sends nothing to instances installed successfully; O(skip_protected=false) installs on them again, once -
        a re-run of that reinstall sends nothing.
        Earlier failures still count for 24 hours only.
    type: str
  document_name:
    description:
      - The SSM Command document that installs the agent.
    type: str
    default: AWSDisasterRecovery-InstallDRAgentOnInstance
  document_version:
    description:
      - Document version (a number, C($LATEST) or C($DEFAULT)). The default version when not set.
    type: str
  batch_size:
    description:
      - Instances per C(SendCommand) call, 1 to 50 (the API limit).
    type: int
    default: 50
  max_concurrency:
    description:
      - C(MaxConcurrency) of each command, a number (C(10)) or a percentage (C(25%)). SSM default when not set.
    type: str
  max_errors:
    description:
      - C(MaxErrors) of each command, a number (C(0)) or a percentage (C(10%)). Once reached, SSM stops the
        remaining invocations of that command (reported with status details C(Terminated)).
    type: str
  timeout_seconds:
    description:
      - C(TimeoutSeconds) of each command (30 to 2592000) - how long SSM tries to deliver the command to an
        instance before giving up with C(DeliveryTimedOut). SSM default (3600) when not set.
    type: int
  output_s3_bucket:
    description:
      - S3 bucket where SSM writes each instance's full install output.
    type: str
  output_s3_key_prefix:
    description:
      - Key prefix in O(output_s3_bucket).
    type: str
  output_s3_region:
    description:
      - Region of O(output_s3_bucket) when it is not the module's region.
      - Deprecated in the SSM API - SendCommand ignores C(OutputS3Region) and finds the bucket's Region itself
        (botocore C(ssm) model). Accepted and passed on for compatibility; it changes nothing.
    type: str
  cloudwatch_output:
    description:
      - Send the install output to CloudWatch Logs too (log group O(cloudwatch_log_group), or the one SSM creates,
        named after the document - C(aws/ssm/<document name>) in the SSM API reference, C(CloudWatchOutputConfig)).
    type: bool
    default: false
  cloudwatch_log_group:
    description:
      - CloudWatch Logs group for the output; setting it turns O(cloudwatch_output) on.
    type: str
  skip_protected:
    description:
      - Skip instances that are already DRS source servers in O(target_region). One paginated
        C(DescribeSourceServers) sweep, whatever the fleet size.
      - Source servers disconnected from DRS (C(DisconnectSourceServer)) do not count as protected; their
        instances are installed again.
      - When C(false), the agent is installed again on them (DRS may then resynchronize their disks); an
        install still running for them is re-attached, not doubled. Such a reinstall is marked in its command's
        C(Comment), and a re-run finds it - it reports those instances as RV(instances[].outcome=installed) by that
        command rather than installing a third time (for 24 hours, the lookback of earlier installs).
    type: bool
    default: true
  precheck:
    description:
      - Check with C(DescribeInstanceInformation) that each instance's SSM agent is C(Online) on a supported
        platform before sending; the others are reported as rejected with the reason and the remedy.
    type: bool
    default: true
  retry_failed:
    description:
      - Send the install again to instances whose last install from this document to O(target_region), in the
        last 24 hours, failed. By default those are reported as failed with the earlier reason and not retried.
      - An earlier install that never ran the installer (C(Undeliverable), C(Terminated) by O(max_errors),
        C(Cancelled)) is not a failure here; it is sent again whatever this option says.
    type: bool
    default: false
  wait_for_registration:
    description:
      - After a successful install, wait until the instance appears as a DRS source server in O(target_region)
        and report its C(source_server_id) (one C(DescribeSourceServers) sweep per poll).
      - An instance that does not register within O(wait_timeout) counts as failed.
    type: bool
    default: true
  max_failures:
    description:
      - How many instances may fail (install failed, timed out, not registered) or be rejected by the precheck
        before the task fails.
    type: int
    default: 0
  tracking_table:
    description:
      - DynamoDB table (in the module's region) where each command is recorded for the REST API - C(CommandId),
        C(InstanceIds), C(TargetRegion), C(Status), C(CreatedAt), C(CreatedDay) (its UTC day, for listing
        installs by time), C(CreatedBy), C(TTL) - and its status updated when it finishes. Writes are
        conditional, so re-runs never duplicate records.
      - The table is checked before anything is sent (one C(GetItem) of a key no command has, also in check
        mode) - a missing table, a table without the C(CommandId) string hash key, or no read access fails the
        task with nothing sent. A record that cannot be written later is reported as a warning (in
        RV(notices)); the installs go on.
    type: str
  tracking_ttl_days:
    description:
      - Days after which DynamoDB expires a tracking record (C(TTL) attribute).
    type: int
    default: 90
  wait_timeout:
    description:
      - Seconds to wait for the installs and the registrations, in total. What is still unfinished then is
        reported as failed; re-running re-attaches to running installs instead of sending them again.
    type: int
    default: 3600
  poll_interval:
    description:
      - Seconds between two status checks while waiting (fractions allowed).
      - Each check costs one C(ListCommands) sweep (50 commands per call), whatever the fleet size.
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
  - O(region) is where the instances run (EC2, SSM); O(target_region) is where DRS replicates them to.
  - >-
    Permissions: C(ec2:DescribeInstances), C(ssm:DescribeDocument), C(ssm:DescribeInstanceInformation),
    C(ssm:SendCommand), C(ssm:ListCommands), C(ssm:ListCommandInvocations), C(drs:DescribeSourceServers); optionally
    C(servicequotas:ListServiceQuotas), C(sts:GetCallerIdentity), C(dynamodb:GetItem), C(dynamodb:PutItem) and
    C(dynamodb:UpdateItem).
  - >-
    AWS references: U(https://docs.aws.amazon.com/drs/latest/userguide/agent-installation.html),
    U(https://docs.aws.amazon.com/systems-manager/latest/userguide/monitor-commands.html),
    U(https://docs.aws.amazon.com/systems-manager/latest/userguide/send-commands-multiple.html).
"""

EXAMPLES = r"""
- name: Protect every instance tagged for DR, replicating to us-west-2
  drs.orchestration.drs_agent_install:
    instance_filters:
      "tag:dr:enabled": "true"
      instance-state-name: running
    target_region: us-west-2
    tags:
      Environment: Production
      Application: web
  register: install

- name: Show what happened to each instance
  ansible.builtin.debug:
    msg: "{{ install.instances | map(attribute='outcome') | list }}"

- name: Preview the plan (nothing is sent)
  drs.orchestration.drs_agent_install:
    instance_ids:
      - i-0123456789abcdef0
      - i-0fedcba9876543210
    target_region: us-west-2
  check_mode: true

- name: Large fleet, small batches, tolerate a few failures, keep a record for the REST API
  drs.orchestration.drs_agent_install:
    instance_filters:
      "tag:dr:tier": "2"
    target_region: eu-west-1
    batch_size: 25
    max_errors: "10%"
    max_failures: 5
    output_s3_bucket: my-ssm-output
    output_s3_key_prefix: drs-agent/
    tracking_table: drs-agent-installations-prod
    wait_timeout: 7200

- name: Cross-account replication with a document that declares AccountId
  drs.orchestration.drs_agent_install:
    instance_ids: ["i-0123456789abcdef0"]
    target_region: us-east-2
    account_id: "210987654321"
    document_name: MyOrg-InstallDRAgentCrossAccount

- name: Send and return at once; a later run re-attaches to the running installs
  drs.orchestration.drs_agent_install:
    instance_filters:
      "tag:dr:enabled": "true"
    target_region: us-west-2
    wait: false
"""

RETURN = r"""
changed:
  description: Whether a command was sent (in check mode, whether one would be).
  returned: always
  type: bool
  sample: true
overall_status:
  description:
    - One status for the run - C(Pending), C(InProgress), C(Success), C(Failed) or C(Cancelled).
    - While some instance is still to be installed or installing (check mode, O(wait=false)) the run is not
      over - C(Pending) when nothing has started yet (a plan, commands not yet delivered), else C(InProgress) -
      even if others already failed or were rejected (RV(summary) counts those).
    - Once everything finished - C(Success) when every instance is installed or already protected, C(Failed)
      when one failed or was rejected (the task itself fails only past O(max_failures)), else C(Cancelled).
  returned: always
  type: str
  sample: Success
target_region:
  description: The DRS region.
  returned: always
  type: str
  sample: us-west-2
document_name:
  description: The SSM document used.
  returned: always
  type: str
  sample: AWSDisasterRecovery-InstallDRAgentOnInstance
commands:
  description: The SSM commands of this run, sent or re-attached.
  returned: always
  type: list
  elements: dict
  contains:
    command_id:
      description: SSM command ID.
      type: str
      sample: 0b9a4c1e-3d52-4b8f-a2a1-1c7f4e0d9a11
    batch:
      description: Batch number, or null for a re-attached command.
      type: int
      sample: 1
    reattached:
      description: Whether the command was sent by an earlier run and re-attached.
      type: bool
      sample: false
    reconciled:
      description: Whether the command was found through its comment after an ambiguous C(SendCommand) failure.
      type: bool
      sample: false
    comment:
      description: The unique marker of the command.
      type: str
      sample: drs.orchestration agent install to us-west-2 run 1a2b3c4d batch 1/2
    instance_ids:
      description: Every instance of the command.
      type: list
      elements: str
      sample: ["i-0123456789abcdef0"]
    instance_count:
      description: How many of them this run selected.
      type: int
      sample: 1
    status:
      description: SSM command status.
      type: str
      sample: Success
    status_details:
      description: SSM command status details.
      type: str
      sample: Success
    overall_status:
      description: The command's outcome (Pending, InProgress, Success, Failed, Cancelled), once finished.
      type: str
      sample: Success
    requested_at:
      description: When SSM accepted the command (ISO 8601).
      type: str
      sample: "2025-01-01T12:00:00+00:00"
    target_count:
      description: Invocations of the command.
      type: int
      sample: 50
    completed_count:
      description: Finished invocations.
      type: int
      sample: 50
    error_count:
      description: Failed invocations.
      type: int
      sample: 0
    delivery_timed_out_count:
      description: Invocations that were never delivered.
      type: int
      sample: 0
    target_region:
      description: The command's C(Region) parameter.
      type: str
      sample: us-west-2
    document_name:
      description: Document of the command.
      type: str
      sample: AWSDisasterRecovery-InstallDRAgentOnInstance
    document_version:
      description: Document version of the command.
      type: str
      sample: "$DEFAULT"
instances:
  description: One entry per selected instance.
  returned: always
  type: list
  elements: dict
  contains:
    instance_id:
      description: EC2 instance ID.
      type: str
      sample: i-0123456789abcdef0
    name:
      description: The instance's Name tag.
      type: str
      sample: web-01
    instance_state:
      description: EC2 state when selected (null when not found).
      type: str
      sample: running
    outcome:
      description:
        - C(installed) (this run's install succeeded, or one from this document in the last 24 hours did and
          the instance is a source server now), C(in_progress) (not finished, or O(wait=false)), C(would_install)
          (check mode), C(skipped) (a source server already, not installed by this document recently),
          C(rejected) (not sent - precheck, not found, not running) or C(failed).
      type: str
      sample: installed
    reason:
      description: Why the instance has this outcome, in words.
      type: str
      sample: "installed; source server s-0123456789abcdef0"
    remedy:
      description: What to do about a failure or rejection.
      type: str
      sample: Give the instance an instance profile with the AmazonSSMManagedInstanceCore policy ...
    command_id:
      description: The SSM command that installed (or is installing) the agent.
      type: str
      sample: 0b9a4c1e-3d52-4b8f-a2a1-1c7f4e0d9a11
    reattached:
      description: Whether that command was sent by an earlier run.
      type: bool
      sample: false
    status:
      description: SSM invocation status.
      type: str
      sample: Success
    status_details:
      description: SSM invocation status details (for example C(DeliveryTimedOut), C(Undeliverable)).
      type: str
      sample: Success
    start_time:
      description: When the install started on the instance (ISO 8601).
      type: str
      sample: "2025-01-01T12:00:05+00:00"
    end_time:
      description: When it finished.
      type: str
      sample: "2025-01-01T12:04:05+00:00"
    output:
      description: The end of the install output (last 1000 characters; the full output is in S3/CloudWatch).
      type: str
      sample: "The installation of the AWS Replication Agent has finished."
    output_url:
      description: S3 URL of the full output, when O(output_s3_bucket) is set.
      type: str
      sample: https://s3.us-east-1.amazonaws.com/my-ssm-output/drs-agent/.../stdout
    source_server_id:
      description: The DRS source server, once registered (or the existing one of a skipped instance).
      type: str
      sample: s-0123456789abcdef0
    replication_state:
      description: Its data replication state when last seen.
      type: str
      sample: INITIATING
    ping_status:
      description: SSM agent ping status seen by the precheck.
      type: str
      sample: Online
    platform:
      description: Platform name and version reported by SSM.
      type: str
      sample: Amazon Linux 2023
summary:
  description: Counts by outcome.
  returned: always
  type: dict
  contains:
    total:
      description: Selected instances.
      type: int
      sample: 20
    installed:
      description: Installed (and registered, with O(wait_for_registration)).
      type: int
      sample: 17
    in_progress:
      description: Not finished.
      type: int
      sample: 0
    would_install:
      description: Would be installed (check mode).
      type: int
      sample: 0
    skipped:
      description: Already protected.
      type: int
      sample: 0
    rejected:
      description: Not sent (precheck, not found, not running).
      type: int
      sample: 2
    failed:
      description: Failed, timed out or not registered.
      type: int
      sample: 1
    reattached:
      description: Instances whose command came from an earlier run.
      type: int
      sample: 0
    commands_sent:
      description: C(SendCommand) calls that created a command in this run.
      type: int
      sample: 1
quota:
  description: The replicating source server quota check.
  returned: always
  type: dict
  contains:
    value:
      description: The quota.
      type: int
      sample: 300
    source:
      description: C(Service Quotas) or C(default).
      type: str
      sample: default
    replicating:
      description: Source servers replicating in O(target_region) before the install.
      type: int
      sample: 12
    projected:
      description: The same after it.
      type: int
      sample: 29
source_servers_visible:
  description:
    - Whether these credentials can see the source servers the installs register - false when O(account_id) names
      another account (cross-account replication), whose source servers only that account can read.
  returned: always
  type: bool
  sample: true
not_running:
  description:
    - Protected instances (C(installed) or C(skipped), with a source server) whose EC2 instance is not running
      (C(pending), C(stopping), C(stopped)) - DRS replicates them again once they run; nothing to wait for until then.
  returned: always
  type: list
  elements: str
  sample: []
notices:
  description: The warnings of the run (also shown as task warnings).
  returned: always
  type: list
  elements: str
  sample: []
planned_batches:
  description: In check mode, the commands that would be sent.
  returned: check mode
  type: list
  elements: dict
  sample: [{"batch": 1, "instance_ids": ["i-0123456789abcdef0"]}]
"""

from ansible_collections.amazon.aws.plugins.module_utils.botocore import get_aws_connection_info
from ansible_collections.amazon.aws.plugins.module_utils.modules import AnsibleAWSModule

from ansible_collections.drs.orchestration.plugins.module_utils.agent_install import (
    DEFAULT_DOCUMENT,
    InstallRequest,
    install_agents,
    plan_install,
)
from ansible_collections.drs.orchestration.plugins.module_utils.errors import DrsOrchestrationError
from ansible_collections.drs.orchestration.plugins.module_utils.runner import core_options, run_core


def main():
    argument_spec = {
        "instance_ids": {"type": "list", "elements": "str"},
        "instance_filters": {"type": "dict"},
        "target_region": {"type": "str", "required": True},
        "tags": {"type": "dict"},
        "account_id": {"type": "str"},
        "document_name": {"type": "str", "default": DEFAULT_DOCUMENT},
        "document_version": {"type": "str"},
        "batch_size": {"type": "int", "default": 50},
        "max_concurrency": {"type": "str"},
        "max_errors": {"type": "str"},
        "timeout_seconds": {"type": "int"},
        "output_s3_bucket": {"type": "str"},
        "output_s3_key_prefix": {"type": "str", "no_log": False},  # an S3 key prefix, not a secret
        "output_s3_region": {"type": "str"},
        "cloudwatch_output": {"type": "bool", "default": False},
        "cloudwatch_log_group": {"type": "str"},
        "skip_protected": {"type": "bool", "default": True},
        "precheck": {"type": "bool", "default": True},
        "retry_failed": {"type": "bool", "default": False},
        "wait": {"type": "bool", "default": True},
        "wait_timeout": {"type": "int", "default": 3600},
        "poll_interval": {"type": "float", "default": 15},
        "wait_for_registration": {"type": "bool", "default": True},
        "max_failures": {"type": "int", "default": 0},
        "tracking_table": {"type": "str"},
        "tracking_ttl_days": {"type": "int", "default": 90},
    }
    module = AnsibleAWSModule(
        argument_spec=argument_spec,
        supports_check_mode=True,
        required_one_of=[("instance_ids", "instance_filters")],
        required_by={"output_s3_key_prefix": "output_s3_bucket", "output_s3_region": "output_s3_bucket"},
    )

    def warn(notices):
        for notice in notices or ():
            module.warn(notice)

    def action(clients):
        request = InstallRequest.from_options(**core_options(module, argument_spec))
        try:
            result = plan_install(clients, request) if module.check_mode else install_agents(clients, request)
        except DrsOrchestrationError as exc:
            warn(exc.details.get("notices"))
            raise
        warn(result.get("notices"))
        return result

    result = run_core(module, get_aws_connection_info(module), action, "installing the AWS Replication Agent")
    module.exit_json(**result)


if __name__ == "__main__":
    main()
