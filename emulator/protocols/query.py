"""EC2 query and AWS query (STS): form-encoded requests, XML responses."""

from __future__ import annotations

from datetime import UTC, datetime
from xml.sax.saxutils import escape

from botocore.model import OperationModel, ServiceModel, Shape

from ..errors import AwsError
from . import Request, Response, error_status


class QueryProtocol:
    """``ec2=True`` selects EC2's dialect (flattened lists, ``item`` elements, no result wrapper)."""

    def __init__(self, model: ServiceModel):
        self.model = model
        self.ec2 = model.protocol == "ec2"
        ns = model.metadata.get("xmlNamespace", "")
        self.namespace = ns if ns.endswith("/") else ns + "/"

    # Requests --------------------------------------------------------------------
    def parse(self, request: Request) -> tuple[OperationModel, dict]:
        form = request.form() if request.method == "POST" else {k: v[-1] for k, v in request.query.items()}
        name = form.pop("Action", None)
        form.pop("Version", None)
        if not name or name not in self.model.operation_names:
            raise AwsError("InvalidAction", f"The action {name} is not valid for this web service.")
        op = self.model.operation_model(name)
        params = self._structure(op.input_shape, "", form) if op.input_shape is not None else {}
        return op, params or {}

    def _key(self, name: str, member: Shape) -> str:
        if self.ec2:
            return member.serialization.get("queryName") or _upper_first(member.serialization.get("name", name))
        return member.serialization.get("name", name)

    def _structure(self, shape: Shape, prefix: str, form: dict[str, str]) -> dict:
        out = {}
        for name, member in shape.members.items():
            key = prefix + self._key(name, member)
            value = self._value(member, key, form)
            if value is not None:
                out[name] = value
        return out

    def _value(self, shape: Shape, key: str, form: dict[str, str]):
        kind = shape.type_name
        if kind == "structure":
            if not any(k.startswith(key + ".") for k in form):
                return None
            return self._structure(shape, key + ".", form)
        if kind == "list":
            if self.ec2 or shape.serialization.get("flattened"):
                base = key
            else:
                base = f"{key}.{shape.member.serialization.get('name', 'member')}"
            items = []
            i = 1
            while f"{base}.{i}" in form or any(k.startswith(f"{base}.{i}.") for k in form):
                items.append(self._value(shape.member, f"{base}.{i}", form))
                i += 1
            return items if items or key in form else None
        if key not in form:
            return None
        raw = form[key]
        if kind in ("integer", "long"):
            try:
                return int(raw)
            except ValueError as exc:
                raise AwsError("InvalidParameterValue", f"{key} must be an integer, got {raw!r}") from exc
        if kind == "boolean":
            return raw.lower() == "true"
        return raw

    # Responses -------------------------------------------------------------------
    def render(self, op: OperationModel, result: dict | None, request_id: str = "") -> Response:
        parts = [f'<?xml version="1.0" encoding="UTF-8"?>\n<{op.name}Response xmlns="{self.namespace}">']
        inner = self._render_structure(op.output_shape, result or {}) if op.output_shape is not None else ""
        if self.ec2:
            parts.append(f"<requestId>{request_id}</requestId>{inner}")
        else:
            wrapper = op.output_shape.serialization.get("resultWrapper") if op.output_shape is not None else None
            parts.append(f"<{wrapper}>{inner}</{wrapper}>" if wrapper else inner)
            parts.append(f"<ResponseMetadata><RequestId>{request_id}</RequestId></ResponseMetadata>")
        parts.append(f"</{op.name}Response>")
        return Response(200, "".join(parts).encode("utf-8"), {"Content-Type": "text/xml;charset=UTF-8"})

    def _render_structure(self, shape: Shape, value: dict) -> str:
        out = []
        for name, member in shape.members.items():
            if name in value and value[name] is not None:
                tag = member.serialization.get("name", name)
                out.append(self._render(member, tag, value[name]))
        return "".join(out)

    def _render(self, shape: Shape, tag: str, value) -> str:
        kind = shape.type_name
        if kind == "structure":
            return f"<{tag}>{self._render_structure(shape, value)}</{tag}>"
        if kind == "list":
            item_tag = shape.member.serialization.get("name", "item" if self.ec2 else "member")
            items = "".join(self._render(shape.member, item_tag, v) for v in value)
            if shape.serialization.get("flattened"):
                return items
            return f"<{tag}>{items}</{tag}>"
        if kind == "boolean":
            return f"<{tag}>{'true' if value else 'false'}</{tag}>"
        if kind == "timestamp":
            if isinstance(value, datetime):
                value = value.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%S.000Z")
            return f"<{tag}>{value}</{tag}>"
        return f"<{tag}>{escape(str(value))}</{tag}>"

    def render_error(self, error: AwsError, request_id: str = "") -> Response:
        status = error.status or error_status(self.model, error.code)
        code, message = escape(error.code), escape(error.message)
        if self.ec2:
            body = (
                f'<?xml version="1.0" encoding="UTF-8"?>\n<Response><Errors><Error><Code>{code}</Code>'
                f"<Message>{message}</Message></Error></Errors><RequestID>{request_id}</RequestID></Response>"
            )
        else:
            kind = "Receiver" if status >= 500 else "Sender"
            body = (
                f'<ErrorResponse xmlns="{self.namespace}"><Error><Type>{kind}</Type><Code>{code}</Code>'
                f"<Message>{message}</Message></Error><RequestId>{request_id}</RequestId></ErrorResponse>"
            )
        return Response(status, body.encode("utf-8"), {"Content-Type": "text/xml;charset=UTF-8"})


def _upper_first(name: str) -> str:
    return name[:1].upper() + name[1:]
