"""Property-based fuzz of every route of the OpenAPI document: no 5xx, answers match the contract.

schemathesis generates requests from ``pulumi/openapi.yaml`` (valid ones and, in
negative mode, invalid ones: wrong types, patterns, missing fields, extra fields),
sends them through the local API Gateway stand-in to the handler, which talks to the
emulator, and checks each answer: never a server error, a status the contract lists,
a body that matches the contract's schema, and invalid input refused with a 4xx.
"""

from __future__ import annotations

import pytest
import schemathesis
from api_adapter import ProxyAdapter
from components import openapi
from hypothesis import HealthCheck, settings
from schemathesis.checks import not_a_server_error
from schemathesis.specs.openapi.checks import (
    content_type_conformance,
    negative_data_rejection,
    response_schema_conformance,
    status_code_conformance,
)
from stack_harness import create_tracking_table, handler_app

from emulator.testing import Emulator

FLEET = {
    "region": "us-east-1",
    "instances": [{"instance_id": "i-0123456789abcdef0"}, {"instance_id": "i-0123456789abcdef1"}],
    "source_servers": [
        {"hostname": "db-01", "state": "CONTINUOUS"},
        {"hostname": "db-02", "state": "STALLED"},
        {"hostname": "web-aws", "origin": "AWS", "origin_region": "us-west-2", "instance_id": "i-0aaaaaaaaaaaaaaa1"},
    ],
}
CHECKS = [
    not_a_server_error,
    status_code_conformance,
    content_type_conformance,
    response_schema_conformance,
    negative_data_rejection,
]


class Backend:
    """The handler the adapter calls; the module fixture binds it to a running emulator.

    schemathesis reads the schema when this module is imported (its lazy, fixture-based
    loader does not run under pytest 9), so the app is built with a handler bound later.
    """

    app = None

    def __call__(self, event):
        assert self.app is not None, "the emulator fixture has not started"
        return self.app.handle(event)


BACKEND = Backend()
ADAPTER = ProxyAdapter(BACKEND)
schema = schemathesis.openapi.from_wsgi("/openapi.json", ADAPTER)
schema.config.generation.update(modes=list(schemathesis.GenerationMode), max_examples=60)


@pytest.fixture(scope="module", autouse=True)
def emulated_aws():
    emu = Emulator(FLEET).start()
    try:
        create_tracking_table(emu)
        BACKEND.app = handler_app(emu)
        yield emu
    finally:
        BACKEND.app = None
        errors = list(emu.server.errors)
        emu.stop()
    assert not errors, f"the emulator raised unexpected exceptions: {errors}"
    # Every route's handler code ran (requests did not all stop at the authorizer or routing).
    reached = {(e["httpMethod"], e["resource"]) for e in ADAPTER.events if e["resource"]}
    assert reached == set(openapi.routes(ADAPTER.document)), reached


@schema.parametrize()
@settings(deadline=None, suppress_health_check=list(HealthCheck), derandomize=True)
def test_no_route_answers_a_server_error_or_breaks_the_contract(case):
    response = case.call()
    case.validate_response(response, checks=CHECKS)
