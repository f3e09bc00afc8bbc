"""The OpenAPI document: the published contract and the source of API Gateway's routes.

``pulumi/openapi.yaml`` holds only the contract. :func:`for_api_gateway` derives the
REST API's body from it: the same routes, with what API Gateway needs and a client does
not: the Lambda proxy integration and the Cognito user pool authorizer on every
operation, and gateway responses that give the answers API Gateway makes itself (no
token, unknown route, throttling, timeout) the contract's error body. With CORS origins
(the stack's ``corsAllowedOrigins``) it also answers browsers' preflights (an ``OPTIONS``
mock per path, no authorizer) and lets them read the gateway's own errors. Nothing here
imports Pulumi, so tests and the handler's local adapter read the same document the
same way.
"""

from __future__ import annotations

import copy
import json
import re
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


# --- CORS ("CORS for REST APIs in API Gateway", API Gateway developer guide) -------------------
#
# Off unless the stack names origins. Browsers send a preflight ``OPTIONS`` without the
# Authorization header, so each path gets an ``OPTIONS`` method of its own: a MOCK
# integration (it never reaches the Lambda) without authorizer, answering 200 with the
# Access-Control-Allow-* headers. The Lambda adds Access-Control-Allow-Origin to its own
# answers (a proxy integration has no integration response to map), and the gateway
# responses carry it, so that a browser can read a 401, 404, 429 or 5xx.

# Request headers a browser may send: the Cognito token and the JSON body's type, plus the
# ones the developer guide's examples allow (SigV4 and API keys, for clients that add them).
CORS_ALLOW_HEADERS = ("Authorization", "Content-Type", "X-Amz-Date", "X-Amz-Security-Token", "X-Api-Key")
# Seconds a browser may cache a preflight answer; Chromium caps it at 7200.
CORS_MAX_AGE = 7200
CORS_PREFLIGHT_SUMMARY = "CORS preflight (API Gateway mock, no authorizer; not part of the contract)"


def _static(value):
    """A static value in an API Gateway parameter mapping: quoted with single quotes."""
    return f"'{value}'"


def cors_preflight(path: str, methods: list[str], origins: tuple[str, ...]) -> dict:
    """The ``OPTIONS`` operation answering a path's preflight: a mock, no security requirement.

    One origin (or ``*``): a static Access-Control-Allow-Origin. Several: the integration
    response's mapping template sets it to the request's ``Origin`` when that is one of
    them (``$context.responseOverride``, which works in a MOCK integration response), and
    answers without it otherwise; ``Vary: Origin`` tells caches the answer depends on it.
    """
    allow_methods = ",".join([*sorted(m.upper() for m in methods), "OPTIONS"])
    parameters = {
        "Access-Control-Allow-Methods": _static(allow_methods),
        "Access-Control-Allow-Headers": _static(",".join(CORS_ALLOW_HEADERS)),
        "Access-Control-Max-Age": _static(CORS_MAX_AGE),
    }
    template = "{}"
    if len(origins) == 1:
        parameters["Access-Control-Allow-Origin"] = _static(origins[0])
    else:
        parameters["Vary"] = _static("Origin")
        allowed = ", ".join(json.dumps(origin) for origin in origins)
        template = (
            f"#set($allowed = [{allowed}])\n"
            "#set($origin = $input.params().header.get('Origin'))\n"
            '#if("$!origin" == "")#set($origin = $input.params().header.get(\'origin\'))#end\n'
            '#if($allowed.contains("$!origin"))'
            '#set($context.responseOverride.header.Access-Control-Allow-Origin = "$origin")#end\n'
            "{}"
        )
    headers = sorted({*parameters, "Access-Control-Allow-Origin"})
    return {
        "summary": CORS_PREFLIGHT_SUMMARY,
        # The path's template parameters, as OpenAPI requires every operation to declare them.
        "parameters": [
            {"name": name, "in": "path", "required": True, "schema": {"type": "string"}}
            for name in re.findall(r"{([^}/]+)}", path)
        ],
        "responses": {
            "200": {
                "description": "The CORS headers of this path",
                "headers": {name: {"schema": {"type": "string"}} for name in headers},
            }
        },
        "x-amazon-apigateway-integration": {
            "type": "mock",
            "requestTemplates": {"application/json": '{"statusCode": 200}'},
            "passthroughBehavior": "never",
            "responses": {
                "default": {
                    "statusCode": "200",
                    "responseParameters": {
                        f"method.response.header.{name}": value for name, value in sorted(parameters.items())
                    },
                    "responseTemplates": {"application/json": template},
                }
            },
        },
    }


def cors_gateway_headers(origins: tuple[str, ...]) -> dict:
    """``responseParameters`` that let a browser read the gateway's own answers (401, 404, 429, 5xx ...).

    Gateway response templates substitute variables but run no VTL, so they cannot check
    the request's origin against a list: with several origins the header echoes the
    request's ``Origin`` (``method.request.header.Origin``). These answers are the fixed
    error texts of :data:`GATEWAY_RESPONSES`, no data, and no credentials are involved
    (the token travels in the Authorization header, not a cookie); the answers that carry
    data come from the Lambda, which checks the list.
    """
    if len(origins) == 1:
        return {"gatewayresponse.header.Access-Control-Allow-Origin": _static(origins[0])}
    return {
        "gatewayresponse.header.Access-Control-Allow-Origin": "method.request.header.Origin",
        "gatewayresponse.header.Vary": _static("Origin"),
    }


def for_api_gateway(
    document: dict, *, lambda_invoke_arn: str, user_pool_arns: list[str], cors_origins: tuple[str, ...] = ()
) -> dict:
    """The REST API's body: ``document``'s routes with the gateway's extensions.

    Every operation keeps its identity, parameters and documented status codes, and gets
    an ``AWS_PROXY`` integration with the handler (API Gateway always calls Lambda with
    POST) and the Cognito security requirement; the security scheme becomes a
    ``cognito_user_pools`` authorizer reading the ``Authorization`` header; the gateway's
    own error answers get the contract's error body (:data:`GATEWAY_RESPONSES`).
    With ``cors_origins`` (``("*",)`` or origins like ``https://dr.example.com``), every
    path also gets a preflight ``OPTIONS`` (:func:`cors_preflight`) and every gateway
    response the Access-Control-Allow-Origin header (:func:`cors_gateway_headers`);
    without, the body is exactly as it was before CORS existed.
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
        if cors_origins and paths[path]:
            if "options" in paths[path]:
                raise ValueError(f"{path} declares OPTIONS: with CORS on, API Gateway answers OPTIONS (preflights).")
            paths[path]["options"] = cors_preflight(path, list(paths[path]), tuple(cors_origins))
    gateway_responses = copy.deepcopy(GATEWAY_RESPONSES)
    if cors_origins:
        for response in gateway_responses.values():
            response["responseParameters"] = cors_gateway_headers(tuple(cors_origins))
    parameters = copy.deepcopy((document.get("components") or {}).get("parameters") or {})
    return {
        "openapi": document["openapi"],
        "info": copy.deepcopy(document["info"]),
        "paths": paths,
        "x-amazon-apigateway-gateway-responses": gateway_responses,
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
