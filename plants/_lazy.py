"""Lazy package attributes: a package names what its submodules hold and imports each on first use,
so importing the package stays cheap (no JAX or CasADi until something needs them)."""

from __future__ import annotations

import importlib
from collections.abc import Callable, Mapping


def lazy_attributes(package: str, table: Mapping[str, str]) -> tuple[Callable[[str], object], Callable[[], list[str]]]:
    """`__getattr__` and `__dir__` for `package`, whose attribute `name` lives in the submodule
    `table[name]` (relative, e.g. "._simulate")."""
    namespace = importlib.import_module(package).__dict__

    def __getattr__(name: str) -> object:
        if name in table:
            return getattr(importlib.import_module(table[name], package), name)
        raise AttributeError(f"module {package!r} has no attribute {name!r}")

    def __dir__() -> list[str]:
        return sorted([*namespace, *table])

    return __getattr__, __dir__
