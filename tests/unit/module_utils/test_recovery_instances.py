"""Recovery instance records: labels, progress, reversed-direction server, hostname, next step.

Items are shaped like the botocore model (drs 2020-02-26). The reading functions run
against botocore Stubbers so the exact calls (and their number) are asserted.
"""

from __future__ import annotations

from datetime import UTC, datetime

import boto3
import botocore.session
import pytest
from botocore.stub import Stubber

from ansible_collections.drs.orchestration.plugins.module_utils import dashboard
from ansible_collections.drs.orchestration.plugins.module_utils import recovery_instances as ri
from ansible_collections.drs.orchestration.plugins.module_utils.aws import Clients
from ansible_collections.drs.orchestration.plugins.module_utils.errors import InputError

NOW = datetime(2025, 12, 15, 14, 0, 0, tzinfo=UTC)
ACCOUNT = "123456789012"
RECOVERY_REGION = "us-west-2"
ORIGIN_REGION = "us-east-1"


def model():
    return botocore.session.get_session().get_service_model("drs")


def sid(n):
    return f"s-{n:017x}"


def iid(n):
    return f"i-{n:017x}"


def server_arn(region, n):
    return f"arn:aws:drs:{region}:{ACCOUNT}:source-server/{sid(n)}"


def recovery_instance(n, source=1, origin="AWS", drill=False, failback=None, replication=None, ec2_state="RUNNING"):
    item = {
        "recoveryInstanceID": iid(n),
        "ec2InstanceID": iid(n),
        "ec2InstanceState": ec2_state,
        "arn": f"arn:aws:drs:{RECOVERY_REGION}:{ACCOUNT}:recovery-instance/{iid(n)}",
        "sourceServerID": sid(source),
        "jobID": "drsjob-0000000000000000a",
        "isDrill": drill,
        "originEnvironment": origin,
        "pointInTimeSnapshotDateTime": "2025-12-15T13:00:00Z",
        "tags": {"app": "web"},
        "failback": failback if failback is not None else {"state": "FAILBACK_NOT_STARTED"},
    }
    if replication is not None:
        item["dataReplicationInfo"] = replication
    return item


def source_server(n, region=RECOVERY_REGION, hostname=None, instance=None, state="CONTINUOUS", **extra):
    item = {
        "sourceServerID": sid(n),
        "arn": server_arn(region, n),
        "replicationDirection": "FAILOVER",
        "dataReplicationInfo": {"dataReplicationState": state, "replicatedDisks": []},
        "sourceProperties": {
            "identificationHints": {
                "hostname": hostname if hostname is not None else f"web-{n:02d}",
                "fqdn": f"web-{n:02d}.example.com",
                **({"awsInstanceID": instance} if instance else {}),
            }
        },
        "sourceCloudProperties": {"originAccountID": ACCOUNT, "originRegion": ORIGIN_REGION},
    }
    item.update(extra)
    return item


def records_by_id(*items, region=RECOVERY_REGION):
    from ansible_collections.drs.orchestration.plugins.module_utils.replication import normalize_source_server

    return {i["sourceServerID"]: normalize_source_server(i, region, NOW) for i in items}


# --- The vocabulary matches the model -------------------------------------------------------


def test_every_failback_state_of_the_model_has_a_console_label():
    states = model().shape_for("FailbackState").enum
    assert set(ri.FAILBACK_STATE_LABELS) == set(states)
    assert set(ri.FAILBACK_STATE_LABELS.values()) == set(ri.FAILBACK_LABELS)


def test_the_eighteen_failback_initiation_steps_follow_the_model_order():
    names = model().shape_for("RecoveryInstanceDataReplicationInitiationStepName").enum
    assert [n for n, _ in ri.INITIATION_STEPS] == list(names)
    assert len(names) == 18


def test_every_recovery_instance_replication_state_has_a_label():
    states = model().shape_for("RecoveryInstanceDataReplicationState").enum
    assert set(ri.REPLICATION_STATE_LABELS) == set(states)
    assert {"NOT_STARTED", "REPLICATION_STATE_NOT_AVAILABLE"} <= set(states)


# --- ARNs -------------------------------------------------------------------------------------


def test_source_server_arn_gives_region_account_and_id():
    parsed = ri.parse_source_server_arn(server_arn("eu-west-1", 7))
    assert parsed["region"] == "eu-west-1"
    assert parsed["account_id"] == ACCOUNT
    assert parsed["source_server_id"] == sid(7)


