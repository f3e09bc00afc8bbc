"""The roles' policies: least privilege, real actions, and in step with the core's AWS calls.

The Service Authorization Reference (SAR) is read from parliament's copy of it
(``iam_definition.json``): which actions exist, which resource types each accepts,
and which dependent actions each needs.
"""

from __future__ import annotations

import ast
import json
import warnings
from functools import cache
from pathlib import Path

import pytest
from components import permissions
from core_calls import CodeBase, scan_file
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
        import parliament.statement
    # parliament 1.6.4's table of global condition keys lacks aws:ViaAWSService, a global key
    # of IAM ("AWS global condition context keys", IAM User Guide: Boolean), so it reports the
    # key as unknown for every action. Teach it the key (with its type, which parliament then
    # checks) instead of ignoring its findings.
    parliament.statement.GLOBAL_CONDITION_KEYS.setdefault("aws:ViaAWSService", "Bool")
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


def _findings(document):
    parliament = _parliament()
    policy = parliament.analyze_policy_string(json.dumps(document), include_community_auditors=True)
    return [(f.issue, f.detail, f.location) for f in policy.findings]


# Findings of parliament's community auditors that the roles cannot avoid, each matched
# exactly (issue and location). StartRecovery needs iam:PassRole (SAR dependent action: the
# recovery instance and conversion server profiles) and DRS launches instances with the
# caller's ec2:RunInstances; together they are the "pass a role to a new EC2 instance"
# escalation path. Here the role can pass only DRS's own instance roles, only to EC2, and
# launch instances only through an AWS service (aws:ViaAWSService): it cannot start an
# instance of its own with them. Checked next to this list by the tests below.
ACCEPTED_FINDINGS = [
    ("PERMISSIONS_MANAGEMENT_ACTIONS", "", {"actions": ["iam:passrole"], "filepath": None}),
    (
        "PRIVILEGE_ESCALATION",
        "",
        {"type": "CreateEC2WithExistingIP", "actions": ["iam:passrole", "ec2:runinstances"], "filepath": None},
    ),
]


def test_parliament_finds_nothing_in_any_policy(stack, tagged_stack, bucket_stack):
    for deployment in (stack, tagged_stack, bucket_stack):
        for name, document in policies(deployment).items():
            expected = [ACCEPTED_FINDINGS[0]] if name.endswith("-iam") else []
            assert _findings(document) == expected, name


def test_parliament_finds_nothing_in_each_roles_combined_policy_but_the_accepted_pass_role(
    stack, tagged_stack, bucket_stack
):
    """All of a role's statements in one document: the community auditors judge the combination."""
    for deployment in (stack, tagged_stack, bucket_stack):
        for role in ("automation", "api"):
            combined = {"Version": "2012-10-17", "Statement": statements(deployment, role)}
            assert _findings(combined) == ACCEPTED_FINDINGS, role
            # What makes the accepted findings acceptable, checked rather than assumed:
            pass_role = [s for s in combined["Statement"] if "iam:PassRole" in s["Action"]]
            assert [s["Condition"] for s in pass_role] == [
                {"StringEquals": {"iam:PassedToService": "ec2.amazonaws.com"}}
            ]
            assert all(
                arn.split(":role/", 1)[1].startswith("service-role/AWSElasticDisasterRecovery")
                for arn in pass_role[0]["Resource"]
            )
            run = [s for s in combined["Statement"] if "ec2:RunInstances" in s["Action"]]
            assert [s["Condition"] for s in run] == [{"Bool": {"aws:ViaAWSService": "true"}}]


