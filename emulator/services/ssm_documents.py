"""SSM documents the emulator knows: the AWS-owned ones the project uses, plus custom ones.

A document here is what Run Command needs to behave like the real one: its declared
parameters (to validate SendCommand), its steps (the ``CommandPlugins`` of every
invocation, with platform preconditions), its execution timeout and whether a
successful run installs the AWS Replication Agent (DRS registration follows).

Sources:

* ``AWSDisasterRecovery-InstallDRAgentOnInstance``: the AWS-owned document (schema 2.2)
  as published in a public copy (johnjcousens/aws-elasticdrs-orchestrator,
  ``ssm-documents/AWSDisasterRecovery-InstallDRAgentOnInstance.yaml``): parameters
  ``Region`` (String, required, allowedValues = the DRS Regions) and ``Tags`` (String,
  default "", allowedPattern ``KEY=VALUE[,KEY=VALUE]...``); steps ``InstallWindowsAgent``
  (aws:runPowerShellScript, platformType Windows) and ``InstallLinuxAgent``
  (aws:runShellScript, platformType Linux), each with ``timeoutSeconds: 3600``. The
  Region / Tags descriptions below are that document's text.
* ``AWS-RunShellScript``: schema 1.2, parameters ``commands`` (StringList, required),
  ``workingDirectory`` and ``executionTimeout`` (default 3600); Linux and macOS
  (AWS CLI reference examples for describe-document / the SSM user guide
  "Understanding command timeout values").
"""

from __future__ import annotations

import hashlib
import json
import re
from dataclasses import dataclass, field
from datetime import datetime

DRS_INSTALL_DOCUMENT = "AWSDisasterRecovery-InstallDRAgentOnInstance"

# allowedValues of the Region parameter in the published document.
DRS_DOCUMENT_REGIONS = (
    "us-east-1",
    "us-east-2",
    "us-west-1",
    "us-west-2",
    "ap-southeast-1",
    "ap-southeast-2",
    "ap-southeast-3",
    "ap-northeast-1",
    "ap-northeast-2",
    "ap-northeast-3",
    "eu-central-1",
    "eu-west-1",
    "eu-west-2",
    "eu-west-3",
    "ca-central-1",
    "ap-south-1",
    "sa-east-1",
    "eu-north-1",
    "me-south-1",
    "af-south-1",
    "ap-east-1",
    "eu-south-1",
    "eu-central-2",
    "eu-south-2",
    "ap-south-2",
    "ap-southeast-4",
    "me-central-1",
    "il-central-1",
)

_TAG = r"[a-zA-Z_0-9.:+/@\-]{1,50}=[a-zA-Z_0-9.:+/@ \-]{1,50}"
DRS_TAGS_PATTERN = rf"^(({_TAG})(,{_TAG}){{0,20}})?$"

PLATFORMS = ("Windows", "Linux", "MacOS")
_STEP_ACTION = {"Windows": "aws:runPowerShellScript", "Linux": "aws:runShellScript", "MacOS": "aws:runShellScript"}


@dataclass
class Step:
    """One plugin of a document; ``platform`` is its platformType precondition (None = every platform)."""

    name: str
    action: str
    platform: str | None = None


@dataclass
class Document:
    name: str
    owner: str
    description: str
    parameters: list[dict]  # DocumentParameter shape + optional AllowedValues / AllowedPattern
    platform_types: list[str]
    steps: list[Step]
    schema_version: str = "2.2"
    execution_timeout: int = 3600
    installs_drs_agent: bool = False
    document_format: str = "YAML"
    created: datetime | None = None
    extra: dict = field(default_factory=dict)

    @property
    def hash(self) -> str:
        content = {"name": self.name, "parameters": self.parameters, "steps": [s.__dict__ for s in self.steps]}
        return hashlib.sha256(json.dumps(content, sort_keys=True).encode()).hexdigest()

    def parameter(self, name: str) -> dict | None:
        return next((p for p in self.parameters if p["Name"] == name), None)

    def describe(self) -> dict:
        """The DescribeDocument ``Document`` member."""
        params = []
        for p in self.parameters:
            item = {"Name": p["Name"], "Type": p["Type"], "Description": p.get("Description", "")}
            if "DefaultValue" in p:
                item["DefaultValue"] = p["DefaultValue"]
            params.append(item)
        return {
            "Hash": self.hash,
            "HashType": "Sha256",
            "Name": self.name,
            "Owner": self.owner,
            "CreatedDate": self.created,
            "Status": "Active",
            "DocumentVersion": "1",
            "Description": self.description,
            "Parameters": params,
            "PlatformTypes": list(self.platform_types),
            "DocumentType": "Command",
            "SchemaVersion": self.schema_version,
            "LatestVersion": "1",
            "DefaultVersion": "1",
            "DocumentFormat": self.document_format,
            "Tags": [],
        }