@pytest.mark.parametrize(
    "value",
    [None, "", "s-0000000000000007", "arn:aws:drs:us-east-1:123456789012:recovery-instance/i-1", "arn:aws:drs"],
)
def test_anything_else_is_not_read_as_a_source_server_arn(value):
    assert ri.parse_source_server_arn(value) is None


# --- One record ------------------------------------------------------------------------------


def test_an_item_with_nothing_but_its_id_normalises_without_errors():
    record = ri.normalize_recovery_instance({"recoveryInstanceID": iid(1)}, RECOVERY_REGION, NOW)
    assert record["recovery_instance_id"] == iid(1)
    assert record["failback"]["label"] == "Not started"
    assert record["replication"]["progress_percent"] == 0.0
    assert record["replication"]["initiation"]["total"] == 18
    assert record["reversed_direction_source_server"] is None
    assert record["source_hostname"] is None


@pytest.mark.parametrize(
    ("state", "label"),
    [
        ("FAILBACK_NOT_STARTED", "Not started"),
        ("FAILBACK_IN_PROGRESS", "Synchronizing"),
        ("FAILBACK_NOT_READY_FOR_LAUNCH", "Synchronizing"),
        ("FAILBACK_READY_FOR_LAUNCH", "Ready"),
        ("FAILBACK_COMPLETED", "Completed"),
        ("FAILBACK_ERROR", "Error"),
        ("FAILBACK_LAUNCH_STATE_NOT_AVAILABLE", "Not started"),
        ("FAILBACK_SOMETHING_NEW", "Failback something new"),
    ],
)
def test_failback_state_keeps_the_api_value_and_adds_the_console_label(state, label):
    item = recovery_instance(1, origin="ON_PREMISES", failback={"state": state})
    record = ri.normalize_recovery_instance(item, RECOVERY_REGION, NOW)
    assert record["failback"]["state"] == state
    assert record["failback"]["label"] == label
    assert record["reverse_replication_status"] == label


def test_failback_to_original_server_is_a_boolean_not_a_location():
    item = recovery_instance(1, origin="ON_PREMISES", failback={"failbackToOriginalServer": True})
    assert ri.normalize_recovery_instance(item, RECOVERY_REGION, NOW)["failback"]["failback_to_original_server"] is True
    item = recovery_instance(1, origin="ON_PREMISES", failback={"failbackToOriginalServer": {"region": "x"}})
    assert ri.normalize_recovery_instance(item, RECOVERY_REGION, NOW)["failback"]["failback_to_original_server"] is None


def test_reverse_sync_progress_is_weighted_by_bytes_across_disks():
    replication = {
        "dataReplicationState": "INITIAL_SYNC",
        "replicatedDisks": [
            {"deviceName": "/dev/sda", "totalStorageBytes": 300, "replicatedStorageBytes": 300},
            {"deviceName": "/dev/sdb", "totalStorageBytes": 700, "replicatedStorageBytes": 0},
        ],
    }
    record = ri.normalize_recovery_instance(
        recovery_instance(1, origin="ON_PREMISES", replication=replication), RECOVERY_REGION, NOW
    )
    assert record["replication"]["progress_percent"] == 30.0
    assert [d["percent"] for d in record["replication"]["disks"]] == [100.0, 0.0]


def test_a_rescanning_recovery_instance_reports_its_rescan_progress_weighted_by_bytes():
    disks = [
        {
            "deviceName": "/dev/sda",
            "totalStorageBytes": 300,
            "replicatedStorageBytes": 300,
            "rescannedStorageBytes": 300,
        },
        {
            "deviceName": "/dev/sdb",
            "totalStorageBytes": 700,
            "replicatedStorageBytes": 700,
            "rescannedStorageBytes": 70,
        },
    ]
    rescanning = ri.normalize_recovery_instance(
        recovery_instance(1, replication={"dataReplicationState": "RESCAN", "replicatedDisks": disks}),
        RECOVERY_REGION,
        NOW,
    )["replication"]
    continuous = ri.normalize_recovery_instance(
        recovery_instance(1, replication={"dataReplicationState": "CONTINUOUS", "replicatedDisks": disks}),
        RECOVERY_REGION,
        NOW,
    )["replication"]
    assert (rescanning["progress_percent"], rescanning["rescan_percent"]) == (100.0, 37.0)
    assert [d["rescan_percent"] for d in rescanning["disks"]] == [100.0, 10.0]
    assert continuous["rescan_percent"] is None
    assert [d["rescan_percent"] for d in continuous["disks"]] == [None, None]


