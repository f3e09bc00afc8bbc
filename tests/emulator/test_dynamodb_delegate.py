"""DynamoDB through the emulator endpoint (delegated to moto): the tracking-table operations the project uses."""

from __future__ import annotations

import pytest
from boto3.dynamodb.conditions import Key
from botocore.exceptions import ClientError

TABLE = "agent-installations"


@pytest.fixture
def emu(emulator_factory):
    return emulator_factory()


def create_table(client, name=TABLE):
    client.create_table(
        TableName=name,
        BillingMode="PAY_PER_REQUEST",
        AttributeDefinitions=[
            {"AttributeName": "CommandId", "AttributeType": "S"},
            {"AttributeName": "CreatedAt", "AttributeType": "S"},
        ],
        KeySchema=[{"AttributeName": "CommandId", "KeyType": "HASH"}],
        GlobalSecondaryIndexes=[
            {
                "IndexName": "CreatedAtIndex",
                "KeySchema": [{"AttributeName": "CreatedAt", "KeyType": "HASH"}],
                "Projection": {"ProjectionType": "ALL"},
            }
        ],
    )


def test_the_tracking_table_lifecycle_works_through_a_boto3_client(emu):
    ddb = emu.client("dynamodb")
    create_table(ddb)
    ddb.update_time_to_live(TableName=TABLE, TimeToLiveSpecification={"AttributeName": "TTL", "Enabled": True})

    ddb.put_item(
        TableName=TABLE, Item={"CommandId": {"S": "c-1"}, "CreatedAt": {"S": "2025-01-01"}, "Status": {"S": "Pending"}}
    )
    ddb.update_item(
        TableName=TABLE,
        Key={"CommandId": {"S": "c-1"}},
        UpdateExpression="SET #s = :s",
        ExpressionAttributeNames={"#s": "Status"},
        ExpressionAttributeValues={":s": {"S": "Success"}},
    )
    item = ddb.get_item(TableName=TABLE, Key={"CommandId": {"S": "c-1"}})["Item"]
    by_day = ddb.query(
        TableName=TABLE,
        IndexName="CreatedAtIndex",
        KeyConditionExpression="CreatedAt = :d",
        ExpressionAttributeValues={":d": {"S": "2025-01-01"}},
    )["Items"]
    ddb.delete_item(TableName=TABLE, Key={"CommandId": {"S": "c-1"}})

    assert ddb.describe_table(TableName=TABLE)["Table"]["TableStatus"] == "ACTIVE"
    assert ddb.describe_time_to_live(TableName=TABLE)["TimeToLiveDescription"]["AttributeName"] == "TTL"
    assert item["Status"] == {"S": "Success"}
    assert [i["CommandId"]["S"] for i in by_day] == ["c-1"]
    assert ddb.scan(TableName=TABLE)["Items"] == []


def test_the_resource_api_works_too(emu):
    create_table(emu.client("dynamodb"))
    import boto3

    resource = boto3.resource(
        "dynamodb",
        region_name="us-east-1",
        endpoint_url=emu.endpoint,
        aws_access_key_id=emu.env()["AWS_ACCESS_KEY_ID"],
        aws_secret_access_key=emu.env()["AWS_SECRET_ACCESS_KEY"],
    )
    table = resource.Table(TABLE)
    table.put_item(Item={"CommandId": "c-2", "CreatedAt": "2025-02-02", "InstanceIds": ["i-1", "i-2"]})

    items = table.query(IndexName="CreatedAtIndex", KeyConditionExpression=Key("CreatedAt").eq("2025-02-02"))["Items"]

    assert items == [{"CommandId": "c-2", "CreatedAt": "2025-02-02", "InstanceIds": ["i-1", "i-2"]}]
    assert len(table.scan()["Items"]) == 1


def test_dynamodb_errors_arrive_as_the_modeled_exceptions(emu):
    ddb = emu.client("dynamodb")

    with pytest.raises(ddb.exceptions.ResourceNotFoundException):
        ddb.describe_table(TableName="missing")
    create_table(ddb)
    with pytest.raises(ddb.exceptions.ResourceInUseException):
        create_table(ddb)


def test_tables_are_per_account_and_region(emulator_factory):
    emu = emulator_factory({"accounts": {"AKIAOTHERACCOUNT0000": "210987654321"}})
    create_table(emu.client("dynamodb"))

    assert emu.client("dynamodb").list_tables()["TableNames"] == [TABLE]
    assert emu.client("dynamodb", region="eu-west-1").list_tables()["TableNames"] == []
    assert emu.client("dynamodb", access_key="AKIAOTHERACCOUNT0000").list_tables()["TableNames"] == []


def test_admin_reset_empties_dynamodb(emu):
    create_table(emu.client("dynamodb"))

    emu.admin.reset()

    assert emu.client("dynamodb").list_tables()["TableNames"] == []


def test_dynamodb_calls_are_logged_and_can_be_throttled(emu):
    ddb = emu.client("dynamodb", retries={"mode": "standard", "max_attempts": 3})
    emu.admin.faults(throttle_next={"dynamodb:ListTables": 2})

    assert ddb.list_tables()["TableNames"] == []  # the retryer rode out two throttles

    calls = emu.calls("dynamodb", "ListTables")
    assert [(c["status"], c["error"]) for c in calls] == [(400, "ThrottlingException")] * 2 + [(200, None)]
    no_retry = emu.client("dynamodb", retries={"mode": "standard", "total_max_attempts": 1})
    emu.admin.faults(throttle_next={"dynamodb:ListTables": 1})
    with pytest.raises(ClientError, match="ThrottlingException"):
        no_retry.list_tables()
