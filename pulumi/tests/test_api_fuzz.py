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
ROUTES = openapi.routes(ADAPTER.document)


@pytest.fixture(scope="module", autouse=True)
def emulated_aws(request):
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
    # Requests of every route that was fuzzed got past the authorizer and routing to the handler.
    fuzzed = {TESTS[item.originalname] for item in request.session.items if item.originalname in TESTS}
    reached = {(e["httpMethod"], e["resource"]) for e in ADAPTER.events if e["resource"]}
    assert fuzzed <= reached, f"never reached the handler: {sorted(fuzzed - reached)}"


def fuzz_test(method, path):
    """A test of one route: schemathesis' examples, coverage (boundaries) and fuzzing phases.

    One test function per route gives each route its own pytest id, so pytest-xdist
    runs every one of them (schemathesis' sub-tests of a single function share one id).
    """

    @schema.include(method=method, path=path).parametrize()
    @settings(deadline=None, suppress_health_check=list(HealthCheck), derandomize=True)
    def test(case):
        response = case.call()
        case.validate_response(response, checks=CHECKS)

    slug = path.strip("/").replace("/", "_").replace("-", "_").replace("{", "").replace("}", "")
    test.__name__ = f"test_{method.lower()}_{slug}_never_fails_or_breaks_the_contract"
    return test


TESTS = {}
for _method, _path in ROUTES:
    _test = fuzz_test(_method, _path)
    TESTS[_test.__name__] = (_method, _path)
    globals()[_test.__name__] = _test


def test_every_route_of_the_contract_is_fuzzed():
    assert sorted(TESTS.values()) == ROUTES
