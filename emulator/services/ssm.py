"""SSM: Run Command (SendCommand and its invocations) and the managed-instance inventory.

Managed instances are the EC2 instances of the same account and Region whose fleet
``ssm`` is not ``unmanaged`` and whose state is not shutting-down/terminated (the
SendCommand API reference: "Invalid states are: Shutting-down and Terminated"). Their
PingStatus is the record's ``ssm`` value; the admin action ``set-ping-status`` changes it.

Invocation lifecycle (virtual clock; AWS SSM user guide, "Understanding command
statuses", "Understanding command timeout values", "Run commands at scale"):

* SendCommand creates one invocation per target, all Pending. Targets are sent in waves
  of 1, 2, 4 ... (one wave per ``ssm_delivery_seconds``) while fewer than MaxConcurrency
  invocations are in flight; an invocation is InProgress once its agent has it
  (``ssm_delivery_seconds`` after it was sent) and ends ``install_seconds`` later with
  the instance's ``install`` outcome: success | fail | hang (ExecutionTimedOut after the
  document's execution timeout) | timeout (never delivered) | access_denied.
* An agent that is not Online does not receive the command: the invocation stays
  Pending and ends DeliveryTimedOut when the command expires (ExpiresAfter =
  RequestedDateTime + TimeoutSeconds + execution timeout) unless the agent comes back.
  A result that finishes while the agent is offline is reported when it is Online again.
* Errors (Failed, ExecutionTimedOut) beyond MaxErrors stop the command: targets not yet
  sent end Terminated; running ones finish.
* A successful run of a document that installs the AWS Replication Agent registers the
  instance with DRS in the document's ``Region`` (and ``AccountId``) parameter.

The status mappings that the docs leave open are listed in emulator/README.md.
"""

from __future__ import annotations

import base64
import json
import math
import re
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta

import botocore.session

from ..errors import AwsError
from ..fleet import INSTANCE_CHOICES, FleetError
from ..world import Backend
from . import ssm_output as out
from .ssm_documents import Document, Step, builtin_documents, custom_document

AGENT_VERSION = "3.3.1142.0"
PING_STATUSES = tuple(s for s in INSTANCE_CHOICES["ssm"] if s != "unmanaged")
INSTALL_OUTCOMES = INSTANCE_CHOICES["install"]

# StatusDetails -> Status of an invocation. "TimedOut (this includes both Delivery and
# Execution time outs)" -- CommandFilter in the botocore ssm model. The others are
# assumptions (README): failures the docs say "contribute to Failed" map to Failed,
# invocations the system cancelled (Terminated) map to Cancelled.
INVOCATION_STATUS = {
    "Pending": "Pending",
    "InProgress": "InProgress",
    "Success": "Success",
    "Failed": "Failed",
    "ExecutionTimedOut": "TimedOut",
    "DeliveryTimedOut": "TimedOut",
    "Undeliverable": "Failed",
    "InvalidPlatform": "Failed",
    "AccessDenied": "Failed",
    "Terminated": "Cancelled",
    "Cancelling": "Cancelling",
    "Cancelled": "Cancelled",
}
PLUGIN_STATUS = {**INVOCATION_STATUS, "Cancelling": "InProgress"}
TERMINAL = {d for d in INVOCATION_STATUS if d not in ("Pending", "InProgress", "Cancelling")}
# Do not count against MaxErrors nor decide Success vs Incomplete (monitor-commands table).
NEUTRAL = {"Undeliverable", "InvalidPlatform", "AccessDenied"}

DEFAULT_PAGE = {"ListCommands": 50, "ListCommandInvocations": 50, "DescribeInstanceInformation": 10}
_ISO_FILTER = re.compile(r"^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}(\.\d+)?Z$")


@dataclass
class Plugin:
    step: Step
    detail: str = "Pending"
    code: int = -1
    start: datetime | None = None
    finish: datetime | None = None
    stdout: str = ""
    stderr: str = ""
    runs: bool = True  # False: the platform precondition does not hold


@dataclass
class Invocation:
    command: Command
    instance_id: str
    instance_name: str
    platform: str
    plugins: list[Plugin]
    detail: str = "Pending"
    sent: bool = False
    delivered: bool = False
    held: tuple | None = None  # a result waiting for the agent to be Online again

    @property
    def terminal(self) -> bool:
        return self.detail in TERMINAL

    @property
    def in_flight(self) -> bool:
        return self.sent and not self.terminal


@dataclass
class Command:
    command_id: str
    document: Document
    request: dict
    requested: datetime
    expires: datetime
    timeout_seconds: int
    execution_timeout: int
    max_concurrency: str
    max_errors: str
    invocations: list[Invocation] = field(default_factory=list)
    cancel_requested: bool = False
    stopped: bool = False
    next_pump: datetime | None = None
    pumping: bool = False
    resolving: bool = False  # sent with tag Targets, its invocations not listed yet
    started: datetime | None = None  # its invocations were listed: the rate control's waves count from here

    @property
    def concurrency_limit(self) -> int:
        return _rate(self.max_concurrency, len(self.invocations), minimum=1)

    @property
    def error_limit(self) -> int:
        return _rate(self.max_errors, len(self.invocations), minimum=0)


def _by_tag(targets: list[dict]) -> bool:
    """Whether Targets select instances by tag (resolved after SendCommand), not by ID."""
    return any(t.get("Key", "").lower() != "instanceids" for t in targets)


