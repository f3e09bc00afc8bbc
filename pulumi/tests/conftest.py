"""Fixtures of the Pulumi program and REST handler tests (helpers: stack_harness.py)."""

from __future__ import annotations

import pytest
from stack_harness import BASE_CONFIG, Api, create_tracking_table, deploy, handler_app

from emulator.testing import emulator, emulator_factory  # noqa: F401  (fixtures for the handler tests)


def pytest_configure(config):
    # pulumi_aws warns when its lambda_ package is imported (any use of aws.lambda_), whatever the
    # program declares: about a resource type the program never uses.
    config.addinivalue_line(
        "filterwarnings",
        r"ignore:aws.lambda/microvmsimage.MicrovmsImage has been deprecated"
        r":DeprecationWarning:pulumi_aws\.lambda_\.microvms_image",
    )


@pytest.fixture(scope="session")
def stack():
    """The program with a typical configuration (a created user pool, two regions)."""
    return deploy(BASE_CONFIG)


@pytest.fixture
def api_factory(request):
    """``make(fleet, ...)`` -> an :class:`Api`: the handler behind the local API Gateway, on a new emulator."""
    from api_adapter import DEFAULT_CLAIMS, ProxyAdapter
    from werkzeug.test import Client

    start_emulator = request.getfixturevalue("emulator_factory")

    def make(fleet=None, table=True, create_table=True, claims=DEFAULT_CLAIMS, env=None):
        emu = start_emulator(fleet)
        if table and create_table:
            create_tracking_table(emu)
        app = handler_app(emu, table=table, env=env)
        adapter = ProxyAdapter(app.handle, claims=claims)
        return Api(emu, app, adapter, Client(adapter))

    return make
