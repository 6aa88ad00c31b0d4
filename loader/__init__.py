"""Loading: catalog YAML -> validated -> immutable adapter objects, and the registry that holds them."""

from .adapter import DatabaseAdapter
from .config import DatabaseConfig
from .errors import CatalogError, ConfigError, DbstackError, Problem, UnknownDatabaseError
from .registry import DatabaseAdapterRegistry, load_catalog

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
