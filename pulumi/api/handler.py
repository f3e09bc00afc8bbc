"""Lambda entry point: route the request, call the route, turn every failure into an answer.

Statuses: 400 bad input (the message says what to fix), 401 no verified caller,
403 an install on instances the stack's tag condition excludes, 404 unknown resource
or route, 405 wrong method, 409 conflict with the current state,
429 AWS throttling that outlasted the retries, 502 AWS refused or failed a call (or the
operation it carried out failed), 504 a change may or may not have been applied. A 500
means a bug: it is logged with its traceback and answered with the request ID, never
with the traceback.
"""

from __future__ import annotations

import logging
import os

from ansible_collections.drs.orchestration.plugins.module_utils import agent_install, errors
from ansible_collections.drs.orchestration.plugins.module_utils.aws import (
    Clients,
    error_code,
    error_message,
    is_throttling,
    retry_after,
)

from . import routes
from .proxy import HttpError, Request, cors_headers, error_response, response

LOG = logging.getLogger("drs_orchestration.api")

# ``(METHOD, resource)`` -> route function; the resources are openapi.yaml's paths.
ROUTES = {
    ("POST", "/agent/install"): routes.install_agent,
    ("GET", "/agent/install/{commandId}/status"): routes.install_status,
    ("GET", "/servers/{sourceServerId}/replication-status"): routes.replication_status,
    ("GET", "/replication/summary"): routes.replication_summary,
    ("GET", "/recovery-instances"): routes.list_recovery_instances,
    ("POST", "/recovery-instances/{id}/reverse-replication"): routes.reverse_replication,
    ("POST", "/recovery-instances/{id}/failback"): routes.failback_launch,
}

# AWS error codes that mean "the thing you named does not exist" / "not now" / "bad input".
_NOT_FOUND_CODES = frozenset({"ResourceNotFoundException", "InvalidCommandId", "InvalidInstanceId.NotFound"})
_CONFLICT_CODES = frozenset({"ConflictException", "ConditionalCheckFailedException"})
_INPUT_CODES = frozenset({"ValidationException", "InvalidParameterValue", "InvalidInstanceId", "InvalidParameters"})


class App:
    """The handler's configuration (from the Lambda environment) and its AWS clients.

    ``make_clients(region) -> Clients`` builds the core's clients for a region (default:
    boto3's default session, i.e. the Lambda role); tests point it at the emulator.
    """

    def __init__(self, environ, make_clients=None):
        self.region = environ.get("AWS_REGION") or environ.get("AWS_DEFAULT_REGION")
        allowed = [r.strip() for r in (environ.get("ALLOWED_REGIONS") or "").split(",") if r.strip()]
        self.allowed_regions = tuple(dict.fromkeys(allowed or ([self.region] if self.region else [])))
        self.table_name = environ.get("AGENT_INSTALLATIONS_TABLE") or None
        self.ttl_days = int(environ.get("INSTALL_TTL_DAYS") or 90)
        self.document_name = environ.get("INSTALL_DOCUMENT_NAME") or None
        # The documents whose commands GET .../status reports (the stack's installDocumentNames, the
        # modules may send any of them): any other command, and its output, is not this API's to show.
        documents = [d.strip() for d in (environ.get("INSTALL_DOCUMENT_NAMES") or "").split(",") if d.strip()]
        self.install_documents = frozenset([self.document_name or agent_install.DEFAULT_DOCUMENT, *documents])
        # The stack's installInstanceTagKey/Value: the Lambda role may SendCommand only to
        # instances carrying this tag, so an AccessDenied most likely means an untagged one.
        tag_key = environ.get("INSTALL_INSTANCE_TAG_KEY") or None
        self.install_instance_tag = (tag_key, environ.get("INSTALL_INSTANCE_TAG_VALUE") or "") if tag_key else None
        # The stack's corsAllowedOrigins: browser origins whose pages may read the answers.
        origins = (environ.get("CORS_ALLOWED_ORIGINS") or "").split(",")
        self.cors_origins = frozenset(origin.strip() for origin in origins if origin.strip())
        self._make_clients = make_clients or (lambda region: Clients.from_session(region=region))
        self._clients = {}

    @property
    def clients(self):
        """Clients whose default region is the API's own (the tracking table lives there)."""
        return self.clients_for(self.region)

    def clients_for(self, region):
        """Clients whose default region is ``region`` (SSM calls use the default region)."""
        if region not in self._clients:
            self._clients[region] = self._make_clients(region)
        return self._clients[region]

    def handle(self, event):
        """The proxy response to ``event``, errors included, with the CORS headers the stack allows."""
        answer = self._answer(event)
        answer["headers"].update(cors_headers(self.cors_origins, event))
        return answer

    def _answer(self, event):
        request = None
        try:
            request = Request(event)
            route = self._route(request)
            if not request.user:
                raise HttpError(
                    401, "No verified caller: send a Cognito ID token in the Authorization header.", "Unauthorized"
                )
            status, body = route(self, request)
            return response(status, body)
        except HttpError as exc:
            return error_response(exc, getattr(request, "request_id", None))
        except errors.DrsOrchestrationError as exc:
            return error_response(_core_error(exc), getattr(request, "request_id", None))
        except Exception as exc:  # AWS answers, then bugs: never a traceback to the caller
            http_error = _aws_error(exc)
            if http_error is None:
                LOG.exception("unhandled error in %s", getattr(request, "resource", None))
                http_error = HttpError(500, "Internal error. Quote the request ID when reporting it.", "InternalError")
            return error_response(http_error, getattr(request, "request_id", None))

    def _route(self, request):
        resource = request.resource
        route = ROUTES.get((request.method, resource))
        if route is not None:
            return route
        methods = sorted(m for m, r in ROUTES if r == resource)
        if methods:
            raise HttpError(
                405,
                f"{request.method} is not allowed on {resource}; use {', '.join(methods)}.",
                "MethodNotAllowed",
                headers={"Allow": ", ".join(methods)},
            )
        known = ", ".join(f"{m} {r}" for m, r in sorted(ROUTES, key=lambda k: (k[1], k[0])))
        raise HttpError(404, f"No route {request.method} {resource or request.path}. Routes: {known}.", "NotFound")


