"""The documentation's account of the suite matches the suite.

docs/contract.md lists every check (one row per test function of ``conformance/``) by its
id, with its gates' labels and the dtypes it runs in; docs/checks.md prints the zoo's verdicts; the
README counts both and tables every option. These tests read the suite's source, the zoo's
catalog and the plugin's ``--help``, and fail when the docs drift from them.
"""

from __future__ import annotations

import ast
import importlib
import inspect
import re
from pathlib import Path

import pytest

from tests.support.readme import README, ROOT

CONTRACT = ROOT / "docs" / "contract.md"
CHECKS_PAGE = ROOT / "docs" / "checks.md"
SUITE = ROOT / "conformance"
CONCERNS = ("contract", "shapes", "gradients", "update", "training", "hygiene", "benchmark")
LABEL = re.compile(r"^(?P<check>[a-z_]+)(?:\.[a-z]+)?$")
"""A verdict label's form: a check id, or a check id and a gate (``benchmark_step.budget``)."""
NUMBERS = {
    16: "Sixteen", 17: "Seventeen", 18: "Eighteen", 19: "Nineteen", 20: "Twenty",
    21: "Twenty-one", 22: "Twenty-two",
}  # fmt: skip


def documented_rows() -> dict[str, tuple[set[str], str]]:
    """``{check id: (labels, dtypes)}`` from the tables of contract.md's "What the suite
    checks" section: the labels are the check's id, or the ``id.gate`` labels its row names."""
    text = CONTRACT.read_text(encoding="utf-8")
    section = text.split("## What the suite checks", 1)[1].split("### Stated, not yet", 1)[0]
    rows: dict[str, tuple[set[str], str]] = {}
    for line in section.splitlines():
        cells = [cell.strip() for cell in line.strip().strip("|").split(" | ")]
        if len(cells) < 3 or not cells[0].startswith("`"):
            continue
        check = cells[0].strip("`")
        assert check not in rows, f"contract.md lists {check} twice"
        gates = {label for label in re.findall(r"`([^`]+)`", cells[2]) if is_gate_of(check, label)}
        once = cells[1] == "once"  # a check of the class alone raises no labelled verdict
        rows[check] = (gates or (set() if once else {check}), cells[1])
    return rows


def suite_tests() -> dict[str, tuple[str, object]]:
    """``{check id: (concern, test function)}`` for every test function of the suite."""
    tests: dict[str, tuple[str, object]] = {}
    for path in sorted(SUITE.glob("test_*.py")):
        module = importlib.import_module(f"pytest_twolayer.conformance.{path.stem}")
        for name, value in vars(module).items():
            if name.startswith("test_") and callable(value):
                tests[name.removeprefix("test_")] = (path.stem.removeprefix("test_"), value)
    return tests


def is_gate_of(check: str, label: str) -> bool:
    found = LABEL.match(label)
    return found is not None and found["check"] == check and label != check


def label_of(check: str, concern: str) -> str | None:
    """The label ``check_<check>`` in ``conformance/test_<concern>.py`` assigns to its local
    ``check``, if it has one."""
    tree = ast.parse((SUITE / f"test_{concern}.py").read_text(encoding="utf-8"))
    for node in tree.body:
        if isinstance(node, ast.FunctionDef) and node.name == f"check_{check}":
            for statement in ast.walk(node):
                if (
                    isinstance(statement, ast.Assign)
                    and [getattr(t, "id", None) for t in statement.targets] == ["check"]
                    and isinstance(statement.value, ast.Constant)
                ):
                    return str(statement.value.value)
    return None


def labels_in(paths: list[Path]) -> set[str]:
    """Every string literal of these sources that has the form of a verdict label."""
    found: set[str] = set()
    for path in paths:
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            is_text = isinstance(node, ast.Constant) and isinstance(node.value, str)
            found_label = LABEL.match(node.value) if is_text else None
            if found_label and found_label["check"] in suite_tests():
                found.add(node.value)
    return found


def dtypes_of(function: object, module_name: str) -> str:
    """``once``, ``training`` or ``every``: how the suite parametrizes a test."""
    if "twolayer_loaded" in inspect.signature(function).parameters:
        return "once"
    module = importlib.import_module(module_name)
    marks = []
    for owner in (function, module):
        found = getattr(owner, "pytestmark", [])
        marks.extend(found if isinstance(found, list) else [found])
    training = any(m.name == "twolayer_dtypes" and m.args[:1] == ("training",) for m in marks)
    return "training" if training else "every"


