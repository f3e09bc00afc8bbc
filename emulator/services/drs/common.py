"""Small pieces every part of the DRS emulation shares: enums from the model, time format, ids, tokens."""

from __future__ import annotations

import base64
import bisect
import hashlib
import json
from datetime import UTC, datetime

from ...errors import AwsError, ValidationError
from ...protocols import service_model


def enum(shape: str) -> tuple[str, ...]:
    """An enum of the botocore DRS model, in model order (the order AWS documents)."""
    return tuple(service_model("drs").shape_for(shape).enum)


SOURCE_STEPS = enum("DataReplicationInitiationStepName")  # the 11 initiation steps
FAILBACK_STEPS = enum("RecoveryInstanceDataReplicationInitiationStepName")  # the 18 failback steps
REPLICATION_ERRORS = enum("DataReplicationErrorString")

# Paging: AWS documents no default page size and no maximum for these calls (the model's
# maxResults is only "min 1"); see docs/emulator-drs.md.
DEFAULT_PAGE_SIZE = 100
MAX_PAGE_SIZE = 1000

# Quotas from the DRS user guide ("Elastic Disaster Recovery quotas").
MAX_CONCURRENT_JOBS = 20
MAX_SERVERS_IN_ACTIVE_JOBS = 500

AGENT_VERSION = "4.7.0"


def drs_time(dt: datetime | None) -> str | None:
    """DRS date-time strings as the model's ISO8601DatetimeString pattern has them: UTC, seconds, 'Z'."""
    if dt is None:
        return None
    if dt.tzinfo is not UTC:
        dt = dt.astimezone(UTC)
    return dt.replace(microsecond=0, tzinfo=None).isoformat() + "Z"


def parse_drs_time(text: str, field: str) -> datetime:
    """A request's ISO 8601 date-time (the model already checked the pattern)."""
    try:
        return datetime.fromisoformat(text.replace("Z", "+00:00")).astimezone(UTC)
    except ValueError as exc:
        raise ValidationError(f"{field} {text!r} is not an ISO 8601 date-time such as 2024-05-01T12:00:00Z") from exc


def whole_seconds(dt: datetime) -> datetime:
    """A time as clients see it (rendered to the second): date filters compare with this."""
    return dt.replace(microsecond=0)


def stable_hex(*parts: object, length: int = 17) -> str:
    """Deterministic lowercase hex derived from ``parts`` (ids that must not consume the world's RNG)."""
    digest = hashlib.blake2b("|".join(str(p) for p in parts).encode(), digest_size=16).hexdigest()
    return digest[:length]


def arn(region: str, account_id: str, kind: str, resource_id: str) -> str:
    return f"arn:aws:drs:{region}:{account_id}:{kind}/{resource_id}"


def split_arn(value: str) -> tuple[str, str, str, str] | None:
    """(region, account, kind, id) of a DRS ARN, or None when it is not one."""
    parts = value.split(":", 5)
    if len(parts) != 6 or parts[0] != "arn" or parts[2] != "drs" or "/" not in parts[5]:
        return None
    kind, _, resource_id = parts[5].partition("/")
    return parts[3], parts[4], kind, resource_id


# Pagination ------------------------------------------------------------------------
# A token names the operation and the sort key of the last item returned, so pages stay
# correct when items are added or removed between calls. It is opaque to clients.


def page_size(params: dict) -> int:
    return min(int(params.get("maxResults") or DEFAULT_PAGE_SIZE), MAX_PAGE_SIZE)


def encode_token(operation: str, key) -> str:
    raw = json.dumps({"op": operation, "after": key}, separators=(",", ":")).encode()
    return base64.urlsafe_b64encode(raw).decode().rstrip("=")


def decode_token(operation: str, token: str | None):
    """The sort key a token continues after, or None for the first page."""
    if not token:
        return None
    try:
        padded = token + "=" * (-len(token) % 4)
        data = json.loads(base64.urlsafe_b64decode(padded.encode()))
        if data["op"] != operation:
            raise ValueError(data["op"])
        return data["after"]
    except (ValueError, KeyError, TypeError) as exc:
        raise ValidationError(
            f"nextToken is not a token returned by {operation}; pass the nextToken of the previous page unchanged"
        ) from exc


def paginate(operation: str, params: dict, items: list, key) -> dict:
    """One page of ``items`` (already filtered and sorted ascending by ``key(item)``)."""
    after = decode_token(operation, params.get("nextToken"))
    start = 0 if after is None else bisect.bisect_right(items, after, key=key)
    size = page_size(params)
    page = items[start : start + size]
    result: dict = {"items": page}
    if start + size < len(items):
        result["nextToken"] = encode_token(operation, key(page[-1]))
    return result


# Errors --------------------------------------------------------------------------------


def not_found(kind: str, resource_id: str) -> AwsError:
    label = kind.replace("_", " ").lower()
    return AwsError(
        "ResourceNotFoundException",
        f"{label} {resource_id} not found",
        404,
        resourceId=resource_id,
        resourceType=kind,
    )


def conflict(message: str, resource_id: str, kind: str) -> AwsError:
    return AwsError("ConflictException", message, resourceId=resource_id, resourceType=kind)
