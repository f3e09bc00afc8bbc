"""The core (plugins/module_utils) must import without Ansible: the Lambda ships it as is."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]
CORE = REPO / "plugins" / "module_utils"


def test_every_core_file_imports_with_ansible_unavailable():
    names = sorted(p.stem for p in CORE.glob("*.py") if p.stem != "__init__")
    assert names, "no core files found"
    script = (
        "import sys, importlib\n"
        "class Block:\n"
        "    def find_spec(self, name, path=None, target=None):\n"
        "        if name == 'ansible' or name.startswith('ansible.'):\n"
        "            raise ImportError('core must not import ' + name)\n"
        "sys.meta_path.insert(0, Block())\n"
        f"for name in {names!r}:\n"
        "    importlib.import_module('ansible_collections.drs.orchestration.plugins.module_utils.' + name)\n"
        "print('ok')\n"
    )
    collections = REPO / "build" / "collections"
    result = subprocess.run(
        [sys.executable, "-c", script],
        capture_output=True,
        text=True,
        env={"PYTHONPATH": str(collections), "PATH": "/usr/bin:/bin"},
    )
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == "ok"
