"""``python -m emulator --fleet f.yml --speed 60 --port 0`` starts, serves on loopback, and stops."""

from __future__ import annotations

import re
import selectors
import subprocess
import sys
from pathlib import Path

import boto3
import pytest
import yaml
from botocore.config import Config

from emulator.testing import ACCESS_KEY, SECRET_KEY, EmulatorAdmin

REPO = Path(__file__).resolve().parents[2]


def first_line(proc: subprocess.Popen, timeout: float = 60) -> str:
    """The first line the process prints, without waiting forever."""
    selector = selectors.DefaultSelector()
    selector.register(proc.stdout, selectors.EVENT_READ)
    if not selector.select(timeout):
        raise AssertionError(f"no output within {timeout} s")
    return proc.stdout.readline()


@pytest.fixture
def cli(tmp_path):
    started = []

    def start(*args: str) -> subprocess.Popen:
        proc = subprocess.Popen(
            [sys.executable, "-m", "emulator", *args],
            cwd=REPO,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        started.append(proc)
        return proc

    yield start
    for proc in started:
        if proc.poll() is None:
            proc.terminate()
        proc.wait(timeout=30)
        proc.stdout.close()
        proc.stderr.close()


def test_the_cli_serves_the_fleet_on_a_free_loopback_port(cli, tmp_path):
    fleet = tmp_path / "fleet.yml"
    fleet.write_text(yaml.safe_dump({"account_id": "444455556666", "instances": [{"name": "web-01"}]}))
    endpoint_file = tmp_path / "endpoint"
    proc = cli("--fleet", str(fleet), "--speed", "60", "--port", "0", "--endpoint-file", str(endpoint_file))

    line = first_line(proc)
    match = re.search(r"listening on (http://127\.0\.0\.1:(\d+)) \(speed 60\.0x, 1 instances\)", line)
    assert match, line
    endpoint = match.group(1)
    admin = EmulatorAdmin(endpoint)
    assert admin.health()["ok"] is True  # serving: the endpoint file is written before the first request is read
    assert endpoint_file.read_text() == endpoint + "\n"
    assert [p.name for p in tmp_path.iterdir() if p.name.startswith("endpoint")] == ["endpoint"]
    sts = boto3.client(
        "sts",
        region_name="us-east-1",
        endpoint_url=endpoint,
        aws_access_key_id=ACCESS_KEY,
        aws_secret_access_key=SECRET_KEY,
        config=Config(proxies={}),
    )

    assert admin.clock()["speed"] == 60.0
    assert sts.get_caller_identity()["Account"] == "444455556666"
    assert len(admin.service("ec2", "add-instance", name="web-02")["instance_id"]) == 19

    proc.terminate()
    assert proc.wait(timeout=30) is not None


def test_the_cli_stops_when_it_cannot_write_the_endpoint_file(cli, tmp_path):
    proc = cli("--port", "0", "--endpoint-file", str(tmp_path / "missing-directory" / "endpoint"))

    assert proc.wait(timeout=60) == 2
    assert "cannot write the endpoint file: [Errno 2] No such file or directory" in proc.stderr.read()


def test_the_cli_refuses_a_bad_fleet_file_with_a_clear_message(cli, tmp_path):
    fleet = tmp_path / "fleet.yml"
    fleet.write_text(yaml.safe_dump({"instances": [{"ssm": "Maybe"}]}))
    proc = cli("--fleet", str(fleet), "--port", "0")

    assert proc.wait(timeout=60) == 2
    assert "cannot load fleet: instances[0].ssm is 'Maybe'" in proc.stderr.read()


def test_the_cli_reports_a_fleet_entry_a_service_rejects(cli, tmp_path):
    fleet = tmp_path / "fleet.yml"
    fleet.write_text(yaml.safe_dump({"documents": [{"name": "AWS-Mine"}]}))
    proc = cli("--fleet", str(fleet), "--port", "0")

    assert proc.wait(timeout=60) == 2
    assert "cannot load fleet: documents[0]: document name 'AWS-Mine' must match" in proc.stderr.read()
