"""The HTTP endpoint: SigV4 scope -> service, account and region; protocol -> operation; backend.

Listens on 127.0.0.1 only. Every AWS call goes through the same steps: fault decision
(latency, throttling, injected failure), due lifecycle events, server-side input
validation from the model, the backend, the call log. Admin calls live under
``/_emulator`` (a path no AWS API uses); see ``emulator/README.md``.
"""

from __future__ import annotations

import contextlib
import functools
import json
import re
import socket
import threading
import time
from collections.abc import Callable
from http import HTTPStatus
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import botocore.session
from botocore import xform_name

from . import ADMIN_PREFIX, DEFAULT_PORT, DEFAULT_REGION
from .clock import iso
from .errors import AwsError, NotEmulated
from .fleet import Fleet, FleetError
from .protocols import Request, Response, service_model, validate_input
from .protocols.json_rpc import JsonRpcProtocol
from .protocols.query import QueryProtocol
from .protocols.rest_json import RestJsonProtocol
from .world import World

_CREDENTIAL = re.compile(r"Credential=([^/,\s]+)/(\d{8})/([^/]+)/([^/]+)/aws4_request")

# How each service says "slow down" (code, HTTP status, message).
THROTTLE = {
    "drs": ("ThrottlingException", 429, "Rate exceeded"),
    "ssm": ("ThrottlingException", 400, "Rate exceeded"),
    "ec2": ("RequestLimitExceeded", 503, "Request limit exceeded."),
    "sts": ("Throttling", 400, "Rate exceeded"),
    "dynamodb": ("ThrottlingException", 400, "Rate exceeded."),
}

Delegate = Callable[[Request, str, str], Response]  # (request, account_id, region) -> response


class Disconnect(Exception):
    """Close the connection without answering (an ambiguous failure for the client)."""


