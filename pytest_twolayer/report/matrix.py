"""The conformance matrix: one verdict per implementation x device (x dtype) x concern."""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from typing import Any

from pytest_twolayer.checking.suite import CONCERNS, OTHER_CONCERN
from pytest_twolayer.report.records import Outcome, Record

OPTIONAL_CONCERNS = ("benchmark", OTHER_CONCERN)  # a column only when some check has that concern
CORE_CONCERNS = tuple(c for c in CONCERNS if c not in OPTIONAL_CONCERNS)
NO_DEVICE = "any"  # the row of an implementation with no device checks (it failed to load)
ALL_DTYPES = "all"  # the dtype cell of a row that merges its dtypes
NO_CHECKS = "-"
WIDTH = 100  # the terminal matrix stays readable in a 100-column CI log
LEGEND = "FAIL n: n checks failed or errored; xfail: expected failures only; -: no checks"
# SUITE ERROR n is explained by a note under the table where it shows: the legend stays
# within the 100 columns of a CI log.
SUITE_ERROR_NOTE = (
    "SUITE ERROR n: the suite's own machinery failed in n checks, which say nothing about the "
    "implementation; please report them"
)


def cell(outcomes: Iterable[Outcome]) -> str:
    """One cell: the worst of its checks' outcomes, a crash worst of all.

    A strict xpass reaches here as ``failed`` (pytest's count); a non-strict one is a pass.
    """
    seen = list(outcomes)
    failures = sum(o in (Outcome.FAILED, Outcome.ERROR) for o in seen)
    if Outcome.CRASHED in seen:
        return "CRASH"
    if failures:
        return f"FAIL {failures}"
    lost = sum(o == Outcome.NOT_RUN for o in seen)
    if lost:
        return f"NOT RUN {lost}"
    # Counted apart from failures: the implementation is neither blamed nor cleared.
    own = sum(o == Outcome.SUITE_ERROR for o in seen)
    if own:
        return f"SUITE ERROR {own}"
    if Outcome.XFAILED in seen:
        return "xfail"
    if Outcome.PASSED in seen or Outcome.XPASSED in seen:
        return "pass"
    if Outcome.SKIPPED in seen:
        return "skip"
    return NO_CHECKS


@dataclass(frozen=True)
class Row:
    """An implementation on one device; ``dtype`` None when its dtypes agree and merge."""

    impl: str
    device: str | None
    dtype: str | None
    cells: dict[str, str]

    def to_json(self) -> dict[str, Any]:
        return {"impl": self.impl, "device": self.device, "dtype": self.dtype, "cells": self.cells}


@dataclass(frozen=True)
class Note:
    """A line under the table: why cells were skipped, what crashed, what failed to load."""

    kind: str  # "skip", "crash" or "load"
    text: str
    where: tuple[str, ...] = ()  # "impl device" of every row it applies to

    def line(self, most: int = 4) -> str:
        where = list(self.where[:most])
        if len(self.where) > most:
            where.append(f"+{len(self.where) - most} more")
        return f"{self.kind}: {self.text}" + (f" ({', '.join(where)})" if where else "")


@dataclass
class Matrix:
    concerns: list[str]
    rows: list[Row] = field(default_factory=list)
    notes: list[Note] = field(default_factory=list)

    @property
    def split(self) -> bool:
        """Whether some row shows a single dtype (then the table has a dtype column)."""
        return any(row.dtype is not None for row in self.rows)

    def header(self) -> list[str]:
        return ["impl", "device"] + (["dtype"] if self.split else []) + self.concerns

    def table(self) -> list[list[str]]:
        """The header and one list of cells per row, as both renderings show them."""
        body = [
            [row.impl, row.device or NO_DEVICE]
            + ([row.dtype or ALL_DTYPES] if self.split else [])
            + [row.cells[c] for c in self.concerns]
            for row in self.rows
        ]
        return [self.header(), *body]

    def to_json(self) -> dict[str, Any]:
        return {"concerns": self.concerns, "rows": [row.to_json() for row in self.rows]}


def build(records: list[Record], names: list[str], devices: list[str]) -> Matrix:
    """The matrix of ``records``: implementations in ``names`` order (every selected one, even
    with no checks), devices in ``devices`` order, strangers after them."""
    present = {r.concern for r in records}
    extra = sorted(present - set(CORE_CONCERNS) - set(OPTIONAL_CONCERNS))
    concerns = [*CORE_CONCERNS, *(c for c in OPTIONAL_CONCERNS if c in present), *extra]
    matrix = Matrix(concerns)
    for impl in [*names, *_ordered([], (r.impl for r in records if r.impl not in names))]:
        own = [r for r in records if r.impl == impl]
        general = [r for r in own if r.device is None]  # implementation_loads
        on_device = [r for r in own if r.device is not None]
        if not on_device:
            matrix.rows.append(Row(impl, None, None, _cells(general, concerns)))
        for device in _ordered(devices, (r.device for r in on_device)):
            here = [r for r in on_device if r.device == device]
            dtypes = _ordered([], (r.dtype for r in here))
            per_dtype = {
                dtype: _cells([r for r in here if r.dtype == dtype], concerns, general)
                for dtype in dtypes
            }
            if _dtypes_differ(per_dtype.values(), concerns):
                matrix.rows += [Row(impl, device, d, cells) for d, cells in per_dtype.items()]
            else:
                matrix.rows.append(Row(impl, device, None, _cells(here, concerns, general)))
    matrix.notes = notes(records, matrix.rows)
    return matrix


