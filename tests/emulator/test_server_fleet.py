"""The fleet file: loading, clear errors for bad input, and the deterministic N-instance generator."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest
import yaml

from emulator.fleet import Fleet, FleetError, generate
from emulator.generate import main as generate_main

REPO = Path(__file__).resolve().parents[2]


def test_a_yaml_fleet_file_loads_with_defaults_filled(tmp_path):
    path = tmp_path / "fleet.yml"
    path.write_text(
        yaml.safe_dump({"region": "eu-west-1", "timing": {"install_seconds": 30}, "instances": [{"name": "web-01"}]})
    )

    fleet = Fleet.load(path)

    assert fleet.region == "eu-west-1"
    assert fleet.timing["install_seconds"] == 30
    assert fleet.timing["ssm_delivery_seconds"] == 5
    (instance,) = fleet.instances
    assert instance["instance_id"].startswith("i-")
    assert instance["ssm"] == "Online"
    assert instance["tags"] == {"Name": "web-01"}


@pytest.mark.parametrize(
    ("data", "message"),
    [
        ({"instancess": []}, "unknown top-level keys ['instancess']"),
        ({"timing": {"install_secs": 1}}, "timing.install_secs is unknown"),
        ({"timing": {"install_seconds": -1}}, "timing.install_seconds must be a number >= 0"),
        ({"instances": [{"platfrom": "Linux"}]}, "instances[0] has unknown keys ['platfrom']"),
        ({"instances": [{"state": "asleep"}]}, "instances[0].state is 'asleep'; allowed: pending, running"),
        ({"instances": [{"platform": "BeOS"}]}, "instances[0].platform is 'BeOS'; allowed: Linux, Windows, MacOS"),
        (
            {"instances": [{"instance_id": "i-0aaaaaaaaaaaaaaa1"}, {"instance_id": "i-0aaaaaaaaaaaaaaa1"}]},
            "duplicate instance_id",
        ),
    ],
)
def test_bad_fleets_fail_with_a_message_that_says_what_to_fix(data, message):
    with pytest.raises(FleetError) as error:
        Fleet.from_dict(data)

    assert message in str(error.value)


def test_a_bad_document_entry_names_the_entry(emulator_factory):
    with pytest.raises(FleetError, match=r"documents\[0\]: document has unknown keys \['paramters'\]"):
        emulator_factory({"documents": [{"name": "My-Install", "paramters": []}]})


def test_an_unparsable_fleet_file_is_reported_with_its_path(tmp_path):
    path = tmp_path / "broken.yml"
    path.write_text("instances: [\n")

    with pytest.raises(FleetError, match="broken.yml: not valid YAML/JSON"):
        Fleet.load(path)


def test_the_generator_is_deterministic_per_seed():
    first = generate(count=20, ssm_offline=2, install_fail=3, windows=4, seed=7)
    again = generate(count=20, ssm_offline=2, install_fail=3, windows=4, seed=7)
    other = generate(count=20, ssm_offline=2, install_fail=3, windows=4, seed=8)

    assert first == again
    assert [i["instance_id"] for i in first["instances"]] != [i["instance_id"] for i in other["instances"]]
    instances = first["instances"]
    assert sum(1 for i in instances if i.get("ssm") == "ConnectionLost") == 2
    assert sum(1 for i in instances if i.get("install") == "fail") == 3
    assert sum(1 for i in instances if i.get("platform") == "Windows") == 4


def test_a_generated_fleet_is_what_the_emulator_serves(emulator_factory):
    emu = emulator_factory({"generate": {"count": 30, "ssm_offline": 4, "seed": 1}})

    listing = emu.client("ssm").get_paginator("describe_instance_information").paginate().build_full_result()
    pings = [i["PingStatus"] for i in listing["InstanceInformationList"]]

    assert len(pings) == 30
    assert pings.count("ConnectionLost") == 4


def test_the_generate_command_writes_the_same_fleet_file_every_time(tmp_path):
    args = ["--count", "5", "--ssm-offline", "1", "--windows", "1", "--tag", "dr=yes", "--seed", "2"]
    generate_main([*args, "--output", str(tmp_path / "a.yml")])
    generate_main([*args, "--output", str(tmp_path / "b.yml")])

    assert (tmp_path / "a.yml").read_text() == (tmp_path / "b.yml").read_text()
    fleet = Fleet.load(tmp_path / "a.yml")
    assert len(fleet.instances) == 5
    assert all(i["tags"]["dr"] == "yes" for i in fleet.instances)


def test_the_generate_command_refuses_impossible_requests():
    result = subprocess.run(
        [sys.executable, "-m", "emulator.generate", "--count", "2", "--ssm-offline", "3"],
        capture_output=True,
        text=True,
        timeout=60,
        cwd=REPO,
    )

    assert result.returncode == 2
    assert "must each fit in --count" in result.stderr
