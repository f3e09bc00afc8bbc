"""Benchmark: the REST API's GET /replication/summary over 3,000 source servers.

The dashboard target of the brief ("Dashboard load time < 2 seconds") for the route
that feeds it. The Lambda handler runs in this process exactly as Lambda would call it
(``api.handler.App.handle`` with an API Gateway proxy event). AWS is the emulator,
with a fixed answer time per call (default 50 ms):

* the emulator (its own process, ``python -m emulator``) holds the fleet and computes
  every answer once, while a recording stand-in in front of it keeps each answer;
* then the stand-in replays the recorded answers, each after the injected latency, so
  the figures are the handler's own work plus 50 ms per AWS call, not the emulator's
  time to render 1,000 servers on this machine (shown separately, for reference).

Measured in the same run, on the same fleet and the same recorded DRS answers:

* api    -- GET /replication/summary: the core's one paginated DescribeSourceServers
            sweep (1,000 per page), summarised and shaped to JSON;
* naive  -- the brief's per-server approach (Phase 2 ``get_replication_status``): one
            ``DescribeSourceServers(filters={'sourceServerIDs': [id]})`` per server,
            the IDs handed to it for free, then the same counting.

Wall times are the median of ``--repeat`` requests for the API (the baseline runs
once: 3,000 sequential calls); "cpu" is this process's CPU time (the handler's work).
Exit status 1 when the API misses the 2 s target.

Run: ``.venv/bin/python bench/bench_api_summary.py [--servers 3000] [--latency-ms 50] [--repeat 5]``
"""

from __future__ import annotations

import argparse
import http.client
import json
import re
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from urllib.parse import urlsplit

REPO = Path(__file__).resolve().parents[1]
sys.path[:0] = [str(REPO), str(REPO / "build" / "collections"), str(REPO / "pulumi")]

import boto3  # noqa: E402
from api.handler import App  # noqa: E402
from botocore.config import Config  # noqa: E402

from ansible_collections.drs.orchestration.plugins.module_utils.aws import Clients  # noqa: E402
from emulator.testing import ACCESS_KEY, SECRET_KEY, EmulatorAdmin, shared_session  # noqa: E402

REGION = "us-east-1"
TARGET_SECONDS = 2.0
STATE_MIX = {"CONTINUOUS": 0.85, "INITIAL_SYNC": 0.07, "INITIATING": 0.03, "STALLED": 0.03, "DISCONNECTED": 0.02}
EVENT = {
    "resource": "/replication/summary",
    "path": "/replication/summary",
    "httpMethod": "GET",
    "queryStringParameters": None,
    "multiValueQueryStringParameters": None,
    "pathParameters": None,
    "body": None,
    "requestContext": {"requestId": "bench", "authorizer": {"claims": {"sub": "bench", "email": "bench@example.com"}}},
}


class EmulatorProcess:
    """``python -m emulator`` on a free loopback port, stopped (by its PID) on exit."""

    def __init__(self, fleet: dict):
        self._fleet_file = tempfile.NamedTemporaryFile("w", suffix=".json", delete=False)  # noqa: SIM115
        json.dump(fleet, self._fleet_file)
        self._fleet_file.close()
        self.process = subprocess.Popen(
            [sys.executable, "-m", "emulator", "--fleet", self._fleet_file.name, "--port", "0", "--speed", "0"],
            cwd=REPO,
            stdout=subprocess.PIPE,
            text=True,
        )
        line = self.process.stdout.readline()
        match = re.search(r"listening on (http://127\.0\.0\.1:\d+)", line)
        if not match:
            self.stop()
            raise SystemExit(f"the emulator did not start: {line!r}")
        self.endpoint = match.group(1)
        self.admin = EmulatorAdmin(self.endpoint)

    def stop(self):
        self.process.terminate()
        self.process.wait(timeout=30)
        Path(self._fleet_file.name).unlink(missing_ok=True)


class RecordReplay:
    """An HTTP stand-in for AWS: records the emulator's answers, then replays them after a fixed latency.

    Requests are matched on method, path and body (boto3 signs each request anew, so
    headers differ between runs; the body carries the filters and the page token).
    """

    def __init__(self, upstream: str):
        self.upstream = urlsplit(upstream)
        self.recorded: dict[tuple, tuple] = {}
        self.replaying = False
        self.latency = 0.0
        self.calls = 0
        self.missed: list[tuple] = []
        stand_in = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"
            # Headers and body go out in separate writes: without TCP_NODELAY every call on a
            # kept-alive connection waits ~40 ms for the client's delayed ACK (as emulator/server.py says).
            disable_nagle_algorithm = True

            def do_POST(self):  # every DRS/SSM/DynamoDB call is a POST
                body = self.rfile.read(int(self.headers.get("Content-Length") or 0))
                status, headers, answer = stand_in.answer(self.command, self.path, body, dict(self.headers))
                self.send_response_only(status)  # the recorded Date header is kept: the core reads the service's time
                for name, value in headers:
                    if name.lower() not in ("content-length", "connection", "transfer-encoding"):
                        self.send_header(name, value)
                self.send_header("Content-Length", str(len(answer)))
                self.end_headers()
                self.wfile.write(answer)

            def log_message(self, *args):
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.endpoint = f"http://127.0.0.1:{self.server.server_address[1]}"
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def answer(self, method, path, body, headers):
        key = (method, path, body)
        if not self.replaying:
            connection = http.client.HTTPConnection(self.upstream.hostname, self.upstream.port, timeout=120)
            forwarded = {k: v for k, v in headers.items() if k.lower() not in ("host", "connection")}
            connection.request(method, path, body=body, headers=forwarded)
            response = connection.getresponse()
            self.recorded[key] = (response.status, response.getheaders(), response.read())
            connection.close()
            return self.recorded[key]
        self.calls += 1
        time.sleep(self.latency)
        if key not in self.recorded:
            self.missed.append(key)
            return 500, [("Content-Type", "application/json")], b'{"message": "request not recorded"}'
        return self.recorded[key]

    def replay(self, latency: float):
        self.replaying, self.latency = True, latency

    def stop(self):
        self.server.shutdown()


