# Copyright: Contributors to drs.orchestration
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
"""How the core talks to AWS: clients, retries, pagination, batching.

Reads and writes are treated differently on purpose:

* readers are botocore clients in ``standard`` retry mode, so throttling and transient
  errors of Describe/List calls are retried by botocore;
* writers (SendCommand, StartRecovery, ReverseReplication, StartFailbackLaunch ...)
  never retry on their own (``total_max_attempts: 1``). :func:`retry_throttled` retries
  them only when AWS refused to execute them (throttling). Any other failure of a
  mutating call may have executed, and the caller must reconcile (look the effect up)
  before deciding to call again: see :func:`is_ambiguous`.

No Ansible import here: modules hand in their connection settings through
:meth:`Clients.from_module`, the Lambda handler and the benchmarks use boto3 directly.
"""

from __future__ import annotations

import functools
import random
import time

from .errors import InputError

# Added to botocore's User-Agent header, so AWS-side logs show which tool called.
USER_AGENT_EXTRA = "drs.orchestration"
READ_CONFIG = {"retries": {"mode": "standard", "max_attempts": 10}}
WRITE_CONFIG = {"retries": {"mode": "standard", "total_max_attempts": 1}}


class Clients:
    """Cached boto3 clients per (service, region, reader|writer).

    ``make(service, region, config)`` builds one client; ``region`` may be None for the
    default region of the caller (module parameters, environment).
    """

    def __init__(self, make, region=None):
        self._make = make
        self.region = region
        self._cache = {}

    def _get(self, service, region, kind, config):
        key = (service, region or self.region, kind)
        if key not in self._cache:
            try:
                self._cache[key] = self._make(service, region or self.region, config)
            except ValueError as exc:  # botocore's answer to a malformed endpoint_url
                raise InputError(f"Cannot build the AWS {service} client: {exc}") from None
        return self._cache[key]

    def reader(self, service, region=None):
        return self._get(service, region, "read", READ_CONFIG)

    def writer(self, service, region=None):
        return self._get(service, region, "write", WRITE_CONFIG)

    @classmethod
    def from_module(cls, connection):
        """Clients for an ``AnsibleAWSModule`` run, all from one boto3 session.

        :param connection: what amazon.aws' ``get_aws_connection_info(module)`` returns:
            ``(region, endpoint_url, kwargs)``, the module's region, ``endpoint_url`` and
            boto3 arguments (credentials or ``profile_name``, ``verify`` from
            ``validate_certs`` / ``aws_ca_bundle``, ``aws_config``).

        ``module.client()`` would build a new boto3 session for every client, and each
        session parses the endpoint data and the service models again (0.1-0.2 s per
        client; a module run needs up to six). One session per run parses them once, and
        it reads through :func:`data_loader`, as the region checks do.

        The user's ``aws_config`` applies (timeouts, proxies, ...) except ``retries``: the
        retry policy stays the core's, so no setting can make botocore resend a write.
        """
        import boto3
        from botocore.config import Config

        region, endpoint_url, kwargs = connection
        kwargs = dict(kwargs)
        user_config = kwargs.pop("aws_config", None)
        profile_name = kwargs.pop("profile_name", None)
        session = boto3.session.Session(botocore_session=botocore_session(), profile_name=profile_name)

        def make(service, region_name, config):
            merged = Config(user_agent_extra=USER_AGENT_EXTRA)
            if user_config is not None:
                merged = merged.merge(user_config)
            merged = merged.merge(Config(**config))
            return session.client(service, region_name=region_name, endpoint_url=endpoint_url, config=merged, **kwargs)

        return cls(make, region=region)

    @classmethod
    def from_session(cls, session=None, region=None, endpoint_url=None):
        """Clients from a boto3 session (Lambda handler, benchmarks, tests).

        Without a session, one process-wide session is shared: it caches the service
        models it loaded, so building clients stays cheap (and warm Lambdas reuse it).
        """
        from botocore.config import Config

        session = session or _shared_session()

        def make(service, region_name, config):
            return session.client(service, region_name=region_name, endpoint_url=endpoint_url, config=Config(**config))

        return cls(make, region=region or session.region_name)


@functools.cache
def _shared_session():
    import boto3

    return boto3.session.Session(botocore_session=botocore_session())


@functools.cache
def data_loader():
    """The process's botocore data loader (endpoint data, service models), shared.

    Each botocore session parses what it loads again: the endpoint data alone is about
    0.1 s of a module run that costs about 0.6 s. Region checks
    (``validation.service_regions``) and the session :meth:`Clients.from_module` builds
    both read through this one loader, so a module run parses it once. A loader is a
    botocore session component meant for sharing: it only reads botocore's data files.
    """
    return data_session().get_component("data_loader")