def _core_error(exc):
    details = exc.details or None
    if isinstance(exc, errors.InputError):
        return HttpError(400, exc.message, "ValidationError", details)
    if isinstance(exc, errors.NotFoundError):
        return HttpError(404, exc.message, "NotFound", details)
    if isinstance(exc, errors.ConflictError | errors.WaitFailed):
        return HttpError(409, exc.message, "Conflict", details)
    if isinstance(exc, errors.IncompleteReadError):  # AWS refused part of the read: its errors, not our records
        return HttpError(502, exc.message, "IncompleteRead", {"errors": exc.details.get("errors") or []})
    if isinstance(exc, errors.AmbiguousCallError | errors.WaitTimeout):
        return HttpError(504, exc.message, "Ambiguous", details)
    # Any other core error is an operation AWS carried out and failed (a launch that failed, a
    # table the role may not read ...): not the caller's input, so never a 4xx.
    return HttpError(502, exc.message, "OperationFailed", details)


def _aws_error(exc):
    """An HTTP answer for a botocore error, or None when ``exc`` is not one."""
    try:
        from botocore.exceptions import BotoCoreError, ClientError
    except ImportError:  # pragma: no cover - the Lambda runtime ships botocore
        return None
    if isinstance(exc, ClientError):
        code = error_code(exc) or "AWSError"
        message = error_message(exc)
        if is_throttling(exc):
            wait = retry_after(exc)
            headers = {"Retry-After": str(int(wait))} if wait else None
            return HttpError(
                429, f"AWS is throttling the API's calls ({message}); retry in a few seconds.", code, headers=headers
            )
        if code in _NOT_FOUND_CODES:
            return HttpError(404, f"AWS: {message}", code)
        if code in _CONFLICT_CODES:
            return HttpError(409, f"AWS: {message}", code)
        if code in _INPUT_CODES:
            return HttpError(400, f"AWS rejected the request: {message}", code)
        return HttpError(502, f"AWS refused or failed the call ({code}): {message}", code)
    if isinstance(exc, BotoCoreError):
        return HttpError(502, f"Could not reach AWS: {exc}", type(exc).__name__)
    return None


_APP = None


def handle(event, context=None):
    """The Lambda entry point (``api.handler.handle``)."""
    global _APP
    if _APP is None:
        _APP = App(os.environ)
    return _APP.handle(event)
