"""pytest-twolayer: the tutorial's two-layer network as an executable specification."""

from __future__ import annotations

from pathlib import Path

from pytest_twolayer.checking.case import Case, ConformanceFailure
from pytest_twolayer.run.registry import RegistrationError, Registry, Spec
from pytest_twolayer.spec.contract import ContractError, TwoLayerImplementation
from pytest_twolayer.spec.dims import TUTORIAL_DIMS, Dims
from pytest_twolayer.spec.optimizers import SGD, Adam, Optimizer
from pytest_twolayer.version import __version__

# In a source checkout the suite and the tutorial implementations sit beside this package,
# at the repository's top level (the design card's layout); the wheel nests them inside it.
# Either way they import as pytest_twolayer.conformance and pytest_twolayer.implementations.
_checkout = Path(__file__).resolve().parent.parent
if (_checkout / "pyproject.toml").is_file() and (_checkout / "implementations").is_dir():
    __path__.append(str(_checkout))

__all__ = [
    "SGD",
    "TUTORIAL_DIMS",
    "Adam",
    "Case",
    "ConformanceFailure",
    "ContractError",
    "Dims",
    "Optimizer",
    "RegistrationError",
    "Registry",
    "Spec",
    "TwoLayerImplementation",
    "__version__",
]
