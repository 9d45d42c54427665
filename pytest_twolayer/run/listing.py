"""What the plugin prints about implementations before anything runs: the registered list
(``--twolayer-list``) and the run's header lines."""

from __future__ import annotations

from collections.abc import Callable

from pytest_twolayer.host.machine import package_version
from pytest_twolayer.run.registry import Registry, Spec
from pytest_twolayer.run.selection import Loaded, Selection

LISTED_VERSIONS = ("numpy", "torch", "tensorflow")


BROKEN = "FAILED TO LOAD"


def registered(registry: Registry, load: Callable[[Spec], Loaded] = Loaded.load) -> list[str]:
    """``--twolayer-list``: one aligned row per registered implementation, loaded by ``load``
    (here, or in a host of its own when sealed) to show its declarations; one that fails to
    load says so in its row, and why under the table (a one-line error is as long as it needs
    to be: in a column it would widen every row)."""
    rows = [("name", "devices", "dtypes", "optimizer", "depths", "source")]
    errors: list[str] = []
    for name in registry.names():
        spec = registry.get(name)
        loaded = load(spec)
        declared = loaded.declared
        if declared is None:
            rows.append((name, "-", "-", BROKEN, "-", f"{spec.source} {spec.target}"))
            errors.append(f"{name}: {loaded.error}")
            continue
        rows.append(
            (
                name,
                ",".join(declared.devices),
                ",".join(declared.dtypes),
                declared.optimizer,
                ",".join(map(str, declared.depths)),
                f"{spec.source} {spec.target}",
            )
        )
    widths = [max(len(row[i]) for row in rows) for i in range(len(rows[0]) - 1)]
    table = [
        "  ".join(cell.ljust(w) for cell, w in zip(row, widths, strict=False)) + " " + row[-1]
        for row in rows
    ]
    return table + [f"{BROKEN}: {error}" for error in errors]


def described(loaded: Loaded) -> str:
    """``numpy (float64, float32)``; ``x (BROKEN)``; a bare name before the classes load."""
    if loaded.error:
        return f"{loaded.spec.name} (BROKEN)"
    if loaded.declared is None:
        return loaded.spec.name
    return f"{loaded.spec.name} ({', '.join(loaded.declared.dtypes)})"


def header(selection: Selection) -> list[str]:
    """The run's header: what is selected, on which devices, with which frameworks."""
    names = ", ".join(described(i) for i in selection.implementations)
    devices = (
        ", ".join(
            device if reason is None else f"{device} (absent: {reason})"
            for device, reason in selection.devices.items()
        )
        or "resolved while the xdist workers start (see the matrix)"
    )
    versions = ", ".join(f"{label} {package_version(label)}" for label in LISTED_VERSIONS)
    return [
        f"twolayer: implementations: {names}",
        f"twolayer: devices: {devices}; seed: {selection.seed}",
        f"twolayer: {versions}",
    ]
