"""Strict validation of raw response bodies against botocore output shapes.

Used by the fidelity tests: a JSON response passes only when every member is known to
the model, every required member is present, every value has the modeled type, every
enum value is in the model's enum, list/string/number limits hold and strings match the
model's patterns. An EC2/query XML response passes when every element is known to the
model and scalars are well-typed (enums, integers, booleans, timestamps, list and string
limits, patterns).
An error passes only when its code is one the operation declares in the model or one
the service answers on any operation (:data:`COMMON_ERRORS`), and a JSON error body
must match the exception's modeled shape. botocore's own parsers are lenient (they drop
unknown members and accept any error code), so this is the check that keeps the
emulator honest.
"""

from __future__ import annotations

import json
import re
import xml.etree.ElementTree as ET
from datetime import datetime

from botocore.model import OperationModel, Shape

# Errors a service answers on ANY operation, whatever the operation's own ``errors`` list
# in the model says. Each API reference has a "Common Errors" page with the same list
# ("errors common to the API actions of all AWS services"), e.g.
# https://docs.aws.amazon.com/drs/latest/APIReference/CommonErrors.html and
# https://docs.aws.amazon.com/systems-manager/latest/APIReference/CommonErrors.html
_COMMON_ERRORS = frozenset(
    {
        "AccessDeniedException",
        "IncompleteSignature",
        "InternalFailure",
        "InvalidAction",
        "InvalidClientTokenId",
        "NotAuthorized",
        "OptInRequired",
        "RequestExpired",
        "ServiceUnavailable",
        "ThrottlingException",
        "ValidationError",
    }
)
# The JSON protocols send the common ValidationError ("The input fails to satisfy the
# constraints specified by an AWS service") as ValidationException -- the DRS model's own
# ValidationException carries that very description; SSM answers a model constraint with
# "ValidationException: 1 validation error detected: ... failed to satisfy constraint"
# on operations that do not declare it (SendCommand: disneystreaming/ssm-helpers#47,
# aws-samples/bottlerocket-images-cache#11).
_JSON_COMMON_ERRORS = _COMMON_ERRORS | {"ValidationException"}
# EC2 operations declare no errors in the model; the EC2 API Reference "Error codes for
# the Amazon EC2 API" (https://docs.aws.amazon.com/AWSEC2/latest/APIReference/errors-overview.html)
# lists the common client errors every action can return, the server errors, and the
# action-specific ones (here those of the instance APIs).
_EC2_ERRORS = frozenset(
    {
        # common client errors
        "AuthFailure",
        "Blocked",
        "DryRunOperation",
        "IdempotentParameterMismatch",
        "IncompleteSignature",
        "InvalidAction",
        "InvalidCharacter",
        "InvalidClientTokenId",
        "InvalidPaginationToken",
        "InvalidParameter",
        "InvalidParameterCombination",
        "InvalidParameterDependency",
        "InvalidParameterValue",
        "InvalidQueryParameter",
        "MalformedQueryString",
        "MissingAction",
        "MissingAuthenticationToken",
        "MissingParameter",
        "OptInRequired",
        "PendingVerification",
        "RequestExpired",
        "UnauthorizedOperation",
        "UnknownParameter",
        "UnsupportedInstanceAttribute",
        "UnsupportedOperation",
        "UnsupportedProtocol",
        "ValidationError",
        # server errors
        "InternalError",
        "RequestLimitExceeded",
        "ServiceUnavailable",
        "Unavailable",
        # action-specific (describe calls: "The request uses too many filters or too many filter values.")
        "FilterLimitExceeded",
        # action-specific (instances)
        "InvalidInstanceID.Malformed",
        "InvalidInstanceID.NotFound",
    }
)
COMMON_ERRORS: dict[str, frozenset[str]] = {
    "drs": _JSON_COMMON_ERRORS,
    "ssm": _JSON_COMMON_ERRORS,
    "dynamodb": _JSON_COMMON_ERRORS,
    "ec2": _EC2_ERRORS,
    # STS throttles with the code "Throttling" (<Code>Throttling</Code><Message>Rate exceeded</Message>,
    # jlevers/selling-partner-api#278), which botocore's retryer knows.
    "sts": _COMMON_ERRORS | {"Throttling"},
}
# Model patterns that real answers break, so responses are not held to them (shape name -> service).
PATTERNS_REAL_ANSWERS_BREAK = {
    # SSM's StringDateTime admits one fractional digit, yet SSM sends milliseconds:
    # "ExecutionStartDateTime": "2019-02-14T19:26:26.439Z" (aws/aws-cli awscli/examples/ssm/get-command-invocation.rst).
    "StringDateTime": "ssm",
}
# The emulator's own answer (HTTP 501) for an operation it does not emulate: never a
# claim about AWS, so never checked against the model.
EMULATOR_ERRORS = frozenset({"NotImplemented"})


class ShapeMismatch(AssertionError):
    pass


def _fail(path: str, message: str) -> None:
    raise ShapeMismatch(f"{path or '<root>'}: {message}")


