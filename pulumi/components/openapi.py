"""The OpenAPI document: the published contract and the source of API Gateway's routes.

``pulumi/openapi.yaml`` holds only the contract. :func:`for_api_gateway` derives the
REST API's body from it: the same routes, with what API Gateway needs and a client does
not: the Lambda proxy integration and the Cognito user pool authorizer on every
operation, and gateway responses that give the answers API Gateway makes itself (no
token, unknown route, throttling, timeout) the contract's error body. Nothing here
imports Pulumi, so tests and the handler's local adapter read the same document the
same way.
"""

from __future__ import annotations

import copy
import json
from pathlib import Path

import yaml

DOCUMENT = Path(__file__).resolve().parent.parent / "openapi.yaml"
METHODS = ("get", "put", "post", "delete", "patch", "head", "options")
SECURITY_SCHEME = "cognito"


def load(path: Path = DOCUMENT) -> dict:
    with open(path, encoding="utf-8") as handle:
        return yaml.safe_load(handle)


def routes(document: dict) -> list[tuple[str, str]]:
    """``[(METHOD, path)]`` of every operation, sorted."""
    return sorted(
        (method.upper(), path)
        for path, item in (document.get("paths") or {}).items()
        for method in item
        if method in METHODS
    )


def source_arn_path(path: str) -> str:
    """The resource part of an execute-api ARN for ``path``: path parameters become ``*``."""
    return "/".join("*" if part.startswith("{") else part for part in path.split("/"))


# What API Gateway keeps of an operation. Request and response schemas stay in the
# published contract: the Lambda proxy validates requests itself, API Gateway validates
# nothing with them, and its model import (JSON Schema draft 4) does not know OpenAPI
# 3.0 keywords such as ``nullable``.
OPERATION_FIELDS = ("operationId", "summary", "description", "tags", "parameters")

# Answers API Gateway gives without calling the handler (401 from the authorizer, 429 from
# stage throttling, 504 when the integration times out ...) default to {"message": ...}.
# These gateway responses give them the contract's Error body instead ("Gateway response
# types for API Gateway", "x-amazon-apigateway-gateway-responses object", API Gateway
# developer guide). ``$context.error.messageString`` is the message already JSON-quoted.
_ERROR_TEMPLATE = (
    '{"error": $context.error.messageString, "code": "$context.error.responseType", "requestId": "$context.requestId"}'
)


def _error_template(message, code):
    # ``$context.requestId`` is left for API Gateway to fill in.
    return json.dumps({"error": message, "code": code, "requestId": "$context.requestId"})


GATEWAY_RESPONSES = {
    "DEFAULT_4XX": {"responseTemplates": {"application/json": _ERROR_TEMPLATE}},
    "DEFAULT_5XX": {"responseTemplates": {"application/json": _ERROR_TEMPLATE}},
    "UNAUTHORIZED": {
        "statusCode": "401",
        "responseTemplates": {
            "application/json": _error_template(
                "No valid Cognito token: send a Cognito ID token in the Authorization header.", "Unauthorized"
            )
        },
    },
    # An unknown path, or a method the path does not have: API Gateway answers 403
    # "Missing Authentication Token" by default, which sends callers looking at their token.
    "MISSING_AUTHENTICATION_TOKEN": {
        "statusCode": "404",
        "responseTemplates": {
            "application/json": _error_template(
                "No such route: check the method and the path against the API's routes (openapi.yaml).", "NotFound"
            )
        },
    },
}


def for_api_gateway(document: dict, *, lambda_invoke_arn: str, user_pool_arns: list[str]) -> dict:
    """The REST API's body: ``document``'s routes with the gateway's extensions.

    Every operation keeps its identity, parameters and documented status codes, and gets
    an ``AWS_PROXY`` integration with the handler (API Gateway always calls Lambda with
    POST) and the Cognito security requirement; the security scheme becomes a
    ``cognito_user_pools`` authorizer reading the ``Authorization`` header; the gateway's
    own error answers get the contract's error body (:data:`GATEWAY_RESPONSES`).
    """
    paths = {}
    for path, item in document["paths"].items():
        paths[path] = {}
        for method, operation in item.items():
            if method not in METHODS:
                continue
            kept = {key: copy.deepcopy(operation[key]) for key in OPERATION_FIELDS if key in operation}
            kept["responses"] = {
                status: {"description": _description(document, response)}
                for status, response in operation["responses"].items()
            }
            kept["security"] = [{SECURITY_SCHEME: []}]
            kept["x-amazon-apigateway-integration"] = {
                "type": "aws_proxy",
                "httpMethod": "POST",
                "uri": lambda_invoke_arn,
                "passthroughBehavior": "when_no_match",
                "timeoutInMillis": 29000,
            }
            paths[path][method] = kept
    parameters = copy.deepcopy((document.get("components") or {}).get("parameters") or {})
    return {
        "openapi": document["openapi"],
        "info": copy.deepcopy(document["info"]),
        "paths": paths,
        "x-amazon-apigateway-gateway-responses": copy.deepcopy(GATEWAY_RESPONSES),
        "components": {
            "parameters": parameters,
            "securitySchemes": {
                SECURITY_SCHEME: {
                    "type": "apiKey",
                    "name": "Authorization",
                    "in": "header",
                    "x-amazon-apigateway-authtype": "cognito_user_pools",
                    "x-amazon-apigateway-authorizer": {
                        "type": "cognito_user_pools",
                        "providerARNs": list(user_pool_arns),
                    },
                }
            },
        },
    }


def _description(document, response):
    """A response's description, following ``$ref: '#/components/responses/...'``."""
    if "$ref" in response:
        name = response["$ref"].rsplit("/", 1)[1]
        response = document["components"]["responses"][name]
    return response.get("description", "")
