"""The package version, as installed: the JSON report's ``tool.version`` and ``--version``'s.

The build backend takes it from git (hatch-vcs, ``[tool.hatch.version]`` in
``pyproject.toml``): ``0.1.0`` on the commit tagged ``v0.1.0``, ``0.1.1.devN+gHASH`` N commits
after it, ``0.0.1.devN+gHASH`` in a checkout without tags, and the fallback ``0.0.0`` where
there is no git at all (an archive of the sources). It is read back here from the installed
distribution's metadata, so the report names the version pip installed; a source tree that
was never installed reports ``0+unknown``.
"""

from __future__ import annotations

from importlib.metadata import PackageNotFoundError, version

DISTRIBUTION = "pytest-twolayer"
UNKNOWN = "0+unknown"
"""The version of sources that carry none: no git, no installed metadata."""


def installed_version() -> str:
    """The installed distribution's version, or :data:`UNKNOWN`."""
    try:
        return version(DISTRIBUTION)
    except PackageNotFoundError:
        return UNKNOWN


__version__ = installed_version()
