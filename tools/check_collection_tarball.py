"""Fail when the built collection tarball holds anything that is not collection content.

`make build` runs this on build/dist/drs-orchestration-*.tar.gz. What ships is
decided by `build_ignore` in galaxy.yml, which lists what to leave out: a new
directory (a test suite, a tool) ships by default. This check lists what may ship
instead, so such a directory fails the build until it is added to build_ignore (or
here, if it really is collection content).

Usage: python tools/check_collection_tarball.py TARBALL
"""

import sys
import tarfile

# Collection content: top-level entries, and directories whose whole tree may ship.
ALLOWED_FILES = {"MANIFEST.json", "FILES.json", "README.md", "LICENSE", "requirements.yml", "tests/config.yml"}
ALLOWED_TREES = ("meta", "plugins", "roles", "playbooks", "docs", "extensions", "changelogs", "tests/sanity")
# Directories that exist only to hold what is allowed above.
ALLOWED_PARENTS = {"tests"}


def unexpected(names: list[str]) -> list[str]:
    bad = []
    for name in names:
        path = name.rstrip("/")
        if path in ALLOWED_FILES or path in ALLOWED_PARENTS:
            continue
        if any(path == tree or path.startswith(tree + "/") for tree in ALLOWED_TREES):
            continue
        bad.append(name)
    return bad


def main() -> int:
    (tarball,) = sys.argv[1:]
    with tarfile.open(tarball) as archive:
        bad = unexpected(archive.getnames())
    if bad:
        print(f"{tarball} holds what is not collection content:", file=sys.stderr)
        for name in bad:
            print(f"    {name}", file=sys.stderr)
        print(
            "Add it to build_ignore in galaxy.yml (or, if it is content, to tools/check_collection_tarball.py).",
            file=sys.stderr,
        )
        return 1
    print(f"{tarball}: collection content only")
    return 0


if __name__ == "__main__":
    sys.exit(main())
