"""The tracking table: one record per command in the REST API's schema, never duplicated."""

from __future__ import annotations

import boto3
import pytest
from botocore.exceptions import ClientError
from moto import mock_aws

from ansible_collections.drs.orchestration.plugins.module_utils.errors import InputError
from ansible_collections.drs.orchestration.plugins.module_utils.tracking import TrackingTable

TABLE = "drs-agent-installations-test"
COMMAND_ID = "11111111-2222-4333-8444-555555555555"


@pytest.fixture
def dynamodb(monkeypatch):
    for name in ("AWS_ENDPOINT_URL", "AWS_PROFILE"):
        monkeypatch.delenv(name, raising=False)
    with mock_aws():
        client = boto3.client("dynamodb", region_name="us-east-1", aws_access_key_id="k", aws_secret_access_key="s")
        client.create_table(
            TableName=TABLE,
            BillingMode="PAY_PER_REQUEST",
            AttributeDefinitions=[
                {"AttributeName": "CommandId", "AttributeType": "S"},
                {"AttributeName": "CreatedAt", "AttributeType": "S"},
                {"AttributeName": "CreatedDay", "AttributeType": "S"},
            ],
            KeySchema=[{"AttributeName": "CommandId", "KeyType": "HASH"}],
            GlobalSecondaryIndexes=[
                {
                    "IndexName": "CreatedAtIndex",
                    "KeySchema": [
                        {"AttributeName": "CreatedDay", "KeyType": "HASH"},
                        {"AttributeName": "CreatedAt", "KeyType": "RANGE"},
                    ],
                    "Projection": {"ProjectionType": "ALL"},
                }
            ],
        )
        yield client


def test_record_has_the_rest_api_schema(dynamodb):
    table = TrackingTable(dynamodb, TABLE)
    assert table.record_command(
        COMMAND_ID,
        ["i-0123456789abcdef0"],
        "us-west-2",
        "Pending",
        "arn:aws:iam::123456789012:user/ops",
        ttl_days=7,
        created_at="2025-01-01T00:00:00Z",
        command_region="us-east-1",
    )
    item = table.get(COMMAND_ID)
    assert item == {
        "CommandId": COMMAND_ID,
        "InstanceIds": ["i-0123456789abcdef0"],
        "TargetRegion": "us-west-2",
        "CommandRegion": "us-east-1",
        "Status": "Pending",
        "CreatedAt": "2025-01-01T00:00:00+00:00",
        "CreatedDay": "2025-01-01",
        "CreatedBy": "arn:aws:iam::123456789012:user/ops",
        "TTL": 1736294400,  # 2025-01-08T00:00:00Z
    }
    by_date = dynamodb.query(
        TableName=TABLE,
        IndexName="CreatedAtIndex",
        KeyConditionExpression="CreatedDay = :day AND CreatedAt BETWEEN :from AND :to",
        ExpressionAttributeValues={
            ":day": {"S": "2025-01-01"},
            ":from": {"S": "2025-01-01T00:00:00"},
            ":to": {"S": "2025-01-01T01:00:00"},
        },
    )
    assert [i["CommandId"]["S"] for i in by_date["Items"]] == [COMMAND_ID]


def test_recording_twice_keeps_the_first_record(dynamodb):
    table = TrackingTable(dynamodb, TABLE)
    assert table.record_command(COMMAND_ID, ["i-0123456789abcdef0"], "us-west-2", "Pending", "first")
    assert table.record_command(COMMAND_ID, ["i-0123456789abcdef0"], "us-west-2", "Pending", "second") is False
    assert table.get(COMMAND_ID)["CreatedBy"] == "first"
    assert dynamodb.scan(TableName=TABLE)["Count"] == 1


def test_status_update_sets_status_and_counts(dynamodb):
    table = TrackingTable(dynamodb, TABLE)
    table.record_command(COMMAND_ID, ["i-0123456789abcdef0"], "us-west-2", "Pending", "me")
    assert table.update_status(COMMAND_ID, "Failed", updated_at="2025-01-01T01:00:00Z", summary={"Success": 1})
    item = table.get(COMMAND_ID)
    assert (item["Status"], item["UpdatedAt"], item["Summary"]) == (
        "Failed",
        "2025-01-01T01:00:00+00:00",
        {"Success": 1},
    )


def test_status_update_only_from_given_statuses(dynamodb):
    table = TrackingTable(dynamodb, TABLE)
    table.record_command(COMMAND_ID, ["i-0123456789abcdef0"], "us-west-2", "Pending", "me")
    assert table.update_status(COMMAND_ID, "Success", only_from=("Pending", "InProgress"))
    assert table.update_status(COMMAND_ID, "Failed", only_from=("Pending", "InProgress")) is False
    assert table.get(COMMAND_ID)["Status"] == "Success"


def test_status_update_never_creates_a_partial_record(dynamodb):
    table = TrackingTable(dynamodb, TABLE)
    assert table.update_status(COMMAND_ID, "Success") is False
    assert table.get(COMMAND_ID) is None


class FlakyClient:
    """put_item whose first answer is lost after it was applied (ambiguous), then a real client."""

    def __init__(self, real):
        self.real = real
        self.calls = 0

    def put_item(self, **kwargs):
        self.calls += 1
        result = self.real.put_item(**kwargs)
        if self.calls == 1:
            raise ClientError(
                {"Error": {"Code": "InternalServerError", "Message": "x"}, "ResponseMetadata": {"HTTPStatusCode": 500}},
                "PutItem",
            )
        return result


def test_ambiguous_write_is_retried_and_counts_as_recorded(dynamodb):
    flaky = FlakyClient(dynamodb)
    table = TrackingTable(flaky, TABLE)
    assert table.record_command(COMMAND_ID, ["i-0123456789abcdef0"], "us-west-2", "Pending", "me") is True
    assert flaky.calls == 2
    assert dynamodb.scan(TableName=TABLE)["Count"] == 1


def test_table_name_is_required():
    with pytest.raises(InputError, match="tracking_table"):
        TrackingTable(object(), "")
