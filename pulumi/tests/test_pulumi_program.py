"""What `pulumi up` would create, checked on the program run against mocks (no CLI, no AWS)."""

from __future__ import annotations

import json

import pytest
from components import openapi, settings
from stack_harness import ACCOUNT, BASE_CONFIG, REGION, deploy

TABLE = "aws:dynamodb/table:Table"
REST_API = "aws:apigateway/restApi:RestApi"
STAGE = "aws:apigateway/stage:Stage"
FUNCTION = "aws:lambda/function:Function"
PERMISSION = "aws:lambda/permission:Permission"
USER_POOL = "aws:cognito/userPool:UserPool"


def _body(stack):
    return json.loads(stack.one(REST_API).inputs["body"])


def _operations(body):
    for path, item in body["paths"].items():
        for method, operation in item.items():
            if method in openapi.METHODS:
                yield method.upper(), path, operation


# --- the tracking table ---------------------------------------------------------------


def test_table_is_named_after_project_and_environment(stack):
    assert stack.one(TABLE).inputs["name"] == "drs-orchestration-agent-installations-test"
    assert stack.outputs["tableName"] == "drs-orchestration-agent-installations-test"


def test_table_is_keyed_by_command_id_with_a_created_at_index(stack):
    table = stack.one(TABLE).inputs
    assert table["hashKey"] == "CommandId"
    assert "rangeKey" not in table
    assert {(a["name"], a["type"]) for a in table["attributes"]} == {
        ("CommandId", "S"),
        ("CreatedAt", "S"),
        ("CreatedDay", "S"),
    }
    (index,) = table["globalSecondaryIndexes"]
    assert index["name"] == "CreatedAtIndex"
    # Listing by time: a day per Query (hash keys compare for equality), in CreatedAt order.
    assert index["keySchemas"] == [
        {"attributeName": "CreatedDay", "keyType": "HASH"},
        {"attributeName": "CreatedAt", "keyType": "RANGE"},
    ]
    assert index["projectionType"] == "ALL"


def test_table_expires_records_on_ttl_and_bills_on_demand(stack):
    table = stack.one(TABLE).inputs
    assert table["ttl"] == {"attributeName": "TTL", "enabled": True}
    assert table["billingMode"] == "PAY_PER_REQUEST"


def test_table_is_encrypted_with_point_in_time_recovery_and_deletion_protection(stack):
    table = stack.one(TABLE).inputs
    assert table["serverSideEncryption"] == {"enabled": True}
    assert table["pointInTimeRecovery"] == {"enabled": True}
    assert table["deletionProtectionEnabled"] is True


def test_deletion_protection_can_be_turned_off():
    stack = deploy({**BASE_CONFIG, "deletionProtection": False}, stack="scratch")
    assert stack.one(TABLE).inputs["deletionProtectionEnabled"] is False
    assert stack.one(USER_POOL).inputs["deletionProtection"] == "INACTIVE"


# --- the API: routes, authorizer, stage, Lambda permission ------------------------------


def test_api_routes_are_exactly_the_openapi_document(stack):
    document = openapi.load()
    assert sorted((m, p) for m, p, _ in _operations(_body(stack))) == openapi.routes(document)
    assert openapi.routes(document) == sorted(
        [
            ("POST", "/agent/install"),
            ("GET", "/agent/install/{commandId}/status"),
            ("GET", "/servers/{sourceServerId}/replication-status"),
            ("GET", "/replication/summary"),
            ("GET", "/recovery-instances"),
            ("POST", "/recovery-instances/{id}/reverse-replication"),
            ("POST", "/recovery-instances/{id}/failback"),
        ]
    )


def test_api_body_keeps_each_operation_its_parameters_and_status_codes(stack):
    body = _body(stack)
    document = openapi.load()
    for method, path, operation in _operations(body):
        published = document["paths"][path][method.lower()]
        assert operation["operationId"] == published["operationId"]
        assert operation.get("parameters") == published.get("parameters")
        assert sorted(operation["responses"]) == sorted(published["responses"])
        assert set(operation) <= {*openapi.OPERATION_FIELDS, "responses", "security", "x-amazon-apigateway-integration"}
    assert body["components"]["parameters"] == document["components"]["parameters"]
    assert "nullable" not in json.dumps(body)  # OpenAPI 3.0 schema keywords stay in the published contract


def test_every_api_method_uses_the_cognito_authorizer_of_the_created_pool(stack):
    body = _body(stack)
    pool_arn = f"arn:aws:cognito-idp:{REGION}:{ACCOUNT}:userpool/{REGION}_TestPool1"
    scheme = body["components"]["securitySchemes"]["cognito"]
    assert scheme["x-amazon-apigateway-authtype"] == "cognito_user_pools"
    assert scheme["x-amazon-apigateway-authorizer"] == {"type": "cognito_user_pools", "providerARNs": [pool_arn]}
    assert (scheme["in"], scheme["name"]) == ("header", "Authorization")
    operations = list(_operations(body))
    assert len(operations) == 7
    for method, path, operation in operations:
        assert operation["security"] == [{"cognito": []}], (method, path)