def builtin_documents(created: datetime) -> list[Document]:
    """The AWS-owned documents every account and Region has."""
    return [
        Document(
            name=DRS_INSTALL_DOCUMENT,
            owner="Amazon",
            description=(
                "This action will install the AWS Elastic Disaster Recovery (DRS) Replication Agent "
                "on an EC2 instance.\n"
            ),
            parameters=[
                {
                    "Name": "Region",
                    "Type": "String",
                    "Description": "(Required) AWS Region into which you are replicating.",
                    "AllowedValues": list(DRS_DOCUMENT_REGIONS),
                },
                {
                    "Name": "Tags",
                    "Type": "String",
                    "Description": (
                        "(Optional) Use this parameter to add resource tags to the Source server. Use a comma to "
                        "separate each tag (for example --tags KEY=VALUE,[KEY=VALUE]...)"
                    ),
                    "DefaultValue": "",
                    "AllowedPattern": DRS_TAGS_PATTERN,
                },
            ],
            platform_types=["Windows", "Linux"],
            steps=drs_install_steps(),
            installs_drs_agent=True,
            created=created,
        ),
        Document(
            name="AWS-RunShellScript",
            owner="Amazon",
            description="Run a shell script or specify the commands to run.",
            parameters=[
                {
                    "Name": "commands",
                    "Type": "StringList",
                    "Description": "(Required) Specify a shell script or a command to run.",
                },
                {
                    "Name": "workingDirectory",
                    "Type": "String",
                    "Description": "(Optional) The path to the working directory on your instance.",
                    "DefaultValue": "",
                },
                {
                    "Name": "executionTimeout",
                    "Type": "String",
                    "Description": (
                        "(Optional) The time in seconds for a command to complete before it is considered to have "
                        "failed. Default is 3600 (1 hour). Maximum is 172800 (48 hours)."
                    ),
                    "DefaultValue": "3600",
                    "AllowedPattern": (
                        "([1-9][0-9]{0,4})|(1[0-6][0-9]{4})|(17[0-1][0-9]{3})|(172[0-7][0-9]{2})|(172800)"
                    ),
                },
            ],
            platform_types=["Linux", "MacOS"],
            steps=[Step("aws:runShellScript", "aws:runShellScript")],
            schema_version="1.2",
            document_format="JSON",
            created=created,
        ),
    ]


def drs_install_steps() -> list[Step]:
    return [
        Step("InstallWindowsAgent", "aws:runPowerShellScript", "Windows"),
        Step("InstallLinuxAgent", "aws:runShellScript", "Linux"),
    ]


_DOC_KEYS = {
    "name",
    "parameters",
    "platform_types",
    "description",
    "installs_drs_agent",
    "execution_timeout_seconds",
    "steps",
    "account_id",
    "region",
}
_PARAM_KEYS = {"Name", "Type", "Description", "DefaultValue", "AllowedValues", "AllowedPattern"}
_NAME = re.compile(r"^[a-zA-Z0-9_\-.]{3,128}$")


