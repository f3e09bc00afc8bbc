"""The agent installations tracking table (brief, Phase 5.1)."""

from __future__ import annotations

import pulumi
import pulumi_aws as aws

# The schema the core's tracking module writes (CommandId, CreatedAt, TTL ...).
HASH_KEY = "CommandId"
CREATED_AT = "CreatedAt"
CREATED_DAY = "CreatedDay"
CREATED_AT_INDEX = "CreatedAtIndex"
TTL_ATTRIBUTE = "TTL"


class TrackingTable(pulumi.ComponentResource):
    """One record per SSM install command: who sent it, when, for which instances, its status.

    On-demand billing, encrypted with the AWS managed KMS key, point-in-time recovery on,
    records expire through the ``TTL`` attribute (epoch seconds). ``CreatedAtIndex`` lists
    installs by creation time: hash key ``CreatedDay`` (the UTC day, ``YYYY-MM-DD``),
    range key ``CreatedAt`` -- a Query per day, in time order, optionally bounded by time
    (a hash key is compared for equality only, so ``CreatedAt`` alone could not).
    """

    def __init__(self, name, *, table_name, deletion_protection, tags, opts=None):
        super().__init__("drs-orchestration:tracking:Table", name, None, opts)
        self.table = aws.dynamodb.Table(
            name,
            name=table_name,
            billing_mode="PAY_PER_REQUEST",
            hash_key=HASH_KEY,
            attributes=[
                aws.dynamodb.TableAttributeArgs(name=HASH_KEY, type="S"),
                aws.dynamodb.TableAttributeArgs(name=CREATED_AT, type="S"),
                aws.dynamodb.TableAttributeArgs(name=CREATED_DAY, type="S"),
            ],
            global_secondary_indexes=[
                aws.dynamodb.TableGlobalSecondaryIndexArgs(
                    name=CREATED_AT_INDEX,
                    key_schemas=[
                        aws.dynamodb.TableGlobalSecondaryIndexKeySchemaArgs(
                            attribute_name=CREATED_DAY, key_type="HASH"
                        ),
                        aws.dynamodb.TableGlobalSecondaryIndexKeySchemaArgs(
                            attribute_name=CREATED_AT, key_type="RANGE"
                        ),
                    ],
                    projection_type="ALL",
                )
            ],
            ttl=aws.dynamodb.TableTtlArgs(attribute_name=TTL_ATTRIBUTE, enabled=True),
            # enabled=True: the AWS managed key (aws/dynamodb), whose use CloudTrail records.
            server_side_encryption=aws.dynamodb.TableServerSideEncryptionArgs(enabled=True),
            point_in_time_recovery=aws.dynamodb.TablePointInTimeRecoveryArgs(enabled=True),
            deletion_protection_enabled=deletion_protection,
            tags=tags,
            opts=pulumi.ResourceOptions(parent=self),
        )
        self.name = self.table.name
        self.arn = self.table.arn
        self.register_outputs({"name": self.name, "arn": self.arn})