def app_for(endpoint: str) -> App:
    def clients(region):
        return Clients.from_session(shared_session(), region=region, endpoint_url=endpoint)

    return App({"AWS_REGION": REGION, "ALLOWED_REGIONS": REGION}, make_clients=clients)


def drs_client(endpoint: str):
    return boto3.client(
        "drs",
        region_name=REGION,
        endpoint_url=endpoint,
        aws_access_key_id=ACCESS_KEY,
        aws_secret_access_key=SECRET_KEY,
        config=Config(proxies={}, retries={"mode": "standard", "max_attempts": 10}),
    )


def naive(endpoint: str, ids: list[str]) -> dict:
    """The brief's Phase 2 handler once per server, then the dashboard's counting."""
    client = drs_client(endpoint)
    by_state: dict[str, int] = {}
    for source_server_id in ids:
        for item in client.describe_source_servers(filters={"sourceServerIDs": [source_server_id]})["items"]:
            state = (item.get("dataReplicationInfo") or {}).get("dataReplicationState") or "UNKNOWN"
            by_state[state] = by_state.get(state, 0) + 1
    return {"totalServers": sum(by_state.values()), "byState": by_state}


def timed(action):
    started, cpu = time.perf_counter(), time.process_time()
    value = action()
    return value, time.perf_counter() - started, time.process_time() - cpu


def summary_request(app):
    response = app.handle(EVENT)
    assert response["statusCode"] == 200, response
    return response


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--servers", type=int, default=3000)
    parser.add_argument("--latency-ms", type=float, default=50.0)
    parser.add_argument("--repeat", type=int, default=5)
    args = parser.parse_args(argv)

    fleet = {
        "region": REGION,
        "generate": {"source_servers": args.servers, "source_server_states": STATE_MIX, "seed": 11},
    }
    emu = EmulatorProcess(fleet)
    stand_in = RecordReplay(emu.endpoint)
    try:
        ids = [
            s["sourceServerID"]
            for s in drs_client(emu.endpoint)
            .get_paginator("describe_source_servers")
            .paginate(filters={}, PaginationConfig={"PageSize": 1000})
            .build_full_result()["items"]
        ]
        # Record: the emulator computes every answer once.
        app = app_for(stand_in.endpoint)
        summary_request(app)
        naive(stand_in.endpoint, ids)
        # For reference: the API against the emulator itself, 50 ms injected by the emulator.
        emu.admin.faults(latency_ms=args.latency_ms)
        direct_app = app_for(emu.endpoint)
        summary_request(direct_app)
        _, direct_seconds, _ = timed(lambda: summary_request(direct_app))
        # Replay: the same answers, each after the injected latency.
        stand_in.replay(args.latency_ms / 1000)
        api_runs = []
        for _ in range(args.repeat):
            stand_in.calls = 0
            response, seconds, cpu = timed(lambda: summary_request(app))
            api_runs.append((seconds, cpu, stand_in.calls, json.loads(response["body"]), len(response["body"])))
        stand_in.calls = 0
        baseline, naive_seconds, _ = timed(lambda: naive(stand_in.endpoint, ids))
        naive_calls = stand_in.calls
    finally:
        stand_in.stop()
        emu.stop()

    assert not stand_in.missed, f"requests that were not recorded: {stand_in.missed[:3]}"
    api_seconds = statistics.median(run[0] for run in api_runs)
    api_cpu = statistics.median(run[1] for run in api_runs)
    _, _, api_calls, summary, body_bytes = api_runs[-1]
    assert summary["totalServers"] == baseline["totalServers"] == args.servers, (summary, baseline)
    assert summary["byState"] == baseline["byState"], (summary["byState"], baseline["byState"])
    print(f"GET /replication/summary: {args.servers} source servers, {args.latency_ms:.0f} ms per AWS call")
    print(f"{'':>8} {'calls':>7} {'seconds':>9}")
    each = ", ".join(f"{run[0]:.3f}" for run in api_runs)
    print(f"{'api':>8} {api_calls:>7} {api_seconds:>9.3f}   (median of {args.repeat}: {each}; cpu {api_cpu:.3f} s)")
    print(f"{'naive':>8} {naive_calls:>7} {naive_seconds:>9.3f}")
    print(f"ratio: {naive_calls / api_calls:.0f}x fewer calls, {naive_seconds / api_seconds:.1f}x less time")
    print(
        f"reference: {direct_seconds:.3f} s against the emulator itself (its own rendering of "
        f"{args.servers} servers included)"
    )
    print(
        f"summary: total {summary['totalServers']}, ready {summary['ready']}, syncing {summary['syncing']}, "
        f"needs attention {summary['needsAttention']}, body {body_bytes} bytes"
    )
    verdict = "PASS" if api_seconds < TARGET_SECONDS else "FAIL"
    print(f"{verdict}: {api_seconds:.3f} s against the {TARGET_SECONDS:.0f} s dashboard target")
    return 0 if verdict == "PASS" else 1


if __name__ == "__main__":
    sys.exit(main())
