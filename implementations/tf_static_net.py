"""The tutorial's "TensorFlow: static graphs": a TF1 graph with placeholders, run by a session."""

from __future__ import annotations

import contextlib
import functools
from dataclasses import dataclass
from typing import Any

import numpy as np
import tensorflow as tf

import pytest_twolayer as tl
from pytest_twolayer.spec.validation import checked_params, param_shapes, require_declared


def _configure_gpus() -> None:
    # TensorFlow grabs every GPU's memory at first use unless told to grow on demand, which
    # would starve PyTorch implementations in the same process; and it computes float32
    # matmuls in TF32 unless told not to, which the float32 tolerances would (rightly) fail.
    gpus = tf.config.list_physical_devices("GPU")
    for gpu in gpus:
        with contextlib.suppress(RuntimeError):  # raised once the GPU is initialised
            tf.config.experimental.set_memory_growth(gpu, True)
    if gpus:
        tf.config.experimental.enable_tensor_float_32_execution(False)


_configure_gpus()

TF_DTYPES = {"float32": tf.float32, "float64": tf.float64}


@dataclass(frozen=True)
class StaticGraph:
    """The tutorial's graph, built once per dims, dtype and device and then only run.

    It is finalized (read-only) and holds no values: TF1 keeps variables' values in the
    session, so every instance runs this graph in a session of its own and shares nothing.
    Building it (``tf.gradients`` above all) costs ~70 ms, which instances then skip.
    """

    graph: Any
    x: Any
    y: Any
    seed: Any
    w1: Any
    w2: Any
    y_pred: Any
    loss: Any
    grad_w1: Any
    grad_w2: Any
    new_w1: Any
    new_w2: Any
    w1_value: Any
    w2_value: Any
    load_w1: Any
    load_w2: Any
    init: Any


@functools.lru_cache(maxsize=16)
def build_graph(dims: tl.Dims, dtype: str, device: str, learning_rate: float) -> StaticGraph:
    """The tutorial's static graph, plus the adapter's load ops, for these dims and dtype."""
    D_in, H, D_out = dims.D_in, dims.H, dims.D_out
    float_t = TF_DTYPES[dtype]

    # First we set up the computational graph, in a graph of our own
    graph = tf.Graph()
    with graph.as_default(), tf.device("/GPU:0" if device == "cuda" else "/CPU:0"):
        # Placeholders for the input and target data; filled in when the graph runs
        x = tf.compat.v1.placeholder(float_t, shape=(None, D_in))
        y = tf.compat.v1.placeholder(float_t, shape=(None, D_out))

        # Variables for the weights, initialized with random data. The seed is fed when the
        # initializer runs, so one graph serves every seed.
        seed = tf.compat.v1.placeholder(tf.int64, shape=(2,))
        w1 = tf.Variable(tf.random.stateless_normal((D_in, H), seed=seed, dtype=float_t))
        w2 = tf.Variable(tf.random.stateless_normal((H, D_out), seed=seed + 1, dtype=float_t))

        # Forward pass: this only builds the graph, nothing is computed yet
        h = tf.matmul(x, w1)
        h_relu = tf.maximum(h, tf.zeros(1, dtype=float_t))
        y_pred = tf.matmul(h_relu, w2)

        # Compute loss
        loss = tf.reduce_sum((y - y_pred) ** 2.0)

        # Compute gradient of the loss with respect to w1 and w2
        grad_w1, grad_w2 = tf.gradients(loss, [w1, w2])

        # Update the weights using gradient descent. One session.run computes the loss
        # and both updates; the explicit dependency guarantees (rather than leaves to the
        # graph's shape) that the loss and gradients read the weights before either
        # assignment writes them, so step() returns the loss before the update.
        with tf.control_dependencies([loss, grad_w1, grad_w2]):
            new_w1 = w1.assign(w1 - learning_rate * grad_w1)
            new_w2 = w2.assign(w2 - learning_rate * grad_w2)

        # Adapter: load parameters through placeholders, with ops built once here
        w1_value = tf.compat.v1.placeholder(float_t, shape=(D_in, H))
        w2_value = tf.compat.v1.placeholder(float_t, shape=(H, D_out))
        load_w1, load_w2 = w1.assign(w1_value), w2.assign(w2_value)
        init = tf.compat.v1.global_variables_initializer()
    graph.finalize()  # any op added after this point would be a bug: fail loudly
    return StaticGraph(
        graph, x, y, seed, w1, w2, y_pred, loss, grad_w1, grad_w2, new_w1, new_w2,
        w1_value, w2_value, load_w1, load_w2, init,
    )  # fmt: skip


