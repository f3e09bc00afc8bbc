"""The roles' policies: least privilege, real actions, and in step with the core's AWS calls.

The Service Authorization Reference (SAR) is read from parliament's copy of it
(``iam_definition.json``): which actions exist, which resource types each accepts,
and which dependent actions each needs.
"""

from __future__ import annotations

import json
import warnings
from functools import cache
from pathlib import Path

import pytest
from components import permissions
from core_calls import CodeBase
from stack_harness import ACCOUNT, BASE_CONFIG, deploy

REPO = Path(__file__).resolve().parents[2]
CORE_DIR = REPO / "plugins" / "module_utils"
MODULES_DIR = REPO / "plugins" / "modules"
HANDLER_DIR = REPO / "pulumi" / "api"
REGIONS = ("us-east-1", "us-west-2")


def _parliament():
    with warnings.catch_warnings():  # parliament imports pkg_resources (setuptools<81 keeps it)
        warnings.simplefilter("ignore", UserWarning)
        import parliament
    return parliament


@cache
def sar():
    """``{"prefix:Action": privilege}`` from the SAR, plus ``{prefix: service}``."""
    path = Path(_parliament().__file__).parent / "iam_definition.json"
    services = json.loads(path.read_text())
    actions = {}
    for service in services:
        for privilege in service["privileges"]:
            actions[f"{service['prefix']}:{privilege['privilege']}"] = privilege
    return actions


def resource_types(action):
    return [r["resource_type"].rstrip("*") for r in sar()[action]["resource_types"] if r["resource_type"]]


def dependent_actions(action):
    return {d for r in sar()[action]["resource_types"] for d in r["dependent_actions"]}


@pytest.fixture(scope="module")
def tagged_stack():
    """A stack that limits SendCommand to tagged instances."""
    return deploy(
        {**BASE_CONFIG, "installInstanceTagKey": "dr:enabled", "installInstanceTagValue": "true"}, stack="tagged"
    )


def policies(stack, role=None):
    """``{resource name: policy document}`` of the managed policies the program creates."""
    found = {}
    for resource in stack.of_type("aws:iam/policy:Policy"):
        if role is None or resource.name.startswith(f"roles-{role}-"):
            found[resource.name] = json.loads(resource.inputs["policy"])
    assert found, f"no policies for role {role}"
    return found


def statements(stack, role=None):
    return [s for document in policies(stack, role).values() for s in document["Statement"]]


def granted(stack, role):
    return {a for s in statements(stack, role) for a in s["Action"]}


# --- least privilege --------------------------------------------------------------------


def test_no_policy_grants_a_wildcard_action_or_uses_deny_tricks(stack, tagged_stack):
    for deployment in (stack, tagged_stack):
        for statement in statements(deployment):
            assert statement["Effect"] == "Allow"
            assert "NotAction" not in statement
            assert "NotResource" not in statement
            for action in statement["Action"]:
                assert "*" not in action, action
                assert "?" not in action, action


def test_every_action_is_a_real_iam_action(stack):
    unknown = sorted(a for a in granted(stack, None) if a not in sar())
    assert unknown == [], f"not in the Service Authorization Reference: {unknown}"


def test_resources_are_scoped_wherever_the_authorization_reference_allows(stack):
    for statement in statements(stack):
        if statement["Resource"] == ["*"]:
            scopable = {a: resource_types(a) for a in statement["Action"] if resource_types(a)}
            assert scopable == {}, f"{statement['Sid']}: these actions accept resource ARNs: {scopable}"
            if not statement["Action"][0].startswith("iam:"):
                assert statement["Condition"] == {"StringEquals": {"aws:RequestedRegion": list(REGIONS)}}
        else:
            for arn in statement["Resource"]:
                parts = arn.split(":", 5)
                assert parts[3] in ("", *REGIONS), arn
                aws_owned_document = parts[2] == "ssm" and parts[5].startswith("document/AWS")
                assert parts[4] in ("", ACCOUNT) or (aws_owned_document and parts[4] == "*"), arn


def test_parliament_finds_nothing_in_any_policy(stack, tagged_stack):
    parliament = _parliament()
    for deployment in (stack, tagged_stack):
        for name, document in policies(deployment).items():
            findings = parliament.analyze_policy_string(json.dumps(document)).findings
            assert [(f.issue, f.detail) for f in findings] == [], name


def test_send_command_runs_only_the_install_document_on_this_accounts_instances(stack, tagged_stack):
    document_arns = {f"arn:aws:ssm:{r}:*:document/AWSDisasterRecovery-InstallDRAgentOnInstance" for r in REGIONS}
    instance_arns = {f"arn:aws:ec2:{r}:{ACCOUNT}:instance/*" for r in REGIONS}
    for role in ("automation", "api"):
        send = [s for s in statements(stack, role) if "ssm:SendCommand" in s["Action"]]
        assert set().union(*(set(s["Resource"]) for s in send)) == document_arns | instance_arns
        assert all("Condition" not in s for s in send)
        tagged = [s for s in statements(tagged_stack, role) if "ssm:SendCommand" in s["Action"]]
        on_instances = [s for s in tagged if instance_arns & set(s["Resource"])]
        assert on_instances
        for statement in on_instances:
            assert statement["Condition"] == {"StringEquals": {"ssm:resourceTag/dr:enabled": "true"}}


