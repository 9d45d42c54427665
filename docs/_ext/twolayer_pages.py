"""The Sphinx side of the generated pages: three directives and the references they resolve.

``.. twolayer-options::``, ``.. twolayer-checks::`` and ``.. twolayer-fixtures::`` are replaced
by what :mod:`twolayer_tables` renders from the code. A reference to an internal path of a
public name (``pytest_twolayer.spec.dims.Dims``, as type hints give it) resolves to the public
name (``pytest_twolayer.Dims``), where the API page documents it.
"""

from __future__ import annotations

import importlib
import re
from typing import Any

from docutils import nodes
from docutils.statemachine import StringList
from sphinx.application import Sphinx
from sphinx.util.docutils import SphinxDirective
from twolayer_tables import checks_rst, fixtures_rst, options_rst

# ---------------------------------------------------------------------------------------------
# Sphinx


class Generated(SphinxDirective):
    """A directive replaced by the reStructuredText its function makes from the code."""

    make = staticmethod(lambda: [""])

    def run(self) -> list[nodes.Node]:
        container = nodes.container()
        self.state.nested_parse(StringList(self.make(), source=self.name), 0, container)
        return list(container.children)


class OptionsDirective(Generated):
    make = staticmethod(options_rst)


class ChecksDirective(Generated):
    make = staticmethod(checks_rst)


class FixturesDirective(Generated):
    make = staticmethod(fixtures_rst)


def _lookup(dotted: str) -> tuple[bool, str | None]:
    """Whether ``a.b.c`` names an object of the code, and the module that defines it."""
    parts = dotted.split(".")
    for cut in range(len(parts), 0, -1):
        try:
            value: Any = importlib.import_module(".".join(parts[:cut]))
        except ImportError:
            continue
        module = value.__name__
        try:
            for part in parts[cut:]:
                value = getattr(value, part)
        except AttributeError:
            return False, module
        return True, getattr(value, "__module__", None) or module
    return False, None


def _contexts(node: nodes.Element) -> list[str]:
    """The modules an unqualified name in this reference is looked up in: the page's current
    module and class, and the module of the object whose docstring holds it."""
    found = [node[key] for key in ("py:module", "py:class") if node.get(key)]
    if node.get("py:module") and node.get("py:class"):
        found.append(f"{node['py:module']}.{node['py:class']}")
    origin = re.search(r"docstring of ([\w.]+)", node.source or "")
    if origin:
        _, module = _lookup(origin[1])
        found += [m for m in (module, origin[1].rsplit(".", 1)[0]) if m]
    return found


def resolve_public_name(
    app: Sphinx, env: Any, node: nodes.Element, contnode: nodes.Element
) -> nodes.Element | None:
    """A reference the API pages do not document.

    A public name under an internal path (``pytest_twolayer.run.registry.Registry``, as type
    hints give it) links to the public name's entry. A name that exists in the code but is
    internal (``:data:`NAME``` in ``Registry.add``'s docstring) is shown as code, unlinked.
    A name that exists nowhere stays a missing reference: a warning, so an error in the
    strict build (a renamed or misspelt name in a docstring fails it).
    """
    import pytest_twolayer

    if node.get("refdomain") != "py":
        return None
    target = node["reftarget"].lstrip("~.")
    name = target.rsplit(".", 1)[-1]
    if name in pytest_twolayer.__all__ and target != f"pytest_twolayer.{name}":
        resolved = env.get_domain("py").resolve_xref(
            env,
            node["refdoc"],
            app.builder,
            node["reftype"],
            f"pytest_twolayer.{name}",
            node,
            contnode,
        )
        if resolved is not None:
            return resolved  # type: ignore[no-any-return]
    if not target.startswith("pytest_twolayer"):
        candidates = [f"{context}.{target}" for context in _contexts(node)]
    else:
        candidates = [target]
    if any(_lookup(candidate)[0] for candidate in candidates):
        return contnode
    return None


def setup(app: Sphinx) -> dict[str, Any]:
    app.add_directive("twolayer-options", OptionsDirective)
    app.add_directive("twolayer-checks", ChecksDirective)
    app.add_directive("twolayer-fixtures", FixturesDirective)
    app.connect("missing-reference", resolve_public_name)
    return {"parallel_read_safe": True, "parallel_write_safe": True}
