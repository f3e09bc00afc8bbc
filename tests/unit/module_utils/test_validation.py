"""Input checks give messages that name the bad value and the expected form."""

from __future__ import annotations

import pytest

from ansible_collections.drs.orchestration.plugins.module_utils.errors import InputError
from ansible_collections.drs.orchestration.plugins.module_utils.validation import (
    check_account_id,
    check_ids,
    check_range,
    check_region,
)


def test_ids_are_deduplicated_in_order():
    ids = ["i-0123456789abcdef0", "i-01234567", "i-0123456789abcdef0"]
    assert check_ids(ids, "instance", "instance_ids") == ["i-0123456789abcdef0", "i-01234567"]


@pytest.mark.parametrize("bad", ["i-123", "0123456789abcdef0", "i-0123456789ABCDEF0", "", "s-0123456789abcdef0"])
def test_malformed_instance_ids_are_named(bad):
    with pytest.raises(InputError) as caught:
        check_ids(["i-0123456789abcdef0", bad], "instance", "instance_ids")
    assert repr(bad) in caught.value.message
    assert "i-0123456789abcdef0" in caught.value.message.split("like")[-1]  # shows the expected form


def test_recovery_instance_ids_follow_the_models_pattern_and_length():
    # DRS RecoveryInstanceID: i-[0-9a-fA-F]{8,}, 10 to 19 characters
    good = ["i-01234567", "i-0123456789ABCDEF0"]
    assert check_ids(good, "recovery_instance", "recovery_instance_ids") == good
    for bad in ("i-0123456", "i-0123456789abcdef01", "i-" + "a" * 30):
        with pytest.raises(InputError, match="recovery instance ID like i-0123456789abcdef0"):
            check_ids([bad], "recovery_instance", "recovery_instance_ids")


def test_many_bad_ids_are_summarised():
    with pytest.raises(InputError) as caught:
        check_ids([f"bad-{n}" for n in range(25)], "source_server", "source_server_ids")
    assert "and 15 more" in caught.value.message


def test_regions_come_from_botocore_endpoint_data():
    assert check_region("eu-west-1", "target_region") == "eu-west-1"
    with pytest.raises(InputError) as caught:
        check_region("mars-north-1", "target_region")
    assert "'mars-north-1' is not a region where DRS is available" in caught.value.message
    assert "us-east-1" in caught.value.message
    with pytest.raises(InputError):
        check_region("", "target_region")


def test_account_ids_and_ranges():
    assert check_account_id(123456789012, "account_id") == "123456789012"
    with pytest.raises(InputError):
        check_account_id("12345", "account_id")
    assert check_range(50, "batch_size", 1, 50) == 50
    for bad in (0, 51):
        with pytest.raises(InputError) as caught:
            check_range(bad, "batch_size", 1, 50)
        assert f"batch_size must be between 1 and 50, got {bad}" in caught.value.message
