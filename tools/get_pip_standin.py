"""Offline stand-in for ansible-test's pip bootstrap script (get-pip.py).

ansible-test creates its sanity virtualenvs without pip and bootstraps pip with a
get-pip.py it downloads from ci-files.testing.ansible.com, a host this machine cannot
reach. It looks in ~/.ansible/test/cache/get_pip_<version>.py first, so
tools/install_get_pip_standin.py puts this file there.

ansible-test runs it as ``python quiet_pip.py <pip args> [--no-setuptools] [--no-wheel]``
(the arguments get-pip.py takes, e.g. ``--disable-pip-version-check pip==25.2``). We
seed pip from the interpreter's own bundled wheel (ensurepip, no network), then let
that pip install what was asked for, from the package index the machine's pip
configuration names.
"""

import os
import subprocess
import sys

# get-pip.py options that `pip install` does not understand; both mean "do not add
# setuptools / wheel", which a plain `pip install pip==X` does not do anyway.
GET_PIP_ONLY_OPTIONS = {"--no-setuptools", "--no-wheel"}


def main():
    args = [arg for arg in sys.argv[1:] if arg not in GET_PIP_ONLY_OPTIONS]
    env = dict(os.environ)
    # Let pip read its normal configuration files (index, certificates) rather than
    # whatever file a caller may have pointed PIP_CONFIG_FILE at.
    env.pop("PIP_CONFIG_FILE", None)
    subprocess.check_call([sys.executable, "-m", "ensurepip", "--default-pip"], env=env)
    subprocess.check_call([sys.executable, "-m", "pip", "install"] + args, env=env)


if __name__ == "__main__":
    main()
