# Copyright: Contributors to drs.orchestration
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
"""SSM Run Command plumbing: statuses, sending safely, listing commands and invocations.

Three things here are easy to get wrong and are written once:

* **Statuses.** An invocation has a ``Status`` (8 values) and a ``StatusDetails``
  (adds Delivery/Execution Timed Out, Undeliverable, Terminated, InvalidPlatform,
  AccessDenied ...); a command adds Incomplete, Rate Exceeded, No Instances In Tag.
  :func:`invocation_state` and :func:`overall_status` map every documented value
  (botocore ``ssm`` model; "Understanding command statuses", AWS Systems Manager User
  Guide) onto five outcomes, each failure with a reason and a remedy.
* **Sending.** SendCommand is not idempotent. :func:`send_command` retries it only on
  throttling; after an ambiguous failure (5xx, lost connection) it looks the command up
  by its unique ``Comment`` marker through ListCommands before sending again.
* **Reading at fleet scale.** :func:`list_commands` reads many commands per call
  (aggregate counts), :func:`list_invocations` reads per-instance detail once.
"""

from __future__ import annotations

import time
from datetime import timedelta

from .aws import error_code, error_message, is_ambiguous, paginate, retry_throttled
from .errors import AmbiguousCallError
from .timeutil import isoformat, parse_datetime, service_now

# What the SSM agent needs to receive commands (AWS Systems Manager User Guide,
# "Setting up Systems Manager for EC2 instances" and "Use VPC endpoints").
SSM_REMEDY = (
    "Give the instance an instance profile with the AmazonSSMManagedInstanceCore policy and let its SSM agent "
    "reach Systems Manager: outbound HTTPS (443) to the internet or VPC interface endpoints for ssm, "
    "ssmmessages and ec2messages; then check it shows as Online in Fleet Manager."
)
DRS_NETWORK_REMEDY = (
    "The AWS Replication Agent installer needs outbound HTTPS (443) to the DRS and S3 endpoints of the target "
    "region and a supported operating system; read the output below or in the command's S3/CloudWatch log."
)

# Before any SSM response told the service's time, the local clock stands in for it; it may be
# skewed (a controller clock ahead of SSM would hide recent commands), so a lookback reaches this much further.
UNOBSERVED_CLOCK_MARGIN = 24 * 3600

# Outcome groups, the REST contract's vocabulary.
PENDING, IN_PROGRESS, SUCCESS, FAILED, CANCELLED = "Pending", "InProgress", "Success", "Failed", "Cancelled"

# Status values that end an invocation or a command (model enums CommandInvocationStatus / CommandStatus).
TERMINAL_STATUSES = frozenset({"Success", "Cancelled", "TimedOut", "Failed"})

# Invocations that never ran the installer on the instance: SSM could not deliver them, cancelled
# them when the command reached its MaxErrors (Terminated), or an operator cancelled the command.
# Their remedies say "re-run", and a re-run sends the install again; an install that ran and failed
# is reported, not retried (retry_failed).
_NOT_RUN = frozenset({"undeliverable", "terminated", "cancelled"})

