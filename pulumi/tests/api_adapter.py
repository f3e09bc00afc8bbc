"""A local stand-in for API Gateway in front of the handler: HTTP in, proxy event, HTTP out.

``ProxyAdapter`` is a WSGI application. It matches the request against the routes of
the OpenAPI document the way API Gateway's REST API does (``{param}`` is one path
segment), builds the REST proxy event API Gateway would send (``resource``,
``pathParameters``, ``queryStringParameters`` and their multi-value twins, ``body``,
``requestContext.authorizer.claims`` as the Cognito authorizer fills them), calls the
handler and writes its proxy response back. Like API Gateway, it answers two requests
itself, with the gateway responses the program configures (``openapi.GATEWAY_RESPONSES``):
a method and path that are no route (404, "Missing Authentication Token" retyped), and a
request without an ``Authorization`` header (401; tokens are not verified here). The
OpenAPI document itself is served at ``/openapi.json`` so schemathesis can load it.
"""

from __future__ import annotations

import base64
import itertools
import json
import re
from urllib.parse import parse_qsl, quote, unquote

from components import openapi
from stack_harness import contract

DEFAULT_CLAIMS = {"sub": "0f1e2d3c-aaaa-bbbb-cccc-000000000001", "email": "operator@example.com"}
_REASONS = {
    200: "OK",
    202: "Accepted",
    400: "Bad Request",
    401: "Unauthorized",
    403: "Forbidden",
    404: "Not Found",
    405: "Method Not Allowed",
    409: "Conflict",
    429: "Too Many Requests",
    500: "Internal Server Error",
    502: "Bad Gateway",
    504: "Gateway Timeout",
}


def _compile(template):
    """``/recovery-instances/{id}/failback`` -> a regex with one named group per parameter."""
    parts = [f"(?P<{part[1:-1]}>[^/]+)" if part.startswith("{") else re.escape(part) for part in template.split("/")]
    return re.compile("^" + "/".join(parts) + "$")


class ProxyAdapter:
    def __init__(self, handle, document=None, claims=DEFAULT_CLAIMS, stage="v1"):
        """``handle(event) -> proxy response``; ``claims=None`` sends no authorizer claims.

        URLs may carry the stage as API Gateway's do (``/v1/agent/install``); like API
        Gateway, the adapter takes it off before matching routes.
        """
        self.handle = handle
        self.stage = f"/{stage}"
        self.document = document or contract()
        self.claims = claims
        self.routes = set(openapi.routes(self.document))
        self.templates = sorted({path for _, path in self.routes})
        self._ids = itertools.count(1)
        self.events = []

    def event(self, method, path, query="", body=None, headers=None):
        """The REST proxy event API Gateway sends for this request."""
        resource, parameters = None, None
        for template in self.templates:  # ``path`` is still URL-encoded: a %2F stays in its segment
            match = _compile(template).match(path)
            if match:
                resource = template
                parameters = {k: unquote(v) for k, v in match.groupdict().items()}
                break
        path = unquote(path)
        pairs = parse_qsl(query, keep_blank_values=True)
        multi = {}
        for key, value in pairs:
            multi.setdefault(key, []).append(value)
        encoded = False
        if isinstance(body, bytes):
            try:
                body = body.decode("utf-8")
            except UnicodeDecodeError:
                body, encoded = base64.b64encode(body).decode("ascii"), True
        return {
            "resource": resource,
            "path": path,
            "httpMethod": method,
            "headers": dict(headers or {}),
            "pathParameters": parameters,
            "queryStringParameters": {k: v[-1] for k, v in multi.items()} or None,
            "multiValueQueryStringParameters": multi or None,
            "body": body or None,
            "isBase64Encoded": encoded,
            "requestContext": {
                "requestId": f"req-{next(self._ids):06d}",
                "resourcePath": resource,
                "httpMethod": method,
                "authorizer": {"claims": dict(self.claims)} if self.claims else None,
            },
        }

    def __call__(self, environ, start_response):
        raw = environ.get("RAW_URI") or environ.get("REQUEST_URI")
        path = raw.split("?", 1)[0] if raw else quote(environ.get("PATH_INFO") or "/")
        if path.startswith(self.stage + "/"):
            path = path[len(self.stage) :]
        if path == "/openapi.json":
            start_response("200 OK", [("Content-Type", "application/json")])
            return [json.dumps(self.document).encode()]
        length = int(environ.get("CONTENT_LENGTH") or 0)
        body = environ["wsgi.input"].read(length) if length else None
        headers = {k[5:].replace("_", "-").title(): v for k, v in environ.items() if k.startswith("HTTP_")}
        if environ.get("CONTENT_TYPE"):
            headers["Content-Type"] = environ["CONTENT_TYPE"]
        event = self.event(environ["REQUEST_METHOD"], path, environ.get("QUERY_STRING", ""), body, headers)
        if (event["httpMethod"], event["resource"]) not in self.routes:
            # No such resource and method in the REST API: API Gateway answers, the handler is never called.
            return self._gateway_response(start_response, "MISSING_AUTHENTICATION_TOKEN", event)
        if self.claims and not headers.get("Authorization"):
            # The Cognito authorizer answers this itself; the handler is never called.
            return self._gateway_response(start_response, "UNAUTHORIZED", event)
        self.events.append(event)
        result = self.handle(event)
        status = result["statusCode"]
        start_response(f"{status} {_REASONS.get(status, 'Status')}", list((result.get("headers") or {}).items()))
        return [(result.get("body") or "").encode()]

    @staticmethod
    def _gateway_response(start_response, response_type, event):
        """API Gateway's own answer, as the program's gateway response for ``response_type`` shapes it."""
        response = openapi.GATEWAY_RESPONSES[response_type]
        status = int(response["statusCode"])
        template = response["responseTemplates"]["application/json"]
        body = template.replace("$context.requestId", event["requestContext"]["requestId"])
        start_response(f"{status} {_REASONS.get(status, 'Status')}", [("Content-Type", "application/json")])
        return [body.encode()]
