"""Fixtures for the emulator's own tests: ``emulator`` and ``emulator_factory`` (emulator/testing.py).

Imported rather than listed in ``pytest_plugins``: pytest only accepts ``pytest_plugins``
in the top-level conftest, and ``pytest tests`` collects this directory as a subpackage.
"""

import pytest

from emulator.validate import StrictResponses

# DRS ----------------------------------------------------------------------------------

# Short virtual durations so DRS scenarios take a few clock advances.
DRS_FAST_TIMING = {
    "registration_seconds": 5,
    "initiation_step_seconds": 10,
    "replication_bytes_per_second": 1024**3,  # 1 GiB/s: an 8 GiB disk syncs in 8 s
    "snapshot_seconds": 20,
    "agent_heartbeat_seconds": 60,
    "job_start_seconds": 10,
    "launch_seconds": 100,
    "terminate_seconds": 30,
    "failback_client_step_seconds": 5,
    "snapshot_interval_seconds": 600,
    "initiation_retry_seconds": 300,
}


class DrsClients:
    """boto3 DRS clients whose raw responses are validated strictly (``StrictResponses``, patterns included)."""

    def __init__(self):
        self.stricts: list[StrictResponses] = []

    def make(self, emu, region: str | None = None, **kwargs):
        client = emu.client("drs", region=region, **kwargs)
        self.stricts.append(StrictResponses(client))
        return client

    @property
    def seen(self) -> list[str]:
        return [entry for strict in self.stricts for entry in strict.seen]


@pytest.fixture
def drs_clients() -> DrsClients:
    return DrsClients()


@pytest.fixture
def drs_timing() -> dict:
    """Fleet ``timing:`` with short DRS durations (a copy: tests may change it)."""
    return dict(DRS_FAST_TIMING)
