#!/usr/bin/python
# Copyright: Contributors to drs.orchestration
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)

DOCUMENTATION = r"""
---
module: drs_job_info
short_description: List AWS DRS jobs with their participating servers and, on request, their log items
version_added: 1.0.0
description:
  - Lists the jobs of AWS Elastic Disaster Recovery (DRS) in O(region) - drills, recoveries, failback launches
    and terminations - latest first, with each job's participating servers and their launch status.
  - Filters by job ID, creation date range (both sent to C(DescribeJobs)), job type and initiator (applied to
    the results, C(DescribeJobs) has no such filters). Every page of C(DescribeJobs) is read.
  - With O(include_log_items), adds each job's log (C(DescribeJobLogItems), every page), where DRS explains
    failed launches.
  - Changes nothing; supports check mode.
options:
  job_ids:
    description:
      - Job IDs (C(drsjob-...)). IDs DRS does not know are listed in RV(missing_job_ids).
    type: list
    elements: str
  job_type:
    description:
      - Only jobs of these types.
    type: list
    elements: str
    choices: [LAUNCH, TERMINATE, CREATE_CONVERTED_SNAPSHOT]
  initiated_by:
    description:
      - Only jobs started by these actions, for example V(START_DRILL), V(START_RECOVERY), V(FAILBACK) or
        V(TERMINATE_RECOVERY_INSTANCES).
    type: list
    elements: str
    choices: [START_RECOVERY, START_DRILL, FAILBACK, DIAGNOSTIC, TERMINATE_RECOVERY_INSTANCES, TARGET_ACCOUNT,
              CREATE_NETWORK_RECOVERY, UPDATE_NETWORK_RECOVERY, ASSOCIATE_NETWORK_RECOVERY]
  from_date:
    description:
      - Only jobs created at or after this date-time (ISO 8601, for example V(2024-05-01T00:00:00Z)).
    type: str
  to_date:
    description:
      - Only jobs created at or before this date-time (ISO 8601).
    type: str
  include_log_items:
    description:
      - Add each job's log items (one paginated C(DescribeJobLogItems) per job).
    type: bool
    default: false
extends_documentation_fragment:
  - amazon.aws.common.modules
  - amazon.aws.region.modules
  - amazon.aws.boto3
author:
  - drs.orchestration contributors (!UNKNOWN)
notes:
  - A job's C(status) is only C(PENDING), C(STARTED) or C(COMPLETED); whether each server succeeded is its
    C(launch_status). See U(https://docs.aws.amazon.com/drs/latest/APIReference/API_DescribeJobs.html).
"""

EXAMPLES = r"""
- name: Drills of the last day
  drs.orchestration.drs_job_info:
    region: us-west-2
    initiated_by: [START_DRILL]
    from_date: "{{ '%Y-%m-%dT%H:%M:%SZ' | strftime(now().timestamp() - 86400, utc=true) }}"

- name: One job with its log, to see why a launch failed
  drs.orchestration.drs_job_info:
    region: us-west-2
    job_ids: [drsjob-0123456789abcdef0]
    include_log_items: true
  register: job
"""

RETURN = r"""
jobs:
  description: The matching jobs, latest first.
  returned: always
  type: list
  elements: dict
  contains:
    job_id:
      description: The job ID.
      type: str
      sample: drsjob-0123456789abcdef0
    arn:
      description: The job ARN.
      type: str
      sample: arn:aws:drs:us-west-2:123456789012:job/drsjob-0123456789abcdef0
    type:
      description: C(LAUNCH), C(TERMINATE) or C(CREATE_CONVERTED_SNAPSHOT).
      type: str
      sample: LAUNCH
    initiated_by:
      description: What started the job (C(START_DRILL), C(START_RECOVERY), C(FAILBACK), ...).
      type: str
      sample: START_DRILL
    status:
      description: C(PENDING), C(STARTED) or C(COMPLETED).
      type: str
      sample: COMPLETED
    creation_time:
      description: When the job was created (ISO 8601, UTC).
      type: str
      sample: "2024-05-01T12:00:00+00:00"
    end_time:
      description: When the job ended; null while it runs.
      type: str
      sample: "2024-05-01T12:05:10+00:00"
    tags:
      description: The job's tags.
      type: dict
      sample: {"change": "CHG0042"}
    participating_servers:
      description: The servers of the job with their recovery instance and launch status
        (C(PENDING), C(IN_PROGRESS), C(LAUNCHED), C(FAILED), C(TERMINATED)).
      type: list
      elements: dict
      sample: [{"source_server_id": "s-0123456789abcdef0", "recovery_instance_id": "i-0123456789abcdef0",
                "launch_status": "LAUNCHED"}]
    log_items:
      description: The job's log, oldest first; C(event_data) holds the members DRS returned
        (C(source_server_id), C(conversion_server_id), C(target_instance_id), C(raw_error), ...).
      type: list
      elements: dict
      returned: when O(include_log_items=true)
      sample: [{"time": "2024-05-01T12:00:10+00:00", "event": "JOB_START", "event_data": {}}]
missing_job_ids:
  description: Requested job IDs that DRS does not know in O(region).
  returned: always
  type: list
  elements: str
  sample: []
"""

from ansible_collections.amazon.aws.plugins.module_utils.botocore import get_aws_connection_info
from ansible_collections.amazon.aws.plugins.module_utils.modules import AnsibleAWSModule

from ansible_collections.drs.orchestration.plugins.module_utils.jobs import INITIATORS, JOB_TYPES, job_info
from ansible_collections.drs.orchestration.plugins.module_utils.runner import run_core
from ansible_collections.drs.orchestration.plugins.module_utils.validation import check_region


def main():
    argument_spec = {
        "job_ids": {"type": "list", "elements": "str"},
        "job_type": {"type": "list", "elements": "str", "choices": list(JOB_TYPES)},
        "initiated_by": {"type": "list", "elements": "str", "choices": list(INITIATORS)},
        "from_date": {"type": "str"},
        "to_date": {"type": "str"},
        "include_log_items": {"type": "bool", "default": False},
    }
    module = AnsibleAWSModule(argument_spec=argument_spec, supports_check_mode=True)

    def action(clients):
        p = module.params
        check_region(module.region, "region")
        found = job_info(
            clients,
            module.region,
            job_ids=p["job_ids"],
            from_date=p["from_date"],
            to_date=p["to_date"],
            job_type=p["job_type"],
            initiated_by=p["initiated_by"],
            include_log_items=p["include_log_items"],
        )
        return {"changed": False, **found}

    module.exit_json(**run_core(module, get_aws_connection_info(module), action, "describing DRS jobs"))


if __name__ == "__main__":
    main()