def custom_document(spec: dict, owner: str, created: datetime) -> Document:
    """A document from a fleet ``documents:`` entry or the register-document admin call.

    ``spec``: ``name``; ``parameters`` [{Name, Type (String|StringList), Description,
    DefaultValue, AllowedValues, AllowedPattern}] (a parameter without DefaultValue is
    required); ``platform_types`` (default Windows + Linux); ``installs_drs_agent``
    (default false: a successful run registers the instance with DRS, e.g. a copy of
    the AWS document that adds ``AccountId``); ``execution_timeout_seconds`` (3600);
    ``steps`` [{name, action, platform}] (default: the AWS DRS document's two steps
    when it installs the agent, else one step per platform type).
    """
    if not isinstance(spec, dict):
        raise ValueError(f"a document must be a mapping, got {type(spec).__name__}")
    unknown = set(spec) - _DOC_KEYS
    if unknown:
        raise ValueError(f"document has unknown keys {sorted(unknown)}; known keys: {sorted(_DOC_KEYS)}")
    name = spec.get("name")
    if not isinstance(name, str) or not _NAME.match(name) or name.lower().startswith(("aws", "amazon", "amzn")):
        raise ValueError(
            f"document name {name!r} must match [a-zA-Z0-9_.-]{{3,128}} and not start with aws, amazon or amzn"
        )
    platforms = list(spec.get("platform_types") or ["Windows", "Linux"])
    bad = [p for p in platforms if p not in PLATFORMS]
    if bad:
        raise ValueError(f"document {name}: platform_types {bad} are not in {list(PLATFORMS)}")
    timeout = spec.get("execution_timeout_seconds", 3600)
    if not isinstance(timeout, int) or timeout <= 0:
        raise ValueError(f"document {name}: execution_timeout_seconds must be a positive integer")
    installs = bool(spec.get("installs_drs_agent", False))
    return Document(
        name=name,
        owner=owner,
        description=str(spec.get("description") or f"Custom document {name}"),
        parameters=[_parameter(name, p) for p in spec.get("parameters") or []],
        platform_types=platforms,
        steps=_steps(name, spec.get("steps"), platforms, installs),
        execution_timeout=timeout,
        installs_drs_agent=installs,
        created=created,
    )


def _parameter(doc: str, p) -> dict:
    if not isinstance(p, dict):
        raise ValueError(f"document {doc}: each parameter must be a mapping with Name and Type")
    unknown = set(p) - _PARAM_KEYS
    if unknown:
        raise ValueError(f"document {doc}: parameter keys {sorted(unknown)} are unknown; known: {sorted(_PARAM_KEYS)}")
    if not isinstance(p.get("Name"), str) or not p["Name"]:
        raise ValueError(f"document {doc}: every parameter needs a Name")
    if p.get("Type", "String") not in ("String", "StringList"):
        raise ValueError(f"document {doc}: parameter {p['Name']} Type must be String or StringList")
    out = {"Name": p["Name"], "Type": p.get("Type", "String"), "Description": str(p.get("Description", ""))}
    if "DefaultValue" in p:
        out["DefaultValue"] = str(p["DefaultValue"])
    if "AllowedValues" in p:
        out["AllowedValues"] = [str(v) for v in p["AllowedValues"]]
    if "AllowedPattern" in p:
        try:
            re.compile(p["AllowedPattern"])
        except re.error as exc:
            raise ValueError(f"document {doc}: parameter {p['Name']} AllowedPattern is not a regex: {exc}") from exc
        out["AllowedPattern"] = p["AllowedPattern"]
    return out


def _steps(doc: str, steps, platforms: list[str], installs: bool) -> list[Step]:
    if steps is None:
        if installs:
            return [s for s in drs_install_steps() if s.platform in platforms]
        return [Step(f"Run{p}Command", _STEP_ACTION[p], p) for p in platforms]
    out = []
    for s in steps:
        if not isinstance(s, dict) or not s.get("name") or not s.get("action"):
            raise ValueError(f"document {doc}: each step needs name and action")
        if s.get("platform") not in (None, *PLATFORMS):
            raise ValueError(f"document {doc}: step {s['name']} platform must be one of {list(PLATFORMS)}")
        out.append(Step(str(s["name"]), str(s["action"]), s.get("platform")))
    return out
