"""Least-privilege IAM policies, built from the AWS operations the core sends.

The chain, each link explicit and checked by ``pulumi/tests/test_iam_policies.py``:

1. ``AUTOMATION_OPERATIONS`` / ``API_OPERATIONS``: the ``(service, Operation)`` pairs
   the collection's core (``plugins/module_utils``) sends -- all of them for the
   automation role that AWX and the playbooks assume, and those reachable from the
   REST handler's routes for the Lambda role (less ``API_NOT_SENT``, with reasons). A
   test scans the core's source and fails when these lists and the code disagree, in
   either direction.
2. ``ACTIONS``: the IAM action each operation is authorized by, plus the *dependent
   actions* the Service Authorization Reference (SAR) lists for it (DRS StartRecovery,
   for example, needs the EC2 calls DRS makes with the caller's permissions).
   ``SKIPPED_DEPENDENCIES`` names the SAR dependencies deliberately not granted, and
   why. A test compares both with the SAR (parliament's copy of it).
3. ``RESOURCES``: where each action may act. Wherever the SAR gives an action resource
   types, the policy names ARNs scoped to this account and the allowed regions (or to
   the one table, document or role); ``*`` only where the SAR allows nothing else, and
   then limited to the allowed regions with ``aws:RequestedRegion``.
4. Conditions where the resource alone is too broad: the EC2 actions DRS performs with
   the caller's permissions only through an AWS service (``aws:ViaAWSService``, as
   AWS's own DRS policies do for most of them), ``iam:PassRole`` only to EC2,
   ``drs:TagResource`` only while StartRecovery / StartFailbackLaunch create a job
   (``drs:CreateAction``).

Pure Python (no Pulumi import): the IAM component renders these documents once the
account, partition and table ARN are known.
"""

from __future__ import annotations

import json
from dataclasses import dataclass

# boto3 service name -> IAM service prefix.
PREFIX = {
    "drs": "drs",
    "ssm": "ssm",
    "ec2": "ec2",
    "sts": "sts",
    "dynamodb": "dynamodb",
    "service-quotas": "servicequotas",
    "logs": "logs",
}

# Operations no IAM policy can allow or deny (AWS answers them for any principal).
NO_PERMISSION_NEEDED = frozenset({("sts", "GetCallerIdentity")})

# What the Ansible modules send through the core (plugins/modules -> plugins/module_utils).
AUTOMATION_OPERATIONS = frozenset(
    {
        ("drs", "DescribeJobLogItems"),
        ("drs", "DescribeJobs"),
        ("drs", "DescribeRecoveryInstances"),
        ("drs", "DescribeRecoverySnapshots"),
        ("drs", "DescribeSourceServers"),
        ("drs", "ReverseReplication"),
        ("drs", "StartFailbackLaunch"),
        ("drs", "StartRecovery"),
        ("drs", "StopFailback"),
        ("drs", "StopReplication"),
        ("drs", "TerminateRecoveryInstances"),
        ("dynamodb", "GetItem"),
        ("dynamodb", "PutItem"),
        ("dynamodb", "UpdateItem"),
        ("ec2", "DescribeInstances"),
        ("service-quotas", "ListServiceQuotas"),
        ("ssm", "DescribeDocument"),
        ("ssm", "DescribeInstanceInformation"),
        ("ssm", "ListCommandInvocations"),
        ("ssm", "ListCommands"),
        ("ssm", "SendCommand"),
        ("sts", "GetCallerIdentity"),
    }
)

# What the REST handler's routes reach in the core (less API_NOT_SENT).
API_OPERATIONS = frozenset(
    {
        ("drs", "DescribeJobLogItems"),
        ("drs", "DescribeJobs"),
        ("drs", "DescribeRecoveryInstances"),
        ("drs", "DescribeRecoverySnapshots"),
        ("drs", "DescribeSourceServers"),
        ("drs", "ReverseReplication"),
        ("drs", "StartFailbackLaunch"),
        ("drs", "StartRecovery"),
        ("dynamodb", "GetItem"),
        ("dynamodb", "PutItem"),
        ("dynamodb", "UpdateItem"),
        ("ssm", "ListCommandInvocations"),
        ("ssm", "ListCommands"),
        ("ssm", "SendCommand"),
    }
)

