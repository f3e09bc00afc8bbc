"""JSON 1.0/1.1 (SSM): the operation is named by the X-Amz-Target header."""

from __future__ import annotations

from botocore.model import OperationModel, ServiceModel

from ..errors import AwsError
from . import Request, Response, dumps, error_status


class JsonRpcProtocol:
    def __init__(self, model: ServiceModel):
        self.model = model
        self.prefix = model.metadata["targetPrefix"] + "."
        self.content_type = f"application/x-amz-json-{model.metadata.get('jsonVersion', '1.0')}"

    def parse(self, request: Request) -> tuple[OperationModel, dict]:
        target = request.headers.get("x-amz-target", "")
        if not target.startswith(self.prefix):
            raise AwsError("UnknownOperationException", f"unknown target {target!r}")
        name = target[len(self.prefix) :]
        if name not in self.model.operation_names:
            raise AwsError("UnknownOperationException", f"unknown operation {name}")
        return self.model.operation_model(name), request.json()

    def render(self, op: OperationModel, result: dict | None) -> Response:
        return Response(200, dumps(result or {}), {"Content-Type": self.content_type})

    def render_error(self, error: AwsError) -> Response:
        status = error.status or error_status(self.model, error.code)
        body = {"__type": error.code, **self._message(error), **error.fields}
        return Response(status, dumps(body), {"Content-Type": self.content_type})

    def _message(self, error: AwsError) -> dict:
        """The message under the member name the modeled exception declares (SSM uses ``Message``,
        some shapes ``message``); a modeled exception without one carries none, as AWS sends it."""
        try:
            members = self.model.shape_for(error.code).members
        except Exception:  # not a modeled exception of this service
            return {"message": error.message}
        for name in ("Message", "message"):
            if name in members:
                return {name: error.message}
        return {}
