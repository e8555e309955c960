"""One root exception: every exception class helved defines is a HelvedError (httpx's habit)."""

from __future__ import annotations

import importlib
import inspect
import pkgutil

import helved
from helved.errors import HelvedError


def _helved_exceptions() -> list[type[BaseException]]:
    found: dict[str, type[BaseException]] = {}
    for info in pkgutil.walk_packages(helved.__path__, "helved."):
        module = importlib.import_module(info.name)
        for _, obj in inspect.getmembers(module, inspect.isclass):
            if issubclass(obj, BaseException) and obj.__module__ == module.__name__:
                found[f"{obj.__module__}.{obj.__qualname__}"] = obj
    return list(found.values())


def test_every_exception_helved_defines_is_a_helved_error() -> None:
    exceptions = _helved_exceptions()
    assert len(exceptions) >= 15
    strays = sorted(f"{e.__module__}.{e.__qualname__}" for e in exceptions if not issubclass(e, HelvedError))
    assert strays == []
