"""The shipped conformance suite: its folder, the one list of its checks, and its test ids.

:data:`CHECKS` is the list every consumer iterates (the zoo's expected verdicts, expected-
failure keys, the dry run, reproduction snippets, the matrix's concerns), as scikit-learn's
estimator checks are listed once; ``tests/unit/test_suite_list.py`` proves that it names exactly
the test functions of ``conformance/`` and the verdict labels their checks raise.

Nothing here imports the suite's modules: the xdist controller uses this list without
paying for what the checks import (hypothesis alone takes seconds).
"""

from __future__ import annotations

import importlib.util
import re
from dataclasses import dataclass
from functools import cache
from pathlib import Path

from pytest_twolayer.spec.contract import KNOWN_DEVICES, KNOWN_DTYPES

SUITE_PACKAGE = "pytest_twolayer.conformance"
"""The suite's import name, in a wheel and in a source checkout alike."""

CONCERNS: tuple[str, ...] = (
    "contract",
    "shapes",
    "gradients",
    "update",
    "training",
    "hygiene",
    "benchmark",
)
"""One suite module per concern (``test_<concern>.py``), in the order the docs list them."""

OTHER_CONCERN = "other"
"""The concern of a user's own test that runs with the suite's fixtures."""


@dataclass(frozen=True)
class Check:
    """One conformance check: a ``test_<id>`` function in ``test_<concern>.py``.

    The id is the one name users meet: failure messages start with it
    (``[update_follows_rule] impl=...``), expected failures are declared by it, the JSON
    report's ``check`` field and the zoo's ``failing_checks`` hold it, and the test's and the
    plain function's names derive from it. A check with several gates names the gate after
    a dot (``[benchmark_step.budget]``); those are its :attr:`labels`. A check of the class
    alone (it loads) raises no labelled verdict. Any twolayer test may also fail with a label
    of :data:`SUITE_WIDE_LABELS` (state it left changed). ``per_case`` checks run once per
    implementation x device x dtype, the others once per implementation. A ``plain`` check
    wraps a function ``check_<id>(case)`` that runs without pytest (its other parameters, if
    any, have defaults: the benchmark's gates).
    """

    id: str
    concern: str
    gates: tuple[str, ...] = ()
    per_case: bool = True
    plain: bool = True

    @property
    def labels(self) -> tuple[str, ...]:
        """The verdict labels its failures carry: its id, or ``id.gate`` for each gate."""
        if not self.per_case:
            return ()
        return tuple(f"{self.id}.{gate}" for gate in self.gates) or (self.id,)

    @property
    def test_name(self) -> str:
        return f"test_{self.id}"

    @property
    def function_name(self) -> str | None:
        """The plain function a reproduction snippet calls (None for a per-class check)."""
        return f"check_{self.id}" if self.per_case and self.plain else None

    @property
    def module(self) -> str:
        """The module's import name, e.g. ``pytest_twolayer.conformance.test_update``."""
        return f"{SUITE_PACKAGE}.test_{self.concern}"


def check_of_label(label: str) -> str:
    """The check id a verdict label belongs to (``benchmark_step.budget`` -> ``benchmark_step``)."""
    return label.partition(".")[0]


CHECKS: tuple[Check, ...] = (
    Check("implementation_loads", "contract", per_case=False, plain=False),
    Check("params_canonical", "contract"),
    Check("params_are_copies", "contract"),
    Check("returns_belong_to_caller", "contract"),
    Check("load_round_trips", "contract"),
    Check("load_rejects_bad_params", "contract"),
    Check("init_rejects_undeclared", "contract"),
    Check("return_types", "contract"),
    Check("forward_shapes", "shapes"),
    Check("forward_any_dims", "shapes"),
    Check("gradients_match_reference", "gradients"),
    Check("gradients_any_dims", "gradients"),
    Check("depth_draws", "gradients"),
    Check("update_follows_rule", "update"),
    Check("training", "training"),
    Check("same_seed_reproduces", "hygiene"),
    Check("different_seeds_differ", "hygiene"),
    Check("instances_share_no_state", "hygiene"),
    Check("inputs_not_mutated", "hygiene"),
    Check("global_state_untouched", "hygiene"),
    Check("benchmark_step", "benchmark", gates=("steps", "budget", "ratio", "memory")),
)
"""Every check of the suite, grouped by concern in :data:`CONCERNS` order."""

