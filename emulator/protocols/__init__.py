"""Wire protocols, driven by the botocore service models.

Each protocol turns an HTTP request into ``(operation_name, params)`` in the shape
botocore would have serialized, and renders a backend's result dict or an
:class:`~emulator.errors.AwsError` the way the service answers: rest-json (DRS),
JSON 1.1 (SSM), EC2 query and query (STS). The backends never see the wire format.
"""

from __future__ import annotations

import functools
import json
import re
import secrets
from dataclasses import dataclass, field
from datetime import datetime
from urllib.parse import parse_qs

import botocore.session
from botocore.model import OperationModel, ServiceModel, Shape

from ..errors import AwsError, ValidationError


@dataclass
class Request:
    method: str
    path: str
    query: dict[str, list[str]]
    headers: dict[str, str]  # lower-case keys
    body: bytes

    @classmethod
    def build(cls, method: str, raw_path: str, headers: dict[str, str], body: bytes) -> Request:
        path, _, qs = raw_path.partition("?")
        return cls(
            method=method.upper(),
            path=path,
            query=parse_qs(qs, keep_blank_values=True),
            headers={k.lower(): v for k, v in headers.items()},
            body=body,
        )

    def json(self) -> dict:
        if not self.body.strip():
            return {}
        try:
            data = json.loads(self.body)
        except ValueError as exc:
            raise AwsError("SerializationException", f"request body is not valid JSON: {exc}") from exc
        if not isinstance(data, dict):
            raise AwsError("SerializationException", "request body must be a JSON object")
        return data

    def form(self) -> dict[str, str]:
        return {k: v[-1] for k, v in parse_qs(self.body.decode("utf-8"), keep_blank_values=True).items()}


@dataclass
class Response:
    status: int
    body: bytes = b""
    headers: dict[str, str] = field(default_factory=dict)


@functools.cache
def service_model(name: str) -> ServiceModel:
    """The botocore model of a service (the emulator's specification)."""
    return botocore.session.get_session().get_service_model(name)


def error_status(model: ServiceModel, code: str, default: int = 400) -> int:
    try:
        shape = model.shape_for(code)
    except Exception:  # not a modeled exception of this service
        return default
    return shape.metadata.get("error", {}).get("httpStatusCode", default)


def json_default(value):
    """JSON protocols render timestamps as epoch seconds (botocore's default for them)."""
    if isinstance(value, datetime):
        return value.timestamp()
    raise TypeError(f"not JSON serializable: {type(value).__name__}")


class RawJson:
    """JSON text a backend encoded already (cached parts of large listings); ``dumps`` splices it in as is."""

    __slots__ = ("text",)

    def __init__(self, text: str):
        self.text = text


def dumps(data: dict) -> bytes:
    spliced: list[str] = []
    marker = f"\x00{secrets.token_hex(8)}:"  # random per call: no real value starts with NUL + this nonce

    def default(value):
        if isinstance(value, RawJson):
            spliced.append(value.text)
            return f"{marker}{len(spliced) - 1}"
        return json_default(value)

    text = json.dumps(data, default=default, separators=(",", ":"))
    if not spliced:
        return text.encode("utf-8")
    pieces = text.split(json.dumps(marker)[:-1])  # each piece after the first starts with: <index>"
    out = [pieces[0]]
    for piece in pieces[1:]:
        index, _, rest = piece.partition('"')
        out += (spliced[int(index)], rest)
    return "".join(out).encode("utf-8")


# Server-side constraint checks ---------------------------------------------------
# botocore validates required members and types on the client; AWS additionally
# enforces max lengths, max list sizes, ranges, enums and patterns on the server and
# answers with the generic validation message below. We do the same, from the model.


def _describe(value) -> str:
    text = json.dumps(value, default=str) if not isinstance(value, str) else value
    return text if len(text) <= 80 else text[:77] + "..."


def _check(shape: Shape, value, path: str, problems: list[str]) -> None:
    meta = shape.metadata
    kind = shape.type_name
    if kind == "structure" and isinstance(value, dict):
        for name, member in shape.members.items():
            if name in value and value[name] is not None:
                label = name[:1].lower() + name[1:]
                _check(member, value[name], f"{path}.{label}" if path else label, problems)
        return
    if kind == "list" and isinstance(value, list):
        if "max" in meta and len(value) > meta["max"]:
            problems.append(
                f"Value '{_describe(value)}' at '{path}' failed to satisfy constraint: "
                f"Member must have length less than or equal to {meta['max']}"
            )
        if "min" in meta and len(value) < meta["min"]:
            problems.append(
                f"Value '{_describe(value)}' at '{path}' failed to satisfy constraint: "
                f"Member must have length greater than or equal to {meta['min']}"
            )
        for i, item in enumerate(value):
            _check(shape.member, item, f"{path}.{i + 1}.member", problems)
        return
    if kind == "map" and isinstance(value, dict):
        if "max" in meta and len(value) > meta["max"]:
            problems.append(
                f"Value at '{path}' failed to satisfy constraint: "
                f"Member must have length less than or equal to {meta['max']}"
            )
        for key, item in value.items():
            _check(shape.value, item, f"{path}.{key}", problems)
        return
    if kind == "string" and isinstance(value, str):
        if "max" in meta and len(value) > meta["max"]:
            problems.append(
                f"Value '{_describe(value)}' at '{path}' failed to satisfy constraint: "
                f"Member must have length less than or equal to {meta['max']}"
            )
        elif "min" in meta and len(value) < meta["min"]:
            problems.append(
                f"Value '{_describe(value)}' at '{path}' failed to satisfy constraint: "
                f"Member must have length greater than or equal to {meta['min']}"
            )
        elif shape.enum and value not in shape.enum:
            problems.append(
                f"Value '{_describe(value)}' at '{path}' failed to satisfy constraint: "
                f"Member must satisfy enum value set: [{', '.join(shape.enum)}]"
            )
        elif "pattern" in meta and not _pattern_ok(meta["pattern"], value):
            problems.append(
                f"Value '{_describe(value)}' at '{path}' failed to satisfy constraint: "
                f"Member must satisfy regular expression pattern: {meta['pattern']}"
            )
        return
    if kind in ("integer", "long") and isinstance(value, int) and not isinstance(value, bool):
        if "max" in meta and value > meta["max"]:
            problems.append(
                f"Value '{value}' at '{path}' failed to satisfy constraint: "
                f"Member must have value less than or equal to {meta['max']}"
            )
        if "min" in meta and value < meta["min"]:
            problems.append(
                f"Value '{value}' at '{path}' failed to satisfy constraint: "
                f"Member must have value greater than or equal to {meta['min']}"
            )


@functools.cache
def _compiled(pattern: str):
    try:
        return re.compile(pattern, re.DOTALL)
    except re.error:  # a Java-only construct: AWS checks it, we cannot
        return None


def _pattern_ok(pattern: str, value: str) -> bool:
    regex = _compiled(pattern)
    return regex is None or regex.fullmatch(value) is not None


def validate_input(operation: OperationModel, params: dict) -> None:
    """Raise the service's validation error when ``params`` break the model's constraints."""
    if operation.input_shape is None:
        return
    problems: list[str] = []
    _check(operation.input_shape, params, "", problems)
    if problems:
        count = len(problems)
        noun = "error" if count == 1 else "errors"
        raise ValidationError(f"{count} validation {noun} detected: " + "; ".join(problems))
