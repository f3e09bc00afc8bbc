"""Fixtures for the emulator's own tests: ``emulator`` and ``emulator_factory`` (emulator/testing.py).

Imported rather than listed in ``pytest_plugins``: pytest only accepts ``pytest_plugins``
in the top-level conftest, and ``pytest tests`` collects this directory as a subpackage.
"""

import json
import re

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


def _pattern_problems(shape, value, path: str, problems: list[str]) -> None:
    """Strings that break the model's regular expressions (validate.py checks everything else)."""
    kind = shape.type_name
    if kind == "structure" and isinstance(value, dict):
        for name, member in shape.members.items():
            if name in value:
                _pattern_problems(member, value[name], f"{path}.{name}", problems)
    elif kind == "list" and isinstance(value, list):
        for i, item in enumerate(value):
            _pattern_problems(shape.member, item, f"{path}[{i}]", problems)
    elif kind == "map" and isinstance(value, dict):
        for key, item in value.items():
            _pattern_problems(shape.value, item, f"{path}[{key!r}]", problems)
    elif kind == "string" and isinstance(value, str) and "pattern" in shape.metadata:
        pattern = shape.metadata["pattern"]
        problems.extend([] if re.fullmatch(pattern, value) else [f"{path}={value!r} does not match {pattern}"])


class DrsClients:
    """boto3 DRS clients whose raw responses are validated strictly, patterns included."""

    def __init__(self):
        self.stricts: list[StrictResponses] = []

    def make(self, emu, region: str | None = None, **kwargs):
        client = emu.client("drs", region=region, **kwargs)
        self.stricts.append(StrictResponses(client))
        client.meta.events.register("before-parse.drs.*", self._check_patterns)
        return client

    @staticmethod
    def _check_patterns(operation_model, response_dict, **_):
        if response_dict["status_code"] >= 300 or operation_model.output_shape is None:
            return
        body = json.loads(response_dict["body"] or b"{}")
        problems: list[str] = []
        _pattern_problems(operation_model.output_shape, body, "", problems)
        assert not problems, f"{operation_model.name}: {problems}"

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