def test_pass_role_is_limited_to_the_recovery_instance_roles_and_ec2(stack):
    (statement,) = [s for s in statements(stack, "automation") if "iam:PassRole" in s["Action"]]
    assert statement["Action"] == ["iam:PassRole"]
    assert statement["Resource"] == [
        f"arn:aws:iam::{ACCOUNT}:role/service-role/AWSElasticDisasterRecoveryRecoveryInstanceRole",
        f"arn:aws:iam::{ACCOUNT}:role/service-role/AWSElasticDisasterRecoveryRecoveryInstanceWithLaunchActionsRole",
    ]
    assert statement["Condition"] == {"StringEquals": {"iam:PassedToService": "ec2.amazonaws.com"}}


def test_tracking_table_access_is_limited_to_the_stacks_table(stack):
    table_arn = stack.one("aws:dynamodb/table:Table").outputs["arn"]
    for role in ("automation", "api"):
        dynamodb = [s for s in statements(stack, role) if s["Action"][0].startswith("dynamodb:")]
        assert [s["Resource"] for s in dynamodb] == [[table_arn]]


def test_lambda_writes_only_to_its_own_log_group(stack):
    (statement,) = [s for s in statements(stack, "api") if s["Action"][0].startswith("logs:")]
    assert statement["Action"] == ["logs:CreateLogStream", "logs:PutLogEvents"]
    assert statement["Resource"] == [
        f"arn:aws:logs:us-east-1:{ACCOUNT}:log-group:/aws/lambda/drs-orchestration-api-test:log-stream:*"
    ]


def test_each_policy_fits_the_managed_policy_size_limit(stack, tagged_stack):
    for deployment in (stack, tagged_stack):
        for name, document in policies(deployment).items():
            assert permissions.compact_size(document) < permissions.POLICY_SIZE_LIMIT, name


def test_each_policy_is_attached_to_its_role(stack):
    attachments = stack.of_type("aws:iam/rolePolicyAttachment:RolePolicyAttachment")
    attached = {(a.inputs["role"], a.inputs["policyArn"]) for a in attachments}
    for resource in stack.of_type("aws:iam/policy:Policy"):
        role = "drs-orchestration-api-test" if resource.name.startswith("roles-api-") else None
        role = role or "drs-orchestration-automation-test"
        assert (role, resource.outputs["arn"]) in attached, resource.name


# --- dependent actions (SAR) ------------------------------------------------------------


def test_every_dependent_action_the_sar_lists_is_granted_or_skipped_with_a_reason():
    for operations in (permissions.AUTOMATION_OPERATIONS, permissions.API_OPERATIONS):
        actions = set(permissions.actions_for(operations))
        for service, operation in operations:
            if (service, operation) in permissions.NO_PERMISSION_NEEDED:
                continue
            action = permissions.operation_action(service, operation)
            skipped = permissions.SKIPPED_DEPENDENCIES.get(action, {})
            assert all(reason for reason in skipped.values())
            missing = dependent_actions(action) - actions - set(skipped)
            assert missing == set(), f"{action} needs {sorted(missing)} (SAR dependent actions)"
    for action, dependencies in permissions.DEPENDENCIES.items():
        assert set(dependencies) == dependent_actions(action), action


# --- in step with the core ---------------------------------------------------------------


@cache
def codebase():
    return CodeBase(CORE_DIR)


def _sync_report(declared, sent, role):
    missing, extra = sorted(sent - declared), sorted(declared - sent)
    return (
        f"{role}: the code sends {missing} which the policy lacks; the policy allows {extra} which the code never "
        "sends. Update permissions.py (and RESOURCES / DEPENDENCIES for new actions)."
    )


def _module_name(path):
    return Path(path).stem


def test_automation_role_allows_exactly_what_the_modules_send():
    modules = sorted(p for p in MODULES_DIR.glob("*.py") if p.stem != "__init__")
    assert modules, "no Ansible modules found to derive the automation role from"
    sent = codebase().operations_from(modules, _module_name)
    declared = set(permissions.AUTOMATION_OPERATIONS)
    assert declared == sent, _sync_report(declared, sent, "automation role")


def test_lambda_role_allows_exactly_what_the_routes_send():
    handlers = sorted(HANDLER_DIR.glob("*.py"))
    sent = codebase().operations_from(handlers, lambda p: f"api.{Path(p).stem}")
    declared = set(permissions.API_OPERATIONS)
    assert declared == sent, _sync_report(declared, sent, "Lambda role")


def test_sync_check_notices_a_new_operation_in_the_core(tmp_path):
    """A call added to a core file, reached from a module, is reported as missing from the policy."""
    core = tmp_path / "module_utils"
    core.mkdir()
    (core / "aws.py").write_text("def paginate(client, operation, key, **kw):\n    return []\n")
    (core / "failback.py").write_text(
        "from .aws import paginate\n\n"
        "class Run:\n"
        "    def go(self, clients, region, ids):\n"
        "        handler = {'disconnect': self._disconnect}['disconnect']\n"
        "        handler(clients.writer('drs', region), ids)\n"
        "        return list(paginate(clients.reader('drs', region), 'describe_source_servers', 'items'))\n\n"
        "    def _disconnect(self, drs, ids):\n"
        "        drs.disconnect_source_server(sourceServerID=ids[0])\n\n"
        "def stop(clients, region, ids):\n"
        "    return Run().go(clients, region, ids)\n"
    )
    module = tmp_path / "drs_stop.py"
    module.write_text(
        "from ansible_collections.drs.orchestration.plugins.module_utils.failback import stop\n\n"
        "def main():\n    stop(None, 'us-east-1', ['s-1'])\n"
    )
    sent = CodeBase(core).operations_from([module], _module_name)
    assert sent == {("drs", "DisconnectSourceServer"), ("drs", "DescribeSourceServers")}
    report = _sync_report(set(permissions.AUTOMATION_OPERATIONS), sent, "automation role")
    assert "sends [('drs', 'DisconnectSourceServer')] which the policy lacks" in report