def test_replicated_bytes_above_the_total_never_exceed_one_hundred_percent():
    replication = {"replicatedDisks": [{"totalStorageBytes": 10, "replicatedStorageBytes": 50}]}
    record = ri.normalize_recovery_instance(recovery_instance(1, replication=replication), RECOVERY_REGION, NOW)
    assert record["replication"]["progress_percent"] == 100.0


@pytest.mark.parametrize(
    ("lag", "seconds"),
    [("2025-12-15T13:59:00Z", 60.0), ("PT2M", 120.0), ("not a time", None), (None, None)],
)
def test_lag_typed_as_a_datetime_is_read_as_since_and_a_duration_as_is(lag, seconds):
    replication = {"dataReplicationState": "CONTINUOUS", **({"lagDuration": lag} if lag else {})}
    record = ri.normalize_recovery_instance(recovery_instance(1, replication=replication), RECOVERY_REGION, NOW)
    assert record["replication"]["lag"]["seconds"] == seconds


def test_the_eighteen_steps_report_current_and_failed_step_in_model_order():
    names = [n for n, _ in ri.INITIATION_STEPS]
    steps = [{"name": n, "status": "SUCCEEDED"} for n in names[:3]] + [{"name": names[3], "status": "FAILED"}]
    replication = {
        "dataReplicationState": "INITIATING",
        "dataReplicationInitiation": {"startDateTime": "2025-12-15T13:00:00Z", "steps": list(reversed(steps))},
        "dataReplicationError": {"error": "FAILED_TO_DOWNLOAD_REPLICATION_SOFTWARE_TO_FAILBACK_CLIENT"},
    }
    record = ri.normalize_recovery_instance(
        recovery_instance(1, origin="ON_PREMISES", failback={"state": "FAILBACK_IN_PROGRESS"}, replication=replication),
        RECOVERY_REGION,
        NOW,
    )
    initiation = record["replication"]["initiation"]
    assert [s["name"] for s in initiation["steps"]] == names
    assert initiation["done"] == 3
    assert initiation["failed_step"] == "DOWNLOAD_REPLICATION_SOFTWARE_TO_FAILBACK_CLIENT"
    assert initiation["steps"][0]["label"] == "Link Failback Client with recovery instance"
    assert record["replication"]["error"]["code"] == "FAILED_TO_DOWNLOAD_REPLICATION_SOFTWARE_TO_FAILBACK_CLIENT"
    assert "Investigate the failback error" in record["pending_action"]


def test_every_launch_status_of_the_model_has_a_label():
    status = model().shape_for("LifeCycleLastLaunch").members["status"]
    assert status.name == "LaunchStatus"
    assert set(status.enum) == set(ri.LAUNCH_STATUS_LABELS)


@pytest.mark.parametrize(
    ("job_id", "status", "expected"),
    [
        ("drsjob-0000000000000000a", "LAUNCHED", "LAUNCHED"),  # the launch of this instance (its jobID)
        ("drsjob-0000000000000000a", "FAILED", "FAILED"),
        ("drsjob-0000000000000000c", "LAUNCHED", None),  # the server was launched again since
    ],
)
def test_launch_status_is_that_of_the_launch_that_created_the_instance(job_id, status, expected):
    launch = {"lastLaunch": {"initiated": {"type": "RECOVERY", "jobID": job_id}, "status": status}}
    record = aws_record(source_extra={"lifeCycle": launch})
    assert record["launch_status"] == expected


def test_without_a_last_launch_the_launch_status_is_not_known():
    assert aws_record()["launch_status"] is None


def test_hostname_comes_from_the_source_servers_identification_hints():
    sources = records_by_id(source_server(1, hostname="db-01"))
    record = ri.normalize_recovery_instance(recovery_instance(1), RECOVERY_REGION, NOW, sources)
    assert record["source_hostname"] == "db-01"
    assert record["origin_region"] == ORIGIN_REGION


def test_raw_source_server_items_are_accepted_too():
    sources = {sid(1): source_server(1, hostname="db-02")}
    record = ri.normalize_recovery_instance(recovery_instance(1), RECOVERY_REGION, NOW, sources)
    assert record["source_hostname"] == "db-02"


def test_without_its_source_server_the_hostname_falls_back_to_the_instance_hints():
    item = recovery_instance(1)
    item["recoveryInstanceProperties"] = {"identificationHints": {"fqdn": "web-01.corp"}}
    record = ri.normalize_recovery_instance(item, RECOVERY_REGION, NOW)
    assert record["source_hostname"] == "web-01.corp"