@functools.cache
def data_session():
    """The botocore session that owns :func:`data_loader`, for questions about the data
    itself (which regions a service has); clients come from sessions with credentials."""
    import botocore.session

    return botocore.session.get_session()


def botocore_session():
    """A new botocore session that reads its data through :func:`data_loader`."""
    import botocore.session

    session = botocore.session.get_session()
    session.register_component("data_loader", data_loader())
    return session


def error_code(exc):
    """The AWS error code of a botocore ClientError, else None."""
    response = getattr(exc, "response", None)
    if isinstance(response, dict):
        return (response.get("Error") or {}).get("Code")
    return None


def is_aws_error(exc):
    """True for what botocore raises: an AWS error answer or a failure to get one."""
    from botocore.exceptions import BotoCoreError, ClientError

    return isinstance(exc, ClientError | BotoCoreError)


def error_message(exc):
    response = getattr(exc, "response", None)
    if isinstance(response, dict):
        return (response.get("Error") or {}).get("Message") or str(exc)
    return str(exc)


def read_error(region, operation, exc):
    """One entry of a result's ``errors``: what could not be read, where, and AWS's answer."""
    return {
        "region": region,
        "operation": getattr(exc, "operation_name", None) or operation,
        "code": error_code(exc) or type(exc).__name__,
        "message": error_message(exc),
    }


def is_throttling(exc):
    """True when AWS refused the call for rate reasons (it did not execute)."""
    from botocore.retries.standard import RetryContext, ThrottledRetryableChecker

    response = getattr(exc, "response", None)
    if not isinstance(response, dict):
        return False
    status = (response.get("ResponseMetadata") or {}).get("HTTPStatusCode")
    context = RetryContext(attempt_number=1, parsed_response=response)
    return status == 429 or ThrottledRetryableChecker().is_retryable(context)


def is_ambiguous(exc):
    """True when a failed call may have executed: the caller must reconcile before retrying.

    A connection that never opened did not execute; a request whose answer was lost
    (connection closed, read timeout) or that failed server-side (5xx) may have.
    """
    from botocore import exceptions as bx

    if isinstance(exc, bx.EndpointConnectionError | bx.ConnectTimeoutError):
        return False
    if isinstance(exc, bx.ConnectionClosedError | bx.ReadTimeoutError | bx.HTTPClientError):
        return True
    response = getattr(exc, "response", None)
    if isinstance(response, dict) and not is_throttling(exc):
        status = (response.get("ResponseMetadata") or {}).get("HTTPStatusCode") or 0
        return status >= 500
    return False


def retry_after(exc):
    """Seconds AWS asked us to wait (DRS ``retryAfterSeconds`` / Retry-After), or None."""
    response = getattr(exc, "response", None) or {}
    for value in (
        response.get("retryAfterSeconds"),
        ((response.get("ResponseMetadata") or {}).get("HTTPHeaders") or {}).get("retry-after"),
    ):
        try:
            if value is not None:
                return max(0.0, float(value))
        except (TypeError, ValueError):
            continue
    return None


def retry_throttled(call, *args, attempts=8, base_delay=1.0, max_delay=20.0, sleep=time.sleep, **kwargs):
    """Call a mutating operation; retry it only while AWS throttles it.

    Throttled requests were not executed, so sending them again is safe. Every other
    error propagates unchanged: callers check :func:`is_ambiguous` and reconcile.
    Backoff is exponential with full jitter, at least what AWS asked for.
    """
    attempt = 1
    while True:
        try:
            return call(*args, **kwargs)
        except Exception as exc:  # botocore raises ClientError; anything else is re-raised below
            if attempt >= attempts or not is_throttling(exc):
                raise
            delay = random.uniform(0, min(max_delay, base_delay * 2 ** (attempt - 1)))
            sleep(max(delay, retry_after(exc) or 0.0))
            attempt += 1


def paginate(client, operation, result_key, **kwargs):
    """Yield every item of a paginated list call through botocore's paginator."""
    paginator = client.get_paginator(operation)
    for page in paginator.paginate(**kwargs):
        yield from page.get(result_key) or ()


def chunked(items, size):
    """Split ``items`` into lists of at most ``size`` (order kept)."""
    items = list(items)
    return [items[i : i + size] for i in range(0, len(items), size)]
