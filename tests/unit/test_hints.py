"""Every verdict label has a fix hint, a hint shows only where its evidence is, and
docs/checks.md lists exactly the hints the code has."""

from __future__ import annotations

from pathlib import Path

import pytest
from pytest_twolayer.implementations.numpy_net import NumpyNet

from pytest_twolayer.checking import hints
from pytest_twolayer.checking.case import Case, ConformanceFailure
from pytest_twolayer.checking.hints import ANY_LABEL, HINTS, Hint, hint_for, with_hint
from pytest_twolayer.checking.suite import CHECKS, SUITE_WIDE_LABELS

CHECKS_PAGE = Path(__file__).resolve().parents[2] / "docs" / "checks.md"
SECTION = "## Fix hints"


def listed(hint: Hint) -> str:
    """How docs/checks.md lists one hint."""
    label = "any label" if hint.label == ANY_LABEL else f"`{hint.label}`"
    when = "" if hint.evidence is None else f", when the message matches `{hint.evidence}`"
    return f"- {label}{when}: {hint.text}"


def test_every_label_has_a_general_hint() -> None:
    labels = {label for check in CHECKS for label in check.labels} | set(SUITE_WIDE_LABELS)
    assert hints.labels_with_hints() == labels


def test_docs_list_every_hint_and_nothing_else() -> None:
    text = CHECKS_PAGE.read_text(encoding="utf-8")
    section = text[text.index(SECTION) :].split("\n## ", 1)[0]
    lines = [line for line in section.splitlines() if line.startswith("- ")]
    assert lines == [listed(hint) for hint in HINTS]


@pytest.mark.parametrize(
    ("label", "message", "expected"),
    [
        ("forward_shapes", "to_device(x) raised ValueError: At least one stride", "ascontiguous"),
        ("forward_shapes", "forward(x) has shape (10, 64), expected (64, 10)", "(N, D_out)"),
        ("global_state_untouched", "torch's global RNG was reseeded", "torch.Generator"),
        ("global_state_untouched", "torch grad mode True -> False", "torch.no_grad"),
        ("update_follows_rule", "(that is the loss after the update: ...)", "before the update"),
        ("training", "exceeded the per-check time limit of 30 s", "did not return in time"),
    ],
)
def test_the_evidence_picks_the_hint(label: str, message: str, expected: str) -> None:
    hint = hint_for(label, message)
    assert hint is not None
    assert expected in hint, hint


def test_a_specific_hint_needs_its_evidence() -> None:
    """The broken twin: without a negative stride in the message, no word of strides."""
    hint = hint_for("forward_shapes", "forward(x) at dims ...: normwise relative error 0.3")
    assert hint is not None
    assert "stride" not in hint


def test_a_verdict_shows_its_hint_under_its_message() -> None:
    case = Case("mine", NumpyNet, "cpu", "float64")
    with pytest.raises(ConformanceFailure) as failure:
        case.fail("load_rejects_bad_params", "load() accepted an unknown name; expected ValueError")
    first, second = with_hint(str(failure.value)).splitlines()
    assert first.startswith("[load_rejects_bad_params] impl=mine device=cpu")
    assert second == f"  hint: {hint_for('load_rejects_bad_params', first)}"
    assert (
        with_hint("[no.such_label] impl=mine: a message") == "[no.such_label] impl=mine: a message"
    )
