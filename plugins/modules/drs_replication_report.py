#!/usr/bin/python

# Copyright: Contributors to drs.orchestration
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)

# This is a documentation-only module: the work is done by the action plugin of the same
# name (plugins/action/drs_replication_report.py), on the controller.

DOCUMENTATION = r"""
---
module: drs_replication_report
short_description: Write the DRS replication dashboard (HTML), JSON and CSV from a drs_replication_info result
version_added: 1.0.0
description:
  - Renders a self-contained HTML dashboard (inline CSS and SVG; no scripts, fonts or CDNs, so it works offline)
    from the result of M(drs.orchestration.drs_replication_info) - summary cards (total, ready, syncing, needs
    attention), the state distribution and servers by region as SVG charts, a per-server table with state badge,
    progress bar (of the rescan for a server in V(RESCAN)), lag and ETA, the initiation-step timeline of servers
    still initiating, the attention list and recent jobs - and writes JSON and CSV artifacts of the same data.
  - With O(recovery_var) or O(recovery), the dashboard also gets a "Recovery instances and failback" section built
    from M(drs.orchestration.drs_recovery_instance_info) records - summary cards (recovery instances, drills, ready
    for failback, in error, action pending) and per instance its ID and region, source server and hostname, origin
    (AWS Region or on-premises), drill or recovery, EC2 state, the failback status as a badge (console label, with
    the C(FailbackState) value), reverse replication progress by bytes and the current step of the 18-step failback
    initiation, the reversed-direction source server (Region and ID) and the next step to take. The JSON artifact
    then has a C(recovery) member and C(<basename>-recovery.csv) is written with the CSV.
  - Runs on the controller and makes no AWS call. Used by the role C(drs.orchestration.replication_report).
  - Prefer O(result_var) for large fleets - the registered result is read as data, without templating it
    (a 3,000-server dashboard renders in about 1.3 seconds, the median of three runs). O(result) works too but
    Ansible templates the whole structure first.
options:
  result_var:
    description:
      - Name of the variable holding a M(drs.orchestration.drs_replication_info) result (as registered).
      - The result of a failed wait works too (it carries the last snapshot).
      - Exactly one of O(result_var) and O(result) is required.
    type: str
  result:
    description:
      - The M(drs.orchestration.drs_replication_info) result itself.
    type: dict
  recovery_var:
    description:
      - Name of a variable holding recovery instance records for the "Recovery instances and failback" section - a
        list of M(drs.orchestration.drs_recovery_instance_info) records, or that module's registered result - also a
        failed one, or one registered from a loop (a region whose read failed is named in the section with its
        message; the records of the other regions are shown).
      - Read as data, without templating it, like O(result_var). Without O(recovery_var) and O(recovery) the
        dashboard has no recovery section.
    type: str
  recovery:
    description:
      - The recovery instance records themselves, see O(recovery_var).
    type: raw
  dest:
    description:
      - Directory to write the artifacts to (created when missing). A relative path is relative to the directory
        C(ansible-playbook) runs in; the returned RV(paths) are absolute.
    type: path
    required: true
  basename:
    description:
      - File name stem; the artifacts are C(<basename>.html), C(<basename>.json) and C(<basename>.csv).
    type: str
    default: replication
  formats:
    description:
      - Which artifacts to write.
    type: list
    elements: str
    choices: [html, json, csv]
    default: [html, json, csv]
  title:
    description:
      - Title of the dashboard.
    type: str
    default: DRS replication dashboard
  template:
    description:
      - Another HTML template (searched in the role's or playbook's C(templates/)), receiving C(view), the data
        built by the collection's C(dashboard) module utility. Defaults to the role's C(dashboard.html.j2).
    type: str
author:
  - drs.orchestration contributors (!UNKNOWN)
notes:
  - Files are written atomically and only when their content changes. Check mode reports what would change.
attributes:
  check_mode:
    support: full
    description: Reports whether the files would change and writes nothing.
  diff_mode:
    support: none
    description: No diff is shown.
  platform:
    platforms: posix
    description: Runs on the controller.
extends_documentation_fragment:
  - action_common_attributes
"""

EXAMPLES = r"""
- name: Read the fleet's replication status
  drs.orchestration.drs_replication_info:
    regions: [us-east-1, us-west-2]
    lag_threshold: 900
    include_jobs: true
  register: replication

- name: Write the dashboard, JSON and CSV
  drs.orchestration.drs_replication_report:
    result_var: replication
    dest: "{{ playbook_dir }}/reports"
  register: report

- name: Where it is
  ansible.builtin.debug:
    msg: "Dashboard: {{ report.paths.html }}"

- name: Read the recovery instances of both regions
  drs.orchestration.drs_recovery_instance_info:
    regions: [us-east-1, us-west-2]
  register: recovery

- name: Dashboard with the recovery instances and failback section
  drs.orchestration.drs_replication_report:
    result_var: replication
    recovery_var: recovery
    dest: "{{ playbook_dir }}/reports"
"""

RETURN = r"""
paths:
  description:
    - The files written (or that would be written in check mode), by format.
    - C(recovery_csv) (C(<basename>-recovery.csv), one row per recovery instance) is there when C(csv) is written and
      recovery instances were given.
  returned: always
  type: dict
  sample: {html: /srv/reports/replication.html, json: /srv/reports/replication.json, csv: /srv/reports/replication.csv}
recovery:
  description:
    - Summary of the recovery instances section - C(total), C(drills), C(ready_for_failback), C(in_error),
      C(pending_actions), C(by_status) (per console label) - and C(errors), the regions whose recovery instances
      could not be read (C(region), C(message)).
  returned: when O(recovery_var) or O(recovery) is given
  type: dict
  sample: {total: 3, drills: 1, ready_for_failback: 1, in_error: 0, pending_actions: 3, errors: []}
summary:
  description: The result's summary without the attention list (small enough for C(set_stats)).
  returned: always
  type: dict
  sample: {total: 20, ready: 18, syncing: 1, needs_attention_count: 1, by_state: {CONTINUOUS: 18}}
needs_attention:
  description: The result's attention list.
  returned: always
  type: list
  elements: dict
servers:
  description: Number of servers in the dashboard.
  returned: always
  type: int
  sample: 20
render_seconds:
  description: Seconds spent building the view and rendering the artifacts.
  returned: always
  type: float
  sample: 0.41
"""
