# Copyright: Contributors to drs.orchestration
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Installing the AWS Replication Agent on a fleet of EC2 instances through SSM Run Command.

The module ``drs_agent_install`` and the REST API (POST /agent/install, GET
/agent/install/{commandId}/status) call this file; it decides everything:

1. **Select** the instances (EC2 DescribeInstances: IDs and/or filters).
2. **Skip** the protected ones: one paginated DescribeSourceServers sweep of the target
   region, matched on ``identificationHints.awsInstanceID`` (FAILOVER direction).
3. **Remember** what SSM already did: one ListCommands sweep of the install document
   over the last 24 hours (30 days, SSM's whole history, with a cross-account
   ``account_id``), then per-instance results once per finished command found. An
   install in flight for the same instance and target region is re-attached, an earlier
   success is waited for, an earlier failure is reported and not retried unless
   ``retry_failed``. A re-run never installs twice.
4. **Precheck** the rest (DescribeInstanceInformation, chunked): SSM agent not Online or
   platform not supported -> not sent, reported with reason and remedy.
5. **Send** ceil(N / batch_size) SendCommand calls, each with a unique Comment marker;
   throttling retried, ambiguous failures reconciled through ListCommands (ssm.py).
6. **Wait**: each poll round reads all commands at once (ListCommands aggregate counts),
   per-instance detail once per finished command (ListCommandInvocations, Details),
   and, while installed instances are not yet source servers, one DRS sweep.
7. **Report** every instance (outcome, status, details, times, output, source server),
   a summary, and fail only when failures exceed ``max_failures``.

AWS references: DRS user guide "Installing the AWS Replication Agent" and
"Service quotas"; SSM user guide "Understanding command statuses", "Run commands at
scale"; botocore service models ``ssm``, ``drs``, ``ec2``, ``service-quotas``.
"""

from __future__ import annotations

import re
import time
import uuid
from dataclasses import dataclass, field, fields
from datetime import timedelta

from .aws import chunked, error_code, error_message, is_aws_error, is_throttling, paginate
from .errors import AmbiguousCallError, ConflictError, DrsOrchestrationError, InputError, NotFoundError, WaitTimeout
from .ssm import (
    IN_PROGRESS,
    PENDING,
    SSM_REMEDY,
    TERMINAL_STATUSES,
    ServiceClock,
    command_summary,
    describe_document,
    get_command,
    instance_information,
    invocation_state,
    invocation_summary,
    list_commands,
    list_invocations,
    never_ran,
    overall_status,
    send_command,
)
from .timeutil import isoformat, parse_datetime
from .tracking import TrackingTable
from .validation import check_account_id, check_ids, check_range, check_region
from .waiter import wait_for

DEFAULT_DOCUMENT = "AWSDisasterRecovery-InstallDRAgentOnInstance"
MAX_BATCH = 50  # SendCommand InstanceIds limit (botocore ssm model)
# EC2 states of an instance that is not running but will again: nothing can be installed there,
# yet a source server it already has still protects it (its data up to the stop is in DRS).
PAUSED_INSTANCE_STATES = ("pending", "stopping", "stopped")
DEFAULT_REPLICATING_QUOTA = 300  # DRS: replicating source servers per account and region
HISTORY_SECONDS = 24 * 3600  # how far back earlier installs are looked up
# With a cross-account account_id the source servers are invisible here, so SSM's history is
# the only memory of earlier installs: look back over all of it (SSM keeps 30 days).
CROSS_ACCOUNT_HISTORY_SECONDS = 30 * 24 * 3600
# SSM lists the instances of a command sent with Targets (tags) only once it has resolved them,
# moments after SendCommand: an earlier install still resolving is waited for this long, polled
# this often, before this run decides which instances it has yet to reach.
TARGETS_RESOLUTION_SECONDS = 60
TARGETS_POLL_SECONDS = 2
SUPPORTED_PLATFORMS = ("Linux", "Windows")  # DRS source servers
# EC2 takes at most 200 filter values in one DescribeInstances call, all filters counted together
# (FilterLimitExceeded): instance_ids go in chunks of what instance_filters leave.
EC2_FILTER_VALUES = 200
UNFINISHED_STATUSES = (PENDING, IN_PROGRESS)  # tracking record statuses a finished command replaces
EC2_PAGE_SIZE = 1000  # DescribeInstances MaxResults maximum
# DescribeSourceServers.maxResults has no upper bound in the model; 1000 is the bound the
# DRS model sets on its other bounded list calls. The paginator follows nextToken whatever
# page size the service returns.
DRS_PAGE_SIZE = 1000

OUTCOMES = ("installed", "in_progress", "would_install", "skipped", "rejected", "failed")

_DOCUMENT_NAME = re.compile(r"^[a-zA-Z0-9_\-.:/]{3,128}$")
_DOCUMENT_VERSION = re.compile(r"^(\$LATEST|\$DEFAULT|[1-9][0-9]*)$")
_MAX_CONCURRENCY = re.compile(r"^([1-9][0-9]*|[1-9][0-9]%|[1-9]%|100%)$")
_MAX_ERRORS = re.compile(r"^([1-9][0-9]*|0|[1-9][0-9]%|[0-9]%|100%)$")
_COMMAND_ID = re.compile(r"^[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}$")
_TAG_KEY_CHARS = frozenset("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789_.:+/@-")
_TAG_VALUE_CHARS = _TAG_KEY_CHARS | {" "}
MAX_TAGS = 21  # the AWS install document's Tags AllowedPattern: one tag plus up to 20 more

NOT_MANAGED_REASON = "not registered with Systems Manager (no SSM agent, no instance profile, or SSM unreachable)"


# --------------------------------------------------------------------------- request


@dataclass
class InstallRequest:
    """What to install where, validated. Build it with :meth:`from_options`."""

    target_region: str
    instance_ids: list = field(default_factory=list)
    instance_filters: dict = field(default_factory=dict)
    tags: dict = field(default_factory=dict)
    account_id: str | None = None
    document_name: str = DEFAULT_DOCUMENT
    document_version: str | None = None
    batch_size: int = MAX_BATCH
    max_concurrency: str | None = None
    max_errors: str | None = None
    timeout_seconds: int | None = None
    output_s3_bucket: str | None = None
    output_s3_key_prefix: str | None = None
    output_s3_region: str | None = None
    cloudwatch_output: bool = False
    cloudwatch_log_group: str | None = None
    skip_protected: bool = True
    precheck: bool = True
    retry_failed: bool = False
    wait: bool = True
    wait_timeout: int = 3600
    poll_interval: float = 15
    wait_for_registration: bool = True
    max_failures: int = 0
    tracking_table: str | None = None
    tracking_ttl_days: int = 90
    created_by: str | None = None

    @classmethod
    def from_options(cls, **options):
        """Validate plain options (module parameters, REST body) into a request.

        ``None`` means "not set" (the default applies). Every problem raises
        :class:`InputError` with a message that says what to change.
        """
        known = {f.name for f in fields(cls)}
        unknown = sorted(set(options) - known)
        if unknown:
            raise InputError(f"Unknown option(s) {', '.join(unknown)}; known options: {', '.join(sorted(known))}.")
        values = {k: v for k, v in options.items() if v is not None}
        for name in (
            "skip_protected",
            "precheck",
            "retry_failed",
            "wait",
            "wait_for_registration",
            "cloudwatch_output",
        ):
            if name in values and not isinstance(values[name], bool):
                raise InputError(f"{name} must be true or false, got {values[name]!r}.")
        values["target_region"] = check_region(values.get("target_region"), "target_region", "drs")
        values["instance_ids"] = check_ids(values.get("instance_ids") or [], "instance", "instance_ids")
        values["instance_filters"] = _check_filters(values.get("instance_filters") or {})
        if not values["instance_ids"] and not values["instance_filters"]:
            raise InputError(
                "No instances selected: give instance_ids (e.g. [i-0123456789abcdef0]) and/or instance_filters "
                "(EC2 filters, e.g. {'tag:dr:enabled': 'true'})."
            )
        _check_filter_values(values["instance_filters"], bool(values["instance_ids"]))
        values["tags"] = _check_tags(values.get("tags") or {})
        values["account_id"] = check_account_id(values.get("account_id"), "account_id")
        _check_document_options(values)
        _check_numbers(values)
        _check_output_options(values)
        return cls(**values)

    @property
    def tags_parameter(self):
        """The document's ``Tags`` value: ``K=V,K=V`` (validated so it cannot be mis-split)."""
        return ",".join(f"{k}={v}" for k, v in self.tags.items())


