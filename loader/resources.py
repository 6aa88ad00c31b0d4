"""The data folders dbstack ships (catalog/, schema/, apps/, render/...), found through importlib.resources.

dbstack installs as plain files (never zipped): catalog checks open files themselves, without following links,
so each folder is handed out as a file-system path.
"""

from __future__ import annotations

from importlib.resources import files
from pathlib import Path


def package_folder(*parts: str) -> Path:
    """A folder of the installed ``dbstack`` package, e.g. ``package_folder("catalog")``."""
    resource = files("dbstack").joinpath(*parts)
    if not isinstance(resource, Path):  # pragma: no cover - only a zipped install would get here
        raise RuntimeError(f"dbstack must be installed as files, not as {type(resource).__name__}")
    return resource