def check_json(shape: Shape, value, path: str = "") -> None:
    """Validate a decoded JSON value against ``shape`` (JSON and rest-json protocols)."""
    kind = shape.type_name
    if kind == "structure":
        if not isinstance(value, dict):
            _fail(path, f"expected object for {shape.name}, got {type(value).__name__}")
        elsewhere = ("header", "headers", "statusCode")
        body_members = {n: m for n, m in shape.members.items() if m.serialization.get("location") not in elsewhere}
        wire = {m.serialization.get("name", n): n for n, m in body_members.items()}
        for key, item in value.items():
            if key not in wire and key not in body_members:
                _fail(path, f"unknown member {key!r} (not in {shape.name})")
            name = wire.get(key, key)
            if item is None:
                _fail(f"{path}.{key}", "null is never sent by AWS for a present member")
            check_json(body_members[name], item, f"{path}.{key}")
        for required in shape.required_members:
            member = shape.members[required]
            if member.serialization.get("location"):
                continue
            if member.serialization.get("name", required) not in value and required not in value:
                _fail(path, f"required member {required!r} of {shape.name} is missing")
        return
    if kind == "list":
        if not isinstance(value, list):
            _fail(path, f"expected list for {shape.name}, got {type(value).__name__}")
        _limits(shape, len(value), path, "items")
        for i, item in enumerate(value):
            check_json(shape.member, item, f"{path}[{i}]")
        return
    if kind == "map":
        if not isinstance(value, dict):
            _fail(path, f"expected map for {shape.name}, got {type(value).__name__}")
        _limits(shape, len(value), path, "entries")
        for key, item in value.items():
            check_json(shape.key, key, f"{path}<key>")
            check_json(shape.value, item, f"{path}[{key!r}]")
        return
    if kind == "string":
        if not isinstance(value, str):
            _fail(path, f"expected string for {shape.name}, got {type(value).__name__}: {value!r}")
        _check_string(shape, value, path)
        return
    if kind in ("integer", "long"):
        if not isinstance(value, int) or isinstance(value, bool):
            _fail(path, f"expected integer for {shape.name}, got {value!r}")
        _range(shape, value, path)
        return
    if kind in ("float", "double"):
        if not isinstance(value, int | float) or isinstance(value, bool):
            _fail(path, f"expected number for {shape.name}, got {value!r}")
        return
    if kind == "boolean":
        if not isinstance(value, bool):
            _fail(path, f"expected boolean for {shape.name}, got {value!r}")
        return
    if kind == "timestamp":
        if isinstance(value, bool) or not isinstance(value, int | float | str):
            _fail(path, f"expected timestamp for {shape.name}, got {value!r}")
        if isinstance(value, str):
            try:
                datetime.fromisoformat(value.replace("Z", "+00:00"))
            except ValueError:
                _fail(path, f"timestamp {value!r} is not ISO 8601")
        return
    if kind == "blob":
        if not isinstance(value, str):
            _fail(path, f"expected base64 string for {shape.name}")
        return
    _fail(path, f"unhandled shape type {kind}")


def _pattern(shape: Shape) -> re.Pattern | None:
    """The model's pattern of a string shape, or None (no pattern, or a Java-only construct Python cannot compile)."""
    pattern = shape.metadata.get("pattern")
    if pattern is None or shape.name in PATTERNS_REAL_ANSWERS_BREAK:
        return None
    try:
        return re.compile(pattern, re.DOTALL)
    except re.error:
        return None


def _check_string(shape, value, path):
    """A string member's enum, length limits and pattern (JSON and XML answers alike)."""
    if shape.enum and value not in shape.enum:
        _fail(path, f"{value!r} is not in enum {shape.name} {list(shape.enum)}")
    _limits(shape, len(value), path, "characters")
    pattern = _pattern(shape)
    if pattern is not None and not pattern.fullmatch(value):
        _fail(path, f"{value!r} does not match the pattern {shape.metadata['pattern']} of {shape.name}")


def _limits(shape: Shape, size: int, path: str, unit: str) -> None:
    meta = shape.metadata
    if "min" in meta and size < meta["min"]:
        _fail(path, f"{size} {unit} < min {meta['min']} of {shape.name}")
    if "max" in meta and size > meta["max"]:
        _fail(path, f"{size} {unit} > max {meta['max']} of {shape.name}")


def _range(shape: Shape, value: int, path: str) -> None:
    meta = shape.metadata
    if "min" in meta and value < meta["min"]:
        _fail(path, f"{value} < min {meta['min']} of {shape.name}")
    if "max" in meta and value > meta["max"]:
        _fail(path, f"{value} > max {meta['max']} of {shape.name}")


def check_json_response(operation: OperationModel, body: bytes) -> dict:
    """Validate a raw JSON response body; returns the decoded body."""
    data = json.loads(body) if body.strip() else {}
    if operation.output_shape is None:
        if data:
            _fail("", f"{operation.name} has no output shape but the body is {data!r}")
        return data
    check_json(operation.output_shape, data)
    return data


