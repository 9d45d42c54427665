"""Command-line options: help texts, parsing of ``--impl`` and ``--device``."""

from __future__ import annotations

from dataclasses import dataclass

from pytest_twolayer.contract import KNOWN_DEVICES

IMPL_HELP = (
    "implementations to check: comma-separated registered names, 'all', or "
    "package.module:Class (optionally name=package.module:Class); may be repeated. "
    "Without it the plugin does nothing."
)
DEVICE_HELP = (
    "devices to run on, comma-separated from cpu,cuda (default: cpu, plus cuda when "
    "available). A device asked for here that is not present is an error."
)
SEED_HELP = "seed of the suite's data and of every implementation (default: 0)"
LIST_HELP = (
    "list the registered implementations with their devices, dtypes and optimizer, then exit"
)
NO_SUITE_HELP = (
    "select implementations but do not add the shipped conformance suite (run only your own tests)"
)
DEFAULT_TIMEOUT = "60"
TIMEOUT_HELP = (
    "per-check time limit in seconds: a twolayer test still running after it fails with a "
    f"verdict naming the implementation (default: {DEFAULT_TIMEOUT}; 0 disables)"
)


@dataclass(frozen=True)
class ImplToken:
    """One item of ``--impl``: a name, ``all``, or an import path with an optional name."""

    name: str
    target: str | None = None  # "package.module:Class" when given on the command line


def parse_impl(values: list[str]) -> list[ImplToken]:
    """Split every ``--impl`` value on commas into tokens, keeping their order."""
    tokens: list[ImplToken] = []
    for value in values:
        for raw in value.split(","):
            item = raw.strip()
            if not item:
                continue
            if ":" in item:
                name, sep, target = item.partition("=")
                if not sep:
                    name, target = item, item
                tokens.append(ImplToken(name.strip(), target.strip()))
            else:
                tokens.append(ImplToken(item))
    return tokens


def parse_devices(values: list[str]) -> list[str]:
    """The devices named in ``--device``; ValueError names an unknown one."""
    devices: list[str] = []
    for value in values:
        for raw in value.split(","):
            device = raw.strip()
            if not device:
                continue
            if device not in KNOWN_DEVICES:
                raise ValueError(
                    f"--device: unknown device {device!r}; choose from {', '.join(KNOWN_DEVICES)}"
                )
            if device not in devices:
                devices.append(device)
    return devices


def parse_timeout(value: str | float) -> float:
    """The per-check time limit in seconds (0: none); ValueError for anything else."""
    try:
        seconds = float(value)
    except ValueError:
        raise ValueError(f"--twolayer-timeout: {value!r} is not a number of seconds") from None
    if not seconds >= 0 or seconds == float("inf"):
        raise ValueError(
            f"--twolayer-timeout: {value!r} must be a finite number of seconds, or 0 for no limit"
        )
    return seconds


DEFAULT_BENCHMARK_STEPS = "500"  # the tutorial's loop
BENCHMARK_STEPS_HELP = (
    "training steps the benchmark concern times, one by one, from a fresh instance "
    f"(default: {DEFAULT_BENCHMARK_STEPS}, the tutorial's run)"
)
BUDGET_HELP = (
    "benchmark gate: the median training step may take at most this many milliseconds; "
    "[IMPL=]MS, comma-separated or repeated (no IMPL: every implementation)"
)
MAX_RATIO_HELP = (
    "benchmark gate: IMPL's median step may be at most FACTOR times REFERENCE's, both timed "
    "in alternation in the same test; IMPL:REFERENCE=FACTOR, comma-separated or repeated"
)
