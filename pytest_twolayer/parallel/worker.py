"""The xdist worker's own side: which host it runs on, and leaving that host as it was."""

from __future__ import annotations

import shutil
import sys

import pytest

from pytest_twolayer.host.probe import BOX
from pytest_twolayer.parallel import worker_input

LOCAL_HOST = "localhost"


def host_label(config: pytest.Config) -> str:
    """The host this process runs on, as the run names it (``localhost`` for the pytest
    process itself and its popen workers, the proxy id or address of a remote one)."""
    given = worker_input(config).get("twolayer", {})
    return str(given.get("host", LOCAL_HOST))


class WorkerCleanup:
    """Removes the private temp dir the probe gave this worker, once its session is over."""

    @pytest.hookimpl(trylast=True)
    def pytest_unconfigure(self) -> None:
        box = sys.modules.get(BOX)
        temp = getattr(box, "temp", None)
        if temp:
            shutil.rmtree(temp, ignore_errors=True)
