"""Package exports imported on first use, so that light entry points (`edgebind --help`, the
name registry) never pay for torch and OpenCLIP."""
from __future__ import annotations

import importlib
from typing import Any, Callable


def lazy_exports(namespace: dict[str, Any], exports: dict[str, str]) -> Callable[[str], Any]:
    """A module-level `__getattr__` that imports `exports[name]` (a module path) on first use and
    caches the value in the module's `namespace`."""
    def __getattr__(name: str) -> Any:
        if name not in exports:
            raise AttributeError(f"module {namespace['__name__']!r} has no attribute {name!r}")
        value = getattr(importlib.import_module(exports[name]), name)
        namespace[name] = value  # later lookups find it without this function
        return value

    return __getattr__
