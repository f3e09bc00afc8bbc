"""Repo-wide pytest setup for the collection's tests.

pyproject.toml puts the repo root and build/collections on sys.path (pytest's
`pythonpath`), so tests can `import emulator` and
`import ansible_collections.drs.orchestration.plugins.module_utils.<x>`.
The second needs build/collections/ansible_collections/drs/orchestration to point
at this repo. `make` creates that link before running pytest; this file creates it
too, so a bare `pytest tests/` works on a fresh checkout.
"""

import importlib
import sys
from pathlib import Path

REPO_ROOT = Path(__file__).resolve().parent.parent
COLLECTIONS_DIR = REPO_ROOT / "build" / "collections"
COLLECTION_LINK = COLLECTIONS_DIR / "ansible_collections" / "drs" / "orchestration"


def _ensure_collection_link() -> None:
    if COLLECTION_LINK.resolve() == REPO_ROOT:
        return
    COLLECTION_LINK.parent.mkdir(parents=True, exist_ok=True)
    if COLLECTION_LINK.is_symlink():
        COLLECTION_LINK.unlink()  # points elsewhere, e.g. an old checkout
    COLLECTION_LINK.symlink_to(REPO_ROOT, target_is_directory=True)
    # The import system remembers that build/collections did not exist when
    # pytest started: make it look again.
    sys.path_importer_cache.pop(str(COLLECTIONS_DIR), None)
    importlib.invalidate_caches()


_ensure_collection_link()

# The emulator's fixtures (``emulator``, ``emulator_factory``) for every test below tests/.
from emulator.testing import emulator, emulator_factory  # noqa: E402, F401