def test_every_check_has_one_row():
    documented, tests = documented_rows(), suite_tests()
    assert set(documented) == set(tests), (
        f"checks without a row: {sorted(set(tests) - set(documented))}; "
        f"rows without a check: {sorted(set(documented) - set(tests))}"
    )


@pytest.mark.parametrize("check", sorted(suite_tests()))
def test_row_states_the_label_and_dtypes(check: str):
    concern, function = suite_tests()[check]
    labels, dtypes = documented_rows()[check]
    label = label_of(check, concern)
    if label is not None:
        assert labels == {label}, f"{check}: the suite labels it {label}, the row says {labels}"
    expected = dtypes_of(function, f"pytest_twolayer.conformance.test_{concern}")
    assert dtypes == expected, f"{check} runs in {expected} dtype(s), the row says {dtypes}"


def test_every_label_of_the_suite_is_documented():
    """Labels raised outside a ``check_*`` function (the benchmark's gates) are in a row too."""
    sources = [*SUITE.glob("test_*.py"), *(ROOT / "pytest_twolayer" / "benchmarking").glob("*.py")]
    documented = set().union(*(labels for labels, _ in documented_rows().values()))
    assert labels_in(sources) == documented


def test_readme_counts_the_checks_and_the_zoo():
    text = " ".join(README.read_text(encoding="utf-8").split())
    count = len(suite_tests())
    assert f"{NUMBERS[count]} checks in seven concerns" in text
    from pytest_twolayer.zoo import catalog

    bugs = sum(1 for cls in catalog().values() if getattr(cls, "failing_checks", ()))
    assert f"the zoo of {bugs} broken implementations" in text


def test_zoo_table_matches_the_catalog():
    """docs/checks.md's zoo table: one row per exhibit, every bug caught by at least the
    checks that guard it and by no check outside its possible failures."""
    from pytest_twolayer.zoo import catalog

    zoo = catalog()
    rows = {}
    for line in CHECKS_PAGE.read_text(encoding="utf-8").splitlines():
        if line.startswith("| zoo-"):
            name, _bug, rejected, verdict = (c.strip() for c in line.strip("|").split(" | "))
            rows[name] = ({c.strip() for c in rejected.split(",")} - {"-"}, verdict)
    assert set(rows) == set(zoo)
    for name, cls in zoo.items():
        rejected, verdict = rows[name]
        must = set(getattr(cls, "failing_checks", ()))
        may = set(getattr(cls, "incidental_failures", ()))
        assert must <= rejected <= must | may, (name, rejected)
        assert verdict == ("caught" if must else "control: passes"), name
    bugs = sum(1 for cls in zoo.values() if getattr(cls, "failing_checks", ()))
    summary = f"{bugs} of {bugs} bugs caught, {len(zoo) - bugs} of {len(zoo) - bugs} correct"
    assert summary in CHECKS_PAGE.read_text(encoding="utf-8")


def test_readme_options_table_lists_every_option_and_ini_key(pytester: pytest.Pytester):
    """The README's table has one row per option of the plugin, with its ini key."""
    help_text = pytester.runpytest_inprocess("-p", "twolayer", "--help").stdout.str()
    group = help_text.split("pytest-twolayer conformance suite:", 1)[1]
    options = set(re.findall(r"^  (--[a-z-]+)", group.split("\n\n", 1)[0], re.MULTILINE))
    ini_keys = set(re.findall(r"^  (twolayer_\w+) \(", help_text, re.MULTILINE))
    table = README.read_text(encoding="utf-8").split("## Options", 1)[1].split("\n## ", 1)[0]
    rows = [  # cells split on the table's pipes, not on an escaped one (`yes\|no`)
        [cell.strip() for cell in re.split(r"(?<!\\)\|", line.strip()[1:-1])]
        for line in table.splitlines()
        if line.startswith("| `--")
    ]
    documented = {row[0].strip("`").split()[0] for row in rows}
    assert documented == options, (sorted(options - documented), sorted(documented - options))
    documented_ini = {row[1].strip("`") for row in rows if row[1]}
    assert documented_ini == ini_keys, (sorted(ini_keys - documented_ini), documented_ini)