def _rate(value: str, targets: int, minimum: int) -> int:
    """A MaxConcurrency / MaxErrors value: a number, or a percentage of the targets (rounded down)."""
    if value.endswith("%"):
        return max(minimum, math.floor(int(value[:-1]) * targets / 100))
    return int(value)


class SsmBackend(Backend):
    """Systems Manager of one account and Region."""

    service = "ssm"

    def __init__(self, world, account_id: str, region: str):
        super().__init__(world, account_id, region)
        self.documents: dict[str, Document] = {d.name: d for d in builtin_documents(world.clock.now())}
        self.commands: dict[str, Command] = {}

    @classmethod
    def load_fleet(cls, world, fleet) -> None:
        for i, spec in enumerate(fleet.documents):
            if not isinstance(spec, dict):
                raise FleetError(f"documents[{i}] must be a mapping")
            account = str(spec.get("account_id") or fleet.account_id)
            region = str(spec.get("region") or fleet.region)
            backend = world.backend(cls.service, account, region)
            try:
                backend.register_document(spec)
            except ValueError as exc:
                raise FleetError(f"documents[{i}]: {exc}") from exc

    def register_document(self, spec: dict) -> Document:
        spec = {k: v for k, v in spec.items() if k not in ("account_id", "region")}
        document = custom_document(spec, owner=self.account_id, created=self.now())
        self.documents[document.name] = document
        return document

    # Managed instances -------------------------------------------------------------
    @property
    def timing(self) -> dict:
        return self.world.fleet.timing

    def _ec2(self):
        return self.peer("ec2")

    def _managed(self, instance_id: str) -> dict | None:
        record = self._ec2().get_instance(instance_id)
        if record is None or record["ssm"] == "unmanaged" or record["state"] in ("shutting-down", "terminated"):
            return None
        return record

    def _managed_records(self) -> list[dict]:
        return [r for r in self._ec2().instances() if self._managed(r["instance_id"]) is not None]

    @staticmethod
    def _ping(record: dict) -> str:
        """PingStatus: the fleet/admin value; a stopped instance's agent is not connected."""
        if record["state"] in ("stopped", "stopping") and record["ssm"] == "Online":
            return "ConnectionLost"
        return record["ssm"]

    # SendCommand -------------------------------------------------------------------
    def send_command(self, params: dict) -> dict:
        document = self._document(params["DocumentName"], params.get("DocumentVersion"))
        self._check_parameters(document, params.get("Parameters") or {})
        self._check_notifications(params)
        records = self._targets(params)
        now = self.now()
        timeout = int(params.get("TimeoutSeconds") or 3600)
        exec_timeout = self._execution_timeout(document, params.get("Parameters") or {})
        command = Command(
            command_id=self.world.uuid(),
            document=document,
            request=params,
            requested=now,
            expires=now + timedelta(seconds=timeout + exec_timeout),
            timeout_seconds=timeout,
            execution_timeout=exec_timeout,
            max_concurrency=params.get("MaxConcurrency") or "50",
            max_errors=params.get("MaxErrors") or "0",
        )
        self.commands[command.command_id] = command
        self.world.schedule(command.expires, lambda _at, c=command: self._expire(c))
        delay = self.timing["ssm_target_resolution_seconds"]
        if delay > 0 and _by_tag(params.get("Targets") or []):
            command.resolving = True
            self.world.schedule(delay, lambda _at, c=command, r=records: self._start(c, r))
        else:
            self._start(command, records)
        return {"Command": self._command_view(command)}

    def _start(self, command: Command, records: list[dict]) -> None:
        """The command's invocations are listed (at once, or once its tag Targets are resolved) and sent."""
        command.resolving = False
        command.started = self.now()
        if command.cancel_requested:
            return  # cancelled before it reached any instance
        for record in records:
            command.invocations.append(
                Invocation(
                    command=command,
                    instance_id=record["instance_id"],
                    instance_name=record["tags"].get("Name", ""),
                    platform=record["platform"],
                    plugins=[Plugin(step) for step in command.document.steps],
                )
            )
        if self.now() >= command.expires:
            self._expire(command)
        self._pump(command)

    def _document(self, name: str, version: str | None) -> Document:
        if name.startswith("arn:"):
            name = name.rsplit("/", 1)[-1]
        document = self.documents.get(name)
        if document is None:
            raise AwsError("InvalidDocument", f"Document with name {name} does not exist.")
        if version not in (None, "$DEFAULT", "$LATEST", "1"):
            raise AwsError("InvalidDocumentVersion", f"Document {name} does not have version {version}.")
        return document

    @staticmethod
    def _check_parameters(document: Document, given: dict) -> None:
        """SendCommand's parameter rules (InvalidParameters API reference): only declared
        parameters, every one without a default present, values of the declared type."""
        declared = [p["Name"] for p in document.parameters]
        for name, values in given.items():
            spec = document.parameter(name)
            if spec is None:
                raise AwsError(
                    "InvalidParameters",
                    f"Parameter {name!r} is not defined in document {document.name}; it declares: "
                    f"{', '.join(declared) or 'no parameters'}.",
                )
            if spec["Type"] == "String" and len(values) != 1:
                raise AwsError(
                    "InvalidParameters",
                    f"Parameter {name!r} is a String and takes exactly one value, got {len(values)}.",
                )
            for value in values:
                if "AllowedValues" in spec and value not in spec["AllowedValues"]:
                    raise AwsError(
                        "InvalidParameters",
                        f"Parameter {name!r} value {value!r} is not one of the allowed values: "
                        f"{', '.join(spec['AllowedValues'])}.",
                    )
                if "AllowedPattern" in spec and not re.fullmatch(spec["AllowedPattern"], value):
                    raise AwsError(
                        "InvalidParameters",
                        f"Parameter {name!r} value {value!r} does not match the pattern {spec['AllowedPattern']}.",
                    )
        missing = [p["Name"] for p in document.parameters if "DefaultValue" not in p and p["Name"] not in given]
        if missing:
            raise AwsError(
                "InvalidParameters", f"Document {document.name} requires parameter(s) {', '.join(missing)}; none given."
            )

    @staticmethod
    def _check_notifications(params: dict) -> None:
        role = params.get("ServiceRoleArn")
        if role is not None and not re.fullmatch(r"arn:aws[a-z-]*:iam::\d{12}:role/[\w+=,.@/-]+", role):
            raise AwsError("InvalidRole", f"ServiceRoleArn {role!r} is not an IAM role ARN.")
        config = params.get("NotificationConfig")
        if config is not None:
            arn = config.get("NotificationArn", "")
            if not re.fullmatch(r"arn:aws[a-z-]*:sns:[a-z0-9-]+:\d{12}:[\w-]+", arn):
                raise AwsError("InvalidNotificationConfig", f"NotificationArn {arn!r} is not an Amazon SNS topic ARN.")
            if role is None:
                raise AwsError("InvalidRole", "NotificationConfig needs ServiceRoleArn, the role SSM uses to publish.")

    def _targets(self, params: dict) -> list[dict]:
        ids = params.get("InstanceIds") or []
        targets = params.get("Targets") or []
        if ids and targets:
            raise AwsError("InvalidParameters", "Specify either InstanceIds or Targets, not both.")
        if not ids and not targets:
            raise AwsError(
                "InvalidParameters", "Specify the managed nodes to run the command on: InstanceIds or Targets."
            )
        if ids:
            return self._explicit(ids)
        return self._resolve_targets(targets)

    def _explicit(self, ids: list[str]) -> list[dict]:
        if len(set(ids)) != len(ids):
            duplicate = next(i for i in ids if ids.count(i) > 1)
            raise AwsError("DuplicateInstanceId", f"Instance {duplicate} is listed more than once.")
        invalid = [i for i in ids if self._managed(i) is None]
        if invalid:
            raise AwsError(
                "InvalidInstanceId",
                f"Instances [[{', '.join(invalid)}]] not in a valid state for account {self.account_id}",
            )
        return [self._managed(i) for i in ids]

    def _resolve_targets(self, targets: list[dict]) -> list[dict]:
        """Every Target must match (AND); a Target's values are alternatives (OR)."""
        records = self._managed_records()
        for target in targets:
            key, values = target.get("Key", ""), target.get("Values") or []
            if key.lower() == "instanceids":
                self._explicit(values)
                records = [r for r in records if r["instance_id"] in values]
            elif key.startswith("tag:"):
                tag = key[4:]
                records = [r for r in records if r["tags"].get(tag) in values]
            elif key == "tag-key":
                records = [r for r in records if any(v in r["tags"] for v in values)]
            else:
                raise AwsError(
                    "InvalidParameters", f"Target key {key!r} is not supported; use InstanceIds, tag:<key> or tag-key."
                )
        return records

    @staticmethod
    def _execution_timeout(document: Document, given: dict) -> int:
        if document.parameter("executionTimeout") is not None:
            values = given.get("executionTimeout") or [document.parameter("executionTimeout")["DefaultValue"]]
            return int(values[0])
        return document.execution_timeout

    # Scheduling ----------------------------------------------------------------------
    def _pump(self, command: Command) -> None:
        """Send pending targets while concurrency and the wave ramp allow (re-entrant calls are no-ops)."""
        if command.cancel_requested or command.pumping:
            return
        command.pumping = True
        try:
            sent = sum(1 for i in command.invocations if i.sent)
            in_flight = sum(1 for i in command.invocations if i.in_flight)
            window, next_wave = self._window(command)
            for invocation in command.invocations:
                if command.stopped:
                    break
                if invocation.sent or invocation.terminal:
                    continue
                if in_flight >= command.concurrency_limit:
                    return  # the next invocation to end pumps again
                if sent >= window:
                    self._pump_at(command, next_wave)
                    return
                self._send(invocation)
                sent += 1
                in_flight += invocation.in_flight
            if command.stopped:
                self._terminate_unsent(command)
        finally:
            command.pumping = False

    def _window(self, command: Command) -> tuple[int, datetime]:
        """How many targets may have been sent by now: 1, then 2 more, 4 more ... one wave per delivery time."""
        delivery = self.timing["ssm_delivery_seconds"]
        started = command.started or command.requested
        if delivery <= 0:
            return len(command.invocations), started
        wave = int((self.now() - started).total_seconds() // delivery)
        window = 2 ** min(wave + 1, 30) - 1
        return window, started + timedelta(seconds=delivery * (wave + 1))

    def _pump_at(self, command: Command, at: datetime) -> None:
        if command.next_pump != at:
            command.next_pump = at
            self.world.schedule(at, lambda _at, c=command: self._pump(c))

    def _send(self, invocation: Invocation) -> None:
        invocation.sent = True
        record = self._managed(invocation.instance_id)
        if record is None:
            self._finish(invocation, "Undeliverable")
            return
        document = invocation.command.document
        if invocation.platform not in document.platform_types or not any(
            p.step.platform in (None, invocation.platform) for p in invocation.plugins
        ):
            self._finish(invocation, "InvalidPlatform")
            return
        if record["install"] == "access_denied":
            self._finish(invocation, "AccessDenied")
            return
        self.world.schedule(self.timing["ssm_delivery_seconds"], lambda _at, i=invocation: self._deliver(i))

    def _deliver(self, invocation: Invocation) -> None:
        """The agent picks the command up -- if it is there to do so."""
        if invocation.terminal or invocation.delivered or invocation.detail == "Cancelling":
            return
        record = self._managed(invocation.instance_id)
        if record is None:
            self._finish(invocation, "Undeliverable")
            return
        if self._ping(record) != "Online" or record["install"] == "timeout":
            return  # stays Pending; set-ping-status Online or expiry moves it on
        now = self.now()
        invocation.delivered = True
        invocation.detail = "InProgress"
        for plugin in invocation.plugins:
            plugin.start = now
            if plugin.step.platform in (None, invocation.platform):
                plugin.detail, plugin.code = "InProgress", 0
            else:
                plugin.runs = False
                plugin.detail, plugin.code, plugin.finish = "Success", 0, now
                plugin.stdout = out.skipped_output(plugin.step.platform, plugin.step.name)
        outcome = record["install"]
        if outcome == "hang":
            delay = invocation.command.execution_timeout
            self.world.schedule(delay, lambda _at, i=invocation: self._execution_timed_out(i))
        else:
            delay = self.timing["install_seconds"]
            self.world.schedule(delay, lambda _at, i=invocation, o=outcome: self._complete(i, o))

    def _complete(self, invocation: Invocation, outcome: str) -> None:
        """The steps ran to the end on the instance."""
        if invocation.terminal or invocation.detail == "Cancelling":
            return
        record = self._ec2().get_instance(invocation.instance_id)
        if record is None:
            return  # the instance vanished mid-run: no agent reports; expiry ends it
        result = self._run_result(invocation, outcome)
        detail = "Success" if result.code == 0 else "Failed"
        if detail == "Success" and invocation.command.document.installs_drs_agent:
            self._register_agent(invocation, record)
        self._report(invocation, detail, result)

    def _execution_timed_out(self, invocation: Invocation) -> None:
        if invocation.terminal or invocation.detail == "Cancelling":
            return
        result = out.StepResult(out.KILLED_EXIT_CODE.get(invocation.platform, 137), *self._partial_output(invocation))
        self._report(invocation, "ExecutionTimedOut", result)

    def _partial_output(self, invocation: Invocation) -> tuple[str, str]:
        if invocation.command.document.installs_drs_agent and invocation.platform != "Windows":
            return "/usr/bin/python3\n", out.install_success("Linux").stderr
        return "", ""

    def _report(self, invocation: Invocation, detail: str, result: out.StepResult) -> None:
        """The agent sends the result -- now if it is connected, else when it reconnects."""
        record = self._managed(invocation.instance_id)
        if record is None or self._ping(record) != "Online":
            invocation.held = (detail, result, self.now())
            return
        self._finish(invocation, detail, result)

    def _finish(self, invocation: Invocation, detail: str, result: out.StepResult | None = None) -> None:
        now = self.now()
        invocation.detail = detail
        for plugin in invocation.plugins:
            if not plugin.runs:
                continue
            plugin.detail = detail
            if result is not None:
                plugin.code, plugin.stdout, plugin.stderr = result.code, result.stdout, result.stderr
                plugin.finish = now
        self._after_terminal(invocation.command)

    def _after_terminal(self, command: Command) -> None:
        """Errors beyond MaxErrors stop the command; a freed slot lets the next target go."""
        errors = sum(1 for i in command.invocations if i.detail in ("Failed", "ExecutionTimedOut"))
        if errors > command.error_limit:
            command.stopped = True
            if not command.pumping:
                self._terminate_unsent(command)
        self._pump(command)

    def _terminate_unsent(self, command: Command) -> None:
        for invocation in command.invocations:
            if not invocation.sent and not invocation.terminal:
                invocation.sent = True
                invocation.detail = "Terminated"
                for plugin in invocation.plugins:
                    plugin.detail = "Terminated"

    def _expire(self, command: Command) -> None:
        """ExpiresAfter: everything Pending or InProgress becomes DeliveryTimedOut."""
        for invocation in command.invocations:
            if not invocation.terminal and invocation.detail != "Cancelling":
                invocation.sent = True
                invocation.held = None
                invocation.detail = "DeliveryTimedOut"
                for plugin in invocation.plugins:
                    if plugin.runs:
                        plugin.detail = "DeliveryTimedOut"

    # What the install document does ----------------------------------------------------
    def _run_result(self, invocation: Invocation, outcome: str) -> out.StepResult:
        document = invocation.command.document
        platform = invocation.platform
        step = next((p.step.name for p in invocation.plugins if p.runs), "")
        if not document.installs_drs_agent:
            return out.generic_success() if outcome == "success" else out.generic_failure()
        region, tags, account = self._install_target(invocation.command)
        if region not in _drs_regions():
            return out.download_failure(platform, region, step)
        if not self.peer("drs", region=region, account_id=account or self.account_id).initialized:
            reason = out.FAIL_REASONS["uninitialized"].format(region=region)
            return out.install_failure(platform, region, tags, account, reason, step)
        if outcome == "fail":
            reason = out.FAIL_REASONS["fail"].format(region=region)
            return out.install_failure(platform, region, tags, account, reason, step)
        return out.install_success(platform)

    def _install_target(self, command: Command) -> tuple[str, dict[str, str], str | None]:
        """Region, tags and target account of an agent install, from the document's parameters."""
        given = command.request.get("Parameters") or {}
        region = (given.get("Region") or [""])[0]
        tags_text = (given.get("Tags") or [""])[0]
        tags = dict(item.split("=", 1) for item in tags_text.split(",") if "=" in item)
        account = (given.get("AccountId") or [""])[0] or None
        return region, tags, account

    def _register_agent(self, invocation: Invocation, record: dict) -> None:
        region, tags, account = self._install_target(invocation.command)
        drs = self.peer("drs", region=region, account_id=account or self.account_id)
        drs.register_agent(record, source_region=self.region, source_account=self.account_id, tags=tags)

    # Views ---------------------------------------------------------------------------
    def _command_view(self, command: Command) -> dict:
        status, details = self._aggregate(command)
        req = command.request
        counts = [i.detail for i in command.invocations]
        view = {
            "CommandId": command.command_id,
            "DocumentName": command.document.name,
            "DocumentVersion": req.get("DocumentVersion") or "$DEFAULT",
            "Comment": req.get("Comment", ""),
            "ExpiresAfter": command.expires,
            "Parameters": req.get("Parameters") or {},
            "InstanceIds": list(req.get("InstanceIds") or []),
            "Targets": list(req.get("Targets") or []),
            "RequestedDateTime": command.requested,
            "Status": status,
            "StatusDetails": details,
            "OutputS3Region": req.get("OutputS3Region") or self.region,
            "OutputS3KeyPrefix": req.get("OutputS3KeyPrefix", ""),
            "MaxConcurrency": command.max_concurrency,
            "MaxErrors": command.max_errors,
            "TargetCount": len(counts),
            "CompletedCount": sum(1 for d in counts if d in TERMINAL),
            "ErrorCount": sum(1 for d in counts if d in ("Failed", "ExecutionTimedOut")),
            "DeliveryTimedOutCount": counts.count("DeliveryTimedOut"),
            "ServiceRole": req.get("ServiceRoleArn", ""),
            "CloudWatchOutputConfig": req.get("CloudWatchOutputConfig") or {"CloudWatchOutputEnabled": False},
            "TimeoutSeconds": command.timeout_seconds,
        }
        for key in ("OutputS3BucketName", "NotificationConfig", "AlarmConfiguration"):
            if req.get(key) is not None:
                view[key] = req[key]
        return view

    @staticmethod
    def _aggregate(command: Command) -> tuple[str, str]:
        """Command Status and StatusDetails from its invocations ("Detailed status for a command")."""
        details = [i.detail for i in command.invocations]
        if command.cancel_requested:
            return ("Cancelled", "Cancelled") if all(d in TERMINAL for d in details) else ("Cancelling", "Cancelling")
        if command.resolving:
            return "Pending", "Pending"
        if not details:
            return "Failed", "NoInstancesInTag"
        if not all(d in TERMINAL for d in details):
            started = any(i.delivered or i.terminal for i in command.invocations)
            return ("InProgress", "InProgress") if started else ("Pending", "Pending")
        limit = command.error_limit
        failed, timed_out = details.count("Failed"), details.count("ExecutionTimedOut")
        if failed + timed_out > limit:
            return ("TimedOut", "ExecutionTimedOut") if timed_out > failed else ("Failed", "Failed")
        if details.count("DeliveryTimedOut") > limit:
            return "TimedOut", "DeliveryTimedOut"
        counted = [d for d in details if d not in NEUTRAL]
        if not counted:
            # "if all invocations in a command have the status Undeliverable [Invalid Platform,
            # Access Denied], then the command status returned is Failed"; of the three, only
            # Access Denied is also a command-level detail ("Detailed status for a command").
            return "Failed", "AccessDenied" if set(details) == {"AccessDenied"} else "Failed"
        if all(d == "Success" for d in counted):
            return "Success", "Success"
        if all(d == "Cancelled" for d in counted):
            return "Cancelled", "Cancelled"
        return "Failed", "Incomplete"

    def _invocation_view(self, invocation: Invocation, details: bool) -> dict:
        command = invocation.command
        view = {
            "CommandId": command.command_id,
            "InstanceId": invocation.instance_id,
            "InstanceName": invocation.instance_name,
            "Comment": command.request.get("Comment", ""),
            "DocumentName": command.document.name,
            "DocumentVersion": command.request.get("DocumentVersion") or "$DEFAULT",
            "RequestedDateTime": command.requested,
            "Status": INVOCATION_STATUS[invocation.detail],
            "StatusDetails": invocation.detail,
            "StandardOutputUrl": "",
            "StandardErrorUrl": "",
            "CommandPlugins": [self._plugin_view(invocation, p) for p in invocation.plugins] if details else [],
            "ServiceRole": command.request.get("ServiceRoleArn", ""),
            "CloudWatchOutputConfig": command.request.get("CloudWatchOutputConfig")
            or {"CloudWatchOutputEnabled": False},
        }
        if command.request.get("NotificationConfig") is not None:
            view["NotificationConfig"] = command.request["NotificationConfig"]
        return view

    def _plugin_view(self, invocation: Invocation, plugin: Plugin) -> dict:
        req = invocation.command.request
        view = {
            "Name": plugin.step.name,
            "Status": PLUGIN_STATUS[plugin.detail],
            "StatusDetails": plugin.detail,
            "ResponseCode": plugin.code,
            "Output": out.combined_output(plugin.stdout, plugin.stderr),
            "StandardOutputUrl": "",
            "StandardErrorUrl": "",
            "OutputS3Region": req.get("OutputS3Region") or self.region,
            "OutputS3KeyPrefix": "",
        }
        for key, value in (("ResponseStartDateTime", plugin.start), ("ResponseFinishDateTime", plugin.finish)):
            if value is not None:
                view[key] = value
        bucket = req.get("OutputS3BucketName")
        if bucket:
            prefix = self._s3_prefix(invocation, plugin)
            base = f"https://s3.{view['OutputS3Region']}.amazonaws.com/{bucket}/{prefix}/{plugin.step.name}"
            view.update(OutputS3BucketName=bucket, OutputS3KeyPrefix=prefix)
            if plugin.detail in TERMINAL and plugin.runs:
                view.update(StandardOutputUrl=f"{base}/stdout", StandardErrorUrl=f"{base}/stderr")
        return view

    @staticmethod
    def _s3_prefix(invocation: Invocation, plugin: Plugin) -> str:
        prefix = (invocation.command.request.get("OutputS3KeyPrefix") or "").strip("/")
        parts = [prefix] if prefix else []
        parts += [invocation.command.command_id, invocation.instance_id, plugin.step.action.replace(":", "")]
        return "/".join(parts)

    # List / get / cancel --------------------------------------------------------------
    def list_commands(self, params: dict) -> dict:
        commands = sorted(self.commands.values(), key=lambda c: c.requested, reverse=True)
        if params.get("CommandId"):
            commands = [c for c in commands if c.command_id == params["CommandId"]]
        if params.get("InstanceId"):
            commands = [c for c in commands if any(i.instance_id == params["InstanceId"] for i in c.invocations)]
        for flt in params.get("Filters") or []:
            commands = [c for c in commands if self._command_matches(c, flt)]
        page, token = self._page("ListCommands", commands, params)
        result: dict = {"Commands": [self._command_view(c) for c in page]}
        if token:
            result["NextToken"] = token
        return result

    def _command_matches(self, command: Command, flt: dict) -> bool:
        key, value = flt["key"], flt["value"]
        if key == "ExecutionStage":
            if value not in ("Executing", "Complete"):
                # ListCommands declares no value error: InvalidFilterKey is its filter error (README, Assumptions).
                raise AwsError(
                    "InvalidFilterKey", f"ExecutionStage filter value {value!r} is not Executing or Complete."
                )
            done = all(i.terminal for i in command.invocations)
            return done if value == "Complete" else not done
        status, details = self._aggregate(command)
        return self._common_match(key, value, command, status, details)

    def _common_match(self, key: str, value: str, command: Command, status: str, details: str) -> bool:
        if key == "InvokedAfter":
            return command.requested >= _filter_time(value)
        if key == "InvokedBefore":
            return command.requested <= _filter_time(value)
        if key == "DocumentName":
            return command.document.name == value
        if key == "Status":
            return value in (status, details)
        raise AwsError("InvalidFilterKey", f"Filter key {key} is not supported here.")

    def list_command_invocations(self, params: dict) -> dict:
        commands = sorted(self.commands.values(), key=lambda c: c.requested, reverse=True)
        if params.get("CommandId"):
            commands = [c for c in commands if c.command_id == params["CommandId"]]
        invocations = [i for c in commands for i in c.invocations]
        if params.get("InstanceId"):
            invocations = [i for i in invocations if i.instance_id == params["InstanceId"]]
        for flt in params.get("Filters") or []:
            if flt["key"] == "ExecutionStage":
                raise AwsError("InvalidFilterKey", "The ExecutionStage filter can only be used with ListCommands.")
            invocations = [
                i
                for i in invocations
                if self._common_match(flt["key"], flt["value"], i.command, INVOCATION_STATUS[i.detail], i.detail)
            ]
        page, token = self._page("ListCommandInvocations", invocations, params)
        result: dict = {"CommandInvocations": [self._invocation_view(i, bool(params.get("Details"))) for i in page]}
        if token:
            result["NextToken"] = token
        return result

    def get_command_invocation(self, params: dict) -> dict:
        command = self.commands.get(params["CommandId"])
        invocation = next(
            (i for i in (command.invocations if command else []) if i.instance_id == params["InstanceId"]), None
        )
        if invocation is None:
            raise AwsError(
                "InvocationDoesNotExist", "The command ID and instance ID you specified did not match any invocations."
            )
        name = params.get("PluginName")
        if name is not None:
            plugin = next((p for p in invocation.plugins if p.step.name == name), None)
            if plugin is None:
                raise AwsError("InvalidPluginName", f"Plugin {name} is not a step of {command.document.name}.")
        elif len(invocation.plugins) == 1:
            plugin = invocation.plugins[0]
        else:
            # "If the document contains more than one step, you must specify the name of the step" (the model).
            raise AwsError(
                "InvalidPluginName",
                f"{command.document.name} has several steps; name one in PluginName "
                f"({', '.join(p.step.name for p in invocation.plugins)}).",
            )
        return self._invocation_detail(invocation, plugin)

    def _invocation_detail(self, invocation: Invocation, plugin: Plugin) -> dict:
        command = invocation.command
        cancelling = invocation.detail == "Cancelling"
        result = {
            "CommandId": command.command_id,
            "InstanceId": invocation.instance_id,
            "Comment": command.request.get("Comment", ""),
            "DocumentName": command.document.name,
            "DocumentVersion": command.request.get("DocumentVersion") or "$DEFAULT",
            "PluginName": plugin.step.name,
            "ResponseCode": plugin.code,
            "ExecutionStartDateTime": _iso_ms(plugin.start),
            "ExecutionElapsedTime": _elapsed(plugin.start, plugin.finish or (self.now() if plugin.start else None)),
            "ExecutionEndDateTime": _iso_ms(plugin.finish),
            "Status": "Cancelling" if cancelling else PLUGIN_STATUS[plugin.detail],
            "StatusDetails": "Cancelling" if cancelling else plugin.detail,
            "StandardOutputContent": "",
            "StandardOutputUrl": "",
            "StandardErrorContent": "",
            "StandardErrorUrl": "",
            "CloudWatchOutputConfig": command.request.get("CloudWatchOutputConfig")
            or {"CloudWatchOutputEnabled": False},
        }
        if plugin.detail in TERMINAL:
            result["StandardOutputContent"] = plugin.stdout[: out.STDOUT_LIMIT]
            result["StandardErrorContent"] = plugin.stderr[: out.STDERR_LIMIT]
            view = self._plugin_view(invocation, plugin)
            result["StandardOutputUrl"] = view["StandardOutputUrl"]
            result["StandardErrorUrl"] = view["StandardErrorUrl"]
        return result

    def cancel_command(self, params: dict) -> dict:
        command = self.commands.get(params["CommandId"])
        if command is None:
            raise AwsError("InvalidCommandId", f"Command {params['CommandId']} does not exist.")
        ids = params.get("InstanceIds") or []
        targeted = {i.instance_id for i in command.invocations}
        unknown = [i for i in ids if i not in targeted]
        if unknown:
            raise AwsError(
                "InvalidInstanceId",
                f"Instances [[{', '.join(unknown)}]] are not targets of command {command.command_id}",
            )
        if not ids and (command.resolving or not all(i.terminal for i in command.invocations)):
            command.cancel_requested = True
        for invocation in command.invocations:
            if invocation.terminal or (ids and invocation.instance_id not in ids):
                continue
            invocation.detail = "Cancelling"
            self.world.schedule(self.timing["ssm_delivery_seconds"], lambda _at, i=invocation: self._cancelled(i))
        return {}

    def _cancelled(self, invocation: Invocation) -> None:
        if invocation.detail != "Cancelling":
            return
        now = self.now()
        invocation.sent = True
        invocation.detail = "Cancelled"
        for plugin in invocation.plugins:
            if plugin.runs and plugin.detail not in TERMINAL:
                plugin.detail = "Cancelled"
                if plugin.start is not None:
                    plugin.code, plugin.finish = out.KILLED_EXIT_CODE.get(invocation.platform, 137), now
        self._after_terminal(invocation.command)

    # Inventory -------------------------------------------------------------------------
    def describe_instance_information(self, params: dict) -> dict:
        # "Attempting to use InstanceInformationFilterList and Filters leads to an exception error";
        # "Tag filters can't be combined with other filter types" (the model). Which declared error
        # AWS sends is not documented: InvalidFilterKey (README, Assumptions).
        if params.get("InstanceInformationFilterList") and params.get("Filters"):
            raise AwsError(
                "InvalidFilterKey", "Use either Filters or the legacy InstanceInformationFilterList, not both."
            )
        keys = [flt["Key"] for flt in params.get("Filters") or []]
        tag_keys = [k for k in keys if k.startswith("tag:") or k == "tag-key"]
        if tag_keys and len(tag_keys) < len(keys):
            raise AwsError("InvalidFilterKey", "Tag filters can't be combined with other filter types.")
        records = self._managed_records()
        for flt in params.get("InstanceInformationFilterList") or []:
            records = self._info_filter(records, flt["key"], flt["valueSet"])
        for flt in params.get("Filters") or []:
            records = self._info_filter(records, flt["Key"], flt["Values"])
        page, token = self._page("DescribeInstanceInformation", records, params)
        result: dict = {"InstanceInformationList": [self._information(r) for r in page]}
        if token:
            result["NextToken"] = token
        return result

    def _info_filter(self, records: list[dict], key: str, values: list[str]) -> list[dict]:
        enums = {
            "PingStatus": PING_STATUSES,
            "PlatformTypes": ("Windows", "Linux", "MacOS"),
            "ResourceType": ("EC2Instance", "ManagedInstance"),
        }
        if key in enums:
            bad = [v for v in values if v not in enums[key]]
            if bad:
                raise AwsError(
                    "InvalidInstanceInformationFilterValue",
                    f"{bad[0]} is not a valid value for filter {key}; valid values: {', '.join(enums[key])}",
                )
        if key.startswith("tag:"):
            return [r for r in records if r["tags"].get(key[4:]) in values]
        fields = {
            "InstanceIds": lambda r: r["instance_id"],
            "PingStatus": self._ping,
            "PlatformTypes": lambda r: r["platform"],
            "ResourceType": lambda r: "EC2Instance",
            "AgentVersion": lambda r: AGENT_VERSION,
            "ActivationIds": lambda r: None,
            "IamRole": lambda r: None,
            "AssociationStatus": lambda r: None,
        }
        if key == "tag-key":
            return [r for r in records if any(v in r["tags"] for v in values)]
        if key not in fields:
            raise AwsError("InvalidFilterKey", f"{key} is not a valid filter key for DescribeInstanceInformation.")
        return [r for r in records if fields[key](r) in values]

    def _information(self, record: dict) -> dict:
        ping = self._ping(record)
        last_ping = self.now() if ping == "Online" else record["ssm_changed_at"]
        return {
            "InstanceId": record["instance_id"],
            "PingStatus": ping,
            "LastPingDateTime": last_ping,
            "AgentVersion": AGENT_VERSION,
            "IsLatestVersion": True,
            "PlatformType": record["platform"],
            "PlatformName": record["platform_name"],
            "PlatformVersion": str(record["platform_version"]),
            "ResourceType": "EC2Instance",
            "IPAddress": record["private_ip"],
            "ComputerName": record["hostname"],
            "SourceId": record["instance_id"],
            "SourceType": "AWS::EC2::Instance",
        }

    def describe_document(self, params: dict) -> dict:
        document = self._document(params["Name"], params.get("DocumentVersion"))
        return {"Document": document.describe()}

    # Paging ----------------------------------------------------------------------------
    def _page(self, operation: str, items: list, params: dict) -> tuple[list, str | None]:
        size = params.get("MaxResults") or DEFAULT_PAGE[operation]
        start = 0
        if params.get("NextToken"):
            try:
                data = json.loads(base64.urlsafe_b64decode(params["NextToken"].encode()))
                start = int(data["offset"])
                if data["op"] != operation or start < 0:
                    raise ValueError(operation)
            except (ValueError, KeyError, TypeError) as exc:
                raise AwsError("InvalidNextToken", "The specified token isn't valid.") from exc
        end = start + size
        token = None
        if end < len(items):
            token = base64.urlsafe_b64encode(json.dumps({"op": operation, "offset": end}).encode()).decode()
        return items[start:end], token

    # Admin -----------------------------------------------------------------------------
    def admin_set_ping_status(self, body: dict) -> dict:
        """POST /_emulator/ssm/set-ping-status {instance_id, status}: Online | ConnectionLost | Inactive."""
        record = self._admin_record(body)
        status = body.get("status")
        if status not in PING_STATUSES:
            raise ValueError(f"status must be one of {list(PING_STATUSES)}, got {status!r}")
        record["ssm"] = status
        record["ssm_changed_at"] = self.now()
        if status == "Online":
            self._reconnected(record["instance_id"])
        return {"instance_id": record["instance_id"], "status": status}

    def _reconnected(self, instance_id: str) -> None:
        """The agent is back: it picks up waiting commands and reports held results."""
        for command in self.commands.values():
            for invocation in command.invocations:
                if invocation.instance_id != instance_id or invocation.terminal:
                    continue
                if invocation.held is not None:
                    detail, result, _ = invocation.held
                    invocation.held = None
                    self.world.schedule(0, lambda _at, i=invocation, d=detail, r=result: self._finish(i, d, r))
                elif invocation.sent and not invocation.delivered:
                    delay = self.timing["ssm_delivery_seconds"]
                    self.world.schedule(delay, lambda _at, i=invocation: self._deliver(i))

    def admin_set_install_outcome(self, body: dict) -> dict:
        """POST /_emulator/ssm/set-install-outcome {instance_id, outcome}: how the next runs on it end."""
        record = self._admin_record(body)
        outcome = body.get("outcome")
        if outcome not in INSTALL_OUTCOMES:
            raise ValueError(f"outcome must be one of {list(INSTALL_OUTCOMES)}, got {outcome!r}")
        record["install"] = outcome
        return {"instance_id": record["instance_id"], "outcome": outcome}

    def admin_register_document(self, body: dict) -> dict:
        """POST /_emulator/ssm/register-document {name, parameters, platform_types, installs_drs_agent ...}."""
        document = self.register_document(body)
        return {"name": document.name, "parameters": [p["Name"] for p in document.parameters]}

    def _admin_record(self, body: dict) -> dict:
        instance_id = body.get("instance_id")
        record = self._ec2().get_instance(instance_id) if isinstance(instance_id, str) else None
        if record is None:
            raise ValueError(f"instance_id {instance_id!r} is not an instance in {self.account_id}/{self.region}")
        return record


def _filter_time(value: str) -> datetime:
    if not _ISO_FILTER.match(value):
        raise AwsError("InvalidFilterKey", f"{value} is not a timestamp like 2024-07-07T00:00:00Z.")
    return datetime.fromisoformat(value.replace("Z", "+00:00")).astimezone(UTC)


def _iso_ms(value: datetime | None) -> str:
    if value is None:
        return ""
    return value.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%S.") + f"{value.microsecond // 1000:03d}Z"


def _elapsed(start: datetime | None, end: datetime | None) -> str:
    if start is None or end is None:
        return ""
    return f"PT{(end - start).total_seconds():.3f}S"


_REGIONS: set[str] | None = None


def _drs_regions() -> set[str]:
    """Regions where DRS has an endpoint (botocore's endpoint data) -- where the installer can be downloaded."""
    global _REGIONS
    if _REGIONS is None:
        _REGIONS = set(botocore.session.get_session().get_available_regions("drs"))
    return _REGIONS


Backend_ = SsmBackend