def test_the_linter_knows_the_condition_keys_the_policies_use():
    """parliament flags an unknown key, so the aws:ViaAWSService it was taught stays typed and checked."""
    bad = {
        "Version": "2012-10-17",
        "Statement": [
            {
                "Effect": "Allow",
                "Action": "ec2:TerminateInstances",
                "Resource": f"arn:aws:ec2:us-east-1:{ACCOUNT}:instance/*",
                "Condition": {"Bool": {"aws:ViaAWSServic": "true"}},
            }
        ],
    }
    assert [f[0] for f in _findings(bad)] == ["UNKNOWN_CONDITION_FOR_ACTION"]
    bad["Statement"][0]["Condition"] = {"StringEquals": {"aws:ViaAWSService": "yes"}}
    assert "MISMATCHED_TYPE" in [f[0] for f in _findings(bad)]


@pytest.fixture(scope="module")
def bucket_stack():
    """Two install documents, and SSM command output written to an S3 bucket."""
    return deploy(
        {
            **BASE_CONFIG,
            "installDocumentNames": ["AWSDisasterRecovery-InstallDRAgentOnInstance", "Custom-InstallDRAgent"],
            "installOutputBuckets": ["drs-install-logs"],
        },
        stack="buckets",
    )


def test_send_command_may_name_the_configured_output_buckets_only_for_the_automation_role(stack, bucket_stack):
    """drs_agent_install's output_s3_bucket: SendCommand is also authorized on the bucket (SAR)."""
    documents = {f"arn:aws:ssm:{r}:*:document/AWSDisasterRecovery-InstallDRAgentOnInstance" for r in REGIONS} | {
        f"arn:aws:ssm:{r}:{ACCOUNT}:document/Custom-InstallDRAgent" for r in REGIONS
    }
    (statement,) = [
        s for s in statements(bucket_stack, "automation") if "arn:aws:s3:::drs-install-logs" in s["Resource"]
    ]
    assert statement["Action"] == ["ssm:SendCommand"]
    assert set(statement["Resource"]) == {"arn:aws:s3:::drs-install-logs"} | documents
    assert "Condition" not in statement
    for deployment, role in ((bucket_stack, "api"), (stack, "automation"), (stack, "api")):
        assert not [a for s in statements(deployment, role) for a in s["Resource"] if a.startswith("arn:aws:s3:")]


def test_lambda_role_runs_only_the_first_install_document(bucket_stack):
    """The API sends INSTALL_DOCUMENT_NAME, the first of installDocumentNames; the modules may run any."""
    first = {f"arn:aws:ssm:{r}:*:document/AWSDisasterRecovery-InstallDRAgentOnInstance" for r in REGIONS}
    custom = {f"arn:aws:ssm:{r}:{ACCOUNT}:document/Custom-InstallDRAgent" for r in REGIONS}

    def documents(role):
        return {
            a
            for s in statements(bucket_stack, role)
            if s["Action"][0].startswith("ssm:")
            for a in s["Resource"]
            if ":document/" in a
        }

    assert documents("api") == first
    assert documents("automation") == first | custom


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


def test_pass_role_is_limited_to_the_roles_a_recovery_passes_and_to_ec2(stack):
    """The roles AWSElasticDisasterRecoveryConsoleFullAccess may pass, and the launch-actions variant."""
    for role in ("automation", "api"):
        (statement,) = [s for s in statements(stack, role) if "iam:PassRole" in s["Action"]]
        assert statement["Action"] == ["iam:PassRole"]
        assert statement["Resource"] == [
            f"arn:aws:iam::{ACCOUNT}:role/service-role/AWSElasticDisasterRecoveryConversionServerRole",
            f"arn:aws:iam::{ACCOUNT}:role/service-role/AWSElasticDisasterRecoveryRecoveryInstanceRole",
            f"arn:aws:iam::{ACCOUNT}:role/service-role/AWSElasticDisasterRecoveryRecoveryInstanceWithLaunchActionsRole",
        ]
        assert statement["Condition"] == {"StringEquals": {"iam:PassedToService": "ec2.amazonaws.com"}}


