"""What `pulumi up` would create, checked on the program run against mocks (no CLI, no AWS)."""

from __future__ import annotations

import json

import pytest
from components import openapi, settings
from stack_harness import ACCOUNT, BASE_CONFIG, REGION, contract, deploy

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


UI, DEV_UI = "https://dr.example.com", "http://localhost:3000"


@pytest.fixture(scope="module")
def cors_stack():
    """The program with two CORS origins: a UI on CloudFront and a developer's server."""
    return deploy({**BASE_CONFIG, "corsAllowedOrigins": [UI, DEV_UI]}, stack="cors")


def _is_preflight(method, operation):
    """A generated CORS preflight: OPTIONS answered by API Gateway's mock, never by the Lambda."""
    integration = operation["x-amazon-apigateway-integration"]
    return method == "OPTIONS" and integration["type"] == "mock" and "uri" not in integration


def _routes(body):
    """``(METHOD, path)`` of every operation but the generated preflights."""
    return sorted((m, p) for m, p, op in _operations(body) if not _is_preflight(m, op))


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


@pytest.mark.parametrize("deployed", ["stack", "cors_stack"])
def test_api_routes_are_exactly_the_openapi_document(request, deployed):
    document = contract()
    assert _routes(_body(request.getfixturevalue(deployed))) == openapi.routes(document)
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
    document = contract()
    for method, path, operation in _operations(body):
        published = document["paths"][path][method.lower()]
        assert operation["operationId"] == published["operationId"]
        assert operation.get("parameters") == published.get("parameters")
        assert sorted(operation["responses"]) == sorted(published["responses"])
        assert set(operation) <= {*openapi.OPERATION_FIELDS, "responses", "security", "x-amazon-apigateway-integration"}
    assert body["components"]["parameters"] == document["components"]["parameters"]
    assert "nullable" not in json.dumps(body)  # OpenAPI 3.0 schema keywords stay in the published contract


@pytest.mark.parametrize("deployed", ["stack", "cors_stack"])
def test_every_api_method_uses_the_cognito_authorizer_of_the_created_pool(request, deployed):
    """Every method but the generated CORS preflights, which are mocks that never reach the Lambda."""
    stack = request.getfixturevalue(deployed)
    body = _body(stack)
    pool_arn = f"arn:aws:cognito-idp:{REGION}:{ACCOUNT}:userpool/{REGION}_TestPool1"
    scheme = body["components"]["securitySchemes"]["cognito"]
    assert scheme["x-amazon-apigateway-authtype"] == "cognito_user_pools"
    assert scheme["x-amazon-apigateway-authorizer"] == {"type": "cognito_user_pools", "providerARNs": [pool_arn]}
    assert (scheme["in"], scheme["name"]) == ("header", "Authorization")
    assert "security" not in body  # no API-wide requirement: what each method declares is all it has
    preflights = []
    operations = list(_operations(body))
    for method, path, operation in operations:
        if method == "OPTIONS" and "security" not in operation:
            integration = operation["x-amazon-apigateway-integration"]
            assert (integration["type"], integration["passthroughBehavior"]) == ("mock", "never"), path
            assert not {"uri", "httpMethod"} & set(integration), path
            preflights.append(path)
            continue
        assert operation["security"] == [{"cognito": []}], (method, path)
    assert len(operations) - len(preflights) == 7
    contract_paths = sorted({path for _, path in openapi.routes(contract())})
    assert sorted(preflights) == (contract_paths if deployed == "cors_stack" else [])


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
    schema = contract()["components"]["schemas"]["Error"]
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


@pytest.mark.parametrize("deployed", ["stack", "cors_stack"])
def test_lambda_may_only_be_invoked_by_this_api_stage_and_its_routes(request, deployed):
    stack = request.getfixturevalue(deployed)
    execution_arn = f"arn:aws:execute-api:{REGION}:{ACCOUNT}:a1b2c3d4e5"
    permissions = stack.of_type(PERMISSION)
    expected = {f"{execution_arn}/v1/{m}{openapi.source_arn_path(p)}" for m, p in openapi.routes(contract())}
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


def test_lambda_knows_the_cors_origins(cors_stack):
    variables = cors_stack.one(FUNCTION).inputs["environment"]["variables"]
    assert variables["CORS_ALLOWED_ORIGINS"] == f"{UI},{DEV_UI}"


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


# --- CORS (corsAllowedOrigins) --------------------------------------------------------------


