"""DescribeSourceServers over a 3,000-server fleet: prints the time per page.

Target: well under 50 ms per page on the development machine. The measurement is
printed rather than asserted (timings on a shared machine vary); the assertion is only a
sanity bound of ten times the target, so a pathological slowdown still fails.
"""

import http.client
import json
import statistics
import time

import pytest

from emulator.protocols import Request

TARGET_MS = 50
# The emulator reads the SigV4 scope (service, Region, access key) and does not verify signatures.
AUTH = (
    "AWS4-HMAC-SHA256 Credential=AKIAEMULATOR00000000/20240101/us-east-1/drs/aws4_request, "
    "SignedHeaders=host, Signature=0"
)
HEADERS = {"Authorization": AUTH, "Content-Type": "application/json"}


@pytest.fixture(scope="module")
def big_fleet():
    from emulator.testing import Emulator

    states = {"CONTINUOUS": 0.9, "STALLED": 0.04, "INITIAL_SYNC": 0.03, "DISCONNECTED": 0.03}
    emu = Emulator({"generate": {"source_servers": 3000, "source_server_states": states}}).start()
    yield emu
    emu.stop()


def walk(fetch, max_results: int | None, clock=time.perf_counter, tick=None) -> tuple[list[float], int]:
    """Milliseconds per page (by ``clock``) over one full listing, and the number of servers listed.

    ``tick`` runs, untimed, before each page (to move the virtual clock).
    """
    timings, listed, token = [], 0, None
    while True:
        body = {"filters": {}}
        if max_results:
            body["maxResults"] = max_results
        if token:
            body["nextToken"] = token
        if tick:
            tick()
        start = clock()
        raw = fetch(json.dumps(body).encode())
        timings.append((clock() - start) * 1000)
        page = json.loads(raw)
        listed += len(page["items"])
        token = page.get("nextToken")
        if not token:
            return timings, listed


def median_ms(fetch, max_results, **kwargs) -> float:
    return statistics.median(t for _ in range(3) for t in walk(fetch, max_results, **kwargs)[0])


@pytest.mark.parametrize("max_results", [1000, None], ids=["maxResults=1000", "default-page"])
def test_describe_source_servers_pages_over_3000_servers_are_fast(big_fleet, max_results, capsys):
    app = big_fleet.server.app

    def in_process(body: bytes) -> bytes:  # what the emulator spends: routing, backend, rendering, JSON
        return app.handle(Request.build("POST", "/DescribeSourceServers", HEADERS, body)).body

    connection = http.client.HTTPConnection("127.0.0.1", big_fleet.server.port, timeout=30)

    def over_http(body: bytes) -> bytes:  # plus the loopback HTTP round trip (no boto3 parsing)
        connection.request("POST", "/DescribeSourceServers", body=body, headers=HEADERS)
        response = connection.getresponse()
        assert response.status == 200
        return response.read()

    def moving() -> None:  # a second passes: every server's elapsed time (and some heartbeats) change
        big_fleet.advance(1)

    assert walk(in_process, max_results)[1] == 3000  # also warms the caches
    figures = {
        "in-process": median_ms(in_process, max_results),
        "in-process CPU": median_ms(in_process, max_results, clock=time.process_time),
        "in-process CPU, clock moving": median_ms(in_process, max_results, clock=time.process_time, tick=moving),
        "HTTP round trip": median_ms(over_http, max_results),
        "HTTP round trip, clock moving": median_ms(over_http, max_results, tick=moving),
    }
    connection.close()
    with capsys.disabled():
        label = f"maxResults={max_results}" if max_results else "default page (100)"
        medians = ", ".join(f"{name} {value:.1f} ms" for name, value in figures.items())
        print(f"\nDescribeSourceServers over 3,000 servers, {label}, median per page: {medians}")
    assert figures["HTTP round trip, clock moving"] < 10 * TARGET_MS
