"""The dry run: list the implementations and the checks that would run or skip, run none."""

from __future__ import annotations

import os
import platform
import sys
from collections import defaultdict

import pytest

from pytest_twolayer.run.collection import check_id, collected_case
from pytest_twolayer.run.selection import Loaded, Selection


def keep_in_process(config: pytest.Config) -> None:
    """With ``-n`` or ``--tx``, keep xdist from starting workers: it decides in its trylast
    ``pytest_configure`` whether to distribute, and this is what its own ``-n 0`` sets, so the
    controller collects and nothing is spawned."""
    if getattr(config.option, "numprocesses", None) or getattr(config.option, "tx", None):
        config.option.dist = "no"
        config.option.tx = []
        config.option.numprocesses = 0


def _triggered(item: pytest.Item, marker: pytest.Mark) -> bool:
    """Whether a ``skipif``/``xfail`` marker's conditions hold (no condition: it always does).
    String conditions are evaluated as pytest does, with ``os``, ``sys``, ``platform``,
    ``config`` and the test module's globals in scope."""
    conditions = marker.args or (
        (marker.kwargs["condition"],) if "condition" in marker.kwargs else ()
    )
    if not conditions:
        return True
    namespace = {"os": os, "sys": sys, "platform": platform, "config": item.config}
    module = getattr(item, "module", None)
    namespace |= dict(vars(module)) if module is not None else {}
    return any(eval(c, namespace) if isinstance(c, str) else bool(c) for c in conditions)


def planned_outcome(item: pytest.Item) -> str:
    """What the run would do with ``item``: ``run``, ``skip: reason`` or ``xfail: reason``."""
    try:
        for marker in item.iter_markers("skip"):
            return f"skip: {marker.kwargs.get('reason', marker.args[0] if marker.args else '')}"
        for marker in item.iter_markers("skipif"):
            if _triggered(item, marker):
                return f"skip: {marker.kwargs.get('reason', '')}"
        for marker in item.iter_markers("xfail"):
            if _triggered(item, marker):
                reason = marker.kwargs.get("reason", "")
                run = marker.kwargs.get("run", True)
                return f"xfail: {reason}" if run else f"xfail, not run: {reason}"
    except Exception as exc:  # a skipif condition that errors would error the test too
        return f"error: {type(exc).__name__}: {exc}"
    return "run"


def implementation_line(loaded: Loaded) -> str:
    """One implementation's declarations, or why it failed to load."""
    spec = loaded.spec
    source = f"{spec.source} {spec.target}"
    if loaded.declared is None or loaded.cls is None:
        return f"{spec.name}: FAILED TO LOAD ({source}): {loaded.error}"
    cls = loaded.cls
    return (
        f"{spec.name}: devices {','.join(loaded.declared.devices)}; "
        f"dtypes {','.join(loaded.declared.dtypes)}; "
        f"optimizer {cls.optimizer!r}; "
        f"depths {','.join(map(str, cls.depths))}; source {source}"
    )


def group_of(item: pytest.Item) -> str:
    """``impl device dtype`` of a twolayer case, ``impl`` for a test of the class alone."""
    case = collected_case(item)
    if case is None:
        return "other tests"
    if case.device is None:
        return f"{case.impl} (the class)"
    return f"{case.impl} {case.device} {case.dtype}"


class DryRun:
    """Replaces the run loop: prints the plan and runs nothing."""

    def __init__(self, selection: Selection) -> None:
        self.selection = selection

    @pytest.hookimpl(tryfirst=True)
    def pytest_runtestloop(self, session: pytest.Session) -> bool | None:
        if session.testsfailed:
            return None  # collection errors: pytest's own loop reports them and stops
        writer = session.config.get_terminal_writer()
        writer.line()
        writer.sep("=", "twolayer dry run: nothing is run", bold=True)
        writer.line("implementations:")
        for loaded in self.selection.implementations:
            writer.line(f"  {implementation_line(loaded)}")
        absent = {d: r for d, r in self.selection.devices.items() if r is not None}
        present = [d for d, r in self.selection.devices.items() if r is None]
        writer.line(f"devices: {', '.join(present) or 'none'}; seed: {self.selection.seed}")
        for device, reason in absent.items():
            writer.line(f"  {device} absent: {reason}")
        groups: dict[str, list[tuple[str, str]]] = defaultdict(list)
        for item in session.items:
            case = collected_case(item)
            what = planned_outcome(item)
            if case and case.device is None and case.loaded.error is not None and what == "run":
                what = "fail: it did not load"
            groups[group_of(item)].append((check_id(item), what))
        # The classes' tests first, then the cases, each in the order first met: the same
        # plan whatever order the run takes them in (a sealed run in one process takes each
        # implementation's checks together).
        ordered = sorted(groups.items(), key=lambda group: not group[0].endswith("(the class)"))
        for group, checks in ordered:
            by_verdict: dict[str, list[str]] = defaultdict(list)
            for check, what in checks:
                by_verdict[what].append(check)
            tally = ", ".join(
                f"{len(ids)} {what.partition(':')[0]}" for what, ids in by_verdict.items()
            )
            writer.line(f"{group}: {tally}")
            for what, ids in by_verdict.items():
                kind, _, reason = what.partition(": ")
                label = f"{kind} ({reason})" if reason else kind
                writer.line(f"  {label}: {', '.join(ids)}")
        writer.line(f"{len(session.items)} checks listed; none was run")
        return True