def test_without_cors_origins_no_preflight_and_no_cors_header_anywhere(stack):
    """Off by default: the body API Gateway imports is the one it imported before CORS existed."""
    body = _body(stack)
    assert not [(m, p) for m, p, _ in _operations(body) if m == "OPTIONS"]
    assert "Access-Control" not in stack.one(REST_API).inputs["body"]
    assert all("responseParameters" not in r for r in body["x-amazon-apigateway-gateway-responses"].values())
    assert "CORS_ALLOWED_ORIGINS" not in stack.one(FUNCTION).inputs["environment"]["variables"]


def _preflights(body):
    return {path: op for method, path, op in _operations(body) if method == "OPTIONS"}


def _mapped(operation):
    """``{header: value}`` the preflight's mock integration response maps statically."""
    response = operation["x-amazon-apigateway-integration"]["responses"]["default"]
    prefix = "method.response.header."
    assert all(key.startswith(prefix) for key in response["responseParameters"])
    return {key[len(prefix) :]: value for key, value in response["responseParameters"].items()}


def test_each_contract_path_answers_its_preflight_with_a_mock_and_no_authorizer(cors_stack):
    body = _body(cors_stack)
    document = contract()
    preflights = _preflights(body)
    assert sorted(preflights) == sorted(document["paths"])
    assert "options" not in json.dumps(list(document["paths"].values()))  # the contract itself has no OPTIONS
    for path, operation in preflights.items():
        assert "security" not in operation, path  # browsers send preflights without the Authorization header
        integration = operation["x-amazon-apigateway-integration"]
        assert integration["type"] == "mock"
        assert "uri" not in integration
        assert json.loads(integration["requestTemplates"]["application/json"]) == {"statusCode": 200}
        response = integration["responses"]["default"]
        assert response["statusCode"] == "200"
        methods = sorted(m.upper() for m in document["paths"][path])
        headers = _mapped(operation)
        assert headers["Access-Control-Allow-Methods"] == "'" + ",".join([*methods, "OPTIONS"]) + "'"
        allowed = headers["Access-Control-Allow-Headers"].strip("'").split(",")
        assert {"Authorization", "Content-Type"} <= set(allowed)
        assert headers["Access-Control-Max-Age"] == "'7200'"
        assert headers["Vary"] == "'Origin'"
        # Every header the integration response sets is declared on the method response.
        declared = set(operation["responses"]["200"]["headers"])
        assert {*headers, "Access-Control-Allow-Origin"} <= declared
        # Path parameters are declared, as OpenAPI requires of every operation on a templated path.
        names = [p["name"] for p in operation["parameters"]]
        assert names == [part[1:-1] for part in path.split("/") if part.startswith("{")], path


def test_with_several_origins_the_preflight_names_the_callers_origin_only_when_allowed(cors_stack):
    """API Gateway's mock cannot map a header conditionally: its response template overrides it."""
    for operation in _preflights(_body(cors_stack)).values():
        assert "Access-Control-Allow-Origin" not in _mapped(operation)  # never a fixed one of the list
        template = operation["x-amazon-apigateway-integration"]["responses"]["default"]["responseTemplates"][
            "application/json"
        ]
        lines = template.splitlines()
        assert lines[0] == f'#set($allowed = ["{UI}", "{DEV_UI}"])'
        assert "$input.params().header.get('Origin')" in template
        assert (
            '#if($allowed.contains("$!origin"))'
            '#set($context.responseOverride.header.Access-Control-Allow-Origin = "$origin")#end'
        ) in lines
        assert lines[-1] == "{}"


@pytest.mark.parametrize(("origins", "expected"), [([UI], UI), (["*"], "*")])
def test_with_one_origin_or_any_the_header_is_static(origins, expected):
    stack = deploy({**BASE_CONFIG, "corsAllowedOrigins": origins}, stack="one-origin")
    body = _body(stack)
    for operation in _preflights(body).values():
        assert _mapped(operation)["Access-Control-Allow-Origin"] == f"'{expected}'"
        assert "Vary" not in _mapped(operation)
        assert operation["x-amazon-apigateway-integration"]["responses"]["default"]["responseTemplates"] == {
            "application/json": "{}"
        }
    for response in body["x-amazon-apigateway-gateway-responses"].values():
        assert response["responseParameters"] == {"gatewayresponse.header.Access-Control-Allow-Origin": f"'{expected}'"}
    assert stack.one(FUNCTION).inputs["environment"]["variables"]["CORS_ALLOWED_ORIGINS"] == expected


