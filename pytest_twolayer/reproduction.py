"""Reproduction snippets: a failing check's report ends with a command that reruns it alone,
without pytest (the check is a plain function of a :class:`Case`)."""

from __future__ import annotations

import importlib
import inspect
import shlex
from collections.abc import Callable
from types import ModuleType
from typing import Any

import pytest

from pytest_twolayer.case import Case, ConformanceFailure

HEADER = "reproduce without pytest:"
SUITE_PACKAGE = "pytest_twolayer.conformance"


def annotate(item: pytest.Item, call: pytest.CallInfo[None], report: pytest.TestReport) -> None:
    """Append the snippet to a conformance check's failure (its verdict, a plain string)."""
    if not (report.failed and call.when == "call" and isinstance(report.longrepr, str)):
        return
    if call.excinfo is None or not call.excinfo.errisinstance(ConformanceFailure):
        return
    case = (getattr(item, "funcargs", None) or {}).get("twolayer_case")
    module = getattr(item, "module", None)
    if not isinstance(case, Case) or module is None:
        return
    from pytest_twolayer.plugin import check_id, suite_dir  # plugin imports this module

    if item.path.parent != suite_dir():
        return  # a user's own test: its module need not be importable by name
    line = snippet(case, module, f"{SUITE_PACKAGE}.{item.path.stem}", check_id(item))
    if line is not None:
        report.longrepr = f"{report.longrepr}\n  {HEADER}\n    {line}"


def check_function(module: ModuleType, check: str) -> Callable[..., Any] | None:
    """``module.check_<check>`` if it exists and can be called with a Case alone."""
    function = getattr(module, f"check_{check}", None)
    if not inspect.isfunction(function):
        return None
    parameters = list(inspect.signature(function).parameters.values())
    if not parameters or parameters[0].kind not in (
        inspect.Parameter.POSITIONAL_ONLY,
        inspect.Parameter.POSITIONAL_OR_KEYWORD,
    ):
        return None
    if parameters[0].annotation not in (Case, "Case"):
        return None
    if any(p.default is inspect.Parameter.empty for p in parameters[1:]):
        return None
    return function


def import_path(cls: type) -> tuple[str, str] | None:
    """``(module, qualified name)`` that imports ``cls`` again, or None (a local class)."""
    module_name, qualname = cls.__module__, cls.__qualname__
    if module_name == "__main__" or "<locals>" in qualname:
        return None
    try:
        obj: object = importlib.import_module(module_name)
        for part in qualname.split("."):
            obj = getattr(obj, part)
    except Exception:  # whatever importing it again raises, there is nothing to print
        return None
    return (module_name, qualname) if obj is cls else None


def snippet(case: Case, module: ModuleType, module_name: str, check: str) -> str | None:
    """A shell command that runs ``check`` on ``case`` in a fresh Python, or None if the check
    is no plain function of a Case or the class cannot be imported by name."""
    if check_function(module, check) is None:
        return None
    where = import_path(case.cls)
    if where is None:
        return None
    cls_module, qualname = where
    top, _, rest = qualname.partition(".")
    cls_expr = "Impl" + (f".{rest}" if rest else "")
    code = (
        "from pytest_twolayer import Case, Dims; "
        f"from {module_name} import check_{check} as check; "
        f"from {cls_module} import {top} as Impl; "
        f"check(Case({case.name!r}, {cls_expr}, {case.device!r}, {case.dtype!r}, "
        f"seed={case.seed}, dims={case.dims!r}))"
    )
    # Double quotes read the same in POSIX shells, cmd and PowerShell; fall back to POSIX
    # single quotes when a name holds a character that double quotes do not protect.
    quoted = f'"{code}"' if not set(code) & set('"$`\\!') else shlex.quote(code)
    return f"python -c {quoted}"
