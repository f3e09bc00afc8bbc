"""The core's AWS call discipline: throttling-only retries for writes, ambiguity, pagination."""

from __future__ import annotations

import os
import subprocess
import sys

import boto3.session
import pytest
from botocore.exceptions import ClientError, ConnectionClosedError, EndpointConnectionError, ReadTimeoutError

from ansible_collections.drs.orchestration.plugins.module_utils import aws
from tests.module_harness import REPO

ENV = {**os.environ, "PYTHONPATH": str(REPO / "build" / "collections")}


def client_error(code, status=400, **extra):
    response = {"Error": {"Code": code, "Message": f"{code} happened"}, "ResponseMetadata": {"HTTPStatusCode": status}}
    response.update(extra)
    return ClientError(response, "SendCommand")


class Flaky:
    """A callable that raises the given errors in order, then returns 'done'."""

    def __init__(self, *errors):
        self.errors = list(errors)
        self.calls = 0

    def __call__(self, **kwargs):
        self.calls += 1
        if self.errors:
            raise self.errors.pop(0)
        return {"done": kwargs}


def test_throttled_write_is_sent_again_until_accepted():
    call = Flaky(client_error("ThrottlingException"), client_error("ThrottlingException", status=429))
    slept = []
    assert aws.retry_throttled(call, InstanceIds=["i-1"], sleep=slept.append) == {"done": {"InstanceIds": ["i-1"]}}
    assert call.calls == 3
    assert len(slept) == 2


def test_write_that_failed_server_side_is_not_retried():
    call = Flaky(client_error("InternalServerError", status=500))
    with pytest.raises(ClientError):
        aws.retry_throttled(call, sleep=lambda s: None)
    assert call.calls == 1


def test_throttling_retries_stop_after_the_attempt_budget():
    call = Flaky(*[client_error("ThrottlingException") for _ in range(5)])
    with pytest.raises(ClientError):
        aws.retry_throttled(call, attempts=3, sleep=lambda s: None)
    assert call.calls == 3


def test_retry_waits_at_least_what_aws_asked_for():
    call = Flaky(client_error("ThrottlingException", status=429, retryAfterSeconds="7"))
    slept = []
    aws.retry_throttled(call, base_delay=0.01, sleep=slept.append)
    assert slept == [7.0]


@pytest.mark.parametrize(
    ("exc", "ambiguous"),
    [
        (client_error("InternalServerError", status=500), True),
        (client_error("ServiceUnavailable", status=503), True),
        (client_error("ValidationException", status=400), False),
        (client_error("ThrottlingException", status=400), False),
        (ConnectionClosedError(endpoint_url="http://127.0.0.1"), True),
        (ReadTimeoutError(endpoint_url="http://127.0.0.1"), True),
        (EndpointConnectionError(endpoint_url="http://127.0.0.1"), False),
        (ValueError("not an AWS error"), False),
    ],
)
def test_ambiguous_failures_are_the_ones_that_may_have_executed(exc, ambiguous):
    assert aws.is_ambiguous(exc) is ambiguous


def test_throttling_is_recognised_for_every_service_dialect():
    for code in ("ThrottlingException", "Throttling", "RequestLimitExceeded", "TooManyRequestsException"):
        assert aws.is_throttling(client_error(code))
    assert aws.is_throttling(client_error("Whatever", status=429))
    assert not aws.is_throttling(client_error("AccessDeniedException", status=403))
    assert not aws.is_throttling(RuntimeError("x"))


def test_error_code_and_message_of_non_aws_errors_are_safe():
    assert aws.error_code(RuntimeError("boom")) is None
    assert aws.error_message(RuntimeError("boom")) == "boom"
    assert aws.error_code(client_error("InvalidInstanceId")) == "InvalidInstanceId"


def test_chunked_keeps_order_and_bounds():
    assert aws.chunked(range(7), 3) == [[0, 1, 2], [3, 4, 5], [6]]
    assert aws.chunked([], 50) == []


def test_clients_are_cached_per_service_region_and_kind():
    made = []

    def make(service, region, config):
        made.append((service, region, config["retries"]))
        return object()

    clients = aws.Clients(make, region="us-east-1")
    assert clients.reader("drs") is clients.reader("drs", "us-east-1")
    assert clients.writer("drs") is not clients.reader("drs")
    clients.reader("drs", "eu-west-1")
    assert [(s, r) for s, r, _ in made] == [("drs", "us-east-1"), ("drs", "us-east-1"), ("drs", "eu-west-1")]
    assert made[1][2] == {"mode": "standard", "total_max_attempts": 1}