# Operations the source scan reaches from the routes that no route can send, with the reason
# (the sync test requires both, and checks the reason's claim on the core's source). The scan
# counts the failback dispatcher (FailbackRun.act) whole; its stop handlers run only for the
# request state "stopped", which only the drs_failback module asks for.
_STOPS_ONLY = (
    "sent only for failback state 'stopped' (FailbackRun.next_calls -> _stop_calls); the routes call "
    "failback.launch_failback ('launched') and failback.reverse_replication ('reversed')"
)
API_NOT_SENT = {("drs", "StopFailback"): _STOPS_ONLY, ("drs", "StopReplication"): _STOPS_ONLY}

# Operations that create a DRS job and may carry ``tags`` (the job's tags). With tags, DRS
# also authorizes drs:TagResource on the new job (DRS user guide, "Grant permission to tag
# resources during creation"); the grant holds only during those calls (drs:CreateAction).
# The sync test finds in the core which operations are sent with tags.
TAGGED_CREATES = frozenset({("drs", "StartFailbackLaunch"), ("drs", "StartRecovery")})
TAG_ON_CREATE = "drs:TagResource"

# SAR "Dependent actions" granted together with an action.
DEPENDENCIES = {
    "drs:StartRecovery": (
        "drs:CreateRecoveryInstanceForDrs",
        "drs:ListTagsForResource",
        "ec2:AttachVolume",
        "ec2:AuthorizeSecurityGroupEgress",
        "ec2:AuthorizeSecurityGroupIngress",
        "ec2:CreateLaunchTemplate",
        "ec2:CreateLaunchTemplateVersion",
        "ec2:CreateSnapshot",
        "ec2:CreateTags",
        "ec2:CreateVolume",
        "ec2:DeleteLaunchTemplateVersions",
        "ec2:DeleteSnapshot",
        "ec2:DeleteVolume",
        "ec2:DescribeAccountAttributes",
        "ec2:DescribeAvailabilityZones",
        "ec2:DescribeImages",
        "ec2:DescribeInstanceAttribute",
        "ec2:DescribeInstanceStatus",
        "ec2:DescribeInstanceTypes",
        "ec2:DescribeInstances",
        "ec2:DescribeLaunchTemplateVersions",
        "ec2:DescribeLaunchTemplates",
        "ec2:DescribeSecurityGroups",
        "ec2:DescribeSnapshots",
        "ec2:DescribeSubnets",
        "ec2:DescribeVolumes",
        "ec2:DetachVolume",
        "ec2:ModifyInstanceAttribute",
        "ec2:ModifyLaunchTemplate",
        "ec2:RevokeSecurityGroupEgress",
        "ec2:RunInstances",
        "ec2:StartInstances",
        "ec2:StopInstances",
        "ec2:TerminateInstances",
        "iam:PassRole",
    ),
    "drs:ReverseReplication": (
        "drs:DescribeReplicationConfigurationTemplates",
        "drs:DescribeSourceServers",
        "ec2:DescribeInstances",
    ),
    "drs:DescribeRecoveryInstances": ("drs:DescribeSourceServers", "ec2:DescribeInstances"),
    "drs:TerminateRecoveryInstances": (
        "drs:DescribeSourceServers",
        "ec2:DeleteVolume",
        "ec2:DescribeInstances",
        "ec2:DescribeVolumes",
        "ec2:TerminateInstances",
    ),
}

