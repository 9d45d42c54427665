"""What process-global state is watched: each setting that Python, numpy, torch and
TensorFlow expose, with how to read it, compare it, show it and set it back.

A setting of a framework is read only when that framework is already imported (see
:mod:`pytest_twolayer.hygiene.state`); one that this version of the framework lacks is left
out. Reading all of them costs little next to the cheapest check, even with torch and
TensorFlow loaded; np.random's state and the environment are the dearest reads (the figures:
docs/parallel.md#figures-behind-the-design).
"""

from __future__ import annotations

import gc
import operator
import os
import random
import sys
import zlib
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

import numpy as np

IGNORED_VARIABLES = frozenset({"PYTEST_CURRENT_TEST"})
"""Environment variables that change on their own: pytest names the running test and phase
in ``PYTEST_CURRENT_TEST``. (The thread-pool variables the plugin gives an xdist worker are set
before the worker starts, so they never change across a test.)"""

IGNORED_PREFIXES = ("TORCHINDUCTOR_", "_TORCHINDUCTOR_", "TRITON_")
FRAMEWORK_VARIABLES = frozenset({"DISABLE_CUPTI_LAZY_REINIT", "TEARDOWN_CUPTI"})
"""Variables torch sets for its compile stack on first use, whichever call comes first: the
first ``torch.optim`` step of a process sets ``TORCHINDUCTOR_CACHE_DIR`` (seen in the dynamic
net's benchmark when it ran first in a ``-n 0`` run), ``torch.compile`` with CUDA graphs sets
the CUPTI pair. They are torch's, and which test sets them depends on the order, so they are
neither judged nor restored."""


def ignored(variable: str) -> bool:
    """Whether an environment variable is left out of the snapshot's comparison."""
    return (
        variable in IGNORED_VARIABLES
        or variable in FRAMEWORK_VARIABLES
        or variable.startswith(IGNORED_PREFIXES)
    )


STATE_CHANGING_IMPORTS = ("torch", "tensorflow")
"""Frameworks whose first import during a test is the framework's doing, not the test's:
importing TensorFlow sets environment variables (``TF2_BEHAVIOR``, ...) and draws from
Python's ``random``. Those two kinds of change are accepted when a framework appears."""


class Unreadable:
    """A setting whose getter raised (torch refuses to read its legacy TF32 flags once the new
    ``fp32_precision`` API was used): a value of its own, shown with the error."""

    def __init__(self, error: BaseException) -> None:
        first = (str(error).strip().splitlines() or [""])[0]
        self.error = f"{type(error).__name__}: {first[:80]}"

    def __eq__(self, other: object) -> bool:
        return isinstance(other, Unreadable)

    def __hash__(self) -> int:
        return 0

    def __repr__(self) -> str:
        return f"<unreadable: {self.error}>"


@dataclass(frozen=True)
class WatchedSetting:
    """One piece of process-global state: how to read it, compare it, show it, set it back.

    ``needs`` names the module that must already be imported for it to be read (None: always);
    ``available`` says whether this version of that module has it at all.
    """

    name: str
    needs: str | None
    read: Callable[[], Any]
    write: Callable[[Any], None]
    same: Callable[[Any, Any], bool] = operator.eq
    show: Callable[[Any], str] = repr
    available: Callable[[], bool] = lambda: True
    explain: Callable[[Any, Any], str] | None = None
    """What happened, in words, from the value before and after: a random generator's state
    shown as two fingerprints says nothing a user can act on; "reseeded" does."""

    def value(self) -> Any:
        try:
            return self.read()
        except Exception as exc:  # a framework that refuses to answer is a state too
            return Unreadable(exc)

    def equal(self, a: Any, b: Any) -> bool:
        if isinstance(a, Unreadable) or isinstance(b, Unreadable):
            return bool(a == b)
        return bool(self.same(a, b))


# --- readers and writers ---------------------------------------------------------------------


def _torch() -> Any:
    return sys.modules["torch"]


def _tf() -> Any:
    return sys.modules["tensorflow"]


