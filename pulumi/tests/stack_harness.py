"""Shared helpers of the Pulumi program and REST handler tests.

``deploy(config)`` executes ``pulumi/__main__.py`` with ``pulumi.runtime.set_mocks``
(no Pulumi CLI, no AWS) and returns every resource the program declared, with its
inputs as Pulumi resolved them, plus the stack outputs. ``Api`` / ``handler_app`` put
the REST handler behind the local API Gateway stand-in against an emulator.
``contract()`` is ``pulumi/openapi.yaml`` as ``openapi.load()`` reads it, parsed once
per process (so is what the program itself reads, see ``deploy``).

(A module of its own, not conftest.py: several conftest.py files share the name
``conftest`` in one pytest run, so tests cannot import from it by name.)
"""

from __future__ import annotations

import asyncio
import copy
import functools
import json
import runpy
import sys
from dataclasses import dataclass, field
from pathlib import Path
from typing import ClassVar
from unittest import mock

PULUMI_DIR = Path(__file__).resolve().parent.parent
if str(PULUMI_DIR) not in sys.path:
    sys.path.insert(0, str(PULUMI_DIR))

import pulumi  # noqa: E402  (after the path setup, like the program itself)
from components import lambda_package, openapi  # noqa: E402

PROJECT = "drs-orchestration"
ACCOUNT = "123456789012"
REGION = "us-east-1"
BASE_CONFIG = {
    "automationPrincipalArns": ["arn:aws:iam::210987654321:role/awx-execution"],
    "allowedRegions": ["us-east-1", "us-west-2"],
}


@dataclass
class Resource:
    type: str
    name: str
    inputs: dict
    outputs: dict


@dataclass
class Deployment:
    resources: list[Resource] = field(default_factory=list)
    outputs: dict = field(default_factory=dict)

    def of_type(self, type_: str) -> list[Resource]:
        return [r for r in self.resources if r.type == type_]

    def one(self, type_: str) -> Resource:
        found = self.of_type(type_)
        assert len(found) == 1, f"expected one {type_}, found {[r.name for r in found]}"
        return found[0]

    def named(self, name: str) -> Resource:
        found = [r for r in self.resources if r.name == name]
        assert len(found) == 1, f"expected one resource named {name}, found {len(found)}"
        return found[0]


class RecordingMocks(pulumi.runtime.Mocks):
    """Answers like the AWS provider would for the attributes the program reads."""

    def __init__(self):
        self.resources: list[Resource] = []

    def new_resource(self, args: pulumi.runtime.MockResourceArgs):
        inputs = dict(args.inputs)
        name = inputs.get("name") or args.name
        outputs = dict(inputs)
        resource_id = f"{args.name}-id"
        arn_prefix = f"arn:aws:{{}}:{REGION}:{ACCOUNT}"
        if args.typ == "aws:dynamodb/table:Table":
            outputs["arn"] = f"{arn_prefix.format('dynamodb')}:table/{name}"
        elif args.typ in ("aws:iam/role:Role", "aws:iam/policy:Policy"):
            kind = "role" if args.typ.endswith("Role") else "policy"
            outputs["arn"] = f"arn:aws:iam::{ACCOUNT}:{kind}/{name}"
        elif args.typ == "aws:lambda/function:Function":
            outputs["arn"] = f"{arn_prefix.format('lambda')}:function:{name}"
            outputs["invokeArn"] = (
                f"arn:aws:apigateway:{REGION}:lambda:path/2015-03-31/functions/{outputs['arn']}/invocations"
            )
        elif args.typ == "aws:apigateway/restApi:RestApi":
            resource_id = "a1b2c3d4e5"
            outputs["executionArn"] = f"{arn_prefix.format('execute-api')}:{resource_id}"
            outputs["rootResourceId"] = "root0000"
        elif args.typ == "aws:apigateway/stage:Stage":
            outputs["invokeUrl"] = f"https://a1b2c3d4e5.execute-api.{REGION}.amazonaws.com/{inputs['stageName']}"
        elif args.typ == "aws:cognito/userPool:UserPool":
            resource_id = f"{REGION}_TestPool1"
            outputs["arn"] = f"arn:aws:cognito-idp:{REGION}:{ACCOUNT}:userpool/{resource_id}"
        elif args.typ == "aws:cloudwatch/logGroup:LogGroup":
            outputs["arn"] = f"{arn_prefix.format('logs')}:log-group:{name}"
        self.resources.append(Resource(args.typ, args.name, inputs, outputs))
        return resource_id, outputs

    def call(self, args: pulumi.runtime.MockCallArgs):
        if args.token == "aws:index/getCallerIdentity:getCallerIdentity":
            return {"accountId": ACCOUNT, "arn": f"arn:aws:iam::{ACCOUNT}:user/deployer", "userId": "AIDEXAMPLE"}
        if args.token == "aws:index/getPartition:getPartition":
            return {"partition": "aws", "dnsSuffix": "amazonaws.com", "id": "aws", "reverseDnsPrefix": "com.amazonaws"}
        raise AssertionError(f"the program called an unexpected function: {args.token}")


