"""The conformance suite's verdict on every exhibit of the zoo of broken implementations.

One pytest run, in a subprocess shared by the whole module, checks every exhibit (registered
by a generated ``conftest.py``, as a user registers an implementation) on the cpu at the
default seed, and writes a JUnit XML report. Each exhibit's set of failing checks must then
equal its ``failing_checks`` (a control: none), and every failure must be the suite's
verdict: ``[check_id] impl=... device=cpu dtype=... seed=0: ...`` and how to reproduce
it. tests/sessions/test_zoo_verdicts.py checks what a user sees on the terminal.

Exhibits the suite misjudges today are marked ``xfail(strict=True)`` with the reason: they
pass again (and the mark must go) once the suite is fixed.
"""

from __future__ import annotations

import re

import pytest

from pytest_twolayer.checking.hints import hint_for
from pytest_twolayer.checking.suite import CHECKS as SUITE_CHECKS
from pytest_twolayer.checking.suite import SUITE_WIDE_LABELS
from pytest_twolayer.zoo.runner import TIME_LIMIT_S, CheckResult, ZooRun, exhibits, run_zoo

LABELS = {c.id: (*c.labels, *SUITE_WIDE_LABELS) for c in SUITE_CHECKS}
"""Every check with the verdict labels its failures may carry."""
BENCHMARK = "benchmark_step"
CHECKS = {name: labels for name, labels in LABELS.items() if name != BENCHMARK}
"""Every check the zoo runs for every exhibit: all but the benchmark, which only the exhibits
it must catch run (see the runner)."""

ZOO = exhibits()
SEED = 0
CRASHED = r"worker 'gw\d+' crashed while running '.+'"

SUITE_MISSES: dict[str, str] = {}
"""Exhibits whose guarding check does not fail at the zoo's seed: the suite's bug, reported."""

NOT_A_VERDICT: dict[str, str] = {}
"""Exhibits for which some check fails with a raw exception, not the suite's message."""


@pytest.fixture(scope="module")
def zoo_run() -> ZooRun:
    """The suite run once on every exhibit (``python -m pytest_twolayer.zoo`` runs the same)."""
    run = run_zoo(SEED)
    if run.returncode not in (0, 1):
        pytest.fail(
            f"the zoo run exited with {run.returncode}:\n{run.output[-4000:]}", pytrace=False
        )
    return run


def describe(outcomes: list[CheckResult]) -> str:
    """One line per failing, erroring or skipped testcase, with its message."""
    lines = [
        f"  {o.status} {o.check}[{o.dtype or '-'}]: {o.message.strip()}"
        for o in outcomes
        if o.status != "passed"
    ]
    return "\n".join(lines) or "  (every check passed)"


def with_marks(names: list[str], reasons: dict[str, str]) -> list[object]:
    return [
        pytest.param(
            name,
            marks=[pytest.mark.xfail(strict=True, reason=reasons[name])] if name in reasons else [],
        )
        for name in names
    ]


def checks_run(cls: type) -> set[str]:
    """The checks the zoo runs for an exhibit."""
    if "implementation_loads" in cls.failing_checks:
        return {"implementation_loads"}
    return set(CHECKS) | ({BENCHMARK} if getattr(cls, "benchmarked", False) else set())


def test_zoo_covers_every_check() -> None:
    """At least 24 distinct bugs, every check guarding at least one, and a correct control."""
    bugs = {name: cls for name, cls in ZOO.items() if cls.failing_checks}
    controls = [name for name, cls in ZOO.items() if not cls.failing_checks]
    assert len(bugs) >= 24, sorted(bugs)
    assert "zoo-numpy-control" in controls
    for name, cls in ZOO.items():
        unknown = set(cls.failing_checks) - set(LABELS)
        assert not unknown, f"{name} expects unknown checks {sorted(unknown)}"
        assert len(set(cls.failing_checks)) == len(cls.failing_checks), name
        doc = (cls.__doc__ or "").strip()
        assert doc.startswith("Bug: ") == bool(cls.failing_checks), (
            f"{name}: an exhibit's docstring names its bug ('Bug: ...'), a control's does not"
        )
    caught = {n: c for n, c in bugs.items() if n not in SUITE_MISSES}
    covered = {check for cls in caught.values() for check in cls.failing_checks}
    assert covered == set(LABELS), f"no exhibit for {sorted(set(LABELS) - covered)}"


GLOBAL_STATE = {name: cls.changes for name, cls in ZOO.items() if getattr(cls, "changes", ())}
"""Exhibits that leave process-global state changed, with the settings their verdict names."""


def test_zoo_covers_every_kind_of_bug_the_plugin_watches() -> None:
    """At least six kinds of process-global state left changed, a net whose memory grows, a
    ``to_device`` that misreads a layout, and a ``step()`` that returns a tensor."""
    kinds = {setting for settings in GLOBAL_STATE.values() for setting in settings}
    assert len(kinds) >= 6, sorted(kinds)
    assert any(getattr(cls, "benchmarked", False) for cls in ZOO.values())
    assert {
        "zoo-reinterprets-bytes",
        "zoo-reads-the-base-buffer",
        "zoo-step-returns-tensor",
    } <= set(ZOO)