def test_every_api_method_proxies_to_the_handler_function(stack):
    function = stack.one(FUNCTION)
    invoke_arn = (
        f"arn:aws:apigateway:{REGION}:lambda:path/2015-03-31/functions/"
        f"arn:aws:lambda:{REGION}:{ACCOUNT}:function:{function.inputs['name']}/invocations"
    )
    for method, path, operation in _operations(_body(stack)):
        integration = operation["x-amazon-apigateway-integration"]
        assert (integration["type"], integration["httpMethod"], integration["uri"]) == (
            "aws_proxy",
            "POST",
            invoke_arn,
        ), (method, path)


def _render(template, **context):
    """A gateway response template as API Gateway fills it in."""
    for name, value in context.items():
        template = template.replace(f"$context.{name}", value)
    return json.loads(template)


def test_api_gateways_own_errors_answer_with_the_contracts_error_body(stack):
    """401, 404, 429, 504 ... that API Gateway answers itself: {"error", "code", "requestId"}, never {"message"}."""
    import jsonschema

    responses = _body(stack)["x-amazon-apigateway-gateway-responses"]
    assert set(responses) == {"DEFAULT_4XX", "DEFAULT_5XX", "UNAUTHORIZED", "MISSING_AUTHENTICATION_TOKEN"}
    schema = openapi.load()["components"]["schemas"]["Error"]
    context = {"error.messageString": '"Too Many Requests"', "error.responseType": "THROTTLED", "requestId": "r-1"}
    for name, response in responses.items():
        (template,) = response["responseTemplates"].values()
        assert list(response["responseTemplates"]) == ["application/json"]
        body = _render(template, **context)
        jsonschema.validate(body, schema)
        assert body["requestId"] == "r-1", name
    assert _render(responses["DEFAULT_4XX"]["responseTemplates"]["application/json"], **context) == {
        "error": "Too Many Requests",
        "code": "THROTTLED",
        "requestId": "r-1",
    }
    assert "statusCode" not in responses["DEFAULT_4XX"]
    assert "statusCode" not in responses["DEFAULT_5XX"]  # 502, 504 ... keep their status
    # An unknown path or method: 404 NotFound instead of 403 "Missing Authentication Token".
    unknown = responses["MISSING_AUTHENTICATION_TOKEN"]
    assert unknown["statusCode"] == "404"
    assert _render(unknown["responseTemplates"]["application/json"], requestId="r-2")["code"] == "NotFound"
    assert responses["UNAUTHORIZED"]["statusCode"] == "401"


def test_an_existing_user_pool_is_used_instead_of_creating_one():
    pool = "arn:aws:cognito-idp:us-east-1:123456789012:userpool/us-east-1_Existing9"
    stack = deploy({**BASE_CONFIG, "cognitoUserPoolArn": pool}, stack="existing-pool")
    assert stack.of_type(USER_POOL) == []
    assert stack.of_type("aws:cognito/userPoolClient:UserPoolClient") == []
    body = _body(stack)
    assert body["components"]["securitySchemes"]["cognito"]["x-amazon-apigateway-authorizer"]["providerARNs"] == [pool]
    assert all(op["security"] == [{"cognito": []}] for _, _, op in _operations(body))
    assert stack.outputs["userPoolId"] == "us-east-1_Existing9"


def test_stage_is_explicit_with_json_access_logs_to_its_log_group(stack):
    stage = stack.one(STAGE).inputs
    assert stage["stageName"] == "v1"
    assert stage["restApi"] == "a1b2c3d4e5"
    access_logs = stack.named("api-access")
    assert stage["accessLogSettings"]["destinationArn"] == access_logs.outputs["arn"]
    fields = json.loads(stage["accessLogSettings"]["format"])
    assert {"requestId", "status", "user", "resourcePath", "httpMethod"} <= set(fields)
    assert access_logs.inputs["retentionInDays"] == 90
    assert stack.outputs["apiUrl"] == "https://a1b2c3d4e5.execute-api.us-east-1.amazonaws.com/v1"


def test_lambda_may_only_be_invoked_by_this_api_stage_and_its_routes(stack):
    execution_arn = f"arn:aws:execute-api:{REGION}:{ACCOUNT}:a1b2c3d4e5"
    permissions = stack.of_type(PERMISSION)
    expected = {f"{execution_arn}/v1/{m}{openapi.source_arn_path(p)}" for m, p in openapi.routes(openapi.load())}
    assert {p.inputs["sourceArn"] for p in permissions} == expected
    assert len(permissions) == len(expected)
    for permission in permissions:
        assert permission.inputs["principal"] == "apigateway.amazonaws.com"
        assert permission.inputs["action"] == "lambda:InvokeFunction"
        assert permission.inputs["sourceAccount"] == ACCOUNT
        assert "*" not in permission.inputs["sourceArn"].split("/v1/")[0]


