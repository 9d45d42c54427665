"""``python -m pytest_twolayer.zoo``: the suite against every broken exhibit, and who caught it.

Prints one row per exhibit: its bug, the checks that rejected it, and whether the checks that
must catch it did. Exits 1 if any exhibit escaped (or a control was rejected).
"""

from __future__ import annotations

import argparse
import sys

from pytest_twolayer.zoo.runner import exhibits, run_zoo


def bug_of(cls: type) -> str:
    """The first sentence of an exhibit's docstring, without the ``Bug:`` prefix."""
    doc = " ".join((cls.__doc__ or "").split())
    return doc.removeprefix("Bug: ").split(". ")[0].rstrip(".")


def expected_of(cls: type) -> tuple[str, ...]:
    """The checks that must reject an exhibit (none for a control)."""
    return tuple(getattr(cls, "failing_checks", ()))


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m pytest_twolayer.zoo", description=__doc__)
    parser.add_argument("--seed", type=int, default=0, help="the suite's seed (default 0)")
    parser.add_argument("--markdown", action="store_true", help="print a Markdown table")
    args = parser.parse_args(argv)
    zoo = exhibits()
    run = run_zoo(args.seed)
    escaped_bugs = rejected_controls = 0
    rows = []
    for name, cls in zoo.items():
        failed = run.failed_checks(name)
        must = set(expected_of(cls))
        if must:
            ok = must <= failed
            verdict = "caught" if ok else "ESCAPED"
        else:
            ok = not failed
            verdict = "control: passes" if ok else "CONTROL REJECTED"
        escaped_bugs += bool(must) and not ok
        rejected_controls += not must and not ok
        rejected = ", ".join(sorted(failed)) or "-"
        rows.append((name, bug_of(cls) if must else "(correct)", rejected, verdict))
    if args.markdown:
        print("| exhibit | bug | rejected by | verdict |\n| --- | --- | --- | --- |")
        for row in rows:
            print("| " + " | ".join(row) + " |")
    else:
        width = max(len(r[0]) for r in rows)
        for name, bug, rejected, verdict in rows:
            print(f"{name:<{width}}  {verdict:<16} {rejected}\n{'':<{width}}  {bug}")
    bugs = sum(1 for cls in zoo.values() if expected_of(cls))
    controls = len(zoo) - bugs
    print(
        f"\n{bugs - escaped_bugs} of {bugs} bugs caught, {controls - rejected_controls} of "
        f"{controls} correct controls accepted (seed {args.seed})"
    )
    return 1 if escaped_bugs or rejected_controls else 0


if __name__ == "__main__":
    sys.exit(main())