def connection(endpoint_url="http://127.0.0.1:1", **kwargs):
    """What amazon.aws' get_aws_connection_info returns for keys, no profile."""
    kwargs = {"aws_access_key_id": "AKIAEXAMPLE", "aws_secret_access_key": "secret", "verify": True, **kwargs}
    return "us-east-1", endpoint_url, kwargs


def test_a_module_run_builds_all_its_clients_from_one_session(monkeypatch):
    sessions = []

    class CountingSession(boto3.session.Session):
        def __init__(self, *args, **kwargs):
            sessions.append(kwargs)
            super().__init__(*args, **kwargs)

    monkeypatch.setattr("boto3.session.Session", CountingSession)
    clients = aws.Clients.from_module(connection())
    made = [clients.reader("drs"), clients.writer("drs"), clients.reader("ssm"), clients.reader("drs", "eu-west-1")]
    assert [kwargs["profile_name"] for kwargs in sessions] == [None]
    assert [c.meta.region_name for c in made] == ["us-east-1", "us-east-1", "us-east-1", "eu-west-1"]
    assert {c.meta.endpoint_url for c in made} == {"http://127.0.0.1:1"}
    assert made[1].meta.config.retries == {"mode": "standard", "total_max_attempts": 1}
    assert "drs.orchestration" in made[0].meta.config.user_agent_extra


def test_a_module_run_parses_botocore_endpoint_data_once():
    # A module run checks its regions (validation.service_regions), then builds its clients:
    # both read botocore's endpoint data, through one loader. A fresh process, because this
    # test process shares loaders between sessions (tests/module_harness.py).
    script = """
import botocore.loaders
from ansible_collections.drs.orchestration.plugins.module_utils import aws, validation

reads = []
original = botocore.loaders.JSONFileLoader.load_file
def load_file(self, file_path):
    reads.append(file_path)
    return original(self, file_path)
botocore.loaders.JSONFileLoader.load_file = load_file

validation.check_region("us-east-1", "region")
validation.check_region("eu-west-1", "output_s3_region", "s3")
clients = aws.Clients.from_module(("us-east-1", "http://127.0.0.1:1", {"aws_access_key_id": "AKIAEXAMPLE",
                                   "aws_secret_access_key": "secret"}))
clients.reader("drs"), clients.writer("drs"), clients.reader("ssm")
print(sorted(path.rsplit("/", 1)[-1] for path in reads if path.endswith("endpoints")))
"""
    done = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, cwd=REPO, env=ENV)
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == "['endpoints']"


def test_the_users_aws_config_applies_but_cannot_make_writes_retry():
    from botocore.config import Config

    plain = aws.Clients.from_module(connection())
    user = Config(retries={"mode": "adaptive", "max_attempts": 5}, connect_timeout=7)
    clients = aws.Clients.from_module(connection(aws_config=user))
    writer, reader = clients.writer("drs"), clients.reader("drs")
    assert (
        writer.meta.config.retries
        == plain.writer("drs").meta.config.retries
        == {
            "mode": "standard",
            "total_max_attempts": 1,
        }
    )
    assert reader.meta.config.retries == plain.reader("drs").meta.config.retries
    assert reader.meta.config.retries["mode"] == "standard"
    assert writer.meta.config.connect_timeout == reader.meta.config.connect_timeout == 7


def test_a_malformed_endpoint_url_is_an_input_error_not_a_traceback():
    clients = aws.Clients.from_module(connection(endpoint_url="no scheme here"))
    with pytest.raises(aws.InputError, match="Cannot build the AWS drs client: Invalid endpoint: no scheme here"):
        clients.reader("drs")


def test_paginate_walks_every_page_against_the_emulator(emulator_factory):
    emu = emulator_factory({"instances": [{"name": f"web-{n}"} for n in range(12)]})
    ec2 = emu.client("ec2")
    reservations = aws.paginate(ec2, "describe_instances", "Reservations", MaxResults=5)
    ids = [instance["InstanceId"] for reservation in reservations for instance in reservation["Instances"]]
    assert len(ids) == len(set(ids)) == 12
