"""The data folders dbstack ships (catalog/, schema/, apps/, render/...), as file-system paths.

dbstack installs as plain files (never zipped): catalog checks open files themselves, without following links,
so each folder is handed out as a path. The package's folder is this module's grandparent (dbstack/loader/ ->
dbstack/), what importlib.resources.files("dbstack") returns for such an install, without importing
importlib.resources (with zipfile and tempfile) on every run.
"""

from __future__ import annotations

from pathlib import Path

PACKAGE = Path(__file__).parent.parent


def package_folder(*parts: str) -> Path:
    """A folder of the installed ``dbstack`` package, e.g. ``package_folder("catalog")``."""
    return PACKAGE.joinpath(*parts)