def _attribute_path(root: str, path: str) -> tuple[Callable[[], Any], Callable[[Any], None]]:
    """A reader and a writer of ``sys.modules[root].<path>`` (``backends.cudnn.allow_tf32``)."""
    *parents, leaf = path.split(".")

    def owner() -> Any:
        obj = sys.modules[root]
        for part in parents:
            obj = getattr(obj, part)
        return obj

    def read() -> Any:
        return getattr(owner(), leaf)

    def write(value: Any) -> None:
        setattr(owner(), leaf, value)

    return read, write


def _has(root: str, path: str) -> Callable[[], bool]:
    """Whether this version of ``root`` has the attribute: asked once, when first read (a
    framework's attributes do not come and go, and the getattr chain costs as much as the
    dearest reads)."""
    read, _ = _attribute_path(root, path)
    known: list[bool] = []

    def available() -> bool:
        if not known:
            try:
                read()
            except AttributeError:
                known.append(False)
            except Exception:  # it exists but refuses to answer now (see Unreadable)
                known.append(True)
            else:
                known.append(True)
        return known[0]

    return available


def _flag(root: str, path: str, name: str | None = None) -> WatchedSetting:
    """A setting that is an attribute: ``torch.backends.cudnn.deterministic``."""
    read, write = _attribute_path(root, path)
    return WatchedSetting(name or f"{root}.{path}", root, read, write, available=_has(root, path))


def _fingerprint(data: bytes) -> str:
    return f"#{zlib.crc32(data):08x}"


def _torch_rng_show(state: Any) -> str:
    return f"<{_fingerprint(bytes(state.numpy().tobytes()))}>"


def _torch_rng_explain(before: Any, after: Any) -> str:
    # The CPU generator's state starts with its initial seed (a little-endian uint64), which
    # only torch.manual_seed (or torch.seed) changes; a draw moves the rest.
    seed_before, seed_after = (bytes(s.numpy().tobytes()[:8]) for s in (before, after))
    if seed_before != seed_after:
        seed = int.from_bytes(seed_after, "little")
        return f"torch's global RNG was reseeded (torch.manual_seed({seed}) or torch.seed())"
    return (
        "torch's global RNG was drawn from (a torch.rand*, or a layer built, without a Generator)"
    )


def _torch_rng_same(a: Any, b: Any) -> bool:
    return bool(_torch().equal(a, b))


def _cuda_initialized() -> bool:
    cuda = getattr(_torch(), "cuda", None)
    return bool(cuda is not None and cuda.is_initialized())


def _cuda_rng_same(a: list[Any], b: list[Any]) -> bool:
    torch = _torch()
    return len(a) == len(b) and all(torch.equal(x, y) for x, y in zip(a, b, strict=True))


def _cuda_rng_show(states: list[Any]) -> str:
    return "<" + " ".join(_fingerprint(bytes(s.numpy().tobytes())) for s in states) + ">"


def _deterministic() -> tuple[bool, bool]:
    torch = _torch()
    enabled = bool(torch.are_deterministic_algorithms_enabled())
    return enabled, bool(torch.is_deterministic_algorithms_warn_only_enabled())


def _set_deterministic(value: tuple[bool, bool]) -> None:
    _torch().use_deterministic_algorithms(value[0], warn_only=value[1])


def _show_deterministic(value: tuple[bool, bool]) -> str:
    return ("on (warn only)" if value[1] else "on") if value[0] else "off"


def _numpy_rng_same(a: tuple[Any, ...], b: tuple[Any, ...]) -> bool:
    return a[0] == b[0] and a[2:] == b[2:] and bool(np.array_equal(a[1], b[1]))


def _numpy_rng_show(state: tuple[Any, ...]) -> str:
    return f"<{state[0]} pos {state[2]} {_fingerprint(np.asarray(state[1]).tobytes())}>"


# Mersenne Twister states hold their position in the pool last: a fresh seed leaves it at 624
# (nothing drawn yet), a draw moves it (a draw that lands on 624 again reads as a reseed).
_MT_POOL = 624