GLOBAL_STATE_CHECK = "global_state_untouched"
"""The check, and its verdict label, on process-global state left changed (torch's grad
mode, a default dtype, a global RNG, the working directory, ...; see
:mod:`pytest_twolayer.hygiene.state`).

One cause, one verdict: this check runs once per contract call
(``test_global_state_untouched[...-step]``) and fails for each call that changes the state,
naming the change. The plugin also watches every other twolayer test and restores the state
after it, so no neighbour runs in a changed process; that test keeps its own verdict. Only a
change that no single call makes alone (a user's own test's code, several calls together),
or one made while the hygiene check is not in the run, fails the test during which it
happened, under this label, whatever its own: that is where the culprit is.
"""

SUITE_WIDE_LABELS: tuple[str, ...] = (GLOBAL_STATE_CHECK,)
"""Verdict labels that any check may carry besides its own (see :data:`GLOBAL_STATE_CHECK`)."""

_BY_ID = {check.id: check for check in CHECKS}


def check(check_id: str) -> Check | None:
    """The suite's check with this id (``update_follows_rule``), or None."""
    return _BY_ID.get(check_id)


def check_ids() -> frozenset[str]:
    """The id of every check of the suite."""
    return frozenset(_BY_ID)


def module_files() -> frozenset[str]:
    """The suite's module file names (``test_update.py``)."""
    return frozenset(f"test_{concern}.py" for concern in CONCERNS)


@cache
def suite_dir() -> Path:
    """The suite's folder, wherever the package is installed (found without importing it)."""
    spec = importlib.util.find_spec(SUITE_PACKAGE)
    if spec is None or not spec.submodule_search_locations:
        raise RuntimeError(f"{SUITE_PACKAGE} is not installed beside pytest_twolayer")
    return Path(next(iter(spec.submodule_search_locations))).resolve()


def case_id(name: str, device: str, dtype: str) -> str:
    """The test id of one case (``numpy-cpu-float64``); :func:`parse_nodeid` reads it back."""
    return f"{name}-{device}-{dtype}"


@dataclass(frozen=True)
class CaseKey:
    """Where a conformance test's node id says it ran."""

    impl: str
    device: str | None  # None for a check of the implementation alone (it loads)
    dtype: str | None
    concern: str  # the suite module's concern, or "other" for a user's own test
    check: str  # the check id: the test function's name without ``test_``


_DEVICE_DTYPE = "(?:{})-(?:{})".format("|".join(KNOWN_DEVICES), "|".join(KNOWN_DTYPES))


def parse_nodeid(nodeid: str, names: list[str]) -> CaseKey | None:
    """The case of ``nodeid`` if its parameters name one of the implementations ``names``.

    The xdist controller never collects, and a crashed worker's report carries nothing but its
    node id, so the scheduler and the reports identify a case from the id alone.
    """
    path, _, rest = nodeid.partition("::")
    function, _, params = rest.partition("[")
    if not params:
        return None
    params = params.rstrip("]")
    file_name = path.rsplit("/", 1)[-1]
    concern = file_name[len("test_") : -len(".py")] if file_name in module_files() else None
    test = function.rsplit("::", 1)[-1]
    key = _key(params, names, concern or OTHER_CONCERN, test.removeprefix("test_"))
    return key


def _key(params: str, names: list[str], concern: str, check_id: str) -> CaseKey | None:
    # Longest names first: "tf-static" must not be read as an implementation "tf".
    for name in sorted(names, key=len, reverse=True):
        escaped = re.escape(name)
        found = re.search(rf"(?:^|-){escaped}-(?P<dd>{_DEVICE_DTYPE})(?:-|$|\d)", params)
        if found:
            device, dtype = found["dd"].split("-")
            return CaseKey(name, device, dtype, concern, check_id)
        if re.fullmatch(rf"{escaped}\d*", params):  # a check of the implementation alone
            return CaseKey(name, None, None, concern, check_id)
    return None