def _cells(
    records: list[Record], concerns: list[str], general: Sequence[Record] = ()
) -> dict[str, str]:
    """Each concern's verdict on a row. The checks of the implementation alone (``general``:
    it loads) count on each of its device rows, but their pass does not make a row whose own
    checks were all skipped (an absent device) look like a pass."""
    if records and all(r.outcome == Outcome.SKIPPED for r in records):
        general = [r for r in general if r.outcome not in (Outcome.PASSED, Outcome.XPASSED)]
    merged = [*records, *general]
    return {
        concern: cell(r.outcome for r in merged if r.concern == concern and r.outcome)
        for concern in concerns
    }


def _dtypes_differ(cells: Iterable[dict[str, str]], concerns: list[str]) -> bool:
    """Whether two dtypes that both ran a concern disagree on it: then each gets its own row.
    (Training runs in the first dtype only: a concern one dtype did not run is no difference.)"""
    rows = list(cells)
    return any(len({row[c] for row in rows} - {NO_CHECKS}) > 1 for c in concerns)


def _ordered(first: list[str], seen: Iterable[str | None]) -> list[str]:
    """The values in ``seen``: those in ``first`` in its order, then the others as seen."""
    found = list(dict.fromkeys(v for v in seen if v is not None))
    return [v for v in first if v in found] + [v for v in found if v not in first]


def notes(records: list[Record], rows: Sequence[Row] = ()) -> list[Note]:
    """Skip reasons (deduplicated), crashes and implementations that failed to load; the
    places a note names, and notes of one kind, in the order of the matrix's ``rows`` (not
    the order the reports arrived in, which xdist's workers shuffle)."""
    found: dict[tuple[str, str], list[str]] = {}
    for record in records:
        where = f"{record.impl} {record.device or NO_DEVICE}"
        if record.outcome == Outcome.SKIPPED:
            key = ("skip", record.line or "no reason given")
        elif record.outcome == Outcome.CRASHED:
            case = " ".join(filter(None, (record.device, record.dtype)))
            case = f" ({case})" if case else ""
            worker = f" {record.worker}" if record.worker else ""
            key = ("crash", f"{record.impl}: {record.check}{case} killed its worker{worker}")
            where = ""
        elif record.outcome == Outcome.NOT_RUN:
            key = (
                "lost",
                "NOT RUN n: checks collected but never run (their worker died, or the run stopped)",
            )
        elif record.outcome == Outcome.SUITE_ERROR:
            key = ("suite", SUITE_ERROR_NOTE)
        elif (
            record.outcome in (Outcome.FAILED, Outcome.ERROR)
            and record.check == "implementation_loads"
        ):
            key = ("load", f"{record.impl}: {record.line}")
            where = ""
        else:
            continue
        places = found.setdefault(key, [])
        if where and where not in places:
            places.append(where)
    rank = {f"{row.impl} {row.device or NO_DEVICE}": i for i, row in enumerate(rows)}
    for places in found.values():
        places.sort(key=lambda where: rank.get(where, len(rank)))
    order = {"load": 0, "crash": 1, "lost": 2, "suite": 3, "skip": 4}

    def position(item: tuple[tuple[str, str], list[str]]) -> tuple[int, int]:
        (kind, _), places = item
        return order[kind], min((rank.get(w, len(rank)) for w in places), default=len(rank))

    ordered = sorted(found.items(), key=position)
    return [Note(kind, text, tuple(where)) for (kind, text), where in ordered]


def render_text(matrix: Matrix, width: int = WIDTH) -> list[str]:
    """The matrix as aligned columns (two spaces apart, one when that would pass ``width``),
    then the legend and the notes."""
    table = matrix.table()
    widths = [max(len(row[i]) for row in table) for i in range(len(table[0]))]
    gap = 2 if sum(widths) + 2 * (len(widths) - 1) <= width else 1
    lines = [
        (" " * gap).join(c.ljust(w) for c, w in zip(row, widths, strict=True)).rstrip()
        for row in table
    ]
    lines.append(LEGEND)
    lines += [note.line() for note in matrix.notes]
    return lines