def _check_filters(filters):
    if not isinstance(filters, dict):
        raise InputError(
            "instance_filters must be a mapping of EC2 filter names to values, e.g. {'tag:dr:enabled': 'true'}."
        )
    for name, value in filters.items():
        values = value if isinstance(value, list) else [value]
        if not isinstance(name, str) or not name:
            raise InputError(f"instance_filters: {name!r} is not an EC2 filter name.")
        if not values or any(v is None or isinstance(v, dict | list) for v in values):
            raise InputError(f"instance_filters[{name!r}] must be a string or a list of strings, got {value!r}.")
    return dict(filters)


def _filter_value_count(filters):
    return sum(len(value) if isinstance(value, list) else 1 for value in filters.values())


def _check_filter_values(filters, with_ids):
    """EC2 refuses a DescribeInstances call with more than 200 filter values in all (FilterLimitExceeded);
    instance_ids travel as one more filter beside instance_filters, so they need room of their own."""
    count = _filter_value_count(filters)
    limit = EC2_FILTER_VALUES - 1 if with_ids else EC2_FILTER_VALUES
    if count > limit:
        beside = " beside instance_ids" if with_ids else ""
        raise InputError(
            f"instance_filters name {count} values in all; EC2 takes at most {limit}{beside} in one request. "
            "Select by a tag the instances share (e.g. {'tag:dr:enabled': 'true'}) or list them in instance_ids."
        )


def _tag_problem(text, what, allowed):
    bad = sorted({c for c in text if c not in allowed})
    if bad:
        return f"{what} contains " + " ".join(repr(c) for c in bad)
    return None


def _check_tags(tags):
    """Tags become the document's ``Tags`` string ``K=V,K=V``; refuse what would corrupt or fail it.

    The limits are those of the AWS document's ``Tags`` parameter (its AllowedPattern):
    at most 21 tags, keys and values of 1 to 50 characters from ``A-Z a-z 0-9 _ . : + / @ -``,
    values may also contain spaces. ``,`` and ``=`` are the separators and never allowed.
    """
    if not isinstance(tags, dict):
        raise InputError("tags must be a mapping of tag keys to values, e.g. {'Environment': 'Production'}.")
    if len(tags) > MAX_TAGS:
        raise InputError(f"tags: at most {MAX_TAGS} tags fit the install document's Tags parameter, got {len(tags)}.")
    problems = []
    out = {}
    for key, value in tags.items():
        key = "" if key is None else str(key)
        value = "" if value is None else (str(value).lower() if isinstance(value, bool) else str(value))
        if not 1 <= len(key) <= 50:
            problems.append(f"key {key!r} must have 1 to 50 characters")
        elif key.lower().startswith("aws:"):
            problems.append(f"key {key!r} uses the reserved prefix 'aws:'")
        if not 1 <= len(value) <= 50:
            problems.append(f"value of {key!r} must have 1 to 50 characters")
        problems.extend(
            p
            for p in (
                _tag_problem(key, f"key {key!r}", _TAG_KEY_CHARS),
                _tag_problem(value, f"value {value!r}", _TAG_VALUE_CHARS),
            )
            if p
        )
        out[key] = value
    if problems:
        raise InputError(
            "tags: " + "; ".join(problems) + ". Tags are passed to the installer as one 'K=V,K=V' string: keys and "
            "values may only use letters A-Z a-z, digits and _ . : + / @ - (values may also contain spaces); "
            "',' '=' quotes and other characters are refused."
        )
    return out


def _check_document_options(values):
    name = values.setdefault("document_name", DEFAULT_DOCUMENT)
    if not isinstance(name, str) or not _DOCUMENT_NAME.match(name):
        raise InputError(f"document_name {name!r} is not an SSM document name (3-128 of a-z A-Z 0-9 _ - . : /).")
    version = values.get("document_version")
    if version is not None:
        version = str(version)
        if not _DOCUMENT_VERSION.match(version):
            raise InputError(f"document_version {version!r} must be a version number, $LATEST or $DEFAULT.")
        values["document_version"] = version


def _int(values, name, low=None, high=None):
    if name not in values:
        return
    value = values[name]
    if isinstance(value, bool) or not isinstance(value, int):
        raise InputError(f"{name} must be a whole number, got {value!r}.")
    check_range(value, name, low, high)


def _check_numbers(values):
    _int(values, "batch_size", 1, MAX_BATCH)
    _int(values, "timeout_seconds", 30, 2592000)
    _int(values, "wait_timeout", 0)
    _int(values, "max_failures", 0)
    _int(values, "tracking_ttl_days", 1, 3650)
    interval = values.get("poll_interval")
    if interval is not None and (isinstance(interval, bool) or not isinstance(interval, int | float) or interval <= 0):
        raise InputError(f"poll_interval must be a number of seconds above 0, got {interval!r}.")
    for name, pattern, example in (
        ("max_concurrency", _MAX_CONCURRENCY, "a number of instances (10) or a percentage (50%)"),
        ("max_errors", _MAX_ERRORS, "a number of errors (0, 5) or a percentage (10%)"),
    ):
        if name in values:
            text = str(values[name])
            if isinstance(values[name], bool) or not pattern.match(text):
                raise InputError(f"{name} {values[name]!r} must be {example}.")
            values[name] = text


def _check_output_options(values):
    bucket = values.get("output_s3_bucket")
    if bucket is not None and not (isinstance(bucket, str) and 3 <= len(bucket) <= 63):
        raise InputError(f"output_s3_bucket {bucket!r} must be an S3 bucket name (3 to 63 characters).")
    if values.get("output_s3_key_prefix") is not None:
        if not bucket:
            raise InputError("output_s3_key_prefix needs output_s3_bucket.")
        if len(str(values["output_s3_key_prefix"])) > 500:
            raise InputError("output_s3_key_prefix must have at most 500 characters.")
    region = values.get("output_s3_region")
    if region is not None:
        if not bucket:
            raise InputError("output_s3_region needs output_s3_bucket.")
        check_region(region, "output_s3_region", "s3")
    group = values.get("cloudwatch_log_group")
    if group is not None and not (isinstance(group, str) and 1 <= len(group) <= 512):
        raise InputError("cloudwatch_log_group must be a log group name of 1 to 512 characters.")


# --------------------------------------------------------------------------- public API


def plan_install(clients, request, clock=time.monotonic, sleep=time.sleep):
    """What ``install_agents`` would do, without changing anything (check mode)."""
    run = _Run(clients, request, clock=clock, sleep=sleep)
    run.plan()
    return run.result(check_mode=True)


def install_agents(clients, request, clock=time.monotonic, sleep=time.sleep):
    """Install the agent on the selected fleet; returns the module result.

    Raises :class:`DrsOrchestrationError` (with the full result in ``details``) when
    failures exceed ``max_failures`` or the run cannot go on.
    """
    run = _Run(clients, request, clock=clock, sleep=sleep)
    run.plan()
    try:
        run.send()
        if request.wait:
            run.wait()
    except Exception as exc:
        error = run.stop_on(exc)
        if error is exc:
            raise
        raise error from exc
    result = run.result()
    run.raise_if_failed(result)
    return result