def check_error_code(operation: OperationModel, code: str) -> None:
    """The error code must be declared by the operation, or answered by the service on any operation."""
    if code in EMULATOR_ERRORS:
        return
    declared = {shape.metadata.get("error", {}).get("code", shape.name) for shape in operation.error_shapes}
    declared |= {shape.name for shape in operation.error_shapes}
    common = COMMON_ERRORS.get(operation.service_model.service_name, _COMMON_ERRORS)
    if code not in declared and code not in common:
        _fail(
            "",
            f"error {code!r} is neither declared by {operation.name} {sorted(declared)} "
            f"nor common to every {operation.service_model.service_name} operation (validate.COMMON_ERRORS)",
        )


def check_json_error(model, body: bytes, code: str) -> dict:
    """Validate a JSON error body against the modeled exception shape (if modeled)."""
    data = json.loads(body)
    try:
        shape = model.shape_for(code)
    except Exception:
        shape = None
    if shape is not None:
        payload = {k: v for k, v in data.items() if k not in ("__type",)}
        check_json(shape, payload)
    return data


def check_xml_response(operation: OperationModel, body: bytes, ec2: bool = True) -> ET.Element:
    """Validate an EC2/query XML body: every element known to the shape, scalars well-typed."""
    root = ET.fromstring(body)
    ns = root.tag.split("}")[0] + "}" if root.tag.startswith("{") else ""
    if root.tag != f"{ns}{operation.name}Response":
        _fail("", f"root element {root.tag} is not {operation.name}Response")
    container = root
    if not ec2:
        wrapper = operation.output_shape.serialization.get("resultWrapper")
        container = root.find(f"{ns}{wrapper}") if wrapper else root
        if container is None:
            _fail("", f"missing result wrapper {wrapper}")
    skip = {"requestId", "ResponseMetadata"}
    _check_xml(operation.output_shape, container, ns, "", skip)
    return root


def _check_xml(shape: Shape, element: ET.Element, ns: str, path: str, skip=frozenset()) -> None:
    kind = shape.type_name
    if kind == "structure":
        by_tag = {m.serialization.get("name", n): m for n, m in shape.members.items()}
        for child in element:
            tag = child.tag[len(ns) :] if child.tag.startswith(ns) else child.tag
            if tag in skip:
                continue
            if tag not in by_tag:
                _fail(path, f"unknown element <{tag}> in {shape.name}")
            _check_xml(by_tag[tag], child, ns, f"{path}.{tag}")
        return
    if kind == "list":
        items = list(element)
        _limits(shape, len(items), path, "items")
        for i, item in enumerate(items):
            _check_xml(shape.member, item, ns, f"{path}[{i}]")
        return
    text = element.text or ""
    if len(element):
        _fail(path, f"scalar {shape.name} has child elements")
    if kind == "string":
        _check_string(shape, text, path)
    if kind in ("integer", "long"):
        try:
            int(text)
        except ValueError:
            _fail(path, f"{text!r} is not an integer")
    if kind == "boolean" and text not in ("true", "false"):
        _fail(path, f"{text!r} is not a boolean")
    if kind == "timestamp":
        try:
            datetime.fromisoformat(text.replace("Z", "+00:00"))
        except ValueError:
            _fail(path, f"{text!r} is not an ISO 8601 timestamp")


class StrictResponses:
    """Validate every raw response a boto3 client receives (hooked on ``before-parse``).

    ``StrictResponses(client)`` then make calls; a response that does not match the
    model raises :class:`ShapeMismatch` inside the call. ``seen`` lists the validated
    operation names (with ``!Code`` for errors) so tests can assert coverage.
    """

    def __init__(self, client):
        self.client = client
        self.model = client.meta.service_model
        self.seen: list[str] = []
        client.meta.events.register(f"before-parse.{self.model.service_name}.*", self._check)

    def _check(self, operation_model, response_dict, **_):
        status = response_dict["status_code"]
        body = response_dict["body"]
        protocol = self.model.protocol
        if status >= 300:
            if protocol in ("json", "rest-json"):
                data = json.loads(body)
                code = response_dict["headers"].get("x-amzn-ErrorType", data.get("__type", "")).split(":")[0]
                check_error_code(operation_model, code)
                check_json_error(self.model, body, code)
                self.seen.append(f"{operation_model.name}!{code}")
            else:
                root = ET.fromstring(body)
                codes = [e.text for e in root.iter() if e.tag.endswith("Code")]
                if not codes:
                    _fail("", f"error body without a Code: {body[:200]!r}")
                check_error_code(operation_model, codes[0])
                self.seen.append(f"{operation_model.name}!{codes[0]}")
            return
        if protocol in ("json", "rest-json"):
            check_json_response(operation_model, body)
        else:
            check_xml_response(operation_model, body, ec2=protocol == "ec2")
        self.seen.append(operation_model.name)
