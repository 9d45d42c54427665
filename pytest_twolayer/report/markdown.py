"""The Markdown summary: verdict, matrix, failures, skips and benchmarks, for a CI step summary."""

from __future__ import annotations

import html
import os
import re
from pathlib import Path
from typing import Any

from pytest_twolayer.report import tables
from pytest_twolayer.report.matrix import LEGEND, Matrix
from pytest_twolayer.report.records import FAILING, Record, count

TITLE = "pytest-twolayer conformance"
STEP_SUMMARY_ENV = "GITHUB_STEP_SUMMARY"


def render(
    matrix: Matrix,
    records: list[Record],
    exit_status: int,
    run_failures: list[str] | None = None,
    lost_hosts: list[str] | None = None,
) -> str:
    """``lost_hosts``: one line per host the run lost (:mod:`.lost_hosts`)."""
    lines = [f"## {TITLE}", "", verdict_line(records, exit_status), ""]
    if run_failures:  # every check may have passed: say why the run did not
        lines += [f"- **run FAILED**: {_text(reason)}" for reason in run_failures] + [""]
    if lost_hosts:  # the verdicts are all there, yet the run was not what was asked for
        lines += [f"- **{_text(line)}**" for line in lost_hosts] + [""]
    lines += table(matrix.table())
    lines += ["", f"<sub>{_text(LEGEND)}</sub>"]
    failures = [r for r in records if r.outcome in FAILING]
    if failures:
        lines += ["", f"### Failures ({len(failures)})", ""]
        several_hosts = len({r.host for r in records}) > 1
        lines += [
            f"- **{r.outcome.value if r.outcome else ''}** `{r.nodeid}`"
            + (f" on {_text(r.host or '?')}" if several_hosts else "")
            + f": {_code(r.line)}"
            for r in failures
        ]
    sections = (
        ("load", "Failed to load"),
        ("crash", "Crashed"),
        ("lost", "Not run"),
        ("suite", "Suite errors"),
        ("skip", "Skipped"),
    )
    for kind, heading in sections:
        found = [note for note in matrix.notes if note.kind == kind]
        if found:
            lines += ["", f"### {heading}", ""]
            lines += [f"- {_text(note.line().removeprefix(kind + ': '))}" for note in found]
    benchmarks = [r.benchmark for r in records if r.benchmark is not None]
    if benchmarks:
        lines += ["", "### Benchmarks", ""]
        lines += table(benchmark_rows(benchmarks))
        notes = tables.notes(benchmarks)
        if notes:  # a blank line first: a line right after a table is another of its rows
            lines += ["", *(f"<sub>{_text(note)}</sub>" for note in notes)]
    return "\n".join(lines) + "\n"


def verdict_line(records: list[Record], exit_status: int) -> str:
    counts = count(records)
    failed = sum(counts[o.value] for o in FAILING)
    impls = len({r.impl for r in records})
    parts = [f"{n} {outcome}" for outcome, n in counts.items() if n]
    word = "passed" if exit_status == 0 else "FAILED"
    checks = f"{len(records)} check{'' if len(records) == 1 else 's'}"
    detail = f"{failed} of {checks} failed" if failed else checks
    return (
        f"**{word}** (exit status {exit_status}): {detail} across {impls} "
        f"implementation{'' if impls == 1 else 's'} ({', '.join(parts) or 'none ran'})"
    )


BENCHMARK_COLUMNS = (
    ("impl", "impl"),
    ("device", "device"),
    ("dtype", "dtype"),
    ("what", "what"),
    ("ms/step", "median_s"),
    ("±IQR", "iqr_s"),
    ("GFLOP/s", "gflops"),
    ("% of peak", "peak_fraction"),
    ("peak", "peak_gflops"),
    ("thr/cores", "threads"),
    ("memory peak KiB", "memory_peak_bytes"),
    ("memory growth B/step", "memory_growth_bytes_per_step"),
)
"""The terminal table's figures that a step summary has room for (titled, and ``what`` added);
each is written as the terminal table writes it (:data:`.tables.FORMATS`)."""


def benchmark_rows(benchmarks: list[dict[str, Any]]) -> list[list[str]]:
    """The header, then one row per benchmark in the terminal table's order (fastest first)."""
    rows = [[title for title, _ in BENCHMARK_COLUMNS]]
    for b in tables.ordered(benchmarks):
        rows.append(
            [tables.cell(b, key, tables.FORMATS.get(key, "{}")) for _, key in BENCHMARK_COLUMNS]
        )
    return rows


def table(rows: list[list[str]]) -> list[str]:
    """A GitHub-flavoured Markdown table; the first row is the header."""
    header, *body = rows
    lines = [_row(header), "| " + " | ".join("---" for _ in header) + " |"]
    return lines + [_row(row) for row in body]


def write(path: Path, text: str) -> bool:
    """Write ``text`` to ``path``; append instead when ``path`` is the file that
    ``$GITHUB_STEP_SUMMARY`` names (GitHub gives each step one such file, and every writer of
    it appends). Returns whether it appended."""
    path.parent.mkdir(parents=True, exist_ok=True)
    summary = os.environ.get(STEP_SUMMARY_ENV)
    append = bool(summary) and path.exists() and path.samefile(Path(summary or "."))
    with path.open("a" if append else "w", encoding="utf-8") as out:
        if append and path.stat().st_size:
            out.write("\n")
        out.write(text)
    return append


def _row(cells: list[str]) -> str:
    return "| " + " | ".join(_text(c).replace("|", "\\|") for c in cells) + " |"


def _text(text: str) -> str:
    """Plain text in Markdown: no HTML tags from ``<class 'x'>``, no accidental emphasis."""
    return re.sub(r"([\\*_`\[\]])", r"\\\1", html.escape(text, quote=False))


def _code(text: str) -> str:
    """``text`` as an inline code span, whatever backticks it holds."""
    if not text:
        return ""
    longest = max((len(m) for m in re.findall(r"`+", text)), default=0)
    fence = "`" * (longest + 1)
    pad = " " if text.startswith("`") or text.endswith("`") else ""
    return f"{fence}{pad}{text}{pad}{fence}"
