"""Package exports that import their module on first use, so that importing is light."""

from __future__ import annotations

import importlib
from collections.abc import Callable, Mapping


def lazy_exports(
    package: str, exports: Mapping[str, tuple[str, ...]]
) -> tuple[list[str], Callable[[str], object]]:
    """Return a package's `__all__` and a module `__getattr__` that imports on first use.

    Args:
        package: the package's `__name__`, for the error on an unknown name.
        exports: module path -> the public names it defines.
    """
    home = {name: module for module, names in exports.items() for name in names}

    def __getattr__(name: str) -> object:
        if name not in home:
            raise AttributeError(f"module {package!r} has no attribute {name!r}")
        return getattr(importlib.import_module(home[name]), name)

    return sorted(home), __getattr__