def submit_install(
    clients,
    instance_ids,
    target_region,
    tags=None,
    document_name=DEFAULT_DOCUMENT,
    comment_marker=None,
):
    """ONE SendCommand for at most 50 instances, no waiting (REST POST /agent/install).

    Same sending rules as the fleet path: throttling retried, an ambiguous failure
    reconciled through the Comment marker before sending again.
    """
    ids = check_ids(instance_ids, "instance", "instanceIds")
    if not ids:
        raise InputError("instanceIds must list at least one EC2 instance ID.")
    if len(ids) > MAX_BATCH:
        raise InputError(
            f"instanceIds: at most {MAX_BATCH} instances per request (the SSM SendCommand limit), got {len(ids)}. "
            "Split the list, or use the drs_agent_install module, which batches any number."
        )
    request = InstallRequest.from_options(
        instance_ids=ids, target_region=target_region, tags=tags or {}, document_name=document_name
    )
    marker = comment_marker or _marker(request.target_region, uuid.uuid4().hex[:8], 1, 1)
    params = {
        "DocumentName": request.document_name,
        "InstanceIds": ids,
        "Parameters": _document_parameters(request),
    }
    clock = ServiceClock()
    try:
        command = send_command(clients.writer("ssm"), clients.reader("ssm"), params, marker, clock)[0]
    except Exception as exc:
        code = error_code(exc)
        if code in ("InvalidInstanceId", "InvalidDocument", "InvalidParameters", "UnsupportedPlatformType"):
            hint = _refusal_hint(code, request).rstrip()
            raise InputError(
                f"SSM refused the install ({code}): {error_message(exc)}" + (f" {hint}" if hint else "")
            ) from exc
        raise
    return {
        "command_id": command["CommandId"],
        "instance_ids": list(command.get("InstanceIds") or ids),
        "status": command.get("Status") or "Pending",
        "document_name": command.get("DocumentName") or request.document_name,
        "requested_at": isoformat(command.get("RequestedDateTime")),
        "comment": command.get("Comment"),
    }


def check_command_id(command_id):
    """An SSM command ID (a UUID), else InputError."""
    if not isinstance(command_id, str) or not _COMMAND_ID.match(command_id):
        raise InputError(f"commandId {command_id!r} is not an SSM command ID (a 36-character UUID).")
    return command_id


def install_status(clients, command_id, documents=None):
    """Status of one install command and each of its instances (REST GET .../{commandId}/status).

    :param documents: when given, only a command of one of these documents is reported;
        any other is answered like an unknown command (NotFoundError), before its
        invocations (and their output) are read
    """
    check_command_id(command_id)
    ssm = clients.reader("ssm")
    command = get_command(ssm, command_id)
    if command is None or (documents is not None and command.get("DocumentName") not in documents):
        raise NotFoundError(
            f"No SSM command {command_id} in {clients.region or 'this region'}: check the ID and the region "
            "(SSM keeps command history for 30 days)."
        )
    invocations = [invocation_summary(i) for i in list_invocations(ssm, command_id, details=True)]
    counts = {}
    for inv in invocations:
        counts[inv["state"]] = counts.get(inv["state"], 0) + 1
    summary = command_summary(command)
    return {
        "command_id": command_id,
        "document_name": summary["document_name"],
        "target_region": summary["target_region"],
        "status": summary["status"],
        "status_details": summary["status_details"],
        "requested_at": summary["requested_at"],
        "overall_status": overall_status(
            [i["state"] for i in invocations], command.get("Status"), command.get("StatusDetails")
        ),
        "instances": invocations,
        "summary": counts,
    }


# --------------------------------------------------------------------------- helpers


def _marker(target_region, run_id, batch, total, reinstall=False):
    """The unique Comment of one SendCommand (max 100 characters) used to find it again.

    A reinstall (``skip_protected: false``) says so: a re-run of it must not reinstall again,
    while a reinstall asked for after an ordinary install must.
    """
    verb = "reinstall" if reinstall else "install"
    return f"drs.orchestration agent {verb} to {target_region} run {run_id} batch {batch}/{total}"


def _is_reinstall(command):
    return str(command.get("Comment") or "").startswith("drs.orchestration agent reinstall ")


def _document_parameters(request):
    parameters = {"Region": [request.target_region]}
    if request.tags:
        parameters["Tags"] = [request.tags_parameter]
    if request.account_id:
        parameters["AccountId"] = [request.account_id]
    return parameters


def _ec2_filters(filters):
    out = []
    for name, value in filters.items():
        values = value if isinstance(value, list) else [value]
        out.append({"Name": name, "Values": [str(v).lower() if isinstance(v, bool) else str(v) for v in values]})
    return out


def _name_tag(instance):
    return next((t.get("Value") for t in instance.get("Tags") or () if t.get("Key") == "Name"), None)


def _command_region(command):
    return ((command.get("Parameters") or {}).get("Region") or [None])[0]


def _command_account(command):
    return ((command.get("Parameters") or {}).get("AccountId") or [None])[0] or None


def _new_record(instance_id, name=None, instance_state=None):
    return {
        "instance_id": instance_id,
        "name": name,
        "instance_state": instance_state,
        "outcome": None,
        "reason": None,
        "remedy": None,
        "command_id": None,
        "reattached": False,
        "status": None,
        "status_details": None,
        "start_time": None,
        "end_time": None,
        "output": "",
        "output_url": None,
        "source_server_id": None,
        "replication_state": None,
        "ping_status": None,
        "platform": None,
    }


