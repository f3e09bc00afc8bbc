"""InstallRequest.from_options: every bad input is refused with a message that says what to fix."""

from __future__ import annotations

import pytest

from ansible_collections.drs.orchestration.plugins.module_utils.agent_install import InstallRequest
from ansible_collections.drs.orchestration.plugins.module_utils.errors import InputError

GOOD_ID = "i-0123456789abcdef0"


def request(**options):
    options.setdefault("target_region", "us-west-2")
    if "instance_ids" not in options and "instance_filters" not in options:
        options["instance_ids"] = [GOOD_ID]
    return InstallRequest.from_options(**options)


def refused(**options):
    with pytest.raises(InputError) as info:
        request(**options)
    return info.value.message


def test_defaults_follow_the_documented_behaviour():
    r = request()
    assert r.document_name == "AWSDisasterRecovery-InstallDRAgentOnInstance"
    assert (r.batch_size, r.skip_protected, r.precheck, r.wait, r.wait_for_registration) == (50, True, True, True, True)
    assert (r.max_failures, r.retry_failed, r.tags) == (0, False, {})


def test_duplicate_instance_ids_are_sent_once():
    assert request(instance_ids=[GOOD_ID, GOOD_ID]).instance_ids == [GOOD_ID]


def test_malformed_instance_id_is_named_with_the_expected_form():
    message = refused(instance_ids=[GOOD_ID, "i-xyz", "web01"])
    assert "'i-xyz'" in message
    assert "'web01'" in message
    assert "i-0123456789abcdef0" in message


def test_empty_selection_asks_for_ids_or_filters():
    message = refused(instance_ids=[], instance_filters={})
    assert "instance_ids" in message
    assert "instance_filters" in message


@pytest.mark.parametrize("size", [0, 51, -1])
def test_batch_size_outside_1_to_50_is_refused(size):
    assert "batch_size must be between 1 and 50" in refused(batch_size=size)


def test_filters_with_more_values_than_ec2_takes_in_one_request_are_refused():
    many = [f"app-{n}" for n in range(200)]
    assert "200 values in all; EC2 takes at most 199 beside instance_ids" in refused(
        instance_ids=["i-0123456789abcdef0"], instance_filters={"tag:Name": many}
    )
    assert "201 values in all; EC2 takes at most 200 in one request." in refused(
        instance_filters={"tag:Name": many, "instance-state-name": "running"}
    )
    assert request(instance_filters={"tag:Name": many}).instance_filters == {"tag:Name": many}


def test_unknown_target_region_lists_the_drs_regions():
    message = refused(target_region="us-north-7")
    assert "'us-north-7' is not a region where DRS is available" in message
    assert "us-east-1" in message


def test_missing_target_region_is_required():
    with pytest.raises(InputError, match="target_region is required"):
        InstallRequest.from_options(instance_ids=[GOOD_ID])


@pytest.mark.parametrize(
    ("tags", "bad"),
    [
        ({"Env": "prod,owner=me"}, "','"),
        ({"Env=x": "prod"}, "'='"),
        ({"My Env": "a"}, "' '"),
        ({"Env": "café"}, "'é'"),
        ({"Env": "it's"}, '"\'"'),
        ({"Env": "$(reboot)"}, "'$'"),
    ],
)
def test_tags_that_would_corrupt_the_k_v_string_are_refused(tags, bad):
    message = refused(tags=tags)
    assert bad in message
    assert "K=V,K=V" in message


def test_tag_values_may_contain_spaces_but_not_be_empty():
    assert request(tags={"Owner": "Ops Team"}).tags_parameter == "Owner=Ops Team"
    assert "value of 'Owner' must have 1 to 50 characters" in refused(tags={"Owner": ""})


def test_more_tags_than_the_document_accepts_are_refused():
    assert "at most 21 tags" in refused(tags={f"k{n}": "v" for n in range(22)})


def test_reserved_tag_prefix_is_refused():
    assert "reserved prefix 'aws:'" in refused(tags={"aws:owner": "me"})


def test_tags_become_the_documents_k_v_string():
    r = request(tags={"Environment": "Production", "App": "web-01", "Critical": True})
    assert r.tags_parameter == "Environment=Production,App=web-01,Critical=true"


def test_account_id_must_have_12_digits():
    assert "12-digit" in refused(account_id="12345")


@pytest.mark.parametrize(
    ("option", "value", "expected"),
    [
        ("max_concurrency", "0", "a number of instances"),
        ("max_concurrency", "101%", "a number of instances"),
        ("max_errors", "-1", "a number of errors"),
        ("timeout_seconds", 10, "timeout_seconds must be between 30 and 2592000"),
        ("poll_interval", 0, "poll_interval must be a number of seconds above 0"),
        ("wait_timeout", -5, "wait_timeout must be at least 0"),
        ("max_failures", -1, "max_failures must be at least 0"),
        ("document_version", "latest", "version number, $LATEST or $DEFAULT"),
        ("document_name", "x", "is not an SSM document name"),
        ("output_s3_key_prefix", "logs/", "needs output_s3_bucket"),
        ("wait", "yes", "wait must be true or false"),
        ("batch_size", "10", "batch_size must be a whole number"),
    ],
)
def test_out_of_range_or_malformed_options_are_refused(option, value, expected):
    assert expected in refused(**{option: value})


def test_concurrency_controls_accept_numbers_and_percentages():
    r = request(max_concurrency=10, max_errors="10%")
    assert (r.max_concurrency, r.max_errors) == ("10", "10%")


def test_unknown_option_is_named():
    assert "Unknown option(s) instance_id" in refused(instance_id=GOOD_ID)


def test_filter_values_must_be_strings_or_lists():
    assert "instance_filters['tag:dr']" in refused(instance_ids=None, instance_filters={"tag:dr": {"a": 1}})
