"""Reproduction: a failing check's report ends with the commands that run exactly that check
again, from the same folder, to the same verdict.

``reproduce:`` is a pytest command line: the ``--impl`` item that selects the implementation
again (its name, or ``name=package.module:Class`` for a command-line registration: see
:attr:`Spec.selector`), the device and seed, the options that change this check's verdict
(the benchmark's gates and steps, a per-check time limit that is not the default), and
``-k`` with the test's own name. ``reproduce without pytest:`` follows for a check of the
suite: a ``python -c`` command calling the check's plain function with a :class:`Case`
(see :mod:`.suite`). Both are quoted so that a shell and :func:`shlex.split` read back
exactly the words printed.
"""

from __future__ import annotations

import importlib
import inspect
import os
import shlex
from collections.abc import Callable
from typing import Any

import pytest

from pytest_twolayer.benchmarking.gates import BenchmarkPlan
from pytest_twolayer.checking.case import Case, ConformanceFailure
from pytest_twolayer.checking.suite import Check, check
from pytest_twolayer.hygiene.state import StateLeftChanged
from pytest_twolayer.option_table import (
    BENCHMARK_STEPS,
    BUDGET,
    DEFAULT_TIMEOUT,
    DEVICE,
    IMPL,
    MAX_MEMORY_GROWTH,
    MAX_RATIO,
    SEED,
    TIMEOUT,
)
from pytest_twolayer.run.collection import CollectedCase
from pytest_twolayer.run.options import Settings
from pytest_twolayer.run.registry import COMMAND_LINE, Registry
from pytest_twolayer.sealed.proxy import HostedInstance

PYTEST_HEADER = "reproduce:"
HEADER = "reproduce without pytest:"


class Reproduction:
    """Per run: how its cases are selected again and which of its options change a verdict."""

    def __init__(self, settings: Settings, registry: Registry, benchmark: BenchmarkPlan):
        self.settings = settings
        self.registry = registry
        self.benchmark = benchmark

    def annotate(
        self,
        item: pytest.Item,
        collected: CollectedCase,
        call: pytest.CallInfo[None],
        report: pytest.TestReport,
    ) -> None:
        """Append the commands to a check's failure (its verdict, a plain string)."""
        if not (report.failed and call.when == "call" and isinstance(report.longrepr, str)):
            return
        if call.excinfo is None or not call.excinfo.errisinstance(ConformanceFailure):
            return
        case = collected.case()
        if case is None:
            return  # a check of the class alone: its verdict is the error it raised
        suite_check = check(collected.check) if collected.in_suite else None
        function = check_function(suite_check) if suite_check is not None else None
        arguments = self.arguments(case, function) | parametrized(item, function)
        lines = [f"  {PYTEST_HEADER} {self.command(item, collected, case, arguments)}"]
        # The plugin judged the state around the check: the snippet judges it the same way.
        watched = call.excinfo.errisinstance(StateLeftChanged)
        line = None
        if suite_check is not None:
            line = snippet(case, suite_check, arguments, watched=watched)
        if line is not None:
            lines += [f"  {HEADER}", f"    {line}"]
        report.longrepr = "\n".join([report.longrepr, *lines])

    def arguments(self, case: Case, function: Callable[..., Any] | None) -> dict[str, Any]:
        """What the run passes the check's plain function beyond the case: the benchmark's
        steps and gates, for a function that takes them."""
        if function is None:
            return {}
        parameters = inspect.signature(function).parameters
        # Only the benchmark's check takes steps (loading a ratio's reference is its cost).
        given = self.benchmark.arguments(case) if "steps" in parameters else {}
        return {
            name: value
            for name, value in given.items()
            if name in parameters and value != parameters[name].default
        }

    def command(
        self, item: pytest.Item, collected: CollectedCase, case: Case, arguments: dict[str, Any]
    ) -> str:
        """The pytest command line that runs this one check again, shell-quoted."""
        selectors = [collected.loaded.spec.selector]
        options: list[str] = []
        if self.settings.timeout_s != float(DEFAULT_TIMEOUT):
            options += [TIMEOUT.flag, _number(self.settings.timeout_s)]
        if "steps" in arguments:
            options += [BENCHMARK_STEPS.flag, str(arguments["steps"])]
        if "budget_s" in arguments:
            options += [BUDGET.flag, f"{case.name}={_number(arguments['budget_s'] * 1e3)}"]
        if "max_memory_growth" in arguments:  # bytes per step; the option takes KiB
            limit = arguments["max_memory_growth"]
            kib = "off" if limit == float("inf") else _number(limit / 1024)
            options += [MAX_MEMORY_GROWTH.flag, f"{case.name}={kib}"]
        reference = arguments.get("reference")
        if isinstance(reference, Case) and "max_ratio" in arguments:
            ratio = f"{case.name}:{reference.name}={_number(arguments['max_ratio'])}"
            options += [MAX_RATIO.flag, ratio]
            spec = self.registry.get(reference.name)
            if spec.source == COMMAND_LINE:  # nothing else registers it again
                selectors.append(spec.selector)
        words = ["pytest", "-p", "twolayer", IMPL.flag, ",".join(selectors)]
        words += [DEVICE.flag, case.device, SEED.flag, str(case.seed), *options]
        if not collected.in_suite:  # a user's own test: its file, beside the suite
            words.append(os.path.relpath(item.path, item.config.invocation_params.dir))
        words += ["-k", item.name]  # exactly this test: the -k grammar takes its whole name
        return shlex.join(words)