# key (StatusDetails or Status without spaces, lower case) -> (group, reason, remedy)
_STATES = {
    "pending": (PENDING, "the command has not reached the instance yet", None),
    "delayed": (PENDING, "SSM could not deliver the command yet and keeps retrying", SSM_REMEDY),
    "inprogress": (IN_PROGRESS, "the install is running", None),
    "cancelling": (IN_PROGRESS, "the command is being cancelled", None),
    "success": (SUCCESS, "the agent was installed", None),
    "failed": (FAILED, "the install script failed on the instance", DRS_NETWORK_REMEDY),
    "timedout": (FAILED, "the command timed out", DRS_NETWORK_REMEDY),
    "deliverytimedout": (
        FAILED,
        "the command expired (timeout_seconds plus the execution timeout) before the instance reported a result: "
        "its SSM agent did not pick the command up or stopped answering",
        SSM_REMEDY,
    ),
    "executiontimedout": (
        FAILED,
        "the install started but did not finish before the execution timeout",
        DRS_NETWORK_REMEDY,
    ),
    "undeliverable": (
        FAILED,
        "SSM could not deliver the command: the instance no longer exists or is not responding",
        "Check that the instance still exists and is running, then re-run.",
    ),
    "terminated": (
        FAILED,
        "not run: the command reached its max_errors limit and SSM cancelled the remaining invocations",
        "Fix the failures reported for the other instances (or raise max_errors), then re-run.",
    ),
    "invalidplatform": (
        FAILED,
        "the SSM document does not support this instance's platform",
        "Use a document that supports the platform; DRS supports Linux and Windows source servers.",
    ),
    "accessdenied": (
        FAILED,
        "the command was denied access on the instance",
        "Check the instance profile (AmazonSSMManagedInstanceCore) and any service role or KMS permissions.",
    ),
    "cancelled": (CANCELLED, "the command was cancelled", "Re-run to send the install again."),
    # Command-level StatusDetails only.
    "incomplete": (FAILED, "the command ran on every instance but some invocations did not succeed", None),
    "rateexceeded": (
        FAILED,
        "SSM refused the command: the account's limit of pending invocations was exceeded",
        "Wait for running commands to finish (or lower batch_size), then re-run.",
    ),
    "limitexceeded": (
        FAILED,
        "SSM refused the command: the account's limit of pending invocations was exceeded",
        "Wait for running commands to finish (or lower batch_size), then re-run.",
    ),
    "noinstancesintag": (FAILED, "the command had no target instances", None),
}


def _key(value):
    return "".join(str(value or "").split()).lower()


def invocation_state(status, status_details=None):
    """``{group, terminal, reason, remedy}`` for an invocation (or command) Status/StatusDetails.

    StatusDetails is more precise than Status (e.g. Status ``TimedOut`` with details
    ``DeliveryTimedOut``), so it is tried first; the AWS console writes it with spaces
    ("Delivery Timed Out"), the filter API without: both are read. ``terminal`` comes
    from Status, the documented enum. A value the docs do not list keeps group
    ``Unknown`` and says so.
    """
    entry = _STATES.get(_key(status_details)) or _STATES.get(_key(status))
    terminal = status in TERMINAL_STATUSES
    if entry is None:
        return {
            "group": "Unknown",
            "terminal": terminal,
            "reason": f"SSM reported an undocumented status {status!r} ({status_details!r})",
            "remedy": None,
        }
    group, reason, remedy = entry
    if terminal and group in (PENDING, IN_PROGRESS):
        # e.g. Status Failed with StatusDetails "Pending" cannot be pending any more.
        group, reason, remedy = _STATES[_key(status)]
    return {"group": group, "terminal": terminal, "reason": reason, "remedy": remedy}


def overall_status(groups, command_status=None, command_details=None):
    """One status for a set of invocation groups: Pending, InProgress, Success, Failed or Cancelled.

    Unfinished invocations win (InProgress, or Pending when nothing started); among
    finished ones a failure wins over a cancellation, which wins over success. With no
    invocations yet, the command's own Status/StatusDetails decide.
    """
    groups = list(groups)
    if not groups:
        if command_status is None:
            return PENDING
        state = invocation_state(command_status, command_details)
        return state["group"] if state["group"] != "Unknown" else (FAILED if state["terminal"] else IN_PROGRESS)
    if any(g in (PENDING, IN_PROGRESS, "Unknown") for g in groups):
        return PENDING if all(g == PENDING for g in groups) else IN_PROGRESS
    if FAILED in groups:
        return FAILED
    if CANCELLED in groups:
        return CANCELLED
    return SUCCESS


def truncate_output(text, limit=1000):
    """The last ``limit`` characters of command output (errors are printed last)."""
    if not text:
        return ""
    text = str(text)
    if len(text) <= limit:
        return text
    return "[...]" + text[-limit:]


def command_summary(command):
    """The fields of a ListCommands/SendCommand ``Command`` that callers report, in snake_case."""
    parameters = command.get("Parameters") or {}
    return {
        "command_id": command.get("CommandId"),
        "document_name": command.get("DocumentName"),
        "document_version": command.get("DocumentVersion"),
        "comment": command.get("Comment"),
        "instance_ids": list(command.get("InstanceIds") or []),
        "target_region": (parameters.get("Region") or [None])[0],
        "status": command.get("Status"),
        "status_details": command.get("StatusDetails"),
        "requested_at": isoformat(command.get("RequestedDateTime")),
        "target_count": command.get("TargetCount"),
        "completed_count": command.get("CompletedCount"),
        "error_count": command.get("ErrorCount"),
        "delivery_timed_out_count": command.get("DeliveryTimedOutCount"),
    }