def test_ec2_actions_drs_performs_are_allowed_only_through_an_aws_service(stack):
    """DRS's EC2 dependencies: none is sent by the core itself, so none is allowed directly."""
    core_ec2 = {permissions.operation_action(s, o) for s, o in permissions.AUTOMATION_OPERATIONS if s == "ec2"}
    for role in ("automation", "api"):
        ec2 = [s for s in statements(stack, role) if s["Action"][0].startswith("ec2:")]
        scoped = [s for s in ec2 if s["Resource"] != ["*"]]
        (statement,) = scoped
        assert statement["Condition"] == {"Bool": {"aws:ViaAWSService": "true"}}
        assert not core_ec2 & set(statement["Action"])
        assert {"ec2:RunInstances", "ec2:TerminateInstances", "ec2:DeleteVolume"} <= set(statement["Action"])
        # Unscoped EC2 actions are reads only (Describe*), region-limited.
        assert all(a.startswith("ec2:Describe") for s in ec2 if s["Resource"] == ["*"] for a in s["Action"])


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
    modules = _modules()
    assert modules, "no Ansible modules found to derive the automation role from"
    sent = codebase().operations_from(modules, _module_name)
    declared = set(permissions.AUTOMATION_OPERATIONS)
    assert declared == sent, _sync_report(declared, sent, "automation role")


def _handlers():
    return sorted(HANDLER_DIR.glob("*.py"))


def _handler_module(path):
    return f"api.{Path(path).stem}"


def _modules():
    return sorted(p for p in MODULES_DIR.glob("*.py") if p.stem != "__init__")


def test_lambda_role_allows_exactly_what_the_routes_send():
    sent = codebase().operations_from(_handlers(), _handler_module)
    not_sent = set(permissions.API_NOT_SENT)
    assert all(permissions.API_NOT_SENT.values()), "every exclusion needs its reason"
    assert not_sent <= sent, f"API_NOT_SENT names operations the scan no longer reaches: {sorted(not_sent - sent)}"
    declared = set(permissions.API_OPERATIONS)
    assert declared == sent - not_sent, _sync_report(declared, sent - not_sent, "Lambda role")


def _failback_tree():
    return ast.parse((CORE_DIR / "failback.py").read_text())


def _calls_to(tree, name):
    for node in ast.walk(tree):
        if isinstance(node, ast.Call):
            func = node.func
            called = func.attr if isinstance(func, ast.Attribute) else getattr(func, "id", None)
            if called == name:
                yield node


def test_the_stop_calls_the_lambda_role_lacks_are_sent_only_for_a_state_no_route_asks_for():
    """API_NOT_SENT's claim, on the core's source: StopFailback / StopReplication need state "stopped"."""
    tree = _failback_tree()
    functions = {
        f"{cls.name}.{fn.name}" if cls else fn.name: fn
        for cls in [None, *[n for n in tree.body if isinstance(n, ast.ClassDef)]]
        for fn in (tree.body if cls is None else cls.body)
        if isinstance(fn, ast.FunctionDef)
    }

    def owner(node):
        return next(name for name, fn in functions.items() if node in set(ast.walk(fn)))

    # 1. Only _stop_calls plans a stop call ...
    stops = [c for c in _calls_to(tree, "_call") if c.args[0].value in ("StopFailback", "StopReplication")]
    assert stops
    assert {owner(c) for c in stops} == {"FailbackRun._stop_calls"}
    # 2. ... and next_calls returns it only under `if self.request.state == "stopped"`.
    (use,) = list(_calls_to(tree, "_stop_calls"))
    guard = next(
        n for n in ast.walk(functions["FailbackRun.next_calls"]) if isinstance(n, ast.If) and use in set(ast.walk(n))
    )
    assert ast.unparse(guard.test) == "self.request.state == 'stopped'"
    # 3. The routes reach the failback core through _one only, with other states.
    entries = [f for p in _handlers() for f in scan_file(p, _handler_module(p), codebase().ops, False).values()]
    reached = codebase().reachable(entries)
    reached_failback = {name for module, name in reached if module == "failback"}
    assert "ensure_failback" not in reached_failback
    assert "stop_failback" not in reached_failback
    requests = [owner(c) for c in _calls_to(tree, "from_options") if owner(c) in reached_failback]
    assert requests == ["_one"]
    states = [c.args[3].value for c in _calls_to(tree, "_one") if owner(c) in reached_failback]
    assert states
    assert "stopped" not in states


