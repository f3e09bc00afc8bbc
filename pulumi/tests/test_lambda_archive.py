"""The Lambda archive holds the handler and every core file it imports, in the collection's layout.

The expected set is computed here a second way, from compiled bytecode (every
``IMPORT_NAME`` in every code object, nested functions included, so imports inside
functions count), independently of the AST walk ``lambda_package`` uses. Then the
archive is unpacked and imported in a fresh interpreter that cannot see the repo.
"""

from __future__ import annotations

import dis
import subprocess
import sys
from pathlib import Path

import pytest
from components import lambda_package

REPO = Path(__file__).resolve().parents[2]
CORE = "ansible_collections.drs.orchestration.plugins.module_utils"
CORE_DIR = REPO / "plugins" / "module_utils"
HANDLER_DIR = REPO / "pulumi" / "api"


def _imports(path: Path):
    """``(module, fromlist, level)`` of every import statement in the file's bytecode."""
    code = compile(path.read_text(encoding="utf-8"), str(path), "exec")
    stack = [code]
    while stack:
        code = stack.pop()
        instructions = list(dis.get_instructions(code))
        for i, instruction in enumerate(instructions):
            if instruction.opname == "IMPORT_NAME":
                level, fromlist = instructions[i - 2].argval, instructions[i - 1].argval
                yield instruction.argval, tuple(fromlist or ()), level
        stack.extend(c for c in code.co_consts if hasattr(c, "co_code"))


def _core_modules_imported_by(path: Path, package: str | None):
    """Core module names ``path`` imports; ``package`` is its package when it is a core file."""
    found = set()
    for module, fromlist, level in _imports(path):
        if level and package == CORE:
            base = CORE if level == 1 else None
            if base is None:
                continue
            target = f"{base}.{module}" if module else base
        elif level:
            continue  # the handler's own package (api.*)
        else:
            target = module
        if target == CORE:
            found.update(f"{CORE}.{name}" for name in fromlist)
        elif target.startswith(CORE + "."):
            found.add(".".join(target.split(".")[:6]))
    return found


def expected_core_files():
    pending = set()
    for path in HANDLER_DIR.glob("*.py"):
        pending |= _core_modules_imported_by(path, "api")
    seen = set()
    while pending:
        module = pending.pop()
        if module in seen:
            continue
        seen.add(module)
        pending |= _core_modules_imported_by(CORE_DIR / f"{module.rsplit('.', 1)[1]}.py", CORE)
    return {f"{module.replace('.', '/')}.py" for module in seen}


def _archive(stack):
    function = stack.one("aws:lambda/function:Function")
    return function.inputs["code"].assets


def test_archive_holds_the_handler_and_exactly_the_core_files_it_imports(stack):
    assets = _archive(stack)
    core_files = {name for name in assets if name.startswith("ansible_collections/")}
    expected = expected_core_files()
    assert "ansible_collections/drs/orchestration/plugins/module_utils/aws.py" in expected
    assert core_files == expected
    assert {name for name in assets if name.startswith("api/")} == {f"api/{p.name}" for p in HANDLER_DIR.glob("*.py")}
    assert set(assets) == core_files | {f"api/{p.name}" for p in HANDLER_DIR.glob("*.py")}


def test_archive_files_are_the_repository_files(stack):
    for name, asset in _archive(stack).items():
        source = Path(asset.path)
        if name.startswith("api/"):
            assert source == HANDLER_DIR / Path(name).name
        else:
            assert source == CORE_DIR / Path(name).name


def test_unpacked_archive_imports_without_the_repository(stack, tmp_path):
    for name, asset in _archive(stack).items():
        target = tmp_path / name
        target.parent.mkdir(parents=True, exist_ok=True)
        target.write_bytes(Path(asset.path).read_bytes())
    script = (
        "import importlib, pathlib, sys\n"
        f"root = pathlib.Path({str(tmp_path)!r})\n"
        "sys.path.insert(0, str(root))\n"
        "import api.handler\n"
        "assert callable(api.handler.handle)\n"
        "for path in sorted(root.rglob('*.py')):\n"
        "    name = '.'.join(path.relative_to(root).with_suffix('').parts)\n"
        "    module = importlib.import_module(name.removesuffix('.__init__'))\n"
        "    assert pathlib.Path(module.__file__).is_relative_to(root), module.__file__\n"
        "loaded = [m for m in sys.modules.values() if getattr(m, '__file__', None)]\n"
        f"repo, venv = {str(REPO)!r}, {str(REPO / '.venv')!r}\n"
        "leaked = [m.__name__ for m in loaded if m.__file__.startswith(repo) and not m.__file__.startswith(venv)]\n"
        "assert not leaked, leaked\n"
        "print('ok')\n"
    )
    # -I: no PYTHONPATH, no user site, no current directory; boto3 comes from site-packages
    # as it does from the Lambda runtime.
    result = subprocess.run([sys.executable, "-I", "-c", script], capture_output=True, text=True, cwd=tmp_path)
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == "ok"


def test_packaging_names_a_missing_core_module(tmp_path):
    handler = tmp_path / "api"
    handler.mkdir()
    (handler / "handler.py").write_text(f"from {CORE} import nowhere\n")
    with pytest.raises(FileNotFoundError, match="'nowhere'"):
        lambda_package.archive_files(handler_dir=handler, core_dir=CORE_DIR)
