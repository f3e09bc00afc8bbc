"""Benchmark: the emulator stays out of the way of the other benchmarks.

DescribeSourceServers over a 3,000-server fleet, page by page, for the default page
(100) and ``maxResults=1000``: the median time per page the emulator spends in-process
(routing, backend, rendering, JSON), its CPU time with the clock frozen and moving, and
the loopback HTTP round trip without boto3's parsing. The baseline measured in the same
run is a GetCallerIdentity round trip (the fixed cost of any call: HTTP, SigV4 scope,
routing, call log); the ratio shows how much of a page is the fleet itself.

Target: well under 50 ms per page (issue #3). Exit status 0 only when every median HTTP
round trip is under the target.

Run: ``.venv/bin/python bench/bench_emulator_pages.py [--servers 3000]``
"""

from __future__ import annotations

import argparse
import http.client
import json
import statistics
import sys
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path[:0] = [str(REPO)]

from emulator.protocols import Request  # noqa: E402
from emulator.testing import ACCESS_KEY, Emulator  # noqa: E402

TARGET_MS = 50


def auth(service: str) -> dict:
    # The emulator reads the SigV4 scope (service, Region, access key); it does not verify signatures.
    scope = f"AWS4-HMAC-SHA256 Credential={ACCESS_KEY}/20240101/us-east-1/{service}/aws4_request"
    return {"Authorization": f"{scope}, SignedHeaders=host, Signature=0"}


DRS = {**auth("drs"), "Content-Type": "application/json"}
STS = {**auth("sts"), "Content-Type": "application/x-www-form-urlencoded"}


def walk(fetch, max_results, clock=time.perf_counter, tick=None):
    """Milliseconds per page over one full listing, and the number of servers listed."""
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


def median_ms(fetch, max_results, rounds=3, **kwargs):
    return statistics.median(t for _ in range(rounds) for t in walk(fetch, max_results, **kwargs)[0])


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--servers", type=int, default=3000)
    args = parser.parse_args(argv)
    states = {"CONTINUOUS": 0.9, "STALLED": 0.04, "INITIAL_SYNC": 0.03, "DISCONNECTED": 0.03}
    ok = True
    with Emulator({"generate": {"source_servers": args.servers, "source_server_states": states}}) as emu:
        app = emu.server.app
        connection = http.client.HTTPConnection("127.0.0.1", emu.server.port, timeout=30)

        def in_process(body):
            return app.handle(Request.build("POST", "/DescribeSourceServers", DRS, body)).body

        def over_http(body):
            connection.request("POST", "/DescribeSourceServers", body=body, headers=DRS)
            response = connection.getresponse()
            assert response.status == 200, response.read()
            return response.read()

        def moving():  # a second passes: every server's elapsed time (and some heartbeats) change
            emu.advance(1)

        def caller_identity_ms():
            start = time.perf_counter()
            connection.request("POST", "/", body=b"Action=GetCallerIdentity&Version=2011-06-15", headers=STS)
            connection.getresponse().read()
            return (time.perf_counter() - start) * 1000

        baseline = statistics.median(caller_identity_ms() for _ in range(50))
        print(f"DescribeSourceServers over {args.servers:,} servers, median per page (target < {TARGET_MS} ms)")
        print(f"baseline: GetCallerIdentity round trip {baseline:.2f} ms")
        for max_results in (None, 1000):
            assert walk(in_process, max_results)[1] == args.servers  # also warms the caches
            figures = {
                "in-process": median_ms(in_process, max_results),
                "in-process CPU": median_ms(in_process, max_results, clock=time.process_time),
                "in-process CPU, clock moving": median_ms(
                    in_process, max_results, clock=time.process_time, tick=moving
                ),
                "HTTP round trip": median_ms(over_http, max_results),
                "HTTP round trip, clock moving": median_ms(over_http, max_results, tick=moving),
            }
            label = f"maxResults={max_results}" if max_results else "default page (100)"
            print(f"\n{label}")
            for name, value in figures.items():
                print(f"  {name:32} {value:7.1f} ms   {value / baseline:6.1f}x baseline")
            worst = max(figures["HTTP round trip"], figures["HTTP round trip, clock moving"])
            passed = worst < TARGET_MS
            ok &= passed
            print(f"  [{'ok' if passed else 'FAIL'}] HTTP round trip {worst:.1f} ms < {TARGET_MS} ms")
        connection.close()
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