class _Run:
    """One install run: the state every step reads and writes."""

    def __init__(self, clients, request, clock=time.monotonic, sleep=time.sleep):
        self.clients = clients
        self.request = request
        self.clock = clock
        self.sleep = sleep
        self.ssm = clients.reader("ssm")
        self.drs = clients.reader("drs", request.target_region)
        self.service_clock = ServiceClock()
        self.run_id = uuid.uuid4().hex[:8]
        self.records = {}
        self.commands = {}
        self.batches = []
        self.awaiting = set()  # installed, not yet seen as source servers
        self.warnings = []
        self.quota = None
        self.document = None
        self.registration_visible = request.wait_for_registration
        self.cross_account = False  # account_id names another account: its source servers are invisible here
        self.stale = {}  # instance ID -> its source server disconnected from DRS (not protected)
        self.notes = {}  # instance ID -> what is wrong with its protection now (agent not seen, instance stopped)
        self.tracking = None
        self.finished_earlier = []  # (command ID, overall status, counts) of finished commands a re-run found
        self.created_by = request.created_by
        self.sent = 0

    # -- planning ---------------------------------------------------------------

    def plan(self):
        self.document = self._document()
        if self.request.tracking_table:
            self.tracking = TrackingTable(
                self.clients.writer("dynamodb"), self.request.tracking_table, sleep=self.sleep
            )
            self.tracking.check(self.clients.region)
        self._select()
        servers = self._sweep()
        self._skip_protected(servers)
        self._remember_earlier_installs()
        if self.request.precheck:
            self._precheck()
        for record in self._undecided():
            record["outcome"] = "would_install"
            record["reason"] = "the agent will be installed" + self._again(record["instance_id"])
        to_install = [r["instance_id"] for r in self.records.values() if r["outcome"] == "would_install"]
        self.batches = chunked(to_install, self.request.batch_size)
        self._check_quota(servers)

    def _undecided(self):
        return [r for r in self.records.values() if r["outcome"] is None]

    def _document(self):
        """DescribeDocument: it exists, declares Region (and AccountId / Tags when used)."""
        request = self.request
        try:
            document = describe_document(
                self.ssm, request.document_name, request.document_version, clock=self.service_clock
            )
        except Exception as exc:
            if error_code(exc) in ("InvalidDocument", "InvalidDocumentVersion"):
                raise InputError(
                    f"SSM document {request.document_name!r} (version {request.document_version or 'default'}) was "
                    f"not found in {self.clients.region or 'this region'}: {error_message(exc)}. Use "
                    f"{DEFAULT_DOCUMENT} or a document shared with this account."
                ) from exc
            raise
        declared = {p.get("Name") for p in document.get("Parameters") or ()}
        needed = [("Region", "target_region")]
        if request.account_id:
            needed.append(("AccountId", "account_id"))
        if request.tags:
            needed.append(("Tags", "tags"))
        for parameter, option in needed:
            if parameter not in declared:
                raise InputError(
                    f"{option} needs an SSM document with a {parameter!r} parameter, and {request.document_name} "
                    f"declares only {', '.join(sorted(p for p in declared if p)) or 'no parameters'}. "
                    + (
                        "Use a document that passes --account-id to the installer (for cross-account replication), "
                        "or replicate into this account."
                        if parameter == "AccountId"
                        else "Use the AWS document or one that declares it."
                    )
                )
        if request.account_id:
            self._check_cross_account()
        return document

    def _check_cross_account(self):
        """Source servers of another account are invisible to us: say so instead of waiting in vain."""
        try:
            caller = self.clients.reader("sts").get_caller_identity().get("Account")
        except Exception as exc:  # no sts:GetCallerIdentity: assume the other account, and say so
            caller = f"unknown: {error_code(exc) or type(exc).__name__}"
        if caller != self.request.account_id:
            self.registration_visible = False
            self.cross_account = True
            self.warnings.append(
                f"account_id {self.request.account_id} is not this account ({caller}): the source servers will "
                "register there, so skip_protected and wait_for_registration cannot see them with these "
                "credentials. Check registration in that account."
            )

    def _select(self):
        """Resolve instance_ids / instance_filters through EC2 into records (order: IDs given, then by name)."""
        request = self.request
        ec2 = self.clients.reader("ec2")
        filters = _ec2_filters(request.instance_filters)
        found = {}
        if request.instance_ids:
            room = EC2_FILTER_VALUES - _filter_value_count(request.instance_filters)
            for ids in chunked(request.instance_ids, room):
                calls = filters + [{"Name": "instance-id", "Values": ids}]
                for reservation in paginate(
                    ec2,
                    "describe_instances",
                    "Reservations",
                    Filters=calls,
                    PaginationConfig={"PageSize": EC2_PAGE_SIZE},
                ):
                    for instance in reservation.get("Instances") or ():
                        found[instance["InstanceId"]] = instance
            order = request.instance_ids
        else:
            for reservation in paginate(
                ec2, "describe_instances", "Reservations", Filters=filters, PaginationConfig={"PageSize": EC2_PAGE_SIZE}
            ):
                for instance in reservation.get("Instances") or ():
                    state = (instance.get("State") or {}).get("Name")
                    if state not in ("terminated", "shutting-down"):
                        found[instance["InstanceId"]] = instance
            order = sorted(found, key=lambda i: (_name_tag(found[i]) or "", i))
            if not order:
                raise InputError(
                    f"instance_filters {request.instance_filters} matched no instance in "
                    f"{self.clients.region or 'this region'}. Check the filter names and values (tag filters are "
                    "case-sensitive, e.g. 'tag:dr:enabled': 'true') and the region the instances run in."
                )
        for instance_id in order:
            instance = found.get(instance_id)
            if instance is None:
                record = self.records[instance_id] = _new_record(instance_id)
                where = "or does not match instance_filters " if request.instance_filters else ""
                self._reject(
                    record,
                    f"not found in {self.clients.region or 'this region'} {where}(or already terminated)",
                    "Check the instance ID and the module's region: it is where the instances run; target_region "
                    "is where DRS replicates them to.",
                )
                continue
            state = (instance.get("State") or {}).get("Name")
            record = self.records[instance_id] = _new_record(instance_id, _name_tag(instance), state)
            if state != "running":
                self._reject(record, f"the instance is {state}", "Start the instance, then re-run.")

    def _sweep(self):
        """Every source server of the target region (one paginated sweep)."""
        try:
            return list(
                paginate(
                    self.drs,
                    "describe_source_servers",
                    "items",
                    filters={},
                    PaginationConfig={"PageSize": DRS_PAGE_SIZE},
                )
            )
        except Exception as exc:
            if error_code(exc) == "UninitializedAccountException":
                raise ConflictError(
                    f"DRS is not initialized in {self.request.target_region}: initialize it there (DRS console, or "
                    "the InitializeService API, and create the default replication settings), then re-run."
                ) from exc
            raise

    @staticmethod
    def _protected(servers, stale=None):
        """``{instance_id: source server}`` for failover source servers that name an EC2 instance.

        A server disconnected from DRS (DisconnectSourceServer uninstalls the agent; see
        :func:`_stale_state`) does not protect its instance: it goes to ``stale`` instead,
        when given.
        """
        out = {}
        for server in servers:
            instance_id = ((server.get("sourceProperties") or {}).get("identificationHints") or {}).get("awsInstanceID")
            if not instance_id or (server.get("replicationDirection") or "FAILOVER") != "FAILOVER":
                continue
            if _stale_state(server):
                if stale is not None:
                    stale.setdefault(instance_id, server)
                continue
            out[instance_id] = server
        return out

    def _skip_protected(self, servers):
        """Protected instances are skipped (with ``skip_protected``), stopped ones too: nothing to install there."""
        protected = self._protected(servers, self.stale)
        for instance_id in protected:
            self.stale.pop(instance_id, None)
        for record in self.records.values():
            server = protected.get(record["instance_id"])
            if server is None:
                continue
            record["source_server_id"] = server.get("sourceServerID")
            record["replication_state"] = (server.get("dataReplicationInfo") or {}).get("dataReplicationState")
            paused = record["outcome"] == "rejected" and record["instance_state"] in PAUSED_INSTANCE_STATES
            if not (self.request.skip_protected and (record["outcome"] is None or paused)):
                continue
            note, remedy = _protection_note(record)
            record.update(outcome="skipped", remedy=remedy)
            record["reason"] = (
                f"already protected: source server {record['source_server_id']} in {self.request.target_region}"
                + (f" ({record['replication_state']})" if record["replication_state"] else "")
                + note
            )
            if note:
                self.notes[record["instance_id"]] = note

    def _remember_earlier_installs(self):
        """What SSM already did for these instances and this target region, in the last 24 hours.

        One ListCommands sweep of the document (30 days cross-account), one
        ListCommandInvocations per command sent with Targets (its instances are known only from
        its invocations), then one per finished command that was the latest for one of these
        instances: a command's own Status does not tell each instance's result
        (Undeliverable, InvalidPlatform and AccessDenied invocations leave a command
        ``Success``; botocore ``ssm`` model, CommandInvocation StatusDetails). For
        instances not yet protected: an install in flight is re-attached, an earlier
        success is waited for, an earlier failure is reported (not retried unless
        ``retry_failed``). Protected instances that such an install put under DRS are
        reported as installed rather than skipped.
        """
        open_ids = {r["instance_id"] for r in self._undecided()}
        protected_ids = {r["instance_id"] for r in self.records.values() if r["outcome"] == "skipped"}
        if not open_ids and not protected_ids:
            return
        request = self.request
        lookback = CROSS_ACCOUNT_HISTORY_SECONDS if self.cross_account else HISTORY_SECONDS
        history = list_commands(
            self.ssm, request.document_name, self.service_clock.since(lookback), clock=self.service_clock
        )
        mine = [
            c
            for c in history
            if _command_region(c) == request.target_region and _command_account(c) == request.account_id
        ]
        listed = self._list_by_tag(mine)
        latest = {}
        for command in sorted(mine, key=lambda c: parse_datetime(c.get("RequestedDateTime")) or 0):
            for instance_id in self._command_instances(command, listed):
                if instance_id in open_ids or instance_id in protected_ids:
                    latest[instance_id] = command
        # Failures count for a day whatever the lookback: a month-old failure should not block an install.
        failures_since = parse_datetime(self.service_clock.since(HISTORY_SECONDS))
        by_command = {}
        for instance_id, command in latest.items():
            by_command.setdefault(command["CommandId"], (command, []))[1].append(instance_id)
        for command, instance_ids in by_command.values():
            status = command.get("Status")
            if status not in TERMINAL_STATUSES:
                self._attach(command, [i for i in instance_ids if i in open_ids])
                continue
            raw = listed.get(command["CommandId"])
            if raw is None:
                raw = list_invocations(self.ssm, command["CommandId"], details=_details_needed(command))
            self._remember_finished(command, raw)
            invocations = {i.get("InstanceId"): invocation_summary(i) for i in raw}
            for instance_id in instance_ids:
                result = invocations.get(instance_id)
                if result is None:
                    continue  # SSM did not run it there
                record = self.records[instance_id]
                if result["state"] == "Success":
                    # Protected by that install; or, with skip_protected off, reinstalled by an earlier
                    # run of the same request (this is its re-run: not sent again).
                    if instance_id in protected_ids or (record["source_server_id"] and _is_reinstall(command)):
                        self._installed_earlier(record, command)
                    elif not record["source_server_id"] and self._may_still_register(record, command):
                        self._earlier_success(record, command)
                elif (
                    instance_id in open_ids
                    and not request.retry_failed
                    and not never_ran(result)
                    and _requested_after(command, failures_since)
                ):
                    self._earlier_failure(record, command, result)

    def _command_instances(self, command, listed):
        """The instances a command runs on: its InstanceIds or, sent with Targets (tags, by someone
        else), the instances SSM resolved them to, from its invocations (``listed``, see ``_list_by_tag``).
        """
        if command.get("InstanceIds") or not command.get("Targets"):
            return command.get("InstanceIds") or ()
        return [i.get("InstanceId") for i in listed[command["CommandId"]]]

    def _list_by_tag(self, commands):
        """``{CommandId: invocations}`` of the commands sent with Targets, once each lists every instance it reaches.

        Such a command names no InstanceIds: its instances are known from its invocations
        (one ListCommandInvocations each, kept for its outcome). Until SSM has resolved its
        tags, a running one lists fewer instances than it will run on (``targets_unresolved``)
        and one it will reach could be sent the install again by this run; those are polled
        together (ListCommands for the counts, then the invocations), for at most
        TARGETS_RESOLUTION_SECONDS in all; read-only, so in check mode too. The command
        records are brought up to date in place.
        """
        by_tag = {c["CommandId"]: c for c in commands if c.get("Targets") and not c.get("InstanceIds")}
        listed = {}
        waiting = set(by_tag)

        def poll():
            for command_id in sorted(waiting):
                command = by_tag[command_id]
                if command_id in listed:  # looked at before: its counts may have changed since
                    fresh = get_command(self.ssm, command_id, clock=self.service_clock)
                    if fresh is None:  # SSM no longer lists it: nothing more to learn
                        waiting.discard(command_id)
                        continue
                    command.update(fresh)
                listed[command_id] = list_invocations(self.ssm, command_id, details=_details_needed(command))
                if not targets_unresolved(command, listed[command_id]):
                    waiting.discard(command_id)
            return sorted(waiting)

        try:
            wait_for(
                poll,
                lambda unresolved: not unresolved,
                timeout=TARGETS_RESOLUTION_SECONDS,
                interval=min(self.request.poll_interval, TARGETS_POLL_SECONDS),
                what="SSM to resolve the targets of earlier installs",
                clock=self.clock,
                sleep=self.sleep,
            )
        except WaitTimeout as exc:
            for command_id in exc.details["last"]:
                command = by_tag[command_id]
                self.warnings.append(
                    f"SSM command {command_id} (sent with Targets {command['Targets']}) still lists only "
                    f"{len(listed[command_id])} of its targets after {TARGETS_RESOLUTION_SECONDS}s. An instance it "
                    "will reach but does not list yet may be sent the install again by this run; to avoid that, run "
                    "again once it lists them all."
                )
        return listed

    def _remember_finished(self, command, invocations):
        """Keep a finished command's outcome for its tracking record (written when not in check mode).

        A run that ended before the command did (``wait: false``, ``wait_timeout``, an
        interruption) left the record unfinished; the run that finds it finished brings it up to date.
        """
        if self.tracking is None:
            return
        groups = [invocation_state(i.get("Status"), i.get("StatusDetails"))["group"] for i in invocations]
        status = overall_status(groups, command.get("Status"), command.get("StatusDetails"))
        counts = {group: groups.count(group) for group in set(groups)}
        self.finished_earlier.append((command["CommandId"], status, counts))

    def _may_still_register(self, record, command):
        """Whether an earlier successful install is to be waited for rather than sent again.

        Not when its source server was seen after that install and is disconnected now, nor
        cross-account with skip_protected off after an ordinary install (the only way to
        reinstall where the source servers are invisible; a reinstall is not repeated).
        """
        if self.cross_account and not self.request.skip_protected:
            return _is_reinstall(command)
        stale = self.stale.get(record["instance_id"])
        return stale is None or not _seen_since(stale, command.get("RequestedDateTime"))

    def _attach(self, command, instance_ids):
        if not instance_ids:
            return
        entry = self._track(command, instance_ids, batch=None, reattached=True)
        for instance_id in instance_ids:
            record = self.records[instance_id]
            record.update(outcome="in_progress", command_id=entry["command_id"], reattached=True)
            record["reason"] = f"an install started at {_when(entry['requested_at'])} is still running: re-attached"
            record["status"] = command.get("Status")

    def _installed_earlier(self, record, command):
        record.update(outcome="installed", command_id=command["CommandId"], reattached=True, status="Success")
        record["status_details"] = "Success"
        record["reason"] = (
            f"installed by command {command['CommandId']} at {_when(command.get('RequestedDateTime'))}; "
            f"source server {record['source_server_id']}"
            + (f" ({record['replication_state']})" if record["replication_state"] else "")
            + self.notes.get(record["instance_id"], "")
        )

    def _earlier_success(self, record, command):
        record.update(command_id=command["CommandId"], status="Success", status_details="Success", reattached=True)
        if self.registration_visible:
            record["outcome"] = "in_progress"
            record["reason"] = (
                f"installed by command {command['CommandId']} at {_when(command.get('RequestedDateTime'))}; "
                "waiting for the source server to appear"
            )
            self.awaiting.add(record["instance_id"])
        else:
            record["outcome"] = "installed"
            record["reason"] = f"installed by command {command['CommandId']} (not sent again)"

    def _earlier_failure(self, record, command, result):
        self._apply_invocation(record, result)
        record.update(outcome="failed", command_id=command["CommandId"], reattached=True)
        when = _when(result["requested_at"]) or "recently"
        ended = result["status_details"] or result["status"]
        record["reason"] = (
            f"an earlier install (command {command['CommandId']}, {when}) ended {ended}: {_failure_reason(result)}; "
            "not retried (set retry_failed: true to install again)"
        )

    def _precheck(self):
        """Only Online SSM nodes on a supported platform are sent the install."""
        pending = self._undecided()
        if not pending:
            return
        info = instance_information(self.ssm, [r["instance_id"] for r in pending])
        platforms = set(self.document.get("PlatformTypes") or SUPPORTED_PLATFORMS) & set(SUPPORTED_PLATFORMS)
        for record in pending:
            node = info.get(record["instance_id"])
            if node is None:
                self._reject(record, NOT_MANAGED_REASON, SSM_REMEDY)
                continue
            record["ping_status"] = node.get("PingStatus")
            record["platform"] = " ".join(p for p in (node.get("PlatformName"), node.get("PlatformVersion")) if p)
            if node.get("PingStatus") != "Online":
                last = _when(node.get("LastPingDateTime"))
                self._reject(
                    record,
                    f"SSM agent is {node.get('PingStatus')}" + (f" (last seen {last})" if last else ""),
                    SSM_REMEDY,
                )
            elif node.get("PlatformType") not in platforms:
                self._reject(
                    record,
                    f"platform {node.get('PlatformType')} ({record['platform'] or 'unknown'}) is not supported by "
                    f"{self.request.document_name}",
                    "DRS replicates Linux and Windows servers; see 'Supported operating systems' in the DRS guide.",
                )

    def _reject(self, record, reason, remedy):
        record.update(outcome="rejected", reason=reason, remedy=remedy)

    def _again(self, instance_id):
        """Why an instance that has a source server is installed anyway ('' when it has none)."""
        server = self.stale.get(instance_id)
        if server is None:
            return ""
        return (
            f" again: its source server {server.get('sourceServerID')} in {self.request.target_region} is "
            f"{_stale_state(server)}, so it is not protected"
        )

    def _check_quota(self, servers):
        """Warn when the install would push replicating source servers past the quota."""
        replicating = sum(
            1
            for s in servers
            if (s.get("dataReplicationInfo") or {}).get("dataReplicationState") not in ("STOPPED", "DISCONNECTED")
        )
        # A reinstall (skip_protected off) on a server that replicates already adds no server.
        new = sum(
            1
            for r in self.records.values()
            if r["outcome"] in ("would_install", "in_progress")
            and not (r["source_server_id"] and r["replication_state"] not in ("STOPPED", "DISCONNECTED"))
        )
        projected = replicating + new
        self.quota = {
            "value": DEFAULT_REPLICATING_QUOTA,
            "source": "default",
            "replicating": replicating,
            "projected": projected,
        }
        if projected <= DEFAULT_REPLICATING_QUOTA:
            return  # live quotas are never below the default: no need to ask
        value, source = self._live_quota()
        self.quota.update(value=value, source=source)
        if projected > value:
            self.warnings.append(
                f"This install brings replicating source servers in {self.request.target_region} to {projected}, "
                f"above the quota of {value} ({source}). Servers past the quota may not start replicating: request "
                "an increase in Service Quotas (service 'drs') or protect fewer servers."
            )

    def _live_quota(self):
        """The DRS 'replicating source servers' quota from Service Quotas, or the default when unreadable."""
        try:
            client = self.clients.reader("service-quotas", self.request.target_region)
            for quota in paginate(client, "list_service_quotas", "Quotas", ServiceCode="drs"):
                name = (quota.get("QuotaName") or "").lower()
                if "replicating" in name and "source server" in name and quota.get("Value") is not None:
                    return int(quota["Value"]), "Service Quotas"
            reason = "no such quota listed"
        except Exception as exc:  # AccessDenied, not available in a partition or an emulator: warn with the default
            reason = f"{error_code(exc) or type(exc).__name__}: {error_message(exc)}"[:200]
        self.warnings.append(
            f"Could not read the DRS replicating source server quota from Service Quotas ({reason}); "
            f"assuming the default of {DEFAULT_REPLICATING_QUOTA}."
        )
        return DEFAULT_REPLICATING_QUOTA, "default"

    # -- sending ------------------------------------------------------------------

    def send(self):
        if self.tracking is not None:
            self.created_by = self.created_by or self._caller_arn()
            for entry in self.commands.values():
                self._record_tracking(entry)
            for command_id, status, counts in self.finished_earlier:
                self._tracking_write(
                    command_id,
                    "updated",
                    self.tracking.update_status,
                    command_id,
                    status,
                    summary=counts,
                    only_from=UNFINISHED_STATUSES,
                )
        total = len(self.batches)
        for number, batch in enumerate(self.batches, start=1):
            self._send_batch(batch, number, total)

    def _caller_arn(self):
        try:
            return self.clients.reader("sts").get_caller_identity().get("Arn")
        except Exception:  # CreatedBy is informative; never fail an install over it
            return "unknown"

    def _send_params(self, batch):
        request = self.request
        params = {
            "DocumentName": request.document_name,
            "InstanceIds": batch,
            "Parameters": _document_parameters(request),
        }
        optional = {
            "DocumentVersion": request.document_version,
            "TimeoutSeconds": request.timeout_seconds,
            "MaxConcurrency": request.max_concurrency,
            "MaxErrors": request.max_errors,
            "OutputS3BucketName": request.output_s3_bucket,
            "OutputS3KeyPrefix": request.output_s3_key_prefix,
            "OutputS3Region": request.output_s3_region,
        }
        params.update({k: v for k, v in optional.items() if v is not None})
        if request.cloudwatch_output or request.cloudwatch_log_group:
            params["CloudWatchOutputConfig"] = {"CloudWatchOutputEnabled": True}
            if request.cloudwatch_log_group:
                params["CloudWatchOutputConfig"]["CloudWatchLogGroupName"] = request.cloudwatch_log_group
        return params

    def _send_batch(self, batch, number, total, retry=False):
        reinstall = not self.request.skip_protected
        marker = _marker(self.request.target_region, self.run_id, number, total, reinstall) + (
            " retry" if retry else ""
        )
        try:
            command, reconciled = send_command(
                self.clients.writer("ssm"),
                self.ssm,
                self._send_params(batch),
                marker,
                self.service_clock,
                sleep=self.sleep,
            )
        except AmbiguousCallError as exc:
            raise self._stop(exc.message) from exc
        except Exception as exc:
            code = error_code(exc)
            if code is None:
                raise
            if code == "InvalidInstanceId" and not retry:
                self._drop_vanished(batch, number, total, error_message(exc))
                return
            if code == "InvalidInstanceId":
                for instance_id in batch:
                    self._fail(self.records[instance_id], f"SSM refused the instance: {error_message(exc)}", SSM_REMEDY)
                return
            if is_throttling(exc):
                raise self._stop(
                    f"SSM kept throttling SendCommand ({code}) for batch {number} of {total}; gave up after "
                    "repeated retries. Re-run the task later: instances whose install is already running are "
                    "re-attached, not sent again."
                ) from exc
            raise self._stop(
                f"SSM refused SendCommand for batch {number} of {total} ({code}: {error_message(exc)}). "
                + _refusal_hint(code, self.request)
                + "Fix the cause (permissions ssm:SendCommand on the document and instances, document parameters, "
                "output bucket), then re-run."
            ) from exc
        self.sent += 1
        entry = self._track(command, batch, batch=number, reattached=False)
        entry["reconciled"] = reconciled
        for instance_id in batch:
            record = self.records[instance_id]
            record.update(outcome="in_progress", command_id=entry["command_id"], status=command.get("Status"))
            record["reason"] = "the install was sent" + self._again(instance_id)
        self._record_tracking(entry)

    def _drop_vanished(self, batch, number, total, message):
        """SendCommand refused the batch over an instance SSM no longer accepts: drop it, send the rest once.

        SSM refuses terminated and shutting-down instances (InvalidInstanceId), and its
        PingStatus lags behind EC2 by minutes, so both are asked: EC2 for the state (one
        DescribeInstances), SSM for the agent.
        """
        info = instance_information(self.ssm, batch)
        states = self._ec2_states(batch)
        keep = []
        for instance_id in batch:
            node = info.get(instance_id)
            state = states.get(instance_id)
            if state is None or state in ("shutting-down", "terminated"):
                why = f"the instance is {state}" if state else "the instance no longer exists in EC2"
            elif node is None:
                why = NOT_MANAGED_REASON
            elif node.get("PingStatus") != "Online":
                why = f"SSM agent is {node.get('PingStatus')}"
            else:
                keep.append(instance_id)
                continue
            self._reject(
                self.records[instance_id],
                f"the instance was no longer available to SSM when the install was sent (it vanished mid-run): {why}",
                SSM_REMEDY,
            )
        if keep and len(keep) < len(batch):
            self._send_batch(keep, number, total, retry=True)
        elif keep:
            for instance_id in keep:
                self._fail(self.records[instance_id], f"SSM refused the instance: {message}", SSM_REMEDY)

    def stop_on(self, exc):
        """What to raise when ``exc`` interrupts sending or waiting: an error that keeps the result.

        Once a command was sent or re-attached, an AWS error (a read while polling, a
        DescribeSourceServers sweep ...) must not lose what was done: it becomes a stop error
        carrying commands and instances. Errors that carry a result already, errors before
        anything was under way, and bugs (not AWS errors) are returned unchanged.
        """
        if isinstance(exc, DrsOrchestrationError) and exc.details:
            return exc
        if not self.commands and not self.awaiting:
            return exc
        if isinstance(exc, DrsOrchestrationError):
            message = exc.message
        elif is_aws_error(exc):
            operation = getattr(exc, "operation_name", None) or "An AWS call"
            message = f"{operation} failed ({error_code(exc) or type(exc).__name__}: {error_message(exc)})"
        else:
            return exc
        return self._stop(
            f"{message.rstrip('.')}, after the installs were under way. The result keeps what was done so far; "
            "a re-run re-attaches to the commands already sent and waits for their source servers, sending "
            "nothing twice."
        )

    def _ec2_states(self, instance_ids):
        """``{instance_id: EC2 state name}`` (one DescribeInstances; absent = gone)."""
        states = {}
        for reservation in paginate(
            self.clients.reader("ec2"),
            "describe_instances",
            "Reservations",
            Filters=[{"Name": "instance-id", "Values": list(instance_ids)}],
            PaginationConfig={"PageSize": EC2_PAGE_SIZE},
        ):
            for instance in reservation.get("Instances") or ():
                states[instance["InstanceId"]] = (instance.get("State") or {}).get("Name")
        return states

    def _stop(self, message):
        """An error that ends the run, carrying everything done so far."""
        result = self.result()
        sent = [c["command_id"] for c in result["commands"] if not c["reattached"]]
        if sent:
            message += f" Commands already sent (not re-sent on a re-run): {', '.join(sent)}."
        return DrsOrchestrationError(message, **result)

    def _track(self, command, instance_ids, batch, reattached):
        entry = command_summary(command)
        entry.update(batch=batch, reattached=reattached, reconciled=False, selected=list(instance_ids))
        entry["done"] = False
        self.commands[entry["command_id"]] = entry
        return entry

    def _record_tracking(self, entry):
        if self.tracking is None:
            return
        self._tracking_write(
            entry["command_id"],
            "recorded",
            self.tracking.record_command,
            entry["command_id"],
            entry["instance_ids"] or entry["selected"],
            self.request.target_region,
            overall_status([], entry["status"], entry["status_details"]),
            self.created_by,
            ttl_days=self.request.tracking_ttl_days,
            created_at=entry["requested_at"],
            command_region=self.clients.region,
        )

    def _tracking_write(self, command_id, what, call, *args, **kwargs):
        """A tracking write that fails becomes a notice: the installs themselves are not affected."""
        try:
            call(*args, **kwargs)
        except Exception as exc:
            if not is_aws_error(exc):
                raise
            self.warnings.append(
                f"Command {command_id} was not {what} in tracking_table {self.request.tracking_table} "
                f"({error_code(exc) or type(exc).__name__}: {error_message(exc)}); the install itself is not "
                "affected."
            )

    # -- waiting ------------------------------------------------------------------

    def wait(self):
        if not self.commands and not self.awaiting:
            return
        try:
            wait_for(
                self._poll,
                lambda snapshot: not snapshot["running"] and not snapshot["awaiting"],
                timeout=self.request.wait_timeout,
                interval=self.request.poll_interval,
                describe=self._describe,
                what="the agent installs",
                clock=self.clock,
                sleep=self.sleep,
            )
        except WaitTimeout:
            self._timed_out()

    def _poll(self):
        running = [c for c in self.commands.values() if not c["done"]]
        if running:
            self._poll_commands(running)
        if self.awaiting:
            self._poll_registration()
        return {
            "running": [c["command_id"] for c in self.commands.values() if not c["done"]],
            "awaiting": sorted(self.awaiting),
        }

    @staticmethod
    def _describe(snapshot):
        running, awaiting = len(snapshot["running"]), len(snapshot["awaiting"])
        return f"{running} command(s) still running, {awaiting} instance(s) not yet source servers"

    def _poll_commands(self, running):
        """One ListCommands sweep for every running command; invocation detail once each finishes."""
        listed = {
            c["CommandId"]: c
            for c in list_commands(
                self.ssm, self.request.document_name, _invoked_after(running), clock=self.service_clock
            )
        }
        for entry in running:
            command = listed.get(entry["command_id"]) or get_command(self.ssm, entry["command_id"])
            if command is None:
                entry.update(done=True, status="Failed", status_details="not found")
                for instance_id in entry["selected"]:
                    self._fail(self.records[instance_id], "SSM no longer knows the install command", None)
                continue
            summary = command_summary(command)
            counts = ("status", "status_details", "target_count", "completed_count", "error_count")
            entry.update({k: summary[k] for k in (*counts, "delivery_timed_out_count")})
            if command.get("Status") in TERMINAL_STATUSES:
                self._finish(entry)

    def _finish(self, entry):
        entry["done"] = True
        invocations = {i.get("InstanceId"): i for i in list_invocations(self.ssm, entry["command_id"], details=True)}
        states = []
        for instance_id in entry["selected"]:
            record = self.records[instance_id]
            invocation = invocations.get(instance_id)
            if invocation is None:
                self._fail(record, "SSM reported no invocation for this instance", SSM_REMEDY)
                states.append("Failed")
                continue
            result = invocation_summary(invocation)
            states.append(result["state"])
            self._apply_invocation(record, result)
            if result["state"] == "Success":
                if self.registration_visible:
                    record["reason"] = "installed; waiting for the source server to appear"
                    self.awaiting.add(instance_id)
                else:
                    record.update(outcome="installed", reason="the agent was installed")
            else:
                record["outcome"] = "failed"
        groups = [invocation_state(i.get("Status"), i.get("StatusDetails"))["group"] for i in invocations.values()]
        entry["overall_status"] = overall_status(groups or states, entry["status"], entry["status_details"])
        if self.tracking is not None:
            counts = {group: groups.count(group) for group in set(groups)}
            self._tracking_write(
                entry["command_id"],
                "updated",
                self.tracking.update_status,
                entry["command_id"],
                entry["overall_status"],
                summary=counts,
            )

    @staticmethod
    def _apply_invocation(record, result):
        for key in ("status", "status_details", "start_time", "end_time", "output", "output_url"):
            record[key] = result[key]
        if result["state"] != "Success":
            record.update(reason=_failure_reason(result), remedy=result["remedy"])

    def _poll_registration(self):
        protected = self._protected(self._sweep())
        for instance_id in sorted(self.awaiting):
            server = protected.get(instance_id)
            if server is None:
                continue
            record = self.records[instance_id]
            record["source_server_id"] = server.get("sourceServerID")
            record["replication_state"] = (server.get("dataReplicationInfo") or {}).get("dataReplicationState")
            reason = f"installed; source server {record['source_server_id']}"
            if instance_id in self.stale:
                reason += f" (reinstalled: it was {_stale_state(self.stale[instance_id])})"
            record.update(outcome="installed", reason=reason)
            self.awaiting.discard(instance_id)

    def _timed_out(self):
        """wait_timeout ran out: what is unfinished becomes a failure that says how to pick it up again."""
        timeout = self.request.wait_timeout
        for entry in self.commands.values():
            if entry["done"]:
                continue
            for instance_id in entry["selected"]:
                self._fail(
                    self.records[instance_id],
                    f"the install (command {entry['command_id']}) was still {entry['status']} when wait_timeout "
                    f"({timeout}s) ran out",
                    "Re-run the task later: it re-attaches to this command instead of installing again; or raise "
                    "wait_timeout.",
                )
        for instance_id in sorted(self.awaiting):
            self._fail(
                self.records[instance_id],
                f"the agent was installed but no source server appeared in {self.request.target_region} within "
                f"wait_timeout ({timeout}s)",
                "Check that the instance reaches the DRS endpoint of the target region over HTTPS (443) and read "
                "the agent's installation log; re-running waits again without reinstalling. If the source server "
                "was deleted from DRS on purpose, a run installs again once this install is more than 24 hours "
                "old (retry_failed does not resend successful installs).",
            )
        self.awaiting.clear()

    def _fail(self, record, reason, remedy):
        record.update(outcome="failed", reason=reason, remedy=remedy)

    # -- result -------------------------------------------------------------------

    def result(self, check_mode=False):
        instances = [dict(r) for r in self.records.values()]
        summary = {"total": len(instances), **dict.fromkeys(OUTCOMES, 0)}
        for record in instances:
            if record["outcome"]:
                summary[record["outcome"]] += 1
        summary["reattached"] = sum(1 for r in instances if r["reattached"])
        summary["commands_sent"] = self.sent
        commands = [
            {k: v for k, v in c.items() if k not in ("done", "selected")} | {"instance_count": len(c["selected"])}
            for c in self.commands.values()
        ]
        result = {
            "changed": bool(self.batches) if check_mode else self.sent > 0,
            "overall_status": self._overall(instances),
            "target_region": self.request.target_region,
            "document_name": self.request.document_name,
            "commands": commands,
            "instances": instances,
            "summary": summary,
            "quota": self.quota,
            "source_servers_visible": not self.cross_account,
            "not_running": [
                r["instance_id"]
                for r in instances
                if r["outcome"] in ("installed", "skipped")
                and r["source_server_id"]
                and r["instance_state"] in PAUSED_INSTANCE_STATES
            ],
            "notices": list(self.warnings),
        }
        if check_mode:
            result["planned_batches"] = [
                {"batch": n, "instance_ids": list(batch)} for n, batch in enumerate(self.batches, start=1)
            ]
        return result

    @staticmethod
    def _overall(instances):
        """The run's status: unfinished wins, Pending until something started; then Failed, Cancelled, Success.

        While instances are still to be installed or installing (check mode, ``wait: false``),
        the run is not over: it is Pending (nothing started: a plan, commands not yet
        delivered) or InProgress, whatever else already failed or was rejected (``summary``
        counts those). Once everything finished, one failed or rejected instance makes it Failed.
        """
        groups = []
        for record in instances:
            outcome = record["outcome"]
            if outcome in ("installed", "skipped"):
                groups.append("Success")
            elif outcome == "would_install":
                groups.append("Pending")
            elif outcome == "in_progress":
                groups.append("Pending" if record["status"] == "Pending" else "InProgress")
            elif record["status"] == "Cancelled":
                groups.append("Cancelled")
            else:
                groups.append("Failed")
        unfinished = [g for g in groups if g in ("Pending", "InProgress")]
        return overall_status(unfinished or groups)

    def raise_if_failed(self, result):
        failures = [r for r in result["instances"] if r["outcome"] in ("failed", "rejected")]
        if len(failures) <= self.request.max_failures:
            return
        shown = "; ".join(
            f"{r['instance_id']}{' (' + r['name'] + ')' if r['name'] else ''}: {r['reason']}" for r in failures[:50]
        )
        more = f"; and {len(failures) - 50} more (see instances)" if len(failures) > 50 else ""
        s = result["summary"]
        raise DrsOrchestrationError(
            f"{len(failures)} instance(s) were not installed, more than max_failures ({self.request.max_failures}): "
            f"{shown}{more}. Installed: {s['installed']}, skipped (already protected): {s['skipped']}, "
            f"in progress: {s['in_progress']}. Each instance's remedy is in instances[].remedy.",
            **result,
        )