# SAR dependencies not granted, with the reason (the sync test requires a reason).
_OTHER_SERVICES_QUOTAS = "needed only to list that service's own quotas; the core lists DRS quotas (ServiceCode drs)"
SKIPPED_DEPENDENCIES = {
    "servicequotas:ListServiceQuotas": dict.fromkeys(
        (
            "autoscaling:DescribeAccountLimits",
            "cloudformation:DescribeAccountLimits",
            "dynamodb:DescribeLimits",
            "elasticloadbalancing:DescribeAccountLimits",
            "iam:GetAccountSummary",
            "kinesis:DescribeLimits",
            "rds:DescribeAccountAttributes",
            "route53:GetAccountLimit",
        ),
        _OTHER_SERVICES_QUOTAS,
    ),
}

# Resource kinds (rendered by Scope.arns) per action.
ANY = "any"
EC2_ACCOUNT = "ec2-account"
DRS_JOB_ON_CREATE = "drs-job-on-create"
RESOURCES = {
    "drs:CreateRecoveryInstanceForDrs": ("drs-source-server",),
    "drs:DescribeJobLogItems": ("drs-job",),
    "drs:DescribeRecoverySnapshots": ("drs-source-server",),
    "drs:ReverseReplication": ("drs-recovery-instance",),
    "drs:StartFailbackLaunch": ("drs-recovery-instance",),
    "drs:StartRecovery": ("drs-source-server",),
    "drs:StopFailback": ("drs-recovery-instance",),
    "drs:StopReplication": ("drs-source-server",),
    "drs:TagResource": (DRS_JOB_ON_CREATE,),
    "drs:TerminateRecoveryInstances": ("drs-recovery-instance",),
    "dynamodb:GetItem": ("tracking-table",),
    "dynamodb:PutItem": ("tracking-table",),
    "dynamodb:Query": ("tracking-table", "tracking-table-index"),
    "dynamodb:UpdateItem": ("tracking-table",),
    "iam:PassRole": ("recovery-instance-role",),
    "logs:CreateLogStream": ("function-log-streams",),
    "logs:PutLogEvents": ("function-log-streams",),
    "ssm:DescribeDocument": ("install-document",),
    "ssm:SendCommand": ("install-document", "install-instances", "install-output-bucket"),
    **{
        f"ec2:{name}": (EC2_ACCOUNT,)
        for name in (
            "AttachVolume",
            "AuthorizeSecurityGroupEgress",
            "AuthorizeSecurityGroupIngress",
            "CreateLaunchTemplate",
            "CreateLaunchTemplateVersion",
            "CreateSnapshot",
            "CreateTags",
            "CreateVolume",
            "DeleteLaunchTemplateVersions",
            "DeleteSnapshot",
            "DeleteVolume",
            "DescribeInstanceAttribute",
            "DetachVolume",
            "ModifyInstanceAttribute",
            "ModifyLaunchTemplate",
            "RevokeSecurityGroupEgress",
            "RunInstances",
            "StartInstances",
            "StopInstances",
            "TerminateInstances",
        )
    },
}
# Every other action takes no resource type in the SAR: Resource "*", region-limited.
# The EC2_ACCOUNT actions (19 writes and DescribeInstanceAttribute) are all SAR dependencies
# the core never calls itself: DRS sends them with the caller's permissions (forward access
# sessions), so they are allowed only through an AWS service (aws:ViaAWSService). AWS's
# AWSElasticDisasterRecoveryConsoleFullAccess(_v2) puts that condition on the instance,
# volume, snapshot and security group writes, not on the launch template writes nor on
# DescribeInstanceAttribute: here the condition is stricter than AWS's.

# Services whose calls carry a region (aws:RequestedRegion applies); IAM is global.
GLOBAL_PREFIXES = frozenset({"iam"})

POLICY_SIZE_LIMIT = 6144  # managed policy document, characters excluding whitespace


