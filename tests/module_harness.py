"""Run this collection's modules in-process, the way Ansible runs them, for integration tests.

``run_module(module, args)`` feeds ``args`` to the module's ``main()`` through
ansible-core's ``patch_module_args`` and returns the JSON result the module printed
(``failed: true`` and ``msg`` when it failed). ``emulator_args(emu)`` gives the standard
AWS connection options pointing at an in-process emulator.
"""

from __future__ import annotations

import contextlib
import io
import json
import os
import subprocess
import sys
from pathlib import Path

import botocore.loaders
import botocore.session
from ansible.module_utils.testing import patch_module_args

REPO = Path(__file__).resolve().parents[1]


def _share_botocore_loaders() -> None:
    """Let every botocore session of this process share one data loader per data path.

    Every module run builds its boto3 session (``Clients.from_module``), and each
    session's loader parses the service models again (EC2's is megabytes of JSON): in a
    test process that runs modules hundreds of times, that parsing was half the CPU. A
    loader is a botocore session component meant to be shared; its cache holds the same
    files read from the same paths, so what the modules send and receive is unchanged.
    (A real module run is one process with one session: it never sees this.)
    """
    loaders: dict[str | None, botocore.loaders.Loader] = {}

    def register_data_loader(session: botocore.session.Session) -> None:
        def shared() -> botocore.loaders.Loader:
            data_path = session.get_config_variable("data_path")
            if data_path not in loaders:
                loaders[data_path] = botocore.loaders.create_loader(data_path)
            return loaders[data_path]

        session._components.lazy_register_component("data_loader", shared)

    botocore.session.Session._register_data_loader = register_data_loader


_share_botocore_loaders()


def emulator_args(emu, region: str | None = None) -> dict:
    """amazon.aws connection options for an emulator (what ``module_defaults: group/aws`` would set)."""
    from emulator.testing import ACCESS_KEY, SECRET_KEY

    return {
        "endpoint_url": emu.endpoint,
        "access_key": ACCESS_KEY,
        "secret_key": SECRET_KEY,
        "region": region or emu.world.fleet.region,
    }


def run_module(module, args: dict, check_mode: bool = False) -> dict:
    """Run ``module.main()`` with ``args``; return its result dict (exit or fail)."""
    args = dict(args)
    args["_ansible_check_mode"] = check_mode
    out = io.StringIO()
    # exit_json / fail_json end with sys.exit: the printed JSON is the result.
    with patch_module_args(args), contextlib.redirect_stdout(out), contextlib.suppress(SystemExit):
        module.main()
    text = out.getvalue().strip()
    if not text:
        raise AssertionError("the module printed no result")
    # A module prints exactly one JSON document; anything else (a traceback) fails to parse here.
    return json.loads(text)


def run_playbook(playbook: str | Path, extra_vars: dict | None = None, env: dict | None = None, check: bool = False):
    """Run ``ansible-playbook`` on localhost; returns the CompletedProcess (stdout+stderr text)."""
    cmd = [str(Path(sys.executable).with_name("ansible-playbook")), str(playbook), "-i", "localhost,", "-c", "local"]
    if extra_vars:
        cmd += ["-e", json.dumps(extra_vars)]
    if check:
        cmd.append("--check")
    full_env = {**os.environ, "ANSIBLE_COLLECTIONS_PATH": str(REPO / "build" / "collections"), **(env or {})}
    full_env.setdefault("ANSIBLE_PYTHON_INTERPRETER", sys.executable)
    full_env.setdefault("ANSIBLE_NOCOLOR", "1")
    return subprocess.run(cmd, capture_output=True, text=True, env=full_env, cwd=REPO, timeout=900)
