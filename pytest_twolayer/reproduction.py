"""Reproduction snippets: a failing check's report ends with a command that reruns it alone,
without pytest (the check is a plain function of a :class:`Case`, see :mod:`.suite`)."""

from __future__ import annotations

import importlib
import inspect
import shlex
from collections.abc import Callable
from typing import Any

import pytest

from pytest_twolayer.case import Case, ConformanceFailure
from pytest_twolayer.collection import CollectedCase
from pytest_twolayer.process_state import StateLeftChanged
from pytest_twolayer.suite import Check, check

HEADER = "reproduce without pytest:"


def annotate(
    collected: CollectedCase, call: pytest.CallInfo[None], report: pytest.TestReport
) -> None:
    """Append the snippet to a suite check's failure (its verdict, a plain string)."""
    if not (report.failed and call.when == "call" and isinstance(report.longrepr, str)):
        return
    if call.excinfo is None or not call.excinfo.errisinstance(ConformanceFailure):
        return
    suite_check = check(collected.check)
    case = collected.case()
    if not collected.in_suite or suite_check is None or case is None:
        return  # a user's own test: its module need not be importable by name
    # The plugin judged the state around the check: the snippet judges it the same way.
    watched = call.excinfo.errisinstance(StateLeftChanged)
    line = snippet(case, suite_check, watched=watched)
    if line is not None:
        report.longrepr = f"{report.longrepr}\n  {HEADER}\n    {line}"


def check_function(suite_check: Check) -> Callable[..., Any] | None:
    """The check's plain function if it exists and can be called with a Case alone."""
    name = suite_check.function_name
    if name is None:
        return None
    function = getattr(importlib.import_module(suite_check.module), name, None)
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


def snippet(case: Case, suite_check: Check, *, watched: bool = False) -> str | None:
    """A shell command that runs ``suite_check`` on ``case`` in a fresh Python, or None if the
    check is no plain function of a Case or the class cannot be imported by name. ``watched``:
    run it under :func:`pytest_twolayer.process_state.left_as_found`, for a verdict on the
    state it left."""
    if check_function(suite_check) is None:
        return None
    where = import_path(case.cls)
    if where is None:
        return None
    cls_module, qualname = where
    top, _, rest = qualname.partition(".")
    cls_expr = "Impl" + (f".{rest}" if rest else "")
    case_expr = (
        f"Case({case.name!r}, {cls_expr}, {case.device!r}, {case.dtype!r}, "
        f"seed={case.seed}, dims={case.dims!r})"
    )
    code = (
        "from pytest_twolayer import Case, Dims; "
        f"from {suite_check.module} import {suite_check.function_name} as check; "
        f"from {cls_module} import {top} as Impl; "
    )
    if watched:
        code += (
            "from pytest_twolayer.process_state import left_as_found; "
            f"left_as_found(check, {case_expr})"
        )
    else:
        code += f"check({case_expr})"
    # Double quotes read the same in POSIX shells, cmd and PowerShell; fall back to POSIX
    # single quotes when a name holds a character that double quotes do not protect.
    quoted = f'"{code}"' if not set(code) & set('"$`\\!') else shlex.quote(code)
    return f"python -c {quoted}"