def _refusal_hint(code, request):
    """What else an SSM refusal may mean ('' or a sentence ending with a space).

    The AWS install document lists the regions its Region parameter allows, and that list
    lags behind the regions DRS supports (botocore endpoint data, which target_region is
    checked against); DescribeDocument does not return it, so SendCommand is the first to say.
    """
    if code != "InvalidParameters":
        return ""
    return (
        f"{request.document_name} may allow only some regions in its Region parameter (the AWS document's list "
        f"lags behind the regions DRS supports): if the message names Region, use a region it lists or a copy of "
        f"the document that accepts {request.target_region}. "
    )


def _protection_note(record):
    """``(reason suffix, remedy)`` for a protected instance whose replication is not going on now."""
    state = record["instance_state"]
    if record["replication_state"] == "DISCONNECTED":
        return (
            ": DRS does not hear from its agent, which is still installed; reinstalling would restart replication"
            + (f" (the instance is {state})" if state in PAUSED_INSTANCE_STATES else ""),
            "Start the instance or restore its outbound HTTPS to the DRS and replication endpoints; the agent "
            "reconnects by itself.",
        )
    if state in PAUSED_INSTANCE_STATES:
        return f"; the instance is {state}: DRS replicates its writes again once it runs", None
    return "", None


def targets_unresolved(command, invocations):
    """Whether a running command sent with Targets does not list all its instances yet.

    SSM resolves Targets (tags) into instances after SendCommand; until then the command's
    ``TargetCount`` is 0 or its invocations are fewer than it.
    """
    if command.get("Status") in TERMINAL_STATUSES:
        return False
    expected = command.get("TargetCount") or 0
    return expected == 0 or len(invocations) < expected