def test_the_gateways_own_errors_are_readable_by_the_allowed_origins(cors_stack):
    """401 from the authorizer, 404 unknown route, 429, 5xx: without the header the page sees only 'CORS error'."""
    responses = _body(cors_stack)["x-amazon-apigateway-gateway-responses"]
    assert set(responses) == set(openapi.GATEWAY_RESPONSES)
    for name, response in responses.items():
        # Gateway response templates run no VTL, so with several origins the request's Origin is echoed.
        assert response["responseParameters"] == {
            "gatewayresponse.header.Access-Control-Allow-Origin": "method.request.header.Origin",
            "gatewayresponse.header.Vary": "'Origin'",
        }, name
        assert response["responseTemplates"] == openapi.GATEWAY_RESPONSES[name]["responseTemplates"]


def test_a_contract_path_that_declares_options_is_refused_when_cors_is_on():
    document = contract()
    document["paths"]["/recovery-instances"]["options"] = document["paths"]["/recovery-instances"]["get"]
    with pytest.raises(ValueError, match="/recovery-instances declares OPTIONS"):
        openapi.for_api_gateway(document, lambda_invoke_arn="arn", user_pool_arns=["pool"], cors_origins=("*",))


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
        ({**BASE_CONFIG, "corsAllowedOrigins": ["https://dr.example.com/"]}, "'https://dr.example.com/' is not an"),
        ({**BASE_CONFIG, "corsAllowedOrigins": ["https://dr.example.com/app"]}, "without path or trailing slash"),
        ({**BASE_CONFIG, "corsAllowedOrigins": ["dr.example.com"]}, "corsAllowedOrigins: 'dr.example.com' is not"),
        ({**BASE_CONFIG, "corsAllowedOrigins": ["https://DR.example.com"]}, "lowercase"),
        ({**BASE_CONFIG, "corsAllowedOrigins": ["ftp://dr.example.com"]}, "is not an origin"),
        ({**BASE_CONFIG, "corsAllowedOrigins": ["https://*.example.com"]}, "is not an origin"),
        ({**BASE_CONFIG, "corsAllowedOrigins": ["http://localhost:99999"]}, "is not an origin"),
        ({**BASE_CONFIG, "corsAllowedOrigins": ["https://dr.example.com:443"]}, "write 'https://dr.example.com'"),
        ({**BASE_CONFIG, "corsAllowedOrigins": ["*", "https://dr.example.com"]}, "'*' (any origin) stands alone"),
        ({**BASE_CONFIG, "corsAllowedOrigins": [""]}, "corsAllowedOrigins must be a list of non-empty strings"),
    ],
)
def test_bad_configuration_stops_with_a_message_naming_the_key(config, message):
    with pytest.raises(settings.ConfigError, match=message.replace("(", r"\(").replace(")", r"\)")):
        deploy(config, stack="bad")


def test_cors_origins_are_read_as_given_once_each():
    def origins(value):
        values = {"automationPrincipalArns": ["arn:aws:iam::123456789012:role/awx"], "corsAllowedOrigins": value}
        return settings.parse(values, project="drs-orchestration", stack="dev", region="us-east-1").cors_allowed_origins

    assert origins([UI, "http://localhost:3000", UI, "http://127.0.0.1:8080"]) == (
        UI,
        "http://localhost:3000",
        "http://127.0.0.1:8080",
    )
    assert origins(["*"]) == origins("*") == ("*",)
    assert origins([]) == origins(None) == ()


# --- the harness ----------------------------------------------------------------------------


def test_the_first_deploy_of_a_process_needs_no_event_loop_set_beforehand():
    """As in each pytest-xdist worker: no root stack yet, no current event loop (an error from Python 3.14 on)."""
    import asyncio
    import warnings

    from pulumi.runtime import settings as runtime_settings

    runtime_settings.ROOT.set(None)
    asyncio.set_event_loop(None)
    with warnings.catch_warnings():
        warnings.filterwarnings("error", "There is no current event loop", DeprecationWarning)
        stack = deploy(BASE_CONFIG)
    assert stack.outputs["tableName"] == "drs-orchestration-agent-installations-test"


def test_the_contract_read_once_is_the_file_and_each_caller_gets_a_copy_of_its_own():
    """``contract()`` (and the program under ``deploy``) reuse one parse of openapi.yaml: changes must not leak."""
    assert contract() == openapi.load()
    changed = contract()
    changed["paths"].clear()
    assert contract() == openapi.load()