class App:
    """Routes requests to protocol + backend. Independent of the HTTP server for testing."""

    def __init__(self, world: World):
        self.world = world
        self.protocols: dict[str, object] = {}
        self.delegates: dict[str, Delegate] = {}
        self._request_ids = 0

    def add_service(self, service: str) -> None:
        model = service_model(service)
        if model.protocol == "rest-json":
            self.protocols[service] = RestJsonProtocol(model)
        elif model.protocol == "json":
            self.protocols[service] = JsonRpcProtocol(model)
        elif model.protocol in ("query", "ec2"):
            self.protocols[service] = QueryProtocol(model)
        else:
            raise ValueError(f"protocol {model.protocol} of {service} is not supported")

    def add_delegate(self, service: str, delegate: Delegate) -> None:
        self.delegates[service] = delegate

    def _request_id(self) -> str:
        with self.world.lock:
            self._request_ids += 1
            return f"{self._request_ids:08x}-0000-4000-8000-{self._request_ids:012x}"

    # Dispatch ------------------------------------------------------------------------
    def handle(self, request: Request) -> Response:
        if request.path.startswith(ADMIN_PREFIX):
            return self.admin(request)
        service, region, access_key = self._scope(request)
        account_id = self.world.account_for_access_key(access_key)
        if service in self.delegates:
            return self._delegate(service, request, account_id, region)
        protocol = self.protocols.get(service)
        if protocol is None:
            return self._not_emulated(service)
        request_id = self._request_id()
        op = None
        params: dict = {}
        try:
            op, params = protocol.parse(request)
            decision = self.world.faults.decide(service, op.name)
            if decision.latency:
                time.sleep(decision.latency)
            if decision.throttle:
                code, status, message = THROTTLE.get(service, THROTTLE["ssm"])
                fields = {"retryAfterSeconds": "1"} if service == "drs" else {}
                raise AwsError(code, message, status, **fields)
            fail = decision.fail
            if fail and fail["mode"] == "before":
                raise AwsError(fail["code"], "injected failure (not executed)", fail["status"])
            with self.world.lock:
                self.world.run_due_events()
                validate_input(op, params)
                backend = self.world.backend(service, account_id, region)
                method = getattr(backend, xform_name(op.name), None)
                if method is None:
                    raise NotEmulated(service, op.name)
                result = method(params)
            if fail and fail["mode"] == "after":
                raise AwsError(fail["code"], "injected failure (the request was executed)", fail["status"])
            if fail and fail["mode"] == "disconnect":
                self._log(service, op, account_id, region, params, 0, "Disconnect", request_id)
                raise Disconnect()
            response = self._render(protocol, op, result, request_id)
            self._log(service, op, account_id, region, params, response.status, None, request_id)
        except AwsError as error:
            response = self._render_error(protocol, error, request_id)
            self._log(service, op, account_id, region, params, response.status, error.code, request_id)
        response.headers.setdefault("x-amzn-RequestId", request_id)
        return response

    def _delegate(self, service: str, request: Request, account_id: str, region: str) -> Response:
        """A delegated service (DynamoDB -> moto), with the same faults and call log as the others."""
        operation = request.headers.get("x-amz-target", "?").split(".")[-1]
        decision = self.world.faults.decide(service, operation)
        if decision.latency:
            time.sleep(decision.latency)
        fail = decision.fail
        if decision.throttle:
            code, status, message = THROTTLE.get(service, THROTTLE["ssm"])
            response = _json_error(status, code, message)
        elif fail and fail["mode"] == "before":
            response = _json_error(fail["status"], fail["code"], "injected failure (not executed)")
        else:
            response = self.delegates[service](request, account_id, region)
            if fail and fail["mode"] == "after":
                response = _json_error(fail["status"], fail["code"], "injected failure (the request was executed)")
        error = None
        if fail and fail["mode"] == "disconnect":
            error = "Disconnect"
        elif response.status >= 300:
            error = _error_type(response)
        self.world.record_call(
            {
                "time": iso(self.world.clock.now()),
                "service": service,
                "operation": operation,
                "account_id": account_id,
                "region": region,
                "status": 0 if error == "Disconnect" else response.status,
                "error": error,
            }
        )
        if error == "Disconnect":
            raise Disconnect()
        return response

    def _not_emulated(self, service: str) -> Response:
        """Answer in the service's own error format when botocore knows it, so clients fail cleanly."""
        message = f"service {service!r} is not emulated (emulated: {sorted(set(self.protocols) | set(self.delegates))})"
        model = model_for_signing_name(service)
        if model is None:
            return _plain(400, message)
        protocol = {"rest-json": RestJsonProtocol, "json": JsonRpcProtocol}.get(model.protocol, QueryProtocol)(model)
        return self._render_error(protocol, AwsError("NotImplemented", message, 501), self._request_id())

    @staticmethod
    def _render(protocol, op, result, request_id) -> Response:
        if isinstance(protocol, QueryProtocol):
            return protocol.render(op, result, request_id)
        return protocol.render(op, result)

    @staticmethod
    def _render_error(protocol, error, request_id) -> Response:
        if isinstance(protocol, QueryProtocol):
            return protocol.render_error(error, request_id)
        return protocol.render_error(error)

    def _log(self, service, op, account_id, region, params, status, error, request_id) -> None:
        self.world.record_call(
            {
                "time": iso(self.world.clock.now()),
                "service": service,
                "operation": op.name if op is not None else "?",
                "account_id": account_id,
                "region": region,
                "params": params,
                "status": status,
                "error": error,
                "request_id": request_id,
            }
        )

    def _scope(self, request: Request) -> tuple[str, str, str | None]:
        auth = request.headers.get("authorization", "")
        match = _CREDENTIAL.search(auth) or _CREDENTIAL.search(
            "Credential=" + (request.query.get("X-Amz-Credential", [""])[-1])
        )
        if match:
            access_key, _, region, service, *_ = match.groups()
            return service, region, access_key
        target = request.headers.get("x-amz-target", "")
        if target.startswith("AmazonSSM."):
            return "ssm", DEFAULT_REGION, None
        if target.startswith("DynamoDB_"):
            return "dynamodb", DEFAULT_REGION, None
        return "unknown", DEFAULT_REGION, None

    # Admin ---------------------------------------------------------------------------
    def admin(self, request: Request) -> Response:
        path = request.path[len(ADMIN_PREFIX) :].strip("/")
        try:
            body = request.json() if request.body else {}
            return _json(200, self._admin(request.method, path, body, request.query))
        except (ValueError, FleetError, TypeError) as exc:
            return _json(400, {"error": str(exc)})
        except KeyError as exc:
            return _json(404, {"error": f"unknown admin call {request.method} {request.path}: {exc}"})
        except AwsError as exc:
            return _json(exc.status or 400, {"error": exc.message, "code": exc.code})

    def _admin(self, method: str, path: str, body: dict, query: dict) -> dict:
        world = self.world
        if path == "health":
            return {"ok": True, "services": sorted(set(self.protocols) | set(self.delegates)), "now": iso(world.now())}
        if path == "clock":
            if method == "POST":
                if "speed" in body:
                    world.clock.set_speed(float(body["speed"]))
                if "advance" in body:
                    world.advance(float(body["advance"]))
            with world.lock:
                world.run_due_events()
            return {"now": iso(world.clock.now()), "speed": world.clock.speed, "pending_events": world.pending_events()}
        if path == "calls":
            if method == "DELETE":
                world.reset_calls()
                return {"calls": [], "counts": {}}
            since = int(query.get("since", ["0"])[-1])
            with world.lock:
                calls = [c for c in world.calls if c["seq"] > since]
                return {"counts": dict(world.call_counts), "calls": calls}
        if path == "faults":
            if method == "POST":
                world.faults.load(body)
            elif method == "DELETE":
                world.faults.clear()
            return world.faults.to_dict()
        if path == "reset":
            fleet = Fleet.from_dict(body["fleet"]) if "fleet" in body else None
            if "speed" in body:
                world.clock.set_speed(float(body["speed"]))
            world.reset(fleet)
            return {"ok": True, "now": iso(world.now())}
        if path == "fleet" and method == "GET":
            return world.fleet.to_dict()
        service, _, action = path.partition("/")
        if service in world.services and action:
            with world.lock:
                world.run_due_events()
                account = str(body.pop("account_id", world.fleet.account_id))
                region = str(body.pop("region", world.fleet.region))
                return world.backend(service, account, region).admin(action, body)
        raise KeyError(path)