def _numpy_rng_explain(before: tuple[Any, ...], after: tuple[Any, ...]) -> str:
    if after[2] == _MT_POOL and not np.array_equal(before[1], after[1]):
        return "numpy's global RNG was reseeded (np.random.seed)"
    return "numpy's global RNG was drawn from or reseeded (np.random.*, np.random.seed)"


def _python_rng_explain(before: tuple[Any, ...], after: tuple[Any, ...]) -> str:
    if after[1][-1] == _MT_POOL and before[1][:-1] != after[1][:-1]:
        return "Python's global random was reseeded (random.seed)"
    return "Python's global random was drawn from or reseeded (random.*, random.seed)"


def _python_rng_show(state: tuple[Any, ...]) -> str:
    return f"<{_fingerprint(repr(state).encode())}>"


def _errstate_show(state: Mapping[str, str]) -> str:
    return " ".join(f"{k}={v}" for k, v in sorted(state.items()))


def _set_errstate(state: Mapping[str, str]) -> None:
    modes: dict[str, Any] = dict(state)  # np.seterr's keywords are typed as literals
    np.seterr(**modes)


def _set_gc(enabled: bool) -> None:
    if enabled:
        gc.enable()
    else:
        gc.disable()


def _tf_config() -> Any:
    return sys.modules["tensorflow.python.framework.config"]


def _tf_set_determinism(enabled: bool) -> None:
    config = _tf_config()
    if enabled:
        config.enable_op_determinism()
    else:
        config.disable_op_determinism()


def _tf_global_seed() -> Any:
    return sys.modules["tensorflow.python.eager.context"].global_seed()


def _tf_has(module: str, function: str) -> Callable[[], bool]:
    def available() -> bool:
        return hasattr(sys.modules.get(module), function)

    return available


ENVIRONMENT = "environment"
RANDOM = "Python random state"

