# Copyright: Contributors to drs.orchestration
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
"""The DynamoDB record of agent-install commands, shared by the module and the REST API.

One item per SSM command, keyed by ``CommandId``::

    CommandId    S   hash key
    InstanceIds  L   of S
    TargetRegion S   where DRS replicates the instances to
    CommandRegion S  where the SSM command runs (the instances' Region); absent on records
                     written before it was added
    Status       S   Pending | InProgress | Success | Failed | Cancelled
    CreatedAt    S   ISO 8601 (UTC); range key of the CreatedAtIndex GSI
    CreatedDay   S   the UTC day of CreatedAt (YYYY-MM-DD); hash key of the CreatedAtIndex GSI
    CreatedBy    S   who sent it (IAM ARN, or the REST API's user)
    TTL          N   epoch seconds; DynamoDB expires the item after it
    UpdatedAt    S   ISO 8601, set by update_status

The index lists the installs of a day in time order (Query ``CreatedDay = :day``, with a
``CreatedAt`` range for part of it); a hash key is compared for equality only, so
``CreatedAt`` alone could not list a time range.

Writes are conditional, so a re-run (or a retried write) never duplicates or
resurrects a record: ``record_command`` only creates, ``update_status`` only updates.
"""

from __future__ import annotations

import time
from datetime import timedelta

from .aws import error_code, error_message, is_ambiguous, retry_throttled
from .errors import DrsOrchestrationError, InputError
from .timeutil import isoformat, parse_datetime, utcnow

_CONDITION_FAILED = "ConditionalCheckFailedException"
_PROBE_KEY = "drs-orchestration-tracking-table-check"  # a CommandId no SSM command has


class TrackingTable:
    """Records agent-install commands in ``table_name`` (client: a boto3 ``dynamodb`` client)."""

    def __init__(self, client, table_name, sleep=time.sleep):
        if not table_name or not isinstance(table_name, str):
            raise InputError("tracking_table must be the name of a DynamoDB table.")
        self.client = client
        self.table_name = table_name
        self.sleep = sleep

    def check(self, region=None):
        """Fail before anything is sent when the table cannot take the records.

        A GetItem of a key no command has (the IAM action the writers already need to
        read records back): it proves the table exists, its hash key is ``CommandId``
        (string) and these credentials may read it.
        """
        where = f" in {region}" if region else ""
        try:
            retry_throttled(
                self.client.get_item,
                sleep=self.sleep,
                TableName=self.table_name,
                Key={"CommandId": {"S": _PROBE_KEY}},
                ProjectionExpression="CommandId",
            )
        except Exception as exc:
            code = error_code(exc)
            if code == "ResourceNotFoundException":
                raise InputError(
                    f"tracking_table {self.table_name!r} does not exist{where} (the module's region, not "
                    "target_region). Give the name of the table the REST API uses (the Pulumi stack's tracking "
                    "table), or leave tracking_table unset. Nothing was sent."
                ) from exc
            if code == "ValidationException":
                raise InputError(
                    f"tracking_table {self.table_name!r}{where} cannot hold install records ({error_message(exc)}): "
                    "it must be a valid table name, and the table's hash key must be CommandId (string). Nothing "
                    "was sent."
                ) from exc
            if code == "AccessDeniedException":
                raise DrsOrchestrationError(
                    f"tracking_table {self.table_name!r}{where} is not readable with these credentials ({code}): "
                    "grant dynamodb:GetItem, dynamodb:PutItem and dynamodb:UpdateItem on it, or leave "
                    "tracking_table unset. Nothing was sent."
                ) from exc
            raise

    def _write(self, call, create, **kwargs):
        """Run a conditional write; True when it applied, False when its condition did not hold.

        Throttling is retried; an ambiguous failure is retried once, which the condition
        makes safe. For a create (``attribute_not_exists``), a failed condition on that
        retry means the first attempt applied.
        """
        for attempt in (1, 2):
            try:
                retry_throttled(call, sleep=self.sleep, **kwargs)
                return True
            except Exception as exc:
                if error_code(exc) == _CONDITION_FAILED:
                    return create and attempt == 2
                if attempt == 2 or not is_ambiguous(exc):
                    raise
        return False  # not reached

    def record_command(
        self,
        command_id,
        instance_ids,
        target_region,
        status,
        created_by,
        ttl_days=90,
        created_at=None,
        command_region=None,
    ):
        """Create the record of a command; False when it already exists (a re-run re-attached to it).

        :param command_region: the Region the SSM command runs in (a status lookup needs it)
        """
        created = parse_datetime(created_at) or utcnow()
        expires = int((created + timedelta(days=ttl_days)).timestamp())
        item = {
            "CommandId": {"S": command_id},
            "InstanceIds": {"L": [{"S": i} for i in instance_ids]},
            "TargetRegion": {"S": target_region},
            "Status": {"S": status},
            "CreatedAt": {"S": isoformat(created)},
            "CreatedDay": {"S": isoformat(created)[:10]},
            "CreatedBy": {"S": created_by or "unknown"},
            "TTL": {"N": str(expires)},
        }
        if command_region:
            item["CommandRegion"] = {"S": command_region}
        return self._write(
            self.client.put_item,
            True,
            TableName=self.table_name,
            Item=item,
            ConditionExpression="attribute_not_exists(CommandId)",
        )

    def update_status(self, command_id, status, updated_at=None, summary=None, only_from=None):
        """Set a recorded command's status (and outcome counts); False when no record exists.

        :param only_from: statuses the record may have for the update to apply (e.g. the
            unfinished ones); None updates whatever it holds. False when it holds another.
        """
        names = {"#status": "Status"}
        values = {":status": {"S": status}, ":updated": {"S": isoformat(parse_datetime(updated_at) or utcnow())}}
        expression = "SET #status = :status, UpdatedAt = :updated"
        condition = "attribute_exists(CommandId)"
        if only_from:
            allowed = {f":from{n}": {"S": value} for n, value in enumerate(only_from)}
            values.update(allowed)
            condition += f" AND #status IN ({', '.join(allowed)})"
        if summary:
            values[":summary"] = {"M": {k: {"N": str(int(v))} for k, v in summary.items()}}
            expression += ", Summary = :summary"
        return self._write(
            self.client.update_item,
            False,
            TableName=self.table_name,
            Key={"CommandId": {"S": command_id}},
            UpdateExpression=expression,
            ConditionExpression=condition,
            ExpressionAttributeNames=names,
            ExpressionAttributeValues=values,
        )

    def get(self, command_id):
        """The record as plain data, or None."""
        item = self.client.get_item(
            TableName=self.table_name, Key={"CommandId": {"S": command_id}}, ConsistentRead=True
        ).get("Item")
        return _plain(item) if item else None


def _plain(item):
    """DynamoDB attribute values -> Python values (S, N, L, M, BOOL, NULL)."""

    def value(v):
        if "S" in v:
            return v["S"]
        if "N" in v:
            number = float(v["N"])
            return int(number) if number.is_integer() else number
        if "L" in v:
            return [value(x) for x in v["L"]]
        if "M" in v:
            return {k: value(x) for k, x in v["M"].items()}
        if "BOOL" in v:
            return v["BOOL"]
        return None

    return {k: value(v) for k, v in item.items()}