class TfStaticNet:
    """Section "TensorFlow: static graphs": the graph is built once, then run step by step.

    The graph lives in a ``tf.Graph`` of its own, built once per dims, dtype and device
    (``build_graph``); each instance runs it in its own ``tf.compat.v1.Session``, which holds
    its weights (eager execution stays on for everyone else). ``seed`` is fed to the
    initializer. The adapter adds only what the contract needs beyond the tutorial's graph:
    ops that load parameters from placeholders (built with the graph, which never grows), and
    a control dependency that makes the update wait for the loss, so ``step`` returns the
    loss before the update. Native arrays are numpy arrays fed through ``feed_dict``.
    """

    devices = ("cpu", "cuda")
    dtypes = ("float32", "float64")
    optimizer = tl.SGD(lr=1e-6)
    depths = (0,)

    @classmethod
    def skip_reason(cls, device: str) -> str | None:
        """Why ``device`` cannot run here (TensorFlow sees no GPU), or None when it can."""
        if device == "cuda" and not tf.config.list_physical_devices("GPU"):
            return "TensorFlow sees no GPU (tensorflow-cpu, or no CUDA build)"
        return None

    def __init__(self, dims: tl.Dims, *, device: str, dtype: str, seed: int) -> None:
        require_declared(type(self), device, dtype)
        reason = self.skip_reason(device)
        if reason:
            raise RuntimeError(f"TfStaticNet cannot run on {device!r}: {reason}")
        self.dims = dims
        self.dtype = np.dtype(dtype)
        self.g = build_graph(dims, dtype, device, self.optimizer.lr)

        # Now we enter a session to actually execute the graph
        config = tf.compat.v1.ConfigProto(allow_soft_placement=True)
        config.gpu_options.allow_growth = True
        self.sess = tf.compat.v1.Session(graph=self.g.graph, config=config)
        # Run the graph once to initialize the Variables w1 and w2
        self.sess.run(self.g.init, feed_dict={self.g.seed: [seed % 2**63, 0]})

    def params(self) -> dict[str, np.ndarray]:
        w1, w2 = self.sess.run([self.g.w1, self.g.w2])
        # Copies: a fetched array may share its buffer with the variable's
        return {"w1": np.array(w1, copy=True), "w2": np.array(w2, copy=True)}

    def load(self, params: dict[str, np.ndarray]) -> None:
        p = checked_params(params, param_shapes(self.dims, ("w1", "w2")), self.dtype.name)
        self.sess.run(
            [self.g.load_w1, self.g.load_w2],
            feed_dict={self.g.w1_value: p["w1"], self.g.w2_value: p["w2"]},
        )

    def to_device(self, a: np.ndarray) -> np.ndarray:
        return np.array(a, dtype=self.dtype, copy=True)

    def forward(self, x: np.ndarray) -> np.ndarray:
        y_pred: np.ndarray = self.sess.run(self.g.y_pred, feed_dict={self.g.x: x})
        return y_pred

    def gradients(self, x: np.ndarray, y: np.ndarray) -> tuple[float, dict[str, np.ndarray]]:
        # Fetching the gradients without new_w1/new_w2 runs no update
        loss_value, grad_w1, grad_w2 = self.sess.run(
            [self.g.loss, self.g.grad_w1, self.g.grad_w2], feed_dict={self.g.x: x, self.g.y: y}
        )
        return float(loss_value), {"w1": grad_w1, "w2": grad_w2}

    def step(self, x: np.ndarray, y: np.ndarray) -> float:
        # Each run computes the loss, new_w1 and new_w2, feeding x and y
        loss_value, _, _ = self.sess.run(
            [self.g.loss, self.g.new_w1, self.g.new_w2], feed_dict={self.g.x: x, self.g.y: y}
        )
        return float(loss_value)
