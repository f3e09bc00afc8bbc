"""STS GetCallerIdentity: the account comes from the access key (fleet ``accounts``), as across real accounts."""

from __future__ import annotations

import pytest

from emulator.validate import StrictResponses
from tests.module_harness import emulator_args, run_module

OTHER_KEY = "AKIAOTHERACCOUNT0000"
OTHER_ACCOUNT = "210987654321"


@pytest.fixture
def emu(emulator_factory):
    return emulator_factory({"account_id": "111122223333", "accounts": {OTHER_KEY: OTHER_ACCOUNT}})


def test_caller_identity_names_the_fleet_account_for_the_default_key(emu):
    sts = emu.client("sts")
    strict = StrictResponses(sts)

    identity = sts.get_caller_identity()

    assert identity["Account"] == "111122223333"
    assert identity["Arn"] == "arn:aws:iam::111122223333:user/emulator"
    assert identity["UserId"]
    assert strict.seen == ["GetCallerIdentity"]


def test_another_access_key_is_another_account(emu):
    identity = emu.client("sts", access_key=OTHER_KEY).get_caller_identity()

    assert identity["Account"] == OTHER_ACCOUNT
    assert identity["Arn"].startswith(f"arn:aws:iam::{OTHER_ACCOUNT}:")


def test_the_account_is_the_same_in_every_region(emu):
    accounts = {emu.client("sts", region=r).get_caller_identity()["Account"] for r in ("us-east-1", "eu-west-1")}

    assert accounts == {"111122223333"}


def test_the_call_log_records_the_account_of_each_caller(emu):
    emu.client("sts").get_caller_identity()
    emu.client("sts", access_key=OTHER_KEY).get_caller_identity()

    assert [c["account_id"] for c in emu.calls("sts", "GetCallerIdentity")] == ["111122223333", OTHER_ACCOUNT]


def test_amazon_aws_caller_info_works_without_the_iam_alias(emu):
    """aws_caller_info also calls iam:ListAccountAliases; IAM is not emulated, and the module
    treats that failure as "no alias" (documented in emulator/README.md)."""
    from ansible_collections.amazon.aws.plugins.modules import aws_caller_info

    caller = run_module(aws_caller_info, {**emulator_args(emu, "us-east-1"), "access_key": OTHER_KEY})

    assert caller.get("failed") is not True, caller.get("msg")
    assert caller["account"] == OTHER_ACCOUNT
    assert "account_alias" not in caller
