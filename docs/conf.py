"""The documentation site: Sphinx, the Markdown pages through MyST, the API from docstrings.

Built strictly by ``nox -s docs`` (warnings are errors, every cross-reference must resolve);
``.readthedocs.yaml`` publishes the same build. Why Sphinx and not MkDocs: see
docs/development.md.
"""

from __future__ import annotations

import sys
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE / "_ext"))

import pytest_twolayer  # noqa: E402  (after the path of the local extension)

project = "pytest-twolayer"
author = "pytest-twolayer developers"
copyright = "pytest-twolayer developers"
release = pytest_twolayer.__version__
version = release

extensions = [
    "myst_parser",
    "sphinx.ext.autodoc",
    "sphinx.ext.viewcode",
    "twolayer_pages",
]

root_doc = "index"
source_suffix = {".rst": "restructuredtext", ".md": "markdown"}
exclude_patterns = ["_build", "_ext", "Thumbs.db", ".DS_Store"]

# The pages are GitHub Markdown first: their links name other pages' headings by GitHub's
# slugs (contract.md#what-the-suite-checks), which MyST generates for headings down to ####.
myst_heading_anchors = 4
myst_enable_extensions = ["colon_fence"]  # ::: fences, which the docs' command test ignores

# Strict: a reference that does not resolve is a warning, and `-W` makes warnings errors.
nitpicky = True
nitpick_ignore_regex = [
    # Third-party types in signatures: no inventories are fetched (the build runs offline).
    (r"py:.*", r"(np|numpy|pytest|_pytest|pluggy|importlib|pathlib)\..*"),
    (r"py:.*", r"(collections\.abc|typing|types)\..*"),
    (r"py:.*", r"(Any|Callable|Iterator|Iterable|Mapping|Sequence|Self|TypeVar|P|R|T)"),
]

autodoc_member_order = "bysource"
autodoc_typehints = "signature"
autodoc_preserve_defaults = True

html_theme = "furo"
html_title = "pytest-twolayer"
html_static_path: list[str] = []