# The program reads openapi.yaml (PyYAML's pure-Python parser: about 0.1 s of CPU) and walks
# the imports of the handler and the core (about 0.2 s) on every run. Those files do not
# change while tests run, so each is read once per process and every caller gets a copy.
_load_openapi = functools.cache(openapi.load)
_archive_files = functools.cache(lambda_package.archive_files)


def contract(path: Path = openapi.DOCUMENT) -> dict:
    """``openapi.load(path)``: the published contract, a copy of its own for each caller (free to change it)."""
    return copy.deepcopy(_load_openapi(path))


def _archive_files_copy(*args, **kwargs) -> dict:
    return dict(_archive_files(*args, **kwargs))


def _config_value(value) -> str:
    return value if isinstance(value, str) else json.dumps(value)


@functools.cache
def _event_loop() -> asyncio.AbstractEventLoop:
    return asyncio.new_event_loop()


def deploy(config: dict | None = None, stack: str = "test") -> Deployment:
    """Run the program with ``config`` (keys without namespace) and record what it declares."""
    # set_mocks registers the stack resource with ``asyncio.Future()``, which needs a current
    # event loop (without one: a DeprecationWarning on Python 3.13, an error from 3.14 on).
    asyncio.set_event_loop(_event_loop())
    mocks = RecordingMocks()
    pulumi.runtime.set_mocks(mocks, project=PROJECT, stack=stack, preview=False)
    values = {f"{PROJECT}:{key}": _config_value(value) for key, value in (config or {}).items()}
    pulumi.runtime.set_all_config({"aws:region": REGION, **values})
    root = pulumi.runtime.get_root_resource()
    root.outputs.clear()
    deployment = Deployment(resources=mocks.resources)

    @pulumi.runtime.test
    def run():
        runpy.run_path(str(PULUMI_DIR / "__main__.py"), run_name="__main__")
        return pulumi.Output.all(**root.outputs).apply(deployment.outputs.update)

    with (
        mock.patch.object(openapi, "load", contract),
        mock.patch.object(lambda_package, "archive_files", _archive_files_copy),
    ):
        run()
    return deployment


# --- the REST handler against the emulator ---------------------------------------------------

TABLE_NAME = "drs-orchestration-agent-installations-test"
API_REGIONS = ("us-east-1", "us-west-2")


@dataclass
class Api:
    """The handler behind the local API Gateway stand-in, talking to an emulator."""

    emu: object
    app: object
    adapter: object
    http: object

    headers: ClassVar[dict] = {"Authorization": "eyJraWQiOiJ0ZXN0In0.e30.c2lnbmF0dXJl"}  # not verified locally

    def get(self, path, **query):
        return self.http.get(path, query_string=query or None, headers=self.headers)

    def post(self, path, body=None, raw=None):
        if raw is not None:
            return self.http.post(path, data=raw, content_type="application/json", headers=self.headers)
        return self.http.post(path, json=body, headers=self.headers)

    def tracking_item(self, command_id):
        item = self.emu.client("dynamodb").get_item(
            TableName=TABLE_NAME, Key={"CommandId": {"S": command_id}}, ConsistentRead=True
        )
        return item.get("Item")


def create_tracking_table(emu):
    """The table as the Pulumi program declares it (same key, index and TTL attribute), in the stack's region."""
    from components import table

    client = emu.client("dynamodb", region=API_REGIONS[0])
    client.create_table(
        TableName=TABLE_NAME,
        BillingMode="PAY_PER_REQUEST",
        AttributeDefinitions=[
            {"AttributeName": table.HASH_KEY, "AttributeType": "S"},
            {"AttributeName": table.CREATED_AT, "AttributeType": "S"},
            {"AttributeName": table.CREATED_DAY, "AttributeType": "S"},
        ],
        KeySchema=[{"AttributeName": table.HASH_KEY, "KeyType": "HASH"}],
        GlobalSecondaryIndexes=[
            {
                "IndexName": table.CREATED_AT_INDEX,
                "KeySchema": [
                    {"AttributeName": table.CREATED_DAY, "KeyType": "HASH"},
                    {"AttributeName": table.CREATED_AT, "KeyType": "RANGE"},
                ],
                "Projection": {"ProjectionType": "ALL"},
            }
        ],
    )
    client.update_time_to_live(
        TableName=TABLE_NAME, TimeToLiveSpecification={"Enabled": True, "AttributeName": table.TTL_ATTRIBUTE}
    )


def handler_app(emu, table=True, regions=API_REGIONS, env=None):
    """The handler configured as the stack configures its Lambda (``env``: more variables)."""
    from api.handler import App

    from ansible_collections.drs.orchestration.plugins.module_utils.aws import Clients
    from emulator.testing import shared_session

    def clients(region):
        return Clients.from_session(shared_session(), region=region, endpoint_url=emu.endpoint)

    environ = {
        "AWS_REGION": regions[0],
        "ALLOWED_REGIONS": ",".join(regions),
        "INSTALL_TTL_DAYS": "90",
        "INSTALL_DOCUMENT_NAME": "AWSDisasterRecovery-InstallDRAgentOnInstance",
        "INSTALL_DOCUMENT_NAMES": "AWSDisasterRecovery-InstallDRAgentOnInstance",
    }
    if table:
        environ["AGENT_INSTALLATIONS_TABLE"] = TABLE_NAME
    return App({**environ, **(env or {})}, make_clients=clients)