# --- Origin AWS: the reversed-direction source server -------------------------------------------


def aws_record(reversed_item=None, source_extra=None, drill=False):
    source = source_server(
        1,
        instance=iid(500),
        reversedDirectionSourceServerArn=server_arn(ORIGIN_REGION, 2),
        **(source_extra or {}),
    )
    reversed_records = records_by_id(reversed_item, region=ORIGIN_REGION) if reversed_item else {}
    return ri.normalize_recovery_instance(
        recovery_instance(1, drill=drill), RECOVERY_REGION, NOW, records_by_id(source), reversed_records
    )


def reversed_server(state="INITIAL_SYNC", instance=None, **extra):
    return source_server(
        2,
        region=ORIGIN_REGION,
        instance=instance or iid(1),
        state=state,
        replicationDirection="FAILBACK",
        **extra,
    )


def test_reversed_direction_server_region_and_id_come_from_its_arn():
    record = aws_record(reversed_server())
    view = record["reversed_direction_source_server"]
    assert (view["region"], view["source_server_id"], view["account_id"]) == (ORIGIN_REGION, sid(2), ACCOUNT)
    assert view["found"] is True
    assert view["replicating_this_instance"] is True


def test_aws_origin_status_follows_the_reversed_direction_server_not_the_failback_state():
    syncing = aws_record(reversed_server("INITIAL_SYNC"))
    assert syncing["failback"]["state"] == "FAILBACK_NOT_STARTED"
    assert syncing["reverse_replication_status"] == "Synchronizing"
    assert syncing["pending_action"].startswith(f"Wait for reversed replication to {ORIGIN_REGION}")
    ready = aws_record(reversed_server("CONTINUOUS"))
    assert ready["reverse_replication_status"] == "Ready"
    assert ready["pending_action"] == f"Launch for failback in {ORIGIN_REGION} (source server {sid(2)})."


def test_a_rescanning_reversed_server_shows_the_rescan_not_the_finished_sync():
    disks = [{"deviceName": "/dev/xvda", "totalStorageBytes": 100, "replicatedStorageBytes": 100}]
    item = reversed_server("RESCAN")
    item["dataReplicationInfo"]["replicatedDisks"] = [{**disks[0], "rescannedStorageBytes": 40}]
    record = aws_record(item)
    view = record["reversed_direction_source_server"]
    assert (view["progress_percent"], view["rescan_percent"]) == (100.0, 40.0)
    assert record["pending_action"] == f"Wait for reversed replication to {ORIGIN_REGION} (RESCAN 40.0%)."
    assert dashboard.reverse_progress(record)["percent"] == 40.0


def test_an_on_premises_failback_replication_in_rescan_shows_the_rescan():
    replication = {
        "dataReplicationState": "RESCAN",
        "replicatedDisks": [{"totalStorageBytes": 1000, "replicatedStorageBytes": 1000, "rescannedStorageBytes": 370}],
    }
    item = recovery_instance(
        1, origin="ON_PREMISES", failback={"state": "FAILBACK_IN_PROGRESS"}, replication=replication
    )
    record = ri.normalize_recovery_instance(item, RECOVERY_REGION, NOW)
    assert record["pending_action"] == "Wait for failback replication (RESCAN 37.0%)."
    assert dashboard.reverse_progress(record)["percent"] == 37.0


def test_stalled_reversed_replication_is_an_error_with_its_code():
    item = reversed_server("STALLED")
    item["dataReplicationInfo"]["dataReplicationError"] = {"error": "UNSTABLE_NETWORK"}
    record = aws_record(item)
    assert record["reverse_replication_status"] == "Error"
    assert "UNSTABLE_NETWORK" in record["pending_action"]


def test_not_reversed_yet_means_start_reversed_replication_to_the_origin():
    record = ri.normalize_recovery_instance(
        recovery_instance(1), RECOVERY_REGION, NOW, records_by_id(source_server(1, instance=iid(500)))
    )
    assert record["reversed_direction_source_server"] is None
    assert record["reverse_replication_status"] == "Not started"
    assert record["pending_action"] == f"Start reversed replication to {ORIGIN_REGION}."


def test_a_reversed_server_left_from_another_instance_does_not_count_as_reversed():
    record = aws_record(reversed_server("CONTINUOUS", instance=iid(999)))
    assert record["reversed_direction_source_server"]["replicating_this_instance"] is False
    assert record["reverse_replication_status"] == "Not started"


