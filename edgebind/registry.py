"""One way to create things by name: a `Registry` per kind (model configs, transforms, stems,
heads, data sets, evaluation tasks; later sources, backends, detectors).

Entries are added with `@REGISTRY.register("name")` (or `.add`), a second entry under a taken name
is an error, and `build(config)` lets the config's `type` field pick the class, so callers never
branch on names themselves.
"""
from __future__ import annotations

from typing import Any, Callable, Generic, Iterator, TypeVar

from edgebind.errors import ConfigError

T = TypeVar("T")


class Registry(Generic[T]):
    """Names -> entries (classes, factories or paths) of one `kind`, e.g. "data set"."""

    def __init__(self, kind: str) -> None:
        self.kind = kind
        self._entries: dict[str, T] = {}

    def add(self, name: str, entry: T) -> T:
        """Register `entry` under `name`; a name already taken raises ConfigError."""
        if name in self._entries:
            raise ConfigError(f"{self.kind} {name!r} is already registered ({self._entries[name]!r}); "
                              "choose another name")
        self._entries[name] = entry
        return entry

    def register(self, name: str) -> Callable[[T], T]:
        """Decorator form of `add`: `@STEMS.register("patch") class PatchStem: ...`."""
        return lambda entry: self.add(name, entry)

    def get(self, name: str) -> T:
        """The entry of `name`; an unknown name raises ConfigError listing the known ones."""
        try:
            return self._entries[name]
        except KeyError:
            raise ConfigError(f"unknown {self.kind} {name!r}; choose one of: {', '.join(self.names())}") from None

    def build(self, config: Any, *args: Any, **kwargs: Any) -> Any:
        """Create the entry that `config.type` names, passing `config` and the other arguments."""
        return self.get(config.type)(config, *args, **kwargs)

    def names(self) -> list[str]:
        return sorted(self._entries)

    def __contains__(self, name: object) -> bool:
        return name in self._entries

    def __iter__(self) -> Iterator[str]:
        return iter(self.names())
