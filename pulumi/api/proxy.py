"""API Gateway proxy events in, proxy responses out; input checks that answer 400.

Only HTTP concerns live here: reading path, query and body; the error body
``{"error": "<what to fix>", "code": "<kind>"}``; JSON encoding. What a request
*means* is the core's business.
"""

from __future__ import annotations

import base64
import json
from datetime import date, datetime

JSON_HEADERS = {"Content-Type": "application/json", "Cache-Control": "no-store"}


class HttpError(Exception):
    """An answer other than success, with a message that says what to do."""

    def __init__(self, status, message, code, details=None, headers=None):
        super().__init__(message)
        self.status = status
        self.message = message
        self.code = code
        self.details = details
        self.headers = headers or {}


def bad_request(message, details=None):
    return HttpError(400, message, "ValidationError", details)


def _default(value):
    if isinstance(value, datetime | date):
        return value.isoformat()
    raise TypeError(f"not JSON serialisable: {type(value).__name__}")


def response(status, body, headers=None):
    return {
        "statusCode": status,
        "headers": {**JSON_HEADERS, **(headers or {})},
        "body": json.dumps(body, default=_default, separators=(",", ":")),
    }


def cors_headers(allowed_origins, event):
    """The CORS headers of an answer to ``event`` (API Gateway's preflights are answered without us).

    ``allowed_origins``: the stack's ``corsAllowedOrigins`` (empty: CORS off, no header).
    ``*``: any origin may read every answer. A list: the caller's ``Origin`` is named when
    it is in the list, and ``Vary: Origin`` goes on every answer, since the answer depends
    on it (Fetch standard, "CORS protocol and HTTP caches"). ``Retry-After`` (429) is not a
    header browsers let a page read unless it is exposed.
    """
    if not allowed_origins:
        return {}
    if "*" in allowed_origins:
        return {"Access-Control-Allow-Origin": "*", "Access-Control-Expose-Headers": "Retry-After"}
    headers = {"Vary": "Origin"}
    sent = (event.get("headers") if isinstance(event, dict) else None) or {}
    origin = next((v for k, v in sent.items() if isinstance(k, str) and k.lower() == "origin"), None)
    if origin in allowed_origins:
        headers.update({"Access-Control-Allow-Origin": origin, "Access-Control-Expose-Headers": "Retry-After"})
    return headers


def error_response(error: HttpError, request_id=None):
    body = {"error": error.message, "code": error.code}
    if error.details:
        body["details"] = error.details
    if request_id:
        body["requestId"] = request_id
    return response(error.status, body, error.headers)


class Request:
    """The parts of an API Gateway REST proxy event a route reads."""

    def __init__(self, event):
        if not isinstance(event, dict):
            raise bad_request("The request is not an API Gateway proxy event.")
        self.event = event
        self.method = str(event.get("httpMethod") or "").upper()
        self.resource = event.get("resource")
        self.path = event.get("path") or ""
        self.path_params = event.get("pathParameters") or {}
        self.query = event.get("queryStringParameters") or {}
        self.multi_query = event.get("multiValueQueryStringParameters") or {}
        context = event.get("requestContext") or {}
        self.request_id = context.get("requestId")
        self.claims = ((context.get("authorizer") or {}).get("claims")) or {}

    # --- identity --------------------------------------------------------------------

    @property
    def user(self):
        """Who calls, from the Cognito claims API Gateway verified (email, else username, else sub)."""
        for claim in ("email", "cognito:username", "username", "sub"):
            value = self.claims.get(claim)
            if isinstance(value, str) and value:
                return value
        return None

    # --- path and query --------------------------------------------------------------

    def path_param(self, name):
        value = self.path_params.get(name)
        if not isinstance(value, str) or not value:
            raise bad_request(f"The path parameter {name} is missing.")
        return value

    def query_value(self, name):
        """One query parameter; repeating it is an error (which one would count?)."""
        values = self.multi_query.get(name)
        if isinstance(values, list) and len(values) > 1:
            raise bad_request(f"The query parameter {name} is given {len(values)} times; give it once.")
        value = self.query.get(name)
        return value if value not in (None, "") else None

    def query_list(self, name, max_items=None):
        """A comma-separated query parameter as a list (``regions=us-east-1,us-west-2``); None when absent.

        ``max_items`` is the contract's maxItems (openapi.yaml): more is a 400, never a silent truncation.
        """
        values = self.multi_query.get(name)
        if not isinstance(values, list) or not values:
            single = self.query.get(name)
            values = [single] if single is not None else []
        if not values:
            return None
        items = [item.strip() for value in values for item in str(value).split(",")]
        if any(not item for item in items):
            raise bad_request(f"The query parameter {name} has an empty item; give comma-separated values.")
        if max_items is not None and len(items) > max_items:
            raise bad_request(f"The query parameter {name} takes at most {max_items} values, got {len(items)}.")
        return items

    def query_bool(self, name, default=False):
        value = self.query_value(name)
        if value is None:
            return default
        lowered = value.lower()
        if lowered in ("true", "1", "yes"):
            return True
        if lowered in ("false", "0", "no"):
            return False
        raise bad_request(f"The query parameter {name} must be true or false, got {value!r}.")

    # --- body ------------------------------------------------------------------------

    def json_body(self, required=True):
        """The JSON object in the body ({} when optional and absent)."""
        raw = self.event.get("body")
        if raw is None or raw == "":
            if required:
                raise bad_request("The request body is missing: send a JSON object (Content-Type: application/json).")
            return {}
        if self.event.get("isBase64Encoded"):
            try:
                raw = base64.b64decode(raw, validate=True).decode("utf-8")
            except (ValueError, UnicodeDecodeError):
                raise bad_request("The request body is not valid base64-encoded UTF-8 text.") from None
        try:
            body = json.loads(raw)
        except (ValueError, TypeError) as exc:
            raise bad_request(f"The request body is not valid JSON: {exc}.") from None
        except RecursionError:  # the decoder recurses once per nested array or object
            raise bad_request(
                "The request body nests arrays or objects too deeply to be read; send the flat JSON object the "
                "route documents."
            ) from None
        if not isinstance(body, dict):
            raise bad_request(f"The request body must be a JSON object, got {type(body).__name__}.")
        return body


def check_fields(body, allowed, required=()):
    """Unknown or missing body fields are errors that name them."""
    unknown = sorted(set(body) - set(allowed))
    if unknown:
        raise bad_request(
            f"Unknown field(s) in the request body: {', '.join(unknown)}. Allowed: {', '.join(sorted(allowed))}."
        )
    missing = [name for name in required if body.get(name) is None]
    if missing:
        raise bad_request(f"Missing required field(s): {', '.join(missing)}.")


def expect(value, kind, name):
    """``value`` of JSON type ``kind`` (str, bool, list, dict), else 400 naming the field."""
    names = {str: "a string", bool: "true or false", list: "an array", dict: "an object"}
    if value is None:
        return None
    if not isinstance(value, kind) or (kind is not bool and isinstance(value, bool)):
        raise bad_request(f"{name} must be {names[kind]}, got {json.dumps(value)[:100]}.")
    return value
