"""The report options: help texts, and turning option or ini values into checked settings."""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

import pytest

MATRIX_HELP = (
    "print the conformance matrix (implementation x device x concern) at the end of the run: "
    "yes or no (default: yes)"
)
JSON_HELP = (
    "write a versioned JSON report (run, environment, matrix, every check, benchmarks) to "
    "this file, also when checks fail"
)
MARKDOWN_HELP = (
    "write a Markdown summary (verdict, matrix, failures, skips, benchmarks) to this file; "
    "it appends when the file is the one $GITHUB_STEP_SUMMARY names"
)
YES = ("yes", "true", "on", "1")
NO = ("no", "false", "off", "0")


@dataclass(frozen=True)
class Settings:
    """The report options, resolved and checked."""

    matrix: bool
    json_path: Path | None
    markdown_path: Path | None


def settings(config: pytest.Config) -> Settings:
    """Each option from the command line, else from its ini key; a bad value is a
    :class:`pytest.UsageError` of one line naming the option."""
    matrix, where = _value(config, "twolayer_matrix", "--twolayer-matrix")
    if matrix.strip().lower() not in YES + NO:
        raise pytest.UsageError(f"{where}: expected yes or no, got {matrix!r}")
    json_path = _path(config, "twolayer_report_json", "--twolayer-report-json")
    markdown_path = _path(config, "twolayer_report_md", "--twolayer-report-md")
    if json_path and markdown_path and json_path == markdown_path:
        raise pytest.UsageError(
            f"--twolayer-report-md {markdown_path}: the same file as --twolayer-report-json"
        )
    return Settings(matrix.strip().lower() in YES, json_path, markdown_path)


def _value(config: pytest.Config, name: str, flag: str) -> tuple[str, str]:
    """The option's value and how to name it in an error: the flag, or the ini key."""
    value = config.getoption(name)
    if value is not None:
        return str(value), f"{flag} {value}"
    ini = str(config.getini(name))
    return ini, f"{name} = {ini} (ini)"


def _path(config: pytest.Config, name: str, flag: str) -> Path | None:
    """A report file: relative to the invocation folder on the command line, to the ini
    file's folder in the ini file (as a CI config names it); ``~`` and ``$VARS`` expand."""
    value, where = _value(config, name, flag)
    if not value.strip():
        return None
    raw = os.path.expanduser(os.path.expandvars(value.strip()))
    if config.getoption(name) is not None:
        base = config.invocation_params.dir
    else:
        base = config.inipath.parent if config.inipath else config.rootpath
    path = Path(base, raw).absolute()
    problem = unwritable(path)
    if problem:
        raise pytest.UsageError(f"{where}: {problem}")
    return path


def unwritable(path: Path) -> str | None:
    """Why ``path`` cannot become a report file (None when it can). Missing folders are
    created when the report is written, so the nearest existing ancestor must be a
    writable folder."""
    if path.is_dir():
        return f"{path} is a directory, not a file"
    if path.exists():
        return None if os.access(path, os.W_OK) else f"{path} is not writable"
    ancestor = path.parent
    while not ancestor.exists() and ancestor != ancestor.parent:
        ancestor = ancestor.parent
    if not ancestor.is_dir():
        return f"cannot create {path}: {ancestor} is not a directory"
    if not os.access(ancestor, os.W_OK | os.X_OK):
        return f"cannot create {path}: {ancestor} is not writable"
    return None