def never_ran(result):
    """Whether an :func:`invocation_summary` is of an invocation that never ran the installer (see _NOT_RUN)."""
    return _key(result.get("status_details") or result.get("status")) in _NOT_RUN


def invocation_summary(invocation, output_limit=1000):
    """Per-instance result of a ListCommandInvocations entry (with or without Details)."""
    plugins = invocation.get("CommandPlugins") or []
    output = "\n".join(p.get("Output") or "" for p in plugins if p.get("Output")).strip()
    codes = [p.get("ResponseCode") for p in plugins if p.get("ResponseCode") not in (None, -1)]
    starts = [parse_datetime(p.get("ResponseStartDateTime")) for p in plugins]
    ends = [parse_datetime(p.get("ResponseFinishDateTime")) for p in plugins]
    starts = [s for s in starts if s is not None]
    ends = [e for e in ends if e is not None]
    state = invocation_state(invocation.get("Status"), invocation.get("StatusDetails"))
    output_url = invocation.get("StandardOutputUrl") or next(
        (p.get("StandardOutputUrl") for p in plugins if p.get("StandardOutputUrl")), None
    )
    error_url = invocation.get("StandardErrorUrl") or next(
        (p.get("StandardErrorUrl") for p in plugins if p.get("StandardErrorUrl")), None
    )
    cloudwatch = invocation.get("CloudWatchOutputConfig") or {}
    return {
        "instance_id": invocation.get("InstanceId"),
        "command_id": invocation.get("CommandId"),
        "status": invocation.get("Status"),
        "status_details": invocation.get("StatusDetails"),
        "state": state["group"],
        "terminal": state["terminal"],
        "reason": state["reason"],
        "remedy": state["remedy"],
        "requested_at": isoformat(invocation.get("RequestedDateTime")),
        "start_time": isoformat(min(starts)) if starts else None,
        "end_time": isoformat(max(ends)) if ends and state["terminal"] else None,
        "response_code": codes[-1] if codes else None,
        "output": truncate_output(output, output_limit),
        "output_url": output_url,
        "error_url": error_url,
        "cloudwatch_log_group": cloudwatch.get("CloudWatchLogGroupName")
        if cloudwatch.get("CloudWatchOutputEnabled")
        else None,
    }


class ServiceClock:
    """The latest time SSM reported (response Date headers): a lower bound for what comes next.

    Filters such as ``InvokedAfter`` compare against the service's clock, not ours (the
    emulator's clock runs fast; a controller's may be skewed).
    """

    def __init__(self):
        self.last = None

    def observe(self, response):
        headers = ((response or {}).get("ResponseMetadata") or {}).get("HTTPHeaders") or {}
        if headers.get("date"):
            seen = service_now(response)
            if self.last is None or seen > self.last:
                self.last = seen
        return response

    def since(self, seconds_back):
        """An ``InvokedAfter`` value ``seconds_back`` before the last seen time (ISO 8601, Z).

        With nothing observed yet, local time minus :data:`UNOBSERVED_CLOCK_MARGIN` more: a
        controller clock ahead of SSM's must not hide the command a reconcile looks for (a
        window too wide only lists more commands).
        """
        margin = 0 if self.last is not None else UNOBSERVED_CLOCK_MARGIN
        base = self.last if self.last is not None else service_now(None)
        return (base - timedelta(seconds=seconds_back + margin)).strftime("%Y-%m-%dT%H:%M:%SZ")


def describe_document(client, name, version=None, clock=None):
    """DescribeDocument -> ``Document``; a missing document is an input error the caller words."""
    kwargs = {"Name": name}
    if version:
        kwargs["DocumentVersion"] = version
    response = client.describe_document(**kwargs)
    if clock is not None:
        clock.observe(response)
    return response["Document"]


def list_commands(client, document_name, invoked_after, command_id=None, clock=None):
    """Every command of ``document_name`` requested after ``invoked_after`` (ISO 8601), all pages.

    One call returns up to 50 commands with their aggregate counts (TargetCount,
    CompletedCount, ErrorCount), so watching a fleet costs O(commands / 50) calls.
    """
    kwargs = {"Filters": [{"key": "DocumentName", "value": document_name}]}
    if invoked_after:
        kwargs["Filters"].append({"key": "InvokedAfter", "value": invoked_after})
    if command_id:
        kwargs = {"CommandId": command_id}
    commands = []
    paginator = client.get_paginator("list_commands")
    for page in paginator.paginate(**kwargs, PaginationConfig={"PageSize": 50}):
        if clock is not None:
            clock.observe(page)
        commands.extend(page.get("Commands") or ())
    return commands


