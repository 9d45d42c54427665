"""Reports of a conformance run: the terminal matrix, a JSON report and a Markdown summary."""

from __future__ import annotations

import pytest

from pytest_twolayer import distributed
from pytest_twolayer.report.options import (
    JSON_HELP,
    MARKDOWN_HELP,
    MATRIX_HELP,
    settings,
)
from pytest_twolayer.report.reporting import Reporting
from pytest_twolayer.selection import Selection

PLUGIN_NAME = "twolayer-report"


def add_options(group: pytest.OptionGroup, parser: pytest.Parser) -> None:
    """Add this feature's command-line options (and ini equivalents) to ``group``."""
    group.addoption("--twolayer-matrix", default=None, metavar="yes|no", help=MATRIX_HELP)
    group.addoption("--twolayer-report-json", default=None, metavar="PATH", help=JSON_HELP)
    group.addoption("--twolayer-report-md", default=None, metavar="PATH", help=MARKDOWN_HELP)
    parser.addini("twolayer_matrix", MATRIX_HELP, default="yes")
    parser.addini("twolayer_report_json", JSON_HELP, default="")
    parser.addini("twolayer_report_md", MARKDOWN_HELP, default="")


def configure(config: pytest.Config, selection: Selection) -> None:
    """Called once implementations are selected (controller and every xdist worker).

    Only the controller (or the only process) reports: it sees every worker's reports.
    """
    if distributed.is_worker(config) or config.getoption("twolayer_dry_run", False):
        return  # workers' reports reach the controller; a dry run has nothing to report
    from pytest_twolayer.plugin import suite_dir  # the plugin imports this package first

    chosen = settings(config)
    suite = distributed.suite_modules(suite_dir())
    config.pluginmanager.register(Reporting(selection, chosen, suite), PLUGIN_NAME)
