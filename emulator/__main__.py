"""``python -m emulator --fleet fleet.yml --speed 60 [--port 4566]``: serve until interrupted."""

from __future__ import annotations

import argparse
import os
import sys

from . import DEFAULT_PORT
from .fleet import Fleet, FleetError
from .server import EmulatorServer
from .world import World


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m emulator", description=__doc__)
    parser.add_argument("--fleet", help="fleet file (YAML or JSON); default: an empty fleet")
    parser.add_argument(
        "--port", type=int, default=DEFAULT_PORT, help=f"port on 127.0.0.1 (default {DEFAULT_PORT}; 0 = any free port)"
    )
    parser.add_argument(
        "--speed", type=float, default=1.0, help="virtual seconds per real second (default 1; 0 = frozen)"
    )
    parser.add_argument("--seed", type=int, default=0, help="seed for ids and random faults")
    parser.add_argument("--verbose", action="store_true", help="log every request")
    parser.add_argument(
        "--endpoint-file",
        metavar="PATH",
        help="once listening, write the endpoint URL to PATH (atomically: a script can wait for the file)",
    )
    args = parser.parse_args(argv)
    try:
        fleet = Fleet.load(args.fleet) if args.fleet else Fleet.empty()
    except (OSError, FleetError) as exc:
        print(f"emulator: cannot load fleet: {exc}", file=sys.stderr)
        return 2
    try:
        server = EmulatorServer(World(fleet, speed=args.speed, seed=args.seed), port=args.port, verbose=args.verbose)
    except OSError as exc:
        print(f"emulator: cannot listen on 127.0.0.1:{args.port}: {exc}", file=sys.stderr)
        return 2
    instances = len(fleet.instances)
    print(f"emulator listening on {server.endpoint} (speed {args.speed}x, {instances} instances)", flush=True)
    if args.endpoint_file:
        try:
            _write_atomically(args.endpoint_file, server.endpoint + "\n")
        except OSError as exc:
            server.httpd.server_close()
            print(f"emulator: cannot write the endpoint file: {exc}", file=sys.stderr)
            return 2
    try:
        server.serve_forever()
    except KeyboardInterrupt:
        pass
    except FleetError as exc:  # raised by a service building its state (e.g. a bad SSM document entry)
        print(f"emulator: cannot load fleet: {exc}", file=sys.stderr)
        return 2
    finally:
        server.httpd.server_close()
    return 0


def _write_atomically(path: str, text: str) -> None:
    """Write ``text`` to ``path`` through a temporary file and a rename: never seen half-written."""
    temporary = f"{path}.{os.getpid()}.tmp"
    with open(temporary, "w", encoding="utf-8") as handle:
        handle.write(text)
    os.replace(temporary, path)


if __name__ == "__main__":
    sys.exit(main())