def _details_needed(command):
    """Plugin output (Details) only for a finished command, and only where it may explain a failure."""
    return command.get("Status") in TERMINAL_STATUSES and command.get("Status") != "Success"


def _stale_state(server):
    """``"disconnected from DRS"`` when the server no longer protects its instance, else None.

    DisconnectSourceServer makes the server DISCONNECTED, sets every replicated disk's
    ``totalStorageBytes`` to zero and tells the agent to uninstall itself (botocore drs
    model, DisconnectSourceServer): reinstalling the agent brings the instance back. A
    server DISCONNECTED because its agent is not seen keeps its disks' sizes: the agent
    is still installed and reinstalling would restart replication, so it still counts as
    protected (and is reported with its state).
    """
    info = server.get("dataReplicationInfo") or {}
    if info.get("dataReplicationState") != "DISCONNECTED":
        return None
    disks = info.get("replicatedDisks") or ()
    if any((disk or {}).get("totalStorageBytes") for disk in disks):
        return None
    return "disconnected from DRS"


def _requested_after(command, when):
    """Whether SSM received ``command`` after ``when`` (an unknown time counts as recent)."""
    requested = parse_datetime(command.get("RequestedDateTime"))
    return requested is None or when is None or requested > when


def _seen_since(server, when):
    """Whether DRS heard from the server's agent after ``when`` (lifeCycle.lastSeenByServiceDateTime)."""
    seen = parse_datetime((server.get("lifeCycle") or {}).get("lastSeenByServiceDateTime"))
    when = parse_datetime(when)
    return seen is not None and when is not None and seen > when


def _failure_reason(result):
    """An invocation's failure in words, with the installer's exit code when it has one."""
    if result["response_code"] in (None, 0):
        return result["reason"]
    return f"{result['reason']} (exit code {result['response_code']})"


def _when(value):
    """A time for messages: ISO 8601 to the second, UTC (None stays None)."""
    parsed = parse_datetime(value)
    return parsed.strftime("%Y-%m-%dT%H:%M:%SZ") if parsed else None


def _invoked_after(entries):
    """An InvokedAfter filter value a minute before the earliest of these commands was requested."""
    times = [parse_datetime(e["requested_at"]) for e in entries if e["requested_at"]]
    return (min(times) - timedelta(seconds=60)).strftime("%Y-%m-%dT%H:%M:%SZ") if times else None
