"""Pagination and filters of the DRS list operations."""

import pytest

ACCOUNT = "123456789012"


@pytest.fixture
def fleet_of_250(emulator_factory, drs_timing, drs_clients):
    emu = emulator_factory({"timing": drs_timing, "generate": {"source_servers": 250}})
    return emu, drs_clients.make(emu)


def all_pages(call, **kwargs) -> list[list[dict]]:
    pages = []
    token = None
    while True:
        response = call(**kwargs, **({"nextToken": token} if token else {}))
        pages.append(response["items"])
        token = response.get("nextToken")
        if not token:
            return pages


def test_default_page_size_is_100_and_pages_cover_every_server_once(fleet_of_250):
    _, client = fleet_of_250
    pages = all_pages(client.describe_source_servers, filters={})
    assert [len(p) for p in pages] == [100, 100, 50]
    ids = [s["sourceServerID"] for page in pages for s in page]
    assert len(ids) == len(set(ids)) == 250


@pytest.mark.parametrize(("max_results", "sizes"), [(7, [7] * 35 + [5]), (250, [250]), (1000, [250])])
def test_max_results_sets_the_page_size(fleet_of_250, max_results, sizes):
    _, client = fleet_of_250
    pages = all_pages(client.describe_source_servers, maxResults=max_results)
    assert [len(p) for p in pages] == sizes
    assert len({s["sourceServerID"] for page in pages for s in page}) == 250


def test_max_results_above_1000_returns_1000(emulator_factory, drs_timing, drs_clients):
    emu = emulator_factory({"timing": drs_timing, "generate": {"source_servers": 1001}})
    client = drs_clients.make(emu)
    first = client.describe_source_servers(maxResults=5000)
    assert len(first["items"]) == 1000
    assert len(client.describe_source_servers(maxResults=5000, nextToken=first["nextToken"])["items"]) == 1


def test_a_token_can_be_replayed_and_gives_the_same_page(fleet_of_250):
    _, client = fleet_of_250
    token = client.describe_source_servers(maxResults=10)["nextToken"]
    once = client.describe_source_servers(maxResults=10, nextToken=token)
    twice = client.describe_source_servers(maxResults=10, nextToken=token)
    assert [s["sourceServerID"] for s in once["items"]] == [s["sourceServerID"] for s in twice["items"]]
    assert once["nextToken"] == twice["nextToken"]


def test_servers_added_between_pages_appear_once_at_the_end(fleet_of_250, drs_timing):
    emu, client = fleet_of_250
    first = client.describe_source_servers(maxResults=200)
    with emu.world.lock:
        record = emu.world.backend("ec2", ACCOUNT, "us-east-1").add_instance({"name": "late"})
        late = emu.world.backend("drs", ACCOUNT, "us-east-1").register_agent(record, "us-east-1", ACCOUNT, {})
    emu.advance(drs_timing["registration_seconds"])
    rest = []
    token = first["nextToken"]
    while token:
        page = client.describe_source_servers(maxResults=200, nextToken=token)
        rest.extend(page["items"])
        token = page.get("nextToken")
    ids = [s["sourceServerID"] for s in first["items"] + rest]
    assert len(ids) == len(set(ids)) == 251
    assert ids[-1] == late


def test_boto3_paginator_walks_every_page(fleet_of_250):
    _, client = fleet_of_250
    paginator = client.get_paginator("describe_source_servers")
    pages = list(paginator.paginate(PaginationConfig={"PageSize": 60}))
    assert [len(p["items"]) for p in pages] == [60, 60, 60, 60, 10]


def test_filters_by_ids_hardware_id_and_staging_account(fleet_of_250):
    _, client = fleet_of_250
    servers = client.describe_source_servers(maxResults=1000)["items"]
    wanted = [servers[5]["sourceServerID"], servers[200]["sourceServerID"], "s-0000000000000000f"]
    found = client.describe_source_servers(filters={"sourceServerIDs": wanted})["items"]
    assert [s["sourceServerID"] for s in found] == wanted[:2]
    assert len(client.describe_source_servers(filters={"sourceServerIDs": []}, maxResults=1000)["items"]) == 250
    mac = servers[7]["sourceProperties"]["networkInterfaces"][0]["macAddress"]
    assert [s["sourceServerID"] for s in client.describe_source_servers(filters={"hardwareId": mac})["items"]] == [
        servers[7]["sourceServerID"]
    ]
    assert client.describe_source_servers(filters={"stagingAccountIDs": ["210987654321"]})["items"] == []


def test_hardware_id_matches_the_ec2_instance_id(emulator_factory, drs_timing, drs_clients):
    fleet = {"timing": drs_timing, "source_servers": [{"origin": "AWS", "instance_id": "i-0123456789abcdef0"}, {}]}
    emu = emulator_factory(fleet)
    client = drs_clients.make(emu)
    found = client.describe_source_servers(filters={"hardwareId": "i-0123456789abcdef0"})["items"]
    assert [s["sourceProperties"]["identificationHints"]["awsInstanceID"] for s in found] == ["i-0123456789abcdef0"]


def test_jobs_recovery_instances_log_items_and_snapshots_paginate(fleet_of_250):
    emu, client = fleet_of_250
    ids = [s["sourceServerID"] for s in client.describe_source_servers(maxResults=30)["items"]]
    jobs = [
        client.start_recovery(sourceServers=[{"sourceServerID": i} for i in ids[n : n + 10]], isDrill=True)["job"][
            "jobID"
        ]
        for n in range(0, 30, 10)
    ]
    emu.advance(110)
    job_pages = all_pages(client.describe_jobs, maxResults=2)
    assert [j["jobID"] for page in job_pages for j in page] == list(reversed(jobs))
    instance_pages = all_pages(client.describe_recovery_instances, maxResults=4)
    assert [len(p) for p in instance_pages] == [4] * 7 + [2]
    assert len({i["recoveryInstanceID"] for page in instance_pages for i in page}) == 30
    full_log = client.describe_job_log_items(jobID=jobs[0])["items"]
    assert [
        i for page in all_pages(client.describe_job_log_items, jobID=jobs[0], maxResults=7) for i in page
    ] == full_log
    assert client.describe_job_log_items(jobID="drsjob-00000000000000000")["items"] == []
    snapshots = [
        s["snapshotID"]
        for page in all_pages(client.describe_recovery_snapshots, sourceServerID=ids[0], order="DESC", maxResults=5)
        for s in page
    ]
    newest_first = [
        s["snapshotID"]
        for s in client.describe_recovery_snapshots(sourceServerID=ids[0], order="DESC", maxResults=1000)["items"]
    ]
    assert snapshots == newest_first
    assert len(snapshots) == len(set(snapshots)) > 25


def test_describe_recovery_instances_filters(fleet_of_250):
    emu, client = fleet_of_250
    ids = [s["sourceServerID"] for s in client.describe_source_servers(maxResults=3)["items"]]
    client.start_recovery(sourceServers=[{"sourceServerID": i} for i in ids], isDrill=True)
    emu.advance(110)
    instances = client.describe_recovery_instances()["items"]
    by_server = client.describe_recovery_instances(filters={"sourceServerIDs": [ids[1]]})["items"]
    assert [i["sourceServerID"] for i in by_server] == [ids[1]]
    by_id = client.describe_recovery_instances(filters={"recoveryInstanceIDs": [instances[2]["recoveryInstanceID"]]})
    assert [i["recoveryInstanceID"] for i in by_id["items"]] == [instances[2]["recoveryInstanceID"]]
