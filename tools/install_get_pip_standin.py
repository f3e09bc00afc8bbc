"""Install tools/get_pip_standin.py where ansible-test looks for its pip bootstrap.

Run with the interpreter that has ansible-core installed (the dev venv); `make
sanity` does. The cache file name carries the pip version ansible-test wants
(get_pip_25_2.py for pip 25.2, ...), so ansible-test itself is asked for it, for
every Python version it supports, rather than hard-coding it here. Idempotent: a
file that already has the stand-in's content is left alone.
"""

import filecmp
import shutil
import sys
import types
from pathlib import Path

STANDIN = Path(__file__).resolve().parent / "get_pip_standin.py"
CACHE_DIR = Path("~/.ansible/test/cache").expanduser()  # fixed in ansible-test's requirements.py


def wanted_pip_versions() -> set[str]:
    try:
        from ansible_test._internal.python_requirements import get_venv_packages
        from ansible_test._util.target.common.constants import CONTROLLER_PYTHON_VERSIONS, REMOTE_ONLY_PYTHON_VERSIONS
    except ImportError as exc:  # ansible-test moved things around: say so plainly
        sys.exit(f"install_get_pip_standin: cannot ask ansible-test which pip it bootstraps: {exc}")
    versions = CONTROLLER_PYTHON_VERSIONS + REMOTE_ONLY_PYTHON_VERSIONS
    return {get_venv_packages(types.SimpleNamespace(version=v))["pip"] for v in versions}


def main() -> None:
    CACHE_DIR.mkdir(parents=True, exist_ok=True)
    for pip_version in sorted(wanted_pip_versions()):
        target = CACHE_DIR / f"get_pip_{pip_version.replace('.', '_')}.py"
        if target.exists() and filecmp.cmp(STANDIN, target, shallow=False):
            continue
        shutil.copyfile(STANDIN, target)
        print(f"installed ansible-test's pip {pip_version} bootstrap stand-in: {target}")


if __name__ == "__main__":
    main()
