"""Start the emulator from tests, benchmarks and the demo, and drive its admin API.

As a pytest plugin (``-p emulator.testing`` or ``pytest_plugins``) it provides:

* ``emulator_factory(fleet=None, speed=0, seed=0)`` -> a started :class:`Emulator`
  on a free loopback port, stopped at the end of the test;
* ``emulator``: one emulator with an empty fleet and a frozen clock.
"""

from __future__ import annotations

import functools
import json
import urllib.request
from collections.abc import Iterator
from typing import Any

import boto3
import pytest
from botocore.config import Config

from . import ADMIN_PREFIX
from .fleet import Fleet
from .server import EmulatorServer
from .world import World

# Credentials the emulator accepts (it does not verify signatures, it reads the scope).
ACCESS_KEY = "AKIAEMULATOR00000000"
SECRET_KEY = "emulator-secret"


@functools.cache
def shared_session(access_key: str = ACCESS_KEY) -> boto3.session.Session:
    """One boto3 session per access key for the whole process, with the emulator's credentials.

    A session caches the service models it loaded; building clients on a new session
    reloads them (the EC2 model alone takes tens of milliseconds), so tests, benchmarks
    and the demo share this one.
    """
    return boto3.session.Session(aws_access_key_id=access_key, aws_secret_access_key=SECRET_KEY)


@functools.cache
def _opener() -> urllib.request.OpenerDirector:
    """One opener for every admin call: building one sets up a TLS context (tens of ms)."""
    return urllib.request.build_opener(urllib.request.ProxyHandler({}))  # loopback only, never a proxy


class EmulatorAdmin:
    """Client of the admin API (``/_emulator``) over HTTP; works against any emulator process."""

    def __init__(self, endpoint: str):
        self.endpoint = endpoint.rstrip("/")

    def _call(self, method: str, path: str, body: dict | None = None) -> Any:
        data = json.dumps(body).encode() if body is not None else None
        req = urllib.request.Request(
            f"{self.endpoint}{ADMIN_PREFIX}/{path}",
            data=data,
            method=method,
            headers={"Content-Type": "application/json"},
        )
        with _opener().open(req, timeout=30) as resp:
            return json.loads(resp.read() or b"{}")

    def health(self) -> dict:
        return self._call("GET", "health")

    def clock(self) -> dict:
        return self._call("GET", "clock")

    def advance(self, seconds: float) -> dict:
        return self._call("POST", "clock", {"advance": seconds})

    def set_speed(self, speed: float) -> dict:
        return self._call("POST", "clock", {"speed": speed})

    def calls(self, since: int = 0) -> list[dict]:
        return self._call("GET", f"calls?since={since}")["calls"]

    def counts(self) -> dict[str, int]:
        return self._call("GET", "calls")["counts"]

    def reset_calls(self) -> None:
        self._call("DELETE", "calls")

    def faults(self, **spec) -> dict:
        return self._call("POST", "faults", spec)

    def clear_faults(self) -> dict:
        return self._call("DELETE", "faults")

    def reset(self, fleet: dict | None = None) -> dict:
        return self._call("POST", "reset", {"fleet": fleet} if fleet is not None else {})

    def service(self, service: str, action: str, **body) -> dict:
        """A service-specific admin action, e.g. ``service('drs', 'pair-failback-client', ...)``."""
        return self._call("POST", f"{service}/{action}", body)


class Emulator:
    """A running in-process emulator with helpers for tests."""

    def __init__(self, fleet: dict | Fleet | None = None, speed: float = 0.0, seed: int = 0, port: int = 0):
        if not isinstance(fleet, Fleet):
            fleet = Fleet.from_dict(fleet)
        self.world = World(fleet, speed=speed, seed=seed)
        self.server = EmulatorServer(self.world, port=port)
        self.endpoint = self.server.endpoint
        self.admin = EmulatorAdmin(self.endpoint)
        self._clients: dict[tuple, Any] = {}

    def start(self) -> Emulator:
        self.server.start()
        return self

    def stop(self) -> None:
        self.server.stop()

    def __enter__(self) -> Emulator:
        return self.start()

    def __exit__(self, *exc) -> None:
        self.stop()

    def client(self, service: str, region: str | None = None, access_key: str = ACCESS_KEY, **config):
        """A boto3 client pointed at this emulator. ``config`` goes to botocore's Config.

        The same arguments give the same client (botocore clients are thread-safe, and
        building one, EC2's above all, costs milliseconds that tests pay hundreds of times).
        """
        config.setdefault("retries", {"mode": "standard", "max_attempts": 3})
        region = region or self.world.fleet.region
        key = (service, region, access_key, json.dumps(config, sort_keys=True, default=repr))
        if key not in self._clients:
            self._clients[key] = shared_session(access_key).client(
                service, region_name=region, endpoint_url=self.endpoint, config=Config(proxies={}, **config)
            )
        return self._clients[key]

    def advance(self, seconds: float) -> None:
        self.world.advance(seconds)

    def calls(self, service: str | None = None, operation: str | None = None) -> list[dict]:
        with self.world.lock:
            return [
                c
                for c in self.world.calls
                if (service is None or c["service"] == service) and (operation is None or c["operation"] == operation)
            ]

    def count(self, service: str, operation: str) -> int:
        return self.world.call_counts.get(f"{service}:{operation}", 0)

    def env(self) -> dict[str, str]:
        """Environment variables that point boto3/ansible at this emulator."""
        return {
            "AWS_ACCESS_KEY_ID": ACCESS_KEY,
            "AWS_SECRET_ACCESS_KEY": SECRET_KEY,
            "AWS_DEFAULT_REGION": self.world.fleet.region,
            "AWS_REGION": self.world.fleet.region,
            "AWS_ENDPOINT_URL": self.endpoint,
            "NO_PROXY": "127.0.0.1,localhost",
        }


@pytest.fixture
def emulator_factory() -> Iterator:
    started: list[Emulator] = []

    def factory(fleet: dict | Fleet | None = None, speed: float = 0.0, seed: int = 0) -> Emulator:
        emu = Emulator(fleet, speed=speed, seed=seed).start()
        started.append(emu)
        return emu

    yield factory
    for emu in started:
        errors = list(emu.server.errors)
        emu.stop()
        assert not errors, f"the emulator raised unexpected exceptions: {errors}"


@pytest.fixture
def emulator(emulator_factory) -> Emulator:
    return emulator_factory()