@dataclass(frozen=True)
class Scope:
    """Where this stack's roles may act."""

    partition: str
    account: str
    regions: tuple[str, ...]
    table_arn: str
    install_documents: tuple[str, ...]
    recovery_instance_roles: tuple[str, ...]
    install_instance_tag: tuple[str, str] | None = None
    function_log_group_arn: str | None = None
    install_output_buckets: tuple[str, ...] = ()

    def _regional(self, service, resource, account=None):
        account = self.account if account is None else account
        return [f"arn:{self.partition}:{service}:{region}:{account}:{resource}" for region in self.regions]

    def _document(self, name):
        """ARNs of an SSM document in the allowed regions.

        AWS-owned documents carry no account in their ARN (SSM user guide: "the account
        ID shouldn't be specified in the ARN for Amazon owned public documents"); ``*``
        matches that empty field, and as the ``AWS`` name prefix is reserved for Amazon it
        matches no other account's document. Documents you own are named with your account.
        """
        return self._regional("ssm", f"document/{name}", account="*" if name.startswith("AWS") else None)

    def arns(self, kind: str) -> list[str]:
        if kind == "drs-source-server":
            return self._regional("drs", "source-server/*")
        if kind == "drs-recovery-instance":
            return self._regional("drs", "recovery-instance/*")
        if kind in ("drs-job", DRS_JOB_ON_CREATE):
            return self._regional("drs", "job/*")
        if kind == "tracking-table":
            return [self.table_arn]
        if kind == "tracking-table-index":
            return [f"{self.table_arn}/index/*"]
        if kind == "install-document":
            return [arn for name in self.install_documents for arn in self._document(name)]
        if kind == "install-instances":
            # The document is SendCommand's required resource: each statement names it, so
            # the statement reads (and lints) on its own; the tag condition applies to both.
            documents = [arn for name in self.install_documents for arn in self._document(name)]
            return [*self._regional("ec2", "instance/*"), *documents]
        if kind == "install-output-bucket":
            # SendCommand with OutputS3BucketName is also authorized on the bucket (SAR resource
            # type ``bucket``); the instances write there with their own instance profile. Named
            # with the document, like install-instances; no bucket configured, no statement.
            if not self.install_output_buckets:
                return []
            documents = [arn for name in self.install_documents for arn in self._document(name)]
            return [*(f"arn:{self.partition}:s3:::{bucket}" for bucket in self.install_output_buckets), *documents]
        if kind == "recovery-instance-role":
            return [f"arn:{self.partition}:iam::{self.account}:role/{name}" for name in self.recovery_instance_roles]
        if kind == "function-log-streams":
            if not self.function_log_group_arn:
                raise ValueError("function-log-streams needs the function's log group ARN")
            return [f"{self.function_log_group_arn}:log-stream:*"]
        if kind == EC2_ACCOUNT:
            # Resources of this account, plus images and snapshots: their ARNs carry no account
            # (SAR: arn:...:ec2:<region>::snapshot/<id>), so these match any owner's in the region.
            return [
                *self._regional("ec2", "*"),
                *self._regional("ec2", "image/*", account=""),
                *self._regional("ec2", "snapshot/*", account=""),
            ]
        raise ValueError(f"unknown resource kind {kind!r}")

    def condition(self, kind: str, prefix: str, actions=()) -> dict | None:
        """The statement's condition; ``actions`` are all the role's actions."""
        if kind == ANY and prefix not in GLOBAL_PREFIXES:
            return {"StringEquals": {"aws:RequestedRegion": list(self.regions)}}
        if kind == "install-instances" and self.install_instance_tag:
            key, value = self.install_instance_tag
            # SSM's own key for the instances a command targets (SAR: SendCommand condition keys).
            return {"StringEquals": {f"ssm:resourceTag/{key}": value}}
        if kind == "recovery-instance-role":
            return {"StringEquals": {"iam:PassedToService": "ec2.amazonaws.com"}}
        if kind == EC2_ACCOUNT:
            return {"Bool": {"aws:ViaAWSService": "true"}}
        if kind == DRS_JOB_ON_CREATE:
            creates = sorted(op for service, op in TAGGED_CREATES if operation_action(service, op) in actions)
            return {"StringEquals": {"drs:CreateAction": creates}}
        return None


