"""Optional heavy dependencies are imported where used; a missing one is a one-line error
naming the extra that installs it."""

from __future__ import annotations

import importlib
from types import ModuleType


class MissingExtra(ImportError):
    """``str()`` is the one line to show the user."""


def require(module: str, extra: str, what: str) -> ModuleType:
    try:
        return importlib.import_module(module)
    except ImportError as exc:
        raise MissingExtra(f"{what} needs the '{module}' package ({exc.name or module} is not installed): "
                           f"pip install 'branch-merge[{extra}]'") from None