def test_deployment_changes_when_the_api_body_changes(stack):
    import hashlib

    deployment = stack.one("aws:apigateway/deployment:Deployment").inputs
    body = stack.one(REST_API).inputs["body"]
    assert deployment["triggers"] == {"body": hashlib.sha256(body.encode()).hexdigest()}


# --- the Lambda function ------------------------------------------------------------------


def test_lambda_runs_the_handler_on_python_3_13_with_table_and_regions(stack):
    function = stack.one(FUNCTION).inputs
    assert function["runtime"] == "python3.13"
    assert function["handler"] == "api.handler.handle"
    assert function["timeout"] <= 29
    assert function["memorySize"] == 1769  # one full vCPU
    assert function["role"] == stack.outputs["lambdaRoleArn"]
    assert function["environment"]["variables"] == {
        "AGENT_INSTALLATIONS_TABLE": "drs-orchestration-agent-installations-test",
        "ALLOWED_REGIONS": "us-east-1,us-west-2",
        "INSTALL_TTL_DAYS": "90",
        "INSTALL_DOCUMENT_NAME": "AWSDisasterRecovery-InstallDRAgentOnInstance",
        "INSTALL_DOCUMENT_NAMES": "AWSDisasterRecovery-InstallDRAgentOnInstance",
    }
    assert function["loggingConfig"] == {"logFormat": "JSON", "logGroup": "/aws/lambda/drs-orchestration-api-test"}


def test_lambda_knows_the_install_tag_condition_of_its_role():
    stack = deploy({**BASE_CONFIG, "installInstanceTagKey": "dr:enabled", "installInstanceTagValue": "true"}, "tag")
    variables = stack.one(FUNCTION).inputs["environment"]["variables"]
    assert (variables["INSTALL_INSTANCE_TAG_KEY"], variables["INSTALL_INSTANCE_TAG_VALUE"]) == ("dr:enabled", "true")


def test_lambda_knows_every_install_document_whose_status_it_may_report():
    documents = ["AWSDisasterRecovery-InstallDRAgentOnInstance", "Custom-InstallDRAgent"]
    stack = deploy({**BASE_CONFIG, "installDocumentNames": documents}, "documents")
    variables = stack.one(FUNCTION).inputs["environment"]["variables"]
    assert variables["INSTALL_DOCUMENT_NAME"] == documents[0]  # the one it sends
    assert variables["INSTALL_DOCUMENT_NAMES"] == ",".join(documents)


def test_stack_exports_url_table_roles_and_user_pool(stack):
    assert stack.outputs == {
        "apiUrl": "https://a1b2c3d4e5.execute-api.us-east-1.amazonaws.com/v1",
        "tableName": "drs-orchestration-agent-installations-test",
        "lambdaRoleArn": f"arn:aws:iam::{ACCOUNT}:role/drs-orchestration-api-test",
        "automationRoleArn": f"arn:aws:iam::{ACCOUNT}:role/drs-orchestration-automation-test",
        "userPoolId": f"{REGION}_TestPool1",
        "userPoolClientId": "api-client-id",
        "allowedRegions": ["us-east-1", "us-west-2"],
    }


# --- configuration ------------------------------------------------------------------------


def test_automation_role_is_assumable_only_by_the_configured_principals():
    stack = deploy({**BASE_CONFIG, "automationExternalId": "awx-external-id"}, stack="trust")
    role = stack.named("roles-automation").inputs
    (statement,) = json.loads(role["assumeRolePolicy"])["Statement"]
    assert statement["Principal"] == {"AWS": ["arn:aws:iam::210987654321:role/awx-execution"]}
    assert statement["Condition"] == {"StringEquals": {"sts:ExternalId": "awx-external-id"}}


@pytest.mark.parametrize(
    ("config", "message"),
    [
        ({}, "automationPrincipalArns is required"),
        ({**BASE_CONFIG, "allowedRegions": ["us-east-1", "mars-1"]}, "are not AWS region names"),
        ({**BASE_CONFIG, "allowedRegion": ["us-east-1"]}, "unknown config key(s) allowedRegion"),
        ({**BASE_CONFIG, "installInstanceTagKey": "dr:enabled"}, "go together"),
        ({**BASE_CONFIG, "logRetentionDays": 45}, "logRetentionDays must be one of"),
        ({**BASE_CONFIG, "lambdaRuntime": "python3.9"}, "lambdaRuntime must be one of"),
        ({**BASE_CONFIG, "lambdaTimeoutSeconds": 60}, "between 3 and 29"),
        ({**BASE_CONFIG, "cognitoUserPoolArn": "us-east-1_abc"}, "is not a user pool ARN"),
        ({**BASE_CONFIG, "automationPrincipalArns": ["awx"]}, "are not IAM principal ARNs"),
        ({**BASE_CONFIG, "installOutputBuckets": ["s3://logs"]}, "are not S3 bucket names"),
    ],
)
def test_bad_configuration_stops_with_a_message_naming_the_key(config, message):
    with pytest.raises(settings.ConfigError, match=message.replace("(", r"\(").replace(")", r"\)")):
        deploy(config, stack="bad")
