"""The dry run: list the implementations and the checks that would run or skip, run none."""

from __future__ import annotations

from collections import defaultdict
from typing import Any

import pytest
from _pytest.skipping import evaluate_skip_marks, evaluate_xfail_marks

from pytest_twolayer.selection import CaseParam, Loaded, Selection

DRY_RUN_HELP = (
    "list the selected implementations (devices, dtypes, optimizer, source) and, per "
    "implementation x device x dtype, the checks that would run, skip (with the reason) or "
    "run as expected failures, without running any; under -n no worker is started"
)


def add_options(group: pytest.OptionGroup, parser: pytest.Parser) -> None:
    group.addoption("--twolayer-dry-run", action="store_true", default=False, help=DRY_RUN_HELP)


def configure(config: pytest.Config, selection: Selection) -> None:
    """On the controller: take over the run loop; with ``-n``, keep xdist from starting workers."""
    if not config.getoption("twolayer_dry_run"):
        return
    if getattr(config.option, "numprocesses", None) or getattr(config.option, "tx", None):
        # xdist decides in its trylast pytest_configure, after this one, whether to distribute:
        # this is what its own `-n 0` sets, so the controller collects and nothing is spawned.
        config.option.dist = "no"
        config.option.tx = []
        config.option.numprocesses = 0
    config.pluginmanager.register(DryRun(selection), "twolayer-dry-run")


def verdict(item: pytest.Item) -> str:
    """What the run would do with ``item``: ``run``, ``skip: reason`` or ``xfail: reason``."""
    try:
        skipped = evaluate_skip_marks(item)
        if skipped is not None:
            return f"skip: {skipped.reason}"
        xfailed = evaluate_xfail_marks(item)
    except Exception as exc:  # a skipif condition that errors would error the test too
        return f"error: {type(exc).__name__}: {exc}"
    if xfailed is not None and xfailed.run:
        return f"xfail: {xfailed.reason}"
    if xfailed is not None:
        return f"xfail, not run: {xfailed.reason}"
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
        f"optimizer {getattr(cls, 'optimizer', '?')!r}; "
        f"depths {','.join(map(str, getattr(cls, 'depths', ())))}; source {source}"
    )


def group_of(item: pytest.Item) -> str:
    """``impl device dtype`` of a twolayer case, ``impl`` for a test of the class alone."""
    params = _params(item)
    param = params.get("twolayer_case")
    if isinstance(param, CaseParam):
        return f"{param.loaded.spec.name} {param.device} {param.dtype}"
    loaded = params.get("twolayer_loaded")
    if isinstance(loaded, Loaded):
        return f"{loaded.spec.name} (the class)"
    return "other tests"


def _params(item: pytest.Item) -> dict[str, Any]:
    callspec = getattr(item, "callspec", None)
    return dict(callspec.params) if callspec else {}


class DryRun:
    """Replaces the run loop: prints the plan and runs nothing."""

    def __init__(self, selection: Selection) -> None:
        self.selection = selection

    @pytest.hookimpl(tryfirst=True)
    def pytest_runtestloop(self, session: pytest.Session) -> bool | None:
        if session.testsfailed:
            return None  # collection errors: pytest's own loop reports them and stops
        from pytest_twolayer.plugin import check_id  # plugin imports this module

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
            alone = _params(item).get("twolayer_loaded")
            what = verdict(item)
            if isinstance(alone, Loaded) and alone.error is not None and what == "run":
                what = "fail: it did not load"
            groups[group_of(item)].append((check_id(item), what))
        for group, checks in groups.items():
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
