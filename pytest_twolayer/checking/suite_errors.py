"""The suite's own failures, told apart from verdicts on an implementation.

A check's code calls into the implementation only through its judge
(:mod:`pytest_twolayer.checking.judge`), which turns whatever such a call raises into the
check's verdict. Any other exception that escapes a check comes from the suite itself: its
point search gave up, its reference could not be computed, its own code has a bug. That is
not the implementation's failure, and blaming it would send the user hunting for a bug that
is not theirs: the test is reported under :data:`SUITE_ERROR_LABEL` with a request to report
it, and the reports count it apart from failures (``Outcome.SUITE_ERROR``).
"""

from __future__ import annotations

import traceback

SUITE_ERROR_LABEL = "suite error"
PREFIX = f"[{SUITE_ERROR_LABEL}]"
REPORT_REQUEST = (
    "This is the suite's own failure, not a verdict on the implementation: please report it "
    "to pytest-twolayer's maintainers with this message and the traceback below."
)


def message(where: str, check: str, error: BaseException) -> str:
    """``[suite error] impl=... (check update_follows_rule): NoTestPoint: ...``, the request
    to report it, and the traceback that shows where in the suite it arose."""
    first = (str(error).strip().splitlines() or ["(no message)"])[0]
    trace = "".join(traceback.format_exception(type(error), error, error.__traceback__))
    return (
        f"{PREFIX} {where} (check {check}): {type(error).__name__}: {first}\n"
        f"  {REPORT_REQUEST}\n{trace.rstrip()}"
    )


def is_suite_error(text: str) -> bool:
    """Whether a failure's text is the suite's own (it starts with :data:`PREFIX`)."""
    return text.lstrip().startswith(PREFIX)