def get_command(client, command_id, clock=None):
    """One command by ID (ListCommands CommandId=...), or None when SSM does not know it."""
    try:
        found = list_commands(client, None, None, command_id=command_id, clock=clock)
    except Exception as exc:
        if error_code(exc) == "InvalidCommandId":
            return None
        raise
    return found[0] if found else None


def list_invocations(client, command_id, details=True):
    """Every invocation of a command (ListCommandInvocations, paginated), with plugin output when ``details``."""
    return list(
        paginate(
            client,
            "list_command_invocations",
            "CommandInvocations",
            CommandId=command_id,
            Details=details,
            PaginationConfig={"PageSize": 50},
        )
    )


def find_command_by_marker(client, document_name, marker, invoked_after, clock=None):
    """The command whose Comment is ``marker`` (unique per send), or None."""
    for command in list_commands(client, document_name, invoked_after, clock=clock):
        if command.get("Comment") == marker:
            return command
    return None


def send_command(
    writer,
    reader,
    params,
    marker,
    clock,
    sleep=time.sleep,
    attempts=3,
    reconcile_delays=(2.0, 5.0),
):
    """SendCommand once, safely: returns ``(command, reconciled)``.

    Throttling is retried (the request did not execute). Any other error that may have
    executed (5xx, lost connection) is reconciled: ListCommands is searched for the
    command carrying ``marker`` in its Comment; only when it is not found after
    ``reconcile_delays`` is the same request sent again, at most ``attempts`` times.
    Errors that say the request was refused (4xx) propagate to the caller unchanged.
    """
    params = dict(params, Comment=marker)
    invoked_after = clock.since(120)
    last_error = None
    for _attempt in range(attempts):
        try:
            response = retry_throttled(writer.send_command, sleep=sleep, **params)
        except Exception as exc:
            if not is_ambiguous(exc):
                raise
            last_error = exc
        else:
            clock.observe(response)
            return response["Command"], False
        for delay in reconcile_delays:
            sleep(delay)
            try:
                found = find_command_by_marker(reader, params["DocumentName"], marker, invoked_after, clock=clock)
            except Exception as exc:
                raise AmbiguousCallError(
                    f"SendCommand ({marker}) failed in a way that may have run it ({error_message(last_error)}), "
                    f"and looking it up failed too ({error_message(exc)}). Re-run the task: it finds commands "
                    "already in flight and does not send them again.",
                    marker=marker,
                ) from exc
            if found is not None:
                return found, True
    raise AmbiguousCallError(
        f"SendCommand ({marker}) failed {attempts} times without an answer ({error_message(last_error)}), and no "
        "command with this marker exists. Check SSM's health in this region, then re-run the task.",
        marker=marker,
    )


def instance_information(client, instance_ids, chunk=50):
    """DescribeInstanceInformation for ``instance_ids`` -> ``{instance_id: info}`` (absent = not managed).

    IDs go in chunks of ``chunk`` through the ``InstanceIds`` filter, every page read.
    SSM rejects a whole request naming an ID it does not accept (InvalidInstanceId), so a
    refused chunk is split in halves until the refused IDs stand alone: they are simply
    absent from the result, like unmanaged instances.
    """
    found = {}
    pending = [list(instance_ids[i : i + chunk]) for i in range(0, len(instance_ids), chunk)]
    while pending:
        ids = pending.pop()
        try:
            for info in paginate(
                client,
                "describe_instance_information",
                "InstanceInformationList",
                Filters=[{"Key": "InstanceIds", "Values": ids}],
                PaginationConfig={"PageSize": 50},
            ):
                found[info["InstanceId"]] = info
        except Exception as exc:
            if error_code(exc) not in ("InvalidInstanceId", "InvalidInstanceInformationFilterValue"):
                raise
            if len(ids) > 1:
                middle = len(ids) // 2
                pending.extend([ids[:middle], ids[middle:]])
    return found
