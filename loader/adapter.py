"""DatabaseAdapter: one catalog entry bound to one validated DatabaseConfig."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from dbstack.sandbox import TemplateError, render

from . import config as config_module
from .config import DatabaseConfig
from .errors import ConfigError, DbstackError
from .model import Capabilities, ConnectionForm, Container, DatabaseSpec


class DatabaseAdapter:
    """The generic adapter: every behaviour comes from the catalog entry's data."""

    __slots__ = ("_config", "_spec")
    _spec: DatabaseSpec
    _config: DatabaseConfig

    def __init__(self, spec: DatabaseSpec, config: Mapping[str, Any] | None = None) -> None:
        object.__setattr__(self, "_spec", spec)
        object.__setattr__(self, "_config", config_module.resolve(spec, config))

    def __setattr__(self, name: str, value: object) -> None:
        raise AttributeError("DatabaseAdapter is immutable; use with_config()")

    def __repr__(self) -> str:
        return f"DatabaseAdapter({self._spec.id!r}, {self._config!r})"

    @property
    def spec(self) -> DatabaseSpec:
        return self._spec

    @property
    def config(self) -> DatabaseConfig:
        """The resolved config: given values plus catalog defaults."""
        return self._config

    @property
    def id(self) -> str:
        return self._spec.id

    @property
    def name(self) -> str:
        return self._spec.name

    @property
    def protocols(self) -> tuple[str, ...]:
        return self._spec.protocols

    @property
    def capabilities(self) -> Capabilities:
        return self._spec.capabilities

    @property
    def container(self) -> Container | None:
        return self._spec.container

    def with_config(self, config: Mapping[str, Any] | None = None, /, **changes: Any) -> DatabaseAdapter:
        """A new adapter with the config replaced (or, with keyword arguments, changed)."""
        base = dict(self._config.plain() if config is None else config)
        base.update(changes)
        return DatabaseAdapter(self._spec, {k: v for k, v in base.items() if v is not None})

    def missing_required(self) -> list[str]:
        return config_module.missing_required(self._spec, self._config)

    def with_generated_secrets(self) -> DatabaseAdapter:
        """Generate every secret the config lacks and the catalog knows how to make."""
        generated = {
            name: config_module.generate_secret(p.generate)
            for name, p in self._spec.parameters.items()
            if p.secret and p.generate and self._config.get(name) is None
        }
        return self.with_config(**generated) if generated else self

    def form(self, name: str | None = None) -> ConnectionForm:
        name = name or self._spec.default_form
        try:
            return self._spec.forms[name]
        except KeyError:
            raise DbstackError(
                f"{self.id}: no connection-string form {name!r}; forms: {', '.join(self._spec.forms)}"
            ) from None

    def template_context(self) -> dict[str, Any]:
        """Every declared parameter by name; unset optional ones are None."""
        return {name: self._config.get(name) for name in self._spec.parameters}

    def connection_string(self, form: str | None = None) -> str:
        """Render a connection-string form (the entry's default when None)."""
        chosen = self.form(form)
        missing = self.missing_required()
        if missing:
            raise ConfigError(self.id, [self._requirement(name) for name in missing])
        for name, accepts in chosen.accepts.items():
            from .validation import fullmatch  # RE2, loaded only for forms that restrict a value

            value = self._config.get(name)
            if isinstance(value, str) and not fullmatch(accepts.pattern, value):
                raise DbstackError(
                    f"{self._spec.file}: connection_strings.forms.{chosen.name}: this {name} cannot be carried: "
                    f"{accepts.why}"
                )
        try:
            text = render(chosen.template, self.template_context())
        except TemplateError as exc:
            raise DbstackError(f"{self._spec.file}: connection_strings.forms.{chosen.name}: {exc}") from None
        if any(ch.isspace() for ch in text):
            raise DbstackError(
                f"{self._spec.file}: connection_strings.forms.{chosen.name}: rendered string contains white space "
                "(encode values with the userinfo, pathsegment or query filters)"
            )
        return text

    def _requirement(self, name: str) -> str:
        because = [
            f"{other}={self._config.get(other)}"
            for other, values in self._spec.parameters[name].required_when.items()
            if self._config.get(other) in values
        ]
        return f"parameter {name!r} is required" + (f" with {', '.join(because)}" if because else "")

    def connection_strings(self) -> dict[str, str]:
        return {name: self.connection_string(name) for name in self._spec.forms}

    def pool_options(self) -> dict[str, Any]:
        """Pool settings for the caller's driver; empty where the URI already carries them."""
        pool = self._spec.pool
        if pool is None or pool.in_uri:
            return {}
        return {key: self._config.get(param) for key, param in pool.settings.items() if param in self._config}
