"""Output: connection strings and compose services rendered from catalog data through sandboxed Jinja."""
