"""Which xdist worker describes (imports) which implementation before collection.

Describing an implementation means importing its module, and so its framework: TensorFlow's
cold import takes about twice torch's, and each takes several times longer on cores the other
workers are busy on too. Every worker waits for all descriptions before it collects, so
the start-up lasts as long as the slowest worker's share. Dealing the implementations out
in turn gives one worker both frameworks to import while the other imports one and waits.
Here each implementation's frameworks are guessed from its module's source, without
importing it, and the shares are balanced on the import time each worker would pay.

The guess only balances the work: a wrong one (a module that imports torch through a
helper module, a class registered without an import path) makes start-up slower, never
the run wrong. What an implementation really uses is what its worker records once it has
imported it.
"""

from __future__ import annotations

import ast
import importlib.machinery
import sys
from collections.abc import Mapping, Sequence
from pathlib import Path

IMPORT_SECONDS = {"torch": 1.6, "tensorflow": 3.4}
"""Each framework's cold import, in seconds: the weight the shares and the scheduler's cost
give it (the measurement: docs/parallel.md#figures-behind-the-design)."""

DESCRIBE_SECONDS = 0.05
"""Describing a class whose framework is already imported: reading a few attributes."""


def guess_frameworks(target: str) -> frozenset[str]:
    """The frameworks that the module of ``target`` (``package.module:Class``) imports when
    it is imported, read from its source; empty when the source cannot be found or read.

    Nothing is imported: the module's file is found through the import path alone (not
    ``importlib.util.find_spec``, which would import the parent packages).
    """
    module, sep, _ = target.partition(":")
    if not sep:
        return frozenset()
    source = _source_file(module)
    if source is None:
        return frozenset()
    try:
        tree = ast.parse(source.read_text(encoding="utf-8"))
    except (OSError, SyntaxError, UnicodeDecodeError, ValueError):
        return frozenset()
    return frozenset(_imported_at_import_time(tree.body) & IMPORT_SECONDS.keys())


def _source_file(module: str) -> Path | None:
    """The ``.py`` file of a dotted module name, found without importing anything: each
    package (imported already, or found by the import system's finders) gives the folders
    in which to look for the next part."""
    locations: list[str] | None = None
    origin: str | None = None
    parts = module.split(".")
    for depth in range(1, len(parts) + 1):
        name = ".".join(parts[:depth])
        loaded = sys.modules.get(name)
        if loaded is not None:  # its __path__ may have grown when it was imported
            origin = getattr(loaded, "__file__", None)
            locations = list(getattr(loaded, "__path__", []))
            continue
        spec = _find_spec(name, locations)
        if spec is None:
            return None
        origin = spec.origin
        locations = list(spec.submodule_search_locations or [])
    return Path(origin) if origin and origin.endswith(".py") else None


def _find_spec(name: str, locations: list[str] | None) -> importlib.machinery.ModuleSpec | None:
    for finder in sys.meta_path:
        find_spec = getattr(finder, "find_spec", None)
        if find_spec is None:
            continue
        try:
            spec = find_spec(name, locations)
        except Exception:  # a third-party finder's bug must not stop the run; this is a guess
            continue
        if spec is not None:
            return spec  # type: ignore[no-any-return]
    return None


def _imported_at_import_time(statements: Sequence[ast.stmt]) -> set[str]:
    """Top-level package names imported by ``statements``, looking into ``if``/``try``
    blocks but not into functions or classes (their imports run later, if ever)."""
    names: set[str] = set()
    for node in statements:
        if isinstance(node, ast.Import):
            names.update(alias.name.split(".")[0] for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
            names.add(node.module.split(".")[0])
        elif isinstance(node, ast.If | ast.Try | ast.With):
            for block in ("body", "orelse", "finalbody"):
                names |= _imported_at_import_time(getattr(node, block, []))
            for handler in getattr(node, "handlers", []):
                names |= _imported_at_import_time(handler.body)
    return names


def describing_shares(
    names: Sequence[str],
    frameworks: Mapping[str, frozenset[str]],
    workers: int,
    installed: Sequence[frozenset[str]] | None = None,
) -> list[list[str]]:
    """``names`` split into ``workers`` shares, balancing the import time of each share.

    Implementations with the costliest imports are placed first, each on the worker whose
    finishing time it raises least (a framework is paid once per worker); ties go to the
    worker with the fewest implementations, then the lowest index. ``installed`` names the
    frameworks each worker's host has: an implementation goes to a worker that has what it
    needs, when one does.
    """
    shares: list[list[str]] = [[] for _ in range(workers)]
    loads = [0.0] * workers
    imported: list[set[str]] = [set() for _ in range(workers)]

    def own_cost(name: str) -> float:
        return sum(IMPORT_SECONDS[f] for f in frameworks.get(name, frozenset()))

    for name in sorted(names, key=own_cost, reverse=True):  # stable: ties keep their order
        needs = frameworks.get(name, frozenset())

        def finish(worker: int, needs: frozenset[str] = needs) -> float:
            new = needs - imported[worker]
            return loads[worker] + sum(IMPORT_SECONDS[f] for f in new) + DESCRIBE_SECONDS

        able = [w for w in range(workers) if installed is None or needs <= installed[w]]
        best = min(able or range(workers), key=lambda w: (finish(w), len(shares[w]), w))
        loads[best] = finish(best)
        imported[best] |= needs
        shares[best].append(name)
    order = {name: i for i, name in enumerate(names)}
    return [sorted(share, key=order.__getitem__) for share in shares]
