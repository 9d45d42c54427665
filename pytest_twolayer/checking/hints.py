"""Fix hints: for each verdict label, the usual causes of its failure and their fixes.

A verdict says what is wrong; a hint says what usually makes it so and what to write instead,
from the contract's rules (docs/contract.md). :func:`hint_for` picks the hint whose evidence
is in the message: a specific one where the message shows its cause (a negative stride, a
reseeded global RNG, a loss after the update), else the label's general one, which is
evidence enough, since the label says which rule broke. Each verdict shows it on the line
under its message in the report (:mod:`pytest_twolayer.outcomes.verdicts`); docs/checks.md lists
them all, and ``tests/unit/test_hints.py`` keeps that list and this one in agreement.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

PREFIX = "hint: "


@dataclass(frozen=True)
class Hint:
    """``text`` for a failure of ``label`` whose message matches ``evidence`` (a regular
    expression; None: the label's general hint, shown when no specific one matches)."""

    label: str
    text: str
    evidence: str | None = None


_NEGATIVE_STRIDES = Hint(
    "forward_shapes",
    "torch.from_numpy and torch.tensor reject negative strides (a[::-1]): copy first, "
    "torch.from_numpy(np.ascontiguousarray(a))",
    r"negative|stride",
)

ANY_LABEL = "*"
"""The label of a hint whose evidence, wherever it shows, says more than the label."""

HINTS: tuple[Hint, ...] = (
    Hint(
        ANY_LABEL,
        "a call did not return in time: look for a loop with no exit (a convergence loop "
        "that waits for a loss it never reaches) or a lock; the reproduce line reruns it",
        r"exceeded the per-check time limit",
    ),
    # contract
    Hint(
        "params_canonical",
        "torch's Linear keeps weight as (out, in): params() must give w1 as (D_in, H), "
        "so return layer.weight.T",
        r"has shape \(\d+, \d+\), expected",
    ),
    Hint(
        "params_canonical",
        "params() returns a dict of numpy arrays under the canonical names (w1, b1, w2, b2, "
        "wm, bm) in (in, out) layouts and the working dtype",
    ),
    Hint(
        "params_are_copies",
        "return copies: value.copy() or t.detach().cpu().numpy().copy() (a CPU tensor's "
        ".numpy() shares its memory with the live weight)",
    ),
    Hint(
        "returns_belong_to_caller",
        "a returned array belongs to the caller: return a fresh array (np.array(out), "
        "t.detach().cpu().numpy().copy()), never a buffer the network writes again later",
    ),
    Hint(
        "load_round_trips",
        "load() casts to the working dtype and writes into the network itself (with "
        "torch.no_grad(): p.copy_(...)), not into copies of its parameters",
    ),
    Hint(
        "load_rejects_bad_params",
        "load() raises ValueError for an unknown, missing or mis-shaped name, before it "
        "changes anything",
    ),
    Hint(
        "init_rejects_undeclared",
        "__init__ raises ValueError for a device or dtype the class does not declare, before "
        "it does anything else",
    ),
    Hint(
        "return_types",
        "return losses as Python floats: loss.item() or float(loss), not a tensor or a "
        "numpy scalar",
        r"returned (Tensor|float32|float64|numpy|ndarray|EagerTensor)",
    ),
    Hint(
        "return_types",
        "losses are Python floats; forward and gradients return numpy arrays "
        "(t.detach().cpu().numpy())",
    ),
    # shapes
    _NEGATIVE_STRIDES,
    Hint(
        "forward_shapes",
        "a float64 operand promotes a float32 net: build constants in the working dtype "
        "(np.zeros(1, dtype=x.dtype)) and cast in to_device",
        r"has dtype float64, expected float32",
    ),
    Hint(
        "forward_shapes",
        "forward returns a numpy array: np.asarray(out) or t.detach().cpu().numpy(), not a "
        "list or a tensor",
        r"returned (list|tuple|Tensor|EagerTensor)",
    ),
    Hint(
        "forward_shapes",
        "forward returns (N, D_out): x @ w1 with w1 as (D_in, H); torch's Linear stores "
        "(out, in), so do not transpose its output",
        r"has shape",
    ),
    Hint(
        "forward_shapes",
        "to_device must read the array's values in any layout (Fortran order, strided and "
        "reversed views): np.asarray or np.ascontiguousarray, never its raw bytes or .base",
        r"other values than|reads? the memory",
    ),
    Hint(
        "forward_shapes",
        "forward returns a numpy (N, D_out) array in the working dtype, computed from x as "
        "to_device made it",
    ),
    Hint(
        "forward_any_dims",
        "sizes of 1 are valid: avoid squeeze() and shape-dependent branches, keep every array 2-D",
    ),
    # gradients
    Hint(
        "gradients_match_reference",
        "the loss is the sum of squares, not the mean; its gradient is 2 * (y_pred - y), "
        "masked where the ReLU input is not positive; compute in the declared dtype, with no "
        "float32 round trip",
    ),
    Hint(
        "gradients_any_dims",
        "sizes of 1 are valid: avoid squeeze() and keepdims mistakes in the backward pass "
        "(sum over the batch axis, axis=0)",
    ),
    Hint(
        "depth_draws",
        "draw one depth per call uniformly from the declared depths, with the instance's "
        "own generator (rng.choice(depths)), never one outside them",
    ),
    # update
    Hint(
        "update_follows_rule",
        "step() returns the loss computed before the update (keep loss.item() from the "
        "forward pass, not a second pass after optimizer.step())",
        r"pre-update|after the update",
    ),
    Hint(
        "update_follows_rule",
        "a parameter unused at this depth must not move: set_to_none=True in zero_grad, so "
        "the optimizer skips it, and no momentum on zeros",
        r"must not move|leftover",
    ),
    Hint(
        "update_follows_rule",
        "Adam divides by sqrt(v_hat) + eps, eps outside the square root, with both moments "
        "bias-corrected by 1 - beta**t; declare the betas and eps it runs with",
        r"Adam",
    ),
    Hint(
        "update_follows_rule",
        "step with exactly the declared optimizer (its lr, momentum, betas, eps), from the "
        "loaded parameters, zeroing gradients first; load() starts a fresh optimizer",
    ),
    # training
    Hint(
        "training",
        "the loss should fall as the declared optimizer makes it: check the update's sign "
        "(p -= lr * grad), the learning rate and that gradients are zeroed every step",
    ),
    # hygiene
    Hint(
        "same_seed_reproduces",
        "take all randomness from the seed argument, through the instance's own generator "
        "(np.random.default_rng(seed), torch.Generator().manual_seed(seed))",
    ),
    Hint(
        "different_seeds_differ",
        "use the seed argument for the initial weights and every later draw",
    ),
    Hint(
        "instances_share_no_state",
        "keep nothing at class or module level that steps change: a cache, a generator, "
        "an optimizer; copy what you cache",
    ),
    Hint(
        "inputs_not_mutated",
        _NEGATIVE_STRIDES.text,
        _NEGATIVE_STRIDES.evidence,
    ),
    Hint(
        "inputs_not_mutated",
        "never write into x, y or what to_device returned: compute out of place "
        "(r = y_pred - y, not y -= y_pred)",
    ),
    Hint(
        "global_state_untouched",
        "draw from a generator of your own, torch.Generator().manual_seed(seed) passed to "
        "each random call, or build the layers under torch.random.fork_rng(); never "
        "torch.manual_seed",
        r"torch's global RNG",
    ),
    Hint(
        "global_state_untouched",
        "draw from np.random.default_rng(seed), a generator of your own, never "
        "np.random.seed or np.random.*",
        r"numpy's global RNG",
    ),
    Hint(
        "global_state_untouched",
        "draw from random.Random(seed), a generator of your own, never random.seed",
        r"Python's global random",
    ),
    Hint(
        "global_state_untouched",
        "use with torch.no_grad(): or with torch.enable_grad():, which put grad mode back; "
        "never torch.set_grad_enabled(False) on its own",
        r"torch grad mode",
    ),
    Hint(
        "global_state_untouched",
        "name the dtype of each tensor (dtype=torch.float64) instead of torch.set_default_dtype",
        r"torch default dtype",
    ),
    Hint(
        "global_state_untouched",
        "use with np.errstate(...): around the computation instead of np.seterr",
        r"numpy error state",
    ),
    Hint(
        "global_state_untouched",
        "use absolute paths (pathlib) instead of os.chdir",
        r"working directory",
    ),
    Hint(
        "global_state_untouched",
        "leave the process's settings to the user: thread counts, TF32 and determinism "
        "flags, os.environ and gc are everyone's",
        r"threads|tf32|fp32_precision|matmul precision|deterministic|environment variable"
        r"|garbage collection",
    ),
    Hint(
        "global_state_untouched",
        "set back what you change: the context-manager form (torch.no_grad, np.errstate, "
        "torch.random.fork_rng) or a try/finally",
    ),
    # benchmark
    Hint(
        "benchmark_step.steps",
        "every timed step must run and return a finite float loss (the tutorial's 500 "
        "steps at its sizes)",
    ),
    Hint(
        "benchmark_step.budget",
        "the median step exceeds the budget: look for a copy to the device per step, a "
        "sync or .item() in a loop, or an optimizer rebuilt each step",
    ),
    Hint(
        "benchmark_step.ratio",
        "slower than the reference implementation by more than the ratio allows: profile "
        "one step (python -m cProfile) against the reference's",
    ),
    Hint(
        "benchmark_step.memory",
        "keep nothing per step: no history of outputs or losses as tensors (the autograd "
        "graph stays alive); keep loss.item() if anything",
    ),
)
"""Every hint, specific ones before their label's general one."""


def labels_with_hints() -> frozenset[str]:
    """Every label that has a general hint."""
    return frozenset(h.label for h in HINTS if h.evidence is None and h.label != ANY_LABEL)


def hint_for(label: str, message: str) -> str | None:
    """The first hint of ``label`` whose evidence is in ``message``, else its general one."""
    general = None
    for hint in HINTS:
        if hint.label not in (label, ANY_LABEL):
            continue
        if hint.evidence is None:
            general = general or hint.text
        elif re.search(hint.evidence, message):
            return hint.text
    return general


def label_of(message: str) -> str:
    """The label a verdict starts with (``update_follows_rule`` of
    ``[update_follows_rule] impl=...``)."""
    found = re.match(r"\[([^\]]+)\] ", message)
    return found[1] if found else ""


def with_hint(message: str) -> str:
    """A verdict, and under it ``  hint: ...`` when its label (or its evidence) has one."""
    hint = hint_for(label_of(message), message)
    return message if hint is None else f"{message}\n  {PREFIX}{hint}"