def test_a_reversed_server_that_was_not_read_leaves_the_status_unknown_with_no_next_step():
    # include_reversed: false, or an ARN naming a server of another account or out of reach
    record = aws_record()
    assert record["reversed_direction_source_server"]["found"] is False
    assert record["reverse_replication_status"] == ri.UNKNOWN_STATUS == "Unknown"
    assert record["pending_action"] is None
    # a drill instance still just waits to be terminated
    assert aws_record(drill=True)["pending_action"].startswith("Terminate the drill instance")


def test_a_reversed_server_of_another_account_its_regions_read_does_not_show_stays_unknown():
    other = f"arn:aws:drs:{ORIGIN_REGION}:210987654321:source-server/{sid(2)}"
    source = source_server(1, instance=iid(500), reversedDirectionSourceServerArn=other)
    record = ri.normalize_recovery_instance(
        recovery_instance(1), RECOVERY_REGION, NOW, records_by_id(source), {}, {ORIGIN_REGION}
    )
    view = record["reversed_direction_source_server"]
    assert (view["found"], view["region_read"], view["missing"]) == (False, True, False)
    assert (record["reverse_replication_status"], record["pending_action"]) == ("Unknown", None)
    # the recovery instance's own account cannot be told (no ARN): unknown too
    item = {k: v for k, v in recovery_instance(1).items() if k != "arn"}
    own = ri.normalize_recovery_instance(
        item,
        RECOVERY_REGION,
        NOW,
        records_by_id(source_server(1, reversedDirectionSourceServerArn=server_arn(ORIGIN_REGION, 2))),
        {},
        {ORIGIN_REGION},
    )
    assert own["reverse_replication_status"] == "Unknown"


def test_a_reversed_server_of_the_same_account_missing_from_its_region_is_gone_not_unknown():
    # DeleteSourceServer in the origin Region: the recovery Region's source server still names it
    record = ri.normalize_recovery_instance(
        recovery_instance(1),
        RECOVERY_REGION,
        NOW,
        records_by_id(
            source_server(1, instance=iid(500), reversedDirectionSourceServerArn=server_arn(ORIGIN_REGION, 2))
        ),
        {},
        {ORIGIN_REGION},
    )
    view = record["reversed_direction_source_server"]
    assert (view["found"], view["region_read"], view["missing"]) == (False, True, True)
    assert ri.reversed_unknown(record) is None
    assert record["reverse_replication_status"] == "Not started"
    assert record["pending_action"] == (
        f"Start reversed replication to {ORIGIN_REGION}: the reversed-direction source server {sid(2)} that source "
        f"server {sid(1)} names is no longer in {ORIGIN_REGION} (deleted)."
    )


def test_a_stopped_reversed_server_is_not_replicating():
    record = aws_record(reversed_server("STOPPED"))
    assert record["reversed_direction_source_server"]["belongs_to_this_instance"] is True
    assert record["reverse_replication_status"] == "Not started"


def test_after_a_production_failback_launch_the_next_step_is_to_re_protect_it():
    launched = {
        "lastLaunch": {"initiated": {"type": "RECOVERY", "jobID": "drsjob-0000000000000000b"}, "status": "LAUNCHED"}
    }
    item = reversed_server("CONTINUOUS", lifeCycle=launched, recoveryInstanceId=iid(77))
    record = aws_record(item)
    assert record["reverse_replication_status"] == "Completed"
    assert record["pending_action"].startswith(f"Re-protect failback instance {iid(77)} in {ORIGIN_REGION}")
    protected = aws_record(item, source_extra={"sourceProperties": {"identificationHints": {"awsInstanceID": iid(77)}}})
    assert protected["pending_action"] is None


def cycle_record(failback_launch, replication_start, instance_launch="2025-12-15T13:45:00Z"):
    """An instance launched at ``instance_launch`` (its source server names its job) from a 13:00 point in
    time; its reversed server last launched a production failback at ``failback_launch`` and its
    replication (re)started at ``replication_start``."""
    launched = {
        "lastLaunch": {
            "initiated": {"type": "RECOVERY", "jobID": "drsjob-0000000000000000b", "apiCallDateTime": failback_launch},
            "status": "LAUNCHED",
        }
    }
    item = reversed_server("CONTINUOUS", lifeCycle=launched, recoveryInstanceId=iid(77))
    item["dataReplicationInfo"]["dataReplicationInitiation"] = {"startDateTime": replication_start}
    own_launch = {
        "lastLaunch": {
            "initiated": {"type": "RECOVERY", "jobID": "drsjob-0000000000000000a", "apiCallDateTime": instance_launch},
            "status": "LAUNCHED",
        }
    }
    return aws_record(item, source_extra={"lifeCycle": own_launch})