def parametrized(item: pytest.Item, function: Callable[..., Any] | None) -> dict[str, Any]:
    """The test's own parameters that the check's plain function takes (the hygiene check's
    ``call``): the snippet passes them as the test did."""
    callspec = getattr(item, "callspec", None)
    if function is None or callspec is None:
        return {}
    parameters = inspect.signature(function).parameters
    return {name: value for name, value in callspec.params.items() if name in parameters}


def _number(value: float) -> str:
    """A float as the options parse it back, without binary noise (``1.1``, ``5``)."""
    return format(value, ".15g")


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
    if issubclass(cls, HostedInstance):
        # A stand-in for a class that lives in its own process: its names are the host's,
        # and importing the module here would run the implementation in the judging process.
        return module_name, qualname
    try:
        obj: object = importlib.import_module(module_name)
        for part in qualname.split("."):
            obj = getattr(obj, part)
    except Exception:  # whatever importing it again raises, there is nothing to print
        return None
    return (module_name, qualname) if obj is cls else None


def _case_source(case: Case, alias: str, imports: list[str]) -> str | None:
    """``Case(...)`` rebuilding ``case`` in a fresh Python, its class imported as ``alias``
    (the import is appended to ``imports``); None when the class has no import path."""
    where = import_path(case.cls)
    if where is None:
        return None
    module, qualname = where
    top, _, rest = qualname.partition(".")
    imports.append(f"from {module} import {top} as {alias}")
    cls = alias + (f".{rest}" if rest else "")
    return (
        f"Case({case.name!r}, {cls}, {case.device!r}, {case.dtype!r}, "
        f"seed={case.seed}, dims={case.dims!r})"
    )


def snippet(
    case: Case,
    suite_check: Check,
    arguments: dict[str, Any] | None = None,
    *,
    watched: bool = False,
) -> str | None:
    """A shell command that runs ``suite_check`` on ``case`` (with ``arguments``, cases and
    numbers) in a fresh Python, or None if the check is no plain function of a Case or a
    class cannot be imported by name. ``watched``: run it under
    :func:`pytest_twolayer.hygiene.state.left_as_found`, for a verdict on the state it left."""
    if check_function(suite_check) is None:
        return None
    imports = [
        "from pytest_twolayer import Case, Dims",
        f"from {suite_check.module} import {suite_check.function_name} as check",
    ]
    values = [_case_source(case, "Impl", imports)]
    for name, value in (arguments or {}).items():
        if isinstance(value, Case):
            source = _case_source(value, name.capitalize(), imports)
            values.append(None if source is None else f"{name}={source}")
        else:
            values.append(f"{name}={value!r}")
    if None in values:
        return None
    call = ", ".join(v for v in values if v)
    if watched:
        imports.append("from pytest_twolayer.hygiene.state import left_as_found")
        call = f"check, {call}"
    code = "; ".join([*imports, f"{'left_as_found' if watched else 'check'}({call})"])
    # Double quotes read the same in POSIX shells, cmd and PowerShell; fall back to POSIX
    # single quotes when a name holds a character that double quotes do not protect.
    quoted = f'"{code}"' if not set(code) & set('"$`\\!') else shlex.quote(code)
    return f"python -c {quoted}"
