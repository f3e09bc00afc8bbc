"""The Lambda package: the REST handler plus the core files it imports, nothing else.

The handler imports the core exactly as the modules do
(``ansible_collections.drs.orchestration.plugins.module_utils.<name>``), so the archive
keeps that layout under its root and Lambda's ``/var/task`` on ``sys.path`` makes the
imports work unchanged. Core files import each other relatively (``from .aws import
Clients``); both forms are followed here, transitively. boto3 and botocore come from
the Lambda Python runtime.
"""

from __future__ import annotations

import ast
from pathlib import Path

PULUMI_DIR = Path(__file__).resolve().parent.parent
REPO_ROOT = PULUMI_DIR.parent
HANDLER_DIR = PULUMI_DIR / "api"
CORE_DIR = REPO_ROOT / "plugins" / "module_utils"
CORE_PACKAGE = "ansible_collections.drs.orchestration.plugins.module_utils"
CORE_ARCHIVE_DIR = CORE_PACKAGE.replace(".", "/")
HANDLER = "api.handler.handle"


def _imported_core_modules(source: Path, in_core: bool) -> set[str]:
    """Names of the core modules ``source`` imports (absolute or, inside the core, relative)."""
    names = set()
    for node in ast.walk(ast.parse(source.read_text(encoding="utf-8"), filename=str(source))):
        if isinstance(node, ast.Import):
            for alias in node.names:
                if alias.name.startswith(CORE_PACKAGE + "."):
                    names.add(alias.name[len(CORE_PACKAGE) + 1 :].split(".")[0])
        elif isinstance(node, ast.ImportFrom):
            module = node.module or ""
            if node.level == 0 and module == CORE_PACKAGE:
                names.update(alias.name for alias in node.names)
            elif node.level == 0 and module.startswith(CORE_PACKAGE + "."):
                names.add(module[len(CORE_PACKAGE) + 1 :].split(".")[0])
            elif node.level == 1 and in_core:
                names.update([module.split(".")[0]] if module else [alias.name for alias in node.names])
    return names


def core_modules(entry_points, core_dir: Path = CORE_DIR) -> list[str]:
    """Every core module the entry point files import, directly or through other core modules."""
    pending = set()
    for path in entry_points:
        pending |= _imported_core_modules(Path(path), in_core=False)
    found: set[str] = set()
    while pending:
        name = pending.pop()
        if name in found:
            continue
        path = core_dir / f"{name}.py"
        if not path.is_file():
            raise FileNotFoundError(f"the handler imports core module {name!r}, but {path} does not exist")
        found.add(name)
        pending |= _imported_core_modules(path, in_core=True) - found
    return sorted(found)


def handler_files(handler_dir: Path = HANDLER_DIR) -> list[Path]:
    return sorted(p for p in handler_dir.glob("*.py"))


def archive_files(handler_dir: Path = HANDLER_DIR, core_dir: Path = CORE_DIR) -> dict[str, Path]:
    """``{path inside the archive: file on disk}`` for the handler and its core modules."""
    handlers = handler_files(handler_dir)
    files = {f"api/{p.name}": p for p in handlers}
    for name in core_modules(handlers, core_dir):
        files[f"{CORE_ARCHIVE_DIR}/{name}.py"] = core_dir / f"{name}.py"
    return files


def asset_archive(files: dict[str, Path]):
    """The archive as a Pulumi asset (hashing and zipping are Pulumi's)."""
    import pulumi

    return pulumi.AssetArchive({name: pulumi.FileAsset(str(path)) for name, path in sorted(files.items())})