def test_the_failback_cycle_starts_with_the_instances_launch_not_with_the_reversed_servers_replication():
    # the failback launched after the instance, then the reversed server's replication was stopped
    # and started again (an operator, the console): the failback stays done, nothing to launch again
    restarted = cycle_record(failback_launch="2025-12-15T13:50:00Z", replication_start="2025-12-15T13:55:00Z")
    assert restarted["launch_time"] == "2025-12-15T13:45:00+00:00"
    assert restarted["reverse_replication_status"] == "Completed"
    assert restarted["pending_action"].startswith(f"Re-protect failback instance {iid(77)}")
    # a production launch from before this instance's launch is an earlier instance's failback, even when
    # this instance came from an older snapshot (point in time 13:00) and the replication runs since 12:00
    earlier = cycle_record(failback_launch="2025-12-15T13:30:00Z", replication_start="2025-12-15T12:00:00Z")
    assert earlier["reverse_replication_status"] == "Ready"
    assert earlier["pending_action"].startswith("Launch for failback")


def test_drill_and_terminated_instances_have_no_failback_step():
    drill = aws_record(reversed_server(), drill=True)
    assert drill["pending_action"].startswith("Terminate the drill instance")
    gone = ri.normalize_recovery_instance(recovery_instance(1, ec2_state="TERMINATED"), RECOVERY_REGION, NOW)
    assert gone["pending_action"] is None


@pytest.mark.parametrize(
    ("state", "expected"),
    [
        ("FAILBACK_NOT_STARTED", "Boot the Failback Client"),
        ("FAILBACK_IN_PROGRESS", "Wait for failback replication"),
        ("FAILBACK_READY_FOR_LAUNCH", "Launch failback (StartFailbackLaunch)"),
        ("FAILBACK_ERROR", "Investigate the failback error"),
    ],
)
def test_on_premises_next_step_follows_the_failback_state(state, expected):
    record = ri.normalize_recovery_instance(
        recovery_instance(1, origin="ON_PREMISES", failback={"state": state}), RECOVERY_REGION, NOW
    )
    assert record["pending_action"].startswith(expected)
    assert record["origin_region"] is None


@pytest.mark.parametrize(
    ("source_state", "expected"),
    [
        ("CONTINUOUS", None),
        ("INITIAL_SYNC", f"Wait for source server {sid(1)} to replicate the failed-back server again (INITIAL_SYNC)."),
        (
            "STOPPED",
            f"Start data replication of source server {sid(1)} again (StartReplication: it is STOPPED) to protect the "
            "failed-back server again.",
        ),
        (
            "DISCONNECTED",
            f"Check source server {sid(1)} (DISCONNECTED): the AWS Replication Agent on the failed-back server must "
            "run and reach DRS for it to be protected again.",
        ),
    ],
)
def test_a_completed_on_premises_failback_needs_its_source_server_to_replicate_again(source_state, expected):
    item = recovery_instance(1, origin="ON_PREMISES", failback={"state": "FAILBACK_COMPLETED"})
    sources = records_by_id(source_server(1, state=source_state))
    assert ri.normalize_recovery_instance(item, RECOVERY_REGION, NOW, sources)["pending_action"] == expected
    gone = ri.normalize_recovery_instance(item, RECOVERY_REGION, NOW)
    assert gone["pending_action"] == (
        f"Protect the failed-back server again: its source server {sid(1)} is not in {RECOVERY_REGION}; install the "
        "AWS Replication Agent on it."
    )


# --- Reading them: exact calls ---------------------------------------------------------------------


class StubbedRegions:
    """One stubbed DRS client per region behind a ``Clients``."""

    def __init__(self, *regions):
        self.by_region = {
            r: boto3.client("drs", region_name=r, aws_access_key_id="a", aws_secret_access_key="b") for r in regions
        }
        self.stubbers = {r: Stubber(c) for r, c in self.by_region.items()}
        for stubber in self.stubbers.values():
            stubber.activate()
        self.clients = Clients(lambda service, region, config: self.by_region[region], region=regions[0])

    def expect(self, region, operation, response, **params):
        self.stubbers[region].add_response(operation, response, params or None)

    def assert_all_called(self):
        for stubber in self.stubbers.values():
            stubber.assert_no_pending_responses()


