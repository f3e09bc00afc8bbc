# Copyright: Contributors to drs.orchestration
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Input checks shared by modules and the REST handler: IDs, regions, numbers.

Each check raises :class:`InputError` with a message that names the bad values and
shows the expected form, so a user can fix the input without reading code.
"""

from __future__ import annotations

import functools
import re

from .errors import InputError

# Patterns from the service models (botocore ``drs``/``ec2``) and EC2's ID format.
EC2_INSTANCE_ID = re.compile(r"^i-(?:[0-9a-f]{8}|[0-9a-f]{17})$")
SOURCE_SERVER_ID = re.compile(r"^s-[0-9a-zA-Z]{17}$")
# The model: pattern i-[0-9a-fA-F]{8,}, length 10-19.
RECOVERY_INSTANCE_ID = re.compile(r"^i-[0-9a-fA-F]{8,17}$")
JOB_ID = re.compile(r"^drsjob-[0-9a-zA-Z]{17}$")
SNAPSHOT_ID = re.compile(r"^pit-[0-9a-zA-Z]{17}$")
ACCOUNT_ID = re.compile(r"^[0-9]{12}$")

_KINDS = {
    "instance": (EC2_INSTANCE_ID, "an EC2 instance ID like i-0123456789abcdef0"),
    "source_server": (SOURCE_SERVER_ID, "a DRS source server ID like s-0123456789abcdef0"),
    "recovery_instance": (RECOVERY_INSTANCE_ID, "a DRS recovery instance ID like i-0123456789abcdef0"),
    "job": (JOB_ID, "a DRS job ID like drsjob-0123456789abcdef0"),
    "snapshot": (SNAPSHOT_ID, "a DRS recovery snapshot ID like pit-0123456789abcdef0"),
}


def check_ids(values, kind, option):
    """Validate and de-duplicate IDs (order kept). ``option`` names the input for messages."""
    pattern, expected = _KINDS[kind]
    if values is None:
        return []
    if isinstance(values, str):
        values = [values]
    bad = [v for v in values if not isinstance(v, str) or not pattern.match(v)]
    if bad:
        shown = ", ".join(repr(v) for v in bad[:10]) + (f" and {len(bad) - 10} more" if len(bad) > 10 else "")
        verb = "is" if len(bad) == 1 else "are"
        raise InputError(f"{option}: {shown} {verb} not {expected}.")
    seen = set()
    out = []
    for value in values:
        if value not in seen:
            seen.add(value)
            out.append(value)
    return out


@functools.cache
def service_regions(service):
    """Regions where ``service`` has an endpoint, from botocore's endpoint data (all partitions).

    Cached: the data ships with botocore, and polling loops validate a region per round.
    The data is read through the process's shared loader (``aws.data_loader``), which the
    module's own AWS clients use too: parsed once per run.
    """
    from .aws import data_session

    session = data_session()
    regions = set()
    for partition in session.get_available_partitions():
        regions.update(session.get_available_regions(service, partition_name=partition))
    return frozenset(regions)


def check_region(region, option, service="drs"):
    """A region where ``service`` exists; the message lists the valid ones."""
    if not region or not isinstance(region, str):
        raise InputError(f"{option} is required: the AWS region to use, for example us-east-1.")
    known = service_regions(service)
    if region not in known:
        raise InputError(
            f"{option}: {region!r} is not a region where {service.upper()} is available. "
            f"Valid regions: {', '.join(sorted(known))}."
        )
    return region


def check_regions(regions, default_region, option="regions"):
    """De-duplicated regions where DRS exists; None means ``[default_region]`` (the module's region)."""
    if regions is None:
        if not default_region:
            raise InputError(f"No region: set {option} (a list) or the module's region / AWS_REGION.")
        regions = [default_region]
    if isinstance(regions, str):
        regions = [regions]
    if not regions:
        raise InputError(f"{option} is empty: name at least one region, or leave it unset to use the module's region.")
    return tuple(dict.fromkeys(check_region(r, option) for r in regions))


def check_account_id(value, option):
    if value is None:
        return None
    value = str(value)
    if not ACCOUNT_ID.match(value):
        raise InputError(f"{option}: {value!r} is not a 12-digit AWS account ID.")
    return value


def check_range(value, option, low=None, high=None):
    """A number within [low, high]; None passes through (option not set)."""
    if value is None:
        return None
    if (low is not None and value < low) or (high is not None and value > high):
        if high is None:
            bounds = f"at least {low}"
        elif low is None:
            bounds = f"at most {high}"
        else:
            bounds = f"between {low} and {high}"
        raise InputError(f"{option} must be {bounds}, got {value}.")
    return value
