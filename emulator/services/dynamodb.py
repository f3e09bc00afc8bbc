"""DynamoDB, delegated to moto's in-process implementation.

The project only needs DynamoDB as a store (the tracking table: CreateTable, PutItem,
GetItem, UpdateItem, Query on a GSI, Scan, DeleteItem, UpdateTimeToLive), so the
emulator hands DynamoDB requests to moto's DynamoDB request handler unchanged and
returns moto's answer. No Flask server is involved: the request is replayed into
``DynamoHandler.dispatch`` the way moto's own botocore stubber does it.

State: moto keeps its backends in process-global dictionaries keyed by account and
Region. The account is passed per request (``x-moto-account-id``), so accounts and
Regions stay apart, but two emulators in one process share DynamoDB state, and
starting or resetting an emulator clears DynamoDB for every emulator in the process
(documented in emulator/README.md).
"""

from __future__ import annotations

import threading

from botocore.awsrequest import AWSPreparedRequest
from botocore.compat import HTTPHeaders

from ..protocols import Request, Response
from ..world import Backend

_LOCK = threading.Lock()  # moto's backends are not thread-safe
_HOP_HEADERS = {"host", "content-length", "connection", "accept-encoding", "transfer-encoding"}
_DROP_RESPONSE_HEADERS = {"status", "server", "date", "content-length"}


def delegate(request: Request, account_id: str, region: str) -> Response:
    """Answer one DynamoDB request (App delegate: request, account, Region -> response)."""
    from moto.core.exceptions import HTTPException
    from moto.core.request import normalize_request
    from moto.dynamodb.responses import DynamoHandler

    headers = HTTPHeaders()
    for key, value in request.headers.items():
        if key not in _HOP_HEADERS:
            headers[key] = value
    headers["x-moto-account-id"] = account_id
    url = f"https://dynamodb.{region}.amazonaws.com/"
    prepared = AWSPreparedRequest(request.method, url, headers, request.body, False)
    with _LOCK:
        normalized = normalize_request(prepared)
        try:
            status, out_headers, body = DynamoHandler.dispatch(normalized, normalized.raw_url, normalized.headers)
        except HTTPException as exc:  # moto raises some client errors instead of returning them
            status, out_headers, body = exc.code, dict(exc.get_headers()), exc.get_body()
    data = body.encode("utf-8") if isinstance(body, str) else bytes(body or b"")
    kept = {k: str(v) for k, v in dict(out_headers).items() if k.lower() not in _DROP_RESPONSE_HEADERS}
    return Response(int(status), data, kept)


def reset() -> None:
    """Forget every table moto holds (all accounts and Regions of this process)."""
    from moto.dynamodb.models import dynamodb_backends

    with _LOCK:
        dynamodb_backends.reset()


class DynamoDbBackend(Backend):
    """Placeholder in the world's registry so emulator start and admin reset clear moto's state.

    The requests themselves never reach it: the app routes DynamoDB to :func:`delegate`.
    """

    service = "dynamodb"

    @classmethod
    def load_fleet(cls, world, fleet) -> None:
        reset()


Backend_ = DynamoDbBackend