def test_reading_joins_hostnames_and_reversed_servers_in_one_sweep_per_region():
    drs = StubbedRegions(RECOVERY_REGION, ORIGIN_REGION)
    first, second = recovery_instance(1, source=1), recovery_instance(2, source=3)
    drs.expect(
        RECOVERY_REGION,
        "describe_recovery_instances",
        {"items": [first], "nextToken": "page-2"},
        filters={"recoveryInstanceIDs": [iid(1), iid(2)]},
    )
    drs.expect(
        RECOVERY_REGION,
        "describe_recovery_instances",
        {"items": [second]},
        filters={"recoveryInstanceIDs": [iid(1), iid(2)]},
        nextToken="page-2",
    )
    sources = [
        source_server(1, reversedDirectionSourceServerArn=server_arn(ORIGIN_REGION, 2)),
        source_server(3, hostname="app-03"),
    ]
    drs.expect(RECOVERY_REGION, "describe_source_servers", {"items": sources})
    drs.expect(ORIGIN_REGION, "describe_source_servers", {"items": [reversed_server("CONTINUOUS")]})
    # the reversed instance's launch (its source server names no launch): its job, by ID
    job = {"jobID": "drsjob-0000000000000000a", "creationDateTime": "2025-12-15T13:05:00Z"}
    drs.expect(RECOVERY_REGION, "describe_jobs", {"items": [job]}, filters={"jobIDs": [job["jobID"]]})

    records = ri.describe_recovery_instances(drs.clients, RECOVERY_REGION, recovery_instance_ids=[iid(1), iid(2)])

    drs.assert_all_called()
    assert [(r["recovery_instance_id"], r["source_hostname"]) for r in records] == [
        (iid(2), "app-03"),
        (iid(1), "web-01"),
    ]
    assert (records[1]["launch_time"], records[0]["launch_time"]) == ("2025-12-15T13:05:00+00:00", None)
    assert records[1]["reverse_replication_status"] == "Ready"
    assert records[0]["reverse_replication_status"] == "Not started"


def test_reading_tells_a_deleted_reversed_server_from_one_of_another_account():
    drs = StubbedRegions(RECOVERY_REGION, ORIGIN_REGION)
    drs.expect(
        RECOVERY_REGION,
        "describe_recovery_instances",
        {"items": [recovery_instance(1, source=1), recovery_instance(2, source=3)]},
        filters={"recoveryInstanceIDs": [iid(1), iid(2)]},
    )
    other = f"arn:aws:drs:{ORIGIN_REGION}:210987654321:source-server/{sid(4)}"
    sources = [
        source_server(1, reversedDirectionSourceServerArn=server_arn(ORIGIN_REGION, 2)),
        source_server(3, hostname="app-03", reversedDirectionSourceServerArn=other),
    ]
    drs.expect(RECOVERY_REGION, "describe_source_servers", {"items": sources})
    drs.expect(ORIGIN_REGION, "describe_source_servers", {"items": []})  # neither is in this account's Region

    records = ri.describe_recovery_instances(drs.clients, RECOVERY_REGION, recovery_instance_ids=[iid(1), iid(2)])

    drs.assert_all_called()
    by_id = {r["recovery_instance_id"]: r for r in records}
    assert by_id[iid(1)]["reverse_replication_status"] == "Not started"  # same account: deleted
    assert by_id[iid(1)]["pending_action"].endswith(f"is no longer in {ORIGIN_REGION} (deleted).")
    assert by_id[iid(2)]["reverse_replication_status"] == "Unknown"  # another account: not readable here
    # include_reversed: false reads no origin Region: both unknown
    drs.expect(
        RECOVERY_REGION,
        "describe_recovery_instances",
        {"items": [recovery_instance(1, source=1)]},
        filters={"recoveryInstanceIDs": [iid(1)]},
    )
    drs.expect(RECOVERY_REGION, "describe_source_servers", {"items": sources[:1]})
    (unread,) = ri.describe_recovery_instances(
        drs.clients, RECOVERY_REGION, recovery_instance_ids=[iid(1)], include_reversed=False
    )
    drs.assert_all_called()
    assert (unread["reverse_replication_status"], unread["reversed_direction_source_server"]["region_read"]) == (
        "Unknown",
        False,
    )


def test_recovery_instance_ids_are_sent_in_chunks_of_two_hundred():
    ids = [iid(n) for n in range(1, 251)]
    drs = StubbedRegions(RECOVERY_REGION)
    drs.expect(
        RECOVERY_REGION, "describe_recovery_instances", {"items": []}, filters={"recoveryInstanceIDs": ids[:200]}
    )
    drs.expect(
        RECOVERY_REGION, "describe_recovery_instances", {"items": []}, filters={"recoveryInstanceIDs": ids[200:]}
    )
    assert ri.describe_recovery_instances(drs.clients, RECOVERY_REGION, recovery_instance_ids=ids) == []
    drs.assert_all_called()