@pytest.mark.parametrize("name", list(GLOBAL_STATE))
def test_global_state_verdicts_name_the_change(zoo_run: ZooRun, name: str) -> None:
    """One cause, one verdict: the hygiene check fails for the call that changed the state,
    naming the change in words; together its failures name every one the exhibit changes."""
    failures = [o for o in zoo_run.outcomes.get(name, []) if o.status == "failure"]
    own = [o for o in failures if o.check == "global_state_untouched"]
    assert own, f"{name} was not rejected by the hygiene check"
    named = set()
    for outcome in own:
        first = outcome.message.splitlines()[0]
        assert first.startswith("[global_state_untouched] "), first
        assert re.search(r": \w+\(\) left process-global state changed: ", first), first
        found = {s for s in GLOBAL_STATE[name] if s in first}
        assert found, (GLOBAL_STATE[name], first)
        assert " <#" not in first, first  # no fingerprints where words say it
        named |= found
    assert named == set(GLOBAL_STATE[name])


def test_zoo_run_is_complete(zoo_run: ZooRun) -> None:
    """Every testcase of the run belongs to an exhibit, and every exhibit was run."""
    assert not zoo_run.unparsed, f"testcases of no exhibit: {zoo_run.unparsed}"
    assert set(zoo_run.outcomes) == set(ZOO), zoo_run.output[-4000:]


@pytest.mark.parametrize("name", with_marks(list(ZOO), SUITE_MISSES))
def test_verdict(zoo_run: ZooRun, name: str) -> None:
    """The checks that fail for an exhibit are its ``failing_checks``, plus possibly some of
    its ``incidental_failures`` (seed-dependent side effects of the same bug)."""
    cls = ZOO[name]
    outcomes = zoo_run.outcomes.get(name, [])
    ran = {o.check for o in outcomes}
    assert ran == checks_run(cls), f"{name}: ran {sorted(ran)}"
    odd = [o for o in outcomes if o.status not in ("passed", "failure")]
    assert not odd, f"{name}: errors or skips, not verdicts:\n{describe(odd)}"
    failed = {o.check for o in outcomes if o.status == "failure"}
    expected = set(cls.failing_checks)
    incidental = set(getattr(cls, "incidental_failures", ()))
    assert expected <= failed <= expected | incidental, (
        f"{name} ({cls.__doc__}):\n"
        f"  failing but not expected: {sorted(failed - expected)}\n"
        f"  expected but passing: {sorted(expected - failed)}\n{describe(outcomes)}"
    )


@pytest.mark.parametrize(
    "name", with_marks([n for n, c in ZOO.items() if c.failing_checks], NOT_A_VERDICT)
)
def test_failures_are_verdicts(zoo_run: ZooRun, name: str) -> None:
    """Each failure is the suite's message naming implementation, device, dtype, seed, check."""
    failures = [o for o in zoo_run.outcomes.get(name, []) if o.status == "failure"]
    for outcome in failures:
        message = outcome.message
        if outcome.check == "implementation_loads":
            assert f"implementation {name!r}" in message, message
            assert "\n" not in message.strip(), f"not one line: {message!r}"
            continue
        if getattr(ZOO[name], "crashes", False) and re.match(CRASHED, message):
            continue  # xdist's report of the crash: the only verdict a dead process leaves
        heads = [
            f"[{label}] impl={name} device=cpu dtype={outcome.dtype} seed={SEED}: "
            for label in LABELS[outcome.check]
        ]
        where = f"{outcome.check}[{outcome.dtype}] of {name}"
        assert message.startswith(tuple(heads)), (
            f"{where}: expected {heads[0]!r}..., got:\n{message}"
        )
        lines = message.strip().splitlines()
        assert len(lines) in (3, 5), (
            f"{where}: expected a verdict, its hint, a reproduce line and maybe a snippet:\n"
            f"{message}"
        )
        label = lines[0][1 : lines[0].index("]")]
        assert lines[1] == f"  hint: {hint_for(label, lines[0])}", lines[1]
        test = f"test_{outcome.check}[{name}-cpu-{outcome.dtype}"
        reproduce = (
            f"  reproduce: pytest -p twolayer --impl {name} --device cpu --twolayer-seed {SEED} "
            f"--twolayer-timeout {TIME_LIMIT_S} -k '{test}"
        )
        # the hygiene check's test id ends in the call it watches: ...-float64-step]
        assert re.fullmatch(re.escape(reproduce) + r"(-\w+)?\]'", lines[2]), lines[2]
        if len(lines) == 5:  # the check without pytest (tests/e2e/test_reproduction.py runs one)
            assert lines[3] == "  reproduce without pytest:", lines[3]
            assert lines[4].startswith('    python -c "from pytest_twolayer import Case'), lines[4]