def test_tag_resource_is_granted_for_exactly_the_creates_the_code_sends_with_tags(stack):
    """DRS authorizes drs:TagResource on the job when StartRecovery / StartFailbackLaunch carry tags."""
    for role, entries, module_of in (("automation", _modules(), _module_name), ("api", _handlers(), _handler_module)):
        tagged = codebase().tagged_operations_from(entries, module_of)
        assert tagged <= permissions.TAGGED_CREATES, f"{role}: declare {sorted(tagged - permissions.TAGGED_CREATES)}"
        tagging = [s for s in statements(stack, role) if "drs:TagResource" in s["Action"]]
        if not tagged:
            assert tagging == [], role
            continue
        (statement,) = tagging
        assert statement["Action"] == ["drs:TagResource"]
        assert statement["Resource"] == [f"arn:aws:drs:{r}:{ACCOUNT}:job/*" for r in REGIONS]
        assert statement["Condition"] == {"StringEquals": {"drs:CreateAction": sorted(op for _, op in tagged)}}
    assert codebase().tagged_operations_from(_modules(), _module_name) == permissions.TAGGED_CREATES


def test_tag_detection_notices_a_create_sent_with_tags(tmp_path):
    core = tmp_path / "module_utils"
    core.mkdir()
    (core / "plans.py").write_text(
        "def launch(clients, region, ids, tags=None):\n"
        "    params = {'sourceServers': [{'sourceServerID': i} for i in ids]}\n"
        "    if tags:\n"
        "        params['tags'] = tags\n"
        "    return clients.writer('drs', region).start_recovery(**params)\n\n"
        "def read(clients, region):\n"
        "    servers = clients.reader('drs', region).describe_source_servers()['items']\n"
        "    return [{'tags': s.get('tags')} for s in servers]\n"
    )
    module = tmp_path / "drs_go.py"
    module.write_text(
        "from ansible_collections.drs.orchestration.plugins.module_utils.plans import launch, read\n\n"
        "def main():\n    read(None, 'r')\n    launch(None, 'r', ['s-1'], {'a': 'b'})\n"
    )
    assert CodeBase(core).tagged_operations_from([module], _module_name) == {("drs", "StartRecovery")}


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


def test_sync_check_follows_a_bound_method_passed_as_an_argument(tmp_path):
    """``self._guarded(self.table.put, ...)``: the method handed over runs, so its operations count."""
    core = tmp_path / "module_utils"
    core.mkdir()
    (core / "store.py").write_text(
        "class Table:\n"
        "    def __init__(self, client):\n        self.client = client\n\n"
        "    def put(self, item):\n        self.client.put_item(TableName='t', Item=item)\n"
    )
    (core / "install.py").write_text(
        "from .store import Table\n\n"
        "class Run:\n"
        "    def __init__(self, clients):\n        self.table = Table(clients.writer('dynamodb'))\n\n"
        "    def go(self, item):\n        self._guarded(self.table.put, item)\n\n"
        "    def _guarded(self, call, *args):\n        call(*args)\n\n"
        "def install(clients, item):\n    Run(clients).go(item)\n"
    )
    module = tmp_path / "drs_install.py"
    module.write_text(
        "from ansible_collections.drs.orchestration.plugins.module_utils.install import install\n\n"
        "def main():\n    install(None, {})\n"
    )
    assert CodeBase(core).operations_from([module], _module_name) == {("dynamodb", "PutItem")}