WATCHED_SETTINGS: tuple[WatchedSetting, ...] = (
    # torch. Legacy TF32 flags before the fp32_precision API: writing a legacy flag also
    # writes the new API's value, so restoring in this order ends where it started.
    WatchedSetting(
        "torch default dtype",
        "torch",
        lambda: _torch().get_default_dtype(),
        lambda v: _torch().set_default_dtype(v),
    ),
    WatchedSetting(
        "torch default device",
        "torch",
        lambda: _torch().get_default_device(),
        lambda v: _torch().set_default_device(v),
        available=lambda: hasattr(_torch(), "get_default_device"),
    ),
    WatchedSetting(
        "torch grad mode",
        "torch",
        lambda: _torch().is_grad_enabled(),
        lambda v: _torch().set_grad_enabled(v),
    ),
    WatchedSetting(
        "torch anomaly detection",
        "torch",
        lambda: _torch().is_anomaly_enabled(),
        lambda v: _torch().set_anomaly_enabled(v),
    ),
    WatchedSetting(
        "torch intra-op threads",
        "torch",
        lambda: _torch().get_num_threads(),
        lambda v: _torch().set_num_threads(v),
    ),
    WatchedSetting(
        "torch inter-op threads",
        "torch",
        lambda: _torch().get_num_interop_threads(),
        lambda v: _torch().set_num_interop_threads(v),  # raises once parallel work began
    ),
    WatchedSetting(
        "torch deterministic algorithms",
        "torch",
        _deterministic,
        _set_deterministic,
        show=_show_deterministic,
    ),
    _flag("torch", "backends.cuda.matmul.allow_tf32"),
    _flag("torch", "backends.cudnn.allow_tf32"),
    WatchedSetting(
        "torch float32 matmul precision",
        "torch",
        lambda: _torch().get_float32_matmul_precision(),
        lambda v: _torch().set_float32_matmul_precision(v),
    ),
    *(
        _flag("torch", f"backends.{path}fp32_precision")
        for path in ("", "cuda.matmul.", "cudnn.conv.", "cudnn.rnn.", "mkldnn.matmul.")
    ),
    _flag("torch", "backends.cudnn.deterministic"),
    _flag("torch", "backends.cudnn.benchmark"),
    WatchedSetting(
        "torch global RNG state",
        "torch",
        lambda: _torch().get_rng_state(),
        lambda v: _torch().set_rng_state(v),
        same=_torch_rng_same,
        show=_torch_rng_show,
        explain=_torch_rng_explain,
    ),
    WatchedSetting(
        "torch CUDA RNG states",
        "torch",
        lambda: _torch().cuda.get_rng_state_all(),
        lambda v: _torch().cuda.set_rng_state_all(v),
        same=_cuda_rng_same,
        show=_cuda_rng_show,
        available=_cuda_initialized,
    ),
    WatchedSetting(
        "torch CUDA current device",
        "torch",
        lambda: _torch().cuda.current_device(),
        lambda v: _torch().cuda.set_device(v),
        available=_cuda_initialized,
    ),
    # numpy (always imported: the suite speaks numpy)
    WatchedSetting(
        "numpy error state (np.seterr)", None, np.geterr, _set_errstate, show=_errstate_show
    ),
    WatchedSetting(
        "numpy global RNG state (np.random)",
        None,
        np.random.get_state,
        np.random.set_state,
        same=_numpy_rng_same,
        show=_numpy_rng_show,
        explain=_numpy_rng_explain,
    ),
    # TensorFlow
    WatchedSetting(
        "TensorFlow TF32 execution",
        "tensorflow",
        lambda: _tf().config.experimental.tensor_float_32_execution_enabled(),
        lambda v: _tf().config.experimental.enable_tensor_float_32_execution(v),
    ),
    WatchedSetting(
        "TensorFlow op determinism",
        "tensorflow.python.framework.config",
        lambda: _tf_config().is_op_determinism_enabled(),
        _tf_set_determinism,
        available=_tf_has("tensorflow.python.framework.config", "is_op_determinism_enabled"),
    ),
    WatchedSetting(
        "TensorFlow global seed",
        "tensorflow.python.eager.context",
        _tf_global_seed,
        lambda v: _tf().random.set_seed(v),
        available=_tf_has("tensorflow.python.eager.context", "global_seed"),
    ),
    WatchedSetting(
        "TensorFlow intra-op threads",
        "tensorflow",
        lambda: _tf().config.threading.get_intra_op_parallelism_threads(),
        lambda v: _tf().config.threading.set_intra_op_parallelism_threads(v),
    ),
    WatchedSetting(
        "TensorFlow inter-op threads",
        "tensorflow",
        lambda: _tf().config.threading.get_inter_op_parallelism_threads(),
        lambda v: _tf().config.threading.set_inter_op_parallelism_threads(v),
    ),
    WatchedSetting(
        "TensorFlow functions run eagerly",
        "tensorflow",
        lambda: _tf().config.functions_run_eagerly(),
        lambda v: _tf().config.run_functions_eagerly(v),
    ),
    # Python
    WatchedSetting(
        RANDOM,
        None,
        random.getstate,
        random.setstate,
        show=_python_rng_show,
        explain=_python_rng_explain,
    ),
    WatchedSetting("Python garbage collection enabled", None, gc.isenabled, _set_gc),
    WatchedSetting("working directory", None, os.getcwd, os.chdir),
    WatchedSetting(
        ENVIRONMENT,
        None,
        lambda: os.environ.copy(),
        lambda v: _set_environment(v),
        same=lambda a, b: _same_environment(a, b),
    ),
)
"""Everything that is snapshotted, in the order it is restored."""


def _same_environment(a: Mapping[str, str], b: Mapping[str, str]) -> bool:
    if a == b:
        return True
    return all(a.get(n) == b.get(n) for n in set(a) | set(b) if not ignored(n))


def _set_environment(before: Mapping[str, str]) -> None:
    for name in [n for n in os.environ if n not in before and not ignored(n)]:
        del os.environ[name]
    for name, value in before.items():
        if not ignored(name) and os.environ.get(name) != value:
            os.environ[name] = value
