"""The configuration is declared, exemplified and documented the way the program reads it."""

from __future__ import annotations

from pathlib import Path

import yaml
from components import settings
from stack_harness import deploy

PULUMI_DIR = Path(__file__).resolve().parents[1]
DOCS = PULUMI_DIR.parent / "docs" / "pulumi.md"
TYPES = {str: "string", int: "integer", bool: "boolean", list: "array"}


def project():
    return yaml.safe_load((PULUMI_DIR / "Pulumi.yaml").read_text())


def example():
    return yaml.safe_load((PULUMI_DIR / "Pulumi.example.yaml").read_text())["config"]


def test_pulumi_yaml_declares_every_key_the_program_reads_with_its_type():
    declared = project()["config"]
    assert set(declared) == set(settings.KEYS)
    for key, kind in settings.KEYS.items():
        assert declared[key]["type"] == TYPES[kind], key
        assert declared[key]["description"], key


def test_declared_defaults_are_the_programs_defaults():
    parsed = settings.parse(
        {"automationPrincipalArns": ["arn:aws:iam::123456789012:role/awx"]},
        project="drs-orchestration",
        stack="dev",
        region="us-east-1",
    )
    fields = {
        "deletionProtection": parsed.deletion_protection,
        "installTtlDays": parsed.install_ttl_days,
        "stageName": parsed.stage_name,
        "logRetentionDays": parsed.log_retention_days,
        "lambdaRuntime": parsed.lambda_runtime,
        "lambdaMemoryMb": parsed.lambda_memory_mb,
        "lambdaTimeoutSeconds": parsed.lambda_timeout_seconds,
        "manageApiGatewayAccount": parsed.manage_api_gateway_account,
        "throttleRateLimit": parsed.throttle_rate_limit,
        "throttleBurstLimit": parsed.throttle_burst_limit,
    }
    declared = project()["config"]
    assert {key: declared[key].get("default") for key in fields} == fields


def test_example_stack_config_is_valid_and_deploys():
    values = example()
    ours = {k.split(":", 1)[1]: v for k, v in values.items() if k.startswith("drs-orchestration:")}
    assert set(ours) <= set(settings.KEYS)
    parsed = settings.parse(ours, project="drs-orchestration", stack="prod", region=values["aws:region"])
    assert parsed.table_name == "drs-orchestration-agent-installations-prod"
    assert parsed.install_instance_tag == ("dr:enabled", "true")
    stack = deploy(ours, stack="example")
    assert stack.outputs["tableName"] == "drs-orchestration-agent-installations-prod"


def test_docs_describe_every_key_and_output(stack):
    text = DOCS.read_text()
    for key in settings.KEYS:
        assert f"`{key}`" in text, key
    for output in stack.outputs:
        assert f"`{output}`" in text, output


def test_pulumi_requirements_floors_are_the_tested_versions():
    """``pulumi up`` installs pulumi/requirements.txt: never older than what these tests ran with."""
    import re

    pinned = {}
    for line in (PULUMI_DIR.parent / "requirements" / "constraints.txt").read_text().splitlines():
        name, sep, version = line.partition("==")
        if sep:
            pinned[re.sub(r"[-_.]+", "-", name.strip().lower())] = version.strip()
    floors = {}
    for line in (PULUMI_DIR / "requirements.txt").read_text().splitlines():
        match = re.match(r"^([A-Za-z0-9_.-]+)>=([^,\s]+)", line)
        if match:
            floors[re.sub(r"[-_.]+", "-", match[1].lower())] = match[2]
    assert {name: floors[name] for name in ("pulumi", "pulumi-aws")} == {
        name: pinned[name] for name in ("pulumi", "pulumi-aws")
    }
