"""rest-json (DRS): operations are routed by HTTP method and request URI template."""

from __future__ import annotations

import re
from urllib.parse import unquote

from botocore.model import OperationModel, ServiceModel

from ..errors import AwsError
from . import Request, Response, dumps, error_status


def _capture(match: re.Match) -> str:
    """``{name}`` matches one path segment, ``{name+}`` (greedy label) the rest of the path."""
    return f"(?P<{match.group(1)}>{'.+' if match.group(2) else '[^/]+'})"


class RestJsonProtocol:
    def __init__(self, model: ServiceModel):
        self.model = model
        self._routes: list[tuple[str, re.Pattern, OperationModel]] = []
        for name in model.operation_names:
            op = model.operation_model(name)
            template = op.http["requestUri"].split("?")[0]
            regex = re.sub(r"\\\{(\w+)(\\\+)?\\\}", _capture, re.escape(template))
            self._routes.append((op.http["method"], re.compile(f"^{regex}$"), op))

    def parse(self, request: Request) -> tuple[OperationModel, dict]:
        for method, regex, op in self._routes:
            if method != request.method:
                continue
            match = regex.match(request.path)
            if match:
                return op, self._params(op, request, match.groupdict())
        raise AwsError("UnknownOperationException", f"no operation at {request.method} {request.path}", 404)

    @staticmethod
    def _params(op: OperationModel, request: Request, uri: dict[str, str]) -> dict:
        params = request.json() if request.method in ("POST", "PUT", "PATCH") else {}
        shape = op.input_shape
        if shape is None:
            return params
        for name, member in shape.members.items():
            where = member.serialization.get("location")
            wire = member.serialization.get("name", name)
            if where == "uri" and wire in uri:
                params[name] = unquote(uri[wire])
            elif where == "querystring" and wire in request.query:
                values = request.query[wire]
                if member.type_name == "list":
                    params[name] = values
                elif member.type_name in ("integer", "long"):
                    params[name] = int(values[-1])
                else:
                    params[name] = values[-1]
            elif where == "header" and wire.lower() in request.headers:
                params[name] = request.headers[wire.lower()]
        return params

    def render(self, op: OperationModel, result: dict | None) -> Response:
        headers = {"Content-Type": "application/json"}
        body = dict(result or {})
        shape = op.output_shape
        if shape is not None:
            for name, member in shape.members.items():
                if member.serialization.get("location") == "header" and name in body:
                    headers[member.serialization.get("name", name)] = str(body.pop(name))
        status = op.http.get("responseCode", 200)
        return Response(status, b"" if status == 204 else dumps(body), headers)

    def render_error(self, error: AwsError) -> Response:
        status = error.status or error_status(self.model, error.code)
        headers = {"Content-Type": "application/json", "x-amzn-ErrorType": error.code}
        body = {"message": error.message}
        try:
            shape = self.model.shape_for(error.code)
            members = shape.members
        except Exception:
            members = {}
        for name, value in error.fields.items():
            member = members.get(name)
            if member is not None and member.serialization.get("location") == "header":
                headers[member.serialization.get("name", name)] = str(value)
            else:
                body[name] = value
        if "code" in members and "code" not in body:
            body["code"] = error.code
        return Response(status, dumps(body), headers)