@functools.cache
def model_for_signing_name(signing_name: str):
    """The botocore model a SigV4 scope names (``servicequotas`` -> ``service-quotas``), or None.

    Signing names are service names, sometimes without their hyphens; only names are
    compared, so no model is loaded but the one returned.
    """
    names = botocore.session.get_session().get_available_services()
    for name in names:
        if signing_name in (name, name.replace("-", "")):
            return service_model(name)
    return None


def _json(status: int, data: dict) -> Response:
    return Response(status, json.dumps(data, default=str).encode(), {"Content-Type": "application/json"})


def _json_error(status: int, code: str, message: str) -> Response:
    """An error in the JSON 1.0 shape (``__type`` + ``message``) delegated services answer with."""
    body = json.dumps({"__type": code, "message": message}).encode()
    return Response(status, body, {"Content-Type": "application/x-amz-json-1.0", "x-amzn-ErrorType": code})


def _error_type(response: Response) -> str:
    """The error code of a delegated service's error response (``ns#Code`` -> ``Code``)."""
    try:
        code = json.loads(response.body or b"{}").get("__type", "")
    except ValueError:
        code = ""
    return (code or response.headers.get("X-Amzn-ErrorType", "") or str(response.status)).split("#")[-1]


def _plain(status: int, text: str) -> Response:
    return Response(status, text.encode(), {"Content-Type": "text/plain"})


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    # Headers and body go out in separate writes: without TCP_NODELAY every kept-alive
    # call would stall ~40 ms on delayed ACKs, which would distort every benchmark.
    disable_nagle_algorithm = True
    app: App  # set on the subclass the server creates

    def _serve(self) -> None:
        length = int(self.headers.get("Content-Length") or 0)
        body = self.rfile.read(length) if length else b""
        request = Request.build(self.command, self.path, dict(self.headers.items()), body)
        try:
            response = self.app.handle(request)
        except Disconnect:
            self.close_connection = True
            with contextlib.suppress(OSError):  # the client may already be gone
                self.connection.shutdown(socket.SHUT_RDWR)
            return
        except Exception as exc:  # a bug in the emulator: answer 500 and say so
            response = _json(500, {"__type": "InternalFailure", "message": f"emulator bug: {exc!r}"})
            self.server.errors.append(repr(exc))  # type: ignore[attr-defined]
        try:
            phrase = HTTPStatus(response.status).phrase
        except ValueError:
            phrase = ""
        self.send_response(response.status, phrase)
        for key, value in response.headers.items():
            self.send_header(key, value)
        self.send_header("Content-Length", str(len(response.body)))
        self.end_headers()
        if self.command != "HEAD":
            self.wfile.write(response.body)

    def date_time_string(self, timestamp=None) -> str:
        """The Date header carries virtual time: the service's clock, as AWS's Date is AWS's."""
        return self.app.world.clock.now().strftime("%a, %d %b %Y %H:%M:%S GMT")

    do_GET = do_POST = do_PUT = do_DELETE = do_PATCH = do_HEAD = _serve

    def log_message(self, format, *args):  # quiet unless --verbose
        if getattr(self.server, "verbose", False):
            super().log_message(format, *args)


class EmulatorServer:
    """An emulator on 127.0.0.1; ``start()`` serves in a background thread."""

    def __init__(self, world: World, port: int = DEFAULT_PORT, verbose: bool = False):
        from .services import install

        self.world = world
        self.app = App(world)
        install(self.app)
        handler = type("Handler", (_Handler,), {"app": self.app})
        self.httpd = ThreadingHTTPServer(("127.0.0.1", port), handler)
        self.httpd.daemon_threads = True
        self.httpd.verbose = verbose  # type: ignore[attr-defined]
        self.httpd.errors = []  # type: ignore[attr-defined]
        self._thread: threading.Thread | None = None

    @property
    def port(self) -> int:
        return self.httpd.server_address[1]

    @property
    def endpoint(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    @property
    def errors(self) -> list[str]:
        """Unexpected exceptions inside the emulator (tests assert this stays empty)."""
        return self.httpd.errors  # type: ignore[attr-defined]

    def start(self) -> EmulatorServer:
        self.world.load_fleet()
        # shutdown() waits for the serve loop to look again: every 10 ms, so stop() takes ~5 ms, not
        # ~45 ms as at 50 ms (tests start and stop hundreds; the idle loop costs no measurable CPU).
        serve = functools.partial(self.httpd.serve_forever, poll_interval=0.01)
        self._thread = threading.Thread(target=serve, name="emulator", daemon=True)
        self._thread.start()
        return self

    def serve_forever(self) -> None:
        self.world.load_fleet()
        self.httpd.serve_forever()

    def stop(self) -> None:
        self.httpd.shutdown()
        self.httpd.server_close()
        if self._thread is not None:
            self._thread.join(timeout=5)

    def __enter__(self) -> EmulatorServer:
        return self.start()

    def __exit__(self, *exc) -> None:
        self.stop()
