"""Loading: catalog YAML -> validated -> immutable adapter objects, and the registry that holds them."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from .config import DatabaseConfig
from .errors import CatalogError, ConfigError, DbstackError, Problem, UnknownDatabaseError
from .registry import DatabaseAdapterRegistry, load_catalog

if TYPE_CHECKING:
    from .adapter import DatabaseAdapter

__all__ = [
    "CatalogError",
    "ConfigError",
    "DatabaseAdapter",
    "DatabaseAdapterRegistry",
    "DatabaseConfig",
    "DbstackError",
    "Problem",
    "UnknownDatabaseError",
    "load_catalog",
]


def __getattr__(name: str) -> Any:
    """DatabaseAdapter on first use: it brings the Jinja sandbox, which listing or validating a cached
    catalog never needs."""
    if name == "DatabaseAdapter":
        from .adapter import DatabaseAdapter

        return DatabaseAdapter
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
