"""Running the conformance suite on the whole zoo and reading back every exhibit's verdicts."""

from __future__ import annotations

import importlib.util
import os
import re
import subprocess
import sys
import tempfile
import xml.etree.ElementTree as ET
from dataclasses import dataclass
from pathlib import Path

from pytest_twolayer.checking.suite import suite_dir
from pytest_twolayer.option_table import DEVICE, IMPL, SEED, TIMEOUT
from pytest_twolayer.zoo import available_modules, catalog

RUN_TIMEOUT_S = 900
TIME_LIMIT_S = 30
"""The zoo run's per-check limit: over twenty times its slowest check run alone (a memory
exhibit's 500-step benchmark), so that only the hanging exhibit reaches it, also on a machine
busy with other runs, where that check took about half the limit (the figures:
docs/parallel.md#figures-behind-the-design)."""


def isolation() -> list[str]:
    """``-n 2`` when pytest-xdist is installed: a crashing exhibit then fails its checks
    instead of killing the run. Without xdist the crashing exhibits are left out."""
    return ["-n", "2"] if importlib.util.find_spec("xdist") is not None else []


def exhibits() -> dict[str, type]:
    """The zoo to run: all of it under xdist, else all but the exhibits that crash."""
    zoo = catalog()
    if isolation():
        return zoo
    return {name: cls for name, cls in zoo.items() if not getattr(cls, "crashes", False)}


def benchmarked() -> list[str]:
    """The exhibits whose bug only the benchmark concern sees (it measures memory)."""
    return [name for name, cls in exhibits().items() if getattr(cls, "benchmarked", False)]


def benchmark_filter() -> str:
    """The ``-k`` expression: every check but the benchmark, which only those exhibits run."""
    return " or ".join(["not benchmark", *benchmarked()])


CONFTEST = """\
from pytest_twolayer.zoo.runner import exhibits, warm_up


def pytest_configure(config):
    warm_up()


def pytest_twolayer_register(registry):
    for name, cls in exhibits().items():
        registry.add(name, cls)
"""


def warm_up() -> None:
    """Pay, in each process of the zoo run and before any check's time limit is armed, for
    what the torch exhibits' first check would: the first ``torch.optim`` optimizer imports
    ``torch._dynamo``, an import many times slower on a loaded machine, where it has run past
    a check's time limit. The time limit interrupts that import half-done, and every
    later check of the process fails on the broken module."""
    if "torch_bugs" not in available_modules():
        return
    import torch

    torch.optim.SGD([torch.zeros(1, requires_grad=True)], lr=0.1)


@dataclass(frozen=True)
class CheckResult:
    """One testcase of a zoo run."""

    check: str  # the test function's name
    dtype: str | None  # None for implementation_loads
    status: str  # passed, failure, error or skipped
    message: str
    call: str | None = None  # the contract call a test of global_state_untouched watches


@dataclass(frozen=True)
class ZooRun:
    """Every exhibit's outcomes, the testcases that belong to none, and what the run printed."""

    outcomes: dict[str, list[CheckResult]]
    unparsed: list[str]
    output: str
    returncode: int

    def failed_checks(self, name: str) -> set[str]:
        """The checks that failed for exhibit ``name``."""
        return {o.check for o in self.outcomes.get(name, []) if o.status == "failure"}


CASE_ID = re.compile(r"^test_(?P<check>\w+)\[(?P<param>.+)\]$")
PARAM_ID = re.compile(r"^(?P<impl>.+)-cpu-(?P<dtype>float32|float64)(?:-(?P<call>\w+))?$")
"""A case's test id; global_state_untouched's ends in the contract call it watches."""


def parse_junit(path: Path) -> tuple[dict[str, list[CheckResult]], list[str]]:
    """Outcomes by implementation name, and the testcase names that are not a zoo case."""
    outcomes: dict[str, list[CheckResult]] = {}
    unparsed: list[str] = []
    for testcase in ET.parse(path).getroot().iter("testcase"):
        name = testcase.get("name", "")
        match = CASE_ID.match(name)
        if not match:
            unparsed.append(name)
            continue
        param = PARAM_ID.match(match["param"])
        impl, dtype = (param["impl"], param["dtype"]) if param else (match["param"], None)
        call = param["call"] if param else None
        status, message = "passed", ""
        for kind in ("failure", "error", "skipped"):
            element = testcase.find(kind)
            if element is not None:
                # junit's message attribute keeps the first lines only; the text is whole
                status, message = kind, element.text or element.get("message") or ""
        if status == "error" and "crashed while running" in message:
            # xdist files a dead worker's test as an error; for the zoo it is the verdict
            status, message = "failure", message.removeprefix("failed on setup with ").strip('"')
        result = CheckResult(match["check"], dtype, status, message, call)
        outcomes.setdefault(impl, []).append(result)
    return outcomes, unparsed


def run_zoo(seed: int = 0, extra_args: tuple[str, ...] = ()) -> ZooRun:
    """The suite, run once on every exhibit on cpu, in a subprocess with a hermetic config.

    The exhibits register through a generated ``conftest.py`` as a user's would; BLAS and
    OpenMP get one thread each (with the zoo's workers sharing a few cores that is far faster
    than oversubscribed pools, and it pins the rounding of the chaotic training curves).
    """
    with tempfile.TemporaryDirectory(prefix="twolayer-zoo-") as tmp:
        folder = Path(tmp)
        (folder / "pytest.ini").write_text("[pytest]\n")
        (folder / "conftest.py").write_text(CONFTEST)
        report = folder / "zoo.xml"
        command = [
            sys.executable, "-m", "pytest", "-c", str(folder / "pytest.ini"),
            # both folders are named so that the conftest.py files above them load at startup
            str(folder), str(suite_dir()),
            "-p", "twolayer", IMPL.flag, ",".join(exhibits()), DEVICE.flag, "cpu",
            SEED.flag, str(seed), "-p", "no:cacheprovider", f"--junitxml={report}", "-q",
            # the hanging exhibit costs one time limit; the crashing one needs xdist's workers
            TIMEOUT.flag, str(TIME_LIMIT_S), *isolation(),
            # the zoo's bugs are conformance bugs; the benchmark's time gates have their own
            # tests (tests/e2e/test_parallel.py), and timing 60 exhibits would only slow the zoo
            # down: only the exhibits whose bug the benchmark must catch (memory) run it
            "-k", benchmark_filter(),
            *extra_args,
        ]  # fmt: skip
        env = {k: v for k, v in os.environ.items() if k != "PYTEST_ADDOPTS"}
        env.update(OMP_NUM_THREADS="1", OPENBLAS_NUM_THREADS="1", MKL_NUM_THREADS="1")
        done = subprocess.run(
            command, cwd=folder, env=env, capture_output=True, text=True,
            timeout=RUN_TIMEOUT_S, check=False,
        )  # fmt: skip
        output = done.stdout + done.stderr
        if not report.is_file():
            raise RuntimeError(f"the zoo run exited with {done.returncode}:\n{output[-4000:]}")
        outcomes, unparsed = parse_junit(report)
    return ZooRun(outcomes, unparsed, output, done.returncode)