def test_by_source_server_only_that_servers_instances_are_returned():
    drs = StubbedRegions(RECOVERY_REGION)
    drs.expect(
        RECOVERY_REGION,
        "describe_recovery_instances",
        {"items": [recovery_instance(1, source=1)]},
        filters={"sourceServerIDs": [sid(1)]},
    )
    drs.expect(RECOVERY_REGION, "describe_source_servers", {"items": [source_server(1)]})
    records = ri.describe_recovery_instances(drs.clients, RECOVERY_REGION, source_server_ids=[sid(1)])
    assert [r["source_server_id"] for r in records] == [sid(1)]
    drs.assert_all_called()


def test_ids_and_source_servers_together_are_refused():
    with pytest.raises(InputError, match="not both"):
        ri.describe_recovery_instances(
            None, RECOVERY_REGION, recovery_instance_ids=[iid(1)], source_server_ids=[sid(1)]
        )


def test_a_malformed_recovery_instance_id_is_refused_with_the_expected_form():
    with pytest.raises(InputError, match="i-0123456789abcdef0"):
        ri.describe_recovery_instances(None, RECOVERY_REGION, recovery_instance_ids=["s-123"])


def failback_instance_record(original_state=None, original_hint=None):
    """A failback instance in the origin Region: its source server is the reversed-direction one."""
    own_source = source_server(
        2,
        region=ORIGIN_REGION,
        instance=iid(1),
        replicationDirection="FAILBACK",
        reversedDirectionSourceServerArn=server_arn(RECOVERY_REGION, 1),
        sourceCloudProperties={"originAccountID": ACCOUNT, "originRegion": RECOVERY_REGION},
    )
    original = {}
    if original_state:
        original = records_by_id(source_server(1, instance=original_hint or iid(70), state=original_state))
    item = recovery_instance(70, source=2)
    return ri.normalize_recovery_instance(
        item, ORIGIN_REGION, NOW, records_by_id(own_source, region=ORIGIN_REGION), original
    )


def test_a_failback_instance_is_to_be_re_protected_towards_the_recovery_region():
    # the original source server still names the instance that failed over (gone in the disaster)
    assert failback_instance_record("DISCONNECTED", original_hint=iid(500))["pending_action"] == (
        f"Re-protect this failback instance: start reversed replication to {RECOVERY_REGION}."
    )
    # the original source server was not read: nothing to say, but the failback is over
    unread = failback_instance_record()
    assert (unread["pending_action"], unread["reverse_replication_status"]) == (None, "Completed")
    syncing = failback_instance_record("INITIAL_SYNC")
    assert syncing["pending_action"].startswith(f"Wait for re-protection replication to {RECOVERY_REGION}")
    assert failback_instance_record("CONTINUOUS")["pending_action"] is None
    # the original server still replicating the instance that failed over: not re-protected
    assert failback_instance_record("CONTINUOUS", original_hint=iid(500))["pending_action"].startswith("Re-protect")


def test_a_failback_instance_has_completed_its_failback_and_is_never_ready_for_another():
    # re-protection replicating it back to the recovery Region is protection, not a failback to launch
    for state in (None, "INITIAL_SYNC", "CONTINUOUS"):
        assert failback_instance_record(state)["reverse_replication_status"] == "Completed"
    stalled = failback_instance_record("STALLED")
    assert stalled["reverse_replication_status"] == "Error"
    assert stalled["pending_action"].startswith(f"Fix re-protection replication of {sid(1)} in {RECOVERY_REGION}")


def test_a_launch_older_than_the_reversed_replication_is_not_a_failback_launch():
    reversed_item = reversed_server(
        "CONTINUOUS",
        recoveryInstanceId=iid(77),
        lifeCycle={
            "lastLaunch": {
                "initiated": {"type": "RECOVERY", "apiCallDateTime": "2025-12-15T10:00:00Z"},
                "status": "LAUNCHED",
            }
        },
    )
    reversed_item["dataReplicationInfo"]["dataReplicationInitiation"] = {"startDateTime": "2025-12-15T12:00:00Z"}
    record = aws_record(reversed_item)
    assert record["reverse_replication_status"] == "Ready"
    assert record["pending_action"].startswith("Launch for failback")