def operation_action(service: str, operation: str) -> str:
    return f"{PREFIX[service]}:{operation}"


def actions_for(operations) -> list[str]:
    """IAM actions for ``operations``: each operation's action and its granted dependencies."""
    actions = set()
    for service, operation in operations:
        if (service, operation) in NO_PERMISSION_NEEDED:
            continue
        action = operation_action(service, operation)
        actions.add(action)
        actions.update(DEPENDENCIES.get(action, ()))
        if (service, operation) in TAGGED_CREATES:
            actions.add(TAG_ON_CREATE)
    return sorted(actions)


def _sid(kind: str, prefix: str) -> str:
    """``DrsRecoveryInstance``, ``Ec2Account``, ``SsmAnyResource`` ..."""
    words = ("any resource" if kind == ANY else kind).replace("-", " ").split()
    if words[0] != prefix:
        words.insert(0, prefix)
    return "".join(word.capitalize() for word in words)


def statements(actions, scope: Scope) -> list[dict]:
    """Statements granting ``actions``, one per (service, resource kind), in a stable order."""
    actions = list(actions)
    grouped: dict[tuple[str, str], set[str]] = {}
    for action in actions:
        prefix = action.split(":", 1)[0]
        kinds = RESOURCES.get(action, ANY)
        for kind in (kinds,) if kinds == ANY else kinds:
            grouped.setdefault((prefix, kind), set()).add(action)
    out = []
    for (prefix, kind), granted in sorted(grouped.items()):
        resources = ["*"] if kind == ANY else scope.arns(kind)
        if not resources:  # an optional resource type this stack does not use (no output bucket)
            continue
        statement = {
            "Sid": _sid(kind, prefix),
            "Effect": "Allow",
            "Action": sorted(granted),
            "Resource": resources,
        }
        condition = scope.condition(kind, prefix, actions)
        if condition:
            statement["Condition"] = condition
        out.append(statement)
    return out


def policy_documents(actions, scope: Scope) -> dict[str, dict]:
    """Managed policy documents, one per service (each well under IAM's size limit)."""
    by_prefix: dict[str, list[dict]] = {}
    for statement in statements(actions, scope):
        prefix = statement["Action"][0].split(":", 1)[0]
        by_prefix.setdefault(prefix, []).append(statement)
    return {prefix: {"Version": "2012-10-17", "Statement": stmts} for prefix, stmts in by_prefix.items()}


def services(actions) -> list[str]:
    """The IAM service prefixes of ``actions``: one managed policy each."""
    return sorted({action.split(":", 1)[0] for action in actions})


def automation_actions() -> list[str]:
    return actions_for(AUTOMATION_OPERATIONS)


def api_actions() -> list[str]:
    # The function writes its own logs to the log group the stack creates for it.
    return sorted({*actions_for(API_OPERATIONS), "logs:CreateLogStream", "logs:PutLogEvents"})


def compact_size(document: dict) -> int:
    """Size as IAM counts it against the limit (whitespace excluded)."""
    return len(json.dumps(document, separators=(",", ":")))


def trust_policy_for_service(service_principal: str, account: str) -> dict:
    """Trust for an AWS service, limited to calls on behalf of this account (confused deputy)."""
    return {
        "Version": "2012-10-17",
        "Statement": [
            {
                "Effect": "Allow",
                "Principal": {"Service": service_principal},
                "Action": "sts:AssumeRole",
                "Condition": {"StringEquals": {"aws:SourceAccount": account}},
            }
        ],
    }


def trust_policy_for_principals(principals, external_id: str | None = None) -> dict:
    statement = {
        "Effect": "Allow",
        "Principal": {"AWS": sorted(principals)},
        "Action": "sts:AssumeRole",
    }
    if external_id:
        statement["Condition"] = {"StringEquals": {"sts:ExternalId": external_id}}
    return {"Version": "2012-10-17", "Statement": [statement]}
