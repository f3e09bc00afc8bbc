"""Write an N-instance fleet file: ``python -m emulator.generate --count 500 [options] > fleet.yml``.

The fleet is deterministic for a given seed (see :func:`emulator.fleet.generate`), so a
benchmark or a demo can be re-run against exactly the same servers.
"""

from __future__ import annotations

import argparse
import sys

import yaml

from .fleet import Fleet, FleetError, generate


def build(args: argparse.Namespace) -> dict:
    """The fleet file content for the parsed command line (validated by loading it)."""
    tags = dict(_tag(t) for t in args.tag) if args.tag else None
    generated = generate(
        count=args.count,
        name_prefix=args.name_prefix,
        tags=tags,
        ssm_offline=args.ssm_offline,
        install_fail=args.install_fail,
        windows=args.windows,
        source_servers=args.source_servers,
        source_server_region=args.source_server_region,
        seed=args.seed,
    )
    data: dict = {"account_id": args.account_id, "region": args.region, **generated}
    Fleet.from_dict(data)  # refuse to write a fleet the emulator would not load
    return data


def _tag(text: str) -> tuple[str, str]:
    key, sep, value = text.partition("=")
    if not sep or not key:
        raise argparse.ArgumentTypeError(f"--tag takes KEY=VALUE, got {text!r}")
    return key, value


def _count(text: str) -> int:
    value = int(text)
    if value < 0:
        raise argparse.ArgumentTypeError("must be >= 0")
    return value


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m emulator.generate", description=__doc__)
    parser.add_argument("--count", type=_count, required=True, help="EC2 instances to generate")
    parser.add_argument("--name-prefix", default="app", help="Name tag prefix (default app)")
    parser.add_argument("--tag", action="append", help="KEY=VALUE tag on every instance (repeatable)")
    parser.add_argument("--ssm-offline", type=_count, default=0, help="instances whose SSM agent is offline")
    parser.add_argument("--install-fail", type=_count, default=0, help="instances whose agent install fails")
    parser.add_argument("--windows", type=_count, default=0, help="Windows instances (the last N)")
    parser.add_argument("--source-servers", type=_count, default=0, help="pre-existing on-premises source servers")
    parser.add_argument("--source-server-region", help="Region of the source servers (default: the fleet Region)")
    parser.add_argument("--account-id", default="123456789012")
    parser.add_argument("--region", default="us-east-1")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--output", "-o", help="write here instead of stdout")
    args = parser.parse_args(argv)
    if args.ssm_offline + args.install_fail > args.count or args.windows > args.count:
        parser.error("--ssm-offline + --install-fail and --windows must each fit in --count")
    try:
        text = yaml.safe_dump(build(args), sort_keys=False)
    except (FleetError, argparse.ArgumentTypeError) as exc:
        parser.error(str(exc))
    if args.output:
        with open(args.output, "w", encoding="utf-8") as fh:
            fh.write(text)
    else:
        sys.stdout.write(text)
    return 0


if __name__ == "__main__":
    sys.exit(main())
