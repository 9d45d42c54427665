"""A zoo of deliberately broken implementations, each with the suite's expected verdict.

Every class in a zoo module that declares ``failing_checks`` is an exhibit: a small
change to a correct implementation (one bug, named in its docstring) and the exact set of
conformance checks (check ids, see :data:`pytest_twolayer.checking.suite.CHECKS`) that
must fail for it on every seed; an optional
``incidental_failures`` lists checks the same bug may also fail, depending on the seed (a
chaotic training curve, a depth that may or may not be drawn). A control lists none and
must pass everything.

``python -m pytest_twolayer.zoo`` runs the conformance suite on the whole zoo in one pytest
run and prints which checks rejected each exhibit; ``tests/e2e/test_zoo_verdicts.py`` asserts it.
The zoo is registered only there, never by ``--impl all``.
"""

from __future__ import annotations

import importlib
import importlib.util
import inspect
import re

MODULES: dict[str, str | None] = {
    # zoo module -> the framework it needs (None: numpy only)
    "numpy_bugs": None,
    "torch_bugs": "torch",
}


def zoo_name(cls: type) -> str:
    """The registered name of an exhibit: ``zoo-`` and its class name in kebab case."""
    return "zoo-" + re.sub(r"(?<=[a-z0-9])(?=[A-Z])", "-", cls.__name__).lower()


def available_modules() -> list[str]:
    """The zoo modules whose framework is installed here."""
    return [
        module
        for module, needs in MODULES.items()
        if needs is None or importlib.util.find_spec(needs) is not None
    ]


def catalog() -> dict[str, type]:
    """Registered name -> exhibit class, for every zoo module that can be imported here."""
    exhibits: dict[str, type] = {}
    for module_name in available_modules():
        module = importlib.import_module(f"{__name__}.{module_name}")
        for _, cls in inspect.getmembers(module, inspect.isclass):
            if cls.__module__ == module.__name__ and "failing_checks" in vars(cls):
                name = zoo_name(cls)
                if name in exhibits:
                    raise ValueError(f"two zoo exhibits are named {name!r}")
                exhibits[name] = cls
    return exhibits
